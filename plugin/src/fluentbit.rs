//! A native Fluent Bit filter, `flb-filter_sigma.so`, loaded by a stock
//! Fluent Bit (v3.2 or later) with `-e` or a `plugins` file.
//!
//! Fluent Bit finds the symbol `filter_sigma_plugin` and copies the 88-byte
//! `struct flb_filter_plugin` it points to. The layout is written here in
//! Rust (`#[repr(C)]`, checked at compile time) from the facts in
//! `../shared/docs/fluentbit.md`; no Fluent Bit header or code is used.
//! `config_map` stays NULL so the plugin does not depend on Fluent Bit's
//! config-map layout (it changed in v5.0.3): properties are read from the
//! instance's property list and checked here. Messages go through Fluent
//! Bit's own `flb_log_print`, found with `dlsym`.

use std::ffi::{c_char, c_int, c_void, CStr};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::OnceLock;

use crate::chunk::{filter_chunk, ChunkResult};
use std::sync::Arc;

use crate::handle::Handle;
use crate::watch::Watcher;
use sigmaline_core::Settings as Config;

/// `FLB_FILTER_MODIFIED`.
pub(crate) const FLB_FILTER_MODIFIED: c_int = 1;
/// `FLB_FILTER_NOTOUCH`.
pub(crate) const FLB_FILTER_NOTOUCH: c_int = 2;
/// `FLB_FILTER_LOGS` (event type).
pub(crate) const FLB_FILTER_LOGS: c_int = 1;

/// Offset of `void *context` in `struct flb_filter_instance` (v2.2.3 … v5.1.1).
pub(crate) const INSTANCE_CONTEXT_OFFSET: usize = 80;
/// Offset of `struct mk_list properties` in `struct flb_filter_instance`.
pub(crate) const INSTANCE_PROPERTIES_OFFSET: usize = 104;
/// Offset of `struct mk_list _head` in `struct flb_kv { sds key; sds val; ... }`.
const KV_HEAD_OFFSET: usize = 16;

type CbInit =
    unsafe extern "C" fn(ins: *mut c_void, config: *mut c_void, data: *mut c_void) -> c_int;
type CbFilter = unsafe extern "C" fn(
    data: *const c_void,
    bytes: usize,
    tag: *const c_char,
    tag_len: c_int,
    out_buf: *mut *mut c_void,
    out_bytes: *mut usize,
    ins: *mut c_void,
    i_ins: *mut c_void,
    context: *mut c_void,
    config: *mut c_void,
) -> c_int;
type CbExit = unsafe extern "C" fn(context: *mut c_void, config: *mut c_void) -> c_int;
type Cb3 = unsafe extern "C" fn(*mut c_void, *mut c_void, *mut c_void) -> c_int;

/// `struct flb_filter_plugin`, v3.2.0 … v5.1.1 (88 bytes on 64-bit).
#[repr(C)]
pub struct FlbFilterPlugin {
    pub event_type: c_int,
    pub flags: c_int,
    pub name: *const c_char,
    pub description: *const c_char,
    pub config_map: *const c_void,
    pub cb_pre_run: Option<Cb3>,
    pub cb_init: Option<CbInit>,
    pub cb_filter: Option<CbFilter>,
    pub cb_exit: Option<CbExit>,
    pub cb_notification: Option<Cb3>,
    /// `struct mk_list _head`: Fluent Bit links its copy of the struct.
    pub head: [*mut c_void; 2],
}

#[cfg(target_pointer_width = "64")]
const _: () = assert!(std::mem::size_of::<FlbFilterPlugin>() == 88);

/// The exported plugin description (read-only; Fluent Bit copies it).
#[repr(transparent)]
pub struct PluginExport(pub FlbFilterPlugin);

// SAFETY: the struct is never written after initialisation; its pointers
// point to static strings and functions.
unsafe impl Sync for PluginExport {}

/// The symbol Fluent Bit's loader looks up for `flb-filter_sigma.so`.
#[no_mangle]
pub static filter_sigma_plugin: PluginExport = PluginExport(FlbFilterPlugin {
    event_type: FLB_FILTER_LOGS,
    flags: 0,
    name: c"sigma".as_ptr(),
    description: c"Sigma rules: tag, keep or drop records (sigmaline)".as_ptr(),
    config_map: std::ptr::null(),
    cb_pre_run: None,
    cb_init: Some(cb_init),
    cb_filter: Some(cb_filter),
    cb_exit: Some(cb_exit),
    cb_notification: None,
    head: [std::ptr::null_mut(); 2],
});

