//! upper_rs - a sluice worker plugin in Rust, with no crates: it uppercases
//! each record's value and emits it to the output topic, key and headers
//! unchanged.
//!
//!     rustc --edition 2021 --crate-type cdylib --crate-name upper_rs \
//!           -O -C panic=abort -C strip=debuginfo -o upper_rs.so upper.rs
//!     sluice plugin check upper_rs.so
//!     printf 'hello\nwörld\n' | sluice plugin run --plugin ./upper_rs.so \
//!           --format lines --plugin-opt suffix=!
//!
//! The plugin ABI is plain C (worker/include/sluice/plugin.h; reference in
//! docs/PLUGINS.md), so any language that can export a C function and lay
//! out a C struct can implement it. Here every C type the plugin touches is
//! declared by hand with #[repr(C)], field for field in the header's order;
//! the table is built at ABI 1.1 (it has `description`).
//!
//! Outcomes: a value that is UTF-8 text is uppercased (Unicode rules, so
//! "ß" becomes "SS") and emitted, OK; a value that is not UTF-8 is rejected
//! (dead-lettered) with a reason; a tombstone (no value) is emitted as a
//! tombstone; a failed emit asks for a retry. Option: suffix=TEXT, appended
//! to every uppercased value. Needs an output topic.
//!
//! Rust 1.63 (Debian 12's rustc) or later. A panic must never unwind into
//! the worker: build with -C panic=abort (a panic then aborts the worker,
//! which is restarted and re-runs the job, like a crash in C).

#![allow(dead_code)] // the C structs are declared whole; not every field is read

use std::ffi::{CStr, CString};
use std::os::raw::{c_char, c_int, c_void};
use std::ptr;

// ---------------------------------------------------------------------------
// The ABI, as in sluice/plugin.h

const SLUICE_PLUGIN_ABI_MAJOR: u32 = 1;
const SLUICE_PLUGIN_ABI_MINOR: u32 = 1;
const SLUICE_REASON_MAX: usize = 240;
const SLUICE_PLUGIN_F_THREAD_SAFE: u32 = 0x1;
const SLUICE_LOG_INFO: c_int = 6;
const SLUICE_OK: c_int = 0;
const SLUICE_RETRY: c_int = 1;
const SLUICE_REJECT: c_int = 2;

#[repr(C)]
pub struct Header {
    name: *const c_char,
    value: *const c_void,
    value_len: usize,
}

#[repr(C)]
pub struct Record {
    topic: *const c_char,
    partition: i32,
    offset: i64,
    timestamp: i64,
    key: *const c_void,
    key_len: usize,
    value: *const c_void,
    value_len: usize,
    headers: *const Header,
    header_count: usize,
}

#[repr(C)]
pub struct Outcome {
    code: c_int,
    reason: [c_char; SLUICE_REASON_MAX],
}

#[repr(C)]
pub struct Job {
    topic: *const c_char,
    partition: i32,
    start: i64,
    end: i64,
    attempt: u32,
    job_id: u64,
}

#[repr(C)]
pub struct Emit {
    key: *const c_void,
    key_len: usize,
    value: *const c_void,
    value_len: usize,
    headers: *const Header,
    header_count: usize,
    partition: i32,
}

#[repr(C)]
pub struct PluginOption {
    key: *const c_char,
    value: *const c_char,
}

/// sluice_ctx_t: opaque, owned by the host.
#[repr(C)]
pub struct Ctx {
    _private: [u8; 0],
}

#[repr(C)]
pub struct Host {
    abi_major: u32,
    abi_minor: u32,
    size: usize,
    emit: Option<unsafe extern "C" fn(*mut Ctx, *const Emit) -> c_int>,
    log: Option<unsafe extern "C" fn(*mut Ctx, c_int, *const c_char, ...)>,
    option: Option<unsafe extern "C" fn(*mut Ctx, *const c_char) -> *const c_char>,
    output_topic: Option<unsafe extern "C" fn(*mut Ctx) -> *const c_char>,
}

type CreateFn = unsafe extern "C" fn(
    *const Host,
    *mut Ctx,
    *const PluginOption,
    usize,
    *mut *mut c_void,
    *mut c_char,
    usize,
) -> c_int;
type JobFn = unsafe extern "C" fn(*mut c_void, *const Job, *mut c_char, usize) -> c_int;
type ProcessFn = unsafe extern "C" fn(*mut c_void, *const Record, usize, *mut Outcome) -> c_int;
type DestroyFn = unsafe extern "C" fn(*mut c_void);

#[repr(C)]
pub struct Plugin {
    abi_major: u32,
    abi_minor: u32,
    size: usize,
    name: *const c_char,
    version: *const c_char,
    options: *const *const c_char,
    flags: u32,
    create: Option<CreateFn>,
    job_begin: Option<JobFn>,
    process: Option<ProcessFn>,
    job_end: Option<JobFn>,
    destroy: Option<DestroyFn>,
    description: *const c_char, // 1.1
}

// Sizes as a C compiler lays the structs out on a 64-bit target: a typo in
// a declaration above fails the build instead of corrupting memory.
const _: () = assert!(std::mem::size_of::<Outcome>() == 4 + SLUICE_REASON_MAX);
#[cfg(target_pointer_width = "64")]
const _: () = assert!(
    std::mem::size_of::<Plugin>() == 96
        && std::mem::size_of::<Host>() == 48
        && std::mem::size_of::<Record>() == 80
        && std::mem::size_of::<Emit>() == 56
        && std::mem::size_of::<Job>() == 48
        && std::mem::size_of::<Header>() == 24
);

// The table and the option list hold raw pointers to static strings, which
// Rust will not share between threads unless told they are immutable.
struct Table(Plugin);
unsafe impl Sync for Table {}
struct Options([*const c_char; 2]);
unsafe impl Sync for Options {}

