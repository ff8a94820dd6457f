/*  sched_crash - a supervised worker died. See sched_crash.h.           */
#include "sched_crash.h"

#include <inttypes.h>
#include "sl_log.h"

typedef struct {
    uint64_t job_id;
    int64_t due_ms;
    char worker[128]; /* the dead worker's name (its HELLO's)         */
    char reason[128]; /* why it was lost                              */
    bool began;       /* we had heard it begin                        */
} s_suspect_t;

static void
s_suspect_free (void **item)
{
    free (*item);
    *item = NULL;
}

//  See sched_crash.h.
int
sched_crash_init (sched_crash_t *self)
{
    self->suspects = zlistx_new ();
    if (!self->suspects)
        return -1;
    zlistx_set_destructor (self->suspects, s_suspect_free);
    return 0;
}

//  See sched_crash.h.
void
sched_crash_fini (sched_crash_t *self)
{
    zlistx_destroy (&self->suspects);
}

//  See sched_crash.h.
uint32_t
sched_crash_attempt (int64_t start, int64_t end, int64_t job_start,
                     int64_t job_end, uint32_t job_attempt, bool careful)
{
    bool whole = start == job_start && end == job_end;
    return whole || (careful && end - start == 1) ? job_attempt : 1;
}

//  See sched_crash.h.
void
sched_crash_worker_lost (sched_crash_t *self, sched_worker_t *worker,
                         const char *reason, int64_t now)
{
    zlistx_t *held = sched_model_jobs_held_by (self->model, worker);
    if (!held)
        return;
    //  Every job it held waits, begun or not: its last messages (the one
    //  saying it began a job) may not have reached us, and the report
    //  says which it had begun.
    for (sched_job_t *job = zlistx_first (held); job;
         job = zlistx_next (held)) {
        s_suspect_t *s = calloc (1, sizeof *s);
        if (!s) {
            sched_failure_job (self->failure, job, reason,
                               sched_failure_blamed (true, job->started), now);
            continue;
        }
        s->began = job->started;
        s->job_id = job->id;
        s->due_ms = now + SCHED_CRASH_WAIT_MS;
        snprintf (s->worker, sizeof s->worker, "%s", worker->name);
        snprintf (s->reason, sizeof s->reason, "%s", reason);
        zlistx_add_end (self->suspects, s);
        job->suspect = true;
        sched_model_job_enqueue (self->model, job, s->due_ms);
    }
    zlistx_destroy (&held);
}

//  The suspect entry of job id, or NULL (the cursor is left on it).
static s_suspect_t *
s_find (sched_crash_t *self, uint64_t id)
{
    for (s_suspect_t *s = zlistx_first (self->suspects); s;
         s = zlistx_next (self->suspects))
        if (s->job_id == id)
            return s;
    return NULL;
}

//  Cut [start, end) out of job: the records on either side go back as
//  jobs of their own at the job's attempt, uncharged. Returns false if
//  out of memory (nothing changed then).
static bool
s_carve (sched_crash_t *self, sched_job_t *job, int64_t start, int64_t end)
{
    //  The window splits first: a range it does not hold as one pending
    //  entry (completed meanwhile, restored) is not carved.
    sched_window_t *w = job->part->window;
    if (!sched_window_is_pending (w, job->start, job->end) ||
        (start > job->start &&
         sched_window_split (w, job->start, job->end, start) != 0) ||
        (end < job->end && sched_window_split (w, start, job->end, end) != 0))
        return false;
    sched_job_t *low = NULL, *high = NULL;
    if (start > job->start &&
        !(low = sched_model_job_new (self->model, job->part, job->start, start,
                                     job->attempt)))
        return false;
    if (end < job->end &&
        !(high = sched_model_job_new (self->model, job->part, end, job->end,
                                      job->attempt))) {
        if (low)
            sched_model_job_forget (self->model, low);
        return false;
    }
    if (low)
        sched_model_job_enqueue (self->model, low, 0);
    if (high)
        sched_model_job_enqueue (self->model, high, 0);
    return true;
}

