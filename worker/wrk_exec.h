/*  wrk_exec - the worker's executor: runs jobs one at a time.

    An actor thread with a FIFO of jobs. Each job is orchestrated from
    here over three parts the executor owns: its reader (wrk_reader: one
    long-lived Kafka consumer, assign/seek, no group, which reads a range
    [start, end) until the consumer's position reaches end), the plugin
    instance (wrk_plugin; shared between executors if it is thread-safe),
    and its output (wrk_output: one idempotent producer for the output
    topic and the DLQ). Records are handed to the plugin in batches that
    point into librdkafka's buffers (no payload copies). Everything
    produced is flushed and acknowledged before the job is reported DONE.
    A fatal error of either Kafka client (wrk_kafka) stops the executor.

    The executor is an actor; what it and the main thread say on its pipe
    is the table in wrk_msg.h.
*/
#ifndef WRK_EXEC_H_INCLUDED
#define WRK_EXEC_H_INCLUDED

#include <czmq.h>
#include "wrk_config.h"
#include "wrk_plugin.h"

typedef struct _wrk_exec_t wrk_exec_t;

/*  Create the executor's Kafka clients and load the plugin, or take a
    handle (a lane) of its own on the instance of `shared`, another
    executor's thread-safe plugin (NULL: load one). lane: its index among
    the worker's lanes (its transactional.id with --exactly-once).
    Returns NULL with one line in err.                                   */
wrk_exec_t *wrk_exec_new (const wrk_config_t *cfg, wrk_plugin_t *shared,
                          int lane, char *err, size_t errlen);

/*  Start the actor thread. Returns its pipe's actor, or NULL.           */
zactor_t *wrk_exec_start (wrk_exec_t *self, int lane);

/*  Destroy (after the actor ended).                                      */
void wrk_exec_destroy (wrk_exec_t **self_p);

/*  The executor's plugin instance (to share it, if it is thread-safe).   */
wrk_plugin_t *wrk_exec_plugin (wrk_exec_t *self);

/*  Records and bytes the executor's consumer fetched from Kafka so far
    (librdkafka's rxmsgs and rx_bytes, as of its last statistics report;
    prefetch and records read again after a seek included), and how often
    it woke a fetcher that had stopped at a full queue. Safe to call from
    any thread.                                                           */
void wrk_exec_fetched (wrk_exec_t *self, uint64_t *records, uint64_t *bytes,
                       uint64_t *wakes);

/*  Records of this executor's keyed jobs (--order key) that have not run
    yet: waiting for their keys, or ready. Safe from any thread.         */
size_t wrk_exec_key_waiting (wrk_exec_t *self);

#endif
