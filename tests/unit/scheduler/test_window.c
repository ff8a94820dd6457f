/*  test_window - one partition's sliding window of jobs. Each test reads
    as a usage example of sched_window.

    The property test plays thousands of random schedules against a model
    (a bitmap of completed offsets) with a seeded PRNG; a failure prints
    its seed, and SLUICE_TEST_SEED=<seed> reruns from that seed.
*/
#include <criterion/criterion.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sched_window.h"
#include "sl_meta.h"
#include "test_rand.h"

//  Uniform in [0, n).
static int64_t
s_below (int64_t n)
{
    return (int64_t)(s_rand () % (uint64_t)n);
}

//  Cut the next job and check it is [start, end).
static void
s_expect_cut (sched_window_t *w, int64_t start, int64_t end)
{
    int64_t s = -1, e = -1;
    cr_assert (sched_window_cut (w, &s, &e),
               "no job, wanted [%" PRId64 ",%" PRId64 ")", start, end);
    cr_assert (s == start && e == end,
               "cut [%" PRId64 ",%" PRId64 "), wanted [%" PRId64 ",%" PRId64
               ")",
               s, e, start, end);
}

//  Check that no job can be cut now.
static void
s_expect_no_cut (sched_window_t *w)
{
    int64_t s = -1, e = -1;
    cr_assert_not (sched_window_can_cut (w));
    cr_assert_not (sched_window_cut (w, &s, &e),
                   "unexpected job [%" PRId64 ",%" PRId64 ")", s, e);
}

//  Check completed() returns exactly the n given ranges.
static void
s_expect_completed (sched_window_t *w, const sl_range_t *want, size_t n)
{
    sl_range_t got[64];
    size_t count = sched_window_completed (w, got, 64);
    cr_assert_eq (count, n, "completed() gave %zu ranges, wanted %zu", count,
                  n);
    for (size_t i = 0; i < n; i++)
        cr_assert (got[i].start == want[i].start && got[i].end == want[i].end,
                   "range %zu is [%" PRId64 ",%" PRId64 "), wanted [%" PRId64
                   ",%" PRId64 ")",
                   i, got[i].start, got[i].end, want[i].start, want[i].end);
}

// --- construction and cutting ---------------------------------------------

Test (window, new_rejects_bad_arguments)
{
    cr_assert_null (sched_window_new (-1, 4, 100));
    cr_assert_null (sched_window_new (0, 0, 100));
    cr_assert_null (sched_window_new (0, 4, 0));
    sched_window_t *w = sched_window_new (0, 4, 100);
    cr_assert_not_null (w);
    sched_window_destroy (&w);
    cr_assert_null (w);
    sched_window_destroy (&w); //  Destroying NULL is harmless.
}

Test (window, starts_empty_with_hwm_at_committed)
{
    sched_window_t *w = sched_window_new (500, 4, 100);
    cr_assert_eq (sched_window_committed (w), 500);
    cr_assert_eq (sched_window_cut_offset (w), 500);
    cr_assert_eq (sched_window_hwm (w), 500);
    cr_assert_eq (sched_window_outstanding (w), 0);
    cr_assert_eq (sched_window_incomplete (w), 0);
    s_expect_no_cut (w); //  Nothing is known to exist above committed.
    sched_window_destroy (&w);
}

Test (window, cuts_jobs_of_job_records_up_to_the_hwm)
{
    sched_window_t *w = sched_window_new (0, 10, 10);
    cr_assert_eq (sched_window_set_hwm (w, 35), 0);
    s_expect_cut (w, 0, 10);
    s_expect_cut (w, 10, 20);
    s_expect_cut (w, 20, 30);
    s_expect_cut (w, 30, 35); //  The last job stops at the watermark.
    s_expect_no_cut (w);
    cr_assert_eq (sched_window_cut_offset (w), 35);
    cr_assert_eq (sched_window_outstanding (w), 4);
    //  The topic grows: cutting resumes where it stopped.
    cr_assert_eq (sched_window_set_hwm (w, 37), 0);
    s_expect_cut (w, 35, 37);
    sched_window_destroy (&w);
}

Test (window, hwm_only_grows)
{
    sched_window_t *w = sched_window_new (100, 4, 10);
    cr_assert_eq (sched_window_set_hwm (w, 99), -1);
    cr_assert_eq (sched_window_hwm (w), 100);
    cr_assert_eq (sched_window_set_hwm (w, 150), 0);
    cr_assert_eq (sched_window_set_hwm (w, 150), 0);
    cr_assert_eq (sched_window_set_hwm (w, 120), -1);
    cr_assert_eq (sched_window_hwm (w), 150);
    sched_window_destroy (&w);
}

