/*  test_plugin - the plugin loader (wrk_plugin) and the bundled plugins.

    Loads the real shared objects the build makes: the bundled plugins
    from build/plugins/ and the fixtures (mostly malformed plugins) from
    build/tests/fixtures/, and runs batches through wrk_plugin_process with
    an emit function that captures what the plugin emits.
*/
#include "wrk_plugin.h"

#include <criterion/criterion.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PLUGIN(name)  SLUICE_BUILD_DIR "/plugins/" name ".so"
#define FIXTURE(name) SLUICE_BUILD_DIR "/tests/fixtures/" name ".so"
#define OPT(k, v)     ((sluice_option_t){k, v})
#define COUNT(a)      (sizeof (a) / sizeof (a)[0])

//  --- capturing emit -------------------------------------------------------

typedef struct {
    char key[64];
    size_t key_len;
    bool key_null;
    char value[256];
    size_t value_len;
    size_t header_count;
    char header_name[4][32];
    char header_value[4][32];
    int32_t partition;
} emitted_t;

typedef struct {
    emitted_t recs[64];
    size_t n;
    bool fail; //  make emit return -1
} capture_t;

//  Copy a field into a fixed buffer, NUL-terminated.
static void
s_copy (char *dst, size_t size, const void *src, size_t len)
{
    len = len < size - 1 ? len : size - 1;
    if (src)
        memcpy (dst, src, len);
    dst[src ? len : 0] = 0;
}

//  The emit function under test: records everything the plugin emits.
static int
s_capture (void *arg, const sluice_emit_t *r)
{
    capture_t *cap = arg;
    if (cap->fail || cap->n == COUNT (cap->recs))
        return -1;
    emitted_t *e = &cap->recs[cap->n++];
    e->key_null = r->key == NULL;
    e->key_len = r->key_len;
    s_copy (e->key, sizeof e->key, r->key, r->key_len);
    e->value_len = r->value_len;
    s_copy (e->value, sizeof e->value, r->value, r->value_len);
    e->header_count = r->header_count;
    for (size_t i = 0; i < r->header_count && i < 4; i++) {
        s_copy (e->header_name[i], 32, r->headers[i].name,
                strlen (r->headers[i].name));
        s_copy (e->header_value[i], 32, r->headers[i].value,
                r->headers[i].value_len);
    }
    e->partition = r->partition;
    return 0;
}

//  --- helpers --------------------------------------------------------------

static const sluice_header_t s_headers[] = {{"trace", "abc", 3},
                                            {"empty", NULL, 0}};

//  A record at `offset` with the given value (NULL: a tombstone), key
//  "k<offset>" and two headers.
static sluice_record_t
s_record (int64_t offset, const char *value)
{
    static char keys[64][16];
    char *key = keys[offset % 64];
    snprintf (key, 16, "k%lld", (long long)offset);
    return (sluice_record_t){"in",      0,
                             offset,    1700000000000,
                             key,       strlen (key),
                             value,     value ? strlen (value) : 0,
                             s_headers, COUNT (s_headers)};
}

//  Fill recs [0..n) with s_record (i, values [i]).
static void
s_records (sluice_record_t *recs, const char *const *values, size_t n)
{
    for (size_t i = 0; i < n; i++)
        recs[i] = s_record ((int64_t)i, values[i]);
}

//  Load a plugin that must load; fail the test with its error otherwise.
static wrk_plugin_t *
s_load (const char *path, const sluice_option_t *opts, size_t n,
        const char *topic, capture_t *cap)
{
    char err[512] = "";
    wrk_plugin_t *p = wrk_plugin_new (path, opts, n, topic, 1, s_capture, cap,
                                      err, sizeof err);
    cr_assert_not_null (p, "%s: %s", path, err);
    return p;
}

//  Loading must fail with a one-line error containing `expect`.
static void
s_refused (const char *path, const sluice_option_t *opts, size_t n,
           const char *topic, const char *expect)
{
    char err[512] = "";
    capture_t cap = {0};
    wrk_plugin_t *p = wrk_plugin_new (path, opts, n, topic, 1, s_capture, &cap,
                                      err, sizeof err);
    cr_assert_null (p, "%s loaded, expected: %s", path, expect);
    cr_expect (strstr (err, expect), "error \"%s\" lacks \"%s\"", err, expect);
    cr_expect_null (strchr (err, '\n'), "error is not one line: %s", err);
    cr_expect (strncmp (err, "plugin ", 7) == 0, "no prefix: %s", err);
}

//  Seconds between two timespecs.
static double
s_seconds (struct timespec a, struct timespec b)
{
    return (double)(b.tv_sec - a.tv_sec) +
           (double)(b.tv_nsec - a.tv_nsec) / 1e9;
}

//  --- loading the bundled plugins -----------------------------------------

Test (load, bundled_plugins_describe_themselves)
{
    const char *names[] = {"noop", "copy", "jsonvalid", "sleep", "fault"};
    for (size_t i = 0; i < COUNT (names); i++) {
        char path[512];
        snprintf (path, sizeof path, SLUICE_BUILD_DIR "/plugins/%s.so",
                  names[i]);
        capture_t cap = {0};
        wrk_plugin_t *p = s_load (path, NULL, 0, "out", &cap);
        cr_expect_str_eq (wrk_plugin_name (p), names[i]);
        cr_expect_str_eq (wrk_plugin_version (p), "1.0");
        cr_expect (wrk_plugin_flags (p) & SLUICE_PLUGIN_F_THREAD_SAFE, "%s",
                   names[i]);
        cr_expect_eq (wrk_plugin_abi_minor (p), SLUICE_PLUGIN_ABI_MINOR);
        cr_expect (strlen (wrk_plugin_description (p)) > 10,
                   "%s has no description", names[i]);
        wrk_plugin_destroy (&p);
        cr_expect_null (p);
    }
}

Test (load, path_without_slash_is_in_current_directory)
{
    cr_assert_eq (chdir (SLUICE_BUILD_DIR "/plugins"), 0);
    capture_t cap = {0};
    wrk_plugin_t *p = s_load ("noop.so", NULL, 0, NULL, &cap);
    cr_expect_str_eq (wrk_plugin_name (p), "noop");
    wrk_plugin_destroy (&p);
}

Test (load, nameless_plugin_shows_its_file_name)
{
    capture_t cap = {0};
    wrk_plugin_t *p = s_load (FIXTURE ("noname"), NULL, 0, NULL, &cap);
    cr_expect_str_eq (wrk_plugin_name (p), "noname.so");
    cr_expect_str_eq (wrk_plugin_version (p), "");
    wrk_plugin_destroy (&p);
}

