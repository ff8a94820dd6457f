/*  test_meta - the commit-metadata codec (selective ACKs in the offset
    commit's metadata string). Each test reads as a usage example.

    Random tests use a seeded PRNG; a failure prints its seed, and
    SLUICE_TEST_SEED=<seed> reruns from that seed.
*/
#include <criterion/criterion.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sl_meta.h"
#include "test_rand.h"

#define MAX_RANGES 4096

//  Uniform in [0, n).
static uint64_t
s_below (uint64_t n)
{
    return s_rand () % n;
}

//  A number that is small, medium or huge, so every digit count is used.
static int64_t
s_some_length (void)
{
    switch (s_below (4)) {
        case 0:
            return 1 + (int64_t)s_below (4);
        case 1:
            return 1 + (int64_t)s_below (1000);
        case 2:
            return 1 + (int64_t)s_below (1ULL << 32);
        default:
            return 1 + (int64_t)s_below (1ULL << 48);
    }
}

//  Fill ranges with n sorted, disjoint, non-adjacent ranges above c.
static void
s_random_ranges (int64_t c, sl_range_t *ranges, size_t n)
{
    int64_t prev = c;
    for (size_t i = 0; i < n; i++) {
        ranges[i].start = prev + s_some_length ();
        ranges[i].end = ranges[i].start + s_some_length ();
        prev = ranges[i].end;
    }
}

//  True if [start, end) lies inside one of the ranges.
static bool
s_covered (const sl_range_t *ranges, size_t n, int64_t start, int64_t end)
{
    for (size_t i = 0; i < n; i++)
        if (ranges[i].start <= start && end <= ranges[i].end)
            return true;
    return false;
}

//  True if decoded ranges are what the format promises: sorted, disjoint,
//  non-adjacent, non-empty and above committed.
static bool
s_well_formed (int64_t committed, const sl_range_t *ranges, int n)
{
    int64_t prev = committed;
    for (int i = 0; i < n; i++) {
        if (ranges[i].start <= prev || ranges[i].end <= ranges[i].start)
            return false;
        prev = ranges[i].end;
    }
    return true;
}

// --- encoding ------------------------------------------------------------

Test (meta, encode_no_ranges_is_the_bare_prefix)
{
    char buf[SL_META_DEFAULT_LIMIT];
    cr_assert_eq (sl_meta_encode (42, NULL, 0, buf, sizeof buf), 0);
    cr_assert_str_eq (buf, "s1:");
}

Test (meta, encode_writes_gaps_and_lengths_in_base36)
{
    //  committed 100; done: [110,120) and [130,131) and [166,202).
    sl_range_t done[] = {{110, 120}, {130, 131}, {166, 202}};
    char buf[64];
    cr_assert_eq (sl_meta_encode (100, done, 3, buf, sizeof buf), 3);
    //  gap 10 = "a", len 10 = "a"; gap 10, len 1; gap 35 = "z", len 36.
    cr_assert_str_eq (buf, "s1:a.a,a.1,z.10");
}

Test (meta, encode_merges_adjacent_ranges)
{
    sl_range_t done[] = {{5, 7}, {7, 9}, {9, 10}, {12, 13}};
    char buf[64];
    cr_assert_eq (sl_meta_encode (0, done, 4, buf, sizeof buf), 2);
    cr_assert_str_eq (buf, "s1:5.5,2.1");
}

Test (meta, encode_rejects_ranges_it_cannot_describe)
{
    static const struct {
        const char *why;
        int64_t committed;
        sl_range_t ranges[2];
        size_t n;
    } bad[] = {
        {"starts at committed", 10, {{10, 12}}, 1},
        {"starts below committed", 10, {{5, 12}}, 1},
        {"empty range", 0, {{5, 5}}, 1},
        {"reversed range", 0, {{6, 5}}, 1},
        {"unsorted", 0, {{20, 30}, {5, 10}}, 2},
        {"overlapping", 0, {{5, 10}, {9, 12}}, 2},
        {"negative committed", -1, {{5, 10}}, 1},
        {"committed at INT64_MAX", INT64_MAX, {{5, 10}}, 1},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char buf[64] = "junk";
        int rc = sl_meta_encode (bad[i].committed, bad[i].ranges, bad[i].n, buf,
                                 sizeof buf);
        cr_assert_eq (rc, -1, "%s: encode returned %d", bad[i].why, rc);
        cr_assert_str_eq (buf, "", "%s: buf must be emptied", bad[i].why);
    }
}

