/*  bench_null_worker - a worker that speaks sluice's protocol and never
    touches Kafka, to measure the scheduler alone.

        bench_null_worker --scheduler tcp://127.0.0.1:7400 [--credits 2]
                          [--sockets 1] [--delay-ms 0]
                          [--hold-every K --hold-ms H] [--hold-all]
                          [--no-batches]

    Each of --sockets DEALER sockets is one worker to the scheduler: it
    says HELLO with --credits and answers every JOB with DONE ok (records
    = end - start, one credit back), at once or after --delay-ms. With
    --hold-every K every K-th job is answered only after --hold-ms, which
    leaves a gap below later jobs; its DONE closes the gap and is printed
    as {"event":"gap_closed",...,"t":T} (T: wall-clock seconds when DONE
    left). With --hold-all no job is ever answered: the scheduler's jobs
    stay in flight (memory per in-flight job). Heartbeats every second.
    As the worker does, it says in HELLO that it reads BATCH frames, and
    once a scheduler has sent it one it answers what one frame held in
    one frame too; --no-batches says it does not (one frame per message
    both ways, as before batches).

    Prints {"event":"count","jobs":N,"t":T} every --report-ms while jobs
    arrive, and at the end (BYE from the scheduler, or SIGTERM) a summary:
    {"jobs":N,"t_first":T,"t_last":T,...}.
*/
#include <czmq.h>
#include <inttypes.h>
#include "bench_util.h"
#include "sl_flags.h"
#include "sl_proto.h"

#define PROG         "bench_null_worker"
#define MAX_SOCKETS  256
#define HEARTBEAT_MS 1000

typedef struct {
    char *scheduler;
    int64_t credits, sockets, delay_ms, hold_every, hold_ms, report_ms;
    bool hold_all, no_batches;
} null_cfg_t;

//  A reply owed later: the job's numbers (a decoded JOB lives only as
//  long as its arena).
typedef struct {
    int sock;
    int64_t due_ms;
    bool held;
    uint64_t job_id;
    char *topic;
    int32_t partition;
    int64_t start, end;
} pending_t;

typedef struct {
    const null_cfg_t *cfg;
    zsock_t *socks[MAX_SOCKETS];
    sl_proto_out_t *outs[MAX_SOCKETS]; /* replies gathered: one frame      */
    bool batches[MAX_SOCKETS]; /* its scheduler sent a BATCH           */
    zmq_pollitem_t items[MAX_SOCKETS];
    size_t nsocks;
    pending_t *pending;
    size_t npending, cap;
    uint64_t jobs, done, held, reported;
    uint64_t frames_in, frames_out; /* frames received and sent           */
    double t_first, t_last;
    int64_t next_heartbeat, next_report;
    int rcvtimeo; //  socket 0's receive timeout as last set
    bool finished;
} null_t;

static int64_t
s_now_ms (void)
{
    return zclock_mono ();
}

//  HELLO on socket i.
static void
s_hello (null_t *self, size_t i)
{
    char name[64], host[64] = "bench";
    snprintf (name, sizeof name, "null/%d/%zu", (int)getpid (), i);
    Sluice__Hello hello = SLUICE__HELLO__INIT;
    hello.worker_id = name;
    hello.credits = (uint32_t)self->cfg->credits;
    hello.plugin = "null";
    hello.pid = (uint32_t)getpid ();
    hello.hostname = host;
    hello.batches = !self->cfg->no_batches;
    if (self->outs[i]) //  what was said before it goes first
        sl_proto_out_flush (self->socks[i], NULL, 0, self->outs[i]);
    self->batches[i] = false; //  until this scheduler sends one
    sl_proto_send (self->socks[i], NULL, SLUICE__ENVELOPE__BODY_HELLO, &hello);
}

//  Send a message on socket i: into its outbox if its scheduler reads
//  batches (s_flush sends it), else at once.
static void
s_send (null_t *self, size_t i, Sluice__Envelope__BodyCase kind, void *body)
{
    sl_proto_out_t *out = self->outs[i];
    if (!self->batches[i] || !out) {
        sl_proto_send (self->socks[i], NULL, kind, body);
        self->frames_out++;
        return;
    }
    int frames = sl_proto_out_put (self->socks[i], NULL, 0, out, kind, body);
    if (frames > 0)
        self->frames_out += (uint64_t)frames;
}

