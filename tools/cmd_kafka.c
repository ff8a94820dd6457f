/*  sluice kafka - an embedded Kafka cluster for tests and demos.

    librdkafka's mock cluster speaks the real Kafka wire protocol over
    loopback TCP and keeps everything in memory (about 5 MB per partition).
    It needs an rd_kafka_t for its book-keeping, so we make a producer that
    never produces. The bootstrap list is the first line on stdout, flushed
    at once, so a parent can read it and connect; log lines go to stderr.

    The mock broker does not implement CreateTopics, so topics are created
    here, up front, with --topic NAME:PARTITIONS. Topics a client asks for
    by name are still auto-created with the mock's defaults.
*/
#include "sluice_cmds.h"
#include "sl_flags.h"
#include "sl_log.h"

#include <errno.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#define KAFKA_PROG           "sluice kafka"
#define KAFKA_MAX_BROKERS    32
#define KAFKA_MAX_PARTITIONS 10000
/*  Kafka's own limit on topic names.                                     */
#define KAFKA_MAX_TOPIC_NAME 249

typedef struct {
    char name[KAFKA_MAX_TOPIC_NAME + 1];
    int partitions;
} s_topic_spec_t;

//  True if `name` is a legal Kafka topic name: 1..249 characters from
//  [A-Za-z0-9._-], and neither "." nor "..".
static bool
s_topic_name_ok (const char *name, size_t len)
{
    if (len == 0 || len > KAFKA_MAX_TOPIC_NAME)
        return false;
    if ((len == 1 && name[0] == '.') ||
        (len == 2 && name[0] == '.' && name[1] == '.'))
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                  (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
        if (!ok)
            return false;
    }
    return true;
}

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
    if (!s_topic_name_ok (text, len)) {
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

//  Serve until a signal in `stop` arrives; returns its number, or -1 if
//  waiting failed. The signals must already be blocked.
//
//  This is where a control channel for fault injection (issue 4) plugs
//  in: add its descriptor to `fds` and apply each command to mcluster
//  (rd_kafka_mock_broker_set_down, rd_kafka_mock_push_request_errors ...).
static int
s_kafka_serve (rd_kafka_mock_cluster_t *mcluster, const sigset_t *stop)
{
    (void)mcluster;
    int sfd = signalfd (-1, stop, SFD_CLOEXEC);
    if (sfd < 0) {
        sl_error ("signalfd failed error=\"%s\"", strerror (errno));
        return -1;
    }
    struct pollfd fds[] = {{.fd = sfd, .events = POLLIN}};
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
    int signo = s_kafka_serve (mcluster, stop);
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
                        "first line on stdout; runs until SIGTERM or SIGINT.",
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
