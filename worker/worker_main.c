/*  sluice-worker: parse flags, run the worker, exit with its code.
    Exit codes: 0 stopped cleanly, 1 runtime failure, 2 bad flags, bad
    configuration or a plugin that cannot be loaded.                      */
#include <czmq.h>
#include <pthread.h>
#include <signal.h>
#include "sl_flags.h"
#include "sl_kafka.h"
#include "sl_log.h"
#include "worker.h"
#include "wrk_super.h"

#define PROG "sluice-worker"

//  A plugin is code: load it only from an absolute path or from an
//  absolute --plugin-dir, never from wherever the process happens to run.
//  A name without a slash is looked up in the plugin directory (".so" is
//  added if missing). Replaces *plugin with the path to load; returns 0,
//  or -1 with one line in err.
static int
s_plugin_path (char **plugin, const char *dir, char *err, size_t errlen)
{
    const char *name = *plugin;
    if (strchr (name, '/')) {
        if (name[0] == '/')
            return 0;
        snprintf (err, errlen,
                  PROG ": --plugin %s: give an absolute path (a plugin is "
                       "code, it is not looked up relative to the working "
                       "directory), or a name with --plugin-dir DIR",
                  name);
        return -1;
    }
    if (!dir || !*dir) {
        snprintf (err, errlen,
                  PROG ": --plugin %s is a name: say where to find it with "
                       "--plugin-dir DIR, or give an absolute path",
                  name);
        return -1;
    }
    if (dir[0] != '/') {
        snprintf (err, errlen,
                  PROG ": --plugin-dir %s: give an absolute directory", dir);
        return -1;
    }
    size_t n = strlen (name);
    bool has_so = n > 3 && strcmp (name + n - 3, ".so") == 0;
    char *path = NULL;
    if (asprintf (&path, "%s%s%s%s", dir,
                  dir[strlen (dir) - 1] == '/' ? "" : "/", name,
                  has_so ? "" : ".so") < 0) {
        snprintf (err, errlen, PROG ": out of memory");
        return -1;
    }
    free (*plugin);
    *plugin = path;
    return 0;
}

//  The worker itself: under the supervising parent, its child.
static int
s_run (void *arg)
{
    const wrk_config_t *cfg = arg;
    char err[768];
    //  Block SIGTERM and SIGINT before any thread starts (ZeroMQ's,
    //  librdkafka's, the executor), so every thread inherits the mask and
    //  only worker_run's signalfd sees them. An ignored signal is dropped
    //  even while blocked, and a background job inherits SIGINT ignored:
    //  restore the default first.
    sigset_t stop;
    sigemptyset (&stop);
    sigaddset (&stop, SIGTERM);
    sigaddset (&stop, SIGINT);
    signal (SIGTERM, SIG_DFL);
    signal (SIGINT, SIG_DFL);
    pthread_sigmask (SIG_BLOCK, &stop, NULL);
    zsys_init ();
    zsys_set_logstream (NULL);
    zsys_handler_set (NULL);
    worker_t *worker = worker_new (cfg, err, sizeof err);
    if (!worker) {
        fprintf (stderr, PROG ": %s\n", err);
        return 2;
    }
    int rc = worker_run (worker);
    worker_destroy (&worker);
    return rc;
}

