/*  wrk_reader - an executor's reading side: one long-lived Kafka consumer
    (assign/seek, no group membership) and where it stands.

    A job's range [start, end) is read until the consumer's position
    reaches end (the record at end - 1, a record past it, or the end of
    the partition), so missing offsets (compaction, transaction markers)
    do not stall it; the decisions are wrk_range's. A job that starts
    where the last one ended, or a short way ahead on the same partition,
    reads on without a seek. Records fetched past a job's end wait in a
    stash (wrk_stash) for the next job. Offsets deleted by retention
    before they were read are reported lost, never skipped silently.

    With no job for a while the partition is paused, so an idle worker
    does not poll the broker; the next job resumes it. librdkafka 2.0.2
    fetches a resumed partition, or one whose queue was full, only when
    its broker thread next wakes, so the reader has a waker thread that
    makes it look (see wrk_reader.c).

    A job that cannot read its input for a reason of the cluster (the
    fetch refused, or nothing for wrk_range_stall_bound) fails with
    wrk_reader_fault set: the executor reports it as the cluster's fault
    on the input's side, never a record's (docs/RELIABILITY.md, "Whose
    fault a failed job is").

    Every call but wrk_reader_fetched is made on the executor's thread.
*/
#ifndef WRK_READER_H_INCLUDED
#define WRK_READER_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <librdkafka/rdkafka.h>
#include "sl_proto.h"
#include "wrk_config.h"
#include "wrk_kafka.h"
#include "wrk_range.h"

typedef struct _wrk_reader_t wrk_reader_t;

/*  Create the consumer (our defaults, then -X). Its errors are reported
    to fatal, which must outlive the reader. Returns NULL with one line in
    err.                                                                  */
wrk_reader_t *wrk_reader_new (const wrk_config_t *cfg, wrk_kafka_fatal_t *fatal,
                              char *err, size_t errlen);

/*  Stop the waker, drop the stash, close the consumer, null the pointer. */
void wrk_reader_destroy (wrk_reader_t **self_p);

/*  Point the consumer at topic/partition/start (resuming a paused
    partition) unless it is there or a short way before it. Returns 0, or
    -1 with one line in err if the assignment failed.                    */
int wrk_reader_position (wrk_reader_t *self, const char *topic,
                         int32_t partition, int64_t start, char *err,
                         size_t errlen);

/*  Take the job's next records into msgs[0..max) (first those stashed),
    waiting up to 100 ms for the first. Returns how many are the job's
    (0: none yet); the caller destroys them. Sets *done once the range is
    read to its end. Ranges lost to retention are added to lost.
    Returns -1 when the job cannot read its input for a reason of the
    cluster (wrk_reader_fault says which): the cluster refused it
    (sl_kafka_error_input: SL_KAFKA_INPUT_REFUSED), or nothing came for
    wrk_range_stall_bound ms. A corrupt batch is not such a reason.     */
ssize_t wrk_reader_fetch (wrk_reader_t *self, const Sluice__Job *job,
                          rd_kafka_message_t **msgs, size_t max,
                          wrk_range_lost_t *lost, bool *done);

/*  A descriptor that becomes readable when records reach the consumer's
    queue, for an idle lane to wait on (wrk_reader_tail empties it).     */
int wrk_reader_fd (const wrk_reader_t *self);

/*  While the lane is idle: if the consumer, still at the partition of its
    last job, has received records past that job's end, the offset after
    the last of them (the partition holds records up to there: the
    scheduler may cut the next job without waiting for its own look),
    with that partition in topic and partition; each offset once, else
    -1. The records stay for the next job (the stash). Never waits.      */
int64_t wrk_reader_tail (wrk_reader_t *self, const char **topic,
                         int32_t *partition);

/*  After wrk_reader_position or wrk_reader_fetch failed: the Kafka error
    that keeps the job from its input (0: none, the job failed for
    something else), why in words and the input topic (both valid until
    the next job is positioned; either pointer may be NULL).             */
rd_kafka_resp_err_t wrk_reader_fault (const wrk_reader_t *self,
                                      const char **why, const char **topic);

/*  The consumer's position is unknown (a job abandoned or failed midway):
    the next job seeks.                                                  */
void wrk_reader_forget (wrk_reader_t *self);

/*  Serve the consumer's callbacks (statistics, errors), waiting up to
    timeout_ms; records stay in the consumer's queue.                    */
void wrk_reader_poll (wrk_reader_t *self, int timeout_ms);

/*  No job for idle_ms: pause the partition if wrk_range_idle_pause says
    so.                                                                  */
void wrk_reader_idle (wrk_reader_t *self, int64_t idle_ms);

/*  Before the executor ends: with a short statistics.interval.ms, wait
    for a report that covers every record taken, so the totals logged at
    exit are exact; not when `hurry` (a fatal error). Otherwise serve
    what is there.                                                        */
void wrk_reader_stats_final (wrk_reader_t *self, bool hurry);

/*  Records and bytes the consumer fetched (librdkafka's rxmsgs and
    rx_bytes as of its last statistics report: prefetch and records read
    again after a seek included), and the fetch wake-ups sent. Safe from
    any thread.                                                          */
void wrk_reader_fetched (wrk_reader_t *self, uint64_t *records, uint64_t *bytes,
                         uint64_t *wakes);

#endif
