/*  test_reader - the reader's decisions (wrk_range) and its stash
    (wrk_stash), and a lane's share of the prefetch, without Kafka.
    Each test reads as a usage example.

    The property test reads random job sequences over a random partition
    (offsets missing to compaction, the head deleted by retention) with a
    simulated consumer that delivers batches of random size and an end of
    partition event, through the same steps as wrk_reader_fetch, and
    checks every job against a model: it takes exactly the records of its
    range that exist, in order, once; it reports exactly the offsets below
    the log start as lost; it ends; no message leaks. A failure prints its
    seed, and SLUICE_TEST_SEED=<seed> replays it.
*/
#include <criterion/criterion.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_rand.h"
#include "wrk_range.h"
#include "wrk_stash.h"

//  Uniform in [0, n).
static int64_t
s_below (int64_t n)
{
    return (int64_t)(s_rand () % (uint64_t)n);
}

//  librdkafka's defaults: 100,000 records or 64 MiB queued; records of
//  100 bytes seen so far.
static const wrk_range_prefetch_t s_pf = {100000, 65536 * 1024, 100};

// --- where a job starts: here, read on, or seek --------------------------

Test (plan, an_unknown_position_seeks)
{
    wrk_range_pos_t at = {NULL, 0, 100};
    cr_assert_eq (wrk_range_plan (&at, "t", 0, 100, &s_pf), WRK_RANGE_SEEK);
}

Test (plan, another_topic_or_partition_seeks)
{
    wrk_range_pos_t at = {"t", 3, 100};
    cr_assert_eq (wrk_range_plan (&at, "u", 3, 100, &s_pf), WRK_RANGE_SEEK);
    cr_assert_eq (wrk_range_plan (&at, "t", 4, 100, &s_pf), WRK_RANGE_SEEK);
    cr_assert_eq (wrk_range_plan (&at, "tt", 3, 100, &s_pf), WRK_RANGE_SEEK);
}

Test (plan, the_position_at_start_stays)
{
    wrk_range_pos_t at = {"t", 3, 100};
    cr_assert_eq (wrk_range_plan (&at, "t", 3, 100, &s_pf), WRK_RANGE_HERE);
    //  Even with nothing prefetched: there is nothing to skip.
    wrk_range_prefetch_t none = {0, 0, 0};
    cr_assert_eq (wrk_range_plan (&at, "t", 3, 100, &none), WRK_RANGE_HERE);
}

Test (plan, a_job_behind_the_position_seeks)
{
    wrk_range_pos_t at = {"t", 3, 100};
    cr_assert_eq (wrk_range_plan (&at, "t", 3, 99, &s_pf), WRK_RANGE_SEEK);
    cr_assert_eq (wrk_range_plan (&at, "t", 3, 0, &s_pf), WRK_RANGE_SEEK);
}

Test (plan, a_short_way_ahead_reads_on)
{
    wrk_range_pos_t at = {"t", 3, 100};
    cr_assert_eq (wrk_range_plan (&at, "t", 3, 101, &s_pf), WRK_RANGE_READ_ON);
    //  A quarter of queued.min.messages is the limit, inclusive.
    cr_assert_eq (wrk_range_plan (&at, "t", 3, 100 + 25000, &s_pf),
                  WRK_RANGE_READ_ON);
    cr_assert_eq (wrk_range_plan (&at, "t", 3, 100 + 25001, &s_pf),
                  WRK_RANGE_SEEK);
}

Test (plan, big_records_read_on_less_far)
{
    //  10 KiB records: a quarter of 64 MiB is 1638.4 of them.
    wrk_range_prefetch_t pf = {100000, 65536 * 1024, 10240};
    wrk_range_pos_t at = {"t", 0, 0};
    cr_assert_eq (wrk_range_plan (&at, "t", 0, 1638, &pf), WRK_RANGE_READ_ON);
    cr_assert_eq (wrk_range_plan (&at, "t", 0, 1639, &pf), WRK_RANGE_SEEK);
    //  Exactly a quarter of the bytes still reads on.
    pf.rec_bytes = 16384;
    cr_assert_eq (wrk_range_plan (&at, "t", 0, 1024, &pf), WRK_RANGE_READ_ON);
    cr_assert_eq (wrk_range_plan (&at, "t", 0, 1025, &pf), WRK_RANGE_SEEK);
}

