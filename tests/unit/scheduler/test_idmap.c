/*  test_idmap - the scheduler's id-keyed table of jobs. The property test
    plays random inserts and removes against a model (an array indexed by
    id) with a seeded PRNG, growing and shrinking the table, with ids both
    consecutive (as the scheduler makes them) and sparse (collisions and
    wrapped probe runs); SLUICE_TEST_SEED=<seed> replays a failure.
*/
#include <criterion/criterion.h>

#include <inttypes.h>
#include <stdio.h>

#include "sched_idmap.h"
#include "test_rand.h"

typedef struct {
    char pad[12];
    uint64_t id; /* not at offset 0: the table must use the offset     */
} item_t;

Test (idmap, insert_lookup_remove)
{
    sched_idmap_t *map = sched_idmap_new (offsetof (item_t, id));
    cr_assert_not_null (map);
    item_t a = {.id = 7}, b = {.id = 8};
    cr_assert_eq (sched_idmap_insert (map, &a), 0);
    cr_assert_eq (sched_idmap_insert (map, &b), 0);
    cr_assert_eq (sched_idmap_size (map), 2);
    cr_assert_eq (sched_idmap_lookup (map, 7), &a);
    cr_assert_eq (sched_idmap_lookup (map, 8), &b);
    cr_assert_null (sched_idmap_lookup (map, 9));
    cr_assert_eq (sched_idmap_remove (map, 7), &a);
    cr_assert_null (sched_idmap_remove (map, 7));
    cr_assert_null (sched_idmap_lookup (map, 7));
    cr_assert_eq (sched_idmap_lookup (map, 8), &b);
    cr_assert_eq (sched_idmap_size (map), 1);
    size_t cursor = 0;
    cr_assert_eq (sched_idmap_next (map, &cursor), &b);
    cr_assert_null (sched_idmap_next (map, &cursor));
    sched_idmap_destroy (&map);
    cr_assert_null (map);
}

//  Random operations against a model; every few steps check that every
//  live item is found, every dead one is not, and iteration sees each
//  live item exactly once.
static void
s_play (uint64_t seed, uint64_t id_space, int steps)
{
    s_srand (seed);
    item_t *items = calloc (id_space, sizeof *items);
    bool *live = calloc (id_space, sizeof *live);
    size_t n = 0, peak = 0;
    sched_idmap_t *map = sched_idmap_new (offsetof (item_t, id));
    for (uint64_t i = 0; i < id_space; i++)
        items[i].id = i * (id_space > 1000 ? 1 : 0x100000001ull);
    for (int step = 0; step < steps; step++) {
        //  Phases of growth and of shrinking, so both resizes run.
        bool grow = (step / 5000) % 2 == 0;
        uint64_t i = s_rand () % id_space;
        if (!live[i] && (grow || s_rand () % 4 == 0)) {
            cr_assert_eq (sched_idmap_insert (map, &items[i]), 0);
            live[i] = true;
            n++;
        } else if (live[i] && (!grow || s_rand () % 3 == 0)) {
            item_t *got = sched_idmap_remove (map, items[i].id);
            if (got != &items[i])
                cr_assert_fail ("remove %" PRIu64 " (seed %" PRIu64 ")", i,
                                seed);
            live[i] = false;
            n--;
        }
        if (n > peak)
            peak = n;
        if (step % 997 != 0)
            continue;
        cr_assert_eq (sched_idmap_size (map), n, "size (seed %" PRIu64 ")",
                      seed);
        for (uint64_t k = 0; k < id_space; k++) {
            void *got = sched_idmap_lookup (map, items[k].id);
            if (got != (live[k] ? &items[k] : NULL))
                cr_assert_fail ("lookup %" PRIu64 " live=%d (seed %" PRIu64 ")",
                                k, live[k], seed);
        }
        size_t seen = 0, cursor = 0;
        for (item_t *it = sched_idmap_next (map, &cursor); it;
             it = sched_idmap_next (map, &cursor)) {
            uint64_t k = (uint64_t)(it - items);
            cr_assert (k < id_space && live[k], "iterated a dead item");
            seen++;
        }
        cr_assert_eq (seen, n, "iteration saw %zu of %zu (seed %" PRIu64 ")",
                      seen, n, seed);
    }
    cr_assert_gt (peak, 100, "the table grew past its first size");
    sched_idmap_destroy (&map);
    free (items);
    free (live);
}

Test (idmap, random_consecutive_ids)
{
    for (int i = 0; i < 4; i++)
        s_play (s_base_seed () + (uint64_t)i, 4096, 40000);
}

Test (idmap, random_sparse_ids)
{
    //  ids i * (2^32 + 1): spread over the whole 64-bit space.
    for (int i = 0; i < 4; i++)
        s_play (s_base_seed () + 100 + (uint64_t)i, 900, 40000);
}
