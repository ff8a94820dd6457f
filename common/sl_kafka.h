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

/*  True if the user's -X list sets `name`.                               */
bool sl_kafka_props_have (const sl_strlist_t *props, const char *name);

/*  Monotonic clock in milliseconds.                                      */
int64_t sl_now_ms (void);
/*  The same clock in microseconds, for short durations.                 */
int64_t sl_now_us (void);

#endif
