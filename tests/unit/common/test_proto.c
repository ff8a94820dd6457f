/*  test_proto - encode, decode and validate sluice wire messages.

    Every kind of message goes through pack -> sl_proto_decode and comes
    back equal; every check the decoder promises is shown refusing a
    message with one line in err; random and mutated frames never crash
    it (build with -DSLUICE_SANITIZE=address,undefined to make sure); and a
    real ROUTER/DEALER pair shows sl_proto_send / sl_proto_recv, including
    a raw peer whose garbage is refused while its routing id still comes
    back so the peer can be answered and dropped.

    Random tests use a seeded PRNG and print their seed;
    SLUICE_TEST_SEED=<seed> reruns from that seed.
*/
#include <criterion/criterion.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sl_proto.h"
#include "test_rand.h"

// --- helpers -----------------------------------------------------------------

//  Pack an envelope of the given version and body into a new buffer.
static uint8_t *
s_pack (uint32_t version, Sluice__Envelope__BodyCase kind, void *body,
        size_t *size)
{
    sl_msg_t env = SLUICE__ENVELOPE__INIT;
    env.version = version;
    sl_proto_set_body (&env, kind, body);
    *size = sluice__envelope__get_packed_size (&env);
    uint8_t *data = malloc (*size ? *size : 1);
    cr_assert_not_null (data);
    cr_assert_eq (sluice__envelope__pack (&env, data), *size);
    return data;
}

//  Pack a version-1 message and decode it; it must be accepted.
static sl_msg_t *
s_roundtrip (Sluice__Envelope__BodyCase kind, void *body)
{
    size_t size;
    uint8_t *data = s_pack (SL_PROTO_VERSION, kind, body, &size);
    char err[256] = "";
    sl_msg_t *msg = sl_proto_decode (data, size, err, sizeof err);
    free (data);
    cr_assert_not_null (msg, "%s refused: %s", sl_proto_name (kind), err);
    cr_assert_eq (msg->version, SL_PROTO_VERSION);
    cr_assert_eq (msg->body_case, kind);
    return msg;
}

//  Assert err holds one non-empty line containing want.
static void
s_assert_reason (const char *err, const char *want)
{
    cr_assert_neq (err[0], 0, "refused without a reason");
    cr_assert_null (strchr (err, '\n'), "reason is not one line: \"%s\"", err);
    cr_assert_not_null (strstr (err, want), "\"%s\" not in \"%s\"", want, err);
}

//  Decode data, which must be refused with want in err.
static void
s_expect_refused (const void *data, size_t size, const char *want)
{
    char err[256] = "";
    sl_msg_t *msg = sl_proto_decode (data, size, err, sizeof err);
    if (msg)
        sl_proto_free (&msg);
    cr_assert_null (msg, "accepted a message that should be refused (%s)",
                    want);
    s_assert_reason (err, want);
}

//  Pack a version-1 message, which must be refused with want in err.
static void
s_expect_body_refused (Sluice__Envelope__BodyCase kind, void *body,
                       const char *want)
{
    size_t size;
    uint8_t *data = s_pack (SL_PROTO_VERSION, kind, body, &size);
    s_expect_refused (data, size, want);
    free (data);
}

//  A string of n copies of c, to free.
static char *
s_repeat (char c, size_t n)
{
    char *s = malloc (n + 1);
    cr_assert_not_null (s);
    memset (s, c, n);
    s[n] = 0;
    return s;
}

// --- round trips -------------------------------------------------------------

Test (proto, hello_roundtrip)
{
    Sluice__Hello hello = SLUICE__HELLO__INIT;
    hello.worker_id = "host-a/4242";
    hello.credits = SL_PROTO_MAX_CREDITS;
    hello.plugin = "upper 1.2.0";
    hello.pid = 4242;
    hello.hostname = "host-a";
    sl_msg_t *msg = s_roundtrip (SLUICE__ENVELOPE__BODY_HELLO, &hello);
    cr_assert_str_eq (msg->hello->worker_id, "host-a/4242");
    cr_assert_eq (msg->hello->credits, SL_PROTO_MAX_CREDITS);
    cr_assert_str_eq (msg->hello->plugin, "upper 1.2.0");
    cr_assert_eq (msg->hello->pid, 4242);
    cr_assert_str_eq (msg->hello->hostname, "host-a");
    sl_proto_free (&msg);
    cr_assert_null (msg, "sl_proto_free nulls the caller's pointer");
    sl_proto_free (&msg);
}

Test (proto, credit_roundtrip)
{
    Sluice__Credit credit = SLUICE__CREDIT__INIT;
    credit.credits = 3;
    sl_msg_t *msg = s_roundtrip (SLUICE__ENVELOPE__BODY_CREDIT, &credit);
    cr_assert_eq (msg->credit->credits, 3);
    sl_proto_free (&msg);
}

Test (proto, job_roundtrip)
{
    char *topic = s_repeat ('t', 249);
    Sluice__Job job = SLUICE__JOB__INIT;
    job.job_id = UINT64_MAX;
    job.topic = topic;
    job.partition = INT32_MAX;
    job.start = 0;
    job.end = INT64_MAX;
    job.attempt = 2;
    job.mode = SLUICE__JOB_MODE__JOB_MODE_DEAD_LETTER;
    job.dlq_topic = "in.dlq";
    job.reason = "failed 3 times";
    job.lease_ms = 60000;
    sl_msg_t *msg = s_roundtrip (SLUICE__ENVELOPE__BODY_JOB, &job);
    cr_assert_eq (msg->job->job_id, UINT64_MAX);
    cr_assert_str_eq (msg->job->topic, topic);
    cr_assert_eq (msg->job->partition, INT32_MAX);
    cr_assert_eq (msg->job->start, 0);
    cr_assert_eq (msg->job->end, INT64_MAX);
    cr_assert_eq (msg->job->attempt, 2);
    cr_assert_eq (msg->job->mode, SLUICE__JOB_MODE__JOB_MODE_DEAD_LETTER);
    cr_assert_str_eq (msg->job->dlq_topic, "in.dlq");
    cr_assert_str_eq (msg->job->reason, "failed 3 times");
    cr_assert_eq (msg->job->lease_ms, 60000);
    sl_proto_free (&msg);
    free (topic);
}

