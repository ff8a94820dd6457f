/*  wrk_plugin - loads a plugin shared object and runs it. See wrk_plugin.h.

    Opening the object and reading its table is wrk_load's; this is the
    instance, its lanes' handles, the host table and the hooks.

    Every error is one line, prefixed with the path the user gave, that
    says what is wrong and how to fix it.

    A wrk_plugin_t is one lane's handle on an instance: wrk_plugin_new
    loads the object and creates the instance with lane 0's handle, and
    wrk_plugin_share adds a handle per further lane of a thread-safe
    instance. Each handle owns the sluice_call_t its lane's hooks are
    given (ABI 1.2) and its own emit target, so an emit through a call
    goes to that lane's job whatever thread makes it. An emit through the
    instance's one ctx (ABI 1.0) goes to the lane whose hook is running on
    the calling thread (s_running), or to lane 0 from any other thread.
*/
#include "wrk_plugin.h"
#include "wrk_crash.h"
#include "wrk_load.h"
#include "sl_clock.h"
#include "sl_log.h"

#include <assert.h>
#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct _s_instance_t s_instance_t;

//  What the plugin sees as its context: a way back to its instance.
struct sluice_ctx {
    s_instance_t *inst;
};

//  One call of a *_call hook (ABI 1.2): the lane's handle and the job it
//  runs. One per handle, reused for every call on that lane.
struct sluice_call {
    wrk_plugin_t *plugin; //  the lane's handle
    sluice_job_t job;     //  from the last job hook; topic points below
    char topic[256];      //  Kafka topic names have at most 249 bytes
    atomic_bool active;   //  a hook it was passed to is running
};

//  The loaded object and its one instance, shared by the lanes' handles.
struct _s_instance_t {
    char *path;               //  as the user gave it, for messages
    void *handle;             //  from dlopen
    sluice_plugin_t table;    //  the plugin's, zero-extended to our size
    const char *name;         //  table.name, or the file name
    sluice_option_t *options; //  owned copies
    size_t option_count;
    char *output_topic; //  NULL: no output topic
    uint32_t lanes;     //  handles it may have: host->lanes
    uint32_t lanes_made;
    uint32_t refs;          //  live handles; the last destroys the instance
    wrk_plugin_t *fallback; //  a ctx emit off every lane: lane 0, if alive
    struct sluice_ctx ctx;  //  handed to the plugin, points back here
    void *state;            //  the plugin's instance
    bool created;           //  create succeeded: destroy must run
};

struct _wrk_plugin_t {
    s_instance_t *inst;
    uint32_t lane; //  0 .. inst->lanes - 1
    wrk_emit_fn *emit_fn;
    void *emit_arg;
    struct sluice_call call; //  handed to this lane's *_call hooks
    size_t not_ok;           //  outcomes not OK in the last process call
};

typedef int (s_job_hook_fn) (void *state, const sluice_job_t *job, char *err,
                             size_t errlen);
typedef int (s_call_hook_fn) (void *state, sluice_call_t *call, char *err,
                              size_t errlen);

//  The handle whose hook runs on this thread, if any: where an emit
//  through the instance's ctx goes.
static __thread wrk_plugin_t *s_running;

//  --- the host table the plugin calls back through -----------------------

//  Queue a record for the output topic through the lane's emit_fn.
//  Returns -1 without calling it if there is no output topic or the
//  record has a NULL pointer with a non-zero length.
static int
s_emit (wrk_plugin_t *self, const sluice_emit_t *record)
{
    if (!self || !record)
        return -1;
    s_instance_t *inst = self->inst;
    if (!inst->output_topic || !self->emit_fn)
        return -1;
    if ((!record->key && record->key_len) ||
        (!record->value && record->value_len) ||
        (!record->headers && record->header_count)) {
        sl_warn ("plugin emitted a record with a NULL pointer and a length "
                 "plugin=%s",
                 inst->name);
        return -1;
    }
    return self->emit_fn (self->emit_arg, record) == 0 ? 0 : -1;
}

//  emit (ABI 1.0): for the lane whose hook runs on this thread, or else
//  lane 0 (a thread of the plugin's own).
static int
s_host_emit (sluice_ctx_t *ctx, const sluice_emit_t *record)
{
    if (!ctx)
        return -1;
    wrk_plugin_t *lane = s_running && s_running->inst == ctx->inst
                             ? s_running
                             : ctx->inst->fallback;
    return s_emit (lane, record);
}

