//! False-positive smoke: the full Windows pack over 41,823 real host events
//! (OTRF) finishes, every record is read, and the top firing rules are
//! printed for review.

use std::collections::HashMap;

use sigmaline_tests::{corpus, engine, gz_lines, windows_pack};

#[test]
fn windows_pack_over_otrf_sample() {
    let Some(corpus) = corpus() else { return };
    let events = corpus.join("events/otrf-windows-host-sample.ndjson.gz");
    if !events.exists() {
        println!("SKIPPED: {} not found", events.display());
        return;
    }
    let eng = engine(&windows_pack(&corpus));
    assert!(
        eng.rule_count() > 2800,
        "Windows pack: {} rules",
        eng.rule_count()
    );
    let lines = gz_lines(&events);
    let mut s = eng.scratch();
    let (mut matched, mut malformed) = (0usize, 0usize);
    let mut per_rule: HashMap<u32, usize> = HashMap::new();
    for l in &lines {
        match eng.match_json(&mut s, l) {
            Ok(m) => {
                matched += !m.is_empty() as usize;
                for &r in m {
                    *per_rule.entry(r).or_default() += 1;
                }
            }
            Err(_) => malformed += 1,
        }
    }
    println!(
        "{} Windows rules over {} OTRF events: {matched} records matched ({:.2}%), {malformed} malformed, {} rules fired",
        eng.rule_count(),
        lines.len(),
        100.0 * matched as f64 / lines.len() as f64,
        per_rule.len()
    );
    let mut top: Vec<_> = per_rule.into_iter().collect();
    top.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    for (r, n) in top.iter().take(20) {
        let m = eng.rule(*r);
        println!(
            "{n:>7}  {:<8} {}  {}",
            m.level.as_deref().unwrap_or("-"),
            m.id,
            m.title
        );
    }
    assert_eq!(lines.len(), 41_823);
    assert_eq!(malformed, 0, "the OTRF sample is valid NDJSON");
    // A real host's day is mostly benign: a pack that fires on most records is broken.
    assert!(
        matched * 4 < lines.len(),
        "{matched} of {} records matched",
        lines.len()
    );
}
