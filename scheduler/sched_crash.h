/*  sched_crash - a supervised worker died: whose fault was it?

    A worker run under its supervising parent (HELLO.supervised) does not
    die silently: the parent reads where each of its executor lanes was
    (wrk_crash) and sends a CRASH naming, per job begun, whether that lane
    was at fault and on which records its plugin was. So when such a
    worker's connection closes (sched_conn sees it at once), the jobs it
    had begun are not charged yet: they are held back (suspect) for up to
    SCHED_CRASH_WAIT_MS (the jobs it had not begun too: the message
    saying it began one may have died with it), and the report decides:

    - a lane not at fault was a bystander: its job goes back with no
      attempt spent;
    - a lane at fault inside a process call of [start, end): the records
      before and after go back as jobs of their own, uncharged, and
      [start, end) alone is charged. A single record keeps failing that
      way up to --max-attempts, then is dead-lettered with the signal in
      its reason ("plugin crashed: SIGSEGV"). Several records (the plugin
      took them in one call) come back `careful`: sent with one record a
      call, so the next crash names the record. A record pinned out of a
      careful range counts that range's crashes as its own;
    - a lane at fault elsewhere (job_begin, the worker's own code), or a
      death the parent could not pin on a lane (SIGKILL from outside, an
      OOM kill, a thread that is no lane's): the job is charged as a lost
      worker's job always was.

    No report in time (the parent died too, the report was lost): the
    job is charged as before. A report for a job that is not suspect and
    not held by the named worker, or for records outside the job, is
    ignored: it cannot charge anything else.
*/
#ifndef SCHED_CRASH_H_INCLUDED
#define SCHED_CRASH_H_INCLUDED

#include <czmq.h>
#include <stdbool.h>
#include <stdint.h>
#include "sched_failure.h"
#include "sched_model.h"
#include "sched_stats.h"
#include "sl_proto.h"

/*  The longest a dead supervised worker's begun jobs wait for its
    parent's CRASH before they are charged without it.                    */
#define SCHED_CRASH_WAIT_MS 2000

typedef struct {
    sched_model_t *model;
    sched_failure_t *failure;
    sched_stats_t *stats;
    int64_t max_attempts;
    zlistx_t *suspects; /* s_suspect_t *, in the order they were held     */
} sched_crash_t;

/*  Set up / free. sched_crash_init returns 0, or -1 out of memory.      */
int sched_crash_init (sched_crash_t *self);
void sched_crash_fini (sched_crash_t *self);

/*  A supervised worker is gone (its connection closed, or it went
    silent): the jobs it began wait for its parent's report; the others go
    back uncharged. The caller then removes the worker.                   */
void sched_crash_worker_lost (sched_crash_t *self, sched_worker_t *worker,
                              const char *reason, int64_t now);

/*  A CRASH for one lane's job, from the parent of the worker named
    worker_id: apply it (see above). Returns true if it was applied.     */
bool sched_crash_report (sched_crash_t *self, const char *worker_id,
                         const char *cause, const Sluice__CrashLane *lane,
                         int64_t now);

/*  A report from worker_id's parent was applied: its suspects the report
    did not name (they had not begun) go back uncharged.                 */
void sched_crash_settle (sched_crash_t *self, const char *worker_id);

/*  The suspects whose report did not come by now: charged if we had heard
    them begin, back uncharged if not.                                    */
void sched_crash_expire (sched_crash_t *self, int64_t now);

/*  The attempt the records [start, end) a plugin crashed on start from,
    cut out of a job of [job_start, job_end) at job_attempt (careful: a
    range sent one record a call): a range that is the job's own, or a
    record out of a careful range, keeps the job's count; anything else
    starts afresh at 1. Pure; tested in tests/unit/scheduler.            */
uint32_t sched_crash_attempt (int64_t start, int64_t end, int64_t job_start,
                              int64_t job_end, uint32_t job_attempt,
                              bool careful);

#endif
