/*  test_failure - the failure policy: what happens to a job that did not
    complete. Each test reads as a usage example of sched_failure.

    The decision (sched_failure_decide) is checked branch by branch; then
    the policy is applied to a real book (sched_model, sched_window) and,
    in the property test, played against a partition with poison offsets:
    exactly the poison offsets reach the dead-letter queue, whatever the
    job sizes and however often workers are lost along the way.
*/
#include <criterion/criterion.h>

#include <inttypes.h>
#include <stdio.h>

#include "sched_failure.h"
#include "sl_kafka.h"
#include "sl_log.h"
#include "test_rand.h"

//  The policy logs every retry and bisection; the tests read the book.
__attribute__ ((constructor)) static void
s_quiet (void)
{
    sl_log_set_level ("error");
}

#define MAX_ATTEMPTS 3

//  ---------------------------------------------------------------------
//  The decision

Test (failure_decide, not_the_jobs_fault_requeues_without_an_attempt)
{
    sched_fail_t d = sched_failure_decide (0, 100, 2, false, false, 3);
    cr_assert_eq (d.action, SCHED_FAIL_REQUEUE);
    cr_assert_eq (d.attempt, 2);
    cr_assert_eq (d.backoff_ms, 0);
    //  Even out of attempts, or in dead-letter mode.
    cr_assert_eq (sched_failure_decide (0, 1, 3, false, false, 3).action,
                  SCHED_FAIL_REQUEUE);
    cr_assert_eq (sched_failure_decide (0, 1, 9, true, false, 3).action,
                  SCHED_FAIL_REQUEUE);
}

Test (failure_decide, retried_at_once_until_max_attempts)
{
    for (uint32_t attempt = 1; attempt < 3; attempt++) {
        sched_fail_t d = sched_failure_decide (0, 100, attempt, false, true, 3);
        cr_assert_eq (d.action, SCHED_FAIL_RETRY, "attempt %u", attempt);
        cr_assert_eq (d.attempt, attempt + 1);
        cr_assert_eq (d.backoff_ms, 0);
    }
}

Test (failure_decide, a_range_out_of_attempts_is_bisected)
{
    sched_fail_t d = sched_failure_decide (10, 12, 3, false, true, 3);
    cr_assert_eq (d.action, SCHED_FAIL_BISECT);
    //  max_attempts 1: the first failure splits.
    cr_assert_eq (sched_failure_decide (0, 1000, 1, false, true, 1).action,
                  SCHED_FAIL_BISECT);
}

Test (failure_decide, one_offset_out_of_attempts_is_dead_lettered)
{
    sched_fail_t d = sched_failure_decide (41, 42, 3, false, true, 3);
    cr_assert_eq (d.action, SCHED_FAIL_DEAD_LETTER);
    cr_assert_eq (d.attempt, 4);
    cr_assert_eq (d.backoff_ms, 0);
}

Test (failure_decide, a_dead_letter_copy_is_retried_for_ever_with_backoff)
{
    const struct {
        uint32_t attempt;
        int64_t backoff;
    } rows[] = {{1, 1000},   {4, 4000},   {29, 29000},
                {30, 30000}, {31, 30000}, {1000, 30000}};
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        sched_fail_t d =
            sched_failure_decide (7, 8, rows[i].attempt, true, true, 3);
        cr_assert_eq (d.action, SCHED_FAIL_RETRY, "attempt %u",
                      rows[i].attempt);
        cr_assert_eq (d.backoff_ms, rows[i].backoff, "attempt %u: %" PRId64,
                      rows[i].attempt, d.backoff_ms);
        cr_assert_eq (d.attempt, rows[i].attempt + 1);
    }
}

Test (failure_decide, halves_get_one_try_single_offsets_all_of_them)
{
    cr_assert_eq (sched_failure_half_attempt (1, 5), 1);
    cr_assert_eq (sched_failure_half_attempt (2, 5), 5);
    cr_assert_eq (sched_failure_half_attempt (500, 5), 5);
}

Test (failure_decide, a_lost_worker_blames_only_jobs_it_began)
{
    cr_assert (sched_failure_blamed (true, true));
    cr_assert_not (sched_failure_blamed (true, false));
    cr_assert_not (sched_failure_blamed (false, true));
    cr_assert_not (sched_failure_blamed (false, false));
}

//  ---------------------------------------------------------------------
//  Applied to a book

typedef struct {
    sched_model_t model;
    sched_stats_t stats;
    sched_failure_t failure;
    sched_part_t *part;
    sched_worker_t *worker;
} s_book_t;

