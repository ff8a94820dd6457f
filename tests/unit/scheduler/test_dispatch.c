/*  test_dispatch - which job goes to which worker next. Each test reads as
    a usage example of sched_dispatch: build a book (sched_model) with
    partitions and workers, ask for decisions, send them (here: account
    them with sched_dispatch_sent), complete jobs.

    The rules tested are the ones sched_dispatch.h lists: the worker with
    the most credit, queued jobs first, no starvation, lanes that read
    their own partitions, read-on affinity, following and the join rule;
    the property test plays random fleets and completion orders and checks
    that every offset is handed out exactly once and that nothing is left
    waiting while a worker could take it.
*/
#include <criterion/criterion.h>

#include <inttypes.h>
#include <stdio.h>

#include "sched_dispatch.h"
#include "test_rand.h"

#define LEASE 60000

typedef struct {
    sched_model_t model;
    sched_dispatch_t dispatch;
} s_book_t;

//  An empty book with jobs of job_records.
static void
s_book (s_book_t *b, int64_t job_records)
{
    cr_assert_eq (sched_model_init (&b->model, 8, job_records, NULL), 0);
    b->dispatch = (sched_dispatch_t){.model = &b->model};
}

//  A partition of the book with hwm offsets waiting, last served at now.
static sched_part_t *
s_part (s_book_t *b, int32_t partition, int64_t hwm, int64_t now)
{
    sched_part_t *p =
        sched_model_part_add (&b->model, "t", partition, 0, NULL, 0);
    cr_assert_not_null (p);
    sched_model_part_learn_hwm (p, hwm);
    p->follow.last_dispatch_ms = now;
    return p;
}

//  A worker of the book with credits and lanes.
static sched_worker_t *
s_worker (s_book_t *b, const char *name, uint32_t credits, uint32_t lanes)
{
    zframe_t *rid = zframe_new (name, strlen (name));
    sched_worker_t *w = sched_model_worker_add (&b->model, rid, name);
    zframe_destroy (&rid);
    cr_assert_not_null (w);
    snprintf (w->name, sizeof w->name, "%s", name);
    w->credits = credits;
    sched_dispatch_lanes (w, lanes);
    return w;
}

//  The next decision of a new pass at now, sent; NULL if there is none.
static sched_job_t *
s_next (s_book_t *b, int64_t now, sched_worker_t **to)
{
    sched_pick_t pick;
    sched_dispatch_begin (&b->dispatch);
    if (!sched_dispatch_next (&b->dispatch, now, &pick))
        return NULL;
    sched_job_t *job =
        pick.job ? pick.job : sched_dispatch_cut (&b->dispatch, pick.part);
    cr_assert_not_null (job);
    cr_assert_eq (job->part, pick.part);
    sched_dispatch_sent (&b->dispatch, pick.worker, job, now, LEASE);
    if (to)
        *to = pick.worker;
    return job;
}

//  The job completed at its worker, which gets its credit back.
static void
s_done (s_book_t *b, sched_job_t *job)
{
    sched_worker_t *w = job->worker;
    cr_assert (sched_window_complete (job->part->window, job->start, job->end) >
               0);
    sched_model_job_forget (&b->model, job);
    w->credits++;
}

Test (dispatch, nothing_to_do_without_credit_or_work)
{
    s_book_t b;
    s_book (&b, 100);
    cr_assert_null (s_next (&b, 0, NULL));
    s_part (&b, 0, 1000, 0);
    cr_assert_null (s_next (&b, 0, NULL)); //  no worker
    sched_worker_t *w = s_worker (&b, "w1", 0, 1);
    cr_assert_null (s_next (&b, 0, NULL)); //  no credit
    w->credits = 1;
    cr_assert_not_null (s_next (&b, 0, NULL));
    cr_assert_eq (w->credits, 0);
    cr_assert_eq (w->in_flight, 1);
    sched_model_fini (&b.model);
}

//  Three workers, two of them with the most credit; idle[i] is when
//  worker i last got a job. Returns who gets the first and second jobs.
static void
s_credit_order (const int64_t idle[3], int *first, int *second)
{
    s_book_t b;
    s_book (&b, 10);
    s_part (&b, 0, 1000, 0);
    sched_worker_t *w[3] = {s_worker (&b, "w0", 2, 1),
                            s_worker (&b, "w1", 5, 1),
                            s_worker (&b, "w2", 5, 1)};
    for (int i = 0; i < 3; i++)
        w[i]->last_job_ms = idle[i];
    sched_worker_t *to[2] = {NULL, NULL};
    s_next (&b, 200, &to[0]);
    s_next (&b, 300, &to[1]);
    for (int i = 0; i < 3; i++) {
        if (to[0] == w[i])
            *first = i;
        if (to[1] == w[i])
            *second = i;
    }
    sched_model_fini (&b.model);
}

