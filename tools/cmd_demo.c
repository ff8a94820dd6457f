/*  sluice demo - the whole pipeline on one machine, checked end to end.

    1. start `sluice kafka` (the embedded broker) and read its bootstrap list;
    2. produce --records JSON records (a few percent deliberately invalid),
       key = id, with an idempotent producer over 8 partitions of demo.in;
    3. start one sluice-scheduler --drain and --workers sluice-worker
       processes running the jsonvalid plugin; the scheduler's stderr (its
       progress) passes through, the others log to files;
    4. when the scheduler exits, stop the workers with SIGTERM;
    5. read demo.out and the DLQ completely and count every id: processed,
       dead-lettered, lost (in neither), duplicates.

    Exits 0 only if nothing was lost and the scheduler exited 0. Every child
    dies with us: they get PR_SET_PDEATHSIG, and every error path stops them.
    The sibling binaries are found next to /proc/self/exe, the plugins in
    ../plugins relative to that directory (the build tree's layout) or, in
    an installed prefix, where `cmake --install` put them.
*/
#include "sluice_cmds.h"
#include "sl_clock.h"
#include "sl_flags.h"
#include "sl_hash.h"
#include "sl_log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <librdkafka/rdkafka.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define DEMO_PROG         "sluice demo"
#define DEMO_TOPIC_IN     "demo.in"
#define DEMO_TOPIC_OUT    "demo.out"
#define DEMO_TOPIC_DLQ    "demo.in.dlq"
#define DEMO_PARTITIONS   8
#define DEMO_DLQ_PARTS    1
#define DEMO_GROUP        "sluice-demo"
#define DEMO_PLUGIN       "jsonvalid"
#define DEMO_MAX_WORKERS  64
#define DEMO_MAX_CHILDREN (DEMO_MAX_WORKERS + 2)
/*  The embedded broker keeps about 5 MiB per partition; 400,000 records of
    ~80 bytes over 8 partitions stay well inside it.                       */
#define DEMO_MAX_RECORDS 400000
/*  Time-boxes for the steps that do not scale with --records.            */
#define DEMO_BOOTSTRAP_MS  15000
#define DEMO_STOP_GRACE_MS 15000
#define DEMO_ABORT_MS      3000
#define DEMO_VERIFY_MS     120000
/*  The embedded broker answers a Fetch that finds nothing new only after
    the full fetch.wait.max.ms (librdkafka's default is 500 ms), and each
    connection has one Fetch in flight: a partition at its end would hold
    back the others. 10 ms keeps workers and the read-back fast.          */
#define DEMO_FETCH_WAIT "fetch.wait.max.ms=10"

typedef struct {
    pid_t pid;
    char name[32];
    char log[PATH_MAX]; /* where its stderr goes; "" = ours */
    bool running;
    int status; /* waitpid status once it exited */
} demo_child_t;

typedef struct {
    int64_t records, workers, timeout_s;
    char exe[PATH_MAX];    /* this binary, for `sluice kafka` */
    char bindir[PATH_MAX]; /* sluice-scheduler, sluice-worker */
    char plugin[PATH_MAX]; /* ../plugins/jsonvalid.so */
    char logdir[PATH_MAX]; /* mkdtemp'd, kept for the user */
    char bootstrap[1024];
    char endpoint[64]; /* tcp://127.0.0.1:PORT */
    sigset_t sigs;     /* SIGCHLD, SIGINT, SIGTERM, SIGHUP: blocked */
    sigset_t oldmask;  /* restored in children before exec */
    int stop_signal;   /* a stop signal we received, or 0 */
    demo_child_t children[DEMO_MAX_CHILDREN];
    size_t nchildren;
    demo_child_t *kafka, *scheduler;
} demo_t;

typedef struct {
    int64_t in, invalid;       /* produced, of which invalid JSON */
    int64_t out, dlq;          /* records read back from each topic */
    int64_t lost, duplicates;  /* ids in neither; extra copies */
    int64_t foreign;           /* records whose key is no id of ours */
    int64_t misrouted;         /* valid in DLQ or invalid in out */
    double produce_s, drain_s; /* wall time of producing, of the drain */
    int sched_status;          /* waitpid status of the scheduler */
} demo_tally_t;

//  True if record `id` is one of the deliberately invalid ones (3%, spread
//  by the hash so they land in every partition and job).
static bool
s_id_invalid (int64_t id)
{
    return (sl_hash_u64 ((uint64_t)id) >> 32) % 1000 < 30;
}

