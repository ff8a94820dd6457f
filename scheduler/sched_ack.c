/*  sched_ack - the part of the scheduler's wiring (scheduler.c) that hears
    a job's end: a worker's DONE, and a range the state topic says is
    complete (--exactly-once, sched_eos). Both complete ranges in the
    window, drop the jobs they cover, and may end a drain; a failed DONE
    goes to the failure policy. Like scheduler.c it sees the whole
    scheduler (sched_state.h).
*/
#include "sched_ack.h"

#include <inttypes.h>
#include "sched_done.h"
#include "sched_state.h"
#include "sched_wire.h"
#include "sl_clock.h"
#include "sl_log.h"

//  See sched_ack.h.
bool
sched_ack_drain_finished (sched_state_t *self)
{
    bool commit_now = false;
    bool done = sched_drain_finished (
        &self->drain, sched_member_settled (&self->member), &commit_now);
    if (commit_now)
        sched_commit_run (&self->commit, self->member.rk, false);
    return done;
}

//  Drop queued or in-flight jobs whose range [start,end) just completed
//  through another job (a late DONE from a worker that lost its lease).
static void
s_drop_covered (sched_state_t *self, sched_part_t *part, int64_t start,
                int64_t end)
{
    sched_job_t *job = part->jobs_head;
    while (job) {
        sched_job_t *next = job->next;
        if (job->start >= start && job->end <= end) {
            if (job->worker)
                sched_wire_cancel (self->router, job,
                                   "range completed elsewhere");
            sched_model_job_forget (&self->model, job);
        }
        job = next;
    }
}

//  Account a successful DONE against the partition's window.
static void
s_done_ok (sched_state_t *self, sched_part_t *part, Sluice__Done *done)
{
    int64_t fresh =
        sched_window_complete (part->window, done->start, done->end);
    if (fresh < 0) {
        sl_warn ("DONE for a range never given out topic=%s partition=%d "
                 "start=%" PRId64 " end=%" PRId64,
                 part->topic, part->partition, done->start, done->end);
        return;
    }
    if (fresh == 0) {
        self->stats.done_duplicates++;
        return;
    }
    self->stats.records_done += (uint64_t)fresh;
    self->stats.records_processed += done->records;
    self->stats.records_rejected += done->rejected;
    self->stats.records_lost += done->lost;
    part->records_done += (uint64_t)fresh;
    for (size_t i = 0; i < done->n_lost_ranges; i++)
        sl_error ("records lost to retention topic=%s partition=%d "
                  "start=%" PRId64 " end=%" PRId64,
                  part->topic, part->partition, done->lost_ranges[i]->start,
                  done->lost_ranges[i]->end);
    s_drop_covered (self, part, done->start, done->end);
    sched_order_release (&self->order, part);
    //  Draining and this partition just reached its target: commit now
    //  rather than on the next tick, so the drain ends one commit round
    //  trip after its last DONE.
    if (self->cfg->drain && part->drain.target >= 0 &&
        sched_window_committed (part->window) >= part->drain.target)
        sched_ack_drain_finished (self);
}

//  A successful job's measures: its time, records, and the plugin's work
//  per offset (for the join rule).
static void
s_done_measure (sched_state_t *self, sched_part_t *part, sched_job_t *job,
                Sluice__Done *done, int64_t now)
{
    self->stats.jobs_done++;
    sched_stats_job_records (&self->stats, done->records);
    if (job) {
        int64_t ms = now - job->sent_ms;
        self->stats.job_ms_total += (uint64_t)ms;
        sched_stats_job_seconds (&self->stats, (double)ms / 1000.0);
    }
    if (done->end > done->start)
        sched_dispatch_work_seen (&self->dispatch, part,
                                  (double)(done->plugin_us + done->flush_us) /
                                      (double)(done->end - done->start),
                                  now);
}

//  See sched_ack.h.
void
sched_ack_done (sched_state_t *self, sched_worker_t *worker, Sluice__Done *done)
{
    int64_t now = sl_now_ms ();
    sched_job_t *job = sched_model_job_find (&self->model, done->job_id);
    sched_workers_credit (worker, done->credits);
    worker->jobs_done++;
    //  The job knows its partition; a stale id is judged by the range.
    sched_part_t *part = job && job->part->partition == done->partition &&
                                 streq (job->part->topic, done->topic)
                             ? job->part
                             : sched_model_part_find (&self->model, done->topic,
                                                      done->partition);
    if (!part) {
        sl_debug ("DONE for a partition not owned, ignored topic=%s "
                  "partition=%d",
                  done->topic, done->partition);
        return;
    }
    switch (sched_done_judge (job, part, worker, done->start, done->end)) {
        case SCHED_DONE_RANGE:
            job = NULL; //  a late DONE: judge by the range alone
            break;
        case SCHED_DONE_REFUSED:
            sl_warn ("DONE names a job of this worker with another range, "
                     "ignored worker=%s job=%" PRIu64 " start=%" PRId64
                     " end=%" PRId64 " job_start=%" PRId64 " job_end=%" PRId64,
                     worker->name, job->id, done->start, done->end, job->start,
                     job->end);
            return;
        case SCHED_DONE_JOB:
            break;
    }
    if (done->status == SLUICE__JOB_STATUS__JOB_STATUS_OK) {
        sched_failure_outage_over (&self->failure, now);
        s_done_measure (self, part, job, done, now);
        if (job)
            sched_model_job_forget (&self->model, job);
        s_done_ok (self, part, done);
        return;
    }
    if (!job)
        return;
    job->settled = true; //  its holder settled its transaction (sched_eos)
    if (done->fault == SLUICE__FAULT_CLASS__FAULT_CLASS_INFRA)
        sched_failure_outage (&self->failure, job, done->fault_side,
                              done->fault_code, done->fault_target, now);
    else
        sched_failure_job (
            &self->failure, job, *done->error ? done->error : "worker failed",
            done->fault != SLUICE__FAULT_CLASS__FAULT_CLASS_FENCED &&
                done->fault != SLUICE__FAULT_CLASS__FAULT_CLASS_SHARED,
            now);
}

//  See sched_ack.h.
void
sched_ack_range (void *arg, sched_part_t *part, int64_t start, int64_t end)
{
    sched_state_t *self = arg;
    Sluice__Done done = SLUICE__DONE__INIT;
    done.topic = part->topic;
    done.partition = part->partition;
    done.start = start;
    done.end = end;
    s_done_ok (self, part, &done);
}
