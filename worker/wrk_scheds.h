/*  wrk_scheds - the schedulers a worker serves (--scheduler, one or
    more): a connection to each, and what the worker knows of each.

    Each connection is a DEALER set up to find its scheduler again
    whatever happens to it: ZMQ_IMMEDIATE (nothing is queued while it is
    not connected, so a HELLO that cannot leave is not "announced" and
    the daemon sends it again), the wire's frame limit, ZMTP heartbeats (a
    scheduler whose host went away without a FIN or RST is dropped and
    dialled again), a connect abandoned after --heartbeat-ms x --liveness
    so that the name is resolved again (on Kubernetes a scheduler pod
    replaced under the same DNS name has a new address), reconnects from
    100 ms to 2 s, CURVE when --curve-cert is given (refused handshakes
    are logged), and a linger of 500 ms so that the last messages leave.

    Per scheduler it keeps when it was last heard from and last sent a
    HELLO, whether a HELLO left, whether it went silent for a liveness
    period (lost), and whether it said its drain is finished.

    Indexes are those of --scheduler; the scheduler index an executor
    tags a job with is one of them.
*/
#ifndef WRK_SCHEDS_H_INCLUDED
#define WRK_SCHEDS_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <czmq.h>
#include "sl_proto.h"
#include "wrk_config.h"

typedef struct _wrk_scheds_t wrk_scheds_t;

/*  Connect to every --scheduler. Returns NULL with one line in err: bad
    CURVE settings, or an endpoint ZeroMQ refuses.                       */
wrk_scheds_t *wrk_scheds_new (const wrk_config_t *cfg, char *err,
                              size_t errlen);

/*  Close every connection (each lingers up to 500 ms for what is still
    queued) and null the pointer.                                        */
void wrk_scheds_destroy (wrk_scheds_t **self_p);

size_t wrk_scheds_size (wrk_scheds_t *self);
const char *wrk_scheds_endpoint (wrk_scheds_t *self, size_t i);

/*  Read every connection in loop with on_msg(loop, socket, arg) (find
    which with wrk_scheds_find), and log refused CURVE handshakes.       */
void wrk_scheds_attach (wrk_scheds_t *self, zloop_t *loop,
                        zloop_reader_fn *on_msg, void *arg);

/*  The scheduler whose socket is sock; wrk_scheds_size () if none.     */
size_t wrk_scheds_find (wrk_scheds_t *self, zsock_t *sock);

/*  Read one frame from scheduler i, if one is waiting: true if one
    came; its messages (one, or a BATCH's) come from wrk_scheds_next. A
    malformed frame is logged and ignored (the scheduler owns the job
    state). A scheduler that sent a BATCH reads them: from then on what
    the worker says to it is gathered into one frame (wrk_scheds_send).  */
bool wrk_scheds_read (wrk_scheds_t *self, size_t i);

/*  The next message of the frame read from i (to free with
    sl_proto_free), or NULL at its end (a malformed item is logged, and
    ends it). A message marks i heard from now (and back, if it was lost). */
sl_msg_t *wrk_scheds_next (wrk_scheds_t *self, size_t i);

/*  Send body (a Sluice__X matching kind) to scheduler i; an index out of
    range sends nothing. Returns 0 (it left), 1 (it waits in i's outbox
    for wrk_scheds_flush, which the caller must call soon), or -1 if it
    could not leave.                                                      */
int wrk_scheds_send (wrk_scheds_t *self, int i, Sluice__Envelope__BodyCase kind,
                     void *body);

/*  Frames and messages sent to the schedulers so far, then frames and
    messages received from them (messages per frame: what batches saved). */
void wrk_scheds_totals (wrk_scheds_t *self, uint64_t totals[4]);

/*  Send what every outbox holds, one frame per scheduler. 0, or -1 if a
    frame could not leave.                                                */
int wrk_scheds_flush (wrk_scheds_t *self);

/*  Send a HELLO to scheduler i, noting when and whether it left.        */
void wrk_scheds_hello (wrk_scheds_t *self, size_t i, Sluice__Hello *hello);

/*  True once a HELLO to i has left its socket.                          */
bool wrk_scheds_announced (wrk_scheds_t *self, size_t i);

/*  When the last HELLO to i was sent (monotonic ms).                    */
int64_t wrk_scheds_hello_ms (wrk_scheds_t *self, size_t i);

/*  Every scheduler counts as heard from at now (the worker starts).     */
void wrk_scheds_heard_all (wrk_scheds_t *self, int64_t now);

/*  True if i was silent, and sent no HELLO, for more than limit ms at
    now: it is marked lost (logged once until it is heard from again).  */
bool wrk_scheds_silent (wrk_scheds_t *self, size_t i, int64_t now,
                        int64_t limit);

/*  Schedulers announced to and heard from (not lost).                   */
size_t wrk_scheds_connected (wrk_scheds_t *self);

/*  Scheduler i said its drain is finished. True if every one has.       */
bool wrk_scheds_finish (wrk_scheds_t *self, size_t i);

/*  The latest time an unfinished scheduler was heard from, or since if
    that is later.                                                       */
int64_t wrk_scheds_heard_unfinished (wrk_scheds_t *self, int64_t since);

#endif