//  Render record `id` into buf; invalid ones keep the `{"id":N,` prefix so
//  a reader can still tell which record they were. Returns the length.
static int
s_record_render (int64_t id, char *buf, size_t size)
{
    long long n = (long long)id;
    if (!s_id_invalid (id))
        return snprintf (buf, size,
                         "{\"id\":%lld,\"user\":\"user-%lld\",\"amount\":"
                         "%lld.%02lld,\"currency\":\"EUR\"}",
                         n, n % 977, n % 1000, n % 100);
    switch (id % 3) {
        case 0: /* truncated */
            return snprintf (buf, size, "{\"id\":%lld,\"user\":\"user-", n);
        case 1: /* bare word */
            return snprintf (buf, size, "{\"id\":%lld,\"user\":user-%lld}", n,
                             n % 977);
        default: /* trailing comma */
            return snprintf (buf, size, "{\"id\":%lld,\"amount\":1.5,}", n);
    }
}

//  Parse a decimal id from a key of `len` bytes. Returns the id or -1.
static int64_t
s_id_parse (const void *data, size_t len)
{
    const char *p = data;
    if (!p || len == 0 || len > 18)
        return -1;
    int64_t id = 0;
    for (size_t i = 0; i < len; i++) {
        if (p[i] < '0' || p[i] > '9')
            return -1;
        id = id * 10 + (p[i] - '0');
    }
    return id;
}

//  Format a path into buf. Returns 0, or -1 (logged) if it does not fit.
static int s_path (char *buf, size_t size, const char *fmt, ...)
    __attribute__ ((format (printf, 3, 4)));

static int
s_path (char *buf, size_t size, const char *fmt, ...)
{
    va_list args;
    va_start (args, fmt);
    int n = vsnprintf (buf, size, fmt, args);
    va_end (args);
    if (n >= 0 && (size_t)n < size)
        return 0;
    sl_error ("path too long: %.80s...", buf);
    return -1;
}

//  Directory of this executable and the paths derived from it. Returns 0,
//  or -1 after logging what is missing and how to get it.
static int
demo_locate (demo_t *self)
{
    ssize_t n = readlink ("/proc/self/exe", self->exe, sizeof self->exe - 1);
    if (n <= 0) {
        sl_error ("cannot read /proc/self/exe error=\"%s\"", strerror (errno));
        return -1;
    }
    self->exe[n] = 0;
    char copy[PATH_MAX];
    snprintf (copy, sizeof copy, "%s", self->exe);
    snprintf (self->bindir, sizeof self->bindir, "%s", dirname (copy));
    //  The build tree keeps the plugins in ../plugins; an install puts them
    //  in SLUICE_INSTALL_PLUGINDIR (absolute, or relative to the binary).
    char build_tree[PATH_MAX], installed[PATH_MAX];
    if (s_path (build_tree, sizeof build_tree, "%s/../plugins/%s.so",
                self->bindir, DEMO_PLUGIN))
        return -1;
    const char *plugindir = SLUICE_INSTALL_PLUGINDIR;
    if (plugindir[0] == '/') {
        if (s_path (installed, sizeof installed, "%s/%s.so", plugindir,
                    DEMO_PLUGIN))
            return -1;
    } else if (s_path (installed, sizeof installed, "%s/%s/%s.so", self->bindir,
                       plugindir, DEMO_PLUGIN))
        return -1;
    const char *plugin =
        access (build_tree, R_OK) == 0 ? build_tree : installed;
    if (s_path (self->plugin, sizeof self->plugin, "%s", plugin))
        return -1;
    const char *needed[] = {"sluice-scheduler", "sluice-worker"};
    for (size_t i = 0; i < 2; i++) {
        char path[PATH_MAX];
        if (s_path (path, sizeof path, "%s/%s", self->bindir, needed[i]))
            return -1;
        if (access (path, X_OK) != 0) {
            sl_error ("%s not found next to sluice path=%s; build it: cmake "
                      "--build build",
                      needed[i], path);
            return -1;
        }
    }
    if (access (self->plugin, R_OK) != 0) {
        sl_error ("plugin %s.so not found in %s nor %s; build it: cmake "
                  "--build build",
                  DEMO_PLUGIN, build_tree, installed);
        return -1;
    }
    return 0;
}

//  Pick a free loopback TCP port for the scheduler's endpoint. Returns 0
//  or -1. (The port could be taken again before the scheduler binds it;
//  the scheduler then fails loudly, which is good enough for a demo.)
static int
demo_pick_endpoint (demo_t *self)
{
    int fd = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in addr = {.sin_family = AF_INET};
    addr.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    int rc = bind (fd, (struct sockaddr *)&addr, sizeof addr);
    if (rc == 0)
        rc = getsockname (fd, (struct sockaddr *)&addr, &len);
    close (fd);
    if (rc != 0) {
        sl_error ("cannot find a free port error=\"%s\"", strerror (errno));
        return -1;
    }
    snprintf (self->endpoint, sizeof self->endpoint, "tcp://127.0.0.1:%u",
              (unsigned)ntohs (addr.sin_port));
    return 0;
}

