/*  sched_kafka - the scheduler's side of Kafka. See sched_kafka.h.

    The consumer joins the group with subscribe() and, in the rebalance
    callback, reads the committed offsets and their metadata, assigns the
    partitions and pauses them at once: it stays a member, serves
    rebalances through rd_kafka_consumer_poll(), and never fetches a record
    (statistics prove it: rxmsgs stays 0). End offsets come from
    rd_kafka_offsets_for_times() with every timestamp -1, one ListOffsets
    request per leader, run by an actor thread so the loop never blocks.
*/
#include "sched_kafka.h"

#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <unistd.h>
#include "sl_clock.h"
#include "sl_kafka.h"
#include "sl_log.h"
#include "sl_meta.h"
#include "sl_proto.h"

#define SCHED_RESTORE_MAX      4096
#define SCHED_KAFKA_TIMEOUT_MS 10000
//  An asynchronous commit unanswered this long no longer holds back the
//  next one for its partition (librdkafka answers each, if only with a
//  timeout, well before).
#define SCHED_COMMIT_STUCK_MS 300000
/*  Tries of a blocking broker query at assignment before giving up.      */
#define SCHED_KAFKA_ATTEMPTS 5
/*  End offsets are asked this often while a partition waits for data.     */
#define SCHED_HUNGRY_MS 20

//  ---------------------------------------------------------------------
//  Offsets actor: runs ListOffsets for the loop.

//  The actor: on "QUERY" with a partition list, look up the end offsets
//  and send the list back with the error code.
static void
s_offsets_actor (zsock_t *pipe, void *args)
{
    rd_kafka_t *rk = args;
    zsock_signal (pipe, 0);
    while (true) {
        char *cmd = NULL;
        void *list = NULL;
        if (zsock_recv (pipe, "sp", &cmd, &list) != 0)
            break;
        bool term = streq (cmd, "$TERM");
        if (!term && streq (cmd, "QUERY")) {
            rd_kafka_resp_err_t err =
                rd_kafka_offsets_for_times (rk, list, SCHED_KAFKA_TIMEOUT_MS);
            zsock_send (pipe, "pi", list, (int)err);
        }
        zstr_free (&cmd);
        if (term)
            break;
    }
}

//  Ask for end offsets now and then: often while some partition waits for
//  data with room in its window, every second otherwise (for lag).
void
sched_offsets_maybe_query (scheduler_t *self, int64_t now)
{
    //  Not due even for a hungry partition: skip the scan (this runs every
    //  SCHED_OFFSETS_MS).
    if (self->offsets_busy || zhashx_size (self->parts) == 0 ||
        now < self->offsets_next_ms - (1000 - SCHED_HUNGRY_MS))
        return;
    bool hungry = false;
    for (sched_part_t *p = zhashx_first (self->parts); p && !hungry;
         p = zhashx_next (self->parts))
        hungry =
            sched_window_outstanding (p->window) < self->cfg->window &&
            sched_window_cut_offset (p->window) == sched_window_hwm (p->window);
    //  Hungry (caught up, tailing): look again every SCHED_HUNGRY_MS, so a
    //  new record waits that long at most before its job is cut.
    if (now < self->offsets_next_ms - (hungry ? 1000 - SCHED_HUNGRY_MS : 0))
        return;
    rd_kafka_topic_partition_list_t *list =
        rd_kafka_topic_partition_list_new ((int)zhashx_size (self->parts));
    for (sched_part_t *p = zhashx_first (self->parts); p;
         p = zhashx_next (self->parts))
        rd_kafka_topic_partition_list_add (list, p->topic, p->partition)
            ->offset = RD_KAFKA_OFFSET_END;
    self->offsets_busy = true;
    self->offsets_next_ms = now + 1000;
    zsock_send (self->offsets, "sp", "QUERY", list);
}

//  A partition's high watermark is known: the first one is its drain
//  target (the end of the backlog as it was when we took the partition).
static void
s_learn_hwm (sched_part_t *part, int64_t hwm)
{
    sched_window_set_hwm (part->window, hwm);
    if (!part->hwm_known) {
        part->drain_target = hwm;
        part->hwm_known = true;
    }
}

//  Apply the actor's answer.
void
sched_offsets_recv (scheduler_t *self)
{
    void *ptr = NULL;
    int err = 0;
    if (zsock_recv (self->offsets, "pi", &ptr, &err) != 0)
        return;
    rd_kafka_topic_partition_list_t *list = ptr;
    self->offsets_busy = false;
    if (err)
        sl_warn ("end offsets not known reason=\"%s\"",
                 rd_kafka_err2str ((rd_kafka_resp_err_t)err));
    for (int i = 0; !err && i < list->cnt; i++) {
        rd_kafka_topic_partition_t *tp = &list->elems[i];
        sched_part_t *part = sched_part_find (self, tp->topic, tp->partition);
        if (part && !tp->err && tp->offset >= 0)
            s_learn_hwm (part, tp->offset);
    }
    rd_kafka_topic_partition_list_destroy (list);
}

