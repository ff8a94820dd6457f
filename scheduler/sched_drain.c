/*  sched_drain - draining a backlog. See sched_drain.h.
 */
#include "sched_drain.h"

#include <inttypes.h>
#include <math.h>
#include <unistd.h>
#include "sl_log.h"

//  Set up; see sched_drain.h.
void
sched_drain_init (sched_drain_t *self, int64_t now)
{
    self->started_ms = now;
}

//  Free what it holds; see sched_drain.h.
void
sched_drain_fini (sched_drain_t *self)
{
    zhashx_destroy (&self->told);
}

//  Total and done records toward the drain targets.
static void
s_totals (sched_drain_t *self, uint64_t *total, uint64_t *done)
{
    *total = *done = 0;
    zhashx_t *parts = self->model->parts;
    for (sched_part_t *p = zhashx_first (parts); p; p = zhashx_next (parts)) {
        if (p->drain.target < 0 || p->drain.target <= p->drain.start)
            continue;
        int64_t committed = sched_window_committed (p->window);
        if (committed > p->drain.target)
            committed = p->drain.target;
        *total += (uint64_t)(p->drain.target - p->drain.start);
        *done += (uint64_t)(committed - p->drain.start);
    }
}

//  Whether the drain is finished; see sched_drain.h.
bool
sched_drain_finished (sched_drain_t *self, bool settled, bool *commit_now)
{
    *commit_now = false;
    if (self->done)
        return true;
    if (!settled)
        return false;
    zhashx_t *parts = self->model->parts;
    for (sched_part_t *p = zhashx_first (parts); p; p = zhashx_next (parts)) {
        if (p->drain.target >= 0 && p->commit.acked >= p->drain.target)
            continue;
        *commit_now = p->drain.target >= 0 &&
                      sched_window_committed (p->window) >= p->drain.target &&
                      p->commit.sent != sched_window_committed (p->window);
        return false;
    }
    self->done = true;
    return true;
}

//  Linger after a finished drain; see sched_drain.h.
bool
sched_drain_linger (sched_drain_t *self, int64_t now)
{
    const sched_config_t *cfg = self->cfg;
    if (cfg->drain_linger_ms <= 0)
        return true;
    if (!self->linger_until) {
        self->linger_until = now + cfg->drain_linger_ms;
        if (cfg->drain_linger_workers > 0)
            sl_info (
                "drain finished, telling workers that come late for %" PRId64
                " ms (--drain-linger-ms) or until %" PRId64
                " have been told (--drain-linger-workers)",
                cfg->drain_linger_ms, cfg->drain_linger_workers);
        else
            sl_info (
                "drain finished, telling workers that come late for %" PRId64
                " ms (--drain-linger-ms)",
                cfg->drain_linger_ms);
        sched_workers_bye_all (self->workers, true);
        zhashx_t *workers = self->model->workers;
        for (sched_worker_t *w = zhashx_first (workers); w;
             w = zhashx_next (workers))
            sched_drain_told (self, *w->name ? w->name : w->key, now);
    }
    return now >= self->linger_until;
}

//  Whether lingering; see sched_drain.h.
bool
sched_drain_lingering (const sched_drain_t *self)
{
    return self->linger_until != 0;
}

//  A worker was told; see sched_drain.h. With --drain-linger-workers, the
//  linger ends once that many distinct workers were.
void
sched_drain_told (sched_drain_t *self, const char *name, int64_t now)
{
    int64_t want = self->cfg->drain_linger_workers;
    if (want <= 0 || !self->linger_until)
        return;
    if (!self->told && !(self->told = zhashx_new ()))
        return;
    zhashx_insert (self->told, name, (void *)1);
    int64_t told = (int64_t)zhashx_size (self->told);
    if (told >= want && self->linger_until > now) {
        sl_info ("told %" PRId64 " workers the drain is finished "
                 "(--drain-linger-workers): not lingering longer",
                 told);
        self->linger_until = now;
    }
}

//  Sample throughput; see sched_drain.h.
void
sched_drain_rate (sched_drain_t *self, int64_t now)
{
    if (self->rate_last_ms && now - self->rate_last_ms < 1000)
        return;
    uint64_t records = self->stats->records_done;
    if (self->rate_last_ms) {
        double dt = (double)(now - self->rate_last_ms) / 1000.0;
        double inst = (double)(records - self->rate_last_records) / dt;
        self->rate = self->rate > 0 ? 0.7 * self->rate + 0.3 * inst : inst;
    }
    self->rate_last_ms = now;
    self->rate_last_records = records;
}

