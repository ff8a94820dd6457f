/*  sl_meta - the commit-metadata codec (selective ACKs). See sl_meta.h.  */
#include "sl_meta.h"

#include <assert.h>
#include <limits.h>
#include <stdbool.h>
#include <string.h>

#define PREFIX_LEN (sizeof SL_META_PREFIX - 1)
/*  Longest item: "," + 13 base-36 digits + "." + 13 digits.              */
#define ITEM_MAX 28

static const char s_digits[] = "0123456789abcdefghijklmnopqrstuvwxyz";

//  Write v (> 0) in base 36 at p; return the number of characters.
static size_t
s_put_b36 (char *p, uint64_t v)
{
    char tmp[16];
    size_t n = 0;
    do {
        tmp[n++] = s_digits[v % 36];
        v /= 36;
    } while (v > 0);
    for (size_t i = 0; i < n; i++)
        p[i] = tmp[n - 1 - i];
    return n;
}

//  Format one item ("GAP.LEN", with a leading comma unless first) into p.
static size_t
s_put_item (char *p, bool first, int64_t gap, int64_t len)
{
    size_t n = 0;
    if (!first)
        p[n++] = ',';
    n += s_put_b36 (p + n, (uint64_t)gap);
    p[n++] = '.';
    n += s_put_b36 (p + n, (uint64_t)len);
    return n;
}

//  True if the ranges are non-empty, sorted, disjoint and above committed.
static bool
s_ranges_valid (int64_t committed, const sl_range_t *ranges, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (ranges[i].end <= ranges[i].start)
            return false;
        if (i == 0 ? ranges[i].start <= committed
                   : ranges[i].start < ranges[i - 1].end)
            return false;
    }
    return true;
}

//  Write "s2:" SP "." OFF ";" (the markers' position) at p; its length.
static size_t
s_put_mark (char *p, const sl_meta_mark_t *mark)
{
    size_t n = PREFIX_LEN;
    memcpy (p, SL_META_PREFIX2, PREFIX_LEN);
    if (mark->partition == 0)
        p[n++] = '0';
    else
        n += s_put_b36 (p + n, (uint64_t)mark->partition);
    p[n++] = '.';
    if (mark->offset == 0)
        p[n++] = '0';
    else
        n += s_put_b36 (p + n, (uint64_t)mark->offset);
    p[n++] = ';';
    return n;
}

//  Encode completed ranges above committed; see sl_meta.h.
int
sl_meta_encode (int64_t committed, const sl_range_t *ranges, size_t n,
                char *buf, size_t limit)
{
    return sl_meta_encode_marks (committed, ranges, n, NULL, buf, limit);
}

//  The same with the markers' position; see sl_meta.h.
int
sl_meta_encode_marks (int64_t committed, const sl_range_t *ranges, size_t n,
                      const sl_meta_mark_t *mark, char *buf, size_t limit)
{
    assert (buf || limit == 0);
    assert (ranges || n == 0);
    if (limit > 0)
        buf[0] = '\0';
    if (mark && (mark->partition < 0 || mark->offset < 0))
        mark = NULL;
    char head[PREFIX_LEN + 2 * 14 + 2];
    size_t head_len = PREFIX_LEN;
    if (mark)
        head_len = s_put_mark (head, mark);
    else
        memcpy (head, SL_META_PREFIX, PREFIX_LEN);
    if (committed < 0 || limit < head_len + 1 ||
        !s_ranges_valid (committed, ranges, n))
        return -1;

    memcpy (buf, head, head_len);
    size_t pos = head_len;
    int64_t prev_end = committed;
    int count = 0;
    size_t i = 0;
    while (i < n) {
        int64_t start = ranges[i].start;
        int64_t end = ranges[i].end;
        //  Adjacent ranges are one range: merge them before encoding.
        while (i + 1 < n && ranges[i + 1].start == end)
            end = ranges[++i].end;
        i++;
        char item[ITEM_MAX];
        size_t len =
            s_put_item (item, count == 0, start - prev_end, end - start);
        if (pos + len + 1 > limit)
            break; //  Drop this range and every range above it.
        memcpy (buf + pos, item, len);
        pos += len;
        prev_end = end;
        count++;
    }
    buf[pos] = '\0';
    return count;
}

