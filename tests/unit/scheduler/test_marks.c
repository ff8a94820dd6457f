/*  test_marks - the bounds a partition keeps of where its jobs' completion
    markers can be (sched_model_marks_add / _from, --state-topic): the
    commit metadata names the lowest bound of a range still above the
    committed offset. The property test plays seeded random sends (bounds
    only grow, as the state partition's end offset does) and commits
    against a model (every range ever added, scanned whole), through the
    ring's growth and wrap-around; SLUICE_TEST_SEED=<seed> replays one.
*/
#include <criterion/criterion.h>

#include <stdlib.h>

#include "sched_model.h"
#include "test_rand.h"

#define ADDS 5000

Test (marks, nothing_sent_names_no_position)
{
    sched_part_t part = {0};
    part.marks.topic = "state";
    cr_assert_eq (sched_model_marks_from (&part, 0), -1);
    cr_assert (sched_model_marks_add (&part, 10, 7));
    cr_assert_eq (sched_model_marks_from (&part, 0), 7);
    cr_assert_eq (sched_model_marks_from (&part, 10), -1);
    free (part.marks.end);
    free (part.marks.bound);
}

Test (marks, off_without_a_state_topic)
{
    sched_part_t part = {0};
    cr_assert (sched_model_marks_add (&part, 10, 7));
    cr_assert_eq (part.marks.n, 0);
    cr_assert_eq (sched_model_marks_from (&part, 0), -1);
}

Test (marks, the_lowest_bound_above_committed_against_a_model)
{
    for (int run = 0; run < 40; run++) {
        s_srand (s_base_seed () + (uint64_t)run);
        sched_part_t part = {0};
        part.marks.topic = "state";
        int64_t *end = malloc (ADDS * sizeof *end);
        int64_t *bound = malloc (ADDS * sizeof *bound);
        cr_assert (end && bound);
        size_t n = 0;
        int64_t hwm = 0, committed = 0, next = 0;
        for (int step = 0; step < 4 * ADDS; step++) {
            if (n < ADDS && s_rand () % 3) {
                //  A job sent: ranges are cut in order, but a retry sends an
                //  old range again later with a later bound.
                int64_t e = next + 1 + (int64_t)(s_rand () % 5);
                if (s_rand () % 8 == 0 && next > committed)
                    e = committed + 1 +
                        (int64_t)(s_rand () % (uint64_t)(next - committed));
                else
                    next = e;
                hwm += (int64_t)(s_rand () % 3);
                cr_assert (sched_model_marks_add (&part, e, hwm));
                end[n] = e;
                bound[n] = hwm;
                n++;
            } else if (next > committed) {
                committed +=
                    (int64_t)(s_rand () % (uint64_t)(next - committed + 1));
            }
            int64_t want = -1;
            for (size_t i = 0; i < n; i++)
                if (end[i] > committed && (want < 0 || bound[i] < want))
                    want = bound[i];
            int64_t got = sched_model_marks_from (&part, committed);
            cr_assert_eq (got, want,
                          "seed %llu step %d: committed %lld, from %lld, "
                          "model %lld",
                          (unsigned long long)s_seed, step,
                          (long long)committed, (long long)got,
                          (long long)want);
        }
        free (end);
        free (bound);
        free (part.marks.end);
        free (part.marks.bound);
    }
}
