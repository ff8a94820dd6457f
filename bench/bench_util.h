/*  bench_util - small helpers shared by the benchmark programs in bench/.

    The baselines and tools here measure sluice; they are not part of it.
    Each prints one JSON object per line on stdout for bench/run.py, and
    uses the same librdkafka configuration path as the daemons
    (sl_kafka_conf_new: bootstrap, sluice's common defaults, then -X), so
    a baseline and sluice differ only in what the measurement is about.
*/
#ifndef BENCH_UTIL_H_INCLUDED
#define BENCH_UTIL_H_INCLUDED

#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <stdint.h>

/*  Totals from librdkafka's statistics (STATISTICS.md, top level and
    summed over partitions).                                              */
typedef struct {
    int64_t rxmsgs;       /* messages fetched at or past the fetch offset */
    int64_t rxmsg_bytes;  /* their bytes, with framing                    */
    int64_t rx_bytes;     /* every byte received from every broker        */
    int64_t rx_ver_drops; /* fetched, then dropped by a seek (outdated)   */
    uint64_t emitted;     /* statistics callbacks seen so far             */
} bench_stats_t;

/*  Wall-clock seconds (CLOCK_REALTIME), comparable across processes and
    with the daemons' log timestamps.                                     */
double bench_now (void);

/*  Sleep ns nanoseconds on the monotonic clock to an absolute deadline,
    as the sleep plugin does.                                             */
void bench_sleep_ns (uint64_t ns);

/*  Install SIGTERM/SIGINT handlers that set a flag bench_stopping reads. */
void bench_catch_signals (void);
bool bench_stopping (void);

/*  Parse one statistics JSON document into *stats. Returns 0 or -1.     */
int bench_stats_parse (const char *json, size_t len, bench_stats_t *stats);

/*  A librdkafka stats_cb whose opaque is a bench_stats_t.                */
int bench_stats_cb (rd_kafka_t *rk, char *json, size_t len, void *opaque);

/*  Peak resident set size of this process in KiB (VmHWM).                */
long bench_vm_hwm_kb (void);

#endif
