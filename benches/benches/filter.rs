//! Filter throughput: records/s and bytes/s through `Engine::filter_json`
//! and `Engine::filter_msgpack` (tag mode, output written), for the seed
//! rules and for the full SigmaHQ Windows pack over real OTRF events.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use sigmaline::chunk::filter_chunk;
use sigmaline_benches::{
    corpus, otrf_lines, seed_engine, seed_lines, to_chunk, to_msgpack, windows_pack_engine,
};
use sigmaline_core::Engine;

/// Records per benchmark iteration.
const OTRF_RECORDS: usize = 5000;

fn bench_set(c: &mut Criterion, name: &str, engine: &Engine, lines: &[Vec<u8>]) {
    let msgpack: Vec<Vec<u8>> = lines.iter().map(|l| to_msgpack(l)).collect();
    let mut g = c.benchmark_group(name);
    g.sample_size(10);
    let bytes: usize = lines.iter().map(Vec::len).sum();
    g.throughput(Throughput::Elements(lines.len() as u64));
    let mut s = engine.scratch();
    let mut out = Vec::with_capacity(1 << 20);
    g.bench_function("json/records", |b| {
        b.iter(|| {
            out.clear();
            for l in lines {
                engine.filter_json(&mut s, l, &mut out).unwrap();
            }
        })
    });
    g.bench_function("msgpack/records", |b| {
        b.iter(|| {
            out.clear();
            for l in &msgpack {
                engine.filter_msgpack(&mut s, l, &mut out).unwrap();
            }
        })
    });
    // What the Fluent Bit filter does per chunk (chunks of 256 events).
    let chunks: Vec<Vec<u8>> = lines.chunks(256).map(to_chunk).collect();
    let stats = sigmaline::handle::Stats::default();
    g.bench_function("fluentbit-chunk/records", |b| {
        b.iter(|| {
            for c in &chunks {
                std::hint::black_box(filter_chunk(engine, &mut s, c, &stats));
            }
        })
    });
    g.throughput(Throughput::Bytes(bytes as u64));
    g.bench_function("json/bytes", |b| {
        b.iter(|| {
            out.clear();
            for l in lines {
                engine.filter_json(&mut s, l, &mut out).unwrap();
            }
        })
    });
    g.finish();
}

fn filter(c: &mut Criterion) {
    let seed = seed_engine();
    match corpus() {
        Some(corpus) => {
            let lines = otrf_lines(&corpus, OTRF_RECORDS);
            bench_set(
                c,
                &format!("otrf/seed-{}-rules", seed.rule_count()),
                &seed,
                &lines,
            );
            let pack = windows_pack_engine(&corpus);
            bench_set(
                c,
                &format!("otrf/windows-pack-{}-rules", pack.rule_count()),
                &pack,
                &lines,
            );
        }
        None => bench_set(
            c,
            &format!("seed-events/seed-{}-rules", seed.rule_count()),
            &seed,
            &seed_lines(),
        ),
    }
}

criterion_group!(benches, filter);
criterion_main!(benches);