//  Send what each socket's outbox holds.
static void
s_flush (null_t *self)
{
    for (size_t i = 0; i < self->nsocks; i++)
        if (self->outs[i]) {
            self->frames_out += self->outs[i]->count > 0;
            sl_proto_out_flush (self->socks[i], NULL, 0, self->outs[i]);
        }
}

//  DONE ok for a job on socket i, one credit back.
static void
s_done (null_t *self, size_t i, uint64_t job_id, char *topic, int32_t partition,
        int64_t start, int64_t end)
{
    Sluice__Done done = SLUICE__DONE__INIT;
    done.job_id = job_id;
    done.topic = topic;
    done.partition = partition;
    done.start = start;
    done.end = end;
    done.status = SLUICE__JOB_STATUS__JOB_STATUS_OK;
    done.error = "";
    done.records = (uint64_t)(end - start);
    done.credits = 1;
    s_send (self, i, SLUICE__ENVELOPE__BODY_DONE, &done);
    self->done++;
}

//  Queue a reply for later.
static void
s_defer (null_t *self, size_t i, const Sluice__Job *job, int64_t due, bool held)
{
    if (self->npending == self->cap) {
        size_t cap = self->cap ? self->cap * 2 : 64;
        pending_t *more = realloc (self->pending, cap * sizeof *more);
        if (!more)
            return;
        self->pending = more;
        self->cap = cap;
    }
    char *topic = strdup (job->topic);
    if (!topic)
        return;
    self->pending[self->npending++] =
        (pending_t){(int)i,         due,        held,    job->job_id, topic,
                    job->partition, job->start, job->end};
}

//  A JOB arrived on socket i: answer it now, later, or never.
static void
s_on_job (null_t *self, size_t i, sl_msg_t *msg)
{
    const null_cfg_t *cfg = self->cfg;
    double now = bench_now ();
    if (self->jobs++ == 0)
        self->t_first = now;
    self->t_last = now;
    if (cfg->hold_all) {
        self->held++;
        return;
    }
    bool held =
        cfg->hold_every > 0 && self->jobs % (uint64_t)cfg->hold_every == 0;
    int64_t wait = held ? cfg->hold_ms : cfg->delay_ms;
    const Sluice__Job *job = msg->job;
    if (wait == 0) {
        s_done (self, i, job->job_id, job->topic, job->partition, job->start,
                job->end);
        return;
    }
    s_defer (self, i, job, s_now_ms () + wait, held);
}

//  CANCEL: drop a reply not sent yet and give its credit back.
static void
s_on_cancel (null_t *self, size_t i, Sluice__Cancel *cancel)
{
    for (size_t k = 0; k < self->npending; k++)
        if (self->pending[k].job_id == cancel->job_id) {
            free (self->pending[k].topic);
            self->pending[k] = self->pending[--self->npending];
            Sluice__Credit credit = SLUICE__CREDIT__INIT;
            credit.credits = 1;
            s_send (self, i, SLUICE__ENVELOPE__BODY_CREDIT, &credit);
            return;
        }
}

//  One message of socket i's frame.
static void
s_on_message (null_t *self, size_t i, sl_msg_t *msg)
{
    switch (msg->body_case) {
        case SLUICE__ENVELOPE__BODY_JOB:
            s_on_job (self, i, msg);
            break;
        case SLUICE__ENVELOPE__BODY_CANCEL:
            s_on_cancel (self, i, msg->cancel);
            break;
        case SLUICE__ENVELOPE__BODY_BYE:
            if (msg->bye->rehello)
                s_hello (self, i);
            else
                self->finished = true;
            break;
        default:
            break;
    }
}

//  One frame from socket i, if one comes (waiting up to the socket's
//  receive timeout if wait); false if none did. Decoded on the stack, as
//  the scheduler does: no allocation per job.
static bool
s_on_frame (null_t *self, size_t i, bool wait)
{
    char err[256];
    sl_proto_frame_t frame;
    int got =
        sl_proto_recv_frame (self->socks[i], &frame, wait, err, sizeof err);
    if (got <= 0) {
        if (got < 0)
            fprintf (stderr, PROG ": bad message: %s\n", err);
        return got < 0;
    }
    if (sl_proto_frame_batch (&frame))
        self->batches[i] = true;
    self->frames_in++;
    _Alignas(16) unsigned char space[2048];
    sl_proto_arena_t arena;
    sl_proto_arena_init (&arena, space, sizeof space);
    sl_msg_t *msg;
    while ((msg = sl_proto_frame_next (&frame, &arena, err, sizeof err))) {
        s_on_message (self, i, msg);
        sl_proto_arena_free (&arena, &msg);
    }
    if (*err)
        fprintf (stderr, PROG ": bad message: %s\n", err);
    sl_proto_frame_close (&frame);
    return true;
}

