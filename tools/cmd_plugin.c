/*  sluice plugin - a plugin author's inner loop, without Kafka or a
    scheduler.

        sluice plugin run --plugin X.so [--plugin-opt k=v]... [--input F]
                          [--format json|lines] [--batch-size N]
        sluice plugin check X.so [--plugin-opt k=v]...

    `run` feeds records from a file or stdin to the plugin exactly as a
    worker would (one job, batches of --batch-size, per-record retries with
    the same limit and backoff, then rejection: wrk_batch_run is the
    worker's own code) and prints, one JSON object per line on
    stdout, what the plugin emitted, rejected and retried; a summary goes
    to stderr. Input, one record per line: with --format json (default)
    an object {"key": ..., "value": ..., "headers": {"name": "value"},
    "timestamp": ms} where key and value are strings (other JSON values are
    used as their JSON text) and every field is optional; with --format
    lines each line is a value. Offsets count from 0.

    `check` loads the plugin, validates its table and options, shows the
    ABI minor it was built at, its description (ABI 1.1) and the hooks it
    sets (the *_call ones of ABI 1.2 among them), creates an
    instance, runs a job of three records (a plain one, an empty value, a
    tombstone without key), and destroys it, in a child process, so a
    crash is reported with the step it happened in. Problems are said in
    plain words; exit 0 if the plugin passed, 1 if not, 2 on bad flags.
*/
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "sl_flags.h"
#include "sluice_cmds.h"
#include "wrk_batch.h"
#include "wrk_plugin.h"

#define PROG_RUN   "sluice plugin run"
#define PROG_CHECK "sluice plugin check"
/*  Longest input line; longer ones are refused with their line number.   */
#define PLUGIN_LINE_MAX (16 * 1024 * 1024)

//  ---------------------------------------------------------------------
//  Records read from the input

typedef struct {
    char *key, *value; //  NULL: none
    size_t key_len, value_len;
    sluice_header_t *headers;
    size_t header_count;
    int64_t timestamp;
} s_input_t;

static void
s_input_free (s_input_t *in)
{
    free (in->key);
    free (in->value);
    for (size_t i = 0; i < in->header_count; i++) {
        free ((char *)in->headers[i].name);
        free ((void *)in->headers[i].value);
    }
    free (in->headers);
    memset (in, 0, sizeof *in);
}

//  A JSON value as bytes: a string's own bytes, anything else its JSON
//  text, null as NULL. Returns 0 or -1.
static int
s_json_bytes (json_t *v, char **out, size_t *len)
{
    *out = NULL;
    *len = 0;
    if (!v || json_is_null (v))
        return 0;
    if (json_is_string (v)) {
        *len = json_string_length (v);
        *out = malloc (*len + 1);
        if (!*out)
            return -1;
        memcpy (*out, json_string_value (v), *len + 1);
        return 0;
    }
    *out = json_dumps (v, JSON_COMPACT | JSON_ENCODE_ANY);
    if (!*out)
        return -1;
    *len = strlen (*out);
    return 0;
}

