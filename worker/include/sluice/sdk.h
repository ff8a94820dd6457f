/*  sluice/sdk.h - helpers for plugin authors: options, emits, outcomes.

    Header-only: every function is static inline over <sluice/plugin.h>, so
    a plugin that includes this still links nothing of sluice and reaches
    the worker only through the host table. It works with any worker of ABI
    major 1; the helpers that need a 1.2 worker say so. C11 or C++11.

    Options, read in create() with a reader that keeps the first error:

        sluice_opts_t o = sluice_opts (host, ctx, "sleep", err, errlen);
        int64_t us = sluice_opt_int (&o, "us_per_record", 1000, 0, 3600000000);
        bool loud = sluice_opt_bool (&o, "loud", false);
        const char *topic = sluice_opt_output (&o);   // refuses without one
        if (o.failed)
            return -1;                                // err says why

    Every message is one line that starts with the plugin's name and names
    the option and what is wrong with it:

        sleep: option us_per_record: "abc" is not a whole number
        sleep: option us_per_record: "7200000000" is more than 3600000000
        sleep: option loud: "maybe" is not a yes or no (true/false, yes/no,
            on/off, 1/0)   [one line]
        copy: no output topic to emit to: start the worker with
            --output-topic TOPIC   [one line]

    An option that is not given reads as its default and is never an error;
    one given with an empty value (--plugin-opt key=) is read as "" (a
    string) or refused (a number or a yes/no). After the first error the
    readers return their defaults and write nothing, so read them all and
    test o.failed once.

    Emits, in process or the job hooks:

        if (sluice_emit_copy (self->host, self->ctx, call, &records[i],
                              &out[0]) != 0)
            return -1;           // out[0].reason says which offset failed

    `call` is the ABI 1.2 per-call context, given to the *_call hooks; pass
    NULL from a 1.0 hook and the record goes through ctx instead.
*/
#ifndef SLUICE_SDK_H_INCLUDED
#define SLUICE_SDK_H_INCLUDED

#include <sluice/plugin.h>

#include <ctype.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

//  --- options -------------------------------------------------------------

/*  An option reader for create(): where the options come from, the
    plugin's name for messages, and create's err buffer. `failed` is set by
    the first error, whose message is then in err.                        */
typedef struct {
    const sluice_host_t *host;
    sluice_ctx_t *ctx;
    const char *plugin;
    char *err;
    size_t errlen;
    int failed;
} sluice_opts_t;

/*  A reader for create's host, ctx, err and errlen; `plugin` (the plugin's
    name) starts every message.                                           */
static inline sluice_opts_t
sluice_opts (const sluice_host_t *host, sluice_ctx_t *ctx, const char *plugin,
             char *err, size_t errlen)
{
    sluice_opts_t o;
    o.host = host;
    o.ctx = ctx;
    o.plugin = plugin ? plugin : "plugin";
    o.err = err;
    o.errlen = errlen;
    o.failed = 0;
    return o;
}

/*  Write "<plugin>: <text>" into err unless an earlier error is there, and
    set failed. For a plugin's own checks in create. Returns -1.          */
static inline int sluice_opts_error (sluice_opts_t *o, const char *fmt, ...)
    __attribute__ ((format (printf, 2, 3)));

static inline int
sluice_opts_error (sluice_opts_t *o, const char *fmt, ...)
{
    if (o->failed)
        return -1;
    o->failed = 1;
    if (!o->err || o->errlen == 0)
        return -1;
    int len = snprintf (o->err, o->errlen, "%s: ", o->plugin);
    if (len >= 0 && (size_t)len < o->errlen) {
        va_list args;
        va_start (args, fmt);
        vsnprintf (o->err + len, o->errlen - (size_t)len, fmt, args);
        va_end (args);
    }
    return -1;
}

