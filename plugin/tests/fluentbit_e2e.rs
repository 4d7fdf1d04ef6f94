//! The filter inside a real Fluent Bit: tail over the bundled events →
//! sigma → file output. Needs a Fluent Bit binary (v3.2 or later) in
//! `FLUENT_BIT_BIN`; skips with a message otherwise (CI has none: no
//! registry carries Fluent Bit).

mod support;

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::{lib_dir, root, tmpdir};

#[test]
fn tags_seed_events_in_fluent_bit() {
    let Some(bin) = std::env::var_os("FLUENT_BIT_BIN").map(PathBuf::from) else {
        println!(
            "SKIPPED: set FLUENT_BIT_BIN to a Fluent Bit binary (v3.2+) to run the filter in it"
        );
        return;
    };
    let dir = tmpdir("e2e");
    let so = dir.join("flb-filter_sigma.so");
    std::fs::copy(lib_dir().join("libsigmaline.so"), &so).unwrap();
    let examples = root().join("examples");
    std::fs::write(
        dir.join("parsers.conf"),
        "[PARSER]\n    Name   json\n    Format json\n",
    )
    .unwrap();
    let conf = format!(
        "[SERVICE]\n    Flush 1\n    Log_Level info\n    Parsers_File {parsers}\n\n\
         [INPUT]\n    Name tail\n    Path {events}\n    Parser json\n    Tag winlog.seed\n    Read_from_Head true\n    Exit_On_Eof true\n\n\
         [FILTER]\n    Name sigma\n    Match winlog.*\n    rules {rules}\n    mode tag\n\n\
         [OUTPUT]\n    Name file\n    Match *\n    Path {out}\n    File out.jsonl\n    Format plain\n",
        parsers = dir.join("parsers.conf").display(),
        events = examples.join("data/seed-events.ndjson").display(),
        rules = examples.join("rules").display(),
        out = dir.display(),
    );
    std::fs::write(dir.join("fluent-bit.conf"), conf).unwrap();
    let mut child = Command::new(&bin)
        .arg("-e")
        .arg(&so)
        .arg("-c")
        .arg(dir.join("fluent-bit.conf"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            panic!("Fluent Bit did not exit within 60 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = child.wait_with_output().unwrap();
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    println!("{log}");
    assert!(
        log.contains("[filter:sigma] 2 rules loaded"),
        "plugin logged through Fluent Bit"
    );
    let text = std::fs::read_to_string(dir.join("out.jsonl")).expect("file output written");
    let records: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(records.len() >= 11, "{} records", records.len());
    let tagged: Vec<&serde_json::Value> = records
        .iter()
        .filter(|r| r.get("sigma").is_some())
        .collect();
    assert_eq!(tagged.len(), 4, "{text}");
    let titles: Vec<&str> = tagged
        .iter()
        .map(|r| r["sigma"][0]["title"].as_str().unwrap())
        .collect();
    assert_eq!(
        titles
            .iter()
            .filter(|t| **t == "DHCP Callout DLL Installation")
            .count(),
        2
    );
    assert_eq!(
        titles
            .iter()
            .filter(|t| **t == "DHCP Server Error Failed Loading the CallOut DLL")
            .count(),
        2
    );
    assert!(tagged
        .iter()
        .all(|r| r["sigma"][0]["author"] == "Dimitrios Slamaris"));
}