//  ---------------------------------------------------------------------
//  Commits

//  A short digest of a metadata string, to notice changes cheaply.
static void
s_digest (const char *s, char *out, size_t size)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    snprintf (out, size, "%016" PRIx64, h);
}

//  Encode the partition's completed ranges above committed.
static void
s_part_meta (scheduler_t *self, sched_part_t *part, char *buf, size_t size)
{
    sl_range_t ranges[SCHED_RESTORE_MAX];
    size_t n = sched_window_completed (part->window, ranges, SCHED_RESTORE_MAX);
    if (self->meta_limit <= 0)
        self->meta_limit = self->cfg->metadata_max_bytes;
    size_t limit = (size_t)self->meta_limit;
    if (limit > size)
        limit = size;
    if (sl_meta_encode (sched_window_committed (part->window), ranges, n, buf,
                        limit) < 0)
        snprintf (buf, size, "%s", SL_META_PREFIX);
}

//  Apply the per-partition results of a commit.
static void
s_commit_result (scheduler_t *self, rd_kafka_resp_err_t err,
                 rd_kafka_topic_partition_list_t *offsets)
{
    if (err == RD_KAFKA_RESP_ERR__NO_OFFSET)
        return;
    for (int i = 0; offsets && i < offsets->cnt; i++) {
        rd_kafka_topic_partition_t *tp = &offsets->elems[i];
        sched_part_t *part = sched_part_find (self, tp->topic, tp->partition);
        rd_kafka_resp_err_t perr = err ? err : tp->err;
        if (!part)
            continue;
        part->commit_sent_ms = 0;
        if (perr == RD_KAFKA_RESP_ERR_OFFSET_METADATA_TOO_LARGE &&
            self->meta_limit > 16) {
            //  The broker's offset.metadata.max.bytes is smaller than
            //  --metadata-max-bytes: keep fewer ranges, or no commit would
            //  ever be accepted again.
            self->meta_limit /= 2;
            if (self->meta_limit < 16)
                self->meta_limit = 16;
            sl_warn ("broker refused the commit metadata as too large, "
                     "keeping at most %" PRId64 " bytes; set "
                     "--metadata-max-bytes to the broker's "
                     "offset.metadata.max.bytes",
                     self->meta_limit);
        }
        if (perr) {
            self->stats.commit_failures++;
            part->sent_committed = -1; //  send it again next time
            part->sent_meta[0] = 0;
            sl_warn ("commit failed, will retry topic=%s partition=%d "
                     "offset=%" PRId64 " reason=\"%s\"",
                     tp->topic, tp->partition, tp->offset,
                     rd_kafka_err2str (perr));
        } else {
            //  Answers come in the order the coordinator applied the
            //  commits: one for an offset below what it acknowledged
            //  before means an older commit (retried by librdkafka after
            //  an outage) landed after a newer one, and the group now
            //  stands there. Send the current offset again next tick.
            if (tp->offset < part->acked_committed) {
                sl_warn ("an older commit reached the broker after a newer "
                         "one, committing again topic=%s partition=%d "
                         "offset=%" PRId64 " acknowledged=%" PRId64,
                         tp->topic, tp->partition, tp->offset,
                         part->acked_committed);
                part->sent_committed = -1;
                part->sent_meta[0] = 0;
            }
            part->acked_committed = tp->offset;
        }
    }
}

//  A digest of a commit's partitions and offsets that does not depend on
//  their order, to tell which request an answer is for.
static uint64_t
s_commit_digest (const rd_kafka_topic_partition_list_t *list)
{
    uint64_t sum = (uint64_t)list->cnt;
    for (int i = 0; i < list->cnt; i++) {
        const rd_kafka_topic_partition_t *tp = &list->elems[i];
        uint64_t h = 1469598103934665603ULL;
        for (const char *c = tp->topic; *c; c++)
            h = (h ^ (unsigned char)*c) * 1099511628211ULL;
        h = (h ^ (uint32_t)tp->partition) * 1099511628211ULL;
        h = (h ^ (uint64_t)tp->offset) * 1099511628211ULL;
        sum += h;
    }
    return sum;
}

