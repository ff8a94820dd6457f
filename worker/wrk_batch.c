/*  wrk_batch - how a worker runs a batch of records through its plugin.
    See wrk_batch.h.
*/
#include "wrk_batch.h"

#include <errno.h>
#include <stdio.h>
#include <time.h>
#include "sl_clock.h"

//  Backoff before retry round `round`: 20 ms doubling to 640 ms.
static void
s_retry_backoff (int64_t round)
{
    struct timespec ts = {0, 10000000L << (round < 6 ? round : 6)};
    while (nanosleep (&ts, &ts) != 0 && errno == EINTR)
        ;
}

//  Run a batch with retries; see wrk_batch.h.
int
wrk_batch_run (wrk_plugin_t *self, const sluice_record_t *records, size_t n,
               sluice_outcome_t *out, int64_t retries, wrk_retry_fn *on_retry,
               void *arg, uint64_t *retried, int64_t *plugin_ns)
{
    int64_t t0 = sl_now_ns ();
    int rc = wrk_plugin_process (self, records, n, out);
    *plugin_ns += sl_now_ns () - t0;
    if (rc != 0)
        return -1;
    for (int64_t round = 1; round <= retries; round++) {
        size_t waiting = 0;
        for (size_t i = 0; i < n; i++)
            waiting += out[i].code == SLUICE_RETRY;
        if (waiting == 0)
            break;
        s_retry_backoff (round);
        t0 = sl_now_ns ();
        for (size_t i = 0; i < n; i++) {
            if (out[i].code != SLUICE_RETRY)
                continue;
            (*retried)++;
            if (on_retry)
                on_retry (arg, i, round);
            if (wrk_plugin_process (self, &records[i], 1, &out[i]) != 0)
                out[i].code = SLUICE_RETRY;
        }
        *plugin_ns += sl_now_ns () - t0;
    }
    return 0;
}

//  Why a record was not OK; see wrk_batch.h.
const char *
wrk_batch_reject_reason (const sluice_outcome_t *out, char *buf, size_t size)
{
    snprintf (buf, size, "%s%s",
              out->code == SLUICE_RETRY ? "gave up retrying: " : "",
              out->reason[0] ? out->reason : "rejected by plugin");
    return buf;
}
