//! A warm scratch space answers like a fresh one. Scratch spaces carry
//! memos across records (field verdicts, the hits of long values' lines,
//! logsource truths per kind of record); none of them may change a result.
//! Each record's matches through one scratch reused over mixed records
//! (twice, so the memos are full) must equal its matches through a fresh
//! scratch.

use sigmaline_benches::{
    corpus, engine, otrf_lines, seed_engine, synthetic, to_msgpack, windows_pack,
};
use sigmaline_core::Engine;

fn check(engine: &Engine, records: &[Vec<u8>], what: &str) {
    let msgpack: Vec<Vec<u8>> = records.iter().map(|r| to_msgpack(r)).collect();
    let fresh: Vec<(Vec<u32>, Vec<u32>)> = records
        .iter()
        .zip(&msgpack)
        .map(|(j, m)| {
            let json = engine
                .match_json(&mut engine.scratch(), j)
                .unwrap()
                .to_vec();
            let mp = engine
                .match_msgpack(&mut engine.scratch(), m)
                .unwrap()
                .to_vec();
            (json, mp)
        })
        .collect();
    let matched = fresh.iter().filter(|(j, _)| !j.is_empty()).count();
    let mut s = engine.scratch();
    for pass in 0..2 {
        for (i, ((j, m), want)) in records.iter().zip(&msgpack).zip(&fresh).enumerate() {
            assert_eq!(
                engine.match_json(&mut s, j).unwrap(),
                &want.0[..],
                "{what}: JSON record {i}, pass {pass}"
            );
            assert_eq!(
                engine.match_msgpack(&mut s, m).unwrap(),
                &want.1[..],
                "{what}: msgpack record {i}, pass {pass}"
            );
        }
    }
    println!(
        "{what}: {} records, {matched} matched, warm == fresh",
        records.len()
    );
}

/// Interleaves the sets so consecutive records are of different kinds.
fn mixed(sets: Vec<Vec<Vec<u8>>>) -> Vec<Vec<u8>> {
    let n = sets.iter().map(Vec::len).max().unwrap_or(0);
    (0..n)
        .flat_map(|i| sets.iter().filter_map(move |s| s.get(i).cloned()))
        .collect()
}

#[test]
fn warm_scratch_matches_fresh_scratch() {
    let synthetic = mixed(vec![synthetic::quiet(300), synthetic::noisy(300)]);
    check(&seed_engine(), &synthetic, "seed rules");
    let Some(corpus) = corpus() else { return };
    // Every 7th of the first 10,500 OTRF records: all kinds, long values.
    let otrf: Vec<Vec<u8>> = otrf_lines(&corpus, 10_500).into_iter().step_by(7).collect();
    let pack = engine(&windows_pack(&corpus));
    check(&pack, &mixed(vec![otrf, synthetic]), "Windows pack");
}
