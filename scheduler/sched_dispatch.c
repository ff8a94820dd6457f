/*  sched_dispatch - which job goes to which worker next. See
    sched_dispatch.h.
*/
#include "sched_dispatch.h"
#include "sched_wire.h"

//  A whole pass; see sched_dispatch.h.
uint64_t
sched_dispatch_run (sched_dispatch_t *self, zsock_t *router, int64_t now,
                    int64_t lease_ms,
                    void (*dropped) (void *arg, sched_worker_t *worker),
                    void *arg)
{
    uint64_t sent = 0;
    sched_pick_t pick;
    sched_worker_t *pending = NULL; //  workers whose jobs wait in outboxes
    sched_dispatch_begin (self);
    while (sched_dispatch_next (self, now, &pick)) {
        sched_job_t *job =
            pick.job ? pick.job : sched_dispatch_cut (self, pick.part);
        if (!job)
            break;
        if (sched_wire_job (router, pick.worker, job, lease_ms, &pending) < 0) {
            dropped (arg, pick.worker); //  never one on pending
            continue;
        }
        sched_dispatch_sent (self, pick.worker, job, now, lease_ms);
        sent++;
    }
    sched_wire_flush (router, &pending, dropped, arg);
    return sent;
}

//  Begin a pass; see sched_dispatch.h.
void
sched_dispatch_begin (sched_dispatch_t *self)
{
    self->pass++;
    self->strangers_done = false;
}

//  The partition's first queued job that may go now, or NULL. A suspect
//  (its supervised holder died) waits for the report or its deadline
//  (sched_crash), whatever its not_before says.
static sched_job_t *
s_part_queued_job (sched_part_t *part, int64_t now)
{
    for (sched_job_t *job = part->jobs_head; job; job = job->next)
        if (job->queued && !job->suspect && job->not_before <= now &&
            !(part->fence.n &&
              sched_model_fencing (part, job->start, job->end)))
            return job;
    return NULL;
}

//  The join rule; see sched_dispatch.h.
bool
sched_dispatch_join_pays (const sched_dispatch_t *self,
                          const sched_part_t *part, int64_t lag, int64_t now)
{
    //  A time of 0 is "never measured", whatever the clock reads.
    double us = part->follow.work_us_per_off;
    if (!part->follow.work_seen_ms ||
        now - part->follow.work_seen_ms > SCHED_JOIN_FRESH_MS) {
        if (!self->work_seen_ms ||
            now - self->work_seen_ms > SCHED_JOIN_FRESH_MS)
            return true;
        us = self->work_us_per_off;
    }
    return (double)lag * us / 2 >= SCHED_JOIN_MIN_MS * 1000.0;
}

//  True if the worker's lane no longer reads on: empty, its partition has
//  nothing to cut, or its next job went elsewhere.
static bool
s_lane_free (const sched_lane_t *a)
{
    return !a->part || !sched_window_can_cut (a->part->window) ||
           sched_window_cut_offset (a->part->window) != a->next;
}

//  What the partition scan found for one worker (sched_dispatch.h's
//  partition rules, each candidate with the lag that ranks it).
typedef struct {
    sched_part_t *best, *starved, *fresh, *any;
    int64_t best_lag, fresh_lag, any_lag;
} s_scan_t;

//  Weigh one partition with work to cut for worker.
static void
s_scan_part (const sched_dispatch_t *self, s_scan_t *s,
             const sched_worker_t *worker, sched_part_t *part, int64_t now)
{
    //  Work not handed out yet: a partition whose jobs are all in flight
    //  has none, so equally lagging partitions take turns instead of the
    //  first one taking its whole window.
    int64_t cut = sched_window_cut_offset (part->window);
    int64_t lag = sched_window_hwm (part->window) - cut;
    int64_t waited = now - part->follow.last_dispatch_ms;
    if (waited > SCHED_DISPATCH_STARVED_MS &&
        (!s->starved ||
         part->follow.last_dispatch_ms < s->starved->follow.last_dispatch_ms))
        s->starved = part;
    bool followed = part->follow.worker && cut == part->follow.next;
    bool theirs = followed && part->follow.worker != worker;
    if (lag > s->best_lag && !theirs)
        s->best = part, s->best_lag = lag;
    if (lag > s->fresh_lag && !followed)
        s->fresh = part, s->fresh_lag = lag;
    if (lag > s->any_lag &&
        (!theirs || sched_dispatch_join_pays (self, part, lag, now)))
        s->any = part, s->any_lag = lag;
}

//  The partition to serve next for worker (sched_dispatch.h's rules), with
//  its queued job in *queued if it has one to send now.
static sched_part_t *
s_pick_part (sched_dispatch_t *self, sched_worker_t *worker, int64_t now,
             sched_job_t **queued)
{
    sched_model_t *m = self->model;
    s_scan_t s = {NULL, NULL, NULL, NULL, -1, -1, -1};
    sched_part_t *follow = NULL;
    bool room = false;
    *queued = NULL;
    for (uint32_t k = 0; k < worker->nlanes; k++) {
        sched_part_t *p = worker->lane[k].part;
        if (s_lane_free (&worker->lane[k]))
            room = true;
        else if (!follow || p->in_flight < follow->in_flight)
            follow = p;
    }
    size_t nparts;
    sched_part_t **parts = sched_model_parts (m, &nparts);
    for (size_t i = 0; i < nparts; i++) {
        sched_part_t *part = parts[i];
        sched_job_t *job = m->queued ? s_part_queued_job (part, now) : NULL;
        if (job) {
            *queued = job;
            return part;
        }
        if (sched_window_can_cut (part->window))
            s_scan_part (self, &s, worker, part, now);
    }
    if (s.starved)
        return s.starved;
    if (room && s.fresh)
        return s.fresh;
    return follow ? follow : s.best ? s.best : s.any;
}