Test (load, destroy_runs_the_plugin_destroy_and_tolerates_null)
{
    char mark[] = "/tmp/sluice-test-plugin-XXXXXX";
    int fd = mkstemp (mark);
    cr_assert_geq (fd, 0);
    close (fd);
    unlink (mark);
    sluice_option_t opts[] = {OPT ("mark", mark)};
    capture_t cap = {0};
    wrk_plugin_t *p = s_load (FIXTURE ("probe"), opts, 1, NULL, &cap);
    struct stat st;
    cr_expect_neq (stat (mark, &st), 0, "destroy ran too early");
    wrk_plugin_destroy (&p);
    cr_expect_null (p);
    cr_expect_eq (stat (mark, &st), 0, "destroy did not run");
    unlink (mark);
    wrk_plugin_destroy (&p);
}

//  --- refusals
//  ----------------------------------------------------------------

Test (refuse, nonexistent_path)
{
    s_refused ("/nonexistent/x.so", NULL, 0, NULL,
               "plugin /nonexistent/x.so: No such file or directory (give "
               "--plugin the path of a plugin .so");
}

Test (refuse, directory)
{
    s_refused (SLUICE_BUILD_DIR, NULL, 0, NULL, "not a regular file");
}

//  A private directory (mode 0700) under /tmp, which itself is writable
//  by everyone and so no place for a plugin. Writes dir.
static void
s_private_dir (char *dir)
{
    strcpy (dir, "/tmp/sluice-test-plugin-dir-XXXXXX");
    cr_assert_not_null (mkdtemp (dir));
}

Test (refuse, file_that_is_not_elf)
{
    char dir[64], path[128];
    s_private_dir (dir);
    snprintf (path, sizeof path, "%s/notelf.so", dir);
    int fd = open (path, O_WRONLY | O_CREAT | O_EXCL, 0644);
    cr_assert_geq (fd, 0);
    const char text[] = "this is not a shared object, just some text\n";
    cr_assert_eq (write (fd, text, sizeof text), (ssize_t)sizeof text);
    close (fd);
    s_refused (path, NULL, 0, NULL, "cannot load");
    s_refused (path, NULL, 0, NULL, "not a shared object");
    unlink (path);
    rmdir (dir);
}

//  Copy a built plugin to dir/name with the given modes for the file and
//  the directory. Returns the new path in path.
static void
s_copy_plugin (const char *dir, mode_t dir_mode, mode_t file_mode, char *path,
               size_t size)
{
    snprintf (path, size, "%s/noop.so", dir);
    FILE *in = fopen (PLUGIN ("noop"), "rb");
    FILE *out = fopen (path, "wb");
    cr_assert (in && out);
    char buf[4096];
    size_t n;
    while ((n = fread (buf, 1, sizeof buf, in)) > 0)
        cr_assert_eq (fwrite (buf, 1, n, out), n);
    fclose (in);
    fclose (out);
    cr_assert_eq (chmod (path, file_mode), 0);
    cr_assert_eq (chmod (dir, dir_mode), 0);
}

Test (refuse, plugin_file_writable_by_others)
{
    char dir[64], path[128];
    s_private_dir (dir);
    s_copy_plugin (dir, 0755, 0757, path, sizeof path);
    s_refused (path, NULL, 0, NULL,
               "the file is writable by other users (mode 757)");
    //  The same file, chmod o-w: it loads.
    cr_assert_eq (chmod (path, 0755), 0);
    capture_t cap = {0};
    wrk_plugin_t *p = s_load (path, NULL, 0, NULL, &cap);
    cr_expect_str_eq (wrk_plugin_name (p), "noop");
    wrk_plugin_destroy (&p);
    unlink (path);
    rmdir (dir);
}

Test (refuse, plugin_directory_writable_by_others)
{
    char dir[64], path[128];
    s_private_dir (dir);
    s_copy_plugin (dir, 0777, 0755, path, sizeof path);
    s_refused (path, NULL, 0, NULL,
               "its directory is writable by other users (mode 777)");
    unlink (path);
    rmdir (dir);
}

Test (refuse, missing_entry_symbol)
{
    s_refused (FIXTURE ("no_entry"), NULL, 0, NULL,
               "no_entry.so: no symbol sluice_plugin_entry (is it a sluice "
               "plugin? build with SLUICE_PLUGIN_EXPORT)");
}

Test (refuse, entry_returns_null)
{
    s_refused (FIXTURE ("null_table"), NULL, 0, NULL,
               "sluice_plugin_entry() returned NULL");
}

Test (refuse, abi_major_mismatch)
{
    s_refused (FIXTURE ("abi_major2"), NULL, 0, NULL,
               "abi_major2.so: ABI major 2, this worker speaks 1: rebuild "
               "the plugin against this sluice");
}

Test (refuse, table_too_small)
{
    s_refused (FIXTURE ("small_table"), NULL, 0, NULL,
               "is smaller than the ABI 1.0 table");
}

Test (refuse, null_process)
{
    s_refused (FIXTURE ("null_process"), NULL, 0, NULL, "process is NULL");
}

Test (refuse, unresolved_worker_symbol)
{
    s_refused (FIXTURE ("undef_worker_symbol"), NULL, 0, NULL,
               "undefined symbol: sl_log");
    s_refused (FIXTURE ("undef_worker_symbol"), NULL, 0, NULL,
               "plugins cannot use worker symbols");
}

Test (refuse, unknown_option_for_a_plugin_without_options)
{
    sluice_option_t opts[] = {OPT ("speed", "3")};
    s_refused (PLUGIN ("noop"), opts, 1, NULL,
               "unknown option 'speed' (noop takes no options");
}

Test (refuse, unknown_option_lists_the_accepted_ones)
{
    sluice_option_t opts[] = {OPT ("us_per_record", "1"), OPT ("speed", "3")};
    s_refused (PLUGIN ("sleep"), opts, 2, NULL,
               "unknown option 'speed' (sleep accepts: us_per_record)");
    sluice_option_t fopts[] = {OPT ("crash", "x")};
    s_refused (
        PLUGIN ("fault"), fopts, 1, NULL,
        "fault accepts: crash_on, hang_on, reject_on, big_on, fail_attempts");
}

Test (refuse, create_failing)
{
    sluice_option_t opts[] = {OPT ("mode", "fail-create")};
    s_refused (FIXTURE ("probe"), opts, 1, NULL,
               "probe.so: create failed: probe: told to fail");
    sluice_option_t silent[] = {OPT ("mode", "fail-create-silent")};
    s_refused (FIXTURE ("probe"), silent, 1, NULL,
               "create failed: no reason given");
}

Test (refuse, copy_without_output_topic)
{
    s_refused (PLUGIN ("copy"), NULL, 0, NULL,
               "create failed: copy: no output topic to emit to");
    s_refused (PLUGIN ("copy"), NULL, 0, "", "--output-topic TOPIC");
}

