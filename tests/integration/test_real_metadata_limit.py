"""Commit metadata at the real broker's limit, and a restart that trusts it.

Kafka refuses an OffsetCommit whose metadata is longer than
offset.metadata.max.bytes (4096 by default) with OFFSET_METADATA_TOO_LARGE;
the mock broker has no such limit. sluice must truncate its selective ACKs
from the top so that the commit fits, and a scheduler that restarts from
that commit must skip exactly the ranges it records and re-run the rest.

Making thousands of completed ranges above the committed offset needs
thousands of holes, not one held-back job (completed neighbours merge into
one range). One partition of N records, one record per job, a window that
holds every job at once; every even offset is a record the fault plugin
rejects, and the dead-letter topic refuses every write (its
max.message.bytes is 1), so those jobs fail, are retried in dead-letter
mode, fail again, and never complete. Every odd offset completes: the
ranges above committed (0) are [1,2), [3,4), ... about N/2 of them, each
"1.1," in the metadata, far more than 4096 bytes can hold.

Once every odd job is done and a commit carries the truncated metadata,
the scheduler and its workers are SIGKILLed. A new scheduler (with a
dead-letter topic that accepts writes) and copy workers finish the drain.
Their logs must show that no job overlaps a range the metadata recorded,
that every other offset (the failed even ones and the completed odd ones
truncation dropped) ran again, and the output must hold every record."""
import collections

from harness import (Broker, committed, committed_with_metadata, consume_all,
                     decode_meta, expect, high_watermarks, log_events,
                     log_note, main, produce, start_scheduler, start_worker,
                     test, unique, wait_for)
from realkafka import (GROUP_PROPS, create_topic, jobs, overlaps,
                       require_real_broker, uncovered)

N = 3000
LIMIT = 4096          # offset.metadata.max.bytes, the broker's default
REFUSE = "refuse"     # the fault plugin rejects values containing this


def value(i):
    return ("%s-%d" % (REFUSE, i)) if i % 2 == 0 else ("ok-%d" % i)


@test
def metadata_at_the_broker_limit_survives_a_restart():
    require_real_broker()
    src, out, group = unique("in"), unique("out"), unique("g")
    dead_dlq, dlq = unique("refusing-dlq"), unique("dlq")
    with Broker(topics={src: 1, out: 1, dlq: 1}) as kafka:
        # A dead-letter topic no record fits in: every DLQ write fails
        # with MSG_SIZE_TOO_LARGE at once.
        create_topic(kafka, dead_dlq, 1, {"max.message.bytes": 1})
        total = produce(kafka, src, ((str(i), value(i), 0)
                                     for i in range(N)))
        hwm = high_watermarks(kafka, src)
        expect(hwm == {0: N}, "the input holds every record", hwm)

        sched = start_scheduler(
            kafka, src, group, drain=False,
            args=["--job-records", "1", "--window", str(N),
                  "--max-attempts", "1", "--commit-interval-ms", "200",
                  "--dlq-topic", dead_dlq] + GROUP_PROPS)
        workers = [start_worker(kafka, sched.endpoint, "fault",
                                name="fault-%d" % i, output_topic=out,
                                plugin_opts={"reject_on": REFUSE})
                   for i in (1, 2, 3)]

        # Every odd offset done (by the worker logs), then a commit that
        # carries metadata at the limit.
        odd = set(range(1, N, 2))

        def odd_done():
            for p in workers + [sched]:
                expect(p.alive(), "%s runs" % p.name, p.log_tail(5))
            done = {j.start for j in jobs(workers, src, "job done")}
            return odd <= done
        wait_for(odd_done, 50, lambda: "every odd offset to be done (%d of "
                 "%d)" % (len(odd & {j.start for j in
                                     jobs(workers, src, "job done")}),
                          len(odd)), interval=0.5)
        state = {}

        def full_commit():
            off, meta = committed_with_metadata(kafka, group, src)[0]
            state["c"] = (off, meta)
            return off == 0 and len(meta) > LIMIT - 8
        wait_for(full_commit, 15, lambda: "a commit with about %d bytes of "
                 "metadata (last: offset %s, %d bytes)"
                 % (LIMIT, state["c"][0], len(state["c"][1])), interval=0.3)
        sched.kill()
        for w in workers:
            w.kill()

        off, meta = committed_with_metadata(kafka, group, src)[0]
        recorded = decode_meta(off, meta)
        log_note("at the kill: committed %d, metadata %d bytes, %d ranges, "
                 "up to offset %d" % (off, len(meta), len(recorded),
                                      recorded[-1][1] if recorded else 0))
        expect(off == 0, "the committed offset stays at the first failing "
               "record", off)
        expect(len(meta) <= LIMIT, "the broker holds at most %d bytes of "
               "metadata" % LIMIT, len(meta))
        expect(all(e - s == 1 and s % 2 == 1 for s, e in recorded),
               "the metadata records only completed (odd) offsets",
               [r for r in recorded if r[1] - r[0] != 1 or r[0] % 2 == 0][:5])
        # Truncated from the top: the lowest ranges, none left out below
        # the highest recorded one; and fewer than all completed ones.
        expect(recorded == [(s, s + 1) for s in range(1, 2 * len(recorded),
                                                      2)],
               "the metadata keeps the lowest ranges", recorded[:5])
        expect(len(recorded) < len(odd),
               "the metadata had to be truncated (more ranges than fit)",
               "%d of %d" % (len(recorded), len(odd)))
        expect(len(recorded) >= 1000, "the metadata is filled near the limit",
               "%d ranges, %d bytes" % (len(recorded), len(meta)))
        failed_commits = log_events(sched, "commit failed, will retry")
        expect(not failed_commits, "the broker accepted every commit",
               failed_commits[:3])

        # The restart: a DLQ that accepts writes, plain copy workers.
        sched2 = start_scheduler(
            kafka, src, group, name="scheduler-2",
            args=["--job-records", "100", "--commit-interval-ms", "200",
                  "--dlq-topic", dlq] + GROUP_PROPS)
        workers2 = [start_worker(kafka, sched2.endpoint, "copy",
                                 name="copy-%d" % i, output_topic=out)
                    for i in (1, 2)]
        rc = sched2.wait(60, watch=workers2)
        expect(rc == 0, "the new scheduler finishes the drain and exits 0",
               "exit %d" % rc)
        assigned = log_events(sched2, "assigned")
        expect(assigned and int(assigned[0]["restored_ranges"]) ==
               len(recorded),
               "the new scheduler restored every range of the metadata",
               assigned)

        rerun = [(j.start, j.end) for j in jobs(workers2, src)]
        bad = [(j, r) for j in rerun for r in recorded if overlaps(j, r)]
        expect(not bad, "no recorded range ran again",
               "%d overlaps, first %s" % (len(bad), bad[:5]))
        missed = uncovered(0, N, rerun + recorded)
        expect(not missed, "every offset the metadata did not record ran "
               "again", missed[:10])
        log_note("after the restart: %d jobs re-ran %d offsets"
                 % (len(rerun), sum(e - s for s, e in rerun)))

        seen = collections.Counter(int(r.key) for r in consume_all(kafka, out))
        missing = [i for i in range(total) if seen[i] == 0]
        expect(not missing, "every record is in the output",
               "%d missing, first %s" % (len(missing), missing[:10]))
        got = committed(kafka, group, src)
        expect(got == hwm, "committed offsets equal the high watermarks",
               "committed %s, high watermarks %s" % (got, hwm))


if __name__ == "__main__":
    main()
