/*  sl_hash - the one integer hash: Fibonacci (multiplicative) hashing of a
    64-bit key, whose high bits are well mixed even for consecutive keys
    (job ids, record ids). Take the bits you need from the top.
*/
#ifndef SL_HASH_H_INCLUDED
#define SL_HASH_H_INCLUDED

#include <stdint.h>

static inline uint64_t
sl_hash_u64 (uint64_t key)
{
    return key * 0x9E3779B97F4A7C15ull; //  2^64 / the golden ratio
}

#endif
