//! The Fluent Bit filter loaded the way Fluent Bit loads it, by a C harness
//! (tests/c/flb_harness.c): struct layout, properties, chunks in v1 and v2
//! event formats, group markers, malformed chunks, tag/keep/drop.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use support::{compile, lib_dir, root, run, tmpdir};

const KEY: &str = r"HKLM\System\CurrentControlSet\Services\DHCPServer\Parameters\CalloutDlls";

/// The plugin under the file name Fluent Bit requires.
fn plugin(dir: &Path) -> PathBuf {
    let p = dir.join("flb-filter_sigma.so");
    std::fs::copy(lib_dir().join("libsigmaline.so"), &p).unwrap();
    p
}

fn body(target: &str) -> Vec<u8> {
    let mut b = Vec::new();
    rmp::encode::write_map_len(&mut b, 3).unwrap();
    rmp::encode::write_str(&mut b, "EventID").unwrap();
    rmp::encode::write_uint(&mut b, 13).unwrap();
    rmp::encode::write_str(&mut b, "Channel").unwrap();
    rmp::encode::write_str(&mut b, "Microsoft-Windows-Sysmon/Operational").unwrap();
    rmp::encode::write_str(&mut b, "TargetObject").unwrap();
    rmp::encode::write_str(&mut b, target).unwrap();
    b
}

fn ext_ts(secs: u32, nsec: u32) -> Vec<u8> {
    let mut t = vec![0xd7, 0x00];
    t.extend_from_slice(&secs.to_be_bytes());
    t.extend_from_slice(&nsec.to_be_bytes());
    t
}

/// v2 event: [[ts, {meta}], body].
fn v2(secs: u32, body: &[u8]) -> Vec<u8> {
    let mut e = vec![0x92, 0x92];
    e.extend(ext_ts(secs, 123));
    e.extend_from_slice(&[0x81, 0xa1, b'm', 0x01]); // {"m": 1}
    e.extend_from_slice(body);
    e
}

/// v1 event: [ts, body].
fn v1(secs: u32, body: &[u8]) -> Vec<u8> {
    let mut e = vec![0x92];
    e.extend(ext_ts(secs, 7));
    e.extend_from_slice(body);
    e
}

struct Run {
    stdout: String,
    stderr: String,
    outputs: Vec<Option<Vec<u8>>>,
    ok: bool,
}

fn harness(props: &str, chunks: &[Vec<u8>]) -> Run {
    harness_with(
        compile("flb_harness", &["-rdynamic", "-ldl"]),
        props,
        chunks,
    )
}

fn harness_with(exe: PathBuf, props: &str, chunks: &[Vec<u8>]) -> Run {
    let dir = tmpdir("flb");
    let so = plugin(&dir);
    std::fs::write(dir.join("props"), props).unwrap();
    let mut cmd = Command::new(exe);
    cmd.arg(&so).arg(dir.join("props"));
    for (i, c) in chunks.iter().enumerate() {
        std::fs::write(dir.join(format!("in{i}")), c).unwrap();
        cmd.arg(dir.join(format!("in{i}")))
            .arg(dir.join(format!("out{i}")));
    }
    let out = run(&mut cmd);
    Run {
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
        outputs: (0..chunks.len())
            .map(|i| std::fs::read(dir.join(format!("out{i}"))).ok())
            .collect(),
        ok: out.status.success(),
    }
}

fn rules_prop() -> String {
    format!("rules {}\n", root().join("examples/rules").display())
}

/// Decodes a chunk into its events.
fn events(chunk: &[u8]) -> Vec<rmpv::Value> {
    let mut rd = chunk;
    let mut v = Vec::new();
    while !rd.is_empty() {
        v.push(rmpv::decode::read_value(&mut rd).unwrap());
    }
    v
}