Test (refuse, sleep_with_bad_values)
{
    sluice_option_t word[] = {OPT ("us_per_record", "abc")};
    s_refused (PLUGIN ("sleep"), word, 1, NULL,
               "create failed: sleep: option us_per_record: \"abc\" is not a "
               "whole number");
    sluice_option_t negative[] = {OPT ("us_per_record", "-5")};
    s_refused (PLUGIN ("sleep"), negative, 1, NULL,
               "sleep: option us_per_record: \"-5\" is less than 0");
    sluice_option_t empty[] = {OPT ("us_per_record", "")};
    s_refused (PLUGIN ("sleep"), empty, 1, NULL,
               "sleep: option us_per_record: \"\" is not a whole number");
    sluice_option_t huge[] = {OPT ("us_per_record", "99999999999999999999999")};
    s_refused (PLUGIN ("sleep"), huge, 1, NULL,
               "sleep: option us_per_record: \"99999999999999999999999\" is "
               "more than 3600000000");
    sluice_option_t hour[] = {OPT ("us_per_record", "3600000001")};
    s_refused (PLUGIN ("sleep"), hour, 1, NULL, "is more than 3600000000");
}

//  --- ABI versions: major refused, minor append-only ---------------------

Test (abi, plugin_built_at_1_0_loads_and_runs)
{
    //  Its table ends before `description`, and what follows it in memory
    //  must not be read as one.
    capture_t cap = {0};
    wrk_plugin_t *p = s_load (FIXTURE ("abi_v1_0"), NULL, 0, "out", &cap);
    cr_expect_str_eq (wrk_plugin_name (p), "abi_v1_0");
    cr_expect_str_eq (wrk_plugin_version (p), "1.0");
    cr_expect_eq (wrk_plugin_abi_minor (p), 0);
    cr_expect_str_eq (wrk_plugin_description (p), "");
    sluice_job_t job = {"in", 0, 0, 2, 1, 7};
    char err[256] = "";
    cr_assert_eq (wrk_plugin_job_begin (p, &job, err, sizeof err), 0, "%s",
                  err);
    sluice_record_t recs[2] = {s_record (0, "a"), s_record (1, "bc")};
    sluice_outcome_t out[2];
    cr_assert_eq (wrk_plugin_process (p, recs, 2, out), 0);
    cr_expect_eq (out[0].code, SLUICE_REJECT);
    cr_expect_str_eq (out[0].reason, "abi_v1_0 saw a in job 1");
    cr_expect_str_eq (out[1].reason, "abi_v1_0 saw bc in job 1");
    cr_expect_eq (wrk_plugin_job_end (p, &job, err, sizeof err), 0, "%s", err);
    cr_expect_eq (cap.n, 0);
    wrk_plugin_destroy (&p);
}

Test (abi, plugin_built_at_a_newer_minor_loads)
{
    //  Fields appended after this worker's minor are ignored.
    capture_t cap = {0};
    wrk_plugin_t *p = s_load (FIXTURE ("abi_v1_future"), NULL, 0, NULL, &cap);
    cr_expect_eq (wrk_plugin_abi_minor (p), 99);
    cr_expect_str_eq (wrk_plugin_description (p), "built at ABI 1.99");
    sluice_record_t rec = s_record (0, "a");
    sluice_outcome_t out[1];
    cr_expect_eq (wrk_plugin_process (p, &rec, 1, out), 0);
    cr_expect_eq (out[0].code, SLUICE_OK);
    wrk_plugin_destroy (&p);
}

Test (abi, description_of_a_current_plugin)
{
    capture_t cap = {0};
    wrk_plugin_t *p = s_load (FIXTURE ("probe"), NULL, 0, NULL, &cap);
    cr_expect_eq (wrk_plugin_abi_minor (p), SLUICE_PLUGIN_ABI_MINOR);
    cr_expect_str_eq (wrk_plugin_description (p),
                      "exercises the host table; misbehaves on request");
    wrk_plugin_destroy (&p);
}

Test (abi, newer_major_is_refused)
{
    //  Its table is two fields long: only abi_major may be read.
    s_refused (FIXTURE ("abi_major2"), NULL, 0, NULL,
               "ABI major 2, this worker speaks 1");
}

Test (abi, plugin_built_at_1_1_loads_and_runs)
{
    //  Built with a frozen copy of the 1.1 header: its table ends before
    //  the *_call hooks, and what follows it in memory are traps.
    capture_t cap = {0};
    wrk_plugin_t *p = s_load (FIXTURE ("abi_v1_1"), NULL, 0, "out", &cap);
    cr_expect_eq (wrk_plugin_abi_minor (p), 1);
    cr_expect_str_eq (wrk_plugin_description (p), "built at ABI 1.1");
    char hooks[256];
    cr_expect_str_eq (wrk_plugin_hooks (p, hooks, sizeof hooks),
                      "create job_begin process job_end destroy");
    sluice_job_t job = {"in", 0, 0, 2, 1, 7};
    char err[256] = "";
    cr_assert_eq (wrk_plugin_job_begin (p, &job, err, sizeof err), 0, "%s",
                  err);
    sluice_record_t recs[2] = {s_record (0, "a"), s_record (1, "bc")};
    sluice_outcome_t out[2];
    cr_assert_eq (wrk_plugin_process (p, recs, 2, out), 0, "%s", out[0].reason);
    cr_expect_eq (out[0].code, SLUICE_OK, "%s", out[0].reason);
    cr_expect_eq (wrk_plugin_job_end (p, &job, err, sizeof err), 0, "%s", err);
    cr_assert_eq (cap.n, 2);
    cr_expect_str_eq (cap.recs[0].value, "abi_v1_1:a");
    cr_expect_str_eq (cap.recs[1].value, "abi_v1_1:bc");
    wrk_plugin_destroy (&p);
}

Test (abi, older_hooks_of_a_1_0_plugin_are_the_ones_called)
{
    capture_t cap = {0};
    wrk_plugin_t *p = s_load (FIXTURE ("abi_v1_0"), NULL, 0, NULL, &cap);
    char hooks[256];
    cr_expect_str_eq (wrk_plugin_hooks (p, hooks, sizeof hooks),
                      "job_begin process job_end");
    wrk_plugin_destroy (&p);
}

Test (abi, a_shared_1_1_instance_emits_for_the_lane_that_calls)
{
    //  A 1.1 plugin emits through its one ctx: the record goes to the lane
    //  whose hook is running, not to the lane that created the instance.
    capture_t cap0 = {0}, cap1 = {0};
    char err[256] = "";
    wrk_plugin_t *p0 = wrk_plugin_new (FIXTURE ("abi_v1_1"), NULL, 0, "out", 2,
                                       s_capture, &cap0, err, sizeof err);
    cr_assert_not_null (p0, "%s", err);
    wrk_plugin_t *p1 = wrk_plugin_share (p0, s_capture, &cap1, err, sizeof err);
    cr_assert_not_null (p1, "%s", err);
    sluice_record_t rec = s_record (0, "x");
    sluice_outcome_t out[1];
    cr_assert_eq (wrk_plugin_process (p1, &rec, 1, out), 0);
    cr_expect_eq (cap0.n, 0, "lane 1's emit went to lane 0");
    cr_assert_eq (cap1.n, 1);
    cr_expect_str_eq (cap1.recs[0].value, "abi_v1_1:x");
    cr_assert_eq (wrk_plugin_process (p0, &rec, 1, out), 0);
    cr_expect_eq (cap0.n, 1);
    cr_expect_eq (cap1.n, 1);
    //  Handles go in any order; the instance lives until the last.
    wrk_plugin_destroy (&p0);
    cr_assert_eq (wrk_plugin_process (p1, &rec, 1, out), 0);
    cr_expect_eq (cap1.n, 2);
    wrk_plugin_destroy (&p1);
    cr_expect_null (p1);
}

