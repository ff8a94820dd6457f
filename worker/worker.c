/*  worker - the sluice worker daemon. See worker.h.                     */
#include "worker.h"

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
#include "wrk_msg.h"
#include "sl_log.h"
#include "sl_curve.h"
#include "sl_http.h"
#include "sl_prom.h"
#include "sl_proto.h"
#include "wrk_exec.h"

/*  sluice_worker_records_per_second covers this much recent time; it is
    sampled at each metrics publish (every 500 ms), so the ring holds a
    little more than a window of samples.                                 */
#define WRK_RATE_WINDOW_MS 10000
#define WRK_RATE_SAMPLES   32
//  A job that continues a lane's partition is split off to a less busy
//  lane only if its plugin work is worth at least this (a seek, a second
//  fetch of what the first lane read ahead).
#define WORKER_LANE_SPLIT_MS 25

typedef struct {
    worker_t *owner;
    size_t index;
    zsock_t *dealer;
    const char *endpoint;
    int64_t last_recv_ms;
    int64_t hello_ms;
    bool announced; /* a HELLO left the socket (it drops while unconnected) */
    bool lost;      /* no word from it for a liveness period             */
    bool finished;  /* it said its drain is complete                       */
    zactor_t *monitor; /* handshake events, with CURVE                    */
} wrk_sched_t;

//  One executor (--concurrency N makes N): a thread with its own Kafka
//  consumer and producer, and the plugin instance (shared by every lane if
//  the plugin is thread-safe, one per lane otherwise).
typedef struct {
    worker_t *owner;
    size_t index;
    wrk_exec_t *exec;
    zactor_t *actor;
    size_t held;  /* jobs given to it that have not ended                  */
    bool stopped; /* its actor said STOPPED                                */
    int running_sched;
    uint64_t running_job;
    int64_t cancel_deadline; /* the running job was cancelled: it must end
                                by then or the plugin is stuck             */
    bool running_flushing;   /* the plugin is done with the running job; it
                                waits for Kafka (--flush-timeout-ms)       */
    /*  Where the last job given to it ends: its consumer will stand
        there, so the job that starts there reads on without a seek.    */
    char tail_topic[256];
    int32_t tail_partition;
    int64_t tail_next;
} wrk_lane_t;

struct _worker_t {
    const wrk_config_t *cfg;
    wrk_lane_t *lanes;
    size_t nlanes;
    int64_t credits;   /* granted per scheduler: --credits, at least lanes+1 */
    double us_per_off; /* plugin + flush time per offset, last jobs; <0:
                          not measured yet                                */
    wrk_sched_t *scheds;
    size_t nscheds;
    zloop_t *loop;
    bool stopping;
    bool stopped;
    bool drain_finished; /* every scheduler said its drain is complete  */
    int64_t started_ms;  /* when worker_run began                       */
    int exit_code;       /* non-zero: the executor failed (FATAL)       */
    bool exec_stuck;
    uint64_t jobs_done;
    char name[128];
    sl_http_t *http;
    int64_t metrics_next_ms;
    struct {
        uint64_t jobs_ok, jobs_failed, records, rejected, emitted, retried;
        uint64_t lost, busy_us, plugin_us, fetch_us, flush_us;
    } totals;
    struct {
        int64_t ms;
        uint64_t records;
    } rate[WRK_RATE_SAMPLES]; /* records total at each publish, a ring   */
    size_t rate_n, rate_next;
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
    hello.plugin = (char *)wrk_exec_plugin_name (self->lanes[0].exec);
    hello.pid = (uint32_t)getpid ();
    hello.hostname = host;
    hello.lanes = (uint32_t)self->nlanes;
    self->scheds[i].hello_ms = sl_now_ms ();
    self->scheds[i].announced =
        sl_proto_send (self->scheds[i].dealer, NULL,
                       SLUICE__ENVELOPE__BODY_HELLO, &hello) == 0;
}

//  Send a body to scheduler i.
static void
s_send (worker_t *self, int i, Sluice__Envelope__BodyCase kind, void *body)
{
    if (i >= 0 && (size_t)i < self->nscheds)
        sl_proto_send (self->scheds[i].dealer, NULL, kind, body);
}