Test (plan, no_prefetch_never_reads_on)
{
    wrk_range_pos_t at = {"t", 0, 10};
    wrk_range_prefetch_t none = {0, 65536 * 1024, 100};
    cr_assert_eq (wrk_range_plan (&at, "t", 0, 11, &none), WRK_RANGE_SEEK);
    //  Fewer than 4 prefetched records: a quarter of them is none.
    wrk_range_prefetch_t three = {3, 65536 * 1024, 100};
    cr_assert_eq (wrk_range_plan (&at, "t", 0, 11, &three), WRK_RANGE_SEEK);
    wrk_range_prefetch_t four = {4, 65536 * 1024, 100};
    cr_assert_eq (wrk_range_plan (&at, "t", 0, 11, &four), WRK_RANGE_READ_ON);
}

// --- walking a range ------------------------------------------------------

Test (walk, records_before_start_are_dropped)
{
    wrk_range_t r = wrk_range_begin (100, 110, 95);
    for (int64_t o = 95; o < 100; o++)
        cr_assert_eq (wrk_range_record (&r, o), WRK_RANGE_DROP);
    cr_assert_eq (r.next, 95, "dropping does not move the position");
    cr_assert_not (r.done);
}

Test (walk, records_in_range_are_taken_and_move_the_position)
{
    wrk_range_t r = wrk_range_begin (100, 110, 100);
    cr_assert_eq (wrk_range_record (&r, 100), WRK_RANGE_TAKE);
    cr_assert_eq (r.next, 101);
    //  Offsets missing (compaction): the position follows what arrives.
    cr_assert_eq (wrk_range_record (&r, 105), WRK_RANGE_TAKE);
    cr_assert_eq (r.next, 106);
    cr_assert_not (r.done);
}

Test (walk, the_last_offset_ends_the_range)
{
    wrk_range_t r = wrk_range_begin (100, 110, 100);
    cr_assert_eq (wrk_range_record (&r, 109), WRK_RANGE_TAKE);
    cr_assert (r.done, "nothing is left to wait for after end - 1");
    cr_assert_eq (r.next, 110);
}

Test (walk, a_record_past_the_end_ends_the_range_and_is_unread)
{
    wrk_range_t r = wrk_range_begin (100, 110, 100);
    cr_assert_eq (wrk_range_record (&r, 104), WRK_RANGE_TAKE);
    //  105..109 compacted away: 110 is the next job's.
    cr_assert_eq (wrk_range_record (&r, 110), WRK_RANGE_UNREAD);
    cr_assert (r.done);
    cr_assert_eq (r.next, 105, "not moved by a record it did not take");
    wrk_range_settle (&r);
    cr_assert_eq (r.next, 110, "a done range leaves the position at end");
    r = wrk_range_begin (100, 110, 100);
    cr_assert_eq (wrk_range_record (&r, 500), WRK_RANGE_UNREAD);
    cr_assert (r.done, "a range with nothing left in it ends");
}

Test (walk, an_end_of_partition_below_end_says_nothing)
{
    wrk_range_t r = wrk_range_begin (100, 110, 103);
    wrk_range_eof (&r, 103);
    cr_assert_not (r.done);
    cr_assert_eq (r.next, 103);
    //  Not even one short of end: the record at end - 1 may yet come.
    wrk_range_eof (&r, 109);
    cr_assert_not (r.done);
    cr_assert_eq (r.next, 103);
}

