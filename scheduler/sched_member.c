/*  sched_member - the scheduler's membership of the consumer group. See
    sched_member.h.
*/
#include "sched_member.h"

#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <unistd.h>
#include "sched_lag.h"
#include "sched_wire.h"
#include "sl_clock.h"
#include "sl_kafka.h"
#include "sl_log.h"
#include "sl_meta.h"

#define SCHED_RESTORE_MAX      4096
#define SCHED_KAFKA_TIMEOUT_MS 10000
/*  Tries of a blocking broker query at assignment before giving up.      */
#define SCHED_KAFKA_ATTEMPTS 5
/*  End offsets are asked every --tail-poll-ms while a partition waits for
    data (default 10: every offsets tick, SCHED_OFFSETS_MS), so a new
    record waits about 5 ms on average before its job is cut, unless a
    worker at the partition's tail says sooner (TAIL). The offsets tick
    may come up to SCHED_HUNGRY_SLACK_MS early. On Kafka, 1,000 records/s
    tailed, looks every 10 ms instead of 20: p50 16-17 -> 10 ms, p99
    35-36 -> 23 ms against 20 ms here (issue 20). The cost: up to 100
    ListOffsets requests a second to the broker while tailing.           */
#define SCHED_HUNGRY_SLACK_MS 5

//  ---------------------------------------------------------------------
//  Offsets actor: runs ListOffsets for the loop.

