/*  sl_log - one line per event, text or JSON.

    Text:  2026-11-23T09:40:00.123Z info  job done topic=orders partition=3
    JSON:  {"ts":"2026-11-23T09:40:00.123Z","level":"info","proc":"worker",
            "msg":"job done","topic":"orders","partition":"3"}

    The message is everything before the first " key=value" pair; values
    with spaces are written quoted in text ("..."); a quoted value ends at
    the quote that ends the line or is followed by the next pair. In JSON
    every value is a string, text that is not UTF-8 becomes U+FFFD, and a
    key already in the object (ts, level, proc, msg, or an earlier pair)
    is renamed key#2, key#3...; a line is never cut short. Lines go to
    stderr, written with one write() so concurrent threads never
    interleave.
*/
#ifndef SL_LOG_H_INCLUDED
#define SL_LOG_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>

typedef enum {
    SL_LOG_ERROR = 3,
    SL_LOG_WARN = 4,
    SL_LOG_INFO = 6,
    SL_LOG_DEBUG = 7
} sl_log_level_t;

/*  Set the process name shown in JSON lines ("scheduler", "worker"...). */
void sl_log_set_proc (const char *proc);
/*  Set the format: "text" or "json". Returns 0, or -1 if unknown.        */
int sl_log_set_format (const char *format);
/*  Set the minimum level: "error" "warn" "info" "debug". 0 or -1.        */
int sl_log_set_level (const char *level);
/*  Apply --log-format and --log-level for program `prog`. Returns 0, or
    -1 with one line in err naming the bad value.                         */
int sl_log_configure (const char *prog, const char *format, const char *level,
                      char *err, size_t errlen);
/*  True if a line at `level` would be written.                           */
bool sl_log_enabled (int level);
/*  True if lines are JSON (--log-format json).                           */
bool sl_log_is_json (void);

/*  Log one event: fmt renders "message key=value key=value".            */
void sl_log (int level, const char *fmt, ...)
    __attribute__ ((format (printf, 2, 3)));

/*  Log one event whose message is taken as is, even if it holds "k=v"
    text (librdkafka's lines do): fmt renders only the pairs.             */
void sl_log_msg (int level, const char *msg, const char *fmt, ...)
    __attribute__ ((format (printf, 3, 4)));

#define sl_error(...) sl_log (SL_LOG_ERROR, __VA_ARGS__)
#define sl_warn(...)  sl_log (SL_LOG_WARN, __VA_ARGS__)
#define sl_info(...)  sl_log (SL_LOG_INFO, __VA_ARGS__)
#define sl_debug(...) sl_log (SL_LOG_DEBUG, __VA_ARGS__)

#endif