//  An asynchronous commit left at sent_us: wait for its answer.
static void
s_commit_sent (scheduler_t *self, const rd_kafka_topic_partition_list_t *list,
               int64_t sent_us)
{
    if (self->commits_pending_n == SCHED_COMMITS_PENDING) {
        //  Never answered (or not yet): forget the oldest.
        memmove (&self->commits_pending[0], &self->commits_pending[1],
                 (SCHED_COMMITS_PENDING - 1) * sizeof self->commits_pending[0]);
        self->commits_pending_n--;
    }
    self->commits_pending[self->commits_pending_n].digest =
        s_commit_digest (list);
    self->commits_pending[self->commits_pending_n].sent_us = sent_us;
    self->commits_pending_n++;
}

//  An answer came: observe the latency of the oldest pending commit it
//  matches. librdkafka also answers synchronous commits here, which were
//  observed when they returned: those match nothing and are skipped.
static void
s_commit_answered (scheduler_t *self,
                   const rd_kafka_topic_partition_list_t *offsets)
{
    uint64_t digest = offsets ? s_commit_digest (offsets) : 0;
    for (size_t i = 0; offsets && i < self->commits_pending_n; i++) {
        if (self->commits_pending[i].digest != digest)
            continue;
        int64_t us = sl_now_us () - self->commits_pending[i].sent_us;
        sched_metrics_commit_latency (self, (double)us / 1e6);
        memmove (&self->commits_pending[i], &self->commits_pending[i + 1],
                 (self->commits_pending_n - i - 1) *
                     sizeof self->commits_pending[0]);
        self->commits_pending_n--;
        return;
    }
}

//  librdkafka's answer to an asynchronous commit.
static void
s_offset_commit_cb (rd_kafka_t *rk, rd_kafka_resp_err_t err,
                    rd_kafka_topic_partition_list_t *offsets, void *opaque)
{
    scheduler_t *self = opaque;
    s_commit_answered (self, offsets);
    s_commit_result (self, err, offsets);
}

//  Commit what changed; see sched_kafka.h.
void
sched_commit (scheduler_t *self, bool sync)
{
    if (!self->rk || zhashx_size (self->parts) == 0)
        return;
    rd_kafka_topic_partition_list_t *list =
        rd_kafka_topic_partition_list_new ((int)zhashx_size (self->parts));
    char meta[SL_META_DEFAULT_LIMIT * 4];
    int64_t now = sl_now_ms ();
    for (sched_part_t *p = zhashx_first (self->parts); p;
         p = zhashx_next (self->parts)) {
        //  One asynchronous commit per partition at a time: two in flight
        //  may reach the group in either order (librdkafka retries the
        //  older one after a coordinator outage), and an older offset
        //  landing last moves the group back. librdkafka answers every
        //  commit, if only with a timeout; the guard is for a bug.
        if (p->commit_sent_ms && !sync) {
            if (now - p->commit_sent_ms < SCHED_COMMIT_STUCK_MS)
                continue;
            sl_warn ("commit unanswered, sending another topic=%s "
                     "partition=%d waited_ms=%" PRId64,
                     p->topic, p->partition, now - p->commit_sent_ms);
        }
        int64_t committed = sched_window_committed (p->window);
        char digest[64];
        s_part_meta (self, p, meta, sizeof meta);
        s_digest (meta, digest, sizeof digest);
        if (committed == p->sent_committed && streq (digest, p->sent_meta))
            continue;
        rd_kafka_topic_partition_t *tp =
            rd_kafka_topic_partition_list_add (list, p->topic, p->partition);
        tp->offset = committed;
        tp->metadata_size = strlen (meta);
        tp->metadata = strdup (meta);
        p->sent_committed = committed;
        snprintf (p->sent_meta, sizeof p->sent_meta, "%s", digest);
        if (!sync)
            p->commit_sent_ms = now;
        sl_debug ("committing topic=%s partition=%d offset=%" PRId64
                  " metadata=%s",
                  p->topic, p->partition, committed, meta);
    }
    if (list->cnt > 0) {
        self->stats.commits++;
        int64_t sent_us = sl_now_us ();
        rd_kafka_resp_err_t err = rd_kafka_commit (self->rk, list, !sync);
        if (sync || err)
            sched_metrics_commit_latency (
                self, (double)(sl_now_us () - sent_us) / 1e6);
        else
            s_commit_sent (self, list, sent_us);
        if (sync)
            s_commit_result (self, err, list);
        else if (err)
            s_commit_result (self, err, list);
    }
    rd_kafka_topic_partition_list_destroy (list);
}

//  ---------------------------------------------------------------------
//  Rebalances

