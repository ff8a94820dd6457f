/*  sched_failure - the failure policy. See sched_failure.h.
 */
#include "sched_failure.h"

#include <inttypes.h>
#include "sl_log.h"

//  Decide a failed job's fate; see sched_failure.h.
sched_fail_t
sched_failure_decide (int64_t start, int64_t end, uint32_t attempt,
                      bool dead_letter, bool count_attempt,
                      int64_t max_attempts)
{
    sched_fail_t d = {SCHED_FAIL_REQUEUE, 0, attempt};
    if (!count_attempt)
        return d;
    if (dead_letter || (int64_t)attempt < max_attempts) {
        d.action = SCHED_FAIL_RETRY;
        if (dead_letter) {
            int64_t backoff = 1000LL * attempt;
            d.backoff_ms = backoff < SCHED_FAILURE_BACKOFF_MAX_MS
                               ? backoff
                               : SCHED_FAILURE_BACKOFF_MAX_MS;
        }
        d.attempt = attempt + 1;
    } else if (end - start == 1) {
        d.action = SCHED_FAIL_DEAD_LETTER;
        d.attempt = attempt + 1;
    } else
        d.action = SCHED_FAIL_BISECT;
    return d;
}

//  A half's first attempt; see sched_failure.h.
uint32_t
sched_failure_half_attempt (int64_t len, int64_t max_attempts)
{
    return len == 1 ? 1 : (uint32_t)max_attempts;
}

//  Whether a lost worker's job is blamed; see sched_failure.h.
bool
sched_failure_blamed (bool count_attempt, bool started)
{
    return count_attempt && started;
}

//  Whether a lease expired; see sched_failure.h.
bool
sched_failure_lease_expired (const sched_job_t *job, int64_t now)
{
    return job->worker && job->started && now > job->deadline_ms;
}

//  Split a job that keeps failing into two halves, each queued. If the
//  range is no longer pending (completed meanwhile), queue it as it is.
static void
s_bisect (sched_failure_t *self, sched_job_t *job, const char *reason)
{
    sched_part_t *part = job->part;
    int64_t mid = sched_window_bisect (part->window, job->start, job->end);
    if (mid >= 0 && job->worker && self->model->left)
        self->model->left (self->model->left_arg, job); //  its halves wait
    if (mid < 0) {
        sched_model_job_enqueue (self->model, job, 0);
        return;
    }
    sl_warn ("job keeps failing, bisecting topic=%s partition=%d start=%" PRId64
             " end=%" PRId64 " mid=%" PRId64 " reason=\"%s\"",
             part->topic, part->partition, job->start, job->end, mid, reason);
    self->stats->jobs_bisected++;
    sched_job_t *low = sched_model_job_new (
        self->model, part, job->start, mid,
        sched_failure_half_attempt (mid - job->start, self->max_attempts));
    sched_job_t *high = sched_model_job_new (
        self->model, part, mid, job->end,
        sched_failure_half_attempt (job->end - mid, self->max_attempts));
    if (low)
        sched_model_job_enqueue (self->model, low, 0);
    if (high)
        sched_model_job_enqueue (self->model, high, 0);
    sched_model_job_forget (self->model, job);
}

//  Apply the policy to a failed job; see sched_failure.h.
void
sched_failure_job (sched_failure_t *self, sched_job_t *job, const char *reason,
                   bool count_attempt, int64_t now)
{
    sched_part_t *part = job->part;
    sched_fail_t d = sched_failure_decide (job->start, job->end, job->attempt,
                                           job->dead_letter, count_attempt,
                                           self->max_attempts);
    if (count_attempt) {
        self->stats->jobs_failed++;
        sched_model_job_reason (job, reason);
    }
    job->attempt = d.attempt;
    switch (d.action) {
        case SCHED_FAIL_REQUEUE:
            sched_model_job_enqueue (self->model, job, 0);
            break;
        case SCHED_FAIL_RETRY:
            sl_warn ("job failed, retrying job=%" PRIu64
                     " topic=%s partition=%d start=%" PRId64 " end=%" PRId64
                     " attempt=%u reason=\"%s\"",
                     job->id, part->topic, part->partition, job->start,
                     job->end, job->attempt, reason);
            self->stats->jobs_retried++;
            sched_model_job_enqueue (self->model, job, now + d.backoff_ms);
            break;
        case SCHED_FAIL_DEAD_LETTER:
            sl_warn ("offset keeps failing, dead-lettering topic=%s "
                     "partition=%d offset=%" PRId64
                     " attempts=%u reason=\"%s\"",
                     part->topic, part->partition, job->start, job->attempt - 1,
                     reason);
            job->dead_letter = true;
            self->stats->jobs_dead_lettered++;
            sched_model_job_enqueue (self->model, job, 0);
            break;
        case SCHED_FAIL_BISECT:
            s_bisect (self, job, reason);
            break;
    }
}

