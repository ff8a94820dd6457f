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

    How it is built, ABI 1.2: one instance serves every lane (executor
    thread) of a worker started with --concurrency N, which calls it from
    N threads at once (SLUICE_PLUGIN_F_THREAD_SAFE). The instance is
    read-only after create; what changes while a job runs lives in a slot
    per lane, and a lane runs one job at a time, so nothing needs a lock.
    Each hook gets the call context (sluice_call_t), which says for which
    job and on which lane it runs, and emits go out through it, with that
    job. <sluice/sdk.h> (header-only, like plugin.h) reads the options with
    clear messages and does the emits.

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
#include <sluice/sdk.h>

#include <stdlib.h>
#include <string.h>

#define MYPLUGIN_VERSION "1.0"

//  The options create() understands, NULL-terminated. The worker refuses
//  any other --plugin-opt with a message that lists these, before create.
static const char *const s_options[] = {"prefix", "max_bytes", "busy_on", NULL};

//  What one lane changes while it runs a job.
typedef struct {
    //  The last offset we answered RETRY for, so its retry succeeds.
    int64_t busy_offset;
    //  The current job, for a header and for the counts job_end logs.
    char job_id[24];
    size_t emitted, rejected;
    //  Scratch space for one emitted record's headers and value, grown as
    //  needed and reused.
    sluice_header_t *headers;
    size_t header_cap;
    char *value;
    size_t value_cap;
} myplugin_lane_t;

