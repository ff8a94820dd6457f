/*  sched_commit - committing what is done. See sched_commit.h.
 */
#include "sched_commit.h"

#include <inttypes.h>
#include "sl_clock.h"
#include "sl_hash.h"
#include "sl_log.h"
#include "sl_meta.h"

#define SCHED_RESTORE_MAX 4096
//  An asynchronous commit unanswered this long no longer holds back the
//  next one for its partition (librdkafka answers each, if only with a
//  timeout, well before).
#define SCHED_COMMIT_STUCK_MS 300000

//  Set up; see sched_commit.h.
void
sched_commit_init (sched_commit_t *self, sched_model_t *model,
                   sched_stats_t *stats, int64_t metadata_max_bytes)
{
    memset (self, 0, sizeof *self);
    self->model = model;
    self->stats = stats;
    self->meta_limit = metadata_max_bytes;
}

//  A short digest of a metadata string, to notice changes cheaply.
static void
s_digest (const char *s, char *out, size_t size)
{
    snprintf (out, size, "%016" PRIx64, sl_hash_fnv_str (SL_HASH_FNV_INIT, s));
}

//  Encode the partition's completed ranges above committed.
static void
s_part_meta (sched_commit_t *self, sched_part_t *part, char *buf, size_t size)
{
    sl_range_t ranges[SCHED_RESTORE_MAX];
    size_t n = sched_window_completed (part->window, ranges, SCHED_RESTORE_MAX);
    size_t limit = (size_t)self->meta_limit;
    if (limit > size)
        limit = size;
    //  --state-topic: where the markers of the ranges above committed
    //  begin, for those the ranges here leave out (sl_meta version 2).
    int64_t committed = sched_window_committed (part->window);
    sl_meta_mark_t mark = {part->marks.partition,
                           sched_model_marks_from (part, committed)};
    //  --exactly-once: never after the last roster (a takeover reads the
    //  rosters from here), and always some position (the end known now,
    //  before any roster or marker still to come).
    const int64_t *roster = part->marks.roster;
    if (roster && *roster >= 0 && (mark.offset < 0 || *roster < mark.offset))
        mark.offset = *roster;
    if (roster && mark.offset < 0 && part->marks.hwm)
        mark.offset = *part->marks.hwm;
    if (sl_meta_encode_marks (committed, ranges, n, &mark, buf, limit) < 0)
        snprintf (buf, size, "%s", SL_META_PREFIX);
}

//  The broker refused the metadata as too large: keep fewer ranges, or no
//  commit would ever be accepted again.
static void
s_meta_too_large (sched_commit_t *self)
{
    if (self->meta_limit <= 16)
        return;
    self->meta_limit /= 2;
    if (self->meta_limit < 16)
        self->meta_limit = 16;
    sl_warn ("broker refused the commit metadata as too large, keeping at "
             "most %" PRId64 " bytes; set --metadata-max-bytes to the "
             "broker's offset.metadata.max.bytes",
             self->meta_limit);
}

//  One partition's commit was acknowledged at tp->offset.
static void
s_acked (sched_part_t *part, const rd_kafka_topic_partition_t *tp)
{
    //  Answers come in the order the coordinator applied the commits: one
    //  for an offset below what it acknowledged before means an older
    //  commit (retried by librdkafka after an outage) landed after a
    //  newer one, and the group now stands there. Send the current offset
    //  again next time.
    if (tp->offset < part->commit.acked) {
        sl_warn ("an older commit reached the broker after a newer one, "
                 "committing again topic=%s partition=%d offset=%" PRId64
                 " acknowledged=%" PRId64,
                 tp->topic, tp->partition, tp->offset, part->commit.acked);
        part->commit.sent = -1;
        part->commit.meta[0] = 0;
    }
    part->commit.acked = tp->offset;
}

