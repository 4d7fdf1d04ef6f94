//! The JSON paths give one answer: a record the flat scanner reads (its
//! escaped strings unescaped only when fed, and known to the memo by
//! their raw bytes) matches as the same record parsed by serde_json and
//! walked as a tree does, and so does a record the scanner leaves to
//! simd-json. One scratch serves every record, twice over, so the second
//! pass replays values from the memo.

mod common;

use common::titles;
use sigmaline_core::Engine;

fn engine() -> Engine {
    common::engine(&[
        ("evil", "sel:\n    Image|endswith: '\\evil.exe'", "sel"),
        (
            "quoted",
            "sel:\n    CommandLine|contains: '\"quoted\"'",
            "sel",
        ),
        ("tab", "sel:\n    Message|contains: \"a\\tb\"", "sel"),
        ("same-user", "sel:\n    User|fieldref: TargetUser", "sel"),
        ("one", "sel:\n    EventID: 1", "sel"),
        ("keyword", "keywords:\n    - mimikatz", "keywords"),
        ("slash", "sel:\n    Image|contains: 'a/b'", "sel"),
    ])
}

#[test]
fn flat_records_match_as_their_parsed_trees_do() {
    let records: [(&str, &[&str]); 17] = [
        (
            r#"{"Image":"C:\\x\\evil.exe","EventID":1}"#,
            &["evil", "one"],
        ),
        (r#"{"CommandLine":"run \"quoted\" now"}"#, &["quoted"]),
        // An escaped quote after an escaped backslash: `x\"quoted\"`.
        (r#"{"CommandLine":"x\\\"quoted\\\""}"#, &[]),
        (r#"{"Message":"one\r\ntwo a\tb"}"#, &["tab"]),
        (r#"{"Message":"one\r\ntwo a\\tb"}"#, &[]),
        (
            r#"{"User":"DOM\\alice","TargetUser":"DOM\\alice"}"#,
            &["same-user"],
        ),
        (r#"{"User":"DOM\\alice","TargetUser":"DOM\\bob"}"#, &[]),
        // Keywords are searched in nested values and escaped strings too.
        (
            r#"{"tags":["beats",{"x":"mimikatz"}],"Image":"C:\\x\\evil.exe"}"#,
            &["evil", "keyword"],
        ),
        (r#"{"Image":"C:\\mimikatz.exe"}"#, &["keyword"]),
        // A keyword behind a `\u` escape (simd-json's record).
        (r#"{"Image":"C:\\mimi\u006batz.exe"}"#, &["keyword"]),
        // Left to simd-json: a `\u` escape, a float and a list under read
        // keys.
        (r#"{"Image":"C:\\x\\evil\u002eexe"}"#, &["evil"]),
        (
            r#"{"EventID":1.0,"Image":"C:\\x\\evil.exe"}"#,
            &["evil", "one"],
        ),
        (r#"{"Image":["C:\\a.exe","C:\\x\\evil.exe"]}"#, &["evil"]),
        // A 19-digit integer and a float under keys no rule reads.
        (
            r#"{"Keywords":-9223372036854775808,"Lat":-0.25,"EventID":1}"#,
            &["one"],
        ),
        // Another profile's shape, then flat again.
        (r#"{"Event":{"System":{"EventID":1}}}"#, &["one"]),
        (
            r#"{"EventID":1,"Image":"C:\\x\\evil.exe"}"#,
            &["evil", "one"],
        ),
        (" {\"EventID\" : 1 }  \r\n", &["one"]),
    ];
    let e = engine();
    let mut s = e.scratch();
    for pass in 0..2 {
        for (i, (record, want)) in records.iter().enumerate() {
            let got = titles(&e, e.match_json(&mut s, record.as_bytes()).unwrap());
            assert_eq!(got, *want, "pass {pass}, record {i}: {record}");
            let tree: serde_json::Value = serde_json::from_str(record).unwrap();
            let from_tree = titles(&e, e.match_value(&mut s, &tree).unwrap());
            assert_eq!(
                from_tree, got,
                "pass {pass}, record {i}, as a tree: {record}"
            );
        }
    }
}

#[test]
fn an_escaped_value_and_a_text_with_its_bytes_are_not_confused_in_the_memo() {
    // `a\/b` is escaped JSON for `a/b`, and a msgpack string's text of
    // its own: only the first contains `a/b`. Either one first in the
    // memo must not answer for the other.
    let e = engine();
    let json = br#"{"Image":"a\/b"}"#;
    let mut mp = Vec::new();
    rmp::encode::write_map_len(&mut mp, 1).unwrap();
    rmp::encode::write_str(&mut mp, "Image").unwrap();
    rmp::encode::write_str(&mut mp, r"a\/b").unwrap();
    for json_first in [true, false] {
        let mut s = e.scratch();
        for i in 0..4 {
            if (i % 2 == 0) == json_first {
                assert_eq!(titles(&e, e.match_json(&mut s, json).unwrap()), ["slash"]);
            } else {
                assert!(e.match_msgpack(&mut s, &mp).unwrap().is_empty());
            }
        }
    }
}

/// A scratch keeps per-record marks between records and clears them
/// every few hundred records: a value one record set must never count for
/// a later one, and a rule one record fired must fire again in a later
/// one, however many records lie between them.
#[test]
fn one_scratch_forgets_each_record_across_hundreds_of_records() {
    let e = common::engine(&[("both", "a: {A: foo}\n  b: {B: bar}", "a and b")]);
    let mut s = e.scratch();
    let mut fires = |record: &[u8]| !e.match_json(&mut s, record).unwrap().is_empty();
    for (first, then) in [
        (r#"{"A":"foo"}"#, r#"{"B":"bar"}"#),
        (r#"{"B":"bar"}"#, r#"{"A":"foo"}"#),
    ] {
        assert!(!fires(first.as_bytes()));
        for n in 1..=600 {
            assert!(
                !fires(then.as_bytes()),
                "{then} fired {n} records after {first}"
            );
        }
    }
    assert!(fires(br#"{"A":"foo","B":"bar"}"#));
    for gap in 0..600 {
        for _ in 0..gap {
            assert!(!fires(br#"{"C":1}"#));
        }
        assert!(fires(br#"{"A":"foo","B":"bar"}"#), "after a gap of {gap}");
    }
}
