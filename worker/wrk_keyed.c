/*  wrk_keyed - a lane's keyed jobs. See wrk_keyed.h.
 */
#include "wrk_keyed.h"

#include <inttypes.h>
#include "sl_clock.h"
#include "sl_log.h"
#include "sl_proto.h"
#include "wrk_crash.h"
#include "wrk_keys.h"

/*  Most records of a keyed job per plugin call: between calls its part
    may give way to an earlier job's (s_run_ready).                      */
#define KEYED_SLICE 8

typedef struct {
    exec_job_t *ej;
    rd_kafka_message_t **msgs; /* the whole range, in offset order         */
    size_t n, cap;
    wrk_keys_job_t keys;
    size_t *ready; /* indices that may run and have not yet (room n)      */
    size_t nready;
    wrk_tally_t tally; /* over the job's parts                            */
    int64_t t0;        /* when it began (ms)                               */
    int64_t progress_ms;
} keyed_t;

//  Free a keyed job, and its job unless the caller frees that.
static void
s_free (keyed_t *kj, bool with_job)
{
    for (size_t i = 0; i < kj->n; i++)
        rd_kafka_message_destroy (kj->msgs[i]);
    free (kj->msgs);
    free (kj->ready);
    wrk_keys_job_fini (&kj->keys);
    if (with_job)
        wrk_exec_job_free (kj->ej);
    free (kj);
}

//  Take kj out of the parked list and free it with its job.
static void
s_forget (wrk_exec_t *self, keyed_t *kj)
{
    void *handle = zlistx_find (self->parked, kj);
    if (handle)
        zlistx_delete (self->parked, handle);
    s_free (kj, true);
}

//  True once the job must stop: cancelled, or the stop deadline passed.
static bool
s_give_up (wrk_exec_t *self, exec_job_t *ej)
{
    return ej->cancelled ||
           (self->stopping && sl_now_ms () >= self->stop_deadline);
}

//  Read the whole range into kj. 0, 1 abandoned, -1 failed.
static int
s_read (wrk_exec_t *self, keyed_t *kj)
{
    const Sluice__Job *job = kj->ej->job;
    //  As an unkeyed job reads: at most --batch-size a call, no more than
    //  the range holds. What a call takes past the range goes back to the
    //  reader's stash for the next job, which holds twice --batch-size: a
    //  bigger step would overflow it, and every next job would seek.
    size_t step = (size_t)self->cfg->batch_size;
    if (job->end - job->start < (int64_t)step)
        step = (size_t)(job->end - job->start);
    if (step < 1)
        step = 1;
    bool done = false;
    while (!done) {
        if (kj->cap - kj->n < step) {
            size_t cap = kj->cap ? 2 * kj->cap : 2 * step;
            if (cap < kj->n + step)
                cap = kj->n + step;
            rd_kafka_message_t **more = realloc (kj->msgs, cap * sizeof *more);
            if (!more) {
                snprintf (kj->tally.error, sizeof kj->tally.error,
                          "out of memory reading a keyed job");
                return -1;
            }
            kj->msgs = more;
            kj->cap = cap;
        }
        int64_t t0 = sl_now_ns ();
        ssize_t got = wrk_reader_fetch (self->reader, job, kj->msgs + kj->n,
                                        step, &kj->tally.lost, &done);
        kj->tally.fetch_ns += sl_now_ns () - t0;
        if (got < 0)
            return -1;
        kj->n += (size_t)got;
        wrk_exec_chores (self, kj->ej, got);
        if (!done && s_give_up (self, kj->ej))
            return 1;
    }
    return 0;
}

