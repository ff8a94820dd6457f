/*  myplugin - a template for a sluice worker plugin. Copy this directory,
    rename the plugin, and replace the rule in s_process with your own.

    What it does, to show every part of the ABI:

    - It tags records: each record with a value is emitted to the output
      topic with the value prefixed by the `prefix` option, the key kept,
      the record's headers copied and two headers added (the job it ran in
      and the plugin's version).
    - A record with no value (empty, or a tombstone) is rejected: the
      worker copies it as it was to the dead-letter topic with the reason.
    - A record longer than `max_bytes` is rejected too.
    - A record whose value contains the `busy_on` text fails the first time
      it is seen, as a call to a busy service would: the outcome is RETRY,
      and the worker calls process again with that record alone (after a
      short backoff, up to --record-retries times, then it rejects it).

    Build (see CMakeLists.txt, or with one command):

        cc $(pkg-config --cflags sluice-plugin) -shared -fPIC \
           -fvisibility=hidden myplugin.c -o myplugin.so

    Try it without Kafka:

        sluice plugin check ./myplugin.so
        printf 'a\n\nb busy\n' | sluice plugin run --plugin ./myplugin.so \
            --format lines --plugin-opt prefix=tag: --plugin-opt busy_on=busy

    The whole ABI is <sluice/plugin.h>; docs/PLUGINS.md in sluice's sources
    explains every field and what the worker guarantees.
*/
#define _POSIX_C_SOURCE 200809L //  for strdup, with -std=c11 too
#include <sluice/plugin.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MYPLUGIN_VERSION "1.0"

//  The options create() understands, NULL-terminated. The worker refuses
//  any other --plugin-opt with a message that lists these, before create.
static const char *const s_options[] = {"prefix", "max_bytes", "busy_on", NULL};

//  One instance: what create() made from the options, plus per-job state.
//  The worker owns none of it: the plugin allocates it in create and frees
//  it in destroy.
typedef struct {
    //  The host table and our context: how we call back into the worker.
    //  Both stay valid until destroy returns.
    const sluice_host_t *host;
    sluice_ctx_t *ctx;
    //  From the options, copied: we could also keep the pointers
    //  host->option returns, which live as long as the instance.
    char *prefix;
    size_t prefix_len;
    size_t max_bytes;
    char *busy_on; //  NULL: never busy
    //  The last offset we answered RETRY for, so its retry succeeds.
    int64_t busy_offset;
    //  The current job, for a header and for the counts job_end logs.
    char job_id[24];
    size_t emitted, rejected;
    //  Scratch space for the headers of one emitted record, grown as
    //  needed and reused.
    sluice_header_t *headers;
    size_t header_cap;
    //  Scratch space for one emitted value.
    char *value;
    size_t value_cap;
} myplugin_t;

//  Grow a buffer to at least `need` elements of `size` bytes. Returns 0 or
//  -1 (out of memory, buffer unchanged).
static int
s_reserve (void **buf, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap)
        return 0;
    size_t cap2 = need < 16 ? 16 : need * 2;
    void *grown = realloc (*buf, cap2 * size);
    if (!grown)
        return -1;
    *buf = grown;
    *cap = cap2;
    return 0;
}

//  True if data[0..len) contains the NUL-terminated text. Record values
//  are bytes, not strings: never assume a NUL after them.
static int
s_contains (const void *data, size_t len, const char *text)
{
    size_t tlen = strlen (text);
    for (size_t i = 0; tlen <= len && i <= len - tlen; i++)
        if (memcmp ((const char *)data + i, text, tlen) == 0)
            return 1;
    return 0;
}

//  Free the instance and everything it owns. The worker calls this once,
//  after the last job, and only if create succeeded; we call it ourselves
//  when create fails half way. (A worker that crashes or is killed never
//  calls it: keep nothing here that must happen.)
static void
s_destroy (void *state)
{
    myplugin_t *self = state;
    if (!self)
        return;
    free (self->prefix);
    free (self->busy_on);
    free (self->headers);
    free (self->value);
    free (self);
}

