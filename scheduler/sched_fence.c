/*  sched_fence - fencing and the state topic for --exactly-once. See
    sched_fence.h.
*/
#include "sched_fence.h"

#include <inttypes.h>
#include "sl_clock.h"
#include "sl_kafka.h"
#include "sl_log.h"
#include "sluice.pb-c.h"

/*  An initialisation waits for an open transaction to end; the broker
    ends one it aborts at once, one committing when the commit is done.  */
#define FENCE_INIT_MS    60000
#define FENCE_TIMEOUT_MS 10000
/*  The longest a read waits for the state partition's end (an open
    transaction of another worker holds the last stable offset back
    until it ends).                                                       */
#define FENCE_READ_MS 120000
/*  Ids fenced lately, remembered so a worker's jobs lost together fence
    it once.                                                             */
#define FENCE_RECENT 256

typedef struct {
    bool roster;
    uint64_t token;
    char **ids;
    size_t n;
    int32_t sp, nparts;
    int64_t from, start, end, asked_ms;
    char *topic;
    int32_t partition;
} s_req_t;

struct _sched_fence_t {
    zactor_t *actor;
    rd_kafka_conf_t *conf, *reader; /* the actor's, until it runs        */
    char *topic, *group;
};

static void
s_req_free (s_req_t **req_p)
{
    s_req_t *req = *req_p;
    if (!req)
        return;
    for (size_t i = 0; i < req->n; i++)
        free (req->ids[i]);
    free (req->ids);
    free (req->topic);
    free (req);
    *req_p = NULL;
}

//  See sched_fence.h.
size_t
sched_fence_ids (const rd_kafka_conf_t *conf, char *const *ids, size_t n)
{
    rd_kafka_t **rk = calloc (n ? n : 1, sizeof *rk);
    if (!rk)
        return 0;
    char rderr[512];
    //  All made first: they meet the cluster in parallel.
    for (size_t i = 0; i < n; i++) {
        rd_kafka_conf_t *c = rd_kafka_conf_dup (conf);
        if (sl_kafka_conf_set (c, "transactional.id", ids[i], rderr,
                               sizeof rderr) != 0 ||
            !(rk[i] =
                  rd_kafka_new (RD_KAFKA_PRODUCER, c, rderr, sizeof rderr))) {
            rd_kafka_conf_destroy (c);
            sl_warn ("cannot fence transactional_id=%s reason=\"%s\"", ids[i],
                     rderr);
        }
    }
    size_t fenced = 0;
    for (size_t i = 0; i < n; i++) {
        if (!rk[i])
            continue;
        rd_kafka_error_t *error =
            rd_kafka_init_transactions (rk[i], FENCE_INIT_MS);
        if (error) {
            sl_warn ("cannot fence transactional_id=%s reason=\"%s\"", ids[i],
                     rd_kafka_error_string (error));
            rd_kafka_error_destroy (error);
        } else
            fenced++;
        rd_kafka_destroy (rk[i]);
    }
    free (rk);
    return fenced;
}

