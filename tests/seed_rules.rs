//! The two seed rules (examples/rules, by Dimitrios Slamaris, DRL 1.1) on
//! hand-written events in the flat, evtx and ECS shapes.

use sigmaline_core::{Engine, EngineBuilder, Mode, RuleSet};
use sigmaline_tests::root;

const CALLOUT: &str = "DHCP Callout DLL Installation";
const DHCP_ERROR: &str = "DHCP Server Error Failed Loading the CallOut DLL";

fn engine(mode: Mode) -> Engine {
    let set = RuleSet::load_paths(&[root().join("examples/rules")]).unwrap();
    let (engine, report) = EngineBuilder::new().mode(mode).build(&set).unwrap();
    assert!(report.rejected.is_empty(), "{:?}", report.rejected);
    engine
}

/// Titles of the rules that fire on a JSON record.
fn fired(e: &Engine, record: &str) -> Vec<String> {
    let mut s = e.scratch();
    e.match_json(&mut s, record.as_bytes())
        .unwrap()
        .iter()
        .map(|&r| e.rule(r).title.clone())
        .collect()
}

fn sysmon13(target: &str) -> String {
    serde_json::json!({
        "EventID": 13, "Channel": "Microsoft-Windows-Sysmon/Operational", "SourceName": "Microsoft-Windows-Sysmon",
        "EventType": "SetValue", "Image": "C:\\Windows\\system32\\reg.exe", "TargetObject": target, "Details": "C:\\dhcp\\evil.dll"
    })
    .to_string()
}

fn flat(channel: &str, provider: &str, event_id: serde_json::Value) -> String {
    serde_json::json!({ "EventID": event_id, "Channel": channel, "SourceName": provider, "Hostname": "DHCP01" }).to_string()
}

const DHCP_LOG: &str = "Microsoft-Windows-DHCP-Server/Operational";
const DHCP_PROVIDER: &str = "Microsoft-Windows-DHCP-Server";
const KEY: &str = r"HKLM\System\CurrentControlSet\Services\DHCPServer\Parameters\CalloutDlls";

#[test]
fn callout_suffix_matches_in_any_letter_case() {
    let e = engine(Mode::Tag);
    assert_eq!(fired(&e, &sysmon13(KEY)), [CALLOUT]);
    assert_eq!(fired(&e, &sysmon13(&KEY.to_uppercase())), [CALLOUT]);
    assert_eq!(fired(&e, &sysmon13(&KEY.to_lowercase())), [CALLOUT]);
    let enabled = KEY.replace("CalloutDlls", "CalloutEnabled");
    assert_eq!(fired(&e, &sysmon13(&enabled)), [CALLOUT]);
}

#[test]
fn callout_no_match_on_longer_suffix_or_other_service() {
    let e = engine(Mode::Tag);
    assert!(fired(&e, &sysmon13(&format!("{KEY}Backup"))).is_empty());
    assert!(fired(&e, &sysmon13(&format!("{KEY}\\x"))).is_empty());
    assert!(fired(&e, &sysmon13(&KEY.replace("DHCPServer", "DNS"))).is_empty());
    // The right key in a Sysmon event that is not a registry set (EventID 1).
    let pc = sysmon13(KEY).replace("\"EventID\":13", "\"EventID\":1");
    assert!(fired(&e, &pc).is_empty());
}

