/*  wrk_plugin - loads a plugin shared object and runs it.

    Loading refuses, with one line in `err` that says what is wrong and how
    to fix it: a path that does not exist or cannot be dlopen'ed, a missing
    entry symbol (SLUICE_PLUGIN_ENTRY), a NULL table, an ABI major version
    other than ours, a table smaller than the ABI 1.0 table, a NULL
    process hook, an option the plugin does not list in `options`, and a
    create() that fails. The worker turns any of these into exit 2.

    The host table handed to the plugin routes emit() to `emit_fn` (the
    worker's producer) and log() to sl_log, tagged with the plugin name.

    A wrk_plugin_t is one lane's handle on a plugin instance. A thread-safe
    instance serves several lanes (executor threads): wrk_plugin_new makes
    lane 0's handle, wrk_plugin_share one for each further lane, each with
    its own emit_fn and the sluice_call_t its lane's hooks are given (ABI
    1.2). Records a plugin emits through a call go to that call's lane;
    through the instance's ctx (ABI 1.0), to the lane whose hook runs on
    the calling thread, or lane 0's from a thread of the plugin's own.
    Make and destroy handles on one thread; run each handle's hooks on one
    thread at a time.
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
    (copied), for up to `lanes` lanes if the plugin is thread-safe (else
    for one). `output_topic` may be NULL (no output). Returns lane 0's
    handle, or NULL with a message in err on any failure listed above.  */
wrk_plugin_t *wrk_plugin_new (const char *path, const sluice_option_t *options,
                              size_t option_count, const char *output_topic,
                              uint32_t lanes, wrk_emit_fn *emit_fn,
                              void *emit_arg, char *err, size_t errlen);

/*  A handle on plugin's instance for its next lane (1, 2, ...), emitting
    through emit_fn. Returns NULL with err if the instance has a handle
    for every lane it serves (a plugin that is not thread-safe serves
    one) or memory ran out.                                              */
wrk_plugin_t *wrk_plugin_share (wrk_plugin_t *plugin, wrk_emit_fn *emit_fn,
                                void *emit_arg, char *err, size_t errlen);

/*  Drop the handle and null the pointer; the last handle on an instance
    destroys it (the plugin's destroy) and dlcloses the object.          */
void wrk_plugin_destroy (wrk_plugin_t **self_p);

const char *wrk_plugin_name (wrk_plugin_t *self);
const char *wrk_plugin_version (wrk_plugin_t *self);
/*  The table's description (ABI 1.1); "" if the plugin gives none or its
    table is a 1.0 one, which ends before the field.                      */
const char *wrk_plugin_description (wrk_plugin_t *self);
uint32_t wrk_plugin_flags (wrk_plugin_t *self);
/*  The ABI minor version the plugin says it was built at.                */
uint32_t wrk_plugin_abi_minor (wrk_plugin_t *self);
/*  The handle's lane, and how many lanes its instance serves (the plugin
    sees them as host->call_lane and host->lanes).                        */
uint32_t wrk_plugin_lane (wrk_plugin_t *self);
uint32_t wrk_plugin_lanes (wrk_plugin_t *self);
/*  The hooks this worker calls, by name in call order, e.g. "create
    job_begin_call process_call destroy" (a 1.2 hook hides the 1.0 one it
    replaces). Returns buf.                                               */
const char *wrk_plugin_hooks (wrk_plugin_t *self, char *buf, size_t size);

/*  Run the job hooks (the *_call one if the plugin has it; none
    succeeds). The job, copied, is what the handle's call says until the
    next job hook. Return 0 or -1 with err.                              */
int wrk_plugin_job_begin (wrk_plugin_t *self, const sluice_job_t *job,
                          char *err, size_t errlen);
int wrk_plugin_job_end (wrk_plugin_t *self, const sluice_job_t *job, char *err,
                        size_t errlen);

/*  Reset out[0..n) to SLUICE_OK/"" and run process_call() with the
    handle's call, or else process(). Outcome codes out of range are
    turned into SLUICE_REJECT with a reason saying so. Returns 0, or -1
    if the plugin failed the whole batch (reason in out[0]).             */
int wrk_plugin_process (wrk_plugin_t *self, const sluice_record_t *records,
                        size_t n, sluice_outcome_t *out);

/*  How many outcomes the last wrk_plugin_process of this handle left not
    OK (0 after a failed call): callers skip looking at a batch whose
    records all succeeded.                                               */
size_t wrk_plugin_not_ok (const wrk_plugin_t *self);

#endif
