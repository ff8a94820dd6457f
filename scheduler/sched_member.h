/*  sched_member - the scheduler's membership of the consumer group: the
    consumer, rebalances (assign and revoke), end offsets, and Kafka's
    errors and statistics, and the rejoin of a member left without
    partitions.

    The consumer joins the group with subscribe() and, in the rebalance
    callback, reads the committed offsets and their metadata, assigns the
    partitions and pauses them at once: it stays a member, serves
    rebalances through rd_kafka_consumer_poll(), and never fetches a record
    (statistics prove it: rxmsgs stays 0). End offsets come from
    rd_kafka_offsets_for_times() with every timestamp -1, one ListOffsets
    request per leader, run by an actor thread (the offsets actor) so the
    loop never blocks on them.

    On assign, each partition enters the book at its committed offset with
    the ranges its metadata says are done; on revoke, what is done is
    committed (unless the assignment was lost) and the partition's jobs
    are cancelled at their holders and forgotten.

    A member that holds no partition while its group has lag that nobody
    works off (the group's committed offsets below the end offsets and not
    moving) for SCHED_REJOIN_SESSIONS session timeouts is stranded: a join
    or sync whose answer never came (librdkafka 2.0.2 waits
    max.poll.interval.ms + 3 s, five minutes by default, for a JoinGroup
    answer), or a coordinator that left it out of the assignment. It
    leaves and joins again (as a new consumer: see s_rejoin), logs it and counts
   it (sluice_scheduler_rejoins_total). The check asks the offsets actor
    (metadata, committed offsets, end offsets) once a session timeout,
    only while no partition is held; each rejoin that brings nothing
    doubles the wait before the next (up to 16 times).
*/
#ifndef SCHED_MEMBER_H_INCLUDED
#define SCHED_MEMBER_H_INCLUDED

#include <czmq.h>
#include <librdkafka/rdkafka.h>
#include "sched_commit.h"
#include "sched_config.h"
#include "sched_marks.h"
#include "sched_model.h"
#include "sched_stats.h"

typedef struct {
    const sched_config_t *cfg;
    sched_model_t *model;
    sched_commit_t *commit;
    sched_stats_t *stats;
    zsock_t *router;      /* to cancel the jobs of revoked partitions         */
    sched_marks_t *marks; /* --state-topic, or NULL                       */
    rd_kafka_t *rk;
    rd_kafka_queue_t *rkq;
    int pipe[2]; /* librdkafka writes here when the queue has events       */
    zactor_t *offsets;
    rd_kafka_conf_t *lag_conf; /* the lag checker's, until the actor has it */
    rd_kafka_conf_t *conf;     /* the consumer's, for a rejoin             */
    bool offsets_busy;
    int64_t offsets_next_ms;
    bool assigned;       /* the group gave us an assignment at least once */
    bool assign_pending; /* every partition was revoked (or lost): no drain
                            is finished until the group assigns again    */
    bool offsets_lag;    /* the query in flight is a lag check (idle_*)   */
    bool fatal;
    bool fatal_setup;       /* the Kafka security settings are wrong: exit 2  */
    int64_t session_ms;     /* session.timeout.ms as configured           */
    int64_t idle_since_ms;  /* holding no partition since, 0: holding some */
    int64_t idle_next_ms;   /* next lag check                             */
    int64_t stalled_ms;     /* lag seen, committed not moving, since (0: no) */
    int64_t idle_committed; /* the group's committed total at stalled_ms  */
    int idle_rejoins;       /* rejoins in a row that brought no partition */
} sched_member_t;

/*  Session timeouts a member may hold no partition while its group's lag
    stands still before it rejoins.                                       */
#define SCHED_REJOIN_SESSIONS 3

/*  Create the consumer, subscribe to cfg's topics, start the offsets
    actor. The fields before rk must be set. Returns 0, or -1 with one
    line in err (a refused Kafka property, say).                          */
int sched_member_start (sched_member_t *self, char *err, size_t errlen);

/*  Commit one last time (with retries), leave the group, destroy the
    consumer. Safe to call when start failed part way.                    */
void sched_member_stop (sched_member_t *self);

/*  Serve the consumer queue until it is empty (rebalances run here).     */
void sched_member_poll (sched_member_t *self);

/*  The first partition-level error in an answer of rd_kafka_committed,
    or NO_ERROR. Such a partition has no committed offset in the answer
    (not "none committed"): the question is asked again.                 */
rd_kafka_resp_err_t
sched_member_committed_error (const rd_kafka_topic_partition_list_t *list);

/*  True once assigned, unless every partition was revoked since.         */
bool sched_member_settled (const sched_member_t *self);

/*  Ask for end offsets if due: every SCHED_HUNGRY_MS while a partition
    waits for data with room in its window, every second otherwise.       */
void sched_member_offsets_query (sched_member_t *self, int64_t now);

/*  Apply the offsets actor's answer (it is readable).                    */
void sched_member_offsets_recv (sched_member_t *self);

/*  While no partition is held: check the group's lag now and then, and
    rejoin if the member has been stranded (see above). Cheap when not
    due; call it from a timer.                                            */
void sched_member_idle_check (sched_member_t *self, int64_t now);

#endif
