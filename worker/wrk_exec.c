/*  wrk_exec - the worker's executor. See wrk_exec.h.                    */
#include "wrk_exec.h"
#include "wrk_batch.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>
#include "sl_clock.h"
#include "sl_kafka.h"
#include "sl_log.h"
#include "sl_proto.h"
#include "wrk_msg.h"

#define EXEC_POLL_MS 100
/*  While records flow, callbacks and the main thread's commands (a
    cancel) are served this often.                                        */
#define EXEC_CHORES_NS 2000000
/*  While no job runs the consumer's callbacks (statistics, errors) are
    still served this often; after this long without a job its partition
    is paused.                                                            */
#define EXEC_IDLE_POLL_MS 200
/*  An idle executor pauses its partition once its queue is empty or holds
    one event, the end of the partition (the consumer would only long-poll
    the end of the log); with records still queued it waits this long
    first, since pausing drops them.                                      */
#define EXEC_IDLE_PAUSE_MS 5000
/*  Longest wait for the output topic's metadata before the first job.     */
#define WRK_WARM_UP_MS 2000

typedef struct {
    int sched;
    Sluice__Job *job;
    bool cancelled;
} exec_job_t;

//  What one job has done so far.
typedef struct {
    uint64_t records, rejected, emitted, retried, lost;
    int64_t plugin_ns; /* inside the plugin's process()                   */
    int64_t fetch_ns;  /* waiting for records from the consumer           */
    int64_t flush_ns;  /* waiting for the producer's acknowledgements     */
    Sluice__Range lost_ranges[16];
    Sluice__Range *lost_ptrs[16];
    size_t n_lost;
    bool failed;
    char error[SLUICE_REASON_MAX + 64];
} exec_tally_t;

struct _wrk_exec_t {
    const wrk_config_t *cfg;
    zsock_t *pipe;
    rd_kafka_t *consumer;
    rd_kafka_queue_t *queue;
    rd_kafka_t *producer;
    rd_kafka_topic_t *out_rkt; /* output topic, held: metadata kept   */
    rd_kafka_topic_t *dlq_rkt; /* last dead-letter topic, likewise    */
    rd_kafka_topic_t *in_rkt;  /* last input topic, on the consumer    */
    //  The handle the job's records arrived with, once one was seen to
    //  name the job's topic: later records compare pointers, not names.
    const rd_kafka_topic_t *job_rkt;
    wrk_plugin_t *plugin;
    zlistx_t *fifo; /* exec_job_t *, waiting                              */
    exec_job_t *current;
    bool stopping;
    int64_t stop_deadline;
    //  What the consumer is assigned to, and the next offset it will give.
    char *asg_topic;
    int32_t asg_partition;
    int64_t asg_next;
    bool asg_paused; /* idle: the partition fetches nothing             */
    int64_t idle_ms; /* idle since its last job (EXEC_IDLE_POLL_MS steps) */
    //  Records fetched past the end of the previous job, kept for the next.
    rd_kafka_message_t **stash;
    size_t stash_n, stash_pos, stash_cap;
    //  Per-batch buffers handed to the plugin.
    rd_kafka_message_t **msgs;
    sluice_record_t *recs;
    sluice_outcome_t *outs;
    sluice_header_t *hdrs;
    size_t hdr_cap;
    //  Delivery accounting: produce opaque = job serial.
    uint64_t serial;
    uint64_t dr_failures;
    char dr_error[256];
    //  The consumer's librdkafka statistics (stats_cb; read by the main
    //  thread for its metrics): records and bytes fetched, reports seen.
    _Atomic uint64_t fetched_records, fetched_bytes, stats_reports;
    int64_t stats_interval_ms; /* statistics.interval.ms, 0: off          */
    uint64_t taken;            /* records taken from the consumer's queue  */
    uint64_t taken_reported;   /* taken when the last report was served    */
    //  Fetch watch (see s_fetch_watch): librdkafka's thresholds on the
    //  consumer's queue, what the queue held at the last look, and the
    //  waker thread that gets a partition fetched again.
    int64_t queued_min;       /* queued.min.messages                      */
    int64_t queued_max_bytes; /* queued.max.messages.kbytes * 1024        */
    double rec_bytes;         /* mean record size (key + value), s_fetch  */
    bool fetch_held;          /* the queue reached a threshold            */
    pthread_t wk_thread;
    bool wk_started, wk_want, wk_stop;
    pthread_mutex_t wk_mtx;
    pthread_cond_t wk_cond;
    char wk_topic[256];
    int32_t wk_partition;
    _Atomic uint64_t wakes; /* wake-ups sent                             */
    char fatal[600]; /* why the executor cannot go on, "" while it can  */
    int fatal_code;  /* the worker's exit code for it                  */
    bool fatal_sent;
    exec_tally_t *tally;
    const char *dlq_topic;
    int64_t progress_ms; /* when the last PROGRESS went out              */
    int64_t chores_ns;   /* when callbacks and commands were last served  */
};

//  ---------------------------------------------------------------------
//  Producer

//  Delivery report: count failures of the current job.
static void
s_dr_cb (rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque)
{
    wrk_exec_t *self = opaque;
    if (msg->err && (uint64_t)(uintptr_t)msg->_private == self->serial) {
        self->dr_failures++;
        snprintf (self->dr_error, sizeof self->dr_error, "produce to %s: %s",
                  rd_kafka_topic_name (msg->rkt), rd_kafka_err2str (msg->err));
    }
}

//  Make *slot a handle on `topic` for rk (unless it already is one) and
//  look up the topic's metadata now: a client otherwise learns a new
//  topic on its next one-second metadata scan, and a fresh worker's first
//  job (or first dead-letter copy) would wait for it. topic NULL asks for
//  the brokers only (it meets the cluster: wrong security settings show).
//  Best effort: a broker that cannot answer now is not an error.
static void
s_topic_warm (rd_kafka_t *rk, rd_kafka_topic_t **slot, const char *topic)
{
    if (topic && *slot && streq (rd_kafka_topic_name (*slot), topic))
        return;
    if (*slot)
        rd_kafka_topic_destroy (*slot);
    *slot = topic ? rd_kafka_topic_new (rk, topic, NULL) : NULL;
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t err =
        !topic || *slot ? rd_kafka_metadata (rk, 0, *slot, &md, WRK_WARM_UP_MS)
                        : rd_kafka_last_error ();
    if (md)
        rd_kafka_metadata_destroy (md);
    if (err)
        sl_debug ("metadata not known yet topic=%s reason=\"%s\"",
                  topic ? topic : "-", rd_kafka_err2str (err));
}