Test (dispatch, the_worker_with_most_credit_first_ties_to_the_longest_idle)
{
    int first = -1, second = -1;
    s_credit_order ((int64_t[]){0, 100, 50}, &first, &second);
    cr_assert_eq (first, 2, "got w%d", first);
    cr_assert_eq (second, 1, "got w%d", second); //  now the most credit
    s_credit_order ((int64_t[]){0, 50, 100}, &first, &second);
    cr_assert_eq (first, 1, "got w%d", first);
    cr_assert_eq (second, 2, "got w%d", second);
}

Test (dispatch, most_records_not_handed_out_first)
{
    s_book_t b;
    s_book (&b, 100);
    s_part (&b, 0, 1000, 0);
    sched_part_t *big = s_part (&b, 1, 5000, 0);
    s_part (&b, 2, 3000, 0);
    s_worker (&b, "w1", 1, 1);
    sched_job_t *job = s_next (&b, 10, NULL);
    cr_assert_eq (job->part, big);
    cr_assert (job->start == 0 && job->end == 100);
    sched_model_fini (&b.model);
}

Test (dispatch, equally_lagging_partitions_take_turns_across_workers)
{
    s_book_t b;
    s_book (&b, 100);
    s_part (&b, 0, 1000, 0);
    s_part (&b, 1, 1000, 0);
    s_worker (&b, "w1", 1, 1);
    s_worker (&b, "w2", 1, 1);
    sched_job_t *a = s_next (&b, 10, NULL), *c = s_next (&b, 10, NULL);
    cr_assert (a && c);
    cr_assert_neq (a->part, c->part, "both jobs from partition %d",
                   a->part->partition);
    sched_model_fini (&b.model);
}

Test (dispatch, a_worker_reads_on_where_its_last_job_ended)
{
    s_book_t b;
    s_book (&b, 100);
    sched_part_t *a = s_part (&b, 0, 1000, 0);
    sched_worker_t *w = s_worker (&b, "w1", 1, 1);
    sched_job_t *first = s_next (&b, 10, NULL);
    cr_assert_eq (first->part, a);
    cr_assert_eq (w->lane[0].part, a);
    cr_assert_eq (w->lane[0].next, 100);
    cr_assert_eq (a->follow.worker, w);
    s_done (&b, first);
    //  Another partition now lags more, but the worker reads on.
    s_part (&b, 1, 50000, 10);
    sched_job_t *second = s_next (&b, 20, NULL);
    cr_assert_eq (second->part, a);
    cr_assert_eq (second->start, 100);
    sched_model_fini (&b.model);
}

Test (dispatch, a_queued_job_goes_first_once_its_backoff_is_over)
{
    s_book_t b;
    s_book (&b, 100);
    sched_part_t *a = s_part (&b, 0, 1000, 0);
    s_part (&b, 1, 50000, 0);
    s_worker (&b, "w1", 3, 1);
    sched_job_t *retry = sched_model_job_new (&b.model, a, 0, 100, 2);
    cr_assert (sched_window_cut (a->window, &(int64_t){0}, &(int64_t){0}));
    sched_model_job_enqueue (&b.model, retry, 500);
    sched_job_t *job = s_next (&b, 100, NULL);
    cr_assert_neq (job, retry); //  not before 500
    job = s_next (&b, 500, NULL);
    cr_assert_eq (job, retry);
    cr_assert_not (retry->queued);
    cr_assert_eq (b.model.queued, 0);
    sched_model_fini (&b.model);
}

Test (dispatch, a_starved_partition_goes_first)
{
    s_book_t b;
    s_book (&b, 100);
    s_part (&b, 0, 50000, 5000);
    sched_part_t *old = s_part (&b, 1, 200, 0);
    s_worker (&b, "w1", 1, 1);
    //  Waited 1,001 ms with work to cut: ahead of the bigger one.
    sched_job_t *job = s_next (&b, SCHED_DISPATCH_STARVED_MS + 1, NULL);
    cr_assert_eq (job->part, old);
    cr_assert_eq (old->follow.last_dispatch_ms, SCHED_DISPATCH_STARVED_MS + 1);
    sched_model_fini (&b.model);
}