//  --- the call context (ABI 1.2) ------------------------------------------

Test (call, a_thread_safe_instance_serves_the_lanes_asked_for)
{
    capture_t cap = {0};
    char err[256] = "";
    wrk_plugin_t *p[3];
    p[0] = wrk_plugin_new (FIXTURE ("call_context"), NULL, 0, "out", 3,
                           s_capture, &cap, err, sizeof err);
    cr_assert_not_null (p[0], "%s", err);
    for (int i = 1; i < 3; i++) {
        p[i] = wrk_plugin_share (p[0], s_capture, &cap, err, sizeof err);
        cr_assert_not_null (p[i], "%s", err);
    }
    for (uint32_t i = 0; i < 3; i++) {
        cr_expect_eq (wrk_plugin_lane (p[i]), i);
        cr_expect_eq (wrk_plugin_lanes (p[i]), 3);
    }
    cr_expect_null (wrk_plugin_share (p[0], s_capture, &cap, err, sizeof err));
    cr_expect (strstr (err, "serves 3 lane(s), all taken"), "%s", err);
    char hooks[256];
    cr_expect_str_eq (wrk_plugin_hooks (p[1], hooks, sizeof hooks),
                      "create job_begin_call process_call job_end_call "
                      "destroy");
    for (int i = 0; i < 3; i++)
        wrk_plugin_destroy (&p[i]);

    //  A plugin that is not thread-safe: one lane per instance.
    p[0] = wrk_plugin_new (FIXTURE ("probe"), NULL, 0, NULL, 3, s_capture, &cap,
                           err, sizeof err);
    cr_assert_not_null (p[0], "%s", err);
    cr_expect_eq (wrk_plugin_lanes (p[0]), 1);
    cr_expect_null (wrk_plugin_share (p[0], s_capture, &cap, err, sizeof err));
    wrk_plugin_destroy (&p[0]);
}

Test (call, the_plugin_gets_its_job_and_lane_and_emits_for_them)
{
    capture_t cap = {0};
    wrk_plugin_t *p = s_load (FIXTURE ("call_context"), NULL, 0, "out", &cap);
    sluice_job_t job = {"in", 0, 10, 20, 2, 77};
    char err[256] = "";
    cr_assert_eq (wrk_plugin_job_begin (p, &job, err, sizeof err), 0, "%s",
                  err);
    sluice_record_t recs[3] = {s_record (10, "a"), s_record (11, "b"),
                               s_record (25, "c")};
    sluice_outcome_t out[3];
    cr_assert_eq (wrk_plugin_process (p, recs, 3, out), 0);
    cr_expect_eq (out[0].code, SLUICE_OK, "%s", out[0].reason);
    cr_expect_eq (out[1].code, SLUICE_OK, "%s", out[1].reason);
    cr_expect_eq (out[2].code, SLUICE_REJECT);
    cr_expect (strstr (out[2].reason, "outside the job's range"), "%s",
               out[2].reason);
    cr_expect_eq (wrk_plugin_job_end (p, &job, err, sizeof err), 0, "%s", err);
    cr_assert_eq (cap.n, 3);
    cr_expect_str_eq (cap.recs[0].value, "job=77 lane=0 offset=10");
    cr_expect_str_eq (cap.recs[0].key, "k10");
    cr_expect_str_eq (cap.recs[1].value, "job=77 lane=0 offset=11");
    cr_expect_str_eq (cap.recs[2].value, "end job=77 lane=0 records=2");
    wrk_plugin_destroy (&p);
}

//  One lane's run for the concurrent test: a handle, the jobs it runs and
//  what arrived at its emit function.
typedef struct {
    wrk_plugin_t *plugin;
    uint32_t lane;
    size_t emitted, misrouted, failed;
    char first_problem[SLUICE_REASON_MAX + 64];
} lane_run_t;

#define S_LANES   4
#define S_JOBS    25
#define S_BATCHES 4
#define S_BATCH   8

//  A lane's emit function: every record must be of a job of this lane
//  (job id / 1000 == lane + 1) and say this lane.
static int
s_lane_capture (void *arg, const sluice_emit_t *r)
{
    lane_run_t *run = arg;
    char text[128];
    s_copy (text, sizeof text, r->value, r->value_len);
    const char *p = strncmp (text, "end ", 4) == 0 ? text + 4 : text;
    unsigned long long job = 0;
    unsigned lane = 0;
    if (sscanf (p, "job=%llu lane=%u", &job, &lane) != 2 || lane != run->lane ||
        job / 1000 != run->lane + 1) {
        if (!run->misrouted++)
            snprintf (run->first_problem, sizeof run->first_problem,
                      "lane %u got \"%s\"", (unsigned)run->lane, text);
    }
    run->emitted++;
    return 0;
}

//  Note a failure of the lane's run (the first one's text is kept).
static void
s_lane_failed (lane_run_t *run, const char *what)
{
    if (!run->failed++)
        snprintf (run->first_problem, sizeof run->first_problem, "%s", what);
}

//  Run S_JOBS jobs of S_BATCHES batches on the lane's handle.
static void *
s_lane_thread (void *arg)
{
    lane_run_t *run = arg;
    char topic[16], err[256];
    snprintf (topic, sizeof topic, "t%u", (unsigned)run->lane);
    for (int64_t j = 0; j < S_JOBS; j++) {
        int64_t start = j * 100;
        sluice_job_t job = {topic, (int32_t)run->lane,
                            start, start + S_BATCHES * S_BATCH,
                            1,     (run->lane + 1) * 1000 + (uint64_t)j};
        if (wrk_plugin_job_begin (run->plugin, &job, err, sizeof err) != 0)
            s_lane_failed (run, err);
        for (int64_t b = 0; b < S_BATCHES; b++) {
            sluice_record_t recs[S_BATCH];
            sluice_outcome_t out[S_BATCH];
            for (int64_t i = 0; i < S_BATCH; i++)
                recs[i] = (sluice_record_t){topic,
                                            (int32_t)run->lane,
                                            start + b * S_BATCH + i,
                                            -1,
                                            NULL,
                                            0,
                                            "v",
                                            1,
                                            NULL,
                                            0};
            if (wrk_plugin_process (run->plugin, recs, S_BATCH, out) != 0)
                s_lane_failed (run, out[0].reason);
            for (int i = 0; i < S_BATCH; i++)
                if (out[i].code != SLUICE_OK)
                    s_lane_failed (run, out[i].reason);
        }
        if (wrk_plugin_job_end (run->plugin, &job, err, sizeof err) != 0)
            s_lane_failed (run, err);
    }
    return NULL;
}

