/*  bench_echo - baseline (d): a bare ROUTER/DEALER credit-window echo.

        bench_echo --mode router --endpoint tcp://127.0.0.1:P --dealers N
                   --messages M [--size 64]
        bench_echo --mode dealer --endpoint tcp://127.0.0.1:P
                   [--credits 2] [--size 64]

    The router waits for N dealers to say hello with their credit, then
    keeps each dealer's window full: it sends a message per credit, and
    every reply (one credit back) lets it send the next one to that
    dealer, until M replies have come back. Dealers reply to every
    message at once with a message of the same size. Nothing is decoded
    or looked up: this is the most a scheduler could dispatch over
    ZeroMQ with that window, the reference for sluice's dispatch rate.
    libzmq only (no czmq), high-water marks as the scheduler sets them.

    The router prints {"messages":M,"seconds":S,"rate":R}; a dealer
    prints {"replies":N} when the router says bye.
*/
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>
#include "bench_util.h"
#include "sl_flags.h"

#define PROG   "bench_echo"
#define HWM    100000
#define MAX_ID 256

typedef struct {
    char *mode, *endpoint;
    int64_t dealers, messages, size, credits;
} echo_cfg_t;

//  Receive one frame into buf; returns its size or -1.
static int
s_recv (void *sock, void *buf, size_t size)
{
    return zmq_recv (sock, buf, size, 0);
}

