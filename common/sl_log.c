/*  sl_log - one line per event, text or JSON. See sl_log.h.              */
#include "sl_log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

/*  Longest event text (message and pairs); longer text is cut.           */
#define SL_LOG_TEXT_MAX 4096
/*  Longest line. A JSON line writes each byte of text as at most 6 bytes
    (\u00XX), and each pair (" k=", 3 bytes at least) adds at most 12 of
    quotes, separators and a "#N" suffix: 8 times the text and a fixed
    head always fit, so a JSON line is never cut.                          */
#define SL_LOG_LINE_MAX (SL_LOG_TEXT_MAX * 8 + 512)

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

//  True if lines are JSON.
bool
sl_log_is_json (void)
{
    return s_json;
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

//  Length of the valid UTF-8 sequence at s (at most n bytes), or 0 if the
//  bytes there are not one (stray continuation, overlong form, surrogate,
//  past U+10FFFF, or cut short).
static size_t
s_utf8_len (const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    size_t len = c >= 0xc2 && c <= 0xdf   ? 2
                 : c >= 0xe0 && c <= 0xef ? 3
                 : c >= 0xf0 && c <= 0xf4 ? 4
                                          : 0;
    if (len == 0 || len > n)
        return 0;
    for (size_t i = 1; i < len; i++)
        if ((s[i] & 0xc0) != 0x80)
            return 0;
    if ((c == 0xe0 && s[1] < 0xa0) || (c == 0xed && s[1] > 0x9f) ||
        (c == 0xf0 && s[1] < 0x90) || (c == 0xf4 && s[1] > 0x8f))
        return 0;
    return len;
}

//  Append s as a JSON string body (no quotes), escaping as needed. Bytes
//  that are not UTF-8 become U+FFFD, so a line is always valid JSON.
static void
s_put_json (char *buf, size_t size, size_t *len, const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = u[i];
        char esc[8];
        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            s_put (buf, size, len, esc, 2);
        } else if (c < 0x20) {
            snprintf (esc, sizeof esc, "\\u%04x", c);
            s_put (buf, size, len, esc, 6);
        } else if (c < 0x80)
            s_put (buf, size, len, &s[i], 1);
        else {
            size_t seq = s_utf8_len (&u[i], n - i);
            if (seq) {
                s_put (buf, size, len, &s[i], seq);
                i += seq - 1;
            } else
                s_put (buf, size, len, "\\ufffd", 6);
        }
    }
}

//  True if the space at p starts a " key=" pair.
static bool
s_is_pair (const char *p)
{
    const char *k = p + 1;
    while (*k == '_' || *k == '.' || *k == '-' || (*k >= 'a' && *k <= 'z') ||
           (*k >= '0' && *k <= '9'))
        k++;
    return *k == '=' && k > p + 1;
}

//  Find the next " key=" in text; return a pointer to its space or NULL.
static const char *
s_next_pair (const char *text)
{
    for (const char *p = strchr (text, ' '); p; p = strchr (p + 1, ' '))
        if (s_is_pair (p))
            return p;
    return NULL;
}

//  The end of the value that starts at val. A quoted value runs to the
//  quote that ends the text or is followed by the next pair, so it may
//  hold spaces, quotes and " k=v" text; any other value runs to the next
//  pair.
static const char *
s_value_end (const char *val)
{
    if (*val == '"')
        for (const char *q = strchr (val + 1, '"'); q; q = strchr (q + 1, '"'))
            if (q[1] == 0 || (q[1] == ' ' && s_is_pair (q + 1)))
                return q + 1;
    const char *next = s_next_pair (val);
    return next ? next : val + strlen (val);
}

//  How many times the key at `key` (len bytes) is already in the object:
//  once if it is one of the fixed members, plus once per earlier pair of
//  the same name between `pair` and `this_pair`.
static int
s_key_seen (const char *pair, const char *this_pair, const char *key,
            size_t len)
{
    static const char *fixed[] = {"ts", "level", "proc", "msg"};
    int seen = 0;
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
        seen += strlen (fixed[i]) == len && memcmp (fixed[i], key, len) == 0;
    while (pair && pair < this_pair) {
        const char *k = pair + 1;
        const char *eq = strchr (k, '=');
        seen += (size_t)(eq - k) == len && memcmp (k, key, len) == 0;
        const char *end = s_value_end (eq + 1);
        pair = *end ? end : NULL;
    }
    return seen;
}

