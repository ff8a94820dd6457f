/*  wrk_stash - records kept for the next job. See wrk_stash.h.          */
#include "wrk_stash.h"

#include <stdlib.h>
#include <string.h>

//  The messages held are items[pos..n); room before pos is reused by the
//  next unread.
struct _wrk_stash_t {
    rd_kafka_message_t **items;
    size_t n, pos, cap;
};

//  Create a stash for cap messages.
wrk_stash_t *
wrk_stash_new (size_t cap)
{
    wrk_stash_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->cap = cap;
    self->items = calloc (cap ? cap : 1, sizeof *self->items);
    if (!self->items)
        wrk_stash_destroy (&self);
    return self;
}

//  Destroy the stash (not the messages).
void
wrk_stash_destroy (wrk_stash_t **self_p)
{
    wrk_stash_t *self = *self_p;
    if (!self)
        return;
    free (self->items);
    free (self);
    *self_p = NULL;
}

//  Messages held.
size_t
wrk_stash_size (const wrk_stash_t *self)
{
    return self->n - self->pos;
}

//  Most messages it can hold.
size_t
wrk_stash_cap (const wrk_stash_t *self)
{
    return self->cap;
}

//  Hand out the oldest messages.
size_t
wrk_stash_take (wrk_stash_t *self, rd_kafka_message_t **out, size_t max)
{
    size_t k = 0;
    while (k < max && self->pos < self->n)
        out[k++] = self->items[self->pos++];
    return k;
}

//  Put messages back in front, in order, if they fit.
bool
wrk_stash_unread (wrk_stash_t *self, rd_kafka_message_t **msgs, size_t n)
{
    size_t rest = self->n - self->pos;
    if (n + rest > self->cap)
        return false;
    memmove (self->items + n, self->items + self->pos,
             rest * sizeof *self->items);
    memcpy (self->items, msgs, n * sizeof *msgs);
    self->pos = 0;
    self->n = n + rest;
    return true;
}

//  Drop everything held.
void
wrk_stash_clear (wrk_stash_t *self, wrk_stash_drop_fn *drop)
{
    for (size_t i = self->pos; i < self->n; i++)
        drop (self->items[i]);
    self->n = self->pos = 0;
}
