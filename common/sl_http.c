/*  sl_http - the daemons' HTTP endpoint. See sl_http.h.                  */
#include "sl_http.h"

#include <arpa/inet.h>
#include <dlfcn.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "sl_clock.h"
#include "sl_kafka.h"

#define SL_HTTP_STALE_MS   5000
#define SL_HTTP_MHD_SONAME "libmicrohttpd.so.12"

//  libmicrohttpd is loaded on first use, not linked: its constructor
//  initialises gnutls (with p11-kit and nettle), about 1.8 MB of resident
//  pages in every process, and most workers never serve HTTP.
static struct {
    struct MHD_Daemon *(*start_daemon) (unsigned int, uint16_t,
                                        MHD_AcceptPolicyCallback, void *,
                                        MHD_AccessHandlerCallback, void *, ...);
    void (*stop_daemon) (struct MHD_Daemon *);
    const union MHD_DaemonInfo *(*get_daemon_info) (struct MHD_Daemon *,
                                                    enum MHD_DaemonInfoType,
                                                    ...);
    struct MHD_Response *(*create_response_from_buffer) (
        size_t, void *, enum MHD_ResponseMemoryMode);
    enum MHD_Result (*add_response_header) (struct MHD_Response *, const char *,
                                            const char *);
    enum MHD_Result (*queue_response) (struct MHD_Connection *, unsigned int,
                                       struct MHD_Response *);
    void (*destroy_response) (struct MHD_Response *);
} s_mhd;
static pthread_once_t s_mhd_once = PTHREAD_ONCE_INIT;
static char s_mhd_error[200];

static void
s_mhd_load (void)
{
    void *lib = dlopen (SL_HTTP_MHD_SONAME, RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        snprintf (s_mhd_error, sizeof s_mhd_error, "%s", dlerror ());
        return;
    }
    //  Kept loaded for the life of the process: its threads may outlive
    //  any one server, and unloading gnutls is not worth the risk.
    struct {
        const char *name;
        void **slot;
    } syms[] = {
        {"MHD_start_daemon", (void **)&s_mhd.start_daemon},
        {"MHD_stop_daemon", (void **)&s_mhd.stop_daemon},
        {"MHD_get_daemon_info", (void **)&s_mhd.get_daemon_info},
        {"MHD_create_response_from_buffer",
         (void **)&s_mhd.create_response_from_buffer},
        {"MHD_add_response_header", (void **)&s_mhd.add_response_header},
        {"MHD_queue_response", (void **)&s_mhd.queue_response},
        {"MHD_destroy_response", (void **)&s_mhd.destroy_response},
    };
    for (size_t i = 0; i < sizeof syms / sizeof syms[0]; i++) {
        *syms[i].slot = dlsym (lib, syms[i].name);
        if (!*syms[i].slot) {
            snprintf (s_mhd_error, sizeof s_mhd_error, "%s has no %s",
                      SL_HTTP_MHD_SONAME, syms[i].name);
            memset (&s_mhd, 0, sizeof s_mhd);
            return;
        }
    }
}

struct _sl_http_t {
    struct MHD_Daemon *daemon;
    pthread_mutex_t lock;
    char *metrics;
    size_t metrics_len;
    bool ready;
    char reason[256];
    int64_t beat_ms;
    int port;
};

//  Answer one request with a copy of body.
static enum MHD_Result
s_reply (struct MHD_Connection *conn, unsigned int code, const char *type,
         const char *body, size_t len)
{
    struct MHD_Response *resp = s_mhd.create_response_from_buffer (
        len, (void *)body, MHD_RESPMEM_MUST_COPY);
    if (!resp)
        return MHD_NO;
    s_mhd.add_response_header (resp, "Content-Type", type);
    enum MHD_Result rc = s_mhd.queue_response (conn, code, resp);
    s_mhd.destroy_response (resp);
    return rc;
}

//  The request handler (HTTP thread).
static enum MHD_Result
s_handler (void *cls, struct MHD_Connection *conn, const char *url,
           const char *method, const char *version, const char *upload,
           size_t *upload_size, void **state)
{
    sl_http_t *self = cls;
    if (strcmp (method, "GET") != 0 && strcmp (method, "HEAD") != 0)
        return s_reply (conn, 405, "text/plain", "method not allowed\n", 19);
    pthread_mutex_lock (&self->lock);
    enum MHD_Result rc;
    if (strcmp (url, "/metrics") == 0)
        rc = s_reply (conn, 200, "text/plain; version=0.0.4; charset=utf-8",
                      self->metrics ? self->metrics : "",
                      self->metrics ? self->metrics_len : 0);
    else if (strcmp (url, "/healthz") == 0) {
        bool live = sl_now_ms () - self->beat_ms <= SL_HTTP_STALE_MS;
        rc = live ? s_reply (conn, 200, "text/plain", "ok\n", 3)
                  : s_reply (conn, 503, "text/plain", "event loop stalled\n",
                             19);
    } else if (strcmp (url, "/readyz") == 0) {
        char body[300];
        int n = snprintf (body, sizeof body, "%s\n",
                          self->ready ? "ready" : self->reason);
        rc = s_reply (conn, self->ready ? 200 : 503, "text/plain", body,
                      (size_t)n);
    } else
        rc = s_reply (conn, 404, "text/plain", "not found\n", 10);
    pthread_mutex_unlock (&self->lock);
    return rc;
}