Test (walk, an_end_of_partition_at_or_past_end_ends_the_range)
{
    wrk_range_t r = wrk_range_begin (100, 110, 103);
    wrk_range_eof (&r, 110);
    cr_assert (r.done);
    cr_assert_eq (r.next, 110);
    //  Past end (transaction markers after the last record): the position
    //  is the event's, so a job starting at 110 seeks.
    r = wrk_range_begin (100, 110, 103);
    wrk_range_eof (&r, 112);
    cr_assert (r.done);
    wrk_range_settle (&r);
    cr_assert_eq (r.next, 112);
    wrk_range_pos_t at = {"t", 0, r.next};
    cr_assert_eq (wrk_range_plan (&at, "t", 0, 110, &s_pf), WRK_RANGE_SEEK);
}

Test (walk, settle_leaves_an_unfinished_range_alone)
{
    wrk_range_t r = wrk_range_begin (100, 110, 104);
    wrk_range_settle (&r);
    cr_assert_eq (r.next, 104);
    cr_assert_not (r.done);
}

// --- lost to retention ----------------------------------------------------

Test (lost, nothing_is_lost_below_the_position)
{
    wrk_range_t r = wrk_range_begin (100, 110, 104);
    sl_range_t gone = {-1, -1};
    cr_assert_not (wrk_range_lost (&r, 104, &gone));
    cr_assert_not (wrk_range_lost (&r, 50, &gone));
    cr_assert_eq (gone.start, -1, "untouched");
    cr_assert_eq (r.next, 104);
    cr_assert_not (r.done);
}

Test (lost, the_head_of_a_range_is_lost_and_reading_goes_on)
{
    wrk_range_t r = wrk_range_begin (100, 110, 100);
    sl_range_t gone;
    cr_assert (wrk_range_lost (&r, 106, &gone));
    cr_assert (gone.start == 100 && gone.end == 106);
    cr_assert_not (r.done);
    cr_assert_eq (r.next, 106, "the reader re-assigns at the log start");
}

Test (lost, a_range_wholly_below_the_log_start_is_done)
{
    wrk_range_t r = wrk_range_begin (100, 110, 103);
    sl_range_t gone;
    cr_assert (wrk_range_lost (&r, 110, &gone));
    cr_assert (gone.start == 103 && gone.end == 110);
    cr_assert (r.done);
    r = wrk_range_begin (100, 110, 100);
    cr_assert (wrk_range_lost (&r, 5000, &gone));
    cr_assert (gone.start == 100 && gone.end == 110, "never past end");
    cr_assert (r.done);
}

/*  A job that reads on from below its start and finds the log start moved
    past that position reports only its own records as lost: the ones
    below are other jobs' (the scheduler refuses a lost range outside the
    job, "lost range is not inside", and drops the worker).              */
Test (lost, lost_range_starts_at_the_job)
{
    wrk_range_t r = wrk_range_begin (100, 110, 90); //  read on from 90
    sl_range_t gone;
    cr_assert (wrk_range_lost (&r, 105, &gone));
    cr_assert (gone.start == 100 && gone.end == 105);
    cr_assert_eq (r.next, 105);
    cr_assert_not (r.done);
    //  The log start moved, but not into the job: nothing of it is lost,
    //  and the consumer goes to the job's start.
    r = wrk_range_begin (100, 110, 90);
    cr_assert (wrk_range_lost (&r, 96, &gone));
    cr_assert_eq (gone.end - gone.start, 0);
    cr_assert_eq (r.next, 100);
    cr_assert_not (r.done);
}

Test (lost, a_job_keeps_sixteen_ranges_and_counts_all)
{
    wrk_range_lost_t lost;
    memset (&lost, 0, sizeof lost);
    for (int64_t i = 0; i < WRK_RANGE_LOST_MAX + 3; i++)
        wrk_range_lost_add (&lost, (sl_range_t){10 * i, 10 * i + 2});
    cr_assert_eq (lost.n, WRK_RANGE_LOST_MAX);
    cr_assert_eq (lost.offsets, 2 * (WRK_RANGE_LOST_MAX + 3));
    cr_assert_eq (lost.ranges[0].start, 0);
    cr_assert_eq (lost.ranges[WRK_RANGE_LOST_MAX - 1].start,
                  10 * (WRK_RANGE_LOST_MAX - 1), "the first ones are kept");
}