Test (window, never_more_than_max_jobs_outstanding)
{
    sched_window_t *w = sched_window_new (0, 3, 10);
    sched_window_set_hwm (w, 1000);
    s_expect_cut (w, 0, 10);
    s_expect_cut (w, 10, 20);
    s_expect_cut (w, 20, 30);
    s_expect_no_cut (w); //  Full: the lag stays in Kafka, not in memory.
    cr_assert_eq (sched_window_outstanding (w), 3);
    //  A completed job that is not at the head still holds its slot...
    cr_assert_eq (sched_window_complete (w, 10, 20), 10);
    cr_assert_eq (sched_window_outstanding (w), 3);
    cr_assert_eq (sched_window_incomplete (w), 2);
    s_expect_no_cut (w);
    //  ...until committed passes it.
    cr_assert_eq (sched_window_complete (w, 0, 10), 10);
    cr_assert_eq (sched_window_committed (w), 20);
    cr_assert_eq (sched_window_outstanding (w), 1);
    s_expect_cut (w, 30, 40);
    s_expect_cut (w, 40, 50);
    s_expect_no_cut (w);
    sched_window_destroy (&w);
}

// --- completion -----------------------------------------------------------

Test (window, committed_is_a_cumulative_ack)
{
    sched_window_t *w = sched_window_new (0, 4, 10);
    sched_window_set_hwm (w, 40);
    for (int i = 0; i < 4; i++) {
        int64_t s, e;
        cr_assert (sched_window_cut (w, &s, &e));
    }
    //  Out of order: committed stays at the first incomplete job.
    cr_assert_eq (sched_window_complete (w, 20, 30), 10);
    cr_assert_eq (sched_window_committed (w), 0);
    cr_assert_eq (sched_window_complete (w, 30, 40), 10);
    cr_assert_eq (sched_window_committed (w), 0);
    cr_assert_eq (sched_window_complete (w, 10, 20), 10);
    cr_assert_eq (sched_window_committed (w), 0);
    sl_range_t above[] = {{10, 40}};
    s_expect_completed (w, above, 1);
    //  The hole fills: committed jumps over the whole completed prefix.
    cr_assert_eq (sched_window_complete (w, 0, 10), 10);
    cr_assert_eq (sched_window_committed (w), 40);
    cr_assert_eq (sched_window_outstanding (w), 0);
    s_expect_completed (w, NULL, 0);
    sched_window_destroy (&w);
}

Test (window, duplicate_and_late_done_are_counted_once)
{
    sched_window_t *w = sched_window_new (0, 4, 10);
    sched_window_set_hwm (w, 40);
    int64_t s, e;
    sched_window_cut (w, &s, &e);
    sched_window_cut (w, &s, &e);
    //  Above committed: a second DONE for [10,20) changes nothing.
    cr_assert_eq (sched_window_complete (w, 10, 20), 10);
    cr_assert_eq (sched_window_complete (w, 10, 20), 0);
    cr_assert_eq (sched_window_incomplete (w), 1);
    //  Below committed: a late DONE from a worker that lost its lease.
    cr_assert_eq (sched_window_complete (w, 0, 10), 10);
    cr_assert_eq (sched_window_committed (w), 20);
    cr_assert_eq (sched_window_complete (w, 0, 10), 0);
    cr_assert_eq (sched_window_complete (w, 10, 20), 0);
    cr_assert_eq (sched_window_committed (w), 20);
    sched_window_destroy (&w);
}

Test (window, complete_may_cover_several_entries)
{
    sched_window_t *w = sched_window_new (0, 4, 10);
    sched_window_set_hwm (w, 40);
    int64_t s, e;
    for (int i = 0; i < 4; i++)
        sched_window_cut (w, &s, &e);
    cr_assert_eq (sched_window_complete (w, 20, 30), 10);
    //  [10,40) covers three whole entries; only 20 offsets are new.
    cr_assert_eq (sched_window_complete (w, 10, 40), 20);
    cr_assert_eq (sched_window_committed (w), 0);
    cr_assert_eq (sched_window_complete (w, 0, 40), 10);
    cr_assert_eq (sched_window_committed (w), 40);
    sched_window_destroy (&w);
}