//  Render text as a JSON object: text[0, msg_len) is the message, and the
//  rest is " key=value" pairs, each one member (string values). A key
//  already present (a fixed member or an earlier pair) is written as
//  "key#2", "key#3"...: '#' is never part of a key, so names stay unique.
static void
s_render_json (char *out, size_t size, size_t *len, const char *ts, int level,
               const char *text, size_t msg_len)
{
    char head[160];
    snprintf (head, sizeof head, "{\"ts\":\"%s\",\"level\":\"%s\",\"proc\":\"",
              ts, s_level_name (level));
    s_put (out, size, len, head, strlen (head));
    s_put_json (out, size, len, s_proc, strlen (s_proc));
    s_put (out, size, len, "\",\"msg\":\"", 9);
    s_put_json (out, size, len, text, msg_len);
    s_put (out, size, len, "\"", 1);
    const char *first = text[msg_len] ? text + msg_len : NULL;
    for (const char *pair = first; pair;) {
        const char *key = pair + 1;
        const char *eq = strchr (key, '=');
        const char *val = eq + 1;
        const char *end = s_value_end (val);
        size_t val_len = (size_t)(end - val);
        if (val_len >= 2 && val[0] == '"' && val[val_len - 1] == '"') {
            val++;
            val_len -= 2;
        }
        s_put (out, size, len, ",\"", 2);
        s_put_json (out, size, len, key, (size_t)(eq - key));
        int seen = s_key_seen (first, pair, key, (size_t)(eq - key));
        if (seen) {
            char suffix[16];
            snprintf (suffix, sizeof suffix, "#%d", seen + 1);
            s_put (out, size, len, suffix, strlen (suffix));
        }
        s_put (out, size, len, "\":\"", 3);
        s_put_json (out, size, len, val, val_len);
        s_put (out, size, len, "\"", 1);
        pair = *end ? end : NULL;
    }
    s_put (out, size, len, "}\n", 2);
}

//  Write one line of text, whose first msg_len bytes are the message and
//  the rest " key=value" pairs, in the chosen format, with one write().
static void
s_emit (int level, char *text, size_t msg_len)
{
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

    char line[SL_LOG_LINE_MAX];
    size_t len = 0;
    line[0] = 0;
    if (s_json)
        s_render_json (line, sizeof line, &len, ts, level, text, msg_len);
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

//  Log one event; see sl_log.h for the format.
void
sl_log (int level, const char *fmt, ...)
{
    if (!sl_log_enabled (level))
        return;
    char text[SL_LOG_TEXT_MAX];
    va_list args;
    va_start (args, fmt);
    vsnprintf (text, sizeof text, fmt, args);
    va_end (args);
    const char *pair = s_next_pair (text);
    s_emit (level, text, pair ? (size_t)(pair - text) : strlen (text));
}

//  Log one event with a message taken as is; see sl_log.h.
void
sl_log_msg (int level, const char *msg, const char *fmt, ...)
{
    if (!sl_log_enabled (level))
        return;
    char text[SL_LOG_TEXT_MAX];
    int n = snprintf (text, sizeof text, "%s", msg);
    size_t msg_len = n < 0                      ? 0
                     : (size_t)n >= sizeof text ? sizeof text - 1
                                                : (size_t)n;
    if (msg_len + 1 < sizeof text && *fmt) {
        text[msg_len] = ' ';
        va_list args;
        va_start (args, fmt);
        vsnprintf (text + msg_len + 1, sizeof text - msg_len - 1, fmt, args);
        va_end (args);
        //  Text that is not a pair (a bad fmt) would join the message.
        if (!s_is_pair (text + msg_len))
            text[msg_len] = 0;
    }
    s_emit (level, text, msg_len);
}