// --- the prefetch: record size, the fetch wake-up, the idle pause ---------

Test (prefetch, the_mean_record_size_moves_an_eighth_per_batch)
{
    cr_assert_float_eq (wrk_range_mean_bytes (0, 800, 1), 100, 1e-9);
    cr_assert_float_eq (wrk_range_mean_bytes (100, 1000, 10), 100, 1e-9);
    cr_assert_float_eq (wrk_range_mean_bytes (100, 900, 1), 200, 1e-9);
}

Test (prefetch, a_queue_near_a_threshold_holds_the_fetcher)
{
    //  90% of queued.min.messages counts as reached.
    cr_assert_eq (wrk_range_watch (&s_pf, 89000, 1000, false),
                  WRK_RANGE_WATCH_HELD);
    cr_assert_eq (wrk_range_watch (&s_pf, 88000, 1000, false),
                  WRK_RANGE_WATCH_NONE);
    //  Or 90% of the bytes: 64 MiB of 1 MiB records is 64 records.
    wrk_range_prefetch_t big = {100000, 65536 * 1024, 1024 * 1024};
    cr_assert_eq (wrk_range_watch (&big, 57, 1, false), WRK_RANGE_WATCH_HELD);
    cr_assert_eq (wrk_range_watch (&big, 56, 1, false), WRK_RANGE_WATCH_NONE);
}

Test (prefetch, a_held_queue_half_drained_wakes_the_fetcher)
{
    cr_assert_eq (wrk_range_watch (&s_pf, 50000, 1000, true),
                  WRK_RANGE_WATCH_WAKE);
    cr_assert_eq (wrk_range_watch (&s_pf, 0, 1, true), WRK_RANGE_WATCH_WAKE);
    cr_assert_eq (wrk_range_watch (&s_pf, 50001, 1000, true),
                  WRK_RANGE_WATCH_NONE, "not half drained yet");
    cr_assert_eq (wrk_range_watch (&s_pf, 50000, 1000, false),
                  WRK_RANGE_WATCH_NONE, "never held: nothing to wake");
    //  Both halves must hold: few records, but more than half the bytes.
    wrk_range_prefetch_t big = {100000, 65536 * 1024, 1024 * 1024};
    cr_assert_eq (wrk_range_watch (&big, 33, 1, true), WRK_RANGE_WATCH_NONE);
    cr_assert_eq (wrk_range_watch (&big, 32, 1, true), WRK_RANGE_WATCH_WAKE);
}

Test (prefetch, nothing_prefetched_nothing_watched)
{
    wrk_range_prefetch_t none = {0, 65536 * 1024, 100};
    cr_assert_eq (wrk_range_watch (&none, 1000000, 1000, true),
                  WRK_RANGE_WATCH_NONE);
}

Test (prefetch, an_idle_reader_pauses_once_its_queue_is_empty)
{
    cr_assert (wrk_range_idle_pause (200, 0));
    cr_assert (wrk_range_idle_pause (200, 1), "only the end of partition");
    cr_assert_not (wrk_range_idle_pause (200, 2));
    cr_assert_not (wrk_range_idle_pause (WRK_RANGE_IDLE_PAUSE_MS - 1, 500));
    cr_assert (wrk_range_idle_pause (WRK_RANGE_IDLE_PAUSE_MS, 500));
}

//  How long a job may read nothing before its input is given up.
Test (range, a_stalled_input_is_given_up_before_the_lease)
{
    //  Half the lease, never below the floor.
    cr_assert_eq (wrk_range_stall_bound (60000, false), 30000);
    cr_assert_eq (wrk_range_stall_bound (20000, false), 10000);
    cr_assert_eq (wrk_range_stall_bound (1500, false), WRK_RANGE_STALL_MIN_MS,
                  "a short lease is left to charge the job, as before");
    cr_assert_eq (wrk_range_stall_bound (0, false),
                  WRK_RANGE_STALL_LEASE_MS / 2, "a lease not said");
    //  A partition refused before: its refusal is not reported again.
    cr_assert_eq (wrk_range_stall_bound (60000, true),
                  WRK_RANGE_STALL_REFUSED_MS);
    cr_assert_eq (wrk_range_stall_bound (2000, true), 1000,
                  "at most half the lease");
}

