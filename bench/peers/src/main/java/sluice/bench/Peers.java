package sluice.bench;

import io.confluent.parallelconsumer.ParallelConsumerOptions;
import io.confluent.parallelconsumer.ParallelStreamProcessor;
import java.io.BufferedReader;
import java.io.FileReader;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicLongArray;
import java.util.concurrent.locks.LockSupport;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AlterConfigOp;
import org.apache.kafka.clients.admin.ConfigEntry;
import org.apache.kafka.clients.consumer.AcknowledgeType;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.KafkaShareConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;

/**
 * The Java peers of sluice's benchmark suite (bench/peers.py, issue 20).
 *
 * <pre>
 *   Peers share --brokers B --topic T --group G --threads N [common]
 *   Peers pc    --brokers B --topic T --group G --threads N --order UNORDERED|KEY [common]
 *   Peers produce --brokers B --topic T --partitions P --records R [--keys K]
 *                 [--key-dist roundrobin|uniform|zipf] [--zipf-s 1.0]
 *                 [--seed 1] [--value-bytes 32] [--poison-at I --poison TEXT]
 *   Peers calibrate --us U --records R [--work sleep|busy]
 *
 * common: --us U (work per record, microseconds; 0 = no-op) --work sleep|busy
 *         --expect R (exit once R records succeeded) --idle-ms M (exit once
 *         nothing succeeded for M ms after the first record) --timeout-s S
 *         --poison TEXT (a record whose value contains TEXT throws, every
 *         time) --after-ms M (with --expect: keep running M ms after it,
 *         counting poison attempts) --out-topic T (produce a copy of each
 *         record there after its work: the latency figure's end point)
 *         --max-poll N --retry-ms M (PC's retry delay)
 * </pre>
 *
 * Prints one JSON line at exit (the bench programs' style): records,
 * t_start, t_ready, t_first, t_done, t_last (epoch seconds), poison
 * attempts and their times, the JVM's VmHWM/VmRSS and thread count.
 */
public final class Peers {
    private static final Map<String, String> OPT = new HashMap<>();

    // Epoch clock with nanoTime resolution: one anchor per JVM.
    private static final long EPOCH0_NS = System.currentTimeMillis() * 1_000_000L;
    private static final long MONO0 = System.nanoTime();

    static double now() {
        return (EPOCH0_NS + (System.nanoTime() - MONO0)) / 1e9;
    }

    static String opt(String k, String dflt) {
        String v = OPT.get(k);
        if (v == null && dflt == null) {
            die("--" + k + " is required");
        }
        return v == null ? dflt : v;
    }

    static long optl(String k, long dflt) {
        return Long.parseLong(opt(k, Long.toString(dflt)));
    }

    static void die(String msg) {
        System.err.println("peers: " + msg);
        System.exit(2);
    }

    // ------------------------------------------------------------ work --

    /** The per-record work: sleep (or spin) `us` microseconds per record.
     *  A sleep returns late by the timer's slack (about 60-100 us on
     *  Linux); that overshoot is carried as credit into the next call,
     *  so back-to-back records cost `us` each, as in the C sleep plugin,
     *  which sleeps n x us once per batch and pays the overshoot once per
     *  batch. Time spent outside run() (the framework's) is never
     *  credited. One per thread. */
    static final class Work {
        final long ns;
        final boolean busy;
        long credit;

        Work(long us, boolean busy) {
            this.ns = us * 1000L;
            this.busy = busy;
        }

        void run() {
            if (ns == 0) {
                return;
            }
            long start = System.nanoTime();
            if (credit >= ns) {
                credit -= ns;
                return;
            }
            long target = start + ns - credit, left;
            while ((left = target - System.nanoTime()) > 0) {
                if (busy) {
                    Thread.onSpinWait();
                } else {
                    LockSupport.parkNanos(left);
                }
            }
            credit = System.nanoTime() - target;
        }
    }

    static final ThreadLocal<Work> WORK = ThreadLocal.withInitial(
        () -> new Work(optl("us", 0), "busy".equals(opt("work", "sleep"))));

    static final class Poison extends RuntimeException {
        Poison(String m) {
            super(m, null, false, false);
        }
    }

    // ----------------------------------------------------------- stats --

    static final AtomicLong DONE = new AtomicLong();
    static final AtomicLong POISON = new AtomicLong();
    static final List<Double> POISON_T = Collections.synchronizedList(new ArrayList<>());
    static volatile double tFirst, tLast, tDone, tReady;
    static final AtomicLong LAST_NS = new AtomicLong();
    static byte[] poisonText;
    static long expect;
    static KafkaProducer<byte[], byte[]> out;
    static String outTopic;

