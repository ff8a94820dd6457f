/*  wrk_exec_int - the executor's inside, shared by wrk_exec.c (the actor,
    unkeyed jobs) and wrk_keyed.c (keyed jobs, --order key). Nothing else
    includes it.
*/
#ifndef WRK_EXEC_INT_H_INCLUDED
#define WRK_EXEC_INT_H_INCLUDED

#include <czmq.h>
#include <stdatomic.h>
#include <librdkafka/rdkafka.h>
#include "sluice/plugin.h"
#include "wrk_config.h"
#include "wrk_kafka.h"
#include "wrk_msg.h"
#include "wrk_output.h"
#include "wrk_plugin.h"
#include "wrk_reader.h"
#include "wrk_tally.h"

typedef struct _wrk_exec_t wrk_exec_t; /* wrk_exec.h's */

typedef struct {
    int sched;
    Sluice__Job *job;
    bool cancelled;
    bool parked; /* a keyed job waiting for its keys: wrk_keyed owns it */
    bool held;   /* done, its DONE waits for its transaction's commit
                    (--exactly-once group commit): self->held owns it */
} exec_job_t;

struct _wrk_exec_t {
    const wrk_config_t *cfg;
    zsock_t *pipe;
    wrk_kafka_fatal_t *fatal; /* the Kafka clients' fatal error, if any  */
    wrk_reader_t *reader;     /* the consumer and its position          */
    wrk_output_t *output;     /* the producer: output and dead letters  */
    wrk_plugin_t *plugin;
    zlistx_t *fifo; /* exec_job_t *, waiting                      */
    exec_job_t *current;
    bool stopping;
    int64_t stop_deadline;
    int64_t idle_ms; /* idle since its last job (EXEC_IDLE_POLL_MS steps) */
    //  Per-batch buffers handed to the plugin.
    rd_kafka_message_t **msgs;
    sluice_record_t *recs;
    sluice_outcome_t *outs;
    sluice_header_t *hdrs;
    size_t hdr_cap;
    bool fatal_sent;
    wrk_tally_t *tally;
    const char *dlq_topic;
    int64_t progress_ms; /* when the last PROGRESS went out              */
    int64_t chores_ns;   /* when callbacks and commands were last served  */
    int lane;            /* our index among the worker's lanes            */
    int tail_sched;      /* the scheduler of the last job, -1: none       */
    zlistx_t *parked;    /* keyed_t * (wrk_keyed.c): keyed jobs read and
                            waiting for GATE or RELEASE                */
    _Atomic size_t key_waiting; /* their records not run yet (metrics) */
    zlistx_t *held;      /* wrk_held_t * (wrk_job.c): jobs done whose shared
                            transaction is not committed yet, oldest first   */
    exec_job_t *reading; /* a keyed job read while another one's part
                            runs (wrk_keyed_read_queued)             */
};

/*  Tell the main thread about job id of scheduler sched.                */
void wrk_exec_reply (wrk_exec_t *self, wrk_msg_type_t type, int sched,
                     uint64_t id);

/*  Free a job taken off the FIFO (or out of the parked list).            */
void wrk_exec_job_free (exec_job_t *ej);

/*  Run the plugin over self->msgs[0..n) into self->tally. 0, or -1 if the
    batch failed as a whole (tally->error says why).                      */
int wrk_exec_run_plugin (wrk_exec_t *self, const Sluice__Job *job, size_t n);

/*  Callbacks, commands and PROGRESS for ej, every so often while records
    flow (n > 0: records were just taken), at once when n is 0.          */
void wrk_exec_chores (wrk_exec_t *self, exec_job_t *ej, ssize_t n);

/*  A job starts: BEGIN, a new delivery serial, the log line. Returns the
    start time (ms).                                                      */
int64_t wrk_exec_job_begin (wrk_exec_t *self, exec_job_t *ej);

/*  PROCESSED, then flush the output into t. 0 or -1.                    */
int wrk_exec_job_flush (wrk_exec_t *self, exec_job_t *ej, wrk_tally_t *t);

/*  The job ended, done (rc 0) or failed: log it and send DONE.          */
void wrk_exec_job_end (wrk_exec_t *self, exec_job_t *ej, wrk_tally_t *t, int rc,
                       int64_t t0);

/*  --exactly-once group commit: commit the open transaction now if jobs
    wait for it and the next job cannot join it (none, cancelled, keyed,
    or stopping), and send their DONEs (or FAILs).                        */
void wrk_exec_group_close (wrk_exec_t *self, const exec_job_t *next);

/*  PROGRESS for each job held for its transaction's commit.             */
void wrk_exec_held_progress (wrk_exec_t *self);

/*  Free the jobs still held (the lane is going away).                    */
void wrk_exec_held_free (wrk_exec_t *self);

/*  The job is abandoned (cancelled, or the stop deadline passed).        */
void wrk_exec_job_abandon (wrk_exec_t *self, exec_job_t *ej);

#endif
