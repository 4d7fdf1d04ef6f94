//! SigmaHQ regression data: each rule must fire on its own recorded events
//! at least `match_count` times (SigmaHQ's runner treats the count as a
//! minimum, and a missing count as 1). Failures are allowed only when listed
//! in `tests/known-issues.txt` with a reason.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use sigmaline_core::{EngineBuilder, RuleSet, Unmapped};
use sigmaline_tests::{corpus, json_values, root, sigmahq_rule_dirs};
use yaml_rust2::{Yaml, YamlLoader};

struct Case {
    dir: PathBuf,
    rule_id: String,
    /// (events file, minimum matches)
    tests: Vec<(PathBuf, u64)>,
}

fn cases(base: &Path) -> Vec<Case> {
    let mut infos = Vec::new();
    find_infos(base, &mut infos);
    infos.sort();
    infos
        .into_iter()
        .map(|info| {
            let y = YamlLoader::load_from_str(&std::fs::read_to_string(&info).unwrap())
                .unwrap()
                .remove(0);
            let dir = info.parent().unwrap().to_path_buf();
            let rule_id = y["rule_metadata"][0]["id"].as_str().unwrap().to_string();
            let mut tests = Vec::new();
            if let Yaml::Array(list) = &y["regression_tests_info"] {
                for t in list {
                    let count = t["match_count"].as_i64().unwrap_or(1) as u64;
                    let kind = t["type"].as_str().unwrap_or("evtx");
                    let evtx = t["path"]
                        .as_str()
                        .map(|p| dir.join(Path::new(p).file_name().unwrap()));
                    let events = match (kind, evtx) {
                        ("evtx", Some(p)) => p.with_extension("json"),
                        (_, Some(p)) => p,
                        _ => continue,
                    };
                    tests.push((events, count));
                }
            }
            if tests.is_empty() {
                // A test commented out in info.yml (raw network-device logs): still
                // replay the raw lines if they are there, expecting one match.
                for e in std::fs::read_dir(&dir).unwrap() {
                    let p = e.unwrap().path();
                    if p.extension().is_some_and(|x| x == "raw") {
                        tests.push((p, 1));
                    }
                }
            }
            Case {
                dir,
                rule_id,
                tests,
            }
        })
        .collect()
}

fn find_infos(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            find_infos(&p, out);
        } else if p.file_name().unwrap() == "info.yml" {
            out.push(p);
        }
    }
}

fn known_issues() -> HashMap<String, String> {
    let text = std::fs::read_to_string(root().join("tests/known-issues.txt")).unwrap_or_default();
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (id, reason) = l.split_once(char::is_whitespace).unwrap_or((l, ""));
            assert!(!reason.trim().is_empty(), "known issue {id} needs a reason");
            (id.to_string(), reason.trim().to_string())
        })
        .collect()
}

#[test]
fn sigmahq_regression_data() {
    let Some(corpus) = corpus() else { return };
    let all = RuleSet::load_paths(&sigmahq_rule_dirs(&corpus)).unwrap();
    let by_id: HashMap<&str, _> = all.rules.iter().map(|r| (r.meta.id.as_str(), r)).collect();
    let known = known_issues();
    let cases = cases(&corpus.join("sigmahq/regression_data"));
    let (mut passed, mut failed, mut skipped) = (0, Vec::new(), 0);
    for c in &cases {
        if c.tests.is_empty() {
            println!(
                "skip {}: info.yml defines no regression test",
                c.dir.display()
            );
            skipped += 1;
            continue;
        }
        let Some(rule) = by_id.get(c.rule_id.as_str()) else {
            failed.push((
                c.rule_id.clone(),
                "rule not found in the snapshot".to_string(),
            ));
            continue;
        };
        // The rule alone, as SigmaHQ's runner loads it. Network-device rules have
        // no logsource mapping: apply them to the raw lines as given.
        let set = RuleSet {
            rules: vec![(*rule).clone()],
            ..Default::default()
        };
        let eng = EngineBuilder::new()
            .unmapped(Unmapped::Everywhere)
            .build(&set)
            .unwrap()
            .0;
        if eng.rule_count() != 1 {
            failed.push((c.rule_id.clone(), "rule did not compile".to_string()));
            continue;
        }
        let mut s = eng.scratch();
        let mut ok = true;
        for (events, want) in &c.tests {
            let text = std::fs::read_to_string(events).unwrap();
            let got: u64 = if events.extension().is_some_and(|e| e == "json") {
                json_values(&text)
                    .iter()
                    .filter(|v| !eng.match_value(&mut s, v).unwrap().is_empty())
                    .count() as u64
            } else {
                // Raw log lines (network devices): matched as a message field.
                text.lines()
                    .filter(|l| !l.trim().is_empty())
                    .filter(|l| {
                        let v = serde_json::json!({ "message": l });
                        !eng.match_value(&mut s, &v).unwrap().is_empty()
                    })
                    .count() as u64
            };
            if got < *want {
                ok = false;
                failed.push((
                    c.rule_id.clone(),
                    format!(
                        "{} matches, expected at least {want} ({})",
                        got,
                        events.display()
                    ),
                ));
            } else if got > *want {
                println!("warning {}: {got} matches, expected {want}", c.rule_id);
            }
        }
        if ok {
            passed += 1;
        }
    }
    let total = passed + failed.len();
    println!(
        "SigmaHQ regression: {passed}/{total} passed ({:.1}%), {skipped} without a test",
        100.0 * passed as f64 / total.max(1) as f64
    );
    let mut unexpected = Vec::new();
    for (id, why) in &failed {
        match known.get(id) {
            Some(reason) => println!("known issue {id}: {why} — {reason}"),
            None => unexpected.push(format!("{id}: {why}")),
        }
    }
    assert!(
        total > 100,
        "expected the regression data of the snapshot, found {total} cases"
    );
    assert!(
        unexpected.is_empty(),
        "regression failures:\n{}",
        unexpected.join("\n")
    );
}