Test (meta, encode_needs_room_for_the_prefix)
{
    sl_range_t done[] = {{5, 6}};
    char buf[8];
    cr_assert_eq (sl_meta_encode (0, done, 1, buf, 0), -1);
    cr_assert_eq (sl_meta_encode (0, done, 1, buf, 3), -1);
    //  4 bytes hold "s1:" and its NUL, but not the range: it is dropped.
    cr_assert_eq (sl_meta_encode (0, done, 1, buf, 4), 0);
    cr_assert_str_eq (buf, "s1:");
    cr_assert_eq (sl_meta_encode (0, done, 1, buf, 7), 1);
    cr_assert_str_eq (buf, "s1:5.1");
}

Test (meta, encode_handles_offsets_up_to_int64_max)
{
    sl_range_t done[] = {{1, INT64_MAX}};
    char buf[64];
    cr_assert_eq (sl_meta_encode (0, done, 1, buf, sizeof buf), 1);
    //  INT64_MAX - 1 in base 36 is "1y2p0ij32e8e6".
    cr_assert_str_eq (buf, "s1:1.1y2p0ij32e8e6");
    sl_range_t back[1];
    cr_assert_eq (sl_meta_decode (0, buf, strlen (buf), back, 1), 1);
    cr_assert_eq (back[0].start, 1);
    cr_assert_eq (back[0].end, INT64_MAX);
}

// --- decoding ------------------------------------------------------------

Test (meta, decode_empty_or_null_is_no_ranges)
{
    sl_range_t ranges[4];
    cr_assert_eq (sl_meta_decode (7, NULL, 0, ranges, 4), 0);
    cr_assert_eq (sl_meta_decode (7, "", 0, ranges, 4), 0);
    cr_assert_eq (sl_meta_decode (7, "s1:", 3, ranges, 4), 0);
    //  Another consumer's metadata is not ours: rejected, never trusted.
    cr_assert_eq (sl_meta_decode (7, "hello", 5, ranges, 4), -1);
}

Test (meta, decode_reads_ranges_relative_to_committed)
{
    sl_range_t r[4];
    const char *meta = "s1:a.a,a.1,z.10";
    cr_assert_eq (sl_meta_decode (100, meta, strlen (meta), r, 4), 3);
    cr_assert_eq (r[0].start, 110);
    cr_assert_eq (r[0].end, 120);
    cr_assert_eq (r[1].start, 130);
    cr_assert_eq (r[1].end, 131);
    cr_assert_eq (r[2].start, 166);
    cr_assert_eq (r[2].end, 202);
}

Test (meta, decode_rejects_garbage)
{
    static const char *bad[] = {
        "s1",         "s2:1.1",   "S1:1.1",    "s1;1.1",      " s1:1.1",
        "s1: 1.1",    "s1:1.1 ",  "s1:1",      "s1:1.",       "s1:.1",
        "s1:.",       "s1:,",     "s1:1.1,",   "s1:,1.1",     "s1:1.1,,2.2",
        "s1:1..1",    "s1:1.1.1", "s1:1,1",    "s1:0.1",      "s1:1.0",
        "s1:0.0",     "s1:01.1",  "s1:1.01",   "s1:00.1",     "s1:A.1",
        "s1:1.B",     "s1:-1.1",  "s1:+1.1",   "s1:1.-1",     "s1:1.1;2.2",
        "s1:1_0.1",   "s1:1.1\n", "s1:\xff.1", "s1:1.1,2.2X", "s1:{}",
        "s1:1.1,0.2",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        sl_range_t r[8];
        int rc = sl_meta_decode (0, bad[i], strlen (bad[i]), r, 8);
        cr_assert_eq (rc, -1, "\"%s\" decoded to %d ranges", bad[i], rc);
    }
}

