/*  sluice status - ask a running scheduler what it is doing.

    Connects a DEALER to the scheduler's endpoint, sends STATUS_REQUEST and
    prints the STATUS answer: per partition the committed offset, high
    watermark, lag and jobs in flight; per worker its credits, jobs done
    and last heartbeat. --json prints one JSON object for scripts.
*/
#include <czmq.h>
#include <inttypes.h>
#include <jansson.h>
#include "sl_curve.h"
#include "sl_flags.h"
#include "sl_proto.h"
#include "sluice_cmds.h"

#define PROG "sluice status"

//  Print the snapshot as a table.
static void
s_print_table (const Sluice__Status *st)
{
    printf ("group %s: %" PRIu64 " records done, %" PRIu64
            " jobs done, %" PRIu64 " jobs queued\n\n",
            st->group, st->records_done, st->jobs_done, st->jobs_queued);
    if (st->outage && *st->outage)
        printf ("OUTAGE: %s (dispatch paused, no attempt charged)\n\n",
                st->outage);
    printf ("%-32s %9s %14s %14s %12s %9s\n", "TOPIC", "PARTITION", "COMMITTED",
            "HIGH-WATERMARK", "LAG", "IN-FLIGHT");
    int64_t total_lag = 0;
    for (size_t i = 0; i < st->n_partitions; i++) {
        const Sluice__PartitionStatus *p = st->partitions[i];
        printf ("%-32s %9d %14" PRId64 " %14" PRId64 " %12" PRId64 " %9u\n",
                p->topic, p->partition, p->committed, p->high_watermark, p->lag,
                p->in_flight);
        total_lag += p->lag;
    }
    printf ("%-32s %9s %14s %14s %12" PRId64 "\n\n", "TOTAL", "", "", "",
            total_lag);
    printf ("%-40s %7s %9s %10s %15s  %s\n", "WORKER", "CREDITS", "IN-FLIGHT",
            "JOBS-DONE", "LAST-HEARTBEAT", "PLUGIN");
    for (size_t i = 0; i < st->n_workers; i++) {
        const Sluice__WorkerStatus *w = st->workers[i];
        printf ("%-40s %7u %9u %10" PRIu64 " %12.1fs ago  %s\n", w->worker_id,
                w->credits, w->in_flight, w->jobs_done,
                (double)w->last_heartbeat_ms_ago / 1000.0, w->plugin);
    }
    if (st->n_workers == 0)
        printf ("(no workers connected)\n");
}

//  Print the snapshot as one JSON object.
static void
s_print_json (const Sluice__Status *st)
{
    json_t *parts = json_array (), *workers = json_array ();
    for (size_t i = 0; i < st->n_partitions; i++) {
        const Sluice__PartitionStatus *p = st->partitions[i];
        json_array_append_new (
            parts,
            json_pack ("{s:s,s:i,s:I,s:I,s:I,s:i}", "topic", p->topic,
                       "partition", p->partition, "committed",
                       (json_int_t)p->committed, "high_watermark",
                       (json_int_t)p->high_watermark, "lag", (json_int_t)p->lag,
                       "in_flight", (int)p->in_flight));
    }
    for (size_t i = 0; i < st->n_workers; i++) {
        const Sluice__WorkerStatus *w = st->workers[i];
        json_array_append_new (
            workers,
            json_pack (
                "{s:s,s:i,s:i,s:I,s:I,s:s}", "worker", w->worker_id, "credits",
                (int)w->credits, "in_flight", (int)w->in_flight, "jobs_done",
                (json_int_t)w->jobs_done, "last_heartbeat_ms_ago",
                (json_int_t)w->last_heartbeat_ms_ago, "plugin", w->plugin));
    }
    json_t *root = json_pack (
        "{s:s,s:I,s:I,s:I,s:s,s:o,s:o}", "group", st->group, "records_done",
        (json_int_t)st->records_done, "jobs_done", (json_int_t)st->jobs_done,
        "jobs_queued", (json_int_t)st->jobs_queued, "outage",
        st->outage ? st->outage : "", "partitions", parts, "workers", workers);
    char *text = json_dumps (root, JSON_COMPACT);
    printf ("%s\n", text);
    free (text);
    json_decref (root);
}

