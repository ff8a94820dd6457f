/*  sched_drain - draining a backlog (--drain): each partition's target
    (its high watermark when the scheduler took it), whether every target
    is committed, the progress bar or lines, the closing summary, and the
    linger after it (late workers are told the drain is finished instead
    of waiting for a scheduler that is gone).

    Also the throughput estimate (records/s, smoothed) that the progress
    ETA and the metrics' drain ETA use, drain or not.
*/
#ifndef SCHED_DRAIN_H_INCLUDED
#define SCHED_DRAIN_H_INCLUDED

#include <czmq.h>
#include <stdbool.h>
#include "sched_config.h"
#include "sched_model.h"
#include "sched_stats.h"
#include "sched_workers.h"

typedef struct {
    const sched_config_t *cfg;
    sched_model_t *model;
    sched_stats_t *stats;
    sched_workers_t *workers;
    bool done;          /* every target committed and acknowledged       */
    int64_t started_ms; /* for the summary's rate                         */
    int64_t progress_next_ms;
    int64_t linger_until; /* drain over: HELLOs get BYE until then          */
    zhashx_t *told;       /* names of workers told so (a set)               */
    uint64_t rate_last_records; /* records_done at the last rate sample     */
    int64_t rate_last_ms;
    double rate; /* records/s, smoothed                                    */
} sched_drain_t;

/*  Set up; the fields before `done` must be set.                          */
void sched_drain_init (sched_drain_t *self, int64_t now);

/*  Free what it holds.                                                   */
void sched_drain_fini (sched_drain_t *self);

/*  True when the group's assignment stands (settled) and every owned
    partition is committed, and acknowledged, up to its target; once true,
    always true. *commit_now is set when a partition reached its target
    but that was not committed yet: commit now rather than on the next
    tick, so the drain ends one round trip after its last DONE.          */
bool sched_drain_finished (sched_drain_t *self, bool settled, bool *commit_now);

/*  The drain is finished: true once the scheduler may exit. With
    --drain-linger-ms it first tells every worker the drain is finished
    and lingers that long, or until --drain-linger-workers distinct
    workers were told; the chart's drain Jobs know how many worker pods
    there are, so they complete seconds after the last commit instead of
    after the whole linger.                                               */
bool sched_drain_linger (sched_drain_t *self, int64_t now);

/*  True while lingering after a drain: a HELLO gets BYE finished.        */
bool sched_drain_lingering (const sched_drain_t *self);

/*  The worker `name` was told the drain is finished.                     */
void sched_drain_told (sched_drain_t *self, const char *name, int64_t now);

/*  Sample throughput into self->rate, at most once a second.             */
void sched_drain_rate (sched_drain_t *self, int64_t now);

/*  Seconds to work off `lag` at the recent rate (NaN: no throughput).    */
double sched_drain_eta (const sched_drain_t *self, int64_t lag);

/*  Print drain progress (--progress) when due, or the summary (final).   */
void sched_drain_progress (sched_drain_t *self, int64_t now, bool final);

#endif