//  A book with one partition of hwm offsets from 0, cut in jobs of
//  job_records, and one worker.
static void
s_book (s_book_t *b, int64_t hwm, int64_t job_records)
{
    cr_assert_eq (sched_model_init (&b->model, 100000, job_records, NULL), 0);
    sched_stats_init (&b->stats);
    b->failure = (sched_failure_t){.model = &b->model,
                                   .stats = &b->stats,
                                   .max_attempts = MAX_ATTEMPTS,
                                   .lease_ms = 5000};
    b->part = sched_model_part_add (&b->model, "t", 0, 0, NULL, 0);
    cr_assert_not_null (b->part);
    sched_model_part_learn_hwm (b->part, hwm);
    zframe_t *rid = zframe_new ("w1", 2);
    b->worker = sched_model_worker_add (&b->model, rid, "7731");
    zframe_destroy (&rid);
    cr_assert_not_null (b->worker);
}

//  Cut the next job and hand it to the book's worker at now.
static sched_job_t *
s_held (s_book_t *b, int64_t now)
{
    int64_t start, end;
    cr_assert (sched_window_cut (b->part->window, &start, &end));
    sched_job_t *job = sched_model_job_new (&b->model, b->part, start, end, 1);
    cr_assert_not_null (job);
    sched_model_job_enqueue (&b->model, job, 0);
    sched_model_job_held (&b->model, job, b->worker, now, 5000);
    return job;
}

Test (failure_apply, a_retry_is_queued_after_its_backoff_with_its_reason)
{
    s_book_t b;
    s_book (&b, 100, 100);
    sched_job_t *job = s_held (&b, 1000);
    sched_failure_job (&b.failure, job, "plugin said no", true, 2000);
    cr_assert (job->queued);
    cr_assert_null (job->worker);
    cr_assert_eq (job->attempt, 2);
    cr_assert_eq (job->not_before, 2000);
    cr_assert_str_eq (job->reason, "plugin said no");
    cr_assert_eq (b.stats.jobs_failed, 1);
    cr_assert_eq (b.stats.jobs_retried, 1);
    cr_assert_eq (b.model.in_flight, 0);
    cr_assert_eq (b.model.queued, 1);
    cr_assert_eq (b.worker->in_flight, 0);
    sched_model_fini (&b.model);
}

Test (failure_apply, an_uncounted_failure_keeps_attempt_and_reason)
{
    s_book_t b;
    s_book (&b, 100, 100);
    sched_job_t *job = s_held (&b, 1000);
    sched_failure_job (&b.failure, job, "worker re-announced", false, 2000);
    cr_assert (job->queued);
    cr_assert_eq (job->attempt, 1);
    cr_assert_null (job->reason);
    cr_assert_eq (b.stats.jobs_failed, 0);
    sched_model_fini (&b.model);
}

Test (failure_apply, bisection_replaces_the_job_by_two_halves)
{
    s_book_t b;
    s_book (&b, 100, 100);
    sched_job_t *job = s_held (&b, 0);
    job->attempt = MAX_ATTEMPTS;
    uint64_t id = job->id;
    sched_failure_job (&b.failure, job, "crash", true, 10);
    cr_assert_null (sched_model_job_find (&b.model, id));
    sched_job_t *low = b.part->jobs_head, *high = low ? low->next : NULL;
    cr_assert (low && high && !high->next);
    cr_assert (low->start == 0 && low->end == 50, "[%" PRId64 ",%" PRId64 ")",
               low->start, low->end);
    cr_assert (high->start == 50 && high->end == 100);
    cr_assert (low->queued && high->queued);
    cr_assert_eq (low->attempt, MAX_ATTEMPTS);
    cr_assert_eq (b.stats.jobs_bisected, 1);
    cr_assert_eq (b.model.queued, 2);
    cr_assert_eq (b.model.in_flight, 0);
    //  The window knows the halves: completing both completes the range.
    cr_assert_eq (sched_window_complete (b.part->window, 0, 50), 50);
    cr_assert_eq (sched_window_complete (b.part->window, 50, 100), 50);
    cr_assert_eq (sched_window_committed (b.part->window), 100);
    sched_model_fini (&b.model);
}

Test (failure_apply, halves_of_one_offset_start_their_own_attempts)
{
    s_book_t b;
    s_book (&b, 2, 2);
    sched_job_t *job = s_held (&b, 0);
    job->attempt = MAX_ATTEMPTS;
    sched_failure_job (&b.failure, job, "crash", true, 10);
    sched_job_t *low = b.part->jobs_head, *high = low->next;
    cr_assert_eq (low->end - low->start, 1);
    cr_assert_eq (low->attempt, 1);
    cr_assert_eq (high->attempt, 1);
    sched_model_fini (&b.model);
}

