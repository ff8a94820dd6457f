"""A flood of hostile peers cannot exhaust the scheduler's memory, and it
keeps serving its real workers.

A real worker drains a topic (the sleep plugin keeps it busy for several
seconds) while tests/tools/flood opens hundreds of new connections per
round, each sending a HELLO with a made-up worker id (then never answering
a job), a frame twice the largest the scheduler accepts, bytes that are
not a sluice message, a DONE for a job never given out and a STATUS
request. The scheduler runs with --max-workers 20: it must refuse the
HELLOs beyond that (and say so, rate-limited), drop the giant frames,
keep its peak RSS bounded, lose nothing, and finish the drain."""
import collections
import os

from harness import (BUILD, SANITIZED, Broker, committed, consume_all,
                     expect, high_watermarks, log_events, log_note, main, produce,
                     start_proc, start_scheduler, start_worker, test, unique,
                     wait_for)

FLOOD = os.path.join(BUILD, "tests", "tools", "flood")
RECORDS = 4000
RSS_LIMIT_KB = 150 * 1024


def vm_kb(pid, field):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


@test
def flood_does_not_stop_real_workers():
    src, out, group = unique("in"), unique("out"), unique("g")
    with Broker(topics={src: 2, out: 2, src + ".dlq": 1}) as kafka:
        produce(kafka, src, ((str(i), str(i), i % 2) for i in range(RECORDS)))
        hwm = high_watermarks(kafka, src)
        sched = start_scheduler(kafka, src, group, args=[
            "--job-records", "200", "--max-workers", "20",
            "--heartbeat-ms", "200", "--liveness", "3"])
        worker = start_worker(kafka, sched.endpoint, "sleep", name="real",
                              output_topic=out,
                              plugin_opts={"us_per_record": 1500},
                              args=["--heartbeat-ms", "200"])
        wait_for(lambda: log_events(worker, "job begin"), 30,
                 "the real worker to start working")
        flood = start_proc("flood", [FLOOD, sched.endpoint, "6", "200"],
                           stdout_pipe=False)
        peak = 0

        def done():
            nonlocal peak
            if sched.alive():
                peak = max(peak, vm_kb(sched.pid, "VmHWM"))
            return sched.returncode is not None
        wait_for(done, 120, "the drain to finish under the flood",
                 interval=0.2)
        expect(sched.returncode == 0, "the scheduler exits 0",
               "exit %s; log %s" % (sched.returncode, sched.log_path))
        expect(flood.wait(30) == 0, "the flood ran", flood.log_tail())
        log_note(flood.log_tail(1))
        refused = log_events(sched, "too many workers, HELLO refused")
        log_note("scheduler peak RSS %d KiB; %d 'too many workers' lines, "
                 "last refused_total=%s" % (peak, len(refused),
                                            refused[-1]["refused_total"]
                                            if refused else 0))
        expect(refused, "HELLOs beyond --max-workers are refused",
               sched.log_path)
        expect(len(refused) <= 12, "the refusals are logged at most once a "
               "second", len(refused))
        # ASan keeps freed memory in quarantine (256 MB by default): the
        # bound is checked in plain builds only.
        expect(SANITIZED or peak < RSS_LIMIT_KB,
               "the scheduler's memory stays bounded", "peak %d KiB" % peak)
        expect(log_events(worker, "job done"), "the real worker kept working")
        seen = collections.Counter(int(r.key) for r in consume_all(kafka, out))
        missing = [i for i in range(RECORDS) if not seen[i]]
        expect(not missing, "every id is in the output",
               "%d missing" % len(missing))
        expect(committed(kafka, group, src) == hwm,
               "committed offsets equal the high watermarks")


if __name__ == "__main__":
    main()
