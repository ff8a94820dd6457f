/*  scheduler - the sluice scheduler daemon. See scheduler.h.

    One thread runs a zloop over the ROUTER socket, a pipe that librdkafka
    writes to when the consumer queue has events (rebalances, commit
    results, statistics), the offsets actor's pipe, and a few timers. This
    file wires the parts together (sched_state.h) and turns events into
    calls: messages from workers into the book and the failure policy,
    timers into heartbeats, leases, commits and progress, and after each
    burst of them a dispatch pass whose decisions it sends.
*/
#include "scheduler.h"

#include <czmq.h>
#include <inttypes.h>
#include <unistd.h>
#include "sched_ack.h"
#include "sched_metrics.h"
#include "sched_state.h"
#include "sched_status.h"
#include "sched_wire.h"
#include "sl_clock.h"
#include "sl_http.h"
#include "sl_log.h"
#include "sl_proto.h"

#define SCHED_TICK_MS 50
/*  How often the end-offset query is considered (it runs only when due). */
#define SCHED_OFFSETS_MS 10
/*  Most messages taken from the ROUTER per wake-up, and the longest it
    waits there for more (s_on_router).                                  */
#define SCHED_RECV_BURST 256
#define SCHED_HOLD_MS    2
/*  Most messages read before judging silence (workers' or leases').     */
#define SCHED_RECV_BEFORE_JUDGING 100000
/*  The tick runs every SCHED_TICK_MS: a gap this long between timers is
    the loop itself stalled (SIGSTOP, a rebalance callback waiting on a
    slow coordinator, a starved CPU), not the workers.                    */
#define SCHED_STALL_MS 1000

//  ---------------------------------------------------------------------
//  Dispatch and drain

//  Hand out jobs while some worker has credit and some partition has
//  work (sched_dispatch_run).
static void
s_dispatch (scheduler_t *self)
{
    int64_t now = sl_now_ms ();
    if (sched_failure_paused (&self->failure, now))
        return; //  the output refuses: nothing goes out until the pause ends
    self->stats.jobs_sent += sched_dispatch_run (
        &self->dispatch, self->router, now, self->cfg->job_timeout_ms,
        sched_workers_send_failed, &self->workers);
}

//  True once a --drain scheduler may exit (sched_drain_linger).
static bool
s_drain_over (scheduler_t *self, int64_t now)
{
    return self->cfg->drain && sched_ack_drain_finished (self) &&
           sched_drain_linger (&self->drain, now);
}

//  ---------------------------------------------------------------------
//  Messages from workers

//  HELLO: a worker (re)announces itself with its credit. After a drain
//  (lingering), it is told the drain is finished instead.
static void
s_on_hello (scheduler_t *self, zframe_t *rid, const char *key,
            Sluice__Hello *hello)
{
    int64_t now = sl_now_ms ();
    if (sched_drain_lingering (&self->drain)) {
        sched_wire_bye (self->router, rid, "drain finished", false, true);
        sched_drain_told (&self->drain,
                          *hello->worker_id ? hello->worker_id : key, now);
        return;
    }
    sched_workers_hello (&self->workers, rid, key, hello, now);
}

//  Dispatch one decoded message from a known worker.
static void
s_on_worker_msg (scheduler_t *self, sched_worker_t *worker, sl_msg_t *msg)
{
    worker->last_seen_ms = sl_now_ms ();
    switch (msg->body_case) {
        case SLUICE__ENVELOPE__BODY_CREDIT:
            sched_workers_credit (worker, msg->credit->credits);
            break;
        case SLUICE__ENVELOPE__BODY_DONE:
            sched_ack_done (self, worker, msg->done);
            break;
        case SLUICE__ENVELOPE__BODY_RET:
            sched_workers_return (&self->workers, worker, msg->ret);
            break;
        case SLUICE__ENVELOPE__BODY_PROGRESS:
            sched_workers_progress (&self->workers, worker, msg->progress,
                                    self->cfg->job_timeout_ms);
            break;
        case SLUICE__ENVELOPE__BODY_BYE:
            sched_workers_drop (&self->workers, worker, "worker said bye",
                                false, worker->last_seen_ms);
            break;
        case SLUICE__ENVELOPE__BODY_TAIL:
            self->stats.tail_hints += sched_model_part_tail (
                &self->model, msg->tail->topic, msg->tail->partition,
                msg->tail->high_watermark);
            break;
        case SLUICE__ENVELOPE__BODY_KEYS:
            sched_order_keys (&self->order, worker, msg->keys);
            break;
        case SLUICE__ENVELOPE__BODY_HEARTBEAT:
            break;
        default:
            sl_warn ("unexpected message from worker, dropping it worker=%s "
                     "message=%s",
                     worker->name, sl_proto_name (msg->body_case));
            sched_workers_drop (&self->workers, worker, "protocol error", false,
                                worker->last_seen_ms);
    }
}

