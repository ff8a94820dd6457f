/*  sched_model - the scheduler's book: the partitions it owns, the jobs cut
    from them (queued or in flight), the workers it knows, and the links
    between them.

    No I/O and no policy: the modules that decide (sched_dispatch,
    sched_failure, sched_workers, sched_commit, sched_drain) read and change
    the book through these functions and the structs below; the ones that
    talk (scheduler.c, sched_wire, sched_member) do the sending. A struct
    field group named after a module belongs to that module: only it
    writes there.

    Every job is in its partition's list (offset order of cutting) and in
    the id table; a job in flight points at its worker. Removing a
    partition or a worker forgets every reference to it: no pointer into
    the book dangles.
*/
#ifndef SCHED_MODEL_H_INCLUDED
#define SCHED_MODEL_H_INCLUDED

#include <czmq.h>
#include <stdbool.h>
#include <stdint.h>
#include "sched_idmap.h"
#include "sl_proto.h"
#include "sched_window.h"

typedef struct _sched_worker_t sched_worker_t;
typedef struct _sched_job_t sched_job_t;

typedef struct {
    char *topic;
    int32_t partition;
    char key[300];   /* "topic:partition"                            */
    char *dlq_topic; /* where its dead letters go                     */
    sched_window_t *window;
    sched_job_t *jobs_head, *jobs_tail; /* queued and in flight, linked */
    uint32_t in_flight;
    uint64_t records_done;
    /*  sched_dispatch's. The worker that got its last job and where that
        job ended: while nothing was cut since and that worker has not
        been sent elsewhere, the partition is that worker's to follow, and
        other workers look elsewhere first (cleared when the worker goes).
        What a second worker could take over here: microseconds per offset
        the last job done here spent in the plugin and waiting for its
        output's acks (not fetching: a joiner reads the same records), and
        when that job ended (the join rule).                              */
    struct {
        const sched_worker_t *worker;
        int64_t next;
        double work_us_per_off;
        int64_t work_seen_ms;
        int64_t last_dispatch_ms;
    } follow;
    /*  sched_commit's.                                                   */
    struct {
        int64_t acked;   /* last offset the broker acknowledged         */
        int64_t sent;    /* last offset sent in a commit               */
        char meta[64];   /* digest of the last metadata sent            */
        int64_t sent_ms; /* an asynchronous commit of it is unanswered since
                            then (0: none): the next waits             */
    } commit;
    /*  sched_drain's (set by sched_model_part_learn_hwm).                */
    struct {
        int64_t target; /* hwm at assignment, -1 until known           */
        int64_t start;  /* committed at assignment                     */
        bool hwm_known;
    } drain;
    /*  sched_marks' (--state-topic; DESIGN.md, "Completion markers"):
        where its jobs' markers go, and for each range sent or restored
        since, oldest first, a lower bound of where its marker can be in
        the state partition (its end offset as known when the job was
        sent): the commit metadata names the first one whose range is
        still above committed (sched_model_marks_from).                   */
    struct {
        const char *topic; /* NULL: no markers                          */
        const char *group;
        int32_t partition;
        const int64_t *hwm;    /* the state partition's end offset, known  */
        const int64_t *roster; /* --exactly-once: where the last roster
                                  record went there, -1: none (sched_marks) */
        int64_t *end, *bound;  /* ring of cap: [head, head + n)          */
        size_t head, n, cap;
    } marks;
    /*  sched_eos' (--exactly-once): ranges taken back from a holder that
        may still commit them; no job inside one goes out until the holder
        is fenced and the state topic read (sched_dispatch skips them).   */
    struct {
        sl_range_t *r;
        size_t n, cap;
    } fence;
} sched_part_t;

/*  True if [start, end) lies inside a range of part being fenced.       */
bool sched_model_fencing (const sched_part_t *part, int64_t start, int64_t end);

/*  A range [.., end) goes out or is restored whose marker is at bound or
    later in part's state partition: remember it (sched_marks). False if
    out of memory (the metadata then names no position: safe, a restart
    re-runs what it cannot learn).                                        */
bool sched_model_marks_add (sched_part_t *part, int64_t end, int64_t bound);

/*  Where part's markers of ranges above committed begin (forgetting the
    ranges below it), or -1: nothing above committed was sent.           */