//  Fail every job of a lost worker; see sched_failure.h.
void
sched_failure_worker_lost (sched_failure_t *self, sched_worker_t *worker,
                           const char *reason, bool count_attempt, int64_t now)
{
    zlistx_t *held = sched_model_jobs_held_by (self->model, worker);
    if (!held)
        return;
    //  Only a job the worker had started can be blamed for its death; the
    //  ones waiting behind it go back without losing an attempt.
    for (sched_job_t *job = zlistx_first (held); job; job = zlistx_next (held))
        sched_failure_job (self, job, reason,
                           sched_failure_blamed (count_attempt, job->started),
                           now);
    zlistx_destroy (&held);
}

//  The pause after n destination failures in a row; see sched_failure.h.
int64_t
sched_failure_outage_backoff (uint32_t n)
{
    int64_t ms = SCHED_OUTAGE_BACKOFF_MIN_MS;
    for (uint32_t i = 1; i < n && ms < SCHED_OUTAGE_BACKOFF_MAX_MS; i++)
        ms *= 2;
    return ms < SCHED_OUTAGE_BACKOFF_MAX_MS ? ms : SCHED_OUTAGE_BACKOFF_MAX_MS;
}

//  A job failed for its destination or its input; see sched_failure.h.
void
sched_failure_outage (sched_failure_t *self, sched_job_t *job,
                      Sluice__FaultSide side, const char *code,
                      const char *target, int64_t now)
{
    bool input = side == SLUICE__FAULT_SIDE__FAULT_SIDE_INPUT;
    sched_outage_t *o = &self->outage;
    if (!o->since_ms) {
        o->since_ms = now;
        o->input = input;
        snprintf (o->code, sizeof o->code, "%s", code && *code ? code : "?");
        snprintf (o->target, sizeof o->target, "%s", target ? target : "");
        if (input)
            sl_warn ("input refused, pausing dispatch; no attempt is charged "
                     "target=%s code=%s",
                     o->target, o->code);
        else
            sl_warn ("output refused, pausing dispatch; no attempt is charged "
                     "target=%s code=%s",
                     o->target, o->code);
    }
    //  The pause doubles when a job sent after the last one ended fails
    //  too (the probe): the jobs that were in flight together with the
    //  first failure say nothing new.
    o->deferred++;
    if (now >= o->until_ms) {
        o->failures++;
        o->until_ms = now + sched_failure_outage_backoff (o->failures);
    }
    int64_t pause = o->until_ms - now;
    self->stats->jobs_deferred++;
    sl_debug ("job deferred job=%" PRIu64
              " side=%s target=%s code=%s pause_ms=%" PRId64,
              job->id, input ? "input" : "output", target, code, pause);
    sched_model_job_enqueue (self->model, job, o->until_ms);
}

//  The outage is over; see sched_failure.h.
void
sched_failure_outage_over (sched_failure_t *self, int64_t now)
{
    sched_outage_t *o = &self->outage;
    if (!o->since_ms)
        return;
    sl_info ("%s, dispatch resumes target=%s code=%s outage_ms=%" PRId64
             " jobs_deferred=%" PRIu64,
             o->input ? "input readable again" : "output accepts again",
             o->target, o->code, now - o->since_ms, o->deferred);
    memset (o, 0, sizeof *o);
}

//  Whether dispatch pauses; see sched_failure.h.
bool
sched_failure_paused (const sched_failure_t *self, int64_t now)
{
    return self->outage.since_ms && now < self->outage.until_ms;
}

//  The outage in words; see sched_failure.h.
const char *
sched_failure_outage_text (const sched_failure_t *self, int64_t now, char *buf,
                           size_t size)
{
    const sched_outage_t *o = &self->outage;
    if (!o->since_ms)
        snprintf (buf, size, "%s", "");
    else
        snprintf (buf, size, "%s %s: %s for %" PRId64 " s",
                  o->input ? "input" : "output", o->target, o->code,
                  (now - o->since_ms) / 1000);
    return buf;
}

//  Forgive a stall of our own; see sched_failure.h.
void
sched_failure_forgive (sched_failure_t *self, int64_t gap)
{
    size_t cursor = 0;
    sched_model_t *m = self->model;
    for (sched_job_t *job = sched_idmap_next (m->jobs, &cursor); job;
         job = sched_idmap_next (m->jobs, &cursor))
        if (job->worker)
            job->deadline_ms += gap;
}

//  The jobs whose lease expired; see sched_failure.h.
zlistx_t *
sched_failure_leases (sched_failure_t *self, int64_t now)
{
    if (now <= self->lease_check_ms)
        return NULL;
    int64_t next = now + self->lease_ms;
    zlistx_t *expired = zlistx_new ();
    if (!expired)
        return NULL;
    size_t cursor = 0;
    sched_model_t *m = self->model;
    for (sched_job_t *job = sched_idmap_next (m->jobs, &cursor); job;
         job = sched_idmap_next (m->jobs, &cursor)) {
        if (!job->worker || !job->started)
            continue;
        if (sched_failure_lease_expired (job, now))
            zlistx_add_end (expired, job);
        else if (job->deadline_ms < next)
            next = job->deadline_ms;
    }
    self->lease_check_ms = next;
    return expired;
}
