/*  scheduler - the sluice scheduler daemon. See scheduler.h.

    One thread runs a zloop over the ROUTER socket, a pipe that librdkafka
    writes to when the consumer queue has events (rebalances, commit
    results, statistics), and a few timers. ListOffsets requests, which
    block for a network round trip, run in a small actor thread
    (sched_offsets) so dispatch never waits on Kafka.
*/
#include "scheduler.h"

#include <czmq.h>
#include <inttypes.h>
#include <jansson.h>
#include <unistd.h>
#include "sched_idmap.h"
#include "sched_kafka.h"
#include "sched_state.h"
#include "sl_curve.h"
#include "sl_clock.h"
#include "sl_kafka.h"
#include "sl_log.h"
#include "sl_http.h"
#include "sl_proto.h"

#define SCHED_TICK_MS 50
/*  How often the end-offset query is considered (it runs only when due). */
#define SCHED_OFFSETS_MS 10
/*  Most messages taken from the ROUTER per wake-up.                      */
#define SCHED_RECV_BURST 256
/*  A partition another worker follows is joined only if that saves more
    than this: the joiner's first job pays a seek and a fetch. What was
    last measured there is trusted for SCHED_JOIN_FRESH_MS.              */
#define SCHED_JOIN_MIN_MS   25
#define SCHED_JOIN_FRESH_MS 1000

//  Worker key: the routing id as hex, in `key` (no allocation: this runs
//  for every message).
#define SCHED_KEY_MAX (2 * 255 + 1)
static const char *
s_worker_key (zframe_t *rid, char key[SCHED_KEY_MAX])
{
    static const char hex[] = "0123456789ABCDEF";
    const byte *data = zframe_data (rid);
    size_t size = zframe_size (rid);
    if (size > 255)
        size = 255;
    for (size_t i = 0; i < size; i++) {
        key[2 * i] = hex[data[i] >> 4];
        key[2 * i + 1] = hex[data[i] & 15];
    }
    key[2 * size] = 0;
    return key;
}

//  ---------------------------------------------------------------------
//  Partitions

//  Look up an owned partition.
sched_part_t *
sched_part_find (scheduler_t *self, const char *topic, int32_t partition)
{
    char key[300];
    snprintf (key, sizeof key, "%s:%" PRId32, topic, partition);
    return zhashx_lookup (self->parts, key);
}

//  Start owning a partition at `committed` with restored ranges.
sched_part_t *
sched_part_add (scheduler_t *self, const char *topic, int32_t partition,
                int64_t committed, const sl_range_t *restored, size_t n)
{
    sched_part_t *part = calloc (1, sizeof *part);
    if (!part)
        return NULL;
    part->topic = strdup (topic);
    part->partition = partition;
    //  The DLQ topic for its records: --dlq-topic, or "<topic>.dlq".
    if (self->cfg->dlq_topic && *self->cfg->dlq_topic)
        part->dlq_topic = strdup (self->cfg->dlq_topic);
    else if (asprintf (&part->dlq_topic, "%s.dlq", topic) < 0)
        part->dlq_topic = NULL;
    snprintf (part->key, sizeof part->key, "%s:%" PRId32, topic, partition);
    part->window = sched_window_new (committed, (int)self->cfg->window,
                                     self->cfg->job_records);
    part->drain_target = -1;
    part->acked_committed = -1;
    part->last_dispatch_ms = sl_now_ms ();
    if (!part->topic || !part->dlq_topic || !part->window) {
        sched_part_free (part);
        return NULL;
    }
    if (n && sched_window_restore (part->window, restored, n) != 0)
        sl_warn ("ignoring restored ranges topic=%s partition=%d", topic,
                 partition);
    zhashx_insert (self->parts, part->key, part);
    return part;
}

//  Free a partition record (its jobs must already be gone).
void
sched_part_free (sched_part_t *part)
{
    if (!part)
        return;
    sched_window_destroy (&part->window);
    free (part->topic);
    free (part->dlq_topic);
    free (part);
}

//  Stop owning a partition: drop its jobs (cancelling those in flight).
void
sched_part_remove (scheduler_t *self, sched_part_t *part)
{
    sched_job_t *job;
    while ((job = part->jobs_head)) {
        if (job->worker)
            sched_send_cancel (self, job, "partition revoked");
        sched_job_forget (self, job);
    }
    for (sched_worker_t *w = zhashx_first (self->workers); w;
         w = zhashx_next (self->workers))
        for (uint32_t k = 0; k < w->naff; k++)
            if (w->aff[k].part == part)
                w->aff[k].part = NULL;
    zhashx_delete (self->parts, part->key);
    sched_part_free (part);
}

//  ---------------------------------------------------------------------
//  Jobs

//  Make a job for [start, end) of part, not yet dispatched.
static sched_job_t *
s_job_new (scheduler_t *self, sched_part_t *part, int64_t start, int64_t end,
           uint32_t attempt)
{
    sched_job_t *job = calloc (1, sizeof *job);
    if (!job)
        return NULL;
    job->id = ++self->next_job_id;
    job->part = part;
    job->start = start;
    job->end = end;
    job->attempt = attempt;
    if (sched_idmap_insert (self->jobs, job) != 0) {
        free (job);
        return NULL;
    }
    job->prev = part->jobs_tail;
    if (part->jobs_tail)
        part->jobs_tail->next = job;
    else
        part->jobs_head = job;
    part->jobs_tail = job;
    return job;
}

