/*  sluice kafka - an embedded Kafka cluster for tests and demos.

    librdkafka's mock cluster speaks the real Kafka wire protocol over
    loopback TCP and keeps everything in memory (about 5 MB per partition).
    It needs an rd_kafka_t for its book-keeping, so we make a producer that
    never produces. The bootstrap list is the first line on stdout, flushed
    at once, so a parent can read it and connect; log lines go to stderr.

    The mock broker does not implement CreateTopics, so topics are created
    here, up front, with --topic NAME:PARTITIONS. Topics a client asks for
    by name are still auto-created with the mock's defaults.

    Faults are injected while it runs through a control channel on stdin:
    one command per line, one reply per line on stdout ("ok ..." or
    "error: ..."), after the bootstrap line. `help` lists the commands;
    they map one to one onto librdkafka's mock API (rdkafka_mock.h):

        broker down ID|all            rd_kafka_mock_broker_set_down
        broker up ID|all              rd_kafka_mock_broker_set_up
        rtt ID|all MS                 rd_kafka_mock_broker_set_rtt
        errors API COUNT ERROR [ERROR...]
                                      rd_kafka_mock_push_request_errors_array
        broker-errors ID API COUNT ERROR [RTT_MS]
                                      rd_kafka_mock_broker_push_request_error_rtts
        clear-errors API              rd_kafka_mock_clear_request_errors
        leader TOPIC PARTITION ID     rd_kafka_mock_partition_set_leader
        coordinator group|transaction KEY ID
                                      rd_kafka_mock_coordinator_set

    API is a Kafka request name (Fetch, Produce, ListOffsets, OffsetCommit,
    ...) or its number; ERROR is a librdkafka error name without the
    RD_KAFKA_RESP_ERR_ prefix (REQUEST_TIMED_OUT, NOT_COORDINATOR,
    _TRANSPORT ...) or its number. End of input on stdin only stops the
    control channel; the cluster runs until SIGTERM or SIGINT.
*/
#include "sluice_cmds.h"
#include "sl_flags.h"
#include "sl_kafka.h"
#include "sl_log.h"

#include <ctype.h>
#include <errno.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/signalfd.h>
#include <unistd.h>

#define KAFKA_PROG           "sluice kafka"
#define KAFKA_MAX_BROKERS    32
#define KAFKA_MAX_PARTITIONS 10000
#define KAFKA_MAX_TOPIC_NAME SL_KAFKA_MAX_TOPIC_NAME
/*  Longest control command line; longer lines are refused whole.         */
#define KAFKA_CTL_LINE_MAX 1024
#define KAFKA_CTL_MAX_ARGS 16
#define KAFKA_CTL_MAX_ERRS 1000

typedef struct {
    char name[KAFKA_MAX_TOPIC_NAME + 1];
    int partitions;
} s_topic_spec_t;

//  Parse "NAME:PARTITIONS" into spec. Returns 0, or -1 with one line in
//  err that says what is wrong and how to fix it.
static int
s_topic_spec_parse (const char *text, s_topic_spec_t *spec, char *err,
                    size_t errlen)
{
    const char *colon = strrchr (text, ':');
    if (!colon || colon == text || !colon[1]) {
        snprintf (err, errlen,
                  "%s: --topic '%s' is not NAME:PARTITIONS; write it as "
                  "e.g. --topic orders:8",
                  KAFKA_PROG, text);
        return -1;
    }
    size_t len = (size_t)(colon - text);
    if (!sl_kafka_topic_name_ok (text, len)) {
        snprintf (err, errlen,
                  "%s: --topic '%s': a topic name is 1 to %d characters "
                  "from A-Z a-z 0-9 . _ -; e.g. --topic orders:8",
                  KAFKA_PROG, text, KAFKA_MAX_TOPIC_NAME);
        return -1;
    }
    char *end;
    errno = 0;
    long n = strtol (colon + 1, &end, 10);
    if (errno || *end || colon[1] == '-' || colon[1] == '+' || n < 1 ||
        n > KAFKA_MAX_PARTITIONS) {
        snprintf (err, errlen,
                  "%s: --topic '%s': PARTITIONS must be a whole number from "
                  "1 to %d; e.g. --topic %.*s:8",
                  KAFKA_PROG, text, KAFKA_MAX_PARTITIONS, (int)len, text);
        return -1;
    }
    memcpy (spec->name, text, len);
    spec->name[len] = 0;
    spec->partitions = (int)n;
    return 0;
}