Test (proto, done_roundtrip)
{
    Sluice__Range r1 = SLUICE__RANGE__INIT, r2 = SLUICE__RANGE__INIT;
    r1.start = 100;
    r1.end = 110;
    r2.start = 150;
    r2.end = 151;
    Sluice__Range *lost[] = {&r1, &r2};
    Sluice__Done done = SLUICE__DONE__INIT;
    done.job_id = 7;
    done.topic = "in";
    done.partition = 3;
    done.start = 100;
    done.end = 200;
    done.status = SLUICE__JOB_STATUS__JOB_STATUS_FAILED;
    done.error = "plugin returned -1";
    done.records = 89;
    done.rejected = 2;
    done.lost = 11;
    done.n_lost_ranges = 2;
    done.lost_ranges = lost;
    done.emitted = 87;
    done.duration_us = 123456;
    done.retried = 4;
    done.credits = 1;
    sl_msg_t *msg = s_roundtrip (SLUICE__ENVELOPE__BODY_DONE, &done);
    Sluice__Done *d = msg->done;
    cr_assert_eq (d->job_id, 7);
    cr_assert_str_eq (d->topic, "in");
    cr_assert_eq (d->partition, 3);
    cr_assert_eq (d->start, 100);
    cr_assert_eq (d->end, 200);
    cr_assert_eq (d->status, SLUICE__JOB_STATUS__JOB_STATUS_FAILED);
    cr_assert_str_eq (d->error, "plugin returned -1");
    cr_assert_eq (d->records, 89);
    cr_assert_eq (d->rejected, 2);
    cr_assert_eq (d->lost, 11);
    cr_assert_eq (d->n_lost_ranges, 2);
    cr_assert_eq (d->lost_ranges[0]->start, 100);
    cr_assert_eq (d->lost_ranges[0]->end, 110);
    cr_assert_eq (d->lost_ranges[1]->start, 150);
    cr_assert_eq (d->lost_ranges[1]->end, 151);
    cr_assert_eq (d->emitted, 87);
    cr_assert_eq (d->duration_us, 123456);
    cr_assert_eq (d->retried, 4);
    cr_assert_eq (d->credits, 1);
    sl_proto_free (&msg);
}

Test (proto, heartbeat_roundtrip)
{
    Sluice__Heartbeat heartbeat = SLUICE__HEARTBEAT__INIT;
    heartbeat.jobs_done = 99;
    sl_msg_t *msg = s_roundtrip (SLUICE__ENVELOPE__BODY_HEARTBEAT, &heartbeat);
    cr_assert_eq (msg->heartbeat->jobs_done, 99);
    sl_proto_free (&msg);
}

Test (proto, return_roundtrip)
{
    Sluice__Return ret = SLUICE__RETURN__INIT;
    ret.job_id = 12;
    ret.reason = "shutting down";
    sl_msg_t *msg = s_roundtrip (SLUICE__ENVELOPE__BODY_RET, &ret);
    cr_assert_eq (msg->ret->job_id, 12);
    cr_assert_str_eq (msg->ret->reason, "shutting down");
    sl_proto_free (&msg);
}

Test (proto, cancel_roundtrip)
{
    Sluice__Cancel cancel = SLUICE__CANCEL__INIT;
    cancel.job_id = 13;
    cancel.reason = "lease expired";
    sl_msg_t *msg = s_roundtrip (SLUICE__ENVELOPE__BODY_CANCEL, &cancel);
    cr_assert_eq (msg->cancel->job_id, 13);
    cr_assert_str_eq (msg->cancel->reason, "lease expired");
    sl_proto_free (&msg);
}

Test (proto, bye_roundtrip)
{
    Sluice__Bye bye = SLUICE__BYE__INIT;
    bye.reason = "drain complete";
    bye.rehello = false;
    bye.finished = true;
    sl_msg_t *msg = s_roundtrip (SLUICE__ENVELOPE__BODY_BYE, &bye);
    cr_assert_str_eq (msg->bye->reason, "drain complete");
    cr_assert_not (msg->bye->rehello);
    cr_assert (msg->bye->finished);
    sl_proto_free (&msg);
}

Test (proto, progress_roundtrip)
{
    Sluice__Progress progress = SLUICE__PROGRESS__INIT;
    progress.job_id = 14;
    progress.position = 1234567890123;
    sl_msg_t *msg = s_roundtrip (SLUICE__ENVELOPE__BODY_PROGRESS, &progress);
    cr_assert_eq (msg->progress->job_id, 14);
    cr_assert_eq (msg->progress->position, 1234567890123);
    sl_proto_free (&msg);
}

Test (proto, tail_roundtrip_and_refusals)
{
    Sluice__Tail tail = SLUICE__TAIL__INIT;
    tail.topic = "in";
    tail.partition = 3;
    tail.high_watermark = 1234567890123;
    sl_msg_t *msg = s_roundtrip (SLUICE__ENVELOPE__BODY_TAIL, &tail);
    cr_assert_str_eq (msg->tail->topic, "in");
    cr_assert_eq (msg->tail->partition, 3);
    cr_assert_eq (msg->tail->high_watermark, 1234567890123);
    sl_proto_free (&msg);
    tail.high_watermark = 0;
    s_expect_body_refused (SLUICE__ENVELOPE__BODY_TAIL, &tail,
                           "TAIL: high watermark 0");
    tail.high_watermark = 5;
    tail.topic = "";
    s_expect_body_refused (SLUICE__ENVELOPE__BODY_TAIL, &tail,
                           "TAIL: bad topic name");
    tail.topic = "in";
    tail.partition = -1;
    s_expect_body_refused (SLUICE__ENVELOPE__BODY_TAIL, &tail,
                           "TAIL: negative partition -1");
}