//  Forget the jobs of scheduler i and announce ourselves again.
static void
s_reset_sched (worker_t *self, size_t i, const char *why)
{
    for (size_t l = 0; l < self->nlanes; l++) {
        wrk_lane_t *lane = &self->lanes[l];
        wrk_msg_send (lane->actor, WRK_MSG_DROPALL, (int)i, 0, NULL, NULL);
        //  Its running job is abandoned as a cancelled one would be: if
        //  the plugin does not give the thread back within --grace-ms it
        //  is stuck, and a worker that keeps taking jobs it can never run
        //  would hold them for ever (a queued job has no lease).
        if (lane->running_job && lane->running_sched == (int)i &&
            !lane->cancel_deadline && !lane->running_flushing)
            lane->cancel_deadline = sl_now_ms () + self->cfg->grace_ms;
    }
    sl_info ("announcing again scheduler=%s reason=\"%s\"",
             self->scheds[i].endpoint, why);
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
    uint64_t deadline = (uint64_t)(sl_now_ms () + self->cfg->grace_ms);
    for (size_t l = 0; l < self->nlanes; l++)
        wrk_msg_send (self->lanes[l].actor, WRK_MSG_STOP, 0, deadline, NULL,
                      NULL);
}

//  BYE from a scheduler.
static void
s_on_bye (worker_t *self, size_t i, Sluice__Bye *bye)
{
    wrk_sched_t *sched = &self->scheds[i];
    if (bye->finished) {
        sched->finished = true;
        sl_info ("scheduler finished its drain scheduler=%s", sched->endpoint);
        bool all = true;
        for (size_t k = 0; k < self->nscheds; k++)
            all = all && self->scheds[k].finished;
        if (self->cfg->drain && all) {
            self->drain_finished = true;
            s_begin_stop (self, "every scheduler finished its drain");
        }
        return;
    }
    if (bye->rehello) {
        //  One HELLO answers a burst of BYEs caused by one outage.
        if (sl_now_ms () - sched->hello_ms > 1000)
            s_reset_sched (self, i, bye->reason);
        return;
    }
    sl_info ("scheduler said bye scheduler=%s reason=\"%s\"", sched->endpoint,
             bye->reason);
    s_reset_sched (self, i, "scheduler left");
}

//  The lane for a job: the one whose last job ends where it starts (its
//  consumer reads on: another lane would seek, and the two would fetch
//  the same records, each reading ahead into the other's jobs) unless
//  another lane holds fewer jobs and the plugin's work on this one is
//  worth the second fetch (WORKER_LANE_SPLIT_MS, the scheduler's rule
//  for two workers on one partition); else the one holding the fewest.
static wrk_lane_t *
s_pick_lane (worker_t *self, const Sluice__Job *job)
{
    wrk_lane_t *least = &self->lanes[0], *at = NULL;
    for (size_t l = 0; l < self->nlanes; l++) {
        wrk_lane_t *lane = &self->lanes[l];
        if (lane->held < least->held)
            least = lane;
        if (!at && lane->tail_next == job->start &&
            lane->tail_partition == job->partition &&
            streq (lane->tail_topic, job->topic))
            at = lane;
    }
    if (!at || at->held <= least->held)
        return at ? at : least;
    double work_us = self->us_per_off * (double)(job->end - job->start);
    bool cheap =
        self->us_per_off >= 0 && work_us < WORKER_LANE_SPLIT_MS * 1000.0;
    return cheap ? at : least;
}

