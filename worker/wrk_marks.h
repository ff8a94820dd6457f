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

/*  Write job's marker if it names a state topic (any thread).           */
void wrk_marks_write (const wrk_config_t *cfg, const Sluice__Job *job);

/*  Serve the producer's delivery reports (the main thread).             */
void wrk_marks_poll (void);

/*  Markers handed to the producer, and refused, since start.            */
void wrk_marks_counts (uint64_t *written, uint64_t *failed);

/*  Deliver what is left (up to 5 s) and destroy the producer.           */
void wrk_marks_shutdown (void);

#endif