#[test]
fn tag_mode_v2_and_v1_events() {
    let hit = body(KEY);
    let miss = body(r"HKLM\Software\x");
    let mut chunk = v2(1_700_000_000, &miss);
    chunk.extend(v2(1_700_000_001, &hit));
    chunk.extend(v1(1_700_000_002, &hit));
    let untouched = v2(1_700_000_003, &miss);
    let r = harness(&rules_prop(), &[chunk.clone(), untouched]);
    assert!(r.ok);
    assert!(
        r.stderr
            .contains("[flb log 3] [filter:sigma] 2 rules loaded"),
        "logs through flb_log_print: {}",
        r.stderr
    );
    assert_eq!(
        r.stdout
            .lines()
            .filter(|l| l.starts_with("MODIFIED"))
            .count(),
        1
    );
    assert!(
        r.stdout.contains("NOTOUCH"),
        "a chunk with no match is not copied"
    );
    assert!(r.outputs[1].is_none());
    let out = r.outputs[0].as_ref().unwrap();
    let ev = events(out);
    assert_eq!(ev.len(), 3);
    // The unmatched event is byte-identical; timestamps and metadata are kept.
    assert!(out.starts_with(&v2(1_700_000_000, &miss)));
    assert_eq!(
        ev[1][0][0],
        rmpv::Value::Ext(0, [ext_ts(1_700_000_001, 123)[2..].to_vec()].concat())
    );
    assert_eq!(ev[1][0][1]["m"], rmpv::Value::from(1));
    assert_eq!(
        ev[1][1]["sigma"][0]["title"].as_str(),
        Some("DHCP Callout DLL Installation")
    );
    assert_eq!(
        ev[1][1]["sigma"][0]["author"].as_str(),
        Some("Dimitrios Slamaris")
    );
    assert_eq!(
        ev[2][1]["sigma"][0]["level"].as_str(),
        Some("high"),
        "v1 event tagged"
    );
    assert!(
        r.stderr.contains("records in 4, out 4, matched 2"),
        "{}",
        r.stderr
    );
}

#[test]
fn keep_and_drop_modes() {
    let hit = body(KEY);
    let miss = body(r"HKLM\Software\x");
    let mut chunk = v2(1, &miss);
    chunk.extend(v2(2, &hit));
    let keep = harness(
        &format!("{}mode keep\ntag_key detections\n", rules_prop()),
        std::slice::from_ref(&chunk),
    );
    let ev = events(keep.outputs[0].as_ref().unwrap());
    assert_eq!(ev.len(), 1);
    assert!(ev[0][1]["detections"].is_array());
    let drop = harness(
        &format!("{}mode drop\n", rules_prop()),
        &[chunk, v2(3, &hit)],
    );
    assert_eq!(drop.outputs[0].as_deref(), Some(v2(1, &miss).as_slice()));
    assert_eq!(
        drop.outputs[1].as_deref(),
        Some(&[][..]),
        "every event dropped: empty chunk"
    );
}

#[test]
fn group_markers_and_malformed_events_pass_through() {
    let hit = body(KEY);
    let mut chunk = Vec::new();
    chunk.extend(v2(0xFFFF_FFFF, &[0x80]));
    chunk.extend(v2(5, &hit));
    chunk.extend(v2(0xFFFF_FFFE, &[0x80]));
    chunk.extend([0x92, 0x01, 0x02]); // [1, 2]: body is not a map
    chunk.extend([0x93, 0x01, 0x02, 0x03]); // not a 2-element event
    let tail = [0x92, 0x92, 0xd7]; // truncated
    chunk.extend(tail);
    let r = harness(&rules_prop(), std::slice::from_ref(&chunk));
    assert!(r.ok);
    let out = r.outputs[0].as_ref().unwrap();
    assert!(out.starts_with(&v2(0xFFFF_FFFF, &[0x80])));
    assert!(out.ends_with(
        &[
            &v2(0xFFFF_FFFE, &[0x80])[..],
            &[0x92, 0x01, 0x02, 0x93, 0x01, 0x02, 0x03],
            &tail
        ]
        .concat()
    ));
    assert!(r.stderr.contains("malformed 3"), "{}", r.stderr);
}

#[test]
fn init_fails_cleanly() {
    let r = harness("rules /nonexistent/rules\n", &[]);
    assert!(!r.ok);
    assert!(r.stdout.contains("INIT FAILED"));
    assert!(
        r.stderr.contains("[flb log 1] [filter:sigma] cannot start")
            && r.stderr.contains("/nonexistent/rules"),
        "{}",
        r.stderr
    );
    let r = harness(&format!("{}colour blue\n", rules_prop()), &[]);
    assert!(r.stderr.contains("unknown option `colour`"), "{}", r.stderr);
    let r = harness("mode keep\n", &[]);
    assert!(r.stderr.contains("no rules configured"), "{}", r.stderr);
}

#[test]
fn refuses_fluent_bit_older_than_3_2() {
    let old = support::compile_as(
        "flb_harness",
        "flb_harness_old",
        &["-rdynamic", "-ldl", "-DOLD_FLUENT_BIT"],
    );
    let r = harness_with(old, &rules_prop(), &[]);
    assert!(!r.ok);
    assert!(r.stderr.contains("older than v3.2.0"), "{}", r.stderr);
}
