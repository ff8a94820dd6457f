/*  gen_seeds - write the seed corpus of fuzz_proto: one valid envelope of
    every message type, plus seeds for fuzz_meta and fuzz_flags.

        gen_seeds DIR      writes files into DIR/proto, DIR/meta, DIR/flags

    The committed corpus under tests/fuzz/corpus was made with it; run it
    again after a protocol change (`make fuzz-seeds`).
*/
#include "sl_proto.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int
s_write (const char *dir, const char *sub, const char *name, const void *data,
         size_t size)
{
    char path[1024];
    snprintf (path, sizeof path, "%s/%s", dir, sub);
    if (mkdir (path, 0755) != 0 && errno != EEXIST)
        return -1;
    snprintf (path, sizeof path, "%s/%s/%s", dir, sub, name);
    FILE *f = fopen (path, "wb");
    if (!f)
        return -1;
    size_t w = fwrite (data, 1, size, f);
    return fclose (f) == 0 && w == size ? 0 : -1;
}

static int
s_envelope (const char *dir, const char *name, Sluice__Envelope__BodyCase kind,
            void *body)
{
    Sluice__Envelope env = SLUICE__ENVELOPE__INIT;
    env.version = SL_PROTO_VERSION;
    sl_proto_set_body (&env, kind, body);
    size_t size = sluice__envelope__get_packed_size (&env);
    uint8_t *buf = malloc (size ? size : 1);
    if (!buf)
        return -1;
    sluice__envelope__pack (&env, buf);
    int rc = s_write (dir, "proto", name, buf, size);
    free (buf);
    return rc;
}

