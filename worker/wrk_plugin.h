/*  wrk_plugin - loads a plugin shared object and runs it.

    Loading refuses, with one line in `err` that says what is wrong and how
    to fix it: a path that does not exist or cannot be dlopen'ed, a missing
    entry symbol (SLUICE_PLUGIN_ENTRY), a NULL table, an ABI major version
    other than ours, a table smaller than the ABI 1.0 table, a NULL
    process hook, an option the plugin does not list in `options`, and a
    create() that fails. The worker turns any of these into exit 2.

    The host table handed to the plugin routes emit() to `emit_fn` (the
    worker's producer) and log() to sl_log, tagged with the plugin name.
*/
#ifndef WRK_PLUGIN_H_INCLUDED
#define WRK_PLUGIN_H_INCLUDED

#include <stdint.h>
#include <stddef.h>
#include "sluice/plugin.h"

typedef struct _wrk_plugin_t wrk_plugin_t;

/*  Called for each record the plugin emits. Returns 0 or -1.            */
typedef int (wrk_emit_fn) (void *arg, const sluice_emit_t *record);

/*  Load the plugin at `path` and create one instance with `options`
    (copied). `output_topic` may be NULL (no output). Returns NULL with a
    message in err on any failure listed above.                          */
wrk_plugin_t *wrk_plugin_new (const char *path, const sluice_option_t *options,
                              size_t option_count, const char *output_topic,
                              wrk_emit_fn *emit_fn, void *emit_arg, char *err,
                              size_t errlen);

/*  Destroy the instance, dlclose the object, null the pointer.           */
void wrk_plugin_destroy (wrk_plugin_t **self_p);

const char *wrk_plugin_name (wrk_plugin_t *self);
const char *wrk_plugin_version (wrk_plugin_t *self);
/*  The table's description (ABI 1.1); "" if the plugin gives none or its
    table is a 1.0 one, which ends before the field.                      */
const char *wrk_plugin_description (wrk_plugin_t *self);
uint32_t wrk_plugin_flags (wrk_plugin_t *self);
/*  The ABI minor version the plugin says it was built at.                */
uint32_t wrk_plugin_abi_minor (wrk_plugin_t *self);

/*  Run the job hooks; a NULL hook succeeds. Return 0 or -1 with err.    */
int wrk_plugin_job_begin (wrk_plugin_t *self, const sluice_job_t *job,
                          char *err, size_t errlen);
int wrk_plugin_job_end (wrk_plugin_t *self, const sluice_job_t *job, char *err,
                        size_t errlen);

/*  Reset out[0..n) to SLUICE_OK/"" and run process(). Outcome codes out of
    range are turned into SLUICE_REJECT with a reason saying so. Returns 0,
    or -1 if the plugin failed the whole batch (reason in out[0]).       */
int wrk_plugin_process (wrk_plugin_t *self, const sluice_record_t *records,
                        size_t n, sluice_outcome_t *out);

/*  Called before a record is retried: its index in the batch and the
    round (1..retries).                                                  */
typedef void (wrk_retry_fn) (void *arg, size_t i, int64_t round);

/*  How a worker runs a batch, the one copy (the worker and `sluice plugin
    run` both use it): process the n records, then retry those the plugin
    said to retry, one at a time, for up to `retries` rounds, sleeping 20,
    40, 80 ... 640 ms before each round. Afterwards out[i].code is OK,
    REJECT, or RETRY for a record it gave up on. on_retry may be NULL.
    Adds the retries made to *retried and the time spent in the plugin
    (sleeps excluded) to *plugin_ns. Returns 0, or -1 if the plugin failed
    the whole batch (reason in out[0]).                                  */
int wrk_plugin_run_batch (wrk_plugin_t *self, const sluice_record_t *records,
                          size_t n, sluice_outcome_t *out, int64_t retries,
                          wrk_retry_fn *on_retry, void *arg, uint64_t *retried,
                          int64_t *plugin_ns);

/*  Why out was not OK, for a dead letter or a report: the plugin's reason
    ("rejected by plugin" if it gave none), prefixed "gave up retrying: "
    for a RETRY. Returns buf.                                            */
const char *wrk_plugin_reject_reason (const sluice_outcome_t *out, char *buf,
                                      size_t size);

#endif
