/*  sl_hash - the project's hashes: Fibonacci (multiplicative) hashing of a
    64-bit key, whose high bits are well mixed even for consecutive keys
    (job ids, record ids; take the bits you need from the top), and FNV-1a
    for digests of strings and values (the scheduler's commits).
*/
#ifndef SL_HASH_H_INCLUDED
#define SL_HASH_H_INCLUDED

#include <stdint.h>

static inline uint64_t
sl_hash_u64 (uint64_t key)
{
    return key * 0x9E3779B97F4A7C15ull; //  2^64 / the golden ratio
}

/*  FNV-1a: start from SL_HASH_FNV_INIT, then add strings and values.    */
#define SL_HASH_FNV_INIT 1469598103934665603ull

/*  h with one whole value added (one FNV-1a step).                       */
static inline uint64_t
sl_hash_fnv_step (uint64_t h, uint64_t v)
{
    return (h ^ v) * 1099511628211ull;
}

/*  h with the bytes of the NUL-terminated string s added.                */
static inline uint64_t
sl_hash_fnv_str (uint64_t h, const char *s)
{
    for (; *s; s++)
        h = sl_hash_fnv_step (h, (unsigned char)*s);
    return h;
}

#endif
