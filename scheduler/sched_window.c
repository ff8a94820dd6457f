/*  sched_window - one partition's sliding window of jobs. See the header.

    Entries live in one sorted array, used as a queue: [head, head + count)
    covers [committed, cut) exactly, each entry starting where the previous
    one ends. cut appends at the tail, the cumulative ACK pops done entries
    from the head, bisect inserts one entry after the one it splits, and
    complete finds its entries by binary search. The first entry, if any,
    is always incomplete: done entries at the head are popped at once.

    Restored ranges (from commit metadata) that cut has not reached yet
    wait in their own sorted list; when cut reaches one it is moved into
    the array, whole, as a done entry that is not a job.
*/
#include "sched_window.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    int64_t start;
    int64_t end;
    bool done;
    bool restored; //  A range from commit metadata, not a job we cut.
} s_entry_t;

struct _sched_window_t {
    int64_t committed;   //  Every offset below is complete.
    int64_t cut;         //  Next offset to hand out.
    int64_t hwm;         //  High watermark: nothing at or above is cut.
    int max_jobs;        //  Cap on outstanding jobs.
    int64_t job_records; //  Cap on a job's length.
    s_entry_t *entries;  //  [head, head + count) covers [committed, cut).
    size_t head;
    size_t count;
    size_t cap;
    sl_range_t *restored; //  [r_head, r_head + r_count): sorted, >= cut.
    size_t r_head;
    size_t r_count;
    int jobs;           //  Job entries (not restored ones) in the array.
    int incomplete;     //  Job entries not done.
    bool has_cut;       //  A job was cut: restore is no longer allowed.
    sched_keys_t *keys; //  --order key: the gate over the job entries.
};

//  The k-th live entry.
static s_entry_t *
s_entry (sched_window_t *self, size_t k)
{
    assert (k < self->count);
    return &self->entries[self->head + k];
}

//  Make room for `extra` entries at the tail; return 0 or -1 (no memory).
static int
s_reserve (sched_window_t *self, size_t extra)
{
    if (self->head + self->count + extra <= self->cap)
        return 0;
    if (self->head > 0) {
        memmove (self->entries, self->entries + self->head,
                 self->count * sizeof (s_entry_t));
        self->head = 0;
        if (self->count + extra <= self->cap)
            return 0;
    }
    size_t cap = self->cap * 2 > self->count + extra ? self->cap * 2
                                                     : self->count + extra;
    s_entry_t *entries = realloc (self->entries, cap * sizeof (s_entry_t));
    if (!entries)
        return -1;
    self->entries = entries;
    self->cap = cap;
    return 0;
}

//  Append an entry at the tail; return 0 or -1 (no memory).
static int
s_push (sched_window_t *self, s_entry_t entry)
{
    if (s_reserve (self, 1) != 0)
        return -1;
    self->entries[self->head + self->count++] = entry;
    return 0;
}