//  librdkafka errors, on both handles. Settings that do not match the
//  cluster (authentication, TLS) and fatal producer errors end the
//  worker; the rest are logged by librdkafka itself and retried.
static void
s_error_cb (rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    wrk_exec_t *self = opaque;
    if (self->fatal[0])
        return;
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
        char buf[400];
        rd_kafka_fatal_error (rk, buf, sizeof buf);
        snprintf (self->fatal, sizeof self->fatal,
                  "kafka fatal error, restart the worker client=%s "
                  "reason=\"%s\"",
                  rd_kafka_name (rk), buf);
        self->fatal_code = 1;
    } else if (sl_kafka_error_is_setup (err, reason)) {
        snprintf (self->fatal, sizeof self->fatal,
                  "kafka security settings do not match the cluster, check "
                  "security.protocol, sasl.* and ssl.* (-X) error=%s "
                  "reason=\"%.300s\"",
                  rd_kafka_err2name (err), reason);
        self->fatal_code = 2;
    } else
        sl_debug ("kafka error client=%s error=%s reason=\"%s\"",
                  rd_kafka_name (rk), rd_kafka_err2name (err), reason);
}

//  Statistics of the consumer: keep what it fetched. librdkafka's totals
//  are cumulative, so each report replaces the last.
static int
s_stats_cb (rd_kafka_t *rk, char *json, size_t json_len, void *opaque)
{
    wrk_exec_t *self = opaque;
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

//  Serve the consumer's callbacks (statistics, errors); records are not
//  touched: they wait in the consumer's own queue.
static void
s_consumer_poll (wrk_exec_t *self, int timeout_ms)
{
    rd_kafka_poll (self->consumer, timeout_ms);
}

//  Before the executor ends: with a short statistics interval, wait for a
//  report that covers everything taken from the consumer, so the totals
//  the worker logs at exit are exact. Otherwise serve what is there.
static void
s_stats_final (wrk_exec_t *self)
{
    bool behind = self->taken != self->taken_reported;
    s_consumer_poll (self, 0); //  reports made before now do not count
    if (!behind || self->stats_interval_ms <= 0 ||
        self->stats_interval_ms > SL_KAFKA_STATS_EXACT_MS || self->fatal[0])
        return;
    int64_t deadline = sl_now_ms () + 2 * self->stats_interval_ms + 100;
    uint64_t seen = atomic_load (&self->stats_reports);
    while (atomic_load (&self->stats_reports) == seen &&
           sl_now_ms () < deadline)
        s_consumer_poll (self, 20);
}

//  Tell the worker, once, that the executor cannot go on, and stop taking
//  jobs: every job still here is abandoned. Returns true if fatal.
static bool
s_check_fatal (wrk_exec_t *self)
{
    if (!self->fatal[0])
        return false;
    if (!self->fatal_sent) {
        wrk_msg_send (self->pipe, WRK_MSG_FATAL, -1, (uint64_t)self->fatal_code,
                      NULL, self->fatal);
        self->fatal_sent = true;
        self->stopping = true;
        self->stop_deadline = 0;
    }
    return true;
}

//  Warm up the output topic before the first job, and meet the cluster
//  at once: wrong security settings are found at start, not at the first
//  job.
static void
s_warm_up (wrk_exec_t *self)
{
    const char *topic = self->cfg->output_topic;
    if (!self->producer)
        return;
    s_topic_warm (self->producer, &self->out_rkt,
                  topic && *topic ? topic : NULL);
    rd_kafka_poll (self->producer, 0);
    s_check_fatal (self);
}

//  Warm up a job's dead-letter topic before copying to it.
static void
s_warm_up_dlq (wrk_exec_t *self, const char *topic)
{
    if (topic && *topic && self->producer)
        s_topic_warm (self->producer, &self->dlq_rkt, topic);
}

//  Produce one record (copied), waiting while the queue is full.
static int
s_produce (wrk_exec_t *self, const char *topic, int32_t partition,
           const void *key, size_t key_len, const void *value, size_t value_len,
           rd_kafka_headers_t *hdrs)
{
    while (true) {
        rd_kafka_resp_err_t err = rd_kafka_producev (
            self->producer, RD_KAFKA_V_TOPIC (topic),
            RD_KAFKA_V_PARTITION (partition < 0 ? RD_KAFKA_PARTITION_UA
                                                : partition),
            RD_KAFKA_V_KEY (key, key_len),
            RD_KAFKA_V_VALUE ((void *)value, value_len),
            RD_KAFKA_V_MSGFLAGS (RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_HEADERS (hdrs),
            RD_KAFKA_V_OPAQUE ((void *)(uintptr_t)self->serial),
            RD_KAFKA_V_END);
        if (err == RD_KAFKA_RESP_ERR_NO_ERROR)
            return 0;
        if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            if (hdrs)
                rd_kafka_headers_destroy (hdrs);
            snprintf (self->dr_error, sizeof self->dr_error,
                      "produce to %s: %s", topic, rd_kafka_err2str (err));
            self->dr_failures++;
            return -1;
        }
        rd_kafka_poll (self->producer, 50);
    }
}

//  The plugin's emit(): a record for the output topic. wrk_plugin calls
//  it with the executor of the lane (handle) the record was emitted for.
static int
s_emit (void *arg, const sluice_emit_t *rec)
{
    wrk_exec_t *self = arg;
    if (!self->cfg->output_topic || !*self->cfg->output_topic)
        return -1;
    rd_kafka_headers_t *hdrs = NULL;
    if (rec->header_count) {
        hdrs = rd_kafka_headers_new (rec->header_count);
        for (size_t i = 0; i < rec->header_count; i++)
            rd_kafka_header_add (hdrs, rec->headers[i].name, -1,
                                 rec->headers[i].value,
                                 (ssize_t)rec->headers[i].value_len);
    }
    if (s_produce (self, self->cfg->output_topic, rec->partition, rec->key,
                   rec->key_len, rec->value, rec->value_len, hdrs) != 0)
        return -1;
    if (self->tally)
        self->tally->emitted++;
    return 0;
}

//  Copy one raw record to the DLQ with headers that say where it came
//  from and why.
static int
s_dead_letter (wrk_exec_t *self, const rd_kafka_message_t *msg,
               uint32_t attempts, const char *reason)
{
    rd_kafka_headers_t *src = NULL;
    rd_kafka_headers_t *hdrs = NULL;
    if (rd_kafka_message_headers (msg, &src) == RD_KAFKA_RESP_ERR_NO_ERROR)
        hdrs = rd_kafka_headers_copy (src);
    else
        hdrs = rd_kafka_headers_new (5);
    char partition[16], offset[24], attempt[16];
    snprintf (partition, sizeof partition, "%" PRId32, msg->partition);
    snprintf (offset, sizeof offset, "%" PRId64, msg->offset);
    snprintf (attempt, sizeof attempt, "%u", attempts);
    rd_kafka_header_add (hdrs, "sluice.source.topic", -1,
                         rd_kafka_topic_name (msg->rkt), -1);
    rd_kafka_header_add (hdrs, "sluice.source.partition", -1, partition, -1);
    rd_kafka_header_add (hdrs, "sluice.source.offset", -1, offset, -1);
    rd_kafka_header_add (hdrs, "sluice.attempts", -1, attempt, -1);
    rd_kafka_header_add (hdrs, "sluice.reason", -1, reason, -1);
    if (s_produce (self, self->dlq_topic, -1, msg->key, msg->key_len,
                   msg->payload, msg->len, hdrs) != 0)
        return -1;
    self->tally->rejected++;
    return 0;
}

//  Wait until everything produced for this job is acknowledged.
static int
s_flush (wrk_exec_t *self, char *err, size_t errlen)
{
    int64_t deadline = sl_now_ms () + self->cfg->flush_timeout_ms;
    while (rd_kafka_outq_len (self->producer) > 0 && sl_now_ms () < deadline)
        rd_kafka_flush (self->producer, 100);
    if (rd_kafka_outq_len (self->producer) > 0) {
        snprintf (err, errlen, "producer did not flush within %" PRId64 " ms",
                  self->cfg->flush_timeout_ms);
        return -1;
    }
    if (self->dr_failures) {
        snprintf (err, errlen, "%s", self->dr_error);
        return -1;
    }
    return 0;
}

//  ---------------------------------------------------------------------
//  Commands from the main thread

static void s_reply_id (wrk_exec_t *self, wrk_msg_type_t type, int sched,
                        uint64_t id);

//  Drop the queued jobs of scheduler `sched` (one job, `id`, unless `all`),
//  and mark the running one cancelled if it matches.
static void
s_drop (wrk_exec_t *self, int sched, uint64_t id, bool all)
{
    if (self->current && self->current->sched == sched &&
        (all || self->current->job->job_id == id))
        self->current->cancelled = true;
    zlistx_t *gone = zlistx_new ();
    for (exec_job_t *ej = zlistx_first (self->fifo); ej;
         ej = zlistx_next (self->fifo))
        if (ej->sched == sched && (all || ej->job->job_id == id))
            zlistx_add_end (gone, ej);
    if (all) //  the worker counts the jobs each executor holds
        wrk_msg_send (self->pipe, WRK_MSG_FORGOT, sched, zlistx_size (gone),
                      NULL, NULL);
    for (exec_job_t *ej = zlistx_first (gone); ej; ej = zlistx_next (gone)) {
        if (!all)
            s_reply_id (self, WRK_MSG_DROPPED, sched, ej->job->job_id);
        zlistx_delete (self->fifo, zlistx_find (self->fifo, ej));
        sluice__job__free_unpacked (ej->job, NULL);
        free (ej);
    }
    zlistx_destroy (&gone);
}

//  Handle one command from the main thread (wrk_msg.h).
static void
s_command (wrk_exec_t *self, wrk_msg_t *m)
{
    switch (m->type) {
        case WRK_MSG_JOB: {
            exec_job_t *ej = calloc (1, sizeof *ej);
            if (!ej)
                break;
            ej->sched = m->sched;
            ej->job = m->payload
                          ? sluice__job__unpack (NULL, zframe_size (m->payload),
                                                 zframe_data (m->payload))
                          : NULL;
            if (ej->job)
                zlistx_add_end (self->fifo, ej);
            else
                free (ej);
            break;
        }
        case WRK_MSG_CANCEL:
        case WRK_MSG_DROPALL:
            s_drop (self, m->sched, m->value, m->type == WRK_MSG_DROPALL);
            break;
        case WRK_MSG_STOP: {
            self->stopping = true;
            self->stop_deadline = (int64_t)m->value;
            exec_job_t *ej;
            while ((ej = zlistx_first (self->fifo))) {
                s_reply_id (self, WRK_MSG_RETURNED, ej->sched, ej->job->job_id);
                zlistx_delete (self->fifo, zlistx_cursor (self->fifo));
                sluice__job__free_unpacked (ej->job, NULL);
                free (ej);
            }
            break;
        }
        case WRK_MSG_TERM:
            self->stopping = true;
            self->stop_deadline = 0;
            break;
        default: //  a reply type: only the main thread receives those
            sl_error ("executor got a message out of place type=%s",
                      wrk_msg_name (m->type));
            break;
    }
}

//  Receive and handle one command (blocking). False if the pipe failed.
static bool
s_recv_command (wrk_exec_t *self)
{
    wrk_msg_t m;
    if (wrk_msg_recv (self->pipe, &m) != 0)
        return false;
    s_command (self, &m);
    wrk_msg_clear (&m);
    return true;
}

//  Handle every command waiting on the pipe without blocking.
static void
s_pump (wrk_exec_t *self)
{
    while (zsock_events (self->pipe) & ZMQ_POLLIN)
        if (!s_recv_command (self))
            return;
}

//  Tell the main thread about job `id` of scheduler `sched`.
static void
s_reply_id (wrk_exec_t *self, wrk_msg_type_t type, int sched, uint64_t id)
{
    wrk_msg_send (self->pipe, type, sched, id, NULL, NULL);
}

//  ---------------------------------------------------------------------
//  Reading a range

//  Drop records kept from a previous job.
static void
s_stash_clear (wrk_exec_t *self)
{
    for (size_t i = self->stash_pos; i < self->stash_n; i++)
        rd_kafka_message_destroy (self->stash[i]);
    self->stash_n = self->stash_pos = 0;
}

static void s_fetch_wake (wrk_exec_t *self);

//  Pause the assigned partition (no job for a while: an idle consumer
//  polls the broker no more), or resume it. Pausing drops what it fetched
//  past the records already taken (the stash keeps those); resumed, it
//  fetches on from there. A paused partition is always resumed before the
//  assignment changes: the pause would outlive it. librdkafka (2.0.2)
//  starts fetching a resumed partition only when its broker thread next
//  wakes, 0.7 s later in a test of this machine, so a resume is followed
//  by a wake-up (s_fetch_wake), which makes that 4-7 ms.
static void
s_asg_pause (wrk_exec_t *self, bool pause)
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

//  True if a job at `start` is a short way ahead of where the consumer
//  stands on the same partition: reading on to it (s_fetch drops the
//  records before start) uses what is already fetched, where a seek would
//  drop it and fetch again. That is the usual case when workers take
//  turns on a partition (the tail of a drain, more workers than
//  partitions): the gap is the other workers' jobs. "Short" is a quarter
//  of what librdkafka prefetches (queued.min.messages records and
//  queued.max.messages.kbytes), so the records are most likely queued.
static bool
s_read_on (wrk_exec_t *self, int64_t start)
{
    int64_t gap = start - self->asg_next;
    return gap > 0 && self->queued_min > 0 && gap <= self->queued_min / 4 &&
           (double)gap * self->rec_bytes <= (double)self->queued_max_bytes / 4;
}

//  Point the consumer at topic/partition/start unless it is already there
//  or a short way before it.
static int
s_position (wrk_exec_t *self, const char *topic, int32_t partition,
            int64_t start, char *err, size_t errlen)
{
    s_asg_pause (self, false);
    if (self->asg_topic && streq (self->asg_topic, topic) &&
        self->asg_partition == partition &&
        (self->asg_next == start || s_read_on (self, start)))
        return 0;
    s_stash_clear (self);
    self->job_rkt = NULL;
    self->fetch_held = false;
    s_topic_warm (self->consumer, &self->in_rkt, topic);
    rd_kafka_topic_partition_list_t *list =
        rd_kafka_topic_partition_list_new (1);
    rd_kafka_topic_partition_list_add (list, topic, partition)->offset = start;
    rd_kafka_resp_err_t rc = rd_kafka_assign (self->consumer, list);
    rd_kafka_topic_partition_list_destroy (list);
    if (rc) {
        snprintf (err, errlen, "assign %s/%d: %s", topic, partition,
                  rd_kafka_err2str (rc));
        free (self->asg_topic);
        self->asg_topic = NULL;
        return -1;
    }
    free (self->asg_topic);
    self->asg_topic = strdup (topic);
    self->asg_partition = partition;
    self->asg_next = start;
    return 0;
}

//  Record offsets lost to retention: [from, lo) where lo is the log start.
static int64_t
s_lost (wrk_exec_t *self, const Sluice__Job *job, int64_t from)
{
    int64_t lo = 0, hi = 0;
    rd_kafka_resp_err_t rc = rd_kafka_query_watermark_offsets (
        self->consumer, job->topic, job->partition, &lo, &hi, 5000);
    if (rc || lo <= from)
        return -1;
    int64_t to = lo < job->end ? lo : job->end;
    exec_tally_t *t = self->tally;
    t->lost += (uint64_t)(to - from);
    if (t->n_lost < 16) {
        sluice__range__init (&t->lost_ranges[t->n_lost]);
        t->lost_ranges[t->n_lost].start = from;
        t->lost_ranges[t->n_lost].end = to;
        t->lost_ptrs[t->n_lost] = &t->lost_ranges[t->n_lost];
        t->n_lost++;
    }
    sl_error ("records lost to retention before they were processed "
              "topic=%s partition=%d start=%" PRId64 " end=%" PRId64,
              job->topic, job->partition, from, to);
    return to;
}

//  librdkafka (2.0.2) stops fetching a partition once the consumer's
//  queue holds queued.min.messages records (or queued.max.messages.kbytes)
//  and looks at it again only when its broker thread next wakes up, which
//  with nothing else to do is up to a second later. A plugin slower than
//  the broker fills the queue, drains it in a fraction of that second and
//  then waits out the rest: a plugin good for 200,000 records a second got
//  116,000. So the executor watches the queue: once it has been full and
//  is half drained, the waker thread asks the partition's leader for its
//  latest offset. That request goes through the very broker thread that
//  fetches the partition, which wakes, sees the room and fetches again.
static void *
s_waker (void *arg)
{
    wrk_exec_t *self = arg;
    pthread_mutex_lock (&self->wk_mtx);
    while (!self->wk_stop) {
        if (!self->wk_want) {
            pthread_cond_wait (&self->wk_cond, &self->wk_mtx);
            continue;
        }
        self->wk_want = false;
        rd_kafka_topic_partition_list_t *list =
            rd_kafka_topic_partition_list_new (1);
        rd_kafka_topic_partition_list_add (list, self->wk_topic,
                                           self->wk_partition)
            ->offset = -1; //  the latest offset
        pthread_mutex_unlock (&self->wk_mtx);
        rd_kafka_resp_err_t rc =
            rd_kafka_offsets_for_times (self->consumer, list, 2000);
        if (rc)
            sl_debug ("fetch wake-up failed reason=\"%s\"",
                      rd_kafka_err2str (rc));
        rd_kafka_topic_partition_list_destroy (list);
        atomic_fetch_add (&self->wakes, 1);
        pthread_mutex_lock (&self->wk_mtx);
    }
    pthread_mutex_unlock (&self->wk_mtx);
    return NULL;
}

//  Have the assigned partition's broker thread look at it again (without
//  waiting for it here).
static void
s_fetch_wake (wrk_exec_t *self)
{
    self->fetch_held = false;
    if (!self->asg_topic)
        return;
    pthread_mutex_lock (&self->wk_mtx);
    if (!self->wk_started && !self->wk_stop)
        self->wk_started =
            pthread_create (&self->wk_thread, NULL, s_waker, self) == 0;
    snprintf (self->wk_topic, sizeof self->wk_topic, "%s", self->asg_topic);
    self->wk_partition = self->asg_partition;
    self->wk_want = true;
    pthread_cond_signal (&self->wk_cond);
    pthread_mutex_unlock (&self->wk_mtx);
}

//  After taking n records off the consumer's queue: note when the queue
//  had reached one of librdkafka's thresholds (a little early: the look
//  may come just after the fetch that crossed it), and wake the fetcher
//  once half of that is consumed.
static void
s_fetch_watch (wrk_exec_t *self, size_t n)
{
    if (self->queued_min <= 0)
        return;
    double len = (double)rd_kafka_queue_length (self->queue);
    double before = len + (double)n; //  what the queue held
    double min = (double)self->queued_min;
    double max_bytes = (double)self->queued_max_bytes;
    if (before >= 0.9 * min || before * self->rec_bytes >= 0.9 * max_bytes)
        self->fetch_held = true;
    else if (self->fetch_held && len <= 0.5 * min &&
             len * self->rec_bytes <= 0.5 * max_bytes)
        s_fetch_wake (self);
}

//  Take up to max messages: first those kept from the previous job, then
//  whatever the queue has now, waiting at most EXEC_POLL_MS for the first.
//  (consume_batch_queue with a timeout waits for a full batch, so it is
//  only ever called with 0.)
static size_t
s_take (wrk_exec_t *self, size_t max)
{
    size_t n = 0;
    while (n < max && self->stash_pos < self->stash_n)
        self->msgs[n++] = self->stash[self->stash_pos++];
    if (n > 0)
        return n;
    ssize_t got =
        rd_kafka_consume_batch_queue (self->queue, 0, self->msgs, max);
    if (got > 0) {
        self->taken += (uint64_t)got;
        s_fetch_watch (self, (size_t)got);
        return (size_t)got;
    }
    //  Ran dry after the queue was full: the fetcher may be waiting for
    //  its next look.
    if (self->fetch_held)
        s_fetch_wake (self);
    rd_kafka_message_t *m = rd_kafka_consume_queue (self->queue, EXEC_POLL_MS);
    if (!m)
        return 0;
    self->msgs[0] = m;
    got =
        rd_kafka_consume_batch_queue (self->queue, 0, self->msgs + 1, max - 1);
    n = 1 + (size_t)(got > 0 ? got : 0);
    self->taken += n;
    s_fetch_watch (self, n);
    return n;
}

//  Put messages past the job's end back in front of the stash, in order,
//  for the next job on this partition (or drop them if they do not fit).
static void
s_unread (wrk_exec_t *self, rd_kafka_message_t **left, size_t n)
{
    size_t rest = self->stash_n - self->stash_pos;
    if (n + rest > self->stash_cap) {
        for (size_t i = 0; i < n; i++)
            rd_kafka_message_destroy (left[i]);
        s_stash_clear (self);
        free (self->asg_topic); //  position unknown: seek next time
        self->asg_topic = NULL;
        return;
    }
    memmove (self->stash + n, self->stash + self->stash_pos,
             rest * sizeof *self->stash);
    memcpy (self->stash, left, n * sizeof *left);
    self->stash_pos = 0;
    self->stash_n = n + rest;
}

//  Fetch the next batch of the job's records into self->msgs. Returns
//  the count of records for the plugin (0: nothing yet); sets *done once
//  the consumer's position reached the job's end.
static ssize_t
s_fetch (wrk_exec_t *self, const Sluice__Job *job, bool *done)
{
    size_t n = s_take (self, (size_t)self->cfg->batch_size);
    size_t keep = 0, i = 0, bytes = 0;
    for (; i < n && !*done; i++) {
        rd_kafka_message_t *m = self->msgs[i];
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            if (m->partition == job->partition && m->offset >= job->end) {
                *done = true;
                //  The consumer is at the end of the log, past whatever
                //  lies between end and there (transaction markers,
                //  aborted records): a job starting at end must seek, or
                //  it would wait for an EOF that was already delivered.
                self->asg_next = m->offset;
            }
            rd_kafka_message_destroy (m);
            continue;
        }
        if (m->err == RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET ||
            m->err == RD_KAFKA_RESP_ERR_OFFSET_OUT_OF_RANGE) {
            int64_t to = s_lost (self, job, self->asg_next);
            rd_kafka_message_destroy (m);
            if (to >= job->end) {
                *done = true;
                //  The consumer stopped at the error and has no position:
                //  the next job must seek, even one starting at end.
                free (self->asg_topic);
                self->asg_topic = NULL;
            } else if (to >= 0) {
                char err[256];
                free (self->asg_topic);
                self->asg_topic = NULL;
                s_position (self, job->topic, job->partition, to, err,
                            sizeof err);
            }
            continue;
        }
        if (m->err) {
            sl_warn ("consumer error topic=%s partition=%d reason=\"%s\"",
                     job->topic, job->partition, rd_kafka_message_errstr (m));
            rd_kafka_message_destroy (m);
            continue;
        }
        if (m->rkt != self->job_rkt && m->partition == job->partition &&
            streq (rd_kafka_topic_name (m->rkt), job->topic))
            self->job_rkt = m->rkt;
        if (m->partition != job->partition || m->rkt != self->job_rkt ||
            m->offset < job->start) {
            rd_kafka_message_destroy (m);
            continue;
        }
        if (m->offset >= job->end) {
            *done = true;
            i--; //  this one belongs to the next job
            continue;
        }
        self->asg_next = m->offset + 1;
        self->msgs[keep++] = m;
        bytes += m->len + m->key_len;
        //  The range's last offset: nothing is left to wait for (the
        //  next record or the EOF may be a fetch, and on a quiet log
        //  fetch.wait.max.ms, away).
        if (m->offset == job->end - 1)
            *done = true;
    }
    if (keep > 0) //  for s_fetch_watch and s_read_on
        self->rec_bytes = (7 * self->rec_bytes + (double)bytes / keep) / 8;
    if (i < n)
        s_unread (self, self->msgs + i, n - i);
    if (*done && self->asg_next < job->end)
        self->asg_next = job->end;
    return (ssize_t)keep;
}