#[test]
fn dhcp_error_only_in_the_dhcp_server_log() {
    let e = engine(Mode::Tag);
    for id in [1031, 1032, 1034] {
        assert_eq!(
            fired(&e, &flat(DHCP_LOG, DHCP_PROVIDER, id.into())),
            [DHCP_ERROR],
            "{id}"
        );
    }
    assert!(fired(&e, &flat(DHCP_LOG, DHCP_PROVIDER, 1033.into())).is_empty());
    // The same EventIDs from other providers and logs are not this rule.
    assert!(fired(
        &e,
        &flat(
            "Security",
            "Microsoft-Windows-Security-Auditing",
            1032.into()
        )
    )
    .is_empty());
    assert!(fired(&e, &flat("Application", "MsiInstaller", 1034.into())).is_empty());
    // DHCP server events forwarded from the System log carry the provider.
    assert_eq!(
        fired(&e, &flat("System", DHCP_PROVIDER, 1031.into())),
        [DHCP_ERROR]
    );
    // Channel names compare without case (some shippers lowercase them).
    assert_eq!(
        fired(&e, &flat(&DHCP_LOG.to_lowercase(), "", 1031.into())),
        [DHCP_ERROR]
    );
}

#[test]
fn string_event_ids() {
    let e = engine(Mode::Tag);
    assert_eq!(
        fired(&e, &flat(DHCP_LOG, DHCP_PROVIDER, "1034".into())),
        [DHCP_ERROR]
    );
    let s = sysmon13(KEY).replace("\"EventID\":13", "\"EventID\":\"13\"");
    assert_eq!(fired(&e, &s), [CALLOUT]);
}

#[test]
fn evtx_shape() {
    let e = engine(Mode::Tag);
    let reg = |target: &str| {
        serde_json::json!({"Event": {"#attributes": {"xmlns": "http://schemas.microsoft.com/win/2004/08/events/event"},
            "System": {"Provider": {"#attributes": {"Name": "Microsoft-Windows-Sysmon"}}, "EventID": 13,
                       "Channel": "Microsoft-Windows-Sysmon/Operational", "Computer": "DHCP01"},
            "EventData": {"EventType": "SetValue", "TargetObject": target, "Details": "x.dll"}}})
        .to_string()
    };
    assert_eq!(fired(&e, &reg(&KEY.to_lowercase())), [CALLOUT]);
    assert!(fired(&e, &reg(&format!("{KEY}Backup"))).is_empty());
    let dhcp = |channel: &str, id: serde_json::Value| {
        serde_json::json!({"Event": {"System": {"Provider": {"#attributes": {"Name": "X"}}, "EventID": id, "Channel": channel}}}).to_string()
    };
    let with_attrs = serde_json::json!({"#attributes": {"Qualifiers": 0}, "#text": 1034});
    assert_eq!(fired(&e, &dhcp(DHCP_LOG, with_attrs.clone())), [DHCP_ERROR]);
    assert_eq!(fired(&e, &dhcp(DHCP_LOG, "1032".into())), [DHCP_ERROR]);
    assert!(fired(&e, &dhcp("Security", with_attrs)).is_empty());
}

#[test]
fn ecs_shape() {
    let e = engine(Mode::Tag);
    let rec = |channel: &str, id: serde_json::Value, data: serde_json::Value| {
        serde_json::json!({"@timestamp": "2024-01-01T00:00:00Z",
            "winlog": {"event_id": id, "channel": channel, "provider_name": "P", "event_data": data}}).to_string()
    };
    let sysmon = "Microsoft-Windows-Sysmon/Operational";
    assert_eq!(
        fired(
            &e,
            &rec(
                sysmon,
                "13".into(),
                serde_json::json!({"TargetObject": KEY})
            )
        ),
        [CALLOUT]
    );
    assert!(fired(
        &e,
        &rec(
            sysmon,
            13.into(),
            serde_json::json!({"TargetObject": "HKLM\\x"})
        )
    )
    .is_empty());
    assert_eq!(
        fired(&e, &rec(DHCP_LOG, 1032.into(), serde_json::json!({}))),
        [DHCP_ERROR]
    );
    assert!(fired(&e, &rec("Security", 1032.into(), serde_json::json!({}))).is_empty());
}