Test (window, complete_rejects_ranges_never_given_out)
{
    sched_window_t *w = sched_window_new (100, 4, 10);
    sched_window_set_hwm (w, 200);
    int64_t s, e;
    sched_window_cut (w, &s, &e);                           //  [100,110)
    sched_window_cut (w, &s, &e);                           //  [110,120)
    cr_assert_eq (sched_window_complete (w, 100, 105), -1); //  splits one
    cr_assert_eq (sched_window_complete (w, 105, 110), -1); //  splits one
    cr_assert_eq (sched_window_complete (w, 105, 115), -1); //  straddles
    cr_assert_eq (sched_window_complete (w, 110, 130), -1); //  beyond cut
    cr_assert_eq (sched_window_complete (w, 120, 130), -1); //  not cut yet
    cr_assert_eq (sched_window_complete (w, 110, 110), -1); //  empty
    cr_assert_eq (sched_window_complete (w, 115, 110), -1); //  reversed
    cr_assert_eq (sched_window_complete (w, 95, 105), -1);  //  splits one
    //  Nothing changed.
    cr_assert_eq (sched_window_committed (w), 100);
    cr_assert_eq (sched_window_incomplete (w), 2);
    cr_assert (sched_window_is_pending (w, 100, 110));
    cr_assert (sched_window_is_pending (w, 110, 120));
    //  Wholly below committed is a harmless duplicate, whatever it is.
    cr_assert_eq (sched_window_complete (w, 50, 60), 0);
    sched_window_destroy (&w);
}

// --- bisect -----------------------------------------------------------------

Test (window, bisect_then_complete_the_original_range)
{
    sched_window_t *w = sched_window_new (0, 4, 10);
    sched_window_set_hwm (w, 100);
    s_expect_cut (w, 0, 10);
    //  The job failed too often: split it to isolate the bad offsets.
    cr_assert_eq (sched_window_bisect (w, 0, 10), 5);
    cr_assert_not (sched_window_is_pending (w, 0, 10));
    cr_assert (sched_window_is_pending (w, 0, 5));
    cr_assert (sched_window_is_pending (w, 5, 10));
    cr_assert_eq (sched_window_incomplete (w), 2);
    cr_assert_eq (sched_window_bisect (w, 5, 10), 7);
    cr_assert_eq (sched_window_incomplete (w), 3);
    //  The worker that had the original job finally reports DONE.
    cr_assert_eq (sched_window_complete (w, 0, 10), 10);
    cr_assert_eq (sched_window_committed (w), 10);
    cr_assert_eq (sched_window_incomplete (w), 0);
    //  DONE for the halves now comes too late and counts nothing.
    cr_assert_eq (sched_window_complete (w, 0, 5), 0);
    cr_assert_eq (sched_window_complete (w, 7, 10), 0);
    sched_window_destroy (&w);
}

Test (window, late_done_for_a_bisected_job_after_half_is_committed)
{
    sched_window_t *w = sched_window_new (0, 4, 10);
    sched_window_set_hwm (w, 100);
    s_expect_cut (w, 0, 10);
    s_expect_cut (w, 10, 20);
    cr_assert_eq (sched_window_bisect (w, 0, 10), 5);
    cr_assert_eq (sched_window_complete (w, 0, 5), 5);
    cr_assert_eq (sched_window_committed (w), 5);
    //  The original range starts below committed: only [5,10) is new.
    cr_assert_eq (sched_window_complete (w, 0, 10), 5);
    cr_assert_eq (sched_window_committed (w), 10);
    cr_assert_eq (sched_window_complete (w, 0, 10), 0);
    cr_assert (sched_window_is_pending (w, 10, 20));
    sched_window_destroy (&w);
}

Test (window, bisect_rejects_what_is_not_one_pending_entry)
{
    sched_window_t *w = sched_window_new (0, 4, 10);
    sched_window_set_hwm (w, 21);
    s_expect_cut (w, 0, 10);
    s_expect_cut (w, 10, 20);
    s_expect_cut (w, 20, 21);
    cr_assert_eq (sched_window_bisect (w, 20, 21), -1); //  single offset
    cr_assert_eq (sched_window_bisect (w, 0, 20), -1);  //  two entries
    cr_assert_eq (sched_window_bisect (w, 0, 5), -1);   //  part of one
    cr_assert_eq (sched_window_bisect (w, 30, 40), -1); //  never cut
    sched_window_complete (w, 10, 20);
    cr_assert_eq (sched_window_bisect (w, 10, 20), -1); //  already done
    cr_assert_eq (sched_window_incomplete (w), 2);
    //  Odd lengths split with the shorter half first.
    sched_window_t *odd = sched_window_new (0, 1, 7);
    sched_window_set_hwm (odd, 7);
    s_expect_cut (odd, 0, 7);
    cr_assert_eq (sched_window_bisect (odd, 0, 7), 3);
    cr_assert (sched_window_is_pending (odd, 0, 3));
    cr_assert (sched_window_is_pending (odd, 3, 7));
    sched_window_destroy (&odd);
    sched_window_destroy (&w);
}

