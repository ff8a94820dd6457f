/*  sched_keys - the key gate of one partition. See sched_keys.h.
 */
#include "sched_keys.h"

#include <stdlib.h>
#include <string.h>
#include "sl_hash.h"

typedef struct {
    int64_t start, end;
    uint64_t *keys;   /* sorted, distinct; NULL until known                */
    uint8_t *blocked; /* per key, 1 while blocked                         */
    uint8_t *told;    /* per key, 1 while its holder was told it is blocked
                         (sched_keys_gate) and no release said otherwise */
    size_t n;
    size_t nblocked;
    size_t nrelease; /* keys told blocked that are free now             */
    bool known;      /* a set is held (its own, or a split parent's)          */
    bool exact;      /* reported for this very range                          */
} entry_t;

struct _sched_keys_t {
    entry_t *e; /* in offset order                                       */
    size_t n, cap;
    size_t held; /* keys held by all ranges                              */
    /*  The pass's set of keys held by earlier ranges: open addressing,
        power-of-two slots.                                               */
    uint64_t *slot;
    uint8_t *used;
    size_t slots;
};

//  ---------------------------------------------------------------------
//  The pass's key set

//  Room for n keys at most half full; false if out of memory.
static bool
s_set_reset (sched_keys_t *self, size_t n)
{
    size_t want = 16;
    while (want < 2 * n)
        want *= 2;
    if (want > self->slots) {
        uint64_t *slot = realloc (self->slot, want * sizeof *slot);
        if (slot)
            self->slot = slot;
        uint8_t *used = realloc (self->used, want);
        if (used)
            self->used = used;
        if (!slot || !used)
            return false;
        self->slots = want;
    }
    memset (self->used, 0, self->slots);
    return true;
}

//  The slot of key: where it is, or the free one where it would go.
static size_t
s_set_slot (const sched_keys_t *self, uint64_t key)
{
    size_t mask = self->slots - 1;
    size_t i = (size_t)(sl_hash_u64 (key) >> 32) & mask;
    while (self->used[i] && self->slot[i] != key)
        i = (i + 1) & mask;
    return i;
}

//  ---------------------------------------------------------------------
//  The order

//  Recompute every range's blocked keys: one pass in offset order.
static void
s_recompute (sched_keys_t *self)
{
    bool room = s_set_reset (self, self->held);
    bool unknown = false; //  an earlier range's set is unknown
    for (size_t i = 0; i < self->n; i++) {
        entry_t *e = &self->e[i];
        if (!e->known) {
            unknown = true;
            continue;
        }
        e->nblocked = e->nrelease = 0;
        for (size_t k = 0; k < e->n; k++) {
            bool blocked =
                unknown || !room || self->used[s_set_slot (self, e->keys[k])];
            e->blocked[k] = blocked;
            e->nblocked += blocked;
            e->nrelease += e->told[k] && !blocked;
        }
        //  Then its own keys join the set (they are distinct).
        for (size_t k = 0; room && k < e->n; k++) {
            size_t at = s_set_slot (self, e->keys[k]);
            self->used[at] = 1;
            self->slot[at] = e->keys[k];
        }
    }
}

//  The range that starts at start, or NULL.
static entry_t *
s_find (const sched_keys_t *self, int64_t start)
{
    size_t lo = 0, hi = self->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (self->e[mid].start < start)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < self->n && self->e[lo].start == start ? &self->e[lo] : NULL;
}

//  Give e a copy of keys (sorted, distinct). False if out of memory.
static bool
s_set_keys (sched_keys_t *self, entry_t *e, const uint64_t *keys, size_t n)
{
    uint64_t *copy = malloc ((n ? n : 1) * sizeof *copy);
    uint8_t *blocked = malloc (n ? n : 1);
    uint8_t *told = calloc (n ? n : 1, 1);
    if (!copy || !blocked || !told) {
        free (copy);
        free (blocked);
        free (told);
        return false;
    }
    if (n)
        memcpy (copy, keys, n * sizeof *copy);
    memset (blocked, 1, n ? n : 1);
    self->held -= e->n;
    free (e->keys);
    free (e->blocked);
    free (e->told);
    e->keys = copy;
    e->blocked = blocked;
    e->told = told;
    e->n = n;
    e->nblocked = n;
    e->nrelease = 0;
    e->known = true;
    self->held += n;
    return true;
}

static void
s_entry_free (sched_keys_t *self, entry_t *e)
{
    self->held -= e->n;
    free (e->keys);
    free (e->blocked);
    free (e->told);
}

//  Room for one more range; false if out of memory.
static bool
s_grow (sched_keys_t *self)
{
    if (self->n < self->cap)
        return true;
    size_t cap = self->cap ? 2 * self->cap : 16;
    entry_t *more = realloc (self->e, cap * sizeof *more);
    if (!more)
        return false;
    self->e = more;
    self->cap = cap;
    return true;
}

//  ---------------------------------------------------------------------
//  The API

sched_keys_t *
sched_keys_new (void)
{
    return calloc (1, sizeof (sched_keys_t));
}

void
sched_keys_destroy (sched_keys_t **self_p)
{
    sched_keys_t *self = *self_p;
    if (!self)
        return;
    for (size_t i = 0; i < self->n; i++)
        s_entry_free (self, &self->e[i]);
    free (self->e);
    free (self->slot);
    free (self->used);
    free (self);
    *self_p = NULL;
}

