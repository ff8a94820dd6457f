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
/*  Most key hashes in one KEYS, GATE or RELEASE (512 KB of them).        */
#define SL_PROTO_MAX_KEYS 65536

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

/*  ---------------------------------------------------------------------
    The hot path: no allocation per message.

    An arena decodes a message into a caller's buffer (usually on the
    stack) instead of protobuf-c's malloc per field; what does not fit
    is malloc'ed and freed by sl_proto_arena_free. A message decoded in
    an arena lives until sl_proto_arena_free (one message per arena at a
    time).                                                                */
typedef struct {
    ProtobufCAllocator pb; /* allocator_data points back here            */
    unsigned char *base;
    size_t size, used;
    size_t spilled; /* blocks that did not fit, malloc'ed               */
} sl_proto_arena_t;

void sl_proto_arena_init (sl_proto_arena_t *arena, void *buf, size_t size);
/*  Decode and validate one frame into the arena (sl_proto_decode).       */
sl_msg_t *sl_proto_decode_in (sl_proto_arena_t *arena, const void *data,
                              size_t size, char *err, size_t errlen);
/*  Free a message decoded in the arena; the arena is empty again.        */
void sl_proto_arena_free (sl_proto_arena_t *arena, sl_msg_t **msg_p);

/*  A ROUTER peer's routing id (libzmq: 1 to 255 bytes).                  */
typedef struct {
    size_t size;
    byte data[256];
} sl_proto_rid_t;

/*  On a ROUTER, without waiting (or, if wait, up to the socket's receive
    timeout): the next message's routing id. Returns
    1 (its body follows: sl_proto_router_frame), 0 if nothing is waiting,
    -1 if a routing id came with no body (err says so; rid is set, so the
    peer can be told).                                                    */
int sl_proto_router_next (zsock_t *sock, sl_proto_rid_t *rid, bool wait,
                          char *err, size_t errlen);

/*  sl_proto_send to a routing id given as bytes (NULL: a DEALER).        */
int sl_proto_send_to (zsock_t *sock, const void *rid, size_t rid_size,
                      Sluice__Envelope__BodyCase kind, void *body);

/*  ---------------------------------------------------------------------
    Batches: several messages for one peer in one frame (proto/sluice.proto,
    Batch). libzmq's cost is per frame, so a scheduler handing a worker
    several jobs in one dispatch pass, or a worker with several DONEs
    ready, sends them as one. Only to a peer that reads them.

    An outbox gathers messages for one peer; flushing sends them as one
    frame: the message itself if it holds one, else a BATCH.              */
#define SL_PROTO_BATCH_HEAD 8 /* version, BATCH tag, its length         */
#define SL_PROTO_BATCH_ROOM (8 * 1024)
#define SL_PROTO_BATCH_ITEM 1024 /* a larger message leaves alone       */

typedef struct {
    size_t used;  /* bytes of items after the head room                 */
    size_t count; /* messages held                                      */
    byte buf[SL_PROTO_BATCH_HEAD + SL_PROTO_BATCH_ROOM];
} sl_proto_out_t;

void sl_proto_out_init (sl_proto_out_t *out);
/*  Add one message: 1, or 0 if it does not fit in what is left (flush
    and add it again) or is too large for any batch (send it alone).     */
int sl_proto_out_add (sl_proto_out_t *out, Sluice__Envelope__BodyCase kind,
                      void *body);
/*  Send what out holds as one frame (to rid on a ROUTER; NULL on a
    DEALER) and empty it. 0 (also when it held nothing) or -1.           */
int sl_proto_out_flush (zsock_t *sock, const void *rid, size_t rid_size,
                        sl_proto_out_t *out);
/*  Put one message in out, bound for sock (rid on a ROUTER): when out is
    full, what it holds leaves first as one frame; a message too large
    for any batch then leaves alone. Returns the frames sent (0, 1 or 2),
    or -1 if one could not leave.                                         */
int sl_proto_out_put (zsock_t *sock, const void *rid, size_t rid_size,
                      sl_proto_out_t *out, Sluice__Envelope__BodyCase kind,
                      void *body);

/*  One frame received, read message by message: a single message, or
    each item of a BATCH in order.                                       */
typedef struct {
    zmq_msg_t msg;
    bool owned;           /* msg is ours to close                       */
    const byte *at, *end; /* what is left to read                       */
    bool batch;
    bool left;    /* a message is left to read                          */
    size_t items; /* messages read                                      */
} sl_proto_frame_t;

/*  On a ROUTER, after sl_proto_router_next returned 1: the body frame.
    With fd_p, *fd_p is the descriptor it came on (ZMQ_SRCFD: a lookup of
    the connection's metadata, so ask only when needed; -1 if unknown).
    Returns 0, or -1 with a one-line reason in err (the frame is closed).  */
int sl_proto_router_frame (zsock_t *sock, sl_proto_frame_t *frame, int *fd_p,
                           char *err, size_t errlen);
/*  On a DEALER: the next frame, waiting up to the socket's receive
    timeout if wait, else not at all. 1 (read it with sl_proto_frame_next),
    0 if nothing came, -1 if what came was refused (err says why).       */
int sl_proto_recv_frame (zsock_t *sock, sl_proto_frame_t *frame, bool wait,
                         char *err, size_t errlen);
/*  The same over bytes the caller holds (tests, fuzzing): frame reads
    data in place, which must outlive it.                                 */
void sl_proto_frame_over (sl_proto_frame_t *frame, const void *data,
                          size_t size);
/*  The frame's next message, decoded and validated in arena (NULL:
    malloc'ed, to free with sl_proto_free). NULL with err empty at the
    end; NULL with err set if the message was refused: the rest of the
    frame is dropped (a malformed batch is refused from that item on).   */
sl_msg_t *sl_proto_frame_next (sl_proto_frame_t *frame, sl_proto_arena_t *arena,
                               char *err, size_t errlen);
/*  True if the frame is a BATCH (its peer reads them too).              */
bool sl_proto_frame_batch (const sl_proto_frame_t *frame);
void sl_proto_frame_close (sl_proto_frame_t *frame);

#endif
