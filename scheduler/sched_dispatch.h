/*  sched_dispatch - which job goes to which worker next.

    State in, decision out: sched_dispatch_next looks at the book and says
    which worker gets which partition's work (a queued job, or a new one to
    cut); the caller sends it and reports back with sched_dispatch_sent,
    which keeps read-on affinity: where each of a worker's lanes last
    ended. Nothing here sends. Tested without sockets in
    tests/unit/scheduler/test_dispatch.c.

    The rules, in the order they apply:
    - worker: the one with the most credit (ties: the one served longest
      ago), among those this pass has not found without work;
    - partition, for that worker: a queued job that may go now first
      (retries, halves, returned jobs, in each partition's cut order); then one
   that waited more than SCHED_DISPATCH_STARVED_MS with work to cut (so none
   starves); then, if one of the worker's lanes reads on nothing, a partition
      nobody follows (so --concurrency lanes each read their own); then a
      partition whose next job starts where one of its lanes ended (it
      reads on without a seek; of several, the one with the fewest jobs in
      flight); then the one with the most records not yet handed out, among
      those no other worker follows; then one another worker follows, but
      only when joining pays (the join rule, sched_dispatch_join_pays);
    - the worker's lane a job goes through: the one whose last job ended where
   it starts, else one on its partition, else one that reads on nothing, else
   the one used longest ago.

    Following: the worker that got a partition's last job follows it while
    nothing was cut there since and that worker was not sent elsewhere;
    taking another worker's next job makes both read the same records.
*/
#ifndef SCHED_DISPATCH_H_INCLUDED
#define SCHED_DISPATCH_H_INCLUDED

#include <stdbool.h>
#include <stdint.h>
#include <czmq.h>
#include "sched_model.h"

/*  A partition with work that got nothing this long goes first.          */
#define SCHED_DISPATCH_STARVED_MS 1000
/*  A partition another worker follows is joined only if that saves more
    than this: the joiner's first job pays a seek and a fetch. What was
    last measured there is trusted for SCHED_JOIN_FRESH_MS.              */
#define SCHED_JOIN_MIN_MS   25
#define SCHED_JOIN_FRESH_MS 1000

typedef struct {
    sched_model_t *model;
    uint64_t pass;          /* dispatch passes begun, for worker->passed     */
    bool strangers_done;    /* this pass found nothing for a worker following
                               nothing: nor would it for any other such one */
    double work_us_per_off; /* as sched_part_t's follow, over all of them */
    int64_t work_seen_ms;
} sched_dispatch_t;

/*  A decision: send worker the queued `job` of `part`, or, when job is
    NULL, a new job cut from part (sched_dispatch_cut).                   */
typedef struct {
    sched_worker_t *worker;
    sched_part_t *part;
    sched_job_t *job;
} sched_pick_t;

/*  A whole dispatch pass at now: decide (below), send (sched_wire: to a
    worker that reads batches, its jobs of the pass in one frame at the
    end) and account, each job with a lease of lease_ms. A worker whose
    jobs could not be sent is handed to dropped (with arg), which must
    forget it. Returns the jobs sent.                                     */
uint64_t sched_dispatch_run (
    sched_dispatch_t *self, zsock_t *router, int64_t now, int64_t lease_ms,
    void (*dropped) (void *arg, sched_worker_t *worker), void *arg);

/*  Begin a dispatch pass: every worker with credit is looked at again.  */
void sched_dispatch_begin (sched_dispatch_t *self);

/*  The next job to send in this pass: true with pick filled in, false
    when no worker with credit has work.                                  */
bool sched_dispatch_next (sched_dispatch_t *self, int64_t now,
                          sched_pick_t *pick);

/*  Cut the next job of part and queue it. NULL if there is nothing to cut
    or memory ran out.                                                    */
sched_job_t *sched_dispatch_cut (sched_dispatch_t *self, sched_part_t *part);

/*  The job the caller just sent to worker went out at now: it is held with
    a lease of lease_ms, the worker spent a credit, and its lane follows
    the job's partition from the job's end.                               */
void sched_dispatch_sent (sched_dispatch_t *self, sched_worker_t *worker,
                          sched_job_t *job, int64_t now, int64_t lease_ms);

/*  A job done on part spent us_per_off in the plugin and its acks per
    offset (the measure the join rule weighs).                            */
void sched_dispatch_work_seen (sched_dispatch_t *self, sched_part_t *part,
                               double us_per_off, int64_t now);

/*  A worker announced `lanes` executor lanes (0: one): each reads on
    where its last job ended, at most SCHED_LANES_MAX; lanes beyond are
    let go.                 */
void sched_dispatch_lanes (sched_worker_t *worker, uint32_t lanes);

/*  The join rule: true if a second worker on part, which another worker
    follows, would get its `lag` records done sooner. Two workers taking
    turns on a partition each read all of it (both read on through the
    other's jobs rather than seek), so all a joiner takes over is half the
    plugin's work and its output's acks; fetching, the whole cost of a
    noop drain, is only doubled. Joining pays when that half is worth
    SCHED_JOIN_MIN_MS. Without a recent measure on the partition the one
    of any partition stands in (every worker runs the same plugin);
    without any, joining is assumed to pay.                               */
bool sched_dispatch_join_pays (const sched_dispatch_t *self,
                               const sched_part_t *part, int64_t lag,
                               int64_t now);

#endif