Test (window, bisect_may_exceed_max_jobs_but_then_blocks_cutting)
{
    sched_window_t *w = sched_window_new (0, 2, 10);
    sched_window_set_hwm (w, 100);
    s_expect_cut (w, 0, 10);
    s_expect_cut (w, 10, 20);
    //  Failure isolation never waits for room in the window.
    cr_assert_eq (sched_window_bisect (w, 0, 10), 5);
    cr_assert_eq (sched_window_outstanding (w), 3);
    s_expect_no_cut (w);
    cr_assert_eq (sched_window_complete (w, 0, 5), 5);
    s_expect_no_cut (w); //  Still 2 outstanding: [5,10) and [10,20).
    cr_assert_eq (sched_window_complete (w, 5, 10), 5);
    s_expect_cut (w, 20, 30);
    sched_window_destroy (&w);
}

// --- restore from commit metadata -------------------------------------------

Test (window, restore_skips_restored_ranges_exactly)
{
    sched_window_t *w = sched_window_new (0, 10, 10);
    sl_range_t done[] = {{15, 25}, {40, 45}};
    cr_assert_eq (sched_window_restore (w, done, 2), 0);
    sched_window_set_hwm (w, 60);
    s_expect_cut (w, 0, 10);
    s_expect_cut (w, 10, 15); //  Stops at the restored range...
    s_expect_cut (w, 25, 35); //  ...and the next job starts after it.
    s_expect_cut (w, 35, 40);
    s_expect_cut (w, 45, 55);
    s_expect_cut (w, 55, 60);
    s_expect_no_cut (w);
    cr_assert_eq (sched_window_outstanding (w), 6); //  Restored: not jobs.
    //  Restored ranges count as complete for the cumulative ACK.
    cr_assert_eq (sched_window_complete (w, 0, 15), 15);
    cr_assert_eq (sched_window_committed (w), 25);
    cr_assert_eq (sched_window_complete (w, 25, 40), 15);
    cr_assert_eq (sched_window_committed (w), 45);
    sched_window_destroy (&w);
}

Test (window, restore_merges_clips_and_ignores_what_is_committed)
{
    sched_window_t *w = sched_window_new (100, 10, 10);
    sl_range_t done[] = {{150, 160}, {50, 90},   {155, 170},
                         {170, 175}, {120, 130}, {90, 100}};
    cr_assert_eq (sched_window_restore (w, done, 6), 0);
    //  Below committed is ignored; the rest is sorted and merged.
    sl_range_t want[] = {{120, 130}, {150, 175}};
    s_expect_completed (w, want, 2);
    //  A second call adds to the set (before the first cut).
    sl_range_t more[] = {{130, 140}};
    cr_assert_eq (sched_window_restore (w, more, 1), 0);
    sl_range_t want2[] = {{120, 140}, {150, 175}};
    s_expect_completed (w, want2, 2);
    sched_window_destroy (&w);
}

Test (window, restore_reaching_committed_is_folded_into_it)
{
    sched_window_t *w = sched_window_new (100, 10, 10);
    //  Valid metadata never does this, but a range that reaches committed
    //  is a cumulative ACK: committed moves at once, and hwm with it.
    sl_range_t done[] = {{95, 120}, {130, 140}};
    cr_assert_eq (sched_window_restore (w, done, 2), 0);
    cr_assert_eq (sched_window_committed (w), 120);
    cr_assert_eq (sched_window_cut_offset (w), 120);
    cr_assert_eq (sched_window_hwm (w), 120);
    sl_range_t want[] = {{130, 140}}; //  Never a range at committed.
    s_expect_completed (w, want, 1);
    cr_assert_eq (sched_window_set_hwm (w, 110), -1);
    cr_assert_eq (sched_window_set_hwm (w, 200), 0);
    s_expect_cut (w, 120, 130);
    s_expect_cut (w, 140, 150);
    sched_window_destroy (&w);
}

Test (window, restore_rejects_bad_input_and_late_calls)
{
    sched_window_t *w = sched_window_new (0, 10, 10);
    sl_range_t empty[] = {{5, 5}};
    sl_range_t reversed[] = {{6, 5}};
    sl_range_t negative[] = {{-5, 5}};
    sl_range_t mixed[] = {{10, 20}, {30, 30}};
    cr_assert_eq (sched_window_restore (w, empty, 1), -1);
    cr_assert_eq (sched_window_restore (w, reversed, 1), -1);
    cr_assert_eq (sched_window_restore (w, negative, 1), -1);
    cr_assert_eq (sched_window_restore (w, mixed, 2), -1);
    s_expect_completed (w, NULL, 0); //  A rejected call changes nothing.
    cr_assert_eq (sched_window_restore (w, NULL, 0), 0);
    sched_window_set_hwm (w, 100);
    s_expect_cut (w, 0, 10);
    sl_range_t late[] = {{50, 60}};
    cr_assert_eq (sched_window_restore (w, late, 1), -1);
    s_expect_completed (w, NULL, 0);
    sched_window_destroy (&w);
}

