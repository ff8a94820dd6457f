/*  test_lanes - which executor lane a job from a scheduler goes to
    (wrk_lanes_choose): every branch, as a table of lanes and a job.
*/
#include <criterion/criterion.h>

#include <string.h>

#include "wrk_lanes.h"

//  A lane holding `held` jobs whose last job ends at topic/partition/next.
static wrk_lane_load_t
s_lane (size_t held, const char *topic, int32_t partition, int64_t next)
{
    wrk_lane_load_t load;
    memset (&load, 0, sizeof load);
    load.held = held;
    snprintf (load.tail_topic, sizeof load.tail_topic, "%s", topic);
    load.tail_partition = partition;
    load.tail_next = next;
    return load;
}

//  A job [start, end) of topic/partition.
static Sluice__Job
s_job (const char *topic, int32_t partition, int64_t start, int64_t end)
{
    Sluice__Job job = SLUICE__JOB__INIT;
    job.topic = (char *)topic;
    job.partition = partition;
    job.start = start;
    job.end = end;
    return job;
}

//  Plugin and flush time per offset: unknown, cheap, dear.
#define UNKNOWN (-1.0)
#define CHEAP   1.0   /* 1,000 offsets: 1 ms                            */
#define DEAR    100.0 /* 1,000 offsets: 100 ms                          */

Test (lanes, fresh_lanes_take_turns_by_load)
{
    wrk_lane_load_t lanes[3];
    memset (lanes, 0, sizeof lanes);
    Sluice__Job job = s_job ("in", 0, 0, 1000);
    cr_assert_eq (wrk_lanes_choose (lanes, 3, &job, UNKNOWN), 0,
                  "ties go to the first");
    lanes[0].held = 1;
    cr_assert_eq (wrk_lanes_choose (lanes, 3, &job, UNKNOWN), 1);
    lanes[1].held = 1;
    cr_assert_eq (wrk_lanes_choose (lanes, 3, &job, UNKNOWN), 2);
}

Test (lanes, a_fresh_lane_matches_no_real_job)
{
    //  Zeroed: topic "", partition 0, next 0. Topics are never empty.
    wrk_lane_load_t lanes[2];
    memset (lanes, 0, sizeof lanes);
    lanes[0].held = 3;
    Sluice__Job job = s_job ("in", 0, 0, 1000);
    cr_assert_eq (wrk_lanes_choose (lanes, 2, &job, CHEAP), 1);
}

Test (lanes, no_lane_continues_the_job_least_held_wins)
{
    wrk_lane_load_t lanes[] = {
        s_lane (2, "in", 0, 1000), s_lane (1, "in", 1, 1000),
        s_lane (1, "out", 0, 1000), s_lane (3, "in", 0, 2000)};
    Sluice__Job job = s_job ("in", 0, 3000, 4000);
    cr_assert_eq (wrk_lanes_choose (lanes, 4, &job, CHEAP), 1);
}

Test (lanes, the_lane_the_job_continues_wins_when_no_busier)
{
    wrk_lane_load_t lanes[] = {s_lane (1, "in", 0, 1000),
                               s_lane (1, "in", 0, 2000)};
    Sluice__Job job = s_job ("in", 0, 2000, 3000);
    //  Equal load: the continuing lane, whatever the work costs.
    cr_assert_eq (wrk_lanes_choose (lanes, 2, &job, UNKNOWN), 1);
    cr_assert_eq (wrk_lanes_choose (lanes, 2, &job, DEAR), 1);
    lanes[0].held = 2;
    cr_assert_eq (wrk_lanes_choose (lanes, 2, &job, DEAR), 1, "less held");
}

