/*  sl_proto_fast - JOB and DONE, the two messages sent once per job, coded
    by hand. See sl_proto_fast.h.

    protobuf-c is table-driven and general: it unpacked a 50-byte DONE in
    about 3,000 instructions (a scan of every field into a slab, then a
    parse of each, a malloc per string) and sized a JOB twice before
    packing it; under callgrind the scheduler spent a third of its own
    instructions per job there, the null worker nearly half. These
    functions write the same bytes protobuf-c writes and read the same
    structs it reads, for the inputs they understand, and decline the rest
    (the caller then uses protobuf-c): tests/unit/common/test_proto.c
    checks both against protobuf-c on random and mutated messages.
*/
#include "sl_proto_fast.h"

#include <string.h>

//  ---------------------------------------------------------------------
//  Encoding

typedef struct {
    byte *at, *end;
} s_out_t;

static inline size_t
s_varint_len (uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80)
        v >>= 7, n++;
    return n;
}

//  Room is checked once per message (s_job_size, s_done_size).
static inline void
s_put_varint (s_out_t *o, uint64_t v)
{
    o->at += sl_proto_varint_put (v, o->at);
}

static inline void
s_put_u64 (s_out_t *o, unsigned field, uint64_t v)
{
    if (v) {
        *o->at++ = (byte)(field << 3);
        s_put_varint (o, v);
    }
}

//  int32 and enums: a negative value is sign-extended to 64 bits, as
//  protobuf-c writes it.
static inline void
s_put_i32 (s_out_t *o, unsigned field, int32_t v)
{
    s_put_u64 (o, field, (uint64_t)(int64_t)v);
}

static inline void
s_put_str (s_out_t *o, unsigned field, const char *s, size_t len)
{
    if (len) {
        *o->at++ = (byte)((field << 3) | 2);
        s_put_varint (o, len);
        memcpy (o->at, s, len);
        o->at += len;
    }
}

static inline size_t
s_u64_size (uint64_t v)
{
    return v ? 1 + s_varint_len (v) : 0;
}

static inline size_t
s_i32_size (int32_t v)
{
    return s_u64_size ((uint64_t)(int64_t)v);
}

static inline size_t
s_str_size (size_t len)
{
    return len ? 1 + s_varint_len (len) + len : 0;
}

static inline size_t
s_strlen (const char *s)
{
    return s ? strlen (s) : 0;
}

//  Fields numbered 1 to 15 have a one-byte tag; Done's 16 to 22 two.
static inline void
s_put_u64_hi (s_out_t *o, unsigned field, uint64_t v)
{
    if (v) {
        s_put_varint (o, field << 3);
        s_put_varint (o, v);
    }
}

static inline void
s_put_str_hi (s_out_t *o, unsigned field, const char *s, size_t len)
{
    if (len) {
        s_put_varint (o, (field << 3) | 2);
        s_put_varint (o, len);
        memcpy (o->at, s, len);
        o->at += len;
    }
}

//  The envelope's head: version, then the body's tag and length.
static size_t
s_head (byte *out, unsigned body_field, size_t body_len)
{
    s_out_t o = {out, NULL};
    s_put_u64 (&o, 1, SL_PROTO_VERSION);
    *o.at++ = (byte)((body_field << 3) | 2);
    s_put_varint (&o, body_len);
    return (size_t)(o.at - out);
}

