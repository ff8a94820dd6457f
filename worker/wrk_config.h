/*  wrk_config - the worker's configuration, as worker_main.c parses it
    from flags and environment (sluice-worker --help has each flag). The
    daemon (worker) and each executor (wrk_exec) read it; nothing writes
    it after parsing.
*/
#ifndef WRK_CONFIG_H_INCLUDED
#define WRK_CONFIG_H_INCLUDED

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
    /*  --exactly-once: each lane's output is a transactional producer
        (transactional.id "<txn_id>-<lane>"); a job's outputs, dead letters
        and completion marker commit together or not at all.            */
    bool exactly_once;
    char *txn_id; /* --transactional-id, or "sluice-<host>-<pid>"       */
    bool drain;   /* exit 0 once every scheduler says its drain finished  */
    int64_t drain_wait_ms; /* --drain: give up after this long with no word
                              from an unfinished scheduler (0: never)    */
    char *metrics_addr; /* HOST:PORT for /metrics, /healthz, /readyz, or "" */
    sl_strlist_t props;
    char *curve_cert;        /* our keypair, or "": no CURVE               */
    char *curve_server_cert; /* the schedulers' public certificate         */
} wrk_config_t;

#endif
