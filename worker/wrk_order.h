/*  wrk_order - the worker's record of its keyed jobs (--order key), kept
    by the main thread: which lane holds each job that reported its keys
    (GATE and RELEASE go there), and whether its credit went back early.

    A keyed job that waits for a key holds no credit: the scheduler may
    give the worker another job meanwhile. Otherwise every credit could
    be held by jobs waiting for a range that no worker has room for (a
    retry, say), and nothing would move. So when its GATE holds keys back
    the worker gives the credit back at once (CREDIT), and the job's DONE
    (or DROPPED) then brings none.
*/
#ifndef WRK_ORDER_H_INCLUDED
#define WRK_ORDER_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct _wrk_order_t wrk_order_t;

wrk_order_t *wrk_order_new (void);
void wrk_order_destroy (wrk_order_t **self_p);

/*  Lane l reported the keys of job id of scheduler sched. 0, or -1 when
    out of memory.                                                       */
int wrk_order_keys (wrk_order_t *self, int sched, uint64_t id, size_t lane);

/*  The lane that holds the job, in *lane; false if none reported it.    */
bool wrk_order_lane (wrk_order_t *self, int sched, uint64_t id, size_t *lane);

/*  Its GATE held keys back: true if its credit should go back now (the
    first time).                                                          */
bool wrk_order_credit_back (wrk_order_t *self, int sched, uint64_t id);

/*  The job ended (DONE, DROPPED, RETURNED): forget it. True if its
    credit went back already.                                            */
bool wrk_order_end (wrk_order_t *self, int sched, uint64_t id);

/*  Scheduler sched forgot us: forget its jobs.                          */
void wrk_order_forget (wrk_order_t *self, int sched);

/*  Keyed jobs recorded.                                                 */
size_t wrk_order_size (wrk_order_t *self);

#endif