int
main (int argc, char **argv)
{
    if (argc != 2) {
        fprintf (stderr, "usage: gen_seeds DIR\n");
        return 2;
    }
    const char *dir = argv[1];
    int rc = 0;
    Sluice__Hello hello = SLUICE__HELLO__INIT;
    hello.worker_id = "host/42";
    hello.credits = 2;
    hello.plugin = "copy 1.0";
    rc |= s_envelope (dir, "hello", SLUICE__ENVELOPE__BODY_HELLO, &hello);
    Sluice__Credit credit = SLUICE__CREDIT__INIT;
    credit.credits = 3;
    rc |= s_envelope (dir, "credit", SLUICE__ENVELOPE__BODY_CREDIT, &credit);
    Sluice__Job job = SLUICE__JOB__INIT;
    job.job_id = 7;
    job.topic = "orders";
    job.partition = 3;
    job.start = 1000;
    job.end = 2000;
    job.attempt = 1;
    job.dlq_topic = "orders.dlq";
    job.lease_ms = 60000;
    rc |= s_envelope (dir, "job", SLUICE__ENVELOPE__BODY_JOB, &job);
    job.state_topic = "orders-state"; //  --state-topic
    job.state_partition = 0;
    job.state_group = "orders-sluice";
    rc |= s_envelope (dir, "job_marked", SLUICE__ENVELOPE__BODY_JOB, &job);
    Sluice__Range lost = SLUICE__RANGE__INIT;
    lost.start = 1000;
    lost.end = 1100;
    Sluice__Range *lost_ptrs[] = {&lost};
    Sluice__Done done = SLUICE__DONE__INIT;
    done.job_id = 7;
    done.topic = "orders";
    done.partition = 3;
    done.start = 1000;
    done.end = 2000;
    done.records = 900;
    done.lost = 100;
    done.n_lost_ranges = 1;
    done.lost_ranges = lost_ptrs;
    done.credits = 1;
    rc |= s_envelope (dir, "done", SLUICE__ENVELOPE__BODY_DONE, &done);
    Sluice__Heartbeat hb = SLUICE__HEARTBEAT__INIT;
    hb.jobs_done = 12;
    rc |= s_envelope (dir, "heartbeat", SLUICE__ENVELOPE__BODY_HEARTBEAT, &hb);
    Sluice__Return ret = SLUICE__RETURN__INIT;
    ret.job_id = 7;
    ret.reason = "stopping";
    rc |= s_envelope (dir, "return", SLUICE__ENVELOPE__BODY_RET, &ret);
    Sluice__Cancel cancel = SLUICE__CANCEL__INIT;
    cancel.job_id = 7;
    cancel.reason = "lease expired";
    rc |= s_envelope (dir, "cancel", SLUICE__ENVELOPE__BODY_CANCEL, &cancel);
    Sluice__Bye bye = SLUICE__BYE__INIT;
    bye.reason = "drain finished";
    bye.finished = true;
    rc |= s_envelope (dir, "bye", SLUICE__ENVELOPE__BODY_BYE, &bye);
    Sluice__Progress progress = SLUICE__PROGRESS__INIT;
    progress.job_id = 7;
    progress.position = 1500;
    rc |= s_envelope (dir, "progress", SLUICE__ENVELOPE__BODY_PROGRESS,
                      &progress);
    Sluice__StatusRequest sreq = SLUICE__STATUS_REQUEST__INIT;
    rc |= s_envelope (dir, "status_request",
                      SLUICE__ENVELOPE__BODY_STATUS_REQUEST, &sreq);
    Sluice__PartitionStatus ps = SLUICE__PARTITION_STATUS__INIT;
    ps.topic = "orders";
    ps.partition = 3;
    ps.committed = 1000;
    ps.high_watermark = 5000;
    ps.lag = 4000;
    Sluice__PartitionStatus *ps_ptrs[] = {&ps};
    Sluice__WorkerStatus ws = SLUICE__WORKER_STATUS__INIT;
    ws.worker_id = "host/42";
    ws.credits = 2;
    ws.plugin = "copy 1.0";
    Sluice__WorkerStatus *ws_ptrs[] = {&ws};
    Sluice__Status status = SLUICE__STATUS__INIT;
    status.group = "g";
    status.n_partitions = 1;
    status.partitions = ps_ptrs;
    status.n_workers = 1;
    status.workers = ws_ptrs;
    rc |= s_envelope (dir, "status", SLUICE__ENVELOPE__BODY_STATUS, &status);
    uint64_t hashes[] = {3, 17, 4096};
    Sluice__Keys keys = SLUICE__KEYS__INIT;
    keys.job_id = 7;
    keys.topic = "orders";
    keys.partition = 3;
    keys.start = 1000;
    keys.end = 2000;
    keys.n_hashes = 3;
    keys.hashes = hashes;
    rc |= s_envelope (dir, "keys", SLUICE__ENVELOPE__BODY_KEYS, &keys);
    Sluice__Gate gate = SLUICE__GATE__INIT;
    gate.job_id = 7;
    gate.n_blocked = 2;
    gate.blocked = hashes;
    rc |= s_envelope (dir, "gate", SLUICE__ENVELOPE__BODY_GATE, &gate);
    Sluice__Release release = SLUICE__RELEASE__INIT;
    release.job_id = 7;
    release.n_hashes = 1;
    release.hashes = hashes + 2;
    rc |= s_envelope (dir, "release", SLUICE__ENVELOPE__BODY_RELEASE, &release);
    //  A BATCH as sl_proto_out writes it: a JOB, a DONE and a CREDIT.
    sl_proto_out_t *out = malloc (sizeof *out);
    if (!out)
        return 1;
    sl_proto_out_init (out);
    sl_proto_out_add (out, SLUICE__ENVELOPE__BODY_JOB, &job);
    done.n_lost_ranges = 0; //  a DONE as the hot path writes it
    sl_proto_out_add (out, SLUICE__ENVELOPE__BODY_DONE, &done);
    sl_proto_out_add (out, SLUICE__ENVELOPE__BODY_CREDIT, &credit);
    //  The frame is the head (version, tag, length) and the items.
    uint8_t head[8];
    size_t hlen = 0;
    head[hlen++] = 0x08;
    head[hlen++] = SL_PROTO_VERSION;
    head[hlen++] = (15 << 3) | 2;
    for (size_t v = out->used;; v >>= 7) {
        head[hlen++] = (uint8_t)((v & 0x7f) | (v >= 0x80 ? 0x80 : 0));
        if (v < 0x80)
            break;
    }
    uint8_t *batch = malloc (hlen + out->used);
    if (!batch) {
        free (out);
        return 1;
    }
    memcpy (batch, head, hlen);
    memcpy (batch + hlen, out->buf + SL_PROTO_BATCH_HEAD, out->used);
    rc |= s_write (dir, "proto", "batch", batch, hlen + out->used);
    free (batch);
    free (out);

    static const char *const metas[] = {
        "s1:",      "s1:1.1",  "s1:a.5,3.z",      "s1:1.1,1.1,1.1,1.1",
        "s1:zz.zz", "s2:0.0;", "s2:3.100;a.a,1.1"};
    for (size_t i = 0; i < sizeof metas / sizeof metas[0]; i++) {
        uint8_t buf[64];
        int64_t committed = (int64_t)(i * 1000);
        memcpy (buf, &committed, 8);
        size_t len = strlen (metas[i]);
        memcpy (buf + 8, metas[i], len);
        char name[16];
        snprintf (name, sizeof name, "meta%zu", i);
        rc |= s_write (dir, "meta", name, buf, 8 + len);
    }
    static const char flags0[] = "--name\0abc\0--count=12\0--drain\0"
                                 "--topic\0a\0--topic\0b\0-Xk=v\0-X\0a=b\0"
                                 "--mode\0m";
    static const char flags1[] = "--count\0-5\0--mode";
    static const char flags2[] = "--help";
    rc |= s_write (dir, "flags", "flags0", flags0, sizeof flags0 - 1);
    rc |= s_write (dir, "flags", "flags1", flags1, sizeof flags1 - 1);
    rc |= s_write (dir, "flags", "flags2", flags2, sizeof flags2 - 1);
    if (rc)
        fprintf (stderr, "gen_seeds: cannot write into %s\n", dir);
    return rc ? 1 : 0;
}
