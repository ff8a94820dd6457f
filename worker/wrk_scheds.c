/*  wrk_scheds - the schedulers a worker serves. See wrk_scheds.h.       */
#include "wrk_scheds.h"

#include "sl_clock.h"
#include "sl_curve.h"
#include "sl_log.h"

typedef struct {
    zsock_t *dealer;
    zactor_t *monitor; /* handshake events, with CURVE                    */
    const char *endpoint;
    int64_t last_recv_ms;
    int64_t hello_ms;
    bool announced; /* a HELLO left the socket (it drops while unconnected) */
    bool lost;      /* no word from it for a liveness period             */
    bool finished;  /* it said its drain is complete                       */
    /*  It sent a BATCH (since our last HELLO), so it reads them: what we
        say goes into out and leaves as one frame at wrk_scheds_flush.   */
    bool batches;
    sl_proto_out_t *out;
    sl_proto_frame_t frame; /* the frame being read (wrk_scheds_next)   */
} sched_t;

struct _wrk_scheds_t {
    sched_t *s;
    size_t n;
    uint64_t frames, messages;       /* sent, to every scheduler              */
    uint64_t frames_in, messages_in; /* received, from every one         */
};

//  ---------------------------------------------------------------------
//  Connections

//  The socket options that keep a connection alive and findable.
static void
s_set_options (zsock_t *dealer, const wrk_config_t *cfg)
{
    zsock_set_immediate (dealer, 1);
    zsock_set_maxmsgsize (dealer, SL_PROTO_MAX_FRAME);
    //  ZMTP heartbeats: a connection to a scheduler whose host went away
    //  (no FIN, no RST) is dropped and dialled again, the name resolved
    //  anew, instead of waiting minutes for TCP to give up.
    zsock_set_heartbeat_ivl (dealer, (int)cfg->heartbeat_ms);
    zsock_set_heartbeat_timeout (dealer,
                                 (int)(cfg->heartbeat_ms * cfg->liveness));
    //  A connect that gets no answer is abandoned after the same time,
    //  and the name resolved again: without it, a scheduler pod replaced
    //  under the same DNS name (a new IP) was reached only once the
    //  kernel gave up on the old address's SYNs, 27-61 s on a real
    //  cluster (tests/k8s, two schedulers, one deleted).
    zsock_set_connect_timeout (dealer,
                               (int)(cfg->heartbeat_ms * cfg->liveness));
    zsock_set_reconnect_ivl (dealer, 100);
    zsock_set_reconnect_ivl_max (dealer, 2000);
    zsock_set_linger (dealer, 500);
}

//  CURVE on the socket if --curve-cert is given. Returns 0 or -1.
static int
s_set_curve (sched_t *sched, const wrk_config_t *cfg, char *err, size_t errlen)
{
    if (cfg->curve_cert && *cfg->curve_cert) {
        if (sl_curve_client (sched->dealer, cfg->curve_cert,
                             cfg->curve_server_cert, err, errlen) != 0)
            return -1;
        sched->monitor = sl_curve_monitor_new (sched->dealer);
    } else if (cfg->curve_server_cert && *cfg->curve_server_cert) {
        snprintf (err, errlen,
                  "--curve-server-cert needs --curve-cert, the worker's "
                  "own keypair (sluice keygen)");
        return -1;
    }
    return 0;
}

//  Open sched's connection. Returns 0 or -1.
static int
s_connect (sched_t *sched, const wrk_config_t *cfg, char *err, size_t errlen)
{
    sched->dealer = zsock_new (ZMQ_DEALER);
    if (!sched->dealer)
        return -1;
    s_set_options (sched->dealer, cfg);
    if (s_set_curve (sched, cfg, err, errlen) != 0)
        return -1;
    if (zsock_connect (sched->dealer, "%s", sched->endpoint) != 0) {
        snprintf (err, errlen,
                  "--scheduler: cannot connect to '%s': %s; use "
                  "tcp://HOST:PORT",
                  sched->endpoint, zmq_strerror (zmq_errno ()));
        return -1;
    }
    return 0;
}

