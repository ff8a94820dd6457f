/*  sched_status - the snapshot for `sluice status`. See sched_status.h.
 */
#include "sched_status.h"

#include <inttypes.h>
#include "sl_log.h"
#include "sl_proto.h"

//  One partition's row.
static void
s_part_row (Sluice__PartitionStatus *ps, sched_part_t *p)
{
    sluice__partition_status__init (ps);
    ps->topic = p->topic;
    ps->partition = p->partition;
    ps->committed = sched_window_committed (p->window);
    ps->high_watermark = sched_window_hwm (p->window);
    ps->lag = ps->high_watermark - ps->committed;
    ps->in_flight = p->in_flight;
    ps->outstanding = (uint32_t)sched_window_outstanding (p->window);
}

//  One worker's row.
static void
s_worker_row (Sluice__WorkerStatus *ws, sched_worker_t *w, int64_t now)
{
    sluice__worker_status__init (ws);
    ws->worker_id = w->name;
    ws->credits = w->credits;
    ws->jobs_done = w->jobs_done;
    ws->last_heartbeat_ms_ago = now - w->last_seen_ms;
    ws->in_flight = w->in_flight;
    ws->plugin = w->plugin;
}

//  Rate-limit the answers; see sched_status.h.
bool
sched_status_allow (sched_status_limit_t *limit, int64_t now)
{
    int64_t second = now / 1000;
    if (second != limit->second) {
        limit->second = second;
        limit->used = 0;
    }
    if (limit->used >= SCHED_STATUS_PER_S) {
        limit->refused++;
        if (limit->refused == 1 || limit->refused % 1000 == 0)
            sl_warn ("too many STATUS requests, not answered per_second=%d "
                     "refused_total=%" PRIu64,
                     SCHED_STATUS_PER_S, limit->refused);
        return false;
    }
    limit->used++;
    return true;
}

//  Answer with a snapshot; see sched_status.h.
int
sched_status_send (zsock_t *router, zframe_t *rid, const char *group,
                   sched_model_t *model, const sched_stats_t *stats,
                   const char *outage, int64_t now)
{
    size_t np = zhashx_size (model->parts), nw = zhashx_size (model->workers);
    Sluice__PartitionStatus *ps = calloc (np + 1, sizeof *ps);
    Sluice__PartitionStatus **pp = calloc (np + 1, sizeof *pp);
    Sluice__WorkerStatus *ws = calloc (nw + 1, sizeof *ws);
    Sluice__WorkerStatus **wp = calloc (nw + 1, sizeof *wp);
    int rc = -1;
    if (!ps || !pp || !ws || !wp)
        goto done;
    size_t i = 0;
    for (sched_part_t *p = zhashx_first (model->parts); p;
         p = zhashx_next (model->parts), i++) {
        s_part_row (&ps[i], p);
        pp[i] = &ps[i];
    }
    i = 0;
    for (sched_worker_t *w = zhashx_first (model->workers); w;
         w = zhashx_next (model->workers), i++) {
        s_worker_row (&ws[i], w, now);
        wp[i] = &ws[i];
    }
    Sluice__Status st = SLUICE__STATUS__INIT;
    st.group = (char *)group;
    st.n_partitions = np;
    st.partitions = pp;
    st.n_workers = nw;
    st.workers = wp;
    st.records_done = stats->records_done;
    st.jobs_done = stats->jobs_done;
    st.jobs_queued = model->queued;
    st.outage = (char *)outage;
    rc = sl_proto_send (router, rid, SLUICE__ENVELOPE__BODY_STATUS, &st);
done:
    free (ps);
    free (pp);
    free (ws);
    free (wp);
    return rc;
}
