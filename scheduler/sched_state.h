/*  sched_state - the scheduler's internal state, shared by scheduler.c
    (workers, jobs, dispatch) and sched_kafka.c (group, offsets, commits).
    Not a public API: nothing outside scheduler/ includes it.
*/
#ifndef SCHED_STATE_H_INCLUDED
#define SCHED_STATE_H_INCLUDED

#include <czmq.h>
#include <librdkafka/rdkafka.h>
#include "sched_window.h"
#include "sl_prom.h"
#include "scheduler.h"

typedef struct _sched_worker_t sched_worker_t;
typedef struct _sched_job_t sched_job_t;

/*  Asynchronous commits whose result is awaited, for their latency; the
    oldest is forgotten when more are in flight.                          */
#define SCHED_COMMITS_PENDING 32

typedef struct {
    char *topic;
    int32_t partition;
    char key[300];   /* "topic:partition"                            */
    char *dlq_topic; /* where its dead letters go                     */
    sched_window_t *window;
    sched_job_t *jobs_head, *jobs_tail; /* queued and in flight, linked */
    uint32_t in_flight;
    int64_t drain_target; /* hwm at assignment, -1 until known            */
    int64_t drain_start;  /* committed at assignment                      */
    bool hwm_known;
    int64_t acked_committed; /* last offset the broker acknowledged         */
    int64_t sent_committed;  /* last offset sent in a commit               */
    char sent_meta[64];      /* digest of the last metadata sent            */
    int64_t commit_sent_ms;  /* an asynchronous commit of it is unanswered
                                since then (0: none): the next waits      */
    int64_t last_dispatch_ms;
    uint64_t records_done;
    /*  The worker that got its last job and where that job ended: while
        nothing was cut since and that worker has not been sent elsewhere,
        the partition is that worker's to follow, and other workers look
        elsewhere first. Cleared when the worker goes.                   */
    const sched_worker_t *follower;
    int64_t follow_next;
    /*  What a second worker could take over here: microseconds per
        offset that the last job done on this partition spent in the
        plugin and waiting for its output's acks (not fetching: a worker
        joining the follower reads the same records), and when that job
        ended (s_join_pays).                                             */
    double work_us_per_off;
    int64_t work_seen_ms;
} sched_part_t;

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
};

/*  One partition a worker reads on: its last job there ended at next.   */
#define SCHED_AFF_MAX 64
typedef struct {
    sched_part_t *part;
    int64_t next;
    int64_t used_ms; /* when a job last went through this slot            */
} sched_aff_t;

struct _sched_worker_t {
    zframe_t *rid;
    char *key;
    char name[128];
    char plugin[128];
    uint32_t credits;
    uint32_t in_flight;
    uint64_t jobs_done;
    int64_t last_seen_ms;
    int64_t last_job_ms;
    /*  Where its last jobs ended, one slot per executor lane (HELLO's
        lanes, --concurrency): a job that starts there is read from where
        a consumer already is (no seek; what it prefetched past the last
        job is used, not fetched again by another worker or lane). A slot
        is cleared when its partition goes.                              */
    sched_aff_t aff[SCHED_AFF_MAX];
    uint32_t naff;
    uint64_t passed; /* the dispatch pass that found nothing for it     */
};

typedef struct {
    uint64_t jobs_sent, jobs_done, jobs_failed, jobs_retried, jobs_expired;
    uint64_t jobs_bisected, jobs_dead_lettered, done_duplicates;
    uint64_t records_done, records_processed, records_rejected;
    uint64_t records_lost, job_ms_total;
    uint64_t commits, commit_failures;
    int64_t rxmsgs, rxmsg_bytes;   /* consumer totals from librdkafka stats */
    int64_t rx_bytes;              /* every byte received from brokers      */
    uint64_t stats_samples;        /* statistics callbacks seen              */
    int64_t stats_interval_ms;     /* statistics.interval.ms, 0: off         */
    sl_prom_hist_t job_seconds;    /* dispatch to DONE of successful jobs */
    sl_prom_hist_t commit_seconds; /* commit request to its result        */
    sl_prom_hist_t job_records;    /* records of each successful job      */
} sched_stats_t;