Test (window, restored_range_straddling_hwm_is_skipped_whole)
{
    sched_window_t *w = sched_window_new (0, 10, 10);
    sl_range_t done[] = {{20, 40}};
    sched_window_restore (w, done, 1);
    sched_window_set_hwm (w, 30);
    s_expect_cut (w, 0, 10);
    s_expect_cut (w, 10, 20);
    //  [20,40) was processed, so those offsets exist: cut jumps over the
    //  whole range and hwm follows, keeping committed <= cut <= hwm.
    cr_assert_eq (sched_window_cut_offset (w), 40);
    cr_assert_eq (sched_window_hwm (w), 40);
    s_expect_no_cut (w);
    sl_range_t want[] = {{20, 40}};
    s_expect_completed (w, want, 1);
    sched_window_complete (w, 0, 20);
    cr_assert_eq (sched_window_committed (w), 40);
    s_expect_completed (w, NULL, 0);
    //  Kafka's older answer is ignored; a newer one resumes cutting.
    cr_assert_eq (sched_window_set_hwm (w, 30), -1);
    cr_assert_eq (sched_window_set_hwm (w, 50), 0);
    s_expect_cut (w, 40, 50);
    sched_window_destroy (&w);
}

Test (window, restored_range_starting_at_hwm_is_skipped_when_cut_reaches_it)
{
    sched_window_t *w = sched_window_new (0, 10, 10);
    sl_range_t done[] = {{20, 25}, {60, 70}};
    sched_window_restore (w, done, 2);
    sched_window_set_hwm (w, 20);
    s_expect_cut (w, 0, 10);
    s_expect_cut (w, 10, 20); //  cut reaches 20: [20,25) is skipped
    cr_assert_eq (sched_window_cut_offset (w), 25);
    cr_assert_eq (sched_window_hwm (w), 25);
    s_expect_no_cut (w);
    cr_assert_eq (sched_window_complete (w, 0, 20), 20);
    cr_assert_eq (sched_window_committed (w), 25);
    //  [60,70) is far above hwm: untouched, but still reported.
    sl_range_t want[] = {{60, 70}};
    s_expect_completed (w, want, 1);
    sched_window_destroy (&w);
}

Test (window, restored_ranges_above_cut_are_still_reported)
{
    sched_window_t *w = sched_window_new (0, 1, 10);
    sl_range_t done[] = {{30, 35}, {500, 510}};
    sched_window_restore (w, done, 2);
    sched_window_set_hwm (w, 1000);
    s_expect_cut (w, 0, 10);
    s_expect_no_cut (w); //  --window 1: one job at a time.
    sl_range_t want[] = {{30, 35}, {500, 510}};
    s_expect_completed (w, want, 2);
    sched_window_complete (w, 0, 10);
    s_expect_cut (w, 10, 20);
    sched_window_complete (w, 10, 20);
    s_expect_cut (w, 20, 30);
    //  A completed job next to a restored range merges with it.
    sched_window_complete (w, 20, 30);
    cr_assert_eq (sched_window_committed (w), 35);
    s_expect_completed (w, want + 1, 1);
    sched_window_destroy (&w);
}

Test (window, completed_keeps_the_lowest_ranges_when_out_is_small)
{
    sched_window_t *w = sched_window_new (0, 10, 10);
    sl_range_t done[] = {{15, 20}, {40, 50}, {70, 80}};
    sched_window_restore (w, done, 3);
    sched_window_set_hwm (w, 100);
    s_expect_cut (w, 0, 10);
    s_expect_cut (w, 10, 15);
    s_expect_cut (w, 20, 30);
    s_expect_cut (w, 30, 40);
    sched_window_complete (w, 30, 40); //  merges with [40,50)
    sl_range_t out[2];
    cr_assert_eq (sched_window_completed (w, out, 2), 2);
    cr_assert (out[0].start == 15 && out[0].end == 20);
    cr_assert (out[1].start == 30 && out[1].end == 50);
    cr_assert_eq (sched_window_completed (w, NULL, 0), 0);
    sched_window_destroy (&w);
}

