/*  wrk_marks - completion markers (--state-topic on the scheduler; DESIGN.md,
    "Completion markers").

    A job that names a state topic gets one small record there once it is
    done and everything it produced is acknowledged (so a marker never
    names a range whose outputs could still be lost): a Marker (proto),
    key "group/topic/partition", to the partition the job names.

    One producer for the whole worker, apart from the lanes' output
    producers, so that a state topic in trouble never holds up a job's
    flush: made at the first marker from the worker's settings, shared by
    the lanes (librdkafka's produce is thread-safe), served by the main
    thread's tick, flushed (up to 5 s) when the worker stops. Nobody waits
    for a marker: the job's DONE goes at once. A marker lost costs only a
    re-run, and only if a scheduler must learn the range from the state
    topic; a refusal is logged (at most every 10 s) and counted.
*/
#ifndef WRK_MARKS_H_INCLUDED
#define WRK_MARKS_H_INCLUDED

#include <stdint.h>
#include "sluice.pb-c.h"
#include "wrk_config.h"

/*  Longest key or value of a marker (the names in it are bounded).      */
#define WRK_MARK_MAX 600

/*  job's marker: its key ("group/topic/partition", klen bytes) and value
    (a Marker, len bytes) into buffers of WRK_MARK_MAX. Returns 0, or -1
    if the job names no state topic.                                     */
int wrk_mark_encode (const Sluice__Job *job, char *key, size_t *klen,
                     uint8_t *value, size_t *len);

/*  Write job's marker if it names a state topic (any thread), through the
    worker's marker producer (not --exactly-once: there it goes in the
    job's transaction, wrk_output_mark).                                 */
void wrk_marks_write (const wrk_config_t *cfg, const Sluice__Job *job);

/*  Serve the producer's delivery reports (the main thread).             */
void wrk_marks_poll (void);

/*  Markers handed to the producer, and refused, since start.            */
void wrk_marks_counts (uint64_t *written, uint64_t *failed);

/*  Deliver what is left (up to 5 s) and destroy the producer.           */
void wrk_marks_shutdown (void);

#endif