//  Build the plugin's view of msgs[0..n), all of them records of job.
static void
s_build_records (wrk_exec_t *self, const Sluice__Job *job, size_t n)
{
    //  A plugin that never reads headers does not pay for parsing them.
    bool want = !(wrk_plugin_flags (self->plugin) & SLUICE_PLUGIN_F_NO_HEADERS);
    size_t nh = 0;
    for (size_t i = 0; want && i < n; i++) {
        rd_kafka_headers_t *h = NULL;
        if (rd_kafka_message_headers (self->msgs[i], &h) ==
            RD_KAFKA_RESP_ERR_NO_ERROR)
            nh += rd_kafka_header_cnt (h);
    }
    if (nh > self->hdr_cap) {
        free (self->hdrs);
        self->hdrs = calloc (nh, sizeof *self->hdrs);
        self->hdr_cap = self->hdrs ? nh : 0;
    }
    size_t used = 0;
    for (size_t i = 0; i < n; i++) {
        rd_kafka_message_t *m = self->msgs[i];
        sluice_record_t *r = &self->recs[i];
        r->topic = job->topic;
        r->partition = m->partition;
        r->offset = m->offset;
        r->timestamp = rd_kafka_message_timestamp (m, NULL);
        r->key = m->key;
        r->key_len = m->key_len;
        r->value = m->payload;
        r->value_len = m->len;
        r->headers = NULL;
        r->header_count = 0;
        rd_kafka_headers_t *h = NULL;
        if (want && self->hdrs &&
            rd_kafka_message_headers (m, &h) == RD_KAFKA_RESP_ERR_NO_ERROR) {
            r->headers = &self->hdrs[used];
            const char *name;
            const void *val;
            size_t size;
            for (size_t k = 0;
                 used < self->hdr_cap &&
                 !rd_kafka_header_get_all (h, k, &name, &val, &size);
                 k++) {
                self->hdrs[used].name = name;
                self->hdrs[used].value = val;
                self->hdrs[used].value_len = size;
                used++;
                r->header_count++;
            }
        }
    }
}

