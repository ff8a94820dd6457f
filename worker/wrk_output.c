/*  wrk_output - an executor's producer. See wrk_output.h.               */
#include "wrk_output.h"

#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include "sl_clock.h"
#include "sl_kafka.h"
#include "sl_log.h"
#include "sl_proto.h"
#include "wrk_marks.h"

struct _wrk_output_t {
    const wrk_config_t *cfg;
    wrk_kafka_fatal_t *fatal;
    rd_kafka_t *producer;
    rd_kafka_topic_t *out_rkt; /* output topic, held: metadata kept       */
    rd_kafka_topic_t *dlq_rkt; /* last dead-letter topic, likewise        */
    //  Delivery accounting: produce opaque = job serial.
    uint64_t serial;
    uint64_t dr_failures;
    char dr_error[256];
    //  Whose fault the job's failed deliveries were: a record's (too
    //  large, invalid) if any was, else the destination's, by the first.
    bool dr_record;
    bool dr_timeout; /* the flush timed out                            */
    //  A topic the destination refused: librdkafka keeps the error on the
    //  topic (later produce calls fail at once) until its metadata is
    //  read again, five minutes by default; the next job asks for it
    //  first, so it finds out whether the fault cleared.
    bool refresh;
    rd_kafka_resp_err_t dr_err;
    char dr_topic[256];
    //  --exactly-once (cfg->exactly_once): a transaction open (from the
    //  job's begin to its commit or abort).
    bool in_txn;
    bool reset;             /* its producer failed fatally: make a new one */
    bool fenced;            /* ... because the scheduler fenced its id     */
    bool keep;              /* the next job goes on in the open transaction */
    uint64_t txn_gen;       /* the open (or last) transaction's number     */
    uint64_t committed_gen; /* the last one committed                     */
    int64_t txn_ms;         /* when the open one began                     */
    uint32_t txn_jobs;      /* jobs in it                                  */
    rd_kafka_conf_t *conf;  /* to make it (a copy; --exactly-once only)    */
    int lane;
};

//  Note one failed delivery (or produce call) of the current job. The
//  job's failure is its first, unless a record's own comes later: that
//  one says what to dead-letter and why.
static void
s_failed (wrk_output_t *self, const char *topic, rd_kafka_resp_err_t err)
{
    bool record = sl_kafka_error_is_record (err);
    if (!record)
        self->refresh = true;
    bool first = self->dr_failures++ == 0;
    if (self->fenced || (!first && (!record || self->dr_record)))
        return; //  fenced: that is the job's failure (s_txn_fatal)
    self->dr_record = record;
    self->dr_err = err;
    snprintf (self->dr_topic, sizeof self->dr_topic, "%s", topic);
    snprintf (self->dr_error, sizeof self->dr_error, "produce to %s: %s", topic,
              rd_kafka_err2str (err));
}

//  Delivery report: count failures of the current job.
static void
s_dr_cb (rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque)
{
    wrk_output_t *self = opaque;
    if (msg->err && (uint64_t)(uintptr_t)msg->_private == self->serial)
        s_failed (self, rd_kafka_topic_name (msg->rkt), msg->err);
}

//  Transactional producers replaced, all lanes (wrk_output_txn_resets).
static atomic_uint_fast64_t s_txn_resets;

//  See wrk_output.h.
uint64_t
wrk_output_txn_resets (void)
{
    return atomic_load (&s_txn_resets);
}

