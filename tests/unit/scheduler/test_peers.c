/*  test_peers - what the scheduler takes from its peers, and how much.

    A DONE must name its job's range as well as its id (sched_done); a
    worker's credit never exceeds what its HELLO granted (sched_workers);
    STATUS is answered SCHED_STATUS_PER_S times a second at most
    (sched_status); a commit on revoke or at exit goes out unless the
    broker acknowledged that very offset (sched_commit); a partition's
    error in the committed offsets is no answer, not "none committed"
    (sched_member); a closed connection drops its own worker, never the
    one a new connection that reused the descriptor belongs to
    (sched_conn). Each reads as a usage example.
*/
#include <criterion/criterion.h>

#include "sched_commit.h"
#include "sched_conn.h"
#include "sched_done.h"
#include "sched_member.h"
#include "sched_status.h"
#include "sched_workers.h"
#include "test_book.h"
#include "sl_log.h"

__attribute__ ((constructor)) static void
s_quiet (void)
{
    sl_log_set_level ("error");
}

typedef test_book_t s_book_t;

static void
s_book (s_book_t *b)
{
    test_book (b, 100, 1000);
}

static sched_worker_t *
s_hello (s_book_t *b, const char *id, uint32_t credits)
{
    return test_book_hello (b, id, credits, false);
}

//  A job of [start, end) held by w.
static sched_job_t *
s_held (s_book_t *b, sched_worker_t *w, int64_t start, int64_t end)
{
    sched_job_t *job = sched_model_job_new (&b->model, b->part, start, end, 1);
    sched_model_job_enqueue (&b->model, job, 0);
    sched_model_job_held (&b->model, job, w, 0, 5000);
    return job;
}

Test (done, a_done_must_name_its_jobs_range)
{
    s_book_t b;
    s_book (&b);
    sched_worker_t *w = s_hello (&b, "w1", 2), *other = s_hello (&b, "w2", 2);
    sched_job_t *job = s_held (&b, w, 100, 200);
    cr_assert_eq (sched_done_judge (job, b.part, w, 100, 200), SCHED_DONE_JOB);
    //  Its id with another range: refused, not judged by that range.
    cr_assert_eq (sched_done_judge (job, b.part, w, 100, 900),
                  SCHED_DONE_REFUSED);
    cr_assert_eq (sched_done_judge (job, b.part, w, 0, 200),
                  SCHED_DONE_REFUSED);
    //  Late DONEs: an unknown id, or a job someone else now holds.
    cr_assert_eq (sched_done_judge (NULL, b.part, w, 100, 200),
                  SCHED_DONE_RANGE);
    cr_assert_eq (sched_done_judge (job, b.part, other, 100, 200),
                  SCHED_DONE_RANGE);
    test_book_free (&b);
}

Test (credit, never_more_than_the_hello_granted)
{
    s_book_t b;
    s_book (&b);
    sched_worker_t *w = s_hello (&b, "w1", 4);
    cr_assert_eq (w->credits, 4);
    sched_workers_credit (w, 1);
    cr_assert_eq (w->credits, 4, "a CREDIT beyond the grant is ignored");
    w->credits = 1;
    sched_workers_credit (w, 2);
    cr_assert_eq (w->credits, 3);
    sched_workers_credit (w, UINT32_MAX);
    cr_assert_eq (w->credits, 4, "no overflow either");
    //  A new HELLO sets a new grant.
    s_hello (&b, "w1", 2);
    cr_assert_eq (w->credits, 2);
    sched_workers_credit (w, 5);
    cr_assert_eq (w->credits, 2);
    test_book_free (&b);
}

Test (status, answered_so_many_times_a_second)
{
    sched_status_limit_t limit = {0};
    int64_t now = 50000;
    for (int i = 0; i < SCHED_STATUS_PER_S; i++)
        cr_assert (sched_status_allow (&limit, now + i));
    cr_assert_not (sched_status_allow (&limit, now + 900));
    cr_assert_not (sched_status_allow (&limit, now + 999));
    cr_assert_eq (limit.refused, 2);
    cr_assert (sched_status_allow (&limit, now + 1000), "a new second");
}

