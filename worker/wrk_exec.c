/*  wrk_exec - the worker's executor. See wrk_exec.h.                    */
#include "wrk_exec.h"
#include "wrk_exec_int.h"

#include <errno.h>
#include <inttypes.h>
#include "sl_clock.h"
#include "sl_log.h"
#include "sl_proto.h"
#include "wrk_batch.h"
#include "wrk_crash.h"
#include "wrk_keyed.h"
#include "wrk_kafka.h"
#include "wrk_msg.h"
#include "wrk_output.h"
#include "wrk_reader.h"
#include "wrk_tally.h"

/*  While records flow, callbacks and the main thread's commands (a
    cancel) are served this often.                                        */
#define EXEC_CHORES_NS 2000000
/*  While no job runs the consumer's callbacks (statistics, errors) are
    still served this often, and the reader told how long it has been idle
    (it pauses its partition: wrk_range_idle_pause).                      */
#define EXEC_IDLE_POLL_MS 200

//  ---------------------------------------------------------------------
//  Kafka

//  Tell the worker, once, that the executor cannot go on, and stop taking
//  jobs: every job still here is abandoned. Returns true if fatal.
static bool
s_check_fatal (wrk_exec_t *self)
{
    const char *why = wrk_kafka_fatal_reason (self->fatal);
    if (!why)
        return false;
    if (!self->fatal_sent) {
        wrk_msg_send (self->pipe, WRK_MSG_FATAL, -1,
                      (uint64_t)wrk_kafka_fatal_code (self->fatal), NULL, why);
        self->fatal_sent = true;
        self->stopping = true;
        self->stop_deadline = 0;
    }
    return true;
}

//  The plugin's emit(): a record for the output topic. wrk_plugin calls
//  it with the executor of the lane (handle) the record was emitted for.
//  (The plugin is created before the output: it cannot emit before its
//  first job.)
static int
s_emit (void *arg, const sluice_emit_t *rec)
{
    wrk_exec_t *self = arg;
    if (!self->output || wrk_output_emit (self->output, rec) != 0)
        return -1;
    if (self->tally)
        self->tally->emitted++;
    return 0;
}

//  Copy one raw record to the job's DLQ.
static int
s_dead_letter (wrk_exec_t *self, const rd_kafka_message_t *msg,
               uint32_t attempts, const char *reason)
{
    if (wrk_output_dead_letter (self->output, self->dlq_topic, msg, attempts,
                                reason) != 0)
        return -1;
    self->tally->rejected++;
    return 0;
}

//  ---------------------------------------------------------------------
//  Commands from the main thread

//  Free a job taken off the FIFO.
void
wrk_exec_job_free (exec_job_t *ej)
{
    sluice__job__free_unpacked (ej->job, NULL);
    free (ej);
}

//  Tell the main thread about job `id` of scheduler `sched`.
void
wrk_exec_reply (wrk_exec_t *self, wrk_msg_type_t type, int sched, uint64_t id)
{
    wrk_msg_send (self->pipe, type, sched, id, NULL, NULL);
}

//  Drop the queued jobs of scheduler `sched` (one job, `id`, unless `all`),
//  and mark the running (or keyed, read) one cancelled if it matches.
static void
s_drop (wrk_exec_t *self, int sched, uint64_t id, bool all)
{
    exec_job_t *mine[] = {self->current, self->reading}; //  running, read
    for (int k = 0; k < 2; k++)
        if (mine[k] && mine[k]->sched == sched &&
            (all || mine[k]->job->job_id == id))
            mine[k]->cancelled = true;
    zlistx_t *gone = zlistx_new ();
    for (exec_job_t *ej = zlistx_first (self->fifo); ej;
         ej = zlistx_next (self->fifo))
        if (ej->sched == sched && (all || ej->job->job_id == id))
            zlistx_add_end (gone, ej);
    size_t parked = wrk_keyed_drop (self, sched, id, all);
    if (all) //  the worker counts the jobs each executor holds
        wrk_msg_send (self->pipe, WRK_MSG_FORGOT, sched,
                      zlistx_size (gone) + parked, NULL, NULL);
    for (exec_job_t *ej = zlistx_first (gone); ej; ej = zlistx_next (gone)) {
        if (!all)
            wrk_exec_reply (self, WRK_MSG_DROPPED, sched, ej->job->job_id);
        zlistx_delete (self->fifo, zlistx_find (self->fifo, ej));
        wrk_exec_job_free (ej);
    }
    zlistx_destroy (&gone);
}

