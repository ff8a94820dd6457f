/*  sched_stats - the scheduler's counters and histograms.

    Every module that counts something gets a pointer to one sched_stats_t;
    sched_metrics renders it, sched_drain summarises it. Counters only go
    up; the histograms have fixed bounds (sl_prom_hist_t).
*/
#ifndef SCHED_STATS_H_INCLUDED
#define SCHED_STATS_H_INCLUDED

#include <stdint.h>
#include "sl_prom.h"

typedef struct {
    uint64_t jobs_sent, jobs_done, jobs_failed, jobs_retried, jobs_expired;
    uint64_t jobs_bisected, jobs_dead_lettered, done_duplicates;
    uint64_t jobs_deferred;  /* failed for the destination: no attempt    */
    uint64_t plugin_crashes; /* CRASH reports pinning a job's lane     */
    uint64_t workers_closed; /* workers dropped when their connection closed */
    uint64_t records_done, records_processed, records_rejected;
    uint64_t records_lost, job_ms_total;
    uint64_t commits, commit_failures;
    uint64_t rejoins;    /* group rejoins of a member left without partitions */
    uint64_t tail_hints; /* TAILs that raised a partition's high watermark */
    int64_t rxmsgs, rxmsg_bytes;   /* consumer totals from librdkafka stats */
    int64_t rx_bytes;              /* every byte received from brokers      */
    uint64_t stats_samples;        /* statistics callbacks seen              */
    int64_t stats_interval_ms;     /* statistics.interval.ms, 0: off         */
    sl_prom_hist_t job_seconds;    /* dispatch to DONE of successful jobs */
    sl_prom_hist_t commit_seconds; /* commit request to its result        */
    sl_prom_hist_t job_records;    /* records of each successful job      */
} sched_stats_t;

/*  Zero the counters and set up the histograms' bounds.                  */
void sched_stats_init (sched_stats_t *self);

/*  Observe one successful job's time from dispatch to DONE.            */
void sched_stats_job_seconds (sched_stats_t *self, double seconds);

/*  Observe one commit request's latency, from sending to its result.   */
void sched_stats_commit_latency (sched_stats_t *self, double seconds);

/*  Observe the records of one successful job (its DONE's `records`).    */
void sched_stats_job_records (sched_stats_t *self, uint64_t records);

#endif
