/*  sched_conn - the workers' connections: a worker whose connection
    closes is known gone at once, not after its heartbeats stop.

    A socket monitor on the ROUTER reports each connection accepted and
    each one closed, by descriptor; every message tells which descriptor
    it came on (ZMQ_SRCFD). Descriptor numbers are reused, so each one
    carries a generation, counted up at each ACCEPTED: a worker remembers
    the descriptor and generation of its connection, and a DISCONNECTED
    drops only the worker of that descriptor's generation at the time it
    closed. libzmq emits ACCEPTED before the new connection can deliver a
    message, so when a worker is first seen on a descriptor the monitor is
    read up to date first (the closes it finds wait for
    sched_conn_event): a new connection that took an old number over is
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
    int fd;
    uint32_t gen;
} sched_conn_closed_t;

typedef struct {
    void *pair;    /* the monitor's receiving end (a raw libzmq PAIR)    */
    bool curve;    /* log handshakes                                     */
    uint32_t *gen; /* per descriptor: connections accepted on it         */
    size_t ngen;
    sched_conn_closed_t *closed; /* closes read, not yet handed out      */
    size_t nclosed, closed_cap;
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

/*  Stop watching (before the router is destroyed) and free.            */
void sched_conn_stop (sched_conn_t *self, zsock_t *router);

/*  The monitor's socket, to poll (NULL if not started).                  */
void *sched_conn_socket (sched_conn_t *self);

/*  The next connection that closed, if one did: returns true and fills
 *closed. Reads the monitor without waiting.                           */
bool sched_conn_event (sched_conn_t *self, sched_conn_closed_t *closed);

/*  True if closes already read from the monitor wait to be handed out
    (sched_conn_event); reads nothing.                                    */
static inline bool
sched_conn_pending (const sched_conn_t *self)
{
    return self->nclosed > 0;
}

/*  A message from worker came on fd: remember the connection if it is a
    new one.                                                              */
void sched_conn_seen (sched_conn_t *self, sched_worker_t *worker, int fd);

/*  True if the connection a message from worker (NULL: not a known
    worker) with routing id rid came on must be read for sched_conn_seen:
    the worker's is not known yet, or rid was chosen by the peer. A
    routing id libzmq made (5 bytes, the first 0) names one connection for
    the ROUTER's life (a counter; a peer's own id equal to one in use is
    refused), so once its worker's connection is known, it stays: reading
    it again for every message (ZMQ_SRCFD, a lookup in the connection's
    metadata) would find the same one.                                   */
bool sched_conn_recheck (const sched_worker_t *worker, const void *rid,
                         size_t size);

/*  True if worker's connection is the one that closed.                   */
bool sched_conn_closed (const sched_worker_t *worker,
                        const sched_conn_closed_t *closed);

/*  For tests: the monitor's events, as if read from it.                  */
void sched_conn_accepted (sched_conn_t *self, int fd);
void sched_conn_disconnected (sched_conn_t *self, int fd);

#endif
