/*  wrk_kafka - what the worker's two Kafka clients (the reader's consumer
    and the output's producer) share: looking a topic up ahead of use, and
    the record of an error that ends the worker.

    Both clients' error callbacks report into one wrk_kafka_fatal_t, which
    the executor owns and checks between batches: the first fatal error
    wins, and the executor tells the main thread (WRK_MSG_FATAL) once.
*/
#ifndef WRK_KAFKA_H_INCLUDED
#define WRK_KAFKA_H_INCLUDED

#include <librdkafka/rdkafka.h>
#include "sl_flags.h"

/*  Longest wait for a topic's metadata (wrk_kafka_topic_warm).          */
#define WRK_KAFKA_WARM_UP_MS 2000

/*  Make *slot a handle on `topic` for rk (unless it already is one) and
    look up the topic's metadata now: a client otherwise learns a new
    topic on its next one-second metadata scan, and a fresh worker's first
    job (or first dead-letter copy) would wait for it. topic NULL asks for
    the brokers only (it meets the cluster: wrong security settings
    show). Best effort: a broker that cannot answer now is not an error. */
void wrk_kafka_topic_warm (rd_kafka_t *rk, rd_kafka_topic_t **slot,
                           const char *topic);

typedef struct _wrk_kafka_fatal_t wrk_kafka_fatal_t;

/*  No error yet. NULL if out of memory.                                 */
wrk_kafka_fatal_t *wrk_kafka_fatal_new (void);

void wrk_kafka_fatal_destroy (wrk_kafka_fatal_t **self_p);

/*  The body of both clients' error callbacks. Settings that do not match
    the cluster (authentication, TLS: exit code 2) and fatal client errors
    (exit code 1) are recorded, the first one only; the rest are logged
    at debug level, since librdkafka logs and retries them itself.       */
void wrk_kafka_fatal_check (wrk_kafka_fatal_t *self, rd_kafka_t *rk, int err,
                            const char *reason);

/*  Record that the executor cannot go on, for why (exit code `code`),
    unless an error was recorded before.                                  */
void wrk_kafka_fatal_set (wrk_kafka_fatal_t *self, int code, const char *why);
/*  Why the executor cannot go on, or NULL while it can.                 */
const char *wrk_kafka_fatal_reason (const wrk_kafka_fatal_t *self);

/*  The worker's exit code for it (0 while there is none).               */
int wrk_kafka_fatal_code (const wrk_kafka_fatal_t *self);

#endif
