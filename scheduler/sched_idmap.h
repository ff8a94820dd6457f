/*  sched_idmap - a table of objects keyed by a 64-bit id stored in them.

    The scheduler holds up to tens of thousands of jobs in flight and looks
    one up by id for every DONE, PROGRESS and RETURN. A general hash
    (zhashx) costs an allocated item and a printed key per entry, about
    as much again as the job itself; this table costs one pointer slot per
    entry at most twice over (open addressing, linear probing, load kept
    between 1/8 and 1/2) and no allocation per insert.

    The id lives in the object: the table is given the offset of a
    uint64_t field, and never owns the objects. Ids must be unique among
    the entries. Iteration is by slot index; the table must not be changed
    while iterating (collect, then act).
*/
#ifndef SCHED_IDMAP_H_INCLUDED
#define SCHED_IDMAP_H_INCLUDED

#include <stddef.h>
#include <stdint.h>

typedef struct _sched_idmap_t sched_idmap_t;

/*  Create an empty table for objects whose id is the uint64_t at byte
    `id_offset`. Returns NULL when out of memory.                         */
sched_idmap_t *sched_idmap_new (size_t id_offset);

/*  Destroy the table (not the objects) and null the pointer.             */
void sched_idmap_destroy (sched_idmap_t **self_p);

/*  Add an object. Returns 0, or -1 when out of memory (table unchanged). */
int sched_idmap_insert (sched_idmap_t *self, void *item);

/*  The object with this id, or NULL.                                     */
void *sched_idmap_lookup (sched_idmap_t *self, uint64_t id);

/*  Remove the object with this id. Returns it, or NULL if absent.        */
void *sched_idmap_remove (sched_idmap_t *self, uint64_t id);

/*  Number of objects held.                                               */
size_t sched_idmap_size (sched_idmap_t *self);

/*  Iterate: `*cursor` starts at 0; returns the next object, or NULL at
    the end.                                                              */
void *sched_idmap_next (sched_idmap_t *self, size_t *cursor);

#endif
