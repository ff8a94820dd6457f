/*  sched_done - what a DONE from a worker means for the job it names.

    A DONE carries the job's id and its range. The id is the scheduler's
    (unique for its lifetime); the range is what the worker says it did.
    They must agree:
    - an id the book no longer holds, or holds for another partition or
      another holder, is a late DONE (a lease expired and the job went to
      someone else, or the job was bisected since): judged by its range
      alone, which the window accepts once;
    - an id held by this worker with another range is refused: no worker
      that ran the job sends it (a confused or hostile peer), and judging
      it by its range could complete offsets nobody processed. The job
      stays with its holder until its DONE or its lease.
*/
#ifndef SCHED_DONE_H_INCLUDED
#define SCHED_DONE_H_INCLUDED

#include <stdint.h>
#include "sched_model.h"

typedef enum {
    SCHED_DONE_JOB,    /* the job it names: account it and forget the job */
    SCHED_DONE_RANGE,  /* a late DONE: judged by its range alone        */
    SCHED_DONE_REFUSED /* the id names this worker's job, the range not  */
} sched_done_t;

/*  The verdict on a DONE from worker for partition part, range
    [start, end), naming job (NULL if the id is unknown).                */
sched_done_t sched_done_judge (const sched_job_t *job, const sched_part_t *part,
                               const sched_worker_t *worker, int64_t start,
                               int64_t end);

#endif