//  Run the plugin over records; retry RETRY outcomes with backoff, then
//  reject them. Returns 0, or -1 if the batch failed as a whole.
static int
s_run_plugin (wrk_exec_t *self, const Sluice__Job *job, size_t n)
{
    s_build_records (self, job, n);
    if (wrk_batch_run (self->plugin, self->recs, n, self->outs,
                       self->cfg->record_retries, NULL, NULL,
                       &self->tally->retried, &self->tally->plugin_ns) != 0) {
        snprintf (self->tally->error, sizeof self->tally->error,
                  "plugin failed the batch: %s", self->outs[0].reason);
        return -1;
    }
    self->tally->records += n;
    for (size_t i = 0; i < n; i++) {
        if (self->outs[i].code == SLUICE_OK)
            continue;
        char reason[SLUICE_REASON_MAX + 64];
        wrk_batch_reject_reason (&self->outs[i], reason, sizeof reason);
        if (s_dead_letter (self, self->msgs[i], job->attempt, reason) != 0)
            return -1;
    }
    return 0;
}

//  Copy the job's raw records to the DLQ (dead-letter mode).
static int
s_run_dead_letter (wrk_exec_t *self, const Sluice__Job *job, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        self->tally->records++;
        if (s_dead_letter (self, self->msgs[i], job->attempt,
                           *job->reason ? job->reason : "dead-letter job") != 0)
            return -1;
    }
    return 0;
}

