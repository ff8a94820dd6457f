/*  sl_flags - command-line flags that also read environment variables.

    Each flag is described once in a table; `--job-records` also reads
    SLUICE_JOB_RECORDS. A flag on the command line wins over the variable.
    Forms: `--name value`, `--name=value`, `-X value`, `-Xvalue`; a bool
    flag takes no value on the command line (1/0, true/false, yes/no in
    the environment). List flags repeat on the command line; in the
    environment a list is comma-separated and a key=value list (SL_FLAG_KV)
    is separated by ';' or newlines.

    Parsing never exits: it returns -1 with one line in err that says what
    is wrong and how to fix it; the caller prints it and exits 2.
*/
#ifndef SL_FLAGS_H_INCLUDED
#define SL_FLAGS_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef enum {
    SL_FLAG_STR,  /* dest: char **            */
    SL_FLAG_INT,  /* dest: int64_t *, min..max */
    SL_FLAG_BOOL, /* dest: bool *             */
    SL_FLAG_LIST, /* dest: sl_strlist_t *     */
    SL_FLAG_KV    /* dest: sl_strlist_t *, each item "key=value" */
} sl_flag_type_t;

typedef struct {
    char **items;
    size_t count;
} sl_strlist_t;

typedef struct {
    const char *name; /* long name without "--", e.g. "job-records"     */
    char short_name;  /* e.g. 'X', or 0                                   */
    sl_flag_type_t type;
    void *dest;
    const char *def; /* default, as it would be typed; NULL for none      */
    int64_t min, max;
    bool required;
    const char *metavar; /* e.g. "N", "ENDPOINT"                         */
    const char *help;
    const char *env; /* variable name; NULL derives SLUICE_<NAME>        */
} sl_flag_t;

/*  Parse argv and the environment into the table's destinations.
    Returns 0, 1 if --help was asked (the caller prints usage), or -1 with
    a one-line message in err. Strings are heap copies: free them with
    sl_flags_free. Positional arguments are refused.                     */
int sl_flags_parse (const char *prog, sl_flag_t *flags, size_t n, int argc,
                    char **argv, char *err, size_t errlen);

/*  Free every string the parser stored; null string destinations and
    empty lists (numbers and bools keep their values).                   */
void sl_flags_free (sl_flag_t *flags, size_t n);

/*  Print usage to `out`.                                                 */
void sl_flags_usage (const char *prog, const char *summary,
                     const sl_flag_t *flags, size_t n, FILE *out);

/*  Split "key=value" (the first '='): returns 0 and sets key (a copy) and
 *value (pointing into item), or -1 if there is no '=' or no key.     */
int sl_kv_split (const char *item, char *key, size_t keylen,
                 const char **value);

/*  Append a copy of s to list. Returns 0 or -1.                          */
int sl_strlist_append (sl_strlist_t *list, const char *s);
void sl_strlist_free (sl_strlist_t *list);

#endif
