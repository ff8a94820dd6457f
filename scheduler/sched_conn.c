/*  sched_conn - the workers' connections. See sched_conn.h.             */
#include "sched_conn.h"

#include <stdio.h>
#include "sl_curve.h"
#include "sl_proto.h"
#include "sl_log.h"

//  See sched_conn.h.
int
sched_conn_open (sched_conn_t *self, zsock_t *router, const sched_config_t *cfg,
                 zactor_t **auth, char *err, size_t errlen)
{
    //  What a worker sends is small (HELLO, DONE with at most 16 lost
    //  ranges, heartbeats): a peer that sends more than SL_PROTO_MAX_INBOUND
    //  in one frame is disconnected by libzmq, and each peer's queue holds
    //  at most 1000 messages before TCP pushes back, so no peer can make
    //  us buffer without bound.
    //  With --order key a KEYS carries up to SL_PROTO_MAX_KEYS hashes.
    zsock_set_maxmsgsize (router, cfg->key_order ? SL_PROTO_MAX_FRAME
                                                 : SL_PROTO_MAX_INBOUND);
    zsock_set_sndhwm (router, 100000);
    zsock_set_rcvhwm (router, 1000);
    //  The BYEs sent just before the socket closes (the drain finished,
    //  the scheduler stops) must get out: czmq's default linger is 0.
    zsock_set_linger (router, 2000);
    if (cfg->curve_cert && *cfg->curve_cert) {
        if (sl_curve_server (router, cfg->curve_cert, cfg->curve_clients_dir,
                             cfg->curve_allow_any, auth, err, errlen) != 0)
            return -1;
    } else if ((cfg->curve_clients_dir && *cfg->curve_clients_dir) ||
               cfg->curve_allow_any) {
        snprintf (err, errlen,
                  "--curve-clients-dir and --curve-allow-any need "
                  "--curve-cert, the scheduler's own keypair");
        return -1;
    }
    if (zsock_bind (router, "%s", cfg->bind) < 0) {
        snprintf (err, errlen,
                  "cannot bind %s: %s; pass --bind tcp://HOST:PORT with a "
                  "free port",
                  cfg->bind, zmq_strerror (zmq_errno ()));
        return -1;
    }
    bool curve = cfg->curve_cert && *cfg->curve_cert;
    if (sched_conn_start (self, router, curve) != 0)
        sl_warn ("cannot watch the workers' connections: a dead worker is "
                 "noticed by its silence only error=\"%s\"",
                 zmq_strerror (zmq_errno ()));
    return 0;
}

//  See sched_conn.h.
int
sched_conn_start (sched_conn_t *self, zsock_t *router, bool curve)
{
    char endpoint[64];
    snprintf (endpoint, sizeof endpoint, "inproc://sched-conn-%p",
              (void *)self);
    int events = ZMQ_EVENT_ACCEPTED | ZMQ_EVENT_DISCONNECTED;
    if (curve)
        events |= ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL |
                  ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |
                  ZMQ_EVENT_HANDSHAKE_FAILED_AUTH |
                  ZMQ_EVENT_HANDSHAKE_SUCCEEDED;
    self->curve = curve;
    if (zmq_socket_monitor (zsock_resolve (router), endpoint, events) != 0)
        return -1;
    self->pair = zmq_socket (zsys_init (), ZMQ_PAIR);
    if (!self->pair || zmq_connect (self->pair, endpoint) != 0) {
        sched_conn_stop (self, router);
        return -1;
    }
    return 0;
}

//  See sched_conn.h.
void
sched_conn_stop (sched_conn_t *self, zsock_t *router)
{
    if (router)
        zmq_socket_monitor (zsock_resolve (router), NULL, 0);
    if (self->pair) {
        int linger = 0;
        zmq_setsockopt (self->pair, ZMQ_LINGER, &linger, sizeof linger);
        zmq_close (self->pair);
    }
    self->pair = NULL;
    free (self->gen);
    free (self->closed);
    self->gen = NULL;
    self->closed = NULL;
    self->ngen = self->nclosed = self->closed_cap = 0;
}

//  See sched_conn.h.
void *
sched_conn_socket (sched_conn_t *self)
{
    return self->pair;
}

//  The name of a handshake event, for sl_curve_event_log.
static const char *
s_event_name (uint16_t event)
{
    switch (event) {
        case ZMQ_EVENT_HANDSHAKE_SUCCEEDED:
            return "HANDSHAKE_SUCCEEDED";
        case ZMQ_EVENT_HANDSHAKE_FAILED_AUTH:
            return "HANDSHAKE_FAILED_AUTH";
        case ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL:
            return "HANDSHAKE_FAILED_PROTOCOL";
        case ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL:
            return "HANDSHAKE_FAILED_NO_DETAIL";
        default:
            return "";
    }
}