//  STATUS_REQUEST: a snapshot, SCHED_STATUS_PER_S a second at most (the
//  rest get none; `sluice status` says the scheduler did not answer).
static void
s_on_status (scheduler_t *self, zframe_t *rid)
{
    int64_t now = sl_now_ms ();
    char outage[384];
    if (sched_status_allow (&self->status_limit, now))
        sched_status_send (self->router, rid, self->cfg->group, &self->model,
                           &self->stats,
                           sched_failure_outage_text (&self->failure, now,
                                                      outage, sizeof outage),
                           now);
}

//  A message that is not from a known worker: HELLO, a supervisor's
//  CRASH, STATUS_REQUEST, a bad frame, or a stranger.
static void
s_router_other (scheduler_t *self, const sl_proto_rid_t *rid, const char *key,
                sched_worker_t *worker, sl_msg_t *msg, int fd, const char *err)
{
    zframe_t *frame = zframe_new (rid->data, rid->size); //  rare: a copy
    if (!frame)
        return;
    if (!msg) {
        sl_warn ("bad message, dropping peer peer=%s reason=\"%s\"",
                 worker ? worker->name : key, err);
        if (worker)
            sched_workers_drop (&self->workers, worker, "protocol error", false,
                                sl_now_ms ());
        sched_wire_bye (self->router, frame, err, false, false);
    } else if (msg->body_case == SLUICE__ENVELOPE__BODY_HELLO) {
        s_on_hello (self, frame, key, msg->hello);
        if ((worker = sched_model_worker_find (&self->model, key)))
            sched_conn_seen (&self->conn, worker, fd);
    } else if (msg->body_case == SLUICE__ENVELOPE__BODY_CRASH)
        //  From a supervising parent, on a connection of its own.
        sched_workers_crash (&self->workers, msg->crash, sl_now_ms ());
    else if (msg->body_case == SLUICE__ENVELOPE__BODY_STATUS_REQUEST)
        s_on_status (self, frame);
    else
        //  A worker of a previous incarnation, or one we dropped.
        sched_wire_bye (self->router, frame, "unknown worker: say HELLO", true,
                        false);
    zframe_destroy (&frame);
}

//  One frame from a worker or a status client, if one is waiting: one
//  message, or a worker's BATCH of them, read in order. Returns false if
//  none was. Nothing is allocated for a worker's message: the routing id
//  and each decoded body live on the stack.
static bool
s_router_recv (scheduler_t *self, bool wait)
{
    char err[256];
    sl_proto_rid_t rid;
    int got = sl_proto_router_next (self->router, &rid, wait, err, sizeof err);
    if (got == 0)
        return false;
    char keybuf[SCHED_KEY_MAX];
    const char *key = sched_workers_key (rid.data, rid.size, keybuf);
    sched_worker_t *worker = sched_model_worker_find (&self->model, key);
    //  Its connection (a metadata lookup) only if it may have changed.
    int fd = -1;
    bool ask_fd = sched_conn_recheck (worker, rid.data, rid.size);
    sl_proto_frame_t frame;
    if (got > 0 &&
        sl_proto_router_frame (self->router, &frame, ask_fd ? &fd : NULL, err,
                               sizeof err) != 0)
        got = -1;
    if (worker)
        sched_conn_seen (&self->conn, worker, fd);
    if (got < 0) {
        s_router_other (self, &rid, key, worker, NULL, fd, err);
        return true;
    }
    _Alignas(16) unsigned char space[2048];
    sl_proto_arena_t arena;
    sl_proto_arena_init (&arena, space, sizeof space);
    while (true) {
        sl_msg_t *msg = sl_proto_frame_next (&frame, &arena, err, sizeof err);
        if (!msg && !*err)
            break; //  the frame's last message was read
        bool as_worker = msg && sched_workers_as_worker (msg->body_case, false);
        //  A stranger is told once to say HELLO, not once a message.
        bool stop = !msg || (!worker && as_worker);
        if (as_worker && worker) {
            s_on_worker_msg (self, worker, msg);
            if (!sched_workers_as_worker (msg->body_case, true))
                worker = sched_model_worker_find (&self->model, key);
        } else {
            s_router_other (self, &rid, key, worker, msg, fd, err);
            worker = sched_model_worker_find (&self->model, key);
        }
        sl_proto_arena_free (&arena, &msg);
        if (stop)
            break;
    }
    sl_proto_frame_close (&frame);
    return true;
}