//  Remove a job from every index and free it.
void
sched_job_forget (scheduler_t *self, sched_job_t *job)
{
    if (job->worker) {
        job->worker->in_flight--;
        job->part->in_flight--;
        self->in_flight--;
        job->worker = NULL;
    }
    if (job->queued)
        self->queued--;
    sched_part_t *part = job->part;
    if (job->prev)
        job->prev->next = job->next;
    else
        part->jobs_head = job->next;
    if (job->next)
        job->next->prev = job->prev;
    else
        part->jobs_tail = job->prev;
    sched_idmap_remove (self->jobs, job->id);
    free (job->reason);
    free (job);
}

//  Put a job (new or failed) on its partition's queue of jobs to send.
static void
s_job_enqueue (scheduler_t *self, sched_job_t *job, int64_t not_before)
{
    if (job->worker) {
        job->worker->in_flight--;
        job->part->in_flight--;
        self->in_flight--;
        job->worker = NULL;
    }
    job->not_before = not_before;
    job->started = false;
    if (!job->queued) {
        job->queued = true;
        self->queued++;
    }
}

//  A job failed `reason`: retry it, bisect it, or dead-letter it.
static void
s_job_failed (scheduler_t *self, sched_job_t *job, const char *reason,
              bool count_attempt)
{
    sched_part_t *part = job->part;
    if (!count_attempt) {
        s_job_enqueue (self, job, 0);
        return;
    }
    self->stats.jobs_failed++;
    char *copy = strdup (reason);
    if (copy) {
        free (job->reason);
        job->reason = copy;
    }
    if (job->dead_letter || (int64_t)job->attempt < self->cfg->max_attempts) {
        //  Dead-letter copies are retried with backoff: the record may
        //  not be dropped, so the only way forward is to copy it.
        int64_t backoff = job->dead_letter ? 1000LL * job->attempt : 0;
        if (backoff > 30000)
            backoff = 30000;
        job->attempt++;
        sl_warn ("job failed, retrying job=%" PRIu64
                 " topic=%s partition=%d start=%" PRId64 " end=%" PRId64
                 " attempt=%u reason=\"%s\"",
                 job->id, part->topic, part->partition, job->start, job->end,
                 job->attempt, reason);
        self->stats.jobs_retried++;
        s_job_enqueue (self, job, sl_now_ms () + backoff);
        return;
    }
    if (job->end - job->start == 1) {
        sl_warn ("offset keeps failing, dead-lettering topic=%s partition=%d "
                 "offset=%" PRId64 " attempts=%u reason=\"%s\"",
                 part->topic, part->partition, job->start, job->attempt,
                 reason);
        job->dead_letter = true;
        job->attempt++;
        self->stats.jobs_dead_lettered++;
        s_job_enqueue (self, job, 0);
        return;
    }
    int64_t mid = sched_window_bisect (part->window, job->start, job->end);
    if (mid < 0) {
        //  The range is no longer a pending entry (completed meanwhile).
        s_job_enqueue (self, job, 0);
        return;
    }
    sl_warn ("job keeps failing, bisecting topic=%s partition=%d start=%" PRId64
             " end=%" PRId64 " mid=%" PRId64 " reason=\"%s\"",
             part->topic, part->partition, job->start, job->end, mid, reason);
    self->stats.jobs_bisected++;
    //  Each half gets one try before it is split again, so a bad offset
    //  is found in log2(range) failures. A single offset, though, gets
    //  --max-attempts tries of its own before it is dead-lettered: that
    //  step cannot be undone, and a worker that died for another reason
    //  (killed, evicted, OOM) while holding an innocent record must not
    //  send it to the DLQ.
    uint32_t max = (uint32_t)self->cfg->max_attempts;
    sched_job_t *low = s_job_new (self, part, job->start, mid,
                                  mid - job->start == 1 ? 1 : max);
    sched_job_t *high =
        s_job_new (self, part, mid, job->end, job->end - mid == 1 ? 1 : max);
    if (low)
        s_job_enqueue (self, low, 0);
    if (high)
        s_job_enqueue (self, high, 0);
    sched_job_forget (self, job);
}

//  ---------------------------------------------------------------------
//  Workers

//  Free a worker record.
static void
s_worker_free (void **item)
{
    sched_worker_t *worker = *item;
    if (!worker)
        return;
    zframe_destroy (&worker->rid);
    free (worker->key);
    free (worker);
    *item = NULL;
}

//  Take back every job a worker holds.
static void
s_worker_reclaim (scheduler_t *self, sched_worker_t *worker, const char *reason,
                  bool count_attempt)
{
    zlistx_t *held = zlistx_new ();
    size_t cursor = 0;
    for (sched_job_t *job = sched_idmap_next (self->jobs, &cursor); job;
         job = sched_idmap_next (self->jobs, &cursor))
        if (job->worker == worker)
            zlistx_add_end (held, job);
    //  Only a job the worker had started can be blamed for its death; the
    //  ones waiting behind it go back without losing an attempt.
    for (sched_job_t *job = zlistx_first (held); job; job = zlistx_next (held))
        s_job_failed (self, job, reason, count_attempt && job->started);
    zlistx_destroy (&held);
}

//  Forget a worker: its jobs go back to the queue.
static void
s_worker_drop (scheduler_t *self, sched_worker_t *worker, const char *reason,
               bool count_attempt)
{
    sl_info ("worker gone worker=%s reason=\"%s\" jobs=%u", worker->name,
             reason, worker->in_flight);
    s_worker_reclaim (self, worker, reason, count_attempt);
    for (sched_part_t *part = zhashx_first (self->parts); part;
         part = zhashx_next (self->parts))
        if (part->follower == worker)
            part->follower = NULL;
    zhashx_delete (self->workers, worker->key);
}

//  ---------------------------------------------------------------------
//  Dispatch

