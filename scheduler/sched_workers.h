/*  sched_workers - the workers the scheduler knows: HELLO (a bounded
    registry, one read-on lane per executor lane), credit, heartbeats and
   silence, and letting a worker go (its jobs back to the queue per the failure
    policy).

    A worker is known by its routing id (as hex, the registry's key); its
    name is what it calls itself. A HELLO from a known worker means it
    forgot its jobs (it lost us for a while): they are taken back without
    spending an attempt.
*/
#ifndef SCHED_WORKERS_H_INCLUDED
#define SCHED_WORKERS_H_INCLUDED

#include <czmq.h>
#include "sched_conn.h"
#include "sched_crash.h"
#include "sched_eos.h"
#include "sched_failure.h"
#include "sched_model.h"
#include "sl_proto.h"

/*  Room for a routing id (at most 255 bytes) as hex.                     */
#define SCHED_KEY_MAX (2 * 255 + 1)

typedef struct {
    sched_model_t *model;
    sched_failure_t *failure;
    sched_crash_t *crash;
    sched_eos_t *eos; /* --exactly-once: who may join                   */
    sched_stats_t *stats;
    zsock_t *router;
    int64_t max_workers;     /* HELLOs beyond this many are refused        */
    uint64_t hellos_refused; /* HELLOs beyond --max-workers               */
    int64_t refused_log_ms;  /* last time we said so                       */
} sched_workers_t;

/*  The routing id rid as hex, written into key (no allocation: this runs
    for every message). Returns key.                                      */
const char *sched_workers_key (const void *rid, size_t size,
                               char key[SCHED_KEY_MAX]);

/*  HELLO from rid (key its hex): register the worker, or take back the
    jobs of one known already. Beyond --max-workers it is refused with a
    BYE. Returns the worker, or NULL if refused or out of memory.         */
sched_worker_t *sched_workers_hello (sched_workers_t *self, zframe_t *rid,
                                     const char *key,
                                     const Sluice__Hello *hello, int64_t now);

/*  A worker gave credits back (CREDIT, or with a DONE): its credit never
    exceeds what its HELLO granted (its --credits).                      */
void sched_workers_credit (sched_worker_t *worker, uint32_t credits);

/*  A worker whose jobs could not be sent is dropped (arg: the
    sched_workers_t; for sched_dispatch_run).                             */
void sched_workers_send_failed (void *arg, sched_worker_t *worker);

/*  RETURN: worker gives a job back unfinished (it is stopping); it is
    queued again without an attempt counted.                              */
void sched_workers_return (sched_workers_t *self, sched_worker_t *worker,
                           const Sluice__Return *ret);

/*  PROGRESS: worker's job began, or goes on; its lease of lease_ms runs
    from now.                                                             */
void sched_workers_progress (sched_workers_t *self, sched_worker_t *worker,
                             const Sluice__Progress *progress,
                             int64_t lease_ms);

/*  Forget a worker: its jobs fail for reason (blamed only if count_attempt
    and it had begun them) and go back to the queue. A supervised worker's
    begun jobs wait for its parent's CRASH first (sched_crash).           */
void sched_workers_drop (sched_workers_t *self, sched_worker_t *worker,
                         const char *reason, bool count_attempt, int64_t now);

/*  A connection closed (sched_conn): drop the worker it was, at once.    */
void sched_workers_closed (sched_workers_t *self,
                           const sched_conn_closed_t *closed, int64_t now);

/*  A supervising parent's CRASH: the worker it names is gone (dropped if
    we did not know yet), and each lane's report is applied
    (sched_crash_report).                                                 */
void sched_workers_crash (sched_workers_t *self, const Sluice__Crash *crash,
                          int64_t now);

/*  Heartbeat every worker heard from within limit_ms; drop the others
    (their loss counts against the jobs they had begun).                 */
void sched_workers_heartbeat (sched_workers_t *self, int64_t now,
                              int64_t limit_ms);

/*  The scheduler's own loop stalled for gap ms until now (logged): each
    worker's silence is counted without it (last heard from moves on by
    gap, never past now), and so are leases (sched_failure_forgive).      */
void sched_workers_forgive (sched_workers_t *self, int64_t gap, int64_t now);

/*  Say BYE to every worker: the scheduler stops, or (finished) the drain
    is over.                                                              */
void sched_workers_bye_all (sched_workers_t *self, bool finished);

/*  Take back jobs whose lease (lease_ms) expired: cancel each at its
    holder, then fail it (sched_failure).                                 */
void sched_workers_leases (sched_workers_t *self, int64_t now,
                           int64_t lease_ms);

/*  True for what a known worker says as a worker (not HELLO, a
    supervisor's CRASH or STATUS_REQUEST); with keeps, for what never
    drops it (the worker found for a frame is still valid after it).     */
bool sched_workers_as_worker (Sluice__Envelope__BodyCase body, bool keeps);

#endif