int64_t sched_model_marks_from (sched_part_t *part, int64_t committed);

/*  A job: a range of one partition, queued or in flight. Tens of
    thousands may be held at once (partitions x window), so it is kept
    small: no inline strings, linked into its partition's list directly,
    and indexed by id in an sched_idmap (one slot, no allocation).       */
struct _sched_job_t {
    uint64_t id;
    sched_part_t *part;
    sched_job_t *prev, *next; /* in part's list                          */
    int64_t start, end;
    sched_worker_t *worker; /* holder when in flight                     */
    int64_t not_before;     /* earliest dispatch time when queued        */
    int64_t sent_ms;
    int64_t deadline_ms;
    char *reason; /* why it last failed (heap), NULL if it has not      */
    uint32_t attempt;
    bool dead_letter;
    bool queued;  /* waiting for a worker                                */
    bool started; /* its holder said it began (PROGRESS)                */
    bool careful; /* a plugin crashed in one call on several of its
                     records: sent with one record a call               */
    bool suspect; /* its supervised holder died: its CRASH report is
                     awaited (sched_failure_crash) before it is charged */
    bool settled; /* its holder settled its transaction itself (FAIL,
                     RETURN) or never had it: leaving it needs no fence */
    /*  sched_order's (--order key): its holder reported its keys and was
        sent GATE (cleared when the job leaves its holder), and when.    */
    bool gated;
    int64_t gated_ms;
};

/*  One executor lane of a worker and where its last job ended (a job
    that starts there is read on without a seek). sched_dispatch's.      */
#define SCHED_LANES_MAX 64
typedef struct {
    sched_part_t *part;
    int64_t next;
    int64_t used_ms; /* when a job last went through this lane            */
} sched_lane_t;

struct _sched_worker_t {
    zframe_t *rid;
    char *key; /* the routing id as hex                                  */
    char name[128];
    char plugin[128];
    uint32_t credits;
    uint32_t credits_max; /* what its HELLO granted (--credits)         */
    uint32_t in_flight;
    uint64_t jobs_done;
    int64_t last_seen_ms;
    int64_t last_job_ms;
    /*  Its executor lanes (HELLO's lanes, --concurrency) and where each
        one's last job ended; a lane's partition is cleared when it goes. */
    sched_lane_t lane[SCHED_LANES_MAX];
    uint32_t nlanes;
    uint64_t passed; /* the dispatch pass that found nothing for it     */
    bool supervised; /* HELLO: a parent reports its crashes (CRASH)     */
    int fd;          /* the descriptor its last message came on (sched_conn) */
    uint32_t conn_gen; /* that descriptor's connection (sched_conn)     */
    /*  HELLO said it reads batches: the JOBs of a dispatch pass gather
        here and leave as one frame at its end (sched_wire_job, _flush),
        the workers holding some linked by out_next.                     */
    sl_proto_out_t *out;
    sched_worker_t *out_next;
    bool out_listed;
    bool out_failed; /* a send from out failed: drop it after the pass  */
    /*  --exactly-once (sched_eos): its lanes' transactional.ids are
        txn_id-0 .. txn_id-(nlanes-1); no job goes to it before a roster
        naming them is written (roster_gen <= the model's roster_acked). */
    char txn_id[192];
    uint64_t roster_gen;
};

typedef struct {
    int64_t window;        /* --window: jobs outstanding per partition      */
    int64_t job_records;   /* --job-records                                  */
    bool key_order;        /* --order key: each window keeps a key gate     */
    const char *dlq_topic; /* --dlq-topic, NULL or "": <topic>.dlq        */
    zhashx_t *parts;       /* key -> sched_part_t *                        */
    sched_idmap_t *jobs;   /* job id -> sched_job_t *                      */
    zhashx_t *workers;     /* routing id hex -> sched_worker_t *           */
    uint64_t next_job_id;
    uint32_t in_flight, queued;
    /*  parts and workers as arrays, in their hashes' order, for the
        dispatch pass (walking a zhashx costs a call and a bucket scan per
        item, for every job): rebuilt after an add or a remove.           */
    uint64_t gen, list_gen; /* adds and removes; gen the lists were read at */
    sched_part_t **part_list;
    sched_worker_t **worker_list;
    size_t nparts, nworkers, parts_cap, workers_cap;
    /*  Jobs forgotten, kept for the next ones (a calloc and a free per job
        otherwise), linked by next; at most SCHED_JOBS_SPARE.              */
    sched_job_t *spare;
    uint32_t nspare;
    /*  sched_eos' (--exactly-once): called as a job leaves its holder
        without a DONE (queued again, or split), before it does; and the
        last roster written.                                              */
    void (*left) (void *arg, sched_job_t *job);
    void *left_arg;
    uint64_t roster_acked;
} sched_model_t;