#[test]
fn tags_carry_id_title_level_tags_and_author() {
    let e = engine(Mode::Tag);
    let mut s = e.scratch();
    let rec = sysmon13(KEY);
    let mut out = Vec::new();
    let o = e.filter_json(&mut s, rec.as_bytes(), &mut out).unwrap();
    assert_eq!((o.matched, o.emitted), (1, true));
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    let tag = &v["sigma"][0];
    assert_eq!(tag["id"], "9d3436ef-9476-4c43-acca-90ce06bdf33a");
    assert_eq!(tag["title"], CALLOUT);
    assert_eq!(tag["level"], "high");
    assert_eq!(tag["author"], "Dimitrios Slamaris");
    assert!(tag["tags"]
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t == "attack.t1574.001"));
    // Everything the shipper sent is still there, in the same order.
    assert!(out.starts_with(rec.trim_end_matches('}').as_bytes()));

    // An unmatched record comes out byte for byte.
    let benign = br#"{"EventID": 1, "Channel":"Microsoft-Windows-Sysmon/Operational",  "Image":"C:\\a.exe"}"#;
    out.clear();
    e.filter_json(&mut s, benign, &mut out).unwrap();
    assert_eq!(out, benign);

    // A record that already carries the tag field: a match replaces it (one
    // key, our tags), no match leaves it alone.
    let mut v: serde_json::Value = serde_json::from_str(&rec).unwrap();
    v["sigma"] = serde_json::json!("from upstream");
    let carried = v.to_string();
    out.clear();
    e.filter_json(&mut s, carried.as_bytes(), &mut out).unwrap();
    let text = String::from_utf8(out.clone()).unwrap();
    assert_eq!(text.matches("\"sigma\":").count(), 1, "{text}");
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v["sigma"][0]["title"], CALLOUT);
    let benign = br#"{"EventID": 1, "sigma": "from upstream", "Image":"C:\\a.exe"}"#;
    out.clear();
    e.filter_json(&mut s, benign, &mut out).unwrap();
    assert_eq!(out, benign);
}

#[test]
fn rule_without_id_gets_a_stable_derived_id() {
    let set = RuleSet::load_paths(&[root().join("examples/rules")]).unwrap();
    let (_, report) = EngineBuilder::new().build(&set).unwrap();
    let r = report
        .loaded
        .iter()
        .find(|r| r.meta.title == DHCP_ERROR && r.meta.id_derived)
        .expect("the 2017 rule has no id");
    assert!(r.warnings.iter().any(|w| w.contains("derived")));
    let again = EngineBuilder::new()
        .build(&RuleSet::load_paths(&[root().join("examples/rules")]).unwrap())
        .unwrap()
        .1;
    assert!(again.loaded.iter().any(|x| x.meta.id == r.meta.id));
    assert_eq!(
        r.meta.date.as_deref(),
        Some("2017-05-15"),
        "old-style date normalised"
    );
}

#[test]
fn modes() {
    let matching = sysmon13(KEY);
    let benign = sysmon13("HKLM\\Software\\x");
    for (mode, keep_match, keep_benign) in [
        (Mode::Tag, true, true),
        (Mode::Keep, true, false),
        (Mode::Drop, false, true),
    ] {
        let e = engine(mode);
        let mut s = e.scratch();
        let mut out = Vec::new();
        assert_eq!(
            e.filter_json(&mut s, matching.as_bytes(), &mut out)
                .unwrap()
                .emitted,
            keep_match,
            "{mode:?}"
        );
        assert_eq!(
            e.filter_json(&mut s, benign.as_bytes(), &mut out)
                .unwrap()
                .emitted,
            keep_benign,
            "{mode:?}"
        );
        if mode == Mode::Drop {
            assert_eq!(
                out,
                benign.as_bytes(),
                "drop mode passes the rest untouched"
            );
        }
    }
}

