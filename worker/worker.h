/*  worker - the sluice worker daemon.

    The main thread runs a zloop over one DEALER socket per scheduler
    (wrk_scheds), one pipe per executor lane (wrk_lanes), the heartbeat
    timer and a signal pipe. Jobs run on the executor threads (wrk_exec,
    one per --concurrency lane), each of which owns a Kafka consumer, a
    producer and the plugin (or shares a thread-safe one). Each scheduler
    connection gets --credits: the worker holds at most that many of its
    jobs, so the next job's fetch overlaps the current job's processing.
    With --metrics-addr the loop publishes /metrics (wrk_metrics).
*/
#ifndef WORKER_H_INCLUDED
#define WORKER_H_INCLUDED

#include <stddef.h>
#include "wrk_config.h"

typedef struct _worker_t worker_t;

/*  Load the plugin, create the Kafka clients, connect to the schedulers.
    Returns NULL with one line in err: the caller exits 2.                */
worker_t *worker_new (const wrk_config_t *cfg, char *err, size_t errlen);

/*  Run until SIGTERM/SIGINT (then finish or return jobs within
    --grace-ms) or, with --drain, until every scheduler is finished.
    Returns the exit code.                                                 */
int worker_run (worker_t *self);

void worker_destroy (worker_t **self_p);

#endif
