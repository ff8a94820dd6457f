/*  sl_clock - the monotonic clock. See sl_clock.h.                       */
#include "sl_clock.h"

#include <time.h>

int64_t
sl_now_ns (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t
sl_now_us (void)
{
    return sl_now_ns () / 1000;
}

int64_t
sl_now_ms (void)
{
    return sl_now_ns () / 1000000;
}
