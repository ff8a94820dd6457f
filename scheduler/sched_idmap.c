/*  sched_idmap - a table of objects keyed by a 64-bit id. See the header. */
#include "sched_idmap.h"
#include "sl_hash.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define IDMAP_MIN_SLOTS 64

struct _sched_idmap_t {
    size_t id_offset;
    void **slots; /* NULL: empty                                        */
    size_t mask;  /* slots - 1, slots a power of two                    */
    size_t size;
};

static inline uint64_t
s_id (const sched_idmap_t *self, const void *item)
{
    uint64_t id;
    memcpy (&id, (const char *)item + self->id_offset, sizeof id);
    return id;
}

//  Ids are mostly consecutive: the hash's high bits spread them.
static inline size_t
s_home (const sched_idmap_t *self, uint64_t id)
{
    return (size_t)(sl_hash_u64 (id) >> 17) & self->mask;
}

//  Move every entry into a table of `slots` slots.
static int
s_resize (sched_idmap_t *self, size_t slots)
{
    void **fresh = calloc (slots, sizeof *fresh);
    if (!fresh)
        return -1;
    void **old = self->slots;
    size_t old_n = self->mask + 1;
    self->slots = fresh;
    self->mask = slots - 1;
    for (size_t i = 0; i < old_n; i++)
        if (old[i]) {
            size_t j = s_home (self, s_id (self, old[i]));
            while (fresh[j])
                j = (j + 1) & self->mask;
            fresh[j] = old[i];
        }
    free (old);
    return 0;
}

sched_idmap_t *
sched_idmap_new (size_t id_offset)
{
    sched_idmap_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->id_offset = id_offset;
    self->slots = calloc (IDMAP_MIN_SLOTS, sizeof *self->slots);
    if (!self->slots) {
        free (self);
        return NULL;
    }
    self->mask = IDMAP_MIN_SLOTS - 1;
    return self;
}

void
sched_idmap_destroy (sched_idmap_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free ((*self_p)->slots);
    free (*self_p);
    *self_p = NULL;
}

//  Slot holding id, or the empty slot where it would go.
static size_t
s_slot (const sched_idmap_t *self, uint64_t id)
{
    size_t i = s_home (self, id);
    while (self->slots[i] && s_id (self, self->slots[i]) != id)
        i = (i + 1) & self->mask;
    return i;
}

int
sched_idmap_insert (sched_idmap_t *self, void *item)
{
    if ((self->size + 1) * 2 > self->mask + 1 &&
        s_resize (self, (self->mask + 1) * 2) != 0)
        return -1;
    size_t i = s_slot (self, s_id (self, item));
    if (!self->slots[i])
        self->size++;
    self->slots[i] = item;
    return 0;
}

void *
sched_idmap_lookup (sched_idmap_t *self, uint64_t id)
{
    return self->slots[s_slot (self, id)];
}

void *
sched_idmap_remove (sched_idmap_t *self, uint64_t id)
{
    size_t i = s_slot (self, id);
    void *item = self->slots[i];
    if (!item)
        return NULL;
    //  Backward-shift deletion: pull later entries of the probe run into
    //  the hole unless that would move one before its home slot. No
    //  tombstones, so lookups never slow down with churn.
    size_t hole = i;
    for (size_t j = (i + 1) & self->mask; self->slots[j];
         j = (j + 1) & self->mask) {
        size_t home = s_home (self, s_id (self, self->slots[j]));
        //  j's entry may move to hole if home is not in (hole, j].
        bool stays =
            hole <= j ? (home > hole && home <= j) : (home > hole || home <= j);
        if (!stays) {
            self->slots[hole] = self->slots[j];
            hole = j;
        }
    }
    self->slots[hole] = NULL;
    self->size--;
    //  Give memory back after a burst (a failed shrink is harmless).
    if (self->mask + 1 > IDMAP_MIN_SLOTS && self->size * 8 < self->mask + 1)
        s_resize (self, (self->mask + 1) / 2);
    return item;
}

size_t
sched_idmap_size (sched_idmap_t *self)
{
    return self->size;
}

void *
sched_idmap_next (sched_idmap_t *self, size_t *cursor)
{
    while (*cursor <= self->mask) {
        void *item = self->slots[(*cursor)++];
        if (item)
            return item;
    }
    return NULL;
}
