/*  fault - injects failures, for testing the worker and the scheduler. It
    copies records to the output topic like copy (if there is one), except
    a record whose value contains:

        crash_on=TEXT   the process logs a line and aborts (SIGABRT)
        hang_on=TEXT    the call never returns (it sleeps in a loop)
        reject_on=TEXT  the record is rejected: "matched reject_on"
        big_on=TEXT     its copy gets a 1 MiB value (too large for an
                        output whose message.max.bytes is smaller)

    and except every job on its first attempts:

        fail_attempts=N job_begin fails on attempts 1 to N of each job, so
                        the scheduler runs it again (default 0: never)

    Every option is optional; unset or empty means never. If a value
    matches several, crash wins over hang, and hang over reject.

        sluice-worker --plugin build/plugins/fault.so \
                      --plugin-opt crash_on=BOOM --output-topic OUT ...

    Thread-safe: the instance is read-only after create. It learns which
    job it runs (for fail_attempts and its log lines) from the call
    context (ABI 1.2), and copies go out with that call's job.
*/
#ifndef _GNU_SOURCE
#define _GNU_SOURCE //  memmem
#endif
#include <sluice/sdk.h>

#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct {
    const sluice_host_t *host;
    sluice_ctx_t *ctx;
    const char *crash_on; //  NULL: never; point into the host's options
    const char *hang_on;
    const char *reject_on;
    const char *big_on;
    int64_t fail_attempts;
    int emit; //  copy records: there is an output topic
} fault_t;

static const char *const s_options[] = {
    "crash_on", "hang_on", "reject_on", "big_on", "fail_attempts", NULL};

//  The text of option `key`, or NULL if it is unset or empty.
static const char *
s_text (sluice_opts_t *o, const char *key)
{
    const char *value = sluice_opt_str (o, key, NULL);
    return value && *value ? value : NULL;
}

//  Make an instance from the options. Returns 0, or -1 with err.
static int
s_create (const sluice_host_t *host, sluice_ctx_t *ctx,
          const sluice_option_t *options, size_t option_count, void **state,
          char *err, size_t errlen)
{
    sluice_opts_t o = sluice_opts (host, ctx, "fault", err, errlen);
    fault_t *self = calloc (1, sizeof *self);
    if (!self)
        return sluice_opts_error (&o, "out of memory");
    self->host = host;
    self->ctx = ctx;
    self->crash_on = s_text (&o, "crash_on");
    self->hang_on = s_text (&o, "hang_on");
    self->reject_on = s_text (&o, "reject_on");
    self->big_on = s_text (&o, "big_on");
    self->fail_attempts = sluice_opt_int (&o, "fail_attempts", 0, 0, 1000);
    self->emit = host->output_topic (ctx) != NULL;
    if (o.failed)
        free (self);
    else
        *state = self;
    return o.failed ? -1 : 0;
}

//  fail_attempts: fail the job's first attempts.
static int
s_job_begin (void *state, sluice_call_t *call, char *err, size_t errlen)
{
    fault_t *self = state;
    const sluice_job_t *job = self->host->call_job (call);
    if ((int64_t)job->attempt > self->fail_attempts)
        return 0;
    snprintf (err, errlen,
              "fault: failing attempt %u of job %llu "
              "(fail_attempts=%lld)",
              (unsigned)job->attempt, (unsigned long long)job->job_id,
              (long long)self->fail_attempts);
    return -1;
}

//  True if the record's value contains `text` (never if text is NULL).
static int
s_matches (const sluice_record_t *r, const char *text)
{
    return text && r->value &&
           memmem (r->value, r->value_len, text, strlen (text)) != NULL;
}

//  Log which record triggered a fault, and in which job, at `level`.
static void
s_log_fault (fault_t *self, sluice_call_t *call, int level, const char *what,
             const sluice_record_t *r)
{
    const sluice_job_t *job = self->host->call_job (call);
    self->host->log (self->ctx, level,
                     "%s topic=%s partition=%d offset=%lld job=%llu "
                     "attempt=%u",
                     what, r->topic ? r->topic : "", (int)r->partition,
                     (long long)r->offset, (unsigned long long)job->job_id,
                     (unsigned)job->attempt);
}

//  Block the calling thread for ever, without using CPU.
static void
s_hang (void)
{
    struct timespec second = {1, 0};
    for (;;)
        nanosleep (&second, NULL);
}

//  big_on: emit r's key with a 1 MiB value. Returns -1 (reason in out)
//  if the host could not queue it.
static int
s_emit_big (fault_t *self, sluice_call_t *call, const sluice_record_t *r,
            sluice_outcome_t *out)
{
    size_t size = 1 << 20;
    char *value = malloc (size);
    if (!value) {
        sluice_outcome_set (out, SLUICE_RETRY, "fault: out of memory");
        return -1;
    }
    memset (value, 'B', size);
    sluice_emit_t rec = sluice_emit_of (r);
    rec.value = value;
    rec.value_len = size;
    s_log_fault (self, call, SLUICE_LOG_INFO, "fault: big_on matched", r);
    int rc = sluice_emit_record (self->host, NULL, call, &rec, r->offset, out);
    free (value);
    return rc;
}

//  Apply the faults to each record and copy the others. Returns -1
//  (reason in out [0]) if a copy could not be queued.
static int
s_process (void *state, sluice_call_t *call, const sluice_record_t *records,
           size_t n, sluice_outcome_t *out)
{
    fault_t *self = state;
    for (size_t i = 0; i < n; i++) {
        const sluice_record_t *r = &records[i];
        if (s_matches (r, self->crash_on)) {
            s_log_fault (self, call, SLUICE_LOG_ERROR,
                         "fault: crash_on matched, aborting", r);
            abort ();
        }
        if (s_matches (r, self->hang_on)) {
            s_log_fault (self, call, SLUICE_LOG_WARN,
                         "fault: hang_on matched, hanging for ever", r);
            s_hang ();
        }
        if (s_matches (r, self->reject_on))
            sluice_outcome_set (&out[i], SLUICE_REJECT, "matched reject_on");
        else if (self->emit && s_matches (r, self->big_on)) {
            if (s_emit_big (self, call, r, &out[0]))
                return -1;
        } else if (self->emit &&
                   sluice_emit_copy (self->host, NULL, call, r, &out[0]))
            return -1;
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
    .name = "fault",
    .version = "1.0",
    .options = s_options,
    .flags = SLUICE_PLUGIN_F_THREAD_SAFE,
    .create = s_create,
    .destroy = s_destroy,
    .description = "Crashes, hangs or rejects on records with given text, or "
                   "fails first attempts (testing).",
    .job_begin_call = s_job_begin,
    .process_call = s_process,
};

//  The plugin's entry point: its table.
SLUICE_PLUGIN_EXPORT const sluice_plugin_t *sluice_plugin_entry (void);
SLUICE_PLUGIN_EXPORT const sluice_plugin_t *
sluice_plugin_entry (void)
{
    return &s_table;
}