//  Connections that closed: their workers are gone.
static void
s_conn_events (scheduler_t *self)
{
    sched_conn_closed_t closed;
    while (sched_conn_event (&self->conn, &closed))
        sched_workers_closed (&self->workers, &closed, sl_now_ms ());
}

//  ROUTER readable: take what is waiting (a bounded burst), dispatch once
//  (its jobs leave in the same TCP segments), and wait for more on the
//  ROUTER alone, SCHED_HOLD_MS at most, in its receive as the echo's does:
//  zloop's zmq_poll costs two system calls per socket per look, and so
//  would reading the monitor (zloop polls it: s_on_conn; a new descriptor
//  reads it first: sched_conn_seen).
static int
s_on_router (zloop_t *loop, zsock_t *reader, void *arg)
{
    scheduler_t *self = arg;
    int taken = 0, fresh = 0;
    int64_t until = sl_now_ms () + SCHED_HOLD_MS;
    while (true) {
        while (taken < SCHED_RECV_BURST && s_router_recv (self, false))
            taken++, fresh++;
        if (fresh)
            s_dispatch (self);
        fresh = 0;
        int64_t left = until - sl_now_ms ();
        if (left <= 0 || taken >= SCHED_RECV_BURST)
            break;
        zsock_set_rcvtimeo (self->router, (int)left);
        if (!s_router_recv (self, true))
            break;
        taken++, fresh = 1;
    }
    if (sched_conn_pending (&self->conn))
        s_conn_events (self);
    return 0;
}

//  ---------------------------------------------------------------------
//  Timers

//  Before anyone is judged silent: read what is waiting. After a stall,
//  zloop runs the expired timers before the readers, and the heartbeats
//  and PROGRESS of live workers would still be in the socket.
static void
s_read_before_judging (scheduler_t *self)
{
    int taken = 0;
    s_conn_events (self);
    while (taken < SCHED_RECV_BEFORE_JUDGING && s_router_recv (self, false))
        taken++;
}

//  A timer runs: if the loop itself was stalled since the last one, the
//  stall is not the workers' silence nor their jobs' slowness: their
//  clocks (last heard from, lease deadlines) move on by its length.
static void
s_loop_check (scheduler_t *self, int64_t now)
{
    int64_t gap = now - self->loop_seen_ms;
    self->loop_seen_ms = now;
    if (gap > SCHED_STALL_MS)
        sched_workers_forgive (&self->workers, gap, now);
}

//  Send heartbeats; drop workers that went silent.
static int
s_on_heartbeat (zloop_t *loop, int timer_id, void *arg)
{
    scheduler_t *self = arg;
    int64_t now = sl_now_ms ();
    s_loop_check (self, now);
    s_read_before_judging (self);
    sched_workers_heartbeat (&self->workers, now,
                             self->cfg->heartbeat_ms * self->cfg->liveness);
    s_dispatch (self);
    return 0;
}

//  The periodic tick: leases, Kafka events, offsets, progress, metrics,
//  drain.
static int
s_on_tick (zloop_t *loop, int timer_id, void *arg)
{
    scheduler_t *self = arg;
    int64_t now = sl_now_ms ();
    s_loop_check (self, now);
    s_read_before_judging (self);
    sched_workers_leases (&self->workers, now, self->cfg->job_timeout_ms);
    sched_crash_expire (&self->crash, now);
    sched_eos_tick (&self->eos, now);
    sched_member_poll (&self->member);
    sched_member_offsets_query (&self->member, now);
    sched_member_idle_check (&self->member, now);
    s_dispatch (self);
    sched_drain_rate (&self->drain, now);
    sched_drain_progress (&self->drain, now, false);
    if (self->http) {
        sl_http_beat (self->http);
        if (now >= self->metrics_next_ms) {
            self->metrics_next_ms = now + 500;
            sched_metrics_publish (self);
        }
    }
    if (self->member.fatal)
        return -1;
    if (s_drain_over (self, sl_now_ms ()))
        return -1;
    return 0;
}

