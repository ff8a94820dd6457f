/*  sched_conn - the workers' connections. See sched_conn.h.             */
#include "sched_conn.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/un.h>
#include "sl_curve.h"
#include "sl_proto.h"
#include "sl_log.h"

//  The remote address of fd into buf ("" if it has none).
static void
s_peer (int fd, char *buf, size_t size)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    buf[0] = 0;
    if (fd < 0 || getpeername (fd, (struct sockaddr *)&ss, &len) != 0)
        return;
    char host[INET6_ADDRSTRLEN] = "";
    if (ss.ss_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)&ss;
        inet_ntop (AF_INET, &a->sin_addr, host, sizeof host);
        snprintf (buf, size, "%s:%u", host, ntohs (a->sin_port));
    } else if (ss.ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)&ss;
        inet_ntop (AF_INET6, &a->sin6_addr, host, sizeof host);
        snprintf (buf, size, "[%s]:%u", host, ntohs (a->sin6_port));
    } else if (ss.ss_family == AF_UNIX) {
        //  ipc://: the peer's process tells connections apart.
        struct ucred cred;
        socklen_t clen = sizeof cred;
        if (getsockopt (fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) == 0)
            snprintf (buf, size, "unix:%d", (int)cred.pid);
    }
}

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
    zsock_set_maxmsgsize (router, SL_PROTO_MAX_INBOUND);
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
    int events = ZMQ_EVENT_DISCONNECTED;
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

//  See sched_conn.h.
bool
sched_conn_event (sched_conn_t *self, int *closed_fd)
{
    *closed_fd = -1;
    if (!self->pair)
        return false;
    zmq_msg_t head, addr;
    zmq_msg_init (&head);
    if (zmq_msg_recv (&head, self->pair, ZMQ_DONTWAIT) < 0) {
        zmq_msg_close (&head);
        return false;
    }
    //  Two frames: event (16 bits) and value (32 bits), then the address.
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
    if (event == ZMQ_EVENT_DISCONNECTED)
        *closed_fd = (int)value;
    else if (self->curve && *s_event_name (event)) {
        char v[16];
        snprintf (v, sizeof v, "%u", value);
        sl_curve_event_log ("scheduler", s_event_name (event), v, address);
    }
    return true;
}

//  See sched_conn.h.
void
sched_conn_seen (sched_worker_t *worker, int fd)
{
    if (fd < 0 || fd == worker->fd)
        return;
    worker->fd = fd;
    s_peer (fd, worker->peer, sizeof worker->peer);
}

//  See sched_conn.h.
bool
sched_conn_closed (const sched_worker_t *worker, int fd)
{
    if (fd < 0 || worker->fd != fd)
        return false;
    char now[sizeof worker->peer];
    s_peer (fd, now, sizeof now);
    //  Closed, or reused by another connection since.
    return !*now || strcmp (now, worker->peer) != 0;
}
