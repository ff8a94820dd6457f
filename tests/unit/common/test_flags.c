/*  test_flags - command-line flags that also read environment variables.

    Every test parses against one table shaped like the scheduler's
    (scheduler/sched_main.c): required strings and a repeatable list, ints
    with defaults and ranges, a bool, a key=value list behind -X, and one
    flag whose variable is named explicitly. The fixture clears every
    variable the table reads before each test and frees the table after.

    An error must be one line that names the flag (or the variable) it
    is about: s_expect_error checks that for every refused input.
*/
#include <criterion/criterion.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sl_flags.h"

#define PROG "sluice-test"

typedef struct {
    char *brokers;
    sl_strlist_t topics;
    char *group;
    char *bind;
    int64_t job_records;
    int64_t window;
    char *dlq_topic;
    bool drain;
    bool verbose;
    char *log_level;
    sl_strlist_t props;
} config_t;

static config_t cfg;
static sl_flag_t flags[11];
static const size_t nflags = sizeof flags / sizeof flags[0];
static char err[512];

//  Every variable the table reads, derived or explicit, plus the derived
//  name of log-level, which must be ignored because its env is explicit.
static const char *s_vars[] = {
    "SLUICE_BROKERS",     "SLUICE_TOPIC",    "SLUICE_GROUP",     "SLUICE_BIND",
    "SLUICE_JOB_RECORDS", "SLUICE_WINDOW",   "SLUICE_DLQ_TOPIC", "SLUICE_DRAIN",
    "SLUICE_VERBOSE",     "SLUICE_LOGLEVEL", "SLUICE_LOG_LEVEL", "SLUICE_X",
    "SLUICE_PROPERTY",
};

//  Build the table and clear the environment it reads.
static void
s_setup (void)
{
    memset (&cfg, 0, sizeof cfg);
    memset (err, 0, sizeof err);
    sl_flag_t table[] = {
        {"brokers", 0, SL_FLAG_STR, &cfg.brokers, NULL, 0, 0, true,
         "HOST:PORT,...", "Kafka bootstrap servers", NULL},
        {"topic", 0, SL_FLAG_LIST, &cfg.topics, NULL, 0, 0, true, "NAME",
         "topic to drain (repeatable)", NULL},
        {"group", 0, SL_FLAG_STR, &cfg.group, NULL, 0, 0, true, "ID",
         "Kafka consumer group", NULL},
        {"bind", 0, SL_FLAG_STR, &cfg.bind, "tcp://*:7400", 0, 0, false,
         "ENDPOINT", "ZeroMQ endpoint workers connect to", NULL},
        {"job-records", 0, SL_FLAG_INT, &cfg.job_records, "1000", 1, 10000000,
         false, "N", "most offsets in one job", NULL},
        {"window", 0, SL_FLAG_INT, &cfg.window, "16", 1, 100000, false, "N",
         "most outstanding jobs per partition", NULL},
        {"dlq-topic", 0, SL_FLAG_STR, &cfg.dlq_topic, "", 0, 0, false, "NAME",
         "dead-letter topic", NULL},
        {"drain", 0, SL_FLAG_BOOL, &cfg.drain, NULL, 0, 0, false, "",
         "exit 0 once caught up", NULL},
        {"verbose", 'v', SL_FLAG_BOOL, &cfg.verbose, NULL, 0, 0, false, "",
         "log more", NULL},
        {"log-level", 0, SL_FLAG_STR, &cfg.log_level, "info", 0, 0, false,
         "LEVEL", "error, warn, info or debug", "SLUICE_LOGLEVEL"},
        {"property", 'X', SL_FLAG_KV, &cfg.props, NULL, 0, 0, false,
         "KEY=VALUE", "librdkafka property (repeatable)", "SLUICE_X"},
    };
    cr_assert_eq (sizeof table, sizeof flags);
    memcpy (flags, table, sizeof flags);
    for (size_t i = 0; i < sizeof s_vars / sizeof s_vars[0]; i++)
        unsetenv (s_vars[i]);
}

//  Free what the parser stored (also after a failed parse) and clear the
//  environment again, so no test leaks state into the next.
static void
s_teardown (void)
{
    sl_flags_free (flags, nflags);
    for (size_t i = 0; i < sizeof s_vars / sizeof s_vars[0]; i++)
        unsetenv (s_vars[i]);
}

TestSuite (flags, .init = s_setup, .fini = s_teardown);

