/*  test_proto_batch - several messages in one frame (Envelope.batch).

    sl_proto_out gathers messages for one peer and sends them as one
    frame; sl_proto_frame reads a frame message by message. Checked: a
    batch is what the schema says (protobuf-c reads it as an Envelope
    holding a Batch whose items are the messages), one message goes out
    as itself, order is kept, a full outbox says so, and every malformed
    batch is refused with a reason and never read past.
*/
#include <criterion/criterion.h>
#include <string.h>
#include "sl_proto.h"

//  A DONE for job k of topic "in".
static Sluice__Done
s_done (uint64_t k)
{
    Sluice__Done done = SLUICE__DONE__INIT;
    done.job_id = k;
    done.topic = "in";
    done.start = (int64_t)k * 10;
    done.end = (int64_t)k * 10 + 10;
    done.error = "";
    done.credits = 1;
    return done;
}

//  Every message of [data, size) as a frame: their job ids in ids (DONE
//  or JOB), their count returned; err is the frame's refusal, if any.
static size_t
s_read_all (const void *data, size_t size, uint64_t *ids, size_t max, char *err,
            size_t errlen, bool *batch)
{
    sl_proto_frame_t frame;
    sl_proto_frame_over (&frame, data, size);
    *batch = sl_proto_frame_batch (&frame);
    _Alignas(16) unsigned char space[2048];
    sl_proto_arena_t arena;
    sl_proto_arena_init (&arena, space, sizeof space);
    size_t n = 0;
    sl_msg_t *msg;
    while ((msg = sl_proto_frame_next (&frame, &arena, err, errlen))) {
        cr_assert_lt (n, max);
        ids[n++] =
            msg->body_case == SLUICE__ENVELOPE__BODY_DONE  ? msg->done->job_id
            : msg->body_case == SLUICE__ENVELOPE__BODY_JOB ? msg->job->job_id
                                                           : 0;
        sl_proto_arena_free (&arena, &msg);
    }
    //  Once ended, a frame gives nothing more.
    char again[64];
    cr_assert_null (sl_proto_frame_next (&frame, &arena, again, sizeof again));
    cr_assert_eq (again[0], 0);
    sl_proto_frame_close (&frame);
    return n;
}

//  The frame an outbox sends, caught on a DEALER/DEALER pair.
typedef struct {
    zsock_t *a, *b;
} pair_t;

static void
s_pair (pair_t *p)
{
    p->b = zsock_new (ZMQ_DEALER);
    cr_assert_not_null (p->b);
    int port = zsock_bind (p->b, "tcp://127.0.0.1:*");
    cr_assert_gt (port, 0);
    zsock_set_rcvtimeo (p->b, 5000);
    p->a = zsock_new (ZMQ_DEALER);
    cr_assert_not_null (p->a);
    cr_assert_eq (zsock_connect (p->a, "tcp://127.0.0.1:%d", port), 0);
}

static void
s_pair_free (pair_t *p)
{
    zsock_destroy (&p->a);
    zsock_destroy (&p->b);
}

