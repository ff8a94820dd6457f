/*  wrk_keyed - a lane's keyed jobs. See wrk_keyed.h.
 */
#include "wrk_keyed.h"

#include <inttypes.h>
#include "sl_clock.h"
#include "sl_log.h"
#include "sl_proto.h"
#include "wrk_crash.h"
#include "wrk_keys.h"

/*  Records taken from the reader per call while a range is read.        */
#define KEYED_READ_STEP 1024

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
    bool done = false;
    while (!done) {
        if (kj->cap - kj->n < KEYED_READ_STEP) {
            size_t cap = kj->cap ? 2 * kj->cap : 2 * KEYED_READ_STEP;
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
        ssize_t got =
            wrk_reader_fetch (self->reader, job, kj->msgs + kj->n,
                              KEYED_READ_STEP, &kj->tally.lost, &done);
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
    if (rc == 0) {
        const Sluice__Job *job = kj->ej->job;
        Sluice__Keys msg = SLUICE__KEYS__INIT;
        msg.job_id = job->job_id;
        msg.topic = job->topic;
        msg.partition = job->partition;
        msg.start = job->start;
        msg.end = job->end;
        msg.hashes = set;
        msg.n_hashes = wrk_keys_job_set (&kj->keys, set);
        size_t len = sluice__keys__get_packed_size (&msg);
        zframe_t *frame = zframe_new (NULL, len);
        if (frame) {
            sluice__keys__pack (&msg, zframe_data (frame));
            wrk_msg_send (self->pipe, WRK_MSG_KEYS, kj->ej->sched, 0, frame,
                          NULL);
            zframe_destroy (&frame);
        } else
            rc = -1;
    }
    if (rc != 0)
        snprintf (kj->tally.error, sizeof kj->tally.error,
                  "out of memory hashing a keyed job's keys");
    free (keys);
    free (lens);
    free (set);
    return rc;
}

//  See wrk_keyed.h.
void
wrk_keyed_run (wrk_exec_t *self, exec_job_t *ej)
{
    const Sluice__Job *job = ej->job;
    keyed_t *kj = calloc (1, sizeof *kj);
    if (!kj) {
        wrk_exec_job_abandon (self, ej); //  given back, not charged
        return;
    }
    kj->ej = ej;
    self->tally = &kj->tally;
    kj->t0 = wrk_exec_job_begin (self, ej);
    kj->progress_ms = kj->t0;
    int rc = wrk_reader_position (self->reader, job->topic, job->partition,
                                  job->start, kj->tally.error,
                                  sizeof kj->tally.error);
    if (rc == 0)
        rc = s_read (self, kj);
    if (rc == 0)
        rc = s_report (self, kj);
    if (rc == 0 && zlistx_add_end (self->parked, kj)) {
        ej->parked = true;
        sl_debug ("job read job=%" PRIu64 " records=%zu", job->job_id, kj->n);
    } else {
        if (rc == 1)
            wrk_exec_job_abandon (self, ej);
        else
            wrk_exec_job_end (self, ej, &kj->tally, -1, kj->t0);
        s_free (kj, false);
    }
    self->tally = NULL;
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

//  Run kj's ready records, in offset order, a batch at a time. 0, 1
//  abandoned, -1 failed.
static int
s_run_ready (wrk_exec_t *self, keyed_t *kj)
{
    const Sluice__Job *job = kj->ej->job;
    size_t per_call = (size_t)self->cfg->batch_size;
    if (job->records_per_call && job->records_per_call < per_call)
        per_call = job->records_per_call;
    for (size_t i = 0; i < kj->nready;) {
        size_t m = kj->nready - i < per_call ? kj->nready - i : per_call;
        for (size_t j = 0; j < m; j++)
            self->msgs[j] = kj->msgs[kj->ready[i + j]];
        if (wrk_exec_run_plugin (self, job, m) != 0)
            return -1;
        i += m;
        wrk_exec_chores (self, kj->ej, (ssize_t)m);
        if (s_give_up (self, kj->ej))
            return 1;
    }
    return 0;
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
    if (rc == 0)
        rc = s_run_ready (self, kj);
    kj->nready = 0;
    if (rc == 0)
        rc =
            wrk_plugin_job_end (self->plugin, &info, t->error, sizeof t->error);
    bool last = wrk_keys_job_done (&kj->keys);
    if (rc == 0 && !last) {
        //  Its outputs are acknowledged before the job waits again, so a
        //  delivery that fails is this job's, and fails it.
        int64_t f0 = sl_now_ns ();
        rc = wrk_output_flush (self->output, t->error, sizeof t->error);
        t->flush_ns += sl_now_ns () - f0;
    } else if (rc == 0)
        rc = wrk_exec_job_flush (self, ej, t);
    if (rc == 1)
        wrk_exec_job_abandon (self, ej);
    else if (rc != 0 || last)
        wrk_exec_job_end (self, ej, t, rc, kj->t0);
    if (rc != 0 || last)
        s_forget (self, kj);
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
    keyed_t *kj;
    while ((kj = zlistx_first (self->parked))) {
        wrk_exec_reply (self, WRK_MSG_RETURNED, kj->ej->sched,
                        kj->ej->job->job_id);
        s_forget (self, kj);
    }
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
