/*  wrk_tally - what one job did, and its DONE. See wrk_tally.h.         */
#include "wrk_tally.h"

//  The DONE for a job, packed.
zframe_t *
wrk_tally_done (const wrk_tally_t *t, const Sluice__Job *job,
                int64_t duration_us)
{
    Sluice__Range ranges[WRK_RANGE_LOST_MAX];
    Sluice__Range *lost[WRK_RANGE_LOST_MAX];
    for (size_t i = 0; i < t->lost.n; i++) {
        sluice__range__init (&ranges[i]);
        ranges[i].start = t->lost.ranges[i].start;
        ranges[i].end = t->lost.ranges[i].end;
        lost[i] = &ranges[i];
    }
    Sluice__Done done = SLUICE__DONE__INIT;
    done.job_id = job->job_id;
    done.topic = job->topic;
    done.partition = job->partition;
    done.start = job->start;
    done.end = job->end;
    done.status = t->failed ? SLUICE__JOB_STATUS__JOB_STATUS_FAILED
                            : SLUICE__JOB_STATUS__JOB_STATUS_OK;
    done.error = (char *)t->error;
    if (t->failed) {
        done.fault = t->fault ? (Sluice__FaultClass)t->fault
                              : SLUICE__FAULT_CLASS__FAULT_CLASS_RECORD;
        done.fault_code = (char *)t->fault_code;
        done.fault_target = (char *)t->fault_target;
        done.fault_side = (Sluice__FaultSide)t->fault_side;
    }
    done.records = t->records;
    done.rejected = t->rejected;
    done.lost = t->lost.offsets;
    done.n_lost_ranges = t->lost.n;
    done.lost_ranges = lost;
    done.emitted = t->emitted;
    done.retried = t->retried;
    done.duration_us = (uint64_t)duration_us;
    done.plugin_us = (uint64_t)(t->plugin_ns / 1000);
    done.fetch_us = (uint64_t)(t->fetch_ns / 1000);
    done.flush_us = (uint64_t)(t->flush_ns / 1000);
    zframe_t *frame = zframe_new (NULL, sluice__done__get_packed_size (&done));
    if (frame)
        sluice__done__pack (&done, zframe_data (frame));
    return frame;
}
