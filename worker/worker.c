/*  worker - the sluice worker daemon. See worker.h.                     */
#include "worker.h"

#include <assert.h>
#include <czmq.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>
#include "sl_clock.h"
#include "sl_kafka.h"
#include "sl_log.h"
#include "sl_http.h"
#include "sl_proto.h"
#include "wrk_crash.h"
#include "wrk_lanes.h"
#include "wrk_marks.h"
#include "wrk_metrics.h"
#include "wrk_msg.h"
#include "wrk_order.h"
#include "wrk_scheds.h"

struct _worker_t {
    const wrk_config_t *cfg;
    wrk_lanes_t *lanes; /* the executors                               */
    int64_t credits;    /* granted per scheduler: --credits, at least lanes+1 */
    wrk_scheds_t *scheds; /* the schedulers and their connections      */
    wrk_order_t *order;   /* keyed jobs: their lanes, their credit     */
    zloop_t *loop;
    bool flush_armed; /* a timer sends the outboxes next turn (s_send)  */
    bool stopping;
    bool grace_armed; /* the grace-over timer is set                  */
    bool stopped;
    bool drain_finished; /* every scheduler said its drain is complete  */
    int64_t started_ms;  /* when worker_run began                       */
    int exit_code;       /* non-zero: the executor failed (FATAL)       */
    bool exec_stuck;
    uint64_t jobs_done;
    char name[128];
    sl_http_t *http;
    wrk_metrics_t *metrics;
    int64_t metrics_next_ms;
};

//  Announce ourselves to scheduler i with full credit.
static void
s_send_hello (worker_t *self, size_t i)
{
    char host[64] = "";
    gethostname (host, sizeof host - 1);
    Sluice__Hello hello = SLUICE__HELLO__INIT;
    hello.worker_id = self->name;
    hello.credits = self->stopping ? 0 : (uint32_t)self->credits;
    hello.plugin = (char *)wrk_lanes_plugin_name (self->lanes);
    hello.pid = (uint32_t)getpid ();
    hello.hostname = host;
    hello.lanes = (uint32_t)wrk_lanes_size (self->lanes);
    hello.supervised = wrk_crash_slot () != NULL;
    hello.batches = true;
    //  A keyed job runs in parts, each flushed: not one transaction.
    hello.keys = !self->cfg->exactly_once;
    hello.txn_id = self->cfg->exactly_once ? self->cfg->txn_id : "";
    wrk_scheds_hello (self->scheds, i, &hello);
}

//  The loop's next turn: what this one gathered leaves, one frame per
//  scheduler.
static int
s_on_flush (zloop_t *loop, int timer_id, void *arg)
{
    worker_t *self = arg;
    self->flush_armed = false;
    wrk_scheds_flush (self->scheds);
    return 0;
}

//  Send a body to scheduler i. To a scheduler that reads batches it
//  waits for the loop's next turn: zloop runs due timers right after its
//  poll, before the sockets and lanes that are ready, so what every
//  handler of one turn said (DONEs of several lanes, a PROGRESS with
//  them) leaves in one frame, at once (the timer's delay is 0).
static void
s_send (worker_t *self, int i, Sluice__Envelope__BodyCase kind, void *body)
{
    if (wrk_scheds_send (self->scheds, i, kind, body) != 1 || self->flush_armed)
        return;
    if (self->loop && zloop_timer (self->loop, 0, 1, s_on_flush, self) >= 0)
        self->flush_armed = true;
    else
        wrk_scheds_flush (self->scheds);
}

//  Give job_id back to scheduler i (RETURN): it is not done.
static void
s_send_return (worker_t *self, int i, uint64_t job_id, const char *why)
{
    Sluice__Return r = SLUICE__RETURN__INIT;
    r.job_id = job_id;
    r.reason = (char *)why;
    s_send (self, i, SLUICE__ENVELOPE__BODY_RET, &r);
}

//  Forget the jobs of scheduler i and announce ourselves again.
static void
s_reset_sched (worker_t *self, size_t i, const char *why)
{
    wrk_lanes_drop_all (self->lanes, (int)i);
    wrk_order_forget (self->order, (int)i);
    sl_info ("announcing again scheduler=%s reason=\"%s\"",
             wrk_scheds_endpoint (self->scheds, i), why);
    s_send_hello (self, i);
}