//  One instance: what create() made from the options, read-only after
//  create, and a slot per lane. The worker owns none of it: the plugin
//  allocates it in create and frees it in destroy.
typedef struct {
    //  The host table and our context: how we call back into the worker.
    //  Both stay valid until destroy returns.
    const sluice_host_t *host;
    sluice_ctx_t *ctx;
    //  From the options: the host's strings, which live as long as the
    //  instance (copy them if you change them).
    const char *prefix;
    size_t prefix_len;
    size_t max_bytes;
    const char *busy_on; //  "": never busy
    //  host->lanes (ctx) slots, indexed by host->call_lane (call).
    uint32_t nlanes;
    myplugin_lane_t *lanes;
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
//  after the last job, and only if create succeeded. (A worker that
//  crashes or is killed never calls it: keep nothing here that must
//  happen.)
static void
s_destroy (void *state)
{
    myplugin_t *self = state;
    for (uint32_t l = 0; l < self->nlanes; l++) {
        free (self->lanes[l].headers);
        free (self->lanes[l].value);
    }
    free (self->lanes);
    free (self);
}

//  Make an instance from the options. On a bad option the sluice_opt_*
//  readers write one line into err that names the option and says what is
//  wrong, e.g. `myplugin: option max_bytes: "lots" is not a whole number`,
//  and set o.failed: return -1 then, and the worker prints the line and
//  exits 2 (`sluice plugin check` prints it as FAIL).
//
//  The worker has already refused options not listed in s_options, so any
//  key here is one we know. (Options also come as an array,
//  options[0..option_count), repeated keys included; the readers give the
//  last value of a key given twice.)
static int
s_create (const sluice_host_t *host, sluice_ctx_t *ctx,
          const sluice_option_t *options, size_t option_count, void **state,
          char *err, size_t errlen)
{
    (void)options;
    (void)option_count;
    sluice_opts_t o = sluice_opts (host, ctx, "myplugin", err, errlen);
    //  This plugin emits every record, so it needs an output topic: refuse
    //  to start rather than fail every record later.
    const char *topic = sluice_opt_output (&o);
    const char *prefix = sluice_opt_str (&o, "prefix", "");
    int64_t max_bytes = sluice_opt_int (&o, "max_bytes", 1000000, 1, INT32_MAX);
    const char *busy_on = sluice_opt_str (&o, "busy_on", "");
    //  How many lanes may call us at once (ABI 1.2; an older worker is
    //  refused here, since it would not give us the call context).
    uint32_t nlanes = sluice_opt_lanes (&o);
    if (o.failed)
        return -1;
    myplugin_t *self = calloc (1, sizeof *self);
    myplugin_lane_t *lanes = calloc (nlanes, sizeof *lanes);
    if (!self || !lanes) {
        free (self);
        free (lanes);
        return sluice_opts_error (&o, "out of memory");
    }
    self->host = host;
    self->ctx = ctx;
    self->prefix = prefix;
    self->prefix_len = strlen (prefix);
    self->max_bytes = (size_t)max_bytes;
    self->busy_on = busy_on;
    self->nlanes = nlanes;
    self->lanes = lanes;
    for (uint32_t l = 0; l < nlanes; l++)
        lanes[l].busy_offset = -1;
    //  The host's logger: one line, "message key=value ...", tagged with
    //  the plugin's name by the worker. Never write to stdout: `sluice
    //  plugin run` prints its results there.
    host->log (ctx, SLUICE_LOG_INFO,
               "myplugin ready output=%s prefix=\"%s\" max_bytes=%zu", topic,
               self->prefix, self->max_bytes);
    *state = self;
    return 0;
}

//  The slot of the lane the call runs on: host->call_lane is below
//  host->lanes, the count create sized the slots with.
static myplugin_lane_t *
s_lane (myplugin_t *self, sluice_call_t *call)
{
    return &self->lanes[self->host->call_lane (call)];
}

//  A job starts: its records are the offsets [job->start, job->end) of one
//  partition. Reset the lane's per-job state here. A job that is cancelled
//  or abandoned gets no job_end, so job_begin may follow job_begin. Return
//  -1 with a message in err to fail the job (it is re-run later).
static int
s_job_begin (void *state, sluice_call_t *call, char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    myplugin_t *self = state;
    const sluice_job_t *job = self->host->call_job (call);
    myplugin_lane_t *lane = s_lane (self, call);
    snprintf (lane->job_id, sizeof lane->job_id, "%llu",
              (unsigned long long)job->job_id);
    lane->emitted = 0;
    lane->rejected = 0;
    return 0;
}

//  Emit the tagged copy of one record for the call's job. Returns 0, or -1
//  with a reason in out if the worker could not queue it (or we ran out of
//  memory): that is transient, so the caller answers RETRY.
static int
s_emit_tagged (myplugin_t *self, sluice_call_t *call, const sluice_record_t *r,
               sluice_outcome_t *out)
{
    myplugin_lane_t *lane = s_lane (self, call);
    //  The value: prefix + the record's value, built in the lane's buffer.
    size_t len = self->prefix_len + r->value_len;
    void *value = lane->value;
    void *headers = lane->headers;
    if (s_reserve (&value, &lane->value_cap, len, 1) ||
        s_reserve (&headers, &lane->header_cap, r->header_count + 2,
                   sizeof *lane->headers)) {
        sluice_outcome_set (out, SLUICE_RETRY, "out of memory");
        return -1;
    }
    lane->value = value;
    lane->headers = headers;
    memcpy (lane->value, self->prefix, self->prefix_len);
    memcpy (lane->value + self->prefix_len, r->value, r->value_len);
    //  The headers: the record's own, then ours. The record's header
    //  pointers may be passed on as they are: they are valid during this
    //  process() call, and emit copies everything before it returns.
    size_t nh = 0;
    for (size_t i = 0; i < r->header_count; i++)
        lane->headers[nh++] = r->headers[i];
    lane->headers[nh++] =
        (sluice_header_t){"myplugin.job", lane->job_id, strlen (lane->job_id)};
    lane->headers[nh++] = (sluice_header_t){
        "myplugin.version", MYPLUGIN_VERSION, strlen (MYPLUGIN_VERSION)};
    sluice_emit_t rec = {
        .key = r->key, //  keep the key: same key, same output partition
        .key_len = r->key_len,
        .value = lane->value,
        .value_len = len,
        .headers = lane->headers,
        .header_count = nh,
        .partition = -1, //  let the producer's partitioner choose
    };
    //  Through the call: the record goes out, and counts, with its job.
    return sluice_emit_record (self->host, self->ctx, call, &rec, r->offset,
                               out);
}

//  Process a batch of n records (at most --batch-size) of the call's job,
//  in offset order. For each, set out[i].code; the worker has set every
//  outcome to SLUICE_OK with an empty reason before the call, so records we
//  do not touch are OK.
//
//  Every pointer in records is valid only during this call: copy what must
//  outlive it. Return -1 only if the whole batch failed (put the reason in
//  out[0].reason): the job then fails and runs again later, on this worker
//  or another, so anything already emitted may be emitted twice.
static int
s_process (void *state, sluice_call_t *call, const sluice_record_t *records,
           size_t n, sluice_outcome_t *out)
{
    myplugin_t *self = state;
    myplugin_lane_t *lane = s_lane (self, call);
    for (size_t i = 0; i < n; i++) {
        const sluice_record_t *r = &records[i];
        //  A permanent failure: the worker copies the record as it was to
        //  the dead-letter topic, the reason in its sluice.reason header.
        if (!r->value || r->value_len == 0) {
            sluice_outcome_set (&out[i], SLUICE_REJECT,
                                "empty value: nothing to tag");
            lane->rejected++;
            continue;
        }
        if (r->value_len > self->max_bytes) {
            sluice_outcome_set (&out[i], SLUICE_REJECT,
                                "value is %zu bytes, max_bytes is %zu",
                                r->value_len, self->max_bytes);
            lane->rejected++;
            continue;
        }
        //  A transient failure: ask for a retry. The worker will call
        //  process again with this record alone, on this lane; here the
        //  second call succeeds.
        if (*self->busy_on && r->offset != lane->busy_offset &&
            s_contains (r->value, r->value_len, self->busy_on)) {
            lane->busy_offset = r->offset;
            sluice_outcome_set (&out[i], SLUICE_RETRY,
                                "pretending the service is busy (busy_on=%s)",
                                self->busy_on);
            continue;
        }
        //  Emit only for a record that is OK: what is emitted goes out
        //  even if the outcome later says RETRY or REJECT.
        if (s_emit_tagged (self, call, r, &out[i]) != 0) {
            out[i].code = SLUICE_RETRY;
            continue;
        }
        lane->emitted++;
    }
    return 0;
}

//  The job's last record was processed: flush anything batched (a plugin
//  that buffers emits them here, through the call) and report. The job
//  counts as done only after this returns 0 and Kafka has acknowledged
//  everything emitted.
static int
s_job_end (void *state, sluice_call_t *call, char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    myplugin_t *self = state;
    const sluice_job_t *job = self->host->call_job (call);
    myplugin_lane_t *lane = s_lane (self, call);
    self->host->log (self->ctx, SLUICE_LOG_DEBUG,
                     "myplugin job done job=%llu lane=%u emitted=%zu "
                     "rejected=%zu",
                     (unsigned long long)job->job_id,
                     (unsigned)self->host->call_lane (call), lane->emitted,
                     lane->rejected);
    return 0;
}

//  The table the worker reads. Always use designated initializers: fields
//  are only ever appended (minor versions), and one you leave out is NULL.
//  The *_call hooks (ABI 1.2) take the call context; a worker before 1.2
//  would need .process (and .job_begin, .job_end) without it, and create
//  above refuses such a worker instead.
static const sluice_plugin_t s_table = {
    .abi_major = SLUICE_PLUGIN_ABI_MAJOR, //  the worker checks this first
    .abi_minor = SLUICE_PLUGIN_ABI_MINOR,
    .size = sizeof (sluice_plugin_t), //  tells the worker what we have
    .name = "myplugin",
    .version = MYPLUGIN_VERSION,
    .options = s_options,
    //  Thread-safe: the instance is read-only after create and each lane
    //  has its own slot, so one instance serves every lane at once.
    .flags = SLUICE_PLUGIN_F_THREAD_SAFE,
    .create = s_create,
    .destroy = s_destroy,
    .description = "Template: tags each value with a prefix and emits it.",
    .job_begin_call = s_job_begin,
    .process_call = s_process,
    .job_end_call = s_job_end,
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
