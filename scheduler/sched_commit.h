/*  sched_commit - committing what is done: each partition's contiguous
    completed prefix as the group's offset, the completed ranges above it
    in the commit metadata (selective ACKs, common/sl_meta.h).

    Ordering: one asynchronous commit per partition is in flight at a
    time; two may reach the group in either order (librdkafka retries the
    older one after a coordinator outage), and an older offset landing
    last would move the group back. An answer below what the broker
    acknowledged before means that happened anyway: the current offset is
    sent again. A partition is only committed when its offset or metadata
    changed since the last commit sent.

    The metadata-limit policy: the metadata is cut to --metadata-max-bytes
    (from the top: the ranges nearest the committed offset are kept); a
    broker that refuses it as too large (OFFSET_METADATA_TOO_LARGE, its
    offset.metadata.max.bytes is smaller) halves the limit, down to 16
    bytes, so a commit is always accepted again. With --state-topic the
    metadata also says where the completion markers of the ranges above
    the committed offset begin (sl_meta version 2, sched_marks), so what
    the cut leaves out is not lost.
*/
#ifndef SCHED_COMMIT_H_INCLUDED
#define SCHED_COMMIT_H_INCLUDED

#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include "sched_marks.h"
#include "sched_model.h"
#include "sched_stats.h"

/*  Asynchronous commits whose result is awaited, for their latency; the
    oldest is forgotten when more are in flight.                          */
#define SCHED_COMMITS_PENDING 32

typedef struct {
    sched_model_t *model;
    sched_stats_t *stats;
    int64_t meta_limit; /* metadata bytes the broker takes (shrinks on
                           OFFSET_METADATA_TOO_LARGE)                      */
    struct {
        uint64_t digest; /* of the partitions and offsets sent            */
        int64_t sent_us; /* sl_now_us () when sent                        */
    } pending[SCHED_COMMITS_PENDING]; /* oldest first                      */
    size_t pending_n;
} sched_commit_t;

/*  Set up: nothing pending, metadata cut to metadata_max_bytes.          */
void sched_commit_init (sched_commit_t *self, sched_model_t *model,
                        sched_stats_t *stats, int64_t metadata_max_bytes);

/*  Commit what changed on every owned partition through rk. Asynchronous
    unless sync, which waits for the broker's answer (on revoke and at
    exit).                                                                */
void sched_commit_run (sched_commit_t *self, rd_kafka_t *rk, bool sync);

/*  librdkafka answered an asynchronous commit (its offset_commit_cb).    */
void sched_commit_answered (sched_commit_t *self, rd_kafka_resp_err_t err,
                            rd_kafka_topic_partition_list_t *offsets);

/*  Take over a partition assigned to us, tp holding its committed offset
    and metadata: add it to the model with the ranges the metadata says
    are complete, and those marks (--state-topic, may be NULL) read for it
    (sched_marks_read before). Returns it, or NULL (out of memory).      */
sched_part_t *sched_commit_take (sched_commit_t *self,
                                 const rd_kafka_topic_partition_t *tp,
                                 sched_marks_t *marks);

/*  A partition was just assigned at committed, which the group had
    committed before (known) or not: a partition the group never
    committed gets its start committed at the next commit, so lag tools
    see it from the beginning.                                            */
void sched_commit_assigned (sched_commit_t *self, sched_part_t *part,
                            int64_t committed, bool known);

/*  True if part goes in a commit now, at committed with metadata digest:
    its offset or metadata changed since the last commit sent; or, sync
    (on revoke and at exit), the broker has not acknowledged this offset
    as the last one sent.                                                 */
bool sched_commit_wanted (const sched_part_t *part, int64_t committed,
                          const char *digest, bool sync);

#endif