//  In a freshly forked child: die with the parent, wire stdout/stderr,
//  restore the signal mask, exec. Only async-signal-safe calls: the parent
//  may have threads. Never returns.
static void
s_child_exec (const demo_t *self, pid_t parent, char *const argv[], int out_fd,
              int err_fd)
{
    prctl (PR_SET_PDEATHSIG, SIGTERM);
    if (getppid () != parent)
        _exit (127);
    if (out_fd >= 0)
        dup2 (out_fd, STDOUT_FILENO);
    if (err_fd >= 0)
        dup2 (err_fd, STDERR_FILENO);
    sigprocmask (SIG_SETMASK, &self->oldmask, NULL);
    execv (argv[0], argv);
    static const char msg[] = "sluice demo: exec failed\n";
    ssize_t rc = write (STDERR_FILENO, msg, sizeof msg - 1);
    (void)rc;
    _exit (127);
}

//  Start argv[0] as child `name`; stdout to out_fd (-1: ours), stderr to
//  logdir/<name>.log if to_log, else ours. Returns the child or NULL.
static demo_child_t *
demo_spawn (demo_t *self, const char *name, char *const argv[], int out_fd,
            bool to_log)
{
    if (self->nchildren == DEMO_MAX_CHILDREN)
        return NULL;
    demo_child_t *child = &self->children[self->nchildren];
    memset (child, 0, sizeof *child);
    snprintf (child->name, sizeof child->name, "%s", name);
    int err_fd = -1;
    if (to_log) {
        if (s_path (child->log, sizeof child->log, "%s/%s.log", self->logdir,
                    name))
            return NULL;
        err_fd =
            open (child->log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (err_fd < 0) {
            sl_error ("cannot open log path=%s error=\"%s\"", child->log,
                      strerror (errno));
            return NULL;
        }
    }
    pid_t parent = getpid ();
    child->pid = fork ();
    if (child->pid == 0)
        s_child_exec (self, parent, argv, out_fd, err_fd);
    if (err_fd >= 0)
        close (err_fd);
    if (child->pid < 0) {
        sl_error ("fork failed for %s error=\"%s\"", name, strerror (errno));
        return NULL;
    }
    child->running = true;
    self->nchildren++;
    return child;
}

//  Describe how a child ended, for logs ("exit 0", "signal Killed").
static const char *
s_status_str (int status, char *buf, size_t size)
{
    if (WIFEXITED (status))
        snprintf (buf, size, "exit %d", WEXITSTATUS (status));
    else if (WIFSIGNALED (status))
        snprintf (buf, size, "signal %s", strsignal (WTERMSIG (status)));
    else
        snprintf (buf, size, "status %d", status);
    return buf;
}

//  Reap every child that has exited, without blocking.
static void
demo_reap (demo_t *self)
{
    int status;
    pid_t pid;
    while ((pid = waitpid (-1, &status, WNOHANG)) > 0)
        for (size_t i = 0; i < self->nchildren; i++) {
            demo_child_t *child = &self->children[i];
            if (child->pid != pid || !child->running)
                continue;
            child->running = false;
            child->status = status;
            char how[64];
            sl_log (status == 0 ? SL_LOG_INFO : SL_LOG_WARN,
                    "child exited name=%s pid=%d how=\"%s\"%s%s", child->name,
                    (int)pid, s_status_str (status, how, sizeof how),
                    child->log[0] ? " log=" : "", child->log);
        }
}

//  Wait up to `ms` for a signal; remember a stop signal. Returns true if
//  we must stop (SIGINT, SIGTERM, SIGHUP).
static bool
demo_wait_signal (demo_t *self, int64_t ms)
{
    struct timespec ts = {.tv_sec = ms / 1000,
                          .tv_nsec = (long)(ms % 1000) * 1000000};
    int signo = sigtimedwait (&self->sigs, NULL, &ts);
    if (signo > 0 && signo != SIGCHLD && !self->stop_signal) {
        self->stop_signal = signo;
        sl_warn ("interrupted, stopping every child signal=%s",
                 strsignal (signo));
    }
    demo_reap (self);
    return self->stop_signal != 0;
}

//  Number of workers still running.
static size_t
demo_workers_running (const demo_t *self)
{
    size_t n = 0;
    for (size_t i = 0; i < self->nchildren; i++)
        if (self->children[i].running &&
            strncmp (self->children[i].name, "worker", 6) == 0)
            n++;
    return n;
}

//  Send `signo` to every running child whose name starts with prefix
//  (NULL: all).
static void
demo_signal (demo_t *self, const char *prefix, int signo)
{
    for (size_t i = 0; i < self->nchildren; i++) {
        demo_child_t *child = &self->children[i];
        if (child->running &&
            (!prefix || strncmp (child->name, prefix, strlen (prefix)) == 0))
            kill (child->pid, signo);
    }
}

//  True if any child whose name starts with prefix (NULL: any) runs.
static bool
demo_any_running (const demo_t *self, const char *prefix)
{
    for (size_t i = 0; i < self->nchildren; i++)
        if (self->children[i].running &&
            (!prefix ||
             strncmp (self->children[i].name, prefix, strlen (prefix)) == 0))
            return true;
    return false;
}

//  Stop the children named prefix*: SIGTERM, wait up to grace_ms, then
//  SIGKILL and reap. Returns 0 if they all left on SIGTERM, else -1.
static int
demo_stop (demo_t *self, const char *prefix, int64_t grace_ms)
{
    demo_signal (self, prefix, SIGTERM);
    int64_t deadline = sl_now_ms () + grace_ms;
    while (demo_any_running (self, prefix) && sl_now_ms () < deadline)
        demo_wait_signal (self, 50);
    if (!demo_any_running (self, prefix))
        return 0;
    sl_warn ("children did not stop in time, killing them grace_ms=%lld",
             (long long)grace_ms);
    demo_signal (self, prefix, SIGKILL);
    while (demo_any_running (self, prefix))
        demo_wait_signal (self, 50);
    return -1;
}

//  Stop every child, clients before the broker: workers, the scheduler
//  (its last commit needs the broker), then the broker.
static void
demo_stop_all (demo_t *self, int64_t grace_ms)
{
    const char *order[] = {"worker", "scheduler", "kafka"};
    for (size_t i = 0; i < sizeof order / sizeof order[0]; i++)
        if (demo_any_running (self, order[i]))
            demo_stop (self, order[i], grace_ms);
    if (demo_any_running (self, NULL))
        demo_stop (self, NULL, grace_ms);
}

//  Read the first line the broker prints (its bootstrap list) within
//  DEMO_BOOTSTRAP_MS. Returns 0, or -1 if it died or stayed silent.
static int
demo_read_bootstrap (demo_t *self, int fd)
{
    size_t len = 0;
    int64_t deadline = sl_now_ms () + DEMO_BOOTSTRAP_MS;
    while (len < sizeof self->bootstrap - 1 && sl_now_ms () < deadline) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        if (poll (&pfd, 1, 100) <= 0) {
            if (demo_wait_signal (self, 0) || !self->kafka->running)
                break;
            continue;
        }
        ssize_t n = read (fd, self->bootstrap + len, 1);
        if (n <= 0)
            break;
        if (self->bootstrap[len] == '\n') {
            self->bootstrap[len] = 0;
            return len > 0 ? 0 : -1;
        }
        len++;
    }
    sl_error ("the embedded broker printed no bootstrap list log=%s",
              self->kafka->log);
    return -1;
}

