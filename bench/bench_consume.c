/*  bench_consume - baseline (a): a plain librdkafka consumer that reads
    offset ranges and counts records and bytes, nothing else.

        bench_consume --brokers B --topic T --range 0:0:end --range 1:0:end
                      [--stats-ms 100] [-X key=value]...

    Each --range PARTITION:START:END is read from START (a number, or
    "begin" for the log start) up to END (a number, or "end" for the high
    watermark when it starts). The consumer is configured like the
    worker's (no group membership, assign at an offset, partition EOF
    events, auto.offset.reset=error; -X comes last and wins) and reads
    with the batch API as the worker does: rd_kafka_consume_batch_queue
    with no wait, then rd_kafka_consume_queue for up to 100 ms when
    nothing is ready. A range ends by position, as a job does: a record
    at or past END, or an EOF event at or past END.

    --idle-ms N waits N ms between creating the consumer and assigning (a
    worker's consumer is created long before its first job): t_first -
    t_assign then shows what the first fetch costs such a consumer.

    Prints one JSON line: records, bytes (key + value), wall-clock times
    (t_start before rd_kafka_new, t_assign, t_first record, t_end), VmHWM,
    and with --stats-ms librdkafka's fetch totals (rxmsgs, rx_bytes...)
    read from a statistics report emitted after the last record.
*/
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "bench_util.h"
#include "sl_flags.h"
#include "sl_kafka.h"
#include "sl_log.h"

#define PROG       "bench_consume"
#define MAX_RANGES 4096
#define POLL_MS    100

typedef struct {
    int32_t partition;
    int64_t start, end;
    bool done;
} range_t;

typedef struct {
    char *brokers, *topic;
    sl_strlist_t ranges;
    int64_t stats_ms, batch, idle_ms;
    sl_strlist_t props;
} consume_cfg_t;

typedef struct {
    range_t ranges[MAX_RANGES];
    size_t n, left;
    uint64_t records, bytes;
    double t_first, t_last;
    bench_stats_t stats;
} consume_t;

//  Parse "P:START:END" into r; START may be "begin", END may be "end"
//  (resolved later, marked -2 and -1). Returns 0 or -1.
static int
s_parse_range (const char *text, range_t *r)
{
    char start[32], end[32];
    int p;
    if (sscanf (text, "%d:%31[^:]:%31s", &p, start, end) != 3 || p < 0)
        return -1;
    r->partition = p;
    r->start = strcmp (start, "begin") == 0 ? -2 : strtoll (start, NULL, 10);
    r->end = strcmp (end, "end") == 0 ? -1 : strtoll (end, NULL, 10);
    return 0;
}

//  Resolve "begin" and "end" with the partition's watermarks.
static int
s_resolve (rd_kafka_t *rk, const char *topic, range_t *r)
{
    int64_t lo = 0, hi = 0;
    if ((r->start < 0 || r->end < 0) &&
        rd_kafka_query_watermark_offsets (rk, topic, r->partition, &lo, &hi,
                                          10000) != 0)
        return -1;
    if (r->start < 0)
        r->start = lo;
    if (r->end < 0)
        r->end = hi;
    r->done = r->start >= r->end;
    return 0;
}

//  The range a message belongs to, or NULL.
static range_t *
s_range_of (consume_t *self, int32_t partition)
{
    for (size_t i = 0; i < self->n; i++)
        if (self->ranges[i].partition == partition)
            return &self->ranges[i];
    return NULL;
}

//  Account one message or event.
static void
s_account (consume_t *self, rd_kafka_message_t *m)
{
    range_t *r = s_range_of (self, m->partition);
    if (!r || r->done)
        return;
    if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
        if (m->offset >= r->end) {
            r->done = true;
            self->left--;
        }
        return;
    }
    if (m->err) {
        fprintf (stderr, PROG ": %s\n", rd_kafka_message_errstr (m));
        return;
    }
    if (m->offset >= r->end) {
        r->done = true;
        self->left--;
        return;
    }
    if (self->records == 0)
        self->t_first = bench_now ();
    self->records++;
    self->bytes += m->len + m->key_len;
    if (m->offset == r->end - 1) {
        r->done = true;
        self->left--;
    }
}