Test (failure_apply, a_range_completed_meanwhile_is_requeued_whole)
{
    s_book_t b;
    s_book (&b, 100, 100);
    sched_job_t *job = s_held (&b, 0);
    job->attempt = MAX_ATTEMPTS;
    //  A late DONE from an earlier holder completed it.
    cr_assert_eq (sched_window_complete (b.part->window, 0, 100), 100);
    sched_failure_job (&b.failure, job, "crash", true, 10);
    cr_assert_eq (b.part->jobs_head, job);
    cr_assert (job->queued);
    cr_assert_eq (b.stats.jobs_bisected, 0);
    sched_model_fini (&b.model);
}

Test (failure_apply, one_offset_out_of_attempts_goes_out_in_dead_letter_mode)
{
    s_book_t b;
    s_book (&b, 1, 1);
    sched_job_t *job = s_held (&b, 0);
    job->attempt = MAX_ATTEMPTS;
    sched_failure_job (&b.failure, job, "bad record", true, 10);
    cr_assert (job->dead_letter);
    cr_assert (job->queued);
    cr_assert_eq (job->not_before, 0);
    cr_assert_str_eq (job->reason, "bad record");
    cr_assert_eq (b.stats.jobs_dead_lettered, 1);
    //  Its copy failing is retried after a second per attempt.
    sched_model_job_held (&b.model, job, b.worker, 20, 5000);
    sched_failure_job (&b.failure, job, "dlq unreachable", true, 100);
    cr_assert (job->dead_letter);
    cr_assert_eq (job->not_before, 100 + 1000 * (MAX_ATTEMPTS + 1));
    sched_model_fini (&b.model);
}

Test (failure_apply, a_lost_worker_is_blamed_only_for_what_it_began)
{
    s_book_t b;
    s_book (&b, 300, 100);
    sched_job_t *began = s_held (&b, 0), *waiting = s_held (&b, 0);
    began->started = true;
    sched_failure_worker_lost (&b.failure, b.worker, "missed heartbeats", true,
                               50);
    cr_assert_eq (began->attempt, 2);
    cr_assert_eq (waiting->attempt, 1);
    cr_assert (began->queued && waiting->queued);
    cr_assert_eq (b.worker->in_flight, 0);
    cr_assert_eq (b.stats.jobs_failed, 1);
    //  A worker that re-announced is blamed for nothing.
    sched_model_job_held (&b.model, began, b.worker, 60, 5000);
    began->started = true;
    sched_failure_worker_lost (&b.failure, b.worker, "worker re-announced",
                               false, 70);
    cr_assert_eq (began->attempt, 2);
    sched_model_fini (&b.model);
}

Test (failure_leases, only_begun_jobs_past_their_deadline_expire)
{
    s_book_t b;
    s_book (&b, 300, 100);
    sched_job_t *a = s_held (&b, 0), *c = s_held (&b, 0), *d = s_held (&b, 0);
    a->started = true;
    c->started = true;
    c->deadline_ms = 8000;
    //  d did not begin: waiting behind another job, no lease runs.
    cr_assert (sched_failure_lease_expired (a, 5001));
    cr_assert_not (sched_failure_lease_expired (a, 5000));
    cr_assert_not (sched_failure_lease_expired (d, 99999));
    zlistx_t *expired = sched_failure_leases (&b.failure, 6000);
    cr_assert_not_null (expired);
    cr_assert_eq (zlistx_size (expired), 1);
    cr_assert_eq (zlistx_first (expired), a);
    zlistx_destroy (&expired);
    //  The earliest deadline left (c's) bounds the next walk.
    cr_assert_eq (b.failure.lease_check_ms, 8000);
    cr_assert_null (sched_failure_leases (&b.failure, 7999));
    expired = sched_failure_leases (&b.failure, 8001);
    cr_assert_eq (zlistx_size (expired), 2); //  a (still held) and c
    zlistx_destroy (&expired);
    sched_model_fini (&b.model);
}

//  ---------------------------------------------------------------------
//  Property: exactly the poison offsets are dead-lettered

#define P_OFFSETS 400

//  True if [start, end) holds a poison offset.
static bool
s_poisoned (const bool *poison, int64_t start, int64_t end)
{
    for (int64_t o = start; o < end; o++)
        if (poison[o])
            return true;
    return false;
}

