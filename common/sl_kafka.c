/*  sl_kafka - librdkafka configuration shared by every sluice process. */
#include "sl_kafka.h"

#include <stdio.h>
#include <string.h>
#include <time.h>
#include "sl_log.h"

//  Route librdkafka's log lines through sl_log.
static void
s_log_cb (const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    int ours = level <= 3   ? SL_LOG_ERROR
               : level == 4 ? SL_LOG_WARN
               : level <= 6 ? SL_LOG_INFO
                            : SL_LOG_DEBUG;
    //  The text is librdkafka's own ("... (started_cnt=0, ...)"): keep it
    //  whole as the message, never split into pairs.
    char msg[1024];
    snprintf (msg, sizeof msg, "librdkafka: %s", buf);
    sl_log_msg (ours, msg, "client=%s facility=%s", rd_kafka_name (rk), fac);
}

//  Set one property with a clear error.
int
sl_kafka_conf_set (rd_kafka_conf_t *conf, const char *name, const char *value,
                   char *err, size_t errlen)
{
    char rderr[512];
    if (rd_kafka_conf_set (conf, name, value, rderr, sizeof rderr) ==
        RD_KAFKA_CONF_OK)
        return 0;
    snprintf (err, errlen, "kafka property %s: %s", name, rderr);
    return -1;
}

//  True if props sets name.
bool
sl_kafka_props_have (const sl_strlist_t *props, const char *name)
{
    size_t len = strlen (name);
    for (size_t i = 0; props && i < props->count; i++)
        if (strncmp (props->items[i], name, len) == 0 &&
            props->items[i][len] == '=')
            return true;
    return false;
}

//  Apply a list of "k=v" items.
static int
s_apply (rd_kafka_conf_t *conf, const char *const *items, size_t n, char *err,
         size_t errlen)
{
    for (size_t i = 0; i < n; i++) {
        char key[256];
        const char *value;
        if (sl_kv_split (items[i], key, sizeof key, &value) != 0) {
            snprintf (err, errlen, "kafka property '%s' is not key=value",
                      items[i]);
            return -1;
        }
        if (sl_kafka_conf_set (conf, key, value, err, errlen) != 0)
            return -1;
    }
    return 0;
}

//  Build a configuration; see sl_kafka.h.
rd_kafka_conf_t *
sl_kafka_conf_new (const char *brokers, const char *const *defaults,
                   const sl_strlist_t *props, char *err, size_t errlen)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new ();
    size_t ndefaults = 0;
    while (defaults && defaults[ndefaults])
        ndefaults++;
    rd_kafka_conf_set_log_cb (conf, s_log_cb);
    //  Defaults for every handle, before the caller's and the user's:
    //  reconnect within a second of a broker coming back (librdkafka backs
    //  off up to 10 s), so an outage costs its own length, not ten more
    //  seconds of idle workers.
    static const char *const common[] = {"reconnect.backoff.max.ms=1000"};
    if (sl_kafka_conf_set (conf, "bootstrap.servers", brokers, err, errlen) ||
        s_apply (conf, common, 1, err, errlen) ||
        s_apply (conf, defaults, ndefaults, err, errlen) ||
        (props && s_apply (conf, (const char *const *)props->items,
                           props->count, err, errlen))) {
        rd_kafka_conf_destroy (conf);
        return NULL;
    }
    return conf;
}

//  Monotonic milliseconds.
int64_t
sl_now_ms (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

//  Monotonic microseconds.
int64_t
sl_now_us (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}
