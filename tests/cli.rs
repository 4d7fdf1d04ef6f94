//! End-to-end tests of the `sigmaline` command: the CLI contract other
//! tools depend on (stdout order, pass-through of bad lines, summaries,
//! `check --json`, `scan` over evtx/ndjson/gz).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn sigmaline(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_sigmaline"))
        .args(args)
        .current_dir(root())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    child.wait_with_output().unwrap()
}

fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("sigmaline-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

const MATCH: &str = r#"{"EventID":13,"Channel":"Microsoft-Windows-Sysmon/Operational","TargetObject":"HKLM\\System\\CurrentControlSet\\Services\\DHCPServer\\Parameters\\CalloutDlls"}"#;
const BENIGN: &str = r#"{"EventID":13,"Channel":"Microsoft-Windows-Sysmon/Operational","TargetObject":"HKLM\\Software\\x"}"#;
const BAD: &str = r#"{"EventID": 13, "Channel": "#;

#[test]
fn filter_tags_in_order_and_passes_bad_lines_through() {
    let input = format!("{BENIGN}\n{MATCH}\n{BAD}\n\n{BENIGN}");
    let out = sigmaline(&["filter", "--rules", "examples/rules"], input.as_bytes());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = stdout.split('\n').collect();
    assert_eq!(lines.len(), 6, "{stdout}");
    assert_eq!(lines[0], BENIGN);
    let tagged: serde_json::Value = serde_json::from_str(lines[1]).unwrap();
    assert_eq!(tagged["sigma"][0]["title"], "DHCP Callout DLL Installation");
    assert_eq!(tagged["sigma"][0]["author"], "Dimitrios Slamaris");
    assert_eq!(lines[2], BAD, "malformed line passes through unchanged");
    assert_eq!(lines[3], "");
    assert_eq!(lines[4], BENIGN);
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains("records in 5, out 5, matched 1, malformed 2, rules 2"),
        "{stderr}"
    );
    assert!(stderr.contains("rec/s"));
}

#[test]
fn records_over_max_record_bytes_pass_through_unread() {
    let input = format!("{MATCH}\n{MATCH}");
    let limit = (MATCH.len() - 1).to_string();
    let out = sigmaline(
        &[
            "filter",
            "--rules",
            "examples/rules",
            "--max-record-bytes",
            &limit,
        ],
        input.as_bytes(),
    );
    assert!(out.status.success());
    assert_eq!(String::from_utf8(out.stdout).unwrap(), format!("{input}\n"));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains("records in 2, out 2, matched 0, malformed 2"),
        "{stderr}"
    );
    let bad = sigmaline(
        &[
            "filter",
            "--rules",
            "examples/rules",
            "--max-record-bytes",
            "0",
        ],
        b"",
    );
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--max-record-bytes"));
}

#[test]
fn filter_modes_and_tag_field() {
    let input = format!("{BENIGN}\n{MATCH}\n");
    let keep = sigmaline(
        &[
            "filter",
            "-r",
            "examples/rules",
            "--mode",
            "keep",
            "--tag-field",
            "detections",
        ],
        input.as_bytes(),
    );
    let stdout = String::from_utf8(keep.stdout).unwrap();
    assert_eq!(stdout.lines().count(), 1);
    assert!(stdout.contains("\"detections\":[{"));
    let drop = sigmaline(
        &["filter", "-r", "examples/rules", "--mode", "drop"],
        input.as_bytes(),
    );
    assert_eq!(
        String::from_utf8(drop.stdout).unwrap(),
        format!("{BENIGN}\n")
    );
    let bad = sigmaline(&["filter", "-r", "examples/rules", "--mode", "nope"], b"");
    assert!(!bad.status.success());
}

