/*  sched_model - the scheduler's book. See sched_model.h.
 */
#include "sched_model.h"

#include <inttypes.h>
#include "sl_clock.h"
#include "sl_log.h"

//  Free a worker record (zhashx destructor).
static void
s_worker_free (void **item)
{
    sched_worker_t *worker = *item;
    if (!worker)
        return;
    zframe_destroy (&worker->rid);
    free (worker->key);
    free (worker->out);
    free (worker);
    *item = NULL;
}

//  Free a partition record (its jobs must already be gone).
static void
s_part_free (sched_part_t *part)
{
    if (!part)
        return;
    sched_window_destroy (&part->window);
    free (part->topic);
    free (part->dlq_topic);
    free (part->marks.end);
    free (part->marks.bound);
    free (part->fence.r);
    free (part);
}

//  Set up an empty book; see sched_model.h.
int
sched_model_init (sched_model_t *self, int64_t window, int64_t job_records,
                  const char *dlq_topic)
{
    memset (self, 0, sizeof *self);
    self->window = window;
    self->job_records = job_records;
    self->dlq_topic = dlq_topic;
    self->parts = zhashx_new ();
    self->jobs = sched_idmap_new (offsetof (sched_job_t, id));
    self->workers = zhashx_new ();
    self->list_gen = self->gen + 1; //  the lists are not read yet
    if (!self->parts || !self->jobs || !self->workers)
        return -1;
    zhashx_set_destructor (self->workers, s_worker_free);
    return 0;
}

//  Free everything; see sched_model.h.
void
sched_model_fini (sched_model_t *self)
{
    if (self->parts) {
        //  Every job is in its partition's list.
        for (sched_part_t *p = zhashx_first (self->parts); p;
             p = zhashx_next (self->parts)) {
            while (self->jobs && p->jobs_head)
                sched_model_job_forget (self, p->jobs_head);
            s_part_free (p);
        }
        zhashx_destroy (&self->parts);
    }
    sched_idmap_destroy (&self->jobs);
    zhashx_destroy (&self->workers);
    while (self->spare) {
        sched_job_t *next = self->spare->next;
        free (self->spare);
        self->spare = next;
    }
    self->nspare = 0;
    free (self->part_list);
    free (self->worker_list);
    self->part_list = NULL;
    self->worker_list = NULL;
}

//  Look up an owned partition.
sched_part_t *
sched_model_part_find (sched_model_t *self, const char *topic,
                       int32_t partition)
{
    char key[300];
    snprintf (key, sizeof key, "%s:%" PRId32, topic, partition);
    return zhashx_lookup (self->parts, key);
}

//  Start owning a partition; see sched_model.h.
sched_part_t *
sched_model_part_add (sched_model_t *self, const char *topic, int32_t partition,
                      int64_t committed, const sl_range_t *restored, size_t n)
{
    sched_part_t *part = calloc (1, sizeof *part);
    if (!part)
        return NULL;
    part->topic = strdup (topic);
    part->partition = partition;
    //  The DLQ topic for its records: --dlq-topic, or "<topic>.dlq".
    if (self->dlq_topic && *self->dlq_topic)
        part->dlq_topic = strdup (self->dlq_topic);
    else if (asprintf (&part->dlq_topic, "%s.dlq", topic) < 0)
        part->dlq_topic = NULL;
    snprintf (part->key, sizeof part->key, "%s:%" PRId32, topic, partition);
    part->window =
        sched_window_new (committed, (int)self->window, self->job_records);
    part->drain.target = -1;
    part->drain.start = committed;
    part->commit.acked = -1;
    part->commit.sent = -1;
    part->follow.last_dispatch_ms = sl_now_ms ();
    if (!part->topic || !part->dlq_topic || !part->window ||
        (self->key_order && sched_window_keys_on (part->window) != 0)) {
        s_part_free (part);
        return NULL;
    }
    if (n && sched_window_restore (part->window, restored, n) != 0)
        sl_warn ("ignoring restored ranges topic=%s partition=%d", topic,
                 partition);
    zhashx_insert (self->parts, part->key, part);
    self->gen++;
    return part;
}

//  Stop owning a partition; see sched_model.h.
void
sched_model_part_remove (sched_model_t *self, sched_part_t *part)
{
    while (part->jobs_head)
        sched_model_job_forget (self, part->jobs_head);
    for (sched_worker_t *w = zhashx_first (self->workers); w;
         w = zhashx_next (self->workers))
        for (uint32_t k = 0; k < w->nlanes; k++)
            if (w->lane[k].part == part)
                w->lane[k].part = NULL;
    zhashx_delete (self->parts, part->key);
    self->gen++;
    s_part_free (part);
}