Test (dispatch, lanes_each_read_their_own_partition)
{
    s_book_t b;
    s_book (&b, 100);
    s_part (&b, 0, 1000, 0);
    s_part (&b, 1, 1000, 0);
    sched_worker_t *w = s_worker (&b, "w1", 2, 2);
    sched_job_t *a = s_next (&b, 10, NULL), *c = s_next (&b, 10, NULL);
    cr_assert_neq (a->part, c->part);
    cr_assert (w->lane[0].part && w->lane[1].part);
    cr_assert_neq (w->lane[0].part, w->lane[1].part);
    //  One lane only: it reads on where it is.
    s_book_t one;
    s_book (&one, 100);
    s_part (&one, 0, 1000, 0);
    s_part (&one, 1, 1000, 0);
    s_worker (&one, "w1", 2, 1);
    a = s_next (&one, 10, NULL);
    c = s_next (&one, 10, NULL);
    cr_assert_eq (a->part, c->part);
    cr_assert_eq (c->start, a->end);
    sched_model_fini (&b.model);
    sched_model_fini (&one.model);
}

Test (dispatch, fewer_lanes_let_go_of_what_the_others_followed)
{
    s_book_t b;
    s_book (&b, 100);
    s_part (&b, 0, 1000, 0);
    s_part (&b, 1, 1000, 0);
    sched_worker_t *w = s_worker (&b, "w1", 2, 2);
    s_next (&b, 10, NULL);
    s_next (&b, 10, NULL);
    sched_part_t *second = w->lane[1].part;
    cr_assert_not_null (second);
    cr_assert_eq (second->follow.worker, w);
    sched_dispatch_lanes (w, 1); //  it said HELLO again with one lane
    cr_assert_eq (w->nlanes, 1);
    cr_assert_null (w->lane[1].part);
    cr_assert_null (second->follow.worker);
    sched_dispatch_lanes (w, 0);
    cr_assert_eq (w->nlanes, 1);
    sched_dispatch_lanes (w, 1000);
    cr_assert_eq (w->nlanes, SCHED_LANES_MAX);
    sched_model_fini (&b.model);
}

Test (dispatch, a_dead_letter_copy_leaves_the_lane_where_it_reads)
{
    s_book_t b;
    s_book (&b, 100);
    sched_part_t *a = s_part (&b, 0, 1000, 0);
    sched_worker_t *w = s_worker (&b, "w1", 2, 1);
    s_next (&b, 10, NULL);
    sched_job_t *dl = sched_model_job_new (&b.model, a, 500, 501, 4);
    dl->dead_letter = true;
    sched_model_job_enqueue (&b.model, dl, 0);
    cr_assert_eq (s_next (&b, 20, NULL), dl);
    cr_assert_eq (w->lane[0].next, 100);
    cr_assert_eq (a->follow.next, 100);
    sched_model_fini (&b.model);
}

Test (dispatch, the_join_rule)
{
    s_book_t b;
    s_book (&b, 100);
    sched_part_t *a = s_part (&b, 0, 1100, 0);
    sched_worker_t *w1 = s_worker (&b, "w1", 1, 1);
    sched_worker_t *w2 = s_worker (&b, "w2", 1, 1);
    sched_worker_t *to = NULL;
    s_next (&b, 0, &to);
    cr_assert_eq (to, w1);
    //  1,000 records left that w1 follows. Cheap work (2 us an offset):
    //  half of it is 1 ms, not worth a seek; w2 is passed over.
    sched_dispatch_work_seen (&b.dispatch, a, 2.0, 10);
    cr_assert_null (s_next (&b, 20, NULL));
    cr_assert_eq (w2->passed, b.dispatch.pass);
    //  Costly work (100 us an offset): half is 50 ms, w2 joins.
    sched_dispatch_work_seen (&b.dispatch, a, 100.0, 30);
    sched_job_t *job = s_next (&b, 40, &to);
    cr_assert_eq (to, w2);
    cr_assert_eq (job->part, a);
    cr_assert_eq (a->follow.worker, w2); //  the last job's worker follows
    sched_model_fini (&b.model);
}

