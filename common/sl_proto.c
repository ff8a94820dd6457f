/*  sl_proto - encode, decode and validate sluice wire messages.         */
#include "sl_proto.h"
#include "sl_proto_fast.h"

#include <assert.h>
#include <inttypes.h>

#include <stdarg.h>
#include <stdio.h>

static int s_fail (char *err, size_t errlen, const char *fmt, ...)
    __attribute__ ((format (printf, 3, 4)));

static int
s_fail (char *err, size_t errlen, const char *fmt, ...)
{
    va_list args;
    va_start (args, fmt);
    vsnprintf (err, errlen, fmt, args);
    va_end (args);
    return -1;
}

//  Name of a body case.
const char *
sl_proto_name (Sluice__Envelope__BodyCase body)
{
    switch (body) {
        case SLUICE__ENVELOPE__BODY_HELLO:
            return "HELLO";
        case SLUICE__ENVELOPE__BODY_CREDIT:
            return "CREDIT";
        case SLUICE__ENVELOPE__BODY_JOB:
            return "JOB";
        case SLUICE__ENVELOPE__BODY_DONE:
            return "DONE";
        case SLUICE__ENVELOPE__BODY_HEARTBEAT:
            return "HEARTBEAT";
        case SLUICE__ENVELOPE__BODY_RET:
            return "RETURN";
        case SLUICE__ENVELOPE__BODY_CANCEL:
            return "CANCEL";
        case SLUICE__ENVELOPE__BODY_BYE:
            return "BYE";
        case SLUICE__ENVELOPE__BODY_PROGRESS:
            return "PROGRESS";
        case SLUICE__ENVELOPE__BODY_STATUS_REQUEST:
            return "STATUS_REQUEST";
        case SLUICE__ENVELOPE__BODY_STATUS:
            return "STATUS";
        case SLUICE__ENVELOPE__BODY_CRASH:
            return "CRASH";
        case SLUICE__ENVELOPE__BODY_TAIL:
            return "TAIL";
        case SLUICE__ENVELOPE__BODY_BATCH:
            return "BATCH";
        case SLUICE__ENVELOPE__BODY_KEYS:
            return "KEYS";
        case SLUICE__ENVELOPE__BODY_GATE:
            return "GATE";
        case SLUICE__ENVELOPE__BODY_RELEASE:
            return "RELEASE";
        default:
            return "NONE";
    }
}

//  Check a topic/partition/range triple.
static int
s_check_range (const char *what, const char *topic, int32_t partition,
               int64_t start, int64_t end, char *err, size_t errlen)
{
    if (!topic || !*topic || strlen (topic) > 249)
        return s_fail (err, errlen, "%s: bad topic name", what);
    if (partition < 0)
        return s_fail (err, errlen, "%s: negative partition %d", what,
                       partition);
    if (start < 0 || end <= start)
        return s_fail (err, errlen, "%s: bad range [%lld, %lld)", what,
                       (long long)start, (long long)end);
    return 0;
}

//  Check a list of key hashes: at most SL_PROTO_MAX_KEYS, and (if
//  sorted) strictly ascending.
static int
s_check_hashes (const char *what, const uint64_t *h, size_t n, bool sorted,
                char *err, size_t errlen)
{
    if (n > SL_PROTO_MAX_KEYS)
        return s_fail (err, errlen, "%s: %zu key hashes is too many", what, n);
    for (size_t i = 1; sorted && i < n; i++)
        if (h[i] <= h[i - 1])
            return s_fail (err, errlen,
                           "%s: key hashes not sorted and distinct at %zu",
                           what, i);
    return 0;
}

