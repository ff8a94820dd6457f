/*  wrk_job - a job's begin and end on an executor lane: BEGIN, a new
    delivery serial for the output, the job abandoned, the wait for the
    output's acknowledgements, whose fault a failure was, the completion
    marker, DONE. Shared by unkeyed (wrk_exec.c) and keyed (wrk_keyed.c)
    jobs; declared in wrk_exec_int.h.
*/
#include "wrk_exec_int.h"

#include <inttypes.h>
#include "sl_clock.h"
#include "sl_log.h"
#include "wrk_marks.h"

/*  Group commit (--exactly-once): a job done while the lane's next job is
    already queued leaves its transaction open for that job, up to this
    long and this many jobs, so a transaction's fixed cost (its commit, and
    the coordinator's markers that the next AddPartitionsToTxn may wait
    for) is paid once for several jobs. The DONEs wait for the commit.    */
#define WRK_GROUP_MS   100
#define WRK_GROUP_JOBS 64

//  A job done whose DONE waits for its transaction's commit.
typedef struct {
    exec_job_t *ej;
    wrk_tally_t tally;
    int64_t us;
    uint64_t txn; /* the transaction it is in                          */
} wrk_held_t;

//  Send DONE for a job.
static void
s_send_done (wrk_exec_t *self, exec_job_t *ej, wrk_tally_t *t, int64_t us)
{
    zframe_t *frame = wrk_tally_done (t, ej->job, us);
    wrk_msg_send (self->pipe, WRK_MSG_DONE, ej->sched, 0, frame, NULL);
    zframe_destroy (&frame);
}

//  The line a job done leaves in the log (tail: more pairs, or "").
static void
s_log_done (const Sluice__Job *job, const wrk_tally_t *t, int64_t ms,
            const char *tail)
{
    sl_info ("job done job=%" PRIu64 " topic=%s partition=%d start=%" PRId64
             " end=%" PRId64 " records=%" PRIu64 " rejected=%" PRIu64
             " emitted=%" PRIu64 " lost=%" PRIu64 " ms=%" PRId64 "%s",
             job->job_id, job->topic, job->partition, job->start, job->end,
             t->records, t->rejected, t->emitted, t->lost.offsets, ms, tail);
}

//  Group commit: whether the job just done leaves its transaction open
//  for the lane's next job (one is queued and may join it).
static bool
s_group_more (wrk_exec_t *self)
{
    exec_job_t *next = zlistx_first (self->fifo);
    int64_t age;
    uint32_t jobs;
    return self->cfg->exactly_once && !self->stopping && next &&
           !next->cancelled && !next->job->keyed &&
           wrk_output_txn (self->output, &age, &jobs) &&
           !wrk_output_failed (self->output) && age < WRK_GROUP_MS &&
           jobs < WRK_GROUP_JOBS;
}

//  The jobs held for the transaction just ended: DONE for those it
//  committed, FAIL (SHARED: no attempt) for the rest.
static void
s_held_end (wrk_exec_t *self, bool committed, const char *why)
{
    uint64_t done = committed ? wrk_output_committed (self->output) : 0;
    wrk_held_t *h;
    while ((h = zlistx_first (self->held))) {
        zlistx_delete (self->held, zlistx_cursor (self->held));
        const Sluice__Job *job = h->ej->job;
        if (!done || h->txn != done) {
            h->tally.failed = true;
            h->tally.fault = SLUICE__FAULT_CLASS__FAULT_CLASS_SHARED;
            snprintf (h->tally.error, sizeof h->tally.error,
                      "its transaction, shared with a later job, was "
                      "aborted: %.200s",
                      why && *why ? why : "the lane's producer was replaced");
            sl_warn ("job failed job=%" PRIu64 " topic=%s partition=%d "
                     "start=%" PRId64 " end=%" PRId64 " reason=\"%s\"",
                     job->job_id, job->topic, job->partition, job->start,
                     job->end, h->tally.error);
        } else
            s_log_done (job, &h->tally, h->us / 1000, " committed=with_later");
        s_send_done (self, h->ej, &h->tally, h->us);
        wrk_exec_job_free (h->ej);
        free (h);
    }
}