//  Parse every --topic into a new array of specs (*specs_p, to free).
//  Returns 0, or -1 with one line in err. A topic named twice is refused.
static int
s_topic_specs_parse (const sl_strlist_t *topics, s_topic_spec_t **specs_p,
                     char *err, size_t errlen)
{
    s_topic_spec_t *specs = calloc (topics->count + 1, sizeof *specs);
    if (!specs) {
        snprintf (err, errlen, "%s: out of memory", KAFKA_PROG);
        return -1;
    }
    for (size_t i = 0; i < topics->count; i++) {
        if (s_topic_spec_parse (topics->items[i], &specs[i], err, errlen))
            goto fail;
        for (size_t j = 0; j < i; j++)
            if (strcmp (specs[j].name, specs[i].name) == 0) {
                snprintf (err, errlen,
                          "%s: topic '%s' is given twice; pass each "
                          "--topic NAME:PARTITIONS once",
                          KAFKA_PROG, specs[i].name);
                goto fail;
            }
    }
    *specs_p = specs;
    return 0;
fail:
    free (specs);
    return -1;
}

//  Route librdkafka's log lines through sl_log, tagged "rdkafka".
static void
s_rdkafka_log (const rd_kafka_t *rk, int level, const char *fac,
               const char *buf)
{
    (void)rk;
    int ours = level <= 3   ? SL_LOG_ERROR
               : level == 4 ? SL_LOG_WARN
               : level <= 6 ? SL_LOG_INFO
                            : SL_LOG_DEBUG;
    sl_log (ours, "rdkafka %s fac=%s", buf, fac);
}

//  Make the handle the mock cluster lives on: a producer that never
//  produces. Returns NULL with a reason in err.
static rd_kafka_t *
s_host_handle_new (char *err, size_t errlen)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new ();
    rd_kafka_conf_set_log_cb (conf, s_rdkafka_log);
    //  Warnings and errors only: the handle has no bootstrap.servers on
    //  purpose, and librdkafka would say so at notice level.
    if (rd_kafka_conf_set (conf, "client.id", "sluice-kafka", err, errlen) !=
            RD_KAFKA_CONF_OK ||
        rd_kafka_conf_set (conf, "log_level", "4", err, errlen) !=
            RD_KAFKA_CONF_OK) {
        rd_kafka_conf_destroy (conf);
        return NULL;
    }
    rd_kafka_t *rk = rd_kafka_new (RD_KAFKA_PRODUCER, conf, err, errlen);
    if (!rk)
        rd_kafka_conf_destroy (conf);
    return rk;
}

//  Create the requested topics. The replication factor is that of a
//  small real cluster (up to 3) so partition leaders spread over brokers.
//  Returns 0, or -1 after logging which topic failed.
static int
s_topics_create (rd_kafka_mock_cluster_t *mcluster, const s_topic_spec_t *specs,
                 size_t count, int brokers)
{
    int replicas = brokers < 3 ? brokers : 3;
    for (size_t i = 0; i < count; i++) {
        rd_kafka_resp_err_t rc = rd_kafka_mock_topic_create (
            mcluster, specs[i].name, specs[i].partitions, replicas);
        if (rc) {
            sl_error ("cannot create topic topic=%s partitions=%d error=%s",
                      specs[i].name, specs[i].partitions,
                      rd_kafka_err2str (rc));
            return -1;
        }
        sl_info ("topic created topic=%s partitions=%d", specs[i].name,
                 specs[i].partitions);
    }
    return 0;
}

//  ---------------------------------------------------------------------
//  Control channel: fault injection on a running cluster.