//  KEYS for kj's job to the main thread: its key set, or (done) the keys
//  it holds no more. 0, or -1 if the frame could not be made.
static int
s_send_keys (wrk_exec_t *self, keyed_t *kj, uint64_t *hashes, size_t n,
             bool done)
{
    const Sluice__Job *job = kj->ej->job;
    Sluice__Keys msg = SLUICE__KEYS__INIT;
    msg.job_id = job->job_id;
    msg.topic = job->topic;
    msg.partition = job->partition;
    msg.start = job->start;
    msg.end = job->end;
    msg.hashes = hashes;
    msg.n_hashes = n;
    msg.done = done;
    zframe_t *frame = zframe_new (NULL, sluice__keys__get_packed_size (&msg));
    if (!frame)
        return -1;
    sluice__keys__pack (&msg, zframe_data (frame));
    wrk_msg_send (self->pipe, WRK_MSG_KEYS, kj->ej->sched, 0, frame, NULL);
    zframe_destroy (&frame);
    return 0;
}

//  Hash the keys and send KEYS. 0, or -1 when out of memory.
static int
s_report (wrk_exec_t *self, keyed_t *kj)
{
    size_t n = kj->n;
    const void **keys = calloc (n ? n : 1, sizeof *keys);
    size_t *lens = calloc (n ? n : 1, sizeof *lens);
    uint64_t *set = calloc (n ? n : 1, sizeof *set);
    kj->ready = calloc (n ? n : 1, sizeof *kj->ready);
    int rc = -1;
    if (keys && lens && set && kj->ready) {
        for (size_t i = 0; i < n; i++) {
            keys[i] = kj->msgs[i]->key;
            lens[i] = kj->msgs[i]->key_len;
        }
        rc = wrk_keys_job_init (&kj->keys, keys, lens, n);
    }
    if (rc == 0)
        rc = s_send_keys (self, kj, set, wrk_keys_job_set (&kj->keys, set),
                          false);
    if (rc != 0)
        snprintf (kj->tally.error, sizeof kj->tally.error,
                  "out of memory hashing a keyed job's keys");
    free (keys);
    free (lens);
    free (set);
    return rc;
}

//  A keyed job's read begins: its lease runs from now (PROGRESS; BEGIN
//  comes with each part, when the plugin runs). Returns the time (ms).
static int64_t
s_read_begin (wrk_exec_t *self, exec_job_t *ej)
{
    const Sluice__Job *job = ej->job;
    wrk_exec_reply (self, WRK_MSG_PROGRESS, ej->sched, job->job_id);
    sl_info ("job begin job=%" PRIu64 " topic=%s partition=%d start=%" PRId64
             " end=%" PRId64 " attempt=%u mode=keyed",
             job->job_id, job->topic, job->partition, job->start, job->end,
             job->attempt);
    return sl_now_ms ();
}

//  A keyed job given up while it was read (cancelled, or the stop
//  deadline passed): nothing of it was run or produced.
static void
s_read_abandon (wrk_exec_t *self, exec_job_t *ej)
{
    wrk_reader_forget (self->reader);
    wrk_exec_reply (self, ej->cancelled ? WRK_MSG_DROPPED : WRK_MSG_RETURNED,
                    ej->sched, ej->job->job_id);
    sl_info ("job abandoned job=%" PRIu64 " reason=%s", ej->job->job_id,
             ej->cancelled ? "cancelled" : "stopping");
}

//  See wrk_keyed.h.
void
wrk_keyed_run (wrk_exec_t *self, exec_job_t *ej)
{
    const Sluice__Job *job = ej->job;
    keyed_t *kj = calloc (1, sizeof *kj);
    if (!kj) {
        s_read_abandon (self, ej); //  given back, not charged
        return;
    }
    kj->ej = ej;
    kj->t0 = s_read_begin (self, ej);
    kj->progress_ms = kj->t0;
    int rc = wrk_reader_position (self->reader, job->topic, job->partition,
                                  job->start, kj->tally.error,
                                  sizeof kj->tally.error);
    if (rc == 0)
        rc = s_read (self, kj);
    if (rc == 0)
        rc = s_report (self, kj);
    if (rc == 0 && self->stopping)
        rc = 1; //  read as the worker stops: given back, not parked
    if (rc == 0 && zlistx_add_end (self->parked, kj)) {
        ej->parked = true;
        sl_debug ("job read job=%" PRIu64 " records=%zu ms=%" PRId64,
                  job->job_id, kj->n, sl_now_ms () - kj->t0);
    } else {
        if (rc == 1)
            s_read_abandon (self, ej);
        else
            wrk_exec_job_end (self, ej, &kj->tally, -1, kj->t0);
        s_free (kj, false);
    }
}

