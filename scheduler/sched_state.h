/*  sched_state - the scheduler as a whole: one part per idea, each owned
    by the module named after it. scheduler.c wires the parts together
    (each holds pointers to the parts below it) and runs the loop, and
    sched_ack.c, the part of that wiring that hears a job's end, sees them
    too; sched_metrics reads every part to render /metrics. No other
    module includes this header: each gets only the parts it needs.
*/
#ifndef SCHED_STATE_H_INCLUDED
#define SCHED_STATE_H_INCLUDED

#include <czmq.h>
#include "sched_commit.h"
#include "sched_conn.h"
#include "sched_crash.h"
#include "sched_dispatch.h"
#include "sched_drain.h"
#include "sched_eos.h"
#include "sched_failure.h"
#include "sched_member.h"
#include "sched_model.h"
#include "sched_order.h"
#include "sched_stats.h"
#include "sched_status.h"
#include "sched_config.h"
#include "sched_workers.h"

/*  scheduler.h calls it scheduler_t, its users outside; the parts here call
    it sched_state_t, without depending on the daemon's interface.       */
typedef struct _scheduler_t sched_state_t;

struct _scheduler_t {
    const sched_config_t *cfg;
    zsock_t *router;
    zactor_t *auth;    /* zauth, with CURVE                                */
    sched_conn_t conn; /* connections closing, handshakes (CURVE)         */
    char *endpoint;
    zloop_t *loop;
    struct _sl_http_t *http; /* --metrics-addr, or NULL                   */
    int64_t metrics_next_ms;
    sched_status_limit_t status_limit; /* STATUS answers a second       */
    int64_t loop_seen_ms;      /* when a timer last ran: a longer gap than
                                  SCHED_STALL_MS is a stall of our own loop  */
    sched_model_t model;       /* partitions, jobs, workers              */
    sched_stats_t stats;       /* counters and histograms                */
    sched_member_t member;     /* the consumer group                     */
    sched_eos_t eos;           /* --exactly-once: fencing, rosters       */
    sched_commit_t commit;     /* committing what is done                */
    sched_dispatch_t dispatch; /* which job to which worker              */
    sched_failure_t failure;   /* retries, bisection, DLQ, leases        */
    sched_crash_t crash;       /* a supervised worker's death: whose fault */
    sched_workers_t workers;   /* HELLO, credit, heartbeats, BYE         */
    sched_drain_t drain;       /* --drain: targets, progress, linger     */
    sched_order_t order;       /* --order key: KEYS, GATE, RELEASE        */
};

#endif