//  Connect to every scheduler.
wrk_scheds_t *
wrk_scheds_new (const wrk_config_t *cfg, char *err, size_t errlen)
{
    wrk_scheds_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->n = cfg->schedulers.count;
    self->s = calloc (self->n ? self->n : 1, sizeof *self->s);
    if (!self->s)
        goto fail;
    for (size_t i = 0; i < self->n; i++) {
        self->s[i].endpoint = cfg->schedulers.items[i];
        if (!(self->s[i].out = malloc (sizeof *self->s[i].out)))
            goto fail;
        sl_proto_out_init (self->s[i].out);
        if (s_connect (&self->s[i], cfg, err, errlen) != 0)
            goto fail;
    }
    return self;
fail:
    wrk_scheds_destroy (&self);
    return NULL;
}

//  Close every connection.
void
wrk_scheds_destroy (wrk_scheds_t **self_p)
{
    wrk_scheds_t *self = *self_p;
    if (!self)
        return;
    //  What waits in the outboxes leaves first (the sockets linger).
    wrk_scheds_flush (self);
    for (size_t i = 0; self->s && i < self->n; i++) {
        sl_proto_frame_close (&self->s[i].frame);
        zactor_destroy (&self->s[i].monitor);
        zsock_destroy (&self->s[i].dealer);
        free (self->s[i].out);
    }
    free (self->s);
    free (self);
    *self_p = NULL;
}

//  How many schedulers.
size_t
wrk_scheds_size (wrk_scheds_t *self)
{
    return self->n;
}

//  Scheduler i's endpoint, as given.
const char *
wrk_scheds_endpoint (wrk_scheds_t *self, size_t i)
{
    return self->s[i].endpoint;
}

//  A CURVE handshake event on a scheduler's socket: log refusals.
static int
s_on_monitor (zloop_t *loop, zsock_t *reader, void *arg)
{
    sched_t *sched = arg;
    sl_curve_monitor_log (sched->monitor, "worker");
    return 0;
}

//  Read the connections (and their monitors) in loop.
void
wrk_scheds_attach (wrk_scheds_t *self, zloop_t *loop, zloop_reader_fn *on_msg,
                   void *arg)
{
    for (size_t i = 0; i < self->n; i++)
        zloop_reader (loop, self->s[i].dealer, on_msg, arg);
    for (size_t i = 0; i < self->n; i++)
        if (self->s[i].monitor)
            zloop_reader (loop, zactor_sock (self->s[i].monitor), s_on_monitor,
                          &self->s[i]);
}

//  The scheduler reading on sock.
size_t
wrk_scheds_find (wrk_scheds_t *self, zsock_t *sock)
{
    size_t i = 0;
    while (i < self->n && self->s[i].dealer != sock)
        i++;
    return i;
}

//  ---------------------------------------------------------------------
//  Messages

//  Read one frame from scheduler i; see wrk_scheds.h.
bool
wrk_scheds_read (wrk_scheds_t *self, size_t i)
{
    sched_t *sched = &self->s[i];
    char err[256];
    sl_proto_frame_close (&sched->frame);
    int got = sl_proto_recv_frame (sched->dealer, &sched->frame, false, err,
                                   sizeof err);
    if (got < 0)
        sl_warn ("bad message from scheduler, ignored scheduler=%s "
                 "reason=\"%s\"",
                 sched->endpoint, err);
    if (got <= 0)
        return false;
    if (sl_proto_frame_batch (&sched->frame))
        sched->batches = true;
    self->frames_in++;
    return true;
}

//  The frame's next message; see wrk_scheds.h.
sl_msg_t *
wrk_scheds_next (wrk_scheds_t *self, size_t i)
{
    sched_t *sched = &self->s[i];
    char err[256];
    sl_msg_t *msg = sl_proto_frame_next (&sched->frame, NULL, err, sizeof err);
    if (!msg) {
        if (*err)
            sl_warn ("bad message from scheduler, ignored scheduler=%s "
                     "reason=\"%s\"",
                     sched->endpoint, err);
        sl_proto_frame_close (&sched->frame);
        return NULL;
    }
    self->messages_in++;
    sched->last_recv_ms = sl_now_ms ();
    if (sched->lost)
        sl_info ("scheduler back scheduler=%s", sched->endpoint);
    sched->lost = false;
    return msg;
}

//  Send what scheduler sched's outbox holds.
static int
s_flush (wrk_scheds_t *self, sched_t *sched)
{
    self->frames += sched->out->count > 0;
    return sl_proto_out_flush (sched->dealer, NULL, 0, sched->out);
}