//  Learn a high watermark; see sched_model.h.
void
sched_model_part_learn_hwm (sched_part_t *part, int64_t hwm)
{
    sched_window_set_hwm (part->window, hwm);
    if (!part->drain.hwm_known) {
        part->drain.target = hwm;
        part->drain.hwm_known = true;
    }
}

//  See sched_model.h.
bool
sched_model_part_tail (sched_model_t *self, const char *topic,
                       int32_t partition, int64_t hwm)
{
    sched_part_t *part = sched_model_part_find (self, topic, partition);
    if (!part || !part->drain.hwm_known ||
        hwm <= sched_window_hwm (part->window))
        return false;
    sched_window_set_hwm (part->window, hwm);
    return true;
}

//  Make a job; see sched_model.h.
sched_job_t *
sched_model_job_new (sched_model_t *self, sched_part_t *part, int64_t start,
                     int64_t end, uint32_t attempt)
{
    sched_job_t *job = self->spare;
    if (job) {
        self->spare = job->next;
        self->nspare--;
        memset (job, 0, sizeof *job);
    } else if (!(job = calloc (1, sizeof *job)))
        return NULL;
    job->id = ++self->next_job_id;
    job->part = part;
    job->start = start;
    job->end = end;
    job->attempt = attempt;
    if (sched_idmap_insert (self->jobs, job) != 0) {
        free (job);
        return NULL;
    }
    job->prev = part->jobs_tail;
    if (part->jobs_tail)
        part->jobs_tail->next = job;
    else
        part->jobs_head = job;
    part->jobs_tail = job;
    return job;
}

//  Look up a job by id.
sched_job_t *
sched_model_job_find (sched_model_t *self, uint64_t id)
{
    return sched_idmap_lookup (self->jobs, id);
}

//  Take a job back from its holder, if it has one.
static void
s_job_unhold (sched_model_t *self, sched_job_t *job)
{
    if (!job->worker)
        return;
    job->worker->in_flight--;
    job->part->in_flight--;
    self->in_flight--;
    job->worker = NULL;
    job->gated = false; //  a new holder reports its keys anew
}

//  Queue a job; see sched_model.h.
void
sched_model_job_enqueue (sched_model_t *self, sched_job_t *job,
                         int64_t not_before)
{
    if (job->worker && self->left)
        self->left (self->left_arg, job);
    job->settled = false;
    s_job_unhold (self, job);
    job->not_before = not_before;
    job->started = false;
    if (!job->queued) {
        job->queued = true;
        self->queued++;
    }
}

//  A queued job went to a worker; see sched_model.h.
void
sched_model_job_held (sched_model_t *self, sched_job_t *job,
                      sched_worker_t *worker, int64_t now, int64_t lease_ms)
{
    if (job->queued) {
        job->queued = false;
        self->queued--;
    }
    job->worker = worker;
    job->sent_ms = now;
    job->deadline_ms = now + lease_ms;
    worker->in_flight++;
    job->part->in_flight++;
    self->in_flight++;
}

//  Forget a job; see sched_model.h.
void
sched_model_job_forget (sched_model_t *self, sched_job_t *job)
{
    s_job_unhold (self, job);
    if (job->queued)
        self->queued--;
    sched_part_t *part = job->part;
    if (job->prev)
        job->prev->next = job->next;
    else
        part->jobs_head = job->next;
    if (job->next)
        job->next->prev = job->prev;
    else
        part->jobs_tail = job->prev;
    sched_idmap_remove (self->jobs, job->id);
    free (job->reason);
    if (self->nspare < SCHED_JOBS_SPARE) {
        job->next = self->spare;
        self->spare = job;
        self->nspare++;
    } else
        free (job);
}

//  See sched_model.h.
bool
sched_model_fencing (const sched_part_t *part, int64_t start, int64_t end)
{
    for (size_t i = 0; i < part->fence.n; i++)
        if (start >= part->fence.r[i].start && end <= part->fence.r[i].end)
            return true;
    return false;
}

//  Keep why a job failed; see sched_model.h.
void
sched_model_job_reason (sched_job_t *job, const char *reason)
{
    char *copy = strdup (reason);
    if (!copy)
        return;
    free (job->reason);
    job->reason = copy;
}

//  The jobs a worker holds; see sched_model.h.
zlistx_t *
sched_model_jobs_held_by (sched_model_t *self, const sched_worker_t *worker)
{
    zlistx_t *held = zlistx_new ();
    if (!held)
        return NULL;
    size_t cursor = 0;
    for (sched_job_t *job = sched_idmap_next (self->jobs, &cursor); job;
         job = sched_idmap_next (self->jobs, &cursor))
        if (job->worker == worker)
            zlistx_add_end (held, job);
    return held;
}

