/*  wrk_lanes - the worker's executor lanes (--concurrency N, one executor
    actor each) as the main thread keeps them: what each lane holds and
    runs, where its last job ends, and which lane a job goes to.

    The first lane loads the plugin; the others share its instance if the
    plugin says it is thread-safe, or load their own.

    Lane choice (wrk_lanes_choose, pure): the lane whose last job ends
    where the job starts (its consumer reads on: another lane would seek,
    and the two would fetch the same records, each reading ahead into the
    other's jobs), unless another lane holds fewer jobs and the plugin's
    work on this one is worth the second fetch (WRK_LANES_SPLIT_MS, the
    scheduler's rule for two workers on one partition); else the lane
    holding the fewest jobs, the first of those. Before any job has ended
    the work is unknown and a busier continuing lane is passed over.

    Stuck plugins: a running job that was cancelled (or whose scheduler
    was reset) must end within --grace-ms, unless the plugin is done with
    it and only Kafka's acknowledgements are awaited (PROCESSED).

    The worker never blocks sending to a lane (ZeroMQ send timeout 0): a
    lane that has stopped has no thread left to read.
*/
#ifndef WRK_LANES_H_INCLUDED
#define WRK_LANES_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <czmq.h>
#include "sl_proto.h"
#include "wrk_config.h"
#include "wrk_msg.h"

/*  A job that continues a lane's partition goes to a less busy lane only
    if its plugin work is worth at least this (a seek, and a second fetch
    of what the first lane read ahead).                                  */
#define WRK_LANES_SPLIT_MS 25

/*  What a lane holds, and where the last job given to it ends: its
    consumer will stand there, so the job that starts there reads on.   */
typedef struct {
    size_t held; /* jobs given to it that have not ended                 */
    char tail_topic[256];
    int32_t tail_partition;
    int64_t tail_next;
} wrk_lane_load_t;

/*  The lane for job among loads[0..n) (n > 0). us_per_off: the plugin
    and flush time per offset of the last jobs, < 0 if not measured.    */
size_t wrk_lanes_choose (const wrk_lane_load_t *loads, size_t n,
                         const Sluice__Job *job, double us_per_off);

typedef struct _wrk_lanes_t wrk_lanes_t;

/*  Create the lanes' executors (max (1, --concurrency) of them). Returns
    NULL with one line in err.                                           */
wrk_lanes_t *wrk_lanes_new (const wrk_config_t *cfg, char *err, size_t errlen);

/*  Destroy the actors, then the executors (the first lane, which may own
    a shared plugin instance, last); null the pointer.                   */
void wrk_lanes_destroy (wrk_lanes_t **self_p);

size_t wrk_lanes_size (wrk_lanes_t *self);
const char *wrk_lanes_plugin_name (wrk_lanes_t *self);
/*  Plugin instances: 1 if the lanes share one, else one per lane.       */
size_t wrk_lanes_plugin_instances (wrk_lanes_t *self);

/*  Start every lane's actor. Returns 0, or -1 if one did not start.     */
int wrk_lanes_start (wrk_lanes_t *self);

/*  Lane l's pipe (after start), to read its replies.                   */
zsock_t *wrk_lanes_sock (wrk_lanes_t *self, size_t l);

/*  The lane whose pipe is sock; wrk_lanes_size () if none.              */
size_t wrk_lanes_find (wrk_lanes_t *self, zsock_t *sock);

/*  Give job (from scheduler sched) to the lane wrk_lanes_choose picks.
    Returns 0, or -1 if that lane has ended (the worker is stopping): the
    caller gives the job back.                                           */
int wrk_lanes_give (wrk_lanes_t *self, int sched, const Sluice__Job *job);

/*  CANCEL from scheduler sched: to every lane; a lane running the job
    must end it within --grace-ms.                                        */
void wrk_lanes_cancel (wrk_lanes_t *self, int sched, uint64_t job_id);

/*  Send lane l one message (GATE, RELEASE: for a keyed job it holds).
    payload is copied. 0, or -1.                                         */
int wrk_lanes_tell (wrk_lanes_t *self, size_t l, wrk_msg_type_t type, int sched,
                    zframe_t *payload);

/*  Scheduler sched is gone or forgot us: every lane drops its jobs
    (DROPALL); a running one must end within --grace-ms.                 */
void wrk_lanes_drop_all (wrk_lanes_t *self, int sched);

/*  STOP to every lane: return the queued jobs, finish the running ones
    by deadline (monotonic ms).                                          */
void wrk_lanes_stop (wrk_lanes_t *self, uint64_t deadline);

/*  Keep count of what lane l said (BEGIN, PROCESSED, DROPPED, RETURNED,
    FORGOT, STOPPED; other types change nothing).                        */
void wrk_lanes_note (wrk_lanes_t *self, size_t l, const wrk_msg_t *m);

/*  Lane l's running job ended with done: it is no longer held, and its
    cost per offset feeds the lane choice.                               */
void wrk_lanes_ended (wrk_lanes_t *self, size_t l, const Sluice__Done *done);

/*  Jobs running now, over every lane.                                   */
size_t wrk_lanes_running (wrk_lanes_t *self);

/*  True if lane l runs a job: its scheduler and id.                     */
bool wrk_lanes_running_job (wrk_lanes_t *self, size_t l, int *sched,
                            uint64_t *job_id);

/*  True once every lane's actor said STOPPED.                           */
bool wrk_lanes_all_stopped (wrk_lanes_t *self);

/*  True if some lane's cancelled job outlived its deadline at now: the
    plugin is stuck. *job_id and *lane say which.                        */
bool wrk_lanes_stuck (wrk_lanes_t *self, int64_t now, uint64_t *job_id,
                      size_t *lane);

/*  What the lanes' consumers fetched, summed (wrk_exec_fetched).        */
void wrk_lanes_fetched (wrk_lanes_t *self, uint64_t *records, uint64_t *bytes,
                        uint64_t *wakes);

/*  Records of keyed jobs not run yet, over every lane (wrk_exec).       */
size_t wrk_lanes_key_waiting (wrk_lanes_t *self);

#endif
