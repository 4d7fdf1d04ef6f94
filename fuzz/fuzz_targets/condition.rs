//! Any text as a Sigma condition: parsed or refused, never a panic or a
//! stack overflow.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = sigmaline_core::condition::parse(text);
    }
});
