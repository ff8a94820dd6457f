/*  sched_keys - the key gate of one partition (--order key, issue 21):
    which keys of which unfinished range may run now.

    For each key, records must run in offset order: a record of key k may
    start only once every earlier record of k has completed. Jobs
    complete whole (DONE, after their outputs are acknowledged), so the
    gate works on the partition's unfinished ranges, in offset order,
    each with the set of its keys' 64-bit hashes (a worker reports it
    once it has read the range; the scheduler never reads a key). A key
    of a range is blocked while an earlier unfinished range holds it, or
    while the key set of any earlier range is still unknown (it may hold
    it). So the earliest unfinished range, once its set is known, is
    never blocked, and the chain always moves.

    A range keeps its place through retries (the same range runs again)
    and bisection (split: each half holds the parent's set, a superset of
    its own, until it reports its own). A range that completes, whether
    processed or dead-lettered, leaves the order: the key's later records
    go on (a dead-lettered record does not hold its key for ever).

    Blocked sets only shrink for a given range: ranges are added at the
    end, a report or a completion only removes blocks, and a split
    replaces a range that is not running by two new ones. The cost of a
    change is one pass over the unfinished ranges' keys (a hash set),
    O(window x keys per job).
*/
#ifndef SCHED_KEYS_H_INCLUDED
#define SCHED_KEYS_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct _sched_keys_t sched_keys_t;

sched_keys_t *sched_keys_new (void);
void sched_keys_destroy (sched_keys_t **self_p);

/*  A range [start, end) joins the order, after every range it holds
    (jobs are cut in offset order). 0, or -1 if it does not come after
    them, is empty, or memory ran out.                                    */
int sched_keys_add (sched_keys_t *self, int64_t start, int64_t end);

/*  A worker read [start, end): keys, its hashes, sorted and distinct
    (-1 if not: a peer's mistake). The range itself gets the exact set;
    ranges split from it since get it too unless they have their own.
    0, or -1 (also: no such range, or out of memory).                    */
int sched_keys_report (sched_keys_t *self, int64_t start, int64_t end,
                       const uint64_t *keys, size_t n);

/*  The range that starts at start holds keys (sorted, distinct) no more:
    their records in it completed before the range did. Keys it does not
    hold are ignored. Returns how many it gave up, or -1 (no such range,
    its set unknown, or keys not sorted).                                 */
int sched_keys_drop_keys (sched_keys_t *self, int64_t start,
                          const uint64_t *keys, size_t n);

/*  [start, end) completed (processed or dead-lettered): every range in
    it leaves the order. Returns how many left.                           */
size_t sched_keys_done (sched_keys_t *self, int64_t start, int64_t end);

/*  The range that starts at start is split at mid (start < mid < end):
    both halves hold its key set, as a superset, until they report. 0, or
    -1 (no such range, mid outside it, out of memory).                   */
int sched_keys_split (sched_keys_t *self, int64_t start, int64_t mid);

/*  Whether the range that starts at start may run its records of key
    now; false also for an unknown range or key.                          */
bool sched_keys_free (const sched_keys_t *self, int64_t start, uint64_t key);

/*  The range's blocked keys: up to max of them into out (sorted); returns
    how many are blocked in all. *known is false while the range's own set
    is unknown (then nothing of it may run).                              */
size_t sched_keys_blocked (const sched_keys_t *self, int64_t start,
                           uint64_t *out, size_t max, bool *known);

/*  GATE for the range that starts at start: like sched_keys_blocked, and
    what it returns is what the range's holder is told waits (until
    sched_keys_release says otherwise, or the range reports its set
    again: a new holder is told anew).                                   */
size_t sched_keys_gate (sched_keys_t *self, int64_t start, uint64_t *out,
                        size_t max, bool *known);

/*  RELEASE for the range that starts at start: the keys its holder was
    told wait and that are free now, up to max of them into out (sorted);
    each is given once. Returns how many.                                 */
size_t sched_keys_release (sched_keys_t *self, int64_t start, uint64_t *out,
                           size_t max);

/*  Ranges in the order, and the key hashes they hold in all (the gate's
    memory, for metrics).                                                 */
size_t sched_keys_ranges (const sched_keys_t *self);
size_t sched_keys_held (const sched_keys_t *self);

#endif
