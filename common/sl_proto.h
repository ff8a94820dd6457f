/*  sl_proto - encode, decode and validate sluice wire messages.

    One Envelope (proto/sluice.proto) per ZeroMQ frame. Decoding checks
    everything a peer could get wrong: frame size, protobuf syntax, the
    protocol version, a missing body, and the fields each body needs (a
    non-empty topic, 0 <= start < end, sane credit counts). A message that
    fails any check is refused with one line in err; the caller logs it and
    drops the peer. Nothing here asserts on input.
*/
#ifndef SL_PROTO_H_INCLUDED
#define SL_PROTO_H_INCLUDED

#include <czmq.h>
#include "sluice.pb-c.h"

#define SL_PROTO_VERSION 1
/*  No legitimate message comes close; ZMQ_MAXMSGSIZE is set to this.    */
#define SL_PROTO_MAX_FRAME (1024 * 1024)
/*  Largest frame a scheduler accepts (from workers and status clients).  */
#define SL_PROTO_MAX_INBOUND (64 * 1024)
#define SL_PROTO_MAX_CREDITS 1024

typedef Sluice__Envelope sl_msg_t;

/*  Decode and validate one frame. Returns a message to free with
    sl_proto_free, or NULL with a one-line reason in err.                 */
sl_msg_t *sl_proto_decode (const void *data, size_t size, char *err,
                           size_t errlen);
void sl_proto_free (sl_msg_t **msg_p);

/*  The name of a body case, for logs ("HELLO", "JOB"...).               */
const char *sl_proto_name (Sluice__Envelope__BodyCase body);

/*  Point env's oneof at body (a Sluice__X matching kind); an unknown kind
    leaves the body unset.                                                */
void sl_proto_set_body (sl_msg_t *env, Sluice__Envelope__BodyCase kind,
                        void *body);

/*  Send one message whose body is `body` (a pointer to the Sluice__X
    struct matching `kind`). On a ROUTER socket pass the peer's routing
    id; on a DEALER pass NULL. Returns 0 or -1.                           */
int sl_proto_send (zsock_t *sock, zframe_t *routing_id,
                   Sluice__Envelope__BodyCase kind, void *body);

/*  Receive one message from a socket. On a ROUTER, *routing_id_p gets the
    peer's id (caller destroys it). Returns the message, or NULL if the
    frame was refused (err says why; *routing_id_p is still set so the
    peer can be dropped) or nothing could be read (err empty).           */
sl_msg_t *sl_proto_recv (zsock_t *sock, zframe_t **routing_id_p, char *err,
                         size_t errlen);

/*  The same without waiting: NULL with err empty and no routing id when
    nothing is waiting. Cheaper than asking the socket first (ZMQ_EVENTS
    costs a system call), so a reader drains a socket with it.           */
sl_msg_t *sl_proto_try_recv (zsock_t *sock, zframe_t **routing_id_p, char *err,
                             size_t errlen);

/*  sl_proto_try_recv on a ROUTER, also saying which descriptor (which
    connection) the message came on (ZMQ_SRCFD; -1 if unknown).           */
sl_msg_t *sl_proto_try_recv_fd (zsock_t *sock, zframe_t **routing_id_p,
                                int *fd_p, char *err, size_t errlen);

#endif