//  True if the worker follows no partition: what s_pick_part finds for it
//  is what it finds for any such worker.
static bool
s_worker_stranger (const sched_worker_t *worker)
{
    for (uint32_t k = 0; k < worker->nlanes; k++)
        if (worker->lane[k].part &&
            worker->lane[k].part->follow.worker == worker)
            return false;
    return true;
}

//  The worker with the most credit (ties: the one served longest ago),
//  among those this pass has not found without work. Once one that
//  follows nothing found none, so would every other such worker: they are
//  skipped (with many idle workers and partitions, a scan each would cost
//  workers x partitions per pass).
static sched_worker_t *
s_pick_worker (sched_dispatch_t *self)
{
    sched_model_t *m = self->model;
    sched_worker_t *best = NULL;
    size_t nworkers;
    sched_worker_t **workers = sched_model_workers (m, &nworkers);
    for (size_t i = 0; i < nworkers; i++) {
        sched_worker_t *w = workers[i];
        if (w->credits > 0 && w->passed != self->pass &&
            w->roster_gen <= m->roster_acked &&
            !(self->strangers_done && s_worker_stranger (w)) &&
            (!best || w->credits > best->credits ||
             (w->credits == best->credits &&
              w->last_job_ms < best->last_job_ms)))
            best = w;
    }
    return best;
}

//  The next decision of this pass; see sched_dispatch.h.
bool
sched_dispatch_next (sched_dispatch_t *self, int64_t now, sched_pick_t *pick)
{
    sched_worker_t *worker;
    while ((worker = s_pick_worker (self))) {
        sched_job_t *job = NULL;
        sched_part_t *part = s_pick_part (self, worker, now, &job);
        if (part) {
            *pick = (sched_pick_t){worker, part, job};
            return true;
        }
        //  Nothing for this one (the rest is another worker's to follow,
        //  the join rule); the next may still have work.
        worker->passed = self->pass;
        self->strangers_done =
            self->strangers_done || s_worker_stranger (worker);
    }
    return false;
}

//  Cut and queue a new job; see sched_dispatch.h.
sched_job_t *
sched_dispatch_cut (sched_dispatch_t *self, sched_part_t *part)
{
    int64_t start, end;
    if (!sched_window_cut (part->window, &start, &end))
        return NULL;
    sched_job_t *job = sched_model_job_new (self->model, part, start, end, 1);
    if (job)
        sched_model_job_enqueue (self->model, job, 0);
    return job;
}

//  The worker's lane a job goes through (sched_dispatch.h's lane rule).
static sched_lane_t *
s_lane_for (sched_worker_t *worker, const sched_job_t *job)
{
    sched_lane_t *same = NULL, *free_ = NULL, *oldest = &worker->lane[0];
    for (uint32_t k = 0; k < worker->nlanes; k++) {
        sched_lane_t *a = &worker->lane[k];
        if (a->part == job->part && a->next == job->start)
            return a;
        if (a->part == job->part && !same)
            same = a;
        if (!free_ && s_lane_free (a))
            free_ = a;
        if (a->used_ms < oldest->used_ms)
            oldest = a;
    }
    return same ? same : free_ ? free_ : oldest;
}

//  A lane of the worker left part: unless another of its lanes still
//  reads there, the partition is no longer the worker's to follow (its
//  consumer has moved on: another worker taking the next job there reads
//  nothing twice).
static void
s_lane_left (sched_worker_t *worker, sched_part_t *part)
{
    if (!part || part->follow.worker != worker)
        return;
    for (uint32_t k = 0; k < worker->nlanes; k++)
        if (worker->lane[k].part == part)
            return;
    part->follow.worker = NULL;
}

//  Account a job sent; see sched_dispatch.h.
void
sched_dispatch_sent (sched_dispatch_t *self, sched_worker_t *worker,
                     sched_job_t *job, int64_t now, int64_t lease_ms)
{
    sched_model_job_held (self->model, job, worker, now, lease_ms);
    worker->credits--;
    worker->last_job_ms = now;
    if (!job->dead_letter) {
        //  A dead-letter copy reads one record where the lane is: the
        //  lane's place is unchanged.
        sched_lane_t *a = s_lane_for (worker, job);
        sched_part_t *left = a->part;
        a->part = job->part;
        a->next = job->end;
        a->used_ms = now;
        s_lane_left (worker, left);
        job->part->follow.worker = worker;
        job->part->follow.next = job->end;
    }
    job->part->follow.last_dispatch_ms = now;
}

//  Keep the join rule's measure; see sched_dispatch.h.
void
sched_dispatch_work_seen (sched_dispatch_t *self, sched_part_t *part,
                          double us_per_off, int64_t now)
{
    part->follow.work_us_per_off = us_per_off;
    part->follow.work_seen_ms = now;
    self->work_us_per_off = us_per_off;
    self->work_seen_ms = now;
}

//  Size a worker's lanes; see sched_dispatch.h.
void
sched_dispatch_lanes (sched_worker_t *worker, uint32_t lanes)
{
    //  One per executor lane: a --concurrency 4 worker reads on up
    //  to four partitions at once.
    lanes = lanes ? lanes : 1;
    worker->nlanes = lanes < SCHED_LANES_MAX ? lanes : SCHED_LANES_MAX;
    for (uint32_t k = worker->nlanes; k < SCHED_LANES_MAX; k++) {
        sched_part_t *left = worker->lane[k].part;
        worker->lane[k].part = NULL;
        s_lane_left (worker, left);
    }
}
