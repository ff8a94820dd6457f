#include "wrk_crash.h"

#include <signal.h>
#include <unistd.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

static wrk_crash_slot_t *s_slot;
static _Thread_local int s_lane = -1;

/*  The synchronous signals: the thread that takes one is the thread that
    caused it (abort() included).                                         */
static const int s_sigs[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL,
                             SIGABRT, SIGSYS, SIGTRAP};
#define S_NSIGS (sizeof s_sigs / sizeof s_sigs[0])
static struct sigaction s_before[S_NSIGS];

//  See wrk_crash.h.
wrk_crash_slot_t *
wrk_crash_map (void)
{
    void *p = mmap (NULL, sizeof (wrk_crash_slot_t), PROT_READ | PROT_WRITE,
                    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    wrk_crash_clear (p);
    return p;
}

//  See wrk_crash.h.
void
wrk_crash_clear (wrk_crash_slot_t *slot)
{
    uint32_t restarts = slot->restarts;
    memset (slot, 0, sizeof *slot);
    slot->restarts = restarts;
    atomic_store (&slot->fault_lane, -1);
    atomic_store (&slot->stuck_lane, -1);
}

//  See wrk_crash.h.
void
wrk_crash_unmap (wrk_crash_slot_t **slot_p)
{
    if (*slot_p)
        munmap (*slot_p, sizeof **slot_p);
    *slot_p = NULL;
}

//  A synchronous signal: note which lane took it, then let it do what it
//  did before we were here (for SIGSEGV and the like the faulting
//  instruction runs again and the previous action takes it; a raised one
//  is raised again). Only async-signal-safe calls.
static void
s_on_signal (int sig, siginfo_t *info, void *ctx)
{
    (void)ctx;
    //  One sent from outside (kill -SEGV) says nothing of the thread that
    //  happens to take it.
    bool own = info->si_code > 0 || info->si_pid == getpid ();
    if (s_slot && own) {
        int none = -1;
        //  The first thread to fault wins: a second one may be dying of
        //  the first one's damage.
        if (atomic_compare_exchange_strong (&s_slot->fault_lane, &none,
                                            s_lane < 0 ? WRK_CRASH_LANES
                                                       : s_lane))
            atomic_store (&s_slot->fault_sig, sig);
    }
    for (size_t i = 0; i < S_NSIGS; i++)
        if (s_sigs[i] == sig)
            sigaction (sig, &s_before[i], NULL);
    if (info->si_code <= 0 || sig == SIGABRT || sig == SIGSYS || sig == SIGTRAP)
        raise (sig);
}

//  See wrk_crash.h.
void
wrk_crash_attach (wrk_crash_slot_t *slot)
{
    s_slot = slot;
    if (!slot)
        return;
    struct sigaction sa;
    memset (&sa, 0, sizeof sa);
    sa.sa_sigaction = s_on_signal;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset (&sa.sa_mask);
    for (size_t i = 0; i < S_NSIGS; i++)
        sigaction (s_sigs[i], &sa, &s_before[i]);
}

//  See wrk_crash.h.
wrk_crash_slot_t *
wrk_crash_slot (void)
{
    return s_slot;
}

//  See wrk_crash.h.
void
wrk_crash_worker_id (const char *id)
{
    if (s_slot)
        snprintf (s_slot->worker_id, sizeof s_slot->worker_id, "%s", id);
}

//  See wrk_crash.h.
void
wrk_crash_lane_bind (int lane)
{
    s_lane = lane >= 0 && lane < WRK_CRASH_LANES ? lane : -1;
}

static wrk_crash_lane_t *
s_mine (void)
{
    return s_slot && s_lane >= 0 ? &s_slot->lane[s_lane] : NULL;
}

//  See wrk_crash.h.
void
wrk_crash_job_begin (int sched, uint64_t job_id, const char *topic,
                     int32_t partition)
{
    wrk_crash_lane_t *l = s_mine ();
    if (!l)
        return;
    atomic_store_explicit (&l->state, WRK_CRASH_IDLE, memory_order_release);
    l->sched = sched;
    l->job_id = job_id;
    l->partition = partition;
    snprintf (l->topic, sizeof l->topic, "%s", topic);
    l->start = l->end = 0;
    atomic_store_explicit (&l->state, WRK_CRASH_IN_JOB, memory_order_release);
}

//  See wrk_crash.h.
void
wrk_crash_job_end (void)
{
    wrk_crash_lane_t *l = s_mine ();
    if (l)
        atomic_store_explicit (&l->state, WRK_CRASH_IDLE, memory_order_release);
}

//  See wrk_crash.h.
void
wrk_crash_call_enter (int64_t start, int64_t end)
{
    wrk_crash_lane_t *l = s_mine ();
    if (!l || atomic_load_explicit (&l->state, memory_order_relaxed) ==
                  WRK_CRASH_IDLE)
        return;
    //  Back to IN_JOB first: a death between the two stores below must
    //  not pair the new range with the old call.
    atomic_store_explicit (&l->state, WRK_CRASH_IN_JOB, memory_order_release);
    l->start = start;
    l->end = end;
    atomic_store_explicit (&l->state, WRK_CRASH_IN_CALL, memory_order_release);
}

//  See wrk_crash.h.
void
wrk_crash_call_leave (void)
{
    wrk_crash_lane_t *l = s_mine ();
    if (l && atomic_load_explicit (&l->state, memory_order_relaxed) ==
                 WRK_CRASH_IN_CALL)
        atomic_store_explicit (&l->state, WRK_CRASH_IN_JOB,
                               memory_order_release);
}

//  See wrk_crash.h.
void
wrk_crash_stuck (int lane)
{
    if (s_slot)
        atomic_store (&s_slot->stuck_lane, lane);
}

//  See wrk_crash.h.
const char *
wrk_crash_signame (int sig, char *buf, size_t size)
{
    const char *abbrev = sigabbrev_np (sig);
    if (abbrev)
        snprintf (buf, size, "SIG%s", abbrev);
    else
        snprintf (buf, size, "signal %d", sig);
    return buf;
}