//  rd_kafka_offsets_for_times with retries: a broker that times out or
//  is between leaders answers a moment later. A partition-level error
//  counts as a failure. Returns the last error, NO_ERROR once every
//  partition has an answer.
static rd_kafka_resp_err_t
s_list_offsets (scheduler_t *self, rd_kafka_topic_partition_list_t *list,
                const char *what)
{
    rd_kafka_topic_partition_list_t *query =
        rd_kafka_topic_partition_list_copy (list);
    rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
    for (int attempt = 1; attempt <= SCHED_KAFKA_ATTEMPTS; attempt++) {
        for (int i = 0; i < query->cnt; i++) {
            query->elems[i].offset = list->elems[i].offset;
            query->elems[i].err = RD_KAFKA_RESP_ERR_NO_ERROR;
        }
        err = rd_kafka_offsets_for_times (self->rk, query,
                                          SCHED_KAFKA_TIMEOUT_MS);
        for (int i = 0; !err && i < query->cnt; i++)
            err = query->elems[i].err;
        if (!err)
            break;
        sl_warn ("cannot read %s attempt=%d of=%d reason=\"%s\"", what, attempt,
                 SCHED_KAFKA_ATTEMPTS, rd_kafka_err2str (err));
        if (attempt < SCHED_KAFKA_ATTEMPTS)
            zclock_sleep (200 * attempt);
    }
    if (!err)
        for (int i = 0; i < query->cnt; i++)
            list->elems[i].offset = query->elems[i].offset;
    rd_kafka_topic_partition_list_destroy (query);
    return err;
}

//  Fill offsets with committed offsets; find a start for those with none
//  (the log start offset, as auto.offset.reset=earliest would).
static int
s_read_committed (scheduler_t *self, rd_kafka_topic_partition_list_t *list)
{
    rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
    for (int attempt = 1; attempt <= SCHED_KAFKA_ATTEMPTS; attempt++) {
        err = rd_kafka_committed (self->rk, list, SCHED_KAFKA_TIMEOUT_MS);
        if (!err)
            break;
        sl_warn ("cannot read committed offsets attempt=%d of=%d "
                 "reason=\"%s\"",
                 attempt, SCHED_KAFKA_ATTEMPTS, rd_kafka_err2str (err));
        if (attempt < SCHED_KAFKA_ATTEMPTS)
            zclock_sleep (200 * attempt);
    }
    if (err)
        return -1;
    rd_kafka_topic_partition_list_t *fresh =
        rd_kafka_topic_partition_list_new (list->cnt);
    for (int i = 0; i < list->cnt; i++)
        if (list->elems[i].offset < 0)
            rd_kafka_topic_partition_list_add (fresh, list->elems[i].topic,
                                               list->elems[i].partition)
                ->offset = RD_KAFKA_OFFSET_BEGINNING;
    if (fresh->cnt > 0)
        err = s_list_offsets (self, fresh, "log start offsets");
    for (int i = 0; !err && i < fresh->cnt; i++) {
        rd_kafka_topic_partition_t *tp = rd_kafka_topic_partition_list_find (
            list, fresh->elems[i].topic, fresh->elems[i].partition);
        tp->offset = fresh->elems[i].offset < 0 ? 0 : fresh->elems[i].offset;
    }
    rd_kafka_topic_partition_list_destroy (fresh);
    return err ? -1 : 0;
}

//  Record each new partition's high watermark as its drain target. If the
//  broker cannot say now, the first end offset the offsets actor learns
//  becomes the target (sched_offsets_recv).
static void
s_read_targets (scheduler_t *self, rd_kafka_topic_partition_list_t *list)
{
    rd_kafka_topic_partition_list_t *ends =
        rd_kafka_topic_partition_list_copy (list);
    for (int i = 0; i < ends->cnt; i++)
        ends->elems[i].offset = RD_KAFKA_OFFSET_END;
    rd_kafka_resp_err_t err = s_list_offsets (self, ends, "end offsets");
    for (int i = 0; !err && i < ends->cnt; i++) {
        rd_kafka_topic_partition_t *tp = &ends->elems[i];
        sched_part_t *part = sched_part_find (self, tp->topic, tp->partition);
        if (part && tp->offset >= 0)
            s_learn_hwm (part, tp->offset);
    }
    rd_kafka_topic_partition_list_destroy (ends);
}