//  JOB: queue the job (a payload that does not unpack is a peer bug:
//  dropped).
static void
s_queue (wrk_exec_t *self, wrk_msg_t *m)
{
    exec_job_t *ej = calloc (1, sizeof *ej);
    if (!ej)
        return;
    ej->sched = m->sched;
    ej->job = m->payload ? sluice__job__unpack (NULL, zframe_size (m->payload),
                                                zframe_data (m->payload))
                         : NULL;
    if (ej->job)
        zlistx_add_end (self->fifo, ej);
    else
        free (ej);
}

//  STOP: return every queued job; the running one may finish until
//  deadline.
static void
s_stop (wrk_exec_t *self, int64_t deadline)
{
    self->stopping = true;
    self->stop_deadline = deadline;
    wrk_keyed_stop (self);
    exec_job_t *ej;
    while ((ej = zlistx_first (self->fifo))) {
        wrk_exec_reply (self, WRK_MSG_RETURNED, ej->sched, ej->job->job_id);
        zlistx_delete (self->fifo, zlistx_cursor (self->fifo));
        wrk_exec_job_free (ej);
    }
}

//  Handle one command from the main thread (wrk_msg.h).
static void
s_command (wrk_exec_t *self, wrk_msg_t *m)
{
    switch (m->type) {
        case WRK_MSG_JOB:
            s_queue (self, m);
            break;
        case WRK_MSG_CANCEL:
        case WRK_MSG_DROPALL:
            s_drop (self, m->sched, m->value, m->type == WRK_MSG_DROPALL);
            break;
        case WRK_MSG_STOP:
            s_stop (self, (int64_t)m->value);
            break;
        case WRK_MSG_GATE:
            wrk_keyed_gate (self, m->sched, m->payload);
            break;
        case WRK_MSG_RELEASE:
            wrk_keyed_release (self, m->sched, m->payload);
            break;
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

//  ---------------------------------------------------------------------
//  Running a job

//  Run the plugin over records; retry RETRY outcomes with backoff, then
//  reject them. Returns 0, or -1 if the batch failed as a whole.
int
wrk_exec_run_plugin (wrk_exec_t *self, const Sluice__Job *job, size_t n)
{
    //  A plugin that never reads headers does not pay for parsing them.
    wrk_batch_records (
        self->recs, &self->hdrs, &self->hdr_cap, self->msgs, n, job->topic,
        !(wrk_plugin_flags (self->plugin) & SLUICE_PLUGIN_F_NO_HEADERS));
    int not_ok = wrk_batch_run (self->plugin, self->recs, n, self->outs,
                                self->cfg->record_retries, NULL, NULL,
                                &self->tally->retried, &self->tally->plugin_ns);
    if (not_ok < 0) {
        snprintf (self->tally->error, sizeof self->tally->error,
                  "plugin failed the batch: %s", self->outs[0].reason);
        return -1;
    }
    self->tally->records += n;
    for (size_t i = 0; not_ok > 0 && i < n; i++) {
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

//  Callbacks, commands and PROGRESS every EXEC_CHORES_NS while records
//  flow (n > 0), not after every batch: each takes locks or a system call.
void
wrk_exec_chores (wrk_exec_t *self, exec_job_t *ej, ssize_t n)
{
    int64_t t1 = sl_now_ns ();
    if (n > 0 && t1 - self->chores_ns < EXEC_CHORES_NS)
        return;
    self->chores_ns = t1;
    wrk_output_poll (self->output);
    wrk_reader_poll (self->reader, 0);
    s_pump (self);
    s_check_fatal (self);
    wrk_keyed_progress (self);
    wrk_keyed_read_queued (self);
    //  Moving on: ask for a longer lease, a few times per lease.
    const Sluice__Job *job = ej->job;
    int64_t every = job->lease_ms / 3 > 1000 ? job->lease_ms / 3 : 1000;
    int64_t now = sl_now_ms ();
    if (n > 0 && now - self->progress_ms >= every) {
        self->progress_ms = now;
        wrk_exec_reply (self, WRK_MSG_PROGRESS, ej->sched, job->job_id);
        wrk_exec_held_progress (self); //  their leases run on too
    }
}

//  Read and process the whole range. Returns 0 done, 1 abandoned
//  (cancelled or stopping), -1 failed (tally->error says why).
static int
s_run_range (wrk_exec_t *self, exec_job_t *ej)
{
    const Sluice__Job *job = ej->job;
    bool done = false;
    bool dead = job->mode == SLUICE__JOB_MODE__JOB_MODE_DEAD_LETTER;
    //  A range the plugin crashed on in one call comes back with one
    //  record a call, so that the next crash names the record.
    size_t per_call = (size_t)self->cfg->batch_size;
    if (job->records_per_call && job->records_per_call < per_call)
        per_call = job->records_per_call;
    while (!done) {
        int64_t t0 = sl_now_ns ();
        ssize_t n = wrk_reader_fetch (self->reader, job, self->msgs, per_call,
                                      &self->tally->lost, &done);
        self->tally->fetch_ns += sl_now_ns () - t0;
        if (n < 0) //  the input cannot be read (wrk_reader_fault says why)
            return -1;
        int rc = 0;
        if (n > 0)
            rc = dead ? s_run_dead_letter (self, job, (size_t)n)
                      : wrk_exec_run_plugin (self, job, (size_t)n);
        for (ssize_t i = 0; i < n; i++)
            rd_kafka_message_destroy (self->msgs[i]);
        if (rc != 0)
            return -1;
        wrk_exec_chores (self, ej, n);
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

//  Run one job from start to DONE (or DROPPED/RETURNED).
static void
s_run_job (wrk_exec_t *self, exec_job_t *ej)
{
    const Sluice__Job *job = ej->job;
    if (job->keyed && job->mode != SLUICE__JOB_MODE__JOB_MODE_DEAD_LETTER) {
        wrk_keyed_run (self, ej);
        return;
    }
    wrk_tally_t tally;
    memset (&tally, 0, sizeof tally);
    self->tally = &tally;
    int64_t t0 = wrk_exec_job_begin (self, ej);
    wrk_crash_job_begin (ej->sched, job->job_id, job->topic, job->partition);
    sluice_job_t info = {job->topic, job->partition, job->start,
                         job->end,   job->attempt,   job->job_id};
    bool dead = job->mode == SLUICE__JOB_MODE__JOB_MODE_DEAD_LETTER;
    int rc = wrk_reader_position (self->reader, job->topic, job->partition,
                                  job->start, tally.error, sizeof tally.error);
    if (rc == 0 && !dead)
        rc = wrk_plugin_job_begin (self->plugin, &info, tally.error,
                                   sizeof tally.error);
    if (rc == 0)
        rc = s_run_range (self, ej);
    if (rc == 1)
        wrk_exec_job_abandon (self, ej);
    else {
        if (rc == 0 && !dead)
            rc = wrk_plugin_job_end (self->plugin, &info, tally.error,
                                     sizeof tally.error);
        if (rc == 0)
            rc = wrk_exec_job_flush (self, ej, &tally);
        wrk_exec_job_end (self, ej, &tally, rc, t0);
    }
    wrk_crash_job_end ();
    self->tally = NULL;
}

//  Idle at the end of the last job's partition, records arrived past it:
//  tell that job's scheduler (TAIL), which may cut the next job at once
//  rather than at its next look at the end offsets.
static void
s_tail (wrk_exec_t *self)
{
    const char *topic = NULL;
    int32_t partition = 0;
    int64_t high = wrk_reader_tail (self->reader, &topic, &partition);
    if (high >= 0 && self->tail_sched >= 0)
        wrk_msg_send_tail (self->pipe, self->tail_sched, topic, partition,
                           high);
}

//  No job to run: wait for a command or for records at the tail, serving
//  the consumer's callbacks meanwhile (statistics keep flowing, errors
//  are seen). Returns false once the pipe is gone.
static bool
s_idle (wrk_exec_t *self)
{
    s_tail (self);
    zmq_pollitem_t items[2] = {
        {zsock_resolve (self->pipe), 0, ZMQ_POLLIN, 0},
        {NULL, wrk_reader_fd (self->reader), ZMQ_POLLIN, 0}};
    int rc = zmq_poll (items, 2, EXEC_IDLE_POLL_MS);
    wrk_reader_poll (self->reader, 0);
    if (rc == 0) {
        self->idle_ms += EXEC_IDLE_POLL_MS;
        wrk_reader_idle (self->reader, self->idle_ms);
    }
    if (rc <= 0)
        return rc == 0 || zmq_errno () == EINTR;
    return !(items[0].revents & ZMQ_POLLIN) || s_recv_command (self);
}

//  The actor: run jobs in order until told to stop.
static void
s_actor (zsock_t *pipe, void *args)
{
    wrk_exec_t *self = args;
    self->pipe = pipe;
    wrk_crash_lane_bind (self->lane);
    zsock_signal (pipe, 0);
    //  Warm up the output topic before the first job, and meet the
    //  cluster at once: wrong security settings are found at start.
    wrk_output_warm_up (self->output);
    s_check_fatal (self);
    while (true) {
        s_pump (self);
        s_check_fatal (self);
        wrk_exec_group_close (self, zlistx_first (self->fifo));
        if (self->stopping && (zlistx_size (self->fifo) == 0 ||
                               sl_now_ms () >= self->stop_deadline))
            break;
        //  A keyed job waiting here is read first (its unknown keys hold
        //  every later job back), then parked jobs' ready records.
        wrk_keyed_progress (self);
        wrk_keyed_waiting (self);
        exec_job_t *ej = zlistx_first (self->fifo);
        if (!(ej && ej->job->keyed) && wrk_keyed_step (self)) {
            self->idle_ms = 0;
            continue;
        }
        if (!ej) {
            if (!s_idle (self))
                break;
            continue;
        }
        zlistx_delete (self->fifo, zlistx_cursor (self->fifo));
        self->idle_ms = 0;
        self->current = ej;
        if (!ej->cancelled) {
            s_run_job (self, ej);
            self->tail_sched = ej->sched;
        } else
            wrk_exec_reply (self, WRK_MSG_DROPPED, ej->sched, ej->job->job_id);
        self->current = NULL;
        if (!ej->parked && !ej->held)
            wrk_exec_job_free (ej);
    }
    wrk_reader_stats_final (self->reader,
                            wrk_kafka_fatal_reason (self->fatal) != NULL);
    wrk_msg_send (pipe, WRK_MSG_STOPPED, 0, 0, NULL, NULL);
}

//  ---------------------------------------------------------------------
//  Lifecycle

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

//  Create the executor: buffers, the plugin (unless shared), then the
//  consumer and the producer.
wrk_exec_t *
wrk_exec_new (const wrk_config_t *cfg, wrk_plugin_t *shared, int lane,
              char *err, size_t errlen)
{
    wrk_exec_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->cfg = cfg;
    size_t batch = (size_t)cfg->batch_size;
    self->fifo = zlistx_new ();
    self->parked = zlistx_new ();
    self->held = zlistx_new ();
    self->msgs = calloc (batch, sizeof *self->msgs);
    self->recs = calloc (batch, sizeof *self->recs);
    self->outs = calloc (batch, sizeof *self->outs);
    self->fatal = wrk_kafka_fatal_new ();
    if (!self->fifo || !self->parked || !self->held || !self->msgs ||
        !self->recs || !self->outs || !self->fatal) {
        snprintf (err, errlen, "out of memory");
        goto fail;
    }
    if (shared)
        self->plugin = wrk_plugin_share (shared, s_emit, self, err, errlen);
    if ((shared && !self->plugin) ||
        (!shared && s_plugin_new (self, err, errlen) != 0))
        goto fail;
    self->reader = wrk_reader_new (cfg, self->fatal, err, errlen);
    if (!self->reader)
        goto fail;
    self->output = wrk_output_new (cfg, self->fatal, lane, err, errlen);
    if (!self->output)
        goto fail;
    return self;
fail:
    wrk_exec_destroy (&self);
    return NULL;
}

//  Start the actor.
zactor_t *
wrk_exec_start (wrk_exec_t *self, int lane)
{
    self->lane = lane;
    self->tail_sched = -1;
    return zactor_new (s_actor, self);
}

//  The plugin instance.
wrk_plugin_t *
wrk_exec_plugin (wrk_exec_t *self)
{
    return self->plugin;
}

//  Records of keyed jobs not run yet (wrk_keyed_waiting counts them).
size_t
wrk_exec_key_waiting (wrk_exec_t *self)
{
    return atomic_load (&self->key_waiting);
}

//  What the consumer fetched, from its last statistics report.
void
wrk_exec_fetched (wrk_exec_t *self, uint64_t *records, uint64_t *bytes,
                  uint64_t *wakes)
{
    wrk_reader_fetched (self->reader, records, bytes, wakes);
}

//  Destroy the executor: the producer first (it flushes), then the
//  consumer, then the plugin unless another executor owns it.
void
wrk_exec_destroy (wrk_exec_t **self_p)
{
    wrk_exec_t *self = *self_p;
    if (!self)
        return;
    wrk_keyed_clear (self); //  its messages before the consumer goes
    wrk_output_destroy (&self->output);
    wrk_reader_destroy (&self->reader);
    wrk_plugin_destroy (&self->plugin);
    if (self->fifo) {
        exec_job_t *ej;
        while ((ej = zlistx_first (self->fifo))) {
            zlistx_delete (self->fifo, zlistx_cursor (self->fifo));
            wrk_exec_job_free (ej);
        }
        zlistx_destroy (&self->fifo);
    }
    zlistx_destroy (&self->parked);
    wrk_exec_held_free (self);
    wrk_kafka_fatal_destroy (&self->fatal);
    free (self->msgs);
    free (self->recs);
    free (self->outs);
    free (self->hdrs);
    free (self);
    *self_p = NULL;
}
