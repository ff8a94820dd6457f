/*  test_crash - a supervised worker died: the report of its parent decides
    whose fault it was (sched_crash). Each test reads as a usage example:
    a worker holds a begun job, its connection closes (the job waits for
    the report), and the report charges only the records the plugin was
    on, or nobody.
*/
#include <criterion/criterion.h>

#include "sched_crash.h"
#include "sched_dispatch.h"
#include "sched_workers.h"
#include "sl_log.h"
#include "test_book.h"

__attribute__ ((constructor)) static void
s_quiet (void)
{
    sl_log_set_level ("error");
}

typedef test_book_t s_book_t;

static void
s_book (s_book_t *b)
{
    test_book (b, 1000, 5000);
}

static void
s_free (s_book_t *b)
{
    test_book_free (b);
}

//  A supervised worker that said HELLO.
static sched_worker_t *
s_hello (s_book_t *b, const char *id)
{
    return test_book_hello (b, id, 2, true);
}

//  The next job cut from the window, held and begun by w.
static sched_job_t *
s_begun (s_book_t *b, sched_worker_t *w)
{
    int64_t start, end;
    cr_assert (sched_window_cut (b->part->window, &start, &end));
    sched_job_t *job = sched_model_job_new (&b->model, b->part, start, end, 1);
    sched_model_job_enqueue (&b->model, job, 0);
    sched_model_job_held (&b->model, job, w, 0, 5000);
    job->started = true;
    return job;
}

static Sluice__CrashLane
s_lane (const sched_job_t *job, int64_t start, int64_t end, bool at_fault)
{
    Sluice__CrashLane lane = SLUICE__CRASH_LANE__INIT;
    lane.job_id = job->id;
    lane.topic = "t";
    lane.partition = 0;
    lane.start = start;
    lane.end = end;
    lane.at_fault = at_fault;
    return lane;
}

//  The job of [start, end) in the partition, or NULL.
static sched_job_t *
s_job (s_book_t *b, int64_t start, int64_t end)
{
    for (sched_job_t *j = b->part->jobs_head; j; j = j->next)
        if (j->start == start && j->end == end)
            return j;
    return NULL;
}

Test (crash, a_dead_workers_begun_job_waits_for_the_report)
{
    s_book_t b;
    s_book (&b);
    sched_worker_t *w = s_hello (&b, "w1");
    sched_job_t *job = s_begun (&b, w);
    sched_workers_drop (&b.workers, w, "connection closed", true, 100);
    cr_assert (job->suspect);
    cr_assert_eq (job->attempt, 1, "not charged yet");
    cr_assert_eq (job->not_before, 100 + SCHED_CRASH_WAIT_MS,
                  "not sent again before the report is due");
    //  No report by then: charged as a lost worker's job always was.
    sched_crash_expire (&b.crash, 100 + SCHED_CRASH_WAIT_MS - 1);
    cr_assert (job->suspect);
    sched_crash_expire (&b.crash, 100 + SCHED_CRASH_WAIT_MS);
    cr_assert_not (job->suspect);
    cr_assert_eq (job->attempt, 2);
    s_free (&b);
}