//  Ask for end offsets if due: often while a partition waits for data.
static int
s_on_offsets_tick (zloop_t *loop, int timer_id, void *arg)
{
    scheduler_t *self = arg;
    sched_member_offsets_query (&self->member, sl_now_ms ());
    return 0;
}

//  Commit the completed prefixes.
static int
s_on_commit (zloop_t *loop, int timer_id, void *arg)
{
    scheduler_t *self = arg;
    sched_commit_run (&self->commit, self->member.rk, false);
    return 0;
}

//  The offsets actor answered.
static int
s_on_offsets (zloop_t *loop, zsock_t *reader, void *arg)
{
    scheduler_t *self = arg;
    sched_member_offsets_recv (&self->member);
    s_dispatch (self);
    return 0;
}

//  The fencing actor answered (--exactly-once).
static int
s_on_fence (zloop_t *loop, zsock_t *reader, void *arg)
{
    scheduler_t *self = arg;
    sched_eos_recv (&self->eos, sched_ack_range, self);
    s_dispatch (self);
    return 0;
}

//  librdkafka has consumer events.
static int
s_on_kafka (zloop_t *loop, zmq_pollitem_t *item, void *arg)
{
    scheduler_t *self = arg;
    char buf[64];
    while (read (self->member.pipe[0], buf, sizeof buf) > 0)
        ;
    sched_member_poll (&self->member);
    s_dispatch (self);
    if (self->member.fatal)
        return -1;
    //  A commit result may be the last thing a drain waits for.
    if (s_drain_over (self, sl_now_ms ()))
        return -1;
    return 0;
}

//  ---------------------------------------------------------------------
//  Lifecycle

//  Wire the parts together: each gets pointers to the parts below it.
static int
s_parts_init (scheduler_t *self)
{
    const sched_config_t *cfg = self->cfg;
    sched_stats_init (&self->stats);
    if (sched_model_init (&self->model, cfg->window, cfg->job_records,
                          cfg->dlq_topic) != 0)
        return -1;
    self->model.key_order = cfg->key_order;
    self->order =
        (sched_order_t){.model = &self->model, .router = self->router};
    if (cfg->key_order && sched_order_init (&self->order) != 0)
        return -1;
    sched_commit_init (&self->commit, &self->model, &self->stats,
                       cfg->metadata_max_bytes);
    self->dispatch.model = &self->model;
    self->failure = (sched_failure_t){.model = &self->model,
                                      .stats = &self->stats,
                                      .max_attempts = cfg->max_attempts,
                                      .lease_ms = cfg->job_timeout_ms};
    self->crash = (sched_crash_t){.model = &self->model,
                                  .failure = &self->failure,
                                  .stats = &self->stats,
                                  .max_attempts = cfg->max_attempts};
    if (sched_crash_init (&self->crash) != 0)
        return -1;
    self->workers = (sched_workers_t){.model = &self->model,
                                      .failure = &self->failure,
                                      .crash = &self->crash,
                                      .eos = &self->eos,
                                      .stats = &self->stats,
                                      .router = self->router,
                                      .max_workers = cfg->max_workers};
    self->drain = (sched_drain_t){.cfg = cfg,
                                  .model = &self->model,
                                  .stats = &self->stats,
                                  .workers = &self->workers};
    sched_drain_init (&self->drain, sl_now_ms ());
    self->member = (sched_member_t){
        .cfg = cfg,
        .model = &self->model,
        .commit = &self->commit,
        .stats = &self->stats,
        .router = self->router,
        .marks = sched_marks_new (cfg->state_topic, cfg->group),
        .pipe = {-1, -1}};
    return 0;
}

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
    self->router = zsock_new (ZMQ_ROUTER);
    if (!self->router || s_parts_init (self) != 0) {
        snprintf (err, errlen, "out of memory");
        goto fail;
    }
    if (sched_conn_open (&self->conn, self->router, cfg, &self->auth, err,
                         errlen) != 0)
        goto fail;
    self->endpoint = zsock_last_endpoint (self->router);
    if (cfg->metrics_addr && *cfg->metrics_addr) {
        self->http = sl_http_new (cfg->metrics_addr, err, errlen);
        if (!self->http)
            goto fail;
        sl_info ("metrics listening addr=%s port=%d", cfg->metrics_addr,
                 sl_http_port (self->http));
    }
    if (sched_eos_init (&self->eos, cfg, &self->model, self->member.marks, err,
                        errlen) != 0 ||
        sched_member_start (&self->member, err, errlen) != 0)
        goto fail;
    return self;
