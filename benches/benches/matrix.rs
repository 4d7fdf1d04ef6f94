//! The benchmark matrix (issue 4): rule sets {seed, 100, 1,000, the SigmaHQ
//! Windows pack} × data {OTRF sample, synthetic quiet, synthetic noisy} ×
//! formats {JSON line, msgpack record}, in tag mode with output written;
//! plus the parsing floor, the Fluent Bit chunk path, pack compile time and
//! memory, and the same rules and records through rsigma (the peer).
//!
//! Groups are named `engine/<rules>/<data>` with functions `json`,
//! `msgpack` (records/s) and `json-bytes`, `msgpack-bytes` (bytes/s).
//! Without the corpus (`SIGMALINE_CORPUS`) only the seed rules run, on the
//! synthetic data.

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use sigmaline::chunk::filter_chunk;
use sigmaline_benches::{
    alloc, corpus, engine, otrf_lines, seed_engine, subset, synthetic, to_chunk, to_msgpack,
    windows_pack, Output, Records,
};
use sigmaline_core::{Engine, RuleSet};

#[global_allocator]
static ALLOC: alloc::Counting = alloc::Counting;

/// Records per iteration: the whole OTRF sample (41,823 records, 130 MB of
/// JSON), 2,000 of each synthetic set. Not fewer: a scratch space memoises
/// up to 16,384 values, and a few thousand records cycled would be matched
/// mostly from memory (the first 5,000 records hold ~4,500 distinct
/// values); the whole sample holds ~31,000.
const OTRF_RECORDS: usize = usize::MAX;
const SYNTHETIC_RECORDS: usize = 2000;

/// Alternated rounds of one sigmaline and one rsigma pass for the printed
/// peer ratio.
const PEER_ROUNDS: usize = 5;

/// One data set, each format's records back to back in one buffer (see
/// [`Records`]).
struct Data {
    name: &'static str,
    json: Records,
    msgpack: Records,
}

impl Data {
    fn new(name: &'static str, lines: Vec<Vec<u8>>) -> Data {
        Data {
            name,
            json: Records::new(&lines),
            msgpack: Records::new(lines.iter().map(|l| to_msgpack(l))),
        }
    }
}

fn configure(g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>) {
    g.sample_size(10);
    g.warm_up_time(Duration::from_millis(500));
    g.measurement_time(Duration::from_secs(2));
}

fn run_json(engine: &Engine, s: &mut sigmaline_core::Scratch, recs: &Records, out: &mut Output) {
    for r in recs.iter() {
        engine.filter_json(s, r, out.buf()).unwrap();
    }
}

fn run_msgpack(engine: &Engine, s: &mut sigmaline_core::Scratch, recs: &Records, out: &mut Output) {
    for r in recs.iter() {
        engine.filter_msgpack(s, r, out.buf()).unwrap();
    }
}

