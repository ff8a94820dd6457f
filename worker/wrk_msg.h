/*  wrk_msg - the worker's thread protocol: what the main thread and its
    executors (wrk_exec actors, one per --concurrency lane) say to each
    other over each actor's pipe. This table is the only description of it.

    Every message has the same five frames: the type's name, a scheduler
    index (int32), a value (uint64), a payload (a frame, maybe empty) and a
    text (maybe empty). A type uses the fields its row names; the others
    are 0 or empty.

    type               way        fields
    WRK_MSG_JOB        to exec    sched; payload: a packed Sluice__Job
    WRK_MSG_CANCEL     to exec    sched; value: the job id to drop, queued
                                  or running
    WRK_MSG_DROPALL    to exec    sched: forget every job of that scheduler
                                  (answered by FORGOT)
    WRK_MSG_STOP       to exec    value: a deadline (monotonic ms): return
                                  the queued jobs, finish the running one if
                                  it can before then
    WRK_MSG_TERM       to exec    zactor's "$TERM": the actor is destroyed
    WRK_MSG_BEGIN      from exec  sched, value: the job id that started
    WRK_MSG_PROGRESS   from exec  sched, value: the job still reads; extend
                                  its lease
    WRK_MSG_PROCESSED  from exec  sched, value: the plugin is done with the
                                  job; only Kafka (the flush) is left
    WRK_MSG_DONE       from exec  sched; payload: a packed Sluice__Done
    WRK_MSG_DROPPED    from exec  sched, value: the job id cancelled; its
                                  slot is free
    WRK_MSG_RETURNED   from exec  sched, value: the job id not done; give
                                  it back to the scheduler
    WRK_MSG_FORGOT     from exec  sched; value: how many queued jobs
                                  DROPALL removed
    WRK_MSG_FATAL      from exec  value: the exit code; text: why the
                                  executor cannot go on
    WRK_MSG_STOPPED    from exec  nothing left: the actor ends next
    WRK_MSG_TAIL       from exec  sched; payload: a packed Sluice__Tail
                                  (the idle lane saw records arrive past
                                  its last job: wrk_reader_tail)
    WRK_MSG_KEYS       from exec  sched; payload: a packed Sluice__Keys (a
                                  keyed job was read: its key hashes)
    WRK_MSG_GATE       to exec    sched; payload: a packed Sluice__Gate
                                  (the scheduler's answer to KEYS)
    WRK_MSG_RELEASE    to exec    sched; payload: a packed Sluice__Release
*/
#ifndef WRK_MSG_H_INCLUDED
#define WRK_MSG_H_INCLUDED

#include <czmq.h>
#include <stdint.h>

typedef enum {
    WRK_MSG_JOB,
    WRK_MSG_CANCEL,
    WRK_MSG_DROPALL,
    WRK_MSG_STOP,
    WRK_MSG_TERM,
    WRK_MSG_BEGIN,
    WRK_MSG_PROGRESS,
    WRK_MSG_PROCESSED,
    WRK_MSG_DONE,
    WRK_MSG_DROPPED,
    WRK_MSG_RETURNED,
    WRK_MSG_FORGOT,
    WRK_MSG_FATAL,
    WRK_MSG_STOPPED,
    WRK_MSG_TAIL,
    WRK_MSG_KEYS,
    WRK_MSG_GATE,
    WRK_MSG_RELEASE,
    WRK_MSG_COUNT
} wrk_msg_type_t;

typedef struct {
    wrk_msg_type_t type;
    int sched;
    uint64_t value;
    zframe_t *payload; /* owned by the message; NULL if empty            */
    char *text;        /* owned by the message; "" if empty              */
} wrk_msg_t;

/*  Send one message on sock without blocking longer than the socket's
    send timeout. payload may be NULL; it is copied, not taken. text may
    be NULL. Returns 0, or -1 if the message could not be queued.        */
int wrk_msg_send (void *sock, wrk_msg_type_t type, int sched, uint64_t value,
                  zframe_t *payload, const char *text);

/*  Send WRK_MSG_TAIL: a packed Sluice__Tail for scheduler sched.      */
int wrk_msg_send_tail (void *sock, int sched, const char *topic,
                       int32_t partition, int64_t high_watermark);

/*  Receive one message into msg (blocking). A message that is not one of
    the table's (a peer bug) is logged and returned as -1, like a closed
    socket. Call wrk_msg_clear after use.                                */
int wrk_msg_recv (void *sock, wrk_msg_t *msg);

/*  Free what a received message owns.                                   */
void wrk_msg_clear (wrk_msg_t *msg);

/*  The type's name, as sent ("JOB", ...).                               */
const char *wrk_msg_name (wrk_msg_type_t type);

#endif