Test (proto_batch, many_messages_leave_as_one_frame_in_order)
{
    pair_t p;
    s_pair (&p);
    sl_proto_out_t *out = malloc (sizeof *out);
    cr_assert_not_null (out);
    sl_proto_out_init (out);
    for (uint64_t k = 1; k <= 5; k++) {
        Sluice__Done done = s_done (k);
        cr_assert_eq (
            sl_proto_out_add (out, SLUICE__ENVELOPE__BODY_DONE, &done), 1);
    }
    Sluice__Credit credit = SLUICE__CREDIT__INIT;
    credit.credits = 3;
    cr_assert_eq (
        sl_proto_out_add (out, SLUICE__ENVELOPE__BODY_CREDIT, &credit), 1);
    cr_assert_eq (out->count, 6);
    cr_assert_eq (sl_proto_out_flush (p.a, NULL, 0, out), 0);
    cr_assert_eq (out->count, 0, "a flush empties the outbox");
    cr_assert_eq (sl_proto_out_flush (p.a, NULL, 0, out), 0,
                  "flushing nothing sends nothing");

    zframe_t *frame = zframe_recv (p.b);
    cr_assert_not_null (frame);
    //  What the schema says: an Envelope of this version holding a Batch
    //  whose items are whole Envelopes.
    Sluice__Envelope *env = sluice__envelope__unpack (NULL, zframe_size (frame),
                                                      zframe_data (frame));
    cr_assert_not_null (env, "protobuf-c reads a batch");
    cr_assert_eq (env->version, SL_PROTO_VERSION);
    cr_assert_eq (env->body_case, SLUICE__ENVELOPE__BODY_BATCH);
    cr_assert_eq (env->batch->n_items, 6);
    Sluice__Envelope *first = sluice__envelope__unpack (
        NULL, env->batch->items[0].len, env->batch->items[0].data);
    cr_assert_not_null (first);
    cr_assert_eq (first->body_case, SLUICE__ENVELOPE__BODY_DONE);
    cr_assert_eq (first->done->job_id, 1);
    sluice__envelope__free_unpacked (first, NULL);
    sluice__envelope__free_unpacked (env, NULL);

    //  Read back in order; the CREDIT last.
    uint64_t ids[16];
    char err[256];
    bool batch;
    size_t n = s_read_all (zframe_data (frame), zframe_size (frame), ids, 16,
                           err, sizeof err, &batch);
    cr_assert (batch);
    cr_assert_eq (err[0], 0, "refused: %s", err);
    cr_assert_eq (n, 6);
    for (size_t k = 0; k < 5; k++)
        cr_assert_eq (ids[k], k + 1);
    cr_assert_eq (ids[5], 0);
    zframe_destroy (&frame);

    //  The same over the socket API.
    Sluice__Done done = s_done (9);
    sl_proto_out_add (out, SLUICE__ENVELOPE__BODY_DONE, &done);
    done = s_done (10);
    sl_proto_out_add (out, SLUICE__ENVELOPE__BODY_DONE, &done);
    cr_assert_eq (sl_proto_out_flush (p.a, NULL, 0, out), 0);
    sl_proto_frame_t f;
    cr_assert_eq (sl_proto_recv_frame (p.b, &f, true, err, sizeof err), 1);
    cr_assert (sl_proto_frame_batch (&f));
    sl_msg_t *msg = sl_proto_frame_next (&f, NULL, err, sizeof err);
    cr_assert_not_null (msg, "refused: %s", err);
    cr_assert_eq (msg->done->job_id, 9);
    sl_proto_free (&msg);
    msg = sl_proto_frame_next (&f, NULL, err, sizeof err);
    cr_assert_not_null (msg, "refused: %s", err);
    cr_assert_eq (msg->done->job_id, 10);
    sl_proto_free (&msg);
    cr_assert_null (sl_proto_frame_next (&f, NULL, err, sizeof err));
    sl_proto_frame_close (&f);
    free (out);
    s_pair_free (&p);
}

Test (proto_batch, one_message_leaves_as_itself)
{
    pair_t p;
    s_pair (&p);
    sl_proto_out_t *out = malloc (sizeof *out);
    cr_assert_not_null (out);
    sl_proto_out_init (out);
    Sluice__Done done = s_done (7);
    cr_assert_eq (sl_proto_out_add (out, SLUICE__ENVELOPE__BODY_DONE, &done),
                  1);
    cr_assert_eq (sl_proto_out_flush (p.a, NULL, 0, out), 0);
    //  A peer that knows nothing of batches reads it.
    char err[256];
    sl_msg_t *msg = sl_proto_recv (p.b, NULL, err, sizeof err);
    cr_assert_not_null (msg, "refused: %s", err);
    cr_assert_eq (msg->body_case, SLUICE__ENVELOPE__BODY_DONE);
    cr_assert_eq (msg->done->job_id, 7);
    sl_proto_free (&msg);
    //  And a plain message read as a frame is one message, not a batch.
    cr_assert_eq (sl_proto_send (p.a, NULL, SLUICE__ENVELOPE__BODY_DONE, &done),
                  0);
    sl_proto_frame_t f;
    cr_assert_eq (sl_proto_recv_frame (p.b, &f, true, err, sizeof err), 1);
    cr_assert_not (sl_proto_frame_batch (&f));
    msg = sl_proto_frame_next (&f, NULL, err, sizeof err);
    cr_assert_not_null (msg);
    sl_proto_free (&msg);
    cr_assert_null (sl_proto_frame_next (&f, NULL, err, sizeof err));
    cr_assert_eq (err[0], 0);
    sl_proto_frame_close (&f);
    free (out);
    s_pair_free (&p);
}

