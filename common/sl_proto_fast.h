/*  sl_proto_fast - the per-job messages (JOB, DONE) coded by hand, for
    sl_proto. Each function does what protobuf-c would, byte for byte and
    field for field, or declines (0 or NULL) and protobuf-c is used.     */
#ifndef SL_PROTO_FAST_H_INCLUDED
#define SL_PROTO_FAST_H_INCLUDED

#include "sl_proto.h"

/*  Protobuf's varints, for sl_proto and sl_proto_fast alike.            */
/*  v written at out (room for 10 bytes): its length.                    */
static inline size_t
sl_proto_varint_put (uint64_t v, byte *out)
{
    size_t n = 0;
    while (v >= 0x80) {
        out[n++] = (byte)(v | 0x80);
        v >>= 7;
    }
    out[n++] = (byte)v;
    return n;
}

/*  A varint of at most 10 bytes read from [at, end) into *v: its length,
    or 0 if cut short or longer.                                          */
static inline size_t
sl_proto_varint_get (const byte *at, const byte *end, uint64_t *v)
{
    if (at < end && *at < 0x80) { //  most tags and values
        *v = *at;
        return 1;
    }
    uint64_t r = 0;
    for (size_t n = 0; n < 10 && at + n < end; n++) {
        r |= (uint64_t)(at[n] & 0x7f) << (7 * n);
        if (!(at[n] & 0x80)) {
            *v = r;
            return n + 1;
        }
    }
    return 0;
}

/*  An envelope holding job (or done), written to out: its size, or 0 if
    it does not fit in room or holds what is left to protobuf-c (unknown
    fields, DONE's lost ranges).                                         */
size_t sl_proto_fast_job (const Sluice__Job *job, byte *out, size_t room);
size_t sl_proto_fast_done (const Sluice__Done *done, byte *out, size_t room);

/*  An envelope holding a JOB or a DONE decoded into arena (which must be
    empty; nothing is taken from beyond it), or NULL to decline: another
    body, a field it does not know, a field twice, a string that is not
    plain ASCII, anything malformed. Not validated (sl_proto does that). */
sl_msg_t *sl_proto_fast_decode (sl_proto_arena_t *arena, const void *data,
                                size_t size);

#endif
