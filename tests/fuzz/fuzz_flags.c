/*  fuzz_flags - libFuzzer harness for the flag parser.

    Input: NUL-separated words, used as argv after a program name, for a
    table with every kind of flag (string, bounded int, bool, list,
    key=value list, a short name). The parser must never crash or leak,
    and on failure must say why in one line.
*/
#include "sl_flags.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ARGS 64

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    char *copy = malloc (size + 1);
    if (!copy)
        return 0;
    memcpy (copy, data, size);
    copy[size] = 0;
    char *argv[MAX_ARGS + 2];
    int argc = 0;
    argv[argc++] = "fuzz";
    for (size_t i = 0; i <= size && argc <= MAX_ARGS;) {
        argv[argc++] = copy + i;
        i += strlen (copy + i) + 1;
    }
    argv[argc] = NULL;

    char *name = NULL, *mode = NULL;
    int64_t count = 0;
    bool drain = false;
    sl_strlist_t topics = {0}, props = {0};
    sl_flag_t flags[] = {
        {"name", 0, SL_FLAG_STR, &name, "x", 0, 0, false, "NAME", "a name",
         "SLUICE_FUZZ_NAME"},
        {"count", 'n', SL_FLAG_INT, &count, "5", 1, 1000000, false, "N",
         "a count", "SLUICE_FUZZ_COUNT"},
        {"drain", 0, SL_FLAG_BOOL, &drain, NULL, 0, 0, false, NULL, "a bool",
         "SLUICE_FUZZ_DRAIN"},
        {"topic", 0, SL_FLAG_LIST, &topics, NULL, 0, 0, false, "T", "a list",
         "SLUICE_FUZZ_TOPIC"},
        {"property", 'X', SL_FLAG_KV, &props, NULL, 0, 0, false, "K=V",
         "key=value", "SLUICE_FUZZ_X"},
        {"mode", 0, SL_FLAG_STR, &mode, NULL, 0, 0, true, "M", "required",
         "SLUICE_FUZZ_MODE"},
    };
    size_t n = sizeof flags / sizeof flags[0];
    char err[512];
    err[0] = 0;
    int rc = sl_flags_parse ("fuzz", flags, n, argc, argv, err, sizeof err);
    if (rc == -1 && (!err[0] || strchr (err, '\n')))
        abort (); //  one line that says what is wrong
    if (rc == 0 && (count < 1 || count > 1000000))
        abort (); //  bounds hold
    for (size_t i = 0; rc == 0 && i < props.count; i++)
        if (!strchr (props.items[i], '='))
            abort (); //  every -X item is key=value
    sl_flags_free (flags, n);
    free (copy);
    return 0;
}
