/*  sched_metrics - the scheduler's Prometheus page and readiness.

    Rendered on the loop thread every 500 ms and handed to sl_http, which
    serves the copy; names follow Prometheus conventions (sluice_ prefix,
    base units, _total counters).
*/
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include "sched_state.h"
#include "sl_http.h"
#include "sl_kafka.h"

const double sched_job_bucket_bounds[SCHED_JOB_BUCKETS] = {
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 60};

/*  Commit latency (seconds): a broker on the same host answers in about a
    millisecond, a loaded or distant one in tens; seconds mean trouble.   */
#define S_COMMIT_BUCKETS 13
static const double s_commit_bounds[S_COMMIT_BUCKETS] = {
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};

/*  Records per job: decades up to 100,000 (--job-records is 1,000 by
    default; fewer means short ranges: the end of the log, compaction).  */
#define S_RECORDS_BUCKETS 6
static const double s_records_bounds[S_RECORDS_BUCKETS] = {1,    10,    100,
                                                           1000, 10000, 100000};

_Static_assert(S_COMMIT_BUCKETS <= SCHED_HIST_MAX &&
                   S_RECORDS_BUCKETS <= SCHED_HIST_MAX,
               "sched_hist_t holds every bucket");

//  Count one observation into a histogram with these bounds.
static void
s_observe (sched_hist_t *h, const double *bounds, int n, double v)
{
    for (int b = 0; b < n; b++)
        if (v <= bounds[b])
            h->buckets[b]++;
    h->sum += v;
    h->count++;
}

//  Observe a commit's latency; see sched_state.h.
void
sched_metrics_commit_latency (scheduler_t *self, double seconds)
{
    s_observe (&self->stats.commit_seconds, s_commit_bounds, S_COMMIT_BUCKETS,
               seconds < 0 ? 0 : seconds);
}

//  Observe a job's record count; see sched_state.h.
void
sched_metrics_job_records (scheduler_t *self, uint64_t records)
{
    s_observe (&self->stats.job_records, s_records_bounds, S_RECORDS_BUCKETS,
               (double)records);
}

