/*  bench_produce - fill a topic fast, in producer batches of a chosen size.

        bench_produce --brokers B --topic T --partitions 4 --records 100000
                      --value-bytes 32 --batch 1000 [-X key=value]...

    Writes --records records to each of partitions 0..N-1, in turns of
    --batch records per partition, with batch.num.messages = --batch and a
    long linger.ms, so every Produce request carries message sets of
    exactly --batch records (the last one may be shorter). Keys are empty;
    each value is the record's sequence number padded to --value-bytes.
    Prints {"records":N,"bytes":N,"seconds":S,"rate":R} and exits 0 once
    every record is acknowledged, 1 if any failed, 2 on bad flags.
*/
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "bench_util.h"
#include "sl_flags.h"
#include "sl_kafka.h"
#include "sl_log.h"

#define PROG "bench_produce"

typedef struct {
    char *brokers, *topic;
    int64_t partitions, records, value_bytes, batch;
    sl_strlist_t props;
} produce_cfg_t;

static uint64_t s_failed;
static char s_first_error[256];

//  Delivery report: count failures, keep the first reason.
static void
s_dr_cb (rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque)
{
    (void)rk;
    (void)opaque;
    if (msg->err && s_failed++ == 0)
        snprintf (s_first_error, sizeof s_first_error, "%s",
                  rd_kafka_err2str (msg->err));
}

//  A producer that sends message sets of exactly cfg->batch records.
static rd_kafka_t *
s_producer_new (const produce_cfg_t *cfg, char *err, size_t errlen)
{
    char batch[64], msgs[64];
    snprintf (batch, sizeof batch, "batch.num.messages=%" PRId64, cfg->batch);
    snprintf (msgs, sizeof msgs, "queue.buffering.max.messages=%" PRId64,
              cfg->batch * cfg->partitions * 4 + 100000);
    const char *defaults[] = {"linger.ms=1000",
                              batch,
                              msgs,
                              "queue.buffering.max.kbytes=2097151",
                              "batch.size=100000000",
                              "message.max.bytes=1000000",
                              "compression.codec=none",
                              "client.id=bench-produce",
                              NULL};
    rd_kafka_conf_t *conf =
        sl_kafka_conf_new (cfg->brokers, defaults, &cfg->props, err, errlen);
    if (!conf)
        return NULL;
    rd_kafka_conf_set_dr_msg_cb (conf, s_dr_cb);
    char rderr[512];
    rd_kafka_t *rk =
        rd_kafka_new (RD_KAFKA_PRODUCER, conf, rderr, sizeof rderr);
    if (!rk) {
        rd_kafka_conf_destroy (conf);
        snprintf (err, errlen, "cannot create producer: %s", rderr);
    }
    return rk;
}

//  Produce one record, waiting while the local queue is full.
static int
s_produce (rd_kafka_t *rk, rd_kafka_topic_t *rkt, int32_t partition,
           char *value, size_t len)
{
    while (rd_kafka_produce (rkt, partition, RD_KAFKA_MSG_F_COPY, value, len,
                             NULL, 0, NULL) != 0) {
        if (rd_kafka_last_error () != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            fprintf (stderr, PROG ": produce: %s\n",
                     rd_kafka_err2str (rd_kafka_last_error ()));
            return -1;
        }
        rd_kafka_poll (rk, 10);
    }
    return 0;
}

//  Write every record; returns 0 or -1.
static int
s_run (const produce_cfg_t *cfg, rd_kafka_t *rk)
{
    rd_kafka_topic_t *rkt = rd_kafka_topic_new (rk, cfg->topic, NULL);
    char *value = malloc ((size_t)cfg->value_bytes + 32);
    if (!rkt || !value) {
        free (value);
        return -1;
    }
    int rc = 0;
    uint64_t seq = 0;
    for (int64_t done = 0; rc == 0 && done < cfg->records; done += cfg->batch)
        for (int32_t p = 0; rc == 0 && p < cfg->partitions; p++)
            for (int64_t i = done;
                 rc == 0 && i < done + cfg->batch && i < cfg->records; i++) {
                snprintf (value, (size_t)cfg->value_bytes + 1, "%0*" PRIu64,
                          (int)cfg->value_bytes, seq++);
                rc = s_produce (rk, rkt, p, value, (size_t)cfg->value_bytes);
                rd_kafka_poll (rk, 0);
            }
    free (value);
    rd_kafka_topic_destroy (rkt);
    return rc;
}

