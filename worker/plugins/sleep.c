/*  sleep - stands in for a slow plugin (a remote call, a heavy model): it
    waits `us_per_record` microseconds per record without using CPU, one
    sleep per batch, then copies the records to the output topic if there
    is one, like copy. Without an output topic every record is just OK.

        sluice-worker --plugin build/plugins/sleep.so \
                      --plugin-opt us_per_record=2000 [--output-topic OUT]

    Options: us_per_record=N, a whole number of microseconds from 0 to
    3600000000 (default 1000).
*/
#ifndef _GNU_SOURCE
#define _GNU_SOURCE //  clock_nanosleep under -std=c11
#endif
#include <sluice/sdk.h>

#include <errno.h>
#include <stdlib.h>
#include <time.h>

#define S_US_DEFAULT 1000
#define S_US_MAX     3600000000ll //  an hour per record is surely a typo

typedef struct {
    const sluice_host_t *host;
    uint64_t us_per_record;
    int emit; //  copy records: there is an output topic
} sleep_t;

static const char *const s_options[] = {"us_per_record", NULL};

//  Make an instance from the options. Returns 0, or -1 with err.
static int
s_create (const sluice_host_t *host, sluice_ctx_t *ctx,
          const sluice_option_t *options, size_t option_count, void **state,
          char *err, size_t errlen)
{
    sluice_opts_t o = sluice_opts (host, ctx, "sleep", err, errlen);
    int64_t us =
        sluice_opt_int (&o, "us_per_record", S_US_DEFAULT, 0, S_US_MAX);
    sleep_t *self = o.failed ? NULL : calloc (1, sizeof *self);
    if (!self)
        return o.failed ? -1 : sluice_opts_error (&o, "out of memory");
    self->host = host;
    self->us_per_record = (uint64_t)us;
    self->emit = host->output_topic (ctx) != NULL;
    *state = self;
    return 0;
}

//  Sleep for `ns` nanoseconds on the monotonic clock, to an absolute
//  deadline so that signals do not stretch or cut the wait.
static void
s_sleep_ns (uint64_t ns)
{
    struct timespec deadline;
    clock_gettime (CLOCK_MONOTONIC, &deadline);
    uint64_t total = (uint64_t)deadline.tv_nsec + ns;
    deadline.tv_sec += (time_t)(total / 1000000000u);
    deadline.tv_nsec = (long)(total % 1000000000u);
    while (clock_nanosleep (CLOCK_MONOTONIC, TIMER_ABSTIME, &deadline, NULL) ==
           EINTR)
        ;
}

//  Wait n * us_per_record, then copy the batch if there is an output
//  topic. Returns -1 (reason in out [0]) if a copy could not be queued.
static int
s_process (void *state, sluice_call_t *call, const sluice_record_t *records,
           size_t n, sluice_outcome_t *out)
{
    sleep_t *self = state;
    uint64_t per_record = self->us_per_record * 1000u;
    if (per_record)
        s_sleep_ns (n > UINT64_MAX / per_record ? UINT64_MAX / 2
                                                : n * per_record);
    for (size_t i = 0; self->emit && i < n; i++)
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
    .name = "sleep",
    .version = "1.0",
    .options = s_options,
    .flags = SLUICE_PLUGIN_F_THREAD_SAFE,
    .create = s_create,
    .process_call = s_process,
    .destroy = s_destroy,
    .description = "Waits us_per_record per record, then copies like copy (a "
                   "slow plugin).",
};

//  The plugin's entry point: its table.
SLUICE_PLUGIN_EXPORT const sluice_plugin_t *sluice_plugin_entry (void);
SLUICE_PLUGIN_EXPORT const sluice_plugin_t *
sluice_plugin_entry (void)
{
    return &s_table;
}