Test (proto, key_order_messages_roundtrip_and_refusals)
{
    uint64_t hashes[] = {3, 17, 0xffffffffffffffffull};
    Sluice__Keys keys = SLUICE__KEYS__INIT;
    keys.job_id = 9;
    keys.topic = "in";
    keys.partition = 2;
    keys.start = 100;
    keys.end = 200;
    keys.n_hashes = 3;
    keys.hashes = hashes;
    sl_msg_t *msg = s_roundtrip (SLUICE__ENVELOPE__BODY_KEYS, &keys);
    cr_assert_eq (msg->keys->job_id, 9);
    cr_assert_eq (msg->keys->n_hashes, 3);
    cr_assert_eq (msg->keys->hashes[2], 0xffffffffffffffffull);
    sl_proto_free (&msg);
    keys.n_hashes = 0; //  a range of unkeyed records
    msg = s_roundtrip (SLUICE__ENVELOPE__BODY_KEYS, &keys);
    cr_assert_eq (msg->keys->n_hashes, 0);
    sl_proto_free (&msg);
    uint64_t unsorted[] = {17, 3};
    keys.hashes = unsorted;
    keys.n_hashes = 2;
    s_expect_body_refused (SLUICE__ENVELOPE__BODY_KEYS, &keys,
                           "KEYS: key hashes not sorted and distinct at 1");
    uint64_t twice[] = {3, 3};
    keys.hashes = twice;
    s_expect_body_refused (SLUICE__ENVELOPE__BODY_KEYS, &keys,
                           "KEYS: key hashes not sorted and distinct at 1");
    keys.hashes = hashes;
    keys.end = 100;
    s_expect_body_refused (SLUICE__ENVELOPE__BODY_KEYS, &keys,
                           "KEYS: bad range [100, 100)");
    keys.end = 200;
    uint64_t *many = calloc (SL_PROTO_MAX_KEYS + 1, sizeof *many);
    cr_assert_not_null (many);
    for (size_t i = 0; i <= SL_PROTO_MAX_KEYS; i++)
        many[i] = i;
    keys.hashes = many;
    keys.n_hashes = SL_PROTO_MAX_KEYS + 1;
    s_expect_body_refused (SLUICE__ENVELOPE__BODY_KEYS, &keys,
                           "KEYS: 65537 key hashes is too many");

    Sluice__Gate gate = SLUICE__GATE__INIT;
    gate.job_id = 9;
    gate.n_blocked = 2;
    gate.blocked = hashes;
    msg = s_roundtrip (SLUICE__ENVELOPE__BODY_GATE, &gate);
    cr_assert_eq (msg->gate->n_blocked, 2);
    cr_assert_not (msg->gate->all);
    sl_proto_free (&msg);
    gate.all = true;
    gate.n_blocked = 0;
    msg = s_roundtrip (SLUICE__ENVELOPE__BODY_GATE, &gate);
    cr_assert (msg->gate->all);
    sl_proto_free (&msg);
    gate.blocked = unsorted;
    gate.n_blocked = 2;
    s_expect_body_refused (SLUICE__ENVELOPE__BODY_GATE, &gate,
                           "GATE: key hashes not sorted and distinct at 1");

    Sluice__Release release = SLUICE__RELEASE__INIT;
    release.job_id = 9;
    release.n_hashes = 2;
    release.hashes = unsorted; //  any order
    msg = s_roundtrip (SLUICE__ENVELOPE__BODY_RELEASE, &release);
    cr_assert_eq (msg->release->hashes[0], 17);
    sl_proto_free (&msg);
    release.hashes = many;
    release.n_hashes = SL_PROTO_MAX_KEYS + 1;
    s_expect_body_refused (SLUICE__ENVELOPE__BODY_RELEASE, &release,
                           "RELEASE: 65537 key hashes is too many");
    free (many);
}

Test (proto, status_request_roundtrip)
{
    //  An empty body still marks the oneof: the envelope has a body.
    Sluice__StatusRequest request = SLUICE__STATUS_REQUEST__INIT;
    sl_msg_t *msg =
        s_roundtrip (SLUICE__ENVELOPE__BODY_STATUS_REQUEST, &request);
    cr_assert_not_null (msg->status_request);
    sl_proto_free (&msg);
}

Test (proto, status_roundtrip)
{
    Sluice__PartitionStatus p0 = SLUICE__PARTITION_STATUS__INIT;
    p0.topic = "in";
    p0.partition = 0;
    p0.committed = 500;
    p0.high_watermark = 700;
    p0.lag = 200;
    p0.in_flight = 3;
    p0.outstanding = 4;
    Sluice__PartitionStatus *parts[] = {&p0};
    Sluice__WorkerStatus w0 = SLUICE__WORKER_STATUS__INIT;
    Sluice__WorkerStatus w1 = SLUICE__WORKER_STATUS__INIT;
    w0.worker_id = "a/1";
    w0.credits = 2;
    w0.jobs_done = 10;
    w0.last_heartbeat_ms_ago = 250;
    w0.in_flight = 1;
    w0.plugin = "upper";
    w1.worker_id = "b/2";
    Sluice__WorkerStatus *workers[] = {&w0, &w1};
    Sluice__Status status = SLUICE__STATUS__INIT;
    status.group = "g";
    status.n_partitions = 1;
    status.partitions = parts;
    status.n_workers = 2;
    status.workers = workers;
    status.records_done = 1000;
    status.jobs_done = 11;
    status.jobs_queued = 5;
    sl_msg_t *msg = s_roundtrip (SLUICE__ENVELOPE__BODY_STATUS, &status);
    Sluice__Status *s = msg->status;
    cr_assert_str_eq (s->group, "g");
    cr_assert_eq (s->n_partitions, 1);
    cr_assert_str_eq (s->partitions[0]->topic, "in");
    cr_assert_eq (s->partitions[0]->committed, 500);
    cr_assert_eq (s->partitions[0]->high_watermark, 700);
    cr_assert_eq (s->partitions[0]->lag, 200);
    cr_assert_eq (s->partitions[0]->in_flight, 3);
    cr_assert_eq (s->partitions[0]->outstanding, 4);
    cr_assert_eq (s->n_workers, 2);
    cr_assert_str_eq (s->workers[0]->worker_id, "a/1");
    cr_assert_eq (s->workers[0]->credits, 2);
    cr_assert_eq (s->workers[0]->jobs_done, 10);
    cr_assert_eq (s->workers[0]->last_heartbeat_ms_ago, 250);
    cr_assert_eq (s->workers[0]->in_flight, 1);
    cr_assert_str_eq (s->workers[0]->plugin, "upper");
    cr_assert_str_eq (s->workers[1]->worker_id, "b/2");
    cr_assert_eq (s->records_done, 1000);
    cr_assert_eq (s->jobs_done, 11);
    cr_assert_eq (s->jobs_queued, 5);
    sl_proto_free (&msg);
}

