/*  worker - the sluice worker daemon.

    The main thread runs a zloop over one DEALER socket per scheduler, the
    heartbeat timer and a signal pipe. Jobs run one at a time on the
    executor thread (wrk_exec), which owns the Kafka consumer, the plugin
    and the producer. Each scheduler connection gets --credits: the worker
    holds at most that many of its jobs, so the next job's fetch overlaps
    the current job's processing.
*/
#ifndef WORKER_H_INCLUDED
#define WORKER_H_INCLUDED

#include <stdbool.h>
#include <stdint.h>
#include "sl_flags.h"

typedef struct {
    char *brokers;
    sl_strlist_t schedulers;
    char *plugin;
    sl_strlist_t plugin_opts;
    char *output_topic;
    int64_t credits;
    int64_t concurrency; /* jobs run at once (executor threads)          */
    int64_t grace_ms;
    int64_t heartbeat_ms;
    int64_t liveness;
    int64_t batch_size;
    int64_t record_retries;
    int64_t flush_timeout_ms;
    bool drain; /* exit 0 once every scheduler says its drain finished  */
    int64_t drain_wait_ms; /* --drain: give up after this long with no word
                              from an unfinished scheduler (0: never)    */
    char *metrics_addr; /* HOST:PORT for /metrics, /healthz, /readyz, or "" */
    sl_strlist_t props;
    char *curve_cert;        /* our keypair, or "": no CURVE               */
    char *curve_server_cert; /* the schedulers' public certificate         */
} wrk_config_t;

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