//  Read until every range is done (or a signal).
static void
s_read (consume_t *self, rd_kafka_queue_t *queue, size_t batch)
{
    rd_kafka_message_t **msgs = calloc (batch, sizeof *msgs);
    if (!msgs)
        return;
    while (self->left > 0 && !bench_stopping ()) {
        ssize_t got = rd_kafka_consume_batch_queue (queue, 0, msgs, batch);
        if (got <= 0) {
            rd_kafka_message_t *m = rd_kafka_consume_queue (queue, POLL_MS);
            if (!m)
                continue;
            msgs[0] = m;
            got = 1;
        }
        for (ssize_t i = 0; i < got; i++) {
            s_account (self, msgs[i]);
            rd_kafka_message_destroy (msgs[i]);
        }
    }
    self->t_last = bench_now ();
    free (msgs);
}

//  Wait for a statistics report newer than the last record, so the
//  totals cover the whole read (prefetch included).
static void
s_final_stats (consume_t *self, rd_kafka_queue_t *queue, int64_t stats_ms)
{
    uint64_t seen = self->stats.emitted;
    double deadline = bench_now () + 3.0 * (double)stats_ms / 1000.0 + 1.0;
    while (self->stats.emitted < seen + 2 && bench_now () < deadline) {
        rd_kafka_message_t *m = rd_kafka_consume_queue (queue, 20);
        if (m)
            rd_kafka_message_destroy (m);
    }
}

//  Make the consumer, configured like the worker's.
static rd_kafka_t *
s_consumer_new (consume_cfg_t *cfg, consume_t *self, char *err, size_t errlen)
{
    char stats[64];
    snprintf (stats, sizeof stats, "statistics.interval.ms=%" PRId64,
              cfg->stats_ms);
    const char *defaults[] = {"enable.auto.commit=false",
                              "enable.auto.offset.store=false",
                              "enable.partition.eof=true",
                              "auto.offset.reset=error",
                              "client.id=bench-consume",
                              "group.id=bench-consume-unused",
                              stats,
                              NULL};
    rd_kafka_conf_t *conf =
        sl_kafka_conf_new (cfg->brokers, defaults, &cfg->props, err, errlen);
    if (!conf)
        return NULL;
    rd_kafka_conf_set_opaque (conf, &self->stats);
    if (cfg->stats_ms > 0)
        rd_kafka_conf_set_stats_cb (conf, bench_stats_cb);
    char rderr[512];
    rd_kafka_t *rk =
        rd_kafka_new (RD_KAFKA_CONSUMER, conf, rderr, sizeof rderr);
    if (!rk) {
        rd_kafka_conf_destroy (conf);
        snprintf (err, errlen, "cannot create consumer: %s", rderr);
    }
    return rk;
}

//  Assign every range at its start.
static int
s_assign (consume_cfg_t *cfg, consume_t *self, rd_kafka_t *rk)
{
    rd_kafka_topic_partition_list_t *list =
        rd_kafka_topic_partition_list_new ((int)self->n);
    for (size_t i = 0; i < self->n; i++) {
        if (s_resolve (rk, cfg->topic, &self->ranges[i]) != 0) {
            rd_kafka_topic_partition_list_destroy (list);
            return -1;
        }
        if (!self->ranges[i].done)
            rd_kafka_topic_partition_list_add (list, cfg->topic,
                                               self->ranges[i].partition)
                ->offset = self->ranges[i].start;
        else
            self->left--;
    }
    rd_kafka_resp_err_t rc = rd_kafka_assign (rk, list);
    rd_kafka_topic_partition_list_destroy (list);
    return rc ? -1 : 0;
}

