/*  test_proto_fast - JOB and DONE coded by hand (sl_proto_fast) against
    protobuf-c, on random messages and on random mutations of them.

    Encoding: whatever the hand coder writes is byte for byte what
    protobuf-c writes for the same envelope. Decoding: whatever it accepts,
    protobuf-c accepts too and reads to the same fields; what it declines
    goes to protobuf-c (sl_proto_decode_in shows the two paths agree on
    every frame, accepted or refused, and the arena frees what spilled).

    SLUICE_TEST_SEED=<seed> reruns from that seed.
*/
#include <criterion/criterion.h>

#include <string.h>

#include "sl_proto.h"
#include "sl_proto_fast.h"
#include "test_rand.h"

//  A random string: empty, ASCII, or (now and then) any bytes but NUL.
static void
s_rand_str (char *buf, size_t cap)
{
    size_t len = s_rand () % 3 == 0 ? 0 : s_rand () % (cap - 1);
    bool ascii = s_rand () % 4 != 0;
    for (size_t i = 0; i < len; i++)
        buf[i] = (char)(ascii ? 'a' + s_rand () % 26 : 1 + s_rand () % 255);
    buf[len] = 0;
}

//  A random value, often 0, small, or at an edge.
static uint64_t
s_rand_val (void)
{
    switch (s_rand () % 5) {
        case 0:
            return 0;
        case 1:
            return s_rand () % 300;
        case 2:
            return UINT64_MAX - s_rand () % 3;
        case 3:
            return (uint64_t)(int64_t)(int32_t)s_rand ();
        default:
            return s_rand ();
    }
}

typedef struct {
    char s[6][300];
    Sluice__Job job;
    Sluice__Done done;
} s_msgs_t;

static void
s_rand_job (s_msgs_t *m)
{
    Sluice__Job *j = &m->job;
    *j = (Sluice__Job)SLUICE__JOB__INIT;
    for (int i = 0; i < 3; i++)
        s_rand_str (m->s[i], s_rand () % 2 ? 20 : 300);
    j->job_id = s_rand_val ();
    j->topic = m->s[0];
    j->partition = (int32_t)s_rand_val ();
    j->start = (int64_t)s_rand_val ();
    j->end = (int64_t)s_rand_val ();
    j->attempt = (uint32_t)s_rand_val ();
    j->mode = (Sluice__JobMode)(int32_t)(s_rand () % 4 ? s_rand () % 2
                                                       : s_rand_val ());
    j->dlq_topic = m->s[1];
    j->reason = m->s[2];
    j->lease_ms = (uint32_t)s_rand_val ();
    j->records_per_call = (uint32_t)s_rand_val ();
    j->keyed = s_rand () % 2;
    if (s_rand () % 2) { //  --state-topic: markers' topic, partition, group
        s_rand_str (m->s[4], s_rand () % 2 ? 20 : 249);
        s_rand_str (m->s[5], 40);
        j->state_topic = m->s[4];
        j->state_partition = (int32_t)(s_rand_val () & 0x7fffffff);
        j->state_group = m->s[5];
    }
}

static void
s_rand_done (s_msgs_t *m)
{
    Sluice__Done *d = &m->done;
    *d = (Sluice__Done)SLUICE__DONE__INIT;
    for (int i = 0; i < 4; i++)
        s_rand_str (m->s[i], s_rand () % 2 ? 20 : 300);
    d->job_id = s_rand_val ();
    d->topic = m->s[0];
    d->partition = (int32_t)s_rand_val ();
    d->start = (int64_t)s_rand_val ();
    d->end = (int64_t)s_rand_val ();
    d->status = (Sluice__JobStatus)(int32_t)(s_rand () % 2);
    d->error = m->s[1];
    d->records = s_rand_val ();
    d->rejected = s_rand_val ();
    d->lost = s_rand_val ();
    d->emitted = s_rand_val ();
    d->duration_us = s_rand_val ();
    d->retried = s_rand_val ();
    d->credits = (uint32_t)s_rand_val ();
    d->plugin_us = s_rand_val ();
    d->fetch_us = s_rand_val ();
    d->flush_us = s_rand_val ();
    d->fault = (Sluice__FaultClass)(int32_t)s_rand_val ();
    d->fault_code = m->s[2];
    d->fault_target = m->s[3];
    d->fault_side = (Sluice__FaultSide)(int32_t)s_rand_val ();
}

