/*  scheduler - the sluice scheduler daemon (an actor around one zloop).

    It joins the consumer group, owns the partitions Kafka gives it, cuts
    offset ranges into jobs, hands them to workers that have credit over a
    ROUTER socket, and commits the contiguous completed prefix of each
    partition with the completed ranges above it in the commit metadata.
    It never fetches record payloads.
*/
#ifndef SCHEDULER_H_INCLUDED
#define SCHEDULER_H_INCLUDED

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
    int64_t commit_interval_ms;
    int64_t job_timeout_ms;
    int64_t max_attempts;
    int64_t heartbeat_ms;
    int64_t liveness;
    int64_t metadata_max_bytes;
    char *dlq_topic; /* NULL or "": <topic>.dlq                           */
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
} sched_config_t;

typedef struct _scheduler_t scheduler_t;

/*  Create a scheduler: binds the ROUTER socket and creates the Kafka
    consumer. Returns NULL with one line in err (bad endpoint, refused
    Kafka property...). Does not take ownership of cfg, which must outlive
    the scheduler.                                                         */
scheduler_t *scheduler_new (const sched_config_t *cfg, char *err,
                            size_t errlen);

/*  Run until interrupted (SIGINT/SIGTERM) or, with --drain, until every
    owned partition is committed up to its drain mark. Returns the exit
    code: 0 on a finished drain or a clean stop, 1 on a fatal error or an
    interrupted drain.                                                    */
int scheduler_run (scheduler_t *self);

/*  Commit, say BYE to workers, leave the group, free everything, null the
    pointer.                                                               */
void scheduler_destroy (scheduler_t **self_p);

/*  The endpoint actually bound (resolves a "*" port).                    */
const char *scheduler_endpoint (scheduler_t *self);

#endif