/// One `engine/<rules>/<data>` group; prints what the data does to the
/// rules (matched records, rules fired) and the allocations per record.
fn bench_engine(c: &mut Criterion, rules: &str, engine: &Engine, data: &Data) {
    let mut s = engine.scratch();
    let mut out = Output::new();
    let (mut matched, mut tags, mut fired) = (0usize, 0usize, std::collections::BTreeSet::new());
    for r in data.json.iter() {
        let m = engine.match_json(&mut s, r).unwrap();
        matched += !m.is_empty() as usize;
        tags += m.len();
        fired.extend(m.iter().copied());
    }
    // Warm the scratch space, then count what a steady pass allocates.
    run_msgpack(engine, &mut s, &data.msgpack, &mut out);
    run_json(engine, &mut s, &data.json, &mut out);
    let before = alloc::calls();
    run_json(engine, &mut s, &data.json, &mut out);
    run_msgpack(engine, &mut s, &data.msgpack, &mut out);
    let per_record = (alloc::calls() - before) as f64 / (2 * data.json.len()) as f64;
    println!(
        "engine/{rules}/{}: {} records, {matched} matched ({:.2} rules per record), {} rules fired, {per_record:.2} allocations/record",
        data.name,
        data.json.len(),
        tags as f64 / data.json.len() as f64,
        fired.len()
    );

    let mut g = c.benchmark_group(format!("engine/{rules}/{}", data.name));
    configure(&mut g);
    let n = data.json.len() as u64;
    g.throughput(Throughput::Elements(n));
    g.bench_function("json", |b| {
        b.iter(|| run_json(engine, &mut s, &data.json, &mut out))
    });
    g.bench_function("msgpack", |b| {
        b.iter(|| run_msgpack(engine, &mut s, &data.msgpack, &mut out))
    });
    g.throughput(Throughput::Bytes(data.json.total_bytes()));
    g.bench_function("json-bytes", |b| {
        b.iter(|| run_json(engine, &mut s, &data.json, &mut out))
    });
    g.throughput(Throughput::Bytes(data.msgpack.total_bytes()));
    g.bench_function("msgpack-bytes", |b| {
        b.iter(|| run_msgpack(engine, &mut s, &data.msgpack, &mut out))
    });
    g.finish();
}

/// Parsing only: what any filter pays before looking at a field.
fn bench_floor(c: &mut Criterion, data: &Data) {
    let mut g = c.benchmark_group(format!("floor/{}", data.name));
    configure(&mut g);
    g.throughput(Throughput::Elements(data.json.len() as u64));
    let mut buf = Vec::new();
    let mut buffers = simd_json::Buffers::default();
    let mut tape = simd_json::Tape::null().reset();
    // The engine's own parse: a padded copy of the line, then simd-json's
    // tape; the number of nodes.
    let mut parse = |r: &[u8]| {
        buf.clear();
        buf.extend_from_slice(r);
        buf.extend_from_slice(&[b' '; simd_json::INPUT_PADDING]);
        let mut t = std::mem::replace(&mut tape, simd_json::Tape::null().reset()).reset();
        simd_json::fill_tape_padded(&mut buf, r.len(), &mut buffers, &mut t).unwrap();
        let n = t.0.len();
        tape = t.reset();
        n
    };
    g.bench_function("json-parse", |b| {
        b.iter(|| {
            for r in data.json.iter() {
                std::hint::black_box(parse(r));
            }
        })
    });
    // The engine's parse of a flat record: the flat scanner over every
    // root entry (what it declines, simd-json parses, as in the engine).
    let mut scanner = sigmaline_core::json_flat::Scanner::new();
    g.bench_function("json-scan", |b| {
        b.iter(|| {
            for r in data.json.iter() {
                let mut n = 0usize;
                if scanner.scan(r, |_, _| n += 1).is_none() {
                    n = parse(r);
                }
                std::hint::black_box(n);
            }
        })
    });
    // A full structural walk of each msgpack record.
    g.bench_function("msgpack-walk", |b| {
        b.iter(|| {
            for r in data.msgpack.iter() {
                std::hint::black_box(sigmaline_core::msgpack::value_len(r).unwrap());
            }
        })
    });
    // Writing the records out unchanged: the copy tag mode always pays.
    let mut out = Output::new();
    g.bench_function("json-copy", |b| {
        b.iter(|| {
            for r in data.json.iter() {
                out.buf().extend_from_slice(r);
            }
        })
    });
    g.finish();
}