//  Check the fields a body needs.
static int
s_validate (sl_msg_t *msg, char *err, size_t errlen)
{
    switch (msg->body_case) {
        case SLUICE__ENVELOPE__BODY_HELLO:
            if (msg->hello->credits > SL_PROTO_MAX_CREDITS)
                return s_fail (err, errlen, "HELLO: %u credits is too many",
                               msg->hello->credits);
            if (strlen (msg->hello->worker_id) > 256)
                return s_fail (err, errlen, "HELLO: worker id too long");
            if (strlen (msg->hello->txn_id) > 240)
                return s_fail (err, errlen, "HELLO: transactional id too long");
            return 0;
        case SLUICE__ENVELOPE__BODY_CREDIT:
            if (msg->credit->credits > SL_PROTO_MAX_CREDITS)
                return s_fail (err, errlen, "CREDIT: %u credits is too many",
                               msg->credit->credits);
            return 0;
        case SLUICE__ENVELOPE__BODY_JOB: {
            const Sluice__Job *job = msg->job;
            if (s_check_range ("JOB", job->topic, job->partition, job->start,
                               job->end, err, errlen))
                return -1;
            //  A marker is written only with all three: a topic, a
            //  partition of it and the group it is for.
            bool st = job->state_topic && *job->state_topic;
            if (st && (strlen (job->state_topic) > 249 ||
                       job->state_partition < 0 || !job->state_group ||
                       !*job->state_group || strlen (job->state_group) > 255))
                return s_fail (err, errlen,
                               "JOB: bad state topic, partition or group");
            if (!st && job->state_partition)
                return s_fail (err, errlen,
                               "JOB: a state partition without its topic");
            return 0;
        }
        case SLUICE__ENVELOPE__BODY_DONE: {
            const Sluice__Done *done = msg->done;
            if (done->credits > SL_PROTO_MAX_CREDITS)
                return s_fail (err, errlen, "DONE: %u credits is too many",
                               done->credits);
            //  Lost ranges lie inside the job's range, in order, apart.
            int64_t at = done->start;
            for (size_t i = 0; i < done->n_lost_ranges; i++) {
                const Sluice__Range *r = done->lost_ranges[i];
                if (!r || r->start < at || r->end <= r->start ||
                    r->end > done->end)
                    return s_fail (err, errlen,
                                   "DONE: lost range %zu is not inside "
                                   "[%" PRId64 ", %" PRId64 ") after the "
                                   "previous one",
                                   i, done->start, done->end);
                at = r->end;
            }
            if ((done->fault_code && strlen (done->fault_code) > 64) ||
                (done->fault_target && strlen (done->fault_target) > 249))
                return s_fail (err, errlen,
                               "DONE: fault code or target too long");
            return s_check_range ("DONE", done->topic, done->partition,
                                  done->start, done->end, err, errlen);
        }
        case SLUICE__ENVELOPE__BODY_CRASH: {
            const Sluice__Crash *c = msg->crash;
            if (strlen (c->worker_id) > 256 || strlen (c->cause) > 64)
                return s_fail (err, errlen,
                               "CRASH: worker id or cause too long");
            if (c->n_lanes > 64)
                return s_fail (err, errlen, "CRASH: %zu lanes is too many",
                               c->n_lanes);
            for (size_t i = 0; i < c->n_lanes; i++) {
                const Sluice__CrashLane *l = c->lanes[i];
                if (!l || (l->start != l->end &&
                           s_check_range ("CRASH", l->topic, l->partition,
                                          l->start, l->end, err, errlen) != 0))
                    return s_fail (err, errlen, "CRASH: lane %zu is malformed",
                                   i);
            }
            return 0;
        }
        case SLUICE__ENVELOPE__BODY_TAIL:
            if (msg->tail->high_watermark < 1)
                return s_fail (err, errlen, "TAIL: high watermark %" PRId64,
                               msg->tail->high_watermark);
            return s_check_range ("TAIL", msg->tail->topic,
                                  msg->tail->partition, 0,
                                  msg->tail->high_watermark, err, errlen);
        case SLUICE__ENVELOPE__BODY_KEYS:
            if (s_check_hashes ("KEYS", msg->keys->hashes, msg->keys->n_hashes,
                                true, err, errlen) != 0)
                return -1;
            return s_check_range ("KEYS", msg->keys->topic,
                                  msg->keys->partition, msg->keys->start,
                                  msg->keys->end, err, errlen);
        case SLUICE__ENVELOPE__BODY_GATE:
            return s_check_hashes ("GATE", msg->gate->blocked,
                                   msg->gate->n_blocked, true, err, errlen);
        case SLUICE__ENVELOPE__BODY_RELEASE:
            return s_check_hashes ("RELEASE", msg->release->hashes,
                                   msg->release->n_hashes, false, err, errlen);
        case SLUICE__ENVELOPE__BODY_BATCH:
            //  sl_proto_frame_next reads a batch item by item; one seen
            //  whole is inside another, or not written as sl_proto_out
            //  writes it.
            return s_fail (err, errlen,
                           "BATCH: a batch inside a batch, or not in the "
                           "form a batch is sent");
        case SLUICE__ENVELOPE__BODY_HEARTBEAT:
        case SLUICE__ENVELOPE__BODY_RET:
        case SLUICE__ENVELOPE__BODY_CANCEL:
        case SLUICE__ENVELOPE__BODY_BYE:
        case SLUICE__ENVELOPE__BODY_PROGRESS:
        case SLUICE__ENVELOPE__BODY_STATUS_REQUEST:
        case SLUICE__ENVELOPE__BODY_STATUS:
            return 0;
        default:
            return s_fail (err, errlen, "message has no body");
    }
}

