/*  sched_metrics - the scheduler's Prometheus page. See sched_metrics.h.
 */
#include "sched_metrics.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include "sl_clock.h"
#include "sl_http.h"

//  One per-partition gauge family.
static void
s_partition_family (FILE *f, sched_state_t *self, const char *name,
                    const char *help, int which)
{
    sl_prom_head (f, name, "gauge", help);
    for (sched_part_t *p = zhashx_first (self->model.parts); p;
         p = zhashx_next (self->model.parts)) {
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

//  --order key: what waits on a key now, and the messages that said so.
static void
s_key_order (FILE *f, sched_state_t *self)
{
    uint64_t jobs, keys;
    int64_t longest_ms;
    sched_order_waiting (&self->order, sl_now_ms (), &jobs, &keys, &longest_ms);
    sl_prom_gauge (f, "sluice_key_wait_jobs",
                   "Jobs whose worker holds records back for an earlier "
                   "record of their key (--order key).",
                   (double)jobs);
    sl_prom_gauge (f, "sluice_key_wait_keys",
                   "Key hashes held back in those jobs.", (double)keys);
    sl_prom_gauge (f, "sluice_key_wait_longest_seconds",
                   "How long the job waiting longest has waited for a key "
                   "since its GATE; 0: none waits.",
                   (double)longest_ms / 1000.0);
    sl_prom_counter (f, "sluice_key_gates_total",
                     "GATEs sent (answers to a worker's key set).",
                     self->order.gates);
    sl_prom_counter (f, "sluice_key_gates_held_total",
                     "GATEs that held some keys back.", self->order.gates_held);
    sl_prom_counter (f, "sluice_key_releases_total",
                     "RELEASEs sent (keys an earlier range freed).",
                     self->order.releases);
}

//  Jobs by outcome, and the job duration and records histograms.
static void
s_jobs (FILE *f, sched_state_t *self)
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
                {"deferred", st->jobs_deferred},
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

//  Render and publish; see sched_metrics.h.
void
sched_metrics_publish (sched_state_t *self)
{
    char *page = NULL;
    size_t len = 0;
    FILE *f = open_memstream (&page, &len);
    if (!f)
        return;
    int64_t lag = 0;
    for (sched_part_t *p = zhashx_first (self->model.parts); p;
         p = zhashx_next (self->model.parts))
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
                   self->model.in_flight);
    sl_prom_gauge (f, "sluice_jobs_queued",
                   "Jobs waiting for a worker's credit.", self->model.queued);
    sl_prom_gauge (f, "sluice_workers_connected", "Workers that said HELLO.",
                   (double)zhashx_size (self->model.workers));
    sl_prom_gauge (f, "sluice_partitions_owned",
                   "Partitions this scheduler owns.",
                   (double)zhashx_size (self->model.parts));
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
    sl_prom_counter (f, "sluice_plugin_crashes_total",
                     "Worker deaths its supervising parent pinned on a job "
                     "(CRASH reports at fault).",
                     self->stats.plugin_crashes);
    sl_prom_counter (f, "sluice_worker_disconnects_total",
                     "Workers dropped at once because their connection "
                     "closed.",
                     self->stats.workers_closed);
    sl_prom_counter (f, "sluice_tail_hints_total",
                     "TAILs from workers that raised a partition's high "
                     "watermark before the scheduler's own look did.",
                     self->stats.tail_hints);
    sl_prom_counter (f, "sluice_commits_total", "Offset commits sent.",
                     self->stats.commits);
    sl_prom_counter (f, "sluice_commit_failures_total",
                     "Partition commits the broker refused (retried).",
                     self->stats.commit_failures);
    uint64_t marks_read, marks_restored;
    sched_marks_counts (self->member.marks, &marks_read, &marks_restored);
    sl_prom_counter (f, "sluice_markers_read_total",
                     "Completion markers read from the state topic at "
                     "takeovers (--state-topic).",
                     marks_read);
    sl_prom_counter (f, "sluice_marked_ranges_total",
                     "Ranges a takeover found complete in the state topic "
                     "and did not run again.",
                     marks_restored);
    sl_prom_counter (f, "sluice_fenced_ranges_total",
                     "Ranges taken back from a holder that were held until "
                     "it was fenced and the state topic read "
                     "(--exactly-once).",
                     self->eos.fences);
    sl_prom_counter (f, "sluice_fenced_committed_total",
                     "Of those, ranges whose marker was there: committed by "
                     "the holder, not run again.",
                     self->eos.found);
    sl_prom_counter (f, "sluice_scheduler_rejoins_total",
                     "Times the scheduler left and joined its group again: "
                     "it held no partition while the group's lag stood "
                     "still for 3 session timeouts.",
                     self->stats.rejoins);
    sl_prom_histogram (
        f, "sluice_commit_latency_seconds",
        "Time from sending an offset commit request to its result.",
        &self->stats.commit_seconds);
    sl_prom_counter (f, "sluice_scheduler_fetched_records_total",
                     "Records the scheduler's own consumer fetched (always 0).",
                     (uint64_t)self->stats.rxmsgs);
    const sched_outage_t *o = &self->failure.outage;
    double outage_s =
        o->since_ms ? (double)(sl_now_ms () - o->since_ms) / 1000.0 : 0;
    sl_prom_gauge (f, "sluice_output_outage_seconds",
                   "How long the output has refused (jobs failed for the "
                   "destination or the cluster, no attempt charged); 0: "
                   "none.",
                   o->input ? 0 : outage_s);
    sl_prom_gauge (f, "sluice_input_outage_seconds",
                   "How long the input could not be read (jobs failed for "
                   "the input topic or the cluster, no attempt charged); 0: "
                   "none.",
                   o->input ? outage_s : 0);
    s_key_order (f, self);
    sl_prom_gauge (
        f, "sluice_drain_eta_seconds",
        "Total lag divided by recent throughput (NaN: no throughput).",
        sched_drain_eta (&self->drain, lag));
    fclose (f);
    char outage[384];
    sched_failure_outage_text (&self->failure, sl_now_ms (), outage,
                               sizeof outage);
    bool ready = self->member.assigned && !self->member.fatal && !*outage;
    sl_http_publish (self->http, page, len, ready,
                     self->member.fatal ? "fatal Kafka error"
                     : *outage          ? outage
                                        : "waiting for a partition assignment");
    free (page);
}