//  Send the replies that are due; returns ms until the next one (or -1).
static int64_t
s_send_due (null_t *self, int64_t now)
{
    int64_t next = -1;
    for (size_t k = 0; k < self->npending;) {
        pending_t *p = &self->pending[k];
        if (p->due_ms > now) {
            if (next < 0 || p->due_ms - now < next)
                next = p->due_ms - now;
            k++;
            continue;
        }
        s_done (self, (size_t)p->sock, p->job_id, p->topic, p->partition,
                p->start, p->end);
        if (p->held) {
            printf ("{\"event\":\"gap_closed\",\"topic\":\"%s\","
                    "\"partition\":%d,\"start\":%" PRId64 ",\"end\":%" PRId64
                    ",\"t\":%.6f}\n",
                    p->topic, p->partition, p->start, p->end, bench_now ());
            fflush (stdout);
        }
        free (p->topic);
        *p = self->pending[--self->npending];
    }
    return next;
}

//  Heartbeats and count reports.
static void
s_timers (null_t *self, int64_t now)
{
    if (now >= self->next_heartbeat) {
        Sluice__Heartbeat hb = SLUICE__HEARTBEAT__INIT;
        hb.jobs_done = self->done;
        for (size_t i = 0; i < self->nsocks; i++)
            s_send (self, i, SLUICE__ENVELOPE__BODY_HEARTBEAT, &hb);
        self->next_heartbeat = now + HEARTBEAT_MS;
    }
    if (self->cfg->report_ms > 0 && now >= self->next_report &&
        self->jobs != self->reported) {
        printf ("{\"event\":\"count\",\"jobs\":%" PRIu64 ",\"t\":%.6f}\n",
                self->jobs, bench_now ());
        fflush (stdout);
        self->reported = self->jobs;
        self->next_report = now + self->cfg->report_ms;
    }
}

//  Serve the sockets until the scheduler says bye or a signal arrives.
static void
s_run (null_t *self)
{
    while (!self->finished && !bench_stopping ()) {
        int64_t now = s_now_ms ();
        int64_t wait = s_send_due (self, now);
        s_timers (self, now);
        s_flush (self);
        int64_t until_hb = self->next_heartbeat - now;
        if (wait < 0 || wait > until_hb)
            wait = until_hb;
        if (self->cfg->report_ms > 0 && wait > self->cfg->report_ms)
            wait = self->cfg->report_ms;
        if (self->nsocks == 1) {
            //  One socket: wait in the receive itself, as the echo's
            //  DEALER does (a zmq_poll first costs a poll() and a look at
            //  the socket's events on every wake-up).
            if (wait != self->rcvtimeo) {
                zsock_set_rcvtimeo (self->socks[0], (int)wait);
                self->rcvtimeo = (int)wait;
            }
            s_on_frame (self, 0, true);
            s_flush (self);
            continue;
        }
        if (zmq_poll (self->items, (int)self->nsocks, (long)wait) < 0)
            continue;
        for (size_t i = 0; i < self->nsocks; i++)
            while (s_on_frame (self, i, false))
                ;
        s_flush (self);
    }
}

//  Connect the sockets and say hello.
static int
s_connect (null_t *self)
{
    for (size_t i = 0; i < (size_t)self->cfg->sockets; i++) {
        zsock_t *sock = zsock_new (ZMQ_DEALER);
        if (!sock)
            return -1;
        zsock_set_maxmsgsize (sock, SL_PROTO_MAX_FRAME);
        zsock_set_sndhwm (sock, 100000);
        zsock_set_rcvhwm (sock, 100000);
        zsock_set_linger (sock, 1000);
        //  Started before the scheduler binds (bench/figures.py), it must
        //  connect soon after: its HELLO waits in the socket till then.
        zsock_set_reconnect_ivl (sock, 10);
        if (zsock_connect (sock, "%s", self->cfg->scheduler) != 0) {
            zsock_destroy (&sock);
            return -1;
        }
        if ((self->outs[i] = malloc (sizeof *self->outs[i])))
            sl_proto_out_init (self->outs[i]);
        self->socks[i] = sock;
        self->items[i] =
            (zmq_pollitem_t){zsock_resolve (sock), 0, ZMQ_POLLIN, 0};
        self->nsocks++;
        s_hello (self, i);
    }
    return 0;
}