//  Ask, wait, print.
static int
s_query (const char *endpoint, int64_t timeout_ms, bool json,
         const char *curve_cert, const char *curve_server_cert)
{
    zsock_t *sock = zsock_new (ZMQ_DEALER);
    if (!sock)
        return 1;
    zsock_set_linger (sock, 0);
    zsock_set_rcvtimeo (sock, (int)timeout_ms);
    char err0[512];
    if (curve_cert && *curve_cert &&
        sl_curve_client (sock, curve_cert, curve_server_cert, err0,
                         sizeof err0) != 0) {
        fprintf (stderr, PROG ": %s\n", err0);
        zsock_destroy (&sock);
        return 2;
    }
    if (zsock_connect (sock, "%s", endpoint) != 0) {
        fprintf (stderr,
                 PROG ": --scheduler: cannot connect to '%s'; use "
                      "tcp://HOST:PORT\n",
                 endpoint);
        zsock_destroy (&sock);
        return 2;
    }
    Sluice__StatusRequest req = SLUICE__STATUS_REQUEST__INIT;
    sl_proto_send (sock, NULL, SLUICE__ENVELOPE__BODY_STATUS_REQUEST, &req);
    int rc = 1;
    char err[256];
    while (true) {
        sl_msg_t *msg = sl_proto_recv (sock, NULL, err, sizeof err);
        if (!msg && !*err) {
            fprintf (stderr,
                     PROG ": no answer from %s within %" PRId64
                          " ms; is a scheduler bound there%s?\n",
                     endpoint, timeout_ms,
                     curve_cert && *curve_cert
                         ? ", and does it know our key (--curve-cert)"
                         : ", or does it require CURVE (--curve-cert, "
                           "--curve-server-cert)");
            break;
        }
        if (msg && msg->body_case == SLUICE__ENVELOPE__BODY_STATUS) {
            json ? s_print_json (msg->status) : s_print_table (msg->status);
            rc = 0;
            sl_proto_free (&msg);
            break;
        }
        sl_proto_free (&msg); //  a heartbeat or BYE: not ours, keep waiting
    }
    zsock_destroy (&sock);
    return rc;
}

int
sluice_cmd_status (int argc, char **argv)
{
    char *endpoint = NULL, *curve_cert = NULL, *curve_server_cert = NULL;
    int64_t timeout_ms = 0;
    bool json = false;
    sl_flag_t flags[] = {
        {"scheduler", 0, SL_FLAG_STR, &endpoint, NULL, 0, 0, true, "ENDPOINT",
         "scheduler to ask, tcp://HOST:PORT", NULL},
        {"timeout-ms", 0, SL_FLAG_INT, &timeout_ms, "5000", 1, 3600000, false,
         "MS", "how long to wait for the answer", "SLUICE_STATUS_TIMEOUT_MS"},
        {"json", 0, SL_FLAG_BOOL, &json, NULL, 0, 0, false, "",
         "print one JSON object instead of a table", "SLUICE_STATUS_JSON"},
        {"curve-cert", 0, SL_FLAG_STR, &curve_cert, "", 0, 0, false, "FILE",
         "CURVE: our keypair (its public certificate must be in the "
         "scheduler's --curve-clients-dir)",
         NULL},
        {"curve-server-cert", 0, SL_FLAG_STR, &curve_server_cert, "", 0, 0,
         false, "FILE", "CURVE: the scheduler's public certificate", NULL},
    };
    size_t n = sizeof flags / sizeof flags[0];
    char err[512];
    int rc = sl_flags_parse (PROG, flags, n, argc, argv, err, sizeof err);
    if (rc == 1) {
        sl_flags_usage (PROG, "Prints a scheduler's partitions and workers.",
                        flags, n, stdout);
        sl_flags_free (flags, n);
        return 0;
    }
    if (rc != 0) {
        fprintf (stderr, "%s\n", err);
        sl_flags_free (flags, n);
        return 2;
    }
    zsys_init ();
    zsys_set_logstream (NULL);
    rc = s_query (endpoint, timeout_ms, json, curve_cert, curve_server_cert);
    sl_flags_free (flags, n);
    return rc;
}
