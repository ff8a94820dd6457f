/*  wrk_metrics - the worker's Prometheus page and readiness, as
    sched_metrics is the scheduler's: rendered on the loop thread every
    500 ms and handed to sl_http, which serves the copy, so scrapes never
    touch loop state. Names follow Prometheus conventions (sluice_worker_
    prefix, base units, _total counters).

    It keeps the totals of the DONEs the worker forwarded, and samples of
    the records total for sluice_worker_records_per_second; what lives
    elsewhere (connections, lanes, the consumers' statistics) is given at
    each publish.
*/
#ifndef WRK_METRICS_H_INCLUDED
#define WRK_METRICS_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "sl_http.h"
#include "sl_proto.h"

typedef struct _wrk_metrics_t wrk_metrics_t;

/*  The worker's state the page shows, read at each publish.             */
typedef struct {
    size_t connected; /* schedulers announced to and heard from          */
    size_t running;   /* jobs running now                                */
    uint64_t fetched, fetched_bytes, wakes; /* the lanes' consumers      */
    size_t key_waiting; /* keyed records read, not run yet (--order key) */
    bool stopping;
} wrk_metrics_live_t;

/*  Nothing counted yet. NULL if out of memory.                          */
wrk_metrics_t *wrk_metrics_new (void);

void wrk_metrics_destroy (wrk_metrics_t **self_p);

/*  Count one DONE the worker forwarded.                                 */
void wrk_metrics_done (wrk_metrics_t *self, const Sluice__Done *done);

/*  Write the page to f as of now (monotonic ms); takes a rate sample.   */
void wrk_metrics_render (wrk_metrics_t *self, FILE *f,
                         const wrk_metrics_live_t *live, int64_t now);

/*  Render the page and hand it to http with the readiness: ready while
    announced to some scheduler and not stopping.                        */
void wrk_metrics_publish (wrk_metrics_t *self, sl_http_t *http,
                          const wrk_metrics_live_t *live);

#endif