//  Read and process the whole range. Returns 0 done, 1 abandoned
//  (cancelled or stopping), -1 failed (tally->error says why).
static int
s_run_range (wrk_exec_t *self, exec_job_t *ej)
{
    const Sluice__Job *job = ej->job;
    bool done = false;
    bool dead = job->mode == SLUICE__JOB_MODE__JOB_MODE_DEAD_LETTER;
    while (!done) {
        int64_t t0 = sl_now_ns ();
        ssize_t n = s_fetch (self, job, &done);
        self->tally->fetch_ns += sl_now_ns () - t0;
        int rc = 0;
        if (n > 0)
            rc = dead ? s_run_dead_letter (self, job, (size_t)n)
                      : s_run_plugin (self, job, (size_t)n);
        for (ssize_t i = 0; i < n; i++)
            rd_kafka_message_destroy (self->msgs[i]);
        if (rc != 0)
            return -1;
        //  Callbacks, commands and PROGRESS every EXEC_CHORES_NS, not
        //  after every batch: each takes locks or a system call.
        int64_t t1 = sl_now_ns ();
        if (n <= 0 || t1 - self->chores_ns >= EXEC_CHORES_NS) {
            self->chores_ns = t1;
            rd_kafka_poll (self->producer, 0);
            s_consumer_poll (self, 0);
            s_pump (self);
            s_check_fatal (self);
            //  Moving on: ask for a longer lease, a few times per lease.
            int64_t every = job->lease_ms / 3 > 1000 ? job->lease_ms / 3 : 1000;
            int64_t now = sl_now_ms ();
            if (n > 0 && now - self->progress_ms >= every) {
                self->progress_ms = now;
                s_reply_id (self, WRK_MSG_PROGRESS, ej->sched, job->job_id);
            }
        }
        //  A cancel (or the end of the grace period) abandons the job
        //  unless the whole range is already processed: then the work is
        //  kept and reported, and the scheduler takes the first DONE for
        //  a range and ignores later ones.
        if (!done && (ej->cancelled ||
                      (self->stopping && sl_now_ms () >= self->stop_deadline)))
            return 1;
    }
    return 0;
}

