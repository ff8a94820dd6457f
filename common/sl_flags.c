/*  sl_flags - command-line flags that also read environment variables.  */
#include "sl_flags.h"

#include <ctype.h>
#include <errno.h>
#include <strings.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

//  Append a copy of s to the list.
int
sl_strlist_append (sl_strlist_t *list, const char *s)
{
    char **items = realloc (list->items, (list->count + 1) * sizeof (char *));
    if (!items)
        return -1;
    list->items = items;
    items[list->count] = strdup (s);
    if (!items[list->count])
        return -1;
    list->count++;
    return 0;
}

//  Free the list's strings and array.
void
sl_strlist_free (sl_strlist_t *list)
{
    for (size_t i = 0; i < list->count; i++)
        free (list->items[i]);
    free (list->items);
    list->items = NULL;
    list->count = 0;
}

//  Split "key=value" at the first '='.
int
sl_kv_split (const char *item, char *key, size_t keylen, const char **value)
{
    const char *eq = strchr (item, '=');
    if (!eq || eq == item || (size_t)(eq - item) >= keylen)
        return -1;
    memcpy (key, item, (size_t)(eq - item));
    key[eq - item] = 0;
    *value = eq + 1;
    return 0;
}

static int s_fail (char *err, size_t errlen, const char *fmt, ...)
    __attribute__ ((format (printf, 3, 4)));

static int
s_fail (char *err, size_t errlen, const char *fmt, ...)
{
    va_list args;
    va_start (args, fmt);
    vsnprintf (err, errlen, fmt, args);
    va_end (args);
    //  A value echoed from argv or the environment may hold a newline.
    for (char *p = err; errlen > 0 && *p; p++)
        *p = iscntrl ((unsigned char)*p) ? ' ' : *p;
    return -1;
}

//  The environment variable a flag reads.
static void
s_env_name (const sl_flag_t *flag, char *buf, size_t size)
{
    if (flag->env) {
        snprintf (buf, size, "%s", flag->env);
        return;
    }
    size_t n = (size_t)snprintf (buf, size, "SLUICE_");
    for (const char *p = flag->name; *p && n + 1 < size; p++)
        buf[n++] = *p == '-' ? '_' : (char)toupper ((unsigned char)*p);
    buf[n] = 0;
}

//  Parse an integer strictly: optional sign, digits, nothing else.
static int
s_parse_int (const char *s, int64_t *out)
{
    if (!*s || isspace ((unsigned char)*s))
        return -1;
    errno = 0;
    char *end;
    long long v = strtoll (s, &end, 10);
    if (errno || *end)
        return -1;
    *out = v;
    return 0;
}

static int
s_parse_bool (const char *s, bool *out)
{
    static const char *yes[] = {"1", "true", "yes", "on"};
    static const char *no[] = {"0", "false", "no", "off", ""};
    for (size_t i = 0; i < 4; i++)
        if (strcasecmp (s, yes[i]) == 0)
            return *out = true, 0;
    for (size_t i = 0; i < 5; i++)
        if (strcasecmp (s, no[i]) == 0)
            return *out = false, 0;
    return -1;
}

