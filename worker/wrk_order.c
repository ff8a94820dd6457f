/*  wrk_order - the worker's keyed jobs. See wrk_order.h.
 */
#include "wrk_order.h"

#include <czmq.h>
#include <inttypes.h>

typedef struct {
    int sched;
    size_t lane;
    bool credit_back;
} entry_t;

struct _wrk_order_t {
    zhashx_t *jobs; /* "sched:id" -> entry_t *                          */
};

static void
s_key (char *key, size_t len, int sched, uint64_t id)
{
    snprintf (key, len, "%d:%" PRIu64, sched, id);
}

static void
s_entry_free (void **item)
{
    free (*item);
    *item = NULL;
}

wrk_order_t *
wrk_order_new (void)
{
    wrk_order_t *self = calloc (1, sizeof *self);
    if (self && !(self->jobs = zhashx_new ()))
        free (self), self = NULL;
    if (self)
        zhashx_set_destructor (self->jobs, s_entry_free);
    return self;
}

void
wrk_order_destroy (wrk_order_t **self_p)
{
    wrk_order_t *self = *self_p;
    if (!self)
        return;
    zhashx_destroy (&self->jobs);
    free (self);
    *self_p = NULL;
}

int
wrk_order_keys (wrk_order_t *self, int sched, uint64_t id, size_t lane)
{
    char key[48];
    s_key (key, sizeof key, sched, id);
    entry_t *e = zhashx_lookup (self->jobs, key);
    if (e) { //  reported again (it cannot be, but keep the newest lane)
        e->lane = lane;
        return 0;
    }
    if (!(e = calloc (1, sizeof *e)))
        return -1;
    *e = (entry_t){.sched = sched, .lane = lane};
    if (zhashx_insert (self->jobs, key, e) != 0) {
        free (e);
        return -1;
    }
    return 0;
}

bool
wrk_order_lane (wrk_order_t *self, int sched, uint64_t id, size_t *lane)
{
    char key[48];
    s_key (key, sizeof key, sched, id);
    entry_t *e = zhashx_lookup (self->jobs, key);
    if (e)
        *lane = e->lane;
    return e != NULL;
}

bool
wrk_order_credit_back (wrk_order_t *self, int sched, uint64_t id)
{
    char key[48];
    s_key (key, sizeof key, sched, id);
    entry_t *e = zhashx_lookup (self->jobs, key);
    if (!e || e->credit_back)
        return false;
    e->credit_back = true;
    return true;
}

bool
wrk_order_end (wrk_order_t *self, int sched, uint64_t id)
{
    char key[48];
    s_key (key, sizeof key, sched, id);
    entry_t *e = zhashx_lookup (self->jobs, key);
    bool back = e && e->credit_back;
    if (e)
        zhashx_delete (self->jobs, key);
    return back;
}

void
wrk_order_forget (wrk_order_t *self, int sched)
{
    zlistx_t *keys = zhashx_keys (self->jobs);
    if (!keys)
        return;
    for (const char *k = zlistx_first (keys); k; k = zlistx_next (keys)) {
        entry_t *e = zhashx_lookup (self->jobs, k);
        if (e && e->sched == sched)
            zhashx_delete (self->jobs, k);
    }
    zlistx_destroy (&keys);
}

size_t
wrk_order_size (wrk_order_t *self)
{
    return zhashx_size (self->jobs);
}