fail:
    scheduler_destroy (&self);
    return NULL;
}

//  A connection closed, or a CURVE handshake happened.
static int
s_on_conn (zloop_t *loop, zmq_pollitem_t *item, void *arg)
{
    s_conn_events (arg);
    s_dispatch (arg);
    return 0;
}

//  Run the loop.
int
scheduler_run (scheduler_t *self)
{
    zloop_t *loop = zloop_new ();
    self->loop = loop;
    zloop_reader (loop, self->router, s_on_router, self);
    zmq_pollitem_t conn = {sched_conn_socket (&self->conn), 0, ZMQ_POLLIN, 0};
    if (conn.socket)
        zloop_poller (loop, &conn, s_on_conn, self);
    zloop_reader (loop, zactor_sock (self->member.offsets), s_on_offsets, self);
    if (sched_eos_sock (&self->eos))
        zloop_reader (loop, sched_eos_sock (&self->eos), s_on_fence, self);
    zmq_pollitem_t item = {NULL, self->member.pipe[0], ZMQ_POLLIN, 0};
    zloop_poller (loop, &item, s_on_kafka, self);
    zloop_timer (loop, SCHED_TICK_MS, 0, s_on_tick, self);
    zloop_timer (loop, SCHED_OFFSETS_MS, 0, s_on_offsets_tick, self);
    zloop_timer (loop, (size_t)self->cfg->heartbeat_ms, 0, s_on_heartbeat,
                 self);
    zloop_timer (loop, (size_t)self->cfg->commit_interval_ms, 0, s_on_commit,
                 self);
    //  A stall before the first timer counts too (s_loop_check).
    self->loop_seen_ms = sl_now_ms ();
    sl_info ("scheduler started endpoint=%s group=%s drain=%s", self->endpoint,
             self->cfg->group, self->cfg->drain ? "yes" : "no");
    zloop_start (loop);
    zloop_destroy (&loop);
    self->loop = NULL;
    bool drained = self->cfg->drain && sched_ack_drain_finished (self);
    if (self->member.fatal)
        return self->member.fatal_setup ? 2 : 1;
    if (self->cfg->drain && !drained) {
        sl_warn ("drain interrupted before it finished");
        return 1;
    }
    return 0;
}

//  Destroy the scheduler.
void
scheduler_destroy (scheduler_t **self_p)
{
    scheduler_t *self = *self_p;
    if (!self)
        return;
    bool finished = self->cfg->drain && self->drain.done;
    if (self->member.rk)
        sched_drain_progress (&self->drain, sl_now_ms (), true);
    if (self->router && self->model.workers) {
        //  czmq's sockets linger 0: closed right after, the router would
        //  drop BYEs still queued, and the workers of a finished drain
        //  would not learn it (test_read_on's --drain workers once waited
        //  for a scheduler that had exited). Up to a second to send them.
        zsock_set_linger (self->router, 1000);
        sched_workers_bye_all (&self->workers, finished);
    }
    if (self->cfg->key_order)
        sl_info ("key order gates=%" PRIu64 " gates_held=%" PRIu64
                 " releases=%" PRIu64 " keys_done=%" PRIu64
                 " keys_refused=%" PRIu64 " held_peak=%" PRIu64,
                 self->order.gates, self->order.gates_held,
                 self->order.releases, self->order.keys_done,
                 self->order.keys_refused, self->order.held_peak);
    sched_member_stop (&self->member);
    sched_eos_fini (&self->eos);
    sched_model_fini (&self->model);
    sched_marks_destroy (&self->member.marks); //  after the parts using it
    sched_drain_fini (&self->drain);
    sched_conn_stop (&self->conn, self->router);
    sched_crash_fini (&self->crash);
    sched_order_fini (&self->order);
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
