/*  test_sdk - the plugin authors' helpers in <sluice/sdk.h>.

    The helpers run against a host table of the test's own: options from an
    array, an output topic or none, and emit functions that record what
    they were given and fail on request, so every error path is reached
    without loading a plugin. Every message must be one line.
*/
#include <sluice/sdk.h>

#include <criterion/criterion.h>
#include <stdint.h>
#include <string.h>

#define COUNT(a) (sizeof (a) / sizeof (a)[0])

//  --- a host of our own -----------------------------------------------------

//  What the plugin's ctx and call are, here: the state of the fake host.
struct sluice_ctx {
    const sluice_option_t *options;
    size_t option_count;
    const char *output_topic;
    uint32_t lanes;
    int emits, call_emits; //  calls made
    int fail;              //  emit and call_emit return -1
    sluice_emit_t last;    //  the last record emitted
};

struct sluice_call {
    struct sluice_ctx *ctx;
};

static const char *
s_option (sluice_ctx_t *ctx, const char *key)
{
    const char *value = NULL;
    for (size_t i = 0; i < ctx->option_count; i++)
        if (strcmp (ctx->options[i].key, key) == 0)
            value = ctx->options[i].value;
    return value;
}

static const char *
s_output_topic (sluice_ctx_t *ctx)
{
    return ctx->output_topic;
}

static int
s_emit (sluice_ctx_t *ctx, const sluice_emit_t *rec)
{
    ctx->emits++;
    ctx->last = *rec;
    return ctx->fail ? -1 : 0;
}

static int
s_call_emit (sluice_call_t *call, const sluice_emit_t *rec)
{
    call->ctx->call_emits++;
    call->ctx->last = *rec;
    return call->ctx->fail ? -1 : 0;
}

static uint32_t
s_lanes (sluice_ctx_t *ctx)
{
    return ctx->lanes;
}

static const sluice_host_t s_host = {
    .abi_major = SLUICE_PLUGIN_ABI_MAJOR,
    .abi_minor = SLUICE_PLUGIN_ABI_MINOR,
    .size = sizeof (sluice_host_t),
    .emit = s_emit,
    .option = s_option,
    .output_topic = s_output_topic,
    .call_emit = s_call_emit,
    .lanes = s_lanes,
};

//  A worker of ABI 1.1: its host table ends with output_topic.
static const sluice_host_t s_host_1_1 = {
    .abi_major = 1,
    .abi_minor = 1,
    .size = offsetof (sluice_host_t, output_topic) +
            sizeof (const char *(*)(sluice_ctx_t *)),
    .emit = s_emit,
    .option = s_option,
    .output_topic = s_output_topic,
};

static char s_err[512];

//  A reader over `options` for the plugin "sleep", writing into s_err.
static sluice_opts_t
s_opts (struct sluice_ctx *ctx, const sluice_option_t *options, size_t n)
{
    ctx->options = options;
    ctx->option_count = n;
    memset (s_err, 'x', sizeof s_err);
    s_err[sizeof s_err - 1] = 0;
    return sluice_opts (&s_host, ctx, "sleep", s_err, sizeof s_err);
}

//  The reader failed with exactly `expect`, on one line.
static void
s_failed_with (const sluice_opts_t *o, const char *expect)
{
    cr_expect (o->failed, "no error; expected: %s", expect);
    cr_expect_str_eq (s_err, expect);
    cr_expect_null (strchr (s_err, '\n'), "not one line: %s", s_err);
}

//  --- strings ----------------------------------------------------------------

Test (opts, strings_default_when_not_given)
{
    struct sluice_ctx ctx = {0};
    sluice_option_t opts[] = {{"prefix", "tag:"}, {"empty", ""}};
    sluice_opts_t o = s_opts (&ctx, opts, COUNT (opts));
    cr_expect_str_eq (sluice_opt_str (&o, "prefix", "x"), "tag:");
    cr_expect_str_eq (sluice_opt_str (&o, "empty", "x"), "",
                      "an empty value is a value");
    cr_expect_str_eq (sluice_opt_str (&o, "missing", "x"), "x");
    cr_expect_null (sluice_opt_str (&o, "missing", NULL));
    cr_expect_not (o.failed);
}

//  --- whole numbers ----------------------------------------------------------