Test (dispatch, join_pays_by_the_freshest_measure)
{
    s_book_t b;
    s_book (&b, 100);
    sched_part_t *a = s_part (&b, 0, 1000, 0);
    sched_part_t *c = s_part (&b, 1, 1000, 0);
    //  Nothing measured: assumed to pay.
    cr_assert (sched_dispatch_join_pays (&b.dispatch, a, 10, 5000));
    //  Measured here: 100 us x 1,000 / 2 = 50 ms >= 25 ms, 10 records not.
    sched_dispatch_work_seen (&b.dispatch, a, 100.0, 5000);
    cr_assert (sched_dispatch_join_pays (&b.dispatch, a, 1000, 5100));
    cr_assert_not (sched_dispatch_join_pays (&b.dispatch, a, 10, 5100));
    cr_assert (sched_dispatch_join_pays (&b.dispatch, a, 500, 5100));
    cr_assert_not (sched_dispatch_join_pays (&b.dispatch, a, 499, 5100));
    //  c has no measure of its own: any partition's recent one stands in.
    cr_assert_not (sched_dispatch_join_pays (&b.dispatch, c, 10, 5100));
    //  Stale (older than SCHED_JOIN_FRESH_MS) everywhere: assumed to pay.
    cr_assert (sched_dispatch_join_pays (&b.dispatch, a, 10,
                                         5000 + SCHED_JOIN_FRESH_MS + 1));
    //  Stale here, fresh elsewhere: the fresh one counts.
    sched_dispatch_work_seen (&b.dispatch, c, 1.0, 9000);
    cr_assert_not (sched_dispatch_join_pays (&b.dispatch, a, 1000, 9100));
    sched_model_fini (&b.model);
}

Test (dispatch, a_pass_ends_when_no_worker_with_credit_has_work)
{
    s_book_t b;
    s_book (&b, 100);
    sched_part_t *a = s_part (&b, 0, 1000, 0);
    for (int i = 0; i < 50; i++) {
        char name[16];
        snprintf (name, sizeof name, "w%d", i);
        s_worker (&b, name, 4, 1);
    }
    sched_dispatch_work_seen (&b.dispatch, a, 0.01, 1);
    //  The first worker takes the partition and follows it with all its
    //  credit; the rest find it not worth joining, and the pass ends.
    int sent = 0;
    while (s_next (&b, 10, NULL))
        sent++;
    cr_assert_eq (sent, 4, "sent %d", sent);
    sched_model_fini (&b.model);
}

//  ---------------------------------------------------------------------
//  Property: random fleets, random completion orders

//  One schedule: every offset is handed out exactly once; whenever nothing
//  is in flight and work is left, a pass finds something (no deadlock).
static void
s_play (uint64_t seed)
{
    s_srand (seed);
    s_book_t b;
    s_book (&b, 1 + (int64_t)(s_rand () % 50));
    int nparts = 1 + (int)(s_rand () % 5), nworkers = 1 + (int)(s_rand () % 6);
    int64_t total = 0;
    sched_part_t *parts[5];
    for (int p = 0; p < nparts; p++) {
        int64_t hwm = (int64_t)(s_rand () % 2000);
        parts[p] = s_part (&b, p, hwm, 0);
        total += hwm;
    }
    for (int i = 0; i < nworkers; i++) {
        char name[16];
        snprintf (name, sizeof name, "w%d", i);
        s_worker (&b, name, 1 + (uint32_t)(s_rand () % 4),
                  1 + (uint32_t)(s_rand () % 3));
    }
    if (s_rand () % 2)
        sched_dispatch_work_seen (&b.dispatch, parts[0],
                                  (double)(s_rand () % 200), 1);
    zlistx_t *held = zlistx_new ();
    int64_t handed = 0, now = 0;
    for (int step = 0; step < 1000000 && handed < total; step++) {
        now += (int64_t)(s_rand () % 300);
        sched_job_t *job;
        while ((job = s_next (&b, now, NULL))) {
            cr_assert_eq (job->attempt, 1);
            handed += job->end - job->start;
            zlistx_add_end (held, job);
        }
        if (zlistx_size (held) == 0) {
            cr_assert_eq (handed, total,
                          "seed %" PRIu64 " (SLUICE_TEST_SEED=%" PRIu64
                          "): nothing in flight, %" PRId64 " of %" PRId64
                          " handed out, and no worker got work",
                          seed, seed, handed, total);
            break;
        }
        //  Complete one job in flight, picked at random.
        size_t k = s_rand () % zlistx_size (held);
        job = zlistx_first (held);
        while (k--)
            job = zlistx_next (held);
        zlistx_delete (held, zlistx_cursor (held));
        s_done (&b, job);
    }
    while ((zlistx_first (held)))
        s_done (&b, zlistx_detach (held, NULL));
    zlistx_destroy (&held);
    cr_assert_eq (handed, total, "seed %" PRIu64, seed);
    for (int p = 0; p < nparts; p++)
        cr_assert_eq (sched_window_committed (parts[p]->window),
                      sched_window_hwm (parts[p]->window), "seed %" PRIu64,
                      seed);
    sched_model_fini (&b.model);
}

Test (dispatch_property, every_offset_once_and_no_deadlock)
{
    uint64_t base = s_base_seed ();
    for (uint64_t i = 0; i < 300; i++)
        s_play (base + i);
}