//  True if part has something to send now: a queued job or room to cut.
static sched_job_t *
s_part_queued_job (sched_part_t *part, int64_t now)
{
    for (sched_job_t *job = part->jobs_head; job; job = job->next)
        if (job->queued && job->not_before <= now)
            return job;
    return NULL;
}

//  True if a second worker on a partition another worker follows would
//  get its `lag` records done sooner. Two workers taking turns on a
//  partition each read all of it: the follower has fetched ahead of its
//  jobs, and both read on through the other's jobs rather than seek
//  (s_read_on in the worker). So all a joiner takes over is half the
//  plugin's work (and its output's acks); fetching, the whole cost of a
//  noop drain, is not shared, only doubled. Joining pays when that half
//  is worth a seek and a fetch. Without a recent measure on the partition
//  the one of any partition stands in (every worker runs the same plugin);
//  without any, joining is assumed to pay.
static bool
s_join_pays (scheduler_t *self, const sched_part_t *part, int64_t lag,
             int64_t now)
{
    double us = part->work_us_per_off;
    if (now - part->work_seen_ms > SCHED_JOIN_FRESH_MS) {
        if (now - self->work_seen_ms > SCHED_JOIN_FRESH_MS)
            return true;
        us = self->work_us_per_off;
    }
    return (double)lag * us / 2 >= SCHED_JOIN_MIN_MS * 1000.0;
}

//  True if the worker's slot no longer reads on: empty, its partition has
//  nothing to cut, or its next job went elsewhere.
static bool
s_aff_free (const sched_aff_t *a)
{
    return !a->part || !sched_window_can_cut (a->part->window) ||
           sched_window_cut_offset (a->part->window) != a->next;
}

//  Pick the partition to serve next for `worker`: queued retries first;
//  then one that waited more than a second with work to do (so none
//  starves); then, if one of the worker's lanes reads on nothing, a
//  partition nobody follows (so --concurrency lanes each read their own);
//  then a partition whose next job starts where one of the worker's last
//  jobs ended (it reads on without a seek; of several, the one with the
//  fewest jobs in flight, whose lane just finished); then the one with the
//  most records not yet handed out, among those no other worker is
//  following (taking another worker's next job makes both read the same
//  records: the one that loses it has often fetched them already); then
//  any that its follower would not finish soon on its own (s_join_pays).
static sched_part_t *
s_pick_part (scheduler_t *self, sched_worker_t *worker, int64_t now,
             sched_job_t **queued)
{
    sched_part_t *best = NULL, *starved = NULL, *follow = NULL, *any = NULL;
    sched_part_t *fresh = NULL;
    int64_t best_lag = -1, any_lag = -1, fresh_lag = -1;
    bool room = false;
    *queued = NULL;
    for (uint32_t k = 0; k < worker->naff; k++) {
        sched_part_t *p = worker->aff[k].part;
        if (s_aff_free (&worker->aff[k]))
            room = true;
        else if (!follow || p->in_flight < follow->in_flight)
            follow = p;
    }
    for (sched_part_t *part = zhashx_first (self->parts); part;
         part = zhashx_next (self->parts)) {
        sched_job_t *job = self->queued ? s_part_queued_job (part, now) : NULL;
        if (job) {
            *queued = job;
            return part;
        }
        if (!sched_window_can_cut (part->window))
            continue;
        //  Work not handed out yet: a partition whose jobs are all in
        //  flight has none, so equally lagging partitions take turns
        //  instead of the first one taking its whole window.
        int64_t cut = sched_window_cut_offset (part->window);
        int64_t lag = sched_window_hwm (part->window) - cut;
        if (now - part->last_dispatch_ms > 1000 &&
            (!starved || part->last_dispatch_ms < starved->last_dispatch_ms))
            starved = part;
        bool followed = part->follower && cut == part->follow_next;
        bool theirs = followed && part->follower != worker;
        if (lag > best_lag && !theirs)
            best = part, best_lag = lag;
        if (lag > fresh_lag && !followed)
            fresh = part, fresh_lag = lag;
        if (lag > any_lag && (!theirs || s_join_pays (self, part, lag, now)))
            any = part, any_lag = lag;
    }
    if (starved)
        return starved;
    if (room && fresh)
        return fresh;
    return follow ? follow : best ? best : any;
}

//  True if the worker follows no partition: what s_pick_part finds for it
//  is what it finds for any such worker.
static bool
s_worker_stranger (const sched_worker_t *worker)
{
    for (uint32_t k = 0; k < worker->naff; k++)
        if (worker->aff[k].part && worker->aff[k].part->follower == worker)
            return false;
    return true;
}

//  The worker with the most credit (ties: the one served longest ago),
//  among those this dispatch pass has not found without work. Once one
//  that follows nothing found none, so would every other such worker:
//  they are skipped (with many idle workers and partitions, a scan each
//  would cost workers x partitions per pass).
static sched_worker_t *
s_pick_worker (scheduler_t *self, bool strangers_done)
{
    sched_worker_t *best = NULL;
    for (sched_worker_t *w = zhashx_first (self->workers); w;
         w = zhashx_next (self->workers))
        if (w->credits > 0 && w->passed != self->dispatch_pass &&
            !(strangers_done && s_worker_stranger (w)) &&
            (!best || w->credits > best->credits ||
             (w->credits == best->credits &&
              w->last_job_ms < best->last_job_ms)))
            best = w;
    return best;
}