//  The partitions refused to a reader: until one reads again, and the
//  newest WRK_RANGE_REFUSED_MAX of them.
Test (range, refused_partitions_are_remembered_until_they_read)
{
    wrk_range_refused_t r;
    memset (&r, 0, sizeof r);
    cr_assert_eq (wrk_range_refused_get (&r, "in", 0), 0);
    wrk_range_refused_set (&r, "in", 0, 29);
    wrk_range_refused_set (&r, "in", 1, 3);
    cr_assert_eq (wrk_range_refused_get (&r, "in", 0), 29);
    cr_assert_eq (wrk_range_refused_get (&r, "in", 1), 3);
    cr_assert_eq (wrk_range_refused_get (&r, "other", 0), 0);
    wrk_range_refused_set (&r, "in", 0, 0);
    cr_assert_eq (wrk_range_refused_get (&r, "in", 0), 0, "it read again");
    for (int p = 0; p < 2 * WRK_RANGE_REFUSED_MAX; p++)
        wrk_range_refused_set (&r, "many", p, 29);
    cr_assert_eq (
        wrk_range_refused_get (&r, "many", 2 * WRK_RANGE_REFUSED_MAX - 1), 29);
    int kept = 0;
    for (int p = 0; p < 2 * WRK_RANGE_REFUSED_MAX; p++)
        kept += wrk_range_refused_get (&r, "many", p) != 0;
    cr_assert_eq (kept, WRK_RANGE_REFUSED_MAX);
}

// --- the stash ------------------------------------------------------------

static rd_kafka_message_t s_msgs[16];
static int s_dropped;

//  A wrk_stash_drop_fn that counts.
static void
s_count_drop (rd_kafka_message_t *m)
{
    (void)m;
    s_dropped++;
}

Test (stash, unread_messages_come_back_first_in_order)
{
    wrk_stash_t *stash = wrk_stash_new (8);
    cr_assert_not_null (stash);
    rd_kafka_message_t *a[] = {&s_msgs[3], &s_msgs[4]};
    rd_kafka_message_t *b[] = {&s_msgs[1], &s_msgs[2]};
    cr_assert (wrk_stash_unread (stash, a, 2));
    cr_assert (wrk_stash_unread (stash, b, 2), "in front of what is held");
    cr_assert_eq (wrk_stash_size (stash), 4);
    rd_kafka_message_t *out[8];
    cr_assert_eq (wrk_stash_take (stash, out, 3), 3);
    cr_assert (out[0] == &s_msgs[1] && out[1] == &s_msgs[2] &&
               out[2] == &s_msgs[3]);
    //  One left; more put back goes before it.
    rd_kafka_message_t *c[] = {&s_msgs[0]};
    cr_assert (wrk_stash_unread (stash, c, 1));
    cr_assert_eq (wrk_stash_take (stash, out, 8), 2);
    cr_assert (out[0] == &s_msgs[0] && out[1] == &s_msgs[4]);
    cr_assert_eq (wrk_stash_take (stash, out, 8), 0);
    wrk_stash_destroy (&stash);
    cr_assert_null (stash);
}

Test (stash, what_does_not_fit_is_refused_whole)
{
    wrk_stash_t *stash = wrk_stash_new (3);
    rd_kafka_message_t *two[] = {&s_msgs[0], &s_msgs[1]};
    cr_assert (wrk_stash_unread (stash, two, 2));
    cr_assert_not (wrk_stash_unread (stash, two, 2));
    cr_assert_eq (wrk_stash_size (stash), 2, "unchanged");
    rd_kafka_message_t *one[] = {&s_msgs[2]};
    cr_assert (wrk_stash_unread (stash, one, 1), "exactly full fits");
    s_dropped = 0;
    wrk_stash_clear (stash, s_count_drop);
    cr_assert_eq (s_dropped, 3);
    cr_assert_eq (wrk_stash_size (stash), 0);
    wrk_stash_destroy (&stash);
}

