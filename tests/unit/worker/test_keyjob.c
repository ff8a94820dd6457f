/*  test_keyjob - a job's records by key (wrk_keys), against a model.

    Random jobs (keys from one to many, some records without a key), a
    random GATE (some hashes blocked, or all) and RELEASEs in random
    pieces, with repeats and hashes the job does not have. Checked: KEYS
    is the job's distinct hashes, sorted; a keyed record is given out only
    once its hash is free, an unkeyed one at the GATE; each call gives
    indices in ascending order, so a key's records go in offset order;
    every record is given exactly once, and the job is done when all its
    hashes were released. SLUICE_TEST_SEED=<seed> replays a failure.
*/
#include <criterion/criterion.h>
#include <string.h>
#include "test_rand.h"
#include "wrk_keys.h"

#define MAXN 300

static char s_keybuf[MAXN][16];
static const void *s_keys[MAXN];
static size_t s_lens[MAXN];
static uint64_t s_hash[MAXN];
static int s_given_at[MAXN]; /* the call that gave record i, -1 if none  */

//  True if h is in a[0..n).
static bool
s_in (const uint64_t *a, size_t n, uint64_t h)
{
    for (size_t i = 0; i < n; i++)
        if (a[i] == h)
            return true;
    return false;
}

//  Check one call's indices and note them as given by call `call`.
static void
s_take (const size_t *idx, size_t got, int call, size_t n)
{
    for (size_t k = 0; k < got; k++) {
        CHECK (idx[k] < n, "index %zu of %zu", idx[k], n);
        CHECK (k == 0 || idx[k] > idx[k - 1], "indices not ascending");
        CHECK (s_given_at[idx[k]] < 0, "record %zu given twice", idx[k]);
        s_given_at[idx[k]] = call;
    }
}

static void
s_run (uint64_t seed)
{
    s_srand (seed);
    size_t n = 1 + (size_t)(s_rand () % MAXN);
    uint64_t space = 1 + s_rand () % 50;
    for (size_t i = 0; i < n; i++) {
        bool keyed = s_rand () % 10 != 0;
        snprintf (s_keybuf[i], sizeof s_keybuf[i], "k%" PRIu64,
                  s_rand () % space);
        s_keys[i] = keyed ? s_keybuf[i] : NULL;
        s_lens[i] = keyed ? strlen (s_keybuf[i]) : 0;
        s_hash[i] = keyed ? wrk_keys_hash (s_keybuf[i], s_lens[i]) : 0;
        s_given_at[i] = -1;
    }
    wrk_keys_job_t job;
    cr_assert_eq (wrk_keys_job_init (&job, s_keys, s_lens, n), 0);

    //  KEYS: distinct, sorted, exactly the keyed records' hashes.
    uint64_t set[MAXN];
    size_t nset = wrk_keys_job_set (&job, set);
    for (size_t k = 1; k < nset; k++)
        CHECK (set[k] > set[k - 1], "KEYS not sorted and distinct");
    for (size_t i = 0; i < n; i++)
        if (s_keys[i])
            CHECK (s_in (set, nset, s_hash[i]), "a record's hash not in KEYS");
    for (size_t k = 0; k < nset; k++) {
        bool found = false;
        for (size_t i = 0; i < n && !found; i++)
            found = s_keys[i] && s_hash[i] == set[k];
        CHECK (found, "KEYS holds a hash no record has");
    }

    size_t idx[MAXN];
    uint64_t none[1] = {0};
    CHECK (wrk_keys_job_release (&job, set, nset, idx) == 0,
           "a RELEASE before the GATE gives nothing");

    //  GATE: a random blocked subset (sorted, as the scheduler sends it),
    //  or all.
    bool all = s_rand () % 4 == 0;
    uint64_t blocked[MAXN];
    size_t nblocked = 0;
    for (size_t k = 0; k < nset; k++)
        if (s_rand () % 2)
            blocked[nblocked++] = set[k];
    size_t got = wrk_keys_job_gate (&job, all, blocked, nblocked, idx);
    s_take (idx, got, 0, n);
    for (size_t i = 0; i < n; i++) {
        bool free_now =
            !s_keys[i] || (!all && !s_in (blocked, nblocked, s_hash[i]));
        CHECK ((s_given_at[i] == 0) == free_now,
               "record %zu given=%d at the GATE, free=%d", i,
               s_given_at[i] == 0, free_now);
    }
    CHECK (wrk_keys_job_gate (&job, false, none, 0, idx) == 0,
           "a second GATE gives nothing");

    //  RELEASEs: the held hashes in random pieces, with repeats and
    //  strangers; a record goes only once its hash is released.
    uint64_t held[MAXN];
    size_t nheld = all ? nset : nblocked;
    memcpy (held, all ? set : blocked, nheld * sizeof held[0]);
    bool released[MAXN] = {false};
    int call = 1;
    while (!wrk_keys_job_done (&job)) {
        uint64_t piece[MAXN + 2];
        size_t np = 0;
        for (size_t k = 0; k < nheld; k++)
            if (s_rand () % 3 == 0)
                piece[np++] = held[k];
        if (np && s_rand () % 2)
            piece[np++] = piece[0]; //  a repeat
        piece[np++] = s_rand ();    //  a hash the job does not have
        for (size_t k = 0; k < nheld; k++)
            released[k] = released[k] || s_in (piece, np, held[k]);
        got = wrk_keys_job_release (&job, piece, np, idx);
        s_take (idx, got, call, n);
        for (size_t i = 0; i < n; i++)
            if (s_given_at[i] == call)
                CHECK (s_in (piece, np, s_hash[i]),
                       "record %zu given by a RELEASE of another hash", i);
        for (size_t i = 0; i < n; i++)
            if (s_given_at[i] < 0)
                for (size_t k = 0; k < nheld; k++)
                    CHECK (!(held[k] == s_hash[i] && released[k]),
                           "record %zu held after its hash was released", i);
        CHECK (call < 10000, "the job never ends");
        call++;
    }
    for (size_t i = 0; i < n; i++)
        CHECK (s_given_at[i] >= 0, "record %zu never given", i);
    //  A key's records went out in one call, in offset order.
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n; j++)
            if (s_keys[i] && s_keys[j] && s_hash[i] == s_hash[j])
                CHECK (s_given_at[i] == s_given_at[j],
                       "records %zu and %zu of one key went apart", i, j);
    CHECK (wrk_keys_job_release (&job, set, nset, idx) == 0,
           "nothing is left to give");
    wrk_keys_job_fini (&job);
}

