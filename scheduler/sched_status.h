/*  sched_status - the snapshot `sluice status` asks for: every owned
    partition (committed, high watermark, lag, jobs in flight and
    outstanding), every worker (credit, jobs done, last heard, jobs held,
    plugin), and the totals. Answered on the loop thread from the book,
    so it is consistent.
*/
#ifndef SCHED_STATUS_H_INCLUDED
#define SCHED_STATUS_H_INCLUDED

#include <czmq.h>
#include "sched_model.h"
#include "sched_stats.h"

/*  Answer a STATUS_REQUEST from rid with a snapshot of group's book.
    Returns 0, or -1 if it could not be built or sent.                    */
int sched_status_send (zsock_t *router, zframe_t *rid, const char *group,
                       sched_model_t *model, const sched_stats_t *stats,
                       int64_t now);

#endif
