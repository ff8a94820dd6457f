/*  sched_order - key order: KEYS, GATE, RELEASE. See sched_order.h.
 */
#include "sched_order.h"

#include <inttypes.h>
#include "sl_clock.h"
#include "sl_log.h"
#include "sl_proto.h"

int
sched_order_init (sched_order_t *self)
{
    self->buf = malloc (SL_PROTO_MAX_KEYS * sizeof *self->buf);
    return self->buf ? 0 : -1;
}

void
sched_order_fini (sched_order_t *self)
{
    free (self->buf);
    self->buf = NULL;
}

//  Send RELEASE for what the gate frees of job's keys.
static void
s_release_job (sched_order_t *self, sched_keys_t *keys, sched_job_t *job)
{
    size_t n =
        sched_keys_release (keys, job->start, self->buf, SL_PROTO_MAX_KEYS);
    if (!n)
        return;
    Sluice__Release msg = SLUICE__RELEASE__INIT;
    msg.job_id = job->id;
    msg.hashes = self->buf;
    msg.n_hashes = n;
    sl_proto_send (self->router, job->worker->rid,
                   SLUICE__ENVELOPE__BODY_RELEASE, &msg);
    self->releases++;
}

//  See sched_order.h.
void
sched_order_release (sched_order_t *self, sched_part_t *part)
{
    sched_keys_t *keys = sched_window_keys (part->window);
    if (!keys)
        return;
    for (sched_job_t *job = part->jobs_head; job; job = job->next)
        if (job->gated && job->worker)
            s_release_job (self, keys, job);
}

//  See sched_order.h.
void
sched_order_keys (sched_order_t *self, sched_worker_t *worker,
                  const Sluice__Keys *k)
{
    sched_job_t *job = sched_model_job_find (self->model, k->job_id);
    sched_keys_t *keys = job ? sched_window_keys (job->part->window) : NULL;
    const char *why = NULL;
    if (!job)
        why = "no such job";
    else if (job->worker != worker)
        why = "not a job of this worker";
    else if (job->start != k->start || job->end != k->end)
        why = "not the job's range";
    else if (!keys)
        why = "this scheduler does not run --order key";
    else if (k->done &&
             sched_keys_drop_keys (keys, k->start, k->hashes, k->n_hashes) < 0)
        why = "keys done for a range whose set is unknown";
    else if (!k->done && sched_keys_report (keys, k->start, k->end, k->hashes,
                                            k->n_hashes) != 0)
        why = "the range is not in the gate, or out of memory";
    if (why) {
        //  A late KEYS of a job taken back is normal; anything else is a
        //  peer's mistake, and the job waits for its lease.
        self->keys_refused++;
        sl_debug ("KEYS ignored worker=%s job=%" PRIu64 " reason=\"%s\"",
                  worker->name, k->job_id, why);
        return;
    }
    if (k->done) { //  its keys completed early: later jobs may go on
        self->keys_done += k->n_hashes;
        sched_order_release (self, job->part);
        return;
    }
    if (sched_keys_held (keys) > self->held_peak)
        self->held_peak = sched_keys_held (keys);
    bool known;
    size_t n = sched_keys_gate (keys, job->start, self->buf, SL_PROTO_MAX_KEYS,
                                &known);
    Sluice__Gate msg = SLUICE__GATE__INIT;
    msg.job_id = job->id;
    msg.all = n && n == k->n_hashes;
    msg.blocked = msg.all ? NULL : self->buf;
    msg.n_blocked = msg.all ? 0 : n;
    sl_proto_send (self->router, worker->rid, SLUICE__ENVELOPE__BODY_GATE,
                   &msg);
    job->gated = true;
    job->gated_ms = sl_now_ms ();
    self->gates++;
    self->gates_held += n > 0;
    //  The report may free keys of later jobs (an unknown set now known).
    sched_order_release (self, job->part);
}

//  See sched_order.h.
void
sched_order_waiting (sched_order_t *self, int64_t now, uint64_t *jobs,
                     uint64_t *keys, int64_t *longest_ms)
{
    *jobs = *keys = 0;
    *longest_ms = 0;
    size_t np;
    sched_part_t **parts = sched_model_parts (self->model, &np);
    for (size_t i = 0; i < np; i++) {
        sched_keys_t *g = sched_window_keys (parts[i]->window);
        for (sched_job_t *job = parts[i]->jobs_head; g && job;
             job = job->next) {
            bool known;
            size_t n = job->gated
                           ? sched_keys_blocked (g, job->start, NULL, 0, &known)
                           : 0;
            if (!n)
                continue;
            (*jobs)++;
            *keys += n;
            if (now - job->gated_ms > *longest_ms)
                *longest_ms = now - job->gated_ms;
        }
    }
}