//  Kafka request names, by API key (the protocol's own names).
static const struct {
    const char *name;
    int16_t key;
} s_apis[] = {
    {"Produce", 0},          {"Fetch", 1},
    {"ListOffsets", 2},      {"Metadata", 3},
    {"OffsetCommit", 8},     {"OffsetFetch", 9},
    {"FindCoordinator", 10}, {"JoinGroup", 11},
    {"Heartbeat", 12},       {"LeaveGroup", 13},
    {"SyncGroup", 14},       {"DescribeGroups", 15},
    {"ListGroups", 16},      {"ApiVersions", 18},
    {"InitProducerId", 22},  {"AddPartitionsToTxn", 24},
    {"AddOffsetsToTxn", 25}, {"EndTxn", 26},
    {"TxnOffsetCommit", 28}, {"OffsetForLeaderEpoch", 23},
};

//  A whole decimal number in [lo, hi] from text into *out; false if not.
static bool
s_number (const char *text, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long n = strtol (text, &end, 10);
    if (errno || end == text || *end || n < lo || n > hi)
        return false;
    *out = n;
    return true;
}

static bool
s_api_parse (const char *text, int16_t *key)
{
    for (size_t i = 0; i < sizeof s_apis / sizeof s_apis[0]; i++)
        if (strcasecmp (text, s_apis[i].name) == 0) {
            *key = s_apis[i].key;
            return true;
        }
    long n;
    if (!s_number (text, 0, 1000, &n))
        return false;
    *key = (int16_t)n;
    return true;
}

//  An error by librdkafka name (REQUEST_TIMED_OUT, _TRANSPORT; the
//  RD_KAFKA_RESP_ERR_ prefix may be given) or number.
static bool
s_err_parse (const char *text, rd_kafka_resp_err_t *err)
{
    const char *name = text;
    if (strncasecmp (name, "RD_KAFKA_RESP_ERR_", 18) == 0)
        name += 18;
    const struct rd_kafka_err_desc *descs;
    size_t count;
    rd_kafka_get_err_descs (&descs, &count);
    for (size_t i = 0; i < count; i++)
        if (descs[i].name && strcasecmp (descs[i].name, name) == 0) {
            *err = descs[i].code;
            return true;
        }
    long n;
    if (!s_number (text, -200, 1000, &n) || n == 0)
        return false;
    *err = (rd_kafka_resp_err_t)n;
    return true;
}

//  A broker id in 1..brokers, or "all" as -1.
static bool
s_broker_parse (const char *text, int brokers, int32_t *id)
{
    if (strcmp (text, "all") == 0) {
        *id = -1;
        return true;
    }
    long n;
    if (!s_number (text, 1, brokers, &n))
        return false;
    *id = (int32_t)n;
    return true;
}

static const char s_ctl_help[] =
    "commands: broker down|up ID|all; rtt ID|all MS; "
    "errors API COUNT ERROR [ERROR...]; "
    "broker-errors ID API COUNT ERROR [RTT_MS]; errors-left ID API; "
    "clear-errors API; "
    "leader TOPIC PARTITION ID; coordinator group|transaction KEY ID; help";

typedef struct {
    rd_kafka_mock_cluster_t *mcluster;
    int brokers;
    char line[KAFKA_CTL_LINE_MAX];
    size_t used;
    bool overlong; //  discarding the rest of a too-long line
} s_ctl_t;

//  Write one reply line on stdout and flush it.
static void
s_ctl_reply (const char *fmt, ...)
{
    va_list ap;
    va_start (ap, fmt);
    vprintf (fmt, ap);
    va_end (ap);
    putchar ('\n');
    fflush (stdout);
}

//  Apply fn to one broker or to every broker; returns the first error.
static rd_kafka_resp_err_t
s_ctl_each_broker (s_ctl_t *ctl, int32_t id,
                   rd_kafka_resp_err_t (*fn) (rd_kafka_mock_cluster_t *,
                                              int32_t, int),
                   int arg)
{
    int32_t lo = id < 0 ? 1 : id, hi = id < 0 ? ctl->brokers : id;
    for (int32_t b = lo; b <= hi; b++) {
        rd_kafka_resp_err_t rc = fn (ctl->mcluster, b, arg);
        if (rc)
            return rc;
    }
    return RD_KAFKA_RESP_ERR_NO_ERROR;
}

