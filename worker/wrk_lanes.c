/*  wrk_lanes - the worker's executor lanes. See wrk_lanes.h.            */
#include "wrk_lanes.h"

#include "sl_clock.h"
#include "wrk_exec.h"

//  One executor (--concurrency N makes N): a thread with its own Kafka
//  consumer and producer, and the plugin instance (shared by every lane if
//  the plugin is thread-safe, one per lane otherwise).
typedef struct {
    wrk_exec_t *exec;
    zactor_t *actor;
    bool stopped; /* its actor said STOPPED                                */
    int running_sched;
    uint64_t running_job;
    int64_t cancel_deadline; /* the running job was cancelled: it must end
                                by then or the plugin is stuck             */
    bool running_flushing;   /* the plugin is done with the running job; it
                                waits for Kafka (--flush-timeout-ms)       */
    int64_t alive_ms; /* the running job's last sign of progress (it began,
                         or a batch ended: BEGIN, PROGRESS)               */
    int64_t lease_ms; /* the lease of the jobs it was given (their JOB)    */
} lane_t;

struct _wrk_lanes_t {
    const wrk_config_t *cfg;
    lane_t *lanes;
    wrk_lane_load_t *loads; /* loads[l]: what lane l holds, where it ends */
    size_t n;
    double us_per_off; /* plugin + flush time per offset, last jobs; <0:
                          not measured yet                                */
};

//  ---------------------------------------------------------------------
//  Lane choice

//  True if job starts where the lane's last job ends.
static bool
s_continues (const wrk_lane_load_t *load, const Sluice__Job *job)
{
    return load->tail_next == job->start &&
           load->tail_partition == job->partition &&
           streq (load->tail_topic, job->topic);
}

//  True if the plugin's work on job is known and worth a second fetch.
static bool
s_split_pays (const Sluice__Job *job, double us_per_off)
{
    double work_us = us_per_off * (double)(job->end - job->start);
    return us_per_off < 0 || work_us >= WRK_LANES_SPLIT_MS * 1000.0;
}

//  The lane for a job (see wrk_lanes.h).
size_t
wrk_lanes_choose (const wrk_lane_load_t *loads, size_t n,
                  const Sluice__Job *job, double us_per_off)
{
    size_t least = 0, at = n;
    for (size_t l = 0; l < n; l++) {
        if (loads[l].held < loads[least].held)
            least = l;
        if (at == n && s_continues (&loads[l], job))
            at = l;
    }
    if (at == n)
        return least;
    if (loads[at].held <= loads[least].held)
        return at;
    return s_split_pays (job, us_per_off) ? least : at;
}

//  ---------------------------------------------------------------------
//  Jobs to the lanes

//  Give a job to its lane.
int
wrk_lanes_give (wrk_lanes_t *self, int sched, const Sluice__Job *job)
{
    size_t l = wrk_lanes_choose (self->loads, self->n, job, self->us_per_off);
    wrk_lane_load_t *load = &self->loads[l];
    load->held++;
    snprintf (load->tail_topic, sizeof load->tail_topic, "%s", job->topic);
    load->tail_partition = job->partition;
    load->tail_next = job->end;
    if (job->lease_ms)
        self->lanes[l].lease_ms = job->lease_ms;
    zframe_t *frame = zframe_new (NULL, sluice__job__get_packed_size (job));
    sluice__job__pack (job, zframe_data (frame));
    int rc =
        wrk_msg_send (self->lanes[l].actor, WRK_MSG_JOB, sched, 0, frame, NULL);
    zframe_destroy (&frame);
    if (rc != 0)
        load->held--;
    return rc;
}

//  Arm lane's stuck-plugin watchdog if `runs` (it runs the job meant) and
//  the job is sched's and the plugin still works on it. A plugin is stuck
//  only if it makes no progress at all: the batch it is in may go on as
//  long as a batch may between two signs of progress (the job's lease,
//  which the scheduler holds it to as well), and at least --grace-ms
//  after the cancel. A slow batch that a CANCEL came during (a rebalance)
//  is let finish; the executor drops the job after it.
static void
s_arm (wrk_lanes_t *self, lane_t *lane, int sched, bool runs)
{
    if (!runs || lane->running_sched != sched || lane->cancel_deadline ||
        lane->running_flushing)
        return;
    int64_t deadline = sl_now_ms () + self->cfg->grace_ms;
    int64_t batch_end = lane->alive_ms + lane->lease_ms;
    lane->cancel_deadline = deadline > batch_end ? deadline : batch_end;
}

//  CANCEL a job on every lane.
void
wrk_lanes_cancel (wrk_lanes_t *self, int sched, uint64_t job_id)
{
    for (size_t l = 0; l < self->n; l++) {
        lane_t *lane = &self->lanes[l];
        s_arm (self, lane, sched, lane->running_job == job_id);
        wrk_msg_send (lane->actor, WRK_MSG_CANCEL, sched, job_id, NULL, NULL);
    }
}

