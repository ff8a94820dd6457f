/*  sl_log - one line per event, text or JSON. See sl_log.h.              */
#include "sl_log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

static const char *s_proc = "sluice";
static bool s_json = false;
static int s_level = SL_LOG_INFO;

//  Set the process name used in JSON lines.
void
sl_log_set_proc (const char *proc)
{
    s_proc = proc;
}

//  Choose text or JSON lines.
int
sl_log_set_format (const char *format)
{
    if (strcmp (format, "text") == 0)
        s_json = false;
    else if (strcmp (format, "json") == 0)
        s_json = true;
    else
        return -1;
    return 0;
}

//  Set the minimum level by name.
int
sl_log_set_level (const char *level)
{
    static const struct {
        const char *name;
        int level;
    } names[] = {{"error", SL_LOG_ERROR},
                 {"warn", SL_LOG_WARN},
                 {"info", SL_LOG_INFO},
                 {"debug", SL_LOG_DEBUG}};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcasecmp (level, names[i].name) == 0) {
            s_level = names[i].level;
            return 0;
        }
    return -1;
}

//  Apply the logging flags, with a one-line error.
int
sl_log_configure (const char *prog, const char *format, const char *level,
                  char *err, size_t errlen)
{
    if (sl_log_set_format (format) != 0) {
        snprintf (err, errlen, "%s: --log-format: '%s' is not text or json",
                  prog, format);
        return -1;
    }
    if (sl_log_set_level (level) != 0) {
        snprintf (err, errlen,
                  "%s: --log-level: '%s' is not error, warn, info or debug",
                  prog, level);
        return -1;
    }
    return 0;
}

//  True if a line at this level is written.
bool
sl_log_enabled (int level)
{
    return level <= s_level;
}

static const char *
s_level_name (int level)
{
    switch (level) {
        case SL_LOG_ERROR:
            return "error";
        case SL_LOG_WARN:
            return "warn";
        case SL_LOG_INFO:
            return "info";
        default:
            return "debug";
    }
}

//  Append at most the room left; track the total length.
static void
s_put (char *buf, size_t size, size_t *len, const char *s, size_t n)
{
    if (*len + n >= size)
        n = *len < size - 1 ? size - 1 - *len : 0;
    memcpy (buf + *len, s, n);
    *len += n;
    buf[*len] = 0;
}

//  Append s as a JSON string body (no quotes), escaping as needed.
static void
s_put_json (char *buf, size_t size, size_t *len, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        char esc[8];
        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            s_put (buf, size, len, esc, 2);
        } else if (c < 0x20) {
            snprintf (esc, sizeof esc, "\\u%04x", c);
            s_put (buf, size, len, esc, 6);
        } else
            s_put (buf, size, len, (const char *)&s[i], 1);
    }
}

//  Find the next " key=" in text; return a pointer to its space or NULL.
static const char *
s_next_pair (const char *text)
{
    for (const char *p = strchr (text, ' '); p; p = strchr (p + 1, ' ')) {
        const char *k = p + 1;
        while (*k && (*k == '_' || *k == '.' || *k == '-' ||
                      (*k >= 'a' && *k <= 'z') || (*k >= '0' && *k <= '9')))
            k++;
        if (*k == '=' && k > p + 1)
            return p;
    }
    return NULL;
}

//  Render text "msg k=v k=v" as a JSON object.
static void
s_render_json (char *out, size_t size, size_t *len, const char *ts, int level,
               const char *text)
{
    char head[160];
    snprintf (head, sizeof head, "{\"ts\":\"%s\",\"level\":\"%s\",\"proc\":\"",
              ts, s_level_name (level));
    s_put (out, size, len, head, strlen (head));
    s_put_json (out, size, len, s_proc, strlen (s_proc));
    s_put (out, size, len, "\",\"msg\":\"", 9);
    const char *pair = s_next_pair (text);
    size_t msg_len = pair ? (size_t)(pair - text) : strlen (text);
    s_put_json (out, size, len, text, msg_len);
    s_put (out, size, len, "\"", 1);
    while (pair) {
        const char *key = pair + 1;
        const char *eq = strchr (key, '=');
        const char *next = s_next_pair (eq);
        const char *val = eq + 1;
        size_t val_len = next ? (size_t)(next - val) : strlen (val);
        if (val_len >= 2 && val[0] == '"' && val[val_len - 1] == '"') {
            val++;
            val_len -= 2;
        }
        s_put (out, size, len, ",\"", 2);
        s_put_json (out, size, len, key, (size_t)(eq - key));
        s_put (out, size, len, "\":\"", 3);
        s_put_json (out, size, len, val, val_len);
        s_put (out, size, len, "\"", 1);
        pair = next;
    }
    s_put (out, size, len, "}\n", 2);
}

//  Log one event; see sl_log.h for the format.
void
sl_log (int level, const char *fmt, ...)
{
    if (!sl_log_enabled (level))
        return;
    char text[4096];
    va_list args;
    va_start (args, fmt);
    vsnprintf (text, sizeof text, fmt, args);
    va_end (args);
    for (char *p = text; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';

    struct timespec now;
    clock_gettime (CLOCK_REALTIME, &now);
    struct tm tm;
    gmtime_r (&now.tv_sec, &tm);
    char ts[40];
    size_t n = strftime (ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf (ts + n, sizeof ts - n, ".%03ldZ", now.tv_nsec / 1000000);

    char line[8192];
    size_t len = 0;
    line[0] = 0;
    if (s_json)
        s_render_json (line, sizeof line, &len, ts, level, text);
    else {
        int w = snprintf (line, sizeof line, "%s %-5s %s\n", ts,
                          s_level_name (level), text);
        len = w < 0                      ? 0
              : (size_t)w >= sizeof line ? sizeof line - 1
                                         : (size_t)w;
        if (len > 0 && line[len - 1] != '\n')
            line[len - 1] = '\n';
    }
    ssize_t rc = write (STDERR_FILENO, line, len);
    (void)rc;
}