//  Parse a NULL-terminated argument list that starts at first (NULL for
//  none), without the program name.
static int
s_parse_v (char *first, va_list args)
{
    char *argv[32] = {PROG};
    int argc = 1;
    for (char *arg = first; arg; arg = va_arg (args, char *)) {
        cr_assert_lt (argc, 31, "too many arguments for s_parse");
        argv[argc++] = arg;
    }
    return sl_flags_parse (PROG, flags, nflags, argc, argv, err, sizeof err);
}

static int
s_parse (char *first, ...)
{
    va_list args;
    va_start (args, first);
    int rc = s_parse_v (first, args);
    va_end (args);
    return rc;
}

//  Parse the arguments from first (NULL-terminated) and assert the parse
//  fails with one line in err that contains each '|'-separated piece of
//  want.
static void
s_expect_error (const char *want, char *first, ...)
{
    va_list args;
    va_start (args, first);
    int rc = s_parse_v (first, args);
    va_end (args);
    cr_assert_eq (rc, -1, "expected an error containing \"%s\", got rc %d",
                  want, rc);
    cr_assert_neq (err[0], 0, "error message is empty");
    cr_assert_null (strchr (err, '\n'), "error is not one line: \"%s\"", err);
    cr_assert_null (strchr (err, '\r'), "error is not one line: \"%s\"", err);
    cr_assert_eq (strncmp (err, PROG ": ", strlen (PROG ": ")), 0,
                  "error does not start with the program: \"%s\"", err);
    char pieces[256];
    snprintf (pieces, sizeof pieces, "%s", want);
    char *save = NULL;
    for (char *piece = strtok_r (pieces, "|", &save); piece;
         piece = strtok_r (NULL, "|", &save))
        cr_assert_not_null (strstr (err, piece), "\"%s\" not in \"%s\"", piece,
                            err);
}

//  The three required flags, for tests about something else.
#define REQUIRED "--brokers", "k:9092", "--topic", "t", "--group", "g"

// --- forms on the command line ---------------------------------------------

Test (flags, name_space_value_and_defaults)
{
    cr_assert_eq (s_parse (REQUIRED, NULL), 0, "%s", err);
    cr_assert_str_eq (cfg.brokers, "k:9092");
    cr_assert_eq (cfg.topics.count, 1);
    cr_assert_str_eq (cfg.topics.items[0], "t");
    cr_assert_str_eq (cfg.group, "g");
    //  Defaults, as typed in the table.
    cr_assert_str_eq (cfg.bind, "tcp://*:7400");
    cr_assert_eq (cfg.job_records, 1000);
    cr_assert_eq (cfg.window, 16);
    cr_assert_not_null (cfg.dlq_topic, "an empty default is still a string");
    cr_assert_str_eq (cfg.dlq_topic, "");
    cr_assert_str_eq (cfg.log_level, "info");
    cr_assert_not (cfg.drain);
    cr_assert_not (cfg.verbose);
    cr_assert_eq (cfg.props.count, 0);
    cr_assert_null (cfg.props.items);
}

Test (flags, name_equals_value)
{
    cr_assert_eq (s_parse ("--brokers=a:1,b:2", "--topic=t", "--group=g",
                           "--window=4", "--bind=tcp://h:1?x=y",
                           "--dlq-topic=", NULL),
                  0, "%s", err);
    cr_assert_str_eq (cfg.brokers, "a:1,b:2");
    cr_assert_eq (cfg.window, 4);
    //  Only the first '=' separates: the value may contain more.
    cr_assert_str_eq (cfg.bind, "tcp://h:1?x=y");
    //  A string may be set empty explicitly.
    cr_assert_str_eq (cfg.dlq_topic, "");
}

Test (flags, a_string_given_twice_keeps_the_last)
{
    cr_assert_eq (
        s_parse (REQUIRED, "--bind", "tcp://a:1", "--bind", "tcp://b:2", NULL),
        0, "%s", err);
    cr_assert_str_eq (cfg.bind, "tcp://b:2");
}

Test (flags, short_kv_attached_and_separate)
{
    cr_assert_eq (s_parse (REQUIRED, "-Xacks=all", "-X", "linger.ms=5",
                           "--property", "a=b=c", "--property=sasl.x=", NULL),
                  0, "%s", err);
    cr_assert_eq (cfg.props.count, 4);
    cr_assert_str_eq (cfg.props.items[0], "acks=all");
    cr_assert_str_eq (cfg.props.items[1], "linger.ms=5");
    cr_assert_str_eq (cfg.props.items[2], "a=b=c");
    //  An empty value is a value: the key is what must be there.
    cr_assert_str_eq (cfg.props.items[3], "sasl.x=");
}

