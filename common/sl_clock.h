/*  sl_clock - the one clock sluice's processes measure time with:
    CLOCK_MONOTONIC, read as milliseconds (deadlines, leases, heartbeats),
    microseconds (short durations) or nanoseconds (the executor's time
    budget, read once per batch). Log timestamps are the only reading of
    the wall clock (sl_log).
*/
#ifndef SL_CLOCK_H_INCLUDED
#define SL_CLOCK_H_INCLUDED

#include <stdint.h>

int64_t sl_now_ms (void);
int64_t sl_now_us (void);
int64_t sl_now_ns (void);

#endif