//  Value of a lower-case base-36 digit, or -1.
static int
s_digit_value (char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 10;
    return -1;
}

//  Parse a canonical base-36 number (no sign, no leading zero) at *pos.
//  Returns 0 and stores it in *value, or -1 on no digit or overflow.
static int
s_get_b36 (const char *s, size_t len, size_t *pos, int64_t *value)
{
    size_t p = *pos;
    int64_t v = 0;
    while (p < len && s_digit_value (s[p]) >= 0) {
        int d = s_digit_value (s[p]);
        if (v > (INT64_MAX - d) / 36)
            return -1;
        v = v * 36 + d;
        p++;
    }
    size_t ndigits = p - *pos;
    if (ndigits == 0 || (ndigits > 1 && s[*pos] == '0'))
        return -1;
    *pos = p;
    *value = v;
    return 0;
}

//  Consume the expected character c at *pos; return 0 or -1.
static int
s_expect (const char *s, size_t len, size_t *pos, char c)
{
    if (*pos >= len || s[*pos] != c)
        return -1;
    (*pos)++;
    return 0;
}

//  Parse one "GAP.LEN" item after prev_end into *range; 0 or -1.
static int
s_get_item (const char *s, size_t len, size_t *pos, int64_t prev_end,
            sl_range_t *range)
{
    int64_t gap, length;
    if (s_get_b36 (s, len, pos, &gap) || s_expect (s, len, pos, '.') ||
        s_get_b36 (s, len, pos, &length))
        return -1;
    if (gap == 0 || length == 0 || gap > INT64_MAX - prev_end)
        return -1;
    range->start = prev_end + gap;
    if (length > INT64_MAX - range->start)
        return -1;
    range->end = range->start + length;
    return 0;
}

//  Decode metadata relative to committed; see sl_meta.h.
int
sl_meta_decode (int64_t committed, const char *meta, size_t len,
                sl_range_t *ranges, size_t max)
{
    return sl_meta_decode_marks (committed, meta, len, ranges, max, NULL);
}

//  Parse the markers' position after "s2:" ("SP.OFF;") into *mark.
static int
s_get_mark (const char *s, size_t len, size_t *pos, sl_meta_mark_t *mark)
{
    int64_t sp, off;
    if (s_get_b36 (s, len, pos, &sp) || s_expect (s, len, pos, '.') ||
        s_get_b36 (s, len, pos, &off) || s_expect (s, len, pos, ';'))
        return -1;
    if (sp > INT32_MAX)
        return -1;
    mark->partition = (int32_t)sp;
    mark->offset = off;
    return 0;
}

//  The same, with the markers' position; see sl_meta.h.
int
sl_meta_decode_marks (int64_t committed, const char *meta, size_t len,
                      sl_range_t *ranges, size_t max, sl_meta_mark_t *mark)
{
    assert (ranges || max == 0);
    sl_meta_mark_t none = {-1, -1}, got = none;
    if (mark)
        *mark = none;
    if (!meta || len == 0)
        return 0;
    if (committed < 0 || len < PREFIX_LEN)
        return -1;
    size_t pos = PREFIX_LEN;
    if (memcmp (meta, SL_META_PREFIX2, PREFIX_LEN) == 0) {
        if (s_get_mark (meta, len, &pos, &got) != 0)
            return -1;
    } else if (memcmp (meta, SL_META_PREFIX, PREFIX_LEN) != 0)
        return -1;
    int64_t prev_end = committed;
    int count = 0;
    while (pos < len) {
        sl_range_t range;
        if (count > 0 && s_expect (meta, len, &pos, ',') != 0)
            return -1;
        if (s_get_item (meta, len, &pos, prev_end, &range) != 0)
            return -1;
        if ((size_t)count >= max || count == INT_MAX)
            return -1;
        ranges[count++] = range;
        prev_end = range.end;
    }
    if (mark)
        *mark = got;
    return count;
}
