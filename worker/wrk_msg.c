/*  wrk_msg - the worker's thread protocol. See wrk_msg.h.               */
#include "wrk_msg.h"
#include "sl_log.h"
#include "sluice.pb-c.h"

#include <string.h>

static const char *const s_names[WRK_MSG_COUNT] = {
    [WRK_MSG_JOB] = "JOB",           [WRK_MSG_CANCEL] = "CANCEL",
    [WRK_MSG_DROPALL] = "DROPALL",   [WRK_MSG_STOP] = "STOP",
    [WRK_MSG_TERM] = "$TERM",        [WRK_MSG_BEGIN] = "BEGIN",
    [WRK_MSG_PROGRESS] = "PROGRESS", [WRK_MSG_PROCESSED] = "PROCESSED",
    [WRK_MSG_DONE] = "DONE",         [WRK_MSG_DROPPED] = "DROPPED",
    [WRK_MSG_RETURNED] = "RETURNED", [WRK_MSG_FORGOT] = "FORGOT",
    [WRK_MSG_FATAL] = "FATAL",       [WRK_MSG_STOPPED] = "STOPPED",
    [WRK_MSG_TAIL] = "TAIL",         [WRK_MSG_KEYS] = "KEYS",
    [WRK_MSG_GATE] = "GATE",         [WRK_MSG_RELEASE] = "RELEASE",
};

const char *
wrk_msg_name (wrk_msg_type_t type)
{
    return (unsigned)type < WRK_MSG_COUNT ? s_names[type] : "?";
}

int
wrk_msg_send (void *sock, wrk_msg_type_t type, int sched, uint64_t value,
              zframe_t *payload, const char *text)
{
    zmsg_t *msg = zmsg_new ();
    if (!msg)
        return -1;
    int32_t s = sched;
    int rc = zmsg_addstr (msg, wrk_msg_name (type));
    rc |= zmsg_addmem (msg, &s, sizeof s);
    rc |= zmsg_addmem (msg, &value, sizeof value);
    rc |= payload
              ? zmsg_addmem (msg, zframe_data (payload), zframe_size (payload))
              : zmsg_addmem (msg, NULL, 0);
    rc |= zmsg_addstr (msg, text ? text : "");
    if (rc == 0)
        rc = zmsg_send (&msg, sock);
    zmsg_destroy (&msg); //  only left after a failed send
    return rc == 0 ? 0 : -1;
}

//  Copy a fixed-size frame into out; false if the frame is not that size.
static bool
s_fixed (zframe_t *frame, void *out, size_t size)
{
    if (!frame || zframe_size (frame) != size)
        return false;
    memcpy (out, zframe_data (frame), size);
    return true;
}

int
wrk_msg_recv (void *sock, wrk_msg_t *msg)
{
    memset (msg, 0, sizeof *msg);
    zmsg_t *m = zmsg_recv (sock);
    if (!m)
        return -1;
    char *name = zmsg_popstr (m);
    int type = -1;
    for (int t = 0; name && t < WRK_MSG_COUNT; t++)
        if (strcmp (name, s_names[t]) == 0)
            type = t;
    int rc = 0;
    if (type == WRK_MSG_TERM)
        msg->type = WRK_MSG_TERM; //  zactor's, a single frame
    else {
        zframe_t *sched = zmsg_pop (m), *value = zmsg_pop (m);
        int32_t s = 0;
        bool ok = type >= 0 && s_fixed (sched, &s, sizeof s) &&
                  s_fixed (value, &msg->value, sizeof msg->value) &&
                  zmsg_size (m) == 2;
        zframe_destroy (&sched);
        zframe_destroy (&value);
        if (ok) {
            msg->type = (wrk_msg_type_t)type;
            msg->sched = s;
            msg->payload = zmsg_pop (m);
            msg->text = zmsg_popstr (m);
            if (msg->payload && zframe_size (msg->payload) == 0)
                zframe_destroy (&msg->payload);
        } else {
            sl_error ("worker thread message malformed name=%s",
                      name ? name : "(none)");
            rc = -1;
        }
    }
    zstr_free (&name);
    zmsg_destroy (&m);
    return rc;
}

void
wrk_msg_clear (wrk_msg_t *msg)
{
    zframe_destroy (&msg->payload);
    zstr_free (&msg->text);
}

//  See wrk_msg.h.
int
wrk_msg_send_tail (void *sock, int sched, const char *topic, int32_t partition,
                   int64_t high_watermark)
{
    Sluice__Tail tail = SLUICE__TAIL__INIT;
    tail.topic = (char *)topic;
    tail.partition = partition;
    tail.high_watermark = high_watermark;
    uint8_t buf[512];
    if (sluice__tail__get_packed_size (&tail) > sizeof buf)
        return -1;
    size_t size = sluice__tail__pack (&tail, buf);
    zframe_t *frame = zframe_new (buf, size);
    int rc = wrk_msg_send (sock, WRK_MSG_TAIL, sched, 0, frame, NULL);
    zframe_destroy (&frame);
    return rc;
}
