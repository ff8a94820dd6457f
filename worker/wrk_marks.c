/*  wrk_marks - completion markers. See wrk_marks.h.
 */
#include "wrk_marks.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include "sl_clock.h"
#include "sl_kafka.h"
#include "sl_log.h"
#include "wrk_kafka.h"

/*  How long a marker may wait to go with others.                        */
#define WRK_MARKS_LINGER_MS "100"

static pthread_mutex_t s_lock = PTHREAD_MUTEX_INITIALIZER;
static rd_kafka_t *s_producer; /* made at the first marker              */
static bool s_unusable;        /* it could not be made: said once       */
static atomic_uint_fast64_t s_written, s_failed;
static atomic_int_fast64_t s_warned_ms;

//  A marker was refused: logged at most every 10 s.
static void
s_dr_cb (rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque)
{
    if (!msg->err)
        return;
    uint64_t failed = atomic_fetch_add (&s_failed, 1) + 1;
    int64_t now = sl_now_ms ();
    int64_t last = atomic_load (&s_warned_ms);
    if (now - last < 10000 ||
        !atomic_compare_exchange_strong (&s_warned_ms, &last, now))
        return;
    sl_warn ("completion marker not written topic=%s failed=%" PRIu64
             " reason=\"%s\"",
             rd_kafka_topic_name (msg->rkt), failed,
             rd_kafka_err2str (msg->err));
}

//  The producer, made from the worker's settings on first use.
static rd_kafka_t *
s_get (const wrk_config_t *cfg)
{
    pthread_mutex_lock (&s_lock);
    if (!s_producer && !s_unusable) {
        static const char *defaults[] = {"client.id=sluice-worker-marks", NULL};
        char err[512], rderr[512];
        rd_kafka_conf_t *conf = sl_kafka_producer_conf (
            cfg->brokers, defaults, &cfg->props, err, sizeof err);
        //  Nobody waits for a marker: a long linger sends them in few
        //  requests (jobs of 1,000 records on 2 workers: 10,000 markers
        //  cost 4.4 % more worker CPU with librdkafka's 5 ms).
        if (conf &&
            rd_kafka_conf_set (conf, "linger.ms", WRK_MARKS_LINGER_MS, rderr,
                               sizeof rderr) != RD_KAFKA_CONF_OK) {
            rd_kafka_conf_destroy (conf);
            conf = NULL;
            snprintf (err, sizeof err, "%s", rderr);
        }
        if (conf) {
            rd_kafka_conf_set_dr_msg_cb (conf, s_dr_cb);
            s_producer =
                rd_kafka_new (RD_KAFKA_PRODUCER, conf, rderr, sizeof rderr);
            if (!s_producer) {
                rd_kafka_conf_destroy (conf);
                snprintf (err, sizeof err, "%s", rderr);
            }
        }
        if (!s_producer) {
            s_unusable = true;
            sl_warn ("completion markers not written: cannot create their "
                     "producer reason=\"%s\"",
                     err);
        }
    }
    rd_kafka_t *rk = s_producer;
    pthread_mutex_unlock (&s_lock);
    return rk;
}

//  See wrk_marks.h.
int
wrk_mark_encode (const Sluice__Job *job, char *key, size_t *klen,
                 uint8_t *value, size_t *len)
{
    if (!job->state_topic || !*job->state_topic)
        return -1;
    Sluice__Marker m = SLUICE__MARKER__INIT;
    m.group = job->state_group;
    m.topic = job->topic;
    m.partition = job->partition;
    m.start = job->start;
    m.end = job->end;
    m.attempt = job->attempt;
    m.job_id = job->job_id;
    *len = sluice__marker__get_packed_size (&m);
    int n = snprintf (key, WRK_MARK_MAX, "%s/%s/%d", job->state_group,
                      job->topic, job->partition);
    if (*len > WRK_MARK_MAX || n < 0 || n >= WRK_MARK_MAX)
        return -1; //  names are bounded (sl_proto): cannot happen
    *klen = (size_t)n;
    sluice__marker__pack (&m, value);
    return 0;
}

//  See wrk_marks.h.
void
wrk_marks_write (const wrk_config_t *cfg, const Sluice__Job *job)
{
    uint8_t value[WRK_MARK_MAX];
    char key[WRK_MARK_MAX];
    size_t len, klen;
    if (wrk_mark_encode (job, key, &klen, value, &len) != 0)
        return;
    rd_kafka_t *rk = s_get (cfg);
    if (!rk)
        return;
    rd_kafka_resp_err_t err = rd_kafka_producev (
        rk, RD_KAFKA_V_TOPIC (job->state_topic),
        RD_KAFKA_V_PARTITION (job->state_partition), RD_KAFKA_V_KEY (key, klen),
        RD_KAFKA_V_VALUE (value, len),
        RD_KAFKA_V_MSGFLAGS (RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
    if (err) {
        atomic_fetch_add (&s_failed, 1);
        sl_debug ("completion marker refused topic=%s reason=\"%s\"",
                  job->state_topic, rd_kafka_err2str (err));
        return;
    }
    atomic_fetch_add (&s_written, 1);
}

//  See wrk_marks.h.
void
wrk_marks_poll (void)
{
    pthread_mutex_lock (&s_lock);
    rd_kafka_t *rk = s_producer;
    pthread_mutex_unlock (&s_lock);
    if (rk)
        rd_kafka_poll (rk, 0);
}

//  See wrk_marks.h.
void
wrk_marks_counts (uint64_t *written, uint64_t *failed)
{
    *written = atomic_load (&s_written);
    *failed = atomic_load (&s_failed);
}

//  See wrk_marks.h.
void
wrk_marks_shutdown (void)
{
    pthread_mutex_lock (&s_lock);
    rd_kafka_t *rk = s_producer;
    s_producer = NULL;
    s_unusable = true;
    pthread_mutex_unlock (&s_lock);
    if (!rk)
        return;
    if (rd_kafka_flush (rk, 5000) != RD_KAFKA_RESP_ERR_NO_ERROR)
        sl_warn ("completion markers not delivered at exit left=%d",
                 rd_kafka_outq_len (rk));
    uint64_t written, failed;
    wrk_marks_counts (&written, &failed);
    sl_info ("completion markers written=%" PRIu64 " failed=%" PRIu64, written,
             failed);
    rd_kafka_destroy (rk);
}