    static boolean contains(byte[] v, byte[] text) {
        if (v == null) {
            return false;
        }
        outer:
        for (int i = 0; i + text.length <= v.length; i++) {
            for (int j = 0; j < text.length; j++) {
                if (v[i + j] != text[j]) {
                    continue outer;
                }
            }
            return true;
        }
        return false;
    }

    /** One record's processing: work, poison check, copy to the output. */
    static void process(ConsumerRecord<byte[], byte[]> r) {
        if (poisonText != null && contains(r.value(), poisonText)) {
            POISON.incrementAndGet();
            POISON_T.add(now());
            throw new Poison("poison record " + r.topic() + "/" + r.partition() + "@" + r.offset());
        }
        WORK.get().run();
        if (out != null) {
            out.send(new ProducerRecord<>(outTopic, r.key(), r.value()));
        }
        double t = now();
        if (tFirst == 0) {
            tFirst = t;
        }
        tLast = t;
        LAST_NS.set(System.nanoTime());
        if (DONE.incrementAndGet() == expect) {
            tDone = t;
        }
    }

    static Properties common() {
        Properties p = new Properties();
        p.put("bootstrap.servers", opt("brokers", null));
        p.put("key.deserializer", ByteArrayDeserializer.class.getName());
        p.put("value.deserializer", ByteArrayDeserializer.class.getName());
        p.put("fetch.max.wait.ms", opt("fetch-wait-ms", "10"));
        return p;
    }

    static void startOutput() {
        outTopic = OPT.get("out-topic");
        if (outTopic == null) {
            return;
        }
        Properties p = new Properties();
        p.put("bootstrap.servers", opt("brokers", null));
        p.put("key.serializer", ByteArraySerializer.class.getName());
        p.put("value.serializer", ByteArraySerializer.class.getName());
        p.put("linger.ms", opt("linger-ms", "5")); // librdkafka's default, as sluice's worker
        out = new KafkaProducer<>(p);
    }

    /** Wait until --expect records succeeded (then --after-ms more), or
     *  --idle-ms passed without one, or --timeout-s. */
    static void waitEnd() throws InterruptedException {
        long idle = optl("idle-ms", 0), after = optl("after-ms", 0);
        long timeout = optl("timeout-s", 600) * 1_000_000_000L;
        long t0 = System.nanoTime(), doneAt = 0;
        while (System.nanoTime() - t0 < timeout) {
            long now = System.nanoTime();
            if (expect > 0 && DONE.get() >= expect) {
                if (doneAt == 0) {
                    doneAt = now;
                }
                if (now - doneAt >= after * 1_000_000L) {
                    return;
                }
            }
            if (idle > 0 && DONE.get() > 0 && now - LAST_NS.get() > idle * 1_000_000L
                && (expect == 0 || DONE.get() >= expect)) {
                return;
            }
            Thread.sleep(5);
        }
        System.err.println("peers: timeout after " + optl("timeout-s", 600) + " s with "
                           + DONE.get() + " records");
    }

    static Map<String, Long> procStatus() {
        Map<String, Long> m = new HashMap<>();
        try (BufferedReader r = new BufferedReader(new FileReader("/proc/self/status"))) {
            String line;
            while ((line = r.readLine()) != null) {
                String[] kv = line.split(":\\s+");
                if (kv.length == 2 && (kv[0].equals("VmHWM") || kv[0].equals("VmRSS")
                                       || kv[0].equals("Threads") || kv[0].equals("RssAnon"))) {
                    m.put(kv[0], Long.parseLong(kv[1].split("\\s+")[0]));
                }
            }
        } catch (Exception e) {
            // best effort
        }
        return m;
    }

    static void report(String system, int threads, double tStart) {
        Map<String, Long> st = procStatus();
        StringBuilder sb = new StringBuilder();
        sb.append(String.format(Locale.ROOT,
            "{\"system\":\"%s\",\"threads\":%d,\"records\":%d,\"poison_attempts\":%d,"
            + "\"t_start\":%.6f,\"t_ready\":%.6f,\"t_first\":%.6f,\"t_done\":%.6f,\"t_last\":%.6f,"
            + "\"t_exit\":%.6f,\"vm_hwm_kb\":%d,\"vm_rss_kb\":%d,\"rss_anon_kb\":%d,\"jvm_threads\":%d,"
            + "\"poison_times\":[",
            system, threads, DONE.get(), POISON.get(), tStart, tReady, tFirst, tDone, tLast, now(),
            st.getOrDefault("VmHWM", 0L), st.getOrDefault("VmRSS", 0L),
            st.getOrDefault("RssAnon", 0L), st.getOrDefault("Threads", 0L)));
        synchronized (POISON_T) {
            for (int i = 0; i < POISON_T.size(); i++) {
                sb.append(i > 0 ? "," : "").append(String.format(Locale.ROOT, "%.6f", POISON_T.get(i)));
            }
        }
        sb.append("]}");
        System.out.println(sb);
        System.out.flush();
    }