//  Read option "us" = text as a number in [min, max] (default 99).
static int64_t
s_int (const char *text, int64_t min, int64_t max, sluice_opts_t *o)
{
    static struct sluice_ctx ctx;
    static sluice_option_t opt;
    opt = (sluice_option_t){"us", text};
    *o = s_opts (&ctx, &opt, text ? 1 : 0);
    return sluice_opt_int (o, "us", 99, min, max);
}

Test (opts, whole_numbers_in_range)
{
    sluice_opts_t o;
    cr_expect_eq (s_int ("42", 0, 100, &o), 42);
    cr_expect_eq (s_int ("0", 0, 100, &o), 0);
    cr_expect_eq (s_int ("100", 0, 100, &o), 100);
    cr_expect_eq (s_int ("007", 0, 100, &o), 7);
    cr_expect_eq (s_int ("-7", -10, 10, &o), -7);
    cr_expect_eq (s_int ("-0", 0, 10, &o), 0);
    cr_expect_eq (s_int (NULL, 0, 10, &o), 99, "not given: the default");
    cr_expect_eq (s_int ("9223372036854775807", INT64_MIN, INT64_MAX, &o),
                  INT64_MAX);
    cr_expect_eq (s_int ("-9223372036854775808", INT64_MIN, INT64_MAX, &o),
                  INT64_MIN);
    cr_expect_eq (s_int ("3600000000", 0, 3600000000, &o), 3600000000);
    cr_expect_not (o.failed);
}

Test (opts, not_whole_numbers)
{
    const char *bad[] = {"abc", "",    "-",    "--5", "+3",  " 3",
                         "3 ",  "1.5", "0x10", "1e3", "5us", "٣"};
    for (size_t i = 0; i < COUNT (bad); i++) {
        sluice_opts_t o;
        cr_expect_eq (s_int (bad[i], 0, 100, &o), 99, "\"%s\"", bad[i]);
        char expect[128];
        snprintf (expect, sizeof expect,
                  "sleep: option us: \"%s\" is not a whole number", bad[i]);
        s_failed_with (&o, expect);
    }
}

Test (opts, whole_numbers_out_of_range)
{
    sluice_opts_t o;
    cr_expect_eq (s_int ("-5", 0, 100, &o), 99);
    s_failed_with (&o, "sleep: option us: \"-5\" is less than 0");
    cr_expect_eq (s_int ("101", 0, 100, &o), 99);
    s_failed_with (&o, "sleep: option us: \"101\" is more than 100");
    cr_expect_eq (s_int ("0", 1, 100, &o), 99);
    s_failed_with (&o, "sleep: option us: \"0\" is less than 1");
    //  Past what an int64_t holds: still said as out of range.
    cr_expect_eq (s_int ("99999999999999999999999", 0, 3600000000, &o), 99);
    s_failed_with (&o, "sleep: option us: \"99999999999999999999999\" is "
                       "more than 3600000000");
    //  2^64 + 42: a parser that wrapped around would read 42.
    cr_expect_eq (s_int ("18446744073709551658", 0, 100, &o), 99);
    s_failed_with (&o, "sleep: option us: \"18446744073709551658\" is more "
                       "than 100");
    cr_expect_eq (s_int ("9223372036854775808", 0, INT64_MAX, &o), 99);
    s_failed_with (&o, "sleep: option us: \"9223372036854775808\" is more "
                       "than 9223372036854775807");
    cr_expect_eq (s_int ("-9223372036854775809", INT64_MIN, 0, &o), 99);
    s_failed_with (&o, "sleep: option us: \"-9223372036854775809\" is less "
                       "than -9223372036854775808");
    cr_expect_eq (s_int ("-99999999999999999999999", -10, 10, &o), 99);
    s_failed_with (&o, "sleep: option us: \"-99999999999999999999999\" is "
                       "less than -10");
}

//  --- yes or no -------------------------------------------------------------

Test (opts, yes_and_no)
{
    const char *yes[] = {"true", "yes", "on", "1", "TRUE", "Yes", "oN"};
    const char *no[] = {"false", "no", "off", "0", "FALSE", "No", "OFF"};
    for (size_t i = 0; i < COUNT (yes); i++) {
        struct sluice_ctx ctx = {0};
        sluice_option_t opt[] = {{"loud", yes[i]}, {"quiet", no[i]}};
        sluice_opts_t o = s_opts (&ctx, opt, 2);
        cr_expect (sluice_opt_bool (&o, "loud", false), "%s", yes[i]);
        cr_expect_not (sluice_opt_bool (&o, "quiet", true), "%s", no[i]);
        cr_expect (sluice_opt_bool (&o, "missing", true));
        cr_expect_not (sluice_opt_bool (&o, "missing", false));
        cr_expect_not (o.failed);
    }
}

