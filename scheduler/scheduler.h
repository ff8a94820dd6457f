/*  scheduler - the sluice scheduler daemon (an actor around one zloop).

    It joins the consumer group, owns the partitions Kafka gives it, cuts
    offset ranges into jobs, hands them to workers that have credit over a
    ROUTER socket, and commits the contiguous completed prefix of each
    partition with the completed ranges above it in the commit metadata.
    It never fetches record payloads.
*/
#ifndef SCHEDULER_H_INCLUDED
#define SCHEDULER_H_INCLUDED

#include <stdbool.h>
#include <stdint.h>
#include "sched_config.h"

typedef struct _scheduler_t scheduler_t;

/*  Create a scheduler: binds the ROUTER socket and creates the Kafka
    consumer. Returns NULL with one line in err (bad endpoint, refused
    Kafka property...). Does not take ownership of cfg, which must outlive
    the scheduler.                                                         */
scheduler_t *scheduler_new (const sched_config_t *cfg, char *err,
                            size_t errlen);

/*  Run until interrupted (SIGINT/SIGTERM) or, with --drain, until every
    owned partition is committed up to its drain mark. Returns the exit
    code: 0 on a finished drain or a clean stop, 1 on a fatal error or an
    interrupted drain.                                                    */
int scheduler_run (scheduler_t *self);

/*  Commit, say BYE to workers, leave the group, free everything, null the
    pointer.                                                               */
void scheduler_destroy (scheduler_t **self_p);

/*  The endpoint actually bound (resolves a "*" port).                    */
const char *scheduler_endpoint (scheduler_t *self);

#endif