#[test]
fn msgpack_records() {
    let e = engine(Mode::Tag);
    let mut rec = Vec::new();
    rmp::encode::write_map_len(&mut rec, 3).unwrap();
    for (k, v) in [
        ("Channel", "Microsoft-Windows-Sysmon/Operational"),
        ("TargetObject", KEY),
    ] {
        rmp::encode::write_str(&mut rec, k).unwrap();
        rmp::encode::write_str(&mut rec, v).unwrap();
    }
    rmp::encode::write_str(&mut rec, "EventID").unwrap();
    rmp::encode::write_uint(&mut rec, 13).unwrap();
    let mut s = e.scratch();
    let mut out = Vec::new();
    let o = e.filter_msgpack(&mut s, &rec, &mut out).unwrap();
    assert_eq!(o.matched, 1);
    let v = rmpv::decode::read_value(&mut out.as_slice()).unwrap();
    assert_eq!(v["sigma"][0]["author"].as_str(), Some("Dimitrios Slamaris"));
    assert!(e.filter_msgpack(&mut s, b"\xc1garbage", &mut out).is_err());
    assert!(e
        .filter_json(&mut s, b"{\"EventID\": 13, ", &mut out)
        .is_err());
}

/// Fluent Bit's `winevtlog` input: named EventData (v5.1 `event_data_as_map`)
/// or positional StringInserts, with top-level ProviderName/EventID/Channel.
#[test]
fn winevtlog_shape() {
    let e = engine(Mode::Tag);
    let sysmon = "Microsoft-Windows-Sysmon";
    let inserts = |provider: &str, id: u32, target: &str| {
        serde_json::json!({"ProviderName": provider, "EventID": id, "Channel": "Microsoft-Windows-Sysmon/Operational",
            "Computer": "DHCP01", "StringInserts": ["-", "SetValue", "2024-05-02 09:15:22.481", "{guid}", "4242",
            "C:\\Windows\\system32\\reg.exe", target, "C:\\evil.dll", "NT AUTHORITY\\SYSTEM"]})
        .to_string()
    };
    // Position 6 of a Sysmon 13 event is TargetObject.
    assert_eq!(fired(&e, &inserts(sysmon, 13, KEY)), [CALLOUT]);
    assert!(fired(&e, &inserts(sysmon, 13, r"HKLM\Software\x")).is_empty());
    // The same array under another event id means other fields.
    assert!(fired(&e, &inserts(sysmon, 12, KEY)).is_empty());
    let named = serde_json::json!({"ProviderName": sysmon, "EventID": 13, "Channel": "Microsoft-Windows-Sysmon/Operational",
        "EventData": {"EventType": "SetValue", "TargetObject": KEY.to_lowercase(), "Details": "x"}})
    .to_string();
    assert_eq!(fired(&e, &named), [CALLOUT]);
    let dhcp = serde_json::json!({"ProviderName": DHCP_PROVIDER, "EventID": 1034, "Channel": DHCP_LOG, "StringInserts": ["x.dll"]}).to_string();
    assert_eq!(fired(&e, &dhcp), [DHCP_ERROR]);
}

/// A Security 4688 from winevtlog: position 5 is NewProcessName, which the
/// process_creation logsource maps `Image` to.
#[test]
fn winevtlog_security_process_creation() {
    let mut set = RuleSet::default();
    set.add_str(
        "title: cmd\nid: c1\nlogsource: {product: windows, category: process_creation}\ndetection:\n  sel:\n    Image|endswith: '\\cmd.exe'\n    CommandLine|contains: whoami\n  condition: sel\n",
        std::path::Path::new("c.yml"),
    );
    let e = EngineBuilder::new().build(&set).unwrap().0;
    let rec = serde_json::json!({"ProviderName": "Microsoft-Windows-Security-Auditing", "EventID": 4688, "Channel": "Security",
        "StringInserts": ["S-1-5-18", "HOST$", "CORP", "0x3e7", "0x1a2b", "C:\\Windows\\System32\\cmd.exe", "%%1936", "0x4", "cmd.exe /c whoami"]})
    .to_string();
    assert_eq!(fired(&e, &rec), ["cmd"]);
}