Test (opts, neither_yes_nor_no)
{
    const char *bad[] = {"maybe", "", "y", "tru", "true ", "10", "yess"};
    for (size_t i = 0; i < COUNT (bad); i++) {
        struct sluice_ctx ctx = {0};
        sluice_option_t opt[] = {{"loud", bad[i]}};
        sluice_opts_t o = s_opts (&ctx, opt, 1);
        cr_expect (sluice_opt_bool (&o, "loud", true), "default kept");
        char expect[160];
        snprintf (expect, sizeof expect,
                  "sleep: option loud: \"%s\" is not a yes or no "
                  "(true/false, yes/no, on/off, 1/0)",
                  bad[i]);
        s_failed_with (&o, expect);
    }
}

//  --- the first error is kept ---------------------------------------------

Test (opts, the_first_error_is_kept_and_later_reads_give_defaults)
{
    struct sluice_ctx ctx = {0};
    sluice_option_t opts[] = {
        {"a", "x"}, {"b", "maybe"}, {"c", "5"}, {"s", "text"}};
    sluice_opts_t o = s_opts (&ctx, opts, COUNT (opts));
    cr_expect_eq (sluice_opt_int (&o, "a", 1, 0, 9), 1);
    cr_expect_not (sluice_opt_bool (&o, "b", false));
    cr_expect_eq (sluice_opt_int (&o, "c", 1, 0, 9), 1, "after an error");
    cr_expect_str_eq (sluice_opt_str (&o, "s", "def"), "def");
    cr_expect_null (sluice_opt_output (&o));
    cr_expect_eq (sluice_opts_error (&o, "mine"), -1);
    s_failed_with (&o, "sleep: option a: \"x\" is not a whole number");
}

Test (opts, a_plugins_own_errors)
{
    struct sluice_ctx ctx = {0};
    sluice_opts_t o = s_opts (&ctx, NULL, 0);
    cr_expect_eq (
        sluice_opt_error (&o, "prefix", "is %d bytes, at most %d", 300, 255),
        -1);
    s_failed_with (&o, "sleep: option prefix: is 300 bytes, at most 255");
    o = s_opts (&ctx, NULL, 0);
    cr_expect_eq (sluice_opts_error (&o, "cannot reach %s", "db:5432"), -1);
    s_failed_with (&o, "sleep: cannot reach db:5432");
}

Test (opts, messages_fit_the_buffer_they_are_given)
{
    struct sluice_ctx ctx = {0};
    sluice_option_t opt[] = {{"us", "abcdefghijklmnop"}};
    ctx.options = opt;
    ctx.option_count = 1;
    char small[20];
    memset (small, 'x', sizeof small);
    sluice_opts_t o = sluice_opts (&s_host, &ctx, "sleep", small, sizeof small);
    sluice_opt_int (&o, "us", 0, 0, 1);
    cr_expect (o.failed);
    cr_expect_str_eq (small, "sleep: option us: \"");
    //  No buffer at all: still fails, writes nothing.
    o = sluice_opts (&s_host, &ctx, NULL, NULL, 0);
    sluice_opt_int (&o, "us", 0, 0, 1);
    cr_expect (o.failed);
    o = sluice_opts (&s_host, &ctx, "sleep", small, 0);
    sluice_opts_error (&o, "x");
    cr_expect (o.failed);
    //  A plugin that gives no name is "plugin".
    o = sluice_opts (&s_host, &ctx, NULL, s_err, sizeof s_err);
    sluice_opt_int (&o, "us", 0, 0, 1);
    cr_expect_str_eq (s_err,
                      "plugin: option us: \"abcdefghijklmnop\" is not a whole "
                      "number");
}

//  --- the output topic and the lanes ----------------------------------------

Test (opts, output_topic_required)
{
    struct sluice_ctx ctx = {.output_topic = "out"};
    sluice_opts_t o = s_opts (&ctx, NULL, 0);
    cr_expect_str_eq (sluice_opt_output (&o), "out");
    cr_expect_not (o.failed);
    ctx.output_topic = NULL;
    o = s_opts (&ctx, NULL, 0);
    cr_expect_null (sluice_opt_output (&o));
    s_failed_with (&o, "sleep: no output topic to emit to: start the worker "
                       "with --output-topic TOPIC");
}

