/*  sched_lag - the group's lag on the subscribed topics, for a member that
    holds no partition. See sched_lag.h.
*/
#include "sched_lag.h"

#include <stdlib.h>

#define SCHED_LAG_TIMEOUT_MS 10000

//  The first partition-level error of a committed-offsets answer.
static rd_kafka_resp_err_t
s_committed_error (const rd_kafka_topic_partition_list_t *list)
{
    for (int i = 0; i < list->cnt; i++)
        if (list->elems[i].err)
            return list->elems[i].err;
    return RD_KAFKA_RESP_ERR_NO_ERROR;
}

//  Free a lag check; see sched_lag.h.

void
sched_lag_destroy (sched_lag_t **lag_p)
{
    sched_lag_t *lag = *lag_p;
    if (!lag)
        return;
    if (lag->committed)
        rd_kafka_topic_partition_list_destroy (lag->committed);
    if (lag->ends)
        rd_kafka_topic_partition_list_destroy (lag->ends);
    if (lag->starts)
        rd_kafka_topic_partition_list_destroy (lag->starts);
    free (lag);
    *lag_p = NULL;
}

//  ListOffsets for every partition of list; a partition's error fails it.
static rd_kafka_resp_err_t
s_offsets_at (rd_kafka_t *rk, rd_kafka_topic_partition_list_t *list)
{
    if (list->cnt == 0)
        return RD_KAFKA_RESP_ERR_NO_ERROR;
    rd_kafka_resp_err_t err =
        rd_kafka_offsets_for_times (rk, list, SCHED_LAG_TIMEOUT_MS);
    for (int i = 0; !err && i < list->cnt; i++)
        err = list->elems[i].err;
    return err;
}

//  Run a lag check; see sched_lag.h.
rd_kafka_resp_err_t
sched_lag_query (rd_kafka_t *rk, sched_lag_t *lag)
{
    lag->committed = rd_kafka_topic_partition_list_new (16);
    for (size_t i = 0; i < lag->topics->count; i++) {
        rd_kafka_topic_t *rkt =
            rd_kafka_topic_new (rk, lag->topics->items[i], NULL);
        if (!rkt)
            return rd_kafka_last_error ();
        const struct rd_kafka_metadata *md = NULL;
        rd_kafka_resp_err_t err =
            rd_kafka_metadata (rk, 0, rkt, &md, SCHED_LAG_TIMEOUT_MS);
        rd_kafka_topic_destroy (rkt);
        if (err)
            return err;
        //  A topic that does not exist (yet) has no lag.
        for (int t = 0; t < md->topic_cnt; t++)
            for (int p = 0;
                 !md->topics[t].err && p < md->topics[t].partition_cnt; p++)
                rd_kafka_topic_partition_list_add (
                    lag->committed, md->topics[t].topic,
                    md->topics[t].partitions[p].id);
        rd_kafka_metadata_destroy (md);
    }
    lag->ends = rd_kafka_topic_partition_list_copy (lag->committed);
    lag->starts = rd_kafka_topic_partition_list_new (1);
    if (lag->committed->cnt == 0)
        return RD_KAFKA_RESP_ERR_NO_ERROR;
    rd_kafka_resp_err_t err =
        rd_kafka_committed (rk, lag->committed, SCHED_LAG_TIMEOUT_MS);
    if (!err)
        err = s_committed_error (lag->committed);
    for (int i = 0; !err && i < lag->ends->cnt; i++) {
        lag->ends->elems[i].offset = RD_KAFKA_OFFSET_END;
        if (lag->committed->elems[i].offset < 0)
            rd_kafka_topic_partition_list_add (
                lag->starts, lag->committed->elems[i].topic,
                lag->committed->elems[i].partition)
                ->offset = RD_KAFKA_OFFSET_BEGINNING;
    }
    if (!err)
        err = s_offsets_at (rk, lag->ends);
    if (!err)
        err = s_offsets_at (rk, lag->starts);
    return err;
}

//  The figures of an answered lag check; see sched_lag.h.
void
sched_lag_figures (const sched_lag_t *lag, int64_t *total, int64_t *committed,
                   int *lagged)
{
    *total = *committed = 0;
    *lagged = 0;
    for (int i = 0; lag->committed && i < lag->committed->cnt; i++) {
        const rd_kafka_topic_partition_t *tp = &lag->committed->elems[i];
        int64_t start = tp->offset;
        if (start < 0) {
            const rd_kafka_topic_partition_t *s =
                rd_kafka_topic_partition_list_find (lag->starts, tp->topic,
                                                    tp->partition);
            start = s && s->offset > 0 ? s->offset : 0;
        } else
            *committed += tp->offset;
        int64_t end = lag->ends->elems[i].offset;
        if (end > start) {
            *total += end - start;
            (*lagged)++;
        }
    }
}
