/*  sched_marks - completion markers. See sched_marks.h.
 */
#include "sched_marks.h"

#include <czmq.h>
#include <inttypes.h>
#include "sched_fence.h"
#include "sched_window.h"
#include "sl_clock.h"
#include "sl_kafka.h"
#include "sl_log.h"
#include "sl_meta.h"
#include "sluice.pb-c.h"

#define MARKS_TIMEOUT_MS 10000
/*  How often the state partitions' end offsets are asked.                */
#define MARKS_ASK_MS 1000
/*  The longest a takeover reads markers before it gives up on the rest
    (their ranges run again: at-least-once).                              */
#define MARKS_READ_MS 120000

//  The ranges read for one input partition while it is being taken.
typedef struct {
    int64_t committed;
    int64_t from; /* where its markers begin (its metadata), -1: none   */
    sl_range_t *r;
    size_t n, cap;
} s_found_t;

struct _sched_marks_t {
    char *topic, *group;
    rd_kafka_conf_t *conf;     /* for the clients it makes (read_committed) */
    rd_kafka_conf_t *conf_all; /* the same, read_uncommitted: the end of a
                                  partition, not its last stable offset */
    int32_t nparts;            /* 0: not usable                              */
    int64_t *hwm;              /* each state partition's end offset, known  */
    zhashx_t *found;           /* "topic:partition" -> s_found_t *          */
    uint64_t read, restored;
    rd_kafka_resp_err_t open_err; /* why it was not usable last time     */
    int64_t asked_ms; /* when the end offsets were last asked           */
    /*  --exactly-once: producers for fencing are made from fence_conf; a
        takeover gathers the roster's ids in ids; roster[p] is where the
        last roster record went in state partition p (-1: none).         */
    rd_kafka_conf_t *fence_conf;
    zhashx_t *ids;
    int64_t *roster;
};

static void
s_found_free (void **item)
{
    s_found_t *f = *item;
    if (f) {
        free (f->r);
        free (f);
        *item = NULL;
    }
}

//  See sched_marks.h.
sched_marks_t *
sched_marks_new (const char *topic, const char *group)
{
    if (!topic || !*topic)
        return NULL;
    sched_marks_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->topic = strdup (topic);
    self->group = strdup (group);
    self->found = zhashx_new ();
    if (!self->topic || !self->group || !self->found) {
        sched_marks_destroy (&self);
        return NULL;
    }
    zhashx_set_destructor (self->found, s_found_free);
    self->open_err = RD_KAFKA_RESP_ERR__BEGIN; //  nothing said yet
    return self;
}

//  See sched_marks.h.
void
sched_marks_destroy (sched_marks_t **self_p)
{
    sched_marks_t *self = *self_p;
    if (!self)
        return;
    free (self->topic);
    free (self->group);
    free (self->hwm);
    free (self->roster);
    zhashx_destroy (&self->found);
    zhashx_destroy (&self->ids);
    if (self->fence_conf)
        rd_kafka_conf_destroy (self->fence_conf);
    if (self->conf)
        rd_kafka_conf_destroy (self->conf);
    if (self->conf_all)
        rd_kafka_conf_destroy (self->conf_all);
    free (self);
    *self_p = NULL;
}

//  A client of our own (a consumer outside any group), or NULL. A
//  read_committed one reads markers; only a read_uncommitted one learns a
//  partition's end (ListOffsets gives a read_committed client the last
//  stable offset, which an open transaction holds back).
static rd_kafka_t *
s_client (sched_marks_t *self, bool committed)
{
    char rderr[512];
    rd_kafka_conf_t *conf =
        rd_kafka_conf_dup (committed ? self->conf : self->conf_all);
    rd_kafka_t *rk =
        rd_kafka_new (RD_KAFKA_CONSUMER, conf, rderr, sizeof rderr);
    if (!rk) {
        rd_kafka_conf_destroy (conf);
        sl_warn ("state topic: cannot create a client reason=\"%s\"", rderr);
    }
    return rk;
}

