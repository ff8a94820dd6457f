/*  sched_wire - the messages the scheduler sends to workers: JOB, CANCEL,
    BYE and HEARTBEAT over the ROUTER socket (proto/sluice.proto).

    Sending never blocks (the router's high-water mark is large, and a
    peer that is gone is dropped by libzmq). Each returns 0, or -1 if the
    message could not be queued.
*/
#ifndef SCHED_WIRE_H_INCLUDED
#define SCHED_WIRE_H_INCLUDED

#include <czmq.h>
#include <stdbool.h>
#include "sched_model.h"

/*  Send job to worker, with a lease of lease_ms: at once (0, or -1), or,
    to a worker that reads batches, into its outbox, which leaves as one
    frame at sched_wire_flush: then 1 when the worker was not yet on
    *pending, which it joins (never -1: a failed send marks it
    out_failed, for the flush to report).                                 */
int sched_wire_job (zsock_t *router, sched_worker_t *worker,
                    const sched_job_t *job, int64_t lease_ms,
                    sched_worker_t **pending);

/*  Send each pending worker's outbox and empty *pending. Calls dropped
    (with arg) for each one whose sends failed, after all are sent.      */
void sched_wire_flush (zsock_t *router, sched_worker_t **pending,
                       void (*dropped) (void *arg, sched_worker_t *worker),
                       void *arg);

/*  Tell a job's holder to stop working on it.                            */
int sched_wire_cancel (zsock_t *router, const sched_job_t *job,
                       const char *reason);

/*  Tell the peer rid to go away (finished: the drain it serves is over)
    or, with rehello, to announce itself again.                           */
int sched_wire_bye (zsock_t *router, zframe_t *rid, const char *reason,
                    bool rehello, bool finished);

/*  A heartbeat to one worker.                                            */
int sched_wire_heartbeat (zsock_t *router, const sched_worker_t *worker);

#endif