/// What the Fluent Bit filter does per chunk (256 events per chunk).
fn bench_chunk(c: &mut Criterion, rules: &str, engine: &Engine, data: &Data) {
    let json: Vec<&[u8]> = data.json.iter().collect();
    let chunks: Vec<Vec<u8>> = json.chunks(256).map(to_chunk).collect();
    let stats = sigmaline::handle::Stats::default();
    let mut s = engine.scratch();
    let mut g = c.benchmark_group(format!("fluentbit-chunk/{rules}/{}", data.name));
    configure(&mut g);
    g.throughput(Throughput::Elements(data.json.len() as u64));
    g.bench_function("chunk", |b| {
        b.iter(|| {
            for c in &chunks {
                std::hint::black_box(filter_chunk(engine, &mut s, c, &stats));
            }
        })
    });
    // In Fluent Bit a filter runs on the msgpack an input has just written
    // (`flb_input_chunk_append_raw` calls the filters before appending):
    // its bytes are in cache. Each chunk is copied into one buffer first,
    // untimed, and only the filter is timed.
    g.bench_function("chunk-fresh", |b| {
        let mut fresh = Vec::new();
        b.iter_custom(|iters| {
            let mut spent = Duration::ZERO;
            for _ in 0..iters {
                for c in &chunks {
                    fresh.clear();
                    fresh.extend_from_slice(c);
                    let t = Instant::now();
                    std::hint::black_box(filter_chunk(engine, &mut s, &fresh, &stats));
                    spent += t.elapsed();
                }
            }
            spent
        })
    });
    g.finish();
}

/// Compile time of the whole pack, and the compiled set's memory.
fn bench_compile(c: &mut Criterion, pack: &RuleSet) {
    let before = alloc::live();
    alloc::reset_peak();
    let e = engine(pack);
    let (live, peak) = (alloc::live() - before, alloc::peak() - before);
    println!(
        "compile/windows-pack: {} rules -> {} atoms over {} fields; compiled set {:.1} MiB live, {:.1} MiB peak while compiling",
        e.rule_count(),
        e.atom_count(),
        e.field_count(),
        live as f64 / (1 << 20) as f64,
        peak as f64 / (1 << 20) as f64
    );
    let name = format!("windows-pack-{}-rules", e.rule_count());
    drop(e);
    let mut g = c.benchmark_group("compile");
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(10));
    g.bench_function(name, |b| b.iter(|| engine(pack)));
    g.finish();
}

/// The same rule files loaded by rsigma (only `product: windows` rules).
fn rsigma_engine(set: &RuleSet) -> rsigma_eval::Engine {
    let mut files: Vec<_> = set.rules.iter().map(|r| r.source.path.clone()).collect();
    files.sort();
    files.dedup();
    let mut rules = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        if let Ok(c) = rsigma_parser::parse_sigma_yaml(&text) {
            rules.extend(c.rules.into_iter().filter(|r| {
                r.logsource.product.as_deref() == Some("windows") || set.rules.len() <= 2
                // the seed rules include service: dhcp
            }));
        }
    }
    let mut e = rsigma_eval::Engine::new();
    let errors = e.add_rules(rules.iter());
    println!(
        "peer: rsigma-eval 0.23.0 loaded {} of {} rules ({} errors) from {} files",
        e.rule_count(),
        rules.len(),
        errors.len(),
        files.len()
    );
    e
}