//  The producer's errors: the fatal ones end the worker (wrk_kafka),
//  except a transactional producer's own failure: its transaction is
//  gone either way, and the lane makes a new producer with the same
//  transactional.id (which settles what the last one left open) before
//  the job's DONE goes (wrk_output_flush) or its next job begins. Two
//  causes: librdkafka 2.0.2 may fail an abort with INVALID_TXN_STATE
//  (librdkafka issue #4849), and the scheduler fences a lane's id when it
//  takes a job of this worker back (its lease expired, or it lost us:
//  DESIGN.md, "Fencing"); the job then fails as FENCED, charging nothing.
//  Two workers sharing a --transactional-id are refused by the scheduler.
static void
s_txn_fatal (wrk_output_t *self, rd_kafka_resp_err_t orig, const char *why)
{
    bool fenced = orig == RD_KAFKA_RESP_ERR_PRODUCER_FENCED ||
                  orig == RD_KAFKA_RESP_ERR__FENCED ||
                  orig == RD_KAFKA_RESP_ERR_INVALID_PRODUCER_EPOCH;
    if (fenced && !self->fenced)
        sl_warn ("transactional.id fenced: the scheduler took a job of ours "
                 "back; the job's transaction is void, a new producer takes "
                 "its place lane=%d transactional_id=%s-%d",
                 self->lane, self->cfg->txn_id, self->lane);
    else if (!fenced && !self->reset)
        sl_warn ("transactional producer failed, a new one takes its place "
                 "lane=%d reason=\"%s\"",
                 self->lane, why);
    if (fenced && !self->fenced)
        snprintf (self->dr_error, sizeof self->dr_error,
                  "transaction fenced: the scheduler took the job back");
    self->fenced = self->fenced || fenced;
    self->reset = true;
}

static void
s_error_cb (rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    wrk_output_t *self = opaque;
    if (self->cfg->exactly_once && err == RD_KAFKA_RESP_ERR__FATAL) {
        char why[400];
        s_txn_fatal (self, rd_kafka_fatal_error (rk, why, sizeof why), why);
        return;
    }
    wrk_kafka_fatal_check (self->fatal, rk, err, reason);
}

//  Look the output topic up and meet the cluster.
void
wrk_output_warm_up (wrk_output_t *self)
{
    const char *topic = self->cfg->output_topic;
    if (!self->producer)
        return;
    wrk_kafka_topic_warm (self->producer, &self->out_rkt,
                          topic && *topic ? topic : NULL);
    rd_kafka_poll (self->producer, 0);
}

//  Look a dead-letter topic up.
void
wrk_output_warm_dlq (wrk_output_t *self, const char *topic)
{
    if (topic && *topic)
        if (self->producer)
            wrk_kafka_topic_warm (self->producer, &self->dlq_rkt, topic);
}

//  Read a topic's metadata again (see `refresh`).
static void
s_refresh (wrk_output_t *self, rd_kafka_topic_t *rkt)
{
    const struct rd_kafka_metadata *md = NULL;
    if (rkt && self->producer &&
        rd_kafka_metadata (self->producer, 0, rkt, &md, 5000) ==
            RD_KAFKA_RESP_ERR_NO_ERROR)
        rd_kafka_metadata_destroy (md);
}

//  The transaction failed with error (taken): note it as the job's
//  failure, the destination's, and abort what is open if it must be.
static void
s_txn_failed (wrk_output_t *self, const char *what, rd_kafka_error_t *error)
{
    const char *topic = self->cfg->output_topic && *self->cfg->output_topic
                            ? self->cfg->output_topic
                            : "transaction";
    bool first = self->dr_failures == 0;
    s_failed (self, topic, rd_kafka_error_code (error));
    if (first) //  the transaction's own words, not the code's
        snprintf (self->dr_error, sizeof self->dr_error, "%s: %s", what,
                  rd_kafka_error_string (error));
    if (rd_kafka_error_is_fatal (error))
        s_txn_fatal (self, rd_kafka_error_code (error),
                     rd_kafka_error_string (error));
    else if (rd_kafka_error_txn_requires_abort (error))
        wrk_output_abort (self);
    rd_kafka_error_destroy (error);
}

