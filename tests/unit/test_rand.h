/*  test_rand - the seeded PRNG the randomised unit tests share.

    splitmix64: small, fast, and the same on every platform. A test starts
    it with s_srand (s_base_seed () + i); a failure prints s_seed, and
    SLUICE_TEST_SEED=<seed> replays it.                                   */
#ifndef TEST_RAND_H_INCLUDED
#define TEST_RAND_H_INCLUDED

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
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

/*  In a Criterion test: fail with the message and the seed that
    reproduces the failure.                                              */
#define CHECK(cond, ...)                                                       \
    do {                                                                       \
        if (!(cond)) {                                                         \
            char why_[512];                                                    \
            snprintf (why_, sizeof why_, __VA_ARGS__);                         \
            cr_assert_fail ("%s (seed %" PRIu64                                \
                            ", rerun with SLUICE_TEST_SEED=%" PRIu64 ")",      \
                            why_, s_seed, s_seed);                             \
        }                                                                      \
    } while (0)

#endif