#[test]
fn filter_msgpack_stream() {
    let mut input = Vec::new();
    for rec in [BENIGN, MATCH] {
        let v: serde_json::Value = serde_json::from_str(rec).unwrap();
        let m = v.as_object().unwrap();
        rmp::encode::write_map_len(&mut input, m.len() as u32).unwrap();
        for (k, v) in m {
            rmp::encode::write_str(&mut input, k).unwrap();
            match v {
                serde_json::Value::Number(n) => {
                    rmp::encode::write_uint(&mut input, n.as_u64().unwrap())
                        .map(|_| ())
                        .unwrap()
                }
                v => rmp::encode::write_str(&mut input, v.as_str().unwrap()).unwrap(),
            }
        }
    }
    let out = sigmaline(
        &[
            "filter",
            "-r",
            "examples/rules",
            "--input-format",
            "msgpack",
        ],
        &input,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut rd = out.stdout.as_slice();
    let first = rmpv::decode::read_value(&mut rd).unwrap();
    let second = rmpv::decode::read_value(&mut rd).unwrap();
    assert!(rd.is_empty());
    assert!(first["sigma"].is_nil());
    assert_eq!(second["sigma"][0]["level"].as_str(), Some("high"));
}

#[test]
fn check_reports_per_rule_with_file_and_line() {
    let dir = tmpdir("check");
    std::fs::write(
        dir.join("mixed.yml"),
        "title: Good\nid: g1\nlogsource: {product: windows, service: security}\ndetection: {s: {EventID: 1102}, condition: s}\n---\ntitle: Bad modifier\nid: b1\nlogsource: {product: windows, service: security}\ndetection: {s: {EventID|nope: 1}, condition: s}\n",
    )
    .unwrap();
    let d = dir.to_str().unwrap();
    let out = sigmaline(&["check", "--rules", d, "--json"], b"");
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["loaded"], 1);
    let rej = &v["rejected"][0];
    assert_eq!(rej["id"], "b1");
    assert_eq!(rej["title"], "Bad modifier");
    assert_eq!(rej["line"], 6);
    assert!(rej["path"].as_str().unwrap().ends_with("mixed.yml"));
    assert!(rej["reason"]
        .as_str()
        .unwrap()
        .contains("unknown modifier `nope`"));

    let text = sigmaline(&["check", "--rules", d], b"");
    let s = String::from_utf8(text.stdout).unwrap();
    assert!(
        s.contains("mixed.yml:6: b1 (Bad modifier): selection `s`"),
        "{s}"
    );
    assert!(s.contains("1 of 2 rules loaded"));

    std::fs::write(dir.join("mixed.yml"), "title: [broken\n").unwrap();
    let none = sigmaline(&["check", "--rules", d], b"");
    assert_eq!(none.status.code(), Some(1), "no rule loaded");
    let missing = sigmaline(&["check", "--rules", "/nonexistent/rules"], b"");
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("/nonexistent/rules"));
}

#[test]
fn check_says_when_an_id_is_derived() {
    let out = sigmaline(&["check", "--rules", "examples/rules"], b"");
    let s = String::from_utf8(out.stdout).unwrap();
    assert!(s.contains("no `id`: derived"), "{s}");
    assert!(s.contains("2 of 2 rules loaded"));
}

