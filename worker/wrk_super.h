/*  wrk_super - the worker's supervising parent (--supervise on, the
    default).

    sluice-worker forks: the child is the worker, the parent only waits
    for it. When the child dies of a signal (a plugin's SIGSEGV, an
    abort(), an OOM kill) or the plugin watchdog ends it (exit 3), the
    parent reads the crash slot (wrk_crash) the child kept, tells each
    scheduler that had a job begun in it which lane was at fault and on
    which records (CRASH, over a connection of its own, with the worker's
    CURVE keys), logs one line, and starts a new child: at once the first
    time, then with a backoff of 100 ms doubling to 5 s while children
    keep dying within a second of their start.

    Any other end of the child is the worker's end: its exit code is the
    parent's (0 stopped, 1 runtime failure, 2 bad configuration or plugin).
    SIGTERM and SIGINT are passed on to the child (its graceful stop);
    the child gets SIGKILL if the parent dies (PR_SET_PDEATHSIG), so
    killing the parent kills the worker as before.

    The parent uses no czmq and holds no ZeroMQ context between reports
    (a fork with live ZeroMQ threads would leave the child a broken
    context): each report opens a context and ends it.
*/
#ifndef WRK_SUPER_H_INCLUDED
#define WRK_SUPER_H_INCLUDED

#include "wrk_config.h"

/*  What the child runs: the worker, returning its exit code.             */
typedef int (wrk_super_child_fn) (void *arg);

/*  Run child under supervision until the worker ends; returns the exit
    code to leave with.                                                   */
int wrk_super_run (const wrk_config_t *cfg, wrk_super_child_fn *child,
                   void *arg);

#endif