//  One random schedule: every job is run (fails iff it holds poison; now
//  and then its worker is lost before it began, which blames nothing);
//  in the end the window is complete and the DLQ holds the poison only.
static void
s_play (uint64_t seed)
{
    s_srand (seed);
    s_book_t b;
    int64_t job_records = 1 + (int64_t)(s_rand () % 64);
    s_book (&b, P_OFFSETS, job_records);
    bool poison[P_OFFSETS] = {0}, dlq[P_OFFSETS] = {0};
    int npoison = (int)(s_rand () % 6);
    for (int i = 0; i < npoison; i++)
        poison[s_rand () % P_OFFSETS] = true;
    int64_t now = 0;
    for (int step = 0; step < 100000; step++) {
        now += 1000;
        sched_job_t *job = NULL;
        for (sched_job_t *j = b.part->jobs_head; j && !job; j = j->next)
            if (j->queued && j->not_before <= now)
                job = j;
        if (!job && sched_window_can_cut (b.part->window)) {
            int64_t s, e;
            sched_window_cut (b.part->window, &s, &e);
            job = sched_model_job_new (&b.model, b.part, s, e, 1);
            sched_model_job_enqueue (&b.model, job, 0);
        }
        if (!job)
            break;
        sched_model_job_held (&b.model, job, b.worker, now, 5000);
        if (s_rand () % 10 == 0) {
            sched_failure_worker_lost (&b.failure, b.worker, "lost", true, now);
            continue;
        }
        job->started = true;
        if (job->dead_letter || !s_poisoned (poison, job->start, job->end)) {
            if (job->dead_letter)
                dlq[job->start] = true;
            sched_window_complete (b.part->window, job->start, job->end);
            sched_model_job_forget (&b.model, job);
        } else
            sched_failure_job (&b.failure, job, "poison", true, now);
    }
    cr_assert_eq (sched_window_committed (b.part->window), P_OFFSETS,
                  "seed %" PRIu64 ": committed %" PRId64, seed,
                  sched_window_committed (b.part->window));
    for (int o = 0; o < P_OFFSETS; o++)
        cr_assert_eq (dlq[o], poison[o],
                      "seed %" PRIu64 " (SLUICE_TEST_SEED=%" PRIu64
                      "): offset %d poison %d dead-lettered %d",
                      seed, seed, o, poison[o], dlq[o]);
    sched_model_fini (&b.model);
}

Test (failure_property, exactly_the_poison_is_dead_lettered)
{
    uint64_t base = s_base_seed ();
    for (uint64_t i = 0; i < 300; i++)
        s_play (base + i);
}

//  ---------------------------------------------------------------------
//  Faults of the destination: no attempt, a paused dispatch

Test (failure_outage, the_pause_doubles_up_to_its_cap)
{
    cr_assert_eq (sched_failure_outage_backoff (1), 500);
    cr_assert_eq (sched_failure_outage_backoff (2), 1000);
    cr_assert_eq (sched_failure_outage_backoff (6), 16000);
    cr_assert_eq (sched_failure_outage_backoff (7), 30000);
    cr_assert_eq (sched_failure_outage_backoff (1000), 30000);
}

Test (failure_outage, a_refused_output_costs_no_attempt_and_pauses_dispatch)
{
    s_book_t b;
    s_book (&b, 200, 100);
    sched_job_t *job = s_held (&b, 1000);
    job->attempt = MAX_ATTEMPTS; //  a counted failure now would bisect
    sched_failure_outage (&b.failure, job,
                          SLUICE__FAULT_SIDE__FAULT_SIDE_OUTPUT,
                          "TOPIC_AUTHORIZATION_FAILED", "out", 2000);
    cr_assert_eq (job->attempt, MAX_ATTEMPTS);
    cr_assert_eq (b.part->jobs_head, job, "not bisected");
    cr_assert_not (job->dead_letter);
    cr_assert (job->queued);
    cr_assert_eq (job->not_before, 2500);
    cr_assert_eq (b.stats.jobs_failed, 0);
    cr_assert_eq (b.stats.jobs_deferred, 1);
    cr_assert (sched_failure_paused (&b.failure, 2499));
    cr_assert_not (sched_failure_paused (&b.failure, 2500));
    char text[128];
    cr_assert_str_eq (
        sched_failure_outage_text (&b.failure, 42000, text, sizeof text),
        "output out: TOPIC_AUTHORIZATION_FAILED for 40 s");
    //  Another job that was in flight with it fails during the pause: it
    //  waits for the same pause, which does not grow.
    sched_job_t *other = s_held (&b, 1000);
    sched_failure_outage (&b.failure, other, false,
                          "TOPIC_AUTHORIZATION_FAILED", "out", 2100);
    cr_assert_eq (other->not_before, 2500);
    //  Failing again on the probe sent after the pause: it doubles.
    sched_model_job_held (&b.model, job, b.worker, 2600, 5000);
    sched_failure_outage (&b.failure, job,
                          SLUICE__FAULT_SIDE__FAULT_SIDE_OUTPUT,
                          "TOPIC_AUTHORIZATION_FAILED", "out", 2600);
    cr_assert_eq (job->not_before, 3600);
    cr_assert_eq (b.stats.jobs_deferred, 3);
    //  A job done: the outage is over, nothing paused, no text.
    sched_failure_outage_over (&b.failure, 2700);
    cr_assert_not (sched_failure_paused (&b.failure, 2701));
    cr_assert_str_eq (
        sched_failure_outage_text (&b.failure, 2800, text, sizeof text), "");
    sched_model_fini (&b.model);
}

