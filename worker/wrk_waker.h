/*  wrk_waker - a reader's fetch wake-up: a small thread that, when asked,
    has librdkafka's broker thread for a partition look at it again.

    librdkafka (2.0.2) stops fetching a partition once the consumer's
    queue holds queued.min.messages records (or queued.max.messages.kbytes)
    and looks at it again only when its broker thread next wakes up, which
    with nothing else to do is up to a second later; a resumed partition
    waits for the same. The waker asks the partition's leader for its
    latest offset (rd_kafka_offsets_for_times): that request goes through
    the very broker thread that fetches the partition, which wakes, sees
    the room and fetches again. The caller never waits for it.

    The reader (wrk_reader.c) decides when (wrk_range_watch); the thread
    starts on first use.
*/
#ifndef WRK_WAKER_H_INCLUDED
#define WRK_WAKER_H_INCLUDED

#include <librdkafka/rdkafka.h>
#include <stdint.h>

typedef struct _wrk_waker_t wrk_waker_t;

/*  A waker for consumer's partitions (not started yet). NULL if out of
    memory.                                                               */
wrk_waker_t *wrk_waker_new (rd_kafka_t *consumer);

/*  Stop the thread if it was started, null the pointer.                  */
void wrk_waker_destroy (wrk_waker_t **self_p);

/*  Ask for topic/partition to be fetched again (returns at once; a wake
    not yet sent is replaced).                                            */
void wrk_waker_wake (wrk_waker_t *self, const char *topic, int32_t partition);

/*  Wake-ups sent so far (any thread).                                    */
uint64_t wrk_waker_count (wrk_waker_t *self);

#endif