/// sigmaline against rsigma on the same rules and JSON lines. rsigma's
/// part is parse (serde_json) + evaluate, with no output written, which
/// favours it; sigmaline's is the full tag path.
fn bench_peer(c: &mut Criterion, rules: &str, set: &RuleSet, engine: &Engine, data: &Data) {
    let peer = rsigma_engine(set);
    let mut s = engine.scratch();
    let mut out = Output::new();
    let rsigma = |recs: &Records| {
        let mut n = 0;
        for r in recs.iter() {
            let v: serde_json::Value = serde_json::from_slice(r).unwrap();
            n += peer
                .evaluate(&rsigma_eval::event::JsonEvent::borrow(&v))
                .len();
        }
        n
    };
    let mut g = c.benchmark_group(format!("peer/{rules}/{}", data.name));
    configure(&mut g);
    g.throughput(Throughput::Elements(data.json.len() as u64));
    g.bench_function("sigmaline-json", |b| {
        b.iter(|| run_json(engine, &mut s, &data.json, &mut out))
    });
    g.bench_function("rsigma-json", |b| b.iter(|| rsigma(&data.json)));
    g.finish();

    // The ratio, printed in one run. The two sides are timed in turns,
    // `PEER_ROUNDS` rounds, and the median round's ratio is printed: on a
    // shared host the speed drifts over seconds, and one side timed after
    // the other read that drift as a ratio (8.7x against 14.5x from the
    // rows above, in one run of stop 18).
    if std::env::args().any(|a| a == "--test") {
        return;
    }
    let time = |f: &mut dyn FnMut()| {
        let t = Instant::now();
        f();
        t.elapsed().as_secs_f64()
    };
    // (sigmaline's seconds, rsigma's seconds) per round, and their ratio.
    let ratio = |(ours, theirs): (f64, f64)| theirs / ours;
    let mut rounds: Vec<(f64, f64)> = (0..PEER_ROUNDS)
        .map(|_| {
            let ours = time(&mut || run_json(engine, &mut s, &data.json, &mut out));
            let theirs = time(&mut || {
                std::hint::black_box(rsigma(&data.json));
            });
            (ours, theirs)
        })
        .collect();
    rounds.sort_by(|&a, &b| ratio(a).total_cmp(&ratio(b)));
    let median = rounds[rounds.len() / 2];
    let n = data.json.len() as f64;
    println!(
        "peer/{rules}/{}: sigmaline {:.0} records/s, rsigma {:.0} records/s: sigmaline/rsigma = {:.1}x \
         (median of {PEER_ROUNDS} alternated rounds; lowest {:.1}x, highest {:.1}x)",
        data.name,
        n / median.0,
        n / median.1,
        ratio(median),
        ratio(rounds[0]),
        ratio(rounds[rounds.len() - 1]),
    );
}

fn matrix(c: &mut Criterion) {
    let seed = seed_engine();
    let quiet = Data::new("synthetic-quiet", synthetic::quiet(SYNTHETIC_RECORDS));
    let noisy = Data::new("synthetic-noisy", synthetic::noisy(SYNTHETIC_RECORDS));
    let Some(corpus) = corpus() else {
        for d in [&quiet, &noisy] {
            bench_floor(c, d);
            bench_engine(c, "seed-2-rules", &seed, d);
        }
        return;
    };
    let otrf = Data::new("otrf", otrf_lines(&corpus, OTRF_RECORDS));
    let datas = [&otrf, &quiet, &noisy];
    for d in datas {
        bench_floor(c, d);
    }
    let pack = windows_pack(&corpus);
    let seed_set =
        RuleSet::load_paths(&[sigmaline_benches::root().join("examples/rules")]).unwrap();
    let sets = [
        (format!("seed-{}-rules", seed.rule_count()), None),
        ("100-rules".to_string(), Some(subset(&pack, 100))),
        ("1000-rules".to_string(), Some(subset(&pack, 1000))),
        ("windows-pack".to_string(), Some(pack.clone())),
    ];
    for (name, set) in &sets {
        let e = match set {
            Some(set) => engine(set),
            None => seed_engine(),
        };
        // Name by the rules that compiled (a few need placeholders).
        let name = match name.as_str() {
            "windows-pack" => format!("windows-pack-{}-rules", e.rule_count()),
            _ => name.clone(),
        };
        let name = &name;
        for d in datas {
            bench_engine(c, name, &e, d);
        }
        if set
            .as_ref()
            .is_some_and(|s| s.rules.len() == pack.rules.len())
        {
            bench_chunk(c, name, &e, &otrf);
            bench_peer(c, name, &pack, &e, &otrf);
        }
    }
    bench_peer(c, "seed-2-rules", &seed_set, &seed, &otrf);
    bench_compile(c, &pack);
}

criterion_group!(benches, matrix);
criterion_main!(benches);
