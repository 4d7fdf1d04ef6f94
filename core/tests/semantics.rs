//! Sigma detection semantics, one behaviour per test: every modifier, the
//! wildcard and escaping rules, null and empty values, keywords, and every
//! condition form. Rules use an unmapped logsource applied everywhere, so
//! only the detection decides.

use std::path::Path;

use sigmaline_core::{Engine, EngineBuilder, RuleSet, Scratch, Unmapped};

fn builder() -> EngineBuilder {
    EngineBuilder::new().unmapped(Unmapped::Everywhere)
}

/// Does a rule with this `detection` section fire on this JSON record?
fn fires_with(builder: EngineBuilder, detection: &str, record: &str) -> bool {
    let text =
        format!("title: t\nid: test-rule\nlogsource: {{product: test}}\ndetection:\n{detection}\n");
    let mut set = RuleSet::default();
    set.add_str(&text, Path::new("t.yml"));
    assert!(set.rejected.is_empty(), "{:?}", set.rejected);
    let (engine, report) = builder.build(&set).unwrap();
    assert_eq!(
        engine.rule_count(),
        1,
        "rule rejected: {:?}",
        report.rejected
    );
    let mut s = engine.scratch();
    let m = engine.match_json(&mut s, record.as_bytes()).unwrap();
    !m.is_empty()
}

fn fires(detection: &str, record: &str) -> bool {
    fires_with(
        builder().profiles(sigmaline_core::ProfileSet::by_name("flat").unwrap()),
        detection,
        record,
    )
}

/// The reason a rule is rejected.
fn rejected(detection: &str) -> String {
    let text = format!("title: t\nid: x\nlogsource: {{product: test}}\ndetection:\n{detection}\n");
    let mut set = RuleSet::default();
    set.add_str(&text, Path::new("t.yml"));
    let (engine, report) = builder().build(&set).unwrap();
    assert_eq!(engine.rule_count(), 0);
    report.rejected[0].reason.clone()
}

/// An engine from whole rule documents, with the default (Windows) mappings.
fn windows_engine(text: &str) -> Engine {
    let mut set = RuleSet::default();
    set.add_str(text, Path::new("t.yml"));
    EngineBuilder::new().build(&set).unwrap().0
}

/// The titles of the rules a JSON record matches.
fn titles(engine: &Engine, s: &mut Scratch, record: &str) -> Vec<String> {
    engine
        .match_json(s, record.as_bytes())
        .unwrap()
        .iter()
        .map(|&r| engine.rule(r).title.clone())
        .collect()
}

const SEL: &str = "  condition: sel";