//  Send DONE for a job.
static void
s_send_done (wrk_exec_t *self, exec_job_t *ej, exec_tally_t *t, int64_t us)
{
    Sluice__Done done = SLUICE__DONE__INIT;
    done.job_id = ej->job->job_id;
    done.topic = ej->job->topic;
    done.partition = ej->job->partition;
    done.start = ej->job->start;
    done.end = ej->job->end;
    done.status = t->failed ? SLUICE__JOB_STATUS__JOB_STATUS_FAILED
                            : SLUICE__JOB_STATUS__JOB_STATUS_OK;
    done.error = t->error;
    done.records = t->records;
    done.rejected = t->rejected;
    done.lost = t->lost;
    done.n_lost_ranges = t->n_lost;
    done.lost_ranges = t->lost_ptrs;
    done.emitted = t->emitted;
    done.retried = t->retried;
    done.duration_us = (uint64_t)us;
    done.plugin_us = (uint64_t)(t->plugin_ns / 1000);
    done.fetch_us = (uint64_t)(t->fetch_ns / 1000);
    done.flush_us = (uint64_t)(t->flush_ns / 1000);
    size_t size = sluice__done__get_packed_size (&done);
    zframe_t *frame = zframe_new (NULL, size);
    sluice__done__pack (&done, zframe_data (frame));
    wrk_msg_send (self->pipe, WRK_MSG_DONE, ej->sched, 0, frame, NULL);
    zframe_destroy (&frame);
}

