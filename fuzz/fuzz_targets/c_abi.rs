//! The C ABI entry points with hostile bytes: option keys and values,
//! records and chunks. Every call returns a status; buffers handed out are
//! freed with `sigmaline_free`.
#![no_main]

use std::ffi::CString;
use std::ptr;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use sigmaline::ffi::*;

struct Engine(*mut sigmaline_engine);
// SAFETY: the engine handle is documented as usable from any thread.
unsafe impl Send for Engine {}
unsafe impl Sync for Engine {}

fn engine() -> *mut sigmaline_engine {
    static E: OnceLock<Engine> = OnceLock::new();
    E.get_or_init(|| {
        let rules = concat!(env!("CARGO_MANIFEST_DIR"), "/rules");
        let key = CString::new("rules").unwrap();
        let val = CString::new(rules).unwrap();
        // SAFETY: valid C strings and fresh options, freed once.
        unsafe {
            let o = sigmaline_options_new();
            assert_eq!(sigmaline_options_set(o, key.as_ptr(), val.as_ptr(), ptr::null_mut()), SIGMALINE_OK);
            let e = sigmaline_engine_new(o, ptr::null_mut());
            sigmaline_options_free(o);
            assert!(!e.is_null());
            Engine(e)
        }
    })
    .0
}

fuzz_target!(|data: &[u8]| {
    let e = engine();
    // SAFETY: pointers and lengths describe `data` and local out-params.
    unsafe {
        // Options: "key\0value" from the input (never `rules`: no file access).
        let mut parts = data.splitn(2, |&b| b == 0);
        let (k, v) = (parts.next().unwrap_or(b""), parts.next().unwrap_or(b""));
        if let (Ok(k), Ok(v)) = (CString::new(k), CString::new(v)) {
            if !k.as_bytes().starts_with(b"rules") && !k.as_bytes().starts_with(b"logsources")
                && !k.as_bytes().starts_with(b"placeholders") && !k.as_bytes().starts_with(b"profile")
            {
                let o = sigmaline_options_new();
                let mut err = ptr::null_mut();
                let rc = sigmaline_options_set(o, k.as_ptr(), v.as_ptr(), &mut err);
                assert!(rc == SIGMALINE_OK || !err.is_null());
                if !err.is_null() {
                    assert!(!sigmaline_error_message(err).is_null());
                    sigmaline_error_free(err);
                }
                sigmaline_options_free(o);
            }
        }
        let (mut out, mut len) = (ptr::null_mut(), 0usize);
        let mut err = ptr::null_mut();
        let rc = sigmaline_eval_json(e, data.as_ptr(), data.len(), &mut out, &mut len, &mut err);
        match rc {
            SIGMALINE_TAGGED => {
                // Shorter than the input when an existing tag field is replaced.
                assert!(!out.is_null() && len > 0);
                sigmaline_free(out);
            }
            SIGMALINE_ERROR => {
                assert!(out.is_null());
                if !err.is_null() {
                    sigmaline_error_free(err);
                }
            }
            _ => assert!(out.is_null()),
        }
        let rc = sigmaline_filter_chunk(e, data.as_ptr(), data.len(), &mut out, &mut len, ptr::null_mut());
        if rc == SIGMALINE_MODIFIED {
            sigmaline_free(out);
        }
        // NULL everywhere: errors, not crashes.
        assert_eq!(sigmaline_eval_json(ptr::null(), ptr::null(), 0, ptr::null_mut(), ptr::null_mut(), ptr::null_mut()), SIGMALINE_ERROR);
    }
});
