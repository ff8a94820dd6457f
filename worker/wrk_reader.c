/*  wrk_reader - an executor's consumer and its position. See
    wrk_reader.h.                                                         */
#include "wrk_reader.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "sl_clock.h"
#include "sl_kafka.h"
#include "sl_log.h"
#include "wrk_stash.h"
#include "wrk_waker.h"

/*  Longest wait for the first record of a batch.                        */
#define READER_POLL_MS 100

struct _wrk_reader_t {
    wrk_kafka_fatal_t *fatal;
    rd_kafka_t *consumer;
    rd_kafka_queue_t *queue;
    rd_kafka_topic_t *in_rkt; /* last input topic, held: metadata kept     */
    //  The handle the job's records arrived with, once one was seen to
    //  name the job's topic: later records compare pointers, not names.
    const rd_kafka_topic_t *job_rkt;
    //  What the consumer is assigned to, and the next offset it will give.
    char *asg_topic;
    int32_t asg_partition;
    int64_t asg_next;
    bool asg_paused;    /* idle: the partition fetches nothing            */
    wrk_stash_t *stash; /* records fetched past the end of the last job   */
    //  The tail watch (wrk_reader_tail): a pipe librdkafka writes to when
    //  records reach the consumer's queue, and the offset last reported.
    int ev_fd[2];
    int64_t tail_told;
    //  The consumer's librdkafka statistics (s_stats_cb; read by the main
    //  thread for its metrics): records and bytes fetched, reports seen.
    _Atomic uint64_t fetched_records, fetched_bytes, stats_reports;
    int64_t stats_interval_ms; /* statistics.interval.ms, 0: off          */
    uint64_t taken;            /* records taken from the consumer's queue  */
    uint64_t taken_reported;   /* taken when the last report was served    */
    //  Fetch watch (s_fetch_watch): librdkafka's thresholds on the
    //  consumer's queue and the mean record size, whether the queue
    //  reached a threshold, and the waker thread that gets a partition
    //  fetched again.
    wrk_range_prefetch_t pf;
    bool fetch_held;
    wrk_waker_t *waker;
    //  Why the current job cannot read its input (wrk_reader_fault): a
    //  Kafka error, 0 while it can. Reset when a job is positioned.
    rd_kafka_resp_err_t fault_err;
    char fault_why[320];
    char fault_topic[256];
    //  The stall watch (wrk_range_stall_bound): since when the job's
    //  fetches have brought nothing (0: they bring something), and the
    //  last error that librdkafka retries met meanwhile (0: none).
    int64_t stall_since_ms;
    rd_kafka_resp_err_t stall_err;
    wrk_range_refused_t refused; /* partitions the cluster refused     */
};

//  ---------------------------------------------------------------------
//  Callbacks

//  Statistics of the consumer: keep what it fetched. librdkafka's totals
//  are cumulative, so each report replaces the last.
static int
s_stats_cb (rd_kafka_t *rk, char *json, size_t json_len, void *opaque)
{
    wrk_reader_t *self = opaque;
    json_t *root = json_loadb (json, json_len, 0, NULL);
    if (!root)
        return 0;
    json_int_t records = json_integer_value (json_object_get (root, "rxmsgs"));
    json_int_t bytes = json_integer_value (json_object_get (root, "rx_bytes"));
    json_decref (root);
    if (records >= 0)
        atomic_store (&self->fetched_records, (uint64_t)records);
    if (bytes >= 0)
        atomic_store (&self->fetched_bytes, (uint64_t)bytes);
    atomic_fetch_add (&self->stats_reports, 1);
    self->taken_reported = self->taken;
    return 0;
}

//  The consumer's errors: the fatal ones end the worker (wrk_kafka);
//  the others (brokers away, timeouts) may name a stall (s_stalled).
static void
s_error_cb (rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    wrk_reader_t *self = opaque;
    wrk_kafka_fatal_check (self->fatal, rk, err, reason);
    if (self->stall_since_ms && !self->stall_err)
        self->stall_err = err;
}

