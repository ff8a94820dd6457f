/*  wrk_load - opening a plugin object. See wrk_load.h.

    Loading follows Redis's module loader: dlopen (RTLD_NOW | RTLD_LOCAL),
    so an unresolved symbol fails at load and not in the middle of a job,
    and the plugin's symbols never leak into the worker or another plugin;
    one entry symbol; the ABI major read before any other field. The
    plugin's table is then copied into a zero-filled table of our size, so
    a hook appended in a later minor version reads as NULL when an older
    plugin is loaded (SQLite's sqlite3_vfs does the same with iVersion).
*/
#include "wrk_load.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

//  The ABI 1.0 table ends with destroy; anything smaller is malformed.
//  Fields appended since (1.1: description) are read only if the plugin's
//  `size` covers them: s_read_table copies no more than `size` bytes.
#define S_TABLE_1_0_SIZE                                                       \
    (offsetof (sluice_plugin_t, destroy) + sizeof (void (*) (void *)))

//  One line into err; see wrk_load.h.
int
wrk_load_error (char *err, size_t errlen, const char *fmt, ...)
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
        return wrk_load_error (err, errlen,
                               "plugin %s: %s is writable by other users (mode "
                               "%03o); a plugin is code: chmod o-w it",
                               path, what, (unsigned)(st->st_mode & 0777));
    if (st->st_uid != 0 && st->st_uid != geteuid ())
        return wrk_load_error (
            err, errlen,
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
        return wrk_load_error (err, errlen, "plugin %s: %s", path,
                               strerror (errno));
    char *slash = strrchr (real, '/');
    if (slash == real)
        slash[1] = 0; //  a file in "/"
    else
        *slash = 0;
    struct stat dst;
    int rc = stat (real, &dst) == 0
                 ? s_check_owner ("its directory", path, &dst, err, errlen)
                 : wrk_load_error (err, errlen, "plugin %s: %s: %s", path, real,
                                   strerror (errno));
    free (real);
    return rc;
}

//  dlopen the file at `path`. A path without a slash names a file in the
//  current directory, as any other file argument would; dlopen would
//  otherwise search the library path for it. Returns 0 or -1 with err.
static int
s_open (const char *path, void **handle, char *err, size_t errlen)
{
    struct stat st;
    if (stat (path, &st) != 0)
        return wrk_load_error (
            err, errlen,
            "plugin %s: %s (give --plugin the path of a plugin "
            ".so, e.g. build/plugins/noop.so)",
            path, strerror (errno));
    if (!S_ISREG (st.st_mode))
        return wrk_load_error (
            err, errlen,
            "plugin %s: not a regular file (give --plugin the "
            "path of a plugin .so, e.g. build/plugins/noop.so)",
            path);
    if (s_check_perms (path, &st, err, errlen) != 0)
        return -1;
    size_t size = strlen (path) + 3;
    char *dlpath = malloc (size);
    if (!dlpath)
        return wrk_load_error (err, errlen, "plugin %s: out of memory", path);
    snprintf (dlpath, size, "%s%s", strchr (path, '/') ? "" : "./", path);
    *handle = dlopen (dlpath, RTLD_NOW | RTLD_LOCAL);
    int rc = 0;
    if (!*handle) {
        const char *why = dlerror ();
        why = why ? why : "unknown dlopen error";
        rc = wrk_load_error (err, errlen, "plugin %s: cannot load: %s (%s)",
                             path, s_dlerror_text (why, dlpath),
                             s_dlopen_hint (why));
    }
    free (dlpath);
    return rc;
}

//  Find the entry symbol, call it, and check the table it returns: the
//  ABI major first, then the size, then process (or process_call). Copies
//  the table into self->table. Returns 0 or -1 with err.
static int
s_read_table (const char *path, void *handle, sluice_plugin_t *out, char *err,
              size_t errlen)
{
    dlerror ();
    void *sym = dlsym (handle, SLUICE_PLUGIN_ENTRY);
    if (!sym)
        return wrk_load_error (err, errlen,
                               "plugin %s: no symbol " SLUICE_PLUGIN_ENTRY
                               " (is it a sluice plugin? build with "
                               "SLUICE_PLUGIN_EXPORT)",
                               path);
    //  POSIX guarantees a function's address survives this conversion.
    sluice_plugin_entry_fn entry = (sluice_plugin_entry_fn)sym;
    const sluice_plugin_t *table = entry ();
    if (!table)
        return wrk_load_error (
            err, errlen,
            "plugin %s: " SLUICE_PLUGIN_ENTRY "() returned NULL "
            "(it must return the plugin's sluice_plugin_t table)",
            path);
    if (table->abi_major != SLUICE_PLUGIN_ABI_MAJOR)
        return wrk_load_error (
            err, errlen,
            "plugin %s: ABI major %u, this worker speaks %u: "
            "rebuild the plugin against this sluice",
            path, (unsigned)table->abi_major,
            (unsigned)SLUICE_PLUGIN_ABI_MAJOR);
    if (table->size < S_TABLE_1_0_SIZE)
        return wrk_load_error (
            err, errlen,
            "plugin %s: table size %zu is smaller than the ABI "
            "1.0 table (%zu bytes): set size to sizeof "
            "(sluice_plugin_t) and rebuild",
            path, table->size, (size_t)S_TABLE_1_0_SIZE);
    size_t size = table->size < sizeof *out ? table->size : sizeof *out;
    memset (out, 0, sizeof *out);
    memcpy (out, table, size);
    if (!out->process && !out->process_call)
        return wrk_load_error (
            err, errlen,
            "plugin %s: process is NULL (every plugin must "
            "implement process, or process_call from ABI 1.2)",
            path);
    return 0;
}

//  Open the object and read its table; see wrk_load.h.
int
wrk_load_open (const char *path, void **handle, sluice_plugin_t *table,
               char *err, size_t errlen)
{
    *handle = NULL;
    return s_open (path, handle, err, errlen) ||
                   s_read_table (path, *handle, table, err, errlen)
               ? -1
               : 0;
}

//  The name to show; see wrk_load.h.
const char *
wrk_load_name (const sluice_plugin_t *table, const char *path)
{
    if (table->name && *table->name)
        return table->name;
    const char *slash = strrchr (path, '/');
    return slash ? slash + 1 : path;
}

//  True if the plugin lists `key` among the options it understands.
static bool
s_accepts (const sluice_plugin_t *table, const char *key)
{
    const char *const *accepted = table->options;
    for (size_t i = 0; accepted && accepted[i]; i++)
        if (strcmp (accepted[i], key) == 0)
            return true;
    return false;
}

//  Refuse unknown options; see wrk_load.h.
int
wrk_load_check_options (const sluice_plugin_t *table, const char *path,
                        const sluice_option_t *options, size_t count, char *err,
                        size_t errlen)
{
    const char *name = wrk_load_name (table, path);
    for (size_t i = 0; i < count; i++) {
        const char *key = options[i].key;
        if (s_accepts (table, key))
            continue;
        const char *const *accepted = table->options;
        if (!accepted || !accepted[0])
            return wrk_load_error (
                err, errlen,
                "plugin %s: unknown option '%s' (%s takes no "
                "options: drop --plugin-opt %s)",
                path, key, name, key);
        char list[512] = "";
        size_t len = 0;
        for (size_t k = 0; accepted[k] && len < sizeof list; k++)
            len += (size_t)snprintf (list + len, sizeof list - len, "%s%s",
                                     k ? ", " : "", accepted[k]);
        return wrk_load_error (
            err, errlen, "plugin %s: unknown option '%s' (%s accepts: %s)",
            path, key, name, list);
    }
    return 0;
}
