/*  wrk_super - the worker's supervising parent. See wrk_super.h.        */
#include "wrk_super.h"

#include <czmq.h>
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "sl_clock.h"
#include "sl_log.h"
#include "sl_proto.h"
#include "wrk_crash.h"

/*  The watchdog's exit code (worker.c): a plugin stuck on a job.        */
#define SUPER_EXIT_STUCK 3
/*  A child that dies sooner than this after its start makes the next one
    wait: 100 ms, doubling, at most 5 s.                                  */
#define SUPER_QUICK_MS       1000
#define SUPER_BACKOFF_MIN_MS 100
#define SUPER_BACKOFF_MAX_MS 5000
/*  How long a report may take to leave (connect, CURVE handshake).      */
#define SUPER_REPORT_LINGER_MS 2000

static volatile sig_atomic_t s_child_pid;
static volatile sig_atomic_t s_stop;

//  SIGTERM or SIGINT: pass it on; the child's end is ours.
static void
s_on_stop (int sig)
{
    s_stop = sig;
    if (s_child_pid > 0)
        kill ((pid_t)s_child_pid, sig);
}

//  Whether sig is one the dying thread brought on itself.
static bool
s_synchronous (int sig)
{
    return sig == SIGSEGV || sig == SIGBUS || sig == SIGFPE || sig == SIGILL ||
           sig == SIGABRT || sig == SIGSYS || sig == SIGTRAP;
}

//  The lane the death is pinned on, or -1 if it cannot be (an outside
//  kill, a signal in a thread that is no lane's).
static int
s_fault_lane (const wrk_crash_slot_t *slot, int sig, bool stuck)
{
    int lane = stuck                 ? atomic_load (&slot->stuck_lane)
               : s_synchronous (sig) ? atomic_load (&slot->fault_lane)
                                     : -1;
    return lane >= 0 && lane < WRK_CRASH_LANES ? lane : -1;
}

//  Apply the worker's CURVE keys to a raw socket. Returns 0 or -1.
static int
s_curve (void *sock, const wrk_config_t *cfg)
{
    if (!cfg->curve_cert || !*cfg->curve_cert)
        return 0;
    zcert_t *cert = zcert_load (cfg->curve_cert);
    zcert_t *server = cfg->curve_server_cert && *cfg->curve_server_cert
                          ? zcert_load (cfg->curve_server_cert)
                          : NULL;
    int rc = -1;
    if (cert && server) {
        const char *pub = zcert_public_txt (cert);
        const char *sec = zcert_secret_txt (cert);
        const char *srv = zcert_public_txt (server);
        rc = zmq_setsockopt (sock, ZMQ_CURVE_PUBLICKEY, pub, 40) ||
                     zmq_setsockopt (sock, ZMQ_CURVE_SECRETKEY, sec, 40) ||
                     zmq_setsockopt (sock, ZMQ_CURVE_SERVERKEY, srv, 40)
                 ? -1
                 : 0;
    }
    zcert_destroy (&cert);
    zcert_destroy (&server);
    return rc;
}

//  Send one CRASH to endpoint, on a context of its own that is ended
//  before we return (no ZeroMQ thread may live across the next fork).
static void
s_send (const wrk_config_t *cfg, const char *endpoint, Sluice__Crash *crash)
{
    sl_msg_t env = SLUICE__ENVELOPE__INIT;
    env.version = SL_PROTO_VERSION;
    sl_proto_set_body (&env, SLUICE__ENVELOPE__BODY_CRASH, crash);
    size_t size = sluice__envelope__get_packed_size (&env);
    uint8_t *data = malloc (size ? size : 1);
    void *ctx = zmq_ctx_new ();
    void *sock = ctx ? zmq_socket (ctx, ZMQ_DEALER) : NULL;
    int linger = SUPER_REPORT_LINGER_MS;
    bool sent = false;
    if (data && sock && s_curve (sock, cfg) == 0 &&
        zmq_setsockopt (sock, ZMQ_LINGER, &linger, sizeof linger) == 0 &&
        zmq_connect (sock, endpoint) == 0) {
        sluice__envelope__pack (&env, data);
        sent = zmq_send (sock, data, size, 0) == (int)size;
    }
    if (!sent)
        sl_warn ("supervisor: cannot report the crash to %s error=\"%s\"",
                 endpoint, zmq_strerror (zmq_errno ()));
    if (sock)
        zmq_close (sock);
    if (ctx)
        zmq_ctx_term (ctx);
    free (data);
}

