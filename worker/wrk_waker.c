/*  wrk_waker - a reader's fetch wake-up. See wrk_waker.h.               */
#include "wrk_waker.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include "sl_log.h"

struct _wrk_waker_t {
    rd_kafka_t *consumer;
    pthread_t thread;
    bool started, want, stop;
    pthread_mutex_t mtx;
    pthread_cond_t cond;
    char topic[256];
    int32_t partition;
    _Atomic uint64_t wakes; /* wake-ups sent                             */
};

//  The thread: one ListOffsets request per wake asked for.
static void *
s_run (void *arg)
{
    wrk_waker_t *self = arg;
    pthread_mutex_lock (&self->mtx);
    while (!self->stop) {
        if (!self->want) {
            pthread_cond_wait (&self->cond, &self->mtx);
            continue;
        }
        self->want = false;
        rd_kafka_topic_partition_list_t *list =
            rd_kafka_topic_partition_list_new (1);
        rd_kafka_topic_partition_list_add (list, self->topic, self->partition)
            ->offset = -1; //  the latest offset
        pthread_mutex_unlock (&self->mtx);
        rd_kafka_resp_err_t rc =
            rd_kafka_offsets_for_times (self->consumer, list, 2000);
        if (rc)
            sl_debug ("fetch wake-up failed reason=\"%s\"",
                      rd_kafka_err2str (rc));
        rd_kafka_topic_partition_list_destroy (list);
        atomic_fetch_add (&self->wakes, 1);
        pthread_mutex_lock (&self->mtx);
    }
    pthread_mutex_unlock (&self->mtx);
    return NULL;
}

wrk_waker_t *
wrk_waker_new (rd_kafka_t *consumer)
{
    wrk_waker_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->consumer = consumer;
    pthread_mutex_init (&self->mtx, NULL);
    pthread_cond_init (&self->cond, NULL);
    return self;
}

void
wrk_waker_destroy (wrk_waker_t **self_p)
{
    wrk_waker_t *self = *self_p;
    if (!self)
        return;
    pthread_mutex_lock (&self->mtx);
    self->stop = true;
    pthread_cond_signal (&self->cond);
    pthread_mutex_unlock (&self->mtx);
    if (self->started)
        pthread_join (self->thread, NULL);
    pthread_mutex_destroy (&self->mtx);
    pthread_cond_destroy (&self->cond);
    free (self);
    *self_p = NULL;
}

void
wrk_waker_wake (wrk_waker_t *self, const char *topic, int32_t partition)
{
    pthread_mutex_lock (&self->mtx);
    if (!self->started && !self->stop)
        self->started = pthread_create (&self->thread, NULL, s_run, self) == 0;
    snprintf (self->topic, sizeof self->topic, "%s", topic);
    self->partition = partition;
    self->want = true;
    pthread_cond_signal (&self->cond);
    pthread_mutex_unlock (&self->mtx);
}

uint64_t
wrk_waker_count (wrk_waker_t *self)
{
    return atomic_load (&self->wakes);
}