static rd_kafka_resp_err_t
s_broker_down (rd_kafka_mock_cluster_t *mc, int32_t id, int unused)
{
    (void)unused;
    return rd_kafka_mock_broker_set_down (mc, id);
}

static rd_kafka_resp_err_t
s_broker_up (rd_kafka_mock_cluster_t *mc, int32_t id, int unused)
{
    (void)unused;
    return rd_kafka_mock_broker_set_up (mc, id);
}

static rd_kafka_resp_err_t
s_broker_rtt (rd_kafka_mock_cluster_t *mc, int32_t id, int rtt_ms)
{
    return rd_kafka_mock_broker_set_rtt (mc, id, rtt_ms);
}

//  Run one command (argv[0..argc-1]); replies with exactly one line.
static void
s_ctl_command (s_ctl_t *ctl, int argc, char **argv)
{
    const char *cmd = argv[0];
    rd_kafka_resp_err_t rc = RD_KAFKA_RESP_ERR_NO_ERROR;
    int32_t id;
    long n, count;
    int16_t api;
    rd_kafka_resp_err_t err;

    if (strcmp (cmd, "help") == 0) {
        s_ctl_reply ("ok %s", s_ctl_help);
        return;
    }
    if (strcmp (cmd, "broker") == 0 && argc == 3 &&
        (strcmp (argv[1], "down") == 0 || strcmp (argv[1], "up") == 0)) {
        if (!s_broker_parse (argv[2], ctl->brokers, &id))
            goto bad_broker;
        bool down = argv[1][0] == 'd';
        rc = s_ctl_each_broker (ctl, id, down ? s_broker_down : s_broker_up, 0);
        if (!rc)
            sl_warn ("fault injected: broker %s broker=%s", argv[1], argv[2]);
    } else if (strcmp (cmd, "rtt") == 0 && argc == 3) {
        if (!s_broker_parse (argv[1], ctl->brokers, &id))
            goto bad_broker;
        if (!s_number (argv[2], 0, 3600 * 1000, &n)) {
            s_ctl_reply ("error: rtt: MS '%s' is not 0..3600000", argv[2]);
            return;
        }
        rc = s_ctl_each_broker (ctl, id, s_broker_rtt, (int)n);
        if (!rc)
            sl_warn ("fault injected: rtt broker=%s rtt_ms=%ld", argv[1], n);
    } else if (strcmp (cmd, "errors") == 0 && argc >= 4) {
        if (!s_api_parse (argv[1], &api))
            goto bad_api;
        if (!s_number (argv[2], 1, KAFKA_CTL_MAX_ERRS, &count)) {
            s_ctl_reply ("error: errors: COUNT '%s' is not 1..%d", argv[2],
                         KAFKA_CTL_MAX_ERRS);
            return;
        }
        //  COUNT errors, cycling through the ERRORs given.
        rd_kafka_resp_err_t errs[KAFKA_CTL_MAX_ERRS];
        int nerrs = argc - 3;
        for (int i = 0; i < nerrs; i++)
            if (!s_err_parse (argv[3 + i], &errs[i])) {
                s_ctl_reply ("error: unknown error '%s'; use a librdkafka "
                             "error name such as REQUEST_TIMED_OUT",
                             argv[3 + i]);
                return;
            }
        for (long i = nerrs; i < count; i++)
            errs[i] = errs[i % nerrs];
        rd_kafka_mock_push_request_errors_array (ctl->mcluster, api,
                                                 (size_t)count, errs);
        sl_warn ("fault injected: errors api=%s count=%ld first=%s", argv[1],
                 count, rd_kafka_err2name (errs[0]));
    } else if (strcmp (cmd, "broker-errors") == 0 && (argc == 5 || argc == 6)) {
        if (!s_broker_parse (argv[1], ctl->brokers, &id) || id < 0)
            goto bad_broker;
        if (!s_api_parse (argv[2], &api))
            goto bad_api;
        if (!s_number (argv[3], 1, KAFKA_CTL_MAX_ERRS, &count)) {
            s_ctl_reply ("error: broker-errors: COUNT '%s' is not 1..%d",
                         argv[3], KAFKA_CTL_MAX_ERRS);
            return;
        }
        if (!s_err_parse (argv[4], &err)) {
            s_ctl_reply ("error: unknown error '%s'; use a librdkafka error "
                         "name such as REQUEST_TIMED_OUT",
                         argv[4]);
            return;
        }
        long rtt = 0;
        if (argc == 6 && !s_number (argv[5], 0, 3600 * 1000, &rtt)) {
            s_ctl_reply ("error: broker-errors: RTT_MS '%s' is not "
                         "0..3600000",
                         argv[5]);
            return;
        }
        for (long i = 0; i < count && !rc; i++)
            rc = rd_kafka_mock_broker_push_request_error_rtts (
                ctl->mcluster, id, api, 1, err, (int)rtt);
        if (!rc)
            sl_warn ("fault injected: broker-errors broker=%d api=%s "
                     "count=%ld error=%s rtt_ms=%ld",
                     (int)id, argv[2], count, rd_kafka_err2name (err), rtt);
    } else if (strcmp (cmd, "errors-left") == 0 && argc == 3) {
        //  How many of a broker's pushed errors are still to be returned:
        //  lets a test check that its fault was actually met.
        if (!s_broker_parse (argv[1], ctl->brokers, &id) || id < 0)
            goto bad_broker;
        if (!s_api_parse (argv[2], &api))
            goto bad_api;
        size_t left = 0;
        rc = rd_kafka_mock_broker_error_stack_cnt (ctl->mcluster, id, api,
                                                   &left);
        if (!rc) {
            s_ctl_reply ("ok %zu", left);
            return;
        }
    } else if (strcmp (cmd, "clear-errors") == 0 && argc == 2) {
        if (!s_api_parse (argv[1], &api))
            goto bad_api;
        rd_kafka_mock_clear_request_errors (ctl->mcluster, api);
    } else if (strcmp (cmd, "leader") == 0 && argc == 4) {
        if (!s_number (argv[2], 0, KAFKA_MAX_PARTITIONS - 1, &n)) {
            s_ctl_reply ("error: leader: PARTITION '%s' is not a partition "
                         "number",
                         argv[2]);
            return;
        }
        if (!s_broker_parse (argv[3], ctl->brokers, &id) || id < 0)
            goto bad_broker;
        rc = rd_kafka_mock_partition_set_leader (ctl->mcluster, argv[1],
                                                 (int32_t)n, id);
        if (!rc)
            sl_warn ("fault injected: leader topic=%s partition=%ld "
                     "broker=%d",
                     argv[1], n, (int)id);
    } else if (strcmp (cmd, "coordinator") == 0 && argc == 4 &&
               (strcmp (argv[1], "group") == 0 ||
                strcmp (argv[1], "transaction") == 0)) {
        if (!s_broker_parse (argv[3], ctl->brokers, &id) || id < 0)
            goto bad_broker;
        rc =
            rd_kafka_mock_coordinator_set (ctl->mcluster, argv[1], argv[2], id);
        if (!rc)
            sl_warn ("fault injected: coordinator type=%s key=%s broker=%d",
                     argv[1], argv[2], (int)id);
    } else {
        s_ctl_reply ("error: unknown command '%s' or wrong arguments; %s", cmd,
                     s_ctl_help);
        return;
    }
    if (rc)
        s_ctl_reply ("error: %s: %s", cmd, rd_kafka_err2str (rc));
    else
        s_ctl_reply ("ok");
    return;
bad_broker:
    s_ctl_reply ("error: %s: broker must be 1..%d%s", cmd, ctl->brokers,
                 strcmp (cmd, "broker") == 0 || strcmp (cmd, "rtt") == 0
                     ? " or all"
                     : "");
    return;
bad_api:
    s_ctl_reply ("error: %s: unknown API; use a Kafka request name such as "
                 "Fetch, Produce, ListOffsets, OffsetCommit, or its number",
                 cmd);
}