int
main (int argc, char **argv)
{
    produce_cfg_t cfg = {0};
    sl_flag_t flags[] = {
        {"brokers", 0, SL_FLAG_STR, &cfg.brokers, NULL, 0, 0, true, "HOST:PORT",
         "Kafka bootstrap servers", "SLUICE_BENCH_BROKERS"},
        {"topic", 0, SL_FLAG_STR, &cfg.topic, NULL, 0, 0, true, "NAME",
         "topic to fill", "SLUICE_BENCH_TOPIC"},
        {"partitions", 0, SL_FLAG_INT, &cfg.partitions, "1", 1, 100000, false,
         "N", "write partitions 0..N-1", "SLUICE_BENCH_PARTITIONS"},
        {"records", 0, SL_FLAG_INT, &cfg.records, "100000", 1, INT64_MAX / 2,
         false, "N", "records per partition", "SLUICE_BENCH_RECORDS"},
        {"value-bytes", 0, SL_FLAG_INT, &cfg.value_bytes, "32", 1, 1000000,
         false, "N", "bytes per value", "SLUICE_BENCH_VALUE_BYTES"},
        {"batch", 0, SL_FLAG_INT, &cfg.batch, "1000", 1, 1000000, false, "N",
         "records per producer batch (message set)", "SLUICE_BENCH_BATCH"},
        {"property", 'X', SL_FLAG_KV, &cfg.props, NULL, 0, 0, false,
         "KEY=VALUE", "librdkafka property (repeatable)", "SLUICE_BENCH_X"},
    };
    size_t nflags = sizeof flags / sizeof flags[0];
    //  librdkafka's own lines (-X debug=...) at SLUICE_BENCH_LOG_LEVEL.
    const char *level = getenv ("SLUICE_BENCH_LOG_LEVEL");
    sl_log_set_level (level ? level : "warn");
    char err[768];
    int rc = sl_flags_parse (PROG, flags, nflags, argc, argv, err, sizeof err);
    if (rc == 1) {
        sl_flags_usage (PROG, "Fill a topic in producer batches.", flags,
                        nflags, stdout);
        sl_flags_free (flags, nflags);
        return 0;
    }
    rd_kafka_t *rk = rc == 0 ? s_producer_new (&cfg, err, sizeof err) : NULL;
    if (!rk) {
        fprintf (stderr, PROG ": %s\n", err);
        sl_flags_free (flags, nflags);
        return 2;
    }
    double t0 = bench_now ();
    rc = s_run (&cfg, rk);
    rd_kafka_flush (rk, 120000);
    int left = rd_kafka_outq_len (rk);
    double secs = bench_now () - t0;
    rd_kafka_destroy (rk);
    uint64_t total = (uint64_t)cfg.records * (uint64_t)cfg.partitions;
    if (rc != 0 || left > 0 || s_failed > 0) {
        fprintf (stderr,
                 PROG ": %d records not delivered, %" PRIu64
                      " failed (first: %s)\n",
                 left, s_failed, s_first_error);
        sl_flags_free (flags, nflags);
        return 1;
    }
    printf ("{\"records\":%" PRIu64 ",\"bytes\":%" PRIu64
            ",\"seconds\":%.3f,\"rate\":%.0f}\n",
            total, total * (uint64_t)cfg.value_bytes, secs,
            secs > 0 ? (double)total / secs : 0);
    sl_flags_free (flags, nflags);
    return 0;
}