//  Run one job from start to DONE (or DROPPED/RETURNED).
static void
s_run_job (wrk_exec_t *self, exec_job_t *ej)
{
    const Sluice__Job *job = ej->job;
    exec_tally_t tally;
    memset (&tally, 0, sizeof tally);
    self->tally = &tally;
    self->serial++;
    self->dr_failures = 0;
    self->dlq_topic = job->dlq_topic;
    if (job->mode == SLUICE__JOB_MODE__JOB_MODE_DEAD_LETTER)
        s_warm_up_dlq (self, job->dlq_topic);
    int64_t t0 = sl_now_ms ();
    self->progress_ms = t0;
    s_reply_id (self, WRK_MSG_BEGIN, ej->sched, job->job_id);
    sl_info ("job begin job=%" PRIu64 " topic=%s partition=%d start=%" PRId64
             " end=%" PRId64 " attempt=%u mode=%s",
             job->job_id, job->topic, job->partition, job->start, job->end,
             job->attempt,
             job->mode == SLUICE__JOB_MODE__JOB_MODE_DEAD_LETTER ? "dlq"
                                                                 : "process");
    sluice_job_t info = {job->topic, job->partition, job->start,
                         job->end,   job->attempt,   job->job_id};
    bool dead = job->mode == SLUICE__JOB_MODE__JOB_MODE_DEAD_LETTER;
    int rc = s_position (self, job->topic, job->partition, job->start,
                         tally.error, sizeof tally.error);
    if (rc == 0 && !dead)
        rc = wrk_plugin_job_begin (self->plugin, &info, tally.error,
                                   sizeof tally.error);
    if (rc == 0)
        rc = s_run_range (self, ej);
    if (rc == 1) {
        //  Abandoned: the consumer position is now unknown.
        free (self->asg_topic);
        self->asg_topic = NULL;
        s_reply_id (self, ej->cancelled ? WRK_MSG_DROPPED : WRK_MSG_RETURNED,
                    ej->sched, job->job_id);
        sl_info ("job abandoned job=%" PRIu64 " reason=%s", job->job_id,
                 ej->cancelled ? "cancelled" : "stopping");
        rd_kafka_purge (self->producer, RD_KAFKA_PURGE_F_QUEUE);
        self->tally = NULL;
        return;
    }
    if (rc == 0 && !dead)
        rc = wrk_plugin_job_end (self->plugin, &info, tally.error,
                                 sizeof tally.error);
    //  The plugin is done with the job; only Kafka's acknowledgements are
    //  awaited now (within --flush-timeout-ms), so a cancel that comes
    //  meanwhile must not take the wait for a stuck plugin.
    if (rc == 0)
        s_reply_id (self, WRK_MSG_PROCESSED, ej->sched, job->job_id);
    if (rc == 0) {
        int64_t f0 = sl_now_ns ();
        rc = s_flush (self, tally.error, sizeof tally.error);
        tally.flush_ns = sl_now_ns () - f0;
    }
    if (rc != 0) {
        tally.failed = true;
        free (self->asg_topic);
        self->asg_topic = NULL;
        sl_warn ("job failed job=%" PRIu64 " topic=%s partition=%d "
                 "start=%" PRId64 " end=%" PRId64 " reason=\"%s\"",
                 job->job_id, job->topic, job->partition, job->start, job->end,
                 tally.error);
    } else
        sl_info ("job done job=%" PRIu64 " topic=%s partition=%d start=%" PRId64
                 " end=%" PRId64 " records=%" PRIu64 " rejected=%" PRIu64
                 " emitted=%" PRIu64 " lost=%" PRIu64 " ms=%" PRId64,
                 job->job_id, job->topic, job->partition, job->start, job->end,
                 tally.records, tally.rejected, tally.emitted, tally.lost,
                 sl_now_ms () - t0);
    s_send_done (self, ej, &tally, (sl_now_ms () - t0) * 1000);
    self->tally = NULL;
}

//  No job to run: wait for a command, serving the consumer's callbacks
//  meanwhile (statistics keep flowing, errors are seen). Returns false
//  once the pipe is gone.
static bool
s_idle (wrk_exec_t *self)
{
    zmq_pollitem_t item = {zsock_resolve (self->pipe), 0, ZMQ_POLLIN, 0};
    int rc = zmq_poll (&item, 1, EXEC_IDLE_POLL_MS);
    s_consumer_poll (self, 0);
    if (rc == 0) {
        self->idle_ms += EXEC_IDLE_POLL_MS;
        if (self->idle_ms >= EXEC_IDLE_PAUSE_MS ||
            rd_kafka_queue_length (self->queue) <= 1)
            s_asg_pause (self, true);
    }
    if (rc <= 0)
        return rc == 0 || zmq_errno () == EINTR;
    return s_recv_command (self);
}

//  The actor: run jobs in order until told to stop.
static void
s_actor (zsock_t *pipe, void *args)
{
    wrk_exec_t *self = args;
    self->pipe = pipe;
    zsock_signal (pipe, 0);
    s_warm_up (self);
    while (true) {
        s_pump (self);
        s_check_fatal (self);
        if (self->stopping && (zlistx_size (self->fifo) == 0 ||
                               sl_now_ms () >= self->stop_deadline))
            break;
        exec_job_t *ej = zlistx_first (self->fifo);
        if (!ej) {
            if (!s_idle (self))
                break;
            continue;
        }
        zlistx_delete (self->fifo, zlistx_cursor (self->fifo));
        self->idle_ms = 0;
        self->current = ej;
        if (!ej->cancelled)
            s_run_job (self, ej);
        else
            s_reply_id (self, WRK_MSG_DROPPED, ej->sched, ej->job->job_id);
        self->current = NULL;
        sluice__job__free_unpacked (ej->job, NULL);
        free (ej);
    }
    s_stats_final (self);
    wrk_msg_send (pipe, WRK_MSG_STOPPED, 0, 0, NULL, NULL);
}

//  ---------------------------------------------------------------------
//  Lifecycle

//  Create the consumer and producer.
static int
s_kafka_new (wrk_exec_t *self, char *err, size_t errlen)
{
    const wrk_config_t *cfg = self->cfg;
    //  fetch.wait.max.ms: a seek (the next job elsewhere) waits for the
    //  Fetch in flight, and once the consumer has read to the end of the
    //  log that Fetch is a long poll of fetch.wait.max.ms (500 ms by
    //  default): on a real broker most jobs would pay it. At the tail of
    //  a drain, where workers share the last partitions, each job is a
    //  seek on a partition read to its end: 10 ms, not 50. An idle
    //  executor pauses its partition, so the short poll costs the broker
    //  nothing while there is no work.
    //  statistics.interval.ms: what the consumer fetched (its prefetch
    //  and any re-reads included) is exported as metrics.
    static const char *cdefaults[] = {"enable.auto.commit=false",
                                      "enable.auto.offset.store=false",
                                      "enable.partition.eof=true",
                                      "auto.offset.reset=error",
                                      "fetch.wait.max.ms=10",
                                      "client.id=sluice-worker",
                                      "group.id=sluice-worker-unused",
                                      "statistics.interval.ms=1000",
                                      NULL};
    static const char *pdefaults[] = {"enable.idempotence=true",
                                      "client.id=sluice-worker", NULL};
    char rderr[512];
    rd_kafka_conf_t *conf =
        sl_kafka_conf_new (cfg->brokers, cdefaults, &cfg->props, err, errlen);
    if (!conf)
        return -1;
    rd_kafka_conf_set_opaque (conf, self);
    rd_kafka_conf_set_error_cb (conf, s_error_cb);
    rd_kafka_conf_set_stats_cb (conf, s_stats_cb);
    self->stats_interval_ms =
        sl_kafka_conf_int (conf, "statistics.interval.ms");
    self->queued_min = sl_kafka_conf_int (conf, "queued.min.messages");
    self->queued_max_bytes =
        sl_kafka_conf_int (conf, "queued.max.messages.kbytes") * 1024;
    self->consumer =
        rd_kafka_new (RD_KAFKA_CONSUMER, conf, rderr, sizeof rderr);
    if (!self->consumer) {
        rd_kafka_conf_destroy (conf);
        snprintf (err, errlen, "cannot create Kafka consumer: %s", rderr);
        return -1;
    }
    //  Records come from the consumer's queue, callbacks from the main
    //  queue (rd_kafka_poll): the two are kept apart so that callbacks are
    //  served between jobs without taking records off the queue.
    self->queue = rd_kafka_queue_get_consumer (self->consumer);

    //  Consumer-only properties (fetch.*, isolation.level...) are refused
    //  by a producer configuration, so the producer gets only the
    //  properties it knows; librdkafka warns about the rest.
    conf = sl_kafka_conf_new (cfg->brokers, pdefaults, NULL, err, errlen);
    if (!conf)
        return -1;
    for (size_t i = 0; i < cfg->props.count; i++) {
        char key[256];
        const char *value;
        if (sl_kv_split (cfg->props.items[i], key, sizeof key, &value) == 0 &&
            rd_kafka_conf_set (conf, key, value, rderr, sizeof rderr) !=
                RD_KAFKA_CONF_OK)
            sl_debug ("property not for the producer name=%s", key);
    }
    rd_kafka_conf_set_opaque (conf, self);
    rd_kafka_conf_set_dr_msg_cb (conf, s_dr_cb);
    rd_kafka_conf_set_error_cb (conf, s_error_cb);
    self->producer =
        rd_kafka_new (RD_KAFKA_PRODUCER, conf, rderr, sizeof rderr);
    if (!self->producer) {
        rd_kafka_conf_destroy (conf);
        snprintf (err, errlen, "cannot create Kafka producer: %s", rderr);
        return -1;
    }
    return 0;
}