Test (meta, decode_rejects_overflow)
{
    sl_range_t r[4];
    //  The largest number, INT64_MAX, parses; one more overflows.
    const char *max = "s1:1.1y2p0ij32e8e6";
    cr_assert_eq (sl_meta_decode (0, max, strlen (max), r, 4), 1);
    cr_assert_eq (r[0].end, INT64_MAX);
    static const struct {
        int64_t committed;
        const char *meta;
    } bad[] = {
        {0, "s1:1y2p0ij32e8e8.1"},           //  gap is INT64_MAX + 1
        {0, "s1:1.1y2p0ij32e8e8"},           //  len is INT64_MAX + 1
        {0, "s1:zzzzzzzzzzzzzzzzzzzzzzz.1"}, //  far beyond 64 bits
        {0, "s1:1.1y2p0ij32e8e7"},           //  1 + INT64_MAX
        {INT64_MAX - 5, "s1:6.1"},           //  start would be > INT64_MAX
        {INT64_MAX - 5, "s1:5.1"},           //  end would be > INT64_MAX
        {0, "s1:1.1y2p0ij32e8e6,1.1"},       //  second range overflows
        {-1, "s1:1.1"},                      //  no committed offset
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = sl_meta_decode (bad[i].committed, bad[i].meta,
                                 strlen (bad[i].meta), r, 4);
        cr_assert_eq (rc, -1, "\"%s\" at %" PRId64 " decoded to %d",
                      bad[i].meta, bad[i].committed, rc);
    }
    //  The last range that still fits below INT64_MAX is accepted.
    cr_assert_eq (sl_meta_decode (INT64_MAX - 5, "s1:4.1", 6, r, 4), 1);
    cr_assert_eq (r[0].end, INT64_MAX);
}

Test (meta, decode_reads_exactly_len_bytes)
{
    sl_range_t r[4];
    //  Kafka hands metadata over as bytes plus a size, not a C string.
    const char meta[] = {'s', '1', ':', '5', '.', '2', ',', '3', '.', '1'};
    cr_assert_eq (sl_meta_decode (0, meta, 6, r, 4), 1);
    cr_assert_eq (r[0].start, 5);
    cr_assert_eq (r[0].end, 7);
    cr_assert_eq (sl_meta_decode (0, meta, sizeof meta, r, 4), 2);
    cr_assert_eq (r[1].start, 10);
    cr_assert_eq (r[1].end, 11);
    //  Cut inside an item, or just after a separator: rejected.
    cr_assert_eq (sl_meta_decode (0, meta, 7, r, 4), -1);
    cr_assert_eq (sl_meta_decode (0, meta, 8, r, 4), -1);
    cr_assert_eq (sl_meta_decode (0, meta, 2, r, 4), -1);
    //  A NUL inside the bytes is not a digit.
    const char nul[] = "s1:5\0.2";
    cr_assert_eq (sl_meta_decode (0, nul, sizeof nul - 1, r, 4), -1);
}

Test (meta, decode_rejects_more_ranges_than_max)
{
    sl_range_t r[2];
    const char *meta = "s1:1.1,1.1,1.1";
    cr_assert_eq (sl_meta_decode (0, meta, strlen (meta), r, 2), -1);
    cr_assert_eq (sl_meta_decode (0, meta, strlen (meta), NULL, 0), -1);
    cr_assert_eq (sl_meta_decode (0, "s1:1.1,1.1", 10, r, 2), 2);
}