//  The router: keep every dealer's window full until M replies.
static int
s_router (const echo_cfg_t *cfg)
{
    void *ctx = zmq_ctx_new ();
    void *sock = zmq_socket (ctx, ZMQ_ROUTER);
    int hwm = HWM;
    zmq_setsockopt (sock, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt (sock, ZMQ_RCVHWM, &hwm, sizeof hwm);
    if (zmq_bind (sock, cfg->endpoint) != 0) {
        fprintf (stderr, PROG ": bind %s: %s\n", cfg->endpoint,
                 zmq_strerror (zmq_errno ()));
        return 2;
    }
    printf ("{\"event\":\"bound\"}\n");
    fflush (stdout);
    unsigned char ids[MAX_ID][256];
    int idlen[MAX_ID], credits[MAX_ID];
    char *payload = calloc (1, (size_t)cfg->size + 1);
    char buf[4096];
    int64_t n = 0;
    while (n < cfg->dealers && n < MAX_ID) {
        idlen[n] = s_recv (sock, ids[n], sizeof ids[n]);
        int len = s_recv (sock, buf, sizeof buf - 1);
        if (idlen[n] < 0 || len < 0)
            return 1;
        buf[len] = 0;
        credits[n] = atoi (buf + 1);
        n++;
    }
    double t0 = bench_now ();
    int64_t sent = 0, replies = 0;
    for (int64_t d = 0; d < n; d++)
        for (int c = 0; c < credits[d] && sent < cfg->messages; c++, sent++) {
            zmq_send (sock, ids[d], (size_t)idlen[d], ZMQ_SNDMORE);
            zmq_send (sock, payload, (size_t)cfg->size, 0);
        }
    unsigned char id[256];
    while (replies < cfg->messages) {
        int len = s_recv (sock, id, sizeof id);
        if (len < 0 || s_recv (sock, buf, sizeof buf) < 0)
            return 1;
        replies++;
        if (sent < cfg->messages) {
            zmq_send (sock, id, (size_t)len, ZMQ_SNDMORE);
            zmq_send (sock, payload, (size_t)cfg->size, 0);
            sent++;
        }
    }
    double secs = bench_now () - t0;
    for (int64_t d = 0; d < n; d++) {
        zmq_send (sock, ids[d], (size_t)idlen[d], ZMQ_SNDMORE);
        zmq_send (sock, "B", 1, 0);
    }
    printf ("{\"messages\":%" PRId64 ",\"seconds\":%.6f,\"rate\":%.1f}\n",
            replies, secs, secs > 0 ? (double)replies / secs : 0);
    fflush (stdout);
    int linger = 2000;
    zmq_setsockopt (sock, ZMQ_LINGER, &linger, sizeof linger);
    zmq_close (sock);
    zmq_ctx_term (ctx);
    free (payload);
    return 0;
}

//  A dealer: hello with credit, then echo every message at once.
static int
s_dealer (const echo_cfg_t *cfg)
{
    void *ctx = zmq_ctx_new ();
    void *sock = zmq_socket (ctx, ZMQ_DEALER);
    int hwm = HWM;
    zmq_setsockopt (sock, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt (sock, ZMQ_RCVHWM, &hwm, sizeof hwm);
    if (zmq_connect (sock, cfg->endpoint) != 0) {
        fprintf (stderr, PROG ": connect %s: %s\n", cfg->endpoint,
                 zmq_strerror (zmq_errno ()));
        return 2;
    }
    char hello[32], buf[4096];
    int len = snprintf (hello, sizeof hello, "H%" PRId64, cfg->credits);
    zmq_send (sock, hello, (size_t)len, 0);
    char *payload = calloc (1, (size_t)cfg->size + 1);
    int64_t replies = 0;
    while (!bench_stopping ()) {
        len = s_recv (sock, buf, sizeof buf);
        if (len < 0 || (len == 1 && buf[0] == 'B'))
            break;
        zmq_send (sock, payload, (size_t)cfg->size, 0);
        replies++;
    }
    printf ("{\"replies\":%" PRId64 "}\n", replies);
    int linger = 0;
    zmq_setsockopt (sock, ZMQ_LINGER, &linger, sizeof linger);
    zmq_close (sock);
    zmq_ctx_term (ctx);
    free (payload);
    return 0;
}

int
main (int argc, char **argv)
{
    echo_cfg_t cfg = {0};
    sl_flag_t flags[] = {
        {"mode", 0, SL_FLAG_STR, &cfg.mode, NULL, 0, 0, true, "router|dealer",
         "which side to run", "SLUICE_BENCH_MODE"},
        {"endpoint", 0, SL_FLAG_STR, &cfg.endpoint, NULL, 0, 0, true,
         "ENDPOINT", "router binds it, dealers connect to it",
         "SLUICE_BENCH_ENDPOINT"},
        {"dealers", 0, SL_FLAG_INT, &cfg.dealers, "1", 1, MAX_ID, false, "N",
         "router: dealers to wait for", "SLUICE_BENCH_DEALERS"},
        {"messages", 0, SL_FLAG_INT, &cfg.messages, "100000", 1, INT64_MAX,
         false, "N", "router: messages to echo", "SLUICE_BENCH_MESSAGES"},
        {"size", 0, SL_FLAG_INT, &cfg.size, "64", 1, 4000, false, "BYTES",
         "bytes per message", "SLUICE_BENCH_SIZE"},
        {"credits", 0, SL_FLAG_INT, &cfg.credits, "2", 1, 1024, false, "N",
         "dealer: window (the worker's --credits)", "SLUICE_BENCH_CREDITS"},
    };
    size_t nflags = sizeof flags / sizeof flags[0];
    char err[768] = "";
    int rc = sl_flags_parse (PROG, flags, nflags, argc, argv, err, sizeof err);
    if (rc == 1) {
        sl_flags_usage (PROG, "Baseline: ROUTER/DEALER credit echo.", flags,
                        nflags, stdout);
        sl_flags_free (flags, nflags);
        return 0;
    }
    if (rc == 0 && strcmp (cfg.mode, "router") != 0 &&
        strcmp (cfg.mode, "dealer") != 0) {
        snprintf (err, sizeof err, "--mode %s: use router or dealer", cfg.mode);
        rc = -1;
    }
    if (rc != 0) {
        fprintf (stderr, PROG ": %s\n", err);
        sl_flags_free (flags, nflags);
        return 2;
    }
    bench_catch_signals ();
    rc = strcmp (cfg.mode, "router") == 0 ? s_router (&cfg) : s_dealer (&cfg);
    sl_flags_free (flags, nflags);
    return rc;
}