//  One message to lane l.
int
wrk_lanes_tell (wrk_lanes_t *self, size_t l, wrk_msg_type_t type, int sched,
                zframe_t *payload)
{
    if (l >= self->n)
        return -1;
    return wrk_msg_send (self->lanes[l].actor, type, sched, 0, payload, NULL);
}

//  Drop a scheduler's jobs on every lane.
void
wrk_lanes_drop_all (wrk_lanes_t *self, int sched)
{
    for (size_t l = 0; l < self->n; l++) {
        lane_t *lane = &self->lanes[l];
        wrk_msg_send (lane->actor, WRK_MSG_DROPALL, sched, 0, NULL, NULL);
        //  Its running job is abandoned as a cancelled one would be: if
        //  the plugin does not give the thread back within --grace-ms it
        //  is stuck, and a worker that keeps taking jobs it can never run
        //  would hold them for ever (a queued job has no lease).
        s_arm (self, lane, sched, lane->running_job != 0);
    }
}

//  STOP every lane.
void
wrk_lanes_stop (wrk_lanes_t *self, uint64_t deadline)
{
    for (size_t l = 0; l < self->n; l++)
        wrk_msg_send (self->lanes[l].actor, WRK_MSG_STOP, 0, deadline, NULL,
                      NULL);
}

//  ---------------------------------------------------------------------
//  What the lanes say

//  One job fewer held by load.
static void
s_release (wrk_lane_load_t *load)
{
    if (load->held)
        load->held--;
}

//  Lane l began running job_id of sched.
static void
s_begin (lane_t *lane, int sched, uint64_t job_id)
{
    lane->running_sched = sched;
    lane->running_job = job_id;
    lane->cancel_deadline = 0;
    lane->running_flushing = false;
    lane->alive_ms = sl_now_ms ();
}

//  Keep count of one message from lane l.
void
wrk_lanes_note (wrk_lanes_t *self, size_t l, const wrk_msg_t *m)
{
    lane_t *lane = &self->lanes[l];
    wrk_lane_load_t *load = &self->loads[l];
    switch (m->type) {
        case WRK_MSG_BEGIN:
            s_begin (lane, m->sched, m->value);
            break;
        case WRK_MSG_PROGRESS: //  a batch ended: the plugin moves
            if (m->value == lane->running_job)
                lane->alive_ms = sl_now_ms ();
            break;
        case WRK_MSG_PROCESSED:
            //  Not the plugin any more: a cancelled job that waits for
            //  Kafka (say, while the broker is down) is not stuck.
            if (m->value == lane->running_job) {
                lane->running_flushing = true;
                lane->cancel_deadline = 0;
            }
            break;
        case WRK_MSG_DROPPED:
            if (m->value == lane->running_job) {
                lane->running_job = 0;
                lane->cancel_deadline = 0;
            }
            s_release (load);
            break;
        case WRK_MSG_RETURNED:
            s_release (load);
            break;
        case WRK_MSG_FORGOT: //  DROPALL removed that many queued jobs
            load->held = load->held > m->value ? load->held - m->value : 0;
            break;
        case WRK_MSG_STOPPED:
            lane->stopped = true;
            break;
        default:
            break;
    }
}

//  Lane l's job ended: its cost per offset, and one job fewer held.
void
wrk_lanes_ended (wrk_lanes_t *self, size_t l, const Sluice__Done *done)
{
    if (done->status == SLUICE__JOB_STATUS__JOB_STATUS_OK &&
        done->end > done->start) {
        double per = (double)(done->plugin_us + done->flush_us) /
                     (double)(done->end - done->start);
        self->us_per_off =
            self->us_per_off < 0 ? per : 0.8 * self->us_per_off + 0.2 * per;
    }
    self->lanes[l].running_job = 0;
    self->lanes[l].cancel_deadline = 0;
    s_release (&self->loads[l]);
}

//  Jobs running now.
size_t
wrk_lanes_running (wrk_lanes_t *self)
{
    size_t n = 0;
    for (size_t l = 0; l < self->n; l++)
        n += self->lanes[l].running_job != 0;
    return n;
}

//  Lane l's running job, if any.
bool
wrk_lanes_running_job (wrk_lanes_t *self, size_t l, int *sched,
                       uint64_t *job_id)
{
    *sched = self->lanes[l].running_sched;
    *job_id = self->lanes[l].running_job;
    return *job_id != 0;
}

//  True once every lane's actor has stopped.
bool
wrk_lanes_all_stopped (wrk_lanes_t *self)
{
    for (size_t l = 0; l < self->n; l++)
        if (!self->lanes[l].stopped)
            return false;
    return true;
}

