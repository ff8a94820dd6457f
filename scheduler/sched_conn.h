/*  sched_conn - the workers' connections: a worker whose connection
    closes is known gone at once, not after its heartbeats stop.

    A socket monitor on the ROUTER reports each closed connection by its
    descriptor; every message tells which descriptor it came on
    (ZMQ_SRCFD). A worker remembers its descriptor and the remote address
    of that connection. The monitor is read on the scheduler's thread
    before the ROUTER is (libzmq queues a DISCONNECTED before it closes
    the descriptor, so before a new connection can reuse it and send), and
    a worker is dropped only if its descriptor is closed or now belongs to
    another remote address: a new connection that took the number over is
    never mistaken for the old one.

    The monitor also logs CURVE handshakes (sl_curve_event_log): libzmq
    allows one monitor a socket.
*/
#ifndef SCHED_CONN_H_INCLUDED
#define SCHED_CONN_H_INCLUDED

#include <czmq.h>
#include <stdbool.h>
#include "sched_config.h"
#include "sched_model.h"

typedef struct {
    void *pair; /* the monitor's receiving end (a raw libzmq PAIR)      */
    bool curve; /* log handshakes                                       */
} sched_conn_t;

/*  Set up the ROUTER: bounded buffers, a linger for the last BYEs, CURVE
    if asked for (*auth gets the ZAP handler), bound to --bind, its
    connections watched (sched_conn_start). Returns 0, or -1 with one line
    in err.                                                               */
int sched_conn_open (sched_conn_t *self, zsock_t *router,
                     const sched_config_t *cfg, zactor_t **auth, char *err,
                     size_t errlen);

/*  Watch router's connections. Returns 0, or -1 (then connections are
    not watched: workers are dropped for silence only).                   */
int sched_conn_start (sched_conn_t *self, zsock_t *router, bool curve);

/*  Stop watching (before the router is destroyed).                       */
void sched_conn_stop (sched_conn_t *self, zsock_t *router);

/*  The monitor's socket, to poll (NULL if not started).                  */
void *sched_conn_socket (sched_conn_t *self);

/*  Read one event without waiting: returns true if there was one; a
    closed connection's descriptor is put in *closed_fd (else -1).       */
bool sched_conn_event (sched_conn_t *self, int *closed_fd);

/*  A message from worker came on fd: remember the connection if it is a
    new one.                                                              */
void sched_conn_seen (sched_worker_t *worker, int fd);

/*  True if worker's connection is the one that closed on fd.             */
bool sched_conn_closed (const sched_worker_t *worker, int fd);

#endif
