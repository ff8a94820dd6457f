/*  test_keys - the key gate (sched_keys) against a model.

    A partition of records with random keys (one key, a few, many, and a
    skewed set: a few hot keys and a long tail) is cut into jobs of random
    sizes; at random, a worker reports a job's keys, runs the records of a
    key the gate says is free (and sometimes reports that key done at
    once: KEYS done, the job holds it no more), fails a job (which runs
    again, and may be split in two as bisection does, its halves
    reporting later; a late report for the range as it was before the
    split comes too), or dead-letters one. Checked at every step:
    - safety: a key the gate frees in a job is held by no earlier
      unfinished job (the model knows every record's key);
    - exactness: once every earlier job has reported for its own range, a
      key is blocked exactly when an earlier unfinished job holds it;
    - progress: the earliest unfinished job, once it has reported, has
      nothing blocked, and every run drains to the end.
    SLUICE_TEST_SEED=<seed> replays a failure.
*/
#include <criterion/criterion.h>
#include <string.h>
#include "sched_keys.h"
#include "test_rand.h"

#define OFFSETS 800
#define WINDOW  24
#define MAXJOBS 1024

typedef struct {
    int64_t start, end;
    bool reported; /* the gate has its own set (or an inherited one)    */
    bool exact;    /* reported for this very range                       */
    uint64_t keys[64];
    size_t n;
    bool processed[64];
    uint64_t dropped[64]; /* keys it gave up early (KEYS done): it holds
                             them no more, whatever it reports later   */
    size_t ndropped;
    bool gated;         /* its holder got GATE (until it fails)          */
    bool told_free[64]; /* per key: GATE or a RELEASE said it is free  */
} job_t;

static uint64_t s_key[OFFSETS];
static job_t s_jobs[MAXJOBS];
static size_t s_njobs;
static int64_t s_next;

//  A job's true keys: the distinct keys of its records, sorted.
static void
s_true_keys (job_t *j)
{
    j->n = 0;
    for (int64_t o = j->start; o < j->end; o++) {
        uint64_t k = s_key[o];
        size_t at = 0;
        while (at < j->n && j->keys[at] < k)
            at++;
        if (at < j->n && j->keys[at] == k)
            continue;
        bool dropped = false;
        for (size_t d = 0; d < j->ndropped; d++)
            dropped |= j->dropped[d] == k;
        if (dropped)
            continue;
        cr_assert_lt (j->n, 64);
        memmove (&j->keys[at + 1], &j->keys[at],
                 (j->n - at) * sizeof j->keys[0]);
        j->keys[at] = k;
        j->n++;
    }
    memset (j->processed, 0, sizeof j->processed);
}

//  True if a job before index i holds key k.
static bool
s_held_before (size_t i, uint64_t k)
{
    for (size_t x = 0; x < i; x++)
        for (size_t y = 0; y < s_jobs[x].n; y++)
            if (s_jobs[x].keys[y] == k)
                return true;
    return false;
}

static bool
s_all_exact_before (size_t i)
{
    for (size_t x = 0; x < i; x++)
        if (!s_jobs[x].exact)
            return false;
    return true;
}

static void
s_remove (size_t i)
{
    memmove (&s_jobs[i], &s_jobs[i + 1], (s_njobs - i - 1) * sizeof s_jobs[0]);
    s_njobs--;
}

//  The worker reports job i's keys for its own range.
static void
s_report (sched_keys_t *g, size_t i)
{
    job_t *j = &s_jobs[i];
    s_true_keys (j);
    CHECK (sched_keys_report (g, j->start, j->end, j->keys, j->n) == 0,
           "report [%" PRId64 ",%" PRId64 ") refused", j->start, j->end);
    j->reported = j->exact = true;
    //  Its holder is told what waits (GATE): the rest is free.
    uint64_t out[64];
    bool known;
    size_t n = sched_keys_gate (g, j->start, out, 64, &known);
    for (size_t y = 0; y < j->n; y++) {
        j->told_free[y] = true;
        for (size_t x = 0; x < n && x < 64; x++)
            if (out[x] == j->keys[y])
                j->told_free[y] = false;
    }
    j->gated = true;
}

