/*  wrk_plugin - loads a plugin shared object and runs it. See wrk_plugin.h.

    Loading follows Redis's module loader: dlopen (RTLD_NOW | RTLD_LOCAL),
    so an unresolved symbol fails at load and not in the middle of a job,
    and the plugin's symbols never leak into the worker or another plugin;
    one entry symbol; the ABI major read before any other field. The
    plugin's table is then copied into a zero-filled table of our size, so
    a hook appended in a later minor version reads as NULL when an older
    plugin is loaded (SQLite's sqlite3_vfs does the same with iVersion).

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
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

//  The ABI 1.0 table ends with destroy; anything smaller is malformed.
//  Fields appended since (1.1: description) are read only if the plugin's
//  `size` covers them: s_read_table copies no more than `size` bytes.
#define S_TABLE_1_0_SIZE                                                       \
    (offsetof (sluice_plugin_t, destroy) + sizeof (void (*) (void *)))

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
};

typedef int (s_job_hook_fn) (void *state, const sluice_job_t *job, char *err,
                             size_t errlen);
typedef int (s_call_hook_fn) (void *state, sluice_call_t *call, char *err,
                              size_t errlen);

//  The handle whose hook runs on this thread, if any: where an emit
//  through the instance's ctx goes.
static __thread wrk_plugin_t *s_running;

//  Write one line into err (newlines become spaces). Always returns -1, so
//  callers can `return s_error (...)`.
static int s_error (char *err, size_t errlen, const char *fmt, ...)
    __attribute__ ((format (printf, 3, 4)));

static int
s_error (char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || errlen == 0)
        return -1;
    va_list args;
    va_start (args, fmt);
    vsnprintf (err, errlen, fmt, args);
    va_end (args);
    for (char *p = err; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    return -1;
}

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

//  --- loading --------------------------------------------------------------

//  A hint for a dlopen failure, from the text of dlerror().
static const char *
s_dlopen_hint (const char *why)
{
    if (strstr (why, "undefined symbol"))
        return "link the plugin with every library it uses; plugins cannot "
               "use worker symbols";
    if (strstr (why, "wrong ELF class") || strstr (why, "ELF file"))
        return "it was built for another machine: rebuild it here";
    if (strstr (why, "invalid ELF header") || strstr (why, "file too short"))
        return "not a shared object: build the plugin with cc -shared -fPIC";
    return "check that it is a sluice plugin built for this machine";
}

//  dlerror() text usually starts with "<path>: "; drop it, ours says it.
static const char *
s_dlerror_text (const char *why, const char *dlpath)
{
    size_t len = strlen (dlpath);
    if (strncmp (why, dlpath, len) == 0 && strncmp (why + len, ": ", 2) == 0)
        return why + len + 2;
    return why;
}

//  Refuse to run code that someone else could have written: the plugin
//  file and the directory it is in must not be writable by other users,
//  and each must belong to root or to us. Returns 0 or -1 with err.
static int
s_check_owner (const char *what, const char *path, const struct stat *st,
               char *err, size_t errlen)
{
    if (st->st_mode & S_IWOTH)
        return s_error (err, errlen,
                        "plugin %s: %s is writable by other users (mode "
                        "%03o); a plugin is code: chmod o-w it",
                        path, what, (unsigned)(st->st_mode & 0777));
    if (st->st_uid != 0 && st->st_uid != geteuid ())
        return s_error (err, errlen,
                        "plugin %s: %s belongs to uid %u, neither root nor "
                        "us (uid %u); a plugin is code: chown it",
                        path, what, (unsigned)st->st_uid, (unsigned)geteuid ());
    return 0;
}

static int
s_check_perms (const char *path, const struct stat *st, char *err,
               size_t errlen)
{
    if (s_check_owner ("the file", path, st, err, errlen))
        return -1;
    char *real = realpath (path, NULL);
    if (!real)
        return s_error (err, errlen, "plugin %s: %s", path, strerror (errno));
    char *slash = strrchr (real, '/');
    if (slash == real)
        slash[1] = 0; //  a file in "/"
    else
        *slash = 0;
    struct stat dst;
    int rc = stat (real, &dst) == 0
                 ? s_check_owner ("its directory", path, &dst, err, errlen)
                 : s_error (err, errlen, "plugin %s: %s: %s", path, real,
                            strerror (errno));
    free (real);
    return rc;
}

//  dlopen the file at `path`. A path without a slash names a file in the
//  current directory, as any other file argument would; dlopen would
//  otherwise search the library path for it. Returns 0 or -1 with err.
static int
s_open (s_instance_t *self, char *err, size_t errlen)
{
    struct stat st;
    if (stat (self->path, &st) != 0)
        return s_error (err, errlen,
                        "plugin %s: %s (give --plugin the path of a plugin "
                        ".so, e.g. build/plugins/noop.so)",
                        self->path, strerror (errno));
    if (!S_ISREG (st.st_mode))
        return s_error (err, errlen,
                        "plugin %s: not a regular file (give --plugin the "
                        "path of a plugin .so, e.g. build/plugins/noop.so)",
                        self->path);
    if (s_check_perms (self->path, &st, err, errlen) != 0)
        return -1;
    size_t size = strlen (self->path) + 3;
    char *dlpath = malloc (size);
    if (!dlpath)
        return s_error (err, errlen, "plugin %s: out of memory", self->path);
    snprintf (dlpath, size, "%s%s", strchr (self->path, '/') ? "" : "./",
              self->path);
    self->handle = dlopen (dlpath, RTLD_NOW | RTLD_LOCAL);
    int rc = 0;
    if (!self->handle) {
        const char *why = dlerror ();
        why = why ? why : "unknown dlopen error";
        rc =
            s_error (err, errlen, "plugin %s: cannot load: %s (%s)", self->path,
                     s_dlerror_text (why, dlpath), s_dlopen_hint (why));
    }
    free (dlpath);
    return rc;
}

//  Find the entry symbol, call it, and check the table it returns: the
//  ABI major first, then the size, then process (or process_call). Copies
//  the table into self->table. Returns 0 or -1 with err.
static int
s_read_table (s_instance_t *self, char *err, size_t errlen)
{
    dlerror ();
    void *sym = dlsym (self->handle, SLUICE_PLUGIN_ENTRY);
    if (!sym)
        return s_error (err, errlen,
                        "plugin %s: no symbol " SLUICE_PLUGIN_ENTRY
                        " (is it a sluice plugin? build with "
                        "SLUICE_PLUGIN_EXPORT)",
                        self->path);
    //  POSIX guarantees a function's address survives this conversion.
    sluice_plugin_entry_fn entry = (sluice_plugin_entry_fn)sym;
    const sluice_plugin_t *table = entry ();
    if (!table)
        return s_error (err, errlen,
                        "plugin %s: " SLUICE_PLUGIN_ENTRY "() returned NULL "
                        "(it must return the plugin's sluice_plugin_t table)",
                        self->path);
    if (table->abi_major != SLUICE_PLUGIN_ABI_MAJOR)
        return s_error (err, errlen,
                        "plugin %s: ABI major %u, this worker speaks %u: "
                        "rebuild the plugin against this sluice",
                        self->path, (unsigned)table->abi_major,
                        (unsigned)SLUICE_PLUGIN_ABI_MAJOR);
    if (table->size < S_TABLE_1_0_SIZE)
        return s_error (err, errlen,
                        "plugin %s: table size %zu is smaller than the ABI "
                        "1.0 table (%zu bytes): set size to sizeof "
                        "(sluice_plugin_t) and rebuild",
                        self->path, table->size, (size_t)S_TABLE_1_0_SIZE);
    size_t size =
        table->size < sizeof self->table ? table->size : sizeof self->table;
    memcpy (&self->table, table, size);
    if (!self->table.process && !self->table.process_call)
        return s_error (err, errlen,
                        "plugin %s: process is NULL (every plugin must "
                        "implement process, or process_call from ABI 1.2)",
                        self->path);
    return 0;
}

//  The name to show for the plugin: its own, or else its file name.
static const char *
s_display_name (s_instance_t *self)
{
    if (self->table.name && *self->table.name)
        return self->table.name;
    const char *slash = strrchr (self->path, '/');
    return slash ? slash + 1 : self->path;
}

//  Copy the caller's options; the plugin may read them for its lifetime.
//  Returns 0 or -1 with err.
static int
s_copy_options (s_instance_t *self, const sluice_option_t *options,
                size_t count, char *err, size_t errlen)
{
    self->options = calloc (count ? count : 1, sizeof *self->options);
    if (!self->options)
        return s_error (err, errlen, "plugin %s: out of memory", self->path);
    for (size_t i = 0; i < count; i++) {
        assert (options[i].key);
        sluice_option_t *copy = &self->options[self->option_count];
        copy->key = strdup (options[i].key);
        copy->value = strdup (options[i].value ? options[i].value : "");
        self->option_count++;
        if (!copy->key || !copy->value)
            return s_error (err, errlen, "plugin %s: out of memory",
                            self->path);
    }
    return 0;
}

//  True if the plugin lists `key` among the options it understands.
static bool
s_accepts (s_instance_t *self, const char *key)
{
    const char *const *accepted = self->table.options;
    for (size_t i = 0; accepted && accepted[i]; i++)
        if (strcmp (accepted[i], key) == 0)
            return true;
    return false;
}

//  Refuse any option the plugin does not list, naming the ones it does.
//  Returns 0 or -1 with err.
static int
s_check_options (s_instance_t *self, char *err, size_t errlen)
{
    for (size_t i = 0; i < self->option_count; i++) {
        const char *key = self->options[i].key;
        if (s_accepts (self, key))
            continue;
        const char *const *accepted = self->table.options;
        if (!accepted || !accepted[0])
            return s_error (err, errlen,
                            "plugin %s: unknown option '%s' (%s takes no "
                            "options: drop --plugin-opt %s)",
                            self->path, key, self->name, key);
        char list[512] = "";
        size_t len = 0;
        for (size_t k = 0; accepted[k] && len < sizeof list; k++)
            len += (size_t)snprintf (list + len, sizeof list - len, "%s%s",
                                     k ? ", " : "", accepted[k]);
        return s_error (err, errlen,
                        "plugin %s: unknown option '%s' (%s accepts: %s)",
                        self->path, key, self->name, list);
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
        return s_error (err, errlen, "plugin %s: create failed: %s", self->path,
                        *why ? why
                             : "no reason given (the plugin must fill err)");
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
        s_error (err, errlen, "plugin %s: out of memory", path);
        return NULL;
    }
    inst->ctx.inst = inst;
    inst->fallback = self;
    inst->lanes = 1;
    inst->path = strdup (path);
    if (output_topic && *output_topic)
        inst->output_topic = strdup (output_topic);
    if (!inst->path || (output_topic && *output_topic && !inst->output_topic)) {
        s_error (err, errlen, "plugin %s: out of memory", path);
        goto fail;
    }
    if (s_open (inst, err, errlen) || s_read_table (inst, err, errlen))
        goto fail;
    inst->name = s_display_name (inst);
    //  Lanes share an instance only if the plugin says it is thread-safe.
    if ((inst->table.flags & SLUICE_PLUGIN_F_THREAD_SAFE) && lanes > 1)
        inst->lanes = lanes;
    if (s_copy_options (inst, options, option_count, err, errlen) ||
        s_check_options (inst, err, errlen) || s_create (inst, err, errlen))
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
        s_error (err, errlen,
                 "plugin %s: its instance serves %u lane(s), all taken",
                 inst->name, (unsigned)inst->lanes);
        return NULL;
    }
    wrk_plugin_t *self = s_handle_new (inst, emit_fn, emit_arg);
    if (!self)
        s_error (err, errlen, "plugin %s: out of memory", inst->name);
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
    return s_error (err, errlen, "plugin %s: %s%s failed: %s", self->inst->name,
                    what, call_hook ? "_call" : "",
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
    out->reason[SLUICE_REASON_MAX - 1] = 0;
    int code = out->code;
    if (code == SLUICE_OK)
        return false;
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
    for (size_t i = 0; i < n; i++) {
        out[i].code = SLUICE_OK;
        out[i].reason[0] = 0;
    }
    if (n == 0)
        return 0;
    s_instance_t *inst = self->inst;
    const sluice_plugin_t *t = &inst->table;
    wrk_plugin_t *outer = s_enter (self);
    int rc = t->process_call
                 ? t->process_call (inst->state, &self->call, records, n, out)
                 : t->process (inst->state, records, n, out);
    s_leave (self, outer);
    if (rc != 0) {
        out[0].reason[SLUICE_REASON_MAX - 1] = 0;
        if (!out[0].reason[0])
            snprintf (out[0].reason, sizeof out[0].reason,
                      "plugin %s failed the batch without a reason",
                      inst->name);
        return -1;
    }
    size_t unknown = 0;
    for (size_t i = 0; i < n; i++)
        unknown += s_check_outcome (inst, &out[i]);
    if (unknown)
        sl_warn ("plugin returned unknown outcome codes, records rejected "
                 "plugin=%s records=%zu",
                 inst->name, unknown);
    return 0;
}

//  Backoff before retry round `round`: 20 ms doubling to 640 ms.
static void
s_retry_backoff (int64_t round)
{
    struct timespec ts = {0, 10000000L << (round < 6 ? round : 6)};
    while (nanosleep (&ts, &ts) != 0 && errno == EINTR)
        ;
}

int
wrk_plugin_run_batch (wrk_plugin_t *self, const sluice_record_t *records,
                      size_t n, sluice_outcome_t *out, int64_t retries,
                      wrk_retry_fn *on_retry, void *arg, uint64_t *retried,
                      int64_t *plugin_ns)
{
    int64_t t0 = sl_now_ns ();
    int rc = wrk_plugin_process (self, records, n, out);
    *plugin_ns += sl_now_ns () - t0;
    if (rc != 0)
        return -1;
    for (int64_t round = 1; round <= retries; round++) {
        size_t waiting = 0;
        for (size_t i = 0; i < n; i++)
            waiting += out[i].code == SLUICE_RETRY;
        if (waiting == 0)
            break;
        s_retry_backoff (round);
        t0 = sl_now_ns ();
        for (size_t i = 0; i < n; i++) {
            if (out[i].code != SLUICE_RETRY)
                continue;
            (*retried)++;
            if (on_retry)
                on_retry (arg, i, round);
            if (wrk_plugin_process (self, &records[i], 1, &out[i]) != 0)
                out[i].code = SLUICE_RETRY;
        }
        *plugin_ns += sl_now_ns () - t0;
    }
    return 0;
}

const char *
wrk_plugin_reject_reason (const sluice_outcome_t *out, char *buf, size_t size)
{
    snprintf (buf, size, "%s%s",
              out->code == SLUICE_RETRY ? "gave up retrying: " : "",
              out->reason[0] ? out->reason : "rejected by plugin");
    return buf;
}
