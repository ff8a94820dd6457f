/*  sched_lag - the group's lag on the subscribed topics, as a member that
    holds no partition sees it: the partitions from metadata, the group's
    committed offsets, the end offsets and, where nothing is committed,
    the log start offsets. sched_member's offsets actor runs the query
    (every call blocks) on a client of its own; sched_member judges the
    figures (is the lag standing still?).
*/
#ifndef SCHED_LAG_H_INCLUDED
#define SCHED_LAG_H_INCLUDED

#include <librdkafka/rdkafka.h>
#include <stdint.h>
#include "sl_flags.h"

typedef struct {
    const sl_strlist_t *topics; /* asked about                          */
    rd_kafka_topic_partition_list_t *committed; /* every partition        */
    rd_kafka_topic_partition_list_t *ends;      /* same order             */
    rd_kafka_topic_partition_list_t *starts;    /* those with no commit   */
} sched_lag_t;

/*  Fill lag in (blocks, up to 10 s per request). A topic that does not
    exist has no partition. Returns the first error.                      */
rd_kafka_resp_err_t sched_lag_query (rd_kafka_t *rk, sched_lag_t *lag);

/*  The total lag, the sum of the committed offsets (that it moves means
    someone works the lag off) and the partitions with lag.               */
void sched_lag_figures (const sched_lag_t *lag, int64_t *total,
                        int64_t *committed, int *lagged);

/*  Free a lag check and its lists; NULL is fine.                        */
void sched_lag_destroy (sched_lag_t **lag_p);

#endif
