/*  wrk_crash - where a worker was when it died: a small slot of memory
    shared with its supervising parent (wrk_super), written before and
    after each plugin call.

    The parent maps the slot before it starts the worker, so the slot
    outlives the worker: after a crash the parent reads which job each
    executor lane held, which records its plugin was processing, and which
    lane's thread took the fatal signal, and tells the schedulers (CRASH),
    who charge that record alone.

    Writing costs two stores per plugin call (no lock, no system call):
    a lane's fields are written, then its state is published with a
    release store; the parent reads only after the worker is dead. A
    signal handler for the synchronous signals (SIGSEGV, SIGBUS, SIGFPE,
    SIGILL, SIGABRT, SIGSYS, SIGTRAP) notes the lane of the thread that
    took it, then hands the signal on to whatever was installed before
    (the default: the process dies as it would have).

    Without a supervising parent (--supervise off) nothing is mapped and
    every call here does nothing.
*/
#ifndef WRK_CRASH_H_INCLUDED
#define WRK_CRASH_H_INCLUDED

#include <stdatomic.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>

#define WRK_CRASH_LANES 64

typedef enum {
    WRK_CRASH_IDLE = 0,   /* no job                                       */
    WRK_CRASH_IN_JOB = 1, /* a job begun, not inside a process call       */
    WRK_CRASH_IN_CALL = 2 /* inside the plugin's process call             */
} wrk_crash_state_t;

typedef struct {
    int32_t sched; /* index of the scheduler the job came from           */
    int32_t partition;
    uint64_t job_id;
    char topic[250];
    int64_t start, end; /* IN_CALL: the records the call was given      */
    _Atomic int state;  /* wrk_crash_state_t, published last            */
} wrk_crash_lane_t;

typedef struct {
    char worker_id[128];    /* the worker's HELLO name                    */
    _Atomic int fault_lane; /* lane whose thread took the signal, or -1 */
    _Atomic int fault_sig;  /* that signal, or 0                         */
    _Atomic int stuck_lane; /* the watchdog's lane (plugin stuck), or -1 */
    uint32_t restarts;      /* written by the parent: workers started - 1 */
    wrk_crash_lane_t lane[WRK_CRASH_LANES];
} wrk_crash_slot_t;

/*  Parent: map a fresh slot shared with the children to come. Returns
    NULL (with errno) if it cannot.                                       */
wrk_crash_slot_t *wrk_crash_map (void);

/*  Parent: clear the slot before the next worker starts.                 */
void wrk_crash_clear (wrk_crash_slot_t *slot);

/*  Parent: unmap.                                                        */
void wrk_crash_unmap (wrk_crash_slot_t **slot_p);

/*  Worker: use slot (NULL: no supervisor, nothing is recorded) and
    install the signal handlers.                                          */
void wrk_crash_attach (wrk_crash_slot_t *slot);

/*  Worker: the slot, or NULL.                                            */
wrk_crash_slot_t *wrk_crash_slot (void);

/*  Worker: our name, for the parent's report.                            */
void wrk_crash_worker_id (const char *id);

/*  Worker, on an executor lane's thread: this thread is lane l.          */
void wrk_crash_lane_bind (int lane);

/*  Worker, on a lane's thread: a job from scheduler sched began / ended. */
void wrk_crash_job_begin (int sched, uint64_t job_id, const char *topic,
                          int32_t partition);
void wrk_crash_job_end (void);

/*  Worker, on a lane's thread: the plugin is about to process the
    records [start, end) / returned.                                      */
void wrk_crash_call_enter (int64_t start, int64_t end);
void wrk_crash_call_leave (void);

/*  Worker: the watchdog is about to end the process for lane's stuck
    plugin.                                                               */
void wrk_crash_stuck (int lane);

/*  The name of a signal ("SIGSEGV"), or "signal N" in buf.               */
const char *wrk_crash_signame (int sig, char *buf, size_t size);

#endif
