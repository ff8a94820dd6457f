/*  sl_kafka - librdkafka configuration shared by every sluice process.

    Every handle a process creates gets the same --brokers and -X
    properties, and librdkafka's own log lines go through sl_log.
*/
#ifndef SL_KAFKA_H_INCLUDED
#define SL_KAFKA_H_INCLUDED

#include <librdkafka/rdkafka.h>
#include "sl_flags.h"

/*  Build a configuration: bootstrap.servers = brokers, then our defaults
    (`defaults`, "k=v" items, may be NULL), then the user's -X properties,
    which win. Returns NULL with one line in err on any refused property
    (unknown name or bad value), naming it.                               */
rd_kafka_conf_t *sl_kafka_conf_new (const char *brokers,
                                    const char *const *defaults,
                                    const sl_strlist_t *props, char *err,
                                    size_t errlen);

/*  Set one property, with a one-line error. Returns 0 or -1.             */
int sl_kafka_conf_set (rd_kafka_conf_t *conf, const char *name,
                       const char *value, char *err, size_t errlen);

/*  An integer property of conf as it stands (our defaults, -X, or
    librdkafka's own default); 0 if it has none.                         */
int64_t sl_kafka_conf_int (const rd_kafka_conf_t *conf, const char *name);

/*  With statistics.interval.ms at most this, a process waits at exit for
    one more report, so the fetch totals it logs cover the whole run; with
    the default (1000) the exit is not held up.                           */
#define SL_KAFKA_STATS_EXACT_MS 250

/*  True if the user's -X list sets `name`.                               */
bool sl_kafka_props_have (const sl_strlist_t *props, const char *name);

/*  Check the user's -X properties before any handle exists: each must be
    key=value, and properties that make librdkafka load code or run
    commands (plugin.library.paths, sasl.kerberos.kinit.cmd,
    ssl.engine.location, and the like) are refused unless allow_unsafe
    (--allow-unsafe-properties). Returns 0, or -1 with one line in err.  */
int sl_kafka_props_check (const sl_strlist_t *props, bool allow_unsafe,
                          char *err, size_t errlen);

/*  True for a property whose value is a secret (sasl.password,
    ssl.key.password, *.secret, ...): never print its value.             */
bool sl_kafka_prop_is_secret (const char *name);

/*  Kafka's own limit on topic names.                                     */
#define SL_KAFKA_MAX_TOPIC_NAME 249

/*  A producer's configuration: brokers, the defaults ("k=v",
    NULL-terminated), then those -X properties a producer knows
    (consumer-only ones are refused by a producer configuration: skipped,
    at debug level). NULL with one line in err.                          */
rd_kafka_conf_t *sl_kafka_producer_conf (const char *brokers,
                                         const char *const *defaults,
                                         const sl_strlist_t *props, char *err,
                                         size_t errlen);

/*  True if the len bytes at name are a legal Kafka topic name: 1 to 249
    characters from [A-Za-z0-9._-], and neither "." nor "..".            */
bool sl_kafka_topic_name_ok (const char *name, size_t len);

/*  Log the -X properties at info level, secrets masked as "***".       */
void sl_kafka_props_log (const sl_strlist_t *props);

/*  True for librdkafka errors that mean the security settings do not
    match the cluster (authentication failed, TLS handshake failed; the
    latter comes as a transport error, recognised by its reason):
    retrying will not help, so the process reports it and exits 2.       */
bool sl_kafka_error_is_setup (int err, const char *reason);

/*  True if a produce that failed with err failed for the record itself
    (too large, invalid: it would fail anywhere, every time), false if it
    failed for the destination or the cluster (authorization, unknown
    topic, timeouts, brokers or leaders unavailable, fencing...), which
    says nothing about the record and passes when the fault clears.      */
bool sl_kafka_error_is_record (int err);

/*  What a consumer error met while reading a job's input says (the
    reader's side of sl_kafka_error_is_record).                          */
typedef enum {
    /*  librdkafka retries it (leader moving, broker away, timeouts): the
        job waits, for a bound (wrk_range_stall_bound), then gives the
        input up as the cluster's fault.                                  */
    SL_KAFKA_INPUT_RETRY,
    /*  The cluster refuses the input (authorization, unknown topic or
        partition, a fatal client error): retrying cannot help until
        someone changes the cluster, so the job fails at once, as the
        cluster's fault (INFRA), never a record's.                        */
    SL_KAFKA_INPUT_REFUSED,
    /*  The data itself (a corrupt or undecodable batch): the record's
        own, never an outage. librdkafka skips the batch it cannot
        decode; the reader logs it and reads on, as it always did.       */
    SL_KAFKA_INPUT_RECORD
} sl_kafka_input_t;

sl_kafka_input_t sl_kafka_error_input (int err);

#endif
