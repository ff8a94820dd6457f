/*  fuzz_proto - libFuzzer harness for the wire-protocol decoder.

    Every frame a peer sends goes through sl_proto_decode: it must never
    crash, leak or read out of bounds, whatever the bytes. A frame it
    accepts must be a valid message: re-encoding it and decoding the
    result must succeed and give the same body case (the validator and
    the encoder agree).
*/
#include "sl_proto.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    char err[256];
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