Test (window, metadata_round_trip_restores_the_same_set)
{
    //  The scheduler that owns the partition commits...
    sched_window_t *w = sched_window_new (1000, 8, 100);
    sched_window_set_hwm (w, 2000);
    int64_t s, e;
    while (sched_window_cut (w, &s, &e))
        ;
    sched_window_complete (w, 1100, 1200);
    sched_window_complete (w, 1300, 1500);
    sched_window_complete (w, 1700, 1800);
    sl_range_t done[16];
    size_t n = sched_window_completed (w, done, 16);
    cr_assert_eq (n, 3);
    char meta[SL_META_DEFAULT_LIMIT];
    int64_t committed = sched_window_committed (w);
    cr_assert_eq (sl_meta_encode (committed, done, n, meta, sizeof meta), 3);
    //  ...and the one that takes it over skips what was already done.
    sl_range_t back[16];
    int got = sl_meta_decode (committed, meta, strlen (meta), back, 16);
    cr_assert_eq (got, 3);
    sched_window_t *next = sched_window_new (committed, 8, 100);
    cr_assert_eq (sched_window_restore (next, back, (size_t)got), 0);
    s_expect_completed (next, done, n);
    sched_window_set_hwm (next, 2000);
    s_expect_cut (next, 1000, 1100);
    s_expect_cut (next, 1200, 1300);
    s_expect_cut (next, 1500, 1600);
    s_expect_cut (next, 1600, 1700);
    s_expect_cut (next, 1800, 1900);
    s_expect_cut (next, 1900, 2000);
    s_expect_no_cut (next);
    sched_window_destroy (&next);
    sched_window_destroy (&w);
}

// --- property test ----------------------------------------------------------

#define SPAN       512 //  offsets modelled above the first committed
#define MAX_JOBS   8
#define MAX_SPLITS 16

//  The model: what is complete, what was handed out, what is in flight.
typedef struct {
    sched_window_t *w;
    int64_t c0;        //  committed at the start
    int64_t final_hwm; //  the watermark grows up to this
    int max_jobs;
    int64_t job_records;
    bool bisects; //  this run splits jobs
    int splits;
    bool done[SPAN];
    bool restored[SPAN];
    bool handed[SPAN];
    sl_range_t pending[MAX_JOBS + MAX_SPLITS + 1];
    size_t n_pending;
    sl_range_t finished[SPAN];
    size_t n_finished;
    sl_range_t originals[MAX_SPLITS];
    size_t n_originals;
    int64_t last_committed;
} model_t;

//  Set up a random window with random restored ranges.
static void
s_model_init (model_t *m)
{
    memset (m, 0, sizeof *m);
    m->c0 = s_below (4) == 0 ? 0 : s_below (100000);
    m->final_hwm = m->c0 + s_below (300);
    m->max_jobs = 1 + (int)s_below (MAX_JOBS);
    m->job_records = 1 + s_below (25);
    m->bisects = s_below (2) == 0;
    m->w = sched_window_new (m->c0, m->max_jobs, m->job_records);
    CHECK (m->w, "new failed");
    if (s_below (3) == 0)
        sched_window_set_hwm (m->w, m->c0 + s_below (m->final_hwm - m->c0 + 1));
    sl_range_t r[6];
    size_t n = (size_t)s_below (7);
    for (size_t i = 0; i < n; i++) {
        //  Some below committed, some straddling it, some beyond hwm.
        r[i].start = m->c0 - 10 + s_below (m->final_hwm - m->c0 + 60);
        r[i].start = r[i].start < 0 ? 0 : r[i].start;
        r[i].end = r[i].start + 1 + s_below (30);
        for (int64_t o = r[i].start; o < r[i].end; o++)
            if (o >= m->c0)
                m->done[o - m->c0] = m->restored[o - m->c0] = true;
    }
    CHECK (sched_window_restore (m->w, r, n) == 0, "restore failed");
    m->last_committed = m->c0;
}

//  Offsets in [start, end) the model does not have as done yet.
static int64_t
s_model_missing (model_t *m, int64_t start, int64_t end)
{
    int64_t missing = 0;
    for (int64_t o = start; o < end; o++)
        missing += o >= m->c0 && !m->done[o - m->c0];
    return missing;
}

//  Move pending jobs that are now entirely done to the finished list.
static void
s_model_prune (model_t *m)
{
    for (size_t i = 0; i < m->n_pending;) {
        sl_range_t j = m->pending[i];
        if (s_model_missing (m, j.start, j.end) == 0) {
            m->finished[m->n_finished++] = j;
            m->pending[i] = m->pending[--m->n_pending];
        } else
            i++;
    }
}

//  Report the window's DONE for [start, end) to the model and the window.
static void
s_model_complete (model_t *m, int64_t start, int64_t end)
{
    int64_t want = s_model_missing (m, start, end);
    int64_t got = sched_window_complete (m->w, start, end);
    CHECK (got == want,
           "complete [%" PRId64 ",%" PRId64 ") returned %" PRId64 ", %" PRId64
           " offsets were new",
           start, end, got, want);
    for (int64_t o = start; o < end; o++)
        if (o >= m->c0)
            m->done[o - m->c0] = true;
    s_model_prune (m);
}

