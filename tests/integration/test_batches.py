"""test_batches - several messages in one frame (BATCH), between real
processes, and a fleet where one worker does not read them.

libzmq's cost is per frame, so the scheduler sends a worker the jobs of
one dispatch pass in one frame, and a worker what its lanes said in one
turn of its loop (DONEs, PROGRESS) in one frame, each only to a peer that
reads them: the scheduler to a worker whose HELLO said so, the worker to
a scheduler that has sent it a batch.

  a_mixed_fleet_drains_with_and_without_batches  two partitions of small
      jobs (10 records), drained by a real worker (4 lanes, 16 credits)
      and a protocol-only worker that says in its HELLO that it does not
      read batches (bench_null_worker --no-batches). Every record is
      committed and the drain ends; the real worker sent fewer frames
      than messages (its DONEs and PROGRESS went out together), and the
      other worker got every one of its jobs in a frame of its own.
"""
import json
import os

from harness import (BUILD, Broker, committed, expect, log_events, log_note,
                     main, produce, start_proc, start_scheduler, start_worker,
                     test, unique, wait_for)

RECORDS = 3000  # per partition
JOB = 10


def summary(proc):
    """The JSON line bench_null_worker prints as it exits."""
    for line in reversed(proc.log_text().splitlines()):
        if line.startswith("{") and '"jobs"' in line:
            return json.loads(line)
    expect(False, "%s printed its summary" % proc.name)


@test
def a_mixed_fleet_drains_with_and_without_batches():
    src, group = unique("in"), unique("g")
    with Broker(topics={src: 2}) as kafka:
        recs = [(None, b"%08d" % i, i % 2) for i in range(2 * RECORDS)]
        produce(kafka, src, recs)
        sched = start_scheduler(kafka, src, group, args=[
            "--job-records", str(JOB), "--commit-interval-ms", "100"])
        worker = start_worker(kafka, sched.endpoint, "noop", args=[
            "--concurrency", "4", "--credits", "16"])
        single = start_proc("single", [
            os.path.join(BUILD, "bench", "bench_null_worker"),
            "--scheduler", sched.endpoint, "--credits", "4",
            "--no-batches"])
        wait_for(lambda: committed(kafka, group, src) ==
                 {0: RECORDS, 1: RECORDS}, 120, "every record committed",
                 interval=0.2)
        expect(sched.wait(60) == 0, "the drain ends")
        expect(worker.stop() == 0, "the worker stops cleanly")
        single.stop()

        stopped = log_events(worker, "worker stopped")
        expect(stopped, "the worker logs its totals")
        frames = int(stopped[-1]["frames_sent"])
        messages = int(stopped[-1]["messages_sent"])
        frames_in = int(stopped[-1]["frames_received"])
        messages_in = int(stopped[-1]["messages_received"])
        jobs = int(stopped[-1]["jobs_done"])
        got = summary(single)
        log_note("worker: %d jobs; sent %d messages in %d frames (%.2f per "
                 "frame), received %d in %d (%.2f); unbatched worker: %d "
                 "jobs in %d frames"
                 % (jobs, messages, frames, messages / max(frames, 1),
                    messages_in, frames_in, messages_in / max(frames_in, 1),
                    got["jobs"], got["frames_in"]))
        expect(jobs > 0 and got["jobs"] > 0, "both workers had jobs",
               "worker %d, unbatched %d" % (jobs, got["jobs"]))
        expect(messages >= 2 * jobs, "the worker said HELLO, PROGRESS and "
               "DONE for its jobs", "%d messages, %d jobs" % (messages, jobs))
        expect(frames_in * 1.5 < messages_in,
               "the scheduler's JOBs came gathered in frames",
               "%d messages in %d frames" % (messages_in, frames_in))
        expect(frames * 1.2 < messages,
               "the worker's messages went out gathered in frames",
               "%d messages in %d frames" % (messages, frames))
        expect(got["frames_in"] >= got["jobs"],
               "the worker that reads no batches got one frame per message",
               "%d jobs in %d frames" % (got["jobs"], got["frames_in"]))
        expect(got["frames_out"] >= got["done"],
               "and sent one frame per message",
               "%d DONEs in %d frames" % (got["done"], got["frames_out"]))


if __name__ == "__main__":
    main()
