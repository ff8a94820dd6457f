/*  fuzz_proto - libFuzzer harness for the wire-protocol decoder.

    Every frame a peer sends goes through sl_proto_decode: it must never
    crash, leak or read out of bounds, whatever the bytes. A frame it
    accepts must be a valid message: re-encoding it and decoding the
    result must succeed and give the same body case (the validator and
    the encoder agree). The same bytes read as a frame (sl_proto_frame:
    one message, or each item of a BATCH) obey the same rules, and a
    refusal ends the frame.
*/
#include "sl_proto.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

//  The bytes as a frame, message by message, in an arena as the
//  scheduler reads them.
static void
s_frame (const uint8_t *data, size_t size)
{
    char err[256];
    sl_proto_frame_t frame;
    sl_proto_frame_over (&frame, data, size);
    _Alignas(16) unsigned char space[512];
    sl_proto_arena_t arena;
    sl_proto_arena_init (&arena, space, sizeof space);
    sl_msg_t *msg;
    size_t n = 0;
    while ((msg = sl_proto_frame_next (&frame, &arena, err, sizeof err))) {
        if (msg->body_case == SLUICE__ENVELOPE__BODY_BATCH)
            abort (); //  never a batch inside one
        n++;
        sl_proto_arena_free (&arena, &msg);
    }
    //  A frame that is not a batch holds one message at most; after the
    //  end (or a refusal), nothing more.
    if (!sl_proto_frame_batch (&frame) && n > 1)
        abort ();
    if (sl_proto_frame_next (&frame, &arena, err, sizeof err) || err[0])
        abort ();
    sl_proto_frame_close (&frame);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    char err[256];
    s_frame (data, size);
    sl_msg_t *msg = sl_proto_decode (data, size, err, sizeof err);
    if (!msg) {
        //  A refusal always says why.
        if (!err[0])
            abort ();
        return 0;
    }
    //  Every body is a message: its base is the union's first member.
    const ProtobufCMessage *body = (const ProtobufCMessage *)msg->hello;
    if (msg->base.n_unknown_fields || (body && body->n_unknown_fields)) {
        sl_proto_free (&msg);
        return 0;
    }
    size_t packed = sluice__envelope__get_packed_size (msg);
    uint8_t *buf = malloc (packed ? packed : 1);
    if (!buf)
        abort ();
    sluice__envelope__pack (msg, buf);
    sl_msg_t *again = sl_proto_decode (buf, packed, err, sizeof err);
    if (!again || again->body_case != msg->body_case)
        abort ();
    (void)sl_proto_name (msg->body_case);
    sl_proto_free (&again);
    sl_proto_free (&msg);
    free (buf);
    return 0;
}