Test (crash, the_records_it_crashed_on_are_charged_alone)
{
    s_book_t b;
    s_book (&b);
    sched_worker_t *w = s_hello (&b, "w1");
    sched_job_t *job = s_begun (&b, w); //  [0, 1000)
    sched_workers_drop (&b.workers, w, "connection closed", true, 0);
    Sluice__CrashLane lane = s_lane (job, 500, 1000, true);
    cr_assert (sched_crash_report (&b.crash, "w1", "SIGSEGV", &lane, 10));
    //  The records before go back uncharged; the call's 500 records are
    //  charged, and come back one record a call.
    sched_job_t *before = s_job (&b, 0, 500);
    cr_assert_not_null (before);
    cr_assert_eq (before->attempt, 1);
    cr_assert_not (before->careful);
    cr_assert_eq (job->start, 500);
    cr_assert_eq (job->end, 1000);
    cr_assert (job->careful);
    cr_assert_eq (job->attempt, 2);
    cr_assert_str_eq (job->reason, "plugin crashed: SIGSEGV");
    cr_assert_eq (b.stats.plugin_crashes, 1);
    //  The next crash names the record: its neighbours go back as they
    //  were, and the record counts the careful range's crashes as its own.
    sched_worker_t *w2 = s_hello (&b, "w2");
    sched_model_job_held (&b.model, job, w2, 20, 5000);
    job->started = true;
    sched_workers_drop (&b.workers, w2, "connection closed", true, 30);
    lane = s_lane (job, 700, 701, true);
    cr_assert (sched_crash_report (&b.crash, "w2", "SIGSEGV", &lane, 40));
    cr_assert_not_null (s_job (&b, 500, 700));
    cr_assert_not_null (s_job (&b, 701, 1000));
    cr_assert_eq (s_job (&b, 701, 1000)->attempt, 2);
    cr_assert_eq (job->start, 700);
    cr_assert_eq (job->end, 701);
    cr_assert_not (job->careful);
    cr_assert_eq (job->attempt, 3);
    cr_assert_not (job->dead_letter);
    //  Its third crash sends it to the DLQ, with the signal in its reason.
    sched_worker_t *w3 = s_hello (&b, "w3");
    sched_model_job_held (&b.model, job, w3, 50, 5000);
    job->started = true;
    sched_workers_drop (&b.workers, w3, "connection closed", true, 60);
    lane = s_lane (job, 700, 701, true);
    cr_assert (sched_crash_report (&b.crash, "w3", "SIGSEGV", &lane, 70));
    cr_assert (job->dead_letter);
    cr_assert_str_eq (job->reason, "plugin crashed: SIGSEGV");
    cr_assert_eq (b.stats.jobs_bisected, 0, "nothing bisected");
    //  The window holds the carved ranges: each completes on its own.
    cr_assert_eq (sched_window_complete (b.part->window, 0, 500), 500);
    cr_assert_eq (sched_window_complete (b.part->window, 500, 700), 200);
    s_free (&b);
}

Test (crash, a_bystander_lane_is_not_charged)
{
    s_book_t b;
    s_book (&b);
    sched_worker_t *w = s_hello (&b, "w1");
    sched_job_t *job = s_begun (&b, w);
    sched_workers_drop (&b.workers, w, "connection closed", true, 0);
    Sluice__CrashLane lane = s_lane (job, 0, 0, false);
    cr_assert (sched_crash_report (&b.crash, "w1", "SIGSEGV", &lane, 5));
    cr_assert_not (job->suspect);
    cr_assert_eq (job->attempt, 1);
    cr_assert_eq (job->not_before, 0, "sent again at once");
    cr_assert_eq (b.stats.plugin_crashes, 0);
    s_free (&b);
}

Test (crash, a_death_pinned_on_no_records_charges_the_job)
{
    s_book_t b;
    s_book (&b);
    sched_worker_t *w = s_hello (&b, "w1");
    sched_job_t *job = s_begun (&b, w);
    sched_workers_drop (&b.workers, w, "connection closed", true, 0);
    Sluice__CrashLane lane = s_lane (job, 0, 0, true); //  SIGKILL
    cr_assert (sched_crash_report (&b.crash, "w1", "SIGKILL", &lane, 5));
    cr_assert_eq (job->start, 0);
    cr_assert_eq (job->end, 1000);
    cr_assert_eq (job->attempt, 2);
    s_free (&b);
}

Test (crash, a_report_that_does_not_fit_charges_nothing)
{
    s_book_t b;
    s_book (&b);
    sched_worker_t *w = s_hello (&b, "w1"), *live = s_hello (&b, "w2");
    sched_job_t *job = s_begun (&b, w);
    sched_job_t *other = s_begun (&b, live);
    sched_workers_drop (&b.workers, w, "connection closed", true, 0);
    //  Another worker's name, a job no one lost, a job of another
    //  partition: ignored.
    Sluice__CrashLane lane = s_lane (job, 10, 11, true);
    cr_assert_not (sched_crash_report (&b.crash, "w9", "SIGSEGV", &lane, 5));
    lane = s_lane (other, 1010, 1011, true);
    cr_assert_not (sched_crash_report (&b.crash, "w1", "SIGSEGV", &lane, 5));
    cr_assert_eq (other->attempt, 1);
    lane = s_lane (job, 10, 11, true);
    lane.topic = "u";
    cr_assert_not (sched_crash_report (&b.crash, "w1", "SIGSEGV", &lane, 5));
    //  Records outside the job: the job is charged whole, never carved.
    lane = s_lane (job, 999, 1200, true);
    cr_assert (sched_crash_report (&b.crash, "w1", "SIGSEGV", &lane, 5));
    cr_assert_eq (job->start, 0);
    cr_assert_eq (job->end, 1000);
    cr_assert_eq (job->attempt, 2);
    //  A second report for it: it is no longer suspect.
    cr_assert_not (sched_crash_report (&b.crash, "w1", "SIGSEGV", &lane, 6));
    s_free (&b);
}

