/*  wrk_keyed - a lane's keyed jobs (--order key; DESIGN.md, "Key order").

    A keyed job's whole range is read first (the job is bounded by the
    scheduler's --job-records), each record's key hashed (wrk_keys), and
    the distinct hashes reported (KEYS). The job is then parked: the lane
    takes its next job while the scheduler answers. GATE says which keys
    wait for an earlier range; the others' records become ready, and
    RELEASE makes more ready as earlier ranges complete. Between jobs the
    lane runs a parked job's ready records (a part: plugin job_begin,
    the records in offset order, job_end, the output flushed), and once
    every record ran, the job ends as any other (DONE after its outputs
    are acknowledged). A parked job's lease is extended (PROGRESS) while
    it waits. A part that fails fails the job (the scheduler runs the
    range again, in its place in the order).

    Every call is made on the executor's thread.
*/
#ifndef WRK_KEYED_H_INCLUDED
#define WRK_KEYED_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <czmq.h>
#include "wrk_exec_int.h"

/*  Read ej's range, report its keys and park it (ej->parked: the parked
    list owns it now), or end it (abandoned, or failed: DONE).            */
void wrk_keyed_run (wrk_exec_t *self, exec_job_t *ej);

/*  While a keyed job's part runs: read the keyed jobs waiting in the
    FIFO and report their keys now (their records are in memory, the
    reader is free), since a job whose keys are unknown holds every later
    job of its partition back.                                           */
void wrk_keyed_read_queued (wrk_exec_t *self);

/*  GATE or RELEASE (a packed message) from scheduler sched: the records
    it frees become ready. Unknown jobs are ignored.                      */
void wrk_keyed_gate (wrk_exec_t *self, int sched, zframe_t *payload);
void wrk_keyed_release (wrk_exec_t *self, int sched, zframe_t *payload);

/*  Run the ready records of one parked job (the oldest with some), which
    may end it. False if none had any.                                    */
bool wrk_keyed_step (wrk_exec_t *self);

/*  CANCEL (id) or DROPALL (all) of scheduler sched: parked jobs go
    (DROPPED each, unless all). Returns how many went.                    */
size_t wrk_keyed_drop (wrk_exec_t *self, int sched, uint64_t id, bool all);

/*  STOP: every parked job goes back (RETURNED), but one whose part runs
    now: it goes back when its part ends (wrk_keyed_step), and a job read
    while stopping is given back, not parked.                           */
void wrk_keyed_stop (wrk_exec_t *self);

/*  PROGRESS for parked jobs, a few times per lease.                      */
void wrk_keyed_progress (wrk_exec_t *self);

/*  Records parked jobs hold that have not run yet.                       */
size_t wrk_keyed_waiting (wrk_exec_t *self);

/*  Free every parked job (the executor is destroyed).                    */
void wrk_keyed_clear (wrk_exec_t *self);

#endif