//  Every free key of every job is held by no earlier job; with every
//  earlier job exact, blocked is exactly "held before".
static void
s_check_all (sched_keys_t *g)
{
    CHECK (sched_keys_ranges (g) == s_njobs, "%zu ranges for %zu jobs",
           sched_keys_ranges (g), s_njobs);
    for (size_t i = 0; i < s_njobs; i++) {
        job_t *j = &s_jobs[i];
        if (!j->reported)
            continue;
        //  What GATE and RELEASE told its holder is what the gate says:
        //  each freed key once, none missed.
        uint64_t out[64];
        size_t m = j->gated ? sched_keys_release (g, j->start, out, 64) : 0;
        for (size_t x = 0; x < m; x++)
            for (size_t y = 0; y < j->n; y++)
                if (j->keys[y] == out[x]) {
                    CHECK (!j->told_free[y], "a key released twice");
                    j->told_free[y] = true;
                }
        for (size_t y = 0; j->gated && y < j->n; y++)
            CHECK (j->told_free[y] == sched_keys_free (g, j->start, j->keys[y]),
                   "key %" PRIu64 " of [%" PRId64 ",%" PRId64 ") told %s, "
                   "the gate says %s",
                   j->keys[y], j->start, j->end,
                   j->told_free[y] ? "free" : "blocked",
                   sched_keys_free (g, j->start, j->keys[y]) ? "free"
                                                             : "blocked");
        bool exact_before = s_all_exact_before (i);
        for (size_t y = 0; y < j->n; y++) {
            bool free = sched_keys_free (g, j->start, j->keys[y]);
            bool held = s_held_before (i, j->keys[y]);
            CHECK (!(free && held),
                   "key %" PRIu64 " of job [%" PRId64 ",%" PRId64
                   ") is free while an earlier job holds it",
                   j->keys[y], j->start, j->end);
            if (exact_before && j->exact)
                CHECK (free == !held,
                       "key %" PRIu64 " of job [%" PRId64 ",%" PRId64
                       ") blocked=%d, held before=%d",
                       j->keys[y], j->start, j->end, !free, held);
        }
        if (i == 0) {
            bool known;
            CHECK (sched_keys_blocked (g, j->start, out, 1, &known) == 0 &&
                       known,
                   "the earliest job [%" PRId64 ",%" PRId64 ") is blocked",
                   j->start, j->end);
        }
    }
}

//  Run key y of job i (if the gate frees it); complete the job when all
//  of its keys ran. Returns true if something ran.
static bool
s_process (sched_keys_t *g, size_t i, size_t y)
{
    job_t *j = &s_jobs[i];
    if (!j->reported || j->processed[y] ||
        !sched_keys_free (g, j->start, j->keys[y]))
        return false;
    CHECK (!s_held_before (i, j->keys[y]), "ran a key held earlier");
    j->processed[y] = true;
    for (size_t x = 0; x < j->n; x++)
        if (!j->processed[x]) {
            //  Not the job's last key: sometimes its worker reports it
            //  done at once (KEYS done), and the job holds it no more.
            if (s_rand () % 2 && j->ndropped < 64) {
                uint64_t k = j->keys[y];
                CHECK (sched_keys_drop_keys (g, j->start, &k, 1) == 1,
                       "keys done refused");
                j->dropped[j->ndropped++] = k;
                memmove (&j->keys[y], &j->keys[y + 1],
                         (j->n - y - 1) * sizeof j->keys[0]);
                memmove (&j->processed[y], &j->processed[y + 1],
                         (j->n - y - 1) * sizeof j->processed[0]);
                memmove (&j->told_free[y], &j->told_free[y + 1],
                         (j->n - y - 1) * sizeof j->told_free[0]);
                j->n--;
            }
            return true;
        }
    CHECK (sched_keys_done (g, j->start, j->end) == 1, "done left no range");
    s_remove (i);
    return true;
}

