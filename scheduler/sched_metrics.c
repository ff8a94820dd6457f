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

/*  Job duration (seconds), dispatch to DONE.                            */
static const double s_job_bounds[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                      0.5,   1,    2.5,   5,    10,  60};

/*  Commit latency (seconds): a broker on the same host answers in about a
    millisecond, a loaded or distant one in tens; seconds mean trouble.   */
static const double s_commit_bounds[] = {
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};

/*  Records per job: decades up to 100,000 (--job-records is 1,000 by
    default; fewer means short ranges: the end of the log, compaction).  */
static const double s_records_bounds[] = {1, 10, 100, 1000, 10000, 100000};

#define S_COUNT(a) ((int)(sizeof (a) / sizeof (a)[0]))
_Static_assert(S_COUNT (s_job_bounds) <= SL_PROM_HIST_MAX &&
                   S_COUNT (s_commit_bounds) <= SL_PROM_HIST_MAX &&
                   S_COUNT (s_records_bounds) <= SL_PROM_HIST_MAX,
               "sl_prom_hist_t holds every bucket");

//  Set up the histograms; see sched_state.h.
void
sched_metrics_init (scheduler_t *self)
{
    sl_prom_hist_init (&self->stats.job_seconds, s_job_bounds,
                       S_COUNT (s_job_bounds));
    sl_prom_hist_init (&self->stats.commit_seconds, s_commit_bounds,
                       S_COUNT (s_commit_bounds));
    sl_prom_hist_init (&self->stats.job_records, s_records_bounds,
                       S_COUNT (s_records_bounds));
}

//  Observe a job's duration; see sched_state.h.
void
sched_metrics_job_seconds (scheduler_t *self, double seconds)
{
    sl_prom_observe (&self->stats.job_seconds, seconds < 0 ? 0 : seconds);
}

//  Observe a commit's latency; see sched_state.h.
void
sched_metrics_commit_latency (scheduler_t *self, double seconds)
{
    sl_prom_observe (&self->stats.commit_seconds, seconds < 0 ? 0 : seconds);
}

//  Observe a job's record count; see sched_state.h.
void
sched_metrics_job_records (scheduler_t *self, uint64_t records)
{
    sl_prom_observe (&self->stats.job_records, (double)records);
}

//  One per-partition gauge family.
static void
s_partition_family (FILE *f, scheduler_t *self, const char *name,
                    const char *help, int which)
{
    sl_prom_head (f, name, "gauge", help);
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

//  Jobs by outcome, and the job duration and records histograms.
static void
s_jobs (FILE *f, scheduler_t *self)
{
    const sched_stats_t *st = &self->stats;
    sl_prom_head (f, "sluice_jobs_total", "counter",
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
    sl_prom_histogram (f, "sluice_job_duration_seconds",
                       "Time from dispatch to DONE of successful jobs.",
                       &st->job_seconds);
    sl_prom_histogram (f, "sluice_job_records",
                       "Records the worker handed to the plugin (or copied "
                       "to the dead-letter topic), per successful job.",
                       &st->job_records);
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
    sl_prom_gauge (f, "sluice_jobs_in_flight", "Jobs held by workers.",
                   self->in_flight);
    sl_prom_gauge (f, "sluice_jobs_queued",
                   "Jobs waiting for a worker's credit.", self->queued);
    sl_prom_gauge (f, "sluice_workers_connected", "Workers that said HELLO.",
                   (double)zhashx_size (self->workers));
    sl_prom_gauge (f, "sluice_partitions_owned",
                   "Partitions this scheduler owns.",
                   (double)zhashx_size (self->parts));
    sl_prom_counter (f, "sluice_records_done_total",
                     "Offsets completed (each counted once).",
                     self->stats.records_done);
    sl_prom_counter (f, "sluice_records_processed_total",
                     "Records workers handed to the plugin.",
                     self->stats.records_processed);
    sl_prom_counter (f, "sluice_records_dead_lettered_total",
                     "Records copied to the dead-letter topic.",
                     self->stats.records_rejected);
    sl_prom_counter (f, "sluice_records_lost_total",
                     "Records deleted by retention before they were processed.",
                     self->stats.records_lost);
    sl_prom_counter (f, "sluice_commits_total", "Offset commits sent.",
                     self->stats.commits);
    sl_prom_counter (f, "sluice_commit_failures_total",
                     "Partition commits the broker refused (retried).",
                     self->stats.commit_failures);
    sl_prom_histogram (
        f, "sluice_commit_latency_seconds",
        "Time from sending an offset commit request to its result.",
        &self->stats.commit_seconds);
    sl_prom_counter (f, "sluice_scheduler_fetched_records_total",
                     "Records the scheduler's own consumer fetched (always 0).",
                     (uint64_t)self->stats.rxmsgs);
    sl_prom_gauge (
        f, "sluice_drain_eta_seconds",
        "Total lag divided by recent throughput (NaN: no throughput).",
        s_eta (self, lag));
    fclose (f);
    bool ready = self->assigned && !self->fatal;
    sl_http_publish (self->http, page, len, ready,
                     self->fatal ? "fatal Kafka error"
                                 : "waiting for a partition assignment");
    free (page);
}