//  Tell every scheduler that had a job begun in the dead worker which
//  lanes were at fault, and log the death.
static void
s_report (const wrk_config_t *cfg, const wrk_crash_slot_t *slot, int sig,
          int code)
{
    bool stuck = sig == 0 && code == SUPER_EXIT_STUCK;
    int fault = s_fault_lane (slot, sig, stuck);
    char signame[32] = "";
    const char *cause = stuck ? "plugin stuck"
                        : sig ? wrk_crash_signame (sig, signame, sizeof signame)
                              : "exited";
    for (size_t s = 0; s < cfg->schedulers.count; s++) {
        Sluice__CrashLane lanes[WRK_CRASH_LANES];
        Sluice__CrashLane *ptrs[WRK_CRASH_LANES];
        size_t n = 0;
        for (int l = 0; l < WRK_CRASH_LANES; l++) {
            const wrk_crash_lane_t *lane = &slot->lane[l];
            int state = atomic_load (&lane->state);
            if (state == WRK_CRASH_IDLE || lane->sched != (int32_t)s)
                continue;
            Sluice__CrashLane *cl = &lanes[n];
            sluice__crash_lane__init (cl);
            cl->job_id = lane->job_id;
            cl->topic = (char *)lane->topic;
            cl->partition = lane->partition;
            //  Pinned on a lane: it alone is at fault, on the records its
            //  plugin was given if it was inside a call. Pinned on none:
            //  every job begun is suspect, as a worker lost without a word.
            cl->at_fault = fault < 0 || fault == l;
            if (fault == l && state == WRK_CRASH_IN_CALL) {
                cl->start = lane->start;
                cl->end = lane->end;
            }
            sl_warn ("worker died cause=\"%s\" lane=%d job=%" PRIu64
                     " topic=%s partition=%d start=%" PRId64 " end=%" PRId64
                     " at_fault=%s",
                     cause, l, cl->job_id, cl->topic, cl->partition, cl->start,
                     cl->end, cl->at_fault ? "yes" : "no");
            ptrs[n++] = cl;
        }
        if (n == 0)
            continue;
        Sluice__Crash crash = SLUICE__CRASH__INIT;
        crash.worker_id = (char *)slot->worker_id;
        crash.signal = sig;
        crash.exit_code = code;
        crash.cause = (char *)cause;
        crash.n_lanes = n;
        crash.lanes = ptrs;
        s_send (cfg, cfg->schedulers.items[s], &crash);
    }
}

//  Sleep ms unless a stop signal comes.
static void
s_sleep (int64_t ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (!s_stop && nanosleep (&ts, &ts) != 0 && errno == EINTR)
        ;
}

//  The child's side of the fork: die with the parent, record into the
//  slot, run the worker.
static void
s_child (wrk_crash_slot_t *slot, pid_t parent, wrk_super_child_fn *child,
         void *arg)
{
    prctl (PR_SET_PDEATHSIG, SIGKILL);
    if (getppid () != parent)
        _exit (1);
    signal (SIGTERM, SIG_DFL);
    signal (SIGINT, SIG_DFL);
    wrk_crash_attach (slot);
    exit (child (arg));
}

//  See wrk_super.h.
int
wrk_super_run (const wrk_config_t *cfg, wrk_super_child_fn *child, void *arg)
{
    wrk_crash_slot_t *slot = wrk_crash_map ();
    if (!slot) {
        sl_warn ("supervisor: no shared memory for the crash slot, running "
                 "unsupervised error=\"%s\"",
                 strerror (errno));
        return child (arg);
    }
    struct sigaction sa;
    memset (&sa, 0, sizeof sa);
    sa.sa_handler = s_on_stop;
    sigemptyset (&sa.sa_mask);
    sigaction (SIGTERM, &sa, NULL);
    sigaction (SIGINT, &sa, NULL);
    pid_t self = getpid ();
    int64_t backoff = 0;
    int rc = 0;
    for (uint32_t restarts = 0;; restarts++) {
        wrk_crash_clear (slot);
        slot->restarts = restarts;
        int64_t started = sl_now_ms ();
        pid_t pid = fork ();
        if (pid < 0) {
            sl_error ("supervisor: cannot start the worker error=\"%s\"",
                      strerror (errno));
            rc = 1;
            break;
        }
        if (pid == 0)
            s_child (slot, self, child, arg);
        s_child_pid = pid;
        if (s_stop) //  a stop that came before the child existed
            kill (pid, s_stop);
        int status;
        while (waitpid (pid, &status, 0) < 0 && errno == EINTR)
            ;
        s_child_pid = 0;
        int sig = WIFSIGNALED (status) ? WTERMSIG (status) : 0;
        int code = WIFEXITED (status) ? WEXITSTATUS (status) : 0;
        if (s_stop || (sig == 0 && code != SUPER_EXIT_STUCK)) {
            rc = sig ? 128 + sig : code;
            break;
        }
        s_report (cfg, slot, sig, code);
        int64_t lived = sl_now_ms () - started;
        backoff = lived >= SUPER_QUICK_MS              ? 0
                  : backoff == 0                       ? SUPER_BACKOFF_MIN_MS
                  : backoff * 2 < SUPER_BACKOFF_MAX_MS ? backoff * 2
                                                       : SUPER_BACKOFF_MAX_MS;
        sl_warn ("supervisor: starting a new worker restarts=%u "
                 "backoff_ms=%" PRId64,
                 restarts + 1, backoff);
        s_sleep (backoff);
        if (s_stop)
            break;
    }
    wrk_crash_unmap (&slot);
    return rc;
}