Test (crash, the_attempt_a_carved_range_starts_at)
{
    //  The job's own range keeps its count; a record out of a careful
    //  range counts that range's crashes; anything else starts afresh.
    cr_assert_eq (sched_crash_attempt (0, 100, 0, 100, 3, false), 3);
    cr_assert_eq (sched_crash_attempt (10, 11, 0, 100, 3, true), 3);
    cr_assert_eq (sched_crash_attempt (10, 11, 0, 100, 3, false), 1);
    cr_assert_eq (sched_crash_attempt (10, 20, 0, 100, 3, true), 1);
}

Test (crash, a_job_not_heard_begun_waits_too_and_is_never_charged_for_it)
{
    s_book_t b;
    s_book (&b);
    sched_worker_t *w = s_hello (&b, "w1");
    sched_job_t *begun = s_begun (&b, w);
    sched_job_t *unheard = s_begun (&b, w);
    unheard->started = false; //  its BEGIN died with the worker
    sched_workers_drop (&b.workers, w, "connection closed", true, 0);
    cr_assert (unheard->suspect, "it waits for the report as well");
    //  The report names the job it crashed in (and, here, not the other,
    //  which it had not begun): the other goes back at once, uncharged.
    Sluice__CrashLane lane = s_lane (begun, 10, 11, true);
    cr_assert (sched_crash_report (&b.crash, "w1", "SIGSEGV", &lane, 5));
    sched_crash_settle (&b.crash, "w1");
    cr_assert_not (unheard->suspect);
    cr_assert_eq (unheard->attempt, 1);
    cr_assert_eq (unheard->not_before, 0);
    //  Without any report: a job never heard begun is not charged at the
    //  deadline; one heard begun is.
    sched_worker_t *w2 = s_hello (&b, "w2");
    sched_job_t *a = s_begun (&b, w2), *c = s_begun (&b, w2);
    c->started = false;
    sched_workers_drop (&b.workers, w2, "connection closed", true, 100);
    sched_crash_expire (&b.crash, 100 + SCHED_CRASH_WAIT_MS);
    cr_assert_eq (a->attempt, 2);
    cr_assert_eq (c->attempt, 1);
    cr_assert_not (c->suspect);
    s_free (&b);
}

Test (crash, a_suspect_goes_out_only_once_settled)
{
    s_book_t b;
    s_book (&b);
    sched_worker_t *w = s_hello (&b, "w1");
    sched_job_t *job = s_begun (&b, w); //  [0, 1000)
    sched_workers_drop (&b.workers, w, "connection closed", true, 0);
    s_hello (&b, "w2");
    //  Past its deadline but not yet settled (the expiry runs on the next
    //  tick): dispatch must not send it, or the expiry would take it back
    //  from its new holder and send it a second time.
    sched_dispatch_t d = {.model = &b.model};
    sched_dispatch_begin (&d);
    sched_pick_t pick;
    int64_t late = SCHED_CRASH_WAIT_MS + 10;
    while (sched_dispatch_next (&d, late, &pick)) {
        cr_assert_neq (pick.job, job, "the suspect was picked");
        if (!pick.job)
            break; //  a new job to cut: not the suspect
    }
    sched_crash_expire (&b.crash, late);
    cr_assert_not (job->suspect);
    sched_dispatch_begin (&d);
    cr_assert (sched_dispatch_next (&d, late, &pick));
    cr_assert_eq (pick.job, job, "settled, it goes out first");
    s_free (&b);
}