//  Serve the consumer's callbacks.
void
wrk_reader_poll (wrk_reader_t *self, int timeout_ms)
{
    rd_kafka_poll (self->consumer, timeout_ms);
}

//  Wait for a statistics report that covers every record taken.
void
wrk_reader_stats_final (wrk_reader_t *self, bool hurry)
{
    bool behind = self->taken != self->taken_reported;
    wrk_reader_poll (self, 0); //  reports made before now do not count
    if (!behind || self->stats_interval_ms <= 0 ||
        self->stats_interval_ms > SL_KAFKA_STATS_EXACT_MS || hurry)
        return;
    int64_t deadline = sl_now_ms () + 2 * self->stats_interval_ms + 100;
    uint64_t seen = atomic_load (&self->stats_reports);
    while (atomic_load (&self->stats_reports) == seen &&
           sl_now_ms () < deadline)
        wrk_reader_poll (self, 20);
}

//  ---------------------------------------------------------------------
//  The fetch wake-up

//  Have the assigned partition's broker thread look at it again (without
//  waiting for it here).
static void
s_fetch_wake (wrk_reader_t *self)
{
    self->fetch_held = false;
    if (self->asg_topic)
        wrk_waker_wake (self->waker, self->asg_topic, self->asg_partition);
}

//  After taking n records off the consumer's queue (all it had unless
//  `full`, the batch's limit reached): note when the queue had reached one
//  of librdkafka's thresholds, and wake the fetcher once half of that is
//  consumed (wrk_range_watch). Only a full take asks the queue its length:
//  that takes the queue's lock, which the fetcher contends for.
static void
s_fetch_watch (wrk_reader_t *self, size_t n, bool full)
{
    size_t queued = full ? rd_kafka_queue_length (self->queue) : 0;
    switch (wrk_range_watch (&self->pf, queued, n, self->fetch_held)) {
        case WRK_RANGE_WATCH_HELD:
            self->fetch_held = true;
            break;
        case WRK_RANGE_WATCH_WAKE:
            s_fetch_wake (self);
            break;
        case WRK_RANGE_WATCH_NONE:
            break;
    }
}

//  ---------------------------------------------------------------------
//  The position

//  Pause the assigned partition (no job for a while: an idle consumer
//  polls the broker no more), or resume it. Pausing drops what it fetched
//  past the records already taken (the stash keeps those); resumed, it
//  fetches on from there. A paused partition is always resumed before the
//  assignment changes: the pause would outlive it. librdkafka (2.0.2)
//  starts fetching a resumed partition only when its broker thread next
//  wakes, 0.7 s later in a test of this machine, so a resume is followed
//  by a wake-up (s_fetch_wake), which makes that 4-7 ms.
static void
s_asg_pause (wrk_reader_t *self, bool pause)
{
    if (!self->asg_topic || self->asg_paused == pause)
        return;
    rd_kafka_topic_partition_list_t *list =
        rd_kafka_topic_partition_list_new (1);
    rd_kafka_topic_partition_list_add (list, self->asg_topic,
                                       self->asg_partition);
    rd_kafka_resp_err_t rc =
        pause ? rd_kafka_pause_partitions (self->consumer, list)
              : rd_kafka_resume_partitions (self->consumer, list);
    rd_kafka_topic_partition_list_destroy (list);
    if (rc)
        sl_debug ("%s failed topic=%s partition=%d reason=\"%s\"",
                  pause ? "pause" : "resume", self->asg_topic,
                  self->asg_partition, rd_kafka_err2str (rc));
    else
        sl_debug ("partition %s topic=%s partition=%d",
                  pause ? "paused" : "resumed", self->asg_topic,
                  self->asg_partition);
    self->asg_paused = pause;
    if (!pause && !rc)
        s_fetch_wake (self);
}

//  Pause the partition of an idle reader once wrk_range says so.
void
wrk_reader_idle (wrk_reader_t *self, int64_t idle_ms)
{
    if (wrk_range_idle_pause (idle_ms, rd_kafka_queue_length (self->queue)))
        s_asg_pause (self, true);
}

