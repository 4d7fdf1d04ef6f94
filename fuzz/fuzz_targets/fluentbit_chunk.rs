//! Any bytes as a Fluent Bit chunk: in tag mode as many events come out as
//! went in (undecodable ones pass through), and the counters add up.
#![no_main]

use std::sync::atomic::Ordering::Relaxed;

use libfuzzer_sys::fuzz_target;
use sigmaline::chunk::{filter_chunk, ChunkResult};
use sigmaline::handle::Stats;
use sigmaline_core::msgpack::value_len;
use sigmaline_fuzz::with_engine;

/// Complete msgpack values at the start of `b`, and the bytes they span.
fn values(b: &[u8]) -> (usize, usize) {
    let (mut n, mut pos) = (0, 0);
    while let Some(l) = b.get(pos..).and_then(value_len) {
        if l == 0 {
            break;
        }
        n += 1;
        pos += l;
    }
    (n, pos)
}

fuzz_target!(|data: &[u8]| {
    let stats = Stats::default();
    let (n, _) = values(data);
    match with_engine(0, |e, s| filter_chunk(e, s, data, &stats)) {
        ChunkResult::Unchanged => {}
        ChunkResult::Modified(v) => assert_eq!(values(&v).0, n, "tag mode lost or added events"),
    }
    for i in [1, 2] {
        let stats = Stats::default();
        let out = match with_engine(i, |e, s| filter_chunk(e, s, data, &stats)) {
            ChunkResult::Unchanged => n,
            ChunkResult::Modified(v) => values(&v).0,
        };
        assert!(out <= n);
        assert_eq!(
            stats.records_out.load(Relaxed) + stats.dropped.load(Relaxed),
            stats.records_in.load(Relaxed),
            "out + dropped != in"
        );
    }
});