//  Parse one input line into in. Returns 0, or -1 with err.
static int
s_parse_line (const char *line, size_t len, bool json, s_input_t *in, char *err,
              size_t errlen)
{
    memset (in, 0, sizeof *in);
    in->timestamp = -1;
    if (!json) {
        in->value = malloc (len + 1);
        if (!in->value)
            return snprintf (err, errlen, "out of memory"), -1;
        memcpy (in->value, line, len);
        in->value[len] = 0;
        in->value_len = len;
        return 0;
    }
    json_error_t jerr;
    json_t *obj = json_loadb (line, len, 0, &jerr);
    if (!obj || !json_is_object (obj)) {
        snprintf (err, errlen,
                  "not a JSON object (%s); write {\"key\": \"k\", \"value\": "
                  "\"v\"} per line, or use --format lines",
                  obj ? "another JSON value" : jerr.text);
        json_decref (obj);
        return -1;
    }
    const char *field;
    json_t *v;
    json_object_foreach (obj, field, v)
    {
        if (strcmp (field, "key") && strcmp (field, "value") &&
            strcmp (field, "headers") && strcmp (field, "timestamp")) {
            snprintf (err, errlen,
                      "unknown field \"%s\"; a record has key, value, "
                      "headers and timestamp",
                      field);
            goto fail;
        }
    }
    if (s_json_bytes (json_object_get (obj, "key"), &in->key, &in->key_len) ||
        s_json_bytes (json_object_get (obj, "value"), &in->value,
                      &in->value_len)) {
        snprintf (err, errlen, "out of memory");
        goto fail;
    }
    json_t *ts = json_object_get (obj, "timestamp");
    if (ts && !json_is_integer (ts)) {
        snprintf (err, errlen,
                  "\"timestamp\" must be milliseconds, a whole "
                  "number");
        goto fail;
    }
    if (ts)
        in->timestamp = json_integer_value (ts);
    json_t *hs = json_object_get (obj, "headers");
    if (hs && !json_is_object (hs)) {
        snprintf (err, errlen,
                  "\"headers\" must be an object of name: "
                  "value");
        goto fail;
    }
    if (hs && json_object_size (hs)) {
        in->headers = calloc (json_object_size (hs), sizeof *in->headers);
        if (!in->headers) {
            snprintf (err, errlen, "out of memory");
            goto fail;
        }
        json_object_foreach (hs, field, v)
        {
            sluice_header_t *h = &in->headers[in->header_count++];
            char *value;
            size_t vlen;
            h->name = strdup (field);
            if (!h->name || s_json_bytes (v, &value, &vlen)) {
                snprintf (err, errlen, "out of memory");
                goto fail;
            }
            h->value = value;
            h->value_len = vlen;
        }
    }
    json_decref (obj);
    return 0;
fail:
    json_decref (obj);
    s_input_free (in);
    return -1;
}

//  ---------------------------------------------------------------------
//  Output: what the plugin did, as JSON lines

//  Bytes as a JSON string if they are UTF-8 text, else as hex under
//  "<name>_hex". Adds to obj.
static void
s_set_bytes (json_t *obj, const char *name, const void *data, size_t len)
{
    if (!data) {
        json_object_set_new (obj, name, json_null ());
        return;
    }
    json_t *s = json_stringn (data, len);
    if (s) {
        json_object_set_new (obj, name, s);
        return;
    }
    char *hex = malloc (2 * len + 1);
    if (!hex)
        return;
    for (size_t i = 0; i < len; i++)
        sprintf (hex + 2 * i, "%02x", ((const unsigned char *)data)[i]);
    char key[64];
    snprintf (key, sizeof key, "%s_hex", name);
    json_object_set_new (obj, key, json_string (hex));
    free (hex);
}

