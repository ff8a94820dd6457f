/*  wrk_range - the reader's decisions, without I/O: where a job starts
    reading (the consumer is there, reads on, or seeks), how a job's range
    is walked record by record and where it ends, what is lost to
    retention, when an idle partition is paused and when a fetcher that
    stopped at a full queue is woken.

    The reader (wrk_reader.c) does the Kafka calls around these;
    tests/unit/worker/test_reader.c checks them, the walk against a model
    of a partition with gaps.

    Edge cases, decided:
    - A position with no topic is unknown: every job seeks.
    - Reading on needs the job a short way ahead on the same partition:
      0 < start - next <= a quarter of what librdkafka prefetches (in
      records and in bytes at the mean record size). A job behind the
      position seeks: its records have left the queue. Nothing is
      prefetched (queued.min.messages 0): every move seeks.
    - A record before start is dropped (reading on walks over them).
    - A range is done when its last offset (end - 1) is taken, when a
      record at or past end arrives (that record and the rest of its batch
      belong to the next job: unread), or when an end-of-partition event
      at or past end arrives. It never waits for a record at end - 1,
      which compaction or a transaction marker may have removed.
    - An end-of-partition event below end says nothing: the range waits.
      One at or past end moves the position to the event's offset (past
      markers and aborted records), not to end, so a job starting at end
      seeks rather than wait for an event already delivered.
    - Once done the position is at least end.
    - Lost: the consumer at `next` is out of range and the log now starts
      at log_start. Nothing is lost if log_start <= next. Otherwise
      [next, min(log_start, end)) is lost; if that reaches end the range
      is done (and the reader forgets its position), else the reader
      re-assigns at log_start and the walk goes on from there. `next` may
      lie below start when the job read on (see the disabled test
      lost_range_starts_at_the_job in test_reader.c).
    - A job reports at most WRK_RANGE_LOST_MAX lost ranges; every lost
      offset is counted.
    - Stalled: the job's fetches have brought nothing (no record of it, no
      end of partition) for wrk_range_stall_bound ms in a row (time in
      the plugin does not count). The input is then given up as the
      cluster's fault, before the lease would charge the job an attempt.
*/
#ifndef WRK_RANGE_H_INCLUDED
#define WRK_RANGE_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "sl_meta.h"

/*  An idle reader with records still queued waits this long before it
    pauses its partition, since a pause drops them.                      */
#define WRK_RANGE_IDLE_PAUSE_MS 5000
#define WRK_RANGE_LOST_MAX      16
/*  A stalled job waits at least this long (a fresh consumer's first
    fetch, a leader moving), and this long at most when its partition's
    input was refused before (WRK_RANGE_STALL_REFUSED_MS; librdkafka
    retries a refused fetch after fetch.error.backoff.ms, 500 ms).
    lease_ms 0 (a scheduler that does not say) is taken as
    WRK_RANGE_STALL_LEASE_MS, the scheduler's default.                   */
#define WRK_RANGE_STALL_MIN_MS     2000
#define WRK_RANGE_STALL_REFUSED_MS 1500
#define WRK_RANGE_STALL_LEASE_MS   60000

/*  Where the consumer stands: the next offset it gives on
    topic/partition. topic NULL: unknown.                                */
typedef struct {
    const char *topic;
    int32_t partition;
    int64_t next;
} wrk_range_pos_t;

/*  What librdkafka prefetches into the consumer's queue, and the mean
    size (key + value) of the records seen.                              */
typedef struct {
    int64_t min_records; /* queued.min.messages                          */
    int64_t max_bytes;   /* queued.max.messages.kbytes * 1024            */
    double rec_bytes;
} wrk_range_prefetch_t;

/*  Each lane of a worker reads with a consumer of its own, and
    librdkafka's prefetch limit in bytes (queued.max.messages.kbytes,
    64 MiB by default) is per consumer: a worker of `lanes` lanes shares
    it among them, each lane's share at least WRK_RANGE_PREFETCH_MIN_KB
    KiB (a fetch brings up to 1 MiB per partition). The record limit
    (queued.min.messages, 100,000) is not shared: it also sets how far a
    lane reads on rather than seek (wrk_range_plan), and lanes that take
    turns on a partition would seek at every job, each seek fetching and
    parsing up to a MiB of records again for a job of a few (32 lanes on
    one partition, jobs of 100 records: 3,900 records/s against 28,000).
    The lane's default; -X overrides it.                                  */
#define WRK_RANGE_PREFETCH_KB     65536
#define WRK_RANGE_PREFETCH_MIN_KB 4096
int64_t wrk_range_prefetch_kb (int64_t lanes);

typedef enum {
    WRK_RANGE_HERE,    /* the consumer's next record is the job's start   */
    WRK_RANGE_READ_ON, /* a short way before start: read on to it         */
    WRK_RANGE_SEEK     /* anywhere else: assign at start                  */
} wrk_range_plan_t;

/*  How a job at topic/partition/start is reached from `at`.             */
wrk_range_plan_t wrk_range_plan (const wrk_range_pos_t *at, const char *topic,
                                 int32_t partition, int64_t start,
                                 const wrk_range_prefetch_t *pf);

