//! What the fuzz targets share: engines compiled once per process from
//! `fuzz/rules` (the seed rules plus SigmaHQ rules chosen for their
//! modifiers), one per mode, and the invariants every record must keep.

use std::path::Path;
use std::sync::OnceLock;

use sigmaline_core::msgpack::value_len;
use std::cell::RefCell;

use sigmaline_core::{Engine, EngineBuilder, Mode, RuleSet, Scratch};

pub const MODES: [Mode; 3] = [Mode::Tag, Mode::Keep, Mode::Drop];

/// Engines for tag, keep and drop, in that order.
pub fn engines() -> &'static [Engine; 3] {
    static E: OnceLock<[Engine; 3]> = OnceLock::new();
    E.get_or_init(|| {
        let rules = Path::new(env!("CARGO_MANIFEST_DIR")).join("rules");
        let set = RuleSet::load_paths(&[rules]).expect("fuzz/rules loads");
        MODES.map(|m| {
            let (e, report) = EngineBuilder::new().mode(m).build(&set).unwrap();
            assert!(report.rejected.is_empty(), "{:?}", report.rejected);
            e
        })
    })
}

/// Runs `f` with engine `i` (see [`engines`]) and a scratch space kept
/// across runs, as a host keeps one per thread.
pub fn with_engine<R>(i: usize, f: impl FnOnce(&Engine, &mut Scratch) -> R) -> R {
    thread_local! {
        static S: RefCell<Vec<Scratch>> = RefCell::new(engines().iter().map(Engine::scratch).collect());
    }
    S.with(|s| f(&engines()[i], &mut s.borrow_mut()[i]))
}

/// The record invariants of one `filter_json`/`filter_msgpack` call:
/// an error writes nothing; tag mode emits every record; what is emitted
/// unmatched is the input byte for byte; a tagged record is still one
/// valid value.
pub fn check(mode: Mode, input: &[u8], out: &[u8], r: Result<(bool, usize), ()>, json: bool) {
    let Ok((emitted, matched)) = r else {
        assert!(out.is_empty(), "an error wrote output");
        return;
    };
    match mode {
        Mode::Tag => assert!(emitted, "tag mode dropped a record"),
        Mode::Keep => assert_eq!(emitted, matched > 0),
        Mode::Drop => assert_eq!(emitted, matched == 0),
    }
    if !emitted {
        assert!(out.is_empty(), "a dropped record was written");
    } else if matched == 0 || mode == Mode::Drop {
        assert_eq!(out, input, "an untagged record changed");
    } else if json {
        if serde_json::from_slice::<serde_json::Value>(input).is_ok() {
            let v: serde_json::Value = serde_json::from_slice(out).expect("tagged JSON parses");
            assert!(v.get("sigma").is_some_and(|t| t.is_array()), "no tag");
        }
    } else {
        assert_eq!(value_len(out), Some(out.len()), "tagged msgpack is one value");
    }
}
