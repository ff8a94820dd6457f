/*  test_msg - the worker's thread protocol (wrk_msg): every message type
    goes through a real socket pair and comes back as sent; zactor's $TERM
    is understood; anything else is refused, never guessed at.
*/
#include "wrk_msg.h"

#include <criterion/criterion.h>
#include <string.h>

static zsock_t *s_tx, *s_rx;

static void
s_pair (void)
{
    char ep[64];
    static int n;
    snprintf (ep, sizeof ep, "inproc://test-msg-%d", n++);
    s_rx = zsock_new (ZMQ_PAIR);
    s_tx = zsock_new (ZMQ_PAIR);
    cr_assert (s_rx && s_tx);
    cr_assert_eq (zsock_bind (s_rx, "%s", ep), 0);
    cr_assert_eq (zsock_connect (s_tx, "%s", ep), 0);
    //  A message that cannot be sent fails at once rather than hang.
    zsock_set_sndtimeo (s_tx, 1000);
    zsock_set_rcvtimeo (s_rx, 1000);
}

static void
s_unpair (void)
{
    zsock_destroy (&s_tx);
    zsock_destroy (&s_rx);
}

TestSuite (msg, .init = s_pair, .fini = s_unpair);

Test (msg, every_type_round_trips)
{
    for (int t = 0; t < WRK_MSG_COUNT; t++) {
        if (t == WRK_MSG_TERM)
            continue; //  zactor's own message, below
        const char body[] = "packed\0bytes";
        zframe_t *payload = zframe_new (body, sizeof body);
        uint64_t value = 0xfedcba9876543210ull - (uint64_t)t;
        cr_assert_eq (wrk_msg_send (s_tx, (wrk_msg_type_t)t, t - 1, value,
                                    payload, "why"),
                      0);
        zframe_destroy (&payload);
        wrk_msg_t m;
        cr_assert_eq (wrk_msg_recv (s_rx, &m), 0, "type %s",
                      wrk_msg_name ((wrk_msg_type_t)t));
        cr_expect_eq (m.type, (wrk_msg_type_t)t);
        cr_expect_eq (m.sched, t - 1);
        cr_expect_eq (m.value, value);
        cr_assert (m.payload);
        cr_expect_eq (zframe_size (m.payload), sizeof body);
        cr_expect_eq (memcmp (zframe_data (m.payload), body, sizeof body), 0);
        cr_expect_str_eq (m.text, "why");
        wrk_msg_clear (&m);
        cr_expect_null (m.payload);
        cr_expect_null (m.text);
    }
}

Test (msg, empty_fields_come_back_empty)
{
    cr_assert_eq (wrk_msg_send (s_tx, WRK_MSG_STOPPED, 0, 0, NULL, NULL), 0);
    wrk_msg_t m;
    cr_assert_eq (wrk_msg_recv (s_rx, &m), 0);
    cr_expect_eq (m.type, WRK_MSG_STOPPED);
    cr_expect_null (m.payload, "an empty payload is NULL");
    cr_expect_str_eq (m.text, "");
    wrk_msg_clear (&m);
}

Test (msg, zactor_term_is_understood)
{
    zstr_send (s_tx, "$TERM");
    wrk_msg_t m;
    cr_assert_eq (wrk_msg_recv (s_rx, &m), 0);
    cr_expect_eq (m.type, WRK_MSG_TERM);
    wrk_msg_clear (&m);
}

Test (msg, anything_else_is_refused)
{
    wrk_msg_t m;
    //  An unknown name, the old decimal-string form, a short frame.
    zstr_sendx (s_tx, "LAUNCH", "0", "1", NULL);
    cr_expect_eq (wrk_msg_recv (s_rx, &m), -1);
    wrk_msg_clear (&m);
    zstr_sendx (s_tx, "CANCEL", "0", "17", NULL);
    cr_expect_eq (wrk_msg_recv (s_rx, &m), -1, "decimal strings are gone");
    wrk_msg_clear (&m);
    int32_t sched = 1;
    uint32_t short_value = 7;
    zsock_send (s_tx, "sbbss", "DONE", &sched, sizeof sched, &short_value,
                sizeof short_value, "", "");
    cr_expect_eq (wrk_msg_recv (s_rx, &m), -1, "a 4-byte value is refused");
    wrk_msg_clear (&m);
    //  The socket still works after them.
    cr_assert_eq (wrk_msg_send (s_tx, WRK_MSG_BEGIN, 2, 42, NULL, NULL), 0);
    cr_assert_eq (wrk_msg_recv (s_rx, &m), 0);
    cr_expect_eq (m.type, WRK_MSG_BEGIN);
    cr_expect_eq (m.value, 42);
    wrk_msg_clear (&m);
}

Test (msg, every_type_has_a_distinct_name)
{
    for (int a = 0; a < WRK_MSG_COUNT; a++) {
        cr_expect_neq (strcmp (wrk_msg_name ((wrk_msg_type_t)a), "?"), 0);
        for (int b = a + 1; b < WRK_MSG_COUNT; b++)
            cr_expect_neq (strcmp (wrk_msg_name ((wrk_msg_type_t)a),
                                   wrk_msg_name ((wrk_msg_type_t)b)),
                           0);
    }
}
