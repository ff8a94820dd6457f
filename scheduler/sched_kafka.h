/*  sched_kafka - the scheduler's side of Kafka: group membership and
    rebalances, end offsets (batched ListOffsets in an actor thread),
    cumulative commits with selective-ACK metadata, drain bookkeeping and
    progress, and the status snapshot for `sluice status`.
*/
#ifndef SCHED_KAFKA_H_INCLUDED
#define SCHED_KAFKA_H_INCLUDED

#include <czmq.h>
#include "sched_state.h"

/*  Create the consumer, subscribe, start the offsets actor. 0 or -1.    */
int sched_kafka_start (scheduler_t *self, char *err, size_t errlen);
/*  Final commit, leave the group, destroy the consumer.                  */
void sched_kafka_stop (scheduler_t *self);
/*  Serve the consumer queue (rebalances, commit results, statistics).   */
void sched_kafka_poll (scheduler_t *self);
/*  Ask for end offsets if it is time and none is in flight.             */
void sched_offsets_maybe_query (scheduler_t *self, int64_t now);
/*  Read the actor's answer and apply the watermarks.                     */
void sched_offsets_recv (scheduler_t *self);
/*  Commit every partition whose prefix or metadata changed; `sync`
    waits for the broker's answer.                                         */
void sched_commit (scheduler_t *self, bool sync);
/*  True when --drain is done: assigned, and every owned partition is
    committed (and acknowledged) up to its drain target.                  */
bool sched_drain_finished (scheduler_t *self);
/*  Print drain progress if it is time (or the summary if `final`).       */
void sched_progress (scheduler_t *self, int64_t now, bool final);
/*  Answer a STATUS_REQUEST.                                              */
void sched_send_status (scheduler_t *self, zframe_t *rid);

#endif