//  A marker inside the range asked, of our group: kept in the answer.
static void
s_found (sched_fence_answer_t *a, const s_req_t *req, const char *group,
         const rd_kafka_message_t *m)
{
    rd_kafka_headers_t *hdrs = NULL;
    const void *v;
    size_t vlen;
    if (rd_kafka_message_headers (m, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR &&
        rd_kafka_header_get_last (hdrs, SCHED_FENCE_ROSTER_HEADER, &v, &vlen) ==
            RD_KAFKA_RESP_ERR_NO_ERROR)
        return; //  a roster, not a marker
    Sluice__Marker *mk =
        sluice__marker__unpack (NULL, m->len, (const uint8_t *)m->payload);
    if (!mk)
        return;
    if (streq (mk->group, group) && streq (mk->topic, req->topic) &&
        mk->partition == req->partition && mk->start >= req->start &&
        mk->end <= req->end && mk->end > mk->start) {
        sched_fence_range_t *r =
            realloc (a->found, (a->nfound + 1) * sizeof *r);
        if (r) {
            a->found = r;
            a->found[a->nfound++] = (sched_fence_range_t){mk->start, mk->end};
        }
    }
    sluice__marker__free_unpacked (mk, NULL);
}

//  Read state partition req->sp from req->from to its end (asked of
//  rk_end, which sees the end, not the last stable offset). True once
//  there.
static bool
s_read (sched_fence_answer_t *a, const s_req_t *req, const char *topic,
        const char *group, rd_kafka_t *rk, rd_kafka_t *rk_end)
{
    int64_t lo = 0, hi = 0;
    rd_kafka_resp_err_t rc = rd_kafka_query_watermark_offsets (
        rk_end, topic, req->sp, &lo, &hi, FENCE_TIMEOUT_MS);
    if (rc) {
        sl_warn ("state topic unreadable, the range waits topic=%s "
                 "partition=%d reason=\"%s\"",
                 topic, req->sp, rd_kafka_err2str (rc));
        return false;
    }
    int64_t at = req->from > lo ? req->from : lo;
    if (at >= hi)
        return true;
    rd_kafka_topic_partition_list_t *list =
        rd_kafka_topic_partition_list_new (1);
    rd_kafka_topic_partition_list_add (list, topic, req->sp)->offset = at;
    rd_kafka_assign (rk, list);
    rd_kafka_topic_partition_list_destroy (list);
    int64_t deadline = sl_now_ms () + FENCE_READ_MS;
    bool end = false;
    while (!end && at < hi && sl_now_ms () < deadline) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll (rk, 200);
        if (!m)
            continue;
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF)
            end = m->offset >= hi;
        else if (!m->err) {
            s_found (a, req, group, m);
            at = m->offset + 1;
        }
        rd_kafka_message_destroy (m);
    }
    rd_kafka_assign (rk, NULL);
    if (!end && at < hi)
        sl_warn ("state topic not read to its end in time, the range waits "
                 "topic=%s partition=%d at=%" PRId64 " end=%" PRId64,
                 topic, req->sp, at, hi);
    return end || at >= hi;
}