//  See wrk_keyed.h.
void
wrk_keyed_read_queued (wrk_exec_t *self)
{
    if (self->reading || !self->current || !self->current->parked)
        return;
    exec_job_t *ej;
    while (!self->stopping && (ej = zlistx_first (self->fifo)) &&
           ej->job->keyed &&
           ej->job->mode != SLUICE__JOB_MODE__JOB_MODE_DEAD_LETTER) {
        zlistx_delete (self->fifo, zlistx_cursor (self->fifo));
        if (ej->cancelled)
            wrk_exec_reply (self, WRK_MSG_DROPPED, ej->sched, ej->job->job_id);
        else {
            self->reading = ej;
            wrk_keyed_run (self, ej);
            self->reading = NULL;
        }
        if (!ej->parked)
            wrk_exec_job_free (ej);
    }
}

//  The parked job id of scheduler sched, or NULL.
static keyed_t *
s_find (wrk_exec_t *self, int sched, uint64_t id)
{
    for (keyed_t *kj = zlistx_first (self->parked); kj;
         kj = zlistx_next (self->parked))
        if (kj->ej->sched == sched && kj->ej->job->job_id == id)
            return kj;
    return NULL;
}

//  See wrk_keyed.h.
void
wrk_keyed_gate (wrk_exec_t *self, int sched, zframe_t *payload)
{
    Sluice__Gate *g = payload
                          ? sluice__gate__unpack (NULL, zframe_size (payload),
                                                  zframe_data (payload))
                          : NULL;
    keyed_t *kj = g ? s_find (self, sched, g->job_id) : NULL;
    if (kj)
        kj->nready += wrk_keys_job_gate (&kj->keys, g->all, g->blocked,
                                         g->n_blocked, kj->ready + kj->nready);
    if (g)
        sluice__gate__free_unpacked (g, NULL);
}

//  See wrk_keyed.h.
void
wrk_keyed_release (wrk_exec_t *self, int sched, zframe_t *payload)
{
    Sluice__Release *r =
        payload ? sluice__release__unpack (NULL, zframe_size (payload),
                                           zframe_data (payload))
                : NULL;
    keyed_t *kj = r ? s_find (self, sched, r->job_id) : NULL;
    if (kj)
        kj->nready += wrk_keys_job_release (&kj->keys, r->hashes, r->n_hashes,
                                            kj->ready + kj->nready);
    if (r)
        sluice__release__free_unpacked (r, NULL);
}

//  True if a job parked before kj (read earlier: an earlier range of
//  its partition, usually) has ready records.
static bool
s_earlier_ready (wrk_exec_t *self, keyed_t *kj)
{
    for (keyed_t *o = zlistx_first (self->parked); o && o != kj;
         o = zlistx_next (self->parked))
        if (o->nready)
            return true;
    return false;
}

//  Run kj's ready records, in offset order, at most KEYED_SLICE a call.
//  Between calls the part gives way to an earlier job's ready records:
//  those are usually what later jobs of their keys wait for, across the
//  fleet, and a long part would hold them back. *ran says how many ran.
//  0, 1 abandoned, -1 failed.
static int
s_run_ready (wrk_exec_t *self, keyed_t *kj, size_t *ran)
{
    const Sluice__Job *job = kj->ej->job;
    size_t per_call = (size_t)self->cfg->batch_size;
    if (job->records_per_call && job->records_per_call < per_call)
        per_call = job->records_per_call;
    if (per_call > KEYED_SLICE)
        per_call = KEYED_SLICE;
    size_t i = 0;
    int rc = 0;
    while (rc == 0 && i < kj->nready) {
        size_t m = kj->nready - i < per_call ? kj->nready - i : per_call;
        for (size_t j = 0; j < m; j++)
            self->msgs[j] = kj->msgs[kj->ready[i + j]];
        if (wrk_exec_run_plugin (self, job, m) != 0) {
            rc = -1;
            break;
        }
        i += m;
        wrk_exec_chores (self, kj->ej, (ssize_t)m);
        if (s_give_up (self, kj->ej))
            rc = 1;
        else if (i < kj->nready && s_earlier_ready (self, kj))
            break;
    }
    *ran = i;
    return rc;
}

