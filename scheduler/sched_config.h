/*  sched_config - the scheduler's settings, as sched_main parsed them from
    its flags (docs/OPERATIONS.md says what each does). Read-only once the
    scheduler runs; every module that needs a setting gets this struct or
    the one value it needs.
*/
#ifndef SCHED_CONFIG_H_INCLUDED
#define SCHED_CONFIG_H_INCLUDED

#include <stdbool.h>
#include <stdint.h>
#include "sl_flags.h"

typedef struct {
    char *brokers;
    sl_strlist_t topics;
    char *group;
    char *bind;
    int64_t job_records;
    int64_t window;
    char *order;    /* --order: "none", "partition" (window 1) or "key"    */
    bool key_order; /* --order key                                       */
    int64_t commit_interval_ms;
    int64_t tail_poll_ms; /* end offsets this often while tailing        */
    int64_t job_timeout_ms;
    int64_t max_attempts;
    int64_t heartbeat_ms;
    int64_t liveness;
    int64_t metadata_max_bytes;
    char *dlq_topic;   /* NULL or "": <topic>.dlq                           */
    char *state_topic; /* completion markers (sched_marks), or ""        */
    bool exactly_once; /* fence before a job runs again (sched_eos)      */
    bool drain;
    int64_t drain_linger_ms; /* after a drain: answer late HELLOs this long */
    int64_t drain_linger_workers; /* ...or until this many were told      */
    char *progress;     /* "auto", "bar", "lines", "off"                      */
    char *metrics_addr; /* HOST:PORT for /metrics, /healthz, /readyz, or "" */
    sl_strlist_t props;
    char *curve_cert;        /* our keypair, or "": no CURVE               */
    char *curve_clients_dir; /* allowed workers' public certificates       */
    bool curve_allow_any;    /* any client that completes CURVE            */
    int64_t max_workers;     /* HELLOs beyond this many workers are refused */
    char *instance_id; /* group.instance.id (static membership), or ""   */
} sched_config_t;

#endif