//  A lane whose cancelled job outlived its deadline.
bool
wrk_lanes_stuck (wrk_lanes_t *self, int64_t now, uint64_t *job_id,
                 size_t *lane_p)
{
    for (size_t l = 0; l < self->n; l++) {
        lane_t *lane = &self->lanes[l];
        if (lane->cancel_deadline && now > lane->cancel_deadline) {
            *job_id = lane->running_job;
            *lane_p = l;
            return true;
        }
    }
    return false;
}

//  What the lanes' consumers fetched, summed.
void
wrk_lanes_fetched (wrk_lanes_t *self, uint64_t *records, uint64_t *bytes,
                   uint64_t *wakes)
{
    *records = *bytes = *wakes = 0;
    for (size_t l = 0; l < self->n; l++) {
        uint64_t r, b, w;
        wrk_exec_fetched (self->lanes[l].exec, &r, &b, &w);
        *records += r;
        *bytes += b;
        *wakes += w;
    }
}

//  Keyed records not run yet, over every lane.
size_t
wrk_lanes_key_waiting (wrk_lanes_t *self)
{
    size_t n = 0;
    for (size_t l = 0; l < self->n; l++)
        n += wrk_exec_key_waiting (self->lanes[l].exec);
    return n;
}

//  ---------------------------------------------------------------------
//  Lifecycle

//  Create the lanes and their executors.
wrk_lanes_t *
wrk_lanes_new (const wrk_config_t *cfg, char *err, size_t errlen)
{
    wrk_lanes_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->cfg = cfg;
    self->n = cfg->concurrency > 0 ? (size_t)cfg->concurrency : 1;
    self->us_per_off = -1;
    self->lanes = calloc (self->n, sizeof *self->lanes);
    self->loads = calloc (self->n, sizeof *self->loads);
    if (!self->lanes || !self->loads)
        goto fail;
    for (size_t l = 0; l < self->n; l++) {
        wrk_plugin_t *first = l ? wrk_exec_plugin (self->lanes[0].exec) : NULL;
        bool share =
            first && (wrk_plugin_flags (first) & SLUICE_PLUGIN_F_THREAD_SAFE);
        self->lanes[l].exec =
            wrk_exec_new (cfg, share ? first : NULL, (int)l, err, errlen);
        if (!self->lanes[l].exec)
            goto fail;
    }
    return self;
fail:
    wrk_lanes_destroy (&self);
    return NULL;
}

//  Start the actors. Never block on a lane: one that has stopped (its
//  thread gone, its STOPPED not read yet) takes nothing, and a blocking
//  send would wait for ever. That happened when the scheduler's BYE came
//  right after SIGTERM had stopped the lanes: the worker hung in
//  s_reset_sched until it was killed. A live lane's pipe never fills (it
//  holds at most --credits jobs).
int
wrk_lanes_start (wrk_lanes_t *self)
{
    for (size_t l = 0; l < self->n; l++) {
        self->lanes[l].actor = wrk_exec_start (self->lanes[l].exec, (int)l);
        if (!self->lanes[l].actor)
            return -1;
        zsock_set_sndtimeo (zactor_sock (self->lanes[l].actor), 0);
    }
    return 0;
}

//  How many lanes.
size_t
wrk_lanes_size (wrk_lanes_t *self)
{
    return self->n;
}

//  The plugin's name.
const char *
wrk_lanes_plugin_name (wrk_lanes_t *self)
{
    return wrk_plugin_name (wrk_exec_plugin (self->lanes[0].exec));
}

//  How many plugin instances the lanes run.
size_t
wrk_lanes_plugin_instances (wrk_lanes_t *self)
{
    wrk_plugin_t *first = wrk_exec_plugin (self->lanes[0].exec);
    return wrk_plugin_flags (first) & SLUICE_PLUGIN_F_THREAD_SAFE ? 1 : self->n;
}

//  Lane l's pipe.
zsock_t *
wrk_lanes_sock (wrk_lanes_t *self, size_t l)
{
    return zactor_sock (self->lanes[l].actor);
}

//  The lane reading on sock.
size_t
wrk_lanes_find (wrk_lanes_t *self, zsock_t *sock)
{
    size_t l = 0;
    while (l < self->n && zactor_sock (self->lanes[l].actor) != sock)
        l++;
    return l;
}

//  Destroy the lanes.
void
wrk_lanes_destroy (wrk_lanes_t **self_p)
{
    wrk_lanes_t *self = *self_p;
    if (!self)
        return;
    for (size_t l = 0; self->lanes && l < self->n; l++)
        zactor_destroy (&self->lanes[l].actor);
    //  The first lane owns a shared plugin instance: destroy it last.
    for (size_t l = self->n; self->lanes && l > 0; l--)
        wrk_exec_destroy (&self->lanes[l - 1].exec);
    free (self->lanes);
    free (self->loads);
    free (self);
    *self_p = NULL;
}
