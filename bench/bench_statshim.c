/*  bench_statshim - LD_PRELOAD shim that makes any librdkafka consumer
    report its fetch totals, for the read-amplification figure.

        SLUICE_BENCH_STATS=/tmp/dir/worker LD_PRELOAD=bench_statshim.so \
            sluice-worker ...

    sluice-worker has no statistics callback of its own, so the shim wraps
    rd_kafka_new: for a consumer it sets statistics.interval.ms
    (SLUICE_BENCH_STATS_MS, default 100) and a stats_cb that writes the
    totals to $SLUICE_BENCH_STATS.<pid>.json as
    {"rxmsgs":N,"rxmsg_bytes":N,"rx_bytes":N,"rx_ver_drops":N,"reports":N}
    (replaced atomically at every report). It also wraps
    rd_kafka_consumer_close to serve the queue until one more report
    arrives first, so the file covers everything the consumer fetched.
    The callback runs where the application serves its consumer queue,
    so the numbers are exactly librdkafka's own. Nothing else changes.
*/
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "bench_util.h"

typedef rd_kafka_t *(new_fn_t)(rd_kafka_type_t, rd_kafka_conf_t *, char *,
                               size_t);
typedef rd_kafka_resp_err_t (close_fn_t) (rd_kafka_t *);

static bench_stats_t s_stats;

//  Write the totals where the bench runner reads them.
static void
s_write (const char *prefix)
{
    char path[4096], tmp[4200];
    snprintf (path, sizeof path, "%s.%d.json", prefix, (int)getpid ());
    snprintf (tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen (tmp, "w");
    if (!f)
        return;
    fprintf (f,
             "{\"rxmsgs\":%lld,\"rxmsg_bytes\":%lld,\"rx_bytes\":%lld,"
             "\"rx_ver_drops\":%lld,\"reports\":%llu}\n",
             (long long)s_stats.rxmsgs, (long long)s_stats.rxmsg_bytes,
             (long long)s_stats.rx_bytes, (long long)s_stats.rx_ver_drops,
             (unsigned long long)s_stats.emitted);
    fclose (f);
    rename (tmp, path);
}

//  The stats_cb the shim installs.
static int
s_stats_cb (rd_kafka_t *rk, char *json, size_t len, void *opaque)
{
    (void)rk;
    (void)opaque;
    const char *prefix = getenv ("SLUICE_BENCH_STATS");
    if (prefix && bench_stats_parse (json, len, &s_stats) == 0)
        s_write (prefix);
    return 0;
}

//  rd_kafka_new, with statistics for consumers.
rd_kafka_t *
rd_kafka_new (rd_kafka_type_t type, rd_kafka_conf_t *conf, char *errstr,
              size_t errstr_size)
{
    new_fn_t *real = (new_fn_t *)dlsym (RTLD_NEXT, "rd_kafka_new");
    const char *ms = getenv ("SLUICE_BENCH_STATS_MS");
    if (conf && type == RD_KAFKA_CONSUMER && getenv ("SLUICE_BENCH_STATS")) {
        char err[256];
        rd_kafka_conf_set (conf, "statistics.interval.ms", ms ? ms : "100", err,
                           sizeof err);
        rd_kafka_conf_set_stats_cb (conf, s_stats_cb);
    }
    return real (type, conf, errstr, errstr_size);
}

//  rd_kafka_consumer_close, after one more statistics report.
rd_kafka_resp_err_t
rd_kafka_consumer_close (rd_kafka_t *rk)
{
    close_fn_t *real =
        (close_fn_t *)dlsym (RTLD_NEXT, "rd_kafka_consumer_close");
    if (getenv ("SLUICE_BENCH_STATS")) {
        const char *ms = getenv ("SLUICE_BENCH_STATS_MS");
        double deadline =
            bench_now () + (3.0 * (ms ? atoi (ms) : 100) + 1000.0) / 1000.0;
        uint64_t seen = s_stats.emitted;
        while (s_stats.emitted < seen + 2 && bench_now () < deadline) {
            rd_kafka_message_t *m = rd_kafka_consumer_poll (rk, 20);
            if (m)
                rd_kafka_message_destroy (m);
        }
    }
    return real (rk);
}