//  Split one line into words and run it. Blank lines and lines starting
//  with '#' are ignored (no reply).
static void
s_ctl_line (s_ctl_t *ctl, char *line)
{
    char *argv[KAFKA_CTL_MAX_ARGS];
    int argc = 0;
    char *save = NULL;
    for (char *w = strtok_r (line, " \t\r", &save); w;
         w = strtok_r (NULL, " \t\r", &save)) {
        if (argc == KAFKA_CTL_MAX_ARGS) {
            s_ctl_reply ("error: more than %d words in one command",
                         KAFKA_CTL_MAX_ARGS);
            return;
        }
        argv[argc++] = w;
    }
    if (argc == 0 || argv[0][0] == '#')
        return;
    s_ctl_command (ctl, argc, argv);
}

//  Read what is ready on stdin and run every complete line. Returns false
//  at end of input or on a read error (the channel is then closed).
static bool
s_ctl_read (s_ctl_t *ctl, int fd)
{
    ssize_t n =
        read (fd, ctl->line + ctl->used, sizeof ctl->line - ctl->used - 1);
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return true;
    if (n <= 0) {
        if (n < 0)
            sl_warn ("control channel closed error=\"%s\"", strerror (errno));
        return false;
    }
    ctl->used += (size_t)n;
    ctl->line[ctl->used] = 0;
    char *start = ctl->line, *nl;
    while (
        (nl = memchr (start, '\n', ctl->used - (size_t)(start - ctl->line)))) {
        *nl = 0;
        if (ctl->overlong)
            ctl->overlong = false; //  the tail of a refused line
        else
            s_ctl_line (ctl, start);
        start = nl + 1;
    }
    size_t left = ctl->used - (size_t)(start - ctl->line);
    memmove (ctl->line, start, left);
    ctl->used = left;
    if (ctl->used == sizeof ctl->line - 1) {
        if (!ctl->overlong)
            s_ctl_reply ("error: command longer than %d bytes",
                         KAFKA_CTL_LINE_MAX - 2);
        ctl->overlong = true;
        ctl->used = 0;
    }
    return true;
}