#define SCHED_JOBS_SPARE 1024

/*  Set up an empty book. Returns 0, or -1 when out of memory (then
    sched_model_fini still cleans up).                                    */
int sched_model_init (sched_model_t *self, int64_t window, int64_t job_records,
                      const char *dlq_topic);

/*  Free every job, partition and worker.                                 */
void sched_model_fini (sched_model_t *self);

/*  The owned partition topic:partition, or NULL.                         */
sched_part_t *sched_model_part_find (sched_model_t *self, const char *topic,
                                     int32_t partition);

/*  Start owning a partition at `committed`, with ranges above it already
    complete (from the commit metadata; unusable ones are ignored with a
    warning). Returns NULL when out of memory.                            */
sched_part_t *sched_model_part_add (sched_model_t *self, const char *topic,
                                    int32_t partition, int64_t committed,
                                    const sl_range_t *restored, size_t n);

/*  Stop owning a partition: forget its jobs (the caller has cancelled
    those in flight) and every worker's reference to it.                  */
void sched_model_part_remove (sched_model_t *self, sched_part_t *part);

/*  A partition's high watermark is known: the first one is its drain
    target (the end of the backlog as it was when we took it).            */
void sched_model_part_learn_hwm (sched_part_t *part, int64_t hwm);

/*  A worker saw topic/partition hold records up to hwm (TAIL): raise the
    partition's high watermark to it, once the scheduler has learnt one
    itself (the drain target stays the scheduler's own). Returns true if
    that raised it (the next job can be cut).                             */
bool sched_model_part_tail (sched_model_t *self, const char *topic,
                            int32_t partition, int64_t hwm);

/*  A new job for [start, end) of part at `attempt`, not queued yet.
    Returns NULL when out of memory.                                      */
sched_job_t *sched_model_job_new (sched_model_t *self, sched_part_t *part,
                                  int64_t start, int64_t end, uint32_t attempt);

/*  The job with this id, or NULL.                                        */
sched_job_t *sched_model_job_find (sched_model_t *self, uint64_t id);

/*  Take a job back from its holder, if any, and queue it to be sent no
    earlier than not_before (ms).                                         */
void sched_model_job_enqueue (sched_model_t *self, sched_job_t *job,
                              int64_t not_before);

/*  A queued job went to worker at now, with a lease of lease_ms.        */
void sched_model_job_held (sched_model_t *self, sched_job_t *job,
                           sched_worker_t *worker, int64_t now,
                           int64_t lease_ms);

/*  Remove a job from every index and free it.                            */
void sched_model_job_forget (sched_model_t *self, sched_job_t *job);

/*  Record why a job failed (kept for the next attempt and its DLQ copy). */
void sched_model_job_reason (sched_job_t *job, const char *reason);

/*  The jobs worker holds, in a new list (the caller destroys it), or
    NULL when out of memory.                                              */
zlistx_t *sched_model_jobs_held_by (sched_model_t *self,
                                    const sched_worker_t *worker);

/*  The worker with this key, or NULL.                                    */
sched_worker_t *sched_model_worker_find (sched_model_t *self, const char *key);

/*  A new worker for routing id rid (copied) and key. Returns NULL when
    out of memory.                                                        */
sched_worker_t *sched_model_worker_add (sched_model_t *self, zframe_t *rid,
                                        const char *key);

/*  Forget a worker (it holds no job any more) and every partition's
    reference to it.                                                      */
void sched_model_worker_remove (sched_model_t *self, sched_worker_t *worker);

/*  The owned partitions and the workers as arrays (*n items each), in
    the order zhashx_first/next gives; valid until the next add or remove
    of either.                                                            */
sched_part_t **sched_model_parts (sched_model_t *self, size_t *n);
sched_worker_t **sched_model_workers (sched_model_t *self, size_t *n);

#endif
