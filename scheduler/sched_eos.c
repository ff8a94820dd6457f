/*  sched_eos - the scheduler's part of --exactly-once. See sched_eos.h.
 */
#include "sched_eos.h"

#include <inttypes.h>
#include "sl_clock.h"
#include "sl_kafka.h"
#include "sl_log.h"

/*  A fence or read that failed is asked again this much later.          */
#define EOS_RETRY_MS 2000
/*  A roster is written again this often while workers are there, so the
    marker position the metadata names (never after the last roster)
    stays recent and a takeover reads little.                             */
#define EOS_ROSTER_MS 60000

typedef struct {
    char topic[256]; /* the partition's                                 */
    int32_t partition;
    int64_t start, end;
    char **ids;
    size_t n;
    int32_t sp;
    int64_t from;
    int64_t retry_ms; /* 0: asked, the answer is awaited                 */
} s_hold_t;

static void
s_hold_free (void **item)
{
    s_hold_t *h = *item;
    if (!h)
        return;
    for (size_t i = 0; i < h->n; i++)
        free (h->ids[i]);
    free (h->ids);
    free (h);
    *item = NULL;
}

static void s_left (void *arg, sched_job_t *job);

//  See sched_eos.h.
int
sched_eos_init (sched_eos_t *self, const sched_config_t *cfg,
                sched_model_t *model, sched_marks_t *marks, char *err,
                size_t errlen)
{
    memset (self, 0, sizeof *self);
    self->model = model;
    self->marks = marks;
    if (!cfg->exactly_once)
        return 0;
    static const char *const pdefs[] = {"client.id=sluice-scheduler-fence",
                                        "enable.idempotence=true", NULL};
    static const char *const rdefs[] = {
        "client.id=sluice-scheduler-fence", "enable.partition.eof=true",
        "isolation.level=read_committed",   "enable.auto.commit=false",
        "statistics.interval.ms=0",         NULL};
    char group[300];
    snprintf (group, sizeof group, "%s.fence", cfg->group);
    rd_kafka_conf_t *pconf =
        sl_kafka_producer_conf (cfg->brokers, pdefs, &cfg->props, err, errlen);
    rd_kafka_conf_t *rconf =
        sl_kafka_conf_new (cfg->brokers, rdefs, &cfg->props, err, errlen);
    char rderr[256];
    if (rconf &&
        sl_kafka_conf_set (rconf, "group.id", group, rderr, sizeof rderr) != 0)
        snprintf (err, errlen, "%s", rderr);
    else if (pconf && rconf)
        self->fence =
            sched_fence_new (pconf, rconf, cfg->state_topic, cfg->group);
    if (pconf && rconf && marks)
        sched_marks_eos (marks, pconf);
    if (pconf)
        rd_kafka_conf_destroy (pconf);
    if (rconf)
        rd_kafka_conf_destroy (rconf);
    self->holds = zhashx_new ();
    if (!self->fence || !self->holds) {
        if (!*err)
            snprintf (err, errlen, "--exactly-once: cannot start fencing");
        sched_eos_fini (self);
        return -1;
    }
    zhashx_set_destructor (self->holds, s_hold_free);
    model->left = s_left;
    model->left_arg = self;
    return 0;
}

//  See sched_eos.h.
void
sched_eos_fini (sched_eos_t *self)
{
    sched_fence_destroy (&self->fence);
    zhashx_destroy (&self->holds);
    if (self->model && self->model->left_arg == self) {
        self->model->left = NULL;
        self->model->left_arg = NULL;
    }
}

//  See sched_eos.h.
zsock_t *
sched_eos_sock (sched_eos_t *self)
{
    return self->fence ? sched_fence_sock (self->fence) : NULL;
}

//  Ask the actor for a hold's fence and read.
static void
s_ask (sched_eos_t *self, const char *token, s_hold_t *h)
{
    h->retry_ms = 0;
    sched_fence_ask (self->fence, strtoull (token, NULL, 16), h->ids, h->n,
                     h->sp, h->from, h->topic, h->partition, h->start, h->end);
}