//  True if m, or a message inside it, kept an unknown field numbered 0.
//  Protobuf has no field 0; protobuf-c (1.4.1) refuses one whose tag is a
//  single byte but keeps one spelt as a longer varint ("81 00") as an
//  unknown field, which it then writes back as the refused single byte:
//  such a frame is malformed, and is refused whole. Depth is bounded by
//  the schema (no message contains itself).
static bool
s_field_zero (const ProtobufCMessage *m)
{
    for (unsigned i = 0; i < m->n_unknown_fields; i++)
        if (m->unknown_fields[i].tag == 0)
            return true;
    const ProtobufCMessageDescriptor *d = m->descriptor;
    for (unsigned f = 0; f < d->n_fields; f++) {
        const ProtobufCFieldDescriptor *fd = &d->fields[f];
        if (fd->type != PROTOBUF_C_TYPE_MESSAGE)
            continue;
        const char *at = (const char *)m + fd->offset;
        const char *q = (const char *)m + fd->quantifier_offset;
        //  A oneof's members share one pointer: only the set one counts.
        if ((fd->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
            *(const uint32_t *)q != fd->id)
            continue;
        if (fd->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t n = *(const size_t *)q;
            const ProtobufCMessage *const *items =
                *(const ProtobufCMessage *const *const *)at;
            for (size_t k = 0; k < n; k++)
                if (items[k] && s_field_zero (items[k]))
                    return true;
        } else {
            const ProtobufCMessage *sub = *(const ProtobufCMessage *const *)at;
            if (sub && s_field_zero (sub))
                return true;
        }
    }
    return false;
}

//  Decode and validate one frame with allocator (NULL: malloc).
static sl_msg_t *
s_decode (ProtobufCAllocator *allocator, const void *data, size_t size,
          char *err, size_t errlen)
{
    if (size > SL_PROTO_MAX_FRAME) {
        s_fail (err, errlen, "frame of %zu bytes is larger than %d", size,
                SL_PROTO_MAX_FRAME);
        return NULL;
    }
    sl_msg_t *msg = sluice__envelope__unpack (allocator, size, data);
    if (!msg) {
        s_fail (err, errlen, "frame of %zu bytes is not a sluice message",
                size);
        return NULL;
    }
    if (s_field_zero (&msg->base)) {
        s_fail (err, errlen, "frame of %zu bytes has a field numbered 0", size);
        goto refuse;
    }
    if (msg->version != SL_PROTO_VERSION) {
        s_fail (err, errlen, "protocol version %u, this side speaks %d",
                msg->version, SL_PROTO_VERSION);
        goto refuse;
    }
    if (s_validate (msg, err, errlen) != 0)
        goto refuse;
    return msg;
refuse:
    sluice__envelope__free_unpacked (msg, allocator);
    return NULL;
}

//  Decode and validate one frame.
sl_msg_t *
sl_proto_decode (const void *data, size_t size, char *err, size_t errlen)
{
    return s_decode (NULL, data, size, err, errlen);
}

//  The arena's allocator: bump, else malloc (counted, freed at the end).
static void *
s_arena_alloc (void *data, size_t size)
{
    sl_proto_arena_t *a = data;
    size_t need = (size + 15) & ~(size_t)15;
    if (need <= a->size - a->used) {
        void *p = a->base + a->used;
        a->used += need;
        return p;
    }
    a->spilled++;
    return malloc (size);
}

static void
s_arena_release (void *data, void *p)
{
    const sl_proto_arena_t *a = data;
    uintptr_t at = (uintptr_t)p, base = (uintptr_t)a->base;
    if (p && (at < base || at >= base + a->size))
        free (p);
}

//  See sl_proto.h.
void
sl_proto_arena_init (sl_proto_arena_t *arena, void *buf, size_t size)
{
    uintptr_t at = (uintptr_t)buf, aligned = (at + 15) & ~(uintptr_t)15;
    arena->pb = (ProtobufCAllocator){s_arena_alloc, s_arena_release, arena};
    arena->base = (unsigned char *)aligned;
    arena->size = size > aligned - at ? size - (aligned - at) : 0;
    arena->used = 0;
    arena->spilled = 0;
}

//  See sl_proto.h.
sl_msg_t *
sl_proto_decode_in (sl_proto_arena_t *arena, const void *data, size_t size,
                    char *err, size_t errlen)
{
    arena->used = 0;
    arena->spilled = 0;
    if (size <= SL_PROTO_MAX_FRAME) {
        //  A JOB or a DONE by hand (sl_proto_fast); it has no unknown
        //  fields, so none numbered 0.
        sl_msg_t *msg = sl_proto_fast_decode (arena, data, size);
        if (msg) {
            if (msg->version != SL_PROTO_VERSION) {
                s_fail (err, errlen, "protocol version %u, this side speaks %d",
                        msg->version, SL_PROTO_VERSION);
                msg = NULL;
            } else if (s_validate (msg, err, errlen) != 0)
                msg = NULL;
            if (!msg)
                arena->used = 0;
            return msg;
        }
        arena->used = 0;
    }
    return s_decode (&arena->pb, data, size, err, errlen);
}

//  See sl_proto.h.
void
sl_proto_arena_free (sl_proto_arena_t *arena, sl_msg_t **msg_p)
{
    //  Only what spilled over needs protobuf-c's walk of the message.
    if (*msg_p && arena->spilled)
        sluice__envelope__free_unpacked (*msg_p, &arena->pb);
    *msg_p = NULL;
    arena->used = 0;
    arena->spilled = 0;
}

//  Free a decoded message.
void
sl_proto_free (sl_msg_t **msg_p)
{
    if (*msg_p) {
        sluice__envelope__free_unpacked (*msg_p, NULL);
        *msg_p = NULL;
    }
}

//  Point the envelope's oneof at body.
void
sl_proto_set_body (sl_msg_t *env, Sluice__Envelope__BodyCase kind, void *body)
{
    env->body_case = kind;
    switch (kind) {
        case SLUICE__ENVELOPE__BODY_HELLO:
            env->hello = body;
            break;
        case SLUICE__ENVELOPE__BODY_CREDIT:
            env->credit = body;
            break;
        case SLUICE__ENVELOPE__BODY_JOB:
            env->job = body;
            break;
        case SLUICE__ENVELOPE__BODY_DONE:
            env->done = body;
            break;
        case SLUICE__ENVELOPE__BODY_HEARTBEAT:
            env->heartbeat = body;
            break;
        case SLUICE__ENVELOPE__BODY_RET:
            env->ret = body;
            break;
        case SLUICE__ENVELOPE__BODY_CANCEL:
            env->cancel = body;
            break;
        case SLUICE__ENVELOPE__BODY_BYE:
            env->bye = body;
            break;
        case SLUICE__ENVELOPE__BODY_PROGRESS:
            env->progress = body;
            break;
        case SLUICE__ENVELOPE__BODY_STATUS_REQUEST:
            env->status_request = body;
            break;
        case SLUICE__ENVELOPE__BODY_STATUS:
            env->status = body;
            break;
        case SLUICE__ENVELOPE__BODY_CRASH:
            env->crash = body;
            break;
        case SLUICE__ENVELOPE__BODY_TAIL:
            env->tail = body;
            break;
        case SLUICE__ENVELOPE__BODY_BATCH:
            env->batch = body;
            break;
        case SLUICE__ENVELOPE__BODY_KEYS:
            env->keys = body;
            break;
        case SLUICE__ENVELOPE__BODY_GATE:
            env->gate = body;
            break;
        case SLUICE__ENVELOPE__BODY_RELEASE:
            env->release = body;
            break;
        default:
            env->body_case = SLUICE__ENVELOPE__BODY__NOT_SET;
            break;
    }
}

//  Send an encoded message (to rid, on a ROUTER).
static int
s_send (zsock_t *sock, const void *rid, size_t rid_size, const byte *data,
        size_t size)
{
    void *handle = zsock_resolve (sock);
    if (rid && zmq_send (handle, rid, rid_size, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0)
        return -1;
    return zmq_send (handle, data, size, ZMQ_DONTWAIT) < 0 ? -1 : 0;
}

//  One envelope holding body (of kind), written to out if it fits in
//  room: its size; else 0, and *need says how much room it takes. JOB
//  and DONE are coded by hand (sl_proto_fast). Otherwise the envelope's
//  two fields are written here, so the body is sized once (protobuf-c
//  would size it twice: for the envelope, then for its length prefix);
//  the bytes are those protobuf-c writes (the version, then the body, as
//  a length-delimited field numbered by its case).
static size_t
s_encode (Sluice__Envelope__BodyCase kind, void *body, byte *out, size_t room,
          size_t *need)
{
    size_t fast = kind == SLUICE__ENVELOPE__BODY_JOB && body
                      ? sl_proto_fast_job (body, out, room)
                  : kind == SLUICE__ENVELOPE__BODY_DONE && body
                      ? sl_proto_fast_done (body, out, room)
                      : 0;
    if (fast)
        return fast;
    byte head[2 + 10 + 10];
    size_t hlen = 0;
    head[hlen++] = (1 << 3) | 0; //  version, varint
    hlen += sl_proto_varint_put (SL_PROTO_VERSION, head + hlen);
    size_t blen = 0;
    sl_msg_t probe = SLUICE__ENVELOPE__INIT;
    sl_proto_set_body (&probe, kind, body);
    if (probe.body_case != SLUICE__ENVELOPE__BODY__NOT_SET && body) {
        blen = protobuf_c_message_get_packed_size (body);
        hlen += sl_proto_varint_put (((uint64_t)kind << 3) | 2, head + hlen);
        hlen += sl_proto_varint_put (blen, head + hlen);
    }
    *need = hlen + blen;
    if (*need > room)
        return 0;
    memcpy (out, head, hlen);
    if (blen)
        protobuf_c_message_pack (body, out + hlen);
    return *need;
}

//  Encode and send one message; see sl_proto.h.
int
sl_proto_send_to (zsock_t *sock, const void *rid, size_t rid_size,
                  Sluice__Envelope__BodyCase kind, void *body)
{
    //  Encoded on the stack and sent with zmq_send, which copies it: no
    //  zmsg or zframe per message (the scheduler sends one per job).
    byte stack[1024];
    size_t need = 0;
    size_t size = s_encode (kind, body, stack, sizeof stack, &need);
    if (size)
        return s_send (sock, rid, rid_size, stack, size);
    byte *data = malloc (need);
    if (!data)
        return -1;
    size = s_encode (kind, body, data, need, &need);
    int rc = size ? s_send (sock, rid, rid_size, data, size) : -1;
    free (data);
    return rc;
}

//  Encode and send one message.
int
sl_proto_send (zsock_t *sock, zframe_t *routing_id,
               Sluice__Envelope__BodyCase kind, void *body)
{
    return sl_proto_send_to (sock, routing_id ? zframe_data (routing_id) : NULL,
                             routing_id ? zframe_size (routing_id) : 0, kind,
                             body);
}

//  True if frame (just received) is the message's last part; if not, the
//  other parts are read and dropped, and err says how many there were.
static bool
s_one_part (void *handle, zmq_msg_t *frame, char *err, size_t errlen)
{
    if (!zmq_msg_more (frame))
        return true;
    size_t frames = 1;
    zmq_msg_t rest;
    zmq_msg_init (&rest);
    do {
        if (zmq_msg_recv (&rest, handle, 0) < 0)
            break;
        frames++;
    } while (zmq_msg_more (&rest));
    zmq_msg_close (&rest);
    s_fail (err, errlen, "expected one frame, got %zu", frames);
    return false;
}

//  A body frame received into frame: decoded and closed. The body is
//  decoded straight from the zmq_msg_t: no zmsg or zframe per message.
static sl_msg_t *
s_body (void *handle, zmq_msg_t *frame, char *err, size_t errlen)
{
    sl_msg_t *msg = NULL;
    if (s_one_part (handle, frame, err, errlen))
        msg = sl_proto_decode (zmq_msg_data (frame), zmq_msg_size (frame), err,
                               errlen);
    zmq_msg_close (frame);
    return msg;
}

//  Receive one message; with ZMQ_DONTWAIT in flags, return at once (NULL,
//  err empty, no routing id) when nothing is waiting.
static sl_msg_t *
s_recv (zsock_t *sock, int flags, zframe_t **routing_id_p, char *err,
        size_t errlen)
{
    err[0] = 0;
    void *handle = zsock_resolve (sock);
    zmq_msg_t frame;
    zmq_msg_init (&frame);
    if (zmq_msg_recv (&frame, handle, flags) < 0) {
        zmq_msg_close (&frame);
        return NULL;
    }
    if (routing_id_p) {
        //  A ROUTER: that was the peer's routing id; the body follows.
        *routing_id_p =
            zframe_new (zmq_msg_data (&frame), zmq_msg_size (&frame));
        bool more = zmq_msg_more (&frame);
        zmq_msg_close (&frame);
        if (!*routing_id_p || !more) {
            s_fail (err, errlen, "expected one frame, got 0");
            return NULL;
        }
        zmq_msg_init (&frame);
        if (zmq_msg_recv (&frame, handle, 0) < 0) {
            zmq_msg_close (&frame);
            s_fail (err, errlen, "expected one frame, got 0");
            return NULL;
        }
    }
    return s_body (handle, &frame, err, errlen);
}

sl_msg_t *
sl_proto_recv (zsock_t *sock, zframe_t **routing_id_p, char *err, size_t errlen)
{
    if (routing_id_p)
        *routing_id_p = NULL;
    return s_recv (sock, 0, routing_id_p, err, errlen);
}

sl_msg_t *
sl_proto_try_recv (zsock_t *sock, zframe_t **routing_id_p, char *err,
                   size_t errlen)
{
    if (routing_id_p)
        *routing_id_p = NULL;
    return s_recv (sock, ZMQ_DONTWAIT, routing_id_p, err, errlen);
}

//  See sl_proto.h.
int
sl_proto_router_next (zsock_t *sock, sl_proto_rid_t *rid, bool wait, char *err,
                      size_t errlen)
{
    err[0] = 0;
    void *handle = zsock_resolve (sock);
    zmq_msg_t frame;
    zmq_msg_init (&frame);
    if (zmq_msg_recv (&frame, handle, wait ? 0 : ZMQ_DONTWAIT) < 0) {
        zmq_msg_close (&frame);
        return 0;
    }
    size_t size = zmq_msg_size (&frame);
    rid->size = size < sizeof rid->data ? size : sizeof rid->data;
    memcpy (rid->data, zmq_msg_data (&frame), rid->size);
    bool more = zmq_msg_more (&frame);
    zmq_msg_close (&frame);
    if (!more) {
        s_fail (err, errlen, "expected one frame, got 0");
        return -1;
    }
    return 1;
}

//  ---------------------------------------------------------------------
//  Batches

//  See sl_proto.h.
void
sl_proto_out_init (sl_proto_out_t *out)
{
    out->used = 0;
    out->count = 0;
}

//  See sl_proto.h.
int
sl_proto_out_add (sl_proto_out_t *out, Sluice__Envelope__BodyCase kind,
                  void *body)
{
    //  An item: field 1 (bytes), its length, the envelope. The envelope
    //  is encoded in place after a one-byte length, and moved up in the
    //  rare case its length takes more.
    size_t left = SL_PROTO_BATCH_ROOM - out->used;
    if (left <= 2)
        return 0;
    byte *at = out->buf + SL_PROTO_BATCH_HEAD + out->used;
    size_t room =
        left - 2 < SL_PROTO_BATCH_ITEM ? left - 2 : SL_PROTO_BATCH_ITEM;
    size_t need = 0;
    size_t size = s_encode (kind, body, at + 2, room, &need);
    if (!size)
        return 0;
    byte prefix[1 + 10];
    size_t plen = 0;
    prefix[plen++] = (1 << 3) | 2;
    plen += sl_proto_varint_put (size, prefix + plen);
    if (plen + size > left)
        return 0;
    if (plen != 2)
        memmove (at + plen, at + 2, size);
    memcpy (at, prefix, plen);
    out->count++;
    out->used += plen + size;
    return 1;
}

//  See sl_proto.h.
int
sl_proto_out_flush (zsock_t *sock, const void *rid, size_t rid_size,
                    sl_proto_out_t *out)
{
    size_t count = out->count;
    size_t used = out->used;
    out->count = 0;
    out->used = 0;
    if (count == 0)
        return 0;
    const byte *items = out->buf + SL_PROTO_BATCH_HEAD;
    if (count == 1) {
        //  One item: its envelope alone (after the tag and the length).
        uint64_t len = 0;
        size_t n = sl_proto_varint_get (items + 1, items + used, &len);
        return s_send (sock, rid, rid_size, items + 1 + n, (size_t)len);
    }
    //  The envelope's head, right before the items: the version, then
    //  Batch (field 15, length-delimited) spanning the rest of the frame.
    byte head[SL_PROTO_BATCH_HEAD + 10];
    size_t hlen = 0;
    head[hlen++] = (1 << 3) | 0;
    hlen += sl_proto_varint_put (SL_PROTO_VERSION, head + hlen);
    head[hlen++] = (SLUICE__ENVELOPE__BODY_BATCH << 3) | 2;
    hlen += sl_proto_varint_put (used, head + hlen);
    assert (hlen <= SL_PROTO_BATCH_HEAD);
    byte *start = out->buf + SL_PROTO_BATCH_HEAD - hlen;
    memcpy (start, head, hlen);
    return s_send (sock, rid, rid_size, start, hlen + used);
}

//  See sl_proto.h.
int
sl_proto_out_put (zsock_t *sock, const void *rid, size_t rid_size,
                  sl_proto_out_t *out, Sluice__Envelope__BodyCase kind,
                  void *body)
{
    if (sl_proto_out_add (out, kind, body))
        return 0;
    int frames = out->count > 0;
    int rc = sl_proto_out_flush (sock, rid, rid_size, out);
    if (!sl_proto_out_add (out, kind, body)) {
        frames++;
        if (sl_proto_send_to (sock, rid, rid_size, kind, body) != 0)
            rc = -1;
    }
    return rc == 0 ? frames : -1;
}

//  Set frame to read [data, data + size): a batch as sl_proto_out
//  writes it (this version, then Batch spanning the rest), or else one
//  message (which sl_proto_decode judges, refusing a batch of any other
//  form).
static void
s_frame_parse (sl_proto_frame_t *frame, const byte *data, size_t size)
{
    frame->at = data;
    frame->end = data + size;
    frame->batch = false;
    frame->left = true;
    frame->items = 0;
    uint64_t len = 0;
    size_t n;
    if (size >= 3 && data[0] == ((1 << 3) | 0) && data[1] == SL_PROTO_VERSION &&
        data[2] == ((SLUICE__ENVELOPE__BODY_BATCH << 3) | 2) &&
        (n = sl_proto_varint_get (data + 3, data + size, &len)) != 0 &&
        len == size - 3 - n) {
        frame->at = data + 3 + n;
        frame->batch = true;
    }
}

//  See sl_proto.h.
void
sl_proto_frame_over (sl_proto_frame_t *frame, const void *data, size_t size)
{
    frame->owned = false;
    s_frame_parse (frame, data, size);
}

//  A frame's body received into frame->msg: 0, or -1 (closed, err set).
static int
s_frame_take (void *handle, sl_proto_frame_t *frame, char *err, size_t errlen)
{
    if (!s_one_part (handle, &frame->msg, err, errlen)) {
        zmq_msg_close (&frame->msg);
        frame->owned = false;
        frame->left = false;
        return -1;
    }
    frame->owned = true;
    s_frame_parse (frame, zmq_msg_data (&frame->msg),
                   zmq_msg_size (&frame->msg));
    return 0;
}

//  See sl_proto.h.
int
sl_proto_router_frame (zsock_t *sock, sl_proto_frame_t *frame, int *fd_p,
                       char *err, size_t errlen)
{
    err[0] = 0;
    void *handle = zsock_resolve (sock);
    zmq_msg_init (&frame->msg);
    frame->owned = false;
    frame->left = false;
    if (fd_p)
        *fd_p = -1;
    if (zmq_msg_recv (&frame->msg, handle, 0) < 0) {
        zmq_msg_close (&frame->msg);
        return s_fail (err, errlen, "expected one frame, got 0");
    }
    //  The connection it came on: the body carries the engine's metadata
    //  (the routing id frame, made by the ROUTER, may not).
    if (fd_p)
        *fd_p = zmq_msg_get (&frame->msg, ZMQ_SRCFD);
    return s_frame_take (handle, frame, err, errlen);
}

//  See sl_proto.h.
int
sl_proto_recv_frame (zsock_t *sock, sl_proto_frame_t *frame, bool wait,
                     char *err, size_t errlen)
{
    err[0] = 0;
    void *handle = zsock_resolve (sock);
    zmq_msg_init (&frame->msg);
    frame->owned = false;
    frame->left = false;
    if (zmq_msg_recv (&frame->msg, handle, wait ? 0 : ZMQ_DONTWAIT) < 0) {
        zmq_msg_close (&frame->msg);
        return 0;
    }
    return s_frame_take (handle, frame, err, errlen) == 0 ? 1 : -1;
}

//  See sl_proto.h.
sl_msg_t *
sl_proto_frame_next (sl_proto_frame_t *frame, sl_proto_arena_t *arena,
                     char *err, size_t errlen)
{
    err[0] = 0;
    if (!frame->left)
        return NULL;
    const byte *data = frame->at;
    size_t size = (size_t)(frame->end - frame->at);
    if (frame->batch) {
        //  An item: field 1, length-delimited, inside the batch.
        uint64_t len = 0;
        size_t n = 0;
        if (frame->at == frame->end) {
            frame->left = false;
            if (frame->items == 0)
                s_fail (err, errlen, "BATCH holds no message");
            return NULL;
        }
        if (frame->at[0] != ((1 << 3) | 2) ||
            (n = sl_proto_varint_get (frame->at + 1, frame->end, &len)) == 0 ||
            len > (uint64_t)(frame->end - frame->at - 1 - n)) {
            frame->left = false;
            s_fail (err, errlen, "BATCH: item %zu is malformed", frame->items);
            return NULL;
        }
        data = frame->at + 1 + n;
        size = (size_t)len;
        frame->at = data + size;
    } else
        frame->left = false;
    frame->items++;
    sl_msg_t *msg = arena ? sl_proto_decode_in (arena, data, size, err, errlen)
                          : sl_proto_decode (data, size, err, errlen);
    if (!msg)
        frame->left = false;
    return msg;
}

//  See sl_proto.h.
bool
sl_proto_frame_batch (const sl_proto_frame_t *frame)
{
    return frame->batch;
}

//  See sl_proto.h.
void
sl_proto_frame_close (sl_proto_frame_t *frame)
{
    if (frame->owned)
        zmq_msg_close (&frame->msg);
    frame->owned = false;
    frame->left = false;
}
