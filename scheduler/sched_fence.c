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

//  See sched_fence.h.
bool
sched_fence_is_roster (const rd_kafka_message_t *m)
{
    rd_kafka_headers_t *hdrs = NULL;
    const void *v;
    size_t vlen;
    return rd_kafka_message_headers (m, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR &&
           rd_kafka_header_get_last (hdrs, SCHED_FENCE_ROSTER_HEADER, &v,
                                     &vlen) == RD_KAFKA_RESP_ERR_NO_ERROR;
}

//  A batch of FENCE requests, answered together: their ids fenced at
//  once, each state partition read once for all of them.
#define FENCE_BATCH 64
typedef struct {
    s_req_t *req[FENCE_BATCH];
    sched_fence_answer_t *ans[FENCE_BATCH];
    size_t n;
} s_batch_t;

//  A marker of our group: kept in the answer of each request of sp whose
//  range holds it.
static void
s_found (s_batch_t *b, int32_t sp, const char *group,
         const rd_kafka_message_t *m)
{
    if (sched_fence_is_roster (m))
        return;
    Sluice__Marker *mk =
        sluice__marker__unpack (NULL, m->len, (const uint8_t *)m->payload);
    if (!mk)
        return;
    for (size_t i = 0; streq (mk->group, group) && i < b->n; i++) {
        const s_req_t *req = b->req[i];
        sched_fence_answer_t *a = b->ans[i];
        if (req->sp != sp || !streq (mk->topic, req->topic) ||
            mk->partition != req->partition || mk->start < req->start ||
            mk->end > req->end || mk->end <= mk->start)
            continue;
        sched_fence_range_t *r =
            realloc (a->found, (a->nfound + 1) * sizeof *r);
        if (r) {
            a->found = r;
            a->found[a->nfound++] = (sched_fence_range_t){mk->start, mk->end};
        }
    }
    sluice__marker__free_unpacked (mk, NULL);
}

//  Read state partition sp from `from` to its end (asked of rk_end,
//  which sees the end, not the last stable offset) for the batch. True
//  once there.
static bool
s_read (s_batch_t *b, int32_t sp, int64_t from, const char *topic,
        const char *group, rd_kafka_t *rk, rd_kafka_t *rk_end)
{
    int64_t lo = 0, hi = 0;
    rd_kafka_resp_err_t rc = rd_kafka_query_watermark_offsets (
        rk_end, topic, sp, &lo, &hi, FENCE_TIMEOUT_MS);
    if (rc) {
        sl_warn ("state topic unreadable, the range waits topic=%s "
                 "partition=%d reason=\"%s\"",
                 topic, sp, rd_kafka_err2str (rc));
        return false;
    }
    int64_t at = from > lo ? from : lo;
    if (at >= hi)
        return true;
    rd_kafka_topic_partition_list_t *list =
        rd_kafka_topic_partition_list_new (1);
    rd_kafka_topic_partition_list_add (list, topic, sp)->offset = at;
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
            s_found (b, sp, group, m);
            at = m->offset + 1;
        }
        rd_kafka_message_destroy (m);
    }
    rd_kafka_assign (rk, NULL);
    if (!end && at < hi)
        sl_warn ("state topic not read to its end in time, the range waits "
                 "topic=%s partition=%d at=%" PRId64 " end=%" PRId64,
                 topic, sp, at, hi);
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

//  ROSTER: write it, answer.
static void
s_roster_answer (sched_fence_t *self, zsock_t *pipe, s_req_t **req_p,
                 rd_kafka_t *prod)
{
    sched_fence_answer_t *a = calloc (1, sizeof *a);
    if (a) {
        a->roster = true;
        a->token = (*req_p)->token;
        if (prod)
            s_roster (a, *req_p, self->topic, self->group, prod);
        zsock_send (pipe, "p", a);
    }
    s_req_free (req_p);
}

//  FENCE, a batch: every id asked and not fenced since its ask, together;
//  then each state partition asked, from the lowest position asked, once.
//  Each request is answered ok if its ids were fenced and its partition
//  read to its end.
static void
s_fence_batch (sched_fence_t *self, s_batch_t *b, zhashx_t *recent,
               rd_kafka_t *prod, rd_kafka_t *rk)
{
    size_t cap = 0;
    for (size_t i = 0; i < b->n; i++) {
        b->ans[i] = calloc (1, sizeof *b->ans[i]);
        if (b->ans[i])
            b->ans[i]->token = b->req[i]->token;
        cap += b->req[i]->n;
    }
    if (!prod || !rk)
        return; //  nothing can be done: not ok
    char **todo = calloc (cap ? cap : 1, sizeof *todo);
    zhashx_t *seen = zhashx_new ();
    size_t ntodo = 0;
    for (size_t i = 0; todo && seen && i < b->n; i++)
        for (size_t k = 0; k < b->req[i]->n; k++) {
            char *id = b->req[i]->ids[k];
            if (!s_recent (recent, id, b->req[i]->asked_ms) &&
                zhashx_insert (seen, id, id) == 0)
                todo[ntodo++] = id;
        }
    int64_t t0 = sl_now_ms ();
    size_t fenced = todo ? sched_fence_ids (self->conf, todo, ntodo) : 0;
    bool ok = todo && seen && fenced == ntodo;
    if (ntodo)
        sl_info ("fenced transactional_ids=%zu of=%zu ranges=%zu ms=%" PRId64,
                 fenced, ntodo, b->n, sl_now_ms () - t0);
    for (size_t i = 0; ok && i < ntodo; i++) {
        int64_t *at = malloc (sizeof *at);
        if (at) {
            *at = t0;
            if (zhashx_size (recent) >= FENCE_RECENT)
                zhashx_purge (recent);
            zhashx_update (recent, todo[i], at);
        }
    }
    free (todo);
    zhashx_destroy (&seen);
    for (size_t i = 0; i < b->n; i++) {
        int32_t sp = b->req[i]->sp;
        bool first = true;
        int64_t from = b->req[i]->from;
        for (size_t j = 0; j < b->n; j++)
            if (b->req[j]->sp == sp) {
                first = first && j >= i;
                if (b->req[j]->from < from)
                    from = b->req[j]->from;
            }
        if (!first)
            continue; //  read with an earlier request of the same partition
        bool read =
            ok && s_read (b, sp, from, self->topic, self->group, rk, prod);
        for (size_t j = 0; j < b->n; j++)
            if (b->req[j]->sp == sp && b->ans[j])
                b->ans[j]->ok = read;
    }
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
        if (req->roster) {
            s_roster_answer (self, pipe, &req, prod);
            continue;
        }
        //  FENCE: take the others waiting too (a worker lost with many
        //  jobs asks once per job), fence their ids together, read each
        //  state partition once.
        s_batch_t b = {.n = 0};
        b.req[b.n++] = req;
        while (b.n < FENCE_BATCH && (zsock_events (pipe) & ZMQ_POLLIN)) {
            char *more = NULL;
            void *q = NULL;
            if (zsock_recv (pipe, "sp", &more, &q) != 0)
                break;
            bool stop = streq (more, "$TERM");
            zstr_free (&more);
            if (stop) {
                term = true;
                break;
            }
            s_req_t *r = q;
            if (r->roster) //  a roster amid fences: written first
                s_roster_answer (self, pipe, &r, prod);
            else
                b.req[b.n++] = r;
        }
        s_fence_batch (self, &b, recent, prod, rk);
        for (size_t i = 0; i < b.n; i++) {
            if (b.ans[i])
                zsock_send (pipe, "p", b.ans[i]);
            s_req_free (&b.req[i]);
        }
        if (term)
            break;
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