/// Fluent Bit's log levels.
#[derive(Clone, Copy)]
enum Level {
    Error = 1,
    Info = 3,
}

fn has_symbol(name: &CStr) -> bool {
    // SAFETY: dlsym with a NUL-terminated name.
    !unsafe { libc::dlsym(libc::RTLD_DEFAULT, name.as_ptr()) }.is_null()
}

type LogPrint = unsafe extern "C" fn(c_int, *const c_char, c_int, *const c_char, ...);

fn log_print() -> Option<LogPrint> {
    static F: OnceLock<Option<usize>> = OnceLock::new();
    let addr = *F.get_or_init(|| {
        // SAFETY: dlsym with a NUL-terminated name; a NULL result means absent.
        let p = unsafe { libc::dlsym(libc::RTLD_DEFAULT, c"flb_log_print".as_ptr()) };
        (!p.is_null()).then_some(p as usize)
    });
    // SAFETY: the symbol is Fluent Bit's `void flb_log_print(int, const char *, int, const char *, ...)`.
    addr.map(|a| unsafe { std::mem::transmute::<usize, LogPrint>(a) })
}

/// Logs through Fluent Bit (as `[filter:sigma]`), or to stderr without it.
fn log(level: Level, msg: &str) {
    let text = std::ffi::CString::new(format!("[filter:sigma] {msg}").replace('\0', " "))
        .unwrap_or_default();
    match log_print() {
        // SAFETY: "%s" with one NUL-terminated string argument.
        Some(f) => unsafe {
            f(
                level as c_int,
                std::ptr::null(),
                0,
                c"%s".as_ptr(),
                text.as_ptr(),
            )
        },
        None => eprintln!("{}", text.to_string_lossy()),
    }
}

/// The instance's properties as (key, value) pairs, in order.
///
/// # Safety
/// `ins` points to a `struct flb_filter_instance` of a supported version.
unsafe fn properties(ins: *mut c_void) -> Vec<(String, String)> {
    let mut out = Vec::new();
    // SAFETY: per the function contract, `properties` is an mk_list head
    // { prev, next } at a fixed offset; nodes are `flb_kv._head` members.
    unsafe {
        let head = (ins as *mut u8).add(INSTANCE_PROPERTIES_OFFSET) as *mut *mut c_void;
        let mut node = *head.add(1);
        let mut guard = 0;
        while !node.is_null() && node != head as *mut c_void && guard < 10_000 {
            let kv = (node as *mut u8).sub(KV_HEAD_OFFSET) as *const *const c_char;
            let (k, v) = (*kv, *kv.add(1));
            if !k.is_null() {
                let key = CStr::from_ptr(k).to_string_lossy().into_owned();
                let val = if v.is_null() {
                    String::new()
                } else {
                    CStr::from_ptr(v).to_string_lossy().into_owned()
                };
                out.push((key, val));
            }
            node = *(node as *mut *mut c_void).add(1);
            guard += 1;
        }
    }
    out
}

/// Stores the context the way `flb_filter_set_context` does.
///
/// # Safety
/// `ins` points to a `struct flb_filter_instance` of a supported version.
unsafe fn set_context(ins: *mut c_void, ctx: *mut c_void) {
    type SetContext = unsafe extern "C" fn(*mut c_void, *mut c_void);
    // SAFETY: dlsym lookup; the symbol, when present, has this signature.
    let f = unsafe { libc::dlsym(libc::RTLD_DEFAULT, c"flb_filter_set_context".as_ptr()) };
    if f.is_null() {
        // SAFETY: `context` is a pointer at a fixed offset of the instance.
        unsafe { *((ins as *mut u8).add(INSTANCE_CONTEXT_OFFSET) as *mut *mut c_void) = ctx };
    } else {
        // SAFETY: see above.
        unsafe { std::mem::transmute::<*mut c_void, SetContext>(f)(ins, ctx) };
    }
}

struct Context {
    // Dropped first: the watch thread stops before the handle goes.
    _watch: Option<Watcher>,
    handle: Arc<Handle>,
}