//  See sched_crash.h.
bool
sched_crash_report (sched_crash_t *self, const char *worker_id,
                    const char *cause, const Sluice__CrashLane *lane,
                    int64_t now)
{
    sched_job_t *job = sched_model_job_find (self->model, lane->job_id);
    s_suspect_t *s = job && job->suspect ? s_find (self, job->id) : NULL;
    if (!s || strcmp (s->worker, worker_id) != 0 ||
        strcmp (job->part->topic, lane->topic) != 0 ||
        job->part->partition != lane->partition) {
        sl_debug (
            "crash report for no suspect job, ignored worker=%s job=%" PRIu64,
            worker_id, lane->job_id);
        return false;
    }
    char lost[128];
    snprintf (lost, sizeof lost, "%s", s->reason);
    zlistx_delete (self->suspects, zlistx_cursor (self->suspects));
    job->suspect = false;
    sched_part_t *part = job->part;
    if (!lane->at_fault) {
        sl_info ("worker died, its job was a bystander: no attempt charged "
                 "worker=%s cause=\"%s\" job=%" PRIu64,
                 worker_id, cause, job->id);
        sched_model_job_enqueue (self->model, job, 0);
        return true;
    }
    self->stats->plugin_crashes++;
    int64_t start = lane->start, end = lane->end;
    char reason[160];
    bool pinned = start < end && start >= job->start && end <= job->end &&
                  !job->dead_letter;
    if (pinned && s_carve (self, job, start, end)) {
        uint32_t attempt = sched_crash_attempt (
            start, end, job->start, job->end, job->attempt, job->careful);
        job->careful = end - start > 1;
        job->start = start;
        job->end = end;
        job->attempt = attempt;
        snprintf (reason, sizeof reason, "plugin crashed: %s", cause);
        sl_warn ("plugin crashed on records, charging them alone worker=%s "
                 "cause=\"%s\" topic=%s partition=%d start=%" PRId64
                 " end=%" PRId64 " attempt=%u",
                 worker_id, cause, part->topic, part->partition, start, end,
                 attempt);
    } else
        snprintf (reason, sizeof reason, "%s (%s)", lost, cause);
    sched_failure_job (self->failure, job, reason, true, now);
    return true;
}

//  See sched_crash.h.
void
sched_crash_settle (sched_crash_t *self, const char *worker_id)
{
    zlistx_t *list = self->suspects;
    void *handle = zlistx_first (list) ? zlistx_cursor (list) : NULL;
    while (handle) {
        s_suspect_t *s = zlistx_handle_item (handle);
        void *next = zlistx_next (list) ? zlistx_cursor (list) : NULL;
        if (streq (s->worker, worker_id)) {
            sched_job_t *job = sched_model_job_find (self->model, s->job_id);
            if (job && job->suspect) {
                job->suspect = false;
                sched_model_job_enqueue (self->model, job, 0);
            }
            zlistx_delete (list, handle);
        }
        handle = next;
    }
}

//  See sched_crash.h.
void
sched_crash_expire (sched_crash_t *self, int64_t now)
{
    s_suspect_t *s = zlistx_first (self->suspects);
    while (s && s->due_ms <= now) {
        sched_job_t *job = sched_model_job_find (self->model, s->job_id);
        if (job && job->suspect && s->began) {
            job->suspect = false;
            sl_info ("no crash report came, charging the job as a lost "
                     "worker's worker=%s job=%" PRIu64,
                     s->worker, job->id);
            sched_failure_job (self->failure, job, s->reason, true, now);
        } else if (job && job->suspect) {
            job->suspect = false; //  never heard begun: nobody's fault
            sched_model_job_enqueue (self->model, job, 0);
        }
        zlistx_delete (self->suspects, zlistx_cursor (self->suspects));
        s = zlistx_first (self->suspects);
    }
}