//  Take ownership of newly assigned partitions.
static void
s_on_assign (scheduler_t *self, rd_kafka_topic_partition_list_t *parts,
             bool cooperative)
{
    rd_kafka_topic_partition_list_t *list =
        rd_kafka_topic_partition_list_copy (parts);
    if (s_read_committed (self, list) != 0) {
        sl_error ("cannot start owned partitions: committed offsets unknown");
        self->fatal = true;
        rd_kafka_topic_partition_list_destroy (list);
        return;
    }
    static sl_range_t restored[SCHED_RESTORE_MAX];
    for (int i = 0; i < list->cnt; i++) {
        rd_kafka_topic_partition_t *tp = &list->elems[i];
        int n = sl_meta_decode (tp->offset, tp->metadata, tp->metadata_size,
                                restored, SCHED_RESTORE_MAX);
        if (n < 0) {
            sl_warn ("ignoring unreadable commit metadata topic=%s "
                     "partition=%d",
                     tp->topic, tp->partition);
            n = 0;
        }
        sched_part_t *part = sched_part_add (self, tp->topic, tp->partition,
                                             tp->offset, restored, (size_t)n);
        if (!part)
            continue;
        part->drain_start = tp->offset;
        part->acked_committed = tp->metadata ? tp->offset : -1;
        //  A partition the group never committed gets its start committed
        //  at the next tick, so lag tools see it from the beginning.
        part->sent_committed = part->acked_committed >= 0 ? tp->offset : -1;
        char meta[SL_META_DEFAULT_LIMIT * 4], digest[64];
        s_part_meta (self, part, meta, sizeof meta);
        s_digest (meta, digest, sizeof digest);
        snprintf (part->sent_meta, sizeof part->sent_meta, "%s", digest);
        sl_info ("assigned topic=%s partition=%d committed=%" PRId64
                 " restored_ranges=%d",
                 tp->topic, tp->partition, tp->offset, n);
    }
    s_read_targets (self, list);
    //  Assign at the end and pause at once: no record is ever fetched.
    for (int i = 0; i < list->cnt; i++)
        list->elems[i].offset = RD_KAFKA_OFFSET_END;
    if (cooperative) {
        rd_kafka_error_t *error = rd_kafka_incremental_assign (self->rk, list);
        if (error) {
            sl_error ("incremental assign failed reason=\"%s\"",
                      rd_kafka_error_string (error));
            rd_kafka_error_destroy (error);
        }
    } else
        rd_kafka_assign (self->rk, list);
    rd_kafka_pause_partitions (self->rk, list);
    rd_kafka_topic_partition_list_destroy (list);
    self->assigned = true;
    self->assign_pending = false;
}

//  Give up partitions: commit what is done, cancel what is in flight.
static void
s_on_revoke (scheduler_t *self, rd_kafka_topic_partition_list_t *parts,
             bool cooperative)
{
    if (!rd_kafka_assignment_lost (self->rk))
        sched_commit (self, true);
    for (int i = 0; i < parts->cnt; i++) {
        sched_part_t *part = sched_part_find (self, parts->elems[i].topic,
                                              parts->elems[i].partition);
        if (part) {
            sl_info ("revoked topic=%s partition=%d committed=%" PRId64,
                     part->topic, part->partition,
                     sched_window_committed (part->window));
            sched_part_remove (self, part);
        }
    }
    //  Owning nothing now is a rebalance under way (or an assignment lost
    //  when the session timed out, say while the broker was down), not a
    //  finished drain: wait for the group's next assignment.
    if (zhashx_size (self->parts) == 0)
        self->assign_pending = true;
    if (cooperative) {
        rd_kafka_error_t *error =
            rd_kafka_incremental_unassign (self->rk, parts);
        if (error)
            rd_kafka_error_destroy (error);
    } else
        rd_kafka_assign (self->rk, NULL);
}

//  The rebalance callback, served inside rd_kafka_consumer_poll().
static void
s_rebalance_cb (rd_kafka_t *rk, rd_kafka_resp_err_t err,
                rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    scheduler_t *self = opaque;
    bool cooperative = streq (rd_kafka_rebalance_protocol (rk), "COOPERATIVE");
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS)
        s_on_assign (self, parts, cooperative);
    else if (err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS)
        s_on_revoke (self, parts, cooperative);
    else {
        sl_error ("rebalance failed reason=\"%s\"", rd_kafka_err2str (err));
        rd_kafka_assign (rk, NULL);
    }
}

//  Statistics: keep the consumer's record totals (they must stay 0).
static int
s_stats_cb (rd_kafka_t *rk, char *json, size_t json_len, void *opaque)
{
    scheduler_t *self = opaque;
    json_t *root = json_loadb (json, json_len, 0, NULL);
    if (root) {
        self->stats.rxmsgs =
            json_integer_value (json_object_get (root, "rxmsgs"));
        self->stats.rxmsg_bytes =
            json_integer_value (json_object_get (root, "rxmsg_bytes"));
        self->stats.rx_bytes =
            json_integer_value (json_object_get (root, "rx_bytes"));
        self->stats.stats_samples++;
        json_decref (root);
    }
    return 0;
}