    // ----------------------------------------------------------- share --

    static void share() throws Exception {
        double tStart = now();
        String topic = opt("topic", null), group = opt("group", null);
        int n = (int) optl("threads", 1);
        // A share group starts at the latest offset unless its group
        // config says otherwise (share.auto.offset.reset, a group config,
        // not a client one): set it to earliest before anyone joins.
        if (!"0".equals(opt("set-group-config", "1"))) {
            Properties ap = new Properties();
            ap.put("bootstrap.servers", opt("brokers", null));
            try (Admin admin = Admin.create(ap)) {
                ConfigResource res = new ConfigResource(ConfigResource.Type.GROUP, group);
                admin.incrementalAlterConfigs(Map.of(res, List.of(new AlterConfigOp(
                    new ConfigEntry("share.auto.offset.reset", "earliest"), AlterConfigOp.OpType.SET))))
                    .all().get(60, TimeUnit.SECONDS);
            }
        }
        startOutput();
        List<Thread> ts = new ArrayList<>();
        final boolean[] stop = {false};
        for (int i = 0; i < n; i++) {
            Thread t = new Thread(() -> {
                Properties p = common();
                p.put("group.id", group);
                p.put("share.acknowledgement.mode", "explicit");
                p.put("max.poll.records", opt("max-poll", "500"));
                p.put("share.acquire.mode", opt("acquire-mode", "batch_optimized"));
                try (KafkaShareConsumer<byte[], byte[]> c = new KafkaShareConsumer<>(p)) {
                    c.subscribe(List.of(topic));
                    while (!stop[0]) {
                        ConsumerRecords<byte[], byte[]> rs = c.poll(Duration.ofMillis(100));
                        if (tReady == 0) {
                            tReady = now();
                        }
                        for (ConsumerRecord<byte[], byte[]> r : rs) {
                            try {
                                process(r);
                                c.acknowledge(r, AcknowledgeType.ACCEPT);
                            } catch (Poison e) {
                                // An exception that never succeeds: give the
                                // record back for another delivery (the
                                // broker archives it at the delivery count
                                // limit).
                                c.acknowledge(r, AcknowledgeType.RELEASE);
                            }
                        }
                        if (!rs.isEmpty()) {
                            c.commitAsync();
                        }
                    }
                    c.commitSync(Duration.ofSeconds(10));
                } catch (Exception e) {
                    e.printStackTrace();
                }
            }, "share-" + i);
            t.start();
            ts.add(t);
        }
        waitEnd();
        report("share", n, tStart);
        stop[0] = true;
        for (Thread t : ts) {
            t.join(15000);
        }
        if (out != null) {
            out.close(Duration.ofSeconds(10));
        }
    }

    // -------------------------------------------------------------- pc --

    static void pc() throws Exception {
        double tStart = now();
        String topic = opt("topic", null), group = opt("group", null);
        int n = (int) optl("threads", 1);
        Properties p = common();
        p.put("group.id", group);
        p.put("enable.auto.commit", "false"); // PC commits itself
        p.put("auto.offset.reset", "earliest");
        p.put("max.poll.records", opt("max-poll", "500"));
        KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(p);
        startOutput();
        ParallelConsumerOptions.ProcessingOrder order =
            ParallelConsumerOptions.ProcessingOrder.valueOf(opt("order", "UNORDERED"));
        ParallelConsumerOptions<byte[], byte[]> o = ParallelConsumerOptions.<byte[], byte[]>builder()
            .consumer(consumer)
            .ordering(order)
            .maxConcurrency(n)
            .commitMode(ParallelConsumerOptions.CommitMode.PERIODIC_CONSUMER_ASYNCHRONOUS)
            .defaultMessageRetryDelay(Duration.ofMillis(optl("retry-ms", 1000)))
            .build();
        ParallelStreamProcessor<byte[], byte[]> pcp = ParallelStreamProcessor.createEosStreamProcessor(o);
        pcp.subscribe(List.of(topic));
        pcp.poll(ctx -> {
            if (tReady == 0) {
                tReady = now();
            }
            process(ctx.getSingleConsumerRecord());
        });
        waitEnd();
        report("pc-" + order.name().toLowerCase(Locale.ROOT), n, tStart);
        pcp.closeDontDrainFirst(Duration.ofSeconds(10));
        if (out != null) {
            out.close(Duration.ofSeconds(10));
        }
    }

    // --------------------------------------------------------- produce --