/*  One job's range while it is read.                                    */
typedef struct {
    int64_t start, end; /* the job's range [start, end)                  */
    int64_t next;       /* the consumer's position on the partition      */
    bool done;          /* the position reached end                      */
} wrk_range_t;

typedef enum {
    WRK_RANGE_DROP,  /* not the job's record: drop it                     */
    WRK_RANGE_TAKE,  /* the job's record: hand it to the plugin           */
    WRK_RANGE_UNREAD /* past end: it and the rest of its batch go back    */
} wrk_range_verdict_t;

/*  The walk of [start, end) from position next, not done.               */
wrk_range_t wrk_range_begin (int64_t start, int64_t end, int64_t next);

/*  A record of the job's topic and partition at offset arrived: what to
    do with it. Moves the position and may mark the range done. (Inline:
    it runs once per record.)                                            */
static inline wrk_range_verdict_t
wrk_range_record (wrk_range_t *r, int64_t offset)
{
    if (offset < r->start)
        return WRK_RANGE_DROP;
    if (offset >= r->end) {
        r->done = true;
        return WRK_RANGE_UNREAD;
    }
    r->next = offset + 1;
    //  The range's last offset: nothing is left to wait for (the next
    //  record or the end of the partition may be a fetch, and on a quiet
    //  log fetch.wait.max.ms, away).
    if (offset == r->end - 1)
        r->done = true;
    return WRK_RANGE_TAKE;
}

/*  The end-of-partition event of the job's partition, at offset.        */
void wrk_range_eof (wrk_range_t *r, int64_t offset);

/*  The consumer is out of range at r->next and the log starts at
    log_start. Returns true with the job's lost range in *lost and the
    range done or its position moved past what is lost; false if the log
    still starts at or below r->next. What was lost below the job's start
    (a consumer reading on from before it) is other jobs' and not in
    *lost, which is then empty if none of the job's records are gone.    */
bool wrk_range_lost (wrk_range_t *r, int64_t log_start, sl_range_t *lost);

/*  After a batch: a done range leaves the position at least at end.     */
void wrk_range_settle (wrk_range_t *r);

/*  What one job lost to retention.                                      */
typedef struct {
    uint64_t offsets; /* every lost offset, counted                      */
    sl_range_t ranges[WRK_RANGE_LOST_MAX];
    size_t n;
} wrk_range_lost_t;

/*  Count a lost range; keep it if there is room.                        */
void wrk_range_lost_add (wrk_range_lost_t *lost, sl_range_t range);

/*  A new mean record size after a batch of n records of `bytes` in all
    (n > 0): a moving average, 1/8 per batch.                            */
double wrk_range_mean_bytes (double mean, size_t bytes, size_t n);

typedef enum {
    WRK_RANGE_WATCH_NONE, /* nothing to do                                */
    WRK_RANGE_WATCH_HELD, /* the queue reached a threshold: the fetcher
                             may stop until its broker thread wakes       */
    WRK_RANGE_WATCH_WAKE  /* held, and now half drained: wake the fetcher */
} wrk_range_watch_t;

/*  After taking `taken` records off the consumer's queue, which holds
    `queued` now. `held`: the queue was seen at a threshold since the
    last wake-up. The look may come just after the fetch that crossed a
    threshold, so 90% of it counts as reached.                           */
wrk_range_watch_t wrk_range_watch (const wrk_range_prefetch_t *pf,
                                   size_t queued, size_t taken, bool held);

/*  True if a reader idle for idle_ms pauses its partition: at once when
    the queue is empty or holds one event (the end of the partition: the
    consumer would only long-poll the end of the log), after
    WRK_RANGE_IDLE_PAUSE_MS with records still queued.                   */
bool wrk_range_idle_pause (int64_t idle_ms, size_t queued);

/*  How long a job's fetches may bring nothing before the reader gives
    its input up (see Stalled above). Half the job's lease, at least
    WRK_RANGE_STALL_MIN_MS (a lease shorter than that is left to charge
    the job, as before). When the cluster refused this partition's input
    to this reader before (`refused`) and no fetch has passed since,
    WRK_RANGE_STALL_REFUSED_MS, at most half the lease: librdkafka
    reports a refused fetch once, until one passes, so a refusal that
    lasts is met as silence.                                             */
int64_t wrk_range_stall_bound (int64_t lease_ms, bool refused);

/*  The partitions whose input the cluster refused to a reader (an error,
    e.g. TOPIC_AUTHORIZATION_FAILED), until a fetch of one passes: what
    later silence on them means. The newest WRK_RANGE_REFUSED_MAX are
    kept. Zeroed: empty.                                                 */
#define WRK_RANGE_REFUSED_MAX 16
typedef struct {
    struct {
        char topic[256]; /* "": a free slot                              */
        int32_t partition;
        int err;
    } slot[WRK_RANGE_REFUSED_MAX];
    size_t next; /* the slot a new partition takes when all are used     */
} wrk_range_refused_t;

/*  Note that topic/partition was refused with err, or (err 0) that it
    reads again.                                                         */
void wrk_range_refused_set (wrk_range_refused_t *self, const char *topic,
                            int32_t partition, int err);

/*  The error topic/partition was refused with, 0 if it was not.         */
int wrk_range_refused_get (const wrk_range_refused_t *self, const char *topic,
                           int32_t partition);

#endif