//  Start the graceful stop: no more credit; the executor returns queued
//  jobs and finishes the current one within --grace-ms.
static void
s_begin_stop (worker_t *self, const char *why)
{
    if (self->stopping)
        return;
    self->stopping = true;
    sl_info ("stopping reason=\"%s\" grace_ms=%" PRId64, why,
             self->cfg->grace_ms);
    wrk_lanes_stop (self->lanes,
                    (uint64_t)(sl_now_ms () + self->cfg->grace_ms));
}

//  BYE from a scheduler.
static void
s_on_bye (worker_t *self, size_t i, Sluice__Bye *bye)
{
    if (bye->finished) {
        bool all = wrk_scheds_finish (self->scheds, i);
        if (self->cfg->drain && all) {
            self->drain_finished = true;
            s_begin_stop (self, "every scheduler finished its drain");
        }
        return;
    }
    if (bye->rehello) {
        //  One HELLO answers a burst of BYEs caused by one outage.
        if (sl_now_ms () - wrk_scheds_hello_ms (self->scheds, i) > 1000)
            s_reset_sched (self, i, bye->reason);
        return;
    }
    sl_info ("scheduler said bye scheduler=%s reason=\"%s\"",
             wrk_scheds_endpoint (self->scheds, i), bye->reason);
    s_reset_sched (self, i, "scheduler left");
}

static void s_send_credit (worker_t *self, int i);

//  GATE or RELEASE from scheduler i: to the lane that holds the job. A
//  GATE that holds keys back gives the job's credit back (wrk_order.h).
static void
s_on_gate (worker_t *self, int i, sl_msg_t *msg)
{
    bool gate = msg->body_case == SLUICE__ENVELOPE__BODY_GATE;
    uint64_t id = gate ? msg->gate->job_id : msg->release->job_id;
    size_t lane;
    if (!wrk_order_lane (self->order, i, id, &lane))
        return; //  it ended meanwhile
    size_t len = gate ? sluice__gate__get_packed_size (msg->gate)
                      : sluice__release__get_packed_size (msg->release);
    zframe_t *frame = zframe_new (NULL, len);
    if (!frame)
        return;
    if (gate)
        sluice__gate__pack (msg->gate, zframe_data (frame));
    else
        sluice__release__pack (msg->release, zframe_data (frame));
    wrk_lanes_tell (self->lanes, lane, gate ? WRK_MSG_GATE : WRK_MSG_RELEASE, i,
                    frame);
    zframe_destroy (&frame);
    if (gate && (msg->gate->all || msg->gate->n_blocked) &&
        wrk_order_credit_back (self->order, i, id))
        s_send_credit (self, i);
}

//  One message from scheduler i.
static void
s_on_sched_msg (worker_t *self, int i, sl_msg_t *msg)
{
    size_t k = (size_t)i;
    switch (msg->body_case) {
        case SLUICE__ENVELOPE__BODY_JOB:
            //  A lane that has ended (the worker is stopping): give the
            //  job back rather than let its lease run out.
            if (wrk_lanes_give (self->lanes, i, msg->job) != 0)
                s_send_return (self, i, msg->job->job_id, "worker stopping");
            break;
        case SLUICE__ENVELOPE__BODY_CANCEL:
            wrk_lanes_cancel (self->lanes, i, msg->cancel->job_id);
            break;
        case SLUICE__ENVELOPE__BODY_BYE:
            s_on_bye (self, k, msg->bye);
            break;
        case SLUICE__ENVELOPE__BODY_GATE:
        case SLUICE__ENVELOPE__BODY_RELEASE:
            s_on_gate (self, i, msg);
            break;
        case SLUICE__ENVELOPE__BODY_HEARTBEAT:
            break;
        default:
            sl_warn ("unexpected message from scheduler scheduler=%s "
                     "message=%s",
                     wrk_scheds_endpoint (self->scheds, k),
                     sl_proto_name (msg->body_case));
    }
    sl_proto_free (&msg);
}

//  A message from scheduler i.
static int
s_on_dealer (zloop_t *loop, zsock_t *reader, void *arg)
{
    worker_t *self = arg;
    size_t k = wrk_scheds_find (self->scheds, reader);
    assert (k < wrk_scheds_size (self->scheds)); //  only schedulers here
    int i = (int)k;
    if (!wrk_scheds_read (self->scheds, k))
        return 0;
    sl_msg_t *msg;
    while ((msg = wrk_scheds_next (self->scheds, k)))
        s_on_sched_msg (self, i, msg);
    return 0;
}