//  Map a plugin log level onto ours; out-of-range levels are clamped.
static int
s_host_level (int level)
{
    if (level <= SLUICE_LOG_ERROR)
        return SL_LOG_ERROR;
    if (level < SLUICE_LOG_INFO)
        return SL_LOG_WARN;
    if (level == SLUICE_LOG_INFO)
        return SL_LOG_INFO;
    return SL_LOG_DEBUG;
}

//  Log one line for the plugin, tagged plugin=<name>. The tag goes last so
//  the plugin's "message key=value" text keeps its shape.
static void s_host_log (sluice_ctx_t *ctx, int level, const char *fmt, ...)
    __attribute__ ((format (printf, 3, 4)));

static void
s_host_log (sluice_ctx_t *ctx, int level, const char *fmt, ...)
{
    if (!ctx || !fmt)
        return;
    int sl_level = s_host_level (level);
    if (!sl_log_enabled (sl_level))
        return;
    char text[2048];
    va_list args;
    va_start (args, fmt);
    vsnprintf (text, sizeof text, fmt, args);
    va_end (args);
    const char *name = ctx->inst->name;
    if (strpbrk (name, " \"="))
        sl_log (sl_level, "%s plugin=\"%s\"", text, name);
    else
        sl_log (sl_level, "%s plugin=%s", text, name);
}

//  The value of option `key`, or NULL. If a key was given twice the last
//  one wins, as with repeated command-line flags.
static const char *
s_host_option (sluice_ctx_t *ctx, const char *key)
{
    if (!ctx || !key)
        return NULL;
    s_instance_t *self = ctx->inst;
    for (size_t i = self->option_count; i > 0; i--)
        if (strcmp (self->options[i - 1].key, key) == 0)
            return self->options[i - 1].value;
    return NULL;
}

//  The output topic, or NULL if there is none.
static const char *
s_host_output_topic (sluice_ctx_t *ctx)
{
    return ctx ? ctx->inst->output_topic : NULL;
}

//  The job the call runs for (ABI 1.2).
static const sluice_job_t *
s_host_call_job (sluice_call_t *call)
{
    return call ? &call->job : NULL;
}

//  The lane the call runs on (ABI 1.2).
static uint32_t
s_host_call_lane (sluice_call_t *call)
{
    return call ? call->plugin->lane : 0;
}

//  emit for the call's job (ABI 1.2): through the call's lane, from any
//  thread. Refused (-1) once the hook the call was given to has returned:
//  the lane may be running another job by then.
static int
s_host_call_emit (sluice_call_t *call, const sluice_emit_t *record)
{
    if (!call)
        return -1;
    if (!atomic_load (&call->active)) {
        sl_warn ("plugin emitted through a call whose hook has returned "
                 "plugin=%s",
                 call->plugin->inst->name);
        return -1;
    }
    return s_emit (call->plugin, record);
}

//  How many lanes the instance serves (ABI 1.2).
static uint32_t
s_host_lanes (sluice_ctx_t *ctx)
{
    return ctx ? ctx->inst->lanes : 1;
}

static const sluice_host_t s_host = {
    .abi_major = SLUICE_PLUGIN_ABI_MAJOR,
    .abi_minor = SLUICE_PLUGIN_ABI_MINOR,
    .size = sizeof (sluice_host_t),
    .emit = s_host_emit,
    .log = s_host_log,
    .option = s_host_option,
    .output_topic = s_host_output_topic,
    .call_job = s_host_call_job,
    .call_lane = s_host_call_lane,
    .call_emit = s_host_call_emit,
    .lanes = s_host_lanes,
};

//  Copy the caller's options; the plugin may read them for its lifetime.
//  Returns 0 or -1 with err.
static int
s_copy_options (s_instance_t *self, const sluice_option_t *options,
                size_t count, char *err, size_t errlen)
{
    self->options = calloc (count ? count : 1, sizeof *self->options);
    if (!self->options)
        return wrk_load_error (err, errlen, "plugin %s: out of memory",
                               self->path);
    for (size_t i = 0; i < count; i++) {
        assert (options[i].key);
        sluice_option_t *copy = &self->options[self->option_count];
        copy->key = strdup (options[i].key);
        copy->value = strdup (options[i].value ? options[i].value : "");
        self->option_count++;
        if (!copy->key || !copy->value)
            return wrk_load_error (err, errlen, "plugin %s: out of memory",
                                   self->path);
    }
    return 0;
}

