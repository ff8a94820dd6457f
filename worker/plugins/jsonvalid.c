/*  jsonvalid - checks that each record's value is exactly one JSON
    document (an object, an array or a scalar; nothing may follow it).
    Invalid records are rejected to the DLQ with jansson's error: line,
    column and what was wrong. Valid records are copied to the output
    topic if there is one, and are otherwise just OK.

        sluice-worker --plugin build/plugins/jsonvalid.so [--output-topic OUT]

    Thread-safe: jansson keeps no mutable global state for decoding, and
    copies go out through the call that read them (ABI 1.2).
*/
#include <sluice/sdk.h>

#include <jansson.h>
#include <stdlib.h>

typedef struct {
    const sluice_host_t *host;
    int emit; //  copy valid records: there is an output topic
} jsonvalid_t;

//  Make an instance; takes no options.
static int
s_create (const sluice_host_t *host, sluice_ctx_t *ctx,
          const sluice_option_t *options, size_t option_count, void **state,
          char *err, size_t errlen)
{
    jsonvalid_t *self = calloc (1, sizeof *self);
    if (!self) {
        snprintf (err, errlen, "jsonvalid: out of memory");
        return -1;
    }
    self->host = host;
    self->emit = host->output_topic (ctx) != NULL;
    *state = self;
    return 0;
}

//  Parse one value as a whole JSON document. Returns 0, or -1 with the
//  outcome set to REJECT with jansson's error.
static int
s_validate (const sluice_record_t *r, sluice_outcome_t *out)
{
    if (!r->value) {
        sluice_outcome_set (out, SLUICE_REJECT,
                            "invalid JSON: the record has no value "
                            "(tombstone)");
        return -1;
    }
    json_error_t error;
    json_t *json = json_loadb (r->value, r->value_len, JSON_DECODE_ANY, &error);
    if (!json) {
        sluice_outcome_set (out, SLUICE_REJECT,
                            "invalid JSON at line %d column %d: %s", error.line,
                            error.column, error.text);
        return -1;
    }
    json_decref (json);
    return 0;
}

//  Reject invalid records; copy valid ones if there is an output topic.
//  Returns -1 (reason in out [0]) if a copy could not be queued.
static int
s_process (void *state, sluice_call_t *call, const sluice_record_t *records,
           size_t n, sluice_outcome_t *out)
{
    jsonvalid_t *self = state;
    for (size_t i = 0; i < n; i++)
        if (s_validate (&records[i], &out[i]) == 0 && self->emit &&
            sluice_emit_copy (self->host, NULL, call, &records[i], &out[0]))
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
    .name = "jsonvalid",
    .version = "1.0",
    .options = NULL,
    .flags = SLUICE_PLUGIN_F_THREAD_SAFE,
    .create = s_create,
    .process_call = s_process,
    .destroy = s_destroy,
    .description =
        "Dead-letters values that are not one JSON document; copies the rest.",
};

//  The plugin's entry point: its table.
SLUICE_PLUGIN_EXPORT const sluice_plugin_t *sluice_plugin_entry (void);
SLUICE_PLUGIN_EXPORT const sluice_plugin_t *
sluice_plugin_entry (void)
{
    return &s_table;
}
