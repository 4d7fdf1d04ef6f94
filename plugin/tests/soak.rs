//! Soak: records through the C ABI (`sigmaline_eval_json` and
//! `sigmaline_filter_chunk`) for a while, with a reload every two seconds,
//! and resident memory must stay flat after warm-up. CI runs it for
//! SIGMALINE_SOAK_SECS (default 20); the README gives the 10-minute run.
//! Uses the OTRF sample when the corpus is there, the seed events otherwise.

use std::ffi::CString;
use std::io::BufRead;
use std::ptr;
use std::time::{Duration, Instant};

use sigmaline::ffi::*;

fn root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

fn records() -> Vec<Vec<u8>> {
    let corpus = std::env::var_os("SIGMALINE_CORPUS")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| root().join("../shared/corpus"));
    let otrf = corpus.join("events/otrf-windows-host-sample.ndjson.gz");
    let lines: Vec<Vec<u8>> = match std::fs::File::open(&otrf) {
        Ok(f) => std::io::BufReader::new(flate2::read::MultiGzDecoder::new(f))
            .split(b'\n')
            .map(|l| l.unwrap())
            .filter(|l| !l.is_empty())
            .take(20_000)
            .collect(),
        Err(_) => {
            println!(
                "corpus not found at {}: soaking with the seed events",
                corpus.display()
            );
            std::fs::read(root().join("examples/data/seed-events.ndjson"))
                .unwrap()
                .split(|&b| b == b'\n')
                .filter(|l| !l.is_empty())
                .map(<[u8]>::to_vec)
                .collect()
        }
    };
    lines
}

/// One v2 Fluent Bit event around a msgpack body made from a JSON line.
fn chunk_of(lines: &[Vec<u8>]) -> Vec<u8> {
    fn conv(v: &serde_json::Value) -> rmpv::Value {
        match v {
            serde_json::Value::Null => rmpv::Value::Nil,
            serde_json::Value::Bool(b) => rmpv::Value::Boolean(*b),
            serde_json::Value::Number(n) => match n.as_i64() {
                Some(i) => rmpv::Value::from(i),
                None => rmpv::Value::F64(n.as_f64().unwrap_or(0.0)),
            },
            serde_json::Value::String(s) => rmpv::Value::from(s.as_str()),
            serde_json::Value::Array(a) => rmpv::Value::Array(a.iter().map(conv).collect()),
            serde_json::Value::Object(o) => rmpv::Value::Map(
                o.iter()
                    .map(|(k, v)| (rmpv::Value::from(k.as_str()), conv(v)))
                    .collect(),
            ),
        }
    }
    let mut chunk = Vec::new();
    for l in lines {
        let Ok(v) = serde_json::from_slice::<serde_json::Value>(l) else {
            continue;
        };
        chunk.extend_from_slice(&[0x92, 0x92, 0xd7, 0x00, 0, 0, 0, 1, 0, 0, 0, 0, 0x80]);
        rmpv::encode::write_value(&mut chunk, &conv(&v)).unwrap();
    }
    chunk
}

#[test]
fn memory_stays_flat_under_load_and_reloads() {
    let secs: u64 = std::env::var("SIGMALINE_SOAK_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    let lines = records();
    let chunks: Vec<Vec<u8>> = lines.chunks(256).map(chunk_of).collect();
    let events = lines
        .iter()
        .filter(|l| serde_json::from_slice::<serde_json::Value>(l).is_ok())
        .count() as u64;
    let rules = CString::new(format!(
        "{},{}",
        root().join("examples/rules").display(),
        root().join("fuzz/rules").display()
    ))
    .unwrap();
    // SAFETY: C strings and out-params are valid for each call; every
    // buffer the library returns is freed with sigmaline_free.
    unsafe {
        let o = sigmaline_options_new();
        assert_eq!(
            sigmaline_options_set(o, c"rules".as_ptr(), rules.as_ptr(), ptr::null_mut()),
            SIGMALINE_OK
        );
        let e = sigmaline_engine_new(o, ptr::null_mut());
        sigmaline_options_free(o);
        assert!(!e.is_null());
        let start = Instant::now();
        let warm = Duration::from_secs(secs / 5);
        let mut last_reload = Instant::now();
        let (mut baseline, mut peak, mut pushed, mut reloads) = (None, 0u64, 0u64, 0u64);
        let (mut out, mut len) = (ptr::null_mut(), 0usize);
        while start.elapsed() < Duration::from_secs(secs) {
            for l in &lines {
                let r = sigmaline_eval_json(
                    e,
                    l.as_ptr(),
                    l.len(),
                    &mut out,
                    &mut len,
                    ptr::null_mut(),
                );
                if r == SIGMALINE_TAGGED {
                    sigmaline_free(out);
                }
            }
            for c in &chunks {
                if sigmaline_filter_chunk(
                    e,
                    c.as_ptr(),
                    c.len(),
                    &mut out,
                    &mut len,
                    ptr::null_mut(),
                ) == SIGMALINE_MODIFIED
                {
                    sigmaline_free(out);
                }
            }
            let mut m = (ptr::null_mut(), 0usize);
            assert_eq!(
                sigmaline_engine_metrics(e, &mut m.0, &mut m.1, ptr::null_mut()),
                SIGMALINE_OK
            );
            sigmaline_free(m.0);
            pushed += lines.len() as u64 + events;
            if last_reload.elapsed() > Duration::from_secs(2) {
                assert_eq!(sigmaline_engine_reload(e, ptr::null_mut()), SIGMALINE_OK);
                reloads += 1;
                last_reload = Instant::now();
            }
            let rss = rss_kib();
            if start.elapsed() >= warm && baseline.is_none() {
                baseline = Some(rss);
            }
            peak = peak.max(rss);
        }
        let end = rss_kib();
        let mut st = std::mem::zeroed::<sigmaline_stats>();
        sigmaline_engine_stats(e, &mut st);
        sigmaline_engine_free(e);
        let baseline = baseline.unwrap_or(end);
        println!(
            "soak: {secs} s, {pushed} records, {reloads} reloads; RSS after warm-up {baseline} KiB, peak {peak} KiB, end {end} KiB"
        );
        assert_eq!(st.records_in, pushed);
        assert!(reloads >= 1 || secs < 3);
        // Flat: the end within 8 MiB (allocator slack) of the warm baseline.
        assert!(
            end <= baseline + 8 * 1024,
            "RSS grew from {baseline} KiB to {end} KiB"
        );
    }
}