//  A failed attempt: the job runs again; sometimes it is split (as
//  bisection does), and sometimes a late report for the whole comes.
static void
s_fail (sched_keys_t *g, size_t i)
{
    job_t *j = &s_jobs[i];
    memset (j->processed, 0, sizeof j->processed);
    j->gated = false; //  its next holder is told anew
    if (j->end - j->start < 2 || s_rand () % 2 || s_njobs >= MAXJOBS)
        return;
    int64_t mid =
        j->start + 1 + (int64_t)(s_rand () % (uint64_t)(j->end - j->start - 1));
    job_t whole = *j;
    CHECK (sched_keys_split (g, j->start, mid) == 0, "split refused");
    memmove (&s_jobs[i + 2], &s_jobs[i + 1],
             (s_njobs - i - 1) * sizeof s_jobs[0]);
    s_njobs++;
    job_t *lo = &s_jobs[i], *hi = &s_jobs[i + 1];
    *hi = whole;
    lo->end = mid;
    hi->start = mid;
    //  The halves hold the parent's set (if known) until they report:
    //  for the model, their true keys, and not exact.
    s_true_keys (lo);
    s_true_keys (hi);
    lo->exact = hi->exact = false;
    lo->gated = hi->gated = false; //  their next holders report anew
    if (s_rand () % 3 == 0)        //  the whole range's read, reported late
        CHECK (sched_keys_report (g, whole.start, whole.end, whole.keys,
                                  whole.n) == 0,
               "late report refused");
    //  A half may run once the gate holds a set for it (inherited or
    //  from the late report).
    bool known;
    uint64_t out[1];
    sched_keys_blocked (g, lo->start, out, 1, &known);
    lo->reported = known;
    sched_keys_blocked (g, hi->start, out, 1, &known);
    hi->reported = known;
}

//  One run over a partition whose records have keys from key_space
//  (skewed: half the records on 3 hot keys).
static void
s_run (uint64_t seed, uint64_t key_space, bool skewed)
{
    s_srand (seed);
    for (int64_t o = 0; o < OFFSETS; o++)
        s_key[o] = skewed && s_rand () % 2 ? 1000 + s_rand () % 3
                                           : 1 + s_rand () % key_space;
    s_njobs = 0;
    s_next = 0;
    sched_keys_t *g = sched_keys_new ();
    cr_assert_not_null (g);
    for (int step = 0; step < 200000 && (s_next < OFFSETS || s_njobs); step++) {
        unsigned what = (unsigned)(s_rand () % 100);
        if (what < 15 && s_next < OFFSETS && s_njobs < WINDOW) {
            int64_t size = 1 + (int64_t)(s_rand () % 30);
            if (s_next + size > OFFSETS)
                size = OFFSETS - s_next;
            job_t *j = &s_jobs[s_njobs++];
            memset (j, 0, sizeof *j);
            j->start = s_next;
            j->end = s_next + size;
            s_true_keys (j);
            CHECK (sched_keys_add (g, j->start, j->end) == 0, "add refused");
            s_next += size;
        } else if (what < 35 && s_njobs) {
            size_t i = (size_t)(s_rand () % s_njobs);
            if (!s_jobs[i].exact)
                s_report (g, i);
        } else if (what < 90 && s_njobs) {
            size_t i = (size_t)(s_rand () % s_njobs);
            if (s_jobs[i].n)
                s_process (g, i, (size_t)(s_rand () % s_jobs[i].n));
            else if (s_jobs[i].reported) {
                CHECK (sched_keys_done (g, s_jobs[i].start, s_jobs[i].end) == 1,
                       "done left no range");
                s_remove (i);
            }
        } else if (what < 97 && s_njobs) {
            s_fail (g, (size_t)(s_rand () % s_njobs));
        } else if (s_njobs) {
            //  Dead-lettered: completes without its records running.
            size_t i = (size_t)(s_rand () % s_njobs);
            CHECK (sched_keys_done (g, s_jobs[i].start, s_jobs[i].end) == 1,
                   "done left no range");
            s_remove (i);
        }
        s_check_all (g);
    }
    CHECK (s_next == OFFSETS && s_njobs == 0,
           "the run did not drain: %zu jobs left, next %" PRId64, s_njobs,
           s_next);
    CHECK (sched_keys_held (g) == 0, "%zu keys still held",
           sched_keys_held (g));
    sched_keys_destroy (&g);
}