//  Make the plugin's instance. Returns 0 or -1 with the plugin's reason
//  in err.
static int
s_create (s_instance_t *self, char *err, size_t errlen)
{
    if (!self->table.create) {
        self->created = true;
        return 0;
    }
    char why[512] = "";
    int rc =
        self->table.create (&s_host, &self->ctx, self->options,
                            self->option_count, &self->state, why, sizeof why);
    if (rc != 0) {
        why[sizeof why - 1] = 0;
        return wrk_load_error (
            err, errlen, "plugin %s: create failed: %s", self->path,
            *why ? why : "no reason given (the plugin must fill err)");
    }
    self->created = true;
    return 0;
}

//  Destroy the instance (the plugin's destroy, if create succeeded), then
//  dlclose the object.
static void
s_instance_destroy (s_instance_t *self)
{
    if (self->created && self->table.destroy)
        self->table.destroy (self->state);
    if (self->handle)
        dlclose (self->handle);
    for (size_t i = 0; i < self->option_count; i++) {
        free ((char *)self->options[i].key);
        free ((void *)self->options[i].value);
    }
    free (self->options);
    free (self->output_topic);
    free (self->path);
    free (self);
}

//  A new handle on inst for its next lane, emitting through emit_fn, or
//  NULL if out of memory.
static wrk_plugin_t *
s_handle_new (s_instance_t *inst, wrk_emit_fn *emit_fn, void *emit_arg)
{
    wrk_plugin_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->inst = inst;
    self->lane = inst->lanes_made++;
    self->emit_fn = emit_fn;
    self->emit_arg = emit_arg;
    self->call.plugin = self;
    self->call.job.topic = self->call.topic;
    atomic_init (&self->call.active, false);
    inst->refs++;
    return self;
}

//  Load the plugin and create its instance; see wrk_plugin.h.
wrk_plugin_t *
wrk_plugin_new (const char *path, const sluice_option_t *options,
                size_t option_count, const char *output_topic, uint32_t lanes,
                wrk_emit_fn *emit_fn, void *emit_arg, char *err, size_t errlen)
{
    assert (path);
    assert (options || option_count == 0);
    s_instance_t *inst = calloc (1, sizeof *inst);
    wrk_plugin_t *self = inst ? s_handle_new (inst, emit_fn, emit_arg) : NULL;
    if (!self) {
        free (inst);
        wrk_load_error (err, errlen, "plugin %s: out of memory", path);
        return NULL;
    }
    inst->ctx.inst = inst;
    inst->fallback = self;
    inst->lanes = 1;
    inst->path = strdup (path);
    if (output_topic && *output_topic)
        inst->output_topic = strdup (output_topic);
    if (!inst->path || (output_topic && *output_topic && !inst->output_topic)) {
        wrk_load_error (err, errlen, "plugin %s: out of memory", path);
        goto fail;
    }
    if (wrk_load_open (inst->path, &inst->handle, &inst->table, err, errlen) !=
        0)
        goto fail;
    inst->name = wrk_load_name (&inst->table, inst->path);
    //  Lanes share an instance only if the plugin says it is thread-safe.
    if ((inst->table.flags & SLUICE_PLUGIN_F_THREAD_SAFE) && lanes > 1)
        inst->lanes = lanes;
    if (s_copy_options (inst, options, option_count, err, errlen) ||
        wrk_load_check_options (&inst->table, inst->path, inst->options,
                                inst->option_count, err, errlen) ||
        s_create (inst, err, errlen))
        goto fail;
    sl_debug ("plugin loaded plugin=%s version=%s path=%s thread_safe=%s "
              "lanes=%u",
              inst->name, wrk_plugin_version (self), inst->path,
              inst->table.flags & SLUICE_PLUGIN_F_THREAD_SAFE ? "yes" : "no",
              (unsigned)inst->lanes);
    return self;
fail:
    wrk_plugin_destroy (&self);
    return NULL;
}

//  Another lane's handle on a thread-safe instance; see wrk_plugin.h.
wrk_plugin_t *
wrk_plugin_share (wrk_plugin_t *plugin, wrk_emit_fn *emit_fn, void *emit_arg,
                  char *err, size_t errlen)
{
    assert (plugin);
    s_instance_t *inst = plugin->inst;
    if (inst->lanes_made >= inst->lanes) {
        wrk_load_error (err, errlen,
                        "plugin %s: its instance serves %u lane(s), all taken",
                        inst->name, (unsigned)inst->lanes);
        return NULL;
    }
    wrk_plugin_t *self = s_handle_new (inst, emit_fn, emit_arg);
    if (!self)
        wrk_load_error (err, errlen, "plugin %s: out of memory", inst->name);
    return self;
}