//  Forward lane l's DONE to its scheduler i, with one credit back.
static void
s_forward_done (worker_t *self, size_t l, int i, zframe_t *frame)
{
    Sluice__Done *done =
        sluice__done__unpack (NULL, zframe_size (frame), zframe_data (frame));
    if (!done)
        return;
    bool back = wrk_order_end (self->order, i, done->job_id);
    done->credits = self->stopping || back ? 0 : 1;
    wrk_metrics_done (self->metrics, done);
    wrk_lanes_ended (self->lanes, l, done);
    s_send (self, i, SLUICE__ENVELOPE__BODY_DONE, done);
    sluice__done__free_unpacked (done, NULL);
    self->jobs_done++;
}

//  Tell scheduler i that job_id is running: its lease runs from now.
static void
s_send_progress (worker_t *self, int i, uint64_t job_id)
{
    Sluice__Progress p = SLUICE__PROGRESS__INIT;
    p.job_id = job_id;
    s_send (self, i, SLUICE__ENVELOPE__BODY_PROGRESS, &p);
}

//  TAIL from an idle lane, for its last job's scheduler i.
static void
s_forward_tail (worker_t *self, int i, zframe_t *frame)
{
    Sluice__Tail *tail = frame
                             ? sluice__tail__unpack (NULL, zframe_size (frame),
                                                     zframe_data (frame))
                             : NULL;
    if (!tail)
        return;
    if (!self->stopping)
        s_send (self, i, SLUICE__ENVELOPE__BODY_TAIL, tail);
    sluice__tail__free_unpacked (tail, NULL);
}

//  KEYS from lane l: remember where the job is, and tell its scheduler.
static void
s_forward_keys (worker_t *self, size_t l, int i, zframe_t *frame)
{
    Sluice__Keys *keys = frame
                             ? sluice__keys__unpack (NULL, zframe_size (frame),
                                                     zframe_data (frame))
                             : NULL;
    if (!keys)
        return;
    if (wrk_order_keys (self->order, i, keys->job_id, l) == 0)
        s_send (self, i, SLUICE__ENVELOPE__BODY_KEYS, keys);
    sluice__keys__free_unpacked (keys, NULL);
}

//  DROPPED: a job cancelled before it ran frees its credit.
static void
s_send_credit (worker_t *self, int i)
{
    if (self->stopping)
        return;
    Sluice__Credit c = SLUICE__CREDIT__INIT;
    c.credits = 1;
    s_send (self, i, SLUICE__ENVELOPE__BODY_CREDIT, &c);
}

//  What lane l said, for its scheduler (m->sched) or for the worker.
static void
s_exec_reply (worker_t *self, zloop_t *loop, zsock_t *reader, size_t l,
              wrk_msg_t *m)
{
    switch (m->type) {
        case WRK_MSG_DONE:
            if (m->payload)
                s_forward_done (self, l, m->sched, m->payload);
            break;
        case WRK_MSG_STOPPED:
            self->stopped = wrk_lanes_all_stopped (self->lanes);
            //  The actor ends next and signals its exit on this pipe, which
            //  zactor_destroy waits for: read no more from it, or with other
            //  lanes still running the loop would take that signal and
            //  worker_destroy would wait for ever (a --concurrency worker
            //  that never exited after its drain).
            zloop_reader_end (loop, reader);
            break;
        case WRK_MSG_FATAL:
            //  The executor cannot go on (Kafka security settings refused, a
            //  fatal producer error): say why and stop at once.
            sl_error ("%s", *m->text ? m->text : "executor failed");
            self->exit_code = m->value ? (int)m->value : 1;
            self->stopped = true;
            break;
        case WRK_MSG_BEGIN: //  the job started: its lease runs from now
        case WRK_MSG_PROGRESS:
            s_send_progress (self, m->sched, m->value);
            break;
        case WRK_MSG_DROPPED:
            if (!wrk_order_end (self->order, m->sched, m->value))
                s_send_credit (self, m->sched);
            break;
        case WRK_MSG_KEYS:
            s_forward_keys (self, l, m->sched, m->payload);
            break;
        case WRK_MSG_RETURNED:
            wrk_order_end (self->order, m->sched, m->value);
            s_send_return (self, m->sched, m->value, "worker stopping");
            break;
        case WRK_MSG_TAIL:
            s_forward_tail (self, m->sched, m->payload);
            break;
        case WRK_MSG_PROCESSED:
        case WRK_MSG_FORGOT:
            break;
        default: //  a command type: only the executor receives those
            sl_error ("worker thread message out of place type=%s",
                      wrk_msg_name (m->type));
            break;
    }
}