//  fd's generation slot, growing the table; NULL for a number too large
//  to track (that connection is then watched by heartbeats only).
static uint32_t *
s_gen (sched_conn_t *self, int fd)
{
    if (fd < 0 || fd >= (1 << 20))
        return NULL;
    if ((size_t)fd >= self->ngen) {
        size_t n = self->ngen ? self->ngen : 64;
        while (n <= (size_t)fd)
            n *= 2;
        uint32_t *gen = realloc (self->gen, n * sizeof *gen);
        if (!gen)
            return NULL;
        memset (gen + self->ngen, 0, (n - self->ngen) * sizeof *gen);
        self->gen = gen;
        self->ngen = n;
    }
    return &self->gen[fd];
}

//  See sched_conn.h.
void
sched_conn_accepted (sched_conn_t *self, int fd)
{
    uint32_t *gen = s_gen (self, fd);
    if (gen)
        (*gen)++;
}

//  See sched_conn.h.
void
sched_conn_disconnected (sched_conn_t *self, int fd)
{
    uint32_t *gen = s_gen (self, fd);
    if (!gen)
        return;
    if (self->nclosed == self->closed_cap) {
        size_t cap = self->closed_cap ? 2 * self->closed_cap : 16;
        sched_conn_closed_t *c = realloc (self->closed, cap * sizeof *c);
        if (!c)
            return;
        self->closed = c;
        self->closed_cap = cap;
    }
    self->closed[self->nclosed++] = (sched_conn_closed_t){fd, *gen};
}

//  Read every event waiting on the monitor: generations counted, closes
//  queued, handshakes logged.
static void
s_pump (sched_conn_t *self)
{
    if (!self->pair)
        return;
    while (true) {
        zmq_msg_t head, addr;
        zmq_msg_init (&head);
        if (zmq_msg_recv (&head, self->pair, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close (&head);
            return;
        }
        //  Two frames: event (16 bits) and value (32 bits), then the
        //  address.
        uint16_t event = 0;
        uint32_t value = 0;
        if (zmq_msg_size (&head) >= 6) {
            const uint8_t *d = zmq_msg_data (&head);
            memcpy (&event, d, 2);
            memcpy (&value, d + 2, 4);
        }
        bool more = zmq_msg_more (&head);
        zmq_msg_close (&head);
        char address[256] = "";
        if (more) {
            zmq_msg_init (&addr);
            if (zmq_msg_recv (&addr, self->pair, 0) >= 0) {
                size_t n = zmq_msg_size (&addr);
                n = n < sizeof address - 1 ? n : sizeof address - 1;
                memcpy (address, zmq_msg_data (&addr), n);
                address[n] = 0;
            }
            zmq_msg_close (&addr);
        }
        if (event == ZMQ_EVENT_ACCEPTED || event == ZMQ_EVENT_DISCONNECTED)
            sl_debug ("connection %s fd=%u",
                      event == ZMQ_EVENT_ACCEPTED ? "accepted" : "closed",
                      value);
        if (event == ZMQ_EVENT_ACCEPTED)
            sched_conn_accepted (self, (int)value);
        else if (event == ZMQ_EVENT_DISCONNECTED)
            sched_conn_disconnected (self, (int)value);
        else if (self->curve && *s_event_name (event)) {
            char v[16];
            snprintf (v, sizeof v, "%u", value);
            sl_curve_event_log ("scheduler", s_event_name (event), v, address);
        }
    }
}

//  See sched_conn.h.
bool
sched_conn_event (sched_conn_t *self, sched_conn_closed_t *closed)
{
    s_pump (self);
    if (self->nclosed == 0)
        return false;
    *closed = self->closed[0];
    memmove (self->closed, self->closed + 1,
             --self->nclosed * sizeof *self->closed);
    return true;
}

//  See sched_conn.h.
void
sched_conn_seen (sched_conn_t *self, sched_worker_t *worker, int fd)
{
    if (fd < 0 || fd == worker->fd)
        return;
    //  Up to date first: this connection's ACCEPTED is in the monitor.
    s_pump (self);
    uint32_t *gen = s_gen (self, fd);
    worker->fd = gen ? fd : -1;
    worker->conn_gen = gen ? *gen : 0;
    sl_debug ("worker connection worker=%s fd=%d gen=%u", worker->name, fd,
              worker->conn_gen);
}

//  See sched_conn.h.
bool
sched_conn_recheck (const sched_worker_t *worker, const void *rid, size_t size)
{
    const unsigned char *id = rid;
    return !worker || worker->fd < 0 || size != 5 || id[0] != 0;
}

//  See sched_conn.h.
bool
sched_conn_closed (const sched_worker_t *worker,
                   const sched_conn_closed_t *closed)
{
    return worker->fd >= 0 && worker->fd == closed->fd &&
           worker->conn_gen == closed->gen;
}
