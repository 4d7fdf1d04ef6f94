//! Any bytes as a msgpack record (invalid UTF-8 in strings included), in
//! tag, keep and drop mode.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sigmaline_fuzz::{check, with_engine, MODES};

fuzz_target!(|data: &[u8]| {
    for (i, mode) in MODES.iter().enumerate() {
        let mut out = Vec::new();
        let r = with_engine(i, |e, s| e.filter_msgpack(s, data, &mut out));
        check(*mode, data, &out, r.map(|o| (o.emitted, o.matched)).map_err(|_| ()), false);
    }
});