Test (meta, every_prefix_of_an_encoding_is_rejected_or_claims_less)
{
    //  A metadata string cut short anywhere (a broker or tool truncating
    //  it) must never claim an offset that was not complete.
    for (uint64_t i = 0; i < 200; i++) {
        s_srand (s_base_seed () + i);
        sl_range_t done[16], back[16];
        size_t n = 1 + s_below (16);
        int64_t committed = (int64_t)s_below (1ULL << 40);
        s_random_ranges (committed, done, n);
        char buf[1024];
        CHECK (sl_meta_encode (committed, done, n, buf, sizeof buf) == (int)n,
               "encode failed");
        size_t len = strlen (buf);
        for (size_t cut = 0; cut <= len; cut++) {
            int rc = sl_meta_decode (committed, buf, cut, back, 16);
            CHECK (rc >= -1 && rc <= (int)n, "prefix %zu: rc %d", cut, rc);
            CHECK (cut > 3 || rc <= 0, "prefix %zu claims ranges", cut);
            for (int k = 0; k < rc; k++)
                CHECK (s_covered (done, n, back[k].start, back[k].end),
                       "prefix %zu of \"%.200s\" claims [%" PRId64 ",%" PRId64
                       ") which was never complete",
                       cut, buf, back[k].start, back[k].end);
        }
    }
}

Test (meta, decode_survives_random_and_mutated_input)
{
    //  Whatever the bytes, decode returns -1 or well-formed ranges, and
    //  anything it accepts is canonical: encoding it gives the same bytes.
    for (uint64_t i = 0; i < 5000; i++) {
        s_srand (s_base_seed () + i);
        char buf[256];
        size_t len;
        int64_t committed = (int64_t)s_below (1000);
        if (s_below (2)) {
            len = s_below (sizeof buf);
            for (size_t k = 0; k < len; k++)
                buf[k] = (char)s_below (256);
            if (len >= 3 && s_below (2))
                memcpy (buf, "s1:", 3);
        } else {
            sl_range_t done[8];
            size_t n = s_below (8);
            s_random_ranges (committed, done, n);
            sl_meta_encode (committed, done, n, buf, sizeof buf);
            len = strlen (buf);
            static const char alphabet[] = "s1:.,0az9\0Z-";
            for (size_t m = 1 + s_below (3); m > 0 && len > 0; m--)
                buf[s_below (len)] = alphabet[s_below (sizeof alphabet - 1)];
        }
        sl_range_t back[64];
        int rc = sl_meta_decode (committed, buf, len, back, 64);
        CHECK (rc >= -1 && rc <= 64, "rc %d", rc);
        if (rc <= 0)
            continue;
        CHECK (s_well_formed (committed, back, rc), "ill-formed ranges");
        char again[512];
        CHECK (sl_meta_encode (committed, back, (size_t)rc, again,
                               sizeof again) == rc,
               "re-encode failed");
        CHECK (strlen (again) == len && memcmp (again, buf, len) == 0,
               "accepted a non-canonical string \"%.*s\"", (int)len, buf);
    }
}

// --- round trips and truncation -------------------------------------------

Test (meta, round_trip_random_sets)
{
    for (uint64_t i = 0; i < 5000; i++) {
        s_srand (s_base_seed () + i);
        sl_range_t done[64], back[64];
        size_t n = s_below (65);
        int64_t committed = (int64_t)s_below (1ULL << 50);
        s_random_ranges (committed, done, n);
        char buf[SL_META_DEFAULT_LIMIT];
        int enc = sl_meta_encode (committed, done, n, buf, sizeof buf);
        CHECK (enc == (int)n, "encoded %d of %zu ranges", enc, n);
        int dec = sl_meta_decode (committed, buf, strlen (buf), back, 64);
        CHECK (dec == (int)n, "decoded %d of %zu ranges", dec, n);
        for (size_t k = 0; k < n; k++)
            CHECK (back[k].start == done[k].start && back[k].end == done[k].end,
                   "range %zu differs", k);
    }
}