//  Drop the handle; the last one destroys the instance and dlcloses the
//  object. See wrk_plugin.h.
void
wrk_plugin_destroy (wrk_plugin_t **self_p)
{
    assert (self_p);
    wrk_plugin_t *self = *self_p;
    if (!self)
        return;
    s_instance_t *inst = self->inst;
    if (inst->fallback == self)
        inst->fallback = NULL;
    if (--inst->refs == 0)
        s_instance_destroy (inst);
    free (self);
    *self_p = NULL;
}

//  The plugin's name, or its file name if it gives none.
const char *
wrk_plugin_name (wrk_plugin_t *self)
{
    assert (self);
    return self->inst->name;
}

//  The plugin's version string, "" if it gives none.
const char *
wrk_plugin_version (wrk_plugin_t *self)
{
    assert (self);
    return self->inst->table.version ? self->inst->table.version : "";
}

//  The plugin's one-line description (ABI 1.1), "" if it gives none or
//  was built at 1.0.
const char *
wrk_plugin_description (wrk_plugin_t *self)
{
    assert (self);
    const char *text = self->inst->table.description;
    return text ? text : "";
}

//  The plugin's SLUICE_PLUGIN_F_* flags.
uint32_t
wrk_plugin_flags (wrk_plugin_t *self)
{
    assert (self);
    return self->inst->table.flags;
}

//  The ABI minor version the plugin was built at.
uint32_t
wrk_plugin_abi_minor (wrk_plugin_t *self)
{
    assert (self);
    return self->inst->table.abi_minor;
}

//  The handle's lane, and how many lanes its instance serves.
uint32_t
wrk_plugin_lane (wrk_plugin_t *self)
{
    assert (self);
    return self->lane;
}

uint32_t
wrk_plugin_lanes (wrk_plugin_t *self)
{
    assert (self);
    return self->inst->lanes;
}

//  The hooks the plugin sets, by name, in call order.
const char *
wrk_plugin_hooks (wrk_plugin_t *self, char *buf, size_t size)
{
    assert (self);
    const sluice_plugin_t *t = &self->inst->table;
    const struct {
        bool set;
        const char *name;
    } hooks[] = {
        {t->create != NULL, "create"},
        {t->job_begin && !t->job_begin_call, "job_begin"},
        {t->job_begin_call != NULL, "job_begin_call"},
        {t->process && !t->process_call, "process"},
        {t->process_call != NULL, "process_call"},
        {t->job_end && !t->job_end_call, "job_end"},
        {t->job_end_call != NULL, "job_end_call"},
        {t->destroy != NULL, "destroy"},
    };
    size_t len = 0;
    buf[0] = 0;
    for (size_t i = 0; i < sizeof hooks / sizeof hooks[0]; i++)
        if (hooks[i].set && len < size)
            len += (size_t)snprintf (buf + len, size - len, "%s%s",
                                     len ? " " : "", hooks[i].name);
    return buf;
}

//  --- running --------------------------------------------------------------

//  A hook of this handle starts on the calling thread: its call is live
//  and emits through ctx come here. Returns what to restore after.
static wrk_plugin_t *
s_enter (wrk_plugin_t *self)
{
    wrk_plugin_t *outer = s_running;
    s_running = self;
    atomic_store (&self->call.active, true);
    return outer;
}

//  The hook returned: the call is dead until the next one.
static void
s_leave (wrk_plugin_t *self, wrk_plugin_t *outer)
{
    atomic_store (&self->call.active, false);
    s_running = outer;
}

//  The call's job from now on: a copy of job, its topic in the call.
static void
s_set_job (wrk_plugin_t *self, const sluice_job_t *job)
{
    struct sluice_call *call = &self->call;
    call->job = *job;
    snprintf (call->topic, sizeof call->topic, "%s",
              job->topic ? job->topic : "");
    call->job.topic = call->topic;
}