//  Order hashes ascending, for qsort.
static int
s_hash_cmp (const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

//  The distinct keyed hashes of records idx[0..n), sorted, into out
//  (room n). Returns how many.
static size_t
s_hashes (const keyed_t *kj, const size_t *idx, size_t n, uint64_t *out)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (kj->keys.keyed[idx[i]])
            out[k++] = kj->keys.hash[idx[i]];
    qsort (out, k, sizeof *out, s_hash_cmp);
    size_t m = 0;
    for (size_t i = 0; i < k; i++)
        if (!m || out[i] != out[m - 1])
            out[m++] = out[i];
    return m;
}

//  A part that did not end its job ran the records idx[0..ran), and their
//  outputs are acknowledged. Every record of a key is freed at once, so
//  unless some of a key's records are still ready (the part gave way
//  before them), all of that key's records in the job ran: the job holds
//  it no more. Tell the scheduler (KEYS done), which frees those keys for
//  later jobs now rather than when the whole job is done.
static void
s_keys_done (wrk_exec_t *self, keyed_t *kj, const size_t *idx, size_t ran)
{
    uint64_t *set = malloc ((ran + kj->nready + 1) * sizeof *set);
    if (!set)
        return; //  they are freed with the job's DONE anyway
    size_t n = s_hashes (kj, idx, ran, set);
    uint64_t *left = set + n;
    size_t nleft = s_hashes (kj, kj->ready, kj->nready, left);
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (!bsearch (&set[i], left, nleft, sizeof *left, s_hash_cmp))
            set[m++] = set[i];
    if (m)
        s_send_keys (self, kj, set, m, true);
    free (set);
}

//  See wrk_keyed.h.
bool
wrk_keyed_step (wrk_exec_t *self)
{
    keyed_t *kj = zlistx_first (self->parked);
    while (kj && !kj->nready)
        kj = zlistx_next (self->parked);
    if (!kj)
        return false;
    exec_job_t *ej = kj->ej;
    const Sluice__Job *job = ej->job;
    self->current = ej;
    self->tally = &kj->tally;
    self->dlq_topic = job->dlq_topic;
    //  BEGIN again: the lease runs from now, and the worker knows which
    //  job this lane runs (a cancel of it must end it within the grace).
    wrk_exec_reply (self, WRK_MSG_BEGIN, ej->sched, job->job_id);
    kj->progress_ms = sl_now_ms ();
    wrk_crash_job_begin (ej->sched, job->job_id, job->topic, job->partition);
    wrk_output_job_begin (self->output);
    sluice_job_t info = {job->topic, job->partition, job->start,
                         job->end,   job->attempt,   job->job_id};
    wrk_tally_t *t = &kj->tally;
    int rc =
        wrk_plugin_job_begin (self->plugin, &info, t->error, sizeof t->error);
    size_t ran = 0;
    if (rc == 0)
        rc = s_run_ready (self, kj, &ran);
    sl_debug ("job part job=%" PRIu64 " records=%zu left=%zu", job->job_id, ran,
              kj->keys.left);
    if (rc == 0)
        rc =
            wrk_plugin_job_end (self->plugin, &info, t->error, sizeof t->error);
    //  What did not run waits for the next part, in order.
    size_t *idx = malloc ((ran ? ran : 1) * sizeof *idx);
    if (idx && ran)
        memcpy (idx, kj->ready, ran * sizeof *idx);
    memmove (kj->ready, kj->ready + ran,
             (kj->nready - ran) * sizeof *kj->ready);
    kj->nready -= ran;
    bool last = wrk_keys_job_done (&kj->keys) && !kj->nready;
    if (rc == 0 && !last) {
        //  Its outputs are acknowledged before the job waits again, so a
        //  delivery that fails is this job's, and fails it.
        int64_t f0 = sl_now_ns ();
        rc = wrk_output_flush (self->output, t->error, sizeof t->error);
        t->flush_ns += sl_now_ns () - f0;
        if (rc == 0 && idx)
            s_keys_done (self, kj, idx, ran);
        if (rc == 0 && self->stopping)
            rc = 1; //  the worker stops: what ran is kept, the rest goes back
    } else if (rc == 0)
        rc = wrk_exec_job_flush (self, ej, t);
    if (rc == 1)
        wrk_exec_job_abandon (self, ej);
    else if (rc != 0 || last)
        wrk_exec_job_end (self, ej, t, rc, kj->t0);
    if (rc != 0 || last)
        s_forget (self, kj);
    free (idx);
    wrk_crash_job_end ();
    self->current = NULL;
    self->tally = NULL;
    return true;
}