//  Encode without a limit, then with `limit`; check the truncated string
//  is the longest whole-item prefix of the full one that fits.
static void
s_check_truncation (int64_t committed, const sl_range_t *done, size_t n,
                    size_t limit)
{
    static char full[1 << 17], cut[1 << 17];
    static sl_range_t back[MAX_RANGES];
    CHECK (sl_meta_encode (committed, done, n, full, sizeof full) == (int)n,
           "full encode failed");
    int kept = sl_meta_encode (committed, done, n, cut, limit);
    CHECK (kept >= 0 && kept <= (int)n, "kept %d", kept);
    size_t len = strlen (cut);
    CHECK (len < limit, "%zu bytes do not fit a %zu-byte limit", len, limit);
    //  What is kept is a prefix of the full string, ending at an item.
    CHECK (strncmp (full, cut, len) == 0, "not a prefix of the full string");
    bool bare = len == sizeof SL_META_PREFIX - 1;
    CHECK (full[len] == '\0' || full[len] == ',' || bare, "cut inside an item");
    //  It is the longest such prefix: the next item would not have fit.
    if (full[len] != '\0') {
        const char *next = strchr (full + len + 1, ',');
        size_t next_len =
            next ? (size_t)(next - (full + len)) : strlen (full + len);
        CHECK (len + next_len + 1 > limit, "dropped a range that fit");
    }
    //  Decoding gives exactly the lowest `kept` ranges: nothing invented.
    int dec = sl_meta_decode (committed, cut, len, back, MAX_RANGES);
    CHECK (dec == kept, "decoded %d, encoded %d", dec, kept);
    for (int k = 0; k < dec; k++)
        CHECK (back[k].start == done[k].start && back[k].end == done[k].end,
               "range %d is not the %d-th lowest", k, k);
}

Test (meta, truncation_at_the_broker_limit_keeps_the_lowest_ranges)
{
    //  3000 ranges with large gaps need far more than 4096 bytes.
    static sl_range_t done[3000];
    for (uint64_t i = 0; i < 50; i++) {
        s_srand (s_base_seed () + i);
        int64_t committed = (int64_t)s_below (1ULL << 40);
        s_random_ranges (committed, done, 3000);
        s_check_truncation (committed, done, 3000, SL_META_DEFAULT_LIMIT);
        char buf[SL_META_DEFAULT_LIMIT];
        int kept = sl_meta_encode (committed, done, 3000, buf, sizeof buf);
        CHECK (kept > 0 && kept < 3000, "kept %d of 3000", kept);
    }
}

Test (meta, truncation_at_every_limit)
{
    for (uint64_t i = 0; i < 100; i++) {
        s_srand (s_base_seed () + i);
        sl_range_t done[20];
        int64_t committed = (int64_t)s_below (1ULL << 30);
        s_random_ranges (committed, done, 20);
        for (size_t limit = 4; limit < 600; limit++)
            s_check_truncation (committed, done, 20, limit);
    }
}

Test (meta, truncation_exact_fit)
{
    sl_range_t done[] = {{10, 20}, {30, 31}};
    char buf[32];
    //  "s1:a.a,a.1" is 10 characters: it needs 11 bytes with the NUL.
    cr_assert_eq (sl_meta_encode (0, done, 2, buf, 11), 2);
    cr_assert_str_eq (buf, "s1:a.a,a.1");
    cr_assert_eq (sl_meta_encode (0, done, 2, buf, 10), 1);
    cr_assert_str_eq (buf, "s1:a.a");
    cr_assert_eq (sl_meta_encode (0, done, 2, buf, 7), 1);
    cr_assert_eq (sl_meta_encode (0, done, 2, buf, 6), 0);
    cr_assert_str_eq (buf, "s1:");
}

Test (meta, truncation_drops_merged_ranges_whole)
{
    //  [10,20) and [20,30) are one range "a.k"; it is kept or dropped
    //  whole, never half.
    sl_range_t done[] = {{5, 6}, {10, 20}, {20, 30}};
    char buf[32];
    cr_assert_eq (sl_meta_encode (0, done, 3, buf, 11), 2);
    cr_assert_str_eq (buf, "s1:5.1,4.k");
    cr_assert_eq (sl_meta_encode (0, done, 3, buf, 10), 1);
    cr_assert_str_eq (buf, "s1:5.1");
}