static void
s_print (json_t *obj)
{
    char *text = json_dumps (obj, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (text) {
        puts (text);
        free (text);
    }
    json_decref (obj);
}

typedef struct {
    uint64_t emitted; //  emits so far; each is printed with its ordinal
    bool quiet;
} s_run_t;

static int
s_emit (void *arg, const sluice_emit_t *rec)
{
    s_run_t *run = arg;
    run->emitted++;
    if (run->quiet)
        return 0;
    json_t *obj = json_object ();
    json_object_set_new (obj, "emit", json_integer ((json_int_t)run->emitted));
    s_set_bytes (obj, "key", rec->key, rec->key_len);
    s_set_bytes (obj, "value", rec->value, rec->value_len);
    if (rec->header_count) {
        json_t *hs = json_object ();
        for (size_t i = 0; i < rec->header_count; i++)
            s_set_bytes (hs, rec->headers[i].name, rec->headers[i].value,
                         rec->headers[i].value_len);
        json_object_set_new (obj, "headers", hs);
    }
    if (rec->partition >= 0)
        json_object_set_new (obj, "partition", json_integer (rec->partition));
    s_print (obj);
    return 0;
}

//  Parse --plugin-opt items into options pointing into the list, keys
//  copied into keys. Returns 0 or -1 with err.
static int
s_options (const sl_strlist_t *items, sluice_option_t *opts, char (*keys)[128],
           char *err, size_t errlen)
{
    for (size_t i = 0; i < items->count; i++) {
        const char *value;
        if (sl_kv_split (items->items[i], keys[i], sizeof keys[i], &value)) {
            snprintf (err, errlen,
                      "--plugin-opt '%s' is not key=value; write it as "
                      "--plugin-opt name=value",
                      items->items[i]);
            return -1;
        }
        opts[i].key = keys[i];
        opts[i].value = value;
    }
    return 0;
}

typedef struct {
    const sluice_record_t *recs;
    const sluice_outcome_t *outs;
} s_batch_t;

//  A record is about to be retried: say so, with the plugin's reason.
static void
s_on_retry (void *arg, size_t i, int64_t round)
{
    const s_batch_t *b = arg;
    json_t *obj = json_object ();
    json_object_set_new (obj, "retry", json_integer (b->recs[i].offset));
    json_object_set_new (obj, "round", json_integer (round));
    json_object_set_new (obj, "reason", json_string (b->outs[i].reason));
    s_print (obj);
}

//  Run the plugin over a batch (offsets first..first+n) as a worker does
//  (wrk_batch_run: retries with the same backoff), printing each
//  retry and reject. Counts into the totals. Returns 0 or -1 (batch
//  failed).
static int
s_run_batch (wrk_plugin_t *plugin, s_run_t *run, sluice_record_t *recs,
             sluice_outcome_t *outs, size_t n, int64_t retries,
             uint64_t *rejected, uint64_t *retried)
{
    s_batch_t b = {recs, outs};
    int64_t plugin_ns = 0;
    if (wrk_batch_run (plugin, recs, n, outs, retries, s_on_retry, &b, retried,
                       &plugin_ns) < 0) {
        json_t *obj = json_object ();
        json_object_set_new (obj, "batch_failed",
                             json_integer (recs[0].offset));
        json_object_set_new (obj, "reason", json_string (outs[0].reason));
        s_print (obj);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        if (outs[i].code == SLUICE_OK)
            continue;
        (*rejected)++;
        json_t *obj = json_object ();
        json_object_set_new (obj, "reject", json_integer (recs[i].offset));
        char reason[SLUICE_REASON_MAX + 64];
        json_object_set_new (obj, "reason",
                             json_string (wrk_batch_reject_reason (
                                 &outs[i], reason, sizeof reason)));
        s_print (obj);
    }
    return 0;
}

//  sluice plugin run
static int
s_cmd_run (int argc, char **argv)
{
    char *plugin_path = NULL, *input = NULL, *format = NULL, *topic = NULL;
    char *output_topic = NULL;
    int64_t batch_size = 0, retries = 0;
    sl_strlist_t plugin_opts = {0};
    sl_flag_t flags[] = {
        {"plugin", 0, SL_FLAG_STR, &plugin_path, NULL, 0, 0, true, "PATH.so",
         "the plugin to run", "SLUICE_PLUGIN"},
        {"plugin-opt", 0, SL_FLAG_KV, &plugin_opts, NULL, 0, 0, false,
         "KEY=VALUE", "plugin option (repeatable)", "SLUICE_PLUGIN_OPT"},
        {"input", 0, SL_FLAG_STR, &input, "-", 0, 0, false, "FILE",
         "records, one per line; - is stdin", "SLUICE_PLUGIN_INPUT"},
        {"format", 0, SL_FLAG_STR, &format, "json", 0, 0, false, "json|lines",
         "a JSON object per line, or one value per line",
         "SLUICE_PLUGIN_FORMAT"},
        {"batch-size", 0, SL_FLAG_INT, &batch_size, "500", 1, 100000, false,
         "N", "most records per plugin call", "SLUICE_BATCH_SIZE"},
        {"record-retries", 0, SL_FLAG_INT, &retries, "3", 0, 100, false, "N",
         "retries of a record the plugin says to retry",
         "SLUICE_RECORD_RETRIES"},
        {"topic", 0, SL_FLAG_STR, &topic, "input", 0, 0, false, "NAME",
         "the topic the records claim to come from", "SLUICE_PLUGIN_TOPIC"},
        {"output-topic", 0, SL_FLAG_STR, &output_topic, "output", 0, 0, false,
         "NAME",
         "what the plugin is told its output topic is (records it "
         "emits are printed, not produced)",
         "SLUICE_OUTPUT_TOPIC"},
    };
    size_t nflags = sizeof flags / sizeof flags[0];
    char err[1024];
    int rc =
        sl_flags_parse (PROG_RUN, flags, nflags, argc, argv, err, sizeof err);
    if (rc == 1) {
        sl_flags_usage (PROG_RUN,
                        "Run a plugin on records from a file or stdin, "
                        "without Kafka, and print what it\nemitted, rejected "
                        "and retried (JSON lines on stdout; a summary on "
                        "stderr).",
                        flags, nflags, stdout);
        sl_flags_free (flags, nflags);
        return 0;
    }
    bool json = format && strcmp (format, "json") == 0;
    if (rc == 0 && !json && strcmp (format, "lines") != 0) {
        snprintf (err, sizeof err, "%s: --format %s: use json or lines",
                  PROG_RUN, format);
        rc = -1;
    }
    if (rc != 0) {
        fprintf (stderr, "%s\n", err);
        sl_flags_free (flags, nflags);
        return 2;
    }
    FILE *in = strcmp (input, "-") == 0 ? stdin : fopen (input, "r");
    if (!in) {
        fprintf (stderr, "%s: --input %s: %s\n", PROG_RUN, input,
                 strerror (errno));
        sl_flags_free (flags, nflags);
        return 2;
    }
    sluice_option_t *opts = calloc (plugin_opts.count + 1, sizeof *opts);
    char (*keys)[128] = calloc (plugin_opts.count + 1, sizeof *keys);
    s_run_t run = {0};
    wrk_plugin_t *plugin = NULL;
    s_input_t *inputs = calloc ((size_t)batch_size, sizeof *inputs);
    sluice_record_t *recs = calloc ((size_t)batch_size, sizeof *recs);
    sluice_outcome_t *outs = calloc ((size_t)batch_size, sizeof *outs);
    char *line = NULL;
    size_t cap = 0, n = 0;
    uint64_t total = 0, rejected = 0, retried = 0, lineno = 0;
    rc = 1;
    if (!opts || !keys || !inputs || !recs || !outs) {
        fprintf (stderr, "%s: out of memory\n", PROG_RUN);
        goto done;
    }
    if (s_options (&plugin_opts, opts, keys, err, sizeof err) != 0) {
        fprintf (stderr, "%s: %s\n", PROG_RUN, err);
        rc = 2;
        goto done;
    }
    plugin = wrk_plugin_new (plugin_path, opts, plugin_opts.count, output_topic,
                             1, s_emit, &run, err, sizeof err);
    if (!plugin) {
        fprintf (stderr, "%s: %s\n", PROG_RUN, err);
        rc = 2;
        goto done;
    }
    //  One job over everything read; its end is not known up front.
    sluice_job_t job = {topic, 0, 0, INT64_MAX, 1, 1};
    if (wrk_plugin_job_begin (plugin, &job, err, sizeof err) != 0) {
        fprintf (stderr, "%s: job_begin failed: %s\n", PROG_RUN, err);
        goto done;
    }
    bool failed = false;
    while (!failed) {
        ssize_t len = getline (&line, &cap, in);
        bool eof = len < 0;
        if (!eof) {
            lineno++;
            if (len > 0 && line[len - 1] == '\n')
                line[--len] = 0;
            if (len > PLUGIN_LINE_MAX) {
                fprintf (stderr, "%s: line %" PRIu64 ": longer than %d bytes\n",
                         PROG_RUN, lineno, PLUGIN_LINE_MAX);
                rc = 2;
                goto done;
            }
            if (json && len == 0)
                continue; //  blank lines separate nothing
            s_input_t *rin = &inputs[n];
            if (s_parse_line (line, (size_t)len, json, rin, err, sizeof err)) {
                fprintf (stderr, "%s: line %" PRIu64 ": %s\n", PROG_RUN, lineno,
                         err);
                rc = 2;
                goto done;
            }
            sluice_record_t *r = &recs[n];
            r->topic = topic;
            r->partition = 0;
            r->offset = (int64_t)total++;
            r->timestamp = rin->timestamp;
            r->key = rin->key;
            r->key_len = rin->key_len;
            r->value = rin->value;
            r->value_len = rin->value_len;
            r->headers = rin->headers;
            r->header_count = rin->header_count;
            n++;
        }
        if (n == (size_t)batch_size || (eof && n > 0)) {
            if (s_run_batch (plugin, &run, recs, outs, n, retries, &rejected,
                             &retried) != 0)
                failed = true;
            for (size_t i = 0; i < n; i++)
                s_input_free (&inputs[i]);
            n = 0;
        }
        if (eof)
            break;
    }
    job.end = (int64_t)total;
    if (!failed && wrk_plugin_job_end (plugin, &job, err, sizeof err) != 0) {
        fprintf (stderr, "%s: job_end failed: %s\n", PROG_RUN, err);
        failed = true;
    }
    fprintf (stderr,
             "%s: plugin %s %s: records=%" PRIu64 " ok=%" PRIu64
             " rejected=%" PRIu64 " retried=%" PRIu64 " emitted=%" PRIu64
             "%s\n",
             PROG_RUN, wrk_plugin_name (plugin), wrk_plugin_version (plugin),
             total, total - rejected, rejected, retried, run.emitted,
             failed ? " (the job failed: a worker would run it again)" : "");
    rc = failed ? 1 : 0;
done:
    for (size_t i = 0; inputs && i < n; i++)
        s_input_free (&inputs[i]);
    wrk_plugin_destroy (&plugin);
    free (line);
    free (inputs);
    free (recs);
    free (outs);
    free (opts);
    free (keys);
    if (in && in != stdin)
        fclose (in);
    sl_flags_free (flags, nflags);
    return rc;
}

//  ---------------------------------------------------------------------
//  sluice plugin check

static const char *const s_steps[] = {
    "loading (dlopen, entry symbol, ABI version, table, options, create)",
    "job_begin", "process (a batch of 3 records)", "job_end", "destroy"};

//  Print the plugin's description on one line, control characters as
//  spaces, or say how to add one.
static void
s_print_description (const char *text)
{
    if (!*text) {
        printf ("note: no description (set the table's description, ABI "
                "1.1, to one line saying what the plugin does)\n");
        return;
    }
    printf ("ok: description: ");
    for (const char *c = text; *c; c++)
        putchar ((unsigned char)*c < 0x20 || *c == 0x7f ? ' ' : *c);
    putchar ('\n');
}

//  The child: run every step, writing the step number to fd before each.
//  Prints what it learns; exits 0 if all went well, 1 if a step failed.
static int
s_check_child (const char *path, const sluice_option_t *opts, size_t nopts,
               int fd)
{
    char err[1024];
    s_run_t run = {.quiet = true};
    unsigned char step = 0;
    if (write (fd, &step, 1) != 1)
        return 1;
    wrk_plugin_t *p = wrk_plugin_new (path, opts, nopts, "output", 1, s_emit,
                                      &run, err, sizeof err);
    if (!p) {
        printf ("FAIL: %s\n", err);
        return 1;
    }
    printf ("ok: loaded %s %s, ABI %d.%u (this sluice speaks %d.%d), %s\n",
            wrk_plugin_name (p), wrk_plugin_version (p),
            SLUICE_PLUGIN_ABI_MAJOR, (unsigned)wrk_plugin_abi_minor (p),
            SLUICE_PLUGIN_ABI_MAJOR, SLUICE_PLUGIN_ABI_MINOR,
            wrk_plugin_flags (p) & SLUICE_PLUGIN_F_THREAD_SAFE
                ? "thread-safe (one instance may run jobs concurrently)"
                : "not thread-safe (one instance per job thread)");
    s_print_description (wrk_plugin_description (p));
    char hooks[256];
    printf ("ok: hooks: %s\n", wrk_plugin_hooks (p, hooks, sizeof hooks));
    printf ("ok: create accepted %zu option(s)\n", nopts);
    fflush (stdout);
    sluice_job_t job = {"check", 0, 0, 3, 1, 1};
    step = 1;
    if (write (fd, &step, 1) != 1)
        return 1;
    if (wrk_plugin_job_begin (p, &job, err, sizeof err) != 0) {
        printf ("FAIL: job_begin returned -1: %s\n", err);
        return 1;
    }
    sluice_header_t hdr = {"h", "v", 1};
    sluice_record_t recs[3] = {
        {"check", 0, 0, 1700000000000, "key", 3, "{\"id\":1}", 8, &hdr, 1},
        {"check", 0, 1, -1, "key", 3, "", 0, NULL, 0},
        {"check", 0, 2, -1, NULL, 0, NULL, 0, NULL, 0}};
    sluice_outcome_t outs[3];
    step = 2;
    if (write (fd, &step, 1) != 1)
        return 1;
    if (wrk_plugin_process (p, recs, 3, outs) != 0) {
        printf ("FAIL: process failed the whole batch: %s\n", outs[0].reason);
        return 1;
    }
    int ok = 0, retry = 0, reject = 0;
    for (int i = 0; i < 3; i++)
        outs[i].code == SLUICE_OK      ? ok++
        : outs[i].code == SLUICE_RETRY ? retry++
                                       : reject++;
    printf ("ok: process: %d ok, %d retry, %d reject, %" PRIu64
            " emitted (a plain record, an empty value, a tombstone)\n",
            ok, retry, reject, run.emitted);
    fflush (stdout);
    step = 3;
    if (write (fd, &step, 1) != 1)
        return 1;
    if (wrk_plugin_job_end (p, &job, err, sizeof err) != 0) {
        printf ("FAIL: job_end returned -1: %s\n", err);
        return 1;
    }
    step = 4;
    if (write (fd, &step, 1) != 1)
        return 1;
    wrk_plugin_destroy (&p);
    printf ("ok: job_end and destroy\n");
    return 0;
}

static int
s_cmd_check (int argc, char **argv)
{
    //  The plugin path is the first argument after "check"; flags follow.
    if (argc < 2 || argv[1][0] == '-') {
        bool help = argc >= 2 && (strcmp (argv[1], "--help") == 0 ||
                                  strcmp (argv[1], "-h") == 0);
        fprintf (help ? stdout : stderr,
                 "usage: %s PATH.so [--plugin-opt KEY=VALUE]...\n"
                 "Load a plugin, check its ABI, table and options, run it "
                 "on three records, and\nsay in plain words what is wrong. "
                 "Exit 0 if it passed, 1 if not.\n",
                 PROG_CHECK);
        return help ? 0 : 2;
    }
    const char *path = argv[1];
    sl_strlist_t plugin_opts = {0};
    sl_flag_t flags[] = {
        {"plugin-opt", 0, SL_FLAG_KV, &plugin_opts, NULL, 0, 0, false,
         "KEY=VALUE", "plugin option (repeatable)", "SLUICE_PLUGIN_OPT"},
    };
    size_t nflags = sizeof flags / sizeof flags[0];
    char err[1024];
    if (sl_flags_parse (PROG_CHECK, flags, nflags, argc - 1, argv + 1, err,
                        sizeof err) != 0) {
        fprintf (stderr, "%s\n", err);
        sl_flags_free (flags, nflags);
        return 2;
    }
    sluice_option_t *opts = calloc (plugin_opts.count + 1, sizeof *opts);
    char (*keys)[128] = calloc (plugin_opts.count + 1, sizeof *keys);
    int rc = 2;
    int fds[2] = {-1, -1};
    if (!opts || !keys ||
        s_options (&plugin_opts, opts, keys, err, sizeof err) != 0) {
        fprintf (stderr, "%s: %s\n", PROG_CHECK, opts ? err : "out of memory");
        goto done;
    }
    if (pipe (fds) != 0) {
        fprintf (stderr, "%s: pipe: %s\n", PROG_CHECK, strerror (errno));
        goto done;
    }
    printf ("checking %s\n", path);
    fflush (stdout);
    pid_t pid = fork ();
    if (pid == 0) {
        close (fds[0]);
        int crc = s_check_child (path, opts, plugin_opts.count, fds[1]);
        fflush (stdout);
        _exit (crc);
    }
    close (fds[1]);
    fds[1] = -1;
    unsigned char step = 0, b;
    while (read (fds[0], &b, 1) == 1)
        step = b;
    int status = 0;
    waitpid (pid, &status, 0);
    if (WIFSIGNALED (status)) {
        printf ("FAIL: the plugin crashed with %s during %s\n",
                strsignal (WTERMSIG (status)), s_steps[step < 5 ? step : 4]);
        rc = 1;
    } else
        rc = WEXITSTATUS (status) == 0 ? 0 : 1;
    printf ("%s\n", rc == 0 ? "PASS" : "FAIL");
done:
    if (fds[0] >= 0)
        close (fds[0]);
    free (opts);
    free (keys);
    sl_flags_free (flags, nflags);
    return rc;
}

//  sluice plugin run|check
int
sluice_cmd_plugin (int argc, char **argv)
{
    if (argc >= 2 && strcmp (argv[1], "run") == 0)
        return s_cmd_run (argc - 1, argv + 1);
    if (argc >= 2 && strcmp (argv[1], "check") == 0)
        return s_cmd_check (argc - 1, argv + 1);
    bool help = argc >= 2 &&
                (strcmp (argv[1], "--help") == 0 ||
                 strcmp (argv[1], "-h") == 0 || strcmp (argv[1], "help") == 0);
    fprintf (help ? stdout : stderr,
             "usage: sluice plugin run --plugin X.so [flags] < records\n"
             "       sluice plugin check X.so [--plugin-opt k=v]...\n"
             "run: run a plugin on records without Kafka (see run "
             "--help); check: validate a plugin.\n");
    return help ? 0 : 2;
}
