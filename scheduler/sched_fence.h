/*  sched_fence - the Kafka side of --exactly-once (DESIGN.md, "Fencing"):
    fencing transactional.ids, reading the state topic for the markers of
    a range, and writing the roster of the ids that may hold jobs.

    Fencing an id initialises a producer with it: the transaction
    coordinator aborts what that id has open (or finishes one already
    committing) and raises its epoch, so no older producer of the id can
    commit afterwards. Then a read of the state partition to its end
    (read_committed) says for certain whether the range's transaction
    committed: its marker is there or never will be.

    Both take Kafka round trips (an initialisation waits for an open
    transaction to end), so the scheduler asks an actor thread and hears
    the answer on its socket; sched_fence_ids alone is also called
    directly, by a takeover that cuts nothing before it is done.
*/
#ifndef SCHED_FENCE_H_INCLUDED
#define SCHED_FENCE_H_INCLUDED

#include <czmq.h>
#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <stdint.h>

/*  Fence each of the n ids with producers made from conf (copied; a
    producer's, without a transactional.id). Returns how many were
    fenced; one that fails is logged (its holder may still commit: the
    caller treats the range as unsettled).                               */
size_t sched_fence_ids (const rd_kafka_conf_t *conf, char *const *ids,
                        size_t n);

typedef struct _sched_fence_t sched_fence_t;

/*  The actor, for state topic `topic` and group `group`: conf is a
    producer's (copied), reader a read_committed consumer's (copied).    */
sched_fence_t *sched_fence_new (const rd_kafka_conf_t *conf,
                                const rd_kafka_conf_t *reader,
                                const char *topic, const char *group);
void sched_fence_destroy (sched_fence_t **self_p);

/*  Its socket: readable when an answer waits (sched_fence_recv).         */
zsock_t *sched_fence_sock (sched_fence_t *self);

/*  FENCE: fence the n ids (none: the holder settled its transaction
    itself, only the read is needed), then read state partition sp from
    `from` to its end for markers of topic/partition inside [start, end).
    An id fenced since the ask is not fenced again.                      */
void sched_fence_ask (sched_fence_t *self, uint64_t token, char *const *ids,
                      size_t n, int32_t sp, int64_t from, const char *topic,
                      int32_t partition, int64_t start, int64_t end);

/*  ROSTER: write the n ids to each of the nparts state partitions.       */
void sched_fence_roster (sched_fence_t *self, uint64_t gen, char *const *ids,
                         size_t n, int32_t nparts);

typedef struct {
    int64_t start, end;
} sched_fence_range_t;

typedef struct {
    bool roster;    /* ROSTER's answer, else FENCE's                       */
    uint64_t token; /* as asked (ROSTER: its gen)                          */
    bool ok;        /* FENCE: every id fenced and the partition read to its
                       end; ROSTER: written to every partition              */
    /*  ROSTER: where the record went in each state partition.           */
    int64_t *offsets;
    int32_t nparts;
    /*  FENCE: the markers found inside the range.                       */
    sched_fence_range_t *found;
    size_t nfound;
} sched_fence_answer_t;

/*  Take one answer (after the socket was readable). Returns 0, or -1.
    Free it with sched_fence_answer_free.                                */
int sched_fence_recv (sched_fence_t *self, sched_fence_answer_t **answer);
void sched_fence_answer_free (sched_fence_answer_t **answer);

/*  The header a roster record carries (markers carry none).             */
#define SCHED_FENCE_ROSTER_HEADER "sluice-record"

/*  True if m, a record of the state topic, is a roster (not a marker).   */
bool sched_fence_is_roster (const rd_kafka_message_t *m);

#endif