Test (keys, gate_against_the_model)
{
    uint64_t base = s_base_seed ();
    for (uint64_t i = 0; i < 40; i++) {
        s_run (base + i, 1, false);    //  one key: strict order
        s_run (base + i, 4, false);    //  a few keys
        s_run (base + i, 200, false);  //  many keys
        s_run (base + i, 10000, true); //  hot keys and a long tail
    }
}

Test (keys, refusals)
{
    sched_keys_t *g = sched_keys_new ();
    cr_assert_not_null (g);
    cr_assert_eq (sched_keys_add (g, 10, 10), -1, "an empty range");
    cr_assert_eq (sched_keys_add (g, 10, 20), 0);
    cr_assert_eq (sched_keys_add (g, 15, 30), -1, "an overlapping range");
    cr_assert_eq (sched_keys_add (g, 5, 8), -1, "a range before the last");
    uint64_t unsorted[] = {3, 1};
    cr_assert_eq (sched_keys_report (g, 10, 20, unsorted, 2), -1);
    uint64_t twice[] = {1, 1};
    cr_assert_eq (sched_keys_report (g, 10, 20, twice, 2), -1);
    uint64_t ok[] = {1, 3};
    cr_assert_eq (sched_keys_report (g, 40, 50, ok, 2), -1, "no such range");
    cr_assert_eq (sched_keys_split (g, 10, 10), -1, "mid at the start");
    cr_assert_eq (sched_keys_split (g, 10, 20), -1, "mid at the end");
    cr_assert_eq (sched_keys_split (g, 11, 15), -1, "no range starts there");
    //  Unknown keys block every later range, known or not.
    cr_assert_eq (sched_keys_add (g, 20, 30), 0);
    cr_assert_eq (sched_keys_report (g, 20, 30, ok, 2), 0);
    cr_assert_not (sched_keys_free (g, 20, 1));
    cr_assert_eq (sched_keys_report (g, 10, 20, (uint64_t[]){3}, 1), 0);
    cr_assert (sched_keys_free (g, 10, 3));
    cr_assert (sched_keys_free (g, 20, 1), "1 is not held before");
    cr_assert_not (sched_keys_free (g, 20, 3), "3 is held by [10,20)");
    cr_assert_not (sched_keys_free (g, 20, 2), "2 is not its key");
    cr_assert_eq (sched_keys_done (g, 10, 20), 1);
    cr_assert (sched_keys_free (g, 20, 3), "released when [10,20) is done");
    sched_keys_destroy (&g);
}