//  Worker w's lanes' transactional ids appended to ids (room for its
//  lanes), n counting them.
static void
s_lane_ids (const sched_worker_t *w, char **ids, size_t *n)
{
    for (uint32_t k = 0; *w->txn_id && k < (w->nlanes ? w->nlanes : 1); k++) {
        char id[256];
        snprintf (id, sizeof id, "%s-%u", w->txn_id, k);
        if ((ids[*n] = strdup (id)))
            (*n)++;
    }
}

//  A job leaves its holder without a DONE (sched_model's left hook):
//  hold its range until the holder is fenced (unless it settled the job
//  itself) and the state partition read.
static void
s_left (void *arg, sched_job_t *job)
{
    sched_eos_t *self = arg;
    sched_part_t *part = job->part;
    const sched_worker_t *holder = job->worker;
    s_hold_t *h = calloc (1, sizeof *h);
    if (!h)
        return;
    snprintf (h->topic, sizeof h->topic, "%s", part->topic);
    h->partition = part->partition;
    h->start = job->start;
    h->end = job->end;
    h->sp = part->marks.topic ? part->marks.partition : -1;
    h->from =
        sched_model_marks_from (part, sched_window_committed (part->window));
    if (h->from < 0)
        h->from = 0;
    uint32_t lanes = holder->nlanes ? holder->nlanes : 1;
    if (!job->settled && *holder->txn_id &&
        (h->ids = calloc (lanes, sizeof *h->ids)))
        s_lane_ids (holder, h->ids, &h->n);
    if (part->fence.n == part->fence.cap) {
        size_t cap = part->fence.cap ? part->fence.cap * 2 : 8;
        sl_range_t *r = realloc (part->fence.r, cap * sizeof *r);
        if (!r) {
            s_hold_free ((void **)&h);
            return;
        }
        part->fence.r = r;
        part->fence.cap = cap;
    }
    part->fence.r[part->fence.n++] = (sl_range_t){h->start, h->end};
    char token[32];
    snprintf (token, sizeof token, "%" PRIx64, ++self->next_token);
    zhashx_insert (self->holds, token, h);
    sl_info ("range held until its holder is fenced topic=%s partition=%d "
             "start=%" PRId64 " end=%" PRId64 " worker=%s fence=%s",
             part->topic, part->partition, h->start, h->end, holder->name,
             h->n ? "yes" : "no (settled)");
    if (h->sp < 0)
        h->retry_ms = sl_now_ms () + EOS_RETRY_MS; //  no state topic yet
    else
        s_ask (self, token, h);
}

//  Write a roster naming every worker's ids.
static void
s_roster (sched_eos_t *self, int64_t now)
{
    int32_t nparts = sched_marks_nparts (self->marks);
    if (nparts <= 0)
        return; //  the state topic is not usable yet: tried at the tick
    size_t nw, n = 0;
    sched_worker_t **w = sched_model_workers (self->model, &nw);
    //  And the ids of holders whose held ranges are not fenced yet: a
    //  takeover must fence them though they left.
    size_t cap = 0;
    for (size_t i = 0; i < nw; i++)
        cap += w[i]->nlanes ? w[i]->nlanes : 1;
    for (s_hold_t *h = zhashx_first (self->holds); h;
         h = zhashx_next (self->holds))
        cap += h->n;
    char **ids = calloc (cap ? cap : 1, sizeof *ids);
    for (size_t i = 0; ids && i < nw; i++)
        s_lane_ids (w[i], ids, &n);
    for (s_hold_t *h = zhashx_first (self->holds); ids && h;
         h = zhashx_next (self->holds))
        for (size_t k = 0; k < h->n; k++)
            if ((ids[n] = strdup (h->ids[k])))
                n++;
    if (ids) {
        self->roster_asked = self->roster_gen;
        self->roster_ms = now;
        sched_fence_roster (self->fence, self->roster_gen, ids, n, nparts);
    }
    for (size_t i = 0; i < n; i++)
        free (ids[i]);
    free (ids);
}