Test (call, every_lane_of_a_shared_instance_sees_its_own_job)
{
    //  Four threads share one instance, each running its own jobs on its
    //  own lane; the plugin checks each record against the call's job and
    //  its lane's slot, and the emits must reach the right lane's emit
    //  function.
    lane_run_t runs[S_LANES];
    memset (runs, 0, sizeof runs);
    sluice_option_t opts[] = {OPT ("us_per_batch", "200")};
    char err[256] = "";
    runs[0].plugin =
        wrk_plugin_new (FIXTURE ("call_context"), opts, 1, "out", S_LANES,
                        s_lane_capture, &runs[0], err, sizeof err);
    cr_assert_not_null (runs[0].plugin, "%s", err);
    for (uint32_t l = 1; l < S_LANES; l++) {
        runs[l].plugin = wrk_plugin_share (runs[0].plugin, s_lane_capture,
                                           &runs[l], err, sizeof err);
        cr_assert_not_null (runs[l].plugin, "%s", err);
    }
    pthread_t threads[S_LANES];
    for (uint32_t l = 0; l < S_LANES; l++) {
        runs[l].lane = l;
        cr_assert_eq (
            pthread_create (&threads[l], NULL, s_lane_thread, &runs[l]), 0);
    }
    for (uint32_t l = 0; l < S_LANES; l++)
        pthread_join (threads[l], NULL);
    for (uint32_t l = 0; l < S_LANES; l++) {
        cr_expect_eq (runs[l].failed, 0, "lane %u: %s", (unsigned)l,
                      runs[l].first_problem);
        cr_expect_eq (runs[l].misrouted, 0, "lane %u: %s", (unsigned)l,
                      runs[l].first_problem);
        cr_expect_eq (runs[l].emitted, S_JOBS * (S_BATCHES * S_BATCH + 1),
                      "lane %u", (unsigned)l);
        wrk_plugin_destroy (&runs[l].plugin);
    }
}

//  Run one job of one batch on a handle (for the relay test's lane 1).
static void *
s_one_batch (void *arg)
{
    wrk_plugin_t *p = arg;
    sluice_job_t job = {"in", 0, 0, 1, 1, 2000 + wrk_plugin_lane (p)};
    char err[256];
    wrk_plugin_job_begin (p, &job, err, sizeof err);
    sluice_record_t rec = s_record (0, "a");
    sluice_outcome_t out[1];
    wrk_plugin_process (p, &rec, 1, out);
    return NULL;
}

Test (call, an_emit_made_on_another_thread_goes_to_the_calls_lane)
{
    //  Lane 0's process waits while lane 1, on its own thread, emits
    //  through lane 0's call (a plugin batching across lanes would): the
    //  record belongs to lane 0's job.
    capture_t cap0 = {0}, cap1 = {0};
    sluice_option_t opts[] = {OPT ("mode", "relay")};
    char err[256] = "";
    wrk_plugin_t *p0 = wrk_plugin_new (FIXTURE ("call_context"), opts, 1, "out",
                                       2, s_capture, &cap0, err, sizeof err);
    cr_assert_not_null (p0, "%s", err);
    wrk_plugin_t *p1 = wrk_plugin_share (p0, s_capture, &cap1, err, sizeof err);
    cr_assert_not_null (p1, "%s", err);
    pthread_t t0, t1;
    cr_assert_eq (pthread_create (&t0, NULL, s_one_batch, p0), 0);
    cr_assert_eq (pthread_create (&t1, NULL, s_one_batch, p1), 0);
    pthread_join (t0, NULL);
    pthread_join (t1, NULL);
    cr_assert_eq (cap0.n, 2, "lane 0 got %zu records", cap0.n);
    cr_expect_str_eq (cap0.recs[0].value, "relayed by lane 1");
    cr_expect_str_eq (cap0.recs[1].value, "job=2000 lane=0 offset=0");
    cr_assert_eq (cap1.n, 1, "lane 1 got %zu records", cap1.n);
    cr_expect_str_eq (cap1.recs[0].value, "job=2001 lane=1 offset=0");
    wrk_plugin_destroy (&p1);
    wrk_plugin_destroy (&p0);
}

Test (call, an_emit_through_a_call_whose_hook_returned_is_refused)
{
    //  mode=late: each process first emits through the call the previous
    //  process was given. Lane 1's emit through lane 0's finished call is
    //  refused (lane 0 may be on another job by then).
    capture_t cap0 = {0}, cap1 = {0};
    sluice_option_t opts[] = {OPT ("mode", "late")};
    char err[256] = "";
    wrk_plugin_t *p0 = wrk_plugin_new (FIXTURE ("call_context"), opts, 1, "out",
                                       2, s_capture, &cap0, err, sizeof err);
    cr_assert_not_null (p0, "%s", err);
    wrk_plugin_t *p1 = wrk_plugin_share (p0, s_capture, &cap1, err, sizeof err);
    cr_assert_not_null (p1, "%s", err);
    s_one_batch (p0);
    sluice_job_t job = {"in", 0, 0, 1, 1, 2001};
    cr_assert_eq (wrk_plugin_job_begin (p1, &job, err, sizeof err), 0);
    sluice_record_t rec = s_record (0, "a");
    sluice_outcome_t out[1];
    cr_assert_eq (wrk_plugin_process (p1, &rec, 1, out), 0);
    cr_expect_eq (out[0].code, SLUICE_REJECT);
    cr_expect_str_eq (out[0].reason, "late emit refused");
    cr_expect_eq (cap0.n, 1, "only lane 0's own record");
    wrk_plugin_destroy (&p1);
    wrk_plugin_destroy (&p0);
}

//  --- the host table ---------------------------------------------------------

Test (host, emit_option_and_output_topic_reach_the_plugin)
{
    //  A repeated option: the last one wins.
    sluice_option_t opts[] = {OPT ("mode", "echo"), OPT ("value", "first"),
                              OPT ("value", "last")};
    capture_t cap = {0};
    wrk_plugin_t *p = s_load (FIXTURE ("probe"), opts, 3, "out", &cap);
    sluice_record_t recs[2] = {s_record (0, "a"), s_record (1, "b")};
    sluice_outcome_t out[2];
    cr_assert_eq (wrk_plugin_process (p, recs, 2, out), 0);
    cr_assert_eq (cap.n, 2);
    cr_expect_str_eq (cap.recs[0].key, "out");
    cr_expect_str_eq (cap.recs[0].value, "last");
    cr_expect_eq (cap.recs[0].partition, 7);
    cr_expect_eq (cap.recs[0].header_count, 1);
    cr_expect_str_eq (cap.recs[0].header_name[0], "h");
    cr_expect_eq (out[0].code, SLUICE_OK);
    wrk_plugin_destroy (&p);
}

