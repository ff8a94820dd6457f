/*  wrk_keys - a job's records by key. See wrk_keys.h.                  */
#include "wrk_keys.h"

#include <stdlib.h>
#include <string.h>
#include "sl_hash.h"

//  See wrk_keys.h.
uint64_t
wrk_keys_hash (const void *key, size_t len)
{
    const unsigned char *p = key;
    uint64_t h = SL_HASH_FNV_INIT;
    for (size_t i = 0; i < len; i++)
        h = sl_hash_fnv_step (h, p[i]);
    return sl_hash_u64 (h ^ (h >> 29)); //  spread FNV's weak low bits
}

//  See wrk_keys.h.
int
wrk_keys_job_init (wrk_keys_job_t *job, const void *const *keys,
                   const size_t *lens, size_t n)
{
    memset (job, 0, sizeof *job);
    size_t room = n ? n : 1;
    job->hash = malloc (room * sizeof *job->hash);
    job->keyed = malloc (room * sizeof *job->keyed);
    job->given = calloc (room, sizeof *job->given);
    if (!job->hash || !job->keyed || !job->given) {
        wrk_keys_job_fini (job);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        job->keyed[i] = keys[i] != NULL;
        job->hash[i] = keys[i] ? wrk_keys_hash (keys[i], lens[i]) : 0;
    }
    job->n = job->left = n;
    return 0;
}

void
wrk_keys_job_fini (wrk_keys_job_t *job)
{
    free (job->hash);
    free (job->keyed);
    free (job->given);
    memset (job, 0, sizeof *job);
}

static int
s_cmp_u64 (const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

//  True if key is in sorted[0..n).
static bool
s_has (const uint64_t *sorted, size_t n, uint64_t key)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (sorted[mid] < key)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < n && sorted[lo] == key;
}

//  See wrk_keys.h.
size_t
wrk_keys_job_set (const wrk_keys_job_t *job, uint64_t *out)
{
    size_t n = 0;
    for (size_t i = 0; i < job->n; i++)
        if (job->keyed[i])
            out[n++] = job->hash[i];
    qsort (out, n, sizeof *out, s_cmp_u64);
    size_t distinct = 0;
    for (size_t i = 0; i < n; i++)
        if (distinct == 0 || out[i] != out[distinct - 1])
            out[distinct++] = out[i];
    return distinct;
}

//  Give out record i: its index to out.
static void
s_give (wrk_keys_job_t *job, size_t i, size_t *out, size_t *got)
{
    job->given[i] = true;
    job->left--;
    out[(*got)++] = i;
}

//  See wrk_keys.h.
size_t
wrk_keys_job_gate (wrk_keys_job_t *job, bool all, const uint64_t *blocked,
                   size_t nblocked, size_t *out)
{
    if (job->gated)
        return 0;
    job->gated = true;
    size_t got = 0;
    for (size_t i = 0; i < job->n; i++)
        if (!job->keyed[i] ||
            (!all && !s_has (blocked, nblocked, job->hash[i])))
            s_give (job, i, out, &got);
    return got;
}

//  See wrk_keys.h.
size_t
wrk_keys_job_release (wrk_keys_job_t *job, const uint64_t *hashes,
                      size_t nhashes, size_t *out)
{
    if (!job->gated || nhashes == 0 || job->left == 0)
        return 0;
    uint64_t *sorted = malloc (nhashes * sizeof *sorted);
    if (!sorted)
        return 0; //  the hashes stay held: a later RELEASE or the lease
    memcpy (sorted, hashes, nhashes * sizeof *sorted);
    qsort (sorted, nhashes, sizeof *sorted, s_cmp_u64);
    size_t got = 0;
    for (size_t i = 0; i < job->n; i++)
        if (!job->given[i] && s_has (sorted, nhashes, job->hash[i]))
            s_give (job, i, out, &got);
    free (sorted);
    return got;
}

//  See wrk_keys.h.
bool
wrk_keys_job_done (const wrk_keys_job_t *job)
{
    return job->left == 0;
}
