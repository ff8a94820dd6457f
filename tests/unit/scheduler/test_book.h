/*  test_book - a scheduler's book for the unit tests of the parts that
    act on it (sched_workers, sched_failure, sched_crash, sched_done...):
    one partition "t"/0 with a known high watermark, the failure policy at
    3 attempts, the crash reports, and workers that say HELLO. Header
    only: each suite includes it once.
*/
#ifndef TEST_BOOK_H_INCLUDED
#define TEST_BOOK_H_INCLUDED

#include <criterion/criterion.h>

#include "sched_crash.h"
#include "sched_workers.h"

typedef struct {
    sched_model_t model;
    sched_stats_t stats;
    sched_failure_t failure;
    sched_crash_t crash;
    sched_workers_t workers;
    sched_part_t *part;
} test_book_t;

//  A book whose jobs are cut job_records at a time, its partition's high
//  watermark at hwm.
static inline void
test_book (test_book_t *b, int64_t job_records, int64_t hwm)
{
    cr_assert_eq (sched_model_init (&b->model, 16, job_records, NULL), 0);
    sched_stats_init (&b->stats);
    b->failure = (sched_failure_t){.model = &b->model,
                                   .stats = &b->stats,
                                   .max_attempts = 3,
                                   .lease_ms = 5000};
    b->crash = (sched_crash_t){.model = &b->model,
                               .failure = &b->failure,
                               .stats = &b->stats,
                               .max_attempts = 3};
    cr_assert_eq (sched_crash_init (&b->crash), 0);
    b->workers = (sched_workers_t){.model = &b->model,
                                   .failure = &b->failure,
                                   .crash = &b->crash,
                                   .stats = &b->stats,
                                   .max_workers = 10};
    b->part = sched_model_part_add (&b->model, "t", 0, 0, NULL, 0);
    sched_model_part_learn_hwm (b->part, hwm);
}

static inline void
test_book_free (test_book_t *b)
{
    sched_crash_fini (&b->crash);
    sched_model_fini (&b->model);
}

//  A worker that said HELLO with credits (supervised: a parent reports
//  its crashes).
static inline sched_worker_t *
test_book_hello (test_book_t *b, const char *id, uint32_t credits,
                 bool supervised)
{
    Sluice__Hello hello = SLUICE__HELLO__INIT;
    hello.worker_id = (char *)id;
    hello.plugin = "noop";
    hello.credits = credits;
    hello.supervised = supervised;
    zframe_t *rid = zframe_new (id, strlen (id));
    sched_worker_t *w = sched_workers_hello (&b->workers, rid, id, &hello, 0);
    zframe_destroy (&rid);
    cr_assert_not_null (w);
    return w;
}

#endif
