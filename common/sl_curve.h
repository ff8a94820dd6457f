/*  sl_curve - CURVE security for the scheduler/worker sockets.

    The scheduler is a CURVE server: it has a keypair (--curve-cert, a
    czmq certificate as `sluice keygen` writes it) and accepts only the
    workers whose public certificates are in --curve-clients-dir, checked
    by czmq's zauth actor over ZAP, or any client that completes the CURVE
    handshake with --curve-allow-any. A worker (or `sluice status`) is a
    CURVE client: its own keypair (--curve-cert) and the scheduler's
    public certificate (--curve-server-cert), which it pins.

    A socket monitor logs every refused handshake (a plaintext peer, an
    unknown key) with the peer's address, on both sides.
*/
#ifndef SL_CURVE_H_INCLUDED
#define SL_CURVE_H_INCLUDED

#include <czmq.h>
#include <stdbool.h>

/*  Make sock a CURVE server with the keypair in cert_path and start the
    authenticator (*auth_p, destroy it after the socket). clients_dir
    holds the allowed clients' public certificates; allow_any accepts any
    client key instead. Call before bind. Returns 0, or -1 with one line
    in err.                                                              */
int sl_curve_server (zsock_t *sock, const char *cert_path,
                     const char *clients_dir, bool allow_any, zactor_t **auth_p,
                     char *err, size_t errlen);

/*  Make sock a CURVE client with the keypair in cert_path, pinned to the
    server's public certificate in server_cert_path. Call before connect.
    Returns 0, or -1 with one line in err.                               */
int sl_curve_client (zsock_t *sock, const char *cert_path,
                     const char *server_cert_path, char *err, size_t errlen);

/*  Watch sock's handshakes. Returns an actor whose socket delivers the
    events; pass each to sl_curve_monitor_log from the event loop.       */
zactor_t *sl_curve_monitor_new (zsock_t *sock);

/*  Read one event from the monitor and log it: refused handshakes at
    warn ("handshake refused peer=ADDR reason=..."), successes at debug.
    `side` names the socket in the line ("scheduler", "worker").         */
void sl_curve_monitor_log (zactor_t *monitor, const char *side);

/*  Log one handshake event by its name ("HANDSHAKE_FAILED_AUTH"), as
    sl_curve_monitor_log does; other events are ignored.                  */
void sl_curve_event_log (const char *side, const char *event, const char *value,
                         const char *address);

#endif
