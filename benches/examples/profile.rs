//! A fixed workload for profilers (`valgrind --tool=callgrind`, `perf`):
//! the first N OTRF records through the Windows pack, tag mode, output
//! written, for a number of passes. Criterion measures time; this gives
//! repeatable instruction counts for a change.
//!
//! ```text
//! cargo build --release -p sigmaline-benches --example profile
//! valgrind --tool=callgrind target/release/examples/profile msgpack 3000 2
//! ```
//!
//! Arguments: `json|msgpack` (default msgpack), records (3,000), passes (2;
//! the first warms the memos as a long-running shipper's would be), and an
//! NDJSON file to read instead of the OTRF sample (to profile one kind of
//! event), or `quiet` / `noisy` for the benches' synthetic records.

use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let format = args.get(1).map_or("msgpack", String::as_str);
    let n: usize = args.get(2).map_or(3000, |s| s.parse().expect("records"));
    let passes: usize = args.get(3).map_or(2, |s| s.parse().expect("passes"));
    let Some(corpus) = sigmaline_benches::corpus() else {
        eprintln!("profile: no corpus (set SIGMALINE_CORPUS)");
        std::process::exit(2);
    };
    let engine = sigmaline_benches::windows_pack_engine(&corpus);
    let lines = match args.get(4).map(String::as_str) {
        Some("quiet") => sigmaline_benches::synthetic::quiet(n),
        Some("noisy") => sigmaline_benches::synthetic::noisy(n),
        Some(path) => std::fs::read(path)
            .expect("records file")
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .take(n)
            .map(<[u8]>::to_vec)
            .collect(),
        None => sigmaline_benches::otrf_lines(&corpus, n),
    };
    // Back to back in one buffer, as the benches hold them.
    let records = match format {
        "json" => sigmaline_benches::Records::new(&lines),
        "msgpack" => {
            sigmaline_benches::Records::new(lines.iter().map(|l| sigmaline_benches::to_msgpack(l)))
        }
        other => panic!("unknown format {other}"),
    };
    let mut scratch = engine.scratch();
    let mut out = sigmaline_benches::Output::new();
    let mut matched = 0;
    let t = Instant::now();
    for _ in 0..passes {
        for r in records.iter() {
            let o = match format {
                "json" => engine.filter_json(&mut scratch, r, out.buf()),
                _ => engine.filter_msgpack(&mut scratch, r, out.buf()),
            };
            matched += o.expect("record").matched;
        }
    }
    let secs = t.elapsed().as_secs_f64();
    let total = (records.len() * passes) as f64;
    eprintln!(
        "{format}: {} records x {passes} passes, {matched} matches, {:.0} records/s",
        records.len(),
        total / secs
    );
}