//  Start `sluice kafka` with the demo's topics. Returns 0 or -1.
static int
demo_start_kafka (demo_t *self)
{
    char in[64], out[64], dlq[64];
    snprintf (in, sizeof in, "%s:%d", DEMO_TOPIC_IN, DEMO_PARTITIONS);
    snprintf (out, sizeof out, "%s:%d", DEMO_TOPIC_OUT, DEMO_PARTITIONS);
    snprintf (dlq, sizeof dlq, "%s:%d", DEMO_TOPIC_DLQ, DEMO_DLQ_PARTS);
    char *argv[] = {self->exe, "kafka",   "--topic", in,  "--topic",
                    out,       "--topic", dlq,       NULL};
    int pipefd[2];
    if (pipe2 (pipefd, O_CLOEXEC) != 0) {
        sl_error ("pipe failed error=\"%s\"", strerror (errno));
        return -1;
    }
    self->kafka = demo_spawn (self, "kafka", argv, pipefd[1], true);
    close (pipefd[1]);
    int rc = self->kafka ? demo_read_bootstrap (self, pipefd[0]) : -1;
    close (pipefd[0]);
    if (rc == 0)
        sl_info ("embedded kafka started bootstrap=%s", self->bootstrap);
    return rc;
}

//  Count delivery failures (the opaque is an int64_t counter).
static void
s_delivery_report (rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque)
{
    (void)rk;
    if (msg->err) {
        int64_t *failed = opaque;
        if ((*failed)++ == 0)
            sl_error ("delivery failed error=\"%s\"",
                      rd_kafka_err2str (msg->err));
    }
}

//  Set a librdkafka property; on failure log it and return -1.
static int
s_conf_set (rd_kafka_conf_t *conf, const char *name, const char *value)
{
    char err[256];
    if (rd_kafka_conf_set (conf, name, value, err, sizeof err) ==
        RD_KAFKA_CONF_OK)
        return 0;
    sl_error ("bad librdkafka property name=%s error=\"%s\"", name, err);
    return -1;
}

