//! The hot path allocates nothing per record: once a scratch space is warm,
//! filtering records (tagged or not, JSON or msgpack) makes no allocation.

use sigmaline_benches::{
    alloc, corpus, engine, otrf_lines, seed_engine, synthetic, to_msgpack, windows_pack,
};
use sigmaline_core::Engine;

#[global_allocator]
static ALLOC: alloc::Counting = alloc::Counting;

fn allocations(engine: &Engine, records: &[Vec<u8>]) -> usize {
    let msgpack: Vec<Vec<u8>> = records.iter().map(|r| to_msgpack(r)).collect();
    let mut s = engine.scratch();
    let mut out = Vec::with_capacity(64 << 20);
    let pass = |s: &mut sigmaline_core::Scratch, out: &mut Vec<u8>| {
        out.clear();
        for (j, m) in records.iter().zip(&msgpack) {
            engine.filter_json(s, j, out).unwrap();
            engine.filter_msgpack(s, m, out).unwrap();
        }
    };
    // Two passes to warm: the line memo's slots keep their buffers, which
    // grow to the longest line a slot has held (bounded by its budget), and
    // a two-way slot may take a longer line on the second pass.
    pass(&mut s, &mut out);
    pass(&mut s, &mut out);
    let before = alloc::calls();
    pass(&mut s, &mut out);
    alloc::calls() - before
}

#[test]
fn no_allocation_per_record() {
    let mut data = synthetic::quiet(300);
    data.extend(synthetic::noisy(300));
    let seed = seed_engine();
    assert_eq!(
        allocations(&seed, &data),
        0,
        "seed rules, synthetic records"
    );
    let Some(corpus) = corpus() else { return };
    data.extend(otrf_lines(&corpus, 2000));
    let pack = engine(&windows_pack(&corpus));
    assert_eq!(
        allocations(&pack, &data),
        0,
        "Windows pack, synthetic + OTRF records"
    );
}