Test (flags, repeatable_list_keeps_order)
{
    cr_assert_eq (s_parse ("--brokers", "k", "--group", "g", "--topic", "a",
                           "--topic=b", "--topic", "c", NULL),
                  0, "%s", err);
    cr_assert_eq (cfg.topics.count, 3);
    cr_assert_str_eq (cfg.topics.items[0], "a");
    cr_assert_str_eq (cfg.topics.items[1], "b");
    cr_assert_str_eq (cfg.topics.items[2], "c");
}

Test (flags, bool_flags_take_no_value)
{
    cr_assert_eq (s_parse ("--drain", REQUIRED, "-v", NULL), 0, "%s", err);
    cr_assert (cfg.drain);
    cr_assert (cfg.verbose);
}

Test (flags, bool_flag_with_equals_value)
{
    cr_assert_eq (s_parse (REQUIRED, "--drain=yes", "--verbose=0", NULL), 0,
                  "%s", err);
    cr_assert (cfg.drain);
    cr_assert_not (cfg.verbose);
}

Test (flags, bool_flag_does_not_eat_the_next_argument)
{
    //  "true" is not the value of --drain: it is a stray positional.
    s_expect_error ("unexpected argument 'true'", REQUIRED, "--drain", "true",
                    NULL);
    s_teardown ();
    s_setup ();
    cr_assert_eq (s_parse ("--drain", "--window", "3", REQUIRED, NULL), 0, "%s",
                  err);
    cr_assert (cfg.drain);
    cr_assert_eq (cfg.window, 3);
}

Test (flags, int_accepts_its_bounds_and_a_sign)
{
    cr_assert_eq (
        s_parse (REQUIRED, "--window", "1", "--job-records", "10000000", NULL),
        0, "%s", err);
    cr_assert_eq (cfg.window, 1);
    cr_assert_eq (cfg.job_records, 10000000);
    s_teardown ();
    s_setup ();
    cr_assert_eq (s_parse (REQUIRED, "--window=+100000", NULL), 0, "%s", err);
    cr_assert_eq (cfg.window, 100000);
}

Test (flags, help_returns_one_even_without_required_flags)
{
    cr_assert_eq (s_parse ("--help", NULL), 1);
    cr_assert_eq (s_parse ("--window", "3", "-h", NULL), 1);
}

// --- environment -----------------------------------------------------------

Test (flags, env_fills_flags_not_on_the_command_line)
{
    setenv ("SLUICE_BROKERS", "env:9092", 1);
    setenv ("SLUICE_GROUP", "envgroup", 1);
    //  A list variable is comma-separated (only: ';' is part of an item);
    //  blanks before items and empty items are dropped.
    setenv ("SLUICE_TOPIC", "a, b,,c;d,", 1);
    setenv ("SLUICE_JOB_RECORDS", "500", 1);
    setenv ("SLUICE_BIND", "tcp://*:9", 1);
    cr_assert_eq (s_parse (NULL), 0, "%s", err);
    cr_assert_str_eq (cfg.brokers, "env:9092");
    cr_assert_str_eq (cfg.group, "envgroup");
    cr_assert_eq (cfg.topics.count, 3);
    cr_assert_str_eq (cfg.topics.items[0], "a");
    cr_assert_str_eq (cfg.topics.items[1], "b");
    cr_assert_str_eq (cfg.topics.items[2], "c;d");
    cr_assert_eq (cfg.job_records, 500);
    cr_assert_str_eq (cfg.bind, "tcp://*:9");
    cr_assert_eq (cfg.window, 16, "untouched flags keep their default");
}

Test (flags, env_kv_list_is_semicolon_or_newline_separated)
{
    setenv ("SLUICE_X", "acks=all;linger.ms=5\nclient.id=a,b;; sasl.x=y", 1);
    cr_assert_eq (s_parse (REQUIRED, NULL), 0, "%s", err);
    cr_assert_eq (cfg.props.count, 4);
    cr_assert_str_eq (cfg.props.items[0], "acks=all");
    cr_assert_str_eq (cfg.props.items[1], "linger.ms=5");
    //  A comma belongs to the value in a key=value list.
    cr_assert_str_eq (cfg.props.items[2], "client.id=a,b");
    cr_assert_str_eq (cfg.props.items[3], "sasl.x=y");
}