#[test]
fn plain_value_is_case_insensitive_equality() {
    let d = format!("  sel:\n    Image: 'C:\\Windows\\cmd.exe'\n{SEL}");
    assert!(fires(&d, r#"{"Image":"c:\\windows\\CMD.EXE"}"#));
    assert!(!fires(&d, r#"{"Image":"c:\\windows\\cmd.exe2"}"#));
    assert!(!fires(&d, r#"{"Image":"x c:\\windows\\cmd.exe"}"#));
    assert!(!fires(&d, r#"{"Other":"c:\\windows\\cmd.exe"}"#));
}

#[test]
fn unicode_case_folding() {
    let d = format!("  sel:\n    User|contains: 'ÄDMIN'\n{SEL}");
    assert!(fires(&d, r#"{"User":"corp\\ädmin"}"#));
}

#[test]
fn contains_startswith_endswith() {
    let c = format!("  sel:\n    CommandLine|contains: ' -enc '\n{SEL}");
    assert!(fires(&c, r#"{"CommandLine":"powershell -ENC abc"}"#));
    assert!(!fires(&c, r#"{"CommandLine":"powershell -encoded"}"#));
    let s = format!("  sel:\n    Image|startswith: 'C:\\Users\\'\n{SEL}");
    assert!(fires(&s, r#"{"Image":"c:\\users\\bob\\a.exe"}"#));
    assert!(!fires(&s, r#"{"Image":"D:\\c:\\users\\a.exe"}"#));
    let e = format!("  sel:\n    Image|endswith: '\\rundll32.exe'\n{SEL}");
    assert!(fires(
        &e,
        r#"{"Image":"C:\\Windows\\System32\\RUNDLL32.exe"}"#
    ));
    assert!(!fires(&e, r#"{"Image":"C:\\rundll32.exe.bak"}"#));
    // A needle occurring twice: the suffix test sees the last occurrence.
    assert!(fires(&e, r#"{"Image":"C:\\rundll32.exe\\rundll32.exe"}"#));
}

/// IOC lists of file hashes (found through their stem, see family.rs):
/// any case, any position in the `Hashes` list, with `startswith` and
/// `endswith` anchored; a hash cut short or one digit off does not match.
#[test]
fn hash_lists() {
    let hex = |i: u32, n: usize| {
        format!("{:08X}", i.wrapping_mul(0x9E37_79B9)).repeat(8)[..n].to_string()
    };
    let list: String = (0..40)
        .map(|i| {
            format!(
                "      - 'MD5={}'\n      - 'SHA256={}'\n",
                hex(i, 32),
                hex(i + 100, 64)
            )
        })
        .collect();
    let c = format!("  sel:\n    Hashes|contains:\n{list}{SEL}");
    let (md5, sha) = (hex(7, 32), hex(107, 64));
    let rec = |h: &str| format!(r#"{{"Hashes":"{h}"}}"#);
    assert!(fires(&c, &rec(&format!("SHA1=AB,MD5={md5},IMPHASH=CD"))));
    assert!(fires(&c, &rec(&format!("md5={}", md5.to_lowercase()))));
    assert!(fires(&c, &rec(&format!("MD5=00,SHA256={sha}"))));
    assert!(!fires(&c, &rec(&format!("MD5={}", &md5[..31]))));
    let mut off = md5.clone().into_bytes();
    off[20] = if off[20] == b'0' { b'1' } else { b'0' };
    assert!(!fires(
        &c,
        &rec(&format!("MD5={}", String::from_utf8(off).unwrap()))
    ));
    assert!(!fires(&c, &rec(&format!("SHA1={md5}"))));
    let list: String = (0..40)
        .map(|i| format!("      - 'MD5={}'\n", hex(i, 32)))
        .collect();
    let s = format!("  sel:\n    Hashes|startswith:\n{list}{SEL}");
    assert!(fires(&s, &rec(&format!("MD5={md5},SHA1=AB"))));
    assert!(!fires(&s, &rec(&format!("SHA1=AB,MD5={md5}"))));
    let e = format!("  sel:\n    Hashes|endswith:\n{list}{SEL}");
    assert!(fires(&e, &rec(&format!("SHA1=AB,MD5={md5}"))));
    assert!(!fires(&e, &rec(&format!("MD5={md5},SHA1=AB"))));
}

#[test]
fn lists_are_or_and_all_is_and() {
    let or = format!("  sel:\n    CommandLine|contains:\n      - alpha\n      - beta\n{SEL}");
    assert!(fires(&or, r#"{"CommandLine":"x beta"}"#));
    assert!(!fires(&or, r#"{"CommandLine":"gamma"}"#));
    let all = format!("  sel:\n    CommandLine|contains|all:\n      - alpha\n      - beta\n{SEL}");
    assert!(fires(&all, r#"{"CommandLine":"beta alpha"}"#));
    assert!(!fires(&all, r#"{"CommandLine":"alpha only"}"#));
}

#[test]
fn maps_are_and_lists_of_maps_are_or() {
    let and = format!("  sel:\n    A: '1'\n    B: '2'\n{SEL}");
    assert!(fires(&and, r#"{"A":"1","B":"2"}"#));
    assert!(!fires(&and, r#"{"A":"1","B":"3"}"#));
    let or = format!("  sel:\n    - A: '1'\n    - B: '2'\n{SEL}");
    assert!(fires(&or, r#"{"A":"0","B":"2"}"#));
    assert!(!fires(&or, r#"{"A":"0","B":"0"}"#));
}

#[test]
fn wildcards_and_escapes() {
    // `\\*` in the rule: a backslash, then the wildcard.
    let d = format!("  sel:\n    Image: 'C:\\\\*\\bad?.exe'\n{SEL}");
    assert!(fires(&d, r#"{"Image":"C:\\tmp\\x\\bad1.exe"}"#));
    assert!(!fires(&d, r#"{"Image":"C:\\tmp\\bad12.exe"}"#));
    assert!(!fires(&d, r#"{"Image":"C:\\tmp\\bad.exe"}"#));
    // Escaped wildcards are literals.
    let lit = format!("  sel:\n    Value: 'a\\*b\\?'\n{SEL}");
    assert!(fires(&lit, r#"{"Value":"a*b?"}"#));
    assert!(!fires(&lit, r#"{"Value":"axxb?"}"#));
    // `\\*`: a literal backslash, then a wildcard.
    let bs = format!("  sel:\n    Value: 'dir\\\\*'\n{SEL}");
    assert!(fires(&bs, r#"{"Value":"dir\\anything"}"#));
    assert!(!fires(&bs, r#"{"Value":"dirx"}"#));
    // A lone `*` matches any value, even empty, but not an absent field.
    let any = format!("  sel:\n    Value: '*'\n{SEL}");
    assert!(fires(&any, r#"{"Value":""}"#));
    assert!(!fires(&any, r#"{"Other":"x"}"#));
}

#[test]
fn null_and_empty() {
    let null = format!("  sel:\n    A: 'x'\n    B: null\n{SEL}");
    assert!(fires(&null, r#"{"A":"x"}"#));
    assert!(fires(&null, r#"{"A":"x","B":null}"#));
    assert!(!fires(&null, r#"{"A":"x","B":"y"}"#));
    let empty = format!("  sel:\n    B: ''\n{SEL}");
    assert!(fires(&empty, r#"{"B":""}"#));
    assert!(!fires(&empty, r#"{"B":"y"}"#));
    assert!(!fires(&empty, r#"{"A":"y"}"#));
}

#[test]
fn integers_and_numeric_strings_compare_equal() {
    let d = format!("  sel:\n    EventID: 13\n{SEL}");
    assert!(fires(&d, r#"{"EventID":13}"#));
    assert!(fires(&d, r#"{"EventID":"13"}"#));
    assert!(!fires(&d, r#"{"EventID":130}"#));
    let s = format!("  sel:\n    EventID: '4688'\n{SEL}");
    assert!(fires(&s, r#"{"EventID":4688}"#));
    let list = format!("  sel:\n    EventID:\n      - 1031\n      - 1032\n{SEL}");
    assert!(fires(&list, r#"{"EventID":1032}"#));
    assert!(!fires(&list, r#"{"EventID":1033}"#));
}

#[test]
fn keywords() {
    let d = "  keywords:\n    - 'mimikatz'\n    - 'sekurlsa'\n  condition: keywords";
    assert!(fires(d, r#"{"Message":"ran MIMIKATZ.exe","Other":1}"#));
    assert!(fires(
        d,
        r#"{"Nested":{"deep":["x","sekurlsa::logonpasswords"]}}"#
    ));
    assert!(!fires(d, r#"{"Message":"benign"}"#));
    let all = "  keywords:\n    '|all':\n      - 'foo'\n      - 'bar'\n  condition: keywords";
    assert!(fires(all, r#"{"a":"foo","b":"bar"}"#));
    assert!(!fires(all, r#"{"a":"foo"}"#));
}

#[test]
fn windash() {
    let d = format!("  sel:\n    CommandLine|windash|contains: ' -decode '\n{SEL}");
    for v in [
        " -decode ",
        " /decode ",
        " \u{2013}decode ",
        " \u{2014}decode ",
        " \u{2015}decode ",
    ] {
        assert!(
            fires(&d, &format!(r#"{{"CommandLine":"certutil{v}x"}}"#)),
            "{v}"
        );
    }
    assert!(!fires(&d, r#"{"CommandLine":"certutil +decode x"}"#));
}

#[test]
fn base64_and_base64offset() {
    let d = format!("  sel:\n    CommandLine|base64: 'abc'\n{SEL}");
    assert!(fires(&d, r#"{"CommandLine":"YWJj"}"#));
    let o = format!("  sel:\n    CommandLine|base64offset|contains: '/bin/sh'\n{SEL}");
    // "xx/bin/sh -c" at each of the three offsets.
    for enc in ["L2Jpbi9zaCAtYw==", "eC9iaW4vc2ggLWM=", "eHgvYmluL3NoIC1j"] {
        assert!(
            fires(
                &o,
                &format!(r#"{{"CommandLine":"echo {enc} | base64 -d"}}"#)
            ),
            "{enc}"
        );
    }
    assert!(!fires(&o, r#"{"CommandLine":"echo aGVsbG8= | base64 -d"}"#));
}

#[test]
fn utf16_encodings_with_base64() {
    // "ping" as UTF-16LE, base64 at offset 0: cABpAG4AZwA=
    let d = format!("  sel:\n    CommandLine|wide|base64offset|contains: 'ping'\n{SEL}");
    assert!(fires(
        &d,
        r#"{"CommandLine":"powershell -enc cABpAG4AZwAgADEAMAAuADAALgAwAC4AMQA="}"#
    ));
    assert!(!fires(
        &d,
        r#"{"CommandLine":"powershell -enc cABvAG4AZwA="}"#
    ));
    let le = format!("  sel:\n    Data|utf16le|base64: 'a'\n{SEL}");
    assert!(fires(&le, r#"{"Data":"YQA="}"#));
    let be = format!("  sel:\n    Data|utf16be|base64: 'a'\n{SEL}");
    assert!(fires(&be, r#"{"Data":"AGE="}"#));
    let bom = format!("  sel:\n    Data|utf16|base64: 'a'\n{SEL}");
    assert!(fires(&bom, r#"{"Data":"//5hAA=="}"#));
}

#[test]
fn regex_and_flags() {
    let d = format!("  sel:\n    CommandLine|re: '\\s-[eE]nc(odedCommand)?\\s'\n{SEL}");
    assert!(fires(&d, r#"{"CommandLine":"ps -EncodedCommand abc"}"#));
    assert!(
        !fires(&d, r#"{"CommandLine":"ps -ENC abc"}"#),
        "re is case-sensitive"
    );
    let i = format!("  sel:\n    CommandLine|re|i: '\\s-enc\\s'\n{SEL}");
    assert!(fires(&i, r#"{"CommandLine":"ps -ENC abc"}"#));
    let m = format!("  sel:\n    Text|re|m: '^second$'\n{SEL}");
    assert!(fires(&m, r#"{"Text":"first\nsecond\nthird"}"#));
    let s = format!("  sel:\n    Text|re|s: 'first.second'\n{SEL}");
    assert!(fires(&s, r#"{"Text":"first\nsecond"}"#));
    let no_s = format!("  sel:\n    Text|re: 'first.second'\n{SEL}");
    assert!(!fires(&no_s, r#"{"Text":"first\nsecond"}"#));
    assert!(rejected("  sel:\n    Text|re: '(unclosed'\n  condition: sel").contains("regex"));
}

#[test]
fn cidr() {
    let d =
        format!("  sel:\n    DestinationIp|cidr:\n      - '10.0.0.0/8'\n      - 'fd00::/8'\n{SEL}");
    assert!(fires(&d, r#"{"DestinationIp":"10.20.30.40"}"#));
    assert!(fires(&d, r#"{"DestinationIp":"fd12::1"}"#));
    assert!(!fires(&d, r#"{"DestinationIp":"11.0.0.1"}"#));
    assert!(!fires(&d, r#"{"DestinationIp":"not an ip"}"#));
    assert!(rejected("  sel:\n    Ip|cidr: '10.0.0.0/33'\n  condition: sel").contains("CIDR"));
}

#[test]
fn exists() {
    let t = format!("  sel:\n    A: 'x'\n    B|exists: true\n{SEL}");
    assert!(fires(&t, r#"{"A":"x","B":""}"#));
    assert!(!fires(&t, r#"{"A":"x"}"#));
    let f = format!("  sel:\n    A: 'x'\n    B|exists: false\n{SEL}");
    assert!(fires(&f, r#"{"A":"x"}"#));
    assert!(!fires(&f, r#"{"A":"x","B":"y"}"#));
}

#[test]
fn cased() {
    let d = format!("  sel:\n    Value|cased|contains: 'SeDebug'\n{SEL}");
    assert!(fires(&d, r#"{"Value":"x SeDebugPrivilege"}"#));
    assert!(!fires(&d, r#"{"Value":"x sedebugprivilege"}"#));
    let eq = format!("  sel:\n    Value|cased: 'Abc'\n{SEL}");
    assert!(fires(&eq, r#"{"Value":"Abc"}"#));
    assert!(!fires(&eq, r#"{"Value":"abc"}"#));
}

#[test]
fn neq() {
    let d = format!("  sel:\n    A: 'x'\n    B|neq: 'y'\n{SEL}");
    assert!(fires(&d, r#"{"A":"x","B":"z"}"#));
    assert!(!fires(&d, r#"{"A":"x","B":"Y"}"#));
}

#[test]
fn numeric_comparisons() {
    for (m, v, yes, no) in [
        ("lt", 10, 9, 10),
        ("lte", 10, 10, 11),
        ("gt", 10, 11, 10),
        ("gte", 10, 10, 9),
    ] {
        let d = format!("  sel:\n    Count|{m}: {v}\n{SEL}");
        assert!(fires(&d, &format!(r#"{{"Count":{yes}}}"#)), "{m} {yes}");
        assert!(
            fires(&d, &format!(r#"{{"Count":"{yes}"}}"#)),
            "{m} string {yes}"
        );
        assert!(!fires(&d, &format!(r#"{{"Count":{no}}}"#)), "{m} {no}");
    }
    assert!(!fires(
        &format!("  sel:\n    Count|gt: 1\n{SEL}"),
        r#"{"Count":"many"}"#
    ));
}

#[test]
fn fieldref() {
    let d = format!("  sel:\n    TargetUserName|fieldref: SubjectUserName\n{SEL}");
    assert!(fires(
        &d,
        r#"{"TargetUserName":"Bob","SubjectUserName":"bob"}"#
    ));
    assert!(!fires(
        &d,
        r#"{"TargetUserName":"bob","SubjectUserName":"alice"}"#
    ));
    assert!(!fires(&d, r#"{"TargetUserName":"bob"}"#));
    let c = format!("  sel:\n    CommandLine|fieldref|contains: User\n{SEL}");
    assert!(fires(&c, r#"{"CommandLine":"runas bob x","User":"BOB"}"#));
    let s = format!("  sel:\n    A|fieldref|startswith: B\n{SEL}");
    assert!(fires(&s, r#"{"A":"prefix-rest","B":"prefix"}"#));
    let e = format!("  sel:\n    A|fieldref|endswith: B\n{SEL}");
    assert!(fires(&e, r#"{"A":"rest-suffix","B":"suffix"}"#));
    assert!(!fires(&e, r#"{"A":"suffix-rest","B":"suffix"}"#));
    // Lists: any value of one side against any of the other, each folded.
    assert!(fires(
        &d,
        r#"{"TargetUserName":["x","Bob"],"SubjectUserName":["BOB","z"]}"#
    ));
    assert!(!fires(
        &d,
        r#"{"TargetUserName":["x","Bob"],"SubjectUserName":["y","z"]}"#
    ));
    let cased = format!("  sel:\n    TargetUserName|fieldref|cased: SubjectUserName\n{SEL}");
    assert!(fires(
        &cased,
        r#"{"TargetUserName":"Bob","SubjectUserName":"Bob"}"#
    ));
    assert!(!fires(
        &cased,
        r#"{"TargetUserName":"Bob","SubjectUserName":"bob"}"#
    ));
}

#[test]
fn expand_placeholders() {
    let d = format!("  sel:\n    ComputerName|expand: '%DomainControllers%'\n{SEL}");
    assert!(rejected(&d).contains("%DomainControllers%"));
    let b = builder().placeholder("DomainControllers", vec!["DC01".into(), "DC0?".into()]);
    assert!(fires_with(b.clone(), &d, r#"{"ComputerName":"dc01"}"#));
    assert!(fires_with(b.clone(), &d, r#"{"ComputerName":"DC07"}"#));
    assert!(!fires_with(b, &d, r#"{"ComputerName":"WS01"}"#));
    let mixed = format!("  sel:\n    Path|expand|startswith: 'C:\\%dir%\\'\n{SEL}");
    let b = builder().placeholder("dir", vec!["Tools".into()]);
    assert!(fires_with(b, &mixed, r#"{"Path":"C:\\Tools\\x.exe"}"#));
}

#[test]
fn time_parts() {
    let d = format!("  sel:\n    UtcTime|hour: 22\n{SEL}");
    assert!(fires(&d, r#"{"UtcTime":"2020-06-09 22:50:54.631"}"#));
    assert!(!fires(&d, r#"{"UtcTime":"2020-06-09 21:50:54.631"}"#));
    let m = format!("  sel:\n    UtcTime|month: 6\n    UtcTime|year: 2020\n    UtcTime|day: 9\n    UtcTime|minute: 50\n    UtcTime|week: 24\n{SEL}");
    assert!(fires(&m, r#"{"UtcTime":"2020-06-09T22:50:54Z"}"#));
}

#[test]
fn unknown_modifier_is_rejected() {
    assert!(rejected("  sel:\n    A|sometimes: x\n  condition: sel")
        .contains("unknown modifier `sometimes`"));
    assert!(rejected("  sel:\n    A|contains|endswith: x\n  condition: sel").contains("exclude"));
    assert!(rejected("  sel:\n    A|base64: 'x*'\n  condition: sel").contains("wildcards"));
}

#[test]
fn conditions() {
    let sels = "  sel_a:\n    A: '1'\n  sel_b:\n    B: '1'\n  filter_c:\n    C: '1'\n  _private:\n    D: '1'\n";
    let cases: &[(&str, &str, bool)] = &[
        ("sel_a and sel_b", r#"{"A":"1","B":"1"}"#, true),
        ("sel_a and sel_b", r#"{"A":"1"}"#, false),
        ("sel_a or sel_b", r#"{"B":"1"}"#, true),
        ("sel_a and not filter_c", r#"{"A":"1","C":"1"}"#, false),
        ("sel_a and not filter_c", r#"{"A":"1"}"#, true),
        ("not sel_a", r#"{"Z":"1"}"#, true),
        ("(sel_a or sel_b) and not filter_c", r#"{"B":"1"}"#, true),
        ("sel_a or sel_b and filter_c", r#"{"A":"1"}"#, true),
        ("(sel_a or sel_b) and filter_c", r#"{"A":"1"}"#, false),
        ("1 of sel_*", r#"{"B":"1"}"#, true),
        ("any of sel_*", r#"{"B":"1"}"#, true),
        ("all of sel_*", r#"{"B":"1"}"#, false),
        ("all of sel_*", r#"{"A":"1","B":"1"}"#, true),
        ("1 of them", r#"{"C":"1"}"#, true),
        ("1 of them", r#"{"D":"1"}"#, false),
        ("all of them", r#"{"A":"1","B":"1","C":"1"}"#, true),
        ("2 of them", r#"{"A":"1","C":"1"}"#, true),
        ("2 of them", r#"{"A":"1"}"#, false),
        (
            "1 of sel_* and not 1 of filter_*",
            r#"{"A":"1","C":"1"}"#,
            false,
        ),
        ("_private", r#"{"D":"1"}"#, true),
    ];
    for (cond, rec, want) in cases {
        let d = format!("{sels}  condition: {cond}");
        assert_eq!(fires(&d, rec), *want, "{cond} on {rec}");
    }
    // A list of conditions is their OR.
    let list = format!("{sels}  condition:\n    - sel_a\n    - sel_b");
    assert!(fires(&list, r#"{"B":"1"}"#));
    assert!(rejected("  sel:\n    A: 1\n  condition: sel and missing")
        .contains("unknown selection `missing`"));
    assert!(
        rejected("  sel:\n    A: 1\n  condition: 1 of nothing_*").contains("matches no selection")
    );
    assert!(rejected("  sel:\n    A: 1\n  condition: sel | count() > 5").contains("aggregation"));
}

#[test]
fn filter_documents_apply_to_named_rules() {
    let text = "title: Rule\nid: r1\nlogsource: {product: test}\ndetection:\n  sel:\n    Image|endswith: '\\cmd.exe'\n  condition: sel\n---\ntitle: Not for admins\nlogsource: {product: test}\nfilter:\n  rules: [r1]\n  sel:\n    User: admin\n  condition: not sel\n";
    let mut set = RuleSet::default();
    set.add_str(text, Path::new("f.yml"));
    assert_eq!((set.rules.len(), set.filters.len()), (1, 1));
    let (engine, report) = builder().build(&set).unwrap();
    assert_eq!(report.filters_applied, 1);
    let mut s = engine.scratch();
    assert_eq!(
        engine
            .match_json(&mut s, br#"{"Image":"C:\\cmd.exe","User":"bob"}"#)
            .unwrap()
            .len(),
        1
    );
    assert!(engine
        .match_json(&mut s, br#"{"Image":"C:\\cmd.exe","User":"admin"}"#)
        .unwrap()
        .is_empty());
}

#[test]
fn correlation_documents_are_reported_not_loaded() {
    let text = "title: Many failures\nid: c1\ncorrelation:\n  type: event_count\n  rules: [r1]\n  timespan: 5m\n";
    let mut set = RuleSet::default();
    set.add_str(text, Path::new("c.yml"));
    let (engine, report) = EngineBuilder::new().build(&set).unwrap();
    assert_eq!(engine.rule_count(), 0);
    assert_eq!(report.unsupported.len(), 1);
    assert!(report.unsupported[0].reason.contains("correlation"));
}

#[test]
fn keywords_survive_json_unicode_escapes() {
    // The raw-bytes prefilter must not hide a keyword written with `\u` escapes.
    let d = "  keywords:\n    - 'mimikatz'\n  condition: keywords";
    assert!(fires(d, r#"{"Message":"ran \u006dimikatz.exe"}"#));
    assert!(fires(d, r#"{"Message":"ran MimiKatz.exe"}"#));
    assert!(!fires(d, r#"{"Message":"ran \u006dimi.exe"}"#));
    // Values fold by Unicode's lowercase, where the Kelvin sign is a `k` and
    // U+0130 an `i` and a dot: written raw or escaped, the prefilter must let
    // them through to the scan.
    let d = "  keywords:\n    - 'kerberos::ptt'\n    - 'eo.oe.kiwi'\n  condition: keywords";
    assert!(fires(d, "{\"Message\":\"\u{212a}ERBEROS::PTT\"}"));
    assert!(fires(d, r#"{"Message":"\u212Aerberos::ptt"}"#));
    assert!(fires(d, "{\"Message\":\"EO.OE.KIW\u{130}\"}"));
    assert!(!fires(d, "{\"Message\":\"EO.OE.K\u{130}WI\"}"));
}

#[test]
fn scoped_keyword_rules_fire_only_in_their_logsource() {
    let text = "title: k\nid: k1\nlogsource: {product: windows, service: security}\ndetection:\n  keywords:\n    - 'ESX Admins'\n  condition: keywords\n";
    let engine = windows_engine(text);
    let mut s = engine.scratch();
    let sec = r#"{"EventID":4728,"Channel":"Security","TargetUserName":"ESX Admins"}"#;
    assert_eq!(titles(&engine, &mut s, sec), ["k"]);
    let sysmon = r#"{"EventID":1,"Channel":"Microsoft-Windows-Sysmon/Operational","CommandLine":"net group \"ESX Admins\""}"#;
    assert!(titles(&engine, &mut s, sysmon).is_empty());
}

/// The keyword scan is skipped when no keyword outcome can change a rule
/// (`keywords.rs`); results must be what a full scan gives, under `not` too.
#[test]
fn keyword_gate_follows_the_rest_of_the_detection() {
    let text = "title: esx\nid: k1\nlogsource: {product: windows, service: security}\ndetection:\n  sel:\n    EventID: 4728\n  keywords:\n    - 'ESX Admins'\n  condition: sel and keywords\n---\ntitle: not-esx\nid: k2\nlogsource: {product: windows, service: security}\ndetection:\n  sel:\n    EventID: 4729\n  keywords:\n    - 'ESX Admins'\n  condition: sel and not keywords\n";
    let engine = windows_engine(text);
    let mut s = engine.scratch();
    let mut titles = |event: u32, user: &str| {
        let rec =
            format!(r#"{{"EventID":{event},"Channel":"Security","TargetUserName":"{user}"}}"#);
        titles(&engine, &mut s, &rec)
    };
    assert_eq!(titles(4728, "ESX Admins"), ["esx"]);
    assert!(titles(4728, "Domain Admins").is_empty());
    assert!(titles(4730, "ESX Admins").is_empty());
    assert_eq!(titles(4729, "Domain Admins"), ["not-esx"]);
    assert!(
        titles(4729, "ESX Admins").is_empty(),
        "`not keywords` needs the scan"
    );
}

#[test]
fn fields_of_other_logsources_do_not_change_results() {
    // Field gates skip `Message` on records outside the Application log; the
    // rule must still fire inside it, and `null` tests must still hold.
    let text = "title: a\nid: a1\nlogsource: {product: windows, service: application}\ndetection:\n  sel:\n    Message|contains: AteraAgent\n  condition: sel\n---\ntitle: b\nid: b1\nlogsource: {product: windows, service: security}\ndetection:\n  sel:\n    EventID: 4624\n    TargetUserName: null\n  condition: sel\n";
    let engine = windows_engine(text);
    let mut s = engine.scratch();
    let mut titles = |rec: &str| titles(&engine, &mut s, rec);
    assert_eq!(
        titles(r#"{"Channel":"Application","Message":"Installing AteraAgent"}"#),
        ["a"]
    );
    assert!(
        titles(r#"{"Channel":"Microsoft-Windows-Sysmon/Operational","Message":"AteraAgent"}"#)
            .is_empty()
    );
    assert_eq!(titles(r#"{"Channel":"Security","EventID":4624}"#), ["b"]);
    assert!(titles(r#"{"Channel":"Security","EventID":4624,"TargetUserName":"bob"}"#).is_empty());
    // Channel after the fields it gates (key order must not matter).
    assert_eq!(
        titles(r#"{"Message":"AteraAgent","Channel":"application"}"#),
        ["a"]
    );
}

/// Repeated values replay their verdict from the scratch space's memo: the
/// verdict must stay per field and per value, including list elements whose
/// atoms an earlier element of the same record already set.
#[test]
fn repeated_values_keep_their_verdicts() {
    let text = "title: t\nid: memo-rule\nlogsource: {product: test}\ndetection:\n  \
                sel:\n    CommandLine|contains: 'sekurlsa::logonpasswords'\n  \
                other:\n    ParentCommandLine|contains: 'never-there'\n  \
                condition: sel or other\n";
    let mut set = RuleSet::default();
    set.add_str(text, Path::new("t.yml"));
    let (engine, _) = builder()
        .profiles(sigmaline_core::ProfileSet::by_name("flat").unwrap())
        .build(&set)
        .unwrap();
    let mut s = engine.scratch();
    let mut fires = |r: &str| !engine.match_json(&mut s, r.as_bytes()).unwrap().is_empty();
    let bad1 = r#""mimikatz.exe sekurlsa::logonpasswords exit""#;
    let bad2 = r#""mimikatz.exe privilege::debug sekurlsa::logonpasswords""#;
    let benign = r#""C:\\Program Files\\Contoso\\agent.exe --sync""#;
    for _ in 0..3 {
        assert!(fires(&format!(r#"{{"CommandLine":{bad1}}}"#)));
        assert!(!fires(&format!(r#"{{"CommandLine":{benign}}}"#)));
        // The same text in another field: that field's own verdict.
        assert!(!fires(&format!(r#"{{"ParentCommandLine":{bad1}}}"#)));
        assert!(fires(&format!(r#"{{"CommandLine":[{benign},{bad1}]}}"#)));
        // bad2 is first searched after bad1 set the atom in this record.
        assert!(fires(&format!(r#"{{"CommandLine":[{bad1},{bad2}]}}"#)));
        assert!(fires(&format!(r#"{{"CommandLine":{bad2}}}"#)));
    }
}