//  Forget the consumer's position: the next job seeks.
void
wrk_reader_forget (wrk_reader_t *self)
{
    free (self->asg_topic);
    self->asg_topic = NULL;
}

//  After an assignment: wait until librdkafka has taken in its own
//  bookkeeping of the partitions it stopped. Assigning anew removes every
//  assigned partition and sends each started one a stop, whose reply the
//  consumer's main thread serves later; a partition removed again before
//  that (the next job seeks in the same partition, or the consumer is
//  closed) is sent a second stop, and the second reply aborts the process
//  (rdkafka_assignment.c: "Assertion `rktp->rktp_started' failed", all
//  releases to 2.15, librdkafka issue #5573). The stop was queued before
//  the assignment returned, so its reply is queued before the reply to a
//  request made now: one round trip through the main thread
//  (rd_kafka_assignment) is enough. tests/unit/worker/test_reassign.c
//  aborts within a few hundred seeks without it.
static void
s_assign_settle (wrk_reader_t *self)
{
    rd_kafka_topic_partition_list_t *now = NULL;
    if (rd_kafka_assignment (self->consumer, &now) ==
        RD_KAFKA_RESP_ERR_NO_ERROR)
        rd_kafka_topic_partition_list_destroy (now);
}

//  Assign the consumer at topic/partition/start, dropping the stash.
static int
s_assign (wrk_reader_t *self, const char *topic, int32_t partition,
          int64_t start, char *err, size_t errlen)
{
    wrk_stash_clear (self->stash, rd_kafka_message_destroy);
    self->job_rkt = NULL;
    self->fetch_held = false;
    wrk_kafka_topic_warm (self->consumer, &self->in_rkt, topic);
    rd_kafka_topic_partition_list_t *list =
        rd_kafka_topic_partition_list_new (1);
    rd_kafka_topic_partition_list_add (list, topic, partition)->offset = start;
    rd_kafka_resp_err_t rc = rd_kafka_assign (self->consumer, list);
    rd_kafka_topic_partition_list_destroy (list);
    s_assign_settle (self);
    wrk_reader_forget (self);
    if (rc) {
        snprintf (err, errlen, "assign %s/%d: %s", topic, partition,
                  rd_kafka_err2str (rc));
        self->fault_err = rc;
        snprintf (self->fault_why, sizeof self->fault_why, "%s", err);
        snprintf (self->fault_topic, sizeof self->fault_topic, "%s", topic);
        return -1;
    }
    self->asg_topic = strdup (topic);
    self->asg_partition = partition;
    self->asg_next = start;
    self->tail_told = start;
    return 0;
}

//  Point the consumer at a job's start unless it is there or reads on.
int
wrk_reader_position (wrk_reader_t *self, const char *topic, int32_t partition,
                     int64_t start, char *err, size_t errlen)
{
    self->fault_err = RD_KAFKA_RESP_ERR_NO_ERROR;
    self->stall_since_ms = 0;
    self->stall_err = RD_KAFKA_RESP_ERR_NO_ERROR;
    s_asg_pause (self, false);
    wrk_range_pos_t at = {self->asg_topic, self->asg_partition, self->asg_next};
    if (wrk_range_plan (&at, topic, partition, start, &self->pf) !=
        WRK_RANGE_SEEK)
        return 0;
    return s_assign (self, topic, partition, start, err, errlen);
}

//  ---------------------------------------------------------------------
//  Input the cluster refuses

//  The job cannot read its input, for err: the fetch ends, the job fails
//  as the cluster's fault (wrk_reader_fault).
static void
s_fault (wrk_reader_t *self, const Sluice__Job *job, rd_kafka_resp_err_t err,
         const char *why)
{
    if (self->fault_err)
        return;
    self->fault_err = err;
    snprintf (self->fault_topic, sizeof self->fault_topic, "%s", job->topic);
    snprintf (self->fault_why, sizeof self->fault_why, "read %s/%d: %s",
              job->topic, job->partition, why);
    sl_warn ("input refused topic=%s partition=%d error=%s reason=\"%s\"",
             job->topic, job->partition, rd_kafka_err2name (err), why);
}