Test (host, table_is_size_prefixed_with_the_current_size)
{
    //  The plugin reads abi_major, abi_minor and size from the host table
    //  it was given, and emits them.
    sluice_option_t opts[] = {OPT ("mode", "host-abi")};
    capture_t cap = {0};
    wrk_plugin_t *p = s_load (FIXTURE ("probe"), opts, 1, "out", &cap);
    sluice_record_t rec = s_record (0, "a");
    sluice_outcome_t out[1];
    cr_assert_eq (wrk_plugin_process (p, &rec, 1, out), 0);
    cr_assert_eq (cap.n, 1);
    char expect[64];
    snprintf (expect, sizeof expect, "abi=%d.%d size=%zu",
              SLUICE_PLUGIN_ABI_MAJOR, SLUICE_PLUGIN_ABI_MINOR,
              sizeof (sluice_host_t));
    cr_expect_str_eq (cap.recs[0].value, expect);
    //  The 1.0 host table ended with output_topic: it may only grow.
    cr_expect_geq (sizeof (sluice_host_t),
                   offsetof (sluice_host_t, output_topic) +
                       sizeof (const char *(*)(sluice_ctx_t *)));
    wrk_plugin_destroy (&p);
}

Test (host, emit_fails_without_output_topic)
{
    sluice_option_t opts[] = {OPT ("mode", "echo")};
    capture_t cap = {0};
    wrk_plugin_t *p = s_load (FIXTURE ("probe"), opts, 1, NULL, &cap);
    sluice_record_t rec = s_record (0, "a");
    sluice_outcome_t out[1];
    cr_assert_eq (wrk_plugin_process (p, &rec, 1, out), 0);
    cr_expect_eq (cap.n, 0);
    cr_expect_eq (out[0].code, SLUICE_RETRY);
    cr_expect_str_eq (out[0].reason, "emit failed");
    wrk_plugin_destroy (&p);
}

Test (host, emit_refuses_null_pointer_with_length)
{
    sluice_option_t opts[] = {OPT ("mode", "bad-emit")};
    capture_t cap = {0};
    wrk_plugin_t *p = s_load (FIXTURE ("probe"), opts, 1, "out", &cap);
    sluice_record_t rec = s_record (0, "a");
    sluice_outcome_t out[1];
    cr_assert_eq (wrk_plugin_process (p, &rec, 1, out), 0);
    cr_expect_eq (cap.n, 0, "a malformed record reached emit_fn");
    cr_expect_eq (out[0].code, SLUICE_REJECT);
    wrk_plugin_destroy (&p);
}

Test (host, job_hooks)
{
    sluice_job_t job = {"in", 0, 0, 10, 1, 42};
    char err[256] = "";
    capture_t cap = {0};
    wrk_plugin_t *noop = s_load (PLUGIN ("noop"), NULL, 0, NULL, &cap);
    cr_expect_eq (wrk_plugin_job_begin (noop, &job, err, sizeof err), 0);
    cr_expect_eq (wrk_plugin_job_end (noop, &job, err, sizeof err), 0);
    wrk_plugin_destroy (&noop);

    sluice_option_t opts[] = {OPT ("mode", "fail-job")};
    wrk_plugin_t *p = s_load (FIXTURE ("probe"), opts, 1, NULL, &cap);
    cr_expect_eq (wrk_plugin_job_begin (p, &job, err, sizeof err), -1);
    cr_expect_str_eq (err,
                      "plugin probe: job_begin failed: probe: cannot begin "
                      "job 42");
    cr_expect_eq (wrk_plugin_job_end (p, &job, err, sizeof err), -1);
    cr_expect_str_eq (err, "plugin probe: job_end failed: no reason given");
    wrk_plugin_destroy (&p);
}

//  --- what process hands back
//  -------------------------------------------------

Test (process, outcomes_are_reset_before_the_call)
{
    capture_t cap = {0};
    wrk_plugin_t *p = s_load (PLUGIN ("noop"), NULL, 0, NULL, &cap);
    sluice_record_t recs[3] = {s_record (0, "a"), s_record (1, "b"),
                               s_record (2, NULL)};
    sluice_outcome_t out[3];
    memset (out, 'z', sizeof out);
    cr_assert_eq (wrk_plugin_process (p, recs, 3, out), 0);
    for (size_t i = 0; i < 3; i++) {
        cr_expect_eq (out[i].code, SLUICE_OK);
        cr_expect_str_eq (out[i].reason, "");
    }
    cr_expect_eq (cap.n, 0);
    cr_expect_eq (wrk_plugin_process (p, NULL, 0, NULL), 0);
    wrk_plugin_destroy (&p);
}

Test (process, unknown_codes_become_reject)
{
    sluice_option_t opts[] = {OPT ("mode", "bad-codes")};
    capture_t cap = {0};
    wrk_plugin_t *p = s_load (FIXTURE ("probe"), opts, 1, NULL, &cap);
    sluice_record_t recs[2] = {s_record (0, "a"), s_record (1, "b")};
    sluice_outcome_t out[2];
    cr_assert_eq (wrk_plugin_process (p, recs, 2, out), 0);
    cr_expect_eq (out[0].code, SLUICE_REJECT);
    cr_expect (strstr (out[0].reason, "outcome code -1"), "%s", out[0].reason);
    cr_expect_eq (out[1].code, SLUICE_REJECT);
    cr_expect (strstr (out[1].reason, "outcome code 7"), "%s", out[1].reason);
    wrk_plugin_destroy (&p);
}

Test (process, failed_batch_always_has_a_reason)
{
    sluice_record_t rec = s_record (0, "a");
    sluice_outcome_t out[1];
    capture_t cap = {0};
    sluice_option_t silent[] = {OPT ("mode", "fail-batch")};
    wrk_plugin_t *p = s_load (FIXTURE ("probe"), silent, 1, NULL, &cap);
    cr_expect_eq (wrk_plugin_process (p, &rec, 1, out), -1);
    cr_expect_str_eq (out[0].reason,
                      "plugin probe failed the batch without a reason");
    wrk_plugin_destroy (&p);

    sluice_option_t reason[] = {OPT ("mode", "fail-batch-reason")};
    p = s_load (FIXTURE ("probe"), reason, 1, NULL, &cap);
    cr_expect_eq (wrk_plugin_process (p, &rec, 1, out), -1);
    cr_expect_str_eq (out[0].reason, "probe: batch failed");
    wrk_plugin_destroy (&p);
}