//  Make an instance from the options. On a bad option, write one line that
//  says what is wrong and how to fix it into err and return -1: the worker
//  prints it and exits 2 (`sluice plugin check` prints it as FAIL).
//
//  The worker has already refused options not listed in s_options, so any
//  key here is one we know. Options are also passed as an array
//  (options[0..option_count)); host->option (ctx, key) is simpler and
//  returns the last value if a key was given twice.
static int
s_create (const sluice_host_t *host, sluice_ctx_t *ctx,
          const sluice_option_t *options, size_t option_count, void **state,
          char *err, size_t errlen)
{
    (void)options;
    (void)option_count;
    //  This plugin emits every record, so it needs an output topic; refuse
    //  to start rather than fail every record later.
    const char *topic = host->output_topic (ctx);
    if (!topic) {
        snprintf (err, errlen,
                  "myplugin emits every record: give the worker "
                  "--output-topic TOPIC");
        return -1;
    }
    myplugin_t *self = calloc (1, sizeof *self);
    if (!self) {
        snprintf (err, errlen, "myplugin: out of memory");
        return -1;
    }
    self->host = host;
    self->ctx = ctx;
    self->busy_offset = -1;
    const char *prefix = host->option (ctx, "prefix");
    self->prefix = strdup (prefix ? prefix : "");
    self->prefix_len = strlen (self->prefix ? self->prefix : "");
    const char *busy_on = host->option (ctx, "busy_on");
    if (busy_on && *busy_on)
        self->busy_on = strdup (busy_on);
    if (!self->prefix || (busy_on && *busy_on && !self->busy_on)) {
        snprintf (err, errlen, "myplugin: out of memory");
        s_destroy (self);
        return -1;
    }
    //  A number option: check it completely, and say what is accepted.
    const char *max_bytes = host->option (ctx, "max_bytes");
    self->max_bytes = 1000000;
    if (max_bytes) {
        char *end;
        errno = 0;
        unsigned long long n = strtoull (max_bytes, &end, 10);
        if (errno || end == max_bytes || *end || *max_bytes == '-' || n == 0) {
            snprintf (err, errlen,
                      "myplugin: max_bytes=%s is not a whole number of bytes "
                      "above 0",
                      max_bytes);
            s_destroy (self);
            return -1;
        }
        self->max_bytes = (size_t)n;
    }
    //  The host's logger: one line, "message key=value ...", tagged with
    //  the plugin's name by the worker. Never write to stdout: `sluice
    //  plugin run` prints its results there.
    host->log (ctx, SLUICE_LOG_INFO,
               "myplugin ready output=%s prefix=\"%s\" max_bytes=%zu", topic,
               self->prefix, self->max_bytes);
    *state = self;
    return 0;
}

//  A job starts: its records are the offsets [job->start, job->end) of one
//  partition. Reset the per-job state here. A job that is cancelled or
//  abandoned gets no job_end, so job_begin may follow job_begin. Return -1
//  with a message in err to fail the job (it is re-run later).
static int
s_job_begin (void *state, const sluice_job_t *job, char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    myplugin_t *self = state;
    snprintf (self->job_id, sizeof self->job_id, "%llu",
              (unsigned long long)job->job_id);
    self->emitted = 0;
    self->rejected = 0;
    return 0;
}

//  Set out->code to SLUICE_REJECT with a reason. The reason buffer is
//  SLUICE_REASON_MAX bytes; the worker puts the reason in the dead-letter
//  record's sluice.reason header.
static void
s_reject (myplugin_t *self, sluice_outcome_t *out, const char *why)
{
    out->code = SLUICE_REJECT;
    snprintf (out->reason, sizeof out->reason, "%s", why);
    self->rejected++;
}

//  Emit the tagged copy of one record. Returns 0, or -1 if the worker could
//  not queue it (or we ran out of memory): that is transient, so the caller
//  answers RETRY.
static int
s_emit_tagged (myplugin_t *self, const sluice_record_t *r)
{
    //  The value: prefix + the record's value, built in our own buffer.
    size_t len = self->prefix_len + r->value_len;
    void *value = self->value;
    if (s_reserve (&value, &self->value_cap, len, 1))
        return -1;
    self->value = value;
    memcpy (self->value, self->prefix, self->prefix_len);
    memcpy (self->value + self->prefix_len, r->value, r->value_len);
    //  The headers: the record's own, then ours. The record's header
    //  pointers may be passed on as they are: they are valid during this
    //  process() call, and emit() copies everything before it returns.
    void *headers = self->headers;
    if (s_reserve (&headers, &self->header_cap, r->header_count + 2,
                   sizeof *self->headers))
        return -1;
    self->headers = headers;
    size_t nh = 0;
    for (size_t i = 0; i < r->header_count; i++)
        self->headers[nh++] = r->headers[i];
    self->headers[nh++] =
        (sluice_header_t){"myplugin.job", self->job_id, strlen (self->job_id)};
    self->headers[nh++] = (sluice_header_t){
        "myplugin.version", MYPLUGIN_VERSION, strlen (MYPLUGIN_VERSION)};
    sluice_emit_t rec = {
        .key = r->key, //  keep the key: same key, same output partition
        .key_len = r->key_len,
        .value = self->value,
        .value_len = len,
        .headers = self->headers,
        .header_count = nh,
        .partition = -1, //  let the producer's partitioner choose
    };
    return self->host->emit (self->ctx, &rec);
}