//  The worker's slot a job goes through: the one whose last job ended
//  where it starts, else one on its partition, else one that reads on
//  nothing, else the one used longest ago.
static sched_aff_t *
s_aff_slot (sched_worker_t *worker, const sched_job_t *job)
{
    sched_aff_t *same = NULL, *free_ = NULL, *oldest = &worker->aff[0];
    for (uint32_t k = 0; k < worker->naff; k++) {
        sched_aff_t *a = &worker->aff[k];
        if (a->part == job->part && a->next == job->start)
            return a;
        if (a->part == job->part && !same)
            same = a;
        if (!free_ && s_aff_free (a))
            free_ = a;
        if (a->used_ms < oldest->used_ms)
            oldest = a;
    }
    return same ? same : free_ ? free_ : oldest;
}

//  A slot of the worker left part: unless another of its slots still
//  reads there, the partition is no longer the worker's to follow (its
//  consumer has moved on: another worker taking the next job there reads
//  nothing twice).
static void
s_aff_left (sched_worker_t *worker, sched_part_t *part)
{
    if (!part || part->follower != worker)
        return;
    for (uint32_t k = 0; k < worker->naff; k++)
        if (worker->aff[k].part == part)
            return;
    part->follower = NULL;
}

//  True once a --drain scheduler may exit: the drain is finished and, with
//  --drain-linger-ms, that long has passed since, or --drain-linger-workers
//  distinct workers have been told. Lingering, it has told every worker the
//  drain is finished and answers each HELLO so (a worker that starts late,
//  on an empty drain say, exits 0 instead of waiting for a scheduler that
//  is gone until its --drain-wait-ms). The chart's drain Jobs know how
//  many worker pods there are: once each was told, nobody is left to wait
//  for, and the Jobs complete seconds after the last commit instead of
//  after the whole linger.
static void s_bye_all (scheduler_t *self, bool finished);
static bool
s_drain_over (scheduler_t *self, int64_t now)
{
    if (!self->cfg->drain || !sched_drain_finished (self))
        return false;
    if (self->cfg->drain_linger_ms <= 0)
        return true;
    if (!self->linger_until) {
        self->linger_until = now + self->cfg->drain_linger_ms;
        if (self->cfg->drain_linger_workers > 0)
            sl_info (
                "drain finished, telling workers that come late for %" PRId64
                " ms (--drain-linger-ms) or until %" PRId64
                " have been told (--drain-linger-workers)",
                self->cfg->drain_linger_ms, self->cfg->drain_linger_workers);
        else
            sl_info (
                "drain finished, telling workers that come late for %" PRId64
                " ms (--drain-linger-ms)",
                self->cfg->drain_linger_ms);
        s_bye_all (self, true);
    }
    return now >= self->linger_until;
}

//  A worker was told the drain is finished. With --drain-linger-workers,
//  the linger ends once that many distinct workers were.
static void
s_told_finished (scheduler_t *self, const char *name)
{
    int64_t want = self->cfg->drain_linger_workers;
    if (want <= 0 || !self->linger_until)
        return;
    if (!self->told_finished) {
        self->told_finished = zhashx_new ();
        if (!self->told_finished)
            return;
    }
    zhashx_insert (self->told_finished, name, (void *)1);
    int64_t told = (int64_t)zhashx_size (self->told_finished);
    int64_t now = sl_now_ms ();
    if (told >= want && self->linger_until > now) {
        sl_info ("told %" PRId64 " workers the drain is finished "
                 "(--drain-linger-workers): not lingering longer",
                 told);
        self->linger_until = now;
    }
}

//  Send one job to a worker.
static int
s_send_job (scheduler_t *self, sched_worker_t *worker, sched_job_t *job,
            int64_t now)
{
    Sluice__Job msg = SLUICE__JOB__INIT;
    msg.job_id = job->id;
    msg.topic = job->part->topic;
    msg.partition = job->part->partition;
    msg.start = job->start;
    msg.end = job->end;
    msg.attempt = job->attempt;
    msg.mode = job->dead_letter ? SLUICE__JOB_MODE__JOB_MODE_DEAD_LETTER
                                : SLUICE__JOB_MODE__JOB_MODE_PROCESS;
    msg.dlq_topic = job->part->dlq_topic;
    msg.reason = job->reason ? job->reason : "";
    msg.lease_ms = (uint32_t)self->cfg->job_timeout_ms;
    if (sl_proto_send (self->router, worker->rid, SLUICE__ENVELOPE__BODY_JOB,
                       &msg) != 0)
        return -1;
    job->queued = false;
    self->queued--;
    job->worker = worker;
    job->sent_ms = now;
    job->deadline_ms = now + self->cfg->job_timeout_ms;
    worker->credits--;
    worker->in_flight++;
    worker->last_job_ms = now;
    if (!job->dead_letter) {
        sched_aff_t *a = s_aff_slot (worker, job);
        sched_part_t *left = a->part;
        a->part = job->part;
        a->next = job->end;
        a->used_ms = now;
        s_aff_left (worker, left);
        job->part->follower = worker;
        job->part->follow_next = job->end;
    }
    job->part->in_flight++;
    job->part->last_dispatch_ms = now;
    self->in_flight++;
    self->stats.jobs_sent++;
    return 0;
}

//  Hand out jobs while some worker has credit and some partition has work.
void
sched_dispatch (scheduler_t *self)
{
    int64_t now = sl_now_ms ();
    self->dispatch_pass++;
    bool strangers_done = false;
    while (true) {
        sched_worker_t *worker = s_pick_worker (self, strangers_done);
        if (!worker)
            return;
        sched_job_t *job = NULL;
        sched_part_t *part = s_pick_part (self, worker, now, &job);
        if (!part) {
            //  Nothing for this one (the rest is another worker's to
            //  follow, s_join_pays); the next may still have work.
            worker->passed = self->dispatch_pass;
            strangers_done = strangers_done || s_worker_stranger (worker);
            continue;
        }
        if (!job) {
            int64_t start, end;
            if (!sched_window_cut (part->window, &start, &end))
                return;
            job = s_job_new (self, part, start, end, 1);
            if (!job)
                return;
            s_job_enqueue (self, job, 0);
        }
        if (s_send_job (self, worker, job, now) != 0) {
            sl_warn ("cannot send job, dropping worker worker=%s",
                     worker->name);
            s_worker_drop (self, worker, "send failed", false);
        }
    }
}

