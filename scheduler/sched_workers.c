/*  sched_workers - the workers the scheduler knows. See sched_workers.h.
 */
#include "sched_workers.h"

#include <inttypes.h>
#include "sched_conn.h"
#include "sched_dispatch.h"
#include "sched_wire.h"
#include "sl_clock.h"
#include "sl_log.h"

//  Routing id as hex; see sched_workers.h.
const char *
sched_workers_key (const void *rid, size_t size, char key[SCHED_KEY_MAX])
{
    static const char hex[] = "0123456789ABCDEF";
    const byte *data = rid;
    if (size > 255)
        size = 255;
    for (size_t i = 0; i < size; i++) {
        key[2 * i] = hex[data[i] >> 4];
        key[2 * i + 1] = hex[data[i] & 15];
    }
    key[2 * size] = 0;
    return key;
}

//  A HELLO beyond --max-workers: refuse it, and say so once a second at
//  most. Bounded state: a flood of HELLOs (or a fleet larger than
//  planned) cannot grow the table without end.
static void
s_refuse (sched_workers_t *self, zframe_t *rid, const char *name, int64_t now)
{
    self->hellos_refused++;
    if (now - self->refused_log_ms >= 1000) {
        self->refused_log_ms = now;
        sl_warn ("too many workers, HELLO refused max_workers=%" PRId64
                 " refused_total=%" PRIu64 " worker=%s",
                 self->max_workers, self->hellos_refused, name);
    }
    sched_wire_bye (self->router, rid, "too many workers", false, false);
}

//  Register or re-register a worker; see sched_workers.h.
sched_worker_t *
sched_workers_hello (sched_workers_t *self, zframe_t *rid, const char *key,
                     const Sluice__Hello *hello, int64_t now)
{
    const char *name = *hello->worker_id ? hello->worker_id : key;
    sched_worker_t *worker = sched_model_worker_find (self->model, key);
    if (self->model->key_order && !hello->keys) {
        //  It would run keyed jobs out of order: never give it one.
        sl_warn ("worker refused: it cannot run keyed jobs (--order key); "
                 "upgrade it worker=%s",
                 name);
        sched_wire_bye (self->router, rid,
                        "this scheduler runs --order key: upgrade the worker",
                        false, false);
        if (worker)
            sched_workers_drop (self, worker, "cannot run keyed jobs", false,
                                now);
        return NULL;
    }
    if (worker) {
        //  It forgot its jobs (it lost us for a while): take them back.
        sched_failure_worker_lost (self->failure, worker, "worker re-announced",
                                   false, now);
    } else if ((int64_t)zhashx_size (self->model->workers) >=
               self->max_workers) {
        s_refuse (self, rid, name, now);
        return NULL;
    } else if (!(worker = sched_model_worker_add (self->model, rid, key)))
        return NULL;
    snprintf (worker->name, sizeof worker->name, "%.*s",
              (int)sizeof worker->name - 1, name);
    snprintf (worker->plugin, sizeof worker->plugin, "%s", hello->plugin);
    worker->credits = hello->credits;
    worker->credits_max = hello->credits;
    worker->supervised = hello->supervised;
    //  A worker that reads batches gets a dispatch pass's jobs as one
    //  frame (sched_wire_job); without memory for it, one by one.
    if (hello->batches && !worker->out &&
        (worker->out = malloc (sizeof *worker->out)))
        sl_proto_out_init (worker->out);
    else if (!hello->batches) {
        free (worker->out);
        worker->out = NULL;
    }
    sched_dispatch_lanes (worker, hello->lanes);
    worker->last_seen_ms = now;
    const char *why = sched_eos_hello (self->eos, worker, hello->txn_id);
    if (why) {
        sl_warn ("worker refused: %s worker=%s transactional_id=%s", why,
                 worker->name, hello->txn_id);
        sched_wire_bye (self->router, rid, why, false, false);
        sched_workers_drop (self, worker, "refused", false, now);
        return NULL;
    }
    sl_info ("worker joined worker=%s credits=%u plugin=%s", worker->name,
             hello->credits, worker->plugin);
    return worker;
}