//  Process a batch of n records (at most --batch-size) of the current job,
//  in offset order. For each, set out[i].code; the worker has set every
//  outcome to SLUICE_OK with an empty reason before the call, so records we
//  do not touch are OK.
//
//  Every pointer in records is valid only during this call: copy what must
//  outlive it. Return -1 only if the whole batch failed (put the reason in
//  out[0].reason): the job then fails and runs again later, on this worker
//  or another, so anything already emitted may be emitted twice.
static int
s_process (void *state, const sluice_record_t *records, size_t n,
           sluice_outcome_t *out)
{
    myplugin_t *self = state;
    for (size_t i = 0; i < n; i++) {
        const sluice_record_t *r = &records[i];
        if (!r->value || r->value_len == 0) {
            s_reject (self, &out[i], "empty value: nothing to tag");
            continue;
        }
        if (r->value_len > self->max_bytes) {
            char why[SLUICE_REASON_MAX];
            snprintf (why, sizeof why, "value is %zu bytes, max_bytes is %zu",
                      r->value_len, self->max_bytes);
            s_reject (self, &out[i], why);
            continue;
        }
        //  A transient failure: ask for a retry. The worker will call
        //  process again with this record alone; here the second call
        //  succeeds.
        if (self->busy_on && r->offset != self->busy_offset &&
            s_contains (r->value, r->value_len, self->busy_on)) {
            self->busy_offset = r->offset;
            out[i].code = SLUICE_RETRY;
            snprintf (out[i].reason, sizeof out[i].reason,
                      "pretending the service is busy (busy_on=%s)",
                      self->busy_on);
            continue;
        }
        //  Emit only for a record that is OK: what is emitted goes out
        //  even if the outcome later says RETRY or REJECT.
        if (s_emit_tagged (self, r) != 0) {
            out[i].code = SLUICE_RETRY;
            snprintf (out[i].reason, sizeof out[i].reason,
                      "could not queue the output record");
            continue;
        }
        self->emitted++;
    }
    return 0;
}

//  The job's last record was processed: flush anything batched (a plugin
//  that buffers emits them here) and report. The job counts as done only
//  after this returns 0 and Kafka has acknowledged everything emitted.
static int
s_job_end (void *state, const sluice_job_t *job, char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    myplugin_t *self = state;
    self->host->log (self->ctx, SLUICE_LOG_DEBUG,
                     "myplugin job done job=%llu emitted=%zu rejected=%zu",
                     (unsigned long long)job->job_id, self->emitted,
                     self->rejected);
    return 0;
}

//  The table the worker reads. Always use designated initializers: fields
//  are only ever appended (minor versions), and one you leave out is NULL.
static const sluice_plugin_t s_table = {
    .abi_major = SLUICE_PLUGIN_ABI_MAJOR, //  the worker checks this first
    .abi_minor = SLUICE_PLUGIN_ABI_MINOR,
    .size = sizeof (sluice_plugin_t), //  tells the worker what we have
    .name = "myplugin",
    .version = MYPLUGIN_VERSION,
    .options = s_options,
    //  Not SLUICE_PLUGIN_F_THREAD_SAFE: process changes the instance
    //  (counts, busy_offset, scratch buffers), so the worker must never
    //  run it on two threads at once.
    .flags = 0,
    .create = s_create,
    .job_begin = s_job_begin,
    .process = s_process,
    .job_end = s_job_end,
    .destroy = s_destroy,
    .description = "Template: tags each value with a prefix and emits it.",
};

//  The one symbol the worker looks up. SLUICE_PLUGIN_EXPORT makes it
//  visible even when building with -fvisibility=hidden (recommended: the
//  plugin's other symbols then stay private).
SLUICE_PLUGIN_EXPORT const sluice_plugin_t *sluice_plugin_entry (void);

SLUICE_PLUGIN_EXPORT const sluice_plugin_t *
sluice_plugin_entry (void)
{
    return &s_table;
}