static void
s_client_destroy (rd_kafka_t *rk)
{
    rd_kafka_destroy_flags (rk, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
}

//  The topic's partition count (0 if it is not there), or -1 with *err.
static int
s_partitions (sched_marks_t *self, rd_kafka_t *rk, rd_kafka_resp_err_t *err)
{
    rd_kafka_topic_t *rkt = rd_kafka_topic_new (rk, self->topic, NULL);
    const struct rd_kafka_metadata *md = NULL;
    *err = rkt ? rd_kafka_metadata (rk, 0, rkt, &md, MARKS_TIMEOUT_MS)
               : RD_KAFKA_RESP_ERR__INVALID_ARG;
    if (rkt)
        rd_kafka_topic_destroy (rkt);
    if (*err)
        return -1;
    int n = -1;
    if (md->topic_cnt == 1) {
        rd_kafka_resp_err_t terr = md->topics[0].err;
        if (terr == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART ||
            terr == RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC)
            n = 0;
        else if (terr)
            *err = terr;
        else
            n = md->topics[0].partition_cnt;
    }
    rd_kafka_metadata_destroy (md);
    return n;
}

//  Create the topic: one partition, replicated as far as the cluster
//  allows up to 3.
static rd_kafka_resp_err_t
s_create (sched_marks_t *self, rd_kafka_t *rk, char *why, size_t size)
{
    const struct rd_kafka_metadata *md = NULL;
    int rf = 1;
    if (rd_kafka_metadata (rk, 0, NULL, &md, MARKS_TIMEOUT_MS) ==
        RD_KAFKA_RESP_ERR_NO_ERROR) {
        rf = md->broker_cnt < 3 ? md->broker_cnt : 3;
        rd_kafka_metadata_destroy (md);
    }
    char rderr[256];
    rd_kafka_NewTopic_t *nt = rd_kafka_NewTopic_new (
        self->topic, 1, rf > 0 ? rf : 1, rderr, sizeof rderr);
    if (!nt) {
        snprintf (why, size, "%s", rderr);
        return RD_KAFKA_RESP_ERR__INVALID_ARG;
    }
    rd_kafka_queue_t *q = rd_kafka_queue_new (rk);
    rd_kafka_CreateTopics (rk, &nt, 1, NULL, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll (q, MARKS_TIMEOUT_MS + 5000);
    rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR__TIMED_OUT;
    snprintf (why, size, "no answer");
    if (ev) {
        err = rd_kafka_event_error (ev);
        snprintf (why, size, "%s", rd_kafka_event_error_string (ev));
        const rd_kafka_CreateTopics_result_t *res =
            rd_kafka_event_CreateTopics_result (ev);
        size_t cnt = 0;
        const rd_kafka_topic_result_t **tr =
            res ? rd_kafka_CreateTopics_result_topics (res, &cnt) : NULL;
        if (!err && cnt == 1) {
            err = rd_kafka_topic_result_error (tr[0]);
            const char *s = rd_kafka_topic_result_error_string (tr[0]);
            snprintf (why, size, "%s", s ? s : rd_kafka_err2str (err));
        }
        rd_kafka_event_destroy (ev);
    }
    rd_kafka_queue_destroy (q);
    rd_kafka_NewTopic_destroy (nt);
    return err == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS
               ? RD_KAFKA_RESP_ERR_NO_ERROR
               : err;
}

static void s_open (sched_marks_t *self);

//  See sched_marks.h.
void
sched_marks_start (sched_marks_t *self, const rd_kafka_conf_t *conf)
{
    self->conf = rd_kafka_conf_dup (conf);
    char err[512];
    static const char *props[][2] = {{"client.id", "sluice-scheduler-state"},
                                     {"enable.partition.eof", "true"},
                                     {"isolation.level", "read_committed"},
                                     {"auto.offset.reset", "earliest"},
                                     {"statistics.interval.ms", "0"}};
    for (size_t i = 0; i < sizeof props / sizeof props[0]; i++)
        if (sl_kafka_conf_set (self->conf, props[i][0], props[i][1], err,
                               sizeof err) != 0) {
            sl_warn ("state topic not used topic=%s reason=\"%s\"", self->topic,
                     err);
            return;
        }
    self->conf_all = rd_kafka_conf_dup (self->conf);
    if (sl_kafka_conf_set (self->conf_all, "isolation.level",
                           "read_uncommitted", err, sizeof err) != 0) {
        sl_warn ("state topic not used topic=%s reason=\"%s\"", self->topic,
                 err);
        return;
    }
    s_open (self);
}

//  Find the topic (create it if absent) and its end offsets: usable, or
//  said once why not (again only when the reason changes). Tried at
//  start and again at each assignment while it is not usable, so a
//  cluster away at start does not leave the markers off for good.
static void
s_open (sched_marks_t *self)
{
    rd_kafka_t *rk = s_client (self, false);
    if (!rk)
        return;
    rd_kafka_resp_err_t rc;
    int n = s_partitions (self, rk, &rc);
    if (n == 0) {
        char why[256];
        rc = s_create (self, rk, why, sizeof why);
        if (rc)
            sl_warn ("state topic not there and not created topic=%s "
                     "reason=\"%s\"",
                     self->topic, why);
        else
            sl_info ("state topic created topic=%s partitions=1", self->topic);
        //  The new topic's leader may take a moment to be known.
        int64_t deadline = sl_now_ms () + MARKS_TIMEOUT_MS;
        while (!rc && (n = s_partitions (self, rk, &rc)) <= 0 &&
               sl_now_ms () < deadline)
            zclock_sleep (100);
    }
    free (self->hwm);
    self->hwm = n > 0 ? calloc ((size_t)n, sizeof *self->hwm) : NULL;
    free (self->roster);
    self->roster = n > 0 ? malloc ((size_t)n * sizeof *self->roster) : NULL;
    for (int p = 0; self->roster && p < n; p++)
        self->roster[p] = -1;
    for (int p = 0; self->hwm && p < n; p++) {
        int64_t lo = 0, hi = 0;
        rc = rd_kafka_query_watermark_offsets (rk, self->topic, p, &lo, &hi,
                                               MARKS_TIMEOUT_MS);
        if (rc)
            break;
        self->hwm[p] = hi;
    }
    s_client_destroy (rk);
    if (n <= 0 || !self->hwm || !self->roster || rc) {
        if (rc != self->open_err)
            sl_warn ("state topic not used for now (tried again at the next "
                     "assignment): completed ranges are remembered in the "
                     "commit metadata only topic=%s reason=\"%s\"",
                     self->topic, rd_kafka_err2str (rc));
        self->open_err = rc;
        return;
    }
    self->nparts = n;
    sl_info ("state topic topic=%s partitions=%d", self->topic, n);
}

//  See sched_marks.h.
bool
sched_marks_usable (const sched_marks_t *self)
{
    return self && self->nparts > 0;
}

//  Keep range [start, end) of a marker for f.
static void
s_found_add (s_found_t *f, int64_t start, int64_t end)
{
    if (f->n == f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 256;
        sl_range_t *r = realloc (f->r, cap * sizeof *r);
        if (!r)
            return; //  forgotten: it runs again
        f->r = r;
        f->cap = cap;
    }
    f->r[f->n++] = (sl_range_t){start, end};
}

//  A roster record of this group: its ids are fenced before the markers
//  are read (sched_marks_read).
static void
s_roster (sched_marks_t *self, const rd_kafka_message_t *m)
{
    if (!sched_fence_is_roster (m))
        return;
    Sluice__Roster *r =
        sluice__roster__unpack (NULL, m->len, (const uint8_t *)m->payload);
    if (!r)
        return;
    for (size_t i = 0; streq (r->group, self->group) && i < r->n_txn_ids; i++)
        zhashx_update (self->ids, r->txn_ids[i], self);
    sluice__roster__free_unpacked (r, NULL);
}

//  One record of the state topic: a marker of this group for a partition
//  being taken, above its committed offset, is kept.
static void
s_marker (sched_marks_t *self, const rd_kafka_message_t *m)
{
    if (sched_fence_is_roster (m))
        return;
    Sluice__Marker *mk =
        sluice__marker__unpack (NULL, m->len, (const uint8_t *)m->payload);
    if (!mk)
        return;
    self->read++;
    char key[300];
    snprintf (key, sizeof key, "%s:%" PRId32, mk->topic, mk->partition);
    s_found_t *f = streq (mk->group, self->group)
                       ? zhashx_lookup (self->found, key)
                       : NULL;
    if (f && mk->start >= 0 && mk->end > mk->start && mk->end > f->committed)
        s_found_add (f, mk->start, mk->end);
    sluice__marker__free_unpacked (mk, NULL);
}

//  Read state partition sp from `from` to its end into found.
static void
s_read_partition (sched_marks_t *self, rd_kafka_t *rk, rd_kafka_t *rk_all,
                  int32_t sp, int64_t from, bool roster)
{
    int64_t lo = 0, hi = 0;
    rd_kafka_resp_err_t rc = rd_kafka_query_watermark_offsets (
        rk_all, self->topic, sp, &lo, &hi, MARKS_TIMEOUT_MS);
    if (rc) {
        sl_warn ("state topic unreadable: ranges past the commit metadata "
                 "run again topic=%s partition=%d reason=\"%s\"",
                 self->topic, sp, rd_kafka_err2str (rc));
        return;
    }
    if (from < lo)
        sl_warn ("markers deleted by the state topic's retention: their "
                 "ranges run again topic=%s partition=%d from=%" PRId64
                 " log_start=%" PRId64,
                 self->topic, sp, from, lo);
    int64_t at = from < lo ? lo : from;
    if (at >= hi)
        return;
    rd_kafka_topic_partition_list_t *list =
        rd_kafka_topic_partition_list_new (1);
    rd_kafka_topic_partition_list_add (list, self->topic, sp)->offset = at;
    rd_kafka_assign (rk, list);
    rd_kafka_topic_partition_list_destroy (list);
    int64_t t0 = sl_now_ms (), said = t0, n0 = (int64_t)self->read;
    bool end = false;
    while (!end && at < hi) {
        int64_t now = sl_now_ms ();
        if (now - t0 > MARKS_READ_MS) {
            sl_warn ("state topic read given up: ranges past it run again "
                     "topic=%s partition=%d at=%" PRId64 " end=%" PRId64,
                     self->topic, sp, at, hi);
            break;
        }
        if (now - said >= 2000) {
            said = now;
            sl_info ("reading markers topic=%s partition=%d at=%" PRId64
                     " end=%" PRId64,
                     self->topic, sp, at, hi);
        }
        rd_kafka_message_t *m = rd_kafka_consumer_poll (rk, 200);
        if (!m)
            continue;
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            //  A read_committed reader stops at the last stable offset:
            //  below the end while a transaction is open (a worker that
            //  died in it: --exactly-once). The markers behind it count,
            //  so it waits for that transaction to end (the broker aborts
            //  it after transaction.timeout.ms), up to MARKS_READ_MS.
            end = m->offset >= hi;
            if (!end && now - said >= 2000) {
                said = now;
                sl_info ("markers wait for an open transaction topic=%s "
                         "partition=%d stable=%" PRId64 " end=%" PRId64,
                         self->topic, sp, m->offset, hi);
            }
        } else if (m->err)
            sl_warn ("state topic error topic=%s partition=%d reason=\"%s\"",
                     self->topic, sp, rd_kafka_message_errstr (m));
        else {
            if (roster)
                s_roster (self, m);
            else
                s_marker (self, m);
            at = m->offset + 1;
        }
        rd_kafka_message_destroy (m);
    }
    rd_kafka_assign (rk, NULL);
    if (roster)
        sl_info ("roster read topic=%s partition=%d from=%" PRId64
                 " transactional_ids=%zu ms=%" PRId64,
                 self->topic, sp, from, zhashx_size (self->ids),
                 sl_now_ms () - t0);
    else
        sl_info ("markers read topic=%s partition=%d from=%" PRId64
                 " markers=%" PRId64 " ms=%" PRId64,
                 self->topic, sp, from, (int64_t)self->read - n0,
                 sl_now_ms () - t0);
}

//  See sched_marks.h.
void
sched_marks_read (sched_marks_t *self,
                  const rd_kafka_topic_partition_list_t *list)
{
    if (self && !sched_marks_usable (self) && self->conf_all)
        s_open (self);
    if (!sched_marks_usable (self))
        return;
    zhashx_purge (self->found);
    int64_t *from = malloc ((size_t)self->nparts * sizeof *from);
    if (!from)
        return;
    //  --exactly-once: where each state partition's rosters are read
    //  from: the metadata's position (never after the last roster when it
    //  was committed), or the partition's start where none was committed.
    int64_t *rfrom = calloc ((size_t)self->nparts, sizeof *rfrom);
    if (!rfrom) {
        free (from);
        return;
    }
    bool rosters = false;
    for (int32_t p = 0; p < self->nparts; p++)
        from[p] = rfrom[p] = -1;
    for (int i = 0; i < list->cnt; i++) {
        const rd_kafka_topic_partition_t *tp = &list->elems[i];
        static sl_range_t ranges[SL_META_DEFAULT_LIMIT];
        sl_meta_mark_t mark;
        sl_meta_decode_marks (tp->offset, tp->metadata, tp->metadata_size,
                              ranges, SL_META_DEFAULT_LIMIT, &mark);
        int32_t sp = tp->partition % self->nparts;
        int64_t pos = tp->offset >= 0 && mark.partition == sp ? mark.offset : 0;
        if (self->fence_conf && (rfrom[sp] < 0 || pos < rfrom[sp])) {
            rfrom[sp] = pos;
            rosters = true;
        }
        if (mark.partition < 0 || mark.partition >= self->nparts ||
            tp->offset < 0)
            continue;
        s_found_t *f = calloc (1, sizeof *f);
        if (!f)
            continue;
        f->committed = tp->offset;
        f->from = mark.offset;
        char key[300];
        snprintf (key, sizeof key, "%s:%" PRId32, tp->topic, tp->partition);
        zhashx_update (self->found, key, f);
        if (from[mark.partition] < 0 || mark.offset < from[mark.partition])
            from[mark.partition] = mark.offset;
    }
    rd_kafka_t *rk =
        zhashx_size (self->found) || rosters ? s_client (self, true) : NULL;
    rd_kafka_t *rk_all = rk ? s_client (self, false) : NULL;
    if (rk_all && rosters && self->ids) {
        //  --exactly-once: whoever may hold these partitions' jobs is
        //  fenced first, so no marker is committed after the read below.
        //  The rosters are read as written (read_uncommitted): an open
        //  transaction must not hold the read back; fencing ends it.
        zhashx_purge (self->ids);
        for (int32_t p = 0; p < self->nparts; p++)
            if (rfrom[p] >= 0)
                s_read_partition (self, rk_all, rk_all, p, rfrom[p], true);
        zlistx_t *keys = zhashx_keys (self->ids);
        size_t n = keys ? zlistx_size (keys) : 0, i = 0;
        char **ids = calloc (n ? n : 1, sizeof *ids);
        for (char *id = keys ? zlistx_first (keys) : NULL; ids && id;
             id = zlistx_next (keys))
            ids[i++] = id;
        int64_t t0 = sl_now_ms ();
        size_t fenced = ids ? sched_fence_ids (self->fence_conf, ids, n) : 0;
        if (n)
            sl_info ("takeover fenced transactional_ids=%zu of=%zu ms=%" PRId64,
                     fenced, n, sl_now_ms () - t0);
        free (ids);
        zlistx_destroy (&keys);
    }
    free (rfrom);
    for (int32_t p = 0; rk_all && p < self->nparts; p++)
        if (from[p] >= 0)
            s_read_partition (self, rk, rk_all, p, from[p], false);
    if (rk)
        s_client_destroy (rk);
    if (rk_all)
        s_client_destroy (rk_all);
    free (from);
}

//  See sched_marks.h.
size_t
sched_marks_apply (sched_marks_t *self, sched_part_t *part)
{
    if (!sched_marks_usable (self))
        return 0;
    int32_t sp = part->partition % self->nparts;
    part->marks.topic = self->topic;
    part->marks.group = self->group;
    part->marks.partition = sp;
    part->marks.hwm = &self->hwm[sp];
    part->marks.roster = self->fence_conf ? &self->roster[sp] : NULL;
    s_found_t *f = zhashx_lookup (self->found, part->key);
    if (!f || f->n == 0)
        return 0;
    //  Those ranges are complete; where their markers begin is where the
    //  metadata said, until the commit passes the last of them.
    int64_t end = 0;
    for (size_t i = 0; i < f->n; i++)
        if (f->r[i].end > end)
            end = f->r[i].end;
    size_t n = f->n;
    if (sched_window_restore (part->window, f->r, f->n) != 0)
        n = 0;
    else
        sched_model_marks_add (part, end, f->from);
    self->restored += n;
    zhashx_delete (self->found, part->key);
    return n;
}

//  See sched_marks.h. The input's end offsets are asked up to every
//  --tail-poll-ms while tailing; a bound a second old is as good (it only
//  says where a takeover starts reading).
void
sched_marks_query_add (sched_marks_t *self,
                       rd_kafka_topic_partition_list_t *list)
{
    int64_t now = sl_now_ms ();
    if (!sched_marks_usable (self) || now - self->asked_ms < MARKS_ASK_MS)
        return;
    self->asked_ms = now;
    for (int32_t p = 0; p < self->nparts; p++)
        rd_kafka_topic_partition_list_add (list, self->topic, p)->offset =
            RD_KAFKA_OFFSET_END;
}

//  See sched_marks.h.
bool
sched_marks_learn (sched_marks_t *self, const rd_kafka_topic_partition_t *tp)
{
    if (!sched_marks_usable (self) || !streq (tp->topic, self->topic))
        return false;
    //  End offsets only grow; an answer older than one applied is skipped.
    if (tp->partition >= 0 && tp->partition < self->nparts && !tp->err &&
        tp->offset > self->hwm[tp->partition])
        self->hwm[tp->partition] = tp->offset;
    return true;
}

//  See sched_marks.h.
void
sched_marks_counts (const sched_marks_t *self, uint64_t *read,
                    uint64_t *restored)
{
    *read = self ? self->read : 0;
    *restored = self ? self->restored : 0;
}

//  See sched_marks.h.
void
sched_marks_eos (sched_marks_t *self, const rd_kafka_conf_t *conf)
{
    if (!self || self->fence_conf)
        return;
    self->fence_conf = rd_kafka_conf_dup (conf);
    self->ids = zhashx_new ();
}

//  See sched_marks.h.
int32_t
sched_marks_nparts (const sched_marks_t *self)
{
    return self ? self->nparts : 0;
}

//  See sched_marks.h.
void
sched_marks_roster_set (sched_marks_t *self, const int64_t *offsets, int32_t n)
{
    for (int32_t p = 0; self && self->roster && p < n && p < self->nparts; p++)
        if (offsets[p] >= 0)
            self->roster[p] = offsets[p];
}