//  protobuf-c's bytes for an envelope of version 1 around body.
static size_t
s_pack (Sluice__Envelope__BodyCase kind, void *body, uint8_t *out)
{
    sl_msg_t env = SLUICE__ENVELOPE__INIT;
    env.version = SL_PROTO_VERSION;
    sl_proto_set_body (&env, kind, body);
    size_t size = sluice__envelope__get_packed_size (&env);
    cr_assert_leq (size, 4096);
    return sluice__envelope__pack (&env, out);
}

static bool
s_str_eq (const char *a, const char *b)
{
    return strcmp (a ? a : "", b ? b : "") == 0;
}

//  The two decodings hold the same fields (b none unknown, if strict: what
//  the hand decoder takes has none).
static bool
s_same (const sl_msg_t *a, const sl_msg_t *b, bool strict)
{
    if (a->version != b->version || a->body_case != b->body_case)
        return false;
    if (a->body_case == SLUICE__ENVELOPE__BODY_JOB) {
        const Sluice__Job *x = a->job, *y = b->job;
        return x->job_id == y->job_id && s_str_eq (x->topic, y->topic) &&
               x->partition == y->partition && x->start == y->start &&
               x->end == y->end && x->attempt == y->attempt &&
               x->mode == y->mode && s_str_eq (x->dlq_topic, y->dlq_topic) &&
               s_str_eq (x->reason, y->reason) && x->lease_ms == y->lease_ms &&
               x->records_per_call == y->records_per_call &&
               x->keyed == y->keyed &&
               s_str_eq (x->state_topic, y->state_topic) &&
               x->state_partition == y->state_partition &&
               s_str_eq (x->state_group, y->state_group) &&
               (!strict || y->base.n_unknown_fields == 0);
    }
    const Sluice__Done *x = a->done, *y = b->done;
    return x->job_id == y->job_id && s_str_eq (x->topic, y->topic) &&
           x->partition == y->partition && x->start == y->start &&
           x->end == y->end && x->status == y->status &&
           s_str_eq (x->error, y->error) && x->records == y->records &&
           x->rejected == y->rejected && x->lost == y->lost &&
           x->n_lost_ranges == y->n_lost_ranges && x->emitted == y->emitted &&
           x->duration_us == y->duration_us && x->retried == y->retried &&
           x->credits == y->credits && x->plugin_us == y->plugin_us &&
           x->fetch_us == y->fetch_us && x->flush_us == y->flush_us &&
           x->fault == y->fault && s_str_eq (x->fault_code, y->fault_code) &&
           s_str_eq (x->fault_target, y->fault_target) &&
           x->fault_side == y->fault_side &&
           (!strict || y->base.n_unknown_fields == 0);
}

//  What the fast decoder makes of a frame agrees with protobuf-c; and
//  sl_proto_decode_in (either path) agrees with sl_proto_decode.
static void
s_check_decode (const uint8_t *data, size_t size, bool *took)
{
    _Alignas(16) unsigned char space[2048];
    sl_proto_arena_t arena;
    sl_proto_arena_init (&arena, space, sizeof space);
    sl_msg_t *fast = sl_proto_fast_decode (&arena, data, size);
    sl_msg_t *ref = sluice__envelope__unpack (NULL, size, data);
    if (fast) {
        *took = true;
        CHECK (ref,
               "the hand decoder took a frame of %zu bytes protobuf-c "
               "refuses",
               size);
        CHECK (s_same (fast, ref, true), "the two decoders differ (%zu bytes)",
               size);
    }
    sluice__envelope__free_unpacked (ref, NULL);
    char e1[256] = "", e2[256] = "";
    sl_msg_t *a = sl_proto_decode_in (&arena, data, size, e1, sizeof e1);
    sl_msg_t *b = sl_proto_decode (data, size, e2, sizeof e2);
    CHECK (!a == !b, "decode_in %s, decode %s (%s / %s)",
           a ? "took it" : "refused", b ? "took it" : "refused", e1, e2);
    if (a && b)
        CHECK (a->body_case != SLUICE__ENVELOPE__BODY_JOB &&
                       a->body_case != SLUICE__ENVELOPE__BODY_DONE
                   ? a->body_case == b->body_case
                   : s_same (a, b, false),
               "decode_in and decode differ");
    else if (!a)
        CHECK (strcmp (e1, e2) == 0, "different reasons: %s / %s", e1, e2);
    sl_proto_arena_free (&arena, &a);
    sl_proto_free (&b);
}