//  A fetch brought the job nothing: once that has lasted
//  wrk_range_stall_bound, give the input up, named by the partition's
//  refusal if there was one, else by the last error met, else as a
//  timeout.
static void
s_stalled (wrk_reader_t *self, const Sluice__Job *job)
{
    int64_t now = sl_now_ms ();
    if (!self->stall_since_ms) {
        self->stall_since_ms = now;
        return;
    }
    int refused =
        wrk_range_refused_get (&self->refused, job->topic, job->partition);
    int64_t waited = now - self->stall_since_ms;
    if (waited < wrk_range_stall_bound ((int64_t)job->lease_ms, refused != 0))
        return;
    rd_kafka_resp_err_t err = refused           ? refused
                              : self->stall_err ? self->stall_err
                                                : RD_KAFKA_RESP_ERR__TIMED_OUT;
    char why[256];
    snprintf (why, sizeof why, "%s (nothing read for %" PRId64 " ms%s)",
              rd_kafka_err2str (err), waited,
              refused ? "; refused before, not reported again" : "");
    s_fault (self, job, err, why);
}

//  Why the job cannot read its input; see wrk_reader.h.
rd_kafka_resp_err_t
wrk_reader_fault (const wrk_reader_t *self, const char **why,
                  const char **topic)
{
    if (why)
        *why = self->fault_why;
    if (topic)
        *topic = self->fault_topic;
    return self->fault_err;
}

//  ---------------------------------------------------------------------
//  Reading a range

//  The consumer is out of range (retention deleted what it was to read
//  next): record [next, log start) as lost and re-assign at the log start,
//  or end the range if the whole rest is gone. The consumer stopped at the
//  error and has no position either way.
static void
s_lost (wrk_reader_t *self, const Sluice__Job *job, wrk_range_t *r,
        wrk_range_lost_t *lost)
{
    int64_t lo = 0, hi = 0;
    sl_range_t gone;
    rd_kafka_resp_err_t rc = rd_kafka_query_watermark_offsets (
        self->consumer, job->topic, job->partition, &lo, &hi, 5000);
    if (rc || !wrk_range_lost (r, lo, &gone))
        return;
    if (gone.end > gone.start) {
        wrk_range_lost_add (lost, gone);
        sl_error ("records lost to retention before they were processed "
                  "topic=%s partition=%d start=%" PRId64 " end=%" PRId64,
                  job->topic, job->partition, gone.start, gone.end);
    }
    wrk_reader_forget (self);
    if (!r->done) {
        char err[256];
        s_assign (self, job->topic, job->partition, r->next, err, sizeof err);
    }
}

//  Take up to max messages: first those kept from the previous job, then
//  whatever the queue has now, waiting at most READER_POLL_MS for the
//  first. (consume_batch_queue with a timeout waits for a full batch, so
//  it is only ever called with 0.)
static size_t
s_take (wrk_reader_t *self, rd_kafka_message_t **msgs, size_t max)
{
    size_t n = wrk_stash_take (self->stash, msgs, max);
    if (n > 0)
        return n;
    ssize_t got = rd_kafka_consume_batch_queue (self->queue, 0, msgs, max);
    if (got > 0) {
        self->taken += (uint64_t)got;
        s_fetch_watch (self, (size_t)got, (size_t)got == max);
        return (size_t)got;
    }
    //  Ran dry after the queue was full: the fetcher may be waiting for
    //  its next look.
    if (self->fetch_held)
        s_fetch_wake (self);
    rd_kafka_message_t *m =
        rd_kafka_consume_queue (self->queue, READER_POLL_MS);
    if (!m)
        return 0;
    msgs[0] = m;
    got = rd_kafka_consume_batch_queue (self->queue, 0, msgs + 1, max - 1);
    n = 1 + (size_t)(got > 0 ? got : 0);
    self->taken += n;
    s_fetch_watch (self, n, n == max);
    return n;
}

