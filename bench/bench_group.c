/*  bench_group - baseline (c): an ordinary consumer-group member that does
    the sleep plugin's per-record work, and reads its assignment to the
    high watermarks it had when it got it (the scheduler's drain target).

        bench_group --brokers B --topic T --group G --us-per-record 1000
        bench_group --brokers B --topic T --group G --hold

    Work: records come in batches of at most --batch (the worker's
    --batch-size) through rd_kafka_consume_batch_queue, and each batch
    costs one sleep of n x --us-per-record on the monotonic clock, as
    worker/plugins/sleep.c does. So one member's rate is exactly what one
    sluice worker would do with that plugin if sluice cost nothing.

    --hold: join, assign and pause every partition (as the scheduler does),
    print {"event":"assigned","partitions":N}, and stay a member until
    SIGTERM: the memory reference for a scheduler owning those partitions.

    Prints one JSON line at the end: records, partitions, wall-clock
    times (t_start, t_assigned, t_first, t_end) and VmHWM.
*/
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "bench_util.h"
#include "sl_flags.h"
#include "sl_kafka.h"
#include "sl_log.h"

#define PROG    "bench_group"
#define POLL_MS 100

typedef struct {
    char *brokers, *topic, *group;
    int64_t us_per_record, batch;
    bool hold;
    sl_strlist_t props;
} group_cfg_t;

typedef struct {
    const group_cfg_t *cfg;
    rd_kafka_topic_partition_list_t *targets; /* offset = drain target */
    bool *done;
    int left;
    bool assigned;
    uint64_t records;
    double t_assigned, t_first, t_end;
} group_t;

//  Read the end offsets of the assigned partitions: the drain targets.
static void
s_read_targets (group_t *self, rd_kafka_t *rk,
                rd_kafka_topic_partition_list_t *parts)
{
    if (self->targets)
        rd_kafka_topic_partition_list_destroy (self->targets);
    free (self->done);
    self->targets = rd_kafka_topic_partition_list_copy (parts);
    for (int i = 0; i < self->targets->cnt; i++)
        self->targets->elems[i].offset = RD_KAFKA_OFFSET_END;
    if (rd_kafka_offsets_for_times (rk, self->targets, 10000) != 0)
        fprintf (stderr, PROG ": end offsets unknown\n");
    self->done = calloc ((size_t)self->targets->cnt + 1, sizeof *self->done);
    self->left = 0;
    for (int i = 0; i < self->targets->cnt; i++) {
        //  Unknown targets or empty partitions are done from the start;
        //  a committed offset past the target is noticed by EOF.
        self->done[i] = self->targets->elems[i].offset <= 0;
        self->left += !self->done[i];
    }
}

//  The rebalance callback: targets, then assign (and pause with --hold).
static void
s_rebalance_cb (rd_kafka_t *rk, rd_kafka_resp_err_t err,
                rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    group_t *self = opaque;
    if (err != RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        rd_kafka_assign (rk, NULL);
        return;
    }
    if (!self->cfg->hold)
        s_read_targets (self, rk, parts);
    rd_kafka_assign (rk, parts);
    if (self->cfg->hold) {
        rd_kafka_pause_partitions (rk, parts);
        printf ("{\"event\":\"assigned\",\"partitions\":%d}\n", parts->cnt);
        fflush (stdout);
    }
    self->assigned = true;
    self->t_assigned = bench_now ();
}

//  Account one message: count it, mark its partition done at the target.
static void
s_account (group_t *self, rd_kafka_message_t *m)
{
    if (!self->targets)
        return;
    int i = 0;
    for (; i < self->targets->cnt; i++)
        if (self->targets->elems[i].partition == m->partition)
            break;
    if (i == self->targets->cnt || self->done[i])
        return;
    int64_t target = self->targets->elems[i].offset;
    bool eof = m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF;
    if (!m->err && m->offset < target) {
        if (self->records++ == 0)
            self->t_first = bench_now ();
    }
    if ((eof && m->offset >= target) || (!m->err && m->offset >= target - 1)) {
        self->done[i] = true;
        self->left--;
    }
}

//  Consume and work until every target is reached.
static void
s_drain (group_t *self, rd_kafka_t *rk)
{
    rd_kafka_queue_t *queue = rd_kafka_queue_get_consumer (rk);
    size_t max = (size_t)self->cfg->batch;
    rd_kafka_message_t **msgs = calloc (max, sizeof *msgs);
    uint64_t per_record = (uint64_t)self->cfg->us_per_record * 1000u;
    while (msgs && !bench_stopping () && (!self->assigned || self->left > 0)) {
        ssize_t got = rd_kafka_consume_batch_queue (queue, 0, msgs, max);
        if (got <= 0) {
            rd_kafka_message_t *m = rd_kafka_consume_queue (queue, POLL_MS);
            if (!m)
                continue;
            msgs[0] = m;
            got = 1;
        }
        size_t n = 0;
        for (ssize_t i = 0; i < got; i++) {
            n += !msgs[i]->err;
            s_account (self, msgs[i]);
            rd_kafka_message_destroy (msgs[i]);
        }
        if (n && per_record)
            bench_sleep_ns (n * per_record);
    }
    self->t_end = bench_now ();
    free (msgs);
    rd_kafka_queue_destroy (queue);
}

