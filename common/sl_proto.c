/*  sl_proto - encode, decode and validate sluice wire messages.         */
#include "sl_proto.h"

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
            return 0;
        case SLUICE__ENVELOPE__BODY_CREDIT:
            if (msg->credit->credits > SL_PROTO_MAX_CREDITS)
                return s_fail (err, errlen, "CREDIT: %u credits is too many",
                               msg->credit->credits);
            return 0;
        case SLUICE__ENVELOPE__BODY_JOB:
            return s_check_range ("JOB", msg->job->topic, msg->job->partition,
                                  msg->job->start, msg->job->end, err, errlen);
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

//  Decode and validate one frame.
sl_msg_t *
sl_proto_decode (const void *data, size_t size, char *err, size_t errlen)
{
    if (size > SL_PROTO_MAX_FRAME) {
        s_fail (err, errlen, "frame of %zu bytes is larger than %d", size,
                SL_PROTO_MAX_FRAME);
        return NULL;
    }
    sl_msg_t *msg = sluice__envelope__unpack (NULL, size, data);
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
    sluice__envelope__free_unpacked (msg, NULL);
    return NULL;
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
        default:
            env->body_case = SLUICE__ENVELOPE__BODY__NOT_SET;
            break;
    }
}

//  Encode and send one message.
int
sl_proto_send (zsock_t *sock, zframe_t *routing_id,
               Sluice__Envelope__BodyCase kind, void *body)
{
    sl_msg_t env = SLUICE__ENVELOPE__INIT;
    env.version = SL_PROTO_VERSION;
    sl_proto_set_body (&env, kind, body);
    //  Encoded on the stack and sent with zmq_send, which copies it: no
    //  zmsg or zframe per message (the scheduler sends one per job).
    byte stack[1024];
    size_t size = sluice__envelope__get_packed_size (&env);
    byte *data = size <= sizeof stack ? stack : malloc (size);
    if (!data)
        return -1;
    sluice__envelope__pack (&env, data);
    void *handle = zsock_resolve (sock);
    int rc = 0;
    if (routing_id &&
        zmq_send (handle, zframe_data (routing_id), zframe_size (routing_id),
                  ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0)
        rc = -1;
    if (rc == 0 && zmq_send (handle, data, size, ZMQ_DONTWAIT) < 0)
        rc = -1;
    if (data != stack)
        free (data);
    return rc;
}

//  Receive one message.
//  Receive one message; with ZMQ_DONTWAIT in flags, return at once (NULL,
//  err empty, no routing id) when nothing is waiting.
static sl_msg_t *
s_recv (zsock_t *sock, int flags, zframe_t **routing_id_p, int *fd_p, char *err,
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
        //  The connection it came on: the body carries the engine's
        //  metadata (the routing id frame, made by the ROUTER, may not).
        if (fd_p)
            *fd_p = zmq_msg_get (&frame, ZMQ_SRCFD);
    }
    //  The body is decoded straight from the zmq_msg_t: no zmsg or zframe
    //  per message.
    sl_msg_t *msg = NULL;
    if (zmq_msg_more (&frame)) {
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
    } else
        msg = sl_proto_decode (zmq_msg_data (&frame), zmq_msg_size (&frame),
                               err, errlen);
    zmq_msg_close (&frame);
    return msg;
}

sl_msg_t *
sl_proto_recv (zsock_t *sock, zframe_t **routing_id_p, char *err, size_t errlen)
{
    if (routing_id_p)
        *routing_id_p = NULL;
    return s_recv (sock, 0, routing_id_p, NULL, err, errlen);
}

sl_msg_t *
sl_proto_try_recv (zsock_t *sock, zframe_t **routing_id_p, char *err,
                   size_t errlen)
{
    if (routing_id_p)
        *routing_id_p = NULL;
    return s_recv (sock, ZMQ_DONTWAIT, routing_id_p, NULL, err, errlen);
}

sl_msg_t *
sl_proto_try_recv_fd (zsock_t *sock, zframe_t **routing_id_p, int *fd_p,
                      char *err, size_t errlen)
{
    *routing_id_p = NULL;
    *fd_p = -1;
    return s_recv (sock, ZMQ_DONTWAIT, routing_id_p, fd_p, err, errlen);
}
