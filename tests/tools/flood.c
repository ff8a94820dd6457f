/*  flood - hostile traffic for a scheduler's ROUTER socket, for
    tests/integration/test_flood.py.

        flood ENDPOINT SECONDS PEERS

    For SECONDS, over and over: opens PEERS new DEALER connections (new
    routing ids, so new peer state on the scheduler), and on each sends a
    HELLO with a made-up worker id, a frame twice the scheduler's maximum
    message size, bytes that are not a sluice message, a DONE for a job
    that was never given out, and a STATUS_REQUEST; then drops them. It
    never answers a JOB. Prints what it sent.
*/
#include <czmq.h>
#include <inttypes.h>
#include "sl_proto.h"

int
main (int argc, char **argv)
{
    if (argc != 4) {
        fprintf (stderr, "usage: flood ENDPOINT SECONDS PEERS\n");
        return 2;
    }
    const char *endpoint = argv[1];
    int64_t until = zclock_mono () + atoll (argv[2]) * 1000;
    int peers = atoi (argv[3]);
    zsys_init ();
    zsys_set_logstream (NULL);
    size_t giant_size = 2 * 1024 * 1024;
    char *giant = malloc (giant_size);
    if (!giant)
        return 1;
    memset (giant, 'x', giant_size);
    uint64_t hellos = 0, giants = 0, junk = 0, dones = 0, rounds = 0;
    zsock_t **socks = calloc ((size_t)peers, sizeof *socks);
    while (zclock_mono () < until) {
        for (int i = 0; i < peers; i++) {
            socks[i] = zsock_new (ZMQ_DEALER);
            zsock_set_linger (socks[i], 0);
            zsock_set_sndhwm (socks[i], 10);
            zsock_connect (socks[i], "%s", endpoint);
        }
        for (int i = 0; i < peers; i++) {
            char id[64];
            snprintf (id, sizeof id, "flood/%" PRIu64 "-%d", rounds, i);
            Sluice__Hello hello = SLUICE__HELLO__INIT;
            hello.worker_id = id;
            hello.credits = 1;
            hello.plugin = "flood";
            if (sl_proto_send (socks[i], NULL, SLUICE__ENVELOPE__BODY_HELLO,
                               &hello) == 0)
                hellos++;
            zframe_t *f = zframe_new (giant, giant_size);
            if (zframe_send (&f, socks[i], ZFRAME_DONTWAIT) == 0)
                giants++;
            zframe_destroy (&f);
            char bytes[64];
            for (size_t b = 0; b < sizeof bytes; b++)
                bytes[b] = (char)(b * 37 + rounds);
            f = zframe_new (bytes, sizeof bytes);
            if (zframe_send (&f, socks[i], ZFRAME_DONTWAIT) == 0)
                junk++;
            zframe_destroy (&f);
            Sluice__Done done = SLUICE__DONE__INIT;
            done.job_id = 999999999;
            done.topic = "nope";
            done.start = 0;
            done.end = 1000000;
            done.records = 1000000;
            if (sl_proto_send (socks[i], NULL, SLUICE__ENVELOPE__BODY_DONE,
                               &done) == 0)
                dones++;
            Sluice__StatusRequest req = SLUICE__STATUS_REQUEST__INIT;
            sl_proto_send (socks[i], NULL,
                           SLUICE__ENVELOPE__BODY_STATUS_REQUEST, &req);
        }
        zclock_sleep (50);
        for (int i = 0; i < peers; i++)
            zsock_destroy (&socks[i]);
        rounds++;
    }
    printf ("flood rounds=%" PRIu64 " hellos=%" PRIu64 " giant_frames=%" PRIu64
            " junk=%" PRIu64 " bogus_dones=%" PRIu64 "\n",
            rounds, hellos, giants, junk, dones);
    free (socks);
    free (giant);
    return 0;
}
