//! The bundled sample data matches exactly as `examples/data/README.md` says.

use sigmaline_core::{EngineBuilder, RuleSet};
use sigmaline_tests::root;

const CALLOUT: &str = "DHCP Callout DLL Installation";
const DHCP_ERROR: &str = "DHCP Server Error Failed Loading the CallOut DLL";

/// (line, rule title) of every match, plus the number of malformed lines.
fn matches(file: &str) -> (Vec<(usize, String)>, usize) {
    let set = RuleSet::load_paths(&[root().join("examples/rules")]).unwrap();
    let engine = EngineBuilder::new().build(&set).unwrap().0;
    let mut s = engine.scratch();
    let text = std::fs::read(root().join("examples/data").join(file)).unwrap();
    let (mut out, mut bad) = (Vec::new(), 0);
    for (i, line) in text
        .split(|&b| b == b'\n')
        .enumerate()
        .filter(|(_, l)| !l.is_empty())
    {
        match engine.match_json(&mut s, line) {
            Ok(m) => out.extend(m.iter().map(|&r| (i + 1, engine.rule(r).title.clone()))),
            Err(_) => bad += 1,
        }
    }
    (out, bad)
}

fn expect(v: &[(usize, &str)]) -> Vec<(usize, String)> {
    v.iter().map(|(l, t)| (*l, t.to_string())).collect()
}

#[test]
fn flat_sample() {
    let (m, bad) = matches("seed-events.ndjson");
    assert_eq!(
        m,
        expect(&[(2, CALLOUT), (3, CALLOUT), (8, DHCP_ERROR), (9, DHCP_ERROR)])
    );
    assert_eq!(bad, 1);
}

#[test]
fn evtx_sample() {
    let (m, bad) = matches("seed-events-evtx.ndjson");
    assert_eq!(m, expect(&[(1, CALLOUT), (3, DHCP_ERROR)]));
    assert_eq!(bad, 0);
}

#[test]
fn ecs_sample() {
    let (m, bad) = matches("seed-events-ecs.ndjson");
    assert_eq!(m, expect(&[(1, CALLOUT), (3, DHCP_ERROR)]));
    assert_eq!(bad, 0);
}