//  Parse "HOST:PORT" or ":PORT".
static int
s_parse_addr (const char *addr, struct sockaddr_in *sin)
{
    const char *colon = strrchr (addr, ':');
    if (!colon)
        return -1;
    char host[64];
    size_t hl = (size_t)(colon - addr);
    if (hl >= sizeof host)
        return -1;
    memcpy (host, addr, hl);
    host[hl] = 0;
    char *end;
    long port = strtol (colon + 1, &end, 10);
    if (!colon[1] || *end || port < 0 || port > 65535)
        return -1;
    memset (sin, 0, sizeof *sin);
    sin->sin_family = AF_INET;
    sin->sin_port = htons ((uint16_t)port);
    if (hl == 0 || strcmp (host, "*") == 0 || strcmp (host, "0.0.0.0") == 0)
        sin->sin_addr.s_addr = htonl (INADDR_ANY);
    else if (strcmp (host, "localhost") == 0)
        sin->sin_addr.s_addr = htonl (INADDR_LOOPBACK);
    else if (inet_pton (AF_INET, host, &sin->sin_addr) != 1)
        return -1;
    return 0;
}

//  Start the server.
sl_http_t *
sl_http_new (const char *addr, char *err, size_t errlen)
{
    struct sockaddr_in sin;
    if (s_parse_addr (addr, &sin) != 0) {
        snprintf (err, errlen,
                  "--metrics-addr: '%s' is not HOST:PORT; use e.g. :9090 or "
                  "127.0.0.1:9090",
                  addr);
        return NULL;
    }
    pthread_once (&s_mhd_once, s_mhd_load);
    if (!s_mhd.start_daemon) {
        snprintf (err, errlen, "--metrics-addr: cannot load %s: %s",
                  SL_HTTP_MHD_SONAME, s_mhd_error);
        return NULL;
    }
    sl_http_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    pthread_mutex_init (&self->lock, NULL);
    snprintf (self->reason, sizeof self->reason, "starting");
    self->beat_ms = sl_now_ms ();
    self->daemon = s_mhd.start_daemon (
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL, 0, NULL, NULL,
        s_handler, self, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sin,
        MHD_OPTION_CONNECTION_LIMIT, 64U, MHD_OPTION_CONNECTION_TIMEOUT, 10U,
        MHD_OPTION_END);
    if (!self->daemon) {
        snprintf (err, errlen,
                  "--metrics-addr: cannot listen on %s (port in use?)", addr);
        sl_http_destroy (&self);
        return NULL;
    }
    const union MHD_DaemonInfo *info =
        s_mhd.get_daemon_info (self->daemon, MHD_DAEMON_INFO_BIND_PORT);
    self->port = info ? info->port : ntohs (sin.sin_port);
    return self;
}

//  Stop the server.
void
sl_http_destroy (sl_http_t **self_p)
{
    sl_http_t *self = *self_p;
    if (!self)
        return;
    if (self->daemon)
        s_mhd.stop_daemon (self->daemon);
    pthread_mutex_destroy (&self->lock);
    free (self->metrics);
    free (self);
    *self_p = NULL;
}

//  The bound port.
int
sl_http_port (sl_http_t *self)
{
    return self->port;
}

//  The loop turned.
void
sl_http_beat (sl_http_t *self)
{
    pthread_mutex_lock (&self->lock);
    self->beat_ms = sl_now_ms ();
    pthread_mutex_unlock (&self->lock);
}

//  Publish a new page and readiness.
void
sl_http_publish (sl_http_t *self, const char *metrics, size_t len, bool ready,
                 const char *not_ready_reason)
{
    char *copy = malloc (len + 1);
    if (copy) {
        memcpy (copy, metrics, len);
        copy[len] = 0;
    }
    pthread_mutex_lock (&self->lock);
    if (copy) {
        free (self->metrics);
        self->metrics = copy;
        self->metrics_len = len;
    }
    self->ready = ready;
    snprintf (self->reason, sizeof self->reason, "%s",
              not_ready_reason ? not_ready_reason : "not ready");
    self->beat_ms = sl_now_ms ();
    pthread_mutex_unlock (&self->lock);
}