Test (proto, names_of_every_kind)
{
    static const struct {
        Sluice__Envelope__BodyCase kind;
        const char *name;
    } names[] = {
        {SLUICE__ENVELOPE__BODY_HELLO, "HELLO"},
        {SLUICE__ENVELOPE__BODY_CREDIT, "CREDIT"},
        {SLUICE__ENVELOPE__BODY_JOB, "JOB"},
        {SLUICE__ENVELOPE__BODY_DONE, "DONE"},
        {SLUICE__ENVELOPE__BODY_HEARTBEAT, "HEARTBEAT"},
        {SLUICE__ENVELOPE__BODY_RET, "RETURN"},
        {SLUICE__ENVELOPE__BODY_CANCEL, "CANCEL"},
        {SLUICE__ENVELOPE__BODY_BYE, "BYE"},
        {SLUICE__ENVELOPE__BODY_PROGRESS, "PROGRESS"},
        {SLUICE__ENVELOPE__BODY_STATUS_REQUEST, "STATUS_REQUEST"},
        {SLUICE__ENVELOPE__BODY_STATUS, "STATUS"},
        {SLUICE__ENVELOPE__BODY_CRASH, "CRASH"},
        {SLUICE__ENVELOPE__BODY_TAIL, "TAIL"},
        {SLUICE__ENVELOPE__BODY_BATCH, "BATCH"},
        {SLUICE__ENVELOPE__BODY_KEYS, "KEYS"},
        {SLUICE__ENVELOPE__BODY_GATE, "GATE"},
        {SLUICE__ENVELOPE__BODY_RELEASE, "RELEASE"},
        {SLUICE__ENVELOPE__BODY__NOT_SET, "NONE"},
        {(Sluice__Envelope__BodyCase)99, "NONE"},
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        cr_assert_str_eq (sl_proto_name (names[i].kind), names[i].name);
}

// --- refusals ----------------------------------------------------------------

Test (proto, empty_frame_is_refused_for_its_version)
{
    //  Zero bytes are a valid protobuf: an envelope with every field
    //  unset, so version 0.
    s_expect_refused ("", 0, "protocol version 0");
    s_expect_refused (NULL, 0, "protocol version 0");
}

Test (proto, garbage_is_refused)
{
    //  Field 1 as a varint that never ends; field 15 with wire type 7.
    s_expect_refused ("\x08\xff\xff", 3, "frame of 3 bytes is not a sluice");
    s_expect_refused ("\x7f", 1, "not a sluice message");
    //  A body that claims more bytes than the frame holds.
    s_expect_refused ("\x08\x01\x12\x10\x08", 5, "not a sluice message");
}

Test (proto, wrong_version_is_refused)
{
    Sluice__Heartbeat heartbeat = SLUICE__HEARTBEAT__INIT;
    uint32_t versions[] = {0, 2, UINT32_MAX};
    for (size_t i = 0; i < sizeof versions / sizeof versions[0]; i++) {
        size_t size;
        uint8_t *data = s_pack (versions[i], SLUICE__ENVELOPE__BODY_HEARTBEAT,
                                &heartbeat, &size);
        char want[64];
        snprintf (want, sizeof want, "protocol version %" PRIu32 ",",
                  versions[i]);
        s_expect_refused (data, size, want);
        free (data);
    }
}

Test (proto, missing_body_is_refused)
{
    size_t size;
    uint8_t *data =
        s_pack (SL_PROTO_VERSION, SLUICE__ENVELOPE__BODY__NOT_SET, NULL, &size);
    s_expect_refused (data, size, "message has no body");
    free (data);
}

Test (proto, job_needs_a_topic_partition_and_range)
{
    Sluice__Job job = SLUICE__JOB__INIT;
    job.topic = "in";
    job.partition = 0;
    job.start = 5;
    job.end = 6;
    sl_msg_t *msg = s_roundtrip (SLUICE__ENVELOPE__BODY_JOB, &job);
    sl_proto_free (&msg);

    job.topic = "";
    s_expect_body_refused (SLUICE__ENVELOPE__BODY_JOB, &job,
                           "JOB: bad topic name");
    char *long_topic = s_repeat ('x', 250);
    job.topic = long_topic;
    s_expect_body_refused (SLUICE__ENVELOPE__BODY_JOB, &job,
                           "JOB: bad topic name");
    free (long_topic);
    job.topic = "in";

    job.partition = -1;
    s_expect_body_refused (SLUICE__ENVELOPE__BODY_JOB, &job,
                           "JOB: negative partition -1");
    job.partition = 0;

    job.start = job.end = 5;
    s_expect_body_refused (SLUICE__ENVELOPE__BODY_JOB, &job,
                           "JOB: bad range [5, 5)");
    job.start = 6;
    s_expect_body_refused (SLUICE__ENVELOPE__BODY_JOB, &job,
                           "JOB: bad range [6, 5)");
    job.start = -1;
    s_expect_body_refused (SLUICE__ENVELOPE__BODY_JOB, &job,
                           "JOB: bad range [-1, 5)");
}

Test (proto, done_needs_a_good_range_and_sane_credits)
{
    Sluice__Done done = SLUICE__DONE__INIT;
    done.topic = "in";
    done.partition = 2;
    done.start = 10;
    done.end = 10;
    s_expect_body_refused (SLUICE__ENVELOPE__BODY_DONE, &done,
                           "DONE: bad range [10, 10)");
    done.end = 9;
    s_expect_body_refused (SLUICE__ENVELOPE__BODY_DONE, &done,
                           "DONE: bad range [10, 9)");
    done.end = 20;
    done.topic = "";
    s_expect_body_refused (SLUICE__ENVELOPE__BODY_DONE, &done,
                           "DONE: bad topic name");
    done.topic = "in";
    done.partition = INT32_MIN;
    s_expect_body_refused (SLUICE__ENVELOPE__BODY_DONE, &done,
                           "DONE: negative partition");
    done.partition = 2;
    done.credits = SL_PROTO_MAX_CREDITS + 1;
    s_expect_body_refused (SLUICE__ENVELOPE__BODY_DONE, &done,
                           "DONE: 1025 credits is too many");
    done.credits = SL_PROTO_MAX_CREDITS;
    sl_msg_t *msg = s_roundtrip (SLUICE__ENVELOPE__BODY_DONE, &done);
    sl_proto_free (&msg);
}

Test (proto, hello_and_credit_with_too_many_credits)
{
    Sluice__Hello hello = SLUICE__HELLO__INIT;
    hello.credits = SL_PROTO_MAX_CREDITS + 1;
    s_expect_body_refused (SLUICE__ENVELOPE__BODY_HELLO, &hello,
                           "HELLO: 1025 credits is too many");
    hello.credits = UINT32_MAX;
    s_expect_body_refused (SLUICE__ENVELOPE__BODY_HELLO, &hello,
                           "HELLO: 4294967295 credits is too many");
    Sluice__Credit credit = SLUICE__CREDIT__INIT;
    credit.credits = SL_PROTO_MAX_CREDITS + 1;
    s_expect_body_refused (SLUICE__ENVELOPE__BODY_CREDIT, &credit,
                           "CREDIT: 1025 credits is too many");
}

Test (proto, hello_with_a_long_worker_id)
{
    char *id = s_repeat ('w', 257);
    Sluice__Hello hello = SLUICE__HELLO__INIT;
    hello.worker_id = id;
    s_expect_body_refused (SLUICE__ENVELOPE__BODY_HELLO, &hello,
                           "HELLO: worker id too long");
    id[256] = 0;
    sl_msg_t *msg = s_roundtrip (SLUICE__ENVELOPE__BODY_HELLO, &hello);
    sl_proto_free (&msg);
    free (id);
}

//  Pack a valid JOB whose frame is exactly `target` bytes long, by sizing
//  its reason string.
static uint8_t *
s_job_of_size (size_t target, char **reason_p)
{
    Sluice__Job job = SLUICE__JOB__INIT;
    job.topic = "in";
    job.start = 0;
    job.end = 1;
    size_t len = target - 32, size = 0;
    uint8_t *data = NULL;
    for (int tries = 0; tries < 8; tries++) {
        free (*reason_p);
        *reason_p = s_repeat ('r', len);
        job.reason = *reason_p;
        free (data);
        data =
            s_pack (SL_PROTO_VERSION, SLUICE__ENVELOPE__BODY_JOB, &job, &size);
        if (size == target)
            return data;
        len += target - size;
    }
    cr_assert_fail ("could not build a frame of %zu bytes", target);
    return NULL;
}

Test (proto, oversize_frame_is_refused_before_parsing)
{
    char *reason = NULL;
    uint8_t *data = s_job_of_size (SL_PROTO_MAX_FRAME, &reason);
    char err[256] = "";
    sl_msg_t *msg = sl_proto_decode (data, SL_PROTO_MAX_FRAME, err, sizeof err);
    cr_assert_not_null (msg, "a frame of exactly the limit is fine: %s", err);
    cr_assert_eq (strlen (msg->job->reason), strlen (reason));
    sl_proto_free (&msg);
    free (data);

    data = s_job_of_size (SL_PROTO_MAX_FRAME + 1, &reason);
    s_expect_refused (data, SL_PROTO_MAX_FRAME + 1,
                      "frame of 1048577 bytes is larger than 1048576");
    free (data);
    free (reason);
}

Test (proto, a_short_err_buffer_is_respected)
{
    char err[8];
    memset (err, 'z', sizeof err);
    cr_assert_null (sl_proto_decode ("", 0, err, 5));
    cr_assert_str_eq (err, "prot");
    cr_assert_eq (err[5], 'z');
}

// --- fuzz --------------------------------------------------------------------

#define FUZZ_RUNS 20000
#define FUZZ_MAX  4096

//  Start the PRNG and say which seed replays this run.
static void
s_srand_logged (uint64_t seed)
{
    s_srand (seed);
    fprintf (stderr,
             "test_proto: seed %" PRIu64 " (SLUICE_TEST_SEED=%" PRIu64
             " reruns it)\n",
             seed, seed);
}

static size_t
s_below (size_t n)
{
    return n ? (size_t)(s_rand () % n) : 0;
}

//  Fail with the seed and iteration that reproduce the failure.
#define CHECK_AT(cond, i, ...)                                                 \
    do {                                                                       \
        if (!(cond)) {                                                         \
            char why_[512];                                                    \
            snprintf (why_, sizeof why_, __VA_ARGS__);                         \
            cr_assert_fail ("%s (iteration %d, seed %" PRIu64 ")", why_, i,    \
                            s_seed);                                           \
        }                                                                      \
    } while (0)

//  Check what the decoder promises about an accepted message.
static void
s_check_accepted (const sl_msg_t *msg, int i)
{
    CHECK_AT (msg->version == SL_PROTO_VERSION, i, "version %u", msg->version);
    switch (msg->body_case) {
        case SLUICE__ENVELOPE__BODY_HELLO:
            CHECK_AT (msg->hello->credits <= SL_PROTO_MAX_CREDITS, i,
                      "credits");
            CHECK_AT (strlen (msg->hello->worker_id) <= 256, i, "worker id");
            break;
        case SLUICE__ENVELOPE__BODY_CREDIT:
            CHECK_AT (msg->credit->credits <= SL_PROTO_MAX_CREDITS, i,
                      "credit");
            break;
        case SLUICE__ENVELOPE__BODY_JOB:
            CHECK_AT (*msg->job->topic && strlen (msg->job->topic) <= 249, i,
                      "job topic");
            CHECK_AT (msg->job->partition >= 0, i, "job partition");
            CHECK_AT (0 <= msg->job->start && msg->job->start < msg->job->end,
                      i, "job range");
            break;
        case SLUICE__ENVELOPE__BODY_DONE:
            CHECK_AT (*msg->done->topic && strlen (msg->done->topic) <= 249, i,
                      "done topic");
            CHECK_AT (msg->done->partition >= 0, i, "done partition");
            CHECK_AT (0 <= msg->done->start &&
                          msg->done->start < msg->done->end,
                      i, "done range");
            CHECK_AT (msg->done->credits <= SL_PROTO_MAX_CREDITS, i, "credits");
            break;
        case SLUICE__ENVELOPE__BODY_TAIL:
            CHECK_AT (*msg->tail->topic && strlen (msg->tail->topic) <= 249 &&
                          msg->tail->partition >= 0 &&
                          msg->tail->high_watermark > 0,
                      i, "tail");
            break;
        case SLUICE__ENVELOPE__BODY_HEARTBEAT:
        case SLUICE__ENVELOPE__BODY_RET:
        case SLUICE__ENVELOPE__BODY_CANCEL:
        case SLUICE__ENVELOPE__BODY_BYE:
        case SLUICE__ENVELOPE__BODY_PROGRESS:
        case SLUICE__ENVELOPE__BODY_STATUS_REQUEST:
        case SLUICE__ENVELOPE__BODY_STATUS:
            CHECK_AT (msg->heartbeat, i, "%s without a body",
                      sl_proto_name (msg->body_case));
            break;
        default:
            CHECK_AT (false, i, "accepted body case %d", (int)msg->body_case);
    }
}

//  Decode one fuzz input: it is accepted and sane, or refused with one
//  line in err. An accepted message is packed again, which walks every
//  pointer the decoder made (ASan checks them). It is not decoded again:
//  protobuf-c keeps unknown fields, and re-packs a tag it read in an
//  over-long varint as one it refuses. Returns true if it was accepted.
static bool
s_fuzz_one (const uint8_t *data, size_t size, int i)
{
    char err[256];
    strcpy (err, "");
    sl_msg_t *msg = sl_proto_decode (data, size, err, sizeof err);
    if (!msg) {
        CHECK_AT (err[0] && !strchr (err, '\n'), i, "bad reason '%s'", err);
        return false;
    }
    s_check_accepted (msg, i);
    size_t again_size = sluice__envelope__get_packed_size (msg);
    uint8_t *again = malloc (again_size + 1);
    cr_assert_not_null (again);
    CHECK_AT (sluice__envelope__pack (msg, again) == again_size, i,
              "packed size changed");
    free (again);
    sl_proto_free (&msg);
    CHECK_AT (msg == NULL, i, "sl_proto_free left the pointer");
    return true;
}

//  One valid message of every kind, as {kind, body}.
typedef struct {
    Sluice__Envelope__BodyCase kind;
    void *body;
} sample_t;

#define NSAMPLES 11

//  The samples: static bodies, filled in on each call.
static const sample_t *
s_samples (void)
{
    static Sluice__Hello hello = SLUICE__HELLO__INIT;
    static Sluice__Credit credit = SLUICE__CREDIT__INIT;
    static Sluice__Job job = SLUICE__JOB__INIT;
    static Sluice__Range range = SLUICE__RANGE__INIT;
    static Sluice__Range range2 = SLUICE__RANGE__INIT;
    static Sluice__Range *ranges[] = {&range, &range2};
    static Sluice__Done done = SLUICE__DONE__INIT;
    static Sluice__Heartbeat heartbeat = SLUICE__HEARTBEAT__INIT;
    static Sluice__Return ret = SLUICE__RETURN__INIT;
    static Sluice__Cancel cancel = SLUICE__CANCEL__INIT;
    static Sluice__Bye bye = SLUICE__BYE__INIT;
    static Sluice__Progress progress = SLUICE__PROGRESS__INIT;
    static Sluice__StatusRequest request = SLUICE__STATUS_REQUEST__INIT;
    static Sluice__PartitionStatus part = SLUICE__PARTITION_STATUS__INIT;
    static Sluice__PartitionStatus *parts[] = {&part};
    static Sluice__WorkerStatus worker = SLUICE__WORKER_STATUS__INIT;
    static Sluice__WorkerStatus *workers[] = {&worker, &worker};
    static Sluice__Status status = SLUICE__STATUS__INIT;
    hello.worker_id = "host/1";
    hello.credits = 8;
    hello.plugin = "upper";
    hello.pid = 1;
    hello.hostname = "host";
    credit.credits = 1;
    job.job_id = 3;
    job.topic = "in";
    job.partition = 1;
    job.start = 100;
    job.end = 200;
    job.dlq_topic = "in.dlq";
    job.lease_ms = 1000;
    range.start = 120;
    range.end = 130;
    range2.start = 150;
    range2.end = 160;
    done.job_id = 3;
    done.topic = "in";
    done.partition = 1;
    done.start = 100;
    done.end = 200;
    done.error = "boom";
    done.records = 90;
    done.lost = 10;
    done.n_lost_ranges = 2;
    done.lost_ranges = ranges;
    done.credits = 1;
    heartbeat.jobs_done = 5;
    ret.job_id = 3;
    ret.reason = "bye";
    cancel.job_id = 3;
    cancel.reason = "late";
    bye.reason = "done";
    bye.rehello = true;
    progress.job_id = 3;
    progress.position = 150;
    part.topic = "in";
    part.committed = 10;
    worker.worker_id = "host/1";
    worker.plugin = "upper";
    status.group = "g";
    status.n_partitions = 1;
    status.partitions = parts;
    status.n_workers = 2;
    status.workers = workers;
    static const sample_t all[] = {
        {SLUICE__ENVELOPE__BODY_HELLO, &hello},
        {SLUICE__ENVELOPE__BODY_CREDIT, &credit},
        {SLUICE__ENVELOPE__BODY_JOB, &job},
        {SLUICE__ENVELOPE__BODY_DONE, &done},
        {SLUICE__ENVELOPE__BODY_HEARTBEAT, &heartbeat},
        {SLUICE__ENVELOPE__BODY_RET, &ret},
        {SLUICE__ENVELOPE__BODY_CANCEL, &cancel},
        {SLUICE__ENVELOPE__BODY_BYE, &bye},
        {SLUICE__ENVELOPE__BODY_PROGRESS, &progress},
        {SLUICE__ENVELOPE__BODY_STATUS_REQUEST, &request},
        {SLUICE__ENVELOPE__BODY_STATUS, &status},
    };
    cr_assert_eq (sizeof all / sizeof all[0], NSAMPLES);
    return all;
}

//  Every sample packed, as seeds for mutation.
typedef struct {
    uint8_t *data;
    size_t size;
} frame_t;

static void
s_valid_frames (frame_t *frames)
{
    const sample_t *all = s_samples ();
    for (size_t i = 0; i < NSAMPLES; i++)
        frames[i].data = s_pack (SL_PROTO_VERSION, all[i].kind, all[i].body,
                                 &frames[i].size);
}

Test (proto, fuzz_random_bytes_never_crash)
{
    s_srand_logged (s_base_seed ());
    static uint8_t buf[FUZZ_MAX];
    int accepted = 0;
    for (int i = 0; i < FUZZ_RUNS; i++) {
        size_t size = s_below (4) ? s_below (64) : s_below (FUZZ_MAX);
        for (size_t k = 0; k < size; k++)
            buf[k] = (uint8_t)s_rand ();
        //  Half start with "version 1", so the body parser gets a go.
        if (size >= 2 && s_below (2)) {
            buf[0] = 0x08;
            buf[1] = 0x01;
        }
        accepted += s_fuzz_one (buf, size, i);
    }
    fprintf (stderr, "test_proto: %d of %d random frames accepted\n", accepted,
             FUZZ_RUNS);
}

//  Change a valid frame in one of a few ways a broken peer might.
static size_t
s_mutate (uint8_t *buf, size_t size)
{
    static const uint8_t edge[] = {0x00, 0x01, 0x7f, 0x80, 0xff};
    size_t at = s_below (size ? size : 1);
    switch (s_below (7)) {
        case 0: //  flip a bit
            if (size)
                buf[at] ^= (uint8_t)(1u << s_below (8));
            return size;
        case 1: //  set a byte to an edge value
            if (size)
                buf[at] = edge[s_below (sizeof edge)];
            return size;
        case 2: //  set a byte to anything
            if (size)
                buf[at] = (uint8_t)s_rand ();
            return size;
        case 3: //  insert a byte
            if (size + 1 > FUZZ_MAX)
                return size;
            memmove (buf + at + 1, buf + at, size - at);
            buf[at] = (uint8_t)s_rand ();
            return size + 1;
        case 4: //  delete a byte
            if (!size)
                return size;
            memmove (buf + at, buf + at + 1, size - at - 1);
            return size - 1;
        case 5: //  truncate
            return at;
        default: { //  repeat a slice at the end
            size_t len = s_below (size - at + 1);
            if (size + len > FUZZ_MAX)
                return size;
            memmove (buf + size, buf + at, len);
            return size + len;
        }
    }
}

Test (proto, fuzz_mutated_frames_never_crash)
{
    frame_t frames[NSAMPLES];
    size_t nframes = NSAMPLES;
    s_valid_frames (frames);
    s_srand_logged (s_base_seed ());
    static uint8_t buf[FUZZ_MAX];
    int accepted = 0;
    for (int i = 0; i < FUZZ_RUNS; i++) {
        const frame_t *f = &frames[s_below (nframes)];
        memcpy (buf, f->data, f->size);
        size_t size = f->size;
        for (size_t m = 1 + s_below (4); m > 0; m--)
            size = s_mutate (buf, size);
        accepted += s_fuzz_one (buf, size, i);
    }
    fprintf (stderr, "test_proto: %d of %d mutated frames accepted\n", accepted,
             FUZZ_RUNS);
    //  Both outcomes must occur, or the mutations test nothing.
    cr_assert_gt (accepted, FUZZ_RUNS / 100);
    cr_assert_lt (accepted, FUZZ_RUNS - FUZZ_RUNS / 100);
    for (size_t k = 0; k < nframes; k++)
        free (frames[k].data);
}

// --- over real sockets -------------------------------------------------------

typedef struct {
    zsock_t *router;
    zsock_t *dealer;
    int port;
} pair_t;

//  A ROUTER on tcp://127.0.0.1:* and a DEALER connected to it; every
//  receive times out after five seconds instead of hanging the test.
static void
s_pair_new (pair_t *pair)
{
    pair->router = zsock_new (ZMQ_ROUTER);
    cr_assert_not_null (pair->router);
    zsock_set_rcvtimeo (pair->router, 5000);
    pair->port = zsock_bind (pair->router, "tcp://127.0.0.1:*");
    cr_assert_gt (pair->port, 0, "bind failed");
    pair->dealer = zsock_new (ZMQ_DEALER);
    cr_assert_not_null (pair->dealer);
    zsock_set_rcvtimeo (pair->dealer, 5000);
    cr_assert_eq (
        zsock_connect (pair->dealer, "tcp://127.0.0.1:%d", pair->port), 0);
}

static void
s_pair_destroy (pair_t *pair)
{
    zsock_destroy (&pair->dealer);
    zsock_destroy (&pair->router);
}

Test (proto, send_and_recv_over_router_dealer)
{
    pair_t pair;
    s_pair_new (&pair);
    char err[256];

    Sluice__Hello hello = SLUICE__HELLO__INIT;
    hello.worker_id = "host/7";
    hello.credits = 2;
    cr_assert_eq (
        sl_proto_send (pair.dealer, NULL, SLUICE__ENVELOPE__BODY_HELLO, &hello),
        0);
    zframe_t *id = NULL;
    sl_msg_t *msg = sl_proto_recv (pair.router, &id, err, sizeof err);
    cr_assert_not_null (msg, "HELLO refused: %s", err);
    cr_assert_not_null (id, "a ROUTER gives the peer's routing id");
    cr_assert_eq (msg->body_case, SLUICE__ENVELOPE__BODY_HELLO);
    cr_assert_str_eq (msg->hello->worker_id, "host/7");
    cr_assert_eq (msg->hello->credits, 2);
    sl_proto_free (&msg);

    //  Two JOBs to the same peer: send copies the routing id, so the
    //  caller's frame stays usable.
    Sluice__Job job = SLUICE__JOB__INIT;
    job.topic = "in";
    job.start = 0;
    job.end = 10;
    for (int k = 1; k <= 2; k++) {
        job.job_id = (uint64_t)k;
        cr_assert_eq (
            sl_proto_send (pair.router, id, SLUICE__ENVELOPE__BODY_JOB, &job),
            0);
    }
    for (int k = 1; k <= 2; k++) {
        msg = sl_proto_recv (pair.dealer, NULL, err, sizeof err);
        cr_assert_not_null (msg, "JOB refused: %s", err);
        cr_assert_eq (msg->body_case, SLUICE__ENVELOPE__BODY_JOB);
        cr_assert_eq (msg->job->job_id, (uint64_t)k);
        cr_assert_str_eq (msg->job->topic, "in");
        sl_proto_free (&msg);
    }
    //  A message larger than the encoder's stack buffer.
    char reason[5000];
    memset (reason, 'r', sizeof reason - 1);
    reason[sizeof reason - 1] = 0;
    job.reason = reason;
    cr_assert_eq (
        sl_proto_send (pair.router, id, SLUICE__ENVELOPE__BODY_JOB, &job), 0);
    msg = sl_proto_recv (pair.dealer, NULL, err, sizeof err);
    cr_assert_not_null (msg, "large JOB refused: %s", err);
    cr_assert_str_eq (msg->job->reason, reason);
    sl_proto_free (&msg);
    zframe_destroy (&id);
    s_pair_destroy (&pair);
}

Test (proto, raw_peer_garbage_is_refused_with_its_routing_id)
{
    pair_t pair;
    s_pair_new (&pair);
    zsock_t *raw = zsock_new (ZMQ_DEALER);
    cr_assert_not_null (raw);
    zsock_set_identity (raw, "raw-peer");
    zsock_set_rcvtimeo (raw, 5000);
    cr_assert_eq (zsock_connect (raw, "tcp://127.0.0.1:%d", pair.port), 0);
    char err[256];
    zframe_t *id = NULL;

    //  Two frames where one is expected.
    zstr_sendm (raw, "garbage");
    zstr_send (raw, "more garbage");
    strcpy (err, "");
    sl_msg_t *msg = sl_proto_recv (pair.router, &id, err, sizeof err);
    cr_assert_null (msg);
    s_assert_reason (err, "expected one frame, got 2");
    cr_assert_not_null (id, "the routing id comes back with a refusal");
    cr_assert (zframe_streq (id, "raw-peer"));

    //  The peer can be answered (and then forgotten).
    Sluice__Bye bye = SLUICE__BYE__INIT;
    bye.reason = "protocol error";
    bye.rehello = true;
    cr_assert_eq (
        sl_proto_send (pair.router, id, SLUICE__ENVELOPE__BODY_BYE, &bye), 0);
    zframe_destroy (&id);
    msg = sl_proto_recv (raw, NULL, err, sizeof err);
    cr_assert_not_null (msg, "BYE refused: %s", err);
    cr_assert_eq (msg->body_case, SLUICE__ENVELOPE__BODY_BYE);
    cr_assert_str_eq (msg->bye->reason, "protocol error");
    cr_assert (msg->bye->rehello);
    sl_proto_free (&msg);

    //  One frame that is not a message, then an empty frame.
    zstr_send (raw, "\xff\xff\xff");
    msg = sl_proto_recv (pair.router, &id, err, sizeof err);
    cr_assert_null (msg);
    s_assert_reason (err, "not a sluice message");
    cr_assert (zframe_streq (id, "raw-peer"));
    zframe_destroy (&id);

    zframe_t *empty = zframe_new (NULL, 0);
    cr_assert_eq (zframe_send (&empty, raw, 0), 0);
    msg = sl_proto_recv (pair.router, &id, err, sizeof err);
    cr_assert_null (msg);
    s_assert_reason (err, "protocol version 0");
    cr_assert (zframe_streq (id, "raw-peer"));
    zframe_destroy (&id);

    //  The well-behaved DEALER is unaffected.
    Sluice__Credit credit = SLUICE__CREDIT__INIT;
    credit.credits = 1;
    cr_assert_eq (sl_proto_send (pair.dealer, NULL,
                                 SLUICE__ENVELOPE__BODY_CREDIT, &credit),
                  0);
    msg = sl_proto_recv (pair.router, &id, err, sizeof err);
    cr_assert_not_null (msg, "CREDIT refused: %s", err);
    cr_assert_not (zframe_streq (id, "raw-peer"));
    sl_proto_free (&msg);
    zframe_destroy (&id);

    zsock_destroy (&raw);
    s_pair_destroy (&pair);
}

Test (proto, dealer_refuses_a_multi_frame_message)
{
    pair_t pair;
    s_pair_new (&pair);
    char err[256];
    Sluice__Heartbeat heartbeat = SLUICE__HEARTBEAT__INIT;
    cr_assert_eq (sl_proto_send (pair.dealer, NULL,
                                 SLUICE__ENVELOPE__BODY_HEARTBEAT, &heartbeat),
                  0);
    zframe_t *id = NULL;
    sl_msg_t *msg = sl_proto_recv (pair.router, &id, err, sizeof err);
    cr_assert_not_null (msg, "%s", err);
    sl_proto_free (&msg);

    //  The scheduler side sends two frames after the routing id.
    zframe_send (&id, pair.router, ZFRAME_MORE);
    zstr_sendm (pair.router, "a");
    zstr_send (pair.router, "b");
    msg = sl_proto_recv (pair.dealer, NULL, err, sizeof err);
    cr_assert_null (msg);
    s_assert_reason (err, "expected one frame, got 2");
    s_pair_destroy (&pair);
}

Test (proto, recv_timeout_returns_null_with_empty_err)
{
    pair_t pair;
    s_pair_new (&pair);
    zsock_set_rcvtimeo (pair.router, 50);
    char err[256] = "stale";
    zframe_t *id = NULL;
    cr_assert_null (sl_proto_recv (pair.router, &id, err, sizeof err));
    cr_assert_str_eq (err, "", "nothing read is not a refusal");
    cr_assert_null (id);
    s_pair_destroy (&pair);
}

Test (proto, every_kind_goes_over_the_wire_unchanged)
{
    pair_t pair;
    s_pair_new (&pair);
    const sample_t *all = s_samples ();
    frame_t frames[NSAMPLES];
    s_valid_frames (frames);
    char err[256];
    for (size_t i = 0; i < NSAMPLES; i++) {
        const char *name = sl_proto_name (all[i].kind);
        cr_assert_eq (
            sl_proto_send (pair.dealer, NULL, all[i].kind, all[i].body), 0,
            "%s", name);
        zframe_t *id = NULL;
        sl_msg_t *msg = sl_proto_recv (pair.router, &id, err, sizeof err);
        cr_assert_not_null (msg, "%s refused: %s", name, err);
        cr_assert_eq (msg->body_case, all[i].kind, "%s arrived as %s", name,
                      sl_proto_name (msg->body_case));
        //  What arrived packs to the same bytes as what was sent.
        size_t size = sluice__envelope__get_packed_size (msg);
        cr_assert_eq (size, frames[i].size, "%s", name);
        uint8_t *data = malloc (size + 1);
        cr_assert_not_null (data);
        sluice__envelope__pack (msg, data);
        cr_assert_eq (memcmp (data, frames[i].data, size), 0, "%s", name);
        free (data);
        free (frames[i].data);
        sl_proto_free (&msg);
        zframe_destroy (&id);
    }
    s_pair_destroy (&pair);
}

// --- DONE's lost ranges (found by fuzz_proto) --------------------------------
//  A lost range must lie inside the job's range, be non-empty, and come
//  after the previous one; anything else is refused.
static void
s_done_with_lost (int64_t s1, int64_t e1, int64_t s2, int64_t e2,
                  const char *want)
{
    Sluice__Range r1 = SLUICE__RANGE__INIT, r2 = SLUICE__RANGE__INIT;
    r1.start = s1;
    r1.end = e1;
    r2.start = s2;
    r2.end = e2;
    Sluice__Range *lost[] = {&r1, &r2};
    Sluice__Done done = SLUICE__DONE__INIT;
    done.topic = "in";
    done.start = 1000;
    done.end = 2000;
    done.n_lost_ranges = 2;
    done.lost_ranges = lost;
    if (want) {
        s_expect_body_refused (SLUICE__ENVELOPE__BODY_DONE, &done, want);
        return;
    }
    sl_msg_t *msg = s_roundtrip (SLUICE__ENVELOPE__BODY_DONE, &done);
    cr_assert_eq (msg->done->n_lost_ranges, 2);
    sl_proto_free (&msg);
}

Test (proto, done_lost_ranges_validated)
{
    s_done_with_lost (1000, 1100, 1100, 2000, NULL); //  adjacent, whole
    s_done_with_lost (1256, 1100, 1500, 1600, "lost range 0"); //  inverted
    s_done_with_lost (1100, 1100, 1500, 1600, "lost range 0"); //  empty
    s_done_with_lost (900, 1100, 1500, 1600, "lost range 0");  //  before
    s_done_with_lost (1000, 1100, 1900, 2001, "lost range 1"); //  past end
    s_done_with_lost (1500, 1600, 1000, 1100, "lost range 1"); //  order
    s_done_with_lost (1000, 1600, 1500, 1700, "lost range 1"); //  overlap
}

//  Found by fuzz_proto: a STATUS whose second worker entry carries an
//  unknown field numbered 0, its tag spelt as the two-byte varint 81 00.
//  protobuf-c kept it, then wrote it back as the single byte 01, which it
//  refuses: the frame is malformed and is refused whole. The same field
//  at the top level and spelt in one byte is refused as well.
Test (proto, field_number_zero_is_refused_at_any_depth)
{
    static const uint8_t nested[] = {
        0x08, 0x01, 0x62, 0x2f, 0x0a, 0x01, 0x67, 0x1a, 0x13, 0x0a, 0x06,
        0x6f, 0x72, 0x64, 0x65, 0x72, 0x73, 0x10, 0x03, 0x18, 0xe8, 0x07,
        0x20, 0x88, 0x27, 0x28, 0xa0, 0x1f, 0x1a, 0x15, 0x0a, 0x07, 0x68,
        0x6f, 0x73, 0x74, 0x2f, 0x34, 0x32, 0x10, 0x02, 0x81, 0x00, 0x00,
        0x00, 0x00, 0x10, 0x00, 0x00, 0x2e, 0x30};
    s_expect_refused (nested, sizeof nested, "field numbered 0");
    //  The same frame with the worker's unknown field numbered 100 instead
    //  is accepted (unknown fields are how newer peers add to messages).
    uint8_t ok[sizeof nested];
    memcpy (ok, nested, sizeof ok);
    ok[41] = 0xa1; //  81 00 -> a1 06: field 100, 64-bit
    ok[42] = 0x06;
    char err[256] = "";
    sl_msg_t *msg = sl_proto_decode (ok, sizeof ok, err, sizeof err);
    cr_assert_not_null (msg, "refused: %s", err);
    sl_proto_free (&msg);
    static const uint8_t top[] = {0x08, 0x01, 0x81, 0x00, 0x00, 0x00,
                                  0x00, 0x00, 0x00, 0x00, 0x00, 0x00};
    s_expect_refused (top, sizeof top, "");
}