Test (opts, lanes_need_a_1_2_worker)
{
    struct sluice_ctx ctx = {.lanes = 4};
    sluice_opts_t o = s_opts (&ctx, NULL, 0);
    cr_expect (sluice_host_has_calls (&s_host));
    cr_expect_eq (sluice_opt_lanes (&o), 4);
    cr_expect_not (o.failed);
    cr_expect_not (sluice_host_has_calls (&s_host_1_1));
    o = sluice_opts (&s_host_1_1, &ctx, "sleep", s_err, sizeof s_err);
    cr_expect_eq (sluice_opt_lanes (&o), 0);
    s_failed_with (&o, "sleep: needs a sluice worker with plugin ABI 1.2 or "
                       "later (this one speaks 1.1)");
}

//  --- outcomes and emits --------------------------------------------------

Test (emit, outcome_set_formats_and_cuts_the_reason)
{
    sluice_outcome_t out = {0, ""};
    sluice_outcome_set (&out, SLUICE_REJECT, "value is %d bytes", 12);
    cr_expect_eq (out.code, SLUICE_REJECT);
    cr_expect_str_eq (out.reason, "value is 12 bytes");
    char long_text[400];
    memset (long_text, 'a', sizeof long_text - 1);
    long_text[sizeof long_text - 1] = 0;
    sluice_outcome_set (&out, SLUICE_RETRY, "%s", long_text);
    cr_expect_eq (out.code, SLUICE_RETRY);
    cr_expect_eq (strlen (out.reason), SLUICE_REASON_MAX - 1);
}

Test (emit, emit_of_copies_the_record)
{
    sluice_header_t h = {"h", "v", 1};
    sluice_record_t r = {"in", 3, 17, -1, "k", 1, "value", 5, &h, 1};
    sluice_emit_t rec = sluice_emit_of (&r);
    cr_expect_eq (rec.key, r.key);
    cr_expect_eq (rec.key_len, 1);
    cr_expect_eq (rec.value, r.value);
    cr_expect_eq (rec.value_len, 5);
    cr_expect_eq (rec.headers, &h);
    cr_expect_eq (rec.header_count, 1);
    cr_expect_eq (rec.partition, -1, "the partitioner picks, not r's");
}

Test (emit, through_the_call_or_else_the_ctx)
{
    struct sluice_ctx ctx = {0};
    struct sluice_call call = {&ctx};
    sluice_record_t r = {"in", 0, 5, -1, NULL, 0, "v", 1, NULL, 0};
    sluice_outcome_t out = {SLUICE_OK, ""};
    cr_expect_eq (sluice_emit_copy (&s_host, &ctx, &call, &r, &out), 0);
    cr_expect_eq (ctx.call_emits, 1);
    cr_expect_eq (ctx.emits, 0, "with a call, never through ctx");
    cr_expect_eq (ctx.last.value, r.value);
    cr_expect_eq (sluice_emit_copy (&s_host, &ctx, NULL, &r, &out), 0);
    cr_expect_eq (ctx.emits, 1);
    cr_expect_eq (ctx.call_emits, 1);
    cr_expect_str_eq (out.reason, "");
    sluice_emit_t rec = {"k", 1, "other", 5, NULL, 0, 2};
    cr_expect_eq (sluice_emit_record (&s_host, &ctx, &call, &rec, 6, &out), 0);
    cr_expect_eq (ctx.last.partition, 2);
    cr_expect_eq (ctx.last.value_len, 5);
}

Test (emit, a_failed_emit_says_which_offset)
{
    struct sluice_ctx ctx = {.fail = 1};
    struct sluice_call call = {&ctx};
    sluice_record_t r = {"in", 0, 5, -1, NULL, 0, "v", 1, NULL, 0};
    sluice_outcome_t out = {SLUICE_OK, ""};
    cr_expect_eq (sluice_emit_copy (&s_host, &ctx, &call, &r, &out), -1);
    cr_expect_str_eq (out.reason,
                      "could not queue the output record for offset 5");
    cr_expect_eq (out.code, SLUICE_OK, "the caller decides what it means");
    out.reason[0] = 0;
    cr_expect_eq (sluice_emit_copy (&s_host, &ctx, NULL, &r, &out), -1);
    cr_expect_str_eq (out.reason,
                      "could not queue the output record for offset 5");
}
