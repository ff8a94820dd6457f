/*  sl_meta - the commit-metadata codec (selective ACKs).

    A commit stores the cumulative offset `committed` (every offset below it
    is done) and, in the offset-commit metadata string, the ranges above it
    that are already complete, so a scheduler that takes the partition over
    does not run them again.

    Encoding (version 1), printable ASCII because Kafka stores metadata as a
    string:

        "s1:" [ GAP "." LEN { "," GAP "." LEN } ]

    GAP and LEN are lower-case base-36 numbers. The first range starts at
    committed + GAP, each next one GAP offsets after the end of the previous
    one; LEN is the range's length. GAP >= 1 and LEN >= 1 (ranges are
    disjoint, sorted and never adjacent, and a completed range never starts
    at `committed` or it would have been folded into it).

    Truncation drops whole ranges from the top (highest offsets first) until
    the string fits the limit, so a truncated string never claims a range
    that was not complete: it only forgets some that were.

    No I/O; pure functions, exhaustively unit-tested.
*/
#ifndef SL_META_H_INCLUDED
#define SL_META_H_INCLUDED

#include <stddef.h>
#include <stdint.h>

#define SL_META_PREFIX "s1:"
/*  Version 2 adds where the completion markers of ranges above committed
    begin (--state-topic; DESIGN.md, "Completion markers"):

        "s2:" SP "." OFF ";" [ GAP "." LEN { "," GAP "." LEN } ]

    SP is the state topic's partition, OFF the offset in it from which
    every marker of a range above committed is found (both base 36, "0"
    for zero). The ranges are as in version 1.                           */
#define SL_META_PREFIX2 "s2:"
/*  Kafka's default offset.metadata.max.bytes.                            */
#define SL_META_DEFAULT_LIMIT 4096

typedef struct {
    int64_t start; /* first offset in the range                          */
    int64_t end;   /* one past the last offset                            */
} sl_range_t;

/*  Where a partition's completion markers begin: a partition of the
    state topic and an offset in it; partition < 0: none.                */
typedef struct {
    int32_t partition;
    int64_t offset;
} sl_meta_mark_t;

/*  Encode the completed ranges above `committed` into buf (at most limit
    bytes including the NUL; limit <= bufsize). Ranges must be non-empty,
    sorted, disjoint and start above `committed` (start > committed);
    adjacent ranges are merged into one before encoding. Ranges that do
    not fit are dropped from the top, whole, so what is kept is always the
    lowest ranges. Returns the number of ranges encoded after merging
    (>= 0; "s1:" alone encodes 0 ranges), or -1 if committed < 0, the
    input is not sorted/disjoint/above committed, or limit is too small to
    hold even the prefix (limit < 4). On -1 buf holds "" if limit > 0.  */
int sl_meta_encode (int64_t committed, const sl_range_t *ranges, size_t n,
                    char *buf, size_t limit);

/*  Decode `len` bytes of metadata relative to `committed` into at most
    `max` ranges. Returns the number of ranges (>= 0), or -1 if the string
    is not valid version-1 metadata (wrong prefix, bad digit, overflow,
    zero gap or length, more than max ranges). An empty string (or NULL)
    decodes to 0 ranges. The parser is strict: only the canonical form the
    encoder writes is accepted (lower-case digits, no sign, no leading
    zero, no spaces, no empty item, no trailing comma; a NUL inside `len`
    is a bad digit), any offset that would pass INT64_MAX is an overflow,
    and committed < 0 is rejected. Decoded ranges are sorted, disjoint,
    non-adjacent and above committed. On -1 `ranges` may have been written
    and must be ignored.                                                  */
int sl_meta_decode (int64_t committed, const char *meta, size_t len,
                    sl_range_t *ranges, size_t max);

/*  sl_meta_encode, and with mark (not NULL, partition and offset >= 0)
    version 2 with the markers' position; the limit must hold it too.    */
int sl_meta_encode_marks (int64_t committed, const sl_range_t *ranges, size_t n,
                          const sl_meta_mark_t *mark, char *buf, size_t limit);

/*  sl_meta_decode, reading version 1 or 2; *mark (if not NULL) gets the
    markers' position of version 2, else {-1, -1}, also on -1.           */
int sl_meta_decode_marks (int64_t committed, const char *meta, size_t len,
                          sl_range_t *ranges, size_t max, sl_meta_mark_t *mark);

#endif