Test (commit, revoke_and_exit_commit_what_the_broker_did_not_acknowledge)
{
    s_book_t b;
    s_book (&b);
    sched_part_t *p = b.part;
    snprintf (p->commit.meta, sizeof p->commit.meta, "%s", "d1");
    //  Sent and acknowledged at 100: nothing to do, sync or not.
    p->commit.sent = p->commit.acked = 100;
    cr_assert_not (sched_commit_wanted (p, 100, "d1", false));
    cr_assert_not (sched_commit_wanted (p, 100, "d1", true));
    //  Progress or new metadata: both commit.
    cr_assert (sched_commit_wanted (p, 150, "d1", false));
    cr_assert (sched_commit_wanted (p, 100, "d2", false));
    //  Sent at 150 but not (yet) acknowledged: the periodic commit waits
    //  for the answer; the last one, on revoke, sends it again.
    p->commit.sent = 150;
    cr_assert_not (sched_commit_wanted (p, 150, "d1", false));
    cr_assert (sched_commit_wanted (p, 150, "d1", true));
    test_book_free (&b);
}

Test (committed, a_partitions_error_is_no_answer_for_it)
{
    rd_kafka_topic_partition_list_t *list =
        rd_kafka_topic_partition_list_new (2);
    rd_kafka_topic_partition_list_add (list, "t", 0)->offset = 500;
    rd_kafka_topic_partition_list_add (list, "t", 1)->offset =
        RD_KAFKA_OFFSET_INVALID;
    cr_assert_eq (sched_member_committed_error (list),
                  RD_KAFKA_RESP_ERR_NO_ERROR, "none committed on 1: no error");
    list->elems[1].err = RD_KAFKA_RESP_ERR_UNSTABLE_OFFSET_COMMIT;
    cr_assert_eq (sched_member_committed_error (list),
                  RD_KAFKA_RESP_ERR_UNSTABLE_OFFSET_COMMIT);
    rd_kafka_topic_partition_list_destroy (list);
}

Test (conn, a_closed_connection_is_its_workers_alone)
{
    sched_conn_t conn = {0};
    sched_worker_t old = {.fd = -1}, new = {.fd = -1};
    sched_conn_closed_t closed;
    //  A worker's connection is accepted on descriptor 7 and sends.
    sched_conn_accepted (&conn, 7);
    sched_conn_seen (&conn, &old, 7);
    cr_assert_eq (old.fd, 7);
    cr_assert_not (sched_conn_event (&conn, &closed), "nothing closed");
    //  It closes; before the scheduler hears of it, a new connection
    //  takes descriptor 7 over and its worker sends (libzmq queued the
    //  close and the accept in that order).
    sched_conn_disconnected (&conn, 7);
    sched_conn_accepted (&conn, 7);
    sched_conn_seen (&conn, &new, 7);
    cr_assert (sched_conn_event (&conn, &closed));
    cr_assert_eq (closed.fd, 7);
    cr_assert (sched_conn_closed (&old, &closed), "the old worker is gone");
    cr_assert_not (sched_conn_closed (&new, &closed), "the new one is not");
    cr_assert_not (sched_conn_event (&conn, &closed), "one close, once");
    //  Its own close, later, is the new one's.
    sched_conn_disconnected (&conn, 7);
    cr_assert (sched_conn_event (&conn, &closed));
    cr_assert (sched_conn_closed (&new, &closed));
    cr_assert_not (sched_conn_closed (&old, &closed));
    //  A worker never seen on a connection is never taken for one.
    sched_worker_t unseen = {.fd = -1};
    cr_assert_not (sched_conn_closed (&unseen, &closed));
    sched_conn_stop (&conn, NULL);
}
