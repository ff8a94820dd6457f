/*  wrk_metrics - the worker's /metrics page. See wrk_metrics.h.         */
#include "wrk_metrics.h"

#include "wrk_marks.h"
#include "wrk_output.h"

#include <inttypes.h>
#include <stdlib.h>
#include "sl_clock.h"
#include "sl_prom.h"

/*  sluice_worker_records_per_second covers this much recent time; it is
    sampled at each publish (every 500 ms), so the ring holds a little
    more than a window of samples.                                        */
#define WRK_RATE_WINDOW_MS 10000
#define WRK_RATE_SAMPLES   32

struct _wrk_metrics_t {
    struct {
        uint64_t jobs_ok, jobs_failed, records, rejected, emitted, retried;
        uint64_t lost, busy_us, plugin_us, fetch_us, flush_us;
    } totals;
    struct {
        int64_t ms;
        uint64_t records;
    } rate[WRK_RATE_SAMPLES]; /* records total at each publish, a ring   */
    size_t rate_n, rate_next;
};

//  Create the metrics.
wrk_metrics_t *
wrk_metrics_new (void)
{
    return calloc (1, sizeof (wrk_metrics_t));
}

//  Destroy the metrics.
void
wrk_metrics_destroy (wrk_metrics_t **self_p)
{
    free (*self_p);
    *self_p = NULL;
}

//  Add a DONE to the totals.
void
wrk_metrics_done (wrk_metrics_t *self, const Sluice__Done *done)
{
    if (done->status == SLUICE__JOB_STATUS__JOB_STATUS_OK)
        self->totals.jobs_ok++;
    else
        self->totals.jobs_failed++;
    self->totals.records += done->records;
    self->totals.rejected += done->rejected;
    self->totals.emitted += done->emitted;
    self->totals.retried += done->retried;
    self->totals.lost += done->lost;
    self->totals.busy_us += done->duration_us;
    self->totals.plugin_us += done->plugin_us;
    self->totals.fetch_us += done->fetch_us;
    self->totals.flush_us += done->flush_us;
}

//  Sample the records total and return records per second over the last
//  WRK_RATE_WINDOW_MS (records count when their job's DONE leaves).
static double
s_rate (wrk_metrics_t *self, int64_t now)
{
    self->rate[self->rate_next].ms = now;
    self->rate[self->rate_next].records = self->totals.records;
    self->rate_next = (self->rate_next + 1) % WRK_RATE_SAMPLES;
    if (self->rate_n < WRK_RATE_SAMPLES)
        self->rate_n++;
    //  The oldest sample still inside the window.
    size_t first =
        (self->rate_next + WRK_RATE_SAMPLES - self->rate_n) % WRK_RATE_SAMPLES;
    for (size_t k = 0; k < self->rate_n; k++) {
        size_t i = (first + k) % WRK_RATE_SAMPLES;
        if (now - self->rate[i].ms > WRK_RATE_WINDOW_MS)
            continue;
        if (self->rate[i].ms >= now)
            return 0;
        return (double)(self->totals.records - self->rate[i].records) * 1000.0 /
               (double)(now - self->rate[i].ms);
    }
    return 0;
}