//  Abort the open transaction; see wrk_output.h.
void
wrk_output_abort (wrk_output_t *self)
{
    if (!self->in_txn)
        return;
    self->in_txn = false;
    rd_kafka_error_t *error = rd_kafka_abort_transaction (
        self->producer, (int)self->cfg->flush_timeout_ms);
    if (error) {
        sl_warn ("transaction not aborted reason=\"%s\"",
                 rd_kafka_error_string (error));
        if (rd_kafka_error_is_fatal (error))
            s_txn_fatal (self, rd_kafka_error_code (error),
                         rd_kafka_error_string (error));
        rd_kafka_error_destroy (error);
    }
}

//  See wrk_output.h.
void
wrk_output_defer (wrk_output_t *self)
{
    self->keep = true;
}

//  See wrk_output.h.
uint64_t
wrk_output_txn (const wrk_output_t *self, int64_t *age_ms, uint32_t *jobs)
{
    *age_ms = self->in_txn ? sl_now_ms () - self->txn_ms : 0;
    *jobs = self->in_txn ? self->txn_jobs : 0;
    return self->in_txn ? self->txn_gen : 0;
}

//  See wrk_output.h.
uint64_t
wrk_output_committed (const wrk_output_t *self)
{
    return self->committed_gen;
}

//  Make the transactional producer (again, after a fatal failure): the
//  same transactional.id, initialised, which aborts what the last one
//  left open. Returns 0, or -1 with one line in err.
static int
s_txn_producer (wrk_output_t *self, char *err, size_t errlen)
{
    if (self->out_rkt)
        rd_kafka_topic_destroy (self->out_rkt);
    if (self->dlq_rkt)
        rd_kafka_topic_destroy (self->dlq_rkt);
    self->out_rkt = self->dlq_rkt = NULL;
    if (self->producer) {
        rd_kafka_purge (self->producer,
                        RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        rd_kafka_destroy (self->producer);
        self->producer = NULL;
    }
    self->in_txn = self->reset = false;
    char rderr[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_dup (self->conf);
    self->producer =
        rd_kafka_new (RD_KAFKA_PRODUCER, conf, rderr, sizeof rderr);
    if (!self->producer) {
        rd_kafka_conf_destroy (conf);
        snprintf (err, errlen, "cannot create Kafka producer: %s", rderr);
        return -1;
    }
    rd_kafka_error_t *error =
        rd_kafka_init_transactions (self->producer, 60000);
    if (error) {
        snprintf (err, errlen,
                  "--exactly-once: cannot start transactions "
                  "(transactional.id %s-%d): %s",
                  self->cfg->txn_id, self->lane, rd_kafka_error_string (error));
        rd_kafka_error_destroy (error);
        return -1;
    }
    return 0;
}

//  Replace a lane's producer that failed (self->reset): its transaction
//  is settled once the new one is initialised. A lane that cannot make
//  one ends the worker.
static void
s_txn_renew (wrk_output_t *self)
{
    char err[512];
    if (!self->cfg->exactly_once || !self->reset)
        return;
    atomic_fetch_add (&s_txn_resets, 1);
    if (s_txn_producer (self, err, sizeof err) != 0)
        wrk_kafka_fatal_set (self->fatal, 1, err);
    else
        wrk_output_warm_up (self);
}

//  A new job: a new serial, no failures.
void
wrk_output_job_begin (wrk_output_t *self)
{
    if (self->refresh) {
        self->refresh = false;
        s_refresh (self, self->out_rkt);
        s_refresh (self, self->dlq_rkt);
    }
    self->serial++;
    self->dr_failures = 0;
    self->dr_record = false;
    self->dr_timeout = false;
    self->fenced = false;
    s_txn_renew (self);
    bool keep = self->keep;
    self->keep = false;
    if (self->cfg->exactly_once && self->producer && keep && self->in_txn)
        self->txn_jobs++; //  group commit: it goes on (wrk_output_defer)
    else if (self->cfg->exactly_once && self->producer) {
        wrk_output_abort (self); //  one left open: nothing of it may show
        rd_kafka_error_t *error = rd_kafka_begin_transaction (self->producer);
        if (error)
            s_txn_failed (self, "begin transaction", error);
        else {
            self->in_txn = true;
            self->txn_gen++;
            self->txn_ms = sl_now_ms ();
            self->txn_jobs = 1;
        }
    }
}

//  Produce one record (copied), waiting while the queue is full. Takes
//  hdrs (may be NULL).
static int
s_produce (wrk_output_t *self, const char *topic, int32_t partition,
           const void *key, size_t key_len, const void *value, size_t value_len,
           rd_kafka_headers_t *hdrs)
{
    if (!self->producer || (self->cfg->exactly_once && !self->in_txn)) {
        //  No transaction open (it could not begin): nothing may go out.
        if (hdrs)
            rd_kafka_headers_destroy (hdrs);
        s_failed (self, topic, RD_KAFKA_RESP_ERR__STATE);
        return -1;
    }
    while (true) {
        rd_kafka_resp_err_t err = rd_kafka_producev (
            self->producer, RD_KAFKA_V_TOPIC (topic),
            RD_KAFKA_V_PARTITION (partition < 0 ? RD_KAFKA_PARTITION_UA
                                                : partition),
            RD_KAFKA_V_KEY (key, key_len),
            RD_KAFKA_V_VALUE ((void *)value, value_len),
            RD_KAFKA_V_MSGFLAGS (RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_HEADERS (hdrs),
            RD_KAFKA_V_OPAQUE ((void *)(uintptr_t)self->serial),
            RD_KAFKA_V_END);
        if (err == RD_KAFKA_RESP_ERR_NO_ERROR)
            return 0;
        if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            if (hdrs)
                rd_kafka_headers_destroy (hdrs);
            s_failed (self, topic, err);
            return -1;
        }
        rd_kafka_poll (self->producer, 50);
    }
}

//  A record for the output topic.
int
wrk_output_emit (wrk_output_t *self, const sluice_emit_t *rec)
{
    if (!self->cfg->output_topic || !*self->cfg->output_topic)
        return -1;
    rd_kafka_headers_t *hdrs = NULL;
    if (rec->header_count) {
        hdrs = rd_kafka_headers_new (rec->header_count);
        for (size_t i = 0; i < rec->header_count; i++)
            rd_kafka_header_add (hdrs, rec->headers[i].name, -1,
                                 rec->headers[i].value,
                                 (ssize_t)rec->headers[i].value_len);
    }
    return s_produce (self, self->cfg->output_topic, rec->partition, rec->key,
                      rec->key_len, rec->value, rec->value_len, hdrs);
}

//  Copy one raw record to a dead-letter topic.
int
wrk_output_dead_letter (wrk_output_t *self, const char *topic,
                        const rd_kafka_message_t *msg, uint32_t attempts,
                        const char *reason)
{
    rd_kafka_headers_t *src = NULL;
    rd_kafka_headers_t *hdrs = NULL;
    if (rd_kafka_message_headers (msg, &src) == RD_KAFKA_RESP_ERR_NO_ERROR)
        hdrs = rd_kafka_headers_copy (src);
    else
        hdrs = rd_kafka_headers_new (5);
    char partition[16], offset[24], attempt[16];
    snprintf (partition, sizeof partition, "%" PRId32, msg->partition);
    snprintf (offset, sizeof offset, "%" PRId64, msg->offset);
    snprintf (attempt, sizeof attempt, "%u", attempts);
    rd_kafka_header_add (hdrs, "sluice.source.topic", -1,
                         rd_kafka_topic_name (msg->rkt), -1);
    rd_kafka_header_add (hdrs, "sluice.source.partition", -1, partition, -1);
    rd_kafka_header_add (hdrs, "sluice.source.offset", -1, offset, -1);
    rd_kafka_header_add (hdrs, "sluice.attempts", -1, attempt, -1);
    rd_kafka_header_add (hdrs, "sluice.reason", -1, reason, -1);
    return s_produce (self, topic, -1, msg->key, msg->key_len, msg->payload,
                      msg->len, hdrs);
}

//  The job's completion marker in its transaction; see wrk_output.h.
void
wrk_output_mark (wrk_output_t *self, const Sluice__Job *job)
{
    uint8_t value[WRK_MARK_MAX];
    char key[WRK_MARK_MAX];
    size_t len, klen;
    if (!self->in_txn || wrk_mark_encode (job, key, &klen, value, &len) != 0)
        return;
    s_produce (self, job->state_topic, job->state_partition, key, klen, value,
               len, NULL);
}

//  Serve the producer's callbacks.
void
wrk_output_poll (wrk_output_t *self)
{
    if (self->producer)
        rd_kafka_poll (self->producer, 0);
}

//  --exactly-once: commit the job's transaction (commit flushes first; a
//  delivery that failed fails it, and it is aborted). A commit that timed
//  out is tried again until --flush-timeout-ms has passed (librdkafka
//  resumes it); one whose outcome stays unknown, or that failed fatally,
//  is settled by a new producer of the same id before this returns, so
//  the job's DONE or FAIL never races its transaction (DESIGN.md,
//  "Fencing"). Returns 0 once committed, or -1 with err.
static int
s_txn_commit (wrk_output_t *self, char *err, size_t errlen)
{
    int64_t deadline = sl_now_ms () + self->cfg->flush_timeout_ms;
    rd_kafka_error_t *error = NULL;
    if (self->in_txn && !self->dr_failures && !self->reset) {
        while ((error = rd_kafka_commit_transaction (
                    self->producer, (int)self->cfg->flush_timeout_ms)) &&
               rd_kafka_error_is_retriable (error) && sl_now_ms () < deadline)
            rd_kafka_error_destroy (error);
        if (!error) {
            self->in_txn = false;
            self->committed_gen = self->txn_gen;
        } else if (rd_kafka_error_is_retriable (error))
            self->reset = true; //  its outcome unknown: the renewal says
    }
    bool failed = error != NULL;
    if (error)
        s_txn_failed (self, "commit transaction", error);
    else if (self->in_txn)
        wrk_output_abort (self);
    s_txn_renew (self);
    if (!self->dr_failures && !self->in_txn && !self->fenced && !failed)
        return 0;
    if (!self->dr_failures && !self->fenced)
        snprintf (self->dr_error, sizeof self->dr_error, "no transaction open");
    snprintf (err, errlen, "%s", self->dr_error);
    return -1;
}

//  Wait until everything produced for this job is acknowledged.
int
wrk_output_flush (wrk_output_t *self, char *err, size_t errlen)
{
    if (self->cfg->exactly_once)
        return s_txn_commit (self, err, errlen);
    int64_t deadline = sl_now_ms () + self->cfg->flush_timeout_ms;
    while (rd_kafka_outq_len (self->producer) > 0 && sl_now_ms () < deadline)
        rd_kafka_flush (self->producer, 100);
    if (rd_kafka_outq_len (self->producer) > 0) {
        snprintf (err, errlen, "producer did not flush within %" PRId64 " ms",
                  self->cfg->flush_timeout_ms);
        self->dr_timeout = true;
        return -1;
    }
    if (self->dr_failures) {
        snprintf (err, errlen, "%s", self->dr_error);
        return -1;
    }
    return 0;
}

//  Why the output failed the current job; see wrk_output.h.
const char *
wrk_output_error (const wrk_output_t *self)
{
    return self->dr_failures || self->fenced ? self->dr_error : "";
}

//  Whether the output failed the current job; see wrk_output.h.
bool
wrk_output_failed (const wrk_output_t *self)
{
    return self->dr_failures > 0 || self->dr_timeout || self->fenced;
}

//  Whose fault a failed flush was; see wrk_output.h.
int
wrk_output_fault (const wrk_output_t *self, const char **code,
                  const char **target)
{
    const char *out = self->cfg->output_topic ? self->cfg->output_topic : "";
    if (self->fenced)
        return SLUICE__FAULT_CLASS__FAULT_CLASS_FENCED;
    if (self->dr_failures && self->dr_record)
        return SLUICE__FAULT_CLASS__FAULT_CLASS_RECORD;
    *code =
        self->dr_failures ? rd_kafka_err2name (self->dr_err) : "FLUSH_TIMEOUT";
    *target = self->dr_failures ? self->dr_topic : out;
    return SLUICE__FAULT_CLASS__FAULT_CLASS_INFRA;
}

//  Drop what is queued for sending.
void
wrk_output_purge (wrk_output_t *self)
{
    if (self->producer)
        rd_kafka_purge (self->producer, RD_KAFKA_PURGE_F_QUEUE);
    wrk_output_abort (self);
}

//  The producer's configuration. Consumer-only properties (fetch.*,
//  isolation.level...) are refused by a producer configuration, so the
//  producer gets only the properties it knows; librdkafka warns about the
//  rest.
static rd_kafka_conf_t *
s_conf_new (wrk_output_t *self, int lane, char *err, size_t errlen)
{
    static const char *defaults[] = {"enable.idempotence=true",
                                     "client.id=sluice-worker", NULL};
    const wrk_config_t *cfg = self->cfg;
    rd_kafka_conf_t *conf = sl_kafka_producer_conf (cfg->brokers, defaults,
                                                    &cfg->props, err, errlen);
    if (!conf)
        return NULL;
    char id[512];
    snprintf (id, sizeof id, "%s-%d", cfg->txn_id ? cfg->txn_id : "", lane);
    if (cfg->exactly_once &&
        sl_kafka_conf_set (conf, "transactional.id", id, err, errlen) != 0) {
        rd_kafka_conf_destroy (conf);
        return NULL;
    }
    rd_kafka_conf_set_opaque (conf, self);
    rd_kafka_conf_set_dr_msg_cb (conf, s_dr_cb);
    rd_kafka_conf_set_error_cb (conf, s_error_cb);
    return conf;
}

//  Create the output.
wrk_output_t *
wrk_output_new (const wrk_config_t *cfg, wrk_kafka_fatal_t *fatal, int lane,
                char *err, size_t errlen)
{
    wrk_output_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->cfg = cfg;
    self->fatal = fatal;
    self->lane = lane;
    rd_kafka_conf_t *conf = s_conf_new (self, lane, err, errlen);
    if (!conf)
        goto fail;
    if (cfg->exactly_once) {
        self->conf = conf;
        if (s_txn_producer (self, err, errlen) != 0)
            goto fail;
        return self;
    }
    char rderr[512];
    self->producer =
        rd_kafka_new (RD_KAFKA_PRODUCER, conf, rderr, sizeof rderr);
    if (!self->producer) {
        rd_kafka_conf_destroy (conf);
        snprintf (err, errlen, "cannot create Kafka producer: %s", rderr);
        goto fail;
    }
    return self;
fail:
    wrk_output_destroy (&self);
    return NULL;
}

//  Destroy the output.
void
wrk_output_destroy (wrk_output_t **self_p)
{
    wrk_output_t *self = *self_p;
    if (!self)
        return;
    if (self->out_rkt)
        rd_kafka_topic_destroy (self->out_rkt);
    if (self->dlq_rkt)
        rd_kafka_topic_destroy (self->dlq_rkt);
    if (self->producer) {
        wrk_output_abort (self);
        rd_kafka_flush (self->producer, 5000);
        rd_kafka_destroy (self->producer);
    }
    if (self->conf)
        rd_kafka_conf_destroy (self->conf);
    free (self);
    *self_p = NULL;
}