Test (failure_outage, an_unreadable_input_is_named_as_the_input)
{
    s_book_t b;
    s_book (&b, 200, 100);
    sched_job_t *job = s_held (&b, 1000);
    job->attempt = MAX_ATTEMPTS;
    sched_failure_outage (&b.failure, job, SLUICE__FAULT_SIDE__FAULT_SIDE_INPUT,
                          "TOPIC_AUTHORIZATION_FAILED", "orders", 2000);
    cr_assert_eq (job->attempt, MAX_ATTEMPTS);
    cr_assert_eq (b.part->jobs_head, job, "not bisected");
    cr_assert_not (job->dead_letter);
    cr_assert_eq (b.stats.jobs_failed, 0);
    cr_assert_eq (b.stats.jobs_deferred, 1);
    cr_assert (sched_failure_paused (&b.failure, 2499));
    char text[128];
    cr_assert_str_eq (
        sched_failure_outage_text (&b.failure, 42000, text, sizeof text),
        "input orders: TOPIC_AUTHORIZATION_FAILED for 40 s");
    sched_failure_outage_over (&b.failure, 42100);
    cr_assert_str_eq (
        sched_failure_outage_text (&b.failure, 42200, text, sizeof text), "");
    sched_model_fini (&b.model);
}

Test (failure_outage, a_record_too_large_is_the_records_fault)
{
    cr_assert (sl_kafka_error_is_record (RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE));
    cr_assert (sl_kafka_error_is_record (RD_KAFKA_RESP_ERR_INVALID_RECORD));
    cr_assert_not (sl_kafka_error_is_record (
        RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED));
    cr_assert_not (
        sl_kafka_error_is_record (RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART));
    cr_assert_not (sl_kafka_error_is_record (RD_KAFKA_RESP_ERR__MSG_TIMED_OUT));
    cr_assert_not (
        sl_kafka_error_is_record (RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS));
    cr_assert_not (sl_kafka_error_is_record (RD_KAFKA_RESP_ERR__TRANSPORT));
}

Test (failure_outage, an_input_error_is_the_clusters_unless_the_data_is_bad)
{
    //  Refused: the job fails at once, INFRA.
    cr_assert_eq (
        sl_kafka_error_input (RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED),
        SL_KAFKA_INPUT_REFUSED);
    cr_assert_eq (
        sl_kafka_error_input (RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART),
        SL_KAFKA_INPUT_REFUSED);
    cr_assert_eq (sl_kafka_error_input (RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION),
                  SL_KAFKA_INPUT_REFUSED);
    //  Retried by librdkafka: INFRA once the stall bound passes.
    cr_assert_eq (sl_kafka_error_input (RD_KAFKA_RESP_ERR__TRANSPORT),
                  SL_KAFKA_INPUT_RETRY);
    cr_assert_eq (sl_kafka_error_input (RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT),
                  SL_KAFKA_INPUT_RETRY);
    cr_assert_eq (sl_kafka_error_input (RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE),
                  SL_KAFKA_INPUT_RETRY);
    //  The data's own: never an outage.
    cr_assert_eq (sl_kafka_error_input (RD_KAFKA_RESP_ERR__BAD_MSG),
                  SL_KAFKA_INPUT_RECORD);
    cr_assert_eq (sl_kafka_error_input (RD_KAFKA_RESP_ERR__BAD_COMPRESSION),
                  SL_KAFKA_INPUT_RECORD);
}