Test (proto_batch, items_of_128_bytes_and_more_keep_their_bytes)
{
    //  An item whose length takes two bytes (its envelope is moved up in
    //  the outbox), alone and between two small ones.
    pair_t p;
    s_pair (&p);
    sl_proto_out_t *out = malloc (sizeof *out);
    cr_assert_not_null (out);
    sl_proto_out_init (out);
    char reason[300];
    memset (reason, 'r', sizeof reason - 1);
    reason[sizeof reason - 1] = 0;
    Sluice__Job big = SLUICE__JOB__INIT;
    big.job_id = 2;
    big.topic = "in";
    big.end = 1;
    big.reason = reason;
    char err[256];
    for (int alone = 1; alone >= 0; alone--) {
        Sluice__Done a = s_done (1), c = s_done (3);
        if (!alone)
            cr_assert_eq (
                sl_proto_out_add (out, SLUICE__ENVELOPE__BODY_DONE, &a), 1);
        cr_assert_eq (sl_proto_out_add (out, SLUICE__ENVELOPE__BODY_JOB, &big),
                      1);
        if (!alone)
            cr_assert_eq (
                sl_proto_out_add (out, SLUICE__ENVELOPE__BODY_DONE, &c), 1);
        cr_assert_eq (sl_proto_out_flush (p.a, NULL, 0, out), 0);
        sl_proto_frame_t f;
        cr_assert_eq (sl_proto_recv_frame (p.b, &f, true, err, sizeof err), 1);
        cr_assert_eq (sl_proto_frame_batch (&f), !alone);
        uint64_t want[] = {1, 2, 3};
        for (size_t k = alone ? 1 : 0; k < (alone ? 2u : 3u); k++) {
            sl_msg_t *msg = sl_proto_frame_next (&f, NULL, err, sizeof err);
            cr_assert_not_null (msg, "refused: %s", err);
            if (want[k] == 2) {
                cr_assert_eq (msg->body_case, SLUICE__ENVELOPE__BODY_JOB);
                cr_assert_str_eq (msg->job->reason, reason);
            } else
                cr_assert_eq (msg->done->job_id, want[k]);
            sl_proto_free (&msg);
        }
        cr_assert_null (sl_proto_frame_next (&f, NULL, err, sizeof err));
        cr_assert_eq (err[0], 0);
        sl_proto_frame_close (&f);
    }
    free (out);
    s_pair_free (&p);
}

Test (proto_batch, a_full_outbox_says_so_and_a_large_message_goes_alone)
{
    sl_proto_out_t *out = malloc (sizeof *out);
    cr_assert_not_null (out);
    sl_proto_out_init (out);
    size_t added = 0;
    for (uint64_t k = 1; k < 100000; k++) {
        Sluice__Done done = s_done (k);
        if (!sl_proto_out_add (out, SLUICE__ENVELOPE__BODY_DONE, &done))
            break;
        added++;
    }
    cr_assert_gt (added, 100);
    cr_assert_lt (added, 100000, "an outbox has an end");
    cr_assert_eq (out->count, added);
    cr_assert_leq (out->used, SL_PROTO_BATCH_ROOM);
    //  Empty, it still refuses what no batch can hold.
    sl_proto_out_init (out);
    char reason[5000];
    memset (reason, 'r', sizeof reason - 1);
    reason[sizeof reason - 1] = 0;
    Sluice__Job job = SLUICE__JOB__INIT;
    job.topic = "in";
    job.end = 1;
    job.reason = reason;
    cr_assert_eq (sl_proto_out_add (out, SLUICE__ENVELOPE__BODY_JOB, &job), 0);
    cr_assert_eq (out->count, 0);
    free (out);
}

//  A frame of the version, BATCH's tag and length, then body.
static size_t
s_batch (unsigned char *buf, const unsigned char *body, size_t len)
{
    size_t n = 0;
    buf[n++] = 0x08;
    buf[n++] = SL_PROTO_VERSION;
    buf[n++] = (15 << 3) | 2;
    buf[n++] = (unsigned char)len; //  len < 128 in these tests
    memcpy (buf + n, body, len);
    return n + len;
}