//  A message from scheduler i.
static int
s_on_dealer (zloop_t *loop, zsock_t *reader, void *arg)
{
    wrk_sched_t *sched = arg;
    worker_t *self = sched->owner;
    size_t i = sched->index;
    char err[256];
    zmsg_t *raw = zmsg_recv (reader);
    if (!raw)
        return 0;
    zframe_t *frame = zmsg_first (raw);
    sl_msg_t *msg = zmsg_size (raw) == 1
                        ? sl_proto_decode (zframe_data (frame),
                                           zframe_size (frame), err, sizeof err)
                        : NULL;
    if (!msg) {
        if (zmsg_size (raw) != 1)
            snprintf (err, sizeof err, "expected one frame");
        sl_warn ("bad message from scheduler, ignored scheduler=%s "
                 "reason=\"%s\"",
                 sched->endpoint, err);
        zmsg_destroy (&raw);
        return 0;
    }
    sched->last_recv_ms = sl_now_ms ();
    if (sched->lost) {
        sched->lost = false;
        sl_info ("scheduler back scheduler=%s", sched->endpoint);
    }
    switch (msg->body_case) {
        case SLUICE__ENVELOPE__BODY_JOB: {
            size_t size = sluice__job__get_packed_size (msg->job);
            zframe_t *job = zframe_new (NULL, size);
            sluice__job__pack (msg->job, zframe_data (job));
            wrk_lane_t *lane = s_pick_lane (self, msg->job);
            lane->held++;
            snprintf (lane->tail_topic, sizeof lane->tail_topic, "%s",
                      msg->job->topic);
            lane->tail_partition = msg->job->partition;
            lane->tail_next = msg->job->end;
            if (wrk_msg_send (lane->actor, WRK_MSG_JOB, (int)i, 0, job, NULL) !=
                0) {
                //  The lane has ended (the worker is stopping): give the
                //  job back rather than let its lease run out.
                lane->held--;
                Sluice__Return r = SLUICE__RETURN__INIT;
                r.job_id = msg->job->job_id;
                r.reason = "worker stopping";
                s_send (self, (int)i, SLUICE__ENVELOPE__BODY_RET, &r);
            }
            zframe_destroy (&job);
            break;
        }
        case SLUICE__ENVELOPE__BODY_CANCEL: {
            for (size_t l = 0; l < self->nlanes; l++) {
                wrk_lane_t *lane = &self->lanes[l];
                if (lane->running_job == msg->cancel->job_id &&
                    lane->running_sched == (int)i && !lane->cancel_deadline &&
                    !lane->running_flushing)
                    lane->cancel_deadline = sl_now_ms () + self->cfg->grace_ms;
                wrk_msg_send (lane->actor, WRK_MSG_CANCEL, (int)i,
                              msg->cancel->job_id, NULL, NULL);
            }
            break;
        }
        case SLUICE__ENVELOPE__BODY_BYE:
            s_on_bye (self, i, msg->bye);
            break;
        case SLUICE__ENVELOPE__BODY_HEARTBEAT:
            break;
        default:
            sl_warn ("unexpected message from scheduler scheduler=%s "
                     "message=%s",
                     sched->endpoint, sl_proto_name (msg->body_case));
    }
    sl_proto_free (&msg);
    zmsg_destroy (&raw);
    return 0;
}

//  Forward an executor DONE to its scheduler, with one credit back.
static void
s_forward_done (worker_t *self, wrk_lane_t *lane, int i, zframe_t *frame)
{
    Sluice__Done *done =
        sluice__done__unpack (NULL, zframe_size (frame), zframe_data (frame));
    if (!done)
        return;
    done->credits = self->stopping ? 0 : 1;
    if (done->status == SLUICE__JOB_STATUS__JOB_STATUS_OK)
        self->totals.jobs_ok++;
    else
        self->totals.jobs_failed++;
    self->totals.records += done->records;
    self->totals.rejected += done->rejected;
    self->totals.emitted += done->emitted;
    self->totals.retried += done->retried;
    self->totals.lost += done->lost;
    self->totals.busy_us += done->duration_us;
    self->totals.plugin_us += done->plugin_us;
    self->totals.fetch_us += done->fetch_us;
    self->totals.flush_us += done->flush_us;
    if (done->status == SLUICE__JOB_STATUS__JOB_STATUS_OK &&
        done->end > done->start) {
        double per = (double)(done->plugin_us + done->flush_us) /
                     (double)(done->end - done->start);
        self->us_per_off =
            self->us_per_off < 0 ? per : 0.8 * self->us_per_off + 0.2 * per;
    }
    lane->running_job = 0;
    lane->cancel_deadline = 0;
    if (lane->held)
        lane->held--;
    s_send (self, i, SLUICE__ENVELOPE__BODY_DONE, done);
    sluice__done__free_unpacked (done, NULL);
    self->jobs_done++;
}

//  Jobs running now, over every lane.
static int
s_running (worker_t *self)
{
    int n = 0;
    for (size_t l = 0; l < self->nlanes; l++)
        n += self->lanes[l].running_job != 0;
    return n;
}