Test (proto_fast, encodes_as_protobuf_c_does)
{
    s_msgs_t m;
    uint8_t ref[4096], out[4096];
    for (int i = 0; i < 20000; i++) {
        s_srand (s_base_seed () + (uint64_t)i);
        bool job = i % 2 == 0;
        if (job)
            s_rand_job (&m);
        else
            s_rand_done (&m);
        Sluice__Envelope__BodyCase kind =
            job ? SLUICE__ENVELOPE__BODY_JOB : SLUICE__ENVELOPE__BODY_DONE;
        void *body = job ? (void *)&m.job : (void *)&m.done;
        size_t n = s_pack (kind, body, ref);
        size_t k = job ? sl_proto_fast_job (&m.job, out, sizeof out)
                       : sl_proto_fast_done (&m.done, out, sizeof out);
        CHECK (k == n && memcmp (ref, out, n) == 0,
               "%s: %zu bytes by hand, %zu by protobuf-c", job ? "JOB" : "DONE",
               k, n);
        //  Too little room: declined, nothing written past it.
        CHECK ((job ? sl_proto_fast_job (&m.job, out, n / 2)
                    : sl_proto_fast_done (&m.done, out, n / 2)) == 0,
               "no room, yet written");
    }
}

Test (proto_fast, lost_ranges_are_left_to_protobuf_c)
{
    Sluice__Range r = SLUICE__RANGE__INIT, *rs[] = {&r};
    Sluice__Done d = SLUICE__DONE__INIT;
    d.n_lost_ranges = 1;
    d.lost_ranges = rs;
    uint8_t out[256];
    cr_assert_eq (sl_proto_fast_done (&d, out, sizeof out), 0);
}

Test (proto_fast, decodes_as_protobuf_c_does)
{
    s_msgs_t m;
    uint8_t frame[4096];
    bool took = false;
    for (int i = 0; i < 20000; i++) {
        s_srand (s_base_seed () + 1000000 + (uint64_t)i);
        bool job = i % 2 == 0;
        if (job)
            s_rand_job (&m);
        else
            s_rand_done (&m);
        size_t n = s_pack (job ? SLUICE__ENVELOPE__BODY_JOB
                               : SLUICE__ENVELOPE__BODY_DONE,
                           job ? (void *)&m.job : (void *)&m.done, frame);
        s_check_decode (frame, n, &took);
        //  Mutations: a byte changed, cut short, a byte inserted.
        for (int k = 0; k < 8 && n > 0; k++) {
            uint8_t mut[4097];
            size_t len = n;
            memcpy (mut, frame, n);
            switch (s_rand () % 3) {
                case 0:
                    mut[s_rand () % n] = (uint8_t)s_rand ();
                    break;
                case 1:
                    len = s_rand () % n;
                    break;
                default: {
                    size_t at = s_rand () % (n + 1);
                    memmove (mut + at + 1, mut + at, n - at);
                    mut[at] = (uint8_t)s_rand ();
                    len = n + 1;
                }
            }
            s_check_decode (mut, len, &took);
        }
    }
    cr_assert (took, "the hand decoder never took a frame");
}

Test (proto_fast, a_long_string_spills_out_of_the_arena_and_is_freed)
{
    char big[3000];
    memset (big, 'x', sizeof big - 1);
    big[sizeof big - 1] = 0;
    Sluice__Job j = SLUICE__JOB__INIT;
    j.job_id = 7;
    j.topic = "t";
    j.start = 1;
    j.end = 2;
    j.reason = big;
    uint8_t frame[4096];
    size_t n = s_pack (SLUICE__ENVELOPE__BODY_JOB, &j, frame);
    _Alignas(16) unsigned char space[512];
    sl_proto_arena_t arena;
    sl_proto_arena_init (&arena, space, sizeof space);
    char err[256];
    sl_msg_t *msg = sl_proto_decode_in (&arena, frame, n, err, sizeof err);
    cr_assert_not_null (msg, "%s", err);
    cr_assert_str_eq (msg->job->reason, big);
    cr_assert_gt (arena.spilled, 0);
    sl_proto_arena_free (&arena, &msg);
    cr_assert_null (msg);
}