Test (stash, clear_drops_only_what_was_not_taken)
{
    wrk_stash_t *stash = wrk_stash_new (4);
    rd_kafka_message_t *three[] = {&s_msgs[0], &s_msgs[1], &s_msgs[2]};
    cr_assert (wrk_stash_unread (stash, three, 3));
    rd_kafka_message_t *out[1];
    cr_assert_eq (wrk_stash_take (stash, out, 1), 1);
    s_dropped = 0;
    wrk_stash_clear (stash, s_count_drop);
    cr_assert_eq (s_dropped, 2);
    wrk_stash_destroy (&stash);
}

// --- a worker's lanes share one prefetch budget in bytes ------------------

Test (prefetch, one_lane_keeps_librdkafkas_default)
{
    cr_assert_eq (wrk_range_prefetch_kb (1), 65536);
}

Test (prefetch, lanes_divide_the_bytes_down_to_a_floor)
{
    cr_assert_eq (wrk_range_prefetch_kb (8), 8192);
    cr_assert_eq (wrk_range_prefetch_kb (64), 4096,
                  "65536 / 64 is below the floor");
}

// --- property: job sequences over a random partition ---------------------

#define LOG_MAX 400

//  A partition: offsets [0, end) of which some exist (the others were
//  compacted away), the first log_start deleted by retention.
typedef struct {
    bool exists[LOG_MAX];
    int64_t end;       /* the high watermark                             */
    int64_t log_start; /* offsets below are gone                         */
} log_t;

//  A consumer assigned to the partition: its fetch position, and whether
//  it has delivered the end of partition since it last moved.
typedef struct {
    const log_t *log;
    int64_t pos;
    bool eof_sent;
    int live; /* messages handed out and not yet dropped                */
} consumer_t;

//  A message, as librdkafka would hand it out.
static rd_kafka_message_t *
s_msg_new (consumer_t *c, rd_kafka_resp_err_t err, int64_t offset)
{
    rd_kafka_message_t *m = calloc (1, sizeof *m);
    cr_assert_not_null (m);
    m->err = err;
    m->offset = offset;
    c->live++;
    return m;
}

static consumer_t *s_consumer;

//  Free a message (the drop function given to the stash).
static void
s_msg_drop (rd_kafka_message_t *m)
{
    s_consumer->live--;
    free (m);
}

//  Up to max messages from the consumer: out of range below the log
//  start, else the next records that exist, else one end of partition.
static size_t
s_consume (consumer_t *c, rd_kafka_message_t **out, size_t max)
{
    if (c->pos < c->log->log_start) {
        out[0] = s_msg_new (c, RD_KAFKA_RESP_ERR_OFFSET_OUT_OF_RANGE, c->pos);
        return 1;
    }
    size_t n = 0;
    while (n < max && c->pos < c->log->end) {
        if (c->log->exists[c->pos])
            out[n++] = s_msg_new (c, RD_KAFKA_RESP_ERR_NO_ERROR, c->pos);
        c->pos++;
    }
    if (n < max && c->pos >= c->log->end && !c->eof_sent) {
        out[n++] = s_msg_new (c, RD_KAFKA_RESP_ERR__PARTITION_EOF, c->log->end);
        c->eof_sent = true;
    }
    return n;
}

//  How often the property test went down each path: it must cover all.
static struct {
    int plans[3]; /* by wrk_range_plan_t                               */
    int unread, overflow, eof_end, lost, lost_all;
} s_seen;

//  The reader's state, as wrk_reader keeps it.
typedef struct {
    consumer_t *consumer;
    wrk_stash_t *stash;
    bool known; /* the position is known (asg_topic set)                 */
    int64_t next;
} reader_t;

