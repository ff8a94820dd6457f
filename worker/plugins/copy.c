/*  copy - emits every record unchanged (key, value, headers) to the output
    topic, the partitioner choosing the partition. Refuses to start without
    an output topic, since it would have nowhere to copy to.

        sluice-worker --plugin build/plugins/copy.so --output-topic OUT ...

    A record that cannot be queued fails the batch, so the job is re-run
    (at-least-once: records already queued may be copied twice).
*/
#include <sluice/plugin.h>

#include <stdio.h>
#include <stdlib.h>

typedef struct {
    const sluice_host_t *host;
    sluice_ctx_t *ctx;
} copy_t;

//  Make an instance; fails if the worker has no output topic.
static int
s_create (const sluice_host_t *host, sluice_ctx_t *ctx,
          const sluice_option_t *options, size_t option_count, void **state,
          char *err, size_t errlen)
{
    (void)options;
    (void)option_count;
    if (!host->output_topic (ctx)) {
        snprintf (err, errlen,
                  "copy has no output topic to copy to: start "
                  "the worker with --output-topic TOPIC");
        return -1;
    }
    copy_t *self = calloc (1, sizeof *self);
    if (!self) {
        snprintf (err, errlen, "out of memory");
        return -1;
    }
    self->host = host;
    self->ctx = ctx;
    *state = self;
    return 0;
}

//  Emit each record as it came. Returns -1 (reason in out [0]) if the
//  host could not queue one.
static int
s_process (void *state, const sluice_record_t *records, size_t n,
           sluice_outcome_t *out)
{
    copy_t *self = state;
    for (size_t i = 0; i < n; i++) {
        const sluice_record_t *r = &records[i];
        sluice_emit_t rec = {
            r->key,     r->key_len,      r->value, r->value_len,
            r->headers, r->header_count, -1};
        if (self->host->emit (self->ctx, &rec) != 0) {
            snprintf (out[0].reason, sizeof out[0].reason,
                      "could not queue the copy of offset %lld",
                      (long long)r->offset);
            return -1;
        }
    }
    return 0;
}

//  Free the instance.
static void
s_destroy (void *state)
{
    free (state);
}

static const sluice_plugin_t s_table = {
    .abi_major = SLUICE_PLUGIN_ABI_MAJOR,
    .abi_minor = SLUICE_PLUGIN_ABI_MINOR,
    .size = sizeof (sluice_plugin_t),
    .name = "copy",
    .version = "1.0",
    .options = NULL,
    .flags = SLUICE_PLUGIN_F_THREAD_SAFE,
    .create = s_create,
    .process = s_process,
    .destroy = s_destroy,
    .description =
        "Copies every record (key, value, headers) to the output topic.",
};

//  The plugin's entry point: its table.
SLUICE_PLUGIN_EXPORT const sluice_plugin_t *sluice_plugin_entry (void);
SLUICE_PLUGIN_EXPORT const sluice_plugin_t *
sluice_plugin_entry (void)
{
    return &s_table;
}
