/*  sl_http - the daemons' HTTP endpoint (--metrics-addr), on libmicrohttpd.

    Serves /metrics (Prometheus text exposition), /healthz and /readyz from
    its own thread, off the hot path: the event loop publishes a rendered
    metrics page and its readiness now and then (sl_http_publish) and
    beats on every turn (sl_http_beat); the HTTP thread only copies what
    was published. /healthz answers 200 while the loop beat within the
    last 5 seconds, 503 otherwise; /readyz answers 200 when the owner said
    it is ready, 503 with the reason otherwise.
*/
#ifndef SL_HTTP_H_INCLUDED
#define SL_HTTP_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>

typedef struct _sl_http_t sl_http_t;

/*  Listen on addr, "HOST:PORT" or ":PORT" (port 0 picks a free one).
    Returns NULL with one line in err (bad address, port in use).        */
sl_http_t *sl_http_new (const char *addr, char *err, size_t errlen);
void sl_http_destroy (sl_http_t **self_p);

/*  The port actually bound.                                              */
int sl_http_port (sl_http_t *self);

/*  The loop is alive.                                                    */
void sl_http_beat (sl_http_t *self);

/*  Replace the metrics page (copied) and the readiness.                 */
void sl_http_publish (sl_http_t *self, const char *metrics, size_t len,
                      bool ready, const char *not_ready_reason);

#endif