//  Seconds to drain lag; see sched_drain.h.
double
sched_drain_eta (const sched_drain_t *self, int64_t lag)
{
    if (lag == 0)
        return 0;
    return self->rate > 0.5 ? (double)lag / self->rate : NAN;
}

//  Format a duration for humans.
static void
s_fmt_eta (double seconds, char *buf, size_t size)
{
    if (!isfinite (seconds) || seconds < 0)
        snprintf (buf, size, "--");
    else if (seconds < 90)
        snprintf (buf, size, "%.0fs", seconds);
    else if (seconds < 5400)
        snprintf (buf, size, "%.0fm%02.0fs", floor (seconds / 60),
                  fmod (seconds, 60));
    else
        snprintf (buf, size, "%.1fh", seconds / 3600);
}

//  The closing line: what the drain did.
static void
s_summary (sched_drain_t *self, int64_t now, uint64_t total, uint64_t done)
{
    const sched_stats_t *st = self->stats;
    double elapsed = (double)(now - self->started_ms) / 1000.0;
    sl_info ("drain %s records=%" PRIu64 " total=%" PRIu64
             " seconds=%.2f rate=%.0f jobs=%" PRIu64 " retried=%" PRIu64
             " expired=%" PRIu64 " bisected=%" PRIu64 " dead_lettered=%" PRIu64
             " rejected=%" PRIu64 " lost=%" PRIu64,
             self->done ? "complete" : "stopped", done, total, elapsed,
             elapsed > 0 ? (double)st->records_done / elapsed : 0,
             st->jobs_done, st->jobs_retried, st->jobs_expired,
             st->jobs_bisected, st->jobs_dead_lettered, st->records_rejected,
             st->records_lost);
}

//  The bar on a terminal, redrawn in place.
static void
s_bar (sched_drain_t *self, double pct, uint64_t done, uint64_t total,
       const char *eta, size_t workers)
{
    char gauge[31];
    int fill = (int)(pct * 30 / 100);
    for (int i = 0; i < 30; i++)
        gauge[i] = i < fill ? '#' : '.';
    gauge[30] = 0;
    fprintf (stderr,
             "\r[%s] %5.1f%% %" PRIu64 "/%" PRIu64
             " records  %.0f rec/s  ETA %s  workers %zu   ",
             gauge, pct, done, total, self->rate, eta, workers);
    fflush (stderr);
}

//  Print drain progress; see sched_drain.h.
void
sched_drain_progress (sched_drain_t *self, int64_t now, bool final)
{
    const sched_config_t *cfg = self->cfg;
    //  off hides the progress, not the summary: scripts read it.
    if (!cfg->drain || (streq (cfg->progress, "off") && !final))
        return;
    //  auto: a bar on a terminal, unless the lines are JSON for a machine.
    bool bar = streq (cfg->progress, "bar") ||
               (streq (cfg->progress, "auto") && isatty (STDERR_FILENO) &&
                !sl_log_is_json ());
    if (!final && now < self->progress_next_ms)
        return;
    self->progress_next_ms = now + (bar ? 250 : 5000);
    uint64_t total, done;
    s_totals (self, &total, &done);
    if (final) {
        if (bar)
            fprintf (stderr, "\n");
        s_summary (self, now, total, done);
        return;
    }
    double pct = total ? 100.0 * (double)done / (double)total : 0;
    char eta[32];
    //  The same estimate as the gauge: a rate that decayed to almost
    //  nothing (nothing done for a while) is no rate, not an ETA of 1e22 h.
    s_fmt_eta (sched_drain_eta (self, (int64_t)(total - done)), eta,
               sizeof eta);
    size_t workers = zhashx_size (self->model->workers);
    if (bar)
        s_bar (self, pct, done, total, eta, workers);
    else
        sl_info ("drain progress done=%" PRIu64 " total=%" PRIu64
                 " percent=%.1f rate=%.0f eta=%s workers=%zu",
                 done, total, pct, self->rate, eta, workers);
}
