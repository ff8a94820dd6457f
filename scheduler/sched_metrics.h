/*  sched_metrics - the scheduler's Prometheus page and readiness for
    --metrics-addr.

    Rendered on the loop thread every 500 ms and handed to sl_http, which
    serves the copy; names follow Prometheus conventions (sluice_ prefix,
    base units, _total counters). Ready once the group assigned partitions
    and no fatal Kafka error happened.
*/
#ifndef SCHED_METRICS_H_INCLUDED
#define SCHED_METRICS_H_INCLUDED

#include "sched_state.h"

/*  Render the page and readiness from every part of the scheduler and
    publish them.                                                         */
void sched_metrics_publish (sched_state_t *self);

#endif