//  What a holder is told: GATE says which keys wait, each RELEASE gives
//  the told keys that became free, once; a new report starts afresh.
Test (keys, gate_then_release)
{
    sched_keys_t *g = sched_keys_new ();
    cr_assert_not_null (g);
    cr_assert_eq (sched_keys_add (g, 0, 10), 0);
    cr_assert_eq (sched_keys_add (g, 10, 20), 0);
    cr_assert_eq (sched_keys_add (g, 20, 30), 0);
    uint64_t out[8];
    bool known;
    cr_assert_eq (sched_keys_report (g, 10, 20, (uint64_t[]){1, 2, 3}, 3), 0);
    cr_assert_eq (sched_keys_gate (g, 10, out, 8, &known), 3,
                  "all wait while [0,10) is unknown");
    cr_assert (known);
    cr_assert_eq (sched_keys_release (g, 10, out, 8), 0);
    cr_assert_eq (sched_keys_report (g, 0, 10, (uint64_t[]){2}, 1), 0);
    cr_assert_eq (sched_keys_release (g, 10, out, 8), 2);
    cr_assert (out[0] == 1 && out[1] == 3);
    cr_assert_eq (sched_keys_release (g, 10, out, 8), 0, "given once");
    cr_assert_eq (sched_keys_report (g, 20, 30, (uint64_t[]){3, 4}, 2), 0);
    cr_assert_eq (sched_keys_release (g, 20, out, 8), 0, "not gated yet");
    cr_assert_eq (sched_keys_gate (g, 20, out, 8, &known), 1);
    cr_assert (out[0] == 3);
    cr_assert_eq (sched_keys_done (g, 0, 10), 1);
    cr_assert_eq (sched_keys_release (g, 10, out, 8), 1);
    cr_assert (out[0] == 2);
    cr_assert_eq (sched_keys_release (g, 20, out, 8), 0, "3 still waits");
    cr_assert_eq (sched_keys_done (g, 10, 20), 1);
    cr_assert_eq (sched_keys_release (g, 20, out, 8), 1);
    cr_assert (out[0] == 3);
    cr_assert_eq (sched_keys_gate (g, 40, out, 8, &known), 0);
    cr_assert_not (known, "no such range");
    sched_keys_destroy (&g);
}

//  Keys a range completes early (KEYS done) hold later ranges no more;
//  its other keys still do; a second report of the range does not bring
//  them back; the range itself leaves only when done.
Test (keys, keys_done_early)
{
    sched_keys_t *g = sched_keys_new ();
    cr_assert_not_null (g);
    cr_assert_eq (sched_keys_add (g, 0, 10), 0);
    cr_assert_eq (sched_keys_add (g, 10, 20), 0);
    uint64_t out[8];
    bool known;
    cr_assert_eq (sched_keys_drop_keys (g, 0, (uint64_t[]){1}, 1), -1,
                  "its set is not known yet");
    cr_assert_eq (sched_keys_report (g, 0, 10, (uint64_t[]){1, 2, 3}, 3), 0);
    cr_assert_eq (sched_keys_report (g, 10, 20, (uint64_t[]){2, 3, 4}, 3), 0);
    cr_assert_eq (sched_keys_gate (g, 10, out, 8, &known), 2);
    cr_assert_eq (sched_keys_drop_keys (g, 0, (uint64_t[]){3, 2}, 2), -1,
                  "not sorted");
    cr_assert_eq (sched_keys_drop_keys (g, 0, (uint64_t[]){2, 9}, 2), 1,
                  "9 is not its key: ignored");
    cr_assert_eq (sched_keys_held (g), 5);
    cr_assert_eq (sched_keys_release (g, 10, out, 8), 1);
    cr_assert (out[0] == 2, "2 is free for [10,20) now");
    cr_assert (sched_keys_free (g, 10, 2));
    cr_assert_not (sched_keys_free (g, 10, 3), "3 is still held by [0,10)");
    cr_assert_eq (sched_keys_report (g, 0, 10, (uint64_t[]){1, 2, 3}, 3), 0);
    cr_assert (sched_keys_free (g, 10, 2), "a report again keeps it given up");
    cr_assert_eq (sched_keys_drop_keys (g, 0, (uint64_t[]){1, 3}, 2), 2);
    cr_assert_eq (sched_keys_release (g, 10, out, 8), 1);
    cr_assert (out[0] == 3);
    cr_assert_eq (sched_keys_ranges (g), 2, "[0,10) leaves only when done");
    cr_assert_eq (sched_keys_done (g, 0, 10), 1);
    sched_keys_destroy (&g);
}
