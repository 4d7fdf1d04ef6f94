//! The whole SigmaHQ snapshot loads: at least 99.5% of its rules compile,
//! and every rejection carries a path, an id and a reason.

use sigmaline_core::{EngineBuilder, RuleSet};
use sigmaline_tests::{corpus, example_placeholders, sigmahq_rule_dirs};

#[test]
fn whole_snapshot_loads() {
    let Some(corpus) = corpus() else { return };
    let set = RuleSet::load_paths(&sigmahq_rule_dirs(&corpus)).unwrap();
    let total = set.rules.len() + set.rejected.len();
    assert!(
        total >= 3780,
        "expected the 3,780 rules of the snapshot, found {total}"
    );

    // Without placeholder values, exactly the `expand` rules are rejected (by design).
    let (plain, report) = EngineBuilder::new().build(&set).unwrap();
    let plain_rate = 100.0 * plain.rule_count() as f64 / total as f64;
    println!(
        "SigmaHQ load, no placeholders configured: {}/{total} ({plain_rate:.2}%)",
        plain.rule_count()
    );
    for r in &report.rejected {
        assert!(
            r.reason.contains("placeholder"),
            "unexpected rejection: {r}"
        );
        assert!(r.id.is_some() && r.source.line >= 1);
    }

    // With the placeholders a deployment configures, as documented.
    let mut b = EngineBuilder::new();
    for (k, v) in example_placeholders() {
        b = b.placeholder(&k, v);
    }
    let (engine, report) = b.build(&set).unwrap();
    let rate = 100.0 * engine.rule_count() as f64 / total as f64;
    println!(
        "SigmaHQ load, examples/placeholders.yml: {}/{total} ({rate:.2}%), {} atoms over {} fields",
        engine.rule_count(),
        engine.atom_count(),
        engine.field_count()
    );
    for r in &report.rejected {
        println!("rejected: {r}");
    }
    assert!(rate >= 99.5, "load rate {rate:.2}% is below 99.5%");
}
