/*  sched_stats - the scheduler's counters and histograms. See sched_stats.h.
 */
#include "sched_stats.h"

#include <string.h>

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

//  Zero the counters, set up the histograms; see sched_stats.h.
void
sched_stats_init (sched_stats_t *self)
{
    memset (self, 0, sizeof *self);
    sl_prom_hist_init (&self->job_seconds, s_job_bounds,
                       S_COUNT (s_job_bounds));
    sl_prom_hist_init (&self->commit_seconds, s_commit_bounds,
                       S_COUNT (s_commit_bounds));
    sl_prom_hist_init (&self->job_records, s_records_bounds,
                       S_COUNT (s_records_bounds));
}

//  Observe a job's duration; see sched_stats.h.
void
sched_stats_job_seconds (sched_stats_t *self, double seconds)
{
    sl_prom_observe (&self->job_seconds, seconds < 0 ? 0 : seconds);
}

//  Observe a commit's latency; see sched_stats.h.
void
sched_stats_commit_latency (sched_stats_t *self, double seconds)
{
    sl_prom_observe (&self->commit_seconds, seconds < 0 ? 0 : seconds);
}

//  Observe a job's record count; see sched_stats.h.
void
sched_stats_job_records (sched_stats_t *self, uint64_t records)
{
    sl_prom_observe (&self->job_records, (double)records);
}
