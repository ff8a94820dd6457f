/*  sluice-scheduler: parse flags, run the scheduler, exit with its code.
    Exit codes: 0 finished (or stopped cleanly), 1 runtime failure or an
    interrupted drain, 2 bad flags or configuration.                      */
#include <czmq.h>
#include <inttypes.h>
#include "scheduler.h"
#include "sl_flags.h"
#include "sl_kafka.h"
#include "sl_log.h"
#include "sl_proto.h"

#define PROG "sluice-scheduler"

int
main (int argc, char **argv)
{
    sched_config_t cfg = {0};
    char *log_format = NULL, *log_level = NULL;
    bool allow_unsafe = false;
    sl_flag_t flags[] = {
        {"brokers", 0, SL_FLAG_STR, &cfg.brokers, NULL, 0, 0, true,
         "HOST:PORT,...", "Kafka bootstrap servers", NULL},
        {"topic", 0, SL_FLAG_LIST, &cfg.topics, NULL, 0, 0, true, "NAME",
         "topic to drain (repeatable)", NULL},
        {"group", 0, SL_FLAG_STR, &cfg.group, NULL, 0, 0, true, "ID",
         "Kafka consumer group the scheduler joins and commits for", NULL},
        {"bind", 0, SL_FLAG_STR, &cfg.bind, "tcp://*:7400", 0, 0, false,
         "ENDPOINT", "ZeroMQ endpoint workers connect to", NULL},
        {"job-records", 0, SL_FLAG_INT, &cfg.job_records, "1000", 1, 10000000,
         false, "N", "most offsets in one job", NULL},
        {"window", 0, SL_FLAG_INT, &cfg.window, "16", 1, 100000, false, "N",
         "most outstanding jobs per partition (1 keeps order)", NULL},
        {"order", 0, SL_FLAG_STR, &cfg.order, "none", 0, 0, false,
         "none|partition|key",
         "none: records run in parallel, in any order; partition: one job "
         "per partition at a time, in offset order (--window 1); key: each "
         "key's records in offset order, different keys in parallel",
         NULL},
        {"commit-interval-ms", 0, SL_FLAG_INT, &cfg.commit_interval_ms, "1000",
         10, 3600000, false, "MS", "how often to commit", NULL},
        {"tail-poll-ms", 0, SL_FLAG_INT, &cfg.tail_poll_ms, "10", 10, 1000,
         false, "MS",
         "while a partition waits for records, how often to ask for its end "
         "offsets (a worker at its tail reports new records sooner: TAIL)",
         NULL},
        {"job-timeout-ms", 0, SL_FLAG_INT, &cfg.job_timeout_ms, "60000", 100,
         86400000, false, "MS", "lease of a job before it is taken back", NULL},
        {"max-attempts", 0, SL_FLAG_INT, &cfg.max_attempts, "3", 1, 1000, false,
         "N", "tries of a range before it is bisected", NULL},
        {"heartbeat-ms", 0, SL_FLAG_INT, &cfg.heartbeat_ms, "1000", 10, 600000,
         false, "MS", "heartbeat interval to workers", NULL},
        {"liveness", 0, SL_FLAG_INT, &cfg.liveness, "5", 2, 100, false, "N",
         "missed heartbeats before a worker is declared dead", NULL},
        {"metadata-max-bytes", 0, SL_FLAG_INT, &cfg.metadata_max_bytes, "4096",
         16, 1048576, false, "BYTES", "broker's offset.metadata.max.bytes",
         NULL},
        {"dlq-topic", 0, SL_FLAG_STR, &cfg.dlq_topic, "", 0, 0, false, "NAME",
         "dead-letter topic (default <topic>.dlq)", NULL},
        {"state-topic", 0, SL_FLAG_STR, &cfg.state_topic, "", 0, 0, false,
         "NAME",
         "completion markers: workers write one record per job done there, "
         "so a takeover skips every range done above the committed offset, "
         "not only those the commit metadata holds (created with one "
         "partition if absent; one topic per group)",
         NULL},
        {"exactly-once", 0, SL_FLAG_BOOL, &cfg.exactly_once, NULL, 0, 0, false,
         "",
         "workers commit each job's outputs and marker in one transaction "
         "(sluice-worker --exactly-once); before a range runs again, the "
         "transactional.ids of whoever may still hold it are fenced and the "
         "state topic read (needs --state-topic)",
         NULL},
        {"drain", 0, SL_FLAG_BOOL, &cfg.drain, NULL, 0, 0, false, "",
         "exit 0 once caught up with the marks seen at assignment", NULL},
        {"drain-linger-ms", 0, SL_FLAG_INT, &cfg.drain_linger_ms, "0", 0,
         3600000, false, "MS",
         "with --drain: stay this long after the drain, telling workers "
         "that come late it is finished (they exit 0)",
         NULL},
        {"drain-linger-workers", 0, SL_FLAG_INT, &cfg.drain_linger_workers, "0",
         0, 1000000, false, "N",
         "with --drain-linger-ms: stop lingering once N distinct workers "
         "were told the drain is finished (0: linger the whole time)",
         NULL},
        {"progress", 0, SL_FLAG_STR, &cfg.progress, "auto", 0, 0, false,
         "auto|bar|lines|off", "drain progress display", NULL},
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
        {"instance-id", 0, SL_FLAG_STR, &cfg.instance_id, "", 0, 0, false, "ID",
         "static group membership (group.instance.id): restarted with the "
         "same ID, the scheduler takes its partitions back at once instead "
         "of after the session timeout; unique in the group (the chart "
         "sets the pod name)",
         NULL},
        {"max-workers", 0, SL_FLAG_INT, &cfg.max_workers, "10000", 1, 1000000,
         false, "N", "most workers at once; more HELLOs are refused", NULL},
        {"curve-cert", 0, SL_FLAG_STR, &cfg.curve_cert, "", 0, 0, false, "FILE",
         "CURVE: the scheduler's keypair (sluice keygen); workers "
         "must then use CURVE",
         NULL},
        {"curve-clients-dir", 0, SL_FLAG_STR, &cfg.curve_clients_dir, "", 0, 0,
         false, "DIR", "CURVE: public certificates of the workers allowed",
         NULL},
        {"curve-allow-any", 0, SL_FLAG_BOOL, &cfg.curve_allow_any, NULL, 0, 0,
         false, "", "CURVE: accept any worker that completes the handshake",
         NULL},
    };
    size_t nflags = sizeof flags / sizeof flags[0];
    char err[512];
    int rc = sl_flags_parse (PROG, flags, nflags, argc, argv, err, sizeof err);
    if (rc == 1) {
        sl_flags_usage (PROG,
                        "Owns Kafka partitions and hands offset ranges "
                        "to sluice workers.",
                        flags, nflags, stdout);
        sl_flags_free (flags, nflags);
        return 0;
    }
    if (rc == 0)
        rc = sl_log_configure (PROG, log_format, log_level, err, sizeof err);
    if (rc == 0 && !streq (cfg.progress, "auto") &&
        !streq (cfg.progress, "bar") && !streq (cfg.progress, "lines") &&
        !streq (cfg.progress, "off")) {
        snprintf (err, sizeof err,
                  PROG ": --progress: '%s' is not auto, bar, lines or off",
                  cfg.progress);
        rc = -1;
    }
    if (rc == 0 && streq (cfg.order, "partition"))
        cfg.window = 1;
    else if (rc == 0 && streq (cfg.order, "key")) {
        cfg.key_order = true;
        //  A job's key set travels in one message (SL_PROTO_MAX_KEYS).
        if (cfg.job_records > SL_PROTO_MAX_KEYS) {
            snprintf (err, sizeof err,
                      PROG ": --order key: --job-records %" PRId64
                           " is above %d, the most keys one job may report",
                      cfg.job_records, SL_PROTO_MAX_KEYS);
            rc = -1;
        }
    } else if (rc == 0 && !streq (cfg.order, "none")) {
        snprintf (err, sizeof err,
                  PROG ": --order: '%s' is not none, partition or key",
                  cfg.order);
        rc = -1;
    }
    if (rc == 0 && *cfg.state_topic &&
        !sl_kafka_topic_name_ok (cfg.state_topic, strlen (cfg.state_topic))) {
        snprintf (err, sizeof err,
                  PROG ": --state-topic: '%.300s' is not a topic name (1 to "
                       "%d characters from A-Z a-z 0-9 . _ -)",
                  cfg.state_topic, SL_KAFKA_MAX_TOPIC_NAME);
        rc = -1;
    }
    if (rc == 0 && cfg.exactly_once && !*cfg.state_topic) {
        snprintf (err, sizeof err,
                  PROG ": --exactly-once needs --state-topic (the markers "
                       "say which ranges committed)");
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
    sl_log_set_proc ("scheduler");
    sl_kafka_props_log (&cfg.props);
    zsys_init ();
    zsys_set_logstream (NULL);
    scheduler_t *scheduler = scheduler_new (&cfg, err, sizeof err);
    if (!scheduler) {
        fprintf (stderr, PROG ": %s\n", err);
        sl_flags_free (flags, nflags);
        return 2;
    }
    rc = scheduler_run (scheduler);
    scheduler_destroy (&scheduler);
    sl_flags_free (flags, nflags);
    return rc;
}