//  Make an idempotent producer for the demo's input. NULL on failure.
static rd_kafka_t *
demo_producer_new (demo_t *self, int64_t *failed)
{
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new ();
    if (s_conf_set (conf, "bootstrap.servers", self->bootstrap) ||
        s_conf_set (conf, "enable.idempotence", "true") ||
        s_conf_set (conf, "linger.ms", "5") ||
        s_conf_set (conf, "client.id", "sluice-demo-producer")) {
        rd_kafka_conf_destroy (conf);
        return NULL;
    }
    rd_kafka_conf_set_dr_msg_cb (conf, s_delivery_report);
    rd_kafka_conf_set_opaque (conf, failed);
    rd_kafka_t *rk = rd_kafka_new (RD_KAFKA_PRODUCER, conf, err, sizeof err);
    if (!rk) {
        sl_error ("cannot create the producer error=\"%s\"", err);
        rd_kafka_conf_destroy (conf);
    }
    return rk;
}

//  Queue record `id`, waiting while the local queue is full. Returns 0 or
//  -1.
static int
demo_produce_one (demo_t *self, rd_kafka_t *rk, int64_t id)
{
    char key[24], value[160];
    int klen = snprintf (key, sizeof key, "%lld", (long long)id);
    int vlen = s_record_render (id, value, sizeof value);
    for (;;) {
        rd_kafka_resp_err_t err = rd_kafka_producev (
            rk, RD_KAFKA_V_TOPIC (DEMO_TOPIC_IN),
            RD_KAFKA_V_PARTITION ((int32_t)(id % DEMO_PARTITIONS)),
            RD_KAFKA_V_KEY (key, (size_t)klen),
            RD_KAFKA_V_VALUE (value, (size_t)vlen),
            RD_KAFKA_V_MSGFLAGS (RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
        if (!err)
            return 0;
        if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            sl_error ("produce failed id=%lld error=\"%s\"", (long long)id,
                      rd_kafka_err2str (err));
            return -1;
        }
        rd_kafka_poll (rk, 50);
        if (demo_wait_signal (self, 0))
            return -1;
    }
}

//  Produce every record to demo.in and wait until Kafka has them all.
//  Returns 0, or -1 if any record could not be delivered.
static int
demo_produce (demo_t *self, demo_tally_t *tally)
{
    int64_t failed = 0;
    rd_kafka_t *rk = demo_producer_new (self, &failed);
    if (!rk)
        return -1;
    sl_info ("producing records=%lld topic=%s partitions=%d",
             (long long)self->records, DEMO_TOPIC_IN, DEMO_PARTITIONS);
    int64_t started = sl_now_ms ();
    int rc = 0;
    for (int64_t id = 0; id < self->records && rc == 0 && !failed; id++) {
        rc = demo_produce_one (self, rk, id);
        tally->invalid += s_id_invalid (id);
        if (id % 1000 == 0)
            rd_kafka_poll (rk, 0);
    }
    rd_kafka_flush (rk, 60000);
    if (rd_kafka_outq_len (rk) > 0 || failed) {
        sl_error ("not every record reached the broker undelivered=%d "
                  "failed=%lld",
                  rd_kafka_outq_len (rk), (long long)failed);
        rc = -1;
    }
    rd_kafka_destroy (rk);
    tally->in = self->records;
    tally->produce_s = (double)(sl_now_ms () - started) / 1000.0;
    if (rc == 0)
        sl_info ("produced records=%lld invalid=%lld seconds=%.2f",
                 (long long)tally->in, (long long)tally->invalid,
                 tally->produce_s);
    return rc;
}

//  Start the scheduler (its stderr, with the drain progress, is ours) and
//  the workers (each logging to a file). Returns 0 or -1.
static int
demo_start_fleet (demo_t *self)
{
    char sched[PATH_MAX], worker[PATH_MAX];
    if (s_path (sched, sizeof sched, "%s/sluice-scheduler", self->bindir) ||
        s_path (worker, sizeof worker, "%s/sluice-worker", self->bindir))
        return -1;
    char *sargv[] = {sched,         "--brokers",    self->bootstrap,
                     "--topic",     DEMO_TOPIC_IN,  "--group",
                     DEMO_GROUP,    "--bind",       self->endpoint,
                     "--dlq-topic", DEMO_TOPIC_DLQ, "--drain",
                     NULL};
    self->scheduler = demo_spawn (self, "scheduler", sargv, -1, false);
    if (!self->scheduler)
        return -1;
    char *wargv[] = {worker,        "--brokers",      self->bootstrap,
                     "--scheduler", self->endpoint,   "--plugin",
                     self->plugin,  "--output-topic", DEMO_TOPIC_OUT,
                     "-X",          DEMO_FETCH_WAIT,  NULL};
    for (int64_t i = 1; i <= self->workers; i++) {
        char name[32];
        snprintf (name, sizeof name, "worker-%lld", (long long)i);
        if (!demo_spawn (self, name, wargv, -1, true))
            return -1;
    }
    sl_info ("started scheduler and workers workers=%lld endpoint=%s "
             "plugin=%s logs=%s",
             (long long)self->workers, self->endpoint, self->plugin,
             self->logdir);
    return 0;
}

//  Wait for the scheduler to finish the drain, within --timeout. Fails if
//  we are interrupted, the broker dies, or no worker is left. Returns 0 if
//  the scheduler exited (whatever its status), else -1.
static int
demo_wait_drain (demo_t *self)
{
    int64_t deadline = sl_now_ms () + self->timeout_s * 1000;
    while (self->scheduler->running) {
        if (demo_wait_signal (self, 200))
            return -1;
        if (!self->kafka->running) {
            sl_error ("the embedded broker died log=%s", self->kafka->log);
            return -1;
        }
        if (self->scheduler->running && demo_workers_running (self) == 0) {
            sl_error ("every worker died; see their logs logs=%s",
                      self->logdir);
            return -1;
        }
        if (sl_now_ms () > deadline) {
            sl_error ("the drain did not finish in time timeout_s=%lld; "
                      "raise --timeout or see logs=%s",
                      (long long)self->timeout_s, self->logdir);
            return -1;
        }
    }
    return 0;
}

//  Per-id counts while reading back, saturating at 255.
typedef struct {
    uint8_t *out, *dlq;
    int64_t hwm[DEMO_PARTITIONS + DEMO_DLQ_PARTS];
    bool done[DEMO_PARTITIONS + DEMO_DLQ_PARTS];
} demo_seen_t;

//  Index of (topic, partition) in demo_seen_t's arrays.
static int
s_slot (bool is_dlq, int32_t partition)
{
    return is_dlq ? DEMO_PARTITIONS + partition : partition;
}

//  Make a consumer that reads by assignment only, nothing committed.
static rd_kafka_t *
demo_consumer_new (demo_t *self)
{
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new ();
    if (s_conf_set (conf, "bootstrap.servers", self->bootstrap) ||
        s_conf_set (conf, "group.id", "sluice-demo-verify") ||
        s_conf_set (conf, "enable.auto.commit", "false") ||
        s_conf_set (conf, "enable.partition.eof", "true") ||
        s_conf_set (conf, "fetch.wait.max.ms", "10") /* DEMO_FETCH_WAIT */ ||
        s_conf_set (conf, "client.id", "sluice-demo-verify")) {
        rd_kafka_conf_destroy (conf);
        return NULL;
    }
    rd_kafka_t *rk = rd_kafka_new (RD_KAFKA_CONSUMER, conf, err, sizeof err);
    if (!rk) {
        sl_error ("cannot create the consumer error=\"%s\"", err);
        rd_kafka_conf_destroy (conf);
        return NULL;
    }
    rd_kafka_poll_set_consumer (rk);
    return rk;
}

//  Learn every partition's high watermark and assign the non-empty ones
//  from the beginning. Returns 0 or -1.
static int
demo_assign_all (rd_kafka_t *rk, demo_seen_t *seen)
{
    rd_kafka_topic_partition_list_t *list =
        rd_kafka_topic_partition_list_new (DEMO_PARTITIONS + DEMO_DLQ_PARTS);
    int rc = 0;
    for (int slot = 0; slot < DEMO_PARTITIONS + DEMO_DLQ_PARTS && !rc; slot++) {
        bool is_dlq = slot >= DEMO_PARTITIONS;
        const char *topic = is_dlq ? DEMO_TOPIC_DLQ : DEMO_TOPIC_OUT;
        int32_t part = is_dlq ? slot - DEMO_PARTITIONS : slot;
        int64_t low;
        rd_kafka_resp_err_t err = rd_kafka_query_watermark_offsets (
            rk, topic, part, &low, &seen->hwm[slot], 10000);
        if (err) {
            sl_error ("cannot read watermarks topic=%s partition=%d "
                      "error=\"%s\"",
                      topic, part, rd_kafka_err2str (err));
            rc = -1;
        }
        seen->done[slot] = seen->hwm[slot] <= low;
        if (!seen->done[slot])
            rd_kafka_topic_partition_list_add (list, topic, part)->offset =
                RD_KAFKA_OFFSET_BEGINNING;
    }
    if (rc == 0 && rd_kafka_assign (rk, list) != RD_KAFKA_RESP_ERR_NO_ERROR)
        rc = -1;
    rd_kafka_topic_partition_list_destroy (list);
    return rc;
}

//  Count one record read back.
static void
demo_count (demo_t *self, const rd_kafka_message_t *msg, demo_seen_t *seen,
            demo_tally_t *tally)
{
    bool is_dlq = strcmp (rd_kafka_topic_name (msg->rkt), DEMO_TOPIC_DLQ) == 0;
    int slot = s_slot (is_dlq, msg->partition);
    if (slot < 0 || slot >= DEMO_PARTITIONS + DEMO_DLQ_PARTS) {
        tally->foreign++;
        return;
    }
    if (msg->offset + 1 >= seen->hwm[slot])
        seen->done[slot] = true;
    *(is_dlq ? &tally->dlq : &tally->out) += 1;
    int64_t id = s_id_parse (msg->key, msg->key_len);
    if (id < 0 || id >= self->records) {
        tally->foreign++;
        return;
    }
    uint8_t *count = is_dlq ? &seen->dlq[id] : &seen->out[id];
    if (*count < UINT8_MAX)
        (*count)++;
    if (is_dlq != s_id_invalid (id))
        tally->misrouted++;
}

//  True once every partition was read up to its high watermark.
static bool
s_all_done (const demo_seen_t *seen)
{
    for (int slot = 0; slot < DEMO_PARTITIONS + DEMO_DLQ_PARTS; slot++)
        if (!seen->done[slot])
            return false;
    return true;
}

//  Consume until every assigned partition reached its watermark, within
//  DEMO_VERIFY_MS. Returns 0 or -1.
static int
demo_consume_all (demo_t *self, rd_kafka_t *rk, demo_seen_t *seen,
                  demo_tally_t *tally)
{
    int64_t deadline = sl_now_ms () + DEMO_VERIFY_MS;
    while (!s_all_done (seen)) {
        if (sl_now_ms () > deadline || demo_wait_signal (self, 0)) {
            sl_error ("reading back did not finish out=%lld dlq=%lld",
                      (long long)tally->out, (long long)tally->dlq);
            return -1;
        }
        rd_kafka_message_t *msg = rd_kafka_consumer_poll (rk, 100);
        if (!msg)
            continue;
        if (msg->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            bool is_dlq =
                strcmp (rd_kafka_topic_name (msg->rkt), DEMO_TOPIC_DLQ) == 0;
            int slot = s_slot (is_dlq, msg->partition);
            if (msg->offset >= seen->hwm[slot])
                seen->done[slot] = true;
        } else if (msg->err)
            sl_warn ("consumer error=\"%s\"", rd_kafka_message_errstr (msg));
        else
            demo_count (self, msg, seen, tally);
        rd_kafka_message_destroy (msg);
    }
    return 0;
}

//  Work out lost ids and duplicates from the per-id counts.
static void
s_tally_ids (const demo_seen_t *seen, int64_t records, demo_tally_t *tally)
{
    for (int64_t id = 0; id < records; id++) {
        int copies = seen->out[id] + seen->dlq[id];
        if (copies == 0)
            tally->lost++;
        else
            tally->duplicates += copies - 1;
    }
}

//  Read demo.out and the DLQ completely and fill the tally. Returns 0 or
//  -1 if they could not be read completely.
static int
demo_verify (demo_t *self, demo_tally_t *tally)
{
    demo_seen_t seen = {0};
    seen.out = calloc ((size_t)self->records, 1);
    seen.dlq = calloc ((size_t)self->records, 1);
    rd_kafka_t *rk = seen.out && seen.dlq ? demo_consumer_new (self) : NULL;
    int rc = -1;
    if (!rk)
        goto free_counts;
    sl_info ("reading back topics=%s,%s", DEMO_TOPIC_OUT, DEMO_TOPIC_DLQ);
    if (demo_assign_all (rk, &seen) == 0 &&
        demo_consume_all (self, rk, &seen, tally) == 0) {
        s_tally_ids (&seen, self->records, tally);
        rc = 0;
    }
    rd_kafka_consumer_close (rk);
    rd_kafka_destroy (rk);
free_counts:
    free (seen.out);
    free (seen.dlq);
    return rc;
}

//  Print the summary table on stdout.
static void
demo_report (const demo_t *self, const demo_tally_t *tally, bool ok)
{
    char how[64];
    double rate = tally->drain_s > 0 ? (double)tally->in / tally->drain_s : 0;
    printf ("\nsluice demo: %s\n", ok ? "PASS" : "FAIL");
    printf ("  records in         %10lld  (%lld invalid JSON)\n",
            (long long)tally->in, (long long)tally->invalid);
    printf ("  processed (out)    %10lld\n", (long long)tally->out);
    printf ("  dead-lettered      %10lld\n", (long long)tally->dlq);
    printf ("  lost               %10lld\n", (long long)tally->lost);
    printf ("  duplicates         %10lld\n", (long long)tally->duplicates);
    if (tally->misrouted || tally->foreign)
        printf ("  misrouted/foreign  %10lld / %lld\n",
                (long long)tally->misrouted, (long long)tally->foreign);
    printf ("  scheduler          %10s\n",
            s_status_str (tally->sched_status, how, sizeof how));
    printf ("  wall time          %10.2f s  (drain; producing took %.2f s)\n",
            tally->drain_s, tally->produce_s);
    printf ("  throughput         %10.0f records/s with %lld workers\n", rate,
            (long long)self->workers);
    printf ("  logs               %s\n", self->logdir);
    fflush (stdout);
}

//  Run the demo's steps in order; returns the exit code.
static int
demo_run (demo_t *self)
{
    demo_tally_t tally = {.sched_status = -1};
    if (demo_start_kafka (self) || demo_produce (self, &tally) ||
        demo_pick_endpoint (self))
        return 1;
    int64_t started = sl_now_ms ();
    if (demo_start_fleet (self) || demo_wait_drain (self))
        return 1;
    tally.drain_s = (double)(sl_now_ms () - started) / 1000.0;
    tally.sched_status = self->scheduler->status;
    sl_info ("drain finished seconds=%.2f; stopping workers", tally.drain_s);
    demo_stop (self, "worker", DEMO_STOP_GRACE_MS);
    if (self->stop_signal || demo_verify (self, &tally))
        return 1;
    bool ok = tally.lost == 0 && tally.sched_status == 0;
    demo_report (self, &tally, ok);
    return ok ? 0 : 1;
}

//  Parse the demo's flags. Returns 0, 1 for --help (done), or 2 (bad).
static int
demo_parse (demo_t *self, int argc, char **argv)
{
    sl_flag_t flags[] = {
        {"records", 0, SL_FLAG_INT, &self->records, "100000", 1,
         DEMO_MAX_RECORDS, false, "N", "records to produce and drain",
         "SLUICE_DEMO_RECORDS"},
        {"workers", 0, SL_FLAG_INT, &self->workers, "4", 1, DEMO_MAX_WORKERS,
         false, "N", "sluice-worker processes to start", "SLUICE_DEMO_WORKERS"},
        {"timeout", 0, SL_FLAG_INT, &self->timeout_s, "600", 5, 86400, false,
         "SECONDS", "give up if the drain takes longer", "SLUICE_DEMO_TIMEOUT"},
    };
    size_t nflags = sizeof flags / sizeof flags[0];
    char err[512];
    int rc =
        sl_flags_parse (DEMO_PROG, flags, nflags, argc, argv, err, sizeof err);
    if (rc == 1)
        sl_flags_usage (DEMO_PROG,
                        "Start the embedded broker, produce JSON records "
                        "(3% invalid), drain them with\none scheduler and "
                        "N workers running the jsonvalid plugin, and check "
                        "that no\nrecord was lost. Exits 0 only if none was.",
                        flags, nflags, stdout);
    else if (rc != 0)
        fprintf (stderr, "%s\n", err);
    sl_flags_free (flags, nflags);
    return rc == 0 ? 0 : rc == 1 ? 1 : 2;
}

//  sluice demo [--records N] [--workers N] [--timeout SECONDS]
int
sluice_cmd_demo (int argc, char **argv)
{
    demo_t *self = calloc (1, sizeof *self);
    if (!self)
        return 1;
    int rc = demo_parse (self, argc, argv);
    if (rc != 0) {
        free (self);
        return rc == 1 ? 0 : 2;
    }
    sl_log_set_proc ("demo");
    snprintf (self->logdir, sizeof self->logdir, "%s/sluice-demo.XXXXXX",
              getenv ("TMPDIR") ? getenv ("TMPDIR") : "/tmp");
    if (demo_locate (self) != 0) {
        free (self);
        return 1;
    }
    if (!mkdtemp (self->logdir)) {
        sl_error ("cannot make a log directory path=%s error=\"%s\"",
                  self->logdir, strerror (errno));
        free (self);
        return 1;
    }
    //  Blocked before any thread exists, so librdkafka's threads inherit
    //  the mask and signals reach us only through sigtimedwait. An ignored
    //  signal is discarded even while blocked: restore the defaults.
    signal (SIGINT, SIG_DFL);
    signal (SIGTERM, SIG_DFL);
    signal (SIGHUP, SIG_DFL);
    sigemptyset (&self->sigs);
    sigaddset (&self->sigs, SIGCHLD);
    sigaddset (&self->sigs, SIGINT);
    sigaddset (&self->sigs, SIGTERM);
    sigaddset (&self->sigs, SIGHUP);
    sigprocmask (SIG_BLOCK, &self->sigs, &self->oldmask);
    rc = demo_run (self);
    demo_stop_all (self, rc == 0 ? DEMO_STOP_GRACE_MS : DEMO_ABORT_MS);
    if (rc != 0)
        sl_error ("demo failed; logs are in %s", self->logdir);
    if (self->stop_signal)
        rc = 128 + self->stop_signal;
    sigprocmask (SIG_SETMASK, &self->oldmask, NULL);
    free (self);
    return rc;
}