//  Stay a (paused) member until SIGTERM.
static void
s_hold (group_t *self, rd_kafka_t *rk)
{
    while (!bench_stopping ()) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll (rk, POLL_MS);
        if (m)
            rd_kafka_message_destroy (m);
    }
    self->t_end = bench_now ();
}

//  Make the member and subscribe.
static rd_kafka_t *
s_member_new (const group_cfg_t *cfg, group_t *self, char *err, size_t errlen)
{
    const char *defaults[] = {"enable.partition.eof=true",
                              "auto.offset.reset=earliest",
                              "client.id=bench-group", NULL};
    rd_kafka_conf_t *conf =
        sl_kafka_conf_new (cfg->brokers, defaults, &cfg->props, err, errlen);
    if (!conf ||
        sl_kafka_conf_set (conf, "group.id", cfg->group, err, errlen) != 0) {
        if (conf)
            rd_kafka_conf_destroy (conf);
        return NULL;
    }
    rd_kafka_conf_set_opaque (conf, self);
    rd_kafka_conf_set_rebalance_cb (conf, s_rebalance_cb);
    char rderr[512];
    rd_kafka_t *rk =
        rd_kafka_new (RD_KAFKA_CONSUMER, conf, rderr, sizeof rderr);
    if (!rk) {
        rd_kafka_conf_destroy (conf);
        snprintf (err, errlen, "cannot create consumer: %s", rderr);
        return NULL;
    }
    rd_kafka_poll_set_consumer (rk);
    rd_kafka_topic_partition_list_t *topics =
        rd_kafka_topic_partition_list_new (1);
    rd_kafka_topic_partition_list_add (topics, cfg->topic,
                                       RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t rc = rd_kafka_subscribe (rk, topics);
    rd_kafka_topic_partition_list_destroy (topics);
    if (rc) {
        snprintf (err, errlen, "cannot subscribe: %s", rd_kafka_err2str (rc));
        rd_kafka_destroy (rk);
        return NULL;
    }
    return rk;
}

int
main (int argc, char **argv)
{
    double t_start = bench_now ();
    group_cfg_t cfg = {0};
    sl_flag_t flags[] = {
        {"brokers", 0, SL_FLAG_STR, &cfg.brokers, NULL, 0, 0, true, "HOST:PORT",
         "Kafka bootstrap servers", "SLUICE_BENCH_BROKERS"},
        {"topic", 0, SL_FLAG_STR, &cfg.topic, NULL, 0, 0, true, "NAME",
         "topic to subscribe to", "SLUICE_BENCH_TOPIC"},
        {"group", 0, SL_FLAG_STR, &cfg.group, NULL, 0, 0, true, "NAME",
         "consumer group", "SLUICE_BENCH_GROUP"},
        {"us-per-record", 0, SL_FLAG_INT, &cfg.us_per_record, "0", 0,
         3600000000LL, false, "US", "work per record (one sleep per batch)",
         "SLUICE_BENCH_US_PER_RECORD"},
        {"batch", 0, SL_FLAG_INT, &cfg.batch, "500", 1, 100000, false, "N",
         "most records per batch (the worker's --batch-size)",
         "SLUICE_BENCH_BATCH"},
        {"hold", 0, SL_FLAG_BOOL, &cfg.hold, NULL, 0, 0, false, "",
         "assign and pause, stay until SIGTERM", "SLUICE_BENCH_HOLD"},
        {"property", 'X', SL_FLAG_KV, &cfg.props, NULL, 0, 0, false,
         "KEY=VALUE", "librdkafka property (repeatable)", "SLUICE_BENCH_X"},
    };
    size_t nflags = sizeof flags / sizeof flags[0];
    //  librdkafka's own lines (-X debug=...) at SLUICE_BENCH_LOG_LEVEL.
    const char *level = getenv ("SLUICE_BENCH_LOG_LEVEL");
    sl_log_set_level (level ? level : "warn");
    char err[768] = "";
    int rc = sl_flags_parse (PROG, flags, nflags, argc, argv, err, sizeof err);
    if (rc == 1) {
        sl_flags_usage (PROG, "Baseline: a consumer-group member.", flags,
                        nflags, stdout);
        sl_flags_free (flags, nflags);
        return 0;
    }
    group_t self = {.cfg = &cfg};
    bench_catch_signals ();
    rd_kafka_t *rk =
        rc == 0 ? s_member_new (&cfg, &self, err, sizeof err) : NULL;
    if (!rk) {
        fprintf (stderr, PROG ": %s\n", err);
        sl_flags_free (flags, nflags);
        return 2;
    }
    if (cfg.hold)
        s_hold (&self, rk);
    else
        s_drain (&self, rk);
    rd_kafka_consumer_close (rk);
    printf ("{\"records\":%" PRIu64 ",\"partitions\":%d,\"t_start\":%.6f"
            ",\"t_assigned\":%.6f,\"t_first\":%.6f,\"t_end\":%.6f"
            ",\"vm_hwm_kb\":%ld}\n",
            self.records, self.targets ? self.targets->cnt : 0, t_start,
            self.t_assigned, self.t_first, self.t_end, bench_vm_hwm_kb ());
    if (self.targets)
        rd_kafka_topic_partition_list_destroy (self.targets);
    free (self.done);
    rd_kafka_destroy (rk);
    sl_flags_free (flags, nflags);
    return self.left == 0 || cfg.hold ? 0 : 1;
}