//  Store one value into the flag's destination; `from` names the source
//  for messages ("--window" or "SLUICE_WINDOW").
static int
s_store (const char *prog, sl_flag_t *flag, const char *value, const char *from,
         char *err, size_t errlen)
{
    switch (flag->type) {
        case SL_FLAG_STR: {
            char **dest = flag->dest;
            free (*dest);
            *dest = strdup (value);
            return *dest ? 0 : s_fail (err, errlen, "%s: out of memory", prog);
        }
        case SL_FLAG_INT: {
            int64_t v;
            if (s_parse_int (value, &v) != 0)
                return s_fail (
                    err, errlen,
                    "%s: %s: '%s' is not a whole number; "
                    "pass e.g. %s %lld",
                    prog, from, value, from,
                    (long long)(flag->def ? atoll (flag->def) : flag->min));
            if (v < flag->min || v > flag->max)
                return s_fail (err, errlen,
                               "%s: %s: %lld is out of range; use a value "
                               "from %lld to %lld",
                               prog, from, (long long)v, (long long)flag->min,
                               (long long)flag->max);
            *(int64_t *)flag->dest = v;
            return 0;
        }
        case SL_FLAG_BOOL:
            if (s_parse_bool (value, flag->dest) != 0)
                return s_fail (err, errlen,
                               "%s: %s: '%s' is not a boolean; use 1 or 0",
                               prog, from, value);
            return 0;
        case SL_FLAG_KV: {
            char key[256];
            const char *v;
            if (sl_kv_split (value, key, sizeof key, &v) != 0)
                return s_fail (err, errlen,
                               "%s: %s: '%s' is not key=value; write it as "
                               "%s name=value",
                               prog, from, value, from);
        }
            /* fall through */
        case SL_FLAG_LIST:
            if (!*value)
                return s_fail (err, errlen, "%s: %s: empty value", prog, from);
            return sl_strlist_append (flag->dest, value) == 0
                       ? 0
                       : s_fail (err, errlen, "%s: out of memory", prog);
    }
    return -1;
}

//  Find a flag by long name (len chars of name) or short letter.
static sl_flag_t *
s_find (sl_flag_t *flags, size_t n, const char *name, size_t len, char letter)
{
    for (size_t i = 0; i < n; i++) {
        if (letter && flags[i].short_name == letter)
            return &flags[i];
        if (!letter && strlen (flags[i].name) == len &&
            strncmp (flags[i].name, name, len) == 0)
            return &flags[i];
    }
    return NULL;
}

//  Apply a list variable: split on sep and store each non-empty item.
static int
s_store_env_list (const char *prog, sl_flag_t *flag, const char *value,
                  const char *seps, const char *from, char *err, size_t errlen)
{
    char *copy = strdup (value);
    if (!copy)
        return s_fail (err, errlen, "%s: out of memory", prog);
    int rc = 0;
    char *save = NULL;
    for (char *tok = strtok_r (copy, seps, &save); tok && rc == 0;
         tok = strtok_r (NULL, seps, &save)) {
        while (isspace ((unsigned char)*tok))
            tok++;
        if (*tok)
            rc = s_store (prog, flag, tok, from, err, errlen);
    }
    free (copy);
    return rc;
}

//  Fill flags not given on the command line from the environment, then
//  from their defaults.
static int
s_apply_env_and_defaults (const char *prog, sl_flag_t *flags, size_t n,
                          const bool *seen, char *err, size_t errlen)
{
    for (size_t i = 0; i < n; i++) {
        if (seen[i])
            continue;
        sl_flag_t *flag = &flags[i];
        char env[128];
        s_env_name (flag, env, sizeof env);
        const char *value = getenv (env);
        int rc = 0;
        if (value && flag->type == SL_FLAG_LIST)
            rc = s_store_env_list (prog, flag, value, ",", env, err, errlen);
        else if (value && flag->type == SL_FLAG_KV)
            rc = s_store_env_list (prog, flag, value, ";\n", env, err, errlen);
        else if (value)
            rc = s_store (prog, flag, value, env, err, errlen);
        else if (flag->def)
            rc = s_store (prog, flag, flag->def, "default", err, errlen);
        if (rc != 0)
            return -1;
        bool empty = !value && !flag->def;
        if (flag->type == SL_FLAG_STR)
            empty = !*(char **)flag->dest || !**(char **)flag->dest;
        if (flag->type == SL_FLAG_LIST || flag->type == SL_FLAG_KV)
            empty = ((sl_strlist_t *)flag->dest)->count == 0;
        if (flag->required && empty)
            return s_fail (err, errlen,
                           "%s: --%s is required (or set %s); see --help", prog,
                           flag->name, env);
    }
    return 0;
}

