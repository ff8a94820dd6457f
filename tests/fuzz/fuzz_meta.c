/*  fuzz_meta - libFuzzer harness for the commit-metadata decoder.

    Commit metadata comes from the broker, where anyone with write access
    to the group could have put anything. Input: 8 bytes of committed
    offset, then the metadata string. Properties checked on every input:
    decoding never crashes or overruns; decoded ranges are sorted,
    disjoint, non-adjacent, non-empty and above committed; and the parser
    is canonical: re-encoding what it accepted gives back the same bytes
    (but "" for "no metadata" decodes like "s1:"), version 2's markers'
    position included.
*/
#include "sl_meta.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MAX_RANGES 4096

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    static sl_range_t ranges[MAX_RANGES];
    static char buf[MAX_RANGES * 32];
    if (size < 8)
        return 0;
    int64_t committed;
    memcpy (&committed, data, 8);
    const char *meta = (const char *)data + 8;
    size_t len = size - 8;
    sl_meta_mark_t mark;
    int n =
        sl_meta_decode_marks (committed, meta, len, ranges, MAX_RANGES, &mark);
    if (n < 0)
        return 0;
    int64_t at = committed;
    for (int i = 0; i < n; i++) {
        if (ranges[i].start <= at || ranges[i].end <= ranges[i].start)
            abort ();
        at = ranges[i].end;
    }
    //  Canonical: what was accepted encodes back to the same string (an
    //  empty string, no metadata at all, decodes as "s1:" does).
    if (len == 0)
        return 0;
    int m = sl_meta_encode_marks (committed, ranges, (size_t)n, &mark, buf,
                                  sizeof buf);
    if (m != n || strlen (buf) != len || memcmp (buf, meta, len) != 0)
        abort ();
    return 0;
}
