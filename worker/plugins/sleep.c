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
#include <sluice/plugin.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define S_US_DEFAULT 1000
#define S_US_MAX     3600000000ull //  an hour per record is surely a typo

typedef struct {
    const sluice_host_t *host;
    sluice_ctx_t *ctx;
    uint64_t us_per_record;
    int emit; //  copy records: there is an output topic
} sleep_t;

static const char *const s_options[] = {"us_per_record", NULL};

//  Parse a whole number from 0 to S_US_MAX: digits only, no sign, no
//  space. Returns 0, or -1 with err naming the bad value.
static int
s_parse_us (const char *text, uint64_t *us, char *err, size_t errlen)
{
    uint64_t value = 0;
    size_t len = strlen (text);
    if (len == 0 || strspn (text, "0123456789") != len) {
        snprintf (err, errlen,
                  "us_per_record=%s is not a whole number of microseconds "
                  "(e.g. us_per_record=1000)",
                  text);
        return -1;
    }
    for (size_t i = 0; i < len && value <= S_US_MAX; i++)
        value = value * 10 + (uint64_t)(text[i] - '0');
    if (value > S_US_MAX) {
        snprintf (err, errlen,
                  "us_per_record=%s is more than an hour per record (at "
                  "most %llu)",
                  text, (unsigned long long)S_US_MAX);
        return -1;
    }
    *us = value;
    return 0;
}

//  Make an instance from the options. Returns 0, or -1 with err.
static int
s_create (const sluice_host_t *host, sluice_ctx_t *ctx,
          const sluice_option_t *options, size_t option_count, void **state,
          char *err, size_t errlen)
{
    uint64_t us = S_US_DEFAULT;
    for (size_t i = 0; i < option_count; i++)
        if (strcmp (options[i].key, "us_per_record") == 0 &&
            s_parse_us (options[i].value, &us, err, errlen) != 0)
            return -1;
    sleep_t *self = calloc (1, sizeof *self);
    if (!self) {
        snprintf (err, errlen, "out of memory");
        return -1;
    }
    self->host = host;
    self->ctx = ctx;
    self->us_per_record = us;
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
s_process (void *state, const sluice_record_t *records, size_t n,
           sluice_outcome_t *out)
{
    sleep_t *self = state;
    uint64_t per_record = self->us_per_record * 1000u;
    if (per_record)
        s_sleep_ns (n > UINT64_MAX / per_record ? UINT64_MAX / 2
                                                : n * per_record);
    for (size_t i = 0; self->emit && i < n; i++) {
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
    .name = "sleep",
    .version = "1.0",
    .options = s_options,
    .flags = SLUICE_PLUGIN_F_THREAD_SAFE,
    .create = s_create,
    .process = s_process,
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
