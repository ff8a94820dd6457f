/*  test_log - one line per event on stderr, text or JSON (common/sl_log).

    Each test logs through the real sl_log with stderr redirected to a
    temporary file, then reads the line back. A JSON line must parse
    (jansson, strict) as exactly one object whose members are the text
    format's: ts, level, proc, msg, then one string member per key=value
    pair, whatever the text holds (quotes, "k=v" inside values or
    librdkafka's messages, control characters, bytes that are not UTF-8,
    repeated keys, a text longer than the limit).
*/
#include <criterion/criterion.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sl_log.h"

//  Everything written to stderr by the calls in between.
static FILE *s_capture;
static int s_saved_fd = -1;

//  Send stderr to a fresh temporary file.
static void
s_capture_begin (void)
{
    fflush (stderr);
    s_capture = tmpfile ();
    cr_assert_not_null (s_capture);
    s_saved_fd = dup (STDERR_FILENO);
    cr_assert (s_saved_fd >= 0);
    cr_assert (dup2 (fileno (s_capture), STDERR_FILENO) >= 0);
}

//  Restore stderr; return what was written (caller frees).
static char *
s_capture_end (void)
{
    dup2 (s_saved_fd, STDERR_FILENO);
    close (s_saved_fd);
    long size = ftell (s_capture);
    cr_assert (size >= 0);
    char *text = calloc (1, (size_t)size + 1);
    rewind (s_capture);
    cr_assert_eq (fread (text, 1, (size_t)size, s_capture), (size_t)size);
    fclose (s_capture);
    return text;
}

//  Parse out as exactly one JSON line: one object, then "\n", nothing
//  else; also refuses duplicate member names.
static json_t *
s_one_json_line (const char *out)
{
    size_t len = strlen (out);
    cr_assert (len > 1 && out[len - 1] == '\n', "one line ending in \\n: %s",
               out);
    cr_assert_null (memchr (out, '\n', len - 1), "exactly one line: %s", out);
    json_error_t err;
    json_t *obj = json_loadb (out, len - 1, JSON_REJECT_DUPLICATES, &err);
    cr_assert_not_null (obj, "valid JSON (%s at %d): %s", err.text,
                        err.position, out);
    cr_assert (json_is_object (obj), "a JSON object: %s", out);
    return obj;
}

//  A string member's value (NULL if missing or not a string).
static const char *
s_member (json_t *obj, const char *key)
{
    return json_string_value (json_object_get (obj, key));
}

static void
s_json_setup (void)
{
    sl_log_set_proc ("test");
    cr_assert_eq (sl_log_set_format ("json"), 0);
    cr_assert_eq (sl_log_set_level ("debug"), 0);
}

static void
s_text_setup (void)
{
    sl_log_set_proc ("test");
    cr_assert_eq (sl_log_set_format ("text"), 0);
    cr_assert_eq (sl_log_set_level ("info"), 0);
}

TestSuite (log_json, .init = s_json_setup);
TestSuite (log_text, .init = s_text_setup);

Test (log_text, a_line_is_time_level_message_and_pairs)
{
    s_capture_begin ();
    sl_info ("job done job=%d topic=%s reason=\"%s\"", 7, "orders", "a b");
    sl_debug ("not written below the level");
    char *out = s_capture_end ();
    //  2026-11-23T09:40:00.123Z info  job done job=7 ...
    cr_assert (out[4] == '-' && out[10] == 'T' && out[23] == 'Z', "%s", out);
    cr_assert_str_eq (out + 25,
                      "info  job done job=7 topic=orders reason=\"a b\"\n");
    free (out);
}

Test (log_json, every_pair_is_a_string_member)
{
    s_capture_begin ();
    sl_warn ("job failed job=%d topic=%s empty= ms=%d", 7, "orders", 12);
    char *out = s_capture_end ();
    json_t *obj = s_one_json_line (out);
    cr_assert_eq (json_object_size (obj), 8, "%s", out);
    cr_assert_str_eq (s_member (obj, "level"), "warn");
    cr_assert_str_eq (s_member (obj, "proc"), "test");
    cr_assert_str_eq (s_member (obj, "msg"), "job failed");
    cr_assert_str_eq (s_member (obj, "job"), "7");
    cr_assert_str_eq (s_member (obj, "topic"), "orders");
    cr_assert_str_eq (s_member (obj, "empty"), "");
    cr_assert_str_eq (s_member (obj, "ms"), "12");
    const char *ts = s_member (obj, "ts");
    cr_assert (ts && strlen (ts) == 24 && ts[10] == 'T' && ts[23] == 'Z');
    json_decref (obj);
    free (out);
}

Test (log_json, a_quoted_value_keeps_spaces_quotes_and_pairs)
{
    s_capture_begin ();
    sl_error ("job failed reason=\"%s\" job=%d", "bad \"x\" at k=v, a b", 3);
    char *out = s_capture_end ();
    json_t *obj = s_one_json_line (out);
    cr_assert_eq (json_object_size (obj), 6, "%s", out);
    cr_assert_str_eq (s_member (obj, "msg"), "job failed");
    cr_assert_str_eq (s_member (obj, "reason"), "bad \"x\" at k=v, a b");
    cr_assert_str_eq (s_member (obj, "job"), "3");
    json_decref (obj);
    free (out);
}