/*  The same for one option: "<plugin>: option <key>: <text>". Returns -1. */
static inline int sluice_opt_error (sluice_opts_t *o, const char *key,
                                    const char *fmt, ...)
    __attribute__ ((format (printf, 3, 4)));

static inline int
sluice_opt_error (sluice_opts_t *o, const char *key, const char *fmt, ...)
{
    char text[256];
    va_list args;
    va_start (args, fmt);
    vsnprintf (text, sizeof text, fmt, args);
    va_end (args);
    return sluice_opts_error (o, "option %s: %s", key, text);
}

/*  The value of option `key` as given, "" included, or `def` if it was not
    given (or an earlier option failed). Lives until destroy returns.     */
static inline const char *
sluice_opt_str (sluice_opts_t *o, const char *key, const char *def)
{
    const char *value = o->failed ? NULL : o->host->option (o->ctx, key);
    return value ? value : def;
}

/*  Option `key` as a whole number from min to max: an optional '-' and
    digits, nothing else (no '+', space, hex or exponent). Returns it, or
    def if it is not given; on an error (not a whole number, below min,
    above max, including numbers past int64_t) returns def and fails.    */
static inline int64_t
sluice_opt_int (sluice_opts_t *o, const char *key, int64_t def, int64_t min,
                int64_t max)
{
    const char *text = sluice_opt_str (o, key, NULL);
    if (!text)
        return def;
    const char *p = text + (*text == '-');
    size_t len = strlen (p);
    if (len == 0 || strspn (p, "0123456789") != len) {
        sluice_opt_error (o, key, "\"%s\" is not a whole number", text);
        return def;
    }
    //  The magnitude, saturated past what an int64_t can hold.
    uint64_t limit = (uint64_t)INT64_MAX + (*text == '-');
    uint64_t mag = 0;
    for (; *p && mag <= limit; p++)
        mag = mag > (UINT64_MAX - 9) / 10 ? UINT64_MAX
                                          : mag * 10 + (uint64_t)(*p - '0');
    int64_t value = 0;
    if (*text == '-')
        value = mag >= limit ? INT64_MIN : -(int64_t)mag;
    else
        value = mag >= limit ? INT64_MAX : (int64_t)mag;
    if ((*text == '-' && mag > limit) || value < min) {
        sluice_opt_error (o, key, "\"%s\" is less than %lld", text,
                          (long long)min);
        return def;
    }
    if ((*text != '-' && mag > limit) || value > max) {
        sluice_opt_error (o, key, "\"%s\" is more than %lld", text,
                          (long long)max);
        return def;
    }
    return value;
}

//  True if `text` is one of the NULL-terminated `words`, in any case.
static inline bool
sluice_sdk_word (const char *text, const char *const *words)
{
    for (; *words; words++) {
        size_t i = 0;
        while (text[i] && tolower ((unsigned char)text[i]) == (*words)[i])
            i++;
        if (!text[i] && !(*words)[i])
            return true;
    }
    return false;
}

/*  Option `key` as a yes or no: true, yes, on or 1; false, no, off or 0,
    in any case. Returns def if it is not given; on anything else returns
    def and fails.                                                        */
static inline bool
sluice_opt_bool (sluice_opts_t *o, const char *key, bool def)
{
    static const char *const yes[] = {"true", "yes", "on", "1", NULL};
    static const char *const no[] = {"false", "no", "off", "0", NULL};
    const char *text = sluice_opt_str (o, key, NULL);
    if (!text)
        return def;
    if (sluice_sdk_word (text, yes))
        return true;
    if (sluice_sdk_word (text, no))
        return false;
    sluice_opt_error (o, key,
                      "\"%s\" is not a yes or no (true/false, yes/no, "
                      "on/off, 1/0)",
                      text);
    return def;
}

/*  The output topic (--output-topic). A plugin that must emit reads it
    here: without one this fails ("no output topic to emit to") and
    returns NULL. A plugin that only may emit calls host->output_topic.   */
