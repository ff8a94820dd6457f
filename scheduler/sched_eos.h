/*  sched_eos - the scheduler's part of --exactly-once (DESIGN.md,
    "Fencing"). Workers commit each job's outputs, dead letters and marker
    in one transaction; what the scheduler adds is that no range runs
    twice to a commit:

    - a job that leaves its holder without a DONE (its lease expired, the
      holder was lost, crashed or said HELLO again) has its range held
      (sched_part_t.fence): nothing inside it goes out until the holder's
      transactional.ids are fenced and the state partition is read to its
      end. A marker there completes the range as a DONE would; without
      one the range runs again, and its old holder can no longer commit.
      A holder that failed or returned the job itself settled its
      transaction first (sluice-worker): only the read is needed;
    - a worker gets no job until a roster record naming its ids is in the
      state topic, and the commit metadata's marker position never lies
      after the last roster record, so a scheduler that takes a partition
      over finds every id that may hold its jobs and fences them before
      it reads the markers (sched_marks);
    - a worker without a transactional.id, or with one another connected
      worker has, is refused.
*/
#ifndef SCHED_EOS_H_INCLUDED
#define SCHED_EOS_H_INCLUDED

#include <czmq.h>
#include "sched_config.h"
#include "sched_fence.h"
#include "sched_marks.h"
#include "sched_model.h"

typedef struct {
    sched_model_t *model;
    sched_marks_t *marks;
    sched_fence_t *fence; /* NULL: not --exactly-once                     */
    zhashx_t *holds;      /* token -> s_hold_t                            */
    uint64_t next_token;
    uint64_t roster_gen;   /* rosters asked for                          */
    uint64_t roster_asked; /* the gen of the one being written (0: none) */
    int64_t roster_ms;     /* when the last one was asked                */
    uint64_t fences;       /* ranges held, fenced and read               */
    uint64_t found;        /* ... whose marker was there: not run again  */
} sched_eos_t;

/*  Set up, on with cfg->exactly_once (0), or -1 with one line in err.    */
int sched_eos_init (sched_eos_t *self, const sched_config_t *cfg,
                    sched_model_t *model, sched_marks_t *marks, char *err,
                    size_t errlen);
void sched_eos_fini (sched_eos_t *self);

/*  The actor's socket, or NULL when off.                                 */
zsock_t *sched_eos_sock (sched_eos_t *self);

/*  A HELLO: why the worker cannot join (one line), or NULL; a worker that
    can join is named in the next roster and waits for it.               */
const char *sched_eos_hello (sched_eos_t *self, sched_worker_t *worker,
                             const char *txn_id);

/*  A range marked complete by the state topic: completes it as a DONE.   */
typedef void (sched_eos_done_fn) (void *arg, sched_part_t *part, int64_t start,
                                  int64_t end);

/*  An answer from the actor (its socket was readable).                  */
void sched_eos_recv (sched_eos_t *self, sched_eos_done_fn *done, void *arg);

/*  Rosters asked again (one that failed, and one a minute so a takeover
    reads few markers), fences that failed asked again.                   */
void sched_eos_tick (sched_eos_t *self, int64_t now);

#endif