//  Cut every job the window gives and check each one.
static void
s_model_cut (model_t *m)
{
    int64_t start, end;
    int64_t expect = sched_window_cut_offset (m->w);
    while (sched_window_cut (m->w, &start, &end)) {
        CHECK (start == expect,
               "job starts at %" PRId64 ", not at cut %" PRId64, start, expect);
        CHECK (end > start && end - start <= m->job_records, "bad length");
        CHECK (end <= sched_window_hwm (m->w), "job passes hwm");
        for (int64_t o = start; o < end; o++) {
            CHECK (!m->restored[o - m->c0],
                   "restored offset %" PRId64 " handed out", o);
            CHECK (!m->handed[o - m->c0], "offset %" PRId64 " handed twice", o);
            m->handed[o - m->c0] = true;
        }
        //  A short job ends at hwm or where a restored range starts.
        CHECK (end - start == m->job_records ||
                   end == sched_window_hwm (m->w) || m->restored[end - m->c0],
               "job [%" PRId64 ",%" PRId64 ") stops for no reason", start, end);
        CHECK (sched_window_outstanding (m->w) <= m->max_jobs,
               "%d outstanding after a cut, max %d",
               sched_window_outstanding (m->w), m->max_jobs);
        m->pending[m->n_pending++] = (sl_range_t){start, end};
        expect = sched_window_cut_offset (m->w);
    }
    CHECK (!sched_window_can_cut (m->w), "cut refused but can_cut is true");
}

//  Split a random pending job.
static void
s_model_bisect (model_t *m)
{
    if (!m->bisects || m->splits >= MAX_SPLITS || m->n_pending == 0)
        return;
    size_t i = (size_t)s_below ((int64_t)m->n_pending);
    sl_range_t j = m->pending[i];
    int64_t mid = sched_window_bisect (m->w, j.start, j.end);
    if (j.end - j.start < 2) {
        CHECK (mid == -1, "bisected a single offset");
        return;
    }
    CHECK (mid == j.start + (j.end - j.start) / 2, "bad midpoint");
    m->pending[i].end = mid;
    m->pending[m->n_pending++] = (sl_range_t){mid, j.end};
    m->originals[m->splits++] = j;
}

//  Send DONEs the window must refuse, and check nothing changes.
static void
s_model_bogus (model_t *m)
{
    int64_t committed = sched_window_committed (m->w);
    int64_t cut = sched_window_cut_offset (m->w);
    CHECK (sched_window_complete (m->w, cut, cut + 1) == -1, "beyond cut");
    CHECK (sched_window_complete (m->w, cut, cut) == -1, "empty range");
    if (m->n_pending > 0) {
        sl_range_t j = m->pending[s_below ((int64_t)m->n_pending)];
        if (j.end - j.start >= 2)
            CHECK (sched_window_complete (m->w, j.start, j.end - 1) == -1,
                   "half an entry accepted");
        CHECK (sched_window_is_pending (m->w, j.start, j.end),
               "pending job [%" PRId64 ",%" PRId64 ") unknown", j.start, j.end);
    }
    CHECK (sched_window_committed (m->w) == committed, "bogus DONE moved");
}

//  Encode completed(), decode it, restore into a fresh window: same set.
static void
s_model_round_trip (model_t *m, const sl_range_t *have, size_t n)
{
    char meta[1 << 14];
    sl_range_t back[SPAN];
    int64_t committed = sched_window_committed (m->w);
    CHECK (sl_meta_encode (committed, have, n, meta, sizeof meta) == (int)n,
           "encode of completed() failed");
    int got = sl_meta_decode (committed, meta, strlen (meta), back, SPAN);
    CHECK (got == (int)n, "decoded %d of %zu", got, n);
    sched_window_t *fresh = sched_window_new (committed, 1, 1);
    CHECK (sched_window_restore (fresh, back, (size_t)got) == 0, "restore");
    sl_range_t again[SPAN];
    size_t n2 = sched_window_completed (fresh, again, SPAN);
    CHECK (n2 == n, "fresh window has %zu ranges, not %zu", n2, n);
    for (size_t i = 0; i < n; i++)
        CHECK (again[i].start == have[i].start && again[i].end == have[i].end,
               "range %zu differs after the round trip", i);
    sched_window_destroy (&fresh);
}

