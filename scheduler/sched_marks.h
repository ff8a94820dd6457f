/*  sched_marks - completion markers (--state-topic; DESIGN.md,
    "Completion markers").

    The commit metadata holds the completed ranges above the committed
    offset only up to the broker's limit (4 KB by default: some 800
    ranges). With a state topic each worker writes one small record per
    job done there (wrk_output_mark), once the job's outputs are
    acknowledged, and the metadata also names where in the state topic
    the markers of the ranges above committed begin (sl_meta version 2).
    A scheduler that takes the partition over reads the markers from
    there to the end, before it cuts a job, and does not run their ranges
    again, however many there are.

    Where a marker can be at the earliest is known without reading the
    state topic while running: a job's marker is written after the job
    was sent, so it lies at or after the state partition's end offset
    known then (asked with the input's end offsets, sched_member). Each
    partition keeps that bound per range sent (sched_model_marks_add).

    A state topic that cannot be used (not there and not creatable,
    unreadable, the cluster away) is said (again only when the reason
    changes) and tried again at each assignment; meanwhile the metadata
    alone remembers, as without the flag. Markers are input partition P's in the
   state topic's partition P modulo its partition count; the state topic is
    created with one partition if absent.
*/
#ifndef SCHED_MARKS_H_INCLUDED
#define SCHED_MARKS_H_INCLUDED

#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <stdint.h>
#include "sched_model.h"

typedef struct _sched_marks_t sched_marks_t;

/*  For topic (NULL or "": no markers, returns NULL) and group.          */
sched_marks_t *sched_marks_new (const char *topic, const char *group);
void sched_marks_destroy (sched_marks_t **self_p);

/*  Find the state topic (create it if absent) and its end offsets, with
    clients made from conf (copied; a consumer's, never in a group).
    Never fails: a topic it cannot use is logged once and not used.      */
void sched_marks_start (sched_marks_t *self, const rd_kafka_conf_t *conf);

/*  True once started with a topic it can use.                            */
bool sched_marks_usable (const sched_marks_t *self);

/*  Before the partitions of list (committed offsets and metadata, as
    rd_kafka_committed gives them) are taken: read the markers their
    metadata points at, to their state partitions' ends.                 */
void sched_marks_read (sched_marks_t *self,
                       const rd_kafka_topic_partition_list_t *list);

/*  Part was just added (nothing cut yet), committed at committed: its
    markers go to the state topic from now on, and the ranges read for it
    are complete. Returns how many markers were applied.                 */
size_t sched_marks_apply (sched_marks_t *self, sched_part_t *part);

/*  Ask for the state partitions' end offsets with the input's, at most
    once a second.                                                        */
void sched_marks_query_add (sched_marks_t *self,
                            rd_kafka_topic_partition_list_t *list);

/*  An answer of that query: true if tp was a state partition's.          */
bool sched_marks_learn (sched_marks_t *self,
                        const rd_kafka_topic_partition_t *tp);

/*  --exactly-once (sched_eos): a takeover also reads the roster records
    (the ids that may hold the partitions' jobs) and fences each one,
    with producers made from conf (copied), before it reads the markers.  */
void sched_marks_eos (sched_marks_t *self, const rd_kafka_conf_t *conf);

/*  The state topic's partition count, 0 while it is not usable.         */
int32_t sched_marks_nparts (const sched_marks_t *self);

/*  A roster record went to offsets[p] of each state partition p (n).     */
void sched_marks_roster_set (sched_marks_t *self, const int64_t *offsets,
                             int32_t n);

/*  Markers read and ranges restored from them since start.              */
void sched_marks_counts (const sched_marks_t *self, uint64_t *read,
                         uint64_t *restored);

#endif