//  Assign the consumer at offset (wrk_reader's s_assign).
static void
s_assign (reader_t *rd, int64_t offset)
{
    wrk_stash_clear (rd->stash, s_msg_drop);
    rd->consumer->pos = offset;
    rd->consumer->eof_sent = false;
    rd->known = true;
    rd->next = offset;
}

//  One message of a batch, as wrk_reader's s_verdict judges it.
static wrk_range_verdict_t
s_verdict (reader_t *rd, wrk_range_t *r, rd_kafka_message_t *m,
           wrk_range_lost_t *lost)
{
    if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
        wrk_range_eof (r, m->offset);
        s_seen.eof_end += r->done;
        return WRK_RANGE_DROP;
    }
    if (m->err == RD_KAFKA_RESP_ERR_OFFSET_OUT_OF_RANGE) {
        sl_range_t gone;
        if (wrk_range_lost (r, rd->consumer->log->log_start, &gone)) {
            wrk_range_lost_add (lost, gone);
            s_seen.lost++;
            s_seen.lost_all += r->done;
            rd->known = false;
            if (!r->done)
                s_assign (rd, r->next);
        }
        return WRK_RANGE_DROP;
    }
    return wrk_range_record (r, m->offset);
}

//  One fetch of job [start, end), the steps of wrk_reader_fetch: taken
//  offsets are appended to took[*ntook].
static bool
s_fetch (reader_t *rd, int64_t start, int64_t end, size_t batch, int64_t *took,
         size_t *ntook, wrk_range_lost_t *lost)
{
    rd_kafka_message_t *msgs[16];
    size_t n = wrk_stash_take (rd->stash, msgs, batch);
    if (n == 0)
        n = s_consume (rd->consumer, msgs, batch);
    wrk_range_t r = wrk_range_begin (start, end, rd->next);
    size_t i = 0;
    for (; i < n && !r.done; i++) {
        wrk_range_verdict_t v = s_verdict (rd, &r, msgs[i], lost);
        if (v == WRK_RANGE_UNREAD) {
            s_seen.unread++;
            break;
        }
        if (v == WRK_RANGE_TAKE)
            took[(*ntook)++] = msgs[i]->offset;
        s_msg_drop (msgs[i]);
    }
    if (i < n && !wrk_stash_unread (rd->stash, msgs + i, n - i)) {
        for (size_t k = i; k < n; k++)
            s_msg_drop (msgs[k]);
        wrk_stash_clear (rd->stash, s_msg_drop);
        rd->known = false;
        s_seen.overflow++;
    }
    wrk_range_settle (&r);
    rd->next = r.next;
    return r.done;
}

//  A random partition: most offsets exist, runs are compacted away, the
//  head may be deleted.
static void
s_log_new (log_t *log)
{
    log->end = 1 + s_below (LOG_MAX);
    int64_t keep = 1 + s_below (10); //  of 10
    for (int64_t o = 0; o < log->end; o++)
        log->exists[o] = s_below (10) < keep;
    log->log_start = s_below (3) == 0 ? s_below (log->end + 1) : 0;
}

//  Check one job against the model: exactly the records of [start, end)
//  that exist and lie above the log start, in order; lost exactly what
//  of the range lies below the log start.
static void
s_check_job (const log_t *log, int64_t start, int64_t end, const int64_t *took,
             size_t ntook, const wrk_range_lost_t *lost)
{
    size_t k = 0;
    int64_t from = start > log->log_start ? start : log->log_start;
    for (int64_t o = from; o < end; o++) {
        if (!log->exists[o])
            continue;
        CHECK (k < ntook && took[k] == o,
               "job [%" PRId64 ",%" PRId64 "): record %" PRId64
               " missing or out of order (took %zu)",
               start, end, o, ntook);
        k++;
    }
    CHECK (k == ntook, "job [%" PRId64 ",%" PRId64 "): took %zu extra", start,
           end, ntook - k);
    int64_t gone = log->log_start > start
                       ? (log->log_start < end ? log->log_start : end) - start
                       : 0;
    CHECK ((int64_t)lost->offsets == gone,
           "job [%" PRId64 ",%" PRId64 "): lost %" PRIu64 ", want %" PRId64,
           start, end, lost->offsets, gone);
    CHECK (gone == 0 || (lost->n == 1 && lost->ranges[0].start == start &&
                         lost->ranges[0].end == start + gone),
           "job [%" PRId64 ",%" PRId64 "): lost ranges wrong", start, end);
}

