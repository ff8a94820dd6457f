/*  sl_prom - Prometheus text exposition. See sl_prom.h.                  */
#include "sl_prom.h"

#include <inttypes.h>
#include <math.h>
#include <string.h>

void
sl_prom_hist_init (sl_prom_hist_t *h, const double *bounds, int n)
{
    memset (h, 0, sizeof *h);
    h->bounds = bounds;
    h->n = n < SL_PROM_HIST_MAX ? n : SL_PROM_HIST_MAX;
}

void
sl_prom_observe (sl_prom_hist_t *h, double v)
{
    for (int b = 0; b < h->n; b++)
        if (v <= h->bounds[b])
            h->buckets[b]++;
    h->sum += v;
    h->count++;
}

void
sl_prom_head (FILE *f, const char *name, const char *type, const char *help)
{
    fprintf (f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

void
sl_prom_counter (FILE *f, const char *name, const char *help, uint64_t v)
{
    sl_prom_head (f, name, "counter", help);
    fprintf (f, "%s %" PRIu64 "\n", name, v);
}

void
sl_prom_counter_seconds (FILE *f, const char *name, const char *help,
                         uint64_t us)
{
    sl_prom_head (f, name, "counter", help);
    fprintf (f, "%s %.6f\n", name, (double)us / 1e6);
}

void
sl_prom_gauge (FILE *f, const char *name, const char *help, double v)
{
    sl_prom_head (f, name, "gauge", help);
    if (isnan (v))
        fprintf (f, "%s NaN\n", name);
    else
        fprintf (f, "%s %.6g\n", name, v);
}

void
sl_prom_histogram (FILE *f, const char *name, const char *help,
                   const sl_prom_hist_t *h)
{
    sl_prom_head (f, name, "histogram", help);
    for (int b = 0; b < h->n; b++)
        fprintf (f, "%s_bucket{le=\"%g\"} %" PRIu64 "\n", name, h->bounds[b],
                 h->buckets[b]);
    fprintf (f,
             "%s_bucket{le=\"+Inf\"} %" PRIu64 "\n%s_sum %.6f\n"
             "%s_count %" PRIu64 "\n",
             name, h->count, name, h->sum, name, h->count);
}
