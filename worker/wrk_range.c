/*  wrk_range - the reader's decisions, without I/O. See wrk_range.h.    */
#include "wrk_range.h"

#include <stdio.h>
#include <string.h>

//  True if start is a short way ahead of next: reading on to it uses what
//  librdkafka has already fetched, where a seek would drop that and fetch
//  it again. "Short" is a quarter of the prefetch (queued.min.messages
//  records and queued.max.messages.kbytes), so the records are most
//  likely queued. That is the usual case when workers take turns on a
//  partition: the gap is the other workers' jobs.
static bool
s_read_on (const wrk_range_prefetch_t *pf, int64_t next, int64_t start)
{
    int64_t gap = start - next;
    return gap > 0 && pf->min_records > 0 && gap <= pf->min_records / 4 &&
           (double)gap * pf->rec_bytes <= (double)pf->max_bytes / 4;
}

//  One lane's share of the worker's prefetch bytes.
int64_t
wrk_range_prefetch_kb (int64_t lanes)
{
    int64_t kb = WRK_RANGE_PREFETCH_KB / (lanes > 1 ? lanes : 1);
    return kb > WRK_RANGE_PREFETCH_MIN_KB ? kb : WRK_RANGE_PREFETCH_MIN_KB;
}

//  How a job is reached from where the consumer stands.
wrk_range_plan_t
wrk_range_plan (const wrk_range_pos_t *at, const char *topic, int32_t partition,
                int64_t start, const wrk_range_prefetch_t *pf)
{
    if (!at->topic || strcmp (at->topic, topic) != 0 ||
        at->partition != partition)
        return WRK_RANGE_SEEK;
    if (at->next == start)
        return WRK_RANGE_HERE;
    return s_read_on (pf, at->next, start) ? WRK_RANGE_READ_ON : WRK_RANGE_SEEK;
}

//  The walk of a range, not done yet.
wrk_range_t
wrk_range_begin (int64_t start, int64_t end, int64_t next)
{
    wrk_range_t r = {start, end, next, false};
    return r;
}

//  The end of the partition at offset.
void
wrk_range_eof (wrk_range_t *r, int64_t offset)
{
    if (offset < r->end)
        return;
    r->done = true;
    //  The consumer is at the end of the log, past whatever lies between
    //  end and there (transaction markers, aborted records): a job
    //  starting at end must seek, or it would wait for an end of
    //  partition that was already delivered.
    r->next = offset;
}

//  Records below the log start are gone: what is lost, and where the walk
//  goes on.
bool
wrk_range_lost (wrk_range_t *r, int64_t log_start, sl_range_t *lost)
{
    if (log_start <= r->next)
        return false;
    //  Below start are the records of jobs read on through: not this
    //  job's to report (the scheduler refuses a lost range outside it).
    lost->start = r->next > r->start ? r->next : r->start;
    lost->end = log_start < r->end ? log_start : r->end;
    if (lost->end < lost->start)
        lost->end = lost->start;
    if (lost->end >= r->end)
        r->done = true;
    else
        r->next = lost->end;
    return true;
}

//  A done range leaves the consumer at end or past it.
void
wrk_range_settle (wrk_range_t *r)
{
    if (r->done && r->next < r->end)
        r->next = r->end;
}

//  Count a lost range, keep the first WRK_RANGE_LOST_MAX.
void
wrk_range_lost_add (wrk_range_lost_t *lost, sl_range_t range)
{
    lost->offsets += (uint64_t)(range.end - range.start);
    if (lost->n < WRK_RANGE_LOST_MAX)
        lost->ranges[lost->n++] = range;
}

//  The mean record size, updated by one batch.
double
wrk_range_mean_bytes (double mean, size_t bytes, size_t n)
{
    return (7 * mean + (double)bytes / (double)n) / 8;
}

//  Whether the fetcher is held at a threshold, or must be woken now.
wrk_range_watch_t
wrk_range_watch (const wrk_range_prefetch_t *pf, size_t queued, size_t taken,
                 bool held)
{
    if (pf->min_records <= 0)
        return WRK_RANGE_WATCH_NONE;
    double len = (double)queued;
    double before = len + (double)taken; //  what the queue held
    double min = (double)pf->min_records;
    double max_bytes = (double)pf->max_bytes;
    if (before >= 0.9 * min || before * pf->rec_bytes >= 0.9 * max_bytes)
        return WRK_RANGE_WATCH_HELD;
    if (held && len <= 0.5 * min && len * pf->rec_bytes <= 0.5 * max_bytes)
        return WRK_RANGE_WATCH_WAKE;
    return WRK_RANGE_WATCH_NONE;
}

//  Whether an idle reader pauses its partition now.
bool
wrk_range_idle_pause (int64_t idle_ms, size_t queued)
{
    return idle_ms >= WRK_RANGE_IDLE_PAUSE_MS || queued <= 1;
}

//  How long a job may read nothing; see wrk_range.h.
int64_t
wrk_range_stall_bound (int64_t lease_ms, bool refused)
{
    int64_t half = (lease_ms > 0 ? lease_ms : WRK_RANGE_STALL_LEASE_MS) / 2;
    if (refused)
        return half < WRK_RANGE_STALL_REFUSED_MS ? half
                                                 : WRK_RANGE_STALL_REFUSED_MS;
    return half > WRK_RANGE_STALL_MIN_MS ? half : WRK_RANGE_STALL_MIN_MS;
}

//  The slot of topic/partition, or -1.
static int
s_refused_find (const wrk_range_refused_t *self, const char *topic,
                int32_t partition)
{
    for (int i = 0; i < WRK_RANGE_REFUSED_MAX; i++)
        if (self->slot[i].topic[0] && self->slot[i].partition == partition &&
            strcmp (self->slot[i].topic, topic) == 0)
            return i;
    return -1;
}

//  Note a refusal, or its end; see wrk_range.h.
void
wrk_range_refused_set (wrk_range_refused_t *self, const char *topic,
                       int32_t partition, int err)
{
    int i = s_refused_find (self, topic, partition);
    if (!err) {
        if (i >= 0)
            self->slot[i].topic[0] = '\0';
        return;
    }
    for (int k = 0; i < 0 && k < WRK_RANGE_REFUSED_MAX; k++)
        if (!self->slot[k].topic[0])
            i = k;
    if (i < 0) {
        i = (int)self->next;
        self->next = (self->next + 1) % WRK_RANGE_REFUSED_MAX;
    }
    snprintf (self->slot[i].topic, sizeof self->slot[i].topic, "%s", topic);
    self->slot[i].partition = partition;
    self->slot[i].err = err;
}

//  The error a partition was refused with; see wrk_range.h.
int
wrk_range_refused_get (const wrk_range_refused_t *self, const char *topic,
                       int32_t partition)
{
    int i = s_refused_find (self, topic, partition);
    return i >= 0 ? self->slot[i].err : 0;
}