//  See sched_keys.h.
int
sched_keys_add (sched_keys_t *self, int64_t start, int64_t end)
{
    if (end <= start || (self->n && start < self->e[self->n - 1].end) ||
        !s_grow (self))
        return -1;
    self->e[self->n++] = (entry_t){.start = start, .end = end};
    return 0; //  unknown: it blocks nothing it does not already block
}

//  See sched_keys.h.
int
sched_keys_report (sched_keys_t *self, int64_t start, int64_t end,
                   const uint64_t *keys, size_t n)
{
    for (size_t k = 1; k < n; k++)
        if (keys[k] <= keys[k - 1])
            return -1; //  not sorted, or a key twice
    size_t hits = 0;
    int rc = 0;
    for (size_t i = 0; i < self->n; i++) {
        entry_t *e = &self->e[i];
        if (e->start < start || e->end > end)
            continue;
        hits++;
        bool own = e->start == start && e->end == end;
        //  A half split off since the read gets the set as a superset of
        //  its own, unless it has its own already.
        if ((own && !e->exact) || !e->known) {
            if (!s_set_keys (self, e, keys, n))
                rc = -1;
            else
                e->exact = own;
        }
    }
    s_recompute (self);
    return hits ? rc : -1;
}

//  See sched_keys.h.
int
sched_keys_drop_keys (sched_keys_t *self, int64_t start, const uint64_t *keys,
                      size_t n)
{
    entry_t *e = s_find (self, start);
    if (!e || !e->known)
        return -1;
    for (size_t k = 1; k < n; k++)
        if (keys[k] <= keys[k - 1])
            return -1;
    //  Both sorted: one merge pass keeps the keys not given up.
    size_t kept = 0, j = 0;
    for (size_t k = 0; k < e->n; k++) {
        while (j < n && keys[j] < e->keys[k])
            j++;
        if (j < n && keys[j] == e->keys[k])
            continue;
        e->keys[kept] = e->keys[k];
        e->blocked[kept] = e->blocked[k];
        e->told[kept] = e->told[k];
        kept++;
    }
    int gone = (int)(e->n - kept);
    self->held -= (size_t)gone;
    e->n = kept;
    if (gone)
        s_recompute (self);
    return gone;
}

//  See sched_keys.h.
size_t
sched_keys_done (sched_keys_t *self, int64_t start, int64_t end)
{
    size_t kept = 0, gone = 0;
    for (size_t i = 0; i < self->n; i++) {
        entry_t *e = &self->e[i];
        if (e->start >= start && e->end <= end) {
            s_entry_free (self, e);
            gone++;
        } else
            self->e[kept++] = *e;
    }
    self->n = kept;
    if (gone)
        s_recompute (self);
    return gone;
}

//  See sched_keys.h.
int
sched_keys_split (sched_keys_t *self, int64_t start, int64_t mid)
{
    entry_t *e = s_find (self, start);
    if (!e || mid <= e->start || mid >= e->end || !s_grow (self))
        return -1;
    e = s_find (self, start); //  s_grow may have moved it
    size_t at = (size_t)(e - self->e);
    entry_t upper = {.start = mid, .end = e->end};
    if (e->known && !s_set_keys (self, &upper, e->keys, e->n))
        return -1;
    memmove (&self->e[at + 2], &self->e[at + 1],
             (self->n - at - 1) * sizeof *self->e);
    self->n++;
    self->e[at].end = mid;
    self->e[at].exact = false;
    self->e[at + 1] = upper;
    s_recompute (self);
    return 0;
}

//  See sched_keys.h.
bool
sched_keys_free (const sched_keys_t *self, int64_t start, uint64_t key)
{
    const entry_t *e = s_find (self, start);
    if (!e || !e->known)
        return false;
    size_t lo = 0, hi = e->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (e->keys[mid] < key)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < e->n && e->keys[lo] == key && !e->blocked[lo];
}

//  See sched_keys.h.
size_t
sched_keys_blocked (const sched_keys_t *self, int64_t start, uint64_t *out,
                    size_t max, bool *known)
{
    const entry_t *e = s_find (self, start);
    *known = e && e->known;
    if (!*known)
        return 0;
    size_t got = 0;
    for (size_t k = 0; k < e->n; k++)
        if (e->blocked[k] && got++ < max)
            out[got - 1] = e->keys[k];
    return e->nblocked;
}

//  See sched_keys.h.
size_t
sched_keys_gate (sched_keys_t *self, int64_t start, uint64_t *out, size_t max,
                 bool *known)
{
    entry_t *e = s_find (self, start);
    *known = e && e->known;
    if (!*known)
        return 0;
    size_t got = 0;
    e->nrelease = 0;
    for (size_t k = 0; k < e->n; k++) {
        e->told[k] = e->blocked[k];
        if (e->blocked[k] && got++ < max)
            out[got - 1] = e->keys[k];
    }
    return e->nblocked;
}

//  See sched_keys.h.
size_t
sched_keys_release (sched_keys_t *self, int64_t start, uint64_t *out,
                    size_t max)
{
    entry_t *e = s_find (self, start);
    if (!e || !e->known || !e->nrelease) //  most ranges, most of the time
        return 0;
    size_t got = 0;
    for (size_t k = 0; k < e->n && got < max; k++)
        if (e->told[k] && !e->blocked[k]) {
            e->told[k] = 0;
            out[got++] = e->keys[k];
        }
    e->nrelease -= got;
    return got;
}

size_t
sched_keys_ranges (const sched_keys_t *self)
{
    return self->n;
}

size_t
sched_keys_held (const sched_keys_t *self)
{
    return self->held;
}