//  Put messages past the job's end back in front of the stash, in order,
//  for the next job on this partition; if they do not fit, drop them and
//  the stash, and seek next time.
static void
s_unread (wrk_reader_t *self, rd_kafka_message_t **left, size_t n)
{
    if (wrk_stash_unread (self->stash, left, n))
        return;
    for (size_t i = 0; i < n; i++)
        rd_kafka_message_destroy (left[i]);
    wrk_stash_clear (self->stash, rd_kafka_message_destroy);
    wrk_reader_forget (self);
}

//  What to do with one message taken while reading job's range r: events
//  and errors are dropped (an end of partition or records lost may end
//  the range), records of other partitions or topics too; the job's
//  records are judged by wrk_range.
static wrk_range_verdict_t
s_verdict (wrk_reader_t *self, const Sluice__Job *job, wrk_range_t *r,
           const rd_kafka_message_t *m, wrk_range_lost_t *lost)
{
    if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
        if (m->partition == job->partition)
            wrk_range_eof (r, m->offset);
        return WRK_RANGE_DROP;
    }
    if (m->err == RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET ||
        m->err == RD_KAFKA_RESP_ERR_OFFSET_OUT_OF_RANGE) {
        s_lost (self, job, r, lost);
        return WRK_RANGE_DROP;
    }
    if (m->err) {
        //  Whose it is: the cluster refusing the input fails the job (if
        //  it is the job's partition, or names no partition); what
        //  librdkafka retries may name a stall; a corrupt batch is the
        //  data's own, skipped by librdkafka: logged, as always.
        sl_kafka_input_t kind = sl_kafka_error_input (m->err);
        const char *topic = m->rkt ? rd_kafka_topic_name (m->rkt) : NULL;
        bool ours = !topic || (m->partition == job->partition &&
                               strcmp (topic, job->topic) == 0);
        if (kind == SL_KAFKA_INPUT_REFUSED && topic)
            wrk_range_refused_set (&self->refused, topic, m->partition, m->err);
        if (kind == SL_KAFKA_INPUT_REFUSED && ours)
            s_fault (self, job, m->err, rd_kafka_message_errstr (m));
        else
            sl_warn ("consumer error topic=%s partition=%d error=%s "
                     "reason=\"%s\"",
                     topic ? topic : "-", m->partition,
                     rd_kafka_err2name (m->err), rd_kafka_message_errstr (m));
        if (kind == SL_KAFKA_INPUT_RETRY && ours)
            self->stall_err = m->err;
        return WRK_RANGE_DROP;
    }
    if (m->rkt != self->job_rkt && m->partition == job->partition &&
        strcmp (rd_kafka_topic_name (m->rkt), job->topic) == 0)
        self->job_rkt = m->rkt;
    if (m->partition != job->partition || m->rkt != self->job_rkt)
        return WRK_RANGE_DROP;
    return wrk_range_record (r, m->offset);
}

//  Fetch the job's next records.
ssize_t
wrk_reader_fetch (wrk_reader_t *self, const Sluice__Job *job,
                  rd_kafka_message_t **msgs, size_t max, wrk_range_lost_t *lost,
                  bool *done)
{
    size_t n = s_take (self, msgs, max);
    wrk_range_t r = wrk_range_begin (job->start, job->end, self->asg_next);
    int64_t next0 = r.next;
    size_t keep = 0, i = 0, bytes = 0;
    for (; i < n && !r.done && !self->fault_err; i++) {
        rd_kafka_message_t *m = msgs[i];
        wrk_range_verdict_t v = s_verdict (self, job, &r, m, lost);
        if (v == WRK_RANGE_UNREAD)
            break; //  m and the rest belong to the next job
        if (v == WRK_RANGE_TAKE) {
            msgs[keep++] = m;
            bytes += m->len + m->key_len;
        } else
            rd_kafka_message_destroy (m);
    }
    if (self->fault_err) {
        //  The job fails: what it took and what is left go (the position
        //  is forgotten; the next job seeks).
        for (size_t k = 0; k < keep; k++)
            rd_kafka_message_destroy (msgs[k]);
        for (; i < n; i++)
            rd_kafka_message_destroy (msgs[i]);
        *done = false;
        return -1;
    }
    if (keep > 0) //  for s_fetch_watch and the read-on distance
        self->pf.rec_bytes =
            wrk_range_mean_bytes (self->pf.rec_bytes, bytes, keep);
    if (i < n)
        s_unread (self, msgs + i, n - i);
    wrk_range_settle (&r);
    self->asg_next = r.next;
    *done = r.done;
    if (keep > 0 || r.done || r.next != next0) {
        //  The input reads: any refusal of it is over.
        self->stall_since_ms = 0;
        self->stall_err = RD_KAFKA_RESP_ERR_NO_ERROR;
        wrk_range_refused_set (&self->refused, job->topic, job->partition, 0);
    } else {
        s_stalled (self, job);
        if (self->fault_err)
            return -1;
    }
    return (ssize_t)keep;
}

