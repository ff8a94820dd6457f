/*  wrk_kafka - what the worker's Kafka clients share. See wrk_kafka.h.  */
#include "wrk_kafka.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "sl_kafka.h"
#include "sl_log.h"

struct _wrk_kafka_fatal_t {
    char why[600]; /* "" while the executor can go on                    */
    int code;
};

//  Hold a handle on a topic and fetch its metadata now.
void
wrk_kafka_topic_warm (rd_kafka_t *rk, rd_kafka_topic_t **slot,
                      const char *topic)
{
    if (topic && *slot && strcmp (rd_kafka_topic_name (*slot), topic) == 0)
        return;
    if (*slot)
        rd_kafka_topic_destroy (*slot);
    *slot = topic ? rd_kafka_topic_new (rk, topic, NULL) : NULL;
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t err =
        !topic || *slot
            ? rd_kafka_metadata (rk, 0, *slot, &md, WRK_KAFKA_WARM_UP_MS)
            : rd_kafka_last_error ();
    if (md)
        rd_kafka_metadata_destroy (md);
    if (err)
        sl_debug ("metadata not known yet topic=%s reason=\"%s\"",
                  topic ? topic : "-", rd_kafka_err2str (err));
}

//  Create the record.
wrk_kafka_fatal_t *
wrk_kafka_fatal_new (void)
{
    return calloc (1, sizeof (wrk_kafka_fatal_t));
}

//  Destroy the record.
void
wrk_kafka_fatal_destroy (wrk_kafka_fatal_t **self_p)
{
    free (*self_p);
    *self_p = NULL;
}

//  Record a librdkafka error that ends the worker; log the others.
void
wrk_kafka_fatal_check (wrk_kafka_fatal_t *self, rd_kafka_t *rk, int err,
                       const char *reason)
{
    if (self->why[0])
        return;
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
        char buf[400];
        rd_kafka_fatal_error (rk, buf, sizeof buf);
        snprintf (self->why, sizeof self->why,
                  "kafka fatal error, restart the worker client=%s "
                  "reason=\"%s\"",
                  rd_kafka_name (rk), buf);
        self->code = 1;
    } else if (sl_kafka_error_is_setup (err, reason)) {
        snprintf (self->why, sizeof self->why,
                  "kafka security settings do not match the cluster, check "
                  "security.protocol, sasl.* and ssl.* (-X) error=%s "
                  "reason=\"%.300s\"",
                  rd_kafka_err2name (err), reason);
        self->code = 2;
    } else
        sl_debug ("kafka error client=%s error=%s reason=\"%s\"",
                  rd_kafka_name (rk), rd_kafka_err2name (err), reason);
}

//  Record a fatal error of our own; see wrk_kafka.h.
void
wrk_kafka_fatal_set (wrk_kafka_fatal_t *self, int code, const char *why)
{
    if (self->why[0])
        return;
    snprintf (self->why, sizeof self->why, "%s", why);
    self->code = code;
}

//  Why the executor cannot go on, or NULL.
const char *
wrk_kafka_fatal_reason (const wrk_kafka_fatal_t *self)
{
    return self->why[0] ? self->why : NULL;
}

//  The exit code for the fatal error.
int
wrk_kafka_fatal_code (const wrk_kafka_fatal_t *self)
{
    return self->code;
}