//  See sched_eos.h.
const char *
sched_eos_hello (sched_eos_t *self, sched_worker_t *worker, const char *txn_id)
{
    if (!self || !self->fence)
        return NULL;
    if (!txn_id || !*txn_id)
        return "this scheduler runs --exactly-once: start the worker with "
               "--exactly-once";
    size_t nw;
    sched_worker_t **w = sched_model_workers (self->model, &nw);
    for (size_t i = 0; i < nw; i++)
        if (w[i] != worker && streq (w[i]->txn_id, txn_id))
            return "another connected worker has this --transactional-id: "
                   "give each worker its own";
    snprintf (worker->txn_id, sizeof worker->txn_id, "%s", txn_id);
    worker->roster_gen = ++self->roster_gen;
    if (!self->roster_asked)
        s_roster (self, sl_now_ms ());
    return NULL;
}

//  Forget one held range of part equal to [start, end).
static void
s_unfence (sched_part_t *part, int64_t start, int64_t end)
{
    for (size_t i = 0; i < part->fence.n; i++)
        if (part->fence.r[i].start == start && part->fence.r[i].end == end) {
            part->fence.r[i] = part->fence.r[--part->fence.n];
            return;
        }
}

//  See sched_eos.h.
void
sched_eos_recv (sched_eos_t *self, sched_eos_done_fn *done, void *arg)
{
    sched_fence_answer_t *a = NULL;
    if (sched_fence_recv (self->fence, &a) != 0)
        return;
    int64_t now = sl_now_ms ();
    if (a->roster) {
        self->roster_asked = 0;
        if (a->ok) {
            if (a->token > self->model->roster_acked)
                self->model->roster_acked = a->token;
            sched_marks_roster_set (self->marks, a->offsets, a->nparts);
        } else
            sl_warn ("--exactly-once: roster not written, new workers wait "
                     "for it (tried again)");
        if (a->ok && self->roster_gen > self->model->roster_acked)
            s_roster (self, now); //  workers joined meanwhile
        sched_fence_answer_free (&a);
        return;
    }
    char token[32];
    snprintf (token, sizeof token, "%" PRIx64, a->token);
    s_hold_t *h = zhashx_lookup (self->holds, token);
    sched_part_t *part =
        h ? sched_model_part_find (self->model, h->topic, h->partition) : NULL;
    if (h && part && !a->ok) {
        h->retry_ms = now + EOS_RETRY_MS; //  said by the actor
    } else if (h) {
        if (part) {
            s_unfence (part, h->start, h->end);
            self->fences++;
            if (a->nfound)
                self->found++;
            sl_info ("range fenced topic=%s partition=%d start=%" PRId64
                     " end=%" PRId64 " markers=%zu (%s)",
                     part->topic, part->partition, h->start, h->end, a->nfound,
                     a->nfound ? "committed: not run again" : "runs again");
            for (size_t i = 0; i < a->nfound; i++)
                done (arg, part, a->found[i].start, a->found[i].end);
        }
        zhashx_delete (self->holds, token);
    }
    sched_fence_answer_free (&a);
}

//  See sched_eos.h.
void
sched_eos_tick (sched_eos_t *self, int64_t now)
{
    if (!self->fence)
        return;
    for (s_hold_t *h = zhashx_first (self->holds); h;
         h = zhashx_next (self->holds))
        if (h->retry_ms && now >= h->retry_ms) {
            if (h->sp < 0) {
                //  The state topic was not usable when it was held.
                int32_t nparts = sched_marks_nparts (self->marks);
                if (nparts > 0)
                    h->sp = h->partition % nparts;
            }
            if (h->sp >= 0)
                s_ask (self, zhashx_cursor (self->holds), h);
            else
                h->retry_ms = now + EOS_RETRY_MS;
        }
    size_t nw;
    sched_model_workers (self->model, &nw);
    if (!self->roster_asked &&
        ((self->roster_gen > self->model->roster_acked &&
          now - self->roster_ms >= EOS_RETRY_MS) ||
         (nw && now - self->roster_ms >= EOS_ROSTER_MS))) {
        if (self->roster_gen == self->model->roster_acked)
            self->roster_gen++;
        s_roster (self, now);
    }
}