//  See wrk_keyed.h.
size_t
wrk_keyed_drop (wrk_exec_t *self, int sched, uint64_t id, bool all)
{
    zlistx_t *gone = zlistx_new ();
    if (!gone)
        return 0;
    for (keyed_t *kj = zlistx_first (self->parked); kj;
         kj = zlistx_next (self->parked))
        //  The one running now is abandoned by wrk_keyed_step.
        if (kj->ej != self->current && kj->ej->sched == sched &&
            (all || kj->ej->job->job_id == id))
            zlistx_add_end (gone, kj);
    size_t n = zlistx_size (gone);
    for (keyed_t *kj = zlistx_first (gone); kj; kj = zlistx_next (gone)) {
        if (!all)
            wrk_exec_reply (self, WRK_MSG_DROPPED, sched, kj->ej->job->job_id);
        s_forget (self, kj);
    }
    zlistx_destroy (&gone);
    return n;
}

//  See wrk_keyed.h.
void
wrk_keyed_stop (wrk_exec_t *self)
{
    zlistx_t *back = zlistx_new ();
    if (!back)
        return;
    for (keyed_t *kj = zlistx_first (self->parked); kj;
         kj = zlistx_next (self->parked))
        if (kj->ej != self->current) //  its part ends first (step)
            zlistx_add_end (back, kj);
    for (keyed_t *kj = zlistx_first (back); kj; kj = zlistx_next (back)) {
        wrk_exec_reply (self, WRK_MSG_RETURNED, kj->ej->sched,
                        kj->ej->job->job_id);
        s_forget (self, kj);
    }
    zlistx_destroy (&back);
}

//  See wrk_keyed.h.
void
wrk_keyed_progress (wrk_exec_t *self)
{
    if (!zlistx_size (self->parked))
        return;
    int64_t now = sl_now_ms ();
    for (keyed_t *kj = zlistx_first (self->parked); kj;
         kj = zlistx_next (self->parked)) {
        int64_t lease = kj->ej->job->lease_ms;
        int64_t every = lease / 3 > 1000 ? lease / 3 : 1000;
        if (now - kj->progress_ms >= every) {
            kj->progress_ms = now;
            wrk_exec_reply (self, WRK_MSG_PROGRESS, kj->ej->sched,
                            kj->ej->job->job_id);
        }
    }
}

//  See wrk_keyed.h.
size_t
wrk_keyed_waiting (wrk_exec_t *self)
{
    size_t n = 0;
    for (keyed_t *kj = zlistx_first (self->parked); kj;
         kj = zlistx_next (self->parked))
        n += kj->keys.left + kj->nready;
    atomic_store (&self->key_waiting, n);
    return n;
}

//  See wrk_keyed.h.
void
wrk_keyed_clear (wrk_exec_t *self)
{
    keyed_t *kj;
    while (self->parked && (kj = zlistx_first (self->parked))) {
        zlistx_delete (self->parked, zlistx_cursor (self->parked));
        s_free (kj, true);
    }
}