//  Apply the per-partition results of a commit.
static void
s_result (sched_commit_t *self, rd_kafka_resp_err_t err,
          rd_kafka_topic_partition_list_t *offsets)
{
    if (err == RD_KAFKA_RESP_ERR__NO_OFFSET)
        return;
    for (int i = 0; offsets && i < offsets->cnt; i++) {
        rd_kafka_topic_partition_t *tp = &offsets->elems[i];
        sched_part_t *part =
            sched_model_part_find (self->model, tp->topic, tp->partition);
        rd_kafka_resp_err_t perr = err ? err : tp->err;
        if (!part)
            continue;
        part->commit.sent_ms = 0;
        if (perr == RD_KAFKA_RESP_ERR_OFFSET_METADATA_TOO_LARGE)
            s_meta_too_large (self);
        if (!perr) {
            s_acked (part, tp);
            continue;
        }
        self->stats->commit_failures++;
        part->commit.sent = -1; //  send it again next time
        part->commit.meta[0] = 0;
        sl_warn ("commit failed, will retry topic=%s partition=%d "
                 "offset=%" PRId64 " reason=\"%s\"",
                 tp->topic, tp->partition, tp->offset, rd_kafka_err2str (perr));
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
        uint64_t h = sl_hash_fnv_str (SL_HASH_FNV_INIT, tp->topic);
        h = sl_hash_fnv_step (h, (uint32_t)tp->partition);
        sum += sl_hash_fnv_step (h, (uint64_t)tp->offset);
    }
    return sum;
}

//  An asynchronous commit left at sent_us: wait for its answer.
static void
s_pending_add (sched_commit_t *self,
               const rd_kafka_topic_partition_list_t *list, int64_t sent_us)
{
    if (self->pending_n == SCHED_COMMITS_PENDING) {
        //  Never answered (or not yet): forget the oldest.
        memmove (&self->pending[0], &self->pending[1],
                 (SCHED_COMMITS_PENDING - 1) * sizeof self->pending[0]);
        self->pending_n--;
    }
    self->pending[self->pending_n].digest = s_commit_digest (list);
    self->pending[self->pending_n].sent_us = sent_us;
    self->pending_n++;
}

//  An answer came: observe the latency of the oldest pending commit it
//  matches. librdkafka also answers synchronous commits here, which were
//  observed when they returned: those match nothing and are skipped.
static void
s_pending_answered (sched_commit_t *self,
                    const rd_kafka_topic_partition_list_t *offsets)
{
    uint64_t digest = offsets ? s_commit_digest (offsets) : 0;
    for (size_t i = 0; offsets && i < self->pending_n; i++) {
        if (self->pending[i].digest != digest)
            continue;
        int64_t us = sl_now_us () - self->pending[i].sent_us;
        sched_stats_commit_latency (self->stats, (double)us / 1e6);
        memmove (&self->pending[i], &self->pending[i + 1],
                 (self->pending_n - i - 1) * sizeof self->pending[0]);
        self->pending_n--;
        return;
    }
}

//  librdkafka's answer to an asynchronous commit; see sched_commit.h.
void
sched_commit_answered (sched_commit_t *self, rd_kafka_resp_err_t err,
                       rd_kafka_topic_partition_list_t *offsets)
{
    s_pending_answered (self, offsets);
    s_result (self, err, offsets);
}

//  Add part to the commit in list if it changed since the last one sent.
static void
s_add_changed (sched_commit_t *self, sched_part_t *p,
               rd_kafka_topic_partition_list_t *list, bool sync, int64_t now)
{
    //  One asynchronous commit per partition at a time (sched_commit.h).
    //  librdkafka answers every commit, if only with a timeout; the guard
    //  is for a bug.
    if (p->commit.sent_ms && !sync) {
        if (now - p->commit.sent_ms < SCHED_COMMIT_STUCK_MS)
            return;
        sl_warn ("commit unanswered, sending another topic=%s "
                 "partition=%d waited_ms=%" PRId64,
                 p->topic, p->partition, now - p->commit.sent_ms);
    }
    int64_t committed = sched_window_committed (p->window);
    char meta[SL_META_DEFAULT_LIMIT * 4], digest[64];
    s_part_meta (self, p, meta, sizeof meta);
    s_digest (meta, digest, sizeof digest);
    if (!sched_commit_wanted (p, committed, digest, sync))
        return;
    rd_kafka_topic_partition_t *tp =
        rd_kafka_topic_partition_list_add (list, p->topic, p->partition);
    tp->offset = committed;
    tp->metadata_size = strlen (meta);
    tp->metadata = strdup (meta);
    p->commit.sent = committed;
    snprintf (p->commit.meta, sizeof p->commit.meta, "%s", digest);
    if (!sync)
        p->commit.sent_ms = now;
    sl_debug ("committing topic=%s partition=%d offset=%" PRId64 " metadata=%s",
              p->topic, p->partition, committed, meta);
}