//  See sl_proto_fast.h.
size_t
sl_proto_fast_job (const Sluice__Job *job, byte *out, size_t room)
{
    if (job->base.n_unknown_fields)
        return 0;
    size_t lt = s_strlen (job->topic), ld = s_strlen (job->dlq_topic),
           lr = s_strlen (job->reason), ls = s_strlen (job->state_topic),
           lg = s_strlen (job->state_group);
    size_t body =
        s_u64_size (job->job_id) + s_str_size (lt) +
        s_i32_size (job->partition) + s_u64_size ((uint64_t)job->start) +
        s_u64_size ((uint64_t)job->end) + s_u64_size (job->attempt) +
        s_i32_size ((int32_t)job->mode) + s_str_size (ld) + s_str_size (lr) +
        s_u64_size (job->lease_ms) + s_u64_size (job->records_per_call) +
        s_u64_size (job->keyed) + s_str_size (ls) +
        s_i32_size (job->state_partition) + s_str_size (lg);
    if (body + 2 + 1 + 10 > room)
        return 0;
    s_out_t o = {out + s_head (out, SLUICE__ENVELOPE__BODY_JOB, body), NULL};
    s_put_u64 (&o, 1, job->job_id);
    s_put_str (&o, 2, job->topic, lt);
    s_put_i32 (&o, 3, job->partition);
    s_put_u64 (&o, 4, (uint64_t)job->start);
    s_put_u64 (&o, 5, (uint64_t)job->end);
    s_put_u64 (&o, 6, job->attempt);
    s_put_i32 (&o, 7, (int32_t)job->mode);
    s_put_str (&o, 8, job->dlq_topic, ld);
    s_put_str (&o, 9, job->reason, lr);
    s_put_u64 (&o, 10, job->lease_ms);
    s_put_u64 (&o, 11, job->records_per_call);
    s_put_u64 (&o, 12, job->keyed);
    s_put_str (&o, 13, job->state_topic, ls);
    s_put_i32 (&o, 14, job->state_partition);
    s_put_str (&o, 15, job->state_group, lg);
    return (size_t)(o.at - out);
}

//  See sl_proto_fast.h.
size_t
sl_proto_fast_done (const Sluice__Done *d, byte *out, size_t room)
{
    if (d->base.n_unknown_fields || d->n_lost_ranges)
        return 0;
    size_t lt = s_strlen (d->topic), le = s_strlen (d->error),
           lc = s_strlen (d->fault_code), lg = s_strlen (d->fault_target);
    //  Tags of fields 16 and up take two bytes: one more than counted.
    size_t body = s_u64_size (d->job_id) + s_str_size (lt) +
                  s_i32_size (d->partition) + s_u64_size ((uint64_t)d->start) +
                  s_u64_size ((uint64_t)d->end) +
                  s_i32_size ((int32_t)d->status) + s_str_size (le) +
                  s_u64_size (d->records) + s_u64_size (d->rejected) +
                  s_u64_size (d->lost) + s_u64_size (d->emitted) +
                  s_u64_size (d->duration_us) + s_u64_size (d->retried) +
                  s_u64_size (d->credits) + s_u64_size (d->plugin_us) +
                  (d->plugin_us ? 1 : 0) + s_u64_size (d->fetch_us) +
                  (d->fetch_us ? 1 : 0) + s_u64_size (d->flush_us) +
                  (d->flush_us ? 1 : 0) + s_i32_size ((int32_t)d->fault) +
                  (d->fault ? 1 : 0) + s_str_size (lc) + (lc ? 1 : 0) +
                  s_str_size (lg) + (lg ? 1 : 0) +
                  s_i32_size ((int32_t)d->fault_side) + (d->fault_side ? 1 : 0);
    if (body + 2 + 1 + 10 > room)
        return 0;
    s_out_t o = {out + s_head (out, SLUICE__ENVELOPE__BODY_DONE, body), NULL};
    s_put_u64 (&o, 1, d->job_id);
    s_put_str (&o, 2, d->topic, lt);
    s_put_i32 (&o, 3, d->partition);
    s_put_u64 (&o, 4, (uint64_t)d->start);
    s_put_u64 (&o, 5, (uint64_t)d->end);
    s_put_i32 (&o, 6, (int32_t)d->status);
    s_put_str (&o, 7, d->error, le);
    s_put_u64 (&o, 8, d->records);
    s_put_u64 (&o, 9, d->rejected);
    s_put_u64 (&o, 10, d->lost);
    s_put_u64 (&o, 12, d->emitted);
    s_put_u64 (&o, 13, d->duration_us);
    s_put_u64 (&o, 14, d->retried);
    s_put_u64 (&o, 15, d->credits);
    s_put_u64_hi (&o, 16, d->plugin_us);
    s_put_u64_hi (&o, 17, d->fetch_us);
    s_put_u64_hi (&o, 18, d->flush_us);
    s_put_u64_hi (&o, 19, (uint64_t)(int64_t)(int32_t)d->fault);
    s_put_str_hi (&o, 20, d->fault_code, lc);
    s_put_str_hi (&o, 21, d->fault_target, lg);
    s_put_u64_hi (&o, 22, (uint64_t)(int64_t)(int32_t)d->fault_side);
    return (size_t)(o.at - out);
}