/// A static NUL-terminated string as a C pointer.
macro_rules! cstr {
    ($s:expr) => {
        concat!($s, "\0").as_ptr() as *const c_char
    };
}

static OPTIONS: Options = Options([cstr!("suffix"), ptr::null()]);

static TABLE: Table = Table(Plugin {
    abi_major: SLUICE_PLUGIN_ABI_MAJOR,
    abi_minor: SLUICE_PLUGIN_ABI_MINOR,
    size: std::mem::size_of::<Plugin>(),
    name: cstr!("upper_rs"),
    version: cstr!("1.0"),
    options: &OPTIONS.0 as *const [*const c_char; 2] as *const *const c_char,
    // The state is read-only after create, so one instance may serve
    // several threads.
    flags: SLUICE_PLUGIN_F_THREAD_SAFE,
    create: Some(create),
    job_begin: None,
    process: Some(process),
    job_end: None,
    destroy: Some(destroy),
    description: cstr!("Uppercases each value and emits it (a Rust plugin, no crates)."),
});

/// The one exported symbol: the worker calls it after dlopen.
#[no_mangle]
pub extern "C" fn sluice_plugin_entry() -> *const Plugin {
    &TABLE.0
}

// ---------------------------------------------------------------------------
// The plugin

/// One instance, made by create, freed by destroy (Box on both sides: the
/// side that allocates frees).
struct State {
    host: *const Host,
    ctx: *mut Ctx,
    suffix: String,
}

/// Copy `text` into a C buffer of `len` bytes, cut to fit, NUL-terminated.
unsafe fn write_c(buf: *mut c_char, len: usize, text: &str) {
    if buf.is_null() || len == 0 {
        return;
    }
    let bytes = text.as_bytes();
    let n = bytes.len().min(len - 1);
    ptr::copy_nonoverlapping(bytes.as_ptr() as *const c_char, buf, n);
    *buf.add(n) = 0;
}

/// Set an outcome: a code and its reason.
fn set_outcome(out: &mut Outcome, code: c_int, reason: &str) {
    out.code = code;
    unsafe { write_c(out.reason.as_mut_ptr(), SLUICE_REASON_MAX, reason) };
}

/// Log one line through the worker (never pass our text as the format).
unsafe fn log(host: &Host, ctx: *mut Ctx, text: &str) {
    if let (Some(log), Ok(line)) = (host.log, CString::new(text)) {
        log(ctx, SLUICE_LOG_INFO, cstr!("%s"), line.as_ptr());
    }
}

/// Make an instance: needs an output topic; reads the suffix option.
unsafe extern "C" fn create(
    host: *const Host,
    ctx: *mut Ctx,
    _options: *const PluginOption,
    _option_count: usize,
    state: *mut *mut c_void,
    err: *mut c_char,
    errlen: usize,
) -> c_int {
    let h = &*host;
    if h.abi_major != SLUICE_PLUGIN_ABI_MAJOR || h.emit.is_none() {
        write_c(err, errlen, "upper_rs: unexpected host table");
        return -1;
    }
    let topic = match h.output_topic {
        Some(f) => f(ctx),
        None => ptr::null(),
    };
    if topic.is_null() {
        write_c(
            err,
            errlen,
            "upper_rs emits every record: give the worker --output-topic TOPIC",
        );
        return -1;
    }
    let suffix = match h.option {
        Some(f) => f(ctx, cstr!("suffix")),
        None => ptr::null(),
    };
    let suffix = if suffix.is_null() {
        String::new()
    } else {
        CStr::from_ptr(suffix).to_string_lossy().into_owned()
    };
    let topic = CStr::from_ptr(topic).to_string_lossy();
    log(h, ctx, &format!("upper_rs ready output={} suffix={:?}", topic, suffix));
    *state = Box::into_raw(Box::new(State { host, ctx, suffix })) as *mut c_void;
    0
}

/// Uppercase and emit each record; see the top of the file for outcomes.
unsafe extern "C" fn process(
    state: *mut c_void,
    records: *const Record,
    n: usize,
    out: *mut Outcome,
) -> c_int {
    let st = &*(state as *const State);
    let host = &*st.host;
    let emit = match host.emit {
        Some(f) => f,
        None => return -1,
    };
    for i in 0..n {
        let rec = &*records.add(i);
        let outcome = &mut *out.add(i);
        // The worker's buffers, valid only during this call.
        let upper = if rec.value.is_null() {
            None // a tombstone stays one
        } else {
            let bytes = std::slice::from_raw_parts(rec.value as *const u8, rec.value_len);
            match std::str::from_utf8(bytes) {
                Ok(text) => Some(text.to_uppercase() + &st.suffix),
                Err(e) => {
                    set_outcome(
                        outcome,
                        SLUICE_REJECT,
                        &format!("value is not UTF-8 text (bad byte at {})", e.valid_up_to()),
                    );
                    continue;
                }
            }
        };
        let (value, value_len) = match &upper {
            Some(s) => (s.as_ptr() as *const c_void, s.len()),
            None => (ptr::null(), 0),
        };
        let rec_out = Emit {
            key: rec.key,
            key_len: rec.key_len,
            value,
            value_len,
            headers: rec.headers,
            header_count: rec.header_count,
            partition: -1,
        };
        // The host copies everything before emit returns.
        if emit(st.ctx, &rec_out) != 0 {
            set_outcome(outcome, SLUICE_RETRY, "upper_rs: emit failed");
        }
    }
    0
}

/// Free the instance create made.
unsafe extern "C" fn destroy(state: *mut c_void) {
    if !state.is_null() {
        drop(Box::from_raw(state as *mut State));
    }
}