//  Messages from a lane's executor: the lanes keep count, the worker
//  tells the schedulers. What waits in the lane's pipe is taken in this
//  turn (EXEC_READ_BURST at most), so that what it says to a scheduler
//  (a DONE, the next job's PROGRESS) leaves in one frame (s_send).
#define EXEC_READ_BURST 32
static int
s_on_exec (zloop_t *loop, zsock_t *reader, void *arg)
{
    worker_t *self = arg;
    size_t l = wrk_lanes_find (self->lanes, reader);
    assert (l < wrk_lanes_size (self->lanes)); //  only lanes are read here
    for (int n = 0; n < EXEC_READ_BURST && !self->stopped; n++) {
        if (n > 0 && !(zsock_events (reader) & ZMQ_POLLIN))
            break;
        wrk_msg_t m;
        if (wrk_msg_recv (reader, &m) != 0)
            return -1;
        wrk_lanes_note (self->lanes, l, &m);
        bool stopped = m.type == WRK_MSG_STOPPED;
        s_exec_reply (self, loop, reader, l, &m);
        wrk_msg_clear (&m);
        if (stopped)
            break; //  the pipe is no longer read (s_exec_reply)
    }
    return self->stopped ? -1 : 0;
}

//  A --drain worker that hears from no unfinished scheduler for
//  --drain-wait-ms gives up: its schedulers may have finished and exited
//  before it came (a pod that was Pending for a while), and none is left
//  to say so; or they never came up. Either way it would wait for ever
//  (a Kubernetes Job would never complete). It exits 1, so a Job counts
//  it as failed, which does not undo the success of a worker that saw
//  the drain finish.
static void
s_drain_wait_check (worker_t *self, int64_t now)
{
    if (!self->cfg->drain || self->cfg->drain_wait_ms <= 0 || self->stopping)
        return;
    int64_t heard =
        wrk_scheds_heard_unfinished (self->scheds, self->started_ms);
    if (now - heard < self->cfg->drain_wait_ms)
        return;
    sl_error ("no word from any scheduler for %" PRId64
              " s while draining (--drain-wait-ms): giving up; if the drain "
              "finished, its schedulers exited before this worker came",
              (now - heard) / 1000);
    s_begin_stop (self, "no scheduler heard from");
}

//  Heartbeats; notice schedulers that went silent.
static int
s_on_heartbeat (zloop_t *loop, int timer_id, void *arg)
{
    worker_t *self = arg;
    int64_t now = sl_now_ms ();
    int64_t limit = self->cfg->heartbeat_ms * self->cfg->liveness;
    Sluice__Heartbeat hb = SLUICE__HEARTBEAT__INIT;
    hb.jobs_done = self->jobs_done;
    for (size_t i = 0; i < wrk_scheds_size (self->scheds); i++) {
        s_send (self, (int)i, SLUICE__ENVELOPE__BODY_HEARTBEAT, &hb);
        if (wrk_scheds_silent (self->scheds, i, now, limit))
            s_reset_sched (self, i, "missed heartbeats");
    }
    s_drain_wait_check (self, now);
    return 0;
}

//  SIGTERM or SIGINT, read from the signalfd: start stopping.
static int
s_on_signal_fd (zloop_t *loop, zmq_pollitem_t *item, void *arg)
{
    worker_t *self = arg;
    struct signalfd_siginfo info;
    const char *why = "signal";
    while (read (item->fd, &info, sizeof info) == (ssize_t)sizeof info)
        why = info.ssi_signo == SIGINT ? "SIGINT" : "SIGTERM";
    s_begin_stop (self, why);
    return 0;
}

//  Stop waiting for the executor: the grace period is over.
static int
s_on_grace_over (zloop_t *loop, int timer_id, void *arg)
{
    worker_t *self = arg;
    if (!self->stopping)
        return 0;
    for (size_t l = 0; l < wrk_lanes_size (self->lanes); l++) {
        int sched;
        uint64_t job;
        if (!wrk_lanes_running_job (self->lanes, l, &sched, &job))
            continue;
        sl_warn ("grace period over, leaving the running job job=%" PRIu64,
                 job);
        s_send_return (self, sched, job, "worker stopping, grace period over");
    }
    self->exec_stuck = true;
    return -1;
}

//  Retry HELLOs that could not leave yet; arm the stop deadline once;
//  exit if the plugin ignores a cancelled job for longer than --grace-ms
//  (it is stuck: only a restart frees the executor).
static void s_metrics_publish (worker_t *self);