//  Run job [start, end) to its end and check it.
static void
s_run_job (reader_t *rd, const log_t *log, int64_t start, int64_t end,
           size_t batch, const wrk_range_prefetch_t *pf)
{
    wrk_range_pos_t at = {rd->known ? "t" : NULL, 0, rd->next};
    wrk_range_plan_t plan = wrk_range_plan (&at, "t", 0, start, pf);
    s_seen.plans[plan]++;
    if (plan == WRK_RANGE_SEEK)
        s_assign (rd, start);
    int64_t took[LOG_MAX];
    size_t ntook = 0;
    wrk_range_lost_t lost;
    memset (&lost, 0, sizeof lost);
    int rounds = 0;
    while (!s_fetch (rd, start, end, batch, took, &ntook, &lost))
        CHECK (++rounds < 4 * LOG_MAX,
               "job [%" PRId64 ",%" PRId64 ") never ends", start, end);
    s_check_job (log, start, end, took, ntook, &lost);
    CHECK (!rd->known || rd->next >= end,
           "job [%" PRId64 ",%" PRId64 ") left the position at %" PRId64, start,
           end, rd->next);
}

//  The next job's start: mostly where the last ended (one worker reading
//  on), sometimes a little or far ahead (other workers ran the jobs
//  between), sometimes behind (a retry).
static int64_t
s_next_start (const log_t *log, int64_t prev_end)
{
    int64_t roll = s_below (10);
    int64_t start = prev_end;
    if (roll == 0)
        start = s_below (log->end);
    else if (roll <= 2)
        start = prev_end + s_below (20);
    return start < log->end ? start : -1;
}

Test (reader_model, job_sequences_take_every_record_once)
{
    for (uint64_t run = 0; run < 3000; run++) {
        s_srand (s_base_seed () + run);
        log_t log;
        s_log_new (&log);
        consumer_t consumer = {&log, 0, false, 0};
        s_consumer = &consumer;
        size_t batch = 1 + (size_t)s_below (16);
        //  Reading on reaches 0 to 10 offsets ahead; farther, it seeks.
        wrk_range_prefetch_t pf = {s_below (41), 65536 * 1024, 100};
        reader_t rd = {&consumer, wrk_stash_new (1 + (size_t)s_below (32)),
                       false, 0};
        cr_assert_not_null (rd.stash);
        int64_t start = 0;
        for (int jobs = 0; start >= 0 && jobs < 200; jobs++) {
            int64_t len = 1 + s_below (40);
            int64_t end = start + len < log.end ? start + len : log.end;
            s_run_job (&rd, &log, start, end, batch, &pf);
            start = s_next_start (&log, end);
        }
        wrk_stash_clear (rd.stash, s_msg_drop);
        wrk_stash_destroy (&rd.stash);
        CHECK (consumer.live == 0, "%d messages leaked", consumer.live);
    }
    cr_assert (
        s_seen.plans[WRK_RANGE_HERE] && s_seen.plans[WRK_RANGE_READ_ON] &&
            s_seen.plans[WRK_RANGE_SEEK] && s_seen.unread && s_seen.overflow &&
            s_seen.eof_end && s_seen.lost && s_seen.lost_all,
        "every path was taken: here %d, read on %d, seek %d, unread "
        "%d, overflow %d, ended by eof %d, lost %d (all %d)",
        s_seen.plans[0], s_seen.plans[1], s_seen.plans[2], s_seen.unread,
        s_seen.overflow, s_seen.eof_end, s_seen.lost, s_seen.lost_all);
}
