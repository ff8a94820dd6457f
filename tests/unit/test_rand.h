/*  test_rand - the seeded PRNG the randomised unit tests share.

    splitmix64: small, fast, and the same on every platform. A test starts
    it with s_srand (s_base_seed () + i); a failure prints s_seed, and
    SLUICE_TEST_SEED=<seed> replays it.                                   */
#ifndef TEST_RAND_H_INCLUDED
#define TEST_RAND_H_INCLUDED

#include <stdint.h>
#include <stdlib.h>

static uint64_t s_seed;
static uint64_t s_state;

//  First seed of a random test: SLUICE_TEST_SEED, or a fixed default.
static __attribute__ ((unused)) uint64_t
s_base_seed (void)
{
    const char *env = getenv ("SLUICE_TEST_SEED");
    return env ? strtoull (env, NULL, 0) : 20240601;
}

//  Start the PRNG at seed.
static __attribute__ ((unused)) void
s_srand (uint64_t seed)
{
    s_seed = seed;
    s_state = seed;
}

//  The next 64 random bits.
static __attribute__ ((unused)) uint64_t
s_rand (void)
{
    uint64_t z = (s_state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

#endif
