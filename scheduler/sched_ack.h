/*  sched_ack - a job's end heard: a worker's DONE, or a range the state
    topic says is complete. Part of the scheduler's wiring (scheduler.c);
    see sched_ack.c.
*/
#ifndef SCHED_ACK_H_INCLUDED
#define SCHED_ACK_H_INCLUDED

#include <stdbool.h>
#include "sched_model.h"
#include "sluice.pb-c.h"

struct _scheduler_t; /* the whole scheduler (sched_state.h)             */

/*  DONE from worker: the job ended; credit comes back with it.          */
void sched_ack_done (struct _scheduler_t *self, sched_worker_t *worker,
                     Sluice__Done *done);

/*  [start, end) of part is complete (a marker found after fencing: as a
    DONE without a job). arg is the scheduler (sched_eos_done_fn).        */
void sched_ack_range (void *arg, sched_part_t *part, int64_t start,
                      int64_t end);

/*  True when every owned partition is committed up to its drain target;
    commits at once a partition that just reached it.                    */
bool sched_ack_drain_finished (struct _scheduler_t *self);

#endif