//  ---------------------------------------------------------------------
//  The tail watch

//  See wrk_reader.h.
int
wrk_reader_fd (const wrk_reader_t *self)
{
    return self->ev_fd[0];
}

//  See wrk_reader.h. The records are taken off the queue into the stash,
//  behind what it holds, as many as fit (the next job here reads them
//  first; one elsewhere drops them with its seek).
int64_t
wrk_reader_tail (wrk_reader_t *self, const char **topic, int32_t *partition)
{
    char buf[64];
    while (read (self->ev_fd[0], buf, sizeof buf) > 0)
        ;
    if (!self->asg_topic || self->asg_paused)
        return -1;
    rd_kafka_message_t *msgs[256];
    size_t cap = wrk_stash_cap (self->stash);
    size_t max = cap < 256 ? cap : 256;
    size_t n = wrk_stash_take (self->stash, msgs, max);
    ssize_t got = n < max ? rd_kafka_consume_batch_queue (self->queue, 0,
                                                          msgs + n, max - n)
                          : 0;
    if (got > 0) {
        self->taken += (uint64_t)got;
        n += (size_t)got;
    }
    int64_t high = -1;
    for (size_t i = n; i-- > 0 && high < 0;)
        if (!msgs[i]->err && msgs[i]->partition == self->asg_partition &&
            strcmp (rd_kafka_topic_name (msgs[i]->rkt), self->asg_topic) == 0)
            high = msgs[i]->offset + 1;
    if (n > 0)
        s_unread (self, msgs, n);
    if (high <= self->tail_told || high <= self->asg_next)
        return -1;
    self->tail_told = high;
    *topic = self->asg_topic;
    *partition = self->asg_partition;
    return high;
}

//  ---------------------------------------------------------------------
//  Lifecycle

//  The consumer's configuration: our defaults, -X, our callbacks.
//  fetch.wait.max.ms: a seek (the next job elsewhere) waits for the Fetch
//  in flight, and once the consumer has read to the end of the log that
//  Fetch is a long poll of fetch.wait.max.ms (500 ms by default): on a
//  real broker most jobs would pay it. At the tail of a drain, where
//  workers share the last partitions, each job is a seek on a partition
//  read to its end: 10 ms, not 50. An idle reader pauses its partition,
//  so the short poll costs the broker nothing while there is no work.
//  statistics.interval.ms: what the consumer fetched (its prefetch and
//  any re-reads included) is exported as metrics.
//  queued.max.messages.kbytes: the lane's share of the worker's prefetch
//  bytes (wrk_range_prefetch_kb).
static rd_kafka_conf_t *
s_conf_new (wrk_reader_t *self, const wrk_config_t *cfg, char *err,
            size_t errlen)
{
    char max_kb[64];
    snprintf (max_kb, sizeof max_kb, "queued.max.messages.kbytes=%" PRId64,
              wrk_range_prefetch_kb (cfg->concurrency));
    const char *defaults[] = {"enable.auto.commit=false",
                              "enable.auto.offset.store=false",
                              "enable.partition.eof=true",
                              "auto.offset.reset=error",
                              "fetch.wait.max.ms=10",
                              "client.id=sluice-worker",
                              "group.id=sluice-worker-unused",
                              "statistics.interval.ms=1000",
                              max_kb,
                              NULL};
    rd_kafka_conf_t *conf =
        sl_kafka_conf_new (cfg->brokers, defaults, &cfg->props, err, errlen);
    if (!conf)
        return NULL;
    rd_kafka_conf_set_opaque (conf, self);
    rd_kafka_conf_set_error_cb (conf, s_error_cb);
    rd_kafka_conf_set_stats_cb (conf, s_stats_cb);
    self->stats_interval_ms =
        sl_kafka_conf_int (conf, "statistics.interval.ms");
    self->pf.min_records = sl_kafka_conf_int (conf, "queued.min.messages");
    self->pf.max_bytes =
        sl_kafka_conf_int (conf, "queued.max.messages.kbytes") * 1024;
    return conf;
}

