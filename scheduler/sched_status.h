/*  sched_status - the snapshot `sluice status` asks for: every owned
    partition (committed, high watermark, lag, jobs in flight and
    outstanding), every worker (credit, jobs done, last heard, jobs held,
    plugin), and the totals. Answered on the loop thread from the book,
    so it is consistent.
*/
#ifndef SCHED_STATUS_H_INCLUDED
#define SCHED_STATUS_H_INCLUDED

#include <czmq.h>
#include "sched_model.h"
#include "sched_stats.h"

/*  STATUS answers a second at most: a request costs a snapshot of every
    partition and worker, and anyone who can connect may ask.            */
#define SCHED_STATUS_PER_S 20

typedef struct {
    int64_t second;   /* the second (ms / 1000) being counted           */
    uint32_t used;    /* answers in it                                  */
    uint64_t refused; /* requests not answered, in all                  */
} sched_status_limit_t;

/*  True if a request at now may be answered (and counts it); false if
    SCHED_STATUS_PER_S were answered this second already (the first
    refusal, and every 1,000th, is logged).                              */
bool sched_status_allow (sched_status_limit_t *limit, int64_t now);

/*  Answer a STATUS_REQUEST from rid with a snapshot of group's book and
    the outage in words (sched_failure_outage_text).
    Returns 0, or -1 if it could not be built or sent.                    */
int sched_status_send (zsock_t *router, zframe_t *rid, const char *group,
                       sched_model_t *model, const sched_stats_t *stats,
                       const char *outage, int64_t now);

#endif