static inline const char *
sluice_opt_output (sluice_opts_t *o)
{
    const char *topic = o->host->output_topic (o->ctx);
    if (!topic)
        sluice_opts_error (o, "no output topic to emit to: start the worker "
                              "with --output-topic TOPIC");
    return topic;
}

/*  True if the worker has the ABI 1.2 services (call_job, call_lane,
    call_emit, lanes): host->size covers them.                            */
static inline bool
sluice_host_has_calls (const sluice_host_t *host)
{
    return host->size >= offsetof (sluice_host_t, lanes) + sizeof (host->lanes);
}

/*  How many lanes may call the instance at once (host->lanes, ABI 1.2),
    for a plugin that keeps state per lane: size an array with it and index
    it with host->call_lane (call). On a worker before 1.2, which never
    calls the *_call hooks, this fails ("needs a sluice worker with plugin
    ABI 1.2 or later") and returns 0.                                     */
static inline uint32_t
sluice_opt_lanes (sluice_opts_t *o)
{
    if (sluice_host_has_calls (o->host))
        return o->host->lanes (o->ctx);
    sluice_opts_error (o,
                       "needs a sluice worker with plugin ABI 1.2 or later "
                       "(this one speaks %u.%u)",
                       (unsigned)o->host->abi_major,
                       (unsigned)o->host->abi_minor);
    return 0;
}

//  --- outcomes and emits -----------------------------------------------

/*  Set an outcome: code (SLUICE_OK, SLUICE_RETRY, SLUICE_REJECT) and a
    printf-style reason, cut to SLUICE_REASON_MAX.                        */
static inline void sluice_outcome_set (sluice_outcome_t *out, int code,
                                       const char *fmt, ...)
    __attribute__ ((format (printf, 3, 4)));

static inline void
sluice_outcome_set (sluice_outcome_t *out, int code, const char *fmt, ...)
{
    out->code = code;
    va_list args;
    va_start (args, fmt);
    vsnprintf (out->reason, sizeof out->reason, fmt, args);
    va_end (args);
}

/*  The output record that copies r: same key, value and headers, the
    partition left to the producer's partitioner (by key). Points into r:
    emit it during the call that received r.                              */
static inline sluice_emit_t
sluice_emit_of (const sluice_record_t *r)
{
    sluice_emit_t rec;
    rec.key = r->key;
    rec.key_len = r->key_len;
    rec.value = r->value;
    rec.value_len = r->value_len;
    rec.headers = r->headers;
    rec.header_count = r->header_count;
    rec.partition = -1;
    return rec;
}

/*  Emit rec, made for the input record at `offset`: through the call (a
    *_call hook's, ABI 1.2: it goes out with that call's job) or, if call
    is NULL, through ctx. Returns 0, or -1 with "could not queue the output
    record for offset N" in out->reason and out->code untouched: return -1
    from process to fail the batch (the reason in out[0]), or answer
    SLUICE_RETRY for the record.                                          */
static inline int
sluice_emit_record (const sluice_host_t *host, sluice_ctx_t *ctx,
                    sluice_call_t *call, const sluice_emit_t *rec,
                    int64_t offset, sluice_outcome_t *out)
{
    int rc = call ? host->call_emit (call, rec) : host->emit (ctx, rec);
    if (rc == 0)
        return 0;
    snprintf (out->reason, sizeof out->reason,
              "could not queue the output record for offset %lld",
              (long long)offset);
    return -1;
}

/*  Emit a copy of r (sluice_emit_of); as sluice_emit_record.             */
static inline int
sluice_emit_copy (const sluice_host_t *host, sluice_ctx_t *ctx,
                  sluice_call_t *call, const sluice_record_t *r,
                  sluice_outcome_t *out)
{
    sluice_emit_t rec = sluice_emit_of (r);
    return sluice_emit_record (host, ctx, call, &rec, r->offset, out);
}

#ifdef __cplusplus
}
#endif

#endif