//  Take credits back; see sched_workers.h.
void
sched_workers_credit (sched_worker_t *worker, uint32_t credits)
{
    //  Never more than it announced, whatever it sends: a peer that sends
    //  CREDIT after CREDIT cannot make us send it the whole backlog.
    uint64_t sum = (uint64_t)worker->credits + credits;
    worker->credits =
        (uint32_t)(sum < worker->credits_max ? sum : worker->credits_max);
}

//  Jobs that could not be sent; see sched_workers.h.
void
sched_workers_send_failed (void *arg, sched_worker_t *worker)
{
    sl_warn ("cannot send job, dropping worker worker=%s", worker->name);
    sched_workers_drop (arg, worker, "send failed", false, sl_now_ms ());
}

//  A job given back; see sched_workers.h.
void
sched_workers_return (sched_workers_t *self, sched_worker_t *worker,
                      const Sluice__Return *ret)
{
    sched_job_t *job = sched_model_job_find (self->model, ret->job_id);
    if (job && job->worker == worker) {
        sl_info ("job returned job=%" PRIu64 " worker=%s reason=\"%s\"",
                 job->id, worker->name, ret->reason);
        job->settled = true; //  it aborted what it had begun
        sched_model_job_enqueue (self->model, job, 0);
    }
}

//  A job goes on; see sched_workers.h.
void
sched_workers_progress (sched_workers_t *self, sched_worker_t *worker,
                        const Sluice__Progress *progress, int64_t lease_ms)
{
    sched_job_t *job = sched_model_job_find (self->model, progress->job_id);
    if (job && job->worker == worker) {
        job->started = true;
        job->deadline_ms = sl_now_ms () + lease_ms;
    }
}

//  Forget a worker; see sched_workers.h.
void
sched_workers_drop (sched_workers_t *self, sched_worker_t *worker,
                    const char *reason, bool count_attempt, int64_t now)
{
    sl_info ("worker gone worker=%s reason=\"%s\" jobs=%u", worker->name,
             reason, worker->in_flight);
    if (worker->supervised && count_attempt && self->crash)
        sched_crash_worker_lost (self->crash, worker, reason, now);
    else
        sched_failure_worker_lost (self->failure, worker, reason, count_attempt,
                                   now);
    sched_model_worker_remove (self->model, worker);
}

//  A connection closed; see sched_workers.h.
void
sched_workers_closed (sched_workers_t *self, const sched_conn_closed_t *closed,
                      int64_t now)
{
    zhashx_t *workers = self->model->workers;
    zlistx_t *gone = zlistx_new ();
    if (!gone)
        return;
    for (sched_worker_t *w = zhashx_first (workers); w;
         w = zhashx_next (workers))
        if (sched_conn_closed (w, closed))
            zlistx_add_end (gone, w);
    for (sched_worker_t *w = zlistx_first (gone); w; w = zlistx_next (gone)) {
        self->stats->workers_closed++;
        sched_workers_drop (self, w, "connection closed", true, now);
    }
    zlistx_destroy (&gone);
}

//  A supervising parent's report; see sched_workers.h.
void
sched_workers_crash (sched_workers_t *self, const Sluice__Crash *crash,
                     int64_t now)
{
    zhashx_t *workers = self->model->workers;
    sched_worker_t *dead = NULL;
    for (sched_worker_t *w = zhashx_first (workers); w && !dead;
         w = zhashx_next (workers))
        if (w->supervised && streq (w->name, crash->worker_id))
            dead = w;
    if (dead) {
        //  The report can overtake the dead worker's last messages (they
        //  came on another connection): the jobs it names had begun.
        for (size_t i = 0; i < crash->n_lanes; i++) {
            sched_job_t *job =
                sched_model_job_find (self->model, crash->lanes[i]->job_id);
            if (job && job->worker == dead)
                job->started = true;
        }
        char reason[128];
        snprintf (reason, sizeof reason, "worker died (%s)", crash->cause);
        sched_workers_drop (self, dead, reason, true, now);
    }
    for (size_t i = 0; i < crash->n_lanes; i++)
        sched_crash_report (self->crash, crash->worker_id, crash->cause,
                            crash->lanes[i], now);
    sched_crash_settle (self->crash, crash->worker_id);
}