//  ---------------------------------------------------------------------
//  Decoding: anything unusual declines (returns NULL), and protobuf-c
//  decides.

//  size bytes from the arena, never beyond it (declining leaves nothing
//  to free).
static inline void *
s_take (sl_proto_arena_t *a, size_t size)
{
    size_t need = (size + 15) & ~(size_t)15;
    if (need > a->size - a->used)
        return NULL;
    void *p = a->base + a->used;
    a->used += need;
    return p;
}

typedef struct {
    const byte *at, *end;
} s_in_t;

//  A varint of at most 10 bytes; false if cut short or longer.
static inline bool
s_get_varint (s_in_t *in, uint64_t *v)
{
    size_t n = sl_proto_varint_get (in->at, in->end, v);
    in->at += n;
    return n != 0;
}

//  A string field's bytes, copied into the arena and NUL-terminated. Only
//  ASCII without NUL is taken (protobuf-c's handling of the rest is left
//  to it).
static bool
s_get_str (s_in_t *in, sl_proto_arena_t *a, char **out)
{
    uint64_t len;
    if (!s_get_varint (in, &len) || len > (uint64_t)(in->end - in->at))
        return false;
    for (uint64_t i = 0; i < len; i++)
        if (in->at[i] == 0 || in->at[i] >= 0x80)
            return false;
    char *s = s_take (a, (size_t)len + 1);
    if (!s)
        return false;
    memcpy (s, in->at, (size_t)len);
    s[len] = 0;
    in->at += len;
    *out = s;
    return true;
}

//  One field's tag: its number and wire type; false at a malformed one.
static inline bool
s_get_tag (s_in_t *in, uint32_t *field, unsigned *wire)
{
    uint64_t tag;
    if (!s_get_varint (in, &tag) || tag > UINT32_MAX)
        return false;
    *field = (uint32_t)(tag >> 3);
    *wire = (unsigned)(tag & 7);
    return *field != 0;
}

//  A Job body; false to decline.
static bool
s_job (s_in_t *in, sl_proto_arena_t *a, Sluice__Job *job)
{
    uint32_t seen = 0, field;
    unsigned wire;
    while (in->at < in->end) {
        if (!s_get_tag (in, &field, &wire) || field > 15 ||
            (seen & (1u << field)))
            return false;
        seen |= 1u << field;
        bool str = field == 2 || field == 8 || field == 9 || field == 13 ||
                   field == 15;
        if (wire != (str ? 2u : 0u))
            return false;
        uint64_t v = 0;
        if (!str && !s_get_varint (in, &v))
            return false;
        switch (field) {
            case 1:
                job->job_id = v;
                break;
            case 2:
                if (!s_get_str (in, a, &job->topic))
                    return false;
                break;
            case 3:
                job->partition = (int32_t)v;
                break;
            case 4:
                job->start = (int64_t)v;
                break;
            case 5:
                job->end = (int64_t)v;
                break;
            case 6:
                job->attempt = (uint32_t)v;
                break;
            case 7:
                job->mode = (Sluice__JobMode)(int32_t)v;
                break;
            case 8:
                if (!s_get_str (in, a, &job->dlq_topic))
                    return false;
                break;
            case 9:
                if (!s_get_str (in, a, &job->reason))
                    return false;
                break;
            case 10:
                job->lease_ms = (uint32_t)v;
                break;
            case 11:
                job->records_per_call = (uint32_t)v;
                break;
            case 13:
                if (!s_get_str (in, a, &job->state_topic))
                    return false;
                break;
            case 14:
                job->state_partition = (int32_t)v;
                break;
            case 15:
                if (!s_get_str (in, a, &job->state_group))
                    return false;
                break;
            default:
                if (v > 1)
                    return false; //  protobuf-c writes a bool as 0 or 1
                job->keyed = v == 1;
                break;
        }
    }
    return true;
}