unsafe extern "C" fn cb_init(ins: *mut c_void, _config: *mut c_void, _data: *mut c_void) -> c_int {
    let r = catch_unwind(AssertUnwindSafe(|| {
        if ins.is_null() {
            return Err("no filter instance".to_string());
        }
        if log_print().is_some() && !has_symbol(c"flb_notification_enqueue") {
            // The 88-byte struct needs v3.2.0+, which added notifications.
            return Err("this Fluent Bit is older than v3.2.0, which sigmaline needs".to_string());
        }
        let mut config = Config::default();
        // SAFETY: Fluent Bit passes its filter instance.
        for (k, v) in unsafe { properties(ins) } {
            config.set(&k, &v)?;
        }
        let handle = Arc::new(Handle::new(config.clone())?);
        let rules = handle.engine().engine.rule_count();
        let watch = match config.watch {
            true => Some(Watcher::start(&handle, |r| match r {
                Ok(n) => log(
                    Level::Info,
                    &format!("rules changed on disk: {n} rules loaded"),
                ),
                Err(e) => log(
                    Level::Error,
                    &format!("rules changed on disk but did not load, keeping the old rules: {e}"),
                ),
            })?),
            false => None,
        };
        let ctx = Box::into_raw(Box::new(Context {
            _watch: watch,
            handle,
        })) as *mut c_void;
        // SAFETY: as above.
        unsafe { set_context(ins, ctx) };
        log(
            Level::Info,
            &format!(
                "{rules} rules loaded from {}, mode {:?}, profile {}, tag key {}",
                config.rules.join(", "),
                config.mode,
                config.profile,
                config.tag_key
            ),
        );
        Ok(())
    }));
    match r {
        Ok(Ok(())) => 0,
        Ok(Err(e)) => {
            log(Level::Error, &format!("cannot start: {e}"));
            -1
        }
        Err(_) => {
            log(Level::Error, "cannot start: internal error (panic)");
            -1
        }
    }
}

unsafe extern "C" fn cb_filter(
    data: *const c_void,
    bytes: usize,
    _tag: *const c_char,
    _tag_len: c_int,
    out_buf: *mut *mut c_void,
    out_bytes: *mut usize,
    _ins: *mut c_void,
    _i_ins: *mut c_void,
    context: *mut c_void,
    _config: *mut c_void,
) -> c_int {
    let r = catch_unwind(AssertUnwindSafe(|| {
        if data.is_null() || context.is_null() || out_buf.is_null() || out_bytes.is_null() {
            return FLB_FILTER_NOTOUCH;
        }
        // SAFETY: `context` is the Context set by cb_init; `data` holds `bytes` bytes.
        let (ctx, chunk) = unsafe {
            (
                &*(context as *const Context),
                std::slice::from_raw_parts(data as *const u8, bytes),
            )
        };
        let h = &ctx.handle;
        match h.with_engine(|e, s| filter_chunk(e, s, chunk, &h.stats)) {
            ChunkResult::Unchanged => FLB_FILTER_NOTOUCH,
            ChunkResult::Modified(v) => {
                // Fluent Bit frees the buffer with free(): allocate with malloc.
                // SAFETY: malloc'd buffer of v.len() (at least 1) bytes.
                let buf = unsafe { libc::malloc(v.len().max(1)) } as *mut u8;
                if buf.is_null() {
                    return FLB_FILTER_NOTOUCH;
                }
                // SAFETY: `buf` has room for v.len() bytes; out pointers checked above.
                unsafe {
                    std::ptr::copy_nonoverlapping(v.as_ptr(), buf, v.len());
                    *out_buf = buf as *mut c_void;
                    *out_bytes = v.len();
                }
                FLB_FILTER_MODIFIED
            }
        }
    }));
    r.unwrap_or_else(|_| {
        log(
            Level::Error,
            "internal error (panic) while filtering: chunk passed through unchanged",
        );
        FLB_FILTER_NOTOUCH
    })
}

unsafe extern "C" fn cb_exit(context: *mut c_void, _config: *mut c_void) -> c_int {
    let _ = catch_unwind(AssertUnwindSafe(|| {
        if context.is_null() {
            return;
        }
        // SAFETY: created by Box::into_raw in cb_init; Fluent Bit calls exit once.
        let ctx = unsafe { Box::from_raw(context as *mut Context) };
        let s = &ctx.handle.stats;
        log(
            Level::Info,
            &format!(
                "records in {}, out {}, matched {}, dropped {}, malformed {}",
                s.records_in.load(Relaxed),
                s.records_out.load(Relaxed),
                s.matched.load(Relaxed),
                s.dropped.load(Relaxed),
                s.malformed.load(Relaxed)
            ),
        );
    }));
    0
}
