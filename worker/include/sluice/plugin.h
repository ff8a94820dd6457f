/*  sluice/plugin.h - the worker plugin ABI.

    A plugin is a shared object that exports one symbol, SLUICE_PLUGIN_ENTRY
    ("sluice_plugin_entry"), a function that returns a pointer to a constant
    sluice_plugin_t table. The worker reads abi_major first and refuses a
    plugin whose major version differs from its own.

    Versions. The major version changes only if a field moves, changes type
    or changes meaning: every plugin must then be rebuilt. A minor version
    only appends fields at the end of sluice_plugin_t or sluice_host_t,
    never anything else, and each table starts with its `size`. The other
    structs (record, header, outcome, emit, job, option) carry no size and
    never change within a major version. So:

    - a plugin built at an older minor keeps working: the worker copies
      `size` bytes of its table into a zero-filled table of its own, so a
      field appended later reads as NULL / 0 (the default) and nothing past
      the plugin's table is ever read;
    - a plugin built at a newer minor works on an older worker too, which
      ignores the fields it does not know;
    - a plugin that wants a host service added after minor 0 checks
      host->size first (see sluice_host_t).

    Minor versions:
        1.0  the tables as first published
        1.1  sluice_plugin_t.description
        1.2  a per-call context: sluice_plugin_t.job_begin_call,
             process_call and job_end_call, which take a sluice_call_t;
             sluice_host_t.call_job, call_lane, call_emit and lanes

    The worker reaches the plugin only through this table; the plugin reaches
    the worker only through the sluice_host_t table passed to create(), so a
    plugin never links against worker symbols. Memory is freed by the side
    that allocated it. Errors come back as a code plus a message written into
    a buffer the worker provides.

    Call order, on one thread at a time unless the plugin sets
    SLUICE_PLUGIN_F_THREAD_SAFE:

        create -> { job_begin -> process* -> job_end }* -> destroy

    From 1.2 each of the three job hooks has a variant that takes a
    sluice_call_t (in place of the job): the call context, owned by the
    worker, which says for which job and on which lane (executor thread)
    the call runs, and emits for that job (host->call_emit). With it a
   thread-safe instance, which several lanes call at once, needs no thread-local
   state to know on whose behalf it runs, as a Redis module's every call gets
   its RedisModuleCtx.

    A job counts as done only after job_end returns 0 and everything the
    plugin emitted has been acknowledged by Kafka. docs/PLUGINS.md is the
    full reference.

    Minimal plugin (build: cc $(pkg-config --cflags sluice-plugin) -shared
    -fPIC p.c -o p.so):

        #include <sluice/plugin.h>
        static int process (void *state, const sluice_record_t *recs,
                            size_t n, sluice_outcome_t *out)
        {
            for (size_t i = 0; i < n; i++)
                out [i].code = recs [i].value_len ? SLUICE_OK : SLUICE_REJECT;
            return 0;
        }
        static const sluice_plugin_t table = {
            .abi_major = SLUICE_PLUGIN_ABI_MAJOR,
            .abi_minor = SLUICE_PLUGIN_ABI_MINOR,
            .size = sizeof (sluice_plugin_t),
            .name = "mine", .version = "1.0", .process = process };
        SLUICE_PLUGIN_EXPORT const sluice_plugin_t *sluice_plugin_entry (void)
        { return &table; }
*/
#ifndef SLUICE_PLUGIN_H_INCLUDED
#define SLUICE_PLUGIN_H_INCLUDED

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SLUICE_PLUGIN_ABI_MAJOR 1
#define SLUICE_PLUGIN_ABI_MINOR 2
#define SLUICE_PLUGIN_ENTRY     "sluice_plugin_entry"
#define SLUICE_PLUGIN_EXPORT    __attribute__ ((visibility ("default")))

/*  Size of the reason buffer in each outcome, including the NUL.         */
#define SLUICE_REASON_MAX 240

/*  Plugin flags.                                                          */
#define SLUICE_PLUGIN_F_THREAD_SAFE                                            \
    0x1u /* one instance may run concurrent                                    \
            jobs on several threads       */