Test (process, reasons_are_terminated_and_never_empty)
{
    sluice_record_t rec = s_record (0, "a");
    sluice_outcome_t out[1];
    capture_t cap = {0};
    sluice_option_t unterminated[] = {OPT ("mode", "unterminated")};
    wrk_plugin_t *p = s_load (FIXTURE ("probe"), unterminated, 1, NULL, &cap);
    cr_assert_eq (wrk_plugin_process (p, &rec, 1, out), 0);
    cr_expect_eq (strlen (out[0].reason), SLUICE_REASON_MAX - 1);
    wrk_plugin_destroy (&p);

    sluice_option_t empty[] = {OPT ("mode", "empty-reason")};
    p = s_load (FIXTURE ("probe"), empty, 1, NULL, &cap);
    cr_assert_eq (wrk_plugin_process (p, &rec, 1, out), 0);
    cr_expect_eq (out[0].code, SLUICE_REJECT);
    cr_expect_str_eq (out[0].reason, "rejected by plugin probe");
    wrk_plugin_destroy (&p);
}

//  --- the bundled plugins
//  -----------------------------------------------------

Test (copy, copies_key_value_and_headers)
{
    capture_t cap = {0};
    wrk_plugin_t *p = s_load (PLUGIN ("copy"), NULL, 0, "out", &cap);
    sluice_record_t recs[3] = {s_record (0, "hello"), s_record (1, NULL),
                               s_record (2, "")};
    recs[2].key = NULL;
    recs[2].key_len = 0;
    sluice_outcome_t out[3];
    cr_assert_eq (wrk_plugin_process (p, recs, 3, out), 0);
    cr_assert_eq (cap.n, 3);
    cr_expect_str_eq (cap.recs[0].key, "k0");
    cr_expect_str_eq (cap.recs[0].value, "hello");
    cr_expect_eq (cap.recs[0].value_len, 5);
    cr_expect_eq (cap.recs[0].partition, -1);
    cr_expect_eq (cap.recs[0].header_count, 2);
    cr_expect_str_eq (cap.recs[0].header_name[0], "trace");
    cr_expect_str_eq (cap.recs[0].header_value[0], "abc");
    cr_expect_str_eq (cap.recs[0].header_name[1], "empty");
    cr_expect_eq (cap.recs[1].value_len, 0, "tombstone copied as one");
    cr_expect (cap.recs[2].key_null, "a NULL key stays NULL");
    for (size_t i = 0; i < 3; i++)
        cr_expect_eq (out[i].code, SLUICE_OK);
    wrk_plugin_destroy (&p);
}

Test (copy, failed_emit_fails_the_batch)
{
    capture_t cap = {.fail = true};
    wrk_plugin_t *p = s_load (PLUGIN ("copy"), NULL, 0, "out", &cap);
    sluice_record_t rec = s_record (5, "x");
    sluice_outcome_t out[1];
    cr_expect_eq (wrk_plugin_process (p, &rec, 1, out), -1);
    cr_expect_str_eq (out[0].reason,
                      "could not queue the output record for offset 5");
    wrk_plugin_destroy (&p);
}

Test (copy, copies_go_out_with_the_lane_that_read_them)
{
    //  One instance, two lanes: each copy goes to the emit function of the
    //  lane whose call read the record (ABI 1.2).
    capture_t cap0 = {0}, cap1 = {0};
    char err[256] = "";
    wrk_plugin_t *p0 = wrk_plugin_new (PLUGIN ("copy"), NULL, 0, "out", 2,
                                       s_capture, &cap0, err, sizeof err);
    cr_assert_not_null (p0, "%s", err);
    wrk_plugin_t *p1 = wrk_plugin_share (p0, s_capture, &cap1, err, sizeof err);
    cr_assert_not_null (p1, "%s", err);
    sluice_record_t rec = s_record (3, "x");
    sluice_outcome_t out[1];
    cr_assert_eq (wrk_plugin_process (p1, &rec, 1, out), 0);
    cr_expect_eq (cap0.n, 0);
    cr_expect_eq (cap1.n, 1);
    wrk_plugin_destroy (&p0);
    wrk_plugin_destroy (&p1);
}

Test (jsonvalid, rejects_invalid_json_with_the_parser_error)
{
    capture_t cap = {0};
    wrk_plugin_t *p = s_load (PLUGIN ("jsonvalid"), NULL, 0, "out", &cap);
    const char *values[] = {"{\"a\":1}",   "{\"a\":", "42", "[1, \"x\"]",
                            "{\"a\":1} x", NULL,      "",   " \"s\" "};
    const int expect[] = {SLUICE_OK,     SLUICE_REJECT, SLUICE_OK,
                          SLUICE_OK,     SLUICE_REJECT, SLUICE_REJECT,
                          SLUICE_REJECT, SLUICE_OK};
    sluice_record_t recs[COUNT (values)];
    sluice_outcome_t out[COUNT (values)];
    s_records (recs, values, COUNT (values));
    cr_assert_eq (wrk_plugin_process (p, recs, COUNT (values), out), 0);
    for (size_t i = 0; i < COUNT (values); i++)
        cr_expect_eq (out[i].code, expect[i], "value %zu: %s", i,
                      out[i].reason);
    cr_expect (strstr (out[1].reason, "invalid JSON at line 1 column"), "%s",
               out[1].reason);
    cr_expect (strstr (out[4].reason, "end of file expected"), "%s",
               out[4].reason);
    cr_expect (strstr (out[5].reason, "tombstone"), "%s", out[5].reason);
    cr_assert_eq (cap.n, 4, "only the valid records are copied");
    cr_expect_str_eq (cap.recs[0].value, "{\"a\":1}");
    cr_expect_str_eq (cap.recs[1].value, "42");
    wrk_plugin_destroy (&p);
}

Test (jsonvalid, without_output_topic_only_validates)
{
    capture_t cap = {0};
    wrk_plugin_t *p = s_load (PLUGIN ("jsonvalid"), NULL, 0, NULL, &cap);
    const char *values[] = {"{\"a\":1}", "{\"a\":"};
    sluice_record_t recs[2];
    sluice_outcome_t out[2];
    s_records (recs, values, 2);
    cr_assert_eq (wrk_plugin_process (p, recs, 2, out), 0);
    cr_expect_eq (out[0].code, SLUICE_OK);
    cr_expect_eq (out[1].code, SLUICE_REJECT);
    cr_expect_eq (cap.n, 0);
    wrk_plugin_destroy (&p);
}

Test (fault, reject_on_rejects_and_copies_the_rest)
{
    sluice_option_t opts[] = {OPT ("reject_on", "BAD")};
    capture_t cap = {0};
    wrk_plugin_t *p = s_load (PLUGIN ("fault"), opts, 1, "out", &cap);
    const char *values[] = {"fine", "very BAD value", NULL, "BA D"};
    sluice_record_t recs[4];
    sluice_outcome_t out[4];
    s_records (recs, values, 4);
    cr_assert_eq (wrk_plugin_process (p, recs, 4, out), 0);
    cr_expect_eq (out[0].code, SLUICE_OK);
    cr_expect_eq (out[1].code, SLUICE_REJECT);
    cr_expect_str_eq (out[1].reason, "matched reject_on");
    cr_expect_eq (out[2].code, SLUICE_OK);
    cr_expect_eq (out[3].code, SLUICE_OK);
    cr_assert_eq (cap.n, 3);
    cr_expect_str_eq (cap.recs[0].value, "fine");
    cr_expect_str_eq (cap.recs[2].value, "BA D");
    wrk_plugin_destroy (&p);
}