int
main (int argc, char **argv)
{
    null_cfg_t cfg = {0};
    sl_flag_t flags[] = {
        {"scheduler", 0, SL_FLAG_STR, &cfg.scheduler, NULL, 0, 0, true,
         "ENDPOINT", "scheduler to take jobs from", "SLUICE_BENCH_SCHEDULER"},
        {"credits", 0, SL_FLAG_INT, &cfg.credits, "2", 1, SL_PROTO_MAX_CREDITS,
         false, "N", "credit per socket (the worker's --credits)",
         "SLUICE_BENCH_CREDITS"},
        {"sockets", 0, SL_FLAG_INT, &cfg.sockets, "1", 1, MAX_SOCKETS, false,
         "N", "workers this process pretends to be", "SLUICE_BENCH_SOCKETS"},
        {"delay-ms", 0, SL_FLAG_INT, &cfg.delay_ms, "0", 0, 3600000, false,
         "MS", "answer each job after this long", "SLUICE_BENCH_DELAY_MS"},
        {"hold-every", 0, SL_FLAG_INT, &cfg.hold_every, "0", 0, INT64_MAX,
         false, "K", "hold every K-th job for --hold-ms (0: none)",
         "SLUICE_BENCH_HOLD_EVERY"},
        {"hold-ms", 0, SL_FLAG_INT, &cfg.hold_ms, "300", 0, 3600000, false,
         "MS", "how long a held job waits", "SLUICE_BENCH_HOLD_MS"},
        {"hold-all", 0, SL_FLAG_BOOL, &cfg.hold_all, NULL, 0, 0, false, "",
         "never answer: keep every job in flight", "SLUICE_BENCH_HOLD_ALL"},
        {"no-batches", 0, SL_FLAG_BOOL, &cfg.no_batches, NULL, 0, 0, false, "",
         "one frame per message, both ways (no BATCH)",
         "SLUICE_BENCH_NO_BATCHES"},
        {"report-ms", 0, SL_FLAG_INT, &cfg.report_ms, "0", 0, 600000, false,
         "MS", "print the job count this often (0: never)",
         "SLUICE_BENCH_REPORT_MS"},
    };
    size_t nflags = sizeof flags / sizeof flags[0];
    char err[768] = "";
    int rc = sl_flags_parse (PROG, flags, nflags, argc, argv, err, sizeof err);
    if (rc == 1) {
        sl_flags_usage (PROG, "A sluice worker that does nothing.", flags,
                        nflags, stdout);
        sl_flags_free (flags, nflags);
        return 0;
    }
    if (rc != 0) {
        fprintf (stderr, PROG ": %s\n", err);
        sl_flags_free (flags, nflags);
        return 2;
    }
    zsys_init ();
    zsys_handler_set (NULL);
    bench_catch_signals ();
    null_t self = {.cfg = &cfg, .rcvtimeo = -1};
    if (s_connect (&self) != 0) {
        fprintf (stderr, PROG ": cannot connect to %s\n", cfg.scheduler);
        rc = 2;
    } else
        s_run (&self);
    printf ("{\"jobs\":%" PRIu64 ",\"done\":%" PRIu64 ",\"held\":%" PRIu64
            ",\"t_first\":%.6f,\"t_last\":%.6f,\"sockets\":%zu"
            ",\"frames_in\":%" PRIu64 ",\"frames_out\":%" PRIu64
            ",\"finished\":%s}\n",
            self.jobs, self.done, self.held, self.t_first, self.t_last,
            self.nsocks, self.frames_in, self.frames_out,
            self.finished ? "true" : "false");
    for (size_t k = 0; k < self.npending; k++)
        free (self.pending[k].topic);
    free (self.pending);
    s_flush (&self);
    for (size_t i = 0; i < self.nsocks; i++) {
        zsock_destroy (&self.socks[i]);
        free (self.outs[i]);
    }
    sl_flags_free (flags, nflags);
    return rc;
}
