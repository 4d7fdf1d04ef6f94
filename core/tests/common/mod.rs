//! What the record-path tests share: an engine from a few inline rules.

use std::path::Path;

use sigmaline_core::{Engine, EngineBuilder, RuleSet, Unmapped};

/// An engine of one rule per (id, detection, condition), each applied to
/// every record; the rule's title is its id.
pub fn engine(rules: &[(&str, &str, &str)]) -> Engine {
    let mut set = RuleSet::default();
    for (id, detection, condition) in rules {
        let text = format!(
            "title: {id}\nid: {id}\nlogsource: {{product: test}}\ndetection:\n  {detection}\n  condition: {condition}\n"
        );
        set.add_str(&text, Path::new("t.yml"));
    }
    assert!(set.rejected.is_empty(), "{:?}", set.rejected);
    let (e, report) = EngineBuilder::new()
        .unmapped(Unmapped::Everywhere)
        .build(&set)
        .unwrap();
    assert_eq!(e.rule_count(), rules.len(), "{:?}", report.rejected);
    e
}

/// The titles of the rules in a match list.
pub fn titles(e: &Engine, m: &[u32]) -> Vec<String> {
    m.iter().map(|&r| e.rule(r).title.clone()).collect()
}