//  Parse argv and the environment; see sl_flags.h.
int
sl_flags_parse (const char *prog, sl_flag_t *flags, size_t n, int argc,
                char **argv, char *err, size_t errlen)
{
    bool seen[n + 1];
    memset (seen, 0, sizeof seen);
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        const char *value = NULL;
        sl_flag_t *flag = NULL;
        char shown[96];
        if (strcmp (arg, "--help") == 0 || strcmp (arg, "-h") == 0)
            return 1;
        if (strncmp (arg, "--", 2) == 0 && arg[2]) {
            const char *name = arg + 2;
            const char *eq = strchr (name, '=');
            size_t len = eq ? (size_t)(eq - name) : strlen (name);
            flag = s_find (flags, n, name, len, 0);
            snprintf (shown, sizeof shown, "--%.*s", (int)len, name);
            if (!flag)
                return s_fail (err, errlen,
                               "%s: unknown flag %s; see %s --help", prog,
                               shown, prog);
            if (eq)
                value = eq + 1;
        } else if (arg[0] == '-' && arg[1] && arg[1] != '-') {
            flag = s_find (flags, n, NULL, 0, arg[1]);
            snprintf (shown, sizeof shown, "-%c", arg[1]);
            if (!flag)
                return s_fail (err, errlen,
                               "%s: unknown flag %s; see %s --help", prog,
                               shown, prog);
            if (arg[2])
                value = arg + 2;
        } else
            return s_fail (err, errlen,
                           "%s: unexpected argument '%s'; flags start with "
                           "--, see %s --help",
                           prog, arg, prog);

        bool list = flag->type == SL_FLAG_LIST || flag->type == SL_FLAG_KV;
        seen[flag - flags] = true;
        if (flag->type == SL_FLAG_BOOL && !value) {
            *(bool *)flag->dest = true;
            continue;
        }
        if (!value) {
            if (i + 1 >= argc)
                return s_fail (err, errlen, "%s: %s needs a value (%s)", prog,
                               shown, flag->metavar ? flag->metavar : "");
            value = argv[++i];
        }
        if (!list && flag->type != SL_FLAG_BOOL && !*value &&
            flag->type != SL_FLAG_STR)
            return s_fail (err, errlen, "%s: %s: empty value", prog, shown);
        if (s_store (prog, flag, value, shown, err, errlen) != 0)
            return -1;
    }
    return s_apply_env_and_defaults (prog, flags, n, seen, err, errlen);
}

//  Free what the parser stored.
void
sl_flags_free (sl_flag_t *flags, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (flags[i].type == SL_FLAG_STR) {
            free (*(char **)flags[i].dest);
            *(char **)flags[i].dest = NULL;
        } else if (flags[i].type == SL_FLAG_LIST || flags[i].type == SL_FLAG_KV)
            sl_strlist_free (flags[i].dest);
    }
}

//  Print usage.
void
sl_flags_usage (const char *prog, const char *summary, const sl_flag_t *flags,
                size_t n, FILE *out)
{
    fprintf (out,
             "usage: %s [flags]\n%s\n\nflags (each also read from the "
             "environment variable shown):\n",
             prog, summary);
    for (size_t i = 0; i < n; i++) {
        char env[128], left[96];
        s_env_name (&flags[i], env, sizeof env);
        if (flags[i].short_name)
            snprintf (left, sizeof left, "-%c, --%s %s", flags[i].short_name,
                      flags[i].name, flags[i].metavar ? flags[i].metavar : "");
        else
            snprintf (left, sizeof left, "--%s %s", flags[i].name,
                      flags[i].metavar ? flags[i].metavar : "");
        fprintf (out, "  %-34s %s%s%s%s [%s]\n", left, flags[i].help,
                 flags[i].def ? " (default " : "",
                 flags[i].def ? flags[i].def : "", flags[i].def ? ")" : "",
                 env);
    }
}
