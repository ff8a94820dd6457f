/*  sl_prom - Prometheus text exposition, the one copy both daemons write
    their /metrics pages with: HELP and TYPE lines, single-value counters
    and gauges, and histograms over fixed bounds.

    A histogram keeps, per bound, the count of observations at or below it
    (cumulative, as exposed), their sum and count. Its bounds are a static
    array the caller owns.
*/
#ifndef SL_PROM_H_INCLUDED
#define SL_PROM_H_INCLUDED

#include <stdint.h>
#include <stdio.h>

#define SL_PROM_HIST_MAX 16

typedef struct {
    const double *bounds; /* ascending upper bounds, n of them          */
    int n;
    uint64_t buckets[SL_PROM_HIST_MAX];
    double sum;
    uint64_t count;
} sl_prom_hist_t;

/*  An empty histogram over bounds[0..n) (n <= SL_PROM_HIST_MAX).       */
void sl_prom_hist_init (sl_prom_hist_t *h, const double *bounds, int n);

/*  Count one observation.                                              */
void sl_prom_observe (sl_prom_hist_t *h, double v);

/*  "# HELP name help" and "# TYPE name type".                          */
void sl_prom_head (FILE *f, const char *name, const char *type,
                   const char *help);

/*  A counter family with one value.                                    */
void sl_prom_counter (FILE *f, const char *name, const char *help, uint64_t v);

/*  A counter of seconds (microseconds counted, seconds exposed).       */
void sl_prom_counter_seconds (FILE *f, const char *name, const char *help,
                              uint64_t us);

/*  A gauge family with one value (NaN written as NaN).                 */
void sl_prom_gauge (FILE *f, const char *name, const char *help, double v);

/*  A histogram family: cumulative buckets, +Inf, _sum and _count.      */
void sl_prom_histogram (FILE *f, const char *name, const char *help,
                        const sl_prom_hist_t *h);

#endif