//  See wrk_exec_int.h.
void
wrk_exec_group_close (wrk_exec_t *self, const exec_job_t *next)
{
    if (!zlistx_size (self->held) ||
        (next && !next->cancelled && !next->job->keyed && !self->stopping))
        return;
    char err[SLUICE_REASON_MAX];
    int rc = wrk_output_flush (self->output, err, sizeof err);
    s_held_end (self, rc == 0, err);
}

//  See wrk_exec_int.h.
void
wrk_exec_held_progress (wrk_exec_t *self)
{
    for (wrk_held_t *h = zlistx_first (self->held); h;
         h = zlistx_next (self->held))
        wrk_exec_reply (self, WRK_MSG_PROGRESS, h->ej->sched,
                        h->ej->job->job_id);
}

//  See wrk_exec_int.h.
void
wrk_exec_held_free (wrk_exec_t *self)
{
    wrk_held_t *h;
    while (self->held && (h = zlistx_first (self->held))) {
        zlistx_delete (self->held, zlistx_cursor (self->held));
        wrk_exec_job_free (h->ej);
        free (h);
    }
    zlistx_destroy (&self->held);
}

//  A job starts: a new delivery serial, its DLQ looked up (dead-letter
//  mode), BEGIN to the main thread. Returns the start time (ms).
int64_t
wrk_exec_job_begin (wrk_exec_t *self, exec_job_t *ej)
{
    const Sluice__Job *job = ej->job;
    bool dead = job->mode == SLUICE__JOB_MODE__JOB_MODE_DEAD_LETTER;
    wrk_output_job_begin (self->output);
    self->dlq_topic = job->dlq_topic;
    if (dead)
        wrk_output_warm_dlq (self->output, job->dlq_topic);
    int64_t t0 = sl_now_ms ();
    self->progress_ms = t0;
    wrk_exec_reply (self, WRK_MSG_BEGIN, ej->sched, job->job_id);
    sl_info ("job begin job=%" PRIu64 " topic=%s partition=%d start=%" PRId64
             " end=%" PRId64 " attempt=%u mode=%s",
             job->job_id, job->topic, job->partition, job->start, job->end,
             job->attempt, dead ? "dlq" : "process");
    return t0;
}

//  A job abandoned (cancelled, or the stop deadline passed): the consumer
//  position is now unknown, and what was not sent yet is dropped.
void
wrk_exec_job_abandon (wrk_exec_t *self, exec_job_t *ej)
{
    wrk_reader_forget (self->reader);
    wrk_exec_reply (self, ej->cancelled ? WRK_MSG_DROPPED : WRK_MSG_RETURNED,
                    ej->sched, ej->job->job_id);
    sl_info ("job abandoned job=%" PRIu64 " reason=%s", ej->job->job_id,
             ej->cancelled ? "cancelled" : "stopping");
    wrk_output_purge (self->output);
    s_held_end (self, false, "a later job was abandoned");
}

//  The plugin is done with the job; only Kafka's acknowledgements are
//  awaited now (within --flush-timeout-ms), so a cancel that comes
//  meanwhile must not take the wait for a stuck plugin. Sent even when
//  nothing awaits acknowledgement: it wakes the main thread just before
//  DONE, which then leaves at once (without it, 2 and 4 noop workers
//  on Kafka waited 7-18% of their time for their next job, against
//  4-14%: DONE -> next JOB is the critical path at a job's end).
int
wrk_exec_job_flush (wrk_exec_t *self, exec_job_t *ej, wrk_tally_t *t)
{
    wrk_exec_reply (self, WRK_MSG_PROCESSED, ej->sched, ej->job->job_id);
    int64_t f0 = sl_now_ns ();
    if (self->cfg->exactly_once) //  commits with the job's records
        wrk_output_mark (self->output, ej->job);
    int rc = s_group_more (self)
                 ? 2
                 : wrk_output_flush (self->output, t->error, sizeof t->error);
    t->flush_ns = sl_now_ns () - f0;
    return rc;
}