//  Send one message to sched in a frame of its own.
static int
s_send_alone (wrk_scheds_t *self, sched_t *sched,
              Sluice__Envelope__BodyCase kind, void *body)
{
    self->frames++;
    self->messages++;
    return sl_proto_send (sched->dealer, NULL, kind, body);
}

//  Send a body to scheduler i; see wrk_scheds.h.
int
wrk_scheds_send (wrk_scheds_t *self, int i, Sluice__Envelope__BodyCase kind,
                 void *body)
{
    if (i < 0 || (size_t)i >= self->n)
        return -1;
    sched_t *sched = &self->s[i];
    if (!sched->batches)
        return s_send_alone (self, sched, kind, body);
    self->messages++;
    int frames =
        sl_proto_out_put (sched->dealer, NULL, 0, sched->out, kind, body);
    if (frames < 0)
        return -1;
    self->frames += (uint64_t)frames;
    return sched->out->count > 0 ? 1 : 0;
}

//  Frames and messages sent and received; see wrk_scheds.h.
void
wrk_scheds_totals (wrk_scheds_t *self, uint64_t totals[4])
{
    totals[0] = self->frames;
    totals[1] = self->messages;
    totals[2] = self->frames_in;
    totals[3] = self->messages_in;
}

//  Send every outbox; see wrk_scheds.h.
int
wrk_scheds_flush (wrk_scheds_t *self)
{
    int rc = 0;
    for (size_t i = 0; self->s && i < self->n; i++)
        if (self->s[i].out && s_flush (self, &self->s[i]) != 0)
            rc = -1;
    return rc;
}

//  Send a HELLO to scheduler i.
void
wrk_scheds_hello (wrk_scheds_t *self, size_t i, Sluice__Hello *hello)
{
    self->s[i].hello_ms = sl_now_ms ();
    //  What was said before goes first; then, until it sends a BATCH, a
    //  scheduler (perhaps a new one at the same address) is assumed not
    //  to read them.
    s_flush (self, &self->s[i]);
    self->s[i].batches = false;
    self->s[i].announced =
        wrk_scheds_send (self, (int)i, SLUICE__ENVELOPE__BODY_HELLO, hello) ==
        0;
}

//  ---------------------------------------------------------------------
//  What the worker knows of each

//  True once a HELLO to i has left.
bool
wrk_scheds_announced (wrk_scheds_t *self, size_t i)
{
    return self->s[i].announced;
}

//  When the last HELLO to i was sent.
int64_t
wrk_scheds_hello_ms (wrk_scheds_t *self, size_t i)
{
    return self->s[i].hello_ms;
}

//  Every scheduler heard from at now.
void
wrk_scheds_heard_all (wrk_scheds_t *self, int64_t now)
{
    for (size_t i = 0; i < self->n; i++)
        self->s[i].last_recv_ms = now;
}

//  True (and i marked lost) if i went silent.
bool
wrk_scheds_silent (wrk_scheds_t *self, size_t i, int64_t now, int64_t limit)
{
    sched_t *sched = &self->s[i];
    if (now - sched->last_recv_ms <= limit || now - sched->hello_ms <= limit)
        return false;
    if (!sched->lost)
        sl_warn ("scheduler silent, dropping its jobs scheduler=%s",
                 sched->endpoint);
    sched->lost = true;
    return true;
}

//  Schedulers announced to and not lost.
size_t
wrk_scheds_connected (wrk_scheds_t *self)
{
    size_t n = 0;
    for (size_t i = 0; i < self->n; i++)
        n += self->s[i].announced && !self->s[i].lost;
    return n;
}

//  Scheduler i finished its drain; true if all have.
bool
wrk_scheds_finish (wrk_scheds_t *self, size_t i)
{
    self->s[i].finished = true;
    sl_info ("scheduler finished its drain scheduler=%s", self->s[i].endpoint);
    bool all = true;
    for (size_t k = 0; k < self->n; k++)
        all = all && self->s[k].finished;
    return all;
}

//  The latest word from a scheduler whose drain is not finished.
int64_t
wrk_scheds_heard_unfinished (wrk_scheds_t *self, int64_t since)
{
    int64_t heard = since;
    for (size_t i = 0; i < self->n; i++)
        if (!self->s[i].finished && self->s[i].last_recv_ms > heard)
            heard = self->s[i].last_recv_ms;
    return heard;
}