//  Create the reader.
wrk_reader_t *
wrk_reader_new (const wrk_config_t *cfg, wrk_kafka_fatal_t *fatal, char *err,
                size_t errlen)
{
    wrk_reader_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->fatal = fatal;
    self->ev_fd[0] = self->ev_fd[1] = -1;
    self->stash = wrk_stash_new (2 * (size_t)cfg->batch_size);
    if (!self->stash) {
        snprintf (err, errlen, "out of memory");
        goto fail;
    }
    rd_kafka_conf_t *conf = s_conf_new (self, cfg, err, errlen);
    if (!conf)
        goto fail;
    char rderr[512];
    self->consumer =
        rd_kafka_new (RD_KAFKA_CONSUMER, conf, rderr, sizeof rderr);
    if (!self->consumer) {
        rd_kafka_conf_destroy (conf);
        snprintf (err, errlen, "cannot create Kafka consumer: %s", rderr);
        goto fail;
    }
    //  Records come from the consumer's queue, callbacks from the main
    //  queue (rd_kafka_poll): the two are kept apart so that callbacks are
    //  served between jobs without taking records off the queue.
    self->queue = rd_kafka_queue_get_consumer (self->consumer);
    if (pipe2 (self->ev_fd, O_NONBLOCK | O_CLOEXEC) != 0) {
        snprintf (err, errlen, "cannot make a pipe: %s", strerror (errno));
        goto fail;
    }
    rd_kafka_queue_io_event_enable (self->queue, self->ev_fd[1], "r", 1);
    self->waker = wrk_waker_new (self->consumer);
    if (!self->waker) {
        snprintf (err, errlen, "out of memory");
        goto fail;
    }
    return self;
fail:
    wrk_reader_destroy (&self);
    return NULL;
}

//  What the consumer fetched, from its last statistics report.
void
wrk_reader_fetched (wrk_reader_t *self, uint64_t *records, uint64_t *bytes,
                    uint64_t *wakes)
{
    *records = atomic_load (&self->fetched_records);
    *bytes = atomic_load (&self->fetched_bytes);
    *wakes = self->waker ? wrk_waker_count (self->waker) : 0;
}

//  Destroy the reader.
void
wrk_reader_destroy (wrk_reader_t **self_p)
{
    wrk_reader_t *self = *self_p;
    if (!self)
        return;
    if (self->stash)
        wrk_stash_clear (self->stash, rd_kafka_message_destroy);
    wrk_stash_destroy (&self->stash);
    wrk_waker_destroy (&self->waker);
    if (self->in_rkt)
        rd_kafka_topic_destroy (self->in_rkt);
    if (self->consumer) {
        rd_kafka_queue_io_event_enable (self->queue, -1, NULL, 0);
        rd_kafka_queue_destroy (self->queue);
        rd_kafka_consumer_close (self->consumer);
        rd_kafka_destroy (self->consumer);
    }
    for (int i = 0; i < 2; i++)
        if (self->ev_fd[i] >= 0)
            close (self->ev_fd[i]);
    free (self->asg_topic);
    free (self);
    *self_p = NULL;
}