#[test]
fn check_stats_show_needles_families_and_memory_per_field() {
    let dir = tmpdir("stats");
    // 20 MD5s on `Hashes` (a family: one 4-byte stem, one length), two
    // suffixes on `TargetObject`.
    let hashes: String = (0..20)
        .map(|i| format!("      - 'MD5={:032X}'\n", (i + 1) * 0x9E37_79B9u64))
        .collect();
    std::fs::write(
        dir.join("ioc.yml"),
        format!("title: IOC\nid: i1\nlogsource: {{product: windows, category: image_load}}\ndetection:\n  s:\n    Hashes|contains:\n{hashes}  condition: s\n"),
    )
    .unwrap();
    std::fs::copy(
        root().join("examples/rules/registry_set_dhcp_calloutdll.yml"),
        dir.join("dhcp.yml"),
    )
    .unwrap();
    let d = dir.to_str().unwrap();
    let out = sigmaline(&["check", "-q", "--stats", "--rules", d], b"");
    assert!(out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    let row = |field: &str| -> Vec<String> {
        let line = err
            .lines()
            .find(|l| l.ends_with(&format!("  {field}")))
            .unwrap_or_else(|| panic!("no row for {field}: {err}"));
        line.split("  ")
            .filter(|c| !c.is_empty())
            .map(|c| c.trim().to_string())
            .collect()
    };
    let h = row("Hashes");
    assert_eq!(&h[..2], ["20", "20 in 1"], "{err}");
    assert!(h[2].ends_with("KiB") && h[3] == "DFA", "{err}");
    let t = row("TargetObject");
    assert_eq!(&t[..2], ["2", "-"], "{err}");
    // Hashes (20 needles) is listed before TargetObject (2).
    assert!(err.find("  Hashes").unwrap() < err.find("  TargetObject").unwrap());
    assert!(err.contains("automata of 3 fields: "), "{err}");
}

#[test]
fn scan_ndjson_and_gz() {
    let dir = tmpdir("scan");
    let plain = dir.join("events.ndjson");
    std::fs::write(&plain, format!("{BENIGN}\n{MATCH}\n{BAD}\n")).unwrap();
    let gz = dir.join("events.jsonl.gz");
    let mut enc = flate2::write::GzEncoder::new(
        std::fs::File::create(&gz).unwrap(),
        flate2::Compression::fast(),
    );
    enc.write_all(format!("{MATCH}\n{MATCH}\n").as_bytes())
        .unwrap();
    enc.finish().unwrap();
    let out = sigmaline(
        &[
            "scan",
            "--rules",
            "examples/rules",
            plain.to_str().unwrap(),
            gz.to_str().unwrap(),
        ],
        b"",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let matches: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(matches.len(), 3);
    assert_eq!(matches[0]["record"], 2);
    assert_eq!(matches[0]["event"]["EventID"], 13);
    assert_eq!(
        matches[0]["sigma"][0]["id"],
        "9d3436ef-9476-4c43-acca-90ce06bdf33a"
    );
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains("5 records, 3 matched, 1 malformed"),
        "{stderr}"
    );
    assert!(stderr.contains("        3  high"), "{stderr}");
}

#[test]
fn scan_evtx_from_the_regression_corpus() {
    let corpus = std::env::var_os("SIGMALINE_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("../shared/corpus"));
    let dir = corpus.join("sigmahq/regression_data/rules/windows/registry/registry_set");
    let Some(evtx) = std::fs::read_dir(&dir).ok().and_then(|mut d| {
        d.find_map(|e| {
            let case = e.ok()?.path();
            std::fs::read_dir(case).ok()?.find_map(|f| {
                f.ok()
                    .map(|f| f.path())
                    .filter(|p| p.extension().is_some_and(|x| x == "evtx"))
            })
        })
    }) else {
        println!(
            "SKIPPED: no regression .evtx under {} (set SIGMALINE_CORPUS)",
            dir.display()
        );
        return;
    };
    let rules = corpus.join("sigmahq/rules/windows/registry/registry_set");
    let out = sigmaline(
        &[
            "scan",
            "--rules",
            rules.to_str().unwrap(),
            evtx.to_str().unwrap(),
        ],
        b"",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let first: serde_json::Value = serde_json::from_str(
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .next()
            .expect("a match"),
    )
    .unwrap();
    assert!(first["event"]["Event"]["System"]["EventID"].is_number());
    assert!(!first["sigma"].as_array().unwrap().is_empty());
}

#[test]
fn help_on_every_subcommand() {
    for sub in ["check", "filter", "scan"] {
        let out = sigmaline(&[sub, "--help"], b"");
        assert!(out.status.success());
        assert!(
            String::from_utf8(out.stdout).unwrap().contains("--rules"),
            "{sub}"
        );
    }
}

#[test]
fn scan_pretty_printed_json_stream() {
    let dir = tmpdir("stream");
    let f = dir.join("events.json");
    let m: serde_json::Value = serde_json::from_str(MATCH).unwrap();
    let b: serde_json::Value = serde_json::from_str(BENIGN).unwrap();
    let text = format!(
        "{}\n{}\n",
        serde_json::to_string_pretty(&b).unwrap(),
        serde_json::to_string_pretty(&m).unwrap()
    );
    std::fs::write(&f, text).unwrap();
    let out = sigmaline(&["scan", "-r", "examples/rules", f.to_str().unwrap()], b"");
    assert!(out.status.success());
    let stdout = String::from_utf8(out.stdout).unwrap();
    let v: serde_json::Value = serde_json::from_str(stdout.lines().next().unwrap()).unwrap();
    assert_eq!(v["record"], 2);
    assert!(String::from_utf8_lossy(&out.stderr).contains("2 records, 1 matched, 0 malformed"));
}

#[test]
fn bench_reports_throughput_on_given_records() {
    let out = sigmaline(
        &[
            "bench",
            "-r",
            "examples/rules",
            "--seconds",
            "0.2",
            "examples/data/seed-events.ndjson",
        ],
        b"",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s = String::from_utf8(out.stdout).unwrap();
    assert!(s.contains("2 rules compiled"), "{s}");
    assert!(
        s.contains("json:") && s.contains("msgpack:") && s.contains("records/s"),
        "{s}"
    );
    assert_eq!(
        s.matches("(4 matched per pass; first pass ").count(),
        2,
        "{s}"
    );
}

/// A DHCP server event the second seed rule (win_susp_dhcp_config_failed)
/// matches.
const DHCP: &str = r#"{"EventID":1031,"Channel":"Microsoft-Windows-DHCP-Server/Operational","Provider_Name":"Microsoft-Windows-DHCP-Server"}"#;

/// Starts `sigmaline filter` on a rule directory holding only the callout
/// rule; `between` runs after the first DHCP record was read; a second DHCP
/// record follows. Returns stdout lines and stderr.
fn reload_run(
    name: &str,
    extra: &[&str],
    between: impl FnOnce(&Path, u32),
) -> (Vec<String>, String) {
    let dir = tmpdir(name);
    let rules = dir.join("rules");
    std::fs::create_dir_all(&rules).unwrap();
    let seed = root().join("examples/rules");
    std::fs::copy(
        seed.join("registry_set_dhcp_calloutdll.yml"),
        rules.join("registry_set_dhcp_calloutdll.yml"),
    )
    .unwrap();
    let mut args = vec!["filter", "--rules", rules.to_str().unwrap()];
    args.extend_from_slice(extra);
    let mut child = Command::new(env!("CARGO_BIN_EXE_sigmaline"))
        .args(&args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    writeln!(stdin, "{DHCP}").unwrap();
    stdin.flush().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    between(&rules, child.id());
    writeln!(stdin, "{DHCP}").unwrap();
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let lines = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    (lines, String::from_utf8(out.stderr).unwrap())
}

fn add_dhcp_rule(rules: &Path) {
    std::fs::copy(
        root().join("examples/rules/win_susp_dhcp_config_failed.yml"),
        rules.join("win_susp_dhcp_config_failed.yml"),
    )
    .unwrap();
}

#[test]
fn sighup_reloads_the_rules_between_records() {
    let (lines, stderr) = reload_run("sighup", &[], |rules, pid| {
        add_dhcp_rule(rules);
        let s = Command::new("kill")
            .args(["-HUP", &pid.to_string()])
            .status()
            .unwrap();
        assert!(s.success());
        std::thread::sleep(std::time::Duration::from_millis(300));
    });
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0], DHCP, "before the reload the rule is unknown");
    assert!(
        lines[1].contains("DHCP Server Error Failed Loading the CallOut DLL"),
        "{}",
        lines[1]
    );
    assert!(stderr.contains("SIGHUP: 2 rules loaded"), "{stderr}");
    assert!(stderr.contains("reloads: 1, failed reloads: 0"), "{stderr}");
}

#[test]
fn a_failed_sighup_reload_keeps_the_rules() {
    let (lines, stderr) = reload_run("sighup-bad", &[], |rules, pid| {
        std::fs::write(
            rules.join("registry_set_dhcp_calloutdll.yml"),
            "title: [broken",
        )
        .unwrap();
        Command::new("kill")
            .args(["-HUP", &pid.to_string()])
            .status()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(300));
    });
    assert_eq!(lines.len(), 2);
    assert!(
        stderr.contains("SIGHUP: reload failed, keeping the old rules"),
        "{stderr}"
    );
    assert!(stderr.contains("rules 1,"), "{stderr}");
}

#[test]
fn watch_reloads_when_a_rule_file_appears() {
    let (lines, stderr) = reload_run("watch", &["--watch"], |rules, _| {
        add_dhcp_rule(rules);
        std::thread::sleep(std::time::Duration::from_millis(1500));
    });
    assert_eq!(lines[0], DHCP);
    assert!(
        lines[1].contains("DHCP Server Error Failed Loading the CallOut DLL"),
        "{stderr}"
    );
    assert!(
        stderr.contains("rules changed on disk: 2 rules loaded"),
        "{stderr}"
    );
}

#[test]
fn metrics_file_holds_counters_and_per_rule_matches() {
    let dir = tmpdir("metrics");
    let path = dir.join("sigmaline.prom");
    let input = format!("{MATCH}\n{BENIGN}\n{MATCH}\n{BAD}\n");
    let out = sigmaline(
        &[
            "filter",
            "--rules",
            "examples/rules",
            "--metrics-file",
            path.to_str().unwrap(),
        ],
        input.as_bytes(),
    );
    assert!(out.status.success());
    let text = std::fs::read_to_string(&path).unwrap();
    for line in [
        "sigmaline_records_in_total 4\n",
        "sigmaline_records_out_total 4\n",
        "sigmaline_records_matched_total 2\n",
        "sigmaline_records_malformed_total 1\n",
        "sigmaline_rules_loaded 2\n",
        "sigmaline_rule_matches_total{id=\"9d3436ef-9476-4c43-acca-90ce06bdf33a\",title=\"DHCP Callout DLL Installation\",level=\"high\"} 2\n",
    ] {
        assert!(text.contains(line), "{line} missing from:\n{text}");
    }
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains(
            "2  high      9d3436ef-9476-4c43-acca-90ce06bdf33a  DHCP Callout DLL Installation"
        ),
        "{stderr}"
    );
}