/*  The plugin never reads sluice_record_t.headers: the worker leaves them
    empty (headers NULL, header_count 0) and skips parsing them, which is
    the largest cost per record of a worker with a cheap plugin (librdkafka
    parses a record's headers on request, allocating every time). Workers
    before it ignore the bit and pass headers as always. Dead letters keep
    the source record's headers either way.                               */
#define SLUICE_PLUGIN_F_NO_HEADERS 0x2u

/*  Log levels for host->log.                                             */
typedef enum {
    SLUICE_LOG_ERROR = 3,
    SLUICE_LOG_WARN = 4,
    SLUICE_LOG_INFO = 6,
    SLUICE_LOG_DEBUG = 7
} sluice_log_level_t;

/*  Per-record outcome codes.                                             */
typedef enum {
    SLUICE_OK = 0,    /* processed; whatever it emitted goes out         */
    SLUICE_RETRY = 1, /* transient failure: call process on it again     */
    SLUICE_REJECT = 2 /* permanent: copy the record to the DLQ, reason
                         in outcome.reason                               */
} sluice_code_t;

typedef struct {
    const char *name;  /* NUL-terminated                                  */
    const void *value; /* may be NULL                                     */
    size_t value_len;
} sluice_header_t;

/*  A record as fetched from Kafka. Every pointer is valid only during the
    process() call that received it: copy what must outlive it.          */
typedef struct {
    const char *topic;
    int32_t partition;
    int64_t offset;
    int64_t timestamp; /* ms since epoch, -1 if unknown                    */
    const void *key;   /* NULL if the record has no key                    */
    size_t key_len;
    const void *value; /* NULL for a tombstone                             */
    size_t value_len;
    const sluice_header_t *headers;
    size_t header_count;
} sluice_record_t;

/*  Filled in by process(), one per record. The worker sets code to
    SLUICE_OK and reason to "" before the call.                           */
typedef struct {
    int code;                       /* sluice_code_t                      */
    char reason[SLUICE_REASON_MAX]; /* why, for SLUICE_REJECT / RETRY     */
} sluice_outcome_t;

/*  The job a batch belongs to: records with offsets in [start, end).    */
typedef struct {
    const char *topic;
    int32_t partition;
    int64_t start;
    int64_t end;
    uint32_t attempt; /* 1 on the first try                                */
    uint64_t job_id;
} sluice_job_t;

/*  A record for the output topic. The host copies everything before
    emit() returns.                                                       */
typedef struct {
    const void *key;
    size_t key_len;
    const void *value;
    size_t value_len;
    const sluice_header_t *headers;
    size_t header_count;
    int32_t partition; /* -1: the producer's partitioner picks            */
} sluice_emit_t;

typedef struct {
    const char *key;
    const char *value;
} sluice_option_t;

typedef struct sluice_ctx sluice_ctx_t; /* opaque, owned by the host       */

/*  One call of a *_call hook (ABI 1.2): opaque, owned by the host, valid
    until that hook returns. Read it with host->call_job and call_lane;
    emit for its job with host->call_emit. Calls through one sluice_call_t
    must not overlap, but may come from another thread the hook waits for. */
typedef struct sluice_call sluice_call_t;

/*  Services the worker offers to a plugin. Append-only, like the plugin
    table: `size` is sizeof (sluice_host_t) of the worker's build, so a
    plugin checks that size covers a field added after minor 0 before it
    uses it, e.g. host->size >= offsetof (sluice_host_t, field) + sizeof
    (host->field). Fields are in 1.0 unless marked otherwise.            */