//  Parse --plugin-opt items into options (pointing into the config).
static int
s_plugin_new (wrk_exec_t *self, char *err, size_t errlen)
{
    const wrk_config_t *cfg = self->cfg;
    size_t n = cfg->plugin_opts.count;
    sluice_option_t *opts = calloc (n + 1, sizeof *opts);
    char (*keys)[128] = calloc (n + 1, sizeof *keys);
    int rc = -1;
    if (!opts || !keys)
        goto done;
    for (size_t i = 0; i < n; i++) {
        const char *value;
        if (sl_kv_split (cfg->plugin_opts.items[i], keys[i], sizeof keys[i],
                         &value) != 0) {
            snprintf (err, errlen,
                      "--plugin-opt: '%s' is not key=value; write it as "
                      "--plugin-opt name=value",
                      cfg->plugin_opts.items[i]);
            goto done;
        }
        opts[i].key = keys[i];
        opts[i].value = value;
    }
    const char *out =
        cfg->output_topic && *cfg->output_topic ? cfg->output_topic : NULL;
    self->plugin =
        wrk_plugin_new (cfg->plugin, opts, n, out, (uint32_t)cfg->concurrency,
                        s_emit, self, err, errlen);
    rc = self->plugin ? 0 : -1;
done:
    free (opts);
    free (keys);
    return rc;
}

//  Create the executor.
wrk_exec_t *
wrk_exec_new (const wrk_config_t *cfg, wrk_plugin_t *shared, char *err,
              size_t errlen)
{
    wrk_exec_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->cfg = cfg;
    pthread_mutex_init (&self->wk_mtx, NULL);
    pthread_cond_init (&self->wk_cond, NULL);
    size_t batch = (size_t)cfg->batch_size;
    self->fifo = zlistx_new ();
    self->msgs = calloc (batch, sizeof *self->msgs);
    self->recs = calloc (batch, sizeof *self->recs);
    self->outs = calloc (batch, sizeof *self->outs);
    self->stash_cap = 2 * batch;
    self->stash = calloc (2 * batch, sizeof *self->stash);
    if (!self->fifo || !self->msgs || !self->recs || !self->outs ||
        !self->stash) {
        snprintf (err, errlen, "out of memory");
        goto fail;
    }
    if (shared)
        self->plugin = wrk_plugin_share (shared, s_emit, self, err, errlen);
    if ((shared && !self->plugin) ||
        (!shared && s_plugin_new (self, err, errlen) != 0) ||
        s_kafka_new (self, err, errlen) != 0)
        goto fail;
    return self;
fail:
    wrk_exec_destroy (&self);
    return NULL;
}

//  Start the actor.
zactor_t *
wrk_exec_start (wrk_exec_t *self)
{
    return zactor_new (s_actor, self);
}

//  The plugin's name and version.
const char *
wrk_exec_plugin_name (wrk_exec_t *self)
{
    return wrk_plugin_name (self->plugin);
}

//  The plugin instance.
wrk_plugin_t *
wrk_exec_plugin (wrk_exec_t *self)
{
    return self->plugin;
}

//  What the consumer fetched, from its last statistics report.
void
wrk_exec_fetched (wrk_exec_t *self, uint64_t *records, uint64_t *bytes,
                  uint64_t *wakes)
{
    *records = atomic_load (&self->fetched_records);
    *bytes = atomic_load (&self->fetched_bytes);
    *wakes = atomic_load (&self->wakes);
}

//  Destroy the executor.
void
wrk_exec_destroy (wrk_exec_t **self_p)
{
    wrk_exec_t *self = *self_p;
    if (!self)
        return;
    s_stash_clear (self);
    pthread_mutex_lock (&self->wk_mtx);
    self->wk_stop = true;
    pthread_cond_signal (&self->wk_cond);
    pthread_mutex_unlock (&self->wk_mtx);
    if (self->wk_started)
        pthread_join (self->wk_thread, NULL);
    pthread_mutex_destroy (&self->wk_mtx);
    pthread_cond_destroy (&self->wk_cond);
    if (self->out_rkt)
        rd_kafka_topic_destroy (self->out_rkt);
    if (self->dlq_rkt)
        rd_kafka_topic_destroy (self->dlq_rkt);
    if (self->in_rkt)
        rd_kafka_topic_destroy (self->in_rkt);
    if (self->producer) {
        rd_kafka_flush (self->producer, 5000);
        rd_kafka_destroy (self->producer);
    }
    if (self->consumer) {
        rd_kafka_queue_destroy (self->queue);
        rd_kafka_consumer_close (self->consumer);
        rd_kafka_destroy (self->consumer);
    }
    wrk_plugin_destroy (&self->plugin);
    if (self->fifo) {
        exec_job_t *ej;
        while ((ej = zlistx_first (self->fifo))) {
            zlistx_delete (self->fifo, zlistx_cursor (self->fifo));
            sluice__job__free_unpacked (ej->job, NULL);
            free (ej);
        }
        zlistx_destroy (&self->fifo);
    }
    free (self->asg_topic);
    free (self->msgs);
    free (self->recs);
    free (self->outs);
    free (self->hdrs);
    free (self->stash);
    free (self);
    *self_p = NULL;
}
