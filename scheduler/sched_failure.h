/*  sched_failure - what happens to a job that did not complete: the
    failure policy (retry, bisect, dead-letter), leases, and the jobs of a
    worker that is gone.

    The decisions are pure functions of the job and the settings, tested
    without sockets (tests/unit/scheduler/test_failure.c); the rest applies
    them to the book. Nothing here sends: a caller that takes a job back
    from a live worker cancels it there itself.

    The policy, decided:
    - a failure that is not the job's fault (its worker re-announced, gave
      it back, or died holding it before it began) returns it to the queue
      without spending an attempt;
    - otherwise the job is retried at once until it has had --max-attempts;
    - then a range is bisected: each half gets one try before it is split
      again, so a bad offset is found in log2(range) failures; a half of
      one offset gets --max-attempts tries of its own, because the next
      step cannot be undone and a worker that died for another reason
      (killed, evicted, OOM) while holding an innocent record must not
      send it to the DLQ;
    - a single offset out of attempts is dead-lettered: sent again in
      dead-letter mode, where the worker copies it to the DLQ;
    - a dead-letter copy that fails is retried for ever, with a backoff of
      one second per attempt up to 30 s: the record may not be dropped, so
      the only way forward is to copy it;
    - a range that completed meanwhile (a late DONE from another holder)
      cannot be bisected: it goes back to the queue as it is, and the
      completion drops it;
    - a job that failed for its destination, its input or the cluster
      (the worker says INFRA: authorization, unknown topic, timeouts,
      brokers away; on the output's side or the input's) is no record's
      fault: it spends no attempt, is never bisected or
      dead-lettered, and goes back to the queue behind an outage: dispatch
      pauses for a backoff (SCHED_OUTAGE_BACKOFF_MIN_MS) that doubles,
      up to _MAX_MS, each time a job sent after a pause fails too (the
      jobs in flight with the first failure say nothing new); the first
      job done ends the outage. A record bad on its own (too large for the
   output) is the record's fault, as before.
*/
#ifndef SCHED_FAILURE_H_INCLUDED
#define SCHED_FAILURE_H_INCLUDED

#include <stdbool.h>
#include <stdint.h>
#include "sched_model.h"
#include "sched_stats.h"
#include "sl_proto.h"

/*  The longest a failed dead-letter copy waits before its next try.      */
#define SCHED_FAILURE_BACKOFF_MAX_MS 30000
/*  Dispatch pauses this long after a job failed for its destination,
    twice as long after each further one in a row, at most _MAX_MS.       */
#define SCHED_OUTAGE_BACKOFF_MIN_MS 500
#define SCHED_OUTAGE_BACKOFF_MAX_MS 30000

typedef enum {
    SCHED_FAIL_REQUEUE,     /* back to the queue, no attempt spent          */
    SCHED_FAIL_RETRY,       /* the next attempt, after backoff_ms           */
    SCHED_FAIL_DEAD_LETTER, /* one offset out of attempts: copy it to the DLQ */
    SCHED_FAIL_BISECT       /* a range out of attempts: split it in two     */
} sched_fail_action_t;

typedef struct {
    sched_fail_action_t action;
    int64_t backoff_ms; /* RETRY: the earliest it goes out again, from now */
    uint32_t attempt;   /* the job's attempt number from now on           */
} sched_fail_t;

/*  What to do with a job of [start, end) that failed on `attempt` (1 on
    the first try), in dead-letter mode or not; count_attempt false if the
    failure was not the job's fault.                                      */
sched_fail_t sched_failure_decide (int64_t start, int64_t end, uint32_t attempt,
                                   bool dead_letter, bool count_attempt,
                                   int64_t max_attempts);

/*  The attempt a half of `len` offsets starts at after a bisection: one
    try before it is split again, or all of them for a single offset.    */
uint32_t sched_failure_half_attempt (int64_t len, int64_t max_attempts);

/*  True if a worker's loss counts against a job it held: only when the
    loss may be the job's doing and the worker had begun it.             */
bool sched_failure_blamed (bool count_attempt, bool started);

/*  True if a job in flight has outlived its lease at now: only a job its
    holder began (a job waiting behind another in the worker has no
    lease running).                                                      */
bool sched_failure_lease_expired (const sched_job_t *job, int64_t now);

/*  The n-th pause in a row of an outage (n >= 1).                        */
int64_t sched_failure_outage_backoff (uint32_t n);

/*  A fault of the destination, the input or the cluster, while it lasts;
    the first failure names it (side, code, target), later ones only
    lengthen the pause.                                                   */
typedef struct {
    bool input;        /* the input topic could not be read (else output) */
    char code[65];     /* the Kafka error's name, "" when there is none    */
    char target[250];  /* the topic it concerns                            */
    int64_t since_ms;  /* when the first job failed for it (0: no outage)  */
    uint32_t failures; /* pauses in a row (probes that failed, plus one) */
    uint64_t deferred; /* jobs failed for it                             */
    int64_t until_ms;  /* dispatch pauses until then                      */
} sched_outage_t;

typedef struct {
    sched_model_t *model;
    sched_stats_t *stats;
    int64_t max_attempts;   /* --max-attempts                              */
    int64_t lease_ms;       /* --job-timeout-ms                            */
    int64_t lease_check_ms; /* no lease can expire before this time        */
    sched_outage_t outage;
} sched_failure_t;

/*  A job failed for `reason`: apply sched_failure_decide to it (the job
    may be freed: a bisected job is replaced by its halves). The caller
    has cancelled it at its holder if that one lives on.                 */
void sched_failure_job (sched_failure_t *self, sched_job_t *job,
                        const char *reason, bool count_attempt, int64_t now);

/*  A job failed for its destination or its input topic (side, as the
    DONE says: UNSPECIFIED is the output), or the cluster behind either
    (code, target): back to the queue with no attempt spent, and dispatch
    paused per sched_failure_outage_backoff. The caller cancels nothing:
    the holder gave the job up itself.                                    */
void sched_failure_outage (sched_failure_t *self, sched_job_t *job,
                           Sluice__FaultSide side, const char *code,
                           const char *target, int64_t now);

/*  A job was done: an outage, if one was on, is over.                   */
void sched_failure_outage_over (sched_failure_t *self, int64_t now);

/*  True while dispatch pauses for an outage.                             */
bool sched_failure_paused (const sched_failure_t *self, int64_t now);

/*  The outage in words ("output T: CODE for N s", "input T: CODE for N
    s") into buf, or "" if there is none. Returns buf.                    */
const char *sched_failure_outage_text (const sched_failure_t *self, int64_t now,
                                       char *buf, size_t size);

/*  A worker is gone or forgot its jobs: each job it held fails for
    `reason`, blamed per sched_failure_blamed.                            */
void sched_failure_worker_lost (sched_failure_t *self, sched_worker_t *worker,
                                const char *reason, bool count_attempt,
                                int64_t now);

/*  The scheduler's own loop stalled for gap ms: every lease in flight
    runs that much longer (deadlines only move later, so the bound on the
    next look stays true).                                                */
void sched_failure_forgive (sched_failure_t *self, int64_t gap);

/*  The jobs whose lease expired by now, in a new list (the caller cancels
    each at its holder, then fails it), or NULL when none can have.
    Deadlines only move later (a new lease or a PROGRESS runs from now),
    so the earliest one seen bounds when the next look can find any:
    holding tens of thousands of jobs costs one walk per lease, not one
    per tick.                                                             */
zlistx_t *sched_failure_leases (sched_failure_t *self, int64_t now);

#endif
