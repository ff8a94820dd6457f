/*  wrk_batch - how a worker runs a batch of records through its plugin.
    See wrk_batch.h.
*/
#include "wrk_batch.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <time.h>
#include "sl_clock.h"
#include <stdlib.h>

//  Backoff before retry round `round`: 20 ms doubling to 640 ms.
static void
s_retry_backoff (int64_t round)
{
    struct timespec ts = {0, 10000000L << (round < 6 ? round : 6)};
    while (nanosleep (&ts, &ts) != 0 && errno == EINTR)
        ;
}

//  Run a batch with retries; see wrk_batch.h.
int
wrk_batch_run (wrk_plugin_t *self, const sluice_record_t *records, size_t n,
               sluice_outcome_t *out, int64_t retries, wrk_retry_fn *on_retry,
               void *arg, uint64_t *retried, int64_t *plugin_ns)
{
    int64_t t0 = sl_now_ns ();
    int rc = wrk_plugin_process (self, records, n, out);
    *plugin_ns += sl_now_ns () - t0;
    if (rc != 0)
        return -1;
    if (wrk_plugin_not_ok (self) == 0) //  the usual case: all OK
        return 0;
    for (int64_t round = 1; round <= retries; round++) {
        size_t waiting = 0;
        for (size_t i = 0; i < n; i++)
            waiting += out[i].code == SLUICE_RETRY;
        if (waiting == 0)
            break;
        s_retry_backoff (round);
        t0 = sl_now_ns ();
        for (size_t i = 0; i < n; i++) {
            if (out[i].code != SLUICE_RETRY)
                continue;
            (*retried)++;
            if (on_retry)
                on_retry (arg, i, round);
            if (wrk_plugin_process (self, &records[i], 1, &out[i]) != 0)
                out[i].code = SLUICE_RETRY;
        }
        *plugin_ns += sl_now_ns () - t0;
    }
    size_t not_ok = 0;
    for (size_t i = 0; i < n; i++)
        not_ok += out[i].code != SLUICE_OK;
    return not_ok > INT_MAX ? INT_MAX : (int)not_ok;
}

//  Why a record was not OK; see wrk_batch.h.
const char *
wrk_batch_reject_reason (const sluice_outcome_t *out, char *buf, size_t size)
{
    snprintf (buf, size, "%s%s",
              out->code == SLUICE_RETRY ? "gave up retrying: " : "",
              out->reason[0] ? out->reason : "rejected by plugin");
    return buf;
}

//  The plugin's view of a batch; see wrk_batch.h.
void
wrk_batch_records (sluice_record_t *recs, sluice_header_t **hdrs_p,
                   size_t *hdr_cap, rd_kafka_message_t **msgs, size_t n,
                   const char *topic, bool want)
{
    if (!want) { //  no headers: one pass, nothing else asked of librdkafka
        for (size_t i = 0; i < n; i++) {
            const rd_kafka_message_t *m = msgs[i];
            recs[i] = (sluice_record_t){
                .topic = topic,
                .partition = m->partition,
                .offset = m->offset,
                .timestamp = rd_kafka_message_timestamp (m, NULL),
                .key = m->key,
                .key_len = m->key_len,
                .value = m->payload,
                .value_len = m->len,
            };
        }
        return;
    }
    size_t nh = 0;
    for (size_t i = 0; i < n; i++) {
        rd_kafka_headers_t *h = NULL;
        if (rd_kafka_message_headers (msgs[i], &h) ==
            RD_KAFKA_RESP_ERR_NO_ERROR)
            nh += rd_kafka_header_cnt (h);
    }
    if (nh > *hdr_cap) {
        free (*hdrs_p);
        *hdrs_p = calloc (nh, sizeof **hdrs_p);
        *hdr_cap = *hdrs_p ? nh : 0;
    }
    sluice_header_t *hdrs = *hdrs_p;
    size_t used = 0;
    for (size_t i = 0; i < n; i++) {
        rd_kafka_message_t *m = msgs[i];
        sluice_record_t *r = &recs[i];
        r->topic = topic;
        r->partition = m->partition;
        r->offset = m->offset;
        r->timestamp = rd_kafka_message_timestamp (m, NULL);
        r->key = m->key;
        r->key_len = m->key_len;
        r->value = m->payload;
        r->value_len = m->len;
        r->headers = NULL;
        r->header_count = 0;
        rd_kafka_headers_t *h = NULL;
        if (want && hdrs &&
            rd_kafka_message_headers (m, &h) == RD_KAFKA_RESP_ERR_NO_ERROR) {
            r->headers = &hdrs[used];
            const char *name;
            const void *val;
            size_t size;
            for (size_t k = 0; used < *hdr_cap && !rd_kafka_header_get_all (
                                                      h, k, &name, &val, &size);
                 k++) {
                hdrs[used].name = name;
                hdrs[used].value = val;
                hdrs[used].value_len = size;
                used++;
                r->header_count++;
            }
        }
    }
}
