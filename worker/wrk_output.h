/*  wrk_output - an executor's writing side: one idempotent producer
    (enable.idempotence=true) for the plugin's records (--output-topic)
    and for dead letters (each job's DLQ topic).

    Every record is copied into librdkafka (RD_KAFKA_MSG_F_COPY). A job's
    records are tagged with its serial number, so a delivery report that
    arrives late for an earlier job does not fail the current one. A job
    ends with wrk_output_flush: it succeeds only once everything produced
    is acknowledged and no delivery of this job failed.

    Every call is made on the executor's thread.
*/
#ifndef WRK_OUTPUT_H_INCLUDED
#define WRK_OUTPUT_H_INCLUDED

#include <stddef.h>
#include <stdint.h>
#include <librdkafka/rdkafka.h>
#include "sluice/plugin.h"
#include "wrk_config.h"
#include "wrk_kafka.h"
#include "sluice.pb-c.h"

typedef struct _wrk_output_t wrk_output_t;

/*  Create the producer: our defaults, then those -X properties a producer
    knows (consumer-only ones are skipped). Its errors are reported to
    fatal, which must outlive the output. Returns NULL with one line in
    err.                                                                  */
wrk_output_t *wrk_output_new (const wrk_config_t *cfg, wrk_kafka_fatal_t *fatal,
                              int lane, char *err, size_t errlen);

/*  Flush what is left (up to 5 s), destroy, null the pointer.           */
void wrk_output_destroy (wrk_output_t **self_p);

/*  Before the first job: look the output topic up, and meet the cluster
    at once, so wrong security settings are found at start.              */
void wrk_output_warm_up (wrk_output_t *self);

/*  Look a dead-letter topic up before copying to it (NULL or "": none). */
void wrk_output_warm_dlq (wrk_output_t *self, const char *topic);

/*  A new job: its delivery failures start at none.                      */
void wrk_output_job_begin (wrk_output_t *self);

/*  A plugin record for the output topic. Returns 0, or -1 if there is no
    output topic or librdkafka refused the record (the job then fails at
    its flush).                                                          */
int wrk_output_emit (wrk_output_t *self, const sluice_emit_t *rec);

/*  Copy one raw record to topic with headers that say where it came from
    and why: its own headers, then sluice.source.topic,
    sluice.source.partition, sluice.source.offset, sluice.attempts and
    sluice.reason. Returns 0 or -1, like emit.                           */
int wrk_output_dead_letter (wrk_output_t *self, const char *topic,
                            const rd_kafka_message_t *msg, uint32_t attempts,
                            const char *reason);

/*  --exactly-once (cfg->exactly_once): the producer is transactional
    (transactional.id "<cfg->txn_id>-<lane>", initialised by new, which
    fences an earlier producer of that id). job_begin begins a
    transaction, flush commits it (a failure, or any delivery failed:
    aborted, the job fails, INFRA), purge and abort abort it. Nothing of
    a job that did not commit is seen by read_committed readers.

    The job's completion marker, in its transaction (before flush): only
    with --exactly-once, and if the job names a state topic.             */
void wrk_output_mark (wrk_output_t *self, const Sluice__Job *job);
/*  Transactional producers the lanes replaced after a fatal failure
    that was not fencing, since start (any thread).                      */
uint64_t wrk_output_txn_resets (void);
/*  Abort the open transaction, if any (a failed or abandoned job).      */
void wrk_output_abort (wrk_output_t *self);

/*  --exactly-once, group commit: the open transaction goes on into the
    next job (whose begin neither aborts it nor begins another).         */
void wrk_output_defer (wrk_output_t *self);

/*  The open transaction's number (0: none), its age (ms) and how many
    jobs it holds.                                                        */
uint64_t wrk_output_txn (const wrk_output_t *self, int64_t *age_ms,
                         uint32_t *jobs);

/*  The number of the last transaction committed (0: none yet).          */
uint64_t wrk_output_committed (const wrk_output_t *self);
/*  Serve the producer's callbacks (delivery reports, errors).           */
void wrk_output_poll (wrk_output_t *self);

/*  Wait up to --flush-timeout-ms until everything produced is
    acknowledged. Returns 0, or -1 with one line in err: not flushed in
    time, or a delivery of this job failed.                              */
int wrk_output_flush (wrk_output_t *self, char *err, size_t errlen);

/*  Drop what is still queued for sending (an abandoned job).            */
void wrk_output_purge (wrk_output_t *self);

/*  True if the output refused something of the current job (a delivery
    or a produce call failed) or its flush timed out.                    */
bool wrk_output_failed (const wrk_output_t *self);

/*  Why: the first refusal ("produce to T: ..."; a record's own before
    others), or "" if nothing was refused (the flush timed out).         */
const char *wrk_output_error (const wrk_output_t *self);

/*  After the output failed a job (wrk_output_failed): whose fault, as a
    Sluice__FaultClass. RECORD if a record of the job was refused for
    itself (too large, invalid); else INFRA, with the Kafka error's name
    (FLUSH_TIMEOUT if nothing was refused but acks never came) in *code
    and the topic in *target.                                            */
int wrk_output_fault (const wrk_output_t *self, const char **code,
                      const char **target);

#endif