Test (lanes, topic_partition_and_offset_must_all_match)
{
    wrk_lane_load_t lanes[] = {s_lane (0, "in", 0, 5000),
                               s_lane (1, "in", 0, 2000)};
    Sluice__Job job = s_job ("in", 0, 2000, 3000);
    cr_assert_eq (wrk_lanes_choose (lanes, 2, &job, CHEAP), 1);
    Sluice__Job other_topic = s_job ("in2", 0, 2000, 3000);
    cr_assert_eq (wrk_lanes_choose (lanes, 2, &other_topic, CHEAP), 0);
    Sluice__Job other_partition = s_job ("in", 1, 2000, 3000);
    cr_assert_eq (wrk_lanes_choose (lanes, 2, &other_partition, CHEAP), 0);
    Sluice__Job other_offset = s_job ("in", 0, 2001, 3000);
    cr_assert_eq (wrk_lanes_choose (lanes, 2, &other_offset, CHEAP), 0);
    Sluice__Job prefix = s_job ("i", 0, 2000, 3000);
    cr_assert_eq (wrk_lanes_choose (lanes, 2, &prefix, CHEAP), 0);
}

Test (lanes, of_two_continuing_lanes_the_first_wins)
{
    wrk_lane_load_t lanes[] = {s_lane (0, "x", 0, 0), s_lane (2, "in", 0, 2000),
                               s_lane (1, "in", 0, 2000)};
    Sluice__Job job = s_job ("in", 0, 2000, 3000);
    //  Lane 1 continues it but holds more than lane 0; cheap work stays.
    cr_assert_eq (wrk_lanes_choose (lanes, 3, &job, CHEAP), 1);
}

Test (lanes, a_busier_continuing_lane_keeps_cheap_work)
{
    wrk_lane_load_t lanes[] = {s_lane (0, "in", 3, 0),
                               s_lane (2, "in", 0, 2000)};
    Sluice__Job job = s_job ("in", 0, 2000, 3000);
    //  1,000 offsets at 1 us: 1 ms, not worth a second fetch.
    cr_assert_eq (wrk_lanes_choose (lanes, 2, &job, CHEAP), 1);
    cr_assert_eq (wrk_lanes_choose (lanes, 2, &job, 0.0), 1, "free work");
}

Test (lanes, dear_work_goes_to_the_less_busy_lane)
{
    wrk_lane_load_t lanes[] = {s_lane (0, "in", 3, 0),
                               s_lane (2, "in", 0, 2000)};
    Sluice__Job job = s_job ("in", 0, 2000, 3000);
    cr_assert_eq (wrk_lanes_choose (lanes, 2, &job, DEAR), 0);
}

Test (lanes, unmeasured_work_goes_to_the_less_busy_lane)
{
    wrk_lane_load_t lanes[] = {s_lane (0, "in", 3, 0),
                               s_lane (1, "in", 0, 2000)};
    Sluice__Job job = s_job ("in", 0, 2000, 3000);
    cr_assert_eq (wrk_lanes_choose (lanes, 2, &job, UNKNOWN), 0);
}

Test (lanes, the_split_starts_at_exactly_the_threshold)
{
    wrk_lane_load_t lanes[] = {s_lane (0, "in", 3, 0),
                               s_lane (1, "in", 0, 2000)};
    //  1,000 offsets: 25 ms at 25 us each.
    double at = WRK_LANES_SPLIT_MS * 1000.0 / 1000;
    Sluice__Job job = s_job ("in", 0, 2000, 3000);
    cr_assert_eq (wrk_lanes_choose (lanes, 2, &job, at), 0);
    cr_assert_eq (wrk_lanes_choose (lanes, 2, &job, at * 0.999), 1);
    //  The job's length counts: half the offsets, half the work.
    Sluice__Job half = s_job ("in", 0, 2000, 2500);
    cr_assert_eq (wrk_lanes_choose (lanes, 2, &half, at), 1);
    cr_assert_eq (wrk_lanes_choose (lanes, 2, &half, 2 * at), 0);
}

Test (lanes, one_lane_takes_everything)
{
    wrk_lane_load_t lanes[] = {s_lane (5, "in", 0, 2000)};
    Sluice__Job job = s_job ("in", 0, 2000, 3000);
    cr_assert_eq (wrk_lanes_choose (lanes, 1, &job, DEAR), 0);
    Sluice__Job elsewhere = s_job ("other", 7, 0, 3000);
    cr_assert_eq (wrk_lanes_choose (lanes, 1, &elsewhere, DEAR), 0);
}