Test (flags, env_bool_spellings)
{
    static const struct {
        const char *text;
        bool value;
    } cases[] = {
        {"1", true},   {"true", true}, {"YES", true},
        {"On", true},  {"0", false},   {"false", false},
        {"No", false}, {"off", false}, {"", false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        setenv ("SLUICE_DRAIN", cases[i].text, 1);
        cfg.drain = !cases[i].value;
        cr_assert_eq (s_parse (REQUIRED, NULL), 0, "'%s': %s", cases[i].text,
                      err);
        cr_assert_eq (cfg.drain, cases[i].value, "SLUICE_DRAIN='%s'",
                      cases[i].text);
        sl_flags_free (flags, nflags);
    }
}

Test (flags, explicit_env_name_replaces_the_derived_one)
{
    setenv ("SLUICE_LOG_LEVEL", "error", 1);
    cr_assert_eq (s_parse (REQUIRED, NULL), 0, "%s", err);
    cr_assert_str_eq (cfg.log_level, "info", "derived name must be ignored");
    sl_flags_free (flags, nflags);
    setenv ("SLUICE_LOGLEVEL", "debug", 1);
    cr_assert_eq (s_parse (REQUIRED, NULL), 0, "%s", err);
    cr_assert_str_eq (cfg.log_level, "debug");
}

Test (flags, command_line_wins_over_env)
{
    setenv ("SLUICE_WINDOW", "5", 1);
    setenv ("SLUICE_BROKERS", "env:1", 1);
    setenv ("SLUICE_TOPIC", "x,y", 1);
    setenv ("SLUICE_X", "acks=0", 1);
    setenv ("SLUICE_DRAIN", "1", 1);
    cr_assert_eq (
        s_parse (REQUIRED, "--window", "7", "-Xacks=all", "--drain=no", NULL),
        0, "%s", err);
    cr_assert_eq (cfg.window, 7);
    cr_assert_str_eq (cfg.brokers, "k:9092");
    //  Lists are replaced, not merged.
    cr_assert_eq (cfg.topics.count, 1);
    cr_assert_str_eq (cfg.topics.items[0], "t");
    cr_assert_eq (cfg.props.count, 1);
    cr_assert_str_eq (cfg.props.items[0], "acks=all");
    cr_assert_not (cfg.drain);
}

Test (flags, a_bad_variable_is_ignored_when_the_flag_is_given)
{
    setenv ("SLUICE_WINDOW", "0", 1);
    cr_assert_eq (s_parse (REQUIRED, "--window", "7", NULL), 0, "%s", err);
    cr_assert_eq (cfg.window, 7);
}

Test (flags, env_out_of_range)
{
    setenv ("SLUICE_WINDOW", "0", 1);
    s_expect_error ("SLUICE_WINDOW|0 is out of range|from 1 to 100000",
                    REQUIRED, NULL);
}

Test (flags, env_not_a_number)
{
    setenv ("SLUICE_JOB_RECORDS", "lots", 1);
    s_expect_error ("SLUICE_JOB_RECORDS|'lots' is not a whole number", REQUIRED,
                    NULL);
}

Test (flags, env_bad_bool)
{
    setenv ("SLUICE_DRAIN", "maybe", 1);
    s_expect_error ("SLUICE_DRAIN|'maybe' is not a boolean", REQUIRED, NULL);
}

Test (flags, env_kv_without_equals)
{
    setenv ("SLUICE_X", "acks=all;linger.ms", 1);
    s_expect_error ("SLUICE_X|'linger.ms' is not key=value", REQUIRED, NULL);
}

Test (flags, env_value_with_a_newline_still_gives_one_line)
{
    //  A value from a mounted file or a YAML block often ends in '\n'.
    setenv ("SLUICE_WINDOW", "16\n", 1);
    s_expect_error ("SLUICE_WINDOW|not a whole number", REQUIRED, NULL);
}

// --- refusals --------------------------------------------------------------

Test (flags, required_flags_missing)
{
    s_expect_error ("--brokers is required|SLUICE_BROKERS", "--topic", "t",
                    "--group", "g", NULL);
    s_teardown ();
    s_setup ();
    s_expect_error ("--group is required|SLUICE_GROUP", "--topic", "t",
                    "--brokers", "k", NULL);
    s_teardown ();
    s_setup ();
    //  A list variable with no items does not satisfy a required list.
    setenv ("SLUICE_TOPIC", " , ,", 1);
    s_expect_error ("--topic is required|SLUICE_TOPIC", "--brokers", "k",
                    "--group", "g", NULL);
}

Test (flags, unknown_flag)
{
    s_expect_error ("unknown flag --nope|--help", REQUIRED, "--nope=3", NULL);
    s_teardown ();
    s_setup ();
    s_expect_error ("unknown flag -Q", REQUIRED, "-Q", NULL);
    s_teardown ();
    s_setup ();
    //  No abbreviations: a prefix of a name is not the name.
    s_expect_error ("unknown flag --win", REQUIRED, "--win", "3", NULL);
    s_teardown ();
    s_setup ();
    s_expect_error ("unknown flag --windows", REQUIRED, "--windows", "3", NULL);
}

Test (flags, positional_arguments_are_refused)
{
    s_expect_error ("unexpected argument 'extra'", REQUIRED, "extra", NULL);
    s_teardown ();
    s_setup ();
    s_expect_error ("unexpected argument '-'", REQUIRED, "-", NULL);
    s_teardown ();
    s_setup ();
    s_expect_error ("unexpected argument '--'", REQUIRED, "--", NULL);
}

Test (flags, missing_value_at_the_end)
{
    s_expect_error ("--window needs a value|N", REQUIRED, "--window", NULL);
    s_teardown ();
    s_setup ();
    s_expect_error ("-X needs a value|KEY=VALUE", REQUIRED, "-X", NULL);
    s_teardown ();
    s_setup ();
    s_expect_error ("--brokers needs a value", "--brokers", NULL);
}

Test (flags, ints_that_are_not_whole_numbers)
{
    static const char *bad[] = {"abc", "12abc", " 12",
                                "12 ", "0x10",  "1.5",
                                "1e3", "--",    "99999999999999999999"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char want[128];
        snprintf (want, sizeof want, "--window|'%s' is not a whole number",
                  bad[i]);
        s_expect_error (want, REQUIRED, "--window", bad[i], NULL);
        s_teardown ();
        s_setup ();
    }
    s_expect_error ("--window|empty value", REQUIRED, "--window=", NULL);
}

Test (flags, ints_out_of_range)
{
    s_expect_error ("--window|0 is out of range|from 1 to 100000", REQUIRED,
                    "--window", "0", NULL);
    s_teardown ();
    s_setup ();
    s_expect_error ("--window|100001 is out of range", REQUIRED, "--window",
                    "100001", NULL);
    s_teardown ();
    s_setup ();
    s_expect_error ("--job-records|-1 is out of range|from 1 to 10000000",
                    REQUIRED, "--job-records=-1", NULL);
}

Test (flags, bad_bool_on_the_command_line)
{
    s_expect_error ("--drain|'maybe' is not a boolean", REQUIRED,
                    "--drain=maybe", NULL);
    s_teardown ();
    s_setup ();
    s_expect_error ("-v|'x' is not a boolean", REQUIRED, "-vx", NULL);
}

Test (flags, kv_without_equals_or_key)
{
    s_expect_error ("-X|'acks' is not key=value", REQUIRED, "-X", "acks", NULL);
    s_teardown ();
    s_setup ();
    s_expect_error ("--property|'=all' is not key=value", REQUIRED,
                    "--property==all", NULL);
    s_teardown ();
    s_setup ();
    s_expect_error ("-X|'' is not key=value", REQUIRED, "-X", "", NULL);
}

Test (flags, empty_list_item_on_the_command_line)
{
    s_expect_error ("--topic|empty value", "--brokers", "k", "--group", "g",
                    "--topic=", NULL);
}

Test (flags, value_with_a_newline_still_gives_one_line)
{
    s_expect_error ("--window|not a whole number", REQUIRED, "--window", "1\n2",
                    NULL);
}

// --- freeing ---------------------------------------------------------------

Test (flags, free_nulls_strings_and_empties_lists)
{
    cr_assert_eq (s_parse (REQUIRED, "--topic", "u", "-Xa=b", NULL), 0, "%s",
                  err);
    sl_flags_free (flags, nflags);
    cr_assert_null (cfg.brokers);
    cr_assert_null (cfg.group);
    cr_assert_null (cfg.bind);
    cr_assert_null (cfg.dlq_topic);
    cr_assert_null (cfg.log_level);
    cr_assert_null (cfg.topics.items);
    cr_assert_eq (cfg.topics.count, 0);
    cr_assert_null (cfg.props.items);
    cr_assert_eq (cfg.props.count, 0);
    //  Freeing twice is harmless (the fixture frees again).
    sl_flags_free (flags, nflags);
}

Test (flags, free_after_a_failed_parse_releases_what_was_stored)
{
    //  --brokers and a topic were stored before --window failed; the
    //  fixture's sl_flags_free must release them (ASan reports a leak).
    s_expect_error ("--window", REQUIRED, "-Xa=b", "--window", "zero", NULL);
    cr_assert_str_eq (cfg.brokers, "k:9092");
    sl_flags_free (flags, nflags);
    cr_assert_null (cfg.brokers);
    cr_assert_eq (cfg.props.count, 0);
}

// --- usage -----------------------------------------------------------------

Test (flags, usage_shows_names_defaults_and_variables)
{
    char *text = NULL;
    size_t size = 0;
    FILE *out = open_memstream (&text, &size);
    cr_assert_not_null (out);
    sl_flags_usage (PROG, "Does a test.", flags, nflags, out);
    fclose (out);
    cr_assert_not_null (strstr (text, "usage: " PROG " [flags]\n"));
    cr_assert_not_null (strstr (text, "Does a test."));
    cr_assert_not_null (strstr (text, "--window N"), "%s", text);
    cr_assert_not_null (strstr (text, "(default 16) [SLUICE_WINDOW]"), "%s",
                        text);
    cr_assert_not_null (strstr (text, "[SLUICE_JOB_RECORDS]"), "%s", text);
    cr_assert_not_null (strstr (text, "-X, --property KEY=VALUE"), "%s", text);
    cr_assert_not_null (strstr (text, "[SLUICE_X]"), "%s", text);
    cr_assert_not_null (strstr (text, "[SLUICE_LOGLEVEL]"), "%s", text);
    free (text);
}

// --- helpers ---------------------------------------------------------------

Test (flags, kv_split)
{
    char key[8];
    const char *value = NULL;
    cr_assert_eq (sl_kv_split ("acks=all", key, sizeof key, &value), 0);
    cr_assert_str_eq (key, "acks");
    cr_assert_str_eq (value, "all");

    //  Only the first '=' splits; the value points into the item.
    const char *item = "a=b=c";
    cr_assert_eq (sl_kv_split (item, key, sizeof key, &value), 0);
    cr_assert_str_eq (key, "a");
    cr_assert_eq (value, item + 2);

    //  An empty value is fine.
    cr_assert_eq (sl_kv_split ("k=", key, sizeof key, &value), 0);
    cr_assert_str_eq (key, "k");
    cr_assert_str_eq (value, "");

    //  The key fills the buffer exactly: 7 chars and the NUL.
    cr_assert_eq (sl_kv_split ("1234567=v", key, sizeof key, &value), 0);
    cr_assert_str_eq (key, "1234567");
}

Test (flags, kv_split_refusals_leave_value_alone)
{
    static const char *bad[] = {"", "acks", "=all", "=", "12345678=v"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char key[8] = "";
        const char *value = "untouched";
        cr_assert_eq (sl_kv_split (bad[i], key, sizeof key, &value), -1,
                      "'%s' must be refused", bad[i]);
        cr_assert_str_eq (value, "untouched", "'%s'", bad[i]);
    }
    char key[8];
    const char *value;
    //  No room at all for a key.
    cr_assert_eq (sl_kv_split ("a=b", key, 0, &value), -1);
    cr_assert_eq (sl_kv_split ("a=b", key, 1, &value), -1);
    cr_assert_eq (sl_kv_split ("a=b", key, 2, &value), 0);
}

Test (flags, strlist_append_and_free)
{
    sl_strlist_t list = {0};
    char word[] = "one";
    cr_assert_eq (sl_strlist_append (&list, word), 0);
    word[0] = 'x';
    cr_assert_eq (sl_strlist_append (&list, "two"), 0);
    cr_assert_eq (list.count, 2);
    cr_assert_str_eq (list.items[0], "one", "append stores a copy");
    cr_assert_str_eq (list.items[1], "two");
    sl_strlist_free (&list);
    cr_assert_null (list.items);
    cr_assert_eq (list.count, 0);
    sl_strlist_free (&list);
}
