/*  wrk_tally - what one job did: the counts, the time spent in each
    stage, the ranges lost to retention and why it failed, if it did; and
    the DONE message that reports it to the scheduler.

    The executor fills a tally while the job runs (a plain struct, on its
    thread's stack) and packs it when the job ends.
*/
#ifndef WRK_TALLY_H_INCLUDED
#define WRK_TALLY_H_INCLUDED

#include <stdbool.h>
#include <stdint.h>
#include <czmq.h>
#include "sl_proto.h"
#include "sluice/plugin.h"
#include "wrk_range.h"

typedef struct {
    uint64_t records, rejected, emitted, retried;
    int64_t plugin_ns; /* inside the plugin's process()                   */
    int64_t fetch_ns;  /* waiting for records from the consumer           */
    int64_t flush_ns;  /* waiting for the producer's acknowledgements     */
    wrk_range_lost_t lost;
    bool failed;
    char error[SLUICE_REASON_MAX + 64];
    /*  With failed: whose fault (Sluice__FaultClass; 0 is the record's, as
        before there were classes), and for the cluster's (INFRA), the
        Kafka error's name, the topic it concerns and whether that is the
        job's input or its output (Sluice__FaultSide).                  */
    int fault;
    char fault_code[64];
    char fault_target[256];
    int fault_side;
} wrk_tally_t;

/*  A packed Sluice__Done for job, status OK or FAILED (t->failed) with
    t's counts and the job's duration. NULL if out of memory.            */
zframe_t *wrk_tally_done (const wrk_tally_t *t, const Sluice__Job *job,
                          int64_t duration_us);

#endif
