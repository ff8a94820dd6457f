/*  wrk_stash - records the reader fetched past the end of a job, kept in
    order for the next job on the partition, which reads them before
    anything new from the consumer.

    A bounded deque of message pointers with no I/O: take() hands out the
    oldest first, unread() puts a run back in front, in order, or refuses
    it whole if it does not fit. The stash never frees a message except
    through the drop function given to clear(); the caller owns what
    take() returns and what unread() refused.
*/
#ifndef WRK_STASH_H_INCLUDED
#define WRK_STASH_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <librdkafka/rdkafka.h>

typedef struct _wrk_stash_t wrk_stash_t;

/*  Frees one message (rd_kafka_message_destroy).                        */
typedef void (wrk_stash_drop_fn) (rd_kafka_message_t *msg);

/*  A stash for at most cap messages (cap > 0). NULL if out of memory.  */
wrk_stash_t *wrk_stash_new (size_t cap);

/*  Destroy the stash and null the pointer. Clear it first: the messages
    it still holds are not freed.                                        */
void wrk_stash_destroy (wrk_stash_t **self_p);

/*  Messages held.                                                       */
size_t wrk_stash_size (const wrk_stash_t *self);

/*  Most messages it can hold (cap).                                     */
size_t wrk_stash_cap (const wrk_stash_t *self);

/*  Move up to max of the oldest messages to out[0..). Returns how many. */
size_t wrk_stash_take (wrk_stash_t *self, rd_kafka_message_t **out, size_t max);

/*  Put msgs[0..n) back in front of what the stash holds, msgs[0] first.
    Returns false, the stash unchanged, if they do not all fit.          */
bool wrk_stash_unread (wrk_stash_t *self, rd_kafka_message_t **msgs, size_t n);

/*  Drop every message held, each through drop.                         */
void wrk_stash_clear (wrk_stash_t *self, wrk_stash_drop_fn *drop);

#endif