//  Print the result line.
static void
s_report (consume_t *self, double t_start, double t_assign)
{
    printf ("{\"records\":%" PRIu64 ",\"bytes\":%" PRIu64
            ",\"t_start\":%.6f,\"t_assign\":%.6f,\"t_first\":%.6f"
            ",\"t_end\":%.6f,\"vm_hwm_kb\":%ld,\"rxmsgs\":%" PRId64
            ",\"rxmsg_bytes\":%" PRId64 ",\"rx_bytes\":%" PRId64
            ",\"rx_ver_drops\":%" PRId64 ",\"stats_reports\":%" PRIu64 "}\n",
            self->records, self->bytes, t_start, t_assign, self->t_first,
            self->t_last, bench_vm_hwm_kb (), self->stats.rxmsgs,
            self->stats.rxmsg_bytes, self->stats.rx_bytes,
            self->stats.rx_ver_drops, self->stats.emitted);
    fflush (stdout);
}

int
main (int argc, char **argv)
{
    double t_start = bench_now ();
    consume_cfg_t cfg = {0};
    sl_flag_t flags[] = {
        {"brokers", 0, SL_FLAG_STR, &cfg.brokers, NULL, 0, 0, true, "HOST:PORT",
         "Kafka bootstrap servers", "SLUICE_BENCH_BROKERS"},
        {"topic", 0, SL_FLAG_STR, &cfg.topic, NULL, 0, 0, true, "NAME",
         "topic to read", "SLUICE_BENCH_TOPIC"},
        {"range", 0, SL_FLAG_LIST, &cfg.ranges, NULL, 0, 0, true, "P:START:END",
         "partition range to read (repeatable)", "SLUICE_BENCH_RANGE"},
        {"stats-ms", 0, SL_FLAG_INT, &cfg.stats_ms, "0", 0, 600000, false, "MS",
         "librdkafka statistics interval (0: off)", "SLUICE_BENCH_STATS_MS"},
        {"batch", 0, SL_FLAG_INT, &cfg.batch, "500", 1, 100000, false, "N",
         "most records per consume call (the worker's --batch-size)",
         "SLUICE_BENCH_BATCH"},
        {"idle-ms", 0, SL_FLAG_INT, &cfg.idle_ms, "0", 0, 600000, false, "MS",
         "wait this long between creating the consumer and assigning, "
         "as a worker waits for its first job",
         "SLUICE_BENCH_IDLE_MS"},
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
        sl_flags_usage (PROG, "Baseline: read offset ranges, count.", flags,
                        nflags, stdout);
        sl_flags_free (flags, nflags);
        return 0;
    }
    consume_t *self = calloc (1, sizeof *self);
    for (size_t i = 0; rc == 0 && i < cfg.ranges.count; i++) {
        if (self->n == MAX_RANGES ||
            s_parse_range (cfg.ranges.items[i], &self->ranges[self->n]) != 0) {
            snprintf (err, sizeof err, "--range %s: expected P:START:END",
                      cfg.ranges.items[i]);
            rc = -1;
        } else
            self->n++;
    }
    self->left = self->n;
    bench_catch_signals ();
    rd_kafka_t *rk =
        rc == 0 ? s_consumer_new (&cfg, self, err, sizeof err) : NULL;
    if (!rk) {
        fprintf (stderr, PROG ": %s\n", err);
        sl_flags_free (flags, nflags);
        free (self);
        return 2;
    }
    rd_kafka_poll_set_consumer (rk);
    rd_kafka_queue_t *queue = rd_kafka_queue_get_consumer (rk);
    if (cfg.idle_ms > 0)
        bench_sleep_ns ((uint64_t)cfg.idle_ms * 1000000u);
    double t_assign = bench_now ();
    rc = s_assign (&cfg, self, rk);
    if (rc == 0) {
        s_read (self, queue, (size_t)cfg.batch);
        if (cfg.stats_ms > 0)
            s_final_stats (self, queue, cfg.stats_ms);
        s_report (self, t_start, t_assign);
    } else
        fprintf (stderr, PROG ": cannot resolve or assign the ranges\n");
    rd_kafka_queue_destroy (queue);
    rd_kafka_consumer_close (rk);
    rd_kafka_destroy (rk);
    sl_flags_free (flags, nflags);
    int left = (int)self->left;
    free (self);
    return rc == 0 && left == 0 ? 0 : 1;
}