//  ---------------------------------------------------------------------
//  Messages from workers

//  Tell a job's holder to stop working on it.
void
sched_send_cancel (scheduler_t *self, sched_job_t *job, const char *reason)
{
    Sluice__Cancel msg = SLUICE__CANCEL__INIT;
    msg.job_id = job->id;
    msg.reason = (char *)reason;
    sl_proto_send (self->router, job->worker->rid,
                   SLUICE__ENVELOPE__BODY_CANCEL, &msg);
}

//  Tell a peer to go away or to announce itself again.
static void
s_send_bye (scheduler_t *self, zframe_t *rid, const char *reason, bool rehello,
            bool finished)
{
    Sluice__Bye msg = SLUICE__BYE__INIT;
    msg.reason = (char *)reason;
    msg.rehello = rehello;
    msg.finished = finished;
    sl_proto_send (self->router, rid, SLUICE__ENVELOPE__BODY_BYE, &msg);
}

//  HELLO: a worker (re)announces itself with its credit.
static void
s_on_hello (scheduler_t *self, zframe_t *rid, const char *key,
            Sluice__Hello *hello)
{
    if (self->linger_until) {
        //  The drain is over (--drain-linger-ms): nothing to hand out.
        s_send_bye (self, rid, "drain finished", false, true);
        s_told_finished (self, *hello->worker_id ? hello->worker_id : key);
        return;
    }
    sched_worker_t *worker = zhashx_lookup (self->workers, key);
    if (worker) {
        //  It forgot its jobs (it lost us for a while): take them back.
        s_worker_reclaim (self, worker, "worker re-announced", false);
    } else {
        if ((int64_t)zhashx_size (self->workers) >= self->cfg->max_workers) {
            //  Bounded state: a flood of HELLOs (or a fleet larger than
            //  planned) cannot grow the table without end. Said once a
            //  second at most.
            self->hellos_refused++;
            int64_t now = sl_now_ms ();
            if (now - self->refused_log_ms >= 1000) {
                self->refused_log_ms = now;
                sl_warn ("too many workers, HELLO refused max_workers=%" PRId64
                         " refused_total=%" PRIu64 " worker=%s",
                         self->cfg->max_workers, self->hellos_refused,
                         *hello->worker_id ? hello->worker_id : key);
            }
            s_send_bye (self, rid, "too many workers", false, false);
            return;
        }
        worker = calloc (1, sizeof *worker);
        if (!worker)
            return;
        worker->rid = zframe_dup (rid);
        worker->key = strdup (key);
        if (!worker->rid || !worker->key) {
            zframe_destroy (&worker->rid);
            free (worker->key);
            free (worker);
            return;
        }
        zhashx_insert (self->workers, worker->key, worker);
    }
    snprintf (worker->name, sizeof worker->name, "%.*s",
              (int)sizeof worker->name - 1,
              *hello->worker_id ? hello->worker_id : key);
    snprintf (worker->plugin, sizeof worker->plugin, "%s", hello->plugin);
    worker->credits = hello->credits;
    //  One slot per executor lane: a --concurrency 4 worker reads on up
    //  to four partitions at once.
    uint32_t lanes = hello->lanes ? hello->lanes : 1;
    worker->naff = lanes < SCHED_AFF_MAX ? lanes : SCHED_AFF_MAX;
    for (uint32_t k = worker->naff; k < SCHED_AFF_MAX; k++) {
        sched_part_t *left = worker->aff[k].part;
        worker->aff[k].part = NULL;
        s_aff_left (worker, left);
    }
    worker->last_seen_ms = sl_now_ms ();
    sl_info ("worker joined worker=%s credits=%u plugin=%s", worker->name,
             hello->credits, worker->plugin);
}

//  Drop queued or in-flight jobs whose range [start,end) just completed
//  through another job (a late DONE from a worker that lost its lease).
static void
s_drop_covered (scheduler_t *self, sched_part_t *part, int64_t start,
                int64_t end)
{
    sched_job_t *job = part->jobs_head;
    while (job) {
        sched_job_t *next = job->next;
        if (job->start >= start && job->end <= end) {
            if (job->worker)
                sched_send_cancel (self, job, "range completed elsewhere");
            sched_job_forget (self, job);
        }
        job = next;
    }
}

//  Account a successful DONE against the partition's window.
static void
s_done_ok (scheduler_t *self, sched_part_t *part, Sluice__Done *done)
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
    //  Draining and this partition just reached its target: commit now
    //  (sched_drain_finished does) rather than on the next tick, so the
    //  drain ends one commit round trip after its last DONE.
    if (self->cfg->drain && part->drain_target >= 0 &&
        sched_window_committed (part->window) >= part->drain_target)
        sched_drain_finished (self);
}

