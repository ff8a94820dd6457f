/*  wrk_keys - a job's records by key, for --order key (issue 21, the
    worker's side; not wired into the lanes yet: DESIGN.md, "Key order").

    The worker reads a job's whole range, hashes each record's key (64
    bits; a collision only makes the gate block more) and reports the
    distinct hashes (KEYS). The scheduler answers which are blocked
    (GATE: some, or all while an earlier range is unknown) and later
    frees them (RELEASE). This module turns those answers into the order
    records are handed to the plugin: a key's records run together and
    in offset order, never before its hash is free; records without a
    key are never held (unordered, DESIGN.md). Each record is given out
    exactly once.
*/
#ifndef WRK_KEYS_H_INCLUDED
#define WRK_KEYS_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*  The hash of a key's bytes (FNV-1a, then a multiplicative mix).        */
uint64_t wrk_keys_hash (const void *key, size_t len);

typedef struct {
    size_t n;       /* records in the job, in offset order              */
    uint64_t *hash; /* per record                                       */
    bool *keyed;    /* per record: it has a key                         */
    bool *given;    /* per record: handed out                           */
    size_t left;    /* not handed out yet                               */
    bool gated;     /* the GATE came                                    */
} wrk_keys_job_t;

/*  Set up job for n records whose keys are keys[i] / lens[i] (NULL: no
    key). 0, or -1 when out of memory (job is then empty).               */
int wrk_keys_job_init (wrk_keys_job_t *job, const void *const *keys,
                       const size_t *lens, size_t n);
void wrk_keys_job_fini (wrk_keys_job_t *job);

/*  The job's distinct key hashes, sorted, into out (room for job->n):
    what KEYS carries. Returns how many.                                  */
size_t wrk_keys_job_set (const wrk_keys_job_t *job, uint64_t *out);

/*  GATE: with all, every keyed record waits; else those whose hash is in
    blocked (sorted). Writes the indices of the records that may run now,
    ascending, to out (room for job->n); returns how many. A second GATE
    gives nothing (the first one counts).                                 */
size_t wrk_keys_job_gate (wrk_keys_job_t *job, bool all,
                          const uint64_t *blocked, size_t nblocked,
                          size_t *out);

/*  RELEASE: the hashes (any order) no longer wait. Writes the indices of
    the records that may run now and were not given out, ascending, to
    out; returns how many. Before the GATE, nothing.                      */
size_t wrk_keys_job_release (wrk_keys_job_t *job, const uint64_t *hashes,
                             size_t nhashes, size_t *out);

/*  True once every record was given out.                                 */
bool wrk_keys_job_done (const wrk_keys_job_t *job);

#endif