//  The actor: on "QUERY" with a partition list, look up the end offsets
//  and send the list back with the error code; on "LAG" with an sched_lag_t,
//  run the lag check and send it back the same way. The lag check has a
//  client of its own (made at the first check, never in the group): the
//  member's coordinator connection may be the very thing that is stuck
//  (a join whose answer never comes holds back every answer after it).
static void
s_offsets_actor (zsock_t *pipe, void *args)
{
    sched_member_t *member = args;
    rd_kafka_conf_t *lag_conf = member->lag_conf; //  ours now
    rd_kafka_t *lag_rk = NULL;
    zsock_signal (pipe, 0);
    while (true) {
        char *cmd = NULL;
        void *list = NULL;
        if (zsock_recv (pipe, "sp", &cmd, &list) != 0)
            break;
        bool term = streq (cmd, "$TERM");
        if (!term && streq (cmd, "QUERY")) {
            //  member->rk is read here: a rejoin replaces the consumer,
            //  only while no partition is held (no QUERY is sent then).
            rd_kafka_resp_err_t err = rd_kafka_offsets_for_times (
                member->rk, list, SCHED_KAFKA_TIMEOUT_MS);
            zsock_send (pipe, "pi", list, (int)err);
        } else if (!term && streq (cmd, "LAG")) {
            char rderr[256];
            if (!lag_rk && lag_conf) {
                lag_rk = rd_kafka_new (RD_KAFKA_CONSUMER, lag_conf, rderr,
                                       sizeof rderr);
                if (lag_rk)
                    lag_conf = NULL;
                else
                    sl_warn ("cannot create the lag checker reason=\"%s\"",
                             rderr);
            }
            rd_kafka_resp_err_t err = lag_rk ? sched_lag_query (lag_rk, list)
                                             : RD_KAFKA_RESP_ERR__STATE;
            zsock_send (pipe, "pi", list, (int)err);
        }
        zstr_free (&cmd);
        if (term)
            break;
    }
    if (lag_rk)
        rd_kafka_destroy_flags (lag_rk, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
    if (lag_conf)
        rd_kafka_conf_destroy (lag_conf);
}

//  ---------------------------------------------------------------------
//  A member left without partitions (see sched_member.h).

//  Create the consumer from conf (ours now), wake the loop through the
//  pipe, subscribe.
static int
s_consumer_open (sched_member_t *self, rd_kafka_conf_t *conf, char *err,
                 size_t errlen)
{
    char rderr[512];
    self->rk = rd_kafka_new (RD_KAFKA_CONSUMER, conf, rderr, sizeof rderr);
    if (!self->rk) {
        rd_kafka_conf_destroy (conf);
        snprintf (err, errlen, "cannot create Kafka consumer: %s", rderr);
        return -1;
    }
    rd_kafka_poll_set_consumer (self->rk);
    self->rkq = rd_kafka_queue_get_consumer (self->rk);
    rd_kafka_queue_io_event_enable (self->rkq, self->pipe[1], "1", 1);
    const sl_strlist_t *topics = &self->cfg->topics;
    rd_kafka_topic_partition_list_t *list =
        rd_kafka_topic_partition_list_new ((int)topics->count);
    for (size_t i = 0; i < topics->count; i++)
        rd_kafka_topic_partition_list_add (list, topics->items[i],
                                           RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t rc = rd_kafka_subscribe (self->rk, list);
    rd_kafka_topic_partition_list_destroy (list);
    if (rc) {
        snprintf (err, errlen, "cannot subscribe: %s", rd_kafka_err2str (rc));
        return -1;
    }
    return 0;
}

//  Join again as a new consumer. unsubscribe() and subscribe() are not
//  enough: librdkafka 2.0.2 sends no JoinGroup while one is in flight,
//  and waits max.poll.interval.ms + 3 s for its answer. No partition is
//  held, so nothing is committed or revoked; the coordinator forgets the
//  old member after its session timeout.
static void
s_rejoin (sched_member_t *self)
{
    rd_kafka_queue_io_event_enable (self->rkq, -1, NULL, 0);
    rd_kafka_queue_destroy (self->rkq);
    self->rkq = NULL;
    rd_kafka_destroy_flags (self->rk, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
    self->rk = NULL;
    char err[512];
    if (s_consumer_open (self, rd_kafka_conf_dup (self->conf), err,
                         sizeof err) != 0) {
        sl_error ("cannot rejoin the group: %s", err);
        self->fatal = true;
    }
}

//  The wait before a rejoin: SCHED_REJOIN_SESSIONS session timeouts,
//  doubled by each rejoin in a row that brought no partition (at most 16
//  times).
static int64_t
s_rejoin_wait_ms (const sched_member_t *self)
{
    int doublings = self->idle_rejoins < 4 ? self->idle_rejoins : 4;
    return ((int64_t)SCHED_REJOIN_SESSIONS * self->session_ms) << doublings;
}

//  A lag check answered: is the lag standing still, for how long?
static void
s_idle_answer (sched_member_t *self, sched_lag_t *lag, rd_kafka_resp_err_t err,
               int64_t now)
{
    if (self->idle_since_ms == 0 || zhashx_size (self->model->parts) > 0)
        return; //  partitions came meanwhile
    if (err) {
        sl_debug ("group lag not known reason=\"%s\"", rd_kafka_err2str (err));
        return;
    }
    int64_t total = 0, committed = 0;
    int lagged = 0;
    sched_lag_figures (lag, &total, &committed, &lagged);
    if (total == 0) {
        self->stalled_ms = 0; //  nothing to do: idle is right
        return;
    }
    if (self->stalled_ms == 0 || committed != self->idle_committed) {
        //  Someone works the lag off (or this is the first look).
        self->stalled_ms = now;
        self->idle_committed = committed;
        return;
    }
    int64_t wait = s_rejoin_wait_ms (self);
    if (now - self->stalled_ms < wait || now - self->idle_since_ms < wait)
        return;
    sl_warn ("rejoining the group: no partition held while the group's lag "
             "stands still held_none_s=%.1f group_lag=%" PRId64
             " lagged_partitions=%d partitions=%d committed_still_s=%.1f "
             "session_timeout_ms=%" PRId64 " rejoin=%d",
             (double)(now - self->idle_since_ms) / 1000.0, total, lagged,
             lag->committed->cnt, (double)(now - self->stalled_ms) / 1000.0,
             self->session_ms, self->idle_rejoins + 1);
    s_rejoin (self);
    self->stats->rejoins++;
    self->idle_rejoins++;
    self->idle_since_ms = now; //  the next rejoin waits again
    self->idle_next_ms = now + self->session_ms;
    self->stalled_ms = 0;
}

//  Check the group's lag once a session timeout while no partition is
//  held; see sched_member.h.
void
sched_member_idle_check (sched_member_t *self, int64_t now)
{
    if (!self->rk || self->session_ms <= 0)
        return;
    if (zhashx_size (self->model->parts) > 0) {
        self->idle_since_ms = 0;
        self->stalled_ms = 0;
        self->idle_rejoins = 0;
        return;
    }
    if (self->idle_since_ms == 0) {
        //  The first look a session timeout on: a join (at start, after
        //  a revoke) takes that long anyway, and a look at once would
        //  query the cluster for every scheduler that starts.
        self->idle_since_ms = now;
        self->idle_next_ms = now + self->session_ms;
    }
    if (now < self->idle_next_ms || self->offsets_busy)
        return;
    self->idle_next_ms = now + self->session_ms;
    sched_lag_t *lag = calloc (1, sizeof *lag);
    if (!lag)
        return;
    lag->topics = &self->cfg->topics;
    self->offsets_busy = self->offsets_lag = true;
    zsock_send (self->offsets, "sp", "LAG", lag);
}

//  Ask for end offsets now and then: often while some partition waits for
//  data with room in its window, every second otherwise (for lag).
void
sched_member_offsets_query (sched_member_t *self, int64_t now)
{
    //  Not due even for a hungry partition: skip the scan (this runs every
    //  SCHED_OFFSETS_MS).
    int64_t hungry_ms = self->cfg->tail_poll_ms - SCHED_HUNGRY_SLACK_MS;
    if (self->offsets_busy || zhashx_size (self->model->parts) == 0 ||
        now < self->offsets_next_ms - (1000 - hungry_ms))
        return;
    bool hungry = false;
    for (sched_part_t *p = zhashx_first (self->model->parts); p && !hungry;
         p = zhashx_next (self->model->parts))
        hungry =
            sched_window_outstanding (p->window) < self->cfg->window &&
            sched_window_cut_offset (p->window) == sched_window_hwm (p->window);
    //  Hungry (caught up, tailing): look again every --tail-poll-ms, so a
    //  new record waits that long at most before its job is cut.
    if (now < self->offsets_next_ms - (hungry ? 1000 - hungry_ms : 0))
        return;
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new (
        (int)zhashx_size (self->model->parts));
    for (sched_part_t *p = zhashx_first (self->model->parts); p;
         p = zhashx_next (self->model->parts))
        rd_kafka_topic_partition_list_add (list, p->topic, p->partition)
            ->offset = RD_KAFKA_OFFSET_END;
    sched_marks_query_add (self->marks, list);
    self->offsets_busy = true;
    self->offsets_next_ms = now + 1000;
    zsock_send (self->offsets, "sp", "QUERY", list);
}

//  Apply the actor's answer.
void
sched_member_offsets_recv (sched_member_t *self)
{
    void *ptr = NULL;
    int err = 0;
    if (zsock_recv (self->offsets, "pi", &ptr, &err) != 0)
        return;
    self->offsets_busy = false;
    if (self->offsets_lag) {
        self->offsets_lag = false;
        sched_lag_t *lag = ptr;
        s_idle_answer (self, lag, (rd_kafka_resp_err_t)err, sl_now_ms ());
        sched_lag_destroy (&lag);
        return;
    }
    rd_kafka_topic_partition_list_t *list = ptr;
    if (err)
        sl_warn ("end offsets not known reason=\"%s\"",
                 rd_kafka_err2str ((rd_kafka_resp_err_t)err));
    for (int i = 0; !err && i < list->cnt; i++) {
        rd_kafka_topic_partition_t *tp = &list->elems[i];
        sched_part_t *part =
            sched_marks_learn (self->marks, tp)
                ? NULL
                : sched_model_part_find (self->model, tp->topic, tp->partition);
        if (part && !tp->err && tp->offset >= 0)
            sched_model_part_learn_hwm (part, tp->offset);
    }
    rd_kafka_topic_partition_list_destroy (list);
}

//  rd_kafka_offsets_for_times with retries: a broker that times out or
//  is between leaders answers a moment later. A partition-level error
//  counts as a failure. Returns the last error, NO_ERROR once every
//  partition has an answer.
static rd_kafka_resp_err_t
s_list_offsets (sched_member_t *self, rd_kafka_topic_partition_list_t *list,
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
s_read_committed (sched_member_t *self, rd_kafka_topic_partition_list_t *list)
{
    rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
    for (int attempt = 1; attempt <= SCHED_KAFKA_ATTEMPTS; attempt++) {
        err = rd_kafka_committed (self->rk, list, SCHED_KAFKA_TIMEOUT_MS);
        //  A partition's own error is no answer for it: read as "nothing
        //  committed", its processing would start over at the log start.
        if (!err)
            err = sched_member_committed_error (list);
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
s_read_targets (sched_member_t *self, rd_kafka_topic_partition_list_t *list)
{
    rd_kafka_topic_partition_list_t *ends =
        rd_kafka_topic_partition_list_copy (list);
    for (int i = 0; i < ends->cnt; i++)
        ends->elems[i].offset = RD_KAFKA_OFFSET_END;
    rd_kafka_resp_err_t err = s_list_offsets (self, ends, "end offsets");
    for (int i = 0; !err && i < ends->cnt; i++) {
        rd_kafka_topic_partition_t *tp = &ends->elems[i];
        sched_part_t *part =
            sched_model_part_find (self->model, tp->topic, tp->partition);
        if (part && tp->offset >= 0)
            sched_model_part_learn_hwm (part, tp->offset);
    }
    rd_kafka_topic_partition_list_destroy (ends);
}

//  Take ownership of newly assigned partitions.
static void
s_on_assign (sched_member_t *self, rd_kafka_topic_partition_list_t *parts,
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
    //  What is complete above the committed offsets: the metadata's
    //  ranges, and the markers it points at (--state-topic).
    sched_marks_read (self->marks, list);
    for (int i = 0; i < list->cnt; i++)
        sched_commit_take (self->commit, &list->elems[i], self->marks);
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

//  Stop owning part: cancel its jobs in flight at their holders, then
//  forget it.
static void
s_part_revoked (sched_member_t *self, sched_part_t *part)
{
    for (sched_job_t *job = part->jobs_head; job; job = job->next)
        if (job->worker)
            sched_wire_cancel (self->router, job, "partition revoked");
    sched_model_part_remove (self->model, part);
}

//  Give up partitions: commit what is done, cancel what is in flight.
static void
s_on_revoke (sched_member_t *self, rd_kafka_topic_partition_list_t *parts,
             bool cooperative)
{
    if (!rd_kafka_assignment_lost (self->rk))
        sched_commit_run (self->commit, self->rk, true);
    for (int i = 0; i < parts->cnt; i++) {
        sched_part_t *part = sched_model_part_find (
            self->model, parts->elems[i].topic, parts->elems[i].partition);
        if (part) {
            sl_info ("revoked topic=%s partition=%d committed=%" PRId64,
                     part->topic, part->partition,
                     sched_window_committed (part->window));
            s_part_revoked (self, part);
        }
    }
    //  Owning nothing now is a rebalance under way (or an assignment lost
    //  when the session timed out, say while the broker was down), not a
    //  finished drain: wait for the group's next assignment.
    if (zhashx_size (self->model->parts) == 0)
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
    sched_member_t *self = opaque;
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

//  librdkafka's answer to an asynchronous commit.
static void
s_offset_commit_cb (rd_kafka_t *rk, rd_kafka_resp_err_t err,
                    rd_kafka_topic_partition_list_t *offsets, void *opaque)
{
    sched_member_t *self = opaque;
    sched_commit_answered (self->commit, err, offsets);
}

//  Statistics: keep the consumer's record totals (they must stay 0).
static int
s_stats_cb (rd_kafka_t *rk, char *json, size_t json_len, void *opaque)
{
    sched_member_t *self = opaque;
    json_t *root = json_loadb (json, json_len, 0, NULL);
    if (root) {
        self->stats->rxmsgs =
            json_integer_value (json_object_get (root, "rxmsgs"));
        self->stats->rxmsg_bytes =
            json_integer_value (json_object_get (root, "rxmsg_bytes"));
        self->stats->rx_bytes =
            json_integer_value (json_object_get (root, "rx_bytes"));
        self->stats->stats_samples++;
        json_decref (root);
    }
    return 0;
}

//  Errors: fatal ones stop the scheduler; the rest are informational.
static void
s_error_cb (rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    sched_member_t *self = opaque;
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
sched_member_poll (sched_member_t *self)
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
sched_member_start (sched_member_t *self, char *err, size_t errlen)
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
    if (sl_kafka_conf_set (conf, "group.id", cfg->group, err, errlen) != 0 ||
        (cfg->instance_id && *cfg->instance_id &&
         sl_kafka_conf_set (conf, "group.instance.id", cfg->instance_id, err,
                            errlen) != 0)) {
        rd_kafka_conf_destroy (conf);
        return -1;
    }
    //  The lag checker's configuration: the member's, without its
    //  callbacks or statistics (it never joins the group).
    self->lag_conf = rd_kafka_conf_dup (conf);
    if (sl_kafka_conf_set (self->lag_conf, "client.id", "sluice-scheduler-lag",
                           err, errlen) != 0 ||
        sl_kafka_conf_set (self->lag_conf, "statistics.interval.ms", "0", err,
                           errlen) != 0) {
        rd_kafka_conf_destroy (conf);
        return -1;
    }
    if (self->marks) //  --state-topic: its clients are made alike
        sched_marks_start (self->marks, self->lag_conf);
    rd_kafka_conf_set_opaque (conf, self);
    rd_kafka_conf_set_rebalance_cb (conf, s_rebalance_cb);
    rd_kafka_conf_set_offset_commit_cb (conf, s_offset_commit_cb);
    rd_kafka_conf_set_stats_cb (conf, s_stats_cb);
    rd_kafka_conf_set_error_cb (conf, s_error_cb);
    self->stats->stats_interval_ms =
        sl_kafka_conf_int (conf, "statistics.interval.ms");
    self->session_ms = sl_kafka_conf_int (conf, "session.timeout.ms");
    //  Kept for a rejoin, which makes a new consumer.
    self->conf = rd_kafka_conf_dup (conf);
    if (pipe (self->pipe) != 0) {
        rd_kafka_conf_destroy (conf);
        snprintf (err, errlen, "pipe: %s", strerror (errno));
        return -1;
    }
    fcntl (self->pipe[0], F_SETFL, O_NONBLOCK);
    fcntl (self->pipe[1], F_SETFL, O_NONBLOCK);
    if (s_consumer_open (self, conf, err, errlen) != 0)
        return -1;
    self->offsets = zactor_new (s_offsets_actor, self);
    if (self->offsets)
        self->lag_conf = NULL; //  the actor's now
    return self->offsets ? 0 : -1;
}

//  Final commit, leave the group, destroy the consumer.
void
sched_member_stop (sched_member_t *self)
{
    if (self->lag_conf) {
        rd_kafka_conf_destroy (self->lag_conf);
        self->lag_conf = NULL;
    }
    if (self->conf) {
        rd_kafka_conf_destroy (self->conf);
        self->conf = NULL;
    }
    if (!self->rk)
        return;
    //  The last commit is worth a few tries: what it misses is run again
    //  by the next owner of the partitions.
    for (int attempt = 1; attempt <= SCHED_KAFKA_ATTEMPTS; attempt++) {
        uint64_t failures = self->stats->commit_failures;
        sched_commit_run (self->commit, self->rk, true);
        if (self->stats->commit_failures == failures)
            break;
        zclock_sleep (200 * attempt);
    }
    if (self->offsets_busy) {
        //  Take back the list a query in flight still owns.
        void *list = NULL;
        int err = 0;
        if (zsock_recv (self->offsets, "pi", &list, &err) == 0 && list) {
            if (self->offsets_lag) {
                sched_lag_t *lag = list;
                sched_lag_destroy (&lag);
            } else
                rd_kafka_topic_partition_list_destroy (list);
        }
        self->offsets_busy = false;
    }
    zactor_destroy (&self->offsets);
    rd_kafka_queue_io_event_enable (self->rkq, -1, NULL, 0);
    //  With a short statistics interval, wait for one more report so the
    //  totals logged below cover the whole run (a drain shorter than one
    //  interval would otherwise log none); with the default (1 s) the
    //  exit is not held up.
    int64_t interval = self->stats->stats_interval_ms;
    if (interval > 0 && interval <= SL_KAFKA_STATS_EXACT_MS) {
        uint64_t seen = self->stats->stats_samples;
        int64_t deadline = sl_now_ms () + 2 * interval + 100;
        while (self->stats->stats_samples == seen && sl_now_ms () < deadline) {
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
             self->stats->rxmsgs, self->stats->rxmsg_bytes,
             self->stats->rx_bytes, self->stats->stats_samples);
    rd_kafka_queue_destroy (self->rkq);
    rd_kafka_destroy (self->rk);
    self->rk = NULL;
    if (self->pipe[0] >= 0) {
        close (self->pipe[0]);
        close (self->pipe[1]);
    }
}

//  The first partition-level error of a committed-offsets answer; see
//  sched_member.h.
rd_kafka_resp_err_t
sched_member_committed_error (const rd_kafka_topic_partition_list_t *list)
{
    for (int i = 0; i < list->cnt; i++)
        if (list->elems[i].err)
            return list->elems[i].err;
    return RD_KAFKA_RESP_ERR_NO_ERROR;
}

//  Whether the group's assignment stands; see sched_member.h.
bool
sched_member_settled (const sched_member_t *self)
{
    return self->assigned && !self->assign_pending;
}
