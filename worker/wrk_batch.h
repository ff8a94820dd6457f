/*  wrk_batch - how a worker runs a batch of records through its plugin:
    process them, then retry those the plugin asked to retry, with a
    backoff, up to --record-retries rounds. The one copy: the worker's
    executor and `sluice plugin run` both use it, so `plugin run` behaves
    exactly like a worker.
*/
#ifndef WRK_BATCH_H_INCLUDED
#define WRK_BATCH_H_INCLUDED

#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <stdint.h>
#include "wrk_plugin.h"

/*  Called before a record is retried: its index in the batch and the
    round (1..retries).                                                  */
typedef void (wrk_retry_fn) (void *arg, size_t i, int64_t round);

/*  How a worker runs a batch, the one copy (the worker and `sluice plugin
    run` both use it): process the n records, then retry those the plugin
    said to retry, one at a time, for up to `retries` rounds, sleeping 20,
    40, 80 ... 640 ms before each round. Afterwards out[i].code is OK,
    REJECT, or RETRY for a record it gave up on. on_retry may be NULL.
    Adds the retries made to *retried and the time spent in the plugin
    (sleeps excluded) to *plugin_ns. Returns how many records are not OK
    (0: the caller need not look at out), or -1 if the plugin failed the
    whole batch (reason in out[0]).                                      */
int wrk_batch_run (wrk_plugin_t *self, const sluice_record_t *records, size_t n,
                   sluice_outcome_t *out, int64_t retries,
                   wrk_retry_fn *on_retry, void *arg, uint64_t *retried,
                   int64_t *plugin_ns);

/*  Why out was not OK, for a dead letter or a report: the plugin's reason
    ("rejected by plugin" if it gave none), prefixed "gave up retrying: "
    for a RETRY. Returns buf.                                            */
const char *wrk_batch_reject_reason (const sluice_outcome_t *out, char *buf,
                                     size_t size);

/*  The plugin's view of msgs[0..n), records of topic, in recs[0..n):
    pointers into the messages, valid while they live. With want, each
    record's headers too, kept in *hdrs (grown to *hdr_cap as needed; the
    caller frees it); without, none are parsed (the plugin said
    SLUICE_PLUGIN_F_NO_HEADERS: the largest cost per record of a cheap
    plugin).                                                              */
void wrk_batch_records (sluice_record_t *recs, sluice_header_t **hdrs,
                        size_t *hdr_cap, rd_kafka_message_t **msgs, size_t n,
                        const char *topic, bool want);

#endif
