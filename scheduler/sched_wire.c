/*  sched_wire - messages to workers. See sched_wire.h.
 */
#include "sched_wire.h"

#include "sl_proto.h"

//  Send one job; see sched_wire.h.
int
sched_wire_job (zsock_t *router, sched_worker_t *worker, const sched_job_t *job,
                int64_t lease_ms, sched_worker_t **pending)
{
    Sluice__Job msg = SLUICE__JOB__INIT;
    msg.job_id = job->id;
    msg.topic = job->part->topic;
    msg.partition = job->part->partition;
    msg.start = job->start;
    msg.end = job->end;
    msg.attempt = job->attempt;
    msg.mode = job->dead_letter ? SLUICE__JOB_MODE__JOB_MODE_DEAD_LETTER
                                : SLUICE__JOB_MODE__JOB_MODE_PROCESS;
    msg.dlq_topic = job->part->dlq_topic;
    msg.reason = job->reason ? job->reason : "";
    msg.lease_ms = (uint32_t)lease_ms;
    msg.records_per_call = job->careful ? 1 : 0;
    //  Dead letters are copied, not run: they need no key order.
    msg.keyed = !job->dead_letter && sched_window_keys (job->part->window);
    //  --state-topic: the worker writes the job's marker there; where it
    //  can be at the earliest is remembered for the commit (sched_marks).
    sched_part_t *part = job->part;
    if (part->marks.topic) {
        msg.state_topic = (char *)part->marks.topic;
        msg.state_partition = part->marks.partition;
        msg.state_group = (char *)part->marks.group;
        sched_model_marks_add (part, job->end, *part->marks.hwm);
    }
    if (!worker->out)
        return sl_proto_send (router, worker->rid, SLUICE__ENVELOPE__BODY_JOB,
                              &msg);
    int listed = 0;
    if (!worker->out_listed) {
        worker->out_listed = true;
        worker->out_next = *pending;
        *pending = worker;
        listed = 1;
    }
    if (sl_proto_out_put (router, zframe_data (worker->rid),
                          zframe_size (worker->rid), worker->out,
                          SLUICE__ENVELOPE__BODY_JOB, &msg) < 0)
        worker->out_failed = true;
    return listed;
}

//  Send the pass's outboxes; see sched_wire.h.
void
sched_wire_flush (zsock_t *router, sched_worker_t **pending,
                  void (*dropped) (void *arg, sched_worker_t *worker),
                  void *arg)
{
    sched_worker_t *failed = NULL;
    for (sched_worker_t *w = *pending, *next; w; w = next) {
        next = w->out_next;
        w->out_listed = false;
        w->out_next = NULL;
        if (sl_proto_out_flush (router, zframe_data (w->rid),
                                zframe_size (w->rid), w->out) != 0 ||
            w->out_failed) {
            w->out_failed = false;
            w->out_next = failed;
            failed = w;
        }
    }
    *pending = NULL;
    for (sched_worker_t *w = failed, *next; w; w = next) {
        next = w->out_next;
        w->out_next = NULL;
        dropped (arg, w);
    }
}

//  Cancel a job at its holder; see sched_wire.h.
int
sched_wire_cancel (zsock_t *router, const sched_job_t *job, const char *reason)
{
    if (!job->worker)
        return -1;
    Sluice__Cancel msg = SLUICE__CANCEL__INIT;
    msg.job_id = job->id;
    msg.reason = (char *)reason;
    return sl_proto_send (router, job->worker->rid,
                          SLUICE__ENVELOPE__BODY_CANCEL, &msg);
}

//  Say BYE; see sched_wire.h.
int
sched_wire_bye (zsock_t *router, zframe_t *rid, const char *reason,
                bool rehello, bool finished)
{
    Sluice__Bye msg = SLUICE__BYE__INIT;
    msg.reason = (char *)reason;
    msg.rehello = rehello;
    msg.finished = finished;
    return sl_proto_send (router, rid, SLUICE__ENVELOPE__BODY_BYE, &msg);
}

//  Send a heartbeat; see sched_wire.h.
int
sched_wire_heartbeat (zsock_t *router, const sched_worker_t *worker)
{
    Sluice__Heartbeat hb = SLUICE__HEARTBEAT__INIT;
    return sl_proto_send (router, worker->rid, SLUICE__ENVELOPE__BODY_HEARTBEAT,
                          &hb);
}