int
main (int argc, char **argv)
{
    wrk_config_t cfg = {0};
    char *log_format = NULL, *log_level = NULL, *plugin_dir = NULL;
    char *supervise = NULL;
    bool allow_unsafe = false;
    sl_flag_t flags[] = {
        {"brokers", 0, SL_FLAG_STR, &cfg.brokers, NULL, 0, 0, true,
         "HOST:PORT,...", "Kafka bootstrap servers", NULL},
        {"scheduler", 0, SL_FLAG_LIST, &cfg.schedulers, NULL, 0, 0, true,
         "ENDPOINT",
         "scheduler to take jobs from, tcp://HOST:PORT "
         "(repeatable)",
         NULL},
        {"plugin", 0, SL_FLAG_STR, &cfg.plugin, NULL, 0, 0, true, "PATH.so",
         "plugin shared object: an absolute path, or a name in --plugin-dir",
         NULL},
        {"plugin-dir", 0, SL_FLAG_STR, &plugin_dir, "", 0, 0, false, "DIR",
         "absolute directory where --plugin NAME is looked up", NULL},
        {"plugin-opt", 0, SL_FLAG_KV, &cfg.plugin_opts, NULL, 0, 0, false,
         "KEY=VALUE", "plugin option (repeatable)", NULL},
        {"output-topic", 0, SL_FLAG_STR, &cfg.output_topic, "", 0, 0, false,
         "NAME", "topic the plugin's records go to", NULL},
        {"credits", 0, SL_FLAG_INT, &cfg.credits, "2", 1, 1024, false, "N",
         "jobs held at once per scheduler", NULL},
        {"concurrency", 0, SL_FLAG_INT, &cfg.concurrency, "1", 1, 64, false,
         "N",
         "jobs run at once, each on its own thread and Kafka consumer (the "
         "consumers share one prefetch budget in bytes: librdkafka's default "
         "queued.max.messages.kbytes divided by N, at least 4096; -X "
         "overrides); a plugin that is not thread-safe gets one instance per "
         "thread",
         NULL},
        {"grace-ms", 0, SL_FLAG_INT, &cfg.grace_ms, "10000", 0, 3600000, false,
         "MS", "time to finish the current job on SIGTERM", NULL},
        {"heartbeat-ms", 0, SL_FLAG_INT, &cfg.heartbeat_ms, "1000", 10, 600000,
         false, "MS", "heartbeat interval to schedulers", NULL},
        {"liveness", 0, SL_FLAG_INT, &cfg.liveness, "5", 2, 100, false, "N",
         "missed heartbeats before a scheduler is presumed gone", NULL},
        {"batch-size", 0, SL_FLAG_INT, &cfg.batch_size, "500", 1, 100000, false,
         "N", "most records per plugin call", NULL},
        {"record-retries", 0, SL_FLAG_INT, &cfg.record_retries, "3", 0, 100,
         false, "N", "retries of a record the plugin says to retry", NULL},
        {"flush-timeout-ms", 0, SL_FLAG_INT, &cfg.flush_timeout_ms, "30000",
         100, 3600000, false, "MS", "longest wait for produced records", NULL},
        {"exactly-once", 0, SL_FLAG_BOOL, &cfg.exactly_once, NULL, 0, 0, false,
         "",
         "a job's outputs, dead letters and completion marker commit in one "
         "Kafka transaction (readers with isolation.level=read_committed "
         "never see a failed or abandoned job's records)",
         NULL},
        {"transactional-id", 0, SL_FLAG_STR, &cfg.txn_id, "", 0, 0, false, "ID",
         "--exactly-once: lane N's transactional.id is ID-N (default "
         "sluice-<host>-<pid of the supervising parent>); keep it stable "
         "across restarts and unique in the cluster",
         NULL},
        {"drain", 0, SL_FLAG_BOOL, &cfg.drain, NULL, 0, 0, false, "",
         "exit 0 once every scheduler says its drain finished", NULL},
        {"drain-wait-ms", 0, SL_FLAG_INT, &cfg.drain_wait_ms, "600000", 0,
         INT64_MAX / 4, false, "MS",
         "with --drain, exit 1 after this long without a word from a "
         "scheduler whose drain is not finished (0: wait for ever)",
         NULL},
        {"metrics-addr", 0, SL_FLAG_STR, &cfg.metrics_addr, "", 0, 0, false,
         "HOST:PORT", "serve /metrics, /healthz, /readyz here", NULL},
        {"log-format", 0, SL_FLAG_STR, &log_format, "text", 0, 0, false,
         "text|json", "log line format", NULL},
        {"log-level", 0, SL_FLAG_STR, &log_level, "info", 0, 0, false, "LEVEL",
         "error, warn, info or debug", NULL},
        {"property", 'X', SL_FLAG_KV, &cfg.props, NULL, 0, 0, false,
         "KEY=VALUE", "librdkafka property (repeatable)", "SLUICE_X"},
        {"allow-unsafe-properties", 0, SL_FLAG_BOOL, &allow_unsafe, NULL, 0, 0,
         false, "",
         "accept -X properties that load code or run commands "
         "(plugin.library.paths, sasl.kerberos.kinit.cmd, ...)",
         NULL},
        {"supervise", 0, SL_FLAG_STR, &supervise, "on", 0, 0, false, "on|off",
         "run the worker under a parent that restarts it when a plugin "
         "crashes and tells the schedulers which record it crashed on",
         NULL},
        {"curve-cert", 0, SL_FLAG_STR, &cfg.curve_cert, "", 0, 0, false, "FILE",
         "CURVE: the worker's keypair (sluice keygen)", NULL},
        {"curve-server-cert", 0, SL_FLAG_STR, &cfg.curve_server_cert, "", 0, 0,
         false, "FILE", "CURVE: the schedulers' public certificate, pinned",
         NULL},
    };
    size_t nflags = sizeof flags / sizeof flags[0];
    char err[768];
    int rc = sl_flags_parse (PROG, flags, nflags, argc, argv, err, sizeof err);
    if (rc == 1) {
        sl_flags_usage (PROG,
                        "Runs jobs from sluice schedulers through a "
                        "plugin.",
                        flags, nflags, stdout);
        sl_flags_free (flags, nflags);
        return 0;
    }
    if (rc == 0)
        rc = sl_log_configure (PROG, log_format, log_level, err, sizeof err);
    if (rc == 0)
        rc = s_plugin_path (&cfg.plugin, plugin_dir, err, sizeof err);
    if (rc == 0 && !streq (supervise, "on") && !streq (supervise, "off")) {
        snprintf (err, sizeof err, PROG ": --supervise %s: say on or off",
                  supervise);
        rc = -1;
    }
    if (rc == 0 && strlen (cfg.txn_id) > 200) {
        snprintf (err, sizeof err,
                  PROG ": --transactional-id: %zu characters is too long "
                       "(at most 200: the lane number is added)",
                  strlen (cfg.txn_id));
        rc = -1;
    }
    char kerr[400];
    if (rc == 0 &&
        sl_kafka_props_check (&cfg.props, allow_unsafe, kerr, sizeof kerr)) {
        snprintf (err, sizeof err, PROG ": %s", kerr);
        rc = -1;
    }
    if (rc != 0) {
        fprintf (stderr, "%s\n", err);
        sl_flags_free (flags, nflags);
        return 2;
    }
    //  Stable across the supervised child's restarts (this pid is the
    //  parent's): a restarted lane's producer fences its predecessor.
    if (cfg.exactly_once && !*cfg.txn_id) {
        char host[256] = "localhost";
        gethostname (host, sizeof host - 1);
        char *id = NULL;
        if (asprintf (&id, "sluice-%s-%d", host, (int)getpid ()) > 0) {
            free (cfg.txn_id); //  the flags' own copy of ""
            cfg.txn_id = id;
        }
    }
    sl_log_set_proc ("worker");
    sl_kafka_props_log (&cfg.props);
    rc = streq (supervise, "off") ? s_run (&cfg)
                                  : wrk_super_run (&cfg, s_run, &cfg);
    sl_flags_free (flags, nflags);
    return rc;
}