//  DONE: a job ended; credit comes back with it.
static void
s_on_done (scheduler_t *self, sched_worker_t *worker, Sluice__Done *done)
{
    sched_job_t *job = sched_idmap_lookup (self->jobs, done->job_id);
    worker->credits += done->credits;
    worker->jobs_done++;
    //  The job knows its partition; a stale id is judged by the range.
    sched_part_t *part =
        job && job->part->partition == done->partition &&
                streq (job->part->topic, done->topic)
            ? job->part
            : sched_part_find (self, done->topic, done->partition);
    if (!part) {
        sl_debug ("DONE for a partition not owned, ignored topic=%s "
                  "partition=%d",
                  done->topic, done->partition);
        return;
    }
    if (job && (job->part != part || job->worker != worker))
        job = NULL; //  a stale id: judge by the range alone
    if (done->status == SLUICE__JOB_STATUS__JOB_STATUS_OK) {
        self->stats.jobs_done++;
        sched_metrics_job_records (self, done->records);
        if (job) {
            int64_t ms = sl_now_ms () - job->sent_ms;
            self->stats.job_ms_total += (uint64_t)ms;
            sched_metrics_job_seconds (self, (double)ms / 1000.0);
            sched_job_forget (self, job);
        }
        if (done->end > done->start) {
            part->work_us_per_off = (double)(done->plugin_us + done->flush_us) /
                                    (double)(done->end - done->start);
            part->work_seen_ms = sl_now_ms ();
            self->work_us_per_off = part->work_us_per_off;
            self->work_seen_ms = part->work_seen_ms;
        }
        s_done_ok (self, part, done);
    } else if (job)
        s_job_failed (self, job, *done->error ? done->error : "worker failed",
                      true);
}

//  RETURN: the worker gives a job back unfinished (it is shutting down).
static void
s_on_return (scheduler_t *self, sched_worker_t *worker, Sluice__Return *ret)
{
    sched_job_t *job = sched_idmap_lookup (self->jobs, ret->job_id);
    if (job && job->worker == worker) {
        sl_info ("job returned job=%" PRIu64 " worker=%s reason=\"%s\"",
                 job->id, worker->name, ret->reason);
        s_job_enqueue (self, job, 0);
    }
}

//  PROGRESS: extend the lease of a long job.
static void
s_on_progress (scheduler_t *self, sched_worker_t *worker,
               Sluice__Progress *progress)
{
    sched_job_t *job = sched_idmap_lookup (self->jobs, progress->job_id);
    if (job && job->worker == worker) {
        job->started = true;
        job->deadline_ms = sl_now_ms () + self->cfg->job_timeout_ms;
    }
}

//  Dispatch one decoded message from a known worker.
static void
s_on_worker_msg (scheduler_t *self, sched_worker_t *worker, sl_msg_t *msg)
{
    worker->last_seen_ms = sl_now_ms ();
    switch (msg->body_case) {
        case SLUICE__ENVELOPE__BODY_CREDIT:
            worker->credits += msg->credit->credits;
            if (worker->credits > SL_PROTO_MAX_CREDITS)
                worker->credits = SL_PROTO_MAX_CREDITS;
            break;
        case SLUICE__ENVELOPE__BODY_DONE:
            s_on_done (self, worker, msg->done);
            break;
        case SLUICE__ENVELOPE__BODY_RET:
            s_on_return (self, worker, msg->ret);
            break;
        case SLUICE__ENVELOPE__BODY_PROGRESS:
            s_on_progress (self, worker, msg->progress);
            break;
        case SLUICE__ENVELOPE__BODY_BYE:
            s_worker_drop (self, worker, "worker said bye", false);
            break;
        case SLUICE__ENVELOPE__BODY_HEARTBEAT:
            break;
        default:
            sl_warn ("unexpected message from worker, dropping it worker=%s "
                     "message=%s",
                     worker->name, sl_proto_name (msg->body_case));
            s_worker_drop (self, worker, "protocol error", false);
    }
}

//  One message from a worker or a status client, if one is waiting.
//  Returns false if none was.
static bool
s_router_recv (scheduler_t *self)
{
    char err[256];
    zframe_t *rid = NULL;
    sl_msg_t *msg = sl_proto_try_recv (self->router, &rid, err, sizeof err);
    if (!rid) {
        sl_proto_free (&msg);
        return false;
    }
    char keybuf[SCHED_KEY_MAX];
    const char *key = s_worker_key (rid, keybuf);
    sched_worker_t *worker = zhashx_lookup (self->workers, key);
    if (!msg) {
        sl_warn ("bad message, dropping peer peer=%s reason=\"%s\"",
                 worker ? worker->name : key, err);
        if (worker)
            s_worker_drop (self, worker, "protocol error", false);
        s_send_bye (self, rid, err, false, false);
    } else if (msg->body_case == SLUICE__ENVELOPE__BODY_HELLO)
        s_on_hello (self, rid, key, msg->hello);
    else if (msg->body_case == SLUICE__ENVELOPE__BODY_STATUS_REQUEST) {
        sched_send_status (self, rid);
    } else if (!worker) {
        //  A worker of a previous incarnation, or one we dropped.
        s_send_bye (self, rid, "unknown worker: say HELLO", true, false);
    } else {
        s_on_worker_msg (self, worker, msg);
    }
    sl_proto_free (&msg);
    zframe_destroy (&rid);
    return true;
}

//  ROUTER readable: take every message waiting (up to a bound, so timers
//  still run under a flood), dispatch once, and look again: replies to
//  what was just sent may be there already. One poll and one dispatch
//  pass per burst instead of per message: at high credit most of the
//  scheduler's time went to poll() wake-ups, and the jobs of one pass
//  leave in the same TCP segments.
static int
s_on_router (zloop_t *loop, zsock_t *reader, void *arg)
{
    scheduler_t *self = arg;
    int taken = 0;
    while (taken < SCHED_RECV_BURST) {
        int got = 0;
        while (taken < SCHED_RECV_BURST && s_router_recv (self))
            taken++, got++;
        if (got == 0)
            break;
        sched_dispatch (self);
    }
    return 0;
}