//  Serve until a signal in `stop` arrives; returns its number, or -1 if
//  waiting failed. The signals must already be blocked. Control commands
//  are read from stdin until it ends.
static int
s_kafka_serve (rd_kafka_mock_cluster_t *mcluster, int brokers,
               const sigset_t *stop)
{
    static s_ctl_t ctl;
    ctl.mcluster = mcluster;
    ctl.brokers = brokers;
    int sfd = signalfd (-1, stop, SFD_CLOEXEC);
    if (sfd < 0) {
        sl_error ("signalfd failed error=\"%s\"", strerror (errno));
        return -1;
    }
    struct pollfd fds[] = {{.fd = sfd, .events = POLLIN},
                           {.fd = STDIN_FILENO, .events = POLLIN}};
    int signo = -1;
    while (signo < 0) {
        if (poll (fds, sizeof fds / sizeof fds[0], -1) < 0) {
            if (errno == EINTR)
                continue;
            sl_error ("poll failed error=\"%s\"", strerror (errno));
            break;
        }
        struct signalfd_siginfo info;
        if (fds[0].revents & POLLIN &&
            read (sfd, &info, sizeof info) == (ssize_t)sizeof info)
            signo = (int)info.ssi_signo;
        if (fds[1].revents & (POLLIN | POLLHUP | POLLERR) &&
            !s_ctl_read (&ctl, fds[1].fd))
            fds[1].fd = -1; //  poll ignores a negative descriptor
        if (fds[1].revents & POLLNVAL)
            fds[1].fd = -1;
    }
    close (sfd);
    return signo;
}

//  Print the bootstrap list as the first line on stdout. Returns 0 or -1.
static int
s_announce (const char *bootstraps)
{
    if (printf ("%s\n", bootstraps) < 0 || fflush (stdout) != 0) {
        sl_error ("cannot write the bootstrap list to stdout error=\"%s\"",
                  strerror (errno));
        return -1;
    }
    return 0;
}