//  Look up a worker.
sched_worker_t *
sched_model_worker_find (sched_model_t *self, const char *key)
{
    return zhashx_lookup (self->workers, key);
}

//  Add a worker; see sched_model.h.
sched_worker_t *
sched_model_worker_add (sched_model_t *self, zframe_t *rid, const char *key)
{
    sched_worker_t *worker = calloc (1, sizeof *worker);
    if (!worker)
        return NULL;
    worker->rid = zframe_dup (rid);
    worker->key = strdup (key);
    worker->fd = -1;
    if (!worker->rid || !worker->key) {
        zframe_destroy (&worker->rid);
        free (worker->key);
        free (worker);
        return NULL;
    }
    zhashx_insert (self->workers, worker->key, worker);
    self->gen++;
    return worker;
}

//  Forget a worker; see sched_model.h.
void
sched_model_worker_remove (sched_model_t *self, sched_worker_t *worker)
{
    for (sched_part_t *part = zhashx_first (self->parts); part;
         part = zhashx_next (self->parts))
        if (part->follow.worker == worker)
            part->follow.worker = NULL;
    zhashx_delete (self->workers, worker->key);
    self->gen++;
}

//  Copy a hash's items, in its order, into *list (grown as needed).
static size_t
s_list (zhashx_t *hash, void ***list, size_t *cap)
{
    size_t n = zhashx_size (hash);
    if (n > *cap) {
        void **more = realloc (*list, n * sizeof *more);
        if (!more)
            return 0; //  out of memory: this pass sees none
        *list = more;
        *cap = n;
    }
    size_t k = 0;
    for (void *item = zhashx_first (hash); item && k < n;
         item = zhashx_next (hash))
        (*list)[k++] = item;
    return k;
}

//  Read both lists again if a partition or a worker came or went.
static void
s_lists (sched_model_t *self)
{
    if (self->list_gen == self->gen)
        return;
    self->nparts =
        s_list (self->parts, (void ***)&self->part_list, &self->parts_cap);
    self->nworkers = s_list (self->workers, (void ***)&self->worker_list,
                             &self->workers_cap);
    self->list_gen = self->gen;
}

//  See sched_model.h.
sched_part_t **
sched_model_parts (sched_model_t *self, size_t *n)
{
    s_lists (self);
    *n = self->nparts;
    return self->part_list;
}

//  See sched_model.h.
sched_worker_t **
sched_model_workers (sched_model_t *self, size_t *n)
{
    s_lists (self);
    *n = self->nworkers;
    return self->worker_list;
}

//  ---------------------------------------------------------------------
//  Completion markers' bounds (sched_marks)

//  Remember a range sent or restored; see sched_model.h.
bool
sched_model_marks_add (sched_part_t *part, int64_t end, int64_t bound)
{
    if (!part->marks.topic || bound < 0)
        return true;
    if (part->marks.n == part->marks.cap) {
        //  Grow the ring, unrolled into the new arrays from head.
        size_t cap = part->marks.cap ? part->marks.cap * 2 : 64;
        int64_t *e = malloc (cap * sizeof *e), *b = malloc (cap * sizeof *b);
        if (!e || !b) {
            free (e);
            free (b);
            part->marks.n = 0; //  what is left would say too late a bound
            return false;
        }
        for (size_t i = 0; i < part->marks.n; i++) {
            size_t at = (part->marks.head + i) % part->marks.cap;
            e[i] = part->marks.end[at];
            b[i] = part->marks.bound[at];
        }
        free (part->marks.end);
        free (part->marks.bound);
        part->marks.end = e;
        part->marks.bound = b;
        part->marks.head = 0;
        part->marks.cap = cap;
    }
    size_t at = (part->marks.head + part->marks.n) % part->marks.cap;
    part->marks.end[at] = end;
    part->marks.bound[at] = bound;
    part->marks.n++;
    return true;
}

//  Where the markers above committed begin; see sched_model.h. Bounds
//  only grow from one range sent to the next, so the oldest range still
//  above committed has the lowest; older ones below it are dropped. A
//  range below committed behind the head stays until it is the head: its
//  bound is no lower than the head's, so the answer stays right.
int64_t
sched_model_marks_from (sched_part_t *part, int64_t committed)
{
    while (part->marks.n && part->marks.end[part->marks.head] <= committed) {
        part->marks.head = (part->marks.head + 1) % part->marks.cap;
        part->marks.n--;
    }
    return part->marks.n ? part->marks.bound[part->marks.head] : -1;
}
