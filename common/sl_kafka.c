/*  sl_kafka - librdkafka configuration shared by every sluice process. */
#include "sl_clock.h"
#include "sl_kafka.h"

#include <stdio.h>
#include <stdlib.h>
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

//  An integer property as the configuration stands.
int64_t
sl_kafka_conf_int (const rd_kafka_conf_t *conf, const char *name)
{
    char value[32] = "0";
    size_t size = sizeof value;
    if (rd_kafka_conf_get (conf, name, value, &size) != RD_KAFKA_CONF_OK)
        return 0;
    return strtoll (value, NULL, 10);
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
    if (sl_kafka_prop_is_secret (name))
        snprintf (err, errlen, "kafka property %s: refused (value hidden)",
                  name);
    else
        snprintf (err, errlen, "kafka property %s: %s", name, rderr);
    return -1;
}

//  Properties that make librdkafka load code or run a command: whoever
//  can set them (a ConfigMap, an environment) can run anything as us.
static const char *const s_unsafe[] = {
    "plugin.library.paths",         "sasl.kerberos.kinit.cmd",
    "ssl.engine.location",          "ssl_engine_location",
    "oauthbearer_token_refresh_cb", NULL};

//  Check -X before use; see sl_kafka.h.
int
sl_kafka_props_check (const sl_strlist_t *props, bool allow_unsafe, char *err,
                      size_t errlen)
{
    for (size_t i = 0; props && i < props->count; i++) {
        char key[256];
        const char *value;
        if (sl_kv_split (props->items[i], key, sizeof key, &value) != 0) {
            snprintf (err, errlen,
                      "-X %s: not key=value; write it as -X name=value",
                      props->items[i]);
            return -1;
        }
        for (size_t u = 0; s_unsafe[u] && !allow_unsafe; u++)
            if (strcmp (key, s_unsafe[u]) == 0) {
                snprintf (err, errlen,
                          "-X %s: refused, it makes librdkafka load code or "
                          "run a command; pass --allow-unsafe-properties if "
                          "you mean it",
                          key);
                return -1;
            }
    }
    return 0;
}

//  Secret-valued properties; see sl_kafka.h.
bool
sl_kafka_prop_is_secret (const char *name)
{
    static const char *const words[] = {
        "password",     "secret", "pem", "sasl.oauthbearer.config",
        "ssl.keystore", NULL};
    for (size_t i = 0; words[i]; i++)
        if (strstr (name, words[i]))
            return true;
    return false;
}

//  Log -X with secrets masked; see sl_kafka.h.
void
sl_kafka_props_log (const sl_strlist_t *props)
{
    char line[2048] = "";
    size_t used = 0;
    for (size_t i = 0; props && i < props->count; i++) {
        char key[256];
        const char *value;
        if (sl_kv_split (props->items[i], key, sizeof key, &value) != 0)
            continue;
        int n = snprintf (line + used, sizeof line - used, "%s%s=%s",
                          used ? " " : "", key,
                          sl_kafka_prop_is_secret (key) ? "***" : value);
        if (n < 0 || (size_t)n >= sizeof line - used)
            break;
        used += (size_t)n;
    }
    if (used)
        sl_info ("kafka properties %s", line);
}

//  Errors retrying cannot fix; see sl_kafka.h.
bool
sl_kafka_error_is_setup (int err, const char *reason)
{
    if (err == RD_KAFKA_RESP_ERR__TRANSPORT && reason &&
        (strstr (reason, "SSL handshake failed") ||
         strstr (reason, "certificate verify failed")))
        return true;
    return err == RD_KAFKA_RESP_ERR__AUTHENTICATION ||
           err == RD_KAFKA_RESP_ERR__SSL ||
           err == RD_KAFKA_RESP_ERR_SASL_AUTHENTICATION_FAILED ||
           err == RD_KAFKA_RESP_ERR_UNSUPPORTED_SASL_MECHANISM ||
           err == RD_KAFKA_RESP_ERR_ILLEGAL_SASL_STATE;
}

//  Whether a produce error is the record's; see sl_kafka.h.
bool
sl_kafka_error_is_record (int err)
{
    switch (err) {
        case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
        case RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE:
        case RD_KAFKA_RESP_ERR_INVALID_MSG:
        case RD_KAFKA_RESP_ERR_INVALID_RECORD:
        case RD_KAFKA_RESP_ERR_INVALID_TIMESTAMP:
        case RD_KAFKA_RESP_ERR__BAD_MSG:
        case RD_KAFKA_RESP_ERR__INVALID_ARG:
            return true;
        default:
            return false;
    }
}

//  What a consumer error says of the input; see sl_kafka.h.
sl_kafka_input_t
sl_kafka_error_input (int err)
{
    switch (err) {
        case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
        case RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED:
        case RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED:
        case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
        case RD_KAFKA_RESP_ERR_TOPIC_EXCEPTION:
        case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC:
        case RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION:
        case RD_KAFKA_RESP_ERR_UNSUPPORTED_VERSION:
        case RD_KAFKA_RESP_ERR__FATAL:
            return SL_KAFKA_INPUT_REFUSED;
        case RD_KAFKA_RESP_ERR__BAD_MSG:
        case RD_KAFKA_RESP_ERR__BAD_COMPRESSION:
        case RD_KAFKA_RESP_ERR_INVALID_MSG:
        case RD_KAFKA_RESP_ERR_INVALID_RECORD:
        case RD_KAFKA_RESP_ERR_UNSUPPORTED_COMPRESSION_TYPE:
        case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
            return SL_KAFKA_INPUT_RECORD;
        default:
            return SL_KAFKA_INPUT_RETRY;
    }
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
                      sl_kafka_prop_is_secret (items[i]) ? "(hidden)"
                                                         : items[i]);
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

//  A legal topic name; see sl_kafka.h.
bool
sl_kafka_topic_name_ok (const char *name, size_t len)
{
    if (len == 0 || len > SL_KAFKA_MAX_TOPIC_NAME)
        return false;
    if ((len == 1 && name[0] == '.') ||
        (len == 2 && name[0] == '.' && name[1] == '.'))
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                  (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
        if (!ok)
            return false;
    }
    return true;
}

//  A producer's configuration; see sl_kafka.h.
rd_kafka_conf_t *
sl_kafka_producer_conf (const char *brokers, const char *const *defaults,
                        const sl_strlist_t *props, char *err, size_t errlen)
{
    rd_kafka_conf_t *conf =
        sl_kafka_conf_new (brokers, defaults, NULL, err, errlen);
    for (size_t i = 0; conf && props && i < props->count; i++) {
        char key[256], rderr[512];
        const char *value;
        if (sl_kv_split (props->items[i], key, sizeof key, &value) == 0 &&
            rd_kafka_conf_set (conf, key, value, rderr, sizeof rderr) !=
                RD_KAFKA_CONF_OK)
            sl_debug ("property not for the producer name=%s", key);
    }
    return conf;
}