Test (log_json, a_raw_message_is_never_split)
{
    //  What librdkafka's log callback does (common/sl_kafka.c).
    s_capture_begin ();
    sl_log_msg (SL_LOG_DEBUG,
                "librdkafka: [thrd:main]: Assignment dump (started_cnt=0, "
                "wait_stop_cnt=0) \"quoted\"",
                "client=%s facility=%s", "sluice#consumer-1", "DUMP");
    char *out = s_capture_end ();
    json_t *obj = s_one_json_line (out);
    cr_assert_eq (json_object_size (obj), 6, "%s", out);
    cr_assert_str_eq (s_member (obj, "msg"),
                      "librdkafka: [thrd:main]: Assignment dump "
                      "(started_cnt=0, wait_stop_cnt=0) \"quoted\"");
    cr_assert_str_eq (s_member (obj, "client"), "sluice#consumer-1");
    cr_assert_str_eq (s_member (obj, "facility"), "DUMP");
    json_decref (obj);
    free (out);
}

Test (log_text, a_raw_message_reads_like_any_other_line)
{
    s_capture_begin ();
    sl_log_msg (SL_LOG_INFO, "librdkafka: a=b c", "client=%s", "x");
    sl_log_msg (SL_LOG_INFO, "no pairs", "%s", "");
    char *out = s_capture_end ();
    char *second = strchr (out, '\n') + 1;
    cr_assert_str_eq (second + 25, "info  no pairs\n");
    second[0] = 0;
    cr_assert_str_eq (out + 25, "info  librdkafka: a=b c client=x\n");
    free (out);
}

Test (log_json, bytes_that_are_not_utf8_become_replacement_characters)
{
    s_capture_begin ();
    //  Valid: e-acute (2 bytes), euro (3), an emoji (4). Invalid: a stray
    //  continuation byte, an overlong '/', a surrogate, a cut sequence.
    sl_info ("caf\xc3\xa9 \xe2\x82\xac v=\xf0\x9f\x98\x80 bad=\x80\xc0\xaf"
             "\xed\xa0\x80 cut=\xe2\x82");
    char *out = s_capture_end ();
    json_t *obj = s_one_json_line (out);
    cr_assert_str_eq (s_member (obj, "msg"), "caf\xc3\xa9 \xe2\x82\xac");
    cr_assert_str_eq (s_member (obj, "v"), "\xf0\x9f\x98\x80");
    cr_assert_str_eq (s_member (obj, "bad"),
                      "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"
                      "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
    cr_assert_str_eq (s_member (obj, "cut"), "\xef\xbf\xbd\xef\xbf\xbd");
    json_decref (obj);
    free (out);
}

Test (log_json, repeated_and_reserved_keys_are_renamed_not_lost)
{
    s_capture_begin ();
    sl_info ("plugin said x=1 level=9 x=2 msg=m x=3 plugin=p");
    char *out = s_capture_end ();
    json_t *obj = s_one_json_line (out);
    cr_assert_eq (json_object_size (obj), 10, "%s", out);
    cr_assert_str_eq (s_member (obj, "level"), "info");
    cr_assert_str_eq (s_member (obj, "level#2"), "9");
    cr_assert_str_eq (s_member (obj, "msg"), "plugin said");
    cr_assert_str_eq (s_member (obj, "msg#2"), "m");
    cr_assert_str_eq (s_member (obj, "x"), "1");
    cr_assert_str_eq (s_member (obj, "x#2"), "2");
    cr_assert_str_eq (s_member (obj, "x#3"), "3");
    cr_assert_str_eq (s_member (obj, "plugin"), "p");
    json_decref (obj);
    free (out);
}

Test (log_json, newlines_and_control_characters_stay_on_one_line)
{
    s_capture_begin ();
    sl_info ("two\nlines\r\n k=a\tb\x01 end=\"x\ny\"");
    char *out = s_capture_end ();
    json_t *obj = s_one_json_line (out);
    cr_assert_str_eq (s_member (obj, "msg"), "two lines  ");
    cr_assert_str_eq (s_member (obj, "k"), "a\tb\x01");
    cr_assert_str_eq (s_member (obj, "end"), "x y");
    json_decref (obj);
    free (out);
}

Test (log_json, the_longest_text_still_makes_one_whole_object)
{
    //  Worst cases for the line's length: every byte escaped as \u00XX,
    //  and as many one-letter pairs as fit, all with the same key.
    static char big[8192];
    memset (big, '\x01', sizeof big - 1);
    big[0] = 'm';
    static char pairs[8192];
    pairs[0] = 'm';
    size_t n = 1;
    while (n + 3 < sizeof pairs) {
        memcpy (pairs + n, " a=", 3);
        n += 3;
    }
    pairs[n] = 0;
    const char *texts[] = {big, pairs};
    for (size_t t = 0; t < 2; t++) {
        s_capture_begin ();
        sl_info ("%s", texts[t]);
        char *out = s_capture_end ();
        json_t *obj = s_one_json_line (out);
        cr_assert (json_object_size (obj) >= 4);
        json_decref (obj);
        free (out);
    }
}