//  An item (tag, one-byte length, bytes) at body + b: the new end.
static size_t
s_put (unsigned char *body, size_t b, unsigned char tag,
       const unsigned char *item, size_t len)
{
    body[b++] = tag;
    body[b++] = (unsigned char)len;
    memcpy (body + b, item, len);
    return b + len;
}

//  A DONE of job k as an envelope in buf: its size.
static size_t
s_done_bytes (unsigned char *buf, uint64_t k)
{
    Sluice__Done done = s_done (k);
    Sluice__Envelope env = SLUICE__ENVELOPE__INIT;
    env.version = SL_PROTO_VERSION;
    env.body_case = SLUICE__ENVELOPE__BODY_DONE;
    env.done = &done;
    return sluice__envelope__pack (&env, buf);
}

Test (proto_batch, malformed_batches_are_refused_and_not_read_past)
{
    unsigned char item[128], body[256], frame[300];
    uint64_t ids[8];
    char err[256];
    bool batch;
    size_t ilen = s_done_bytes (item, 1);
    cr_assert_lt (ilen, 100);

    //  Empty.
    size_t n = s_batch (frame, body, 0);
    cr_assert_eq (s_read_all (frame, n, ids, 8, err, sizeof err, &batch), 0);
    cr_assert (batch);
    cr_assert_str_eq (err, "BATCH holds no message");

    //  One good item, then one whose tag is not field 1: the first is
    //  read, the second refused.
    size_t b = s_put (body, 0, 0x0a, item, ilen);
    b = s_put (body, b, 0x12, item, ilen);
    n = s_batch (frame, body, b);
    cr_assert_eq (s_read_all (frame, n, ids, 8, err, sizeof err, &batch), 1);
    cr_assert_str_eq (err, "BATCH: item 1 is malformed");

    //  An item longer than the batch.
    b = s_put (body, 0, 0x0a, item, ilen);
    body[1] = (unsigned char)(ilen + 5);
    n = s_batch (frame, body, b);
    cr_assert_eq (s_read_all (frame, n, ids, 8, err, sizeof err, &batch), 0);
    cr_assert_str_eq (err, "BATCH: item 0 is malformed");

    //  A batch inside a batch.
    unsigned char inner[200];
    size_t in = s_batch (inner, body, s_put (body, 0, 0x0a, item, ilen));
    n = s_batch (frame, body, s_put (body, 0, 0x0a, inner, in));
    cr_assert_eq (s_read_all (frame, n, ids, 8, err, sizeof err, &batch), 0);
    cr_assert (strstr (err, "a batch inside a batch"), "got: %s", err);

    //  An item that is not a valid message (a DONE with no topic): refused
    //  for what is wrong with it, and the item after it is not read.
    Sluice__Done bad = s_done (2);
    bad.topic = "";
    Sluice__Envelope env = SLUICE__ENVELOPE__INIT;
    env.version = SL_PROTO_VERSION;
    env.body_case = SLUICE__ENVELOPE__BODY_DONE;
    env.done = &bad;
    unsigned char badb[128];
    size_t blen = sluice__envelope__pack (&env, badb);
    b = s_put (body, 0, 0x0a, badb, blen);
    b = s_put (body, b, 0x0a, item, ilen);
    n = s_batch (frame, body, b);
    cr_assert_eq (s_read_all (frame, n, ids, 8, err, sizeof err, &batch), 0);
    cr_assert (strstr (err, "bad topic name"), "got: %s", err);

    //  A batch of another protocol version is refused for its version.
    n = s_batch (frame, body, s_put (body, 0, 0x0a, item, ilen));
    frame[1] = SL_PROTO_VERSION + 1;
    cr_assert_eq (s_read_all (frame, n, ids, 8, err, sizeof err, &batch), 0);
    cr_assert_not (batch);
    cr_assert (strstr (err, "protocol version"), "got: %s", err);

    //  A length that does not span the frame: not taken for a batch; the
    //  whole frame is judged as one message and refused.
    b = s_put (body, 0, 0x0a, item, ilen);
    n = s_batch (frame, body, b);
    frame[3] = (unsigned char)(b - 1);
    cr_assert_eq (s_read_all (frame, n, ids, 8, err, sizeof err, &batch), 0);
    cr_assert_not (batch);
    cr_assert_neq (err[0], 0);
}