//  Run the cluster: create it, its topics, announce, serve, tear down.
//  `stop` holds the signals that end it, already blocked. Returns the exit
//  code.
static int
s_kafka_run (int brokers, const s_topic_spec_t *specs, size_t count,
             const sigset_t *stop)
{
    char err[512];
    int rc = 1;
    rd_kafka_t *rk = s_host_handle_new (err, sizeof err);
    if (!rk) {
        sl_error ("cannot create the host handle error=\"%s\"", err);
        return 1;
    }
    rd_kafka_mock_cluster_t *mcluster = rd_kafka_mock_cluster_new (rk, brokers);
    if (!mcluster) {
        sl_error ("cannot create the mock cluster brokers=%d", brokers);
        goto destroy_handle;
    }
    if (s_topics_create (mcluster, specs, count, brokers) != 0)
        goto destroy_cluster;
    const char *bootstraps = rd_kafka_mock_cluster_bootstraps (mcluster);
    if (s_announce (bootstraps) != 0)
        goto destroy_cluster;
    sl_info ("embedded kafka ready bootstrap=%s brokers=%d topics=%zu",
             bootstraps, brokers, count);
    int signo = s_kafka_serve (mcluster, brokers, stop);
    if (signo > 0) {
        sl_info ("embedded kafka stopping signal=%s", strsignal (signo));
        rc = 0;
    }
destroy_cluster:
    if (mcluster)
        rd_kafka_mock_cluster_destroy (mcluster);
destroy_handle:
    rd_kafka_destroy (rk);
    return rc;
}

//  sluice kafka [--brokers N] [--topic NAME:PARTITIONS]...
int
sluice_cmd_kafka (int argc, char **argv)
{
    int64_t brokers = 0;
    sl_strlist_t topics = {0};
    sl_flag_t flags[] = {
        {"brokers", 0, SL_FLAG_INT, &brokers, "1", 1, KAFKA_MAX_BROKERS, false,
         "N", "number of brokers in the cluster", "SLUICE_KAFKA_BROKERS"},
        {"topic", 0, SL_FLAG_LIST, &topics, NULL, 0, 0, false,
         "NAME:PARTITIONS", "create a topic (repeatable)",
         "SLUICE_KAFKA_TOPICS"},
    };
    size_t nflags = sizeof flags / sizeof flags[0];
    char err[512];
    int rc =
        sl_flags_parse (KAFKA_PROG, flags, nflags, argc, argv, err, sizeof err);
    if (rc == 1) {
        sl_flags_usage (KAFKA_PROG,
                        "Run an in-memory Kafka cluster (librdkafka's mock) "
                        "on loopback. Prints the\nbootstrap list as the "
                        "first line on stdout; runs until SIGTERM or SIGINT.\n"
                        "Injects faults on commands read from stdin, one "
                        "per line (`help` lists them).",
                        flags, nflags, stdout);
        sl_flags_free (flags, nflags);
        return 0;
    }
    s_topic_spec_t *specs = NULL;
    if (rc != 0 || s_topic_specs_parse (&topics, &specs, err, sizeof err)) {
        fprintf (stderr, "%s\n", err);
        sl_flags_free (flags, nflags);
        return 2;
    }
    sl_log_set_proc ("kafka");
    //  Block the stop signals before librdkafka starts its threads, so
    //  they inherit the mask and only our signalfd sees the signals. An
    //  ignored signal is discarded even while blocked, and a background
    //  job inherits SIGINT ignored: restore the default first.
    sigset_t stop;
    sigemptyset (&stop);
    sigaddset (&stop, SIGTERM);
    sigaddset (&stop, SIGINT);
    signal (SIGTERM, SIG_DFL);
    signal (SIGINT, SIG_DFL);
    pthread_sigmask (SIG_BLOCK, &stop, NULL);
    signal (SIGPIPE, SIG_IGN);
    rc = s_kafka_run ((int)brokers, specs, topics.count, &stop);
    free (specs);
    sl_flags_free (flags, nflags);
    return rc;
}