Test (keyjob, against_the_model)
{
    uint64_t base = s_base_seed ();
    for (uint64_t i = 0; i < 2000; i++)
        s_run (base + i);
}

static int
s_cmp (const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

Test (keyjob, hashes)
{
    cr_assert_neq (wrk_keys_hash ("a", 1), wrk_keys_hash ("b", 1));
    cr_assert_neq (wrk_keys_hash ("ab", 2), wrk_keys_hash ("ba", 2));
    cr_assert_eq (wrk_keys_hash ("key", 3), wrk_keys_hash ("key", 3));
    //  Distinct keys, distinct hashes (a collision only blocks more, but
    //  a weak hash would serialise unrelated keys).
    enum { KEYS = 20000 };
    static uint64_t h[KEYS];
    for (int i = 0; i < KEYS; i++) {
        char k[16];
        int len = snprintf (k, sizeof k, "user-%d", i);
        h[i] = wrk_keys_hash (k, (size_t)len);
    }
    qsort (h, KEYS, sizeof h[0], s_cmp);
    for (int i = 1; i < KEYS; i++)
        cr_assert_neq (h[i], h[i - 1], "two keys of %d share a hash", KEYS);
    //  An empty key is a key (not the same as none).
    const void *keys[] = {"", NULL};
    size_t lens[] = {0, 0};
    wrk_keys_job_t job;
    cr_assert_eq (wrk_keys_job_init (&job, keys, lens, 2), 0);
    uint64_t set[2];
    cr_assert_eq (wrk_keys_job_set (&job, set), 1);
    size_t idx[2];
    cr_assert_eq (wrk_keys_job_gate (&job, true, NULL, 0, idx), 1,
                  "with all blocked, only the unkeyed record runs");
    cr_assert_eq (idx[0], 1);
    cr_assert_eq (wrk_keys_job_release (&job, set, 1, idx), 1);
    cr_assert_eq (idx[0], 0);
    cr_assert (wrk_keys_job_done (&job));
    wrk_keys_job_fini (&job);
}
