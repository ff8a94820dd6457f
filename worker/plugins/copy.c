/*  copy - emits every record unchanged (key, value, headers) to the output
    topic, the partitioner choosing the partition. Refuses to start without
    an output topic, since it would have nowhere to copy to.

        sluice-worker --plugin build/plugins/copy.so --output-topic OUT ...

    A record that cannot be queued fails the batch, so the job is re-run
    (at-least-once: records already queued may be copied twice).

    Thread-safe: one instance serves every lane, and each copy goes out
    through the call that read it (ABI 1.2), so with that call's job.
*/
#include <sluice/sdk.h>

#include <stdlib.h>

typedef struct {
    const sluice_host_t *host;
} copy_t;

//  Make an instance; fails if the worker has no output topic.
static int
s_create (const sluice_host_t *host, sluice_ctx_t *ctx,
          const sluice_option_t *options, size_t option_count, void **state,
          char *err, size_t errlen)
{
    sluice_opts_t o = sluice_opts (host, ctx, "copy", err, errlen);
    sluice_opt_output (&o);
    copy_t *self = o.failed ? NULL : calloc (1, sizeof *self);
    if (!self)
        return o.failed ? -1 : sluice_opts_error (&o, "out of memory");
    self->host = host;
    *state = self;
    return 0;
}

//  Emit each record as it came. Returns -1 (reason in out [0]) if the
//  host could not queue one.
static int
s_process (void *state, sluice_call_t *call, const sluice_record_t *records,
           size_t n, sluice_outcome_t *out)
{
    copy_t *self = state;
    for (size_t i = 0; i < n; i++)
        if (sluice_emit_copy (self->host, NULL, call, &records[i], &out[0]))
            return -1;
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
    .process_call = s_process,
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