    /** Fill partitions 0..P-1 with R records each: key "k<i>", i = seq %
     *  keys (roundrobin, the default), or drawn at random (seeded) from
     *  0..keys-1, uniformly or with Zipf's law (key i has weight
     *  1/(i+1)^s); value the sequence number padded to --value-bytes; the
     *  record at global index --poison-at gets --poison as its value. */
    static void produce() throws Exception {
        String topic = opt("topic", null);
        int parts = (int) optl("partitions", 1);
        long recs = optl("records", 1000);
        long keys = optl("keys", 1024);
        String dist = opt("key-dist", "roundrobin");
        double zipfS = Double.parseDouble(opt("zipf-s", "1.0"));
        java.util.Random rnd = new java.util.Random(optl("seed", 1));
        double[] cdf = null;
        if (dist.equals("zipf")) {
            cdf = new double[(int) keys];
            double sum = 0;
            for (int i = 0; i < keys; i++) {
                sum += 1.0 / Math.pow(i + 1, zipfS);
                cdf[i] = sum;
            }
            for (int i = 0; i < keys; i++) {
                cdf[i] /= sum;
            }
        } else if (!dist.equals("uniform") && !dist.equals("roundrobin")) {
            die("--key-dist: '" + dist + "' is not roundrobin, uniform or zipf");
        }
        int vbytes = (int) optl("value-bytes", 32);
        long poisonAt = optl("poison-at", -1);
        byte[] poison = opt("poison", "POISON").getBytes(StandardCharsets.UTF_8);
        Properties p = new Properties();
        p.put("bootstrap.servers", opt("brokers", null));
        p.put("key.serializer", ByteArraySerializer.class.getName());
        p.put("value.serializer", ByteArraySerializer.class.getName());
        p.put("linger.ms", "50");
        p.put("batch.size", opt("batch-bytes", "262144"));
        p.put("compression.type", "none");
        p.put("acks", "all");
        double t0 = now();
        long seq = 0;
        AtomicLongArray fail = new AtomicLongArray(1);
        try (KafkaProducer<byte[], byte[]> prod = new KafkaProducer<>(p)) {
            for (long i = 0; i < recs; i++) {
                for (int part = 0; part < parts; part++, seq++) {
                    byte[] v;
                    if (seq == poisonAt) {
                        v = poison;
                    } else {
                        String s = String.format(Locale.ROOT, "%0" + vbytes + "d", seq);
                        v = s.getBytes(StandardCharsets.UTF_8);
                    }
                    long ki;
                    if (cdf != null) {
                        int at = java.util.Arrays.binarySearch(cdf, rnd.nextDouble());
                        ki = Math.min(at < 0 ? -at - 1 : at, keys - 1);
                    } else if (dist.equals("uniform")) {
                        ki = (long) (rnd.nextDouble() * keys);
                    } else {
                        ki = seq % keys;
                    }
                    byte[] k = ("k" + ki).getBytes(StandardCharsets.UTF_8);
                    prod.send(new ProducerRecord<>(topic, part, k, v), (md, e) -> {
                        if (e != null) {
                            fail.incrementAndGet(0);
                        }
                    });
                }
            }
            prod.flush();
        }
        double dt = now() - t0;
        System.out.println(String.format(Locale.ROOT,
            "{\"records\":%d,\"seconds\":%.6f,\"rate\":%.1f,\"failed\":%d}", seq, dt, seq / dt, fail.get(0)));
        System.exit(fail.get(0) == 0 ? 0 : 1);
    }

    // ------------------------------------------------------- calibrate --

    /** R calls of the work function back to back on one thread (as a
     *  share/PC thread would run them): wall time per record. */
    static void calibrate() {
        long recs = optl("records", 1000);
        Work w = new Work(optl("us", 1000), "busy".equals(opt("work", "sleep")));
        long t0 = System.nanoTime();
        for (long i = 0; i < recs; i++) {
            w.run();
        }
        double dt = (System.nanoTime() - t0) / 1e9;
        System.out.println(String.format(Locale.ROOT,
            "{\"records\":%d,\"us\":%d,\"work\":\"%s\",\"seconds\":%.6f,\"us_per_record\":%.3f}",
            recs, optl("us", 1000), opt("work", "sleep"), dt, dt * 1e6 / recs));
    }

    public static void main(String[] args) throws Exception {
        if (args.length < 1) {
            die("usage: Peers share|pc|produce|calibrate --key value...");
        }
        for (int i = 1; i < args.length; i++) {
            if (!args[i].startsWith("--") || i + 1 >= args.length) {
                die("bad argument " + args[i]);
            }
            OPT.put(args[i].substring(2), args[++i]);
        }
        expect = optl("expect", 0);
        String pt = OPT.get("poison");
        poisonText = pt == null || args[0].equals("produce") ? null : pt.getBytes(StandardCharsets.UTF_8);
        switch (args[0]) {
            case "share" -> share();
            case "pc" -> pc();
            case "produce" -> produce();
            case "calibrate" -> calibrate();
            default -> die("unknown command " + args[0]);
        }
        System.exit(0);
    }
}