//  A Done body without lost ranges; false to decline.
static bool
s_done (s_in_t *in, sl_proto_arena_t *a, Sluice__Done *d)
{
    uint32_t seen = 0, field;
    unsigned wire;
    while (in->at < in->end) {
        if (!s_get_tag (in, &field, &wire) || field > 22 || field == 11 ||
            (seen & (1u << field)))
            return false;
        seen |= 1u << field;
        bool str = field == 2 || field == 7 || field == 20 || field == 21;
        if (wire != (str ? 2u : 0u))
            return false;
        uint64_t v = 0;
        if (!str && !s_get_varint (in, &v))
            return false;
        switch (field) {
            case 1:
                d->job_id = v;
                break;
            case 2:
                if (!s_get_str (in, a, &d->topic))
                    return false;
                break;
            case 3:
                d->partition = (int32_t)v;
                break;
            case 4:
                d->start = (int64_t)v;
                break;
            case 5:
                d->end = (int64_t)v;
                break;
            case 6:
                d->status = (Sluice__JobStatus)(int32_t)v;
                break;
            case 7:
                if (!s_get_str (in, a, &d->error))
                    return false;
                break;
            case 8:
                d->records = v;
                break;
            case 9:
                d->rejected = v;
                break;
            case 10:
                d->lost = v;
                break;
            case 12:
                d->emitted = v;
                break;
            case 13:
                d->duration_us = v;
                break;
            case 14:
                d->retried = v;
                break;
            case 15:
                d->credits = (uint32_t)v;
                break;
            case 16:
                d->plugin_us = v;
                break;
            case 17:
                d->fetch_us = v;
                break;
            case 18:
                d->flush_us = v;
                break;
            case 19:
                d->fault = (Sluice__FaultClass)(int32_t)v;
                break;
            case 20:
                if (!s_get_str (in, a, &d->fault_code))
                    return false;
                break;
            case 21:
                if (!s_get_str (in, a, &d->fault_target))
                    return false;
                break;
            default:
                d->fault_side = (Sluice__FaultSide)(int32_t)v;
                break;
        }
    }
    return true;
}

//  See sl_proto_fast.h.
sl_msg_t *
sl_proto_fast_decode (sl_proto_arena_t *a, const void *data, size_t size)
{
    s_in_t in = {data, (const byte *)data + size};
    sl_msg_t *env = s_take (a, sizeof *env);
    if (!env)
        return NULL;
    *env = (sl_msg_t)SLUICE__ENVELOPE__INIT;
    bool version = false, body = false;
    uint32_t field;
    unsigned wire;
    while (in.at < in.end) {
        if (!s_get_tag (&in, &field, &wire))
            return NULL;
        if (field == 1 && wire == 0 && !version) {
            uint64_t v;
            if (!s_get_varint (&in, &v))
                return NULL;
            env->version = (uint32_t)v;
            version = true;
            continue;
        }
        uint64_t len;
        if (body || wire != 2 || !s_get_varint (&in, &len) ||
            len > (uint64_t)(in.end - in.at))
            return NULL;
        s_in_t sub = {in.at, in.at + len};
        in.at += len;
        body = true;
        if (field == SLUICE__ENVELOPE__BODY_JOB) {
            Sluice__Job *job = s_take (a, sizeof *job);
            if (!job)
                return NULL;
            *job = (Sluice__Job)SLUICE__JOB__INIT;
            if (!s_job (&sub, a, job))
                return NULL;
            sl_proto_set_body (env, SLUICE__ENVELOPE__BODY_JOB, job);
        } else if (field == SLUICE__ENVELOPE__BODY_DONE) {
            Sluice__Done *done = s_take (a, sizeof *done);
            if (!done)
                return NULL;
            *done = (Sluice__Done)SLUICE__DONE__INIT;
            if (!s_done (&sub, a, done))
                return NULL;
            sl_proto_set_body (env, SLUICE__ENVELOPE__BODY_DONE, done);
        } else
            return NULL;
    }
    return body ? env : NULL;
}
