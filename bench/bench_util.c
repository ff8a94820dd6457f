/*  bench_util - helpers for the benchmark programs. See bench_util.h.   */
#include "bench_util.h"

#include <errno.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static volatile sig_atomic_t s_stop;

//  Wall-clock seconds.
double
bench_now (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

//  Sleep to an absolute monotonic deadline, resuming after signals.
void
bench_sleep_ns (uint64_t ns)
{
    struct timespec deadline;
    clock_gettime (CLOCK_MONOTONIC, &deadline);
    uint64_t total = (uint64_t)deadline.tv_nsec + ns;
    deadline.tv_sec += (time_t)(total / 1000000000u);
    deadline.tv_nsec = (long)(total % 1000000000u);
    while (clock_nanosleep (CLOCK_MONOTONIC, TIMER_ABSTIME, &deadline, NULL) ==
           EINTR)
        if (s_stop)
            return;
}

//  The signal handler: only sets the flag.
static void
s_on_signal (int signo)
{
    (void)signo;
    s_stop = 1;
}

//  Catch SIGTERM and SIGINT.
void
bench_catch_signals (void)
{
    struct sigaction sa;
    memset (&sa, 0, sizeof sa);
    sa.sa_handler = s_on_signal;
    sigemptyset (&sa.sa_mask);
    sigaction (SIGTERM, &sa, NULL);
    sigaction (SIGINT, &sa, NULL);
}

//  True once SIGTERM or SIGINT arrived.
bool
bench_stopping (void)
{
    return s_stop != 0;
}

//  An integer member of a JSON object, 0 if absent.
static int64_t
s_int (json_t *obj, const char *key)
{
    return (int64_t)json_integer_value (json_object_get (obj, key));
}

//  Parse one statistics document.
int
bench_stats_parse (const char *json, size_t len, bench_stats_t *stats)
{
    json_t *root = json_loadb (json, len, 0, NULL);
    if (!root)
        return -1;
    stats->rxmsgs = s_int (root, "rxmsgs");
    stats->rxmsg_bytes = s_int (root, "rxmsg_bytes");
    stats->rx_bytes = s_int (root, "rx_bytes");
    int64_t drops = 0;
    const char *tname, *pname;
    json_t *topic, *part;
    json_object_foreach (json_object_get (root, "topics"), tname, topic)
    {
        json_object_foreach (json_object_get (topic, "partitions"), pname, part)
        {
            drops += s_int (part, "rx_ver_drops");
        }
    }
    stats->rx_ver_drops = drops;
    stats->emitted++;
    json_decref (root);
    return 0;
}

//  stats_cb: parse into the opaque bench_stats_t.
int
bench_stats_cb (rd_kafka_t *rk, char *json, size_t len, void *opaque)
{
    (void)rk;
    if (opaque)
        bench_stats_parse (json, len, opaque);
    return 0;
}

//  VmHWM from /proc/self/status.
long
bench_vm_hwm_kb (void)
{
    FILE *f = fopen ("/proc/self/status", "r");
    if (!f)
        return -1;
    char line[256];
    long kb = -1;
    while (fgets (line, sizeof line, f))
        if (sscanf (line, "VmHWM: %ld kB", &kb) == 1)
            break;
    fclose (f);
    return kb;
}