// --- version 2: where the completion markers begin -----------------------

Test (meta, v2_writes_the_markers_position_before_the_ranges)
{
    sl_range_t done[] = {{110, 120}, {130, 131}};
    sl_meta_mark_t mark = {3, 36 * 36};
    char buf[64];
    cr_assert_eq (sl_meta_encode_marks (100, done, 2, &mark, buf, sizeof buf),
                  2);
    cr_assert_str_eq (buf, "s2:3.100;a.a,a.1");
    mark = (sl_meta_mark_t){0, 0};
    cr_assert_eq (sl_meta_encode_marks (100, NULL, 0, &mark, buf, sizeof buf),
                  0);
    cr_assert_str_eq (buf, "s2:0.0;");
    //  No position (NULL, or a negative one): version 1, as before.
    mark = (sl_meta_mark_t){0, -1};
    cr_assert_eq (sl_meta_encode_marks (100, done, 2, &mark, buf, sizeof buf),
                  2);
    cr_assert_str_eq (buf, "s1:a.a,a.1");
}

Test (meta, v2_round_trips_and_version_1_has_no_position)
{
    sl_range_t done[] = {{5, 7}, {9, 10}}, got[8];
    sl_meta_mark_t mark = {7, 123456789}, back;
    char buf[128];
    sl_meta_encode_marks (4, done, 2, &mark, buf, sizeof buf);
    int n = sl_meta_decode_marks (4, buf, strlen (buf), got, 8, &back);
    cr_assert_eq (n, 2);
    cr_assert (got[0].start == 5 && got[0].end == 7 && got[1].start == 9 &&
               got[1].end == 10);
    cr_assert (back.partition == 7 && back.offset == 123456789);
    //  The version-1 reader reads version 2's ranges too.
    cr_assert_eq (sl_meta_decode (4, buf, strlen (buf), got, 8), 2);
    sl_meta_encode (4, done, 2, buf, sizeof buf);
    cr_assert_eq (sl_meta_decode_marks (4, buf, strlen (buf), got, 8, &back),
                  2);
    cr_assert (back.partition == -1 && back.offset == -1);
}

Test (meta, v2_refuses_a_malformed_position)
{
    static const char *bad[] = {
        "s2:",     "s2:1",     "s2:1.",    "s2:1.2",       "s2:.2;",
        "s2:1.;",  "s2:01.2;", "s2:1.02;", "s2:1,2;",      "s2:1.2;,",
        "s2:A.2;", "s3:1.2;",  "s2:1.2;a", "s2:zzzzzzz.1;"};
    sl_range_t got[4];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        sl_meta_mark_t back = {5, 5};
        cr_assert_eq (
            sl_meta_decode_marks (0, bad[i], strlen (bad[i]), got, 4, &back),
            -1, "%s", bad[i]);
        cr_assert (back.partition == -1 && back.offset == -1, "%s", bad[i]);
    }
}

Test (meta, v2_position_counts_against_the_limit)
{
    sl_range_t done[] = {{110, 120}};
    sl_meta_mark_t mark = {3, 36 * 36};
    char buf[64];
    //  "s2:3.100;" is 9 bytes: a limit of 9 holds no NUL, 10 holds it
    //  alone (the range is dropped), 13 holds "a.a" too.
    cr_assert_eq (sl_meta_encode_marks (100, done, 1, &mark, buf, 9), -1);
    cr_assert_eq (sl_meta_encode_marks (100, done, 1, &mark, buf, 10), 0);
    cr_assert_str_eq (buf, "s2:3.100;");
    cr_assert_eq (sl_meta_encode_marks (100, done, 1, &mark, buf, 13), 1);
    cr_assert_str_eq (buf, "s2:3.100;a.a");
}