//  Index of the live entry that starts (or ends) at offset, or -1.
static ptrdiff_t
s_find (sched_window_t *self, int64_t offset, bool by_end)
{
    size_t lo = 0, hi = self->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        s_entry_t *e = s_entry (self, mid);
        int64_t key = by_end ? e->end : e->start;
        if (key == offset)
            return (ptrdiff_t)mid;
        if (key < offset)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

//  Pop done entries from the head: the cumulative ACK.
static void
s_advance (sched_window_t *self)
{
    while (self->count > 0 && s_entry (self, 0)->done) {
        s_entry_t *e = s_entry (self, 0);
        self->committed = e->end;
        if (!e->restored)
            self->jobs--;
        self->head++;
        self->count--;
    }
    if (self->count == 0)
        self->head = 0;
    assert (self->count > 0 || self->committed == self->cut);
}

//  Jump cut over the restored range that starts there, whole, raising
//  hwm if needed (offsets that were processed exist), then advance
//  committed. With nothing outstanding the range folds straight into
//  committed; otherwise it becomes a done entry that is not a job.
static void
s_absorb (sched_window_t *self)
{
    while (self->r_count > 0 &&
           self->restored[self->r_head].start == self->cut) {
        sl_range_t *r = &self->restored[self->r_head];
        if (self->count == 0)
            self->committed = r->end;
        else {
            s_entry_t entry = {r->start, r->end, true, true};
            if (s_push (self, entry) != 0)
                break; //  No memory: cut stays put and tries again later.
        }
        self->cut = r->end;
        if (self->hwm < self->cut)
            self->hwm = self->cut;
        self->r_head++;
        self->r_count--;
    }
    if (self->r_count == 0)
        self->r_head = 0;
    s_advance (self);
}

//  Create a window starting at committed.
sched_window_t *
sched_window_new (int64_t committed, int max_jobs, int64_t job_records)
{
    if (committed < 0 || max_jobs < 1 || job_records < 1)
        return NULL;
    sched_window_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->committed = self->cut = self->hwm = committed;
    self->max_jobs = max_jobs;
    self->job_records = job_records;
    self->cap = (max_jobs < 64 ? (size_t)max_jobs : 64) + 8;
    self->entries = malloc (self->cap * sizeof (s_entry_t));
    if (!self->entries) {
        free (self);
        return NULL;
    }
    return self;
}

//  Destroy the window and null the pointer.
void
sched_window_destroy (sched_window_t **self_p)
{
    assert (self_p);
    sched_window_t *self = *self_p;
    if (!self)
        return;
    free (self->entries);
    free (self->restored);
    sched_keys_destroy (&self->keys);
    free (self);
    *self_p = NULL;
}

//  Order ranges by start, for qsort.
static int
s_range_cmp (const void *a, const void *b)
{
    int64_t x = ((const sl_range_t *)a)->start;
    int64_t y = ((const sl_range_t *)b)->start;
    return (x > y) - (x < y);
}

//  Sort and merge overlapping or adjacent ranges in place; return count.
static size_t
s_merge (sl_range_t *ranges, size_t n)
{
    if (n == 0)
        return 0;
    qsort (ranges, n, sizeof *ranges, s_range_cmp);
    size_t m = 0;
    for (size_t i = 1; i < n; i++) {
        if (ranges[i].start <= ranges[m].end) {
            if (ranges[i].end > ranges[m].end)
                ranges[m].end = ranges[i].end;
        } else
            ranges[++m] = ranges[i];
    }
    return m + 1;
}

//  Record ranges known complete from commit metadata.
int
sched_window_restore (sched_window_t *self, const sl_range_t *ranges, size_t n)
{
    assert (self);
    assert (ranges || n == 0);
    if (self->has_cut)
        return -1;
    for (size_t i = 0; i < n; i++)
        if (ranges[i].start < 0 || ranges[i].end <= ranges[i].start)
            return -1;
    if (n > SIZE_MAX / sizeof (sl_range_t) - self->r_count)
        return -1;
    size_t total = self->r_count + n;
    sl_range_t *merged = malloc ((total ? total : 1) * sizeof (sl_range_t));
    if (!merged)
        return -1;
    size_t m = 0;
    for (size_t i = 0; i < self->r_count; i++)
        merged[m++] = self->restored[self->r_head + i];
    for (size_t i = 0; i < n; i++) {
        if (ranges[i].end <= self->committed)
            continue; //  Already below committed: nothing to skip.
        merged[m] = ranges[i];
        if (merged[m].start < self->committed)
            merged[m].start = self->committed;
        m++;
    }
    free (self->restored);
    self->restored = merged;
    self->r_head = 0;
    self->r_count = s_merge (merged, m);
    s_absorb (self);
    return 0;
}

//  Raise the high watermark.
int
sched_window_set_hwm (sched_window_t *self, int64_t hwm)
{
    assert (self);
    if (hwm < self->hwm)
        return -1;
    self->hwm = hwm;
    s_absorb (self);
    return 0;
}

//  Where the next job must stop: the watermark or the next restored range.
static int64_t
s_cut_limit (sched_window_t *self)
{
    int64_t limit = self->hwm;
    if (self->r_count > 0 && self->restored[self->r_head].start < limit)
        limit = self->restored[self->r_head].start;
    return limit;
}

//  True if another job could be cut now.
bool
sched_window_can_cut (sched_window_t *self)
{
    assert (self);
    return self->jobs < self->max_jobs && s_cut_limit (self) > self->cut;
}

//  Cut the next job, stopping at the watermark and at a restored range.
bool
sched_window_cut (sched_window_t *self, int64_t *start, int64_t *end)
{
    assert (self);
    assert (start && end);
    if (!sched_window_can_cut (self))
        return false;
    int64_t len = s_cut_limit (self) - self->cut;
    if (len > self->job_records)
        len = self->job_records;
    s_entry_t entry = {self->cut, self->cut + len, false, false};
    if (self->keys && sched_keys_add (self->keys, entry.start, entry.end) != 0)
        return false;
    if (s_push (self, entry) != 0) {
        if (self->keys)
            sched_keys_done (self->keys, entry.start, entry.end);
        return false;
    }
    self->jobs++;
    self->incomplete++;
    self->has_cut = true;
    *start = entry.start;
    *end = entry.end;
    self->cut = entry.end;
    s_absorb (self);
    return true;
}

//  Mark the entries inside [start, end) complete and advance committed.
int64_t
sched_window_complete (sched_window_t *self, int64_t start, int64_t end)
{
    assert (self);
    if (start >= end)
        return -1;
    if (end <= self->committed)
        return 0; //  A duplicate or late DONE for work already committed.
    if (end > self->cut)
        return -1;
    if (start < self->committed)
        start = self->committed; //  The part below is already done.
    ptrdiff_t first = s_find (self, start, false);
    ptrdiff_t last = s_find (self, end, true);
    if (first < 0 || last < 0)
        return -1;
    int64_t newly = 0;
    for (ptrdiff_t k = first; k <= last; k++) {
        s_entry_t *e = s_entry (self, (size_t)k);
        if (e->done)
            continue;
        e->done = true;
        newly += e->end - e->start;
        self->incomplete--;
    }
    if (self->keys)
        sched_keys_done (self->keys, start, end);
    s_advance (self);
    return newly;
}

//  Split an outstanding, incomplete job entry at `at`.
int
sched_window_split (sched_window_t *self, int64_t start, int64_t end,
                    int64_t at)
{
    assert (self);
    if (at <= start || at >= end || !sched_window_is_pending (self, start, end))
        return -1;
    if (s_reserve (self, 1) != 0 ||
        (self->keys && sched_keys_split (self->keys, start, at) != 0))
        return -1;
    size_t k = (size_t)s_find (self, start, false);
    s_entry_t *e = s_entry (self, k);
    memmove (e + 1, e, (self->count - k) * sizeof (s_entry_t));
    self->count++;
    e[0].end = at;
    e[1].start = at;
    self->jobs++;
    self->incomplete++;
    return 0;
}

//  The key gate; see sched_window.h.
int
sched_window_keys_on (sched_window_t *self)
{
    if (!self->keys && self->has_cut)
        return -1;
    if (!self->keys)
        self->keys = sched_keys_new ();
    return self->keys ? 0 : -1;
}

sched_keys_t *
sched_window_keys (sched_window_t *self)
{
    return self->keys;
}

//  Split an outstanding, incomplete job entry at its midpoint.
int64_t
sched_window_bisect (sched_window_t *self, int64_t start, int64_t end)
{
    if (end - start < 2)
        return -1;
    int64_t mid = start + (end - start) / 2;
    return sched_window_split (self, start, end, mid) == 0 ? mid : -1;
}

//  True if [start, end) is exactly an outstanding, incomplete entry.
bool
sched_window_is_pending (sched_window_t *self, int64_t start, int64_t end)
{
    assert (self);
    ptrdiff_t k = s_find (self, start, false);
    if (k < 0)
        return false;
    s_entry_t *e = s_entry (self, (size_t)k);
    return e->end == end && !e->done;
}

//  Every offset below this one is complete.
int64_t
sched_window_committed (sched_window_t *self)
{
    assert (self);
    return self->committed;
}

//  The next offset a cut would hand out.
int64_t
sched_window_cut_offset (sched_window_t *self)
{
    assert (self);
    return self->cut;
}

//  The high watermark last set (initially committed).
int64_t
sched_window_hwm (sched_window_t *self)
{
    assert (self);
    return self->hwm;
}

//  Job entries between committed and cut, complete or not.
int
sched_window_outstanding (sched_window_t *self)
{
    assert (self);
    return self->jobs;
}

//  Job entries not yet complete.
int
sched_window_incomplete (sched_window_t *self)
{
    assert (self);
    return self->incomplete;
}

//  Append [start, end) to out, merging with the last range if adjacent.
static void
s_emit (sl_range_t *out, size_t max, size_t *n, int64_t start, int64_t end)
{
    if (*n > 0 && out[*n - 1].end == start)
        out[*n - 1].end = end;
    else if (*n < max) {
        out[*n].start = start;
        out[*n].end = end;
        (*n)++;
    }
}

//  Copy the complete ranges above committed into out, lowest first.
size_t
sched_window_completed (sched_window_t *self, sl_range_t *out, size_t max)
{
    assert (self);
    assert (out || max == 0);
    size_t n = 0;
    for (size_t k = 0; k < self->count; k++) {
        s_entry_t *e = s_entry (self, k);
        if (e->done)
            s_emit (out, max, &n, e->start, e->end);
    }
    for (size_t i = 0; i < self->r_count; i++) {
        sl_range_t *r = &self->restored[self->r_head + i];
        s_emit (out, max, &n, r->start, r->end);
    }
    return n;
}
