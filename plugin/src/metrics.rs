//! Per-rule match counts and the Prometheus text exposition of a handle's
//! counters.
//!
//! Counts are keyed by rule id, so they carry over reloads (a rule that is
//! edited keeps its history; a rule that is removed keeps its last count).
//! Matches are rare next to records, so a mutex taken only on a match costs
//! nothing measurable on the hot path.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Mutex;

use sigmaline_core::Engine;

use crate::handle::Handle;

/// One rule's matches since the handle was created.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RuleCount {
    pub title: String,
    pub level: String,
    pub count: u64,
}

/// Matches per rule id.
#[derive(Debug, Default)]
pub struct RuleHits(Mutex<BTreeMap<String, RuleCount>>);

impl RuleHits {
    /// Counts one record's matches (`matched` are rule indexes of `engine`).
    pub fn add(&self, engine: &Engine, matched: &[u32]) {
        if matched.is_empty() {
            return;
        }
        let Ok(mut map) = self.0.lock() else { return };
        for &r in matched {
            let m = engine.rule(r);
            match map.get_mut(&m.id) {
                Some(c) => c.count += 1,
                None => {
                    map.insert(
                        m.id.clone(),
                        RuleCount {
                            title: m.title.clone(),
                            level: m.level.clone().unwrap_or_default(),
                            count: 1,
                        },
                    );
                }
            }
        }
    }

    /// Every rule that matched at least once, by id.
    pub fn snapshot(&self) -> Vec<(String, RuleCount)> {
        self.0
            .lock()
            .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default()
    }
}

/// A label value with Prometheus' escaping (backslash, quote, newline).
fn label(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The handle's counters in the Prometheus text format (version 0.0.4).
pub fn prometheus(h: &Handle) -> String {
    let s = &h.stats;
    let mut out = String::new();
    let mut counter = |name: &str, help: &str, v: u64| {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}"
        );
    };
    counter(
        "sigmaline_records_in_total",
        "Records received.",
        s.records_in.load(Relaxed),
    );
    counter(
        "sigmaline_records_out_total",
        "Records passed on (tagged or not).",
        s.records_out.load(Relaxed),
    );
    counter(
        "sigmaline_records_matched_total",
        "Records that matched at least one rule.",
        s.matched.load(Relaxed),
    );
    counter(
        "sigmaline_records_dropped_total",
        "Records removed by the keep or drop mode.",
        s.dropped.load(Relaxed),
    );
    counter(
        "sigmaline_records_malformed_total",
        "Records that could not be read (passed on untouched).",
        s.malformed.load(Relaxed),
    );
    counter(
        "sigmaline_reloads_total",
        "Successful rule reloads.",
        s.reloads.load(Relaxed),
    );
    counter(
        "sigmaline_reload_failures_total",
        "Failed rule reloads (the previous rules stayed).",
        s.reload_failures.load(Relaxed),
    );
    let _ = writeln!(
        out,
        "# HELP sigmaline_rules_loaded Rules in the engine in use.\n# TYPE sigmaline_rules_loaded gauge\nsigmaline_rules_loaded {}",
        h.engine().engine.rule_count()
    );
    if let Some(e) = h.last_reload_error() {
        let _ = writeln!(
            out,
            "# HELP sigmaline_last_reload_error_info The last failed reload's reason.\n# TYPE sigmaline_last_reload_error_info gauge\nsigmaline_last_reload_error_info{{reason=\"{}\"}} 1",
            label(&e)
        );
    }
    let _ = writeln!(
        out,
        "# HELP sigmaline_rule_matches_total Records each rule matched.\n# TYPE sigmaline_rule_matches_total counter"
    );
    for (id, c) in s.rule_hits.snapshot() {
        let _ = writeln!(
            out,
            "sigmaline_rule_matches_total{{id=\"{}\",title=\"{}\",level=\"{}\"}} {}",
            label(&id),
            label(&c.title),
            label(&c.level),
            c.count
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(label("a\\b\"c\nd"), "a\\\\b\\\"c\\nd");
    }
}
