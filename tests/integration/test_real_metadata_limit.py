"""Commit metadata at the real broker's limit, and a restart that trusts it.

Kafka refuses an OffsetCommit whose metadata is longer than
offset.metadata.max.bytes (4096 by default) with OFFSET_METADATA_TOO_LARGE;
the mock broker has no such limit. sluice must truncate its selective ACKs
from the top so that the commit fits, and a scheduler that restarts from
that commit must skip exactly the ranges it records and re-run the rest.

Making a thousand completed ranges above the committed offset needs a
thousand holes, not one held-back job (completed neighbours merge into one
range). One partition of N records, one record per job, a window that
holds every job at once; every even offset is a record the fault plugin
rejects, and the dead-letter topic refuses every write (its
max.message.bytes is 1), so those jobs fail, are retried in dead-letter
mode, fail again, and never complete: committed stays at 0. Every odd
offset completes: the ranges above committed are [1,2), [3,4), ..., each
"1.1," in the metadata, and 4095 bytes hold 1023 of them.

Once more odd jobs are done than fit and a commit carries metadata at the
limit, the scheduler and its workers are SIGKILLed. The commit must have
been accepted (no commit failure logged), be at most 4095 bytes, decode,
record only completed jobs, and have dropped completed ranges from the
top. A new scheduler (with a dead-letter topic that accepts writes) and
copy workers finish the drain: their logs must show that no job overlaps a
range the metadata recorded, that every offset it did not record (the
failed even ones and the completed odd ones truncation dropped) ran again,
and the output must hold every record."""
import collections

from harness import (Broker, committed, committed_with_metadata, consume_all,
                     decode_meta, expect, high_watermarks, log_events,
                     log_note, main, produce, start_scheduler, start_worker,
                     test, unique, wait_for)
from realkafka import (GROUP_PROPS, create_topic, jobs, overlaps,
                       require_real_broker, uncovered)

N = 2400
LIMIT = 4096          # offset.metadata.max.bytes, the broker's default
ENOUGH = 1100         # completed one-record ranges: 1023 fit in 4096 bytes
REFUSE = "refuse"     # the fault plugin rejects values containing this
# One-record jobs seek all the time, and a seek waits for the Fetch in
# flight: at the end of the log a long poll of fetch.wait.max.ms (500 ms by
# default). Each job also waits for its produce: no linger.
FAST = ["-X", "fetch.wait.max.ms=1", "-X", "linger.ms=0"]


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
                                plugin_opts={"reject_on": REFUSE},
                                args=FAST)
                   for i in (1, 2, 3)]

        # Enough odd jobs done (worker logs) that their ranges cannot all
        # fit, then a commit that carries metadata at the limit.
        def odd_done(check=True):
            for p in (workers + [sched]) if check else ():
                expect(p.alive(), "%s runs" % p.name,
                       "exit %s: %s" % (p.returncode, p.log_tail(3)))
            return {j.start for j in jobs(workers, src, "job done")}
        wait_for(lambda: len(odd_done()) >= ENOUGH, 50,
                 lambda: "%d odd offsets to be done (%d are)"
                 % (ENOUGH, len(odd_done())), interval=0.5)
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
        done = odd_done(check=False)

        off, meta = committed_with_metadata(kafka, group, src)[0]
        recorded = decode_meta(off, meta)
        log_note("at the kill: committed %d, metadata %d bytes, %d ranges "
                 "up to offset %d; %d one-record jobs done"
                 % (off, len(meta), len(recorded),
                    recorded[-1][1] if recorded else 0, len(done)))
        expect(off == 0, "the committed offset stays at the first failing "
               "record", off)
        expect(len(meta) < LIMIT, "the metadata fits the broker's limit "
               "(%d bytes with the NUL)" % LIMIT, len(meta))
        expect(not [s for s, _ in recorded if s not in done] and
               all(e - s == 1 for s, e in recorded),
               "the metadata records only completed jobs",
               [r for r in recorded if r[0] not in done][:5])
        expect(len(recorded) < len(done),
               "the metadata had to be truncated (more ranges than fit)",
               "%d of %d" % (len(recorded), len(done)))
        expect(len(recorded) >= 1000, "the metadata is filled near the limit",
               "%d ranges, %d bytes" % (len(recorded), len(meta)))
        # Truncated from the top: a completed range above the highest one
        # recorded is not in the metadata.
        top = recorded[-1][0]
        expect([s for s in done if s > top],
               "completed ranges above the highest recorded one were "
               "dropped", top)
        failed_commits = log_events(sched, "commit failed, will retry")
        expect(not failed_commits, "the broker accepted every commit",
               failed_commits[:3])

        # The restart: a DLQ that accepts writes, plain copy workers.
        sched2 = start_scheduler(
            kafka, src, group, name="scheduler-2",
            args=["--job-records", "100", "--commit-interval-ms", "200",
                  "--dlq-topic", dlq] + GROUP_PROPS)
        workers2 = [start_worker(kafka, sched2.endpoint, "copy",
                                 name="copy-%d" % i, output_topic=out,
                                 args=FAST)
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