//  Whose fault a failed job was. If it could not read its input (the
//  cluster refused it, or nothing came for a bound: wrk_reader_fetch),
//  the cluster's, on the input's side. If the output refused something
//  of it (a delivery, or a produce call, which fails the plugin's emit
//  and so its batch), the output's classification says; otherwise the
//  plugin or a record failed it.
static void
s_job_fault (wrk_exec_t *self, wrk_tally_t *t)
{
    const char *code = "", *target = "", *why = "";
    rd_kafka_resp_err_t in = wrk_reader_fault (self->reader, &why, &target);
    if (in) {
        t->fault = SLUICE__FAULT_CLASS__FAULT_CLASS_INFRA;
        t->fault_side = SLUICE__FAULT_SIDE__FAULT_SIDE_INPUT;
        snprintf (t->error, sizeof t->error, "%s", why);
        snprintf (t->fault_code, sizeof t->fault_code, "%s",
                  rd_kafka_err2name (in));
        snprintf (t->fault_target, sizeof t->fault_target, "%s", target);
        return;
    }
    bool output = wrk_output_failed (self->output);
    t->fault = output ? wrk_output_fault (self->output, &code, &target)
                      : SLUICE__FAULT_CLASS__FAULT_CLASS_RECORD;
    t->fault_side = SLUICE__FAULT_SIDE__FAULT_SIDE_OUTPUT;
    //  The output's reason is the precise one (the plugin only saw that
    //  its emit failed); it is what a dead letter will carry.
    why = output ? wrk_output_error (self->output) : "";
    if (*why)
        snprintf (t->error, sizeof t->error, "%s", why);
    snprintf (t->fault_code, sizeof t->fault_code, "%s", code);
    snprintf (t->fault_target, sizeof t->fault_target, "%s", target);
}

//  Keep a job done for its transaction's commit (group commit). False if
//  out of memory.
static bool
s_hold (wrk_exec_t *self, exec_job_t *ej, wrk_tally_t *t, int64_t t0)
{
    wrk_held_t *h = calloc (1, sizeof *h);
    int64_t age;
    uint32_t jobs;
    if (!h)
        return false;
    h->ej = ej;
    h->tally = *t;
    h->us = (sl_now_ms () - t0) * 1000;
    h->txn = wrk_output_txn (self->output, &age, &jobs);
    if (!zlistx_add_end (self->held, h)) {
        free (h);
        return false;
    }
    ej->held = true;
    wrk_output_defer (self->output);
    return true;
}

//  A job ended, done (rc 0) or failed: log it and send DONE.
void
wrk_exec_job_end (wrk_exec_t *self, exec_job_t *ej, wrk_tally_t *t, int rc,
                  int64_t t0)
{
    const Sluice__Job *job = ej->job;
    if (rc == 2 && s_hold (self, ej, t, t0))
        return;  //  its DONE goes with its transaction's commit
    if (rc == 2) //  not held (no memory): its transaction is committed now
        rc = wrk_output_flush (self->output, t->error, sizeof t->error);
    s_held_end (self, rc == 0, rc == 0 ? "" : t->error);
    if (rc != 0) {
        wrk_output_abort (self->output); //  --exactly-once: none of it shows
        t->failed = true;
        s_job_fault (self, t);
        wrk_reader_forget (self->reader);
        sl_warn ("job failed job=%" PRIu64 " topic=%s partition=%d "
                 "start=%" PRId64 " end=%" PRId64 " reason=\"%s\"",
                 job->job_id, job->topic, job->partition, job->start, job->end,
                 t->error);
    } else {
        if (!self->cfg->exactly_once)         //  (with it: in the transaction)
            wrk_marks_write (self->cfg, job); //  --state-topic: before DONE
        s_log_done (job, t, sl_now_ms () - t0, "");
    }
    s_send_done (self, ej, t, (sl_now_ms () - t0) * 1000);
}