struct _scheduler_t {
    const sched_config_t *cfg;
    zsock_t *router;
    zactor_t *auth; /* zauth, with CURVE                                */
    uint64_t hellos_refused; /* HELLOs beyond --max-workers                */
    int64_t refused_log_ms;  /* last time we said so                       */
    int64_t linger_until;    /* drain over: HELLOs get BYE until then      */
    zhashx_t *told_finished; /* names of workers told so (a set)          */
    zactor_t *monitor; /* handshake events, with CURVE                     */
    char *endpoint;
    zloop_t *loop;
    rd_kafka_t *rk;
    rd_kafka_queue_t *rkq;
    int kafka_pipe[2];
    zactor_t *offsets;
    bool offsets_busy;
    int64_t offsets_next_ms;
    zhashx_t *parts; /* key -> sched_part_t *                            */
    struct _sched_idmap_t *jobs; /* job id -> sched_job_t *            */
    int64_t lease_check_ms;      /* no lease can expire before this time      */
    zhashx_t *workers; /* routing id hex -> sched_worker_t *               */
    uint64_t next_job_id;
    uint32_t in_flight, queued;
    uint64_t dispatch_pass; /* sched_dispatch calls, for worker->passed   */
    double work_us_per_off; /* as sched_part_t's, over all partitions     */
    int64_t work_seen_ms;
    bool assigned;       /* the group gave us an assignment at least once */
    bool assign_pending; /* every partition was revoked (or lost): no drain
                            is finished until the group assigns again    */
    bool fatal;
    bool fatal_setup; /* the Kafka security settings are wrong: exit 2  */
    bool drain_done;
    int64_t started_ms;
    int64_t progress_next_ms;
    uint64_t rate_last_records; /* records_done at the last rate sample   */
    int64_t rate_last_ms;
    double rate; /* records/s, smoothed; progress and the drain ETA use it */
    int64_t meta_limit;      /* metadata bytes the broker takes (shrinks on
                                OFFSET_METADATA_TOO_LARGE)                      */
    struct _sl_http_t *http; /* --metrics-addr, or NULL                   */
    int64_t metrics_next_ms;
    sched_stats_t stats;
    struct {
        uint64_t digest; /* of the partitions and offsets sent            */
        int64_t sent_us; /* sl_now_us () when sent                        */
    } commits_pending[SCHED_COMMITS_PENDING]; /* oldest first            */
    size_t commits_pending_n;
};

sched_part_t *sched_part_find (scheduler_t *self, const char *topic,
                               int32_t partition);
sched_part_t *sched_part_add (scheduler_t *self, const char *topic,
                              int32_t partition, int64_t committed,
                              const sl_range_t *restored, size_t n);
void sched_part_remove (scheduler_t *self, sched_part_t *part);
void sched_part_free (sched_part_t *part);
void sched_job_forget (scheduler_t *self, sched_job_t *job);
void sched_send_cancel (scheduler_t *self, sched_job_t *job,
                        const char *reason);
void sched_dispatch (scheduler_t *self);
/*  Sample throughput into self->rate (records/s, smoothed), at most once
    a second.                                                             */
void sched_rate_update (scheduler_t *self, int64_t now);
/*  Set up the histograms (their bounds); once, after the struct is zeroed. */
void sched_metrics_init (scheduler_t *self);
/*  Render the metrics page and readiness for --metrics-addr.            */
void sched_metrics_publish (scheduler_t *self);
/*  Observe one successful job's time from dispatch to DONE.            */
void sched_metrics_job_seconds (scheduler_t *self, double seconds);
/*  Observe one commit request's latency, from sending to its result.   */
void sched_metrics_commit_latency (scheduler_t *self, double seconds);
/*  Observe the records of one successful job (its DONE's `records`).    */
void sched_metrics_job_records (scheduler_t *self, uint64_t records);

#endif
