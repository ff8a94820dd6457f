/*  fault - injects failures, for testing the worker and the scheduler. It
    copies records to the output topic like copy (if there is one), except
    a record whose value contains:

        crash_on=TEXT   the process logs a line and aborts (SIGABRT)
        hang_on=TEXT    the call never returns (it sleeps in a loop)
        reject_on=TEXT  the record is rejected: "matched reject_on"

    Every option is optional; unset or empty means never. If a value
    matches several, crash wins over hang, and hang over reject.

        sluice-worker --plugin build/plugins/fault.so \
                      --plugin-opt crash_on=BOOM --output-topic OUT ...
*/
#ifndef _GNU_SOURCE
#define _GNU_SOURCE //  memmem
#endif
#include <sluice/plugin.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct {
    const sluice_host_t *host;
    sluice_ctx_t *ctx;
    const char *crash_on; //  NULL: never; point into the host's options
    const char *hang_on;
    const char *reject_on;
    int emit; //  copy records: there is an output topic
} fault_t;

static const char *const s_options[] = {"crash_on", "hang_on", "reject_on",
                                        NULL};

//  The host's value for option `key`, or NULL if it is unset or empty.
static const char *
s_option (const sluice_host_t *host, sluice_ctx_t *ctx, const char *key)
{
    const char *value = host->option (ctx, key);
    return value && *value ? value : NULL;
}

//  Make an instance from the options. Returns 0, or -1 with err.
static int
s_create (const sluice_host_t *host, sluice_ctx_t *ctx,
          const sluice_option_t *options, size_t option_count, void **state,
          char *err, size_t errlen)
{
    (void)options;
    (void)option_count;
    fault_t *self = calloc (1, sizeof *self);
    if (!self) {
        snprintf (err, errlen, "out of memory");
        return -1;
    }
    self->host = host;
    self->ctx = ctx;
    self->crash_on = s_option (host, ctx, "crash_on");
    self->hang_on = s_option (host, ctx, "hang_on");
    self->reject_on = s_option (host, ctx, "reject_on");
    self->emit = host->output_topic (ctx) != NULL;
    *state = self;
    return 0;
}

//  True if the record's value contains `text` (never if text is NULL).
static int
s_matches (const sluice_record_t *r, const char *text)
{
    return text && r->value &&
           memmem (r->value, r->value_len, text, strlen (text)) != NULL;
}

//  Log which record triggered a fault, at `level`.
static void
s_log_fault (fault_t *self, int level, const char *what,
             const sluice_record_t *r)
{
    self->host->log (self->ctx, level, "%s topic=%s partition=%d offset=%lld",
                     what, r->topic ? r->topic : "", (int)r->partition,
                     (long long)r->offset);
}

//  Block the calling thread for ever, without using CPU.
static void
s_hang (void)
{
    struct timespec second = {1, 0};
    for (;;)
        nanosleep (&second, NULL);
}

//  Apply the faults to each record and copy the others. Returns -1
//  (reason in out [0]) if a copy could not be queued.
static int
s_process (void *state, const sluice_record_t *records, size_t n,
           sluice_outcome_t *out)
{
    fault_t *self = state;
    for (size_t i = 0; i < n; i++) {
        const sluice_record_t *r = &records[i];
        if (s_matches (r, self->crash_on)) {
            s_log_fault (self, SLUICE_LOG_ERROR,
                         "fault: crash_on matched, "
                         "aborting",
                         r);
            abort ();
        }
        if (s_matches (r, self->hang_on)) {
            s_log_fault (self, SLUICE_LOG_WARN,
                         "fault: hang_on matched, "
                         "hanging for ever",
                         r);
            s_hang ();
        }
        if (s_matches (r, self->reject_on)) {
            out[i].code = SLUICE_REJECT;
            snprintf (out[i].reason, sizeof out[i].reason, "matched reject_on");
            continue;
        }
        sluice_emit_t rec = {
            r->key,     r->key_len,      r->value, r->value_len,
            r->headers, r->header_count, -1};
        if (self->emit && self->host->emit (self->ctx, &rec) != 0) {
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

//  Thread-safe: the instance is read-only after create.
static const sluice_plugin_t s_table = {
    .abi_major = SLUICE_PLUGIN_ABI_MAJOR,
    .abi_minor = SLUICE_PLUGIN_ABI_MINOR,
    .size = sizeof (sluice_plugin_t),
    .name = "fault",
    .version = "1.0",
    .options = s_options,
    .flags = SLUICE_PLUGIN_F_THREAD_SAFE,
    .create = s_create,
    .process = s_process,
    .destroy = s_destroy,
    .description =
        "Crashes, hangs or rejects on records containing given text (testing).",
};

//  The plugin's entry point: its table.
SLUICE_PLUGIN_EXPORT const sluice_plugin_t *sluice_plugin_entry (void);
SLUICE_PLUGIN_EXPORT const sluice_plugin_t *
sluice_plugin_entry (void)
{
    return &s_table;
}