//  Run a job hook, the 1.2 one (with the call) if the plugin has it; none
//  succeeds. On failure err says which plugin and hook failed, and the
//  plugin's reason.
static int
s_job_hook (wrk_plugin_t *self, s_job_hook_fn *hook, s_call_hook_fn *call_hook,
            const char *what, const sluice_job_t *job, char *err, size_t errlen)
{
    assert (job);
    s_set_job (self, job);
    if (!hook && !call_hook)
        return 0;
    char why[512] = "";
    void *state = self->inst->state;
    wrk_plugin_t *outer = s_enter (self);
    int rc = call_hook ? call_hook (state, &self->call, why, sizeof why)
                       : hook (state, job, why, sizeof why);
    s_leave (self, outer);
    if (rc == 0)
        return 0;
    why[sizeof why - 1] = 0;
    return wrk_load_error (err, errlen, "plugin %s: %s%s failed: %s",
                           self->inst->name, what, call_hook ? "_call" : "",
                           *why ? why : "no reason given");
}

//  Tell the plugin a job starts. Returns 0 or -1 with err.
int
wrk_plugin_job_begin (wrk_plugin_t *self, const sluice_job_t *job, char *err,
                      size_t errlen)
{
    assert (self);
    const sluice_plugin_t *t = &self->inst->table;
    return s_job_hook (self, t->job_begin, t->job_begin_call, "job_begin", job,
                       err, errlen);
}

//  Tell the plugin a job's last record was processed. Returns 0 or -1.
int
wrk_plugin_job_end (wrk_plugin_t *self, const sluice_job_t *job, char *err,
                    size_t errlen)
{
    assert (self);
    const sluice_plugin_t *t = &self->inst->table;
    return s_job_hook (self, t->job_end, t->job_end_call, "job_end", job, err,
                       errlen);
}

//  Make one outcome well-formed: a terminated reason, a known code (an
//  unknown one becomes REJECT), and a reason for RETRY and REJECT. Returns
//  true if the code was unknown.
static bool
s_check_outcome (s_instance_t *inst, sluice_outcome_t *out)
{
    int code = out->code;
    if (code == SLUICE_OK) //  its reason is never read
        return false;
    out->reason[SLUICE_REASON_MAX - 1] = 0;
    if (code != SLUICE_RETRY && code != SLUICE_REJECT) {
        out->code = SLUICE_REJECT;
        snprintf (out->reason, sizeof out->reason,
                  "plugin %s returned outcome code %d, which is not "
                  "OK/RETRY/REJECT",
                  inst->name, code);
        return true;
    }
    if (!out->reason[0])
        snprintf (out->reason, sizeof out->reason, "%s by plugin %s",
                  code == SLUICE_RETRY ? "retry asked" : "rejected",
                  inst->name);
    return false;
}

//  Run process (process_call if the plugin has it) on a batch; see
//  wrk_plugin.h. Handles of one thread-safe instance may run it on
//  several threads at once: each touches only its own call and `out`.
int
wrk_plugin_process (wrk_plugin_t *self, const sluice_record_t *records,
                    size_t n, sluice_outcome_t *out)
{
    assert (self);
    assert (n == 0 || (records && out));
    self->not_ok = 0;
    for (size_t i = 0; i < n; i++) {
        out[i].code = SLUICE_OK;
        out[i].reason[0] = 0;
    }
    if (n == 0)
        return 0;
    s_instance_t *inst = self->inst;
    const sluice_plugin_t *t = &inst->table;
    wrk_plugin_t *outer = s_enter (self);
    wrk_crash_call_enter (records[0].offset, records[n - 1].offset + 1);
    int rc = t->process_call
                 ? t->process_call (inst->state, &self->call, records, n, out)
                 : t->process (inst->state, records, n, out);
    wrk_crash_call_leave ();
    s_leave (self, outer);
    if (rc != 0) {
        out[0].reason[SLUICE_REASON_MAX - 1] = 0;
        if (!out[0].reason[0])
            snprintf (out[0].reason, sizeof out[0].reason,
                      "plugin %s failed the batch without a reason",
                      inst->name);
        return -1;
    }
    //  One look at each code: an OK outcome (nearly all) is not touched
    //  again, here or by the caller (wrk_plugin_not_ok).
    size_t unknown = 0, not_ok = 0;
    for (size_t i = 0; i < n; i++)
        if (out[i].code != SLUICE_OK) {
            unknown += s_check_outcome (inst, &out[i]);
            not_ok++;
        }
    self->not_ok = not_ok;
    if (unknown)
        sl_warn ("plugin returned unknown outcome codes, records rejected "
                 "plugin=%s records=%zu",
                 inst->name, unknown);
    return 0;
}

//  How many outcomes of the last process call are not OK.
size_t
wrk_plugin_not_ok (const wrk_plugin_t *self)
{
    return self->not_ok;
}