//  Check every invariant of the window against the model.
static void
s_model_check (model_t *m)
{
    sched_window_t *w = m->w;
    int64_t committed = sched_window_committed (w);
    int64_t cut = sched_window_cut_offset (w);
    CHECK (committed >= m->last_committed,
           "committed moved back from %" PRId64 " to %" PRId64,
           m->last_committed, committed);
    m->last_committed = committed;
    CHECK (committed <= cut && cut <= sched_window_hwm (w),
           "committed %" PRId64 " <= cut %" PRId64 " <= hwm %" PRId64 " broken",
           committed, cut, sched_window_hwm (w));
    //  committed is the end of the contiguous completed prefix.
    int64_t prefix = m->c0;
    while (prefix < m->c0 + SPAN && m->done[prefix - m->c0])
        prefix++;
    int64_t want = prefix < cut ? prefix : cut;
    CHECK (committed == want, "committed %" PRId64 ", prefix ends at %" PRId64,
           committed, want);
    for (size_t i = 0; i < m->n_pending; i++)
        CHECK (m->pending[i].start >= committed,
               "committed %" PRId64 " passed incomplete job [%" PRId64
               ",%" PRId64 ")",
               committed, m->pending[i].start, m->pending[i].end);
    CHECK (sched_window_incomplete (w) == (int)m->n_pending,
           "%d incomplete, model has %zu", sched_window_incomplete (w),
           m->n_pending);
    if (!m->bisects)
        CHECK (sched_window_outstanding (w) <= m->max_jobs,
               "%d outstanding, max %d", sched_window_outstanding (w),
               m->max_jobs);
    //  completed() is exactly the model's done offsets above committed.
    sl_range_t have[SPAN];
    size_t n = sched_window_completed (w, have, SPAN), k = 0;
    for (int64_t o = committed; o < m->c0 + SPAN; o++) {
        if (!m->done[o - m->c0])
            continue;
        int64_t end = o;
        while (end < m->c0 + SPAN && m->done[end - m->c0])
            end++;
        CHECK (k < n && have[k].start == o && have[k].end == end,
               "completed() lacks [%" PRId64 ",%" PRId64 ")", o, end);
        k++;
        o = end;
    }
    CHECK (k == n, "completed() has %zu ranges, model %zu", n, k);
    if (s_below (8) == 0)
        s_model_round_trip (m, have, n);
}

//  One random step: grow hwm, cut, complete, duplicate, late, split, bogus.
static void
s_model_step (model_t *m)
{
    int64_t hwm = sched_window_hwm (m->w);
    int64_t r = s_below (100);
    if (r < 15 && hwm < m->final_hwm) {
        int64_t next = hwm + s_below (40);
        next = next > m->final_hwm ? m->final_hwm : next;
        CHECK (sched_window_set_hwm (m->w, next) == 0, "set_hwm failed");
        CHECK (sched_window_set_hwm (m->w, next - 1) == -1, "hwm shrank");
    } else if (r < 40)
        s_model_cut (m);
    else if (r < 75 && m->n_pending > 0) {
        sl_range_t j = m->pending[s_below ((int64_t)m->n_pending)];
        s_model_complete (m, j.start, j.end);
    } else if (r < 82 && m->n_finished > 0) {
        sl_range_t j = m->finished[s_below ((int64_t)m->n_finished)];
        CHECK (sched_window_complete (m->w, j.start, j.end) == 0,
               "duplicate DONE counted twice");
    } else if (r < 87 && m->splits > 0) {
        sl_range_t j = m->originals[s_below (m->splits)];
        s_model_complete (m, j.start, j.end);
    } else if (r < 93)
        s_model_bisect (m);
    else
        s_model_bogus (m);
}

Test (window, property_random_completion_orders)
{
    static model_t m;
    for (uint64_t i = 0; i < 4000; i++) {
        s_srand (s_base_seed () + i);
        s_model_init (&m);
        int steps = 0;
        while (sched_window_committed (m.w) < m.final_hwm) {
            CHECK (++steps < 20000, "no progress after %d steps", steps);
            s_model_step (&m);
            s_model_check (&m);
        }
        //  Drained: every offset below hwm was handed out or restored,
        //  exactly once, and nothing is in flight.
        for (int64_t o = m.c0; o < m.final_hwm; o++)
            CHECK (m.handed[o - m.c0] != m.restored[o - m.c0],
                   "offset %" PRId64 " handed %d restored %d", o,
                   m.handed[o - m.c0], m.restored[o - m.c0]);
        CHECK (m.n_pending == 0 && sched_window_incomplete (m.w) == 0,
               "jobs left in flight");
        CHECK (sched_window_outstanding (m.w) == 0, "jobs left outstanding");
        sched_window_destroy (&m.w);
    }
}