static int
s_on_tick (zloop_t *loop, int timer_id, void *arg)
{
    worker_t *self = arg;
    if (self->http) {
        sl_http_beat (self->http);
        if (sl_now_ms () >= self->metrics_next_ms) {
            self->metrics_next_ms = sl_now_ms () + 500;
            s_metrics_publish (self);
        }
    }
    wrk_marks_poll ();
    uint64_t stuck;
    size_t stuck_lane;
    if (wrk_lanes_stuck (self->lanes, sl_now_ms (), &stuck, &stuck_lane)) {
        sl_error ("plugin stuck: job cancelled %" PRId64
                  " ms ago is still running, exiting so the worker can "
                  "be restarted job=%" PRIu64,
                  self->cfg->grace_ms, stuck);
        wrk_crash_stuck ((int)stuck_lane);
        _exit (3);
    }
    for (size_t i = 0; i < wrk_scheds_size (self->scheds); i++)
        if (!wrk_scheds_announced (self->scheds, i))
            s_send_hello (self, i);
    if (self->stopping && !self->grace_armed) {
        self->grace_armed = true;
        zloop_timer (loop, (size_t)self->cfg->grace_ms + 2000, 1,
                     s_on_grace_over, self);
    }
    return 0;
}

//  Render the worker's Prometheus page and readiness (wrk_metrics).
static void
s_metrics_publish (worker_t *self)
{
    wrk_metrics_live_t live = {0};
    live.connected = wrk_scheds_connected (self->scheds);
    live.running = wrk_lanes_running (self->lanes);
    wrk_lanes_fetched (self->lanes, &live.fetched, &live.fetched_bytes,
                       &live.wakes);
    live.key_waiting = wrk_lanes_key_waiting (self->lanes);
    live.stopping = self->stopping;
    wrk_metrics_publish (self->metrics, self->http, &live);
}

//  The credit granted per scheduler: --credits, and with several lanes
//  at least one job more than lanes, so that none waits for work.
static void
s_set_credits (worker_t *self)
{
    size_t nlanes = wrk_lanes_size (self->lanes);
    self->credits = self->cfg->credits;
    if (self->credits < (int64_t)nlanes + 1 && nlanes > 1)
        self->credits = (int64_t)nlanes + 1;
    if (nlanes > 1)
        sl_info ("concurrency lanes=%zu plugin_instances=%zu credits=%" PRId64,
                 nlanes, wrk_lanes_plugin_instances (self->lanes),
                 self->credits);
}

//  Create the worker.
worker_t *
worker_new (const wrk_config_t *cfg, char *err, size_t errlen)
{
    worker_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->cfg = cfg;
    char host[64] = "";
    gethostname (host, sizeof host - 1);
    snprintf (self->name, sizeof self->name, "%s/%d", host, (int)getpid ());
    wrk_crash_worker_id (self->name);
    self->lanes = wrk_lanes_new (cfg, err, errlen);
    if (!self->lanes)
        goto fail;
    s_set_credits (self);
    self->metrics = wrk_metrics_new ();
    if (!self->metrics)
        goto fail;
    if (cfg->metrics_addr && *cfg->metrics_addr) {
        self->http = sl_http_new (cfg->metrics_addr, err, errlen);
        if (!self->http)
            goto fail;
        sl_info ("metrics listening addr=%s port=%d", cfg->metrics_addr,
                 sl_http_port (self->http));
    }
    self->scheds = wrk_scheds_new (cfg, err, errlen);
    self->order = wrk_order_new ();
    if (!self->scheds || !self->order) {
        if (self->scheds)
            snprintf (err, errlen, "out of memory");
        goto fail;
    }
    return self;
fail:
    worker_destroy (&self);
    return NULL;
}

//  Announce to every scheduler. A socket not yet connected drops the
//  HELLO (ZMQ_IMMEDIATE); the heartbeat timer then sends it again.
static void
s_hello_all (worker_t *self)
{
    wrk_scheds_heard_all (self->scheds, sl_now_ms ());
    for (size_t i = 0; i < wrk_scheds_size (self->scheds); i++)
        s_send_hello (self, i);
}

//  SIGTERM and SIGINT arrive on a signalfd, never as handlers: a handler
//  would interrupt zmq_poll, and zloop ends on EINTR, which would skip the
//  graceful stop. worker_main blocks them in every thread before any is
//  created; block them here too for callers that did not. Returns the
//  descriptor, or -1.
static int
s_signalfd (void)
{
    sigset_t stop;
    sigemptyset (&stop);
    sigaddset (&stop, SIGTERM);
    sigaddset (&stop, SIGINT);
    pthread_sigmask (SIG_BLOCK, &stop, NULL);
    return signalfd (-1, &stop, SFD_NONBLOCK | SFD_CLOEXEC);
}