Test (fault, empty_options_never_fire)
{
    sluice_option_t opts[] = {OPT ("crash_on", ""), OPT ("hang_on", ""),
                              OPT ("reject_on", "")};
    capture_t cap = {0};
    wrk_plugin_t *p = s_load (PLUGIN ("fault"), opts, 3, NULL, &cap);
    const char *values[] = {"anything", ""};
    sluice_record_t recs[2];
    sluice_outcome_t out[2];
    s_records (recs, values, 2);
    cr_assert_eq (wrk_plugin_process (p, recs, 2, out), 0);
    cr_expect_eq (out[0].code, SLUICE_OK);
    cr_expect_eq (out[1].code, SLUICE_OK);
    cr_expect_eq (cap.n, 0, "no output topic: nothing copied");
    wrk_plugin_destroy (&p);
}

Test (fault, fail_attempts_fails_a_jobs_first_attempts)
{
    sluice_option_t opts[] = {OPT ("fail_attempts", "2")};
    capture_t cap = {0};
    wrk_plugin_t *p = s_load (PLUGIN ("fault"), opts, 1, "out", &cap);
    char err[256] = "";
    for (uint32_t attempt = 1; attempt <= 3; attempt++) {
        sluice_job_t job = {"in", 0, 0, 10, attempt, 42};
        int rc = wrk_plugin_job_begin (p, &job, err, sizeof err);
        cr_expect_eq (rc, attempt <= 2 ? -1 : 0, "attempt %u", attempt);
        if (attempt == 2)
            cr_expect_str_eq (err, "plugin fault: job_begin_call failed: "
                                   "fault: failing attempt 2 of job 42 "
                                   "(fail_attempts=2)");
    }
    sluice_record_t rec = s_record (0, "a");
    sluice_outcome_t out[1];
    cr_expect_eq (wrk_plugin_process (p, &rec, 1, out), 0);
    cr_expect_eq (cap.n, 1, "the third attempt runs and copies");
    wrk_plugin_destroy (&p);

    sluice_option_t bad[] = {OPT ("fail_attempts", "many")};
    s_refused (PLUGIN ("fault"), bad, 1, NULL,
               "fault: option fail_attempts: \"many\" is not a whole number");
}

Test (fault, crash_on_aborts, .signal = SIGABRT)
{
    sluice_option_t opts[] = {OPT ("crash_on", "BOOM")};
    capture_t cap = {0};
    wrk_plugin_t *p = s_load (PLUGIN ("fault"), opts, 1, "out", &cap);
    const char *values[] = {"fine", "xxBOOMxx"};
    sluice_record_t recs[2];
    sluice_outcome_t out[2];
    s_records (recs, values, 2);
    wrk_plugin_process (p, recs, 2, out);
    cr_assert_fail ("crash_on did not abort");
}

Test (fault, hang_on_never_returns)
{
    pid_t pid = fork ();
    cr_assert_geq (pid, 0);
    if (pid == 0) {
        sluice_option_t opts[] = {OPT ("hang_on", "STUCK")};
        capture_t cap = {0};
        char err[512];
        wrk_plugin_t *p = wrk_plugin_new (PLUGIN ("fault"), opts, 1, NULL, 1,
                                          s_capture, &cap, err, sizeof err);
        if (!p)
            _exit (2);
        sluice_record_t rec = s_record (0, "STUCK");
        sluice_outcome_t out[1];
        wrk_plugin_process (p, &rec, 1, out);
        _exit (0);
    }
    //  A hang can only be observed over time: give it a generous 300 ms.
    struct timespec pause = {0, 300 * 1000 * 1000};
    nanosleep (&pause, NULL);
    int status = 0;
    cr_expect_eq (waitpid (pid, &status, WNOHANG), 0,
                  "hang_on returned (exit status %d)", status);
    kill (pid, SIGKILL);
    waitpid (pid, &status, 0);
}

Test (sleep, waits_without_burning_cpu)
{
    sluice_option_t opts[] = {OPT ("us_per_record", "5000")};
    capture_t cap = {0};
    wrk_plugin_t *p = s_load (PLUGIN ("sleep"), opts, 1, NULL, &cap);
    sluice_record_t recs[20];
    sluice_outcome_t out[20];
    for (size_t i = 0; i < 20; i++)
        recs[i] = s_record ((int64_t)i, "v");
    struct timespec wall0, wall1, cpu0, cpu1;
    clock_gettime (CLOCK_MONOTONIC, &wall0);
    clock_gettime (CLOCK_PROCESS_CPUTIME_ID, &cpu0);
    cr_assert_eq (wrk_plugin_process (p, recs, 20, out), 0);
    clock_gettime (CLOCK_PROCESS_CPUTIME_ID, &cpu1);
    clock_gettime (CLOCK_MONOTONIC, &wall1);
    double wall = s_seconds (wall0, wall1);
    double cpu = s_seconds (cpu0, cpu1);
    //  A sanity check, loose on purpose: 20 x 5 ms is 100 ms of waiting.
    cr_expect_geq (wall, 0.100, "waited only %.3f s", wall);
    cr_expect_lt (cpu, wall / 2, "used %.3f s of CPU in %.3f s", cpu, wall);
    cr_expect_eq (out[19].code, SLUICE_OK);
    cr_expect_eq (cap.n, 0, "no output topic: nothing copied");
    wrk_plugin_destroy (&p);
}

Test (sleep, copies_when_there_is_an_output_topic)
{
    sluice_option_t opts[] = {OPT ("us_per_record", "0")};
    capture_t cap = {0};
    wrk_plugin_t *p = s_load (PLUGIN ("sleep"), opts, 1, "out", &cap);
    const char *values[] = {"a", "b"};
    sluice_record_t recs[2];
    sluice_outcome_t out[2];
    s_records (recs, values, 2);
    cr_assert_eq (wrk_plugin_process (p, recs, 2, out), 0);
    cr_assert_eq (cap.n, 2);
    cr_expect_str_eq (cap.recs[1].value, "b");
    cr_expect_str_eq (cap.recs[1].key, "k1");
    wrk_plugin_destroy (&p);
}

Test (noop, every_record_ok_nothing_emitted)
{
    capture_t cap = {0};
    wrk_plugin_t *p = s_load (PLUGIN ("noop"), NULL, 0, "out", &cap);
    sluice_record_t recs[64];
    sluice_outcome_t out[64];
    for (size_t i = 0; i < 64; i++)
        recs[i] = s_record ((int64_t)i, i % 3 ? "v" : NULL);
    cr_assert_eq (wrk_plugin_process (p, recs, 64, out), 0);
    for (size_t i = 0; i < 64; i++)
        cr_expect_eq (out[i].code, SLUICE_OK);
    cr_expect_eq (cap.n, 0);
    wrk_plugin_destroy (&p);
}
