/*  noop - a plugin that does nothing: every record is OK, nothing is
    emitted. It measures the worker's own overhead (fetch, dispatch,
    report) with the plugin cost taken out.

        sluice-worker --plugin build/plugins/noop.so ...
*/
#include <sluice/plugin.h>

//  Leave every outcome as the worker set it: SLUICE_OK.
static int
s_process (void *state, const sluice_record_t *records, size_t n,
           sluice_outcome_t *out)
{
    (void)state;
    (void)records;
    (void)n;
    (void)out;
    return 0;
}

static const sluice_plugin_t s_table = {
    .abi_major = SLUICE_PLUGIN_ABI_MAJOR,
    .abi_minor = SLUICE_PLUGIN_ABI_MINOR,
    .size = sizeof (sluice_plugin_t),
    .name = "noop",
    .version = "1.0",
    .options = NULL,
    .flags = SLUICE_PLUGIN_F_THREAD_SAFE | SLUICE_PLUGIN_F_NO_HEADERS,
    .process = s_process,
    .description =
        "Does nothing: every record OK, nothing emitted (measures the worker).",
};

//  The plugin's entry point: its table.
SLUICE_PLUGIN_EXPORT const sluice_plugin_t *sluice_plugin_entry (void);
SLUICE_PLUGIN_EXPORT const sluice_plugin_t *
sluice_plugin_entry (void)
{
    return &s_table;
}