//  The loop: schedulers (and their CURVE monitors), lanes, signals,
//  timers.
static zloop_t *
s_loop_new (worker_t *self, zmq_pollitem_t *signals)
{
    zloop_t *loop = zloop_new ();
    zloop_set_nonstop (loop, true);
    wrk_scheds_attach (self->scheds, loop, s_on_dealer, self);
    for (size_t l = 0; l < wrk_lanes_size (self->lanes); l++)
        zloop_reader (loop, wrk_lanes_sock (self->lanes, l), s_on_exec, self);
    zloop_poller (loop, signals, s_on_signal_fd, self);
    zloop_timer (loop, (size_t)self->cfg->heartbeat_ms, 0, s_on_heartbeat,
                 self);
    zloop_timer (loop, 100, 0, s_on_tick, self);
    return loop;
}

//  The loop is over: BYE to every scheduler, the totals to the log.
static void
s_say_bye (worker_t *self)
{
    Sluice__Bye bye = SLUICE__BYE__INIT;
    bye.reason = "worker stopping";
    //  The sockets linger (wrk_scheds): the BYEs leave before they close.
    for (size_t i = 0; i < wrk_scheds_size (self->scheds); i++)
        s_send (self, (int)i, SLUICE__ENVELOPE__BODY_BYE, &bye);
    uint64_t fetched, fetched_bytes, wakes;
    wrk_lanes_fetched (self->lanes, &fetched, &fetched_bytes, &wakes);
    sl_info ("kafka consumer totals rxmsgs=%" PRIu64 " rx_bytes=%" PRIu64
             " fetch_wakeups=%" PRIu64,
             fetched, fetched_bytes, wakes);
    uint64_t t[4];
    wrk_scheds_totals (self->scheds, t);
    sl_info ("worker stopped jobs_done=%" PRIu64 " frames_sent=%" PRIu64
             " messages_sent=%" PRIu64 " frames_received=%" PRIu64
             " messages_received=%" PRIu64,
             self->jobs_done, t[0], t[1], t[2], t[3]);
}

//  Run the loop.
int
worker_run (worker_t *self)
{
    int sfd = s_signalfd ();
    self->started_ms = sl_now_ms ();
    if (sfd < 0) {
        sl_error ("signalfd failed error=\"%s\"", strerror (errno));
        return 1;
    }
    if (wrk_lanes_start (self->lanes) != 0)
        return 1;
    zmq_pollitem_t signals = {NULL, sfd, ZMQ_POLLIN, 0};
    self->loop = s_loop_new (self, &signals);
    sl_info (
        "worker started worker=%s plugin=%s schedulers=%zu credits=%" PRId64,
        self->name, wrk_lanes_plugin_name (self->lanes),
        wrk_scheds_size (self->scheds), self->credits);
    s_hello_all (self);
    //  zloop_start returns 0 when a system call was interrupted (EINTR),
    //  -1 when a handler ended the loop: only the latter means stop.
    while (zloop_start (self->loop) == 0)
        sl_debug ("event loop interrupted, resuming");
    zloop_destroy (&self->loop);
    self->flush_armed = false; //  the timer went with the loop
    wrk_scheds_flush (self->scheds);
    close (sfd);
    s_say_bye (self);
    if (self->exit_code)
        return self->exit_code;
    if (self->cfg->drain && !self->drain_finished) {
        //  A drain worker stopped before the drain was over: not a
        //  success (a Kubernetes Job must not count it as one).
        sl_warn ("drain not finished when the worker stopped");
        return 1;
    }
    return 0;
}

//  Destroy the worker.
void
worker_destroy (worker_t **self_p)
{
    worker_t *self = *self_p;
    if (!self)
        return;
    if (self->exec_stuck) {
        //  The executor is stuck inside the plugin: it cannot be joined.
        //  Closing the sockets lets the RETURNs leave.
        wrk_scheds_destroy (&self->scheds);
        _exit (0);
    }
    sl_http_destroy (&self->http);
    wrk_lanes_destroy (&self->lanes);
    wrk_marks_shutdown (); //  once no lane can write one
    wrk_metrics_destroy (&self->metrics);
    wrk_scheds_destroy (&self->scheds);
    wrk_order_destroy (&self->order);
    free (self);
    *self_p = NULL;
}