//  ---------------------------------------------------------------------
//  Timers

//  Send heartbeats; drop workers that went silent.
static int
s_on_heartbeat (zloop_t *loop, int timer_id, void *arg)
{
    scheduler_t *self = arg;
    int64_t now = sl_now_ms ();
    int64_t limit = self->cfg->heartbeat_ms * self->cfg->liveness;
    zlistx_t *dead = zlistx_new ();
    Sluice__Heartbeat hb = SLUICE__HEARTBEAT__INIT;
    for (sched_worker_t *w = zhashx_first (self->workers); w;
         w = zhashx_next (self->workers)) {
        if (now - w->last_seen_ms > limit)
            zlistx_add_end (dead, w);
        else
            sl_proto_send (self->router, w->rid,
                           SLUICE__ENVELOPE__BODY_HEARTBEAT, &hb);
    }
    for (sched_worker_t *w = zlistx_first (dead); w; w = zlistx_next (dead))
        s_worker_drop (self, w, "missed heartbeats", true);
    zlistx_destroy (&dead);
    sched_dispatch (self);
    return 0;
}

//  Take back jobs whose lease expired. Deadlines only move later (a new
//  lease or a PROGRESS runs from now), so the earliest one seen in a walk
//  bounds when the next walk can find anything: holding tens of thousands
//  of jobs costs one walk per lease, not one per tick.
static void
s_check_leases (scheduler_t *self, int64_t now)
{
    if (now <= self->lease_check_ms)
        return;
    int64_t next = now + self->cfg->job_timeout_ms;
    zlistx_t *expired = zlistx_new ();
    size_t cursor = 0;
    for (sched_job_t *job = sched_idmap_next (self->jobs, &cursor); job;
         job = sched_idmap_next (self->jobs, &cursor)) {
        if (!job->worker || !job->started)
            continue;
        if (now > job->deadline_ms)
            zlistx_add_end (expired, job);
        else if (job->deadline_ms < next)
            next = job->deadline_ms;
    }
    self->lease_check_ms = next;
    for (sched_job_t *job = zlistx_first (expired); job;
         job = zlistx_next (expired)) {
        char reason[96];
        snprintf (reason, sizeof reason, "lease expired after %" PRId64 " ms",
                  self->cfg->job_timeout_ms);
        self->stats.jobs_expired++;
        sched_send_cancel (self, job, reason);
        s_job_failed (self, job, reason, true);
    }
    zlistx_destroy (&expired);
}

//  The periodic tick: leases, Kafka events, offsets, drain.
static int
s_on_tick (zloop_t *loop, int timer_id, void *arg)
{
    scheduler_t *self = arg;
    int64_t now = sl_now_ms ();
    s_check_leases (self, now);
    sched_kafka_poll (self);
    sched_offsets_maybe_query (self, now);
    sched_dispatch (self);
    sched_rate_update (self, now);
    sched_progress (self, now, false);
    if (self->http) {
        sl_http_beat (self->http);
        if (now >= self->metrics_next_ms) {
            self->metrics_next_ms = now + 500;
            sched_metrics_publish (self);
        }
    }
    if (self->fatal)
        return -1;
    if (s_drain_over (self, sl_now_ms ()))
        return -1;
    return 0;
}

//  Ask for end offsets if due: often while a partition waits for data.
static int
s_on_offsets_tick (zloop_t *loop, int timer_id, void *arg)
{
    sched_offsets_maybe_query (arg, sl_now_ms ());
    return 0;
}

//  Commit the completed prefixes.
static int
s_on_commit (zloop_t *loop, int timer_id, void *arg)
{
    sched_commit (arg, false);
    return 0;
}

//  The offsets actor answered.
static int
s_on_offsets (zloop_t *loop, zsock_t *reader, void *arg)
{
    scheduler_t *self = arg;
    sched_offsets_recv (self);
    sched_dispatch (self);
    return 0;
}

//  librdkafka has consumer events.
static int
s_on_kafka (zloop_t *loop, zmq_pollitem_t *item, void *arg)
{
    scheduler_t *self = arg;
    char buf[64];
    while (read (self->kafka_pipe[0], buf, sizeof buf) > 0)
        ;
    sched_kafka_poll (self);
    sched_dispatch (self);
    if (self->fatal)
        return -1;
    //  A commit result may be the last thing a drain waits for.
    if (s_drain_over (self, sl_now_ms ()))
        return -1;
    return 0;
}

//  ---------------------------------------------------------------------
//  Lifecycle