//  Heartbeats out, silent workers dropped; see sched_workers.h.
void
sched_workers_heartbeat (sched_workers_t *self, int64_t now, int64_t limit_ms)
{
    zhashx_t *workers = self->model->workers;
    zlistx_t *dead = zlistx_new ();
    if (!dead)
        return;
    for (sched_worker_t *w = zhashx_first (workers); w;
         w = zhashx_next (workers)) {
        if (now - w->last_seen_ms > limit_ms)
            zlistx_add_end (dead, w);
        else
            sched_wire_heartbeat (self->router, w);
    }
    for (sched_worker_t *w = zlistx_first (dead); w; w = zlistx_next (dead))
        sched_workers_drop (self, w, "missed heartbeats", true, now);
    zlistx_destroy (&dead);
}

//  Forgive a stall of our own; see sched_workers.h.
void
sched_workers_forgive (sched_workers_t *self, int64_t gap, int64_t now)
{
    sl_warn ("scheduler loop stalled, not counted against workers or leases "
             "stall_ms=%" PRId64,
             gap);
    zhashx_t *workers = self->model->workers;
    for (sched_worker_t *w = zhashx_first (workers); w;
         w = zhashx_next (workers))
        w->last_seen_ms =
            w->last_seen_ms + gap < now ? w->last_seen_ms + gap : now;
    sched_failure_forgive (self->failure, gap);
}

//  BYE to everyone; see sched_workers.h.
void
sched_workers_bye_all (sched_workers_t *self, bool finished)
{
    zhashx_t *workers = self->model->workers;
    for (sched_worker_t *w = zhashx_first (workers); w;
         w = zhashx_next (workers))
        sched_wire_bye (self->router, w->rid,
                        finished ? "drain finished" : "scheduler stopping",
                        false, finished);
}

//  Leases expired; see sched_workers.h.
void
sched_workers_leases (sched_workers_t *self, int64_t now, int64_t lease_ms)
{
    zlistx_t *expired = sched_failure_leases (self->failure, now);
    if (!expired)
        return;
    char reason[96];
    snprintf (reason, sizeof reason, "lease expired after %" PRId64 " ms",
              lease_ms);
    for (sched_job_t *job = zlistx_first (expired); job;
         job = zlistx_next (expired)) {
        self->stats->jobs_expired++;
        sched_wire_cancel (self->router, job, reason);
        sched_failure_job (self->failure, job, reason, true, now);
    }
    zlistx_destroy (&expired);
}

//  True for what a known worker says as a worker (not HELLO, a
//  supervisor's CRASH or STATUS_REQUEST); with keeps, for what never
//  drops it (the worker found for the frame is still valid after it).
bool
sched_workers_as_worker (Sluice__Envelope__BodyCase body, bool keeps)
{
    if (keeps)
        return body == SLUICE__ENVELOPE__BODY_DONE ||
               body == SLUICE__ENVELOPE__BODY_CREDIT ||
               body == SLUICE__ENVELOPE__BODY_PROGRESS ||
               body == SLUICE__ENVELOPE__BODY_HEARTBEAT ||
               body == SLUICE__ENVELOPE__BODY_TAIL ||
               body == SLUICE__ENVELOPE__BODY_KEYS;
    return body != SLUICE__ENVELOPE__BODY_HELLO &&
           body != SLUICE__ENVELOPE__BODY_CRASH &&
           body != SLUICE__ENVELOPE__BODY_STATUS_REQUEST;
}
