/*  sched_done - what a DONE means. See sched_done.h.
 */
#include "sched_done.h"

//  Judge a DONE; see sched_done.h.
sched_done_t
sched_done_judge (const sched_job_t *job, const sched_part_t *part,
                  const sched_worker_t *worker, int64_t start, int64_t end)
{
    if (!job || job->part != part || job->worker != worker)
        return SCHED_DONE_RANGE;
    if (job->start != start || job->end != end)
        return SCHED_DONE_REFUSED;
    return SCHED_DONE_JOB;
}