//  The counters: jobs by outcome, records, what the consumers fetched.
static void
s_counters (wrk_metrics_t *self, FILE *f, const wrk_metrics_live_t *live)
{
    sl_prom_head (f, "sluice_worker_jobs_total", "counter",
                  "Jobs this worker finished, by outcome.");
    fprintf (f,
             "sluice_worker_jobs_total{outcome=\"done\"} %" PRIu64 "\n"
             "sluice_worker_jobs_total{outcome=\"failed\"} %" PRIu64 "\n",
             self->totals.jobs_ok, self->totals.jobs_failed);
    uint64_t marks_written, marks_failed;
    wrk_marks_counts (&marks_written, &marks_failed);
    const struct {
        const char *name, *help;
        uint64_t v;
    } counters[] = {
        {"sluice_worker_records_processed_total",
         "Records handed to the plugin.", self->totals.records},
        {"sluice_worker_records_rejected_total",
         "Records copied to the dead-letter topic.", self->totals.rejected},
        {"sluice_worker_records_emitted_total",
         "Records produced to the output topic.", self->totals.emitted},
        {"sluice_worker_records_retried_total",
         "Per-record retries asked for by the plugin.", self->totals.retried},
        {"sluice_worker_records_lost_total",
         "Offsets deleted by retention before they were read.",
         self->totals.lost},
        {"sluice_worker_fetched_records_total",
         "Records the worker's consumers fetched from Kafka (librdkafka "
         "statistics rxmsgs: prefetch and records read again included).",
         live->fetched},
        {"sluice_worker_fetched_bytes_total",
         "Bytes the worker's consumers received from Kafka brokers "
         "(librdkafka statistics rx_bytes).",
         live->fetched_bytes},
        {"sluice_worker_fetch_wakeups_total",
         "Times a consumer had stopped fetching at a full queue "
         "(queued.min.messages or queued.max.messages.kbytes) and the "
         "worker woke it once the plugin had consumed half of it.",
         live->wakes},
        {"sluice_worker_markers_written_total",
         "Completion markers handed to the marker producer "
         "(--state-topic, without --exactly-once).",
         marks_written},
        {"sluice_worker_markers_failed_total",
         "Completion markers the state topic refused.", marks_failed},
        {"sluice_worker_txn_producer_resets_total",
         "Transactional producers (--exactly-once) replaced after a fatal "
         "failure that was not fencing (librdkafka 2.0.2 refusing an "
         "abort, issue #4849).",
         wrk_output_txn_resets ()}};
    for (size_t i = 0; i < sizeof counters / sizeof counters[0]; i++)
        sl_prom_counter (f, counters[i].name, counters[i].help, counters[i].v);
}

//  The time counters: inside the plugin, waiting for Kafka.
static void
s_seconds (wrk_metrics_t *self, FILE *f)
{
    const struct {
        const char *name, *help;
        uint64_t us;
    } seconds[] = {
        {"sluice_worker_plugin_seconds_total",
         "Time inside the plugin's process calls.", self->totals.plugin_us},
        {"sluice_worker_fetch_seconds_total",
         "Time waiting for records from Kafka (the consumer's queue).",
         self->totals.fetch_us},
        {"sluice_worker_flush_seconds_total",
         "Time waiting at the end of jobs for Kafka to acknowledge the "
         "records produced (output and dead letters).",
         self->totals.flush_us}};
    for (size_t i = 0; i < sizeof seconds / sizeof seconds[0]; i++)
        sl_prom_counter_seconds (f, seconds[i].name, seconds[i].help,
                                 seconds[i].us);
}

//  Write the page.
void
wrk_metrics_render (wrk_metrics_t *self, FILE *f,
                    const wrk_metrics_live_t *live, int64_t now)
{
    s_counters (self, f, live);
    s_seconds (self, f);
    char help[128];
    snprintf (help, sizeof help,
              "Records processed per second over the last %d s (counted "
              "when a job ends).",
              WRK_RATE_WINDOW_MS / 1000);
    sl_prom_gauge (f, "sluice_worker_records_per_second", help,
                   s_rate (self, now));
    sl_prom_counter_seconds (f, "sluice_worker_busy_seconds_total",
                             "Time spent running jobs (fetch, plugin, "
                             "produce, flush).",
                             self->totals.busy_us);
    sl_prom_gauge (f, "sluice_worker_schedulers_connected",
                   "Schedulers this worker is announced to and hears from.",
                   (double)live->connected);
    sl_prom_gauge (f, "sluice_worker_job_running",
                   "Jobs running now (at most --concurrency).",
                   (double)live->running);
    sl_prom_gauge (f, "sluice_worker_key_waiting_records",
                   "Records of keyed jobs (--order key) read and not run "
                   "yet: most wait for an earlier record of their key.",
                   (double)live->key_waiting);
}

//  Render the page and readiness, and hand them to the HTTP thread.
void
wrk_metrics_publish (wrk_metrics_t *self, sl_http_t *http,
                     const wrk_metrics_live_t *live)
{
    char *page = NULL;
    size_t len = 0;
    FILE *f = open_memstream (&page, &len);
    if (!f)
        return;
    wrk_metrics_render (self, f, live, sl_now_ms ());
    fclose (f);
    sl_http_publish (http, page, len, live->connected > 0 && !live->stopping,
                     live->stopping ? "stopping"
                                    : "not connected to a scheduler");
    free (page);
}
