/*  wrk_load - opening a plugin object: the file (refused if someone else
    could have written it), the entry symbol, the table (ABI major first,
    then its size, then a process hook), the name to show, and the
    options it accepts. wrk_plugin makes an instance of what this opens.

    Every refusal is one line in err, prefixed with the path the user
    gave, saying what is wrong and how to fix it.
*/
#ifndef WRK_LOAD_H_INCLUDED
#define WRK_LOAD_H_INCLUDED

#include <stddef.h>
#include "sluice/plugin.h"

/*  Write one line into err (newlines become spaces). Always returns -1,
    so callers can `return wrk_load_error (...)`.                        */
int wrk_load_error (char *err, size_t errlen, const char *fmt, ...)
    __attribute__ ((format (printf, 3, 4)));

/*  dlopen (RTLD_NOW | RTLD_LOCAL) the plugin at path (a path without a
    slash names a file in the current directory) and copy its table into
    *table, zero-extended to this worker's size, so a field appended in a
    later minor reads as NULL. Sets *handle (the caller dlcloses it, also
    on failure if not NULL). Returns 0, or -1 with err.                  */
int wrk_load_open (const char *path, void **handle, sluice_plugin_t *table,
                   char *err, size_t errlen);

/*  The name to show for a plugin: its table's, or else its file name.    */
const char *wrk_load_name (const sluice_plugin_t *table, const char *path);

/*  Refuse any of options the table does not list, naming those it does.
    Returns 0, or -1 with err.                                            */
int wrk_load_check_options (const sluice_plugin_t *table, const char *path,
                            const sluice_option_t *options, size_t count,
                            char *err, size_t errlen);

#endif