typedef struct {
    uint32_t abi_major;
    uint32_t abi_minor;
    size_t size;
    /*  Queue a record for the output topic. Returns 0, or -1 if no output
        topic is configured or the record could not be queued (the job is
        then failed and re-run).                                         */
    int (*emit) (sluice_ctx_t *ctx, const sluice_emit_t *record);
    /*  Log one line through the worker's logger (printf-style).         */
    void (*log) (sluice_ctx_t *ctx, int level, const char *fmt, ...)
        __attribute__ ((format (printf, 3, 4)));
    /*  The value of option `key` given with --plugin-opt, or NULL.      */
    const char *(*option) (sluice_ctx_t *ctx, const char *key);
    /*  The output topic (--output-topic), or NULL if there is none: emit()
        then fails, so a plugin that must emit refuses to be created.    */
    const char *(*output_topic) (sluice_ctx_t *ctx);

    /*  --- 1.2: the call context ------------------------------------------
        A worker calls the *_call hooks only if it has these fields, so a
        *_call hook uses them without a size check; create() checks
        host->size before it calls lanes().                              */

    /*  The job the call runs for: topic, partition, range, attempt, job
        id. Valid until the hook returns.                                */
    const sluice_job_t *(*call_job) (sluice_call_t *call);
    /*  The lane the call runs on, from 0 to lanes (ctx) - 1. A lane runs
        one job at a time, so state kept per lane needs no lock.         */
    uint32_t (*call_lane) (sluice_call_t *call);
    /*  emit() for the call's job: the record goes out, and is counted,
        with that job, and a record that cannot be queued fails that job,
        whichever thread calls. Returns 0, or -1 as emit(), and also if
        the hook the call was passed to has returned.                    */
    int (*call_emit) (sluice_call_t *call, const sluice_emit_t *record);
    /*  How many lanes may call this instance at once, fixed from create
        on: --concurrency for a SLUICE_PLUGIN_F_THREAD_SAFE plugin (one
        instance for all lanes), 1 for any other (an instance per lane).  */
    uint32_t (*lanes) (sluice_ctx_t *ctx);
} sluice_host_t;

/*  The table a plugin exports. Any hook may be NULL but one of process
    and process_call (1.2).                                               */
typedef struct {
    uint32_t abi_major; /* SLUICE_PLUGIN_ABI_MAJOR: read before all else   */
    uint32_t abi_minor; /* SLUICE_PLUGIN_ABI_MINOR the plugin was built at */
    size_t size;        /* sizeof (sluice_plugin_t) the plugin was built at */
    const char *name;
    const char *version;
    /*  NULL-terminated list of the option keys create() understands; the
        worker refuses any other --plugin-opt. NULL: takes no options.    */
    const char *const *options;
    uint32_t flags; /* SLUICE_PLUGIN_F_*                                   */

    /*  Make an instance. Store its state in *state. Return 0, or -1 with
        a message in err (the worker exits 2: bad options).              */
    int (*create) (const sluice_host_t *host, sluice_ctx_t *ctx,
                   const sluice_option_t *options, size_t option_count,
                   void **state, char *err, size_t errlen);
    /*  A job starts. Return 0, or -1 with err: the job fails.           */
    int (*job_begin) (void *state, const sluice_job_t *job, char *err,
                      size_t errlen);
    /*  Process n records; set out [i].code for each. Return 0, or -1
        with a message in out [0].reason if the whole batch failed (the
        job fails and is re-run).                                        */
    int (*process) (void *state, const sluice_record_t *records, size_t n,
                    sluice_outcome_t *out);
    /*  The job's last record was processed: flush anything batched.
        Return 0, or -1 with err: the job fails and is re-run.           */
    int (*job_end) (void *state, const sluice_job_t *job, char *err,
                    size_t errlen);
    /*  Free the instance.                                                */
    void (*destroy) (void *state);

    /*  --- 1.1 ------------------------------------------------------------ */

    /*  One line saying what the plugin does, shown by `sluice plugin
        check`; NULL: none. A plugin built at 1.0 reads as NULL.          */
    const char *description;

    /*  --- 1.2 ------------------------------------------------------------ */

    /*  job_begin, process and job_end with the call context: the job and
        lane they run for and emits for that job (see sluice_host_t, 1.2).
        Where one is set the worker calls it instead of the 1.0 hook of the
        same name, with the same contract; set either, both, or a mix. A
        worker before 1.2 ignores these: a plugin that must run there sets
        process too (and checks host->size in create).                   */
    int (*job_begin_call) (void *state, sluice_call_t *call, char *err,
                           size_t errlen);
    int (*process_call) (void *state, sluice_call_t *call,
                         const sluice_record_t *records, size_t n,
                         sluice_outcome_t *out);
    int (*job_end_call) (void *state, sluice_call_t *call, char *err,
                         size_t errlen);
} sluice_plugin_t;

typedef const sluice_plugin_t *(*sluice_plugin_entry_fn) (void);

#ifdef __cplusplus
}
#endif

#endif