//  Write HELP and TYPE lines.
static void
s_head (FILE *f, const char *name, const char *type, const char *help)
{
    fprintf (f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

//  One per-partition gauge family.
static void
s_partition_family (FILE *f, scheduler_t *self, const char *name,
                    const char *help, int which)
{
    s_head (f, name, "gauge", help);
    for (sched_part_t *p = zhashx_first (self->parts); p;
         p = zhashx_next (self->parts)) {
        int64_t committed = sched_window_committed (p->window);
        int64_t hwm = sched_window_hwm (p->window);
        int64_t v = which == 0   ? hwm - committed
                    : which == 1 ? committed
                    : which == 2 ? hwm
                                 : (int64_t)p->in_flight;
        fprintf (f, "%s{topic=\"%s\",partition=\"%d\"} %" PRId64 "\n", name,
                 p->topic, p->partition, v);
    }
}

//  A counter with one value.
static void
s_counter (FILE *f, const char *name, const char *help, uint64_t v)
{
    s_head (f, name, "counter", help);
    fprintf (f, "%s %" PRIu64 "\n", name, v);
}

//  A gauge with one value.
static void
s_gauge (FILE *f, const char *name, const char *help, double v)
{
    s_head (f, name, "gauge", help);
    if (isnan (v))
        fprintf (f, "%s NaN\n", name);
    else
        fprintf (f, "%s %.6g\n", name, v);
}

//  A histogram family: cumulative buckets, +Inf, _sum and _count.
static void
s_histogram (FILE *f, const char *name, const char *help, const double *bounds,
             int n, const uint64_t *buckets, double sum, uint64_t count)
{
    s_head (f, name, "histogram", help);
    for (int b = 0; b < n; b++)
        fprintf (f, "%s_bucket{le=\"%g\"} %" PRIu64 "\n", name, bounds[b],
                 buckets[b]);
    fprintf (f,
             "%s_bucket{le=\"+Inf\"} %" PRIu64 "\n%s_sum %.6f\n"
             "%s_count %" PRIu64 "\n",
             name, count, name, sum, name, count);
}

//  Jobs by outcome, and the job duration and records histograms.
static void
s_jobs (FILE *f, scheduler_t *self)
{
    const sched_stats_t *st = &self->stats;
    s_head (f, "sluice_jobs_total", "counter",
            "Jobs by outcome: done, failed, retried, expired (lease), "
            "bisected, dead_lettered (sent in dead-letter mode), late (a "
            "DONE for a range already complete, ignored).");
    const struct {
        const char *outcome;
        uint64_t v;
    } rows[] = {{"done", st->jobs_done},
                {"failed", st->jobs_failed},
                {"retried", st->jobs_retried},
                {"expired", st->jobs_expired},
                {"bisected", st->jobs_bisected},
                {"dead_lettered", st->jobs_dead_lettered},
                {"late", st->done_duplicates}};
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
        fprintf (f, "sluice_jobs_total{outcome=\"%s\"} %" PRIu64 "\n",
                 rows[i].outcome, rows[i].v);
    s_histogram (f, "sluice_job_duration_seconds",
                 "Time from dispatch to DONE of successful jobs.",
                 sched_job_bucket_bounds, SCHED_JOB_BUCKETS,
                 st->job_seconds_buckets, st->job_seconds_sum,
                 st->job_seconds_count);
    s_histogram (f, "sluice_job_records",
                 "Records the worker handed to the plugin (or copied to the "
                 "dead-letter topic), per successful job.",
                 s_records_bounds, S_RECORDS_BUCKETS, st->job_records.buckets,
                 st->job_records.sum, st->job_records.count);
}

//  Sample throughput; see sched_state.h.
void
sched_rate_update (scheduler_t *self, int64_t now)
{
    if (self->rate_last_ms && now - self->rate_last_ms < 1000)
        return;
    if (self->rate_last_ms) {
        double dt = (double)(now - self->rate_last_ms) / 1000.0;
        double inst =
            (double)(self->stats.records_done - self->rate_last_records) / dt;
        self->rate = self->rate > 0 ? 0.7 * self->rate + 0.3 * inst : inst;
    }
    self->rate_last_ms = now;
    self->rate_last_records = self->stats.records_done;
}

//  Seconds to drain `lag` at the recent throughput (NaN: no throughput).
static double
s_eta (scheduler_t *self, int64_t lag)
{
    if (lag == 0)
        return 0;
    return self->rate > 0.5 ? (double)lag / self->rate : NAN;
}

//  Render and publish; see sched_state.h.
void
sched_metrics_publish (scheduler_t *self)
{
    char *page = NULL;
    size_t len = 0;
    FILE *f = open_memstream (&page, &len);
    if (!f)
        return;
    int64_t lag = 0;
    for (sched_part_t *p = zhashx_first (self->parts); p;
         p = zhashx_next (self->parts))
        lag +=
            sched_window_hwm (p->window) - sched_window_committed (p->window);
    s_partition_family (f, self, "sluice_partition_lag_records",
                        "High watermark minus committed offset.", 0);
    s_partition_family (f, self, "sluice_partition_committed_offset",
                        "Offset committed for the group (all below done).", 1);
    s_partition_family (f, self, "sluice_partition_high_watermark",
                        "End offset (last stable offset under "
                        "read_committed).",
                        2);
    s_partition_family (f, self, "sluice_partition_jobs_in_flight",
                        "Jobs of the partition held by workers.", 3);
    s_jobs (f, self);
    s_gauge (f, "sluice_jobs_in_flight", "Jobs held by workers.",
             self->in_flight);
    s_gauge (f, "sluice_jobs_queued", "Jobs waiting for a worker's credit.",
             self->queued);
    s_gauge (f, "sluice_workers_connected", "Workers that said HELLO.",
             (double)zhashx_size (self->workers));
    s_gauge (f, "sluice_partitions_owned", "Partitions this scheduler owns.",
             (double)zhashx_size (self->parts));
    s_counter (f, "sluice_records_done_total",
               "Offsets completed (each counted once).",
               self->stats.records_done);
    s_counter (f, "sluice_records_processed_total",
               "Records workers handed to the plugin.",
               self->stats.records_processed);
    s_counter (f, "sluice_records_dead_lettered_total",
               "Records copied to the dead-letter topic.",
               self->stats.records_rejected);
    s_counter (f, "sluice_records_lost_total",
               "Records deleted by retention before they were processed.",
               self->stats.records_lost);
    s_counter (f, "sluice_commits_total", "Offset commits sent.",
               self->stats.commits);
    s_counter (f, "sluice_commit_failures_total",
               "Partition commits the broker refused (retried).",
               self->stats.commit_failures);
    s_histogram (
        f, "sluice_commit_latency_seconds",
        "Time from sending an offset commit request to its result.",
        s_commit_bounds, S_COMMIT_BUCKETS, self->stats.commit_seconds.buckets,
        self->stats.commit_seconds.sum, self->stats.commit_seconds.count);
    s_counter (f, "sluice_scheduler_fetched_records_total",
               "Records the scheduler's own consumer fetched (always 0).",
               (uint64_t)self->stats.rxmsgs);
    s_gauge (f, "sluice_drain_eta_seconds",
             "Total lag divided by recent throughput (NaN: no throughput).",
             s_eta (self, lag));
    fclose (f);
    bool ready = self->assigned && !self->fatal;
    sl_http_publish (self->http, page, len, ready,
                     self->fatal ? "fatal Kafka error"
                                 : "waiting for a partition assignment");
    free (page);
}