//  Commit what changed; see sched_commit.h.
void
sched_commit_run (sched_commit_t *self, rd_kafka_t *rk, bool sync)
{
    zhashx_t *parts = self->model->parts;
    if (!rk || zhashx_size (parts) == 0)
        return;
    rd_kafka_topic_partition_list_t *list =
        rd_kafka_topic_partition_list_new ((int)zhashx_size (parts));
    int64_t now = sl_now_ms ();
    for (sched_part_t *p = zhashx_first (parts); p; p = zhashx_next (parts))
        s_add_changed (self, p, list, sync, now);
    if (list->cnt > 0) {
        self->stats->commits++;
        int64_t sent_us = sl_now_us ();
        rd_kafka_resp_err_t err = rd_kafka_commit (rk, list, !sync);
        if (sync || err)
            sched_stats_commit_latency (self->stats,
                                        (double)(sl_now_us () - sent_us) / 1e6);
        else
            s_pending_add (self, list, sent_us);
        if (sync || err)
            s_result (self, err, list);
    }
    rd_kafka_topic_partition_list_destroy (list);
}

//  A partition was assigned; see sched_commit.h.
void
sched_commit_assigned (sched_commit_t *self, sched_part_t *part,
                       int64_t committed, bool known)
{
    part->commit.acked = known ? committed : -1;
    part->commit.sent = known ? committed : -1;
    char meta[SL_META_DEFAULT_LIMIT * 4];
    s_part_meta (self, part, meta, sizeof meta);
    s_digest (meta, part->commit.meta, sizeof part->commit.meta);
}

//  Take a partition over; see sched_commit.h.
sched_part_t *
sched_commit_take (sched_commit_t *self, const rd_kafka_topic_partition_t *tp,
                   sched_marks_t *marks)
{
    static sl_range_t restored[SCHED_RESTORE_MAX];
    int n = sl_meta_decode (tp->offset, tp->metadata, tp->metadata_size,
                            restored, SCHED_RESTORE_MAX);
    if (n < 0) {
        sl_warn ("ignoring unreadable commit metadata topic=%s partition=%d",
                 tp->topic, tp->partition);
        n = 0;
    }
    sched_part_t *part = sched_model_part_add (
        self->model, tp->topic, tp->partition, tp->offset, restored, (size_t)n);
    if (!part)
        return NULL;
    size_t marked = sched_marks_apply (marks, part);
    sched_commit_assigned (self, part, tp->offset, tp->metadata != NULL);
    sl_info ("assigned topic=%s partition=%d committed=%" PRId64
             " restored_ranges=%d marked_ranges=%zu",
             tp->topic, tp->partition, tp->offset, n, marked);
    return part;
}

//  Whether part goes in a commit now; see sched_commit.h.
bool
sched_commit_wanted (const sched_part_t *part, int64_t committed,
                     const char *digest, bool sync)
{
    //  A sync commit (revoke, exit) is the last word on the partition: it
    //  goes out unless the broker acknowledged exactly this, not merely
    //  because it was sent (an asynchronous one may be unanswered, or its
    //  failure not read yet).
    if (sync && (committed != part->commit.acked ||
                 part->commit.sent != part->commit.acked))
        return true;
    return committed != part->commit.sent || !streq (digest, part->commit.meta);
}
