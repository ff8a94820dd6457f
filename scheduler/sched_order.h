/*  sched_order - key order (--order key, issue 21): the scheduler's side
    of KEYS, GATE and RELEASE.

    Each partition's window keeps a key gate (sched_keys, in step with its
    job entries: sched_window_keys_on). A worker that has read a keyed
    job's range reports its key hashes (KEYS); the scheduler answers with
    those that wait for an earlier unfinished range (GATE), and frees them
    as the earlier ranges complete (RELEASE), to whichever worker holds
    the job then. A job that leaves its holder (returned, its lease over,
    its worker gone) is no longer gated: its next holder reports again.

    The scheduler reads no key: only the workers' 64-bit hashes.
*/
#ifndef SCHED_ORDER_H_INCLUDED
#define SCHED_ORDER_H_INCLUDED

#include <czmq.h>
#include <stdint.h>
#include "sched_model.h"

typedef struct {
    sched_model_t *model;
    zsock_t *router;
    uint64_t *buf; /* SL_PROTO_MAX_KEYS hashes, for GATE and RELEASE    */
    /*  Counters, for /metrics.                                          */
    uint64_t gates;        /* GATEs sent                                 */
    uint64_t gates_held;   /* ... that held some keys back               */
    uint64_t releases;     /* RELEASEs sent                              */
    uint64_t keys_done;    /* keys given up early (KEYS done)           */
    uint64_t held_peak;    /* most key hashes one partition's gate held */
    uint64_t keys_refused; /* KEYS ignored: not a job of that worker, or
                              not the job's range, or not sorted       */
} sched_order_t;

/*  Set up (model and router are set by the caller). 0, or -1 when out
    of memory.                                                           */
int sched_order_init (sched_order_t *self);
void sched_order_fini (sched_order_t *self);

/*  KEYS from worker: answer GATE, and RELEASE to other jobs of the
    partition that the report frees.                                      */
void sched_order_keys (sched_order_t *self, sched_worker_t *worker,
                       const Sluice__Keys *keys);

/*  Ranges of part completed (or were split, or reported): RELEASE what
    the gate now frees to each gated job's holder.                        */
void sched_order_release (sched_order_t *self, sched_part_t *part);

/*  The gate's state now, for /metrics: jobs gated with keys still held
    back, those keys, and the longest such job has waited (ms).           */
void sched_order_waiting (sched_order_t *self, int64_t now, uint64_t *jobs,
                          uint64_t *keys, int64_t *longest_ms);

#endif
