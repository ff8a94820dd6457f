/*  sched_window - one partition's sliding window of jobs.

        committed <= [jobs in flight or completed] < cut <= hwm

    The window owns no I/O. Jobs are cut lazily, at most `job_records`
    offsets each and never past the high watermark; at most `max_jobs` are
    outstanding (cut but not yet below `committed`), so lag never turns
    into unbounded memory. complete() marks a range done and advances
    `committed` over the contiguous completed prefix, like a TCP receiver's
    cumulative ACK. Ranges restored from commit metadata are skipped when
    cutting: they are never handed out again.

    A job's range may be split in two (bisect) to isolate failing offsets;
    complete() accepts any range that covers whole entries, so a late DONE
    for the original range completes both halves.

    Edge cases, decided:
    - The watermark starts at `committed` (nothing is known beyond it)
      and only grows; committed <= cut <= hwm always holds.
    - A job never spans a restored range: it stops at the start of the
      next one, and when cut reaches a restored range it jumps over it
      whole. A restored range that straddles hwm (or starts at it) is
      skipped whole too, and hwm is raised to its end: offsets that were
      processed exist, and running them again is the one thing restore is
      for avoiding. Likewise a restored range that reaches committed folds
      into it at once (a cumulative ACK with no job in it).
    - Restored ranges not yet reached by cut are still reported by
      sched_window_completed(), so every commit keeps them; no range it
      reports ever starts at committed.
    - Restored ranges are not jobs: they never count as outstanding.
    - Bisect adds an entry, so outstanding() may exceed max_jobs by the
      number of splits; no new job is cut until it is below max_jobs
      again. Failure isolation must never wait for room in the window.
    - Offsets are int64_t and never overflow: every length is computed as
      a difference of two valid offsets.
*/
#ifndef SCHED_WINDOW_H_INCLUDED
#define SCHED_WINDOW_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "sched_keys.h"
#include "sl_meta.h"

typedef struct _sched_window_t sched_window_t;

/*  Create a window starting at `committed`. Returns NULL on bad arguments
    (committed < 0, max_jobs < 1, job_records < 1) or out of memory.     */
sched_window_t *sched_window_new (int64_t committed, int max_jobs,
                                  int64_t job_records);

/*  Destroy the window and null the pointer.                              */
void sched_window_destroy (sched_window_t **self_p);

/*  Record ranges above `committed` known complete (from commit metadata).
    Ranges ending at or below committed are ignored; overlapping or
    adjacent ones are merged; order does not matter. A range that reaches
    committed (starts at or straddles it; valid metadata never does) moves
    committed, cut and if needed hwm to its end at once. May be called
    more than once, but only before the first cut. Returns 0, or -1
    (window unchanged) if a job was already cut, a range is empty or
    negative, or out of memory.                                          */
int sched_window_restore (sched_window_t *self, const sl_range_t *ranges,
                          size_t n);

/*  Set the high watermark (end offset). It may only grow; a smaller value
    is ignored (returns -1), which also happens when skipping a restored
    range already raised hwm past what Kafka reports. Returns 0 otherwise. */
int sched_window_set_hwm (sched_window_t *self, int64_t hwm);

/*  Cut the next job [*start, *end) if the window has room and there is
    something below the watermark. The job starts at cut and holds at
    most job_records offsets, stopping at hwm and at the next restored
    range, which cut then skips. Returns true and fills the range, or
    false (window full, nothing below hwm, or out of memory).             */
bool sched_window_cut (sched_window_t *self, int64_t *start, int64_t *end);

/*  Mark every outstanding entry inside [start, end) complete and advance
    committed. Returns the number of offsets newly completed (>= 0): 0
    means a duplicate or a range already below committed. The part of a
    range below committed is ignored, so a late DONE for a bisected job
    whose first half is already committed completes the rest. Returns -1
    (window unchanged) if the range is empty, cuts an entry in two, or
    ends beyond `cut` (not a job we gave out).                            */
int64_t sched_window_complete (sched_window_t *self, int64_t start,
                               int64_t end);

/*  Split the outstanding, incomplete entry [start, end) at its midpoint
    (start + (end - start) / 2) into two incomplete entries [start, mid)
    and [mid, end). Returns the midpoint, or -1 if there is no such
    entry, it holds a single offset, or out of memory.                    */
int64_t sched_window_bisect (sched_window_t *self, int64_t start, int64_t end);

/*  Split the outstanding, incomplete entry [start, end) at `at` (start <
    at < end) into [start, at) and [at, end). Returns 0, or -1 if there is
    no such entry, `at` is not inside it, or out of memory.               */
int sched_window_split (sched_window_t *self, int64_t start, int64_t end,
                        int64_t at);

/*  --order key: the window keeps a key gate (sched_keys) over its job
    entries, in step with them: a cut joins it, a split splits it (or
    fails, both unchanged), a completion leaves it. Before the first cut
    only. 0, or -1 (a job was cut, or out of memory).                     */
int sched_window_keys_on (sched_window_t *self);

/*  The gate, or NULL when the window keeps none.                         */
sched_keys_t *sched_window_keys (sched_window_t *self);

/*  True if [start, end) is exactly an outstanding, incomplete entry
    (false for a range that was bisected, completed or restored).        */
bool sched_window_is_pending (sched_window_t *self, int64_t start, int64_t end);

/*  Every offset below committed is complete.                            */
int64_t sched_window_committed (sched_window_t *self);
/*  The offset the next job starts at (or that cut skips from).          */
int64_t sched_window_cut_offset (sched_window_t *self);
/*  The high watermark last set; `committed` until set_hwm is called.    */
int64_t sched_window_hwm (sched_window_t *self);
/*  Job entries between committed and cut, complete or not (restored
    ranges are not jobs and are not counted).                            */
int sched_window_outstanding (sched_window_t *self);
/*  Incomplete entries (in flight or waiting to be re-dispatched).       */
int sched_window_incomplete (sched_window_t *self);
/*  True if another job could be cut now.                                 */
bool sched_window_can_cut (sched_window_t *self);

/*  Copy the complete ranges above committed (merged, sorted, including
    restored ones not yet passed) into `out`, at most `max`; when more
    exist, the lowest are kept. Every range starts above committed, so the
    result can be passed to sl_meta_encode() as is. Returns the number
    written.                                                              */
size_t sched_window_completed (sched_window_t *self, sl_range_t *out,
                               size_t max);

#endif