//  Errors: fatal ones stop the scheduler; the rest are informational.
static void
s_error_cb (rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    scheduler_t *self = opaque;
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
        char buf[512];
        rd_kafka_fatal_error (rk, buf, sizeof buf);
        sl_error ("kafka fatal error reason=\"%s\"", buf);
        self->fatal = true;
    } else if (sl_kafka_error_is_setup (err, reason)) {
        //  Wrong credentials, CA or protocol: retrying will not help.
        if (!self->fatal_setup)
            sl_error ("kafka security settings do not match the cluster, "
                      "check security.protocol, sasl.* and ssl.* (-X) "
                      "error=%s reason=\"%s\"",
                      rd_kafka_err2name (err), reason);
        self->fatal = self->fatal_setup = true;
    } else
        sl_warn ("kafka error error=%s reason=\"%s\"", rd_kafka_err2name (err),
                 reason);
}

//  Serve the consumer queue until it is empty.
void
sched_kafka_poll (scheduler_t *self)
{
    if (!self->rk)
        return;
    rd_kafka_message_t *msg;
    while ((msg = rd_kafka_consumer_poll (self->rk, 0))) {
        if (msg->err && msg->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
            sl_warn ("consumer event topic=%s reason=\"%s\"",
                     msg->rkt ? rd_kafka_topic_name (msg->rkt) : "-",
                     rd_kafka_message_errstr (msg));
        rd_kafka_message_destroy (msg);
    }
}

//  Create the consumer and subscribe.
int
sched_kafka_start (scheduler_t *self, char *err, size_t errlen)
{
    const sched_config_t *cfg = self->cfg;
    static const char *defaults[] = {
        "enable.auto.commit=false",    "enable.auto.offset.store=false",
        "enable.partition.eof=false",  "client.id=sluice-scheduler",
        "statistics.interval.ms=1000", NULL};
    rd_kafka_conf_t *conf =
        sl_kafka_conf_new (cfg->brokers, defaults, &cfg->props, err, errlen);
    if (!conf)
        return -1;
    if (sl_kafka_conf_set (conf, "group.id", cfg->group, err, errlen) != 0) {
        rd_kafka_conf_destroy (conf);
        return -1;
    }
    rd_kafka_conf_set_opaque (conf, self);
    rd_kafka_conf_set_rebalance_cb (conf, s_rebalance_cb);
    rd_kafka_conf_set_offset_commit_cb (conf, s_offset_commit_cb);
    rd_kafka_conf_set_stats_cb (conf, s_stats_cb);
    rd_kafka_conf_set_error_cb (conf, s_error_cb);
    self->stats.stats_interval_ms =
        sl_kafka_conf_int (conf, "statistics.interval.ms");
    char rderr[512];
    self->rk = rd_kafka_new (RD_KAFKA_CONSUMER, conf, rderr, sizeof rderr);
    if (!self->rk) {
        rd_kafka_conf_destroy (conf);
        snprintf (err, errlen, "cannot create Kafka consumer: %s", rderr);
        return -1;
    }
    rd_kafka_poll_set_consumer (self->rk);
    self->rkq = rd_kafka_queue_get_consumer (self->rk);
    if (pipe (self->kafka_pipe) != 0) {
        snprintf (err, errlen, "pipe: %s", strerror (errno));
        return -1;
    }
    fcntl (self->kafka_pipe[0], F_SETFL, O_NONBLOCK);
    fcntl (self->kafka_pipe[1], F_SETFL, O_NONBLOCK);
    rd_kafka_queue_io_event_enable (self->rkq, self->kafka_pipe[1], "1", 1);

    rd_kafka_topic_partition_list_t *topics =
        rd_kafka_topic_partition_list_new ((int)cfg->topics.count);
    for (size_t i = 0; i < cfg->topics.count; i++)
        rd_kafka_topic_partition_list_add (topics, cfg->topics.items[i],
                                           RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t rc = rd_kafka_subscribe (self->rk, topics);
    rd_kafka_topic_partition_list_destroy (topics);
    if (rc) {
        snprintf (err, errlen, "cannot subscribe: %s", rd_kafka_err2str (rc));
        return -1;
    }
    self->offsets = zactor_new (s_offsets_actor, self->rk);
    return self->offsets ? 0 : -1;
}

//  Final commit, leave the group, destroy the consumer.
void
sched_kafka_stop (scheduler_t *self)
{
    if (!self->rk)
        return;
    //  The last commit is worth a few tries: what it misses is run again
    //  by the next owner of the partitions.
    for (int attempt = 1; attempt <= SCHED_KAFKA_ATTEMPTS; attempt++) {
        uint64_t failures = self->stats.commit_failures;
        sched_commit (self, true);
        if (self->stats.commit_failures == failures)
            break;
        zclock_sleep (200 * attempt);
    }
    if (self->offsets_busy) {
        //  Take back the list a query in flight still owns.
        void *list = NULL;
        int err = 0;
        if (zsock_recv (self->offsets, "pi", &list, &err) == 0 && list)
            rd_kafka_topic_partition_list_destroy (list);
        self->offsets_busy = false;
    }
    zactor_destroy (&self->offsets);
    rd_kafka_queue_io_event_enable (self->rkq, -1, NULL, 0);
    //  With a short statistics interval, wait for one more report so the
    //  totals logged below cover the whole run (a drain shorter than one
    //  interval would otherwise log none); with the default (1 s) the
    //  exit is not held up.
    int64_t interval = self->stats.stats_interval_ms;
    if (interval > 0 && interval <= SL_KAFKA_STATS_EXACT_MS) {
        uint64_t seen = self->stats.stats_samples;
        int64_t deadline = sl_now_ms () + 2 * interval + 100;
        while (self->stats.stats_samples == seen && sl_now_ms () < deadline) {
            rd_kafka_message_t *msg = rd_kafka_consumer_poll (self->rk, 20);
            if (msg)
                rd_kafka_message_destroy (msg);
        }
    }
    rd_kafka_consumer_close (self->rk);
    //  rx_bytes: everything received from the brokers (group protocol,
    //  metadata, offsets); rxmsgs and rxmsg_bytes: records, which must be
    //  0; samples: how many statistics these totals rest on.
    sl_info ("kafka consumer totals rxmsgs=%" PRId64 " rxmsg_bytes=%" PRId64
             " rx_bytes=%" PRId64 " samples=%" PRIu64,
             self->stats.rxmsgs, self->stats.rxmsg_bytes, self->stats.rx_bytes,
             self->stats.stats_samples);
    rd_kafka_queue_destroy (self->rkq);
    rd_kafka_destroy (self->rk);
    self->rk = NULL;
    if (self->kafka_pipe[0] >= 0) {
        close (self->kafka_pipe[0]);
        close (self->kafka_pipe[1]);
    }
}

//  ---------------------------------------------------------------------
//  Drain

//  Total and done records toward the drain targets.
static void
s_drain_totals (scheduler_t *self, uint64_t *total, uint64_t *done)
{
    *total = *done = 0;
    for (sched_part_t *p = zhashx_first (self->parts); p;
         p = zhashx_next (self->parts)) {
        if (p->drain_target < 0 || p->drain_target <= p->drain_start)
            continue;
        int64_t committed = sched_window_committed (p->window);
        if (committed > p->drain_target)
            committed = p->drain_target;
        *total += (uint64_t)(p->drain_target - p->drain_start);
        *done += (uint64_t)(committed - p->drain_start);
    }
}

//  True when every owned partition is committed up to its target.
bool
sched_drain_finished (scheduler_t *self)
{
    if (self->drain_done)
        return true;
    if (!self->assigned || self->assign_pending)
        return false;
    for (sched_part_t *p = zhashx_first (self->parts); p;
         p = zhashx_next (self->parts)) {
        if (p->drain_target < 0 || p->acked_committed < p->drain_target) {
            if (sched_window_committed (p->window) >= p->drain_target &&
                p->drain_target >= 0 &&
                p->sent_committed != sched_window_committed (p->window))
                sched_commit (self, false);
            return false;
        }
    }
    self->drain_done = true;
    return true;
}

//  Format a duration for humans.
static void
s_fmt_eta (double seconds, char *buf, size_t size)
{
    if (!isfinite (seconds) || seconds < 0)
        snprintf (buf, size, "--");
    else if (seconds < 90)
        snprintf (buf, size, "%.0fs", seconds);
    else if (seconds < 5400)
        snprintf (buf, size, "%.0fm%02.0fs", floor (seconds / 60),
                  fmod (seconds, 60));
    else
        snprintf (buf, size, "%.1fh", seconds / 3600);
}

//  Print drain progress; see sched_kafka.h.
void
sched_progress (scheduler_t *self, int64_t now, bool final)
{
    if (!self->cfg->drain || streq (self->cfg->progress, "off"))
        return;
    //  auto: a bar on a terminal, unless the lines are JSON for a machine.
    bool bar = streq (self->cfg->progress, "bar") ||
               (streq (self->cfg->progress, "auto") && isatty (STDERR_FILENO) &&
                !sl_log_is_json ());
    int64_t every = bar ? 250 : 5000;
    if (!final && now < self->progress_next_ms)
        return;
    self->progress_next_ms = now + every;
    uint64_t total, done;
    s_drain_totals (self, &total, &done);
    double elapsed = (double)(now - self->started_ms) / 1000.0;
    if (final) {
        if (bar)
            fprintf (stderr, "\n");
        sl_info (
            "drain %s records=%" PRIu64 " total=%" PRIu64
            " seconds=%.2f rate=%.0f jobs=%" PRIu64 " retried=%" PRIu64
            " expired=%" PRIu64 " bisected=%" PRIu64 " dead_lettered=%" PRIu64
            " rejected=%" PRIu64 " lost=%" PRIu64,
            self->drain_done ? "complete" : "stopped", done, total, elapsed,
            elapsed > 0 ? (double)self->stats.records_done / elapsed : 0,
            self->stats.jobs_done, self->stats.jobs_retried,
            self->stats.jobs_expired, self->stats.jobs_bisected,
            self->stats.jobs_dead_lettered, self->stats.records_rejected,
            self->stats.records_lost);
        return;
    }
    double pct = total ? 100.0 * (double)done / (double)total : 0;
    char eta[32];
    s_fmt_eta (self->rate > 0 ? (double)(total - done) / self->rate : NAN, eta,
               sizeof eta);
    size_t workers = zhashx_size (self->workers);
    if (bar) {
        char gauge[31];
        int fill = (int)(pct * 30 / 100);
        for (int i = 0; i < 30; i++)
            gauge[i] = i < fill ? '#' : '.';
        gauge[30] = 0;
        fprintf (stderr,
                 "\r[%s] %5.1f%% %" PRIu64 "/%" PRIu64
                 " records  %.0f rec/s  ETA %s  workers %zu   ",
                 gauge, pct, done, total, self->rate, eta, workers);
        fflush (stderr);
    } else
        sl_info ("drain progress done=%" PRIu64 " total=%" PRIu64
                 " percent=%.1f rate=%.0f eta=%s workers=%zu",
                 done, total, pct, self->rate, eta, workers);
}

//  ---------------------------------------------------------------------
//  Status

//  Answer a STATUS_REQUEST with a snapshot.
void
sched_send_status (scheduler_t *self, zframe_t *rid)
{
    size_t np = zhashx_size (self->parts), nw = zhashx_size (self->workers);
    Sluice__PartitionStatus *ps = calloc (np + 1, sizeof *ps);
    Sluice__PartitionStatus **pp = calloc (np + 1, sizeof *pp);
    Sluice__WorkerStatus *ws = calloc (nw + 1, sizeof *ws);
    Sluice__WorkerStatus **wp = calloc (nw + 1, sizeof *wp);
    if (!ps || !pp || !ws || !wp)
        goto done;
    size_t i = 0;
    for (sched_part_t *p = zhashx_first (self->parts); p;
         p = zhashx_next (self->parts), i++) {
        sluice__partition_status__init (&ps[i]);
        ps[i].topic = p->topic;
        ps[i].partition = p->partition;
        ps[i].committed = sched_window_committed (p->window);
        ps[i].high_watermark = sched_window_hwm (p->window);
        ps[i].lag = ps[i].high_watermark - ps[i].committed;
        ps[i].in_flight = p->in_flight;
        ps[i].outstanding = (uint32_t)sched_window_outstanding (p->window);
        pp[i] = &ps[i];
    }
    int64_t now = sl_now_ms ();
    i = 0;
    for (sched_worker_t *w = zhashx_first (self->workers); w;
         w = zhashx_next (self->workers), i++) {
        sluice__worker_status__init (&ws[i]);
        ws[i].worker_id = w->name;
        ws[i].credits = w->credits;
        ws[i].jobs_done = w->jobs_done;
        ws[i].last_heartbeat_ms_ago = now - w->last_seen_ms;
        ws[i].in_flight = w->in_flight;
        ws[i].plugin = w->plugin;
        wp[i] = &ws[i];
    }
    Sluice__Status st = SLUICE__STATUS__INIT;
    st.group = self->cfg->group;
    st.n_partitions = np;
    st.partitions = pp;
    st.n_workers = nw;
    st.workers = wp;
    st.records_done = self->stats.records_done;
    st.jobs_done = self->stats.jobs_done;
    st.jobs_queued = self->queued;
    sl_proto_send (self->router, rid, SLUICE__ENVELOPE__BODY_STATUS, &st);
done:
    free (ps);
    free (pp);
    free (ws);
    free (wp);
}