//  True once every lane's actor has stopped.
static bool
s_all_stopped (worker_t *self)
{
    for (size_t l = 0; l < self->nlanes; l++)
        if (!self->lanes[l].stopped)
            return false;
    return true;
}

//  A message from the executor.
static int
s_on_exec (zloop_t *loop, zsock_t *reader, void *arg)
{
    wrk_lane_t *lane = arg;
    worker_t *self = lane->owner;
    wrk_msg_t m;
    if (wrk_msg_recv (reader, &m) != 0)
        return -1;
    int i = m.sched;
    uint64_t id = m.value;
    switch (m.type) {
        case WRK_MSG_DONE:
            if (m.payload)
                s_forward_done (self, lane, i, m.payload);
            break;
        case WRK_MSG_STOPPED:
            lane->stopped = true;
            self->stopped = s_all_stopped (self);
            //  The actor ends next and signals its exit on this pipe, which
            //  zactor_destroy waits for: read no more from it, or with other
            //  lanes still running the loop would take that signal and
            //  worker_destroy would wait for ever (a --concurrency worker
            //  that never exited after its drain).
            zloop_reader_end (loop, reader);
            break;
        case WRK_MSG_FORGOT:
            //  DROPALL removed that many queued jobs.
            lane->held = lane->held > id ? lane->held - id : 0;
            break;
        case WRK_MSG_FATAL:
            //  The executor cannot go on (Kafka security settings refused, a
            //  fatal producer error): say why and stop at once.
            sl_error ("%s", *m.text ? m.text : "executor failed");
            self->exit_code = id ? (int)id : 1;
            self->stopped = true;
            break;
        case WRK_MSG_BEGIN: {
            lane->running_sched = i;
            lane->running_job = id;
            lane->cancel_deadline = 0;
            lane->running_flushing = false;
            //  Tell the scheduler the job started: its lease runs from now.
            Sluice__Progress p = SLUICE__PROGRESS__INIT;
            p.job_id = id;
            s_send (self, i, SLUICE__ENVELOPE__BODY_PROGRESS, &p);
            break;
        }
        case WRK_MSG_PROGRESS: {
            Sluice__Progress p = SLUICE__PROGRESS__INIT;
            p.job_id = id;
            s_send (self, i, SLUICE__ENVELOPE__BODY_PROGRESS, &p);
            break;
        }
        case WRK_MSG_PROCESSED:
            //  Not the plugin any more: a cancelled job that waits for
            //  Kafka (say, while the broker is down) is not stuck.
            if (id == lane->running_job) {
                lane->running_flushing = true;
                lane->cancel_deadline = 0;
            }
            break;
        case WRK_MSG_DROPPED:
            if (id == lane->running_job) {
                lane->running_job = 0;
                lane->cancel_deadline = 0;
            }
            if (lane->held)
                lane->held--;
            if (!self->stopping) {
                Sluice__Credit c = SLUICE__CREDIT__INIT;
                c.credits = 1;
                s_send (self, i, SLUICE__ENVELOPE__BODY_CREDIT, &c);
            }
            break;
        case WRK_MSG_RETURNED: {
            if (lane->held)
                lane->held--;
            Sluice__Return r = SLUICE__RETURN__INIT;
            r.job_id = id;
            r.reason = "worker stopping";
            s_send (self, i, SLUICE__ENVELOPE__BODY_RET, &r);
            break;
        }
        default: //  a command type: only the executor receives those
            sl_error ("worker thread message out of place type=%s",
                      wrk_msg_name (m.type));
            break;
    }
    wrk_msg_clear (&m);
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
    int64_t heard = self->started_ms;
    for (size_t i = 0; i < self->nscheds; i++)
        if (!self->scheds[i].finished && self->scheds[i].last_recv_ms > heard)
            heard = self->scheds[i].last_recv_ms;
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
    for (size_t i = 0; i < self->nscheds; i++) {
        wrk_sched_t *sched = &self->scheds[i];
        sl_proto_send (sched->dealer, NULL, SLUICE__ENVELOPE__BODY_HEARTBEAT,
                       &hb);
        if (now - sched->last_recv_ms > limit &&
            now - sched->hello_ms > limit) {
            if (!sched->lost)
                sl_warn ("scheduler silent, dropping its jobs scheduler=%s",
                         sched->endpoint);
            sched->lost = true;
            s_reset_sched (self, i, "missed heartbeats");
        }
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
    for (size_t l = 0; l < self->nlanes; l++) {
        wrk_lane_t *lane = &self->lanes[l];
        if (!lane->running_job)
            continue;
        sl_warn ("grace period over, leaving the running job job=%" PRIu64,
                 lane->running_job);
        Sluice__Return r = SLUICE__RETURN__INIT;
        r.job_id = lane->running_job;
        r.reason = "worker stopping, grace period over";
        s_send (self, lane->running_sched, SLUICE__ENVELOPE__BODY_RET, &r);
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
    for (size_t l = 0; l < self->nlanes; l++) {
        wrk_lane_t *lane = &self->lanes[l];
        if (lane->cancel_deadline && sl_now_ms () > lane->cancel_deadline) {
            sl_error ("plugin stuck: job cancelled %" PRId64
                      " ms ago is still running, exiting so the worker can "
                      "be restarted job=%" PRIu64,
                      self->cfg->grace_ms, lane->running_job);
            _exit (3);
        }
    }
    static bool armed = false;
    for (size_t i = 0; i < self->nscheds; i++)
        if (!self->scheds[i].announced)
            s_send_hello (self, i);
    if (self->stopping && !armed) {
        armed = true;
        zloop_timer (loop, (size_t)self->cfg->grace_ms + 2000, 1,
                     s_on_grace_over, self);
    }
    return 0;
}

//  Sample the records total and return records per second over the last
//  WRK_RATE_WINDOW_MS (records count when their job's DONE leaves).
static double
s_rate (worker_t *self, int64_t now)
{
    self->rate[self->rate_next].ms = now;
    self->rate[self->rate_next].records = self->totals.records;
    self->rate_next = (self->rate_next + 1) % WRK_RATE_SAMPLES;
    if (self->rate_n < WRK_RATE_SAMPLES)
        self->rate_n++;
    //  The oldest sample still inside the window.
    size_t first =
        (self->rate_next + WRK_RATE_SAMPLES - self->rate_n) % WRK_RATE_SAMPLES;
    for (size_t k = 0; k < self->rate_n; k++) {
        size_t i = (first + k) % WRK_RATE_SAMPLES;
        if (now - self->rate[i].ms > WRK_RATE_WINDOW_MS)
            continue;
        if (self->rate[i].ms >= now)
            return 0;
        return (double)(self->totals.records - self->rate[i].records) * 1000.0 /
               (double)(now - self->rate[i].ms);
    }
    return 0;
}

//  What the lanes' consumers fetched, summed (librdkafka statistics).
static void
s_fetched (worker_t *self, uint64_t *records, uint64_t *bytes, uint64_t *wakes)
{
    *records = *bytes = *wakes = 0;
    for (size_t l = 0; l < self->nlanes; l++) {
        uint64_t r, b, w;
        wrk_exec_fetched (self->lanes[l].exec, &r, &b, &w);
        *records += r;
        *bytes += b;
        *wakes += w;
    }
}

//  Render the worker's Prometheus page and readiness.
static void
s_metrics_publish (worker_t *self)
{
    char *page = NULL;
    size_t len = 0;
    FILE *f = open_memstream (&page, &len);
    if (!f)
        return;
    size_t connected = 0;
    for (size_t i = 0; i < self->nscheds; i++)
        connected += self->scheds[i].announced && !self->scheds[i].lost;
    sl_prom_head (f, "sluice_worker_jobs_total", "counter",
                  "Jobs this worker finished, by outcome.");
    fprintf (f,
             "sluice_worker_jobs_total{outcome=\"done\"} %" PRIu64 "\n"
             "sluice_worker_jobs_total{outcome=\"failed\"} %" PRIu64 "\n",
             self->totals.jobs_ok, self->totals.jobs_failed);
    uint64_t fetched, fetched_bytes, wakes;
    s_fetched (self, &fetched, &fetched_bytes, &wakes);
    const struct {
        const char *name, *help;
        uint64_t v;
    } counters[] = {
        {"sluice_worker_records_processed_total",
         "Records handed to the plugin.", self->totals.records},
        {"sluice_worker_records_rejected_total",
         "Records copied to the dead-letter topic.", self->totals.rejected},
        {"sluice_worker_records_emitted_total",
         "Records produced to the output topic.", self->totals.emitted},
        {"sluice_worker_records_retried_total",
         "Per-record retries asked for by the plugin.", self->totals.retried},
        {"sluice_worker_records_lost_total",
         "Offsets deleted by retention before they were read.",
         self->totals.lost},
        {"sluice_worker_fetched_records_total",
         "Records the worker's consumers fetched from Kafka (librdkafka "
         "statistics rxmsgs: prefetch and records read again included).",
         fetched},
        {"sluice_worker_fetched_bytes_total",
         "Bytes the worker's consumers received from Kafka brokers "
         "(librdkafka statistics rx_bytes).",
         fetched_bytes},
        {"sluice_worker_fetch_wakeups_total",
         "Times a consumer had stopped fetching at a full queue "
         "(queued.min.messages or queued.max.messages.kbytes) and the "
         "worker woke it once the plugin had consumed half of it.",
         wakes}};
    for (size_t i = 0; i < sizeof counters / sizeof counters[0]; i++)
        sl_prom_counter (f, counters[i].name, counters[i].help, counters[i].v);
    const struct {
        const char *name, *help;
        uint64_t us;
    } seconds[] = {
        {"sluice_worker_plugin_seconds_total",
         "Time inside the plugin's process calls.", self->totals.plugin_us},
        {"sluice_worker_fetch_seconds_total",
         "Time waiting for records from Kafka (the consumer's queue).",
         self->totals.fetch_us},
        {"sluice_worker_flush_seconds_total",
         "Time waiting at the end of jobs for Kafka to acknowledge the "
         "records produced (output and dead letters).",
         self->totals.flush_us}};
    for (size_t i = 0; i < sizeof seconds / sizeof seconds[0]; i++)
        sl_prom_counter_seconds (f, seconds[i].name, seconds[i].help,
                                 seconds[i].us);
    char help[128];
    snprintf (help, sizeof help,
              "Records processed per second over the last %d s (counted "
              "when a job ends).",
              WRK_RATE_WINDOW_MS / 1000);
    sl_prom_gauge (f, "sluice_worker_records_per_second", help,
                   s_rate (self, sl_now_ms ()));
    sl_prom_counter_seconds (f, "sluice_worker_busy_seconds_total",
                             "Time spent running jobs (fetch, plugin, "
                             "produce, flush).",
                             self->totals.busy_us);
    sl_prom_gauge (f, "sluice_worker_schedulers_connected",
                   "Schedulers this worker is announced to and hears from.",
                   (double)connected);
    sl_prom_gauge (f, "sluice_worker_job_running",
                   "Jobs running now (at most --concurrency).",
                   (double)s_running (self));
    fclose (f);
    sl_http_publish (self->http, page, len, connected > 0 && !self->stopping,
                     self->stopping ? "stopping"
                                    : "not connected to a scheduler");
    free (page);
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
    self->nlanes = cfg->concurrency > 0 ? (size_t)cfg->concurrency : 1;
    self->us_per_off = -1;
    self->lanes = calloc (self->nlanes, sizeof *self->lanes);
    if (!self->lanes)
        goto fail;
    //  The first lane loads the plugin; the others share its instance if
    //  the plugin says it is thread-safe, or load their own.
    for (size_t l = 0; l < self->nlanes; l++) {
        wrk_lane_t *lane = &self->lanes[l];
        lane->owner = self;
        lane->index = l;
        wrk_plugin_t *first = l ? wrk_exec_plugin (self->lanes[0].exec) : NULL;
        bool share =
            first && (wrk_plugin_flags (first) & SLUICE_PLUGIN_F_THREAD_SAFE);
        lane->exec = wrk_exec_new (cfg, share ? first : NULL, err, errlen);
        if (!lane->exec)
            goto fail;
    }
    self->credits = cfg->credits;
    if (self->credits < (int64_t)self->nlanes + 1 && self->nlanes > 1)
        self->credits = (int64_t)self->nlanes + 1;
    if (self->nlanes > 1)
        sl_info ("concurrency lanes=%zu plugin_instances=%zu credits=%" PRId64,
                 self->nlanes,
                 wrk_plugin_flags (wrk_exec_plugin (self->lanes[0].exec)) &
                         SLUICE_PLUGIN_F_THREAD_SAFE
                     ? (size_t)1
                     : self->nlanes,
                 self->credits);
    if (cfg->metrics_addr && *cfg->metrics_addr) {
        self->http = sl_http_new (cfg->metrics_addr, err, errlen);
        if (!self->http)
            goto fail;
        sl_info ("metrics listening addr=%s port=%d", cfg->metrics_addr,
                 sl_http_port (self->http));
    }
    self->nscheds = cfg->schedulers.count;
    self->scheds = calloc (self->nscheds, sizeof *self->scheds);
    if (!self->scheds)
        goto fail;
    for (size_t i = 0; i < self->nscheds; i++) {
        wrk_sched_t *sched = &self->scheds[i];
        sched->owner = self;
        sched->index = i;
        sched->endpoint = cfg->schedulers.items[i];
        sched->dealer = zsock_new (ZMQ_DEALER);
        if (!sched->dealer)
            goto fail;
        zsock_set_immediate (sched->dealer, 1);
        zsock_set_maxmsgsize (sched->dealer, SL_PROTO_MAX_FRAME);
        //  ZMTP heartbeats: a connection to a scheduler whose host went
        //  away (no FIN, no RST) is dropped and dialled again, the name
        //  resolved anew, instead of waiting minutes for TCP to give up.
        zsock_set_heartbeat_ivl (sched->dealer, (int)cfg->heartbeat_ms);
        zsock_set_heartbeat_timeout (sched->dealer,
                                     (int)(cfg->heartbeat_ms * cfg->liveness));
        if (cfg->curve_cert && *cfg->curve_cert) {
            if (sl_curve_client (sched->dealer, cfg->curve_cert,
                                 cfg->curve_server_cert, err, errlen) != 0)
                goto fail;
            sched->monitor = sl_curve_monitor_new (sched->dealer);
        } else if (cfg->curve_server_cert && *cfg->curve_server_cert) {
            snprintf (err, errlen,
                      "--curve-server-cert needs --curve-cert, the worker's "
                      "own keypair (sluice keygen)");
            goto fail;
        }
        //  A connect that gets no answer is abandoned after the same time,
        //  and the name resolved again: without it, a scheduler pod
        //  replaced under the same DNS name (a new IP) was reached only
        //  once the kernel gave up on the old address's SYNs, 27-61 s on a
        //  real cluster (tests/k8s, two schedulers, one deleted).
        zsock_set_connect_timeout (sched->dealer,
                                   (int)(cfg->heartbeat_ms * cfg->liveness));
        zsock_set_reconnect_ivl (sched->dealer, 100);
        zsock_set_reconnect_ivl_max (sched->dealer, 2000);
        zsock_set_linger (sched->dealer, 500);
        if (zsock_connect (sched->dealer, "%s", sched->endpoint) != 0) {
            snprintf (err, errlen,
                      "--scheduler: cannot connect to '%s': %s; use "
                      "tcp://HOST:PORT",
                      sched->endpoint, zmq_strerror (zmq_errno ()));
            goto fail;
        }
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
    int64_t now = sl_now_ms ();
    for (size_t i = 0; i < self->nscheds; i++) {
        self->scheds[i].last_recv_ms = now;
        s_send_hello (self, i);
    }
}

//  A CURVE handshake event on a scheduler's socket: log refusals.
static int
s_on_monitor (zloop_t *loop, zsock_t *reader, void *arg)
{
    wrk_sched_t *sched = arg;
    sl_curve_monitor_log (sched->monitor, "worker");
    return 0;
}

//  Run the loop.
int
worker_run (worker_t *self)
{
    //  SIGTERM and SIGINT arrive on a signalfd, never as handlers: a
    //  handler would interrupt zmq_poll, and zloop ends on EINTR, which
    //  would skip the graceful stop. worker_main blocks them in every
    //  thread before any is created; block them here too for callers
    //  that did not.
    sigset_t stop;
    sigemptyset (&stop);
    sigaddset (&stop, SIGTERM);
    sigaddset (&stop, SIGINT);
    pthread_sigmask (SIG_BLOCK, &stop, NULL);
    int sfd = signalfd (-1, &stop, SFD_NONBLOCK | SFD_CLOEXEC);
    self->started_ms = sl_now_ms ();
    if (sfd < 0) {
        sl_error ("signalfd failed error=\"%s\"", strerror (errno));
        return 1;
    }

    for (size_t l = 0; l < self->nlanes; l++) {
        self->lanes[l].actor = wrk_exec_start (self->lanes[l].exec);
        if (!self->lanes[l].actor)
            return 1;
        //  Never block on a lane: one that has stopped (its thread gone,
        //  its STOPPED not read yet) takes nothing, and a blocking send
        //  would wait for ever. That happened when the scheduler's BYE
        //  came right after SIGTERM had stopped the lanes: the worker
        //  hung in s_reset_sched until it was killed. A live lane's pipe
        //  never fills (it holds at most --credits jobs).
        zsock_set_sndtimeo (zactor_sock (self->lanes[l].actor), 0);
    }
    zloop_t *loop = zloop_new ();
    self->loop = loop;
    zloop_set_nonstop (loop, true);
    for (size_t i = 0; i < self->nscheds; i++)
        zloop_reader (loop, self->scheds[i].dealer, s_on_dealer,
                      &self->scheds[i]);
    for (size_t l = 0; l < self->nlanes; l++)
        zloop_reader (loop, zactor_sock (self->lanes[l].actor), s_on_exec,
                      &self->lanes[l]);
    for (size_t i = 0; i < self->nscheds; i++)
        if (self->scheds[i].monitor)
            zloop_reader (loop, zactor_sock (self->scheds[i].monitor),
                          s_on_monitor, &self->scheds[i]);
    zmq_pollitem_t item = {NULL, sfd, ZMQ_POLLIN, 0};
    zloop_poller (loop, &item, s_on_signal_fd, self);
    zloop_timer (loop, (size_t)self->cfg->heartbeat_ms, 0, s_on_heartbeat,
                 self);
    zloop_timer (loop, 100, 0, s_on_tick, self);
    sl_info (
        "worker started worker=%s plugin=%s schedulers=%zu credits=%" PRId64,
        self->name, wrk_exec_plugin_name (self->lanes[0].exec), self->nscheds,
        self->credits);
    s_hello_all (self);
    //  zloop_start returns 0 when a system call was interrupted (EINTR),
    //  -1 when a handler ended the loop: only the latter means stop.
    while (zloop_start (loop) == 0)
        sl_debug ("event loop interrupted, resuming");
    zloop_destroy (&loop);
    close (sfd);
    self->loop = NULL;
    Sluice__Bye bye = SLUICE__BYE__INIT;
    bye.reason = "worker stopping";
    for (size_t i = 0; i < self->nscheds; i++) {
        //  czmq's sockets linger 0: let the BYE leave before the socket
        //  closes (not long: the scheduler may be gone).
        zsock_set_linger (self->scheds[i].dealer, 500);
        s_send (self, (int)i, SLUICE__ENVELOPE__BODY_BYE, &bye);
    }
    uint64_t fetched, fetched_bytes, wakes;
    s_fetched (self, &fetched, &fetched_bytes, &wakes);
    sl_info ("kafka consumer totals rxmsgs=%" PRIu64 " rx_bytes=%" PRIu64
             " fetch_wakeups=%" PRIu64,
             fetched, fetched_bytes, wakes);
    sl_info ("worker stopped jobs_done=%" PRIu64, self->jobs_done);
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
        for (size_t i = 0; i < self->nscheds; i++)
            zsock_destroy (&self->scheds[i].dealer);
        _exit (0);
    }
    sl_http_destroy (&self->http);
    for (size_t l = 0; self->lanes && l < self->nlanes; l++)
        zactor_destroy (&self->lanes[l].actor);
    //  The first lane owns a shared plugin instance: destroy it last.
    for (size_t l = self->nlanes; self->lanes && l > 0; l--)
        wrk_exec_destroy (&self->lanes[l - 1].exec);
    free (self->lanes);
    for (size_t i = 0; self->scheds && i < self->nscheds; i++) {
        zactor_destroy (&self->scheds[i].monitor);
        zsock_destroy (&self->scheds[i].dealer);
    }
    free (self->scheds);
    free (self);
    *self_p = NULL;
}