//  Create the scheduler.
scheduler_t *
scheduler_new (const sched_config_t *cfg, char *err, size_t errlen)
{
    scheduler_t *self = calloc (1, sizeof *self);
    if (!self) {
        snprintf (err, errlen, "out of memory");
        return NULL;
    }
    self->cfg = cfg;
    sched_metrics_init (self);
    self->kafka_pipe[0] = self->kafka_pipe[1] = -1;
    self->parts = zhashx_new ();
    self->jobs = sched_idmap_new (offsetof (sched_job_t, id));
    self->workers = zhashx_new ();
    zhashx_set_destructor (self->workers, s_worker_free);
    self->started_ms = sl_now_ms ();
    self->router = zsock_new (ZMQ_ROUTER);
    if (!self->parts || !self->jobs || !self->workers || !self->router) {
        snprintf (err, errlen, "out of memory");
        goto fail;
    }
    //  What a worker sends is small (HELLO, DONE with at most 16 lost
    //  ranges, heartbeats): a peer that sends more than SL_PROTO_MAX_INBOUND
    //  in one frame is disconnected by libzmq, and each peer's queue holds
    //  at most 1000 messages before TCP pushes back, so no peer can make
    //  us buffer without bound.
    zsock_set_maxmsgsize (self->router, SL_PROTO_MAX_INBOUND);
    zsock_set_sndhwm (self->router, 100000);
    zsock_set_rcvhwm (self->router, 1000);
    //  The BYEs sent just before the socket closes (the drain finished,
    //  the scheduler stops) must get out: czmq's default linger is 0.
    zsock_set_linger (self->router, 2000);
    if (cfg->curve_cert && *cfg->curve_cert) {
        if (sl_curve_server (self->router, cfg->curve_cert,
                             cfg->curve_clients_dir, cfg->curve_allow_any,
                             &self->auth, err, errlen) != 0)
            goto fail;
        self->monitor = sl_curve_monitor_new (self->router);
    } else if ((cfg->curve_clients_dir && *cfg->curve_clients_dir) ||
               cfg->curve_allow_any) {
        snprintf (err, errlen,
                  "--curve-clients-dir and --curve-allow-any need "
                  "--curve-cert, the scheduler's own keypair");
        goto fail;
    }
    if (zsock_bind (self->router, "%s", cfg->bind) < 0) {
        snprintf (err, errlen,
                  "cannot bind %s: %s; pass --bind tcp://HOST:PORT with a "
                  "free port",
                  cfg->bind, zmq_strerror (zmq_errno ()));
        goto fail;
    }
    self->endpoint = zsock_last_endpoint (self->router);
    if (cfg->metrics_addr && *cfg->metrics_addr) {
        self->http = sl_http_new (cfg->metrics_addr, err, errlen);
        if (!self->http)
            goto fail;
        sl_info ("metrics listening addr=%s port=%d", cfg->metrics_addr,
                 sl_http_port (self->http));
    }
    if (sched_kafka_start (self, err, errlen) != 0)
        goto fail;
    return self;
fail:
    scheduler_destroy (&self);
    return NULL;
}

//  A CURVE handshake event: log refusals.
static int
s_on_monitor (zloop_t *loop, zsock_t *reader, void *arg)
{
    scheduler_t *self = arg;
    sl_curve_monitor_log (self->monitor, "scheduler");
    return 0;
}

//  Run the loop.
int
scheduler_run (scheduler_t *self)
{
    zloop_t *loop = zloop_new ();
    self->loop = loop;
    zloop_reader (loop, self->router, s_on_router, self);
    if (self->monitor)
        zloop_reader (loop, zactor_sock (self->monitor), s_on_monitor, self);
    zloop_reader (loop, zactor_sock (self->offsets), s_on_offsets, self);
    zmq_pollitem_t item = {NULL, self->kafka_pipe[0], ZMQ_POLLIN, 0};
    zloop_poller (loop, &item, s_on_kafka, self);
    zloop_timer (loop, SCHED_TICK_MS, 0, s_on_tick, self);
    zloop_timer (loop, SCHED_OFFSETS_MS, 0, s_on_offsets_tick, self);
    zloop_timer (loop, (size_t)self->cfg->heartbeat_ms, 0, s_on_heartbeat,
                 self);
    zloop_timer (loop, (size_t)self->cfg->commit_interval_ms, 0, s_on_commit,
                 self);
    sl_info ("scheduler started endpoint=%s group=%s drain=%s", self->endpoint,
             self->cfg->group, self->cfg->drain ? "yes" : "no");
    zloop_start (loop);
    zloop_destroy (&loop);
    self->loop = NULL;
    bool drained = self->cfg->drain && sched_drain_finished (self);
    if (self->fatal)
        return self->fatal_setup ? 2 : 1;
    if (self->cfg->drain && !drained) {
        sl_warn ("drain interrupted before it finished");
        return 1;
    }
    return 0;
}

//  Say BYE to every worker.
static void
s_bye_all (scheduler_t *self, bool finished)
{
    for (sched_worker_t *w = zhashx_first (self->workers); w;
         w = zhashx_next (self->workers)) {
        s_send_bye (self, w->rid,
                    finished ? "drain finished" : "scheduler stopping", false,
                    finished);
        if (finished)
            s_told_finished (self, *w->name ? w->name : w->key);
    }
}

//  Destroy the scheduler.
void
scheduler_destroy (scheduler_t **self_p)
{
    scheduler_t *self = *self_p;
    if (!self)
        return;
    bool finished = self->cfg->drain && self->drain_done;
    if (self->rk)
        sched_progress (self, sl_now_ms (), true);
    if (self->router && self->workers) {
        //  czmq's sockets linger 0: closed right after, the router would
        //  drop BYEs still queued, and the workers of a finished drain
        //  would not learn it (test_read_on's --drain workers once waited
        //  for a scheduler that had exited). Up to a second to send them.
        zsock_set_linger (self->router, 1000);
        s_bye_all (self, finished);
    }
    sched_kafka_stop (self);
    if (self->parts) {
        //  Every job is in its partition's list.
        for (sched_part_t *p = zhashx_first (self->parts); p;
             p = zhashx_next (self->parts)) {
            while (self->jobs && p->jobs_head)
                sched_job_forget (self, p->jobs_head);
            sched_part_free (p);
        }
        zhashx_destroy (&self->parts);
    }
    sched_idmap_destroy (&self->jobs);
    zhashx_destroy (&self->workers);
    zhashx_destroy (&self->told_finished);
    zactor_destroy (&self->monitor);
    zsock_destroy (&self->router);
    zactor_destroy (&self->auth);
    sl_http_destroy (&self->http);
    free (self->endpoint);
    free (self);
    *self_p = NULL;
}

//  The bound endpoint.
const char *
scheduler_endpoint (scheduler_t *self)
{
    return self->endpoint;
}