//  ROSTER: one record per state partition, each acknowledged.
static void
s_roster (sched_fence_answer_t *a, const s_req_t *req, const char *topic,
          const char *group, rd_kafka_t *prod)
{
    Sluice__Roster r = SLUICE__ROSTER__INIT;
    r.group = (char *)group;
    r.txn_ids = req->ids;
    r.n_txn_ids = req->n;
    size_t len = sluice__roster__get_packed_size (&r);
    uint8_t *buf = malloc (len ? len : 1);
    a->offsets = calloc ((size_t)(req->nparts > 0 ? req->nparts : 1),
                         sizeof *a->offsets);
    a->nparts = req->nparts;
    a->ok = buf && a->offsets;
    if (!a->ok) {
        free (buf);
        return;
    }
    sluice__roster__pack (&r, buf);
    for (int32_t p = 0; p < req->nparts && a->ok; p++) {
        a->offsets[p] = -1;
        rd_kafka_headers_t *hdrs = rd_kafka_headers_new (1);
        rd_kafka_header_add (hdrs, SCHED_FENCE_ROSTER_HEADER, -1, "roster", -1);
        rd_kafka_resp_err_t rc = rd_kafka_producev (
            prod, RD_KAFKA_V_TOPIC (topic), RD_KAFKA_V_PARTITION (p),
            RD_KAFKA_V_KEY (group, strlen (group)), RD_KAFKA_V_VALUE (buf, len),
            RD_KAFKA_V_HEADERS (hdrs),
            RD_KAFKA_V_MSGFLAGS (RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_OPAQUE (&a->offsets[p]), RD_KAFKA_V_END);
        if (rc) {
            rd_kafka_headers_destroy (hdrs);
            sl_warn ("roster not written topic=%s partition=%d reason=\"%s\"",
                     topic, p, rd_kafka_err2str (rc));
            a->ok = false;
        }
    }
    rd_kafka_flush (prod, FENCE_TIMEOUT_MS);
    for (int32_t p = 0; p < req->nparts; p++)
        a->ok = a->ok && a->offsets[p] >= 0;
    free (buf);
}

//  A roster record's delivery: where it went (the opaque), or stays -1.
static void
s_dr_cb (rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    int64_t *slot = m->_private;
    if (slot)
        *slot = m->err ? -1 : m->offset;
    if (m->err)
        sl_warn ("roster not written reason=\"%s\"", rd_kafka_err2str (m->err));
}

//  An id fenced after `since` (the ask): fenced already.
static bool
s_recent (zhashx_t *recent, const char *id, int64_t since)
{
    int64_t *at = zhashx_lookup (recent, id);
    return at && *at >= since;
}

static void
s_actor (zsock_t *pipe, void *args)
{
    sched_fence_t *self = args;
    char rderr[512];
    rd_kafka_conf_set_dr_msg_cb (self->conf, s_dr_cb);
    rd_kafka_conf_t *pconf = rd_kafka_conf_dup (self->conf);
    rd_kafka_t *prod =
        rd_kafka_new (RD_KAFKA_PRODUCER, pconf, rderr, sizeof rderr);
    if (!prod)
        rd_kafka_conf_destroy (pconf);
    rd_kafka_conf_t *rconf = rd_kafka_conf_dup (self->reader);
    rd_kafka_t *rk =
        rd_kafka_new (RD_KAFKA_CONSUMER, rconf, rderr, sizeof rderr);
    if (!rk)
        rd_kafka_conf_destroy (rconf);
    if (!prod || !rk)
        sl_error ("--exactly-once: cannot create the fencing clients "
                  "reason=\"%s\"",
                  rderr);
    zhashx_t *recent = zhashx_new ();
    zhashx_set_destructor (recent, (zhashx_destructor_fn *)zstr_free);
    zsock_signal (pipe, 0);
    while (true) {
        char *cmd = NULL;
        void *p = NULL;
        if (zsock_recv (pipe, "sp", &cmd, &p) != 0)
            break;
        bool term = streq (cmd, "$TERM");
        zstr_free (&cmd);
        if (term)
            break;
        s_req_t *req = p;
        sched_fence_answer_t *a = calloc (1, sizeof *a);
        if (!a) {
            s_req_free (&req);
            continue;
        }
        a->roster = req->roster;
        a->token = req->token;
        if (!prod || !rk)
            ; //  nothing can be done: not ok
        else if (req->roster)
            s_roster (a, req, self->topic, self->group, prod);
        else {
            char **todo = calloc (req->n ? req->n : 1, sizeof *todo);
            size_t ntodo = 0;
            for (size_t i = 0; todo && i < req->n; i++)
                if (!s_recent (recent, req->ids[i], req->asked_ms))
                    todo[ntodo++] = req->ids[i];
            int64_t t0 = sl_now_ms ();
            size_t fenced =
                todo ? sched_fence_ids (self->conf, todo, ntodo) : 0;
            if (ntodo)
                sl_info ("fenced transactional_ids=%zu of=%zu ms=%" PRId64,
                         fenced, ntodo, sl_now_ms () - t0);
            for (size_t i = 0; fenced == ntodo && i < ntodo; i++) {
                int64_t *at = malloc (sizeof *at);
                if (at) {
                    *at = t0;
                    if (zhashx_size (recent) >= FENCE_RECENT)
                        zhashx_purge (recent);
                    zhashx_update (recent, todo[i], at);
                }
            }
            a->ok = todo && fenced == ntodo &&
                    s_read (a, req, self->topic, self->group, rk, prod);
            free (todo);
        }
        s_req_free (&req);
        zsock_send (pipe, "p", a);
    }
    zhashx_destroy (&recent);
    if (rk)
        rd_kafka_destroy_flags (rk, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
    if (prod) {
        rd_kafka_flush (prod, 1000);
        rd_kafka_destroy (prod);
    }
}

//  See sched_fence.h.
sched_fence_t *
sched_fence_new (const rd_kafka_conf_t *conf, const rd_kafka_conf_t *reader,
                 const char *topic, const char *group)
{
    sched_fence_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->conf = rd_kafka_conf_dup (conf);
    self->reader = rd_kafka_conf_dup (reader);
    self->topic = strdup (topic);
    self->group = strdup (group);
    if (self->topic && self->group)
        self->actor = zactor_new (s_actor, self);
    if (!self->actor)
        sched_fence_destroy (&self);
    return self;
}

//  See sched_fence.h.
void
sched_fence_destroy (sched_fence_t **self_p)
{
    sched_fence_t *self = *self_p;
    if (!self)
        return;
    zactor_destroy (&self->actor);
    //  Answers not taken.
    if (self->conf)
        rd_kafka_conf_destroy (self->conf);
    if (self->reader)
        rd_kafka_conf_destroy (self->reader);
    free (self->topic);
    free (self->group);
    free (self);
    *self_p = NULL;
}

//  See sched_fence.h.
zsock_t *
sched_fence_sock (sched_fence_t *self)
{
    return zactor_sock (self->actor);
}

//  A request with copies of ids.
static s_req_t *
s_req_new (uint64_t token, char *const *ids, size_t n)
{
    s_req_t *req = calloc (1, sizeof *req);
    if (!req)
        return NULL;
    req->token = token;
    req->asked_ms = sl_now_ms ();
    req->ids = calloc (n ? n : 1, sizeof *req->ids);
    for (size_t i = 0; req->ids && i < n; i++)
        if ((req->ids[req->n] = strdup (ids[i])))
            req->n++;
    if (!req->ids || req->n != n)
        s_req_free (&req);
    return req;
}

//  Hand a request to the actor (it owns it now).
static void
s_send (sched_fence_t *self, s_req_t *req)
{
    if (!req || zsock_send (self->actor, "sp", "REQ", req) != 0) {
        sl_error ("--exactly-once: a fencing request was not made");
        s_req_free (&req);
    }
}

//  See sched_fence.h.
void
sched_fence_ask (sched_fence_t *self, uint64_t token, char *const *ids,
                 size_t n, int32_t sp, int64_t from, const char *topic,
                 int32_t partition, int64_t start, int64_t end)
{
    s_req_t *req = s_req_new (token, ids, n);
    if (req) {
        req->sp = sp;
        req->from = from;
        req->partition = partition;
        req->start = start;
        req->end = end;
        if (!(req->topic = strdup (topic)))
            s_req_free (&req);
    }
    s_send (self, req);
}

//  See sched_fence.h.
void
sched_fence_roster (sched_fence_t *self, uint64_t gen, char *const *ids,
                    size_t n, int32_t nparts)
{
    s_req_t *req = s_req_new (gen, ids, n);
    if (req) {
        req->roster = true;
        req->nparts = nparts;
    }
    s_send (self, req);
}

//  See sched_fence.h.
int
sched_fence_recv (sched_fence_t *self, sched_fence_answer_t **answer)
{
    void *p = NULL;
    if (zsock_recv (self->actor, "p", &p) != 0 || !p)
        return -1;
    *answer = p;
    return 0;
}

//  See sched_fence.h.
void
sched_fence_answer_free (sched_fence_answer_t **answer)
{
    sched_fence_answer_t *a = *answer;
    if (!a)
        return;
    free (a->offsets);
    free (a->found);
    free (a);
    *answer = NULL;
}
