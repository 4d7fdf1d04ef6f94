//! The limits that keep hostile records and oversized configuration from
//! costing more than they should: each has a default, a setting and a
//! clear outcome.

use sigmaline_core::{EngineBuilder, RecordError, RuleSet, Settings};

fn seed_rules() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/rules")
}

#[test]
fn records_over_max_record_bytes_are_not_read() {
    let set = RuleSet::load_paths(&[seed_rules()]).unwrap();
    let (e, _) = EngineBuilder::new()
        .max_record_bytes(64)
        .build(&set)
        .unwrap();
    let mut s = e.scratch();
    let small = br#"{"EventID":1}"#;
    assert!(e.match_json(&mut s, small).is_ok());
    let big = format!(r#"{{"EventID":1,"Pad":"{}"}}"#, "x".repeat(100));
    let mut out = Vec::new();
    match e.filter_json(&mut s, big.as_bytes(), &mut out) {
        Err(RecordError::TooLarge { len, max: 64 }) => assert_eq!(len, big.len()),
        other => panic!("{other:?}"),
    }
    assert!(
        out.is_empty(),
        "the host passes the record on, not the engine"
    );
    let mut mp = vec![0x81, 0xa3, b'P', b'a', b'd', 0xda, 0, 100];
    mp.extend(std::iter::repeat_n(b'x', 100));
    assert!(matches!(
        e.filter_msgpack(&mut s, &mp, &mut out),
        Err(RecordError::TooLarge { .. })
    ));
    // A chunk event's body: its size is known once the map is measured,
    // whatever follows it.
    let mut chunk = mp.clone();
    chunk.extend_from_slice(&[0x92, 0x01, 0x80]);
    match e.match_msgpack_prefix(&mut s, &chunk, 1) {
        Err(RecordError::TooLarge { len, max: 64 }) => assert_eq!(len, mp.len()),
        other => panic!("{other:?}"),
    }
    // Truncated past the limit: invalid, not too large.
    assert!(matches!(
        e.match_msgpack_prefix(&mut s, &mp[..mp.len() - 1], 1),
        Err(RecordError::Msgpack(_))
    ));
    // Exactly at the limit: read.
    let mut at = vec![0x81, 0xa3, b'P', b'a', b'd', 0xd9, 57];
    at.extend(std::iter::repeat_n(b'x', 57));
    assert_eq!(at.len(), 64);
    let mut tail = at.clone();
    tail.extend_from_slice(&chunk);
    assert_eq!(e.match_msgpack_prefix(&mut s, &tail, 1).unwrap().0, 64);
    assert!(e.match_msgpack(&mut s, &at).is_ok());
}

#[test]
fn the_default_record_limit_is_one_mebibyte() {
    let set = RuleSet::load_paths(&[seed_rules()]).unwrap();
    let (e, _) = EngineBuilder::new().build(&set).unwrap();
    let mut s = e.scratch();
    let pad = "x".repeat((1 << 20) - 40);
    assert!(e
        .match_json(&mut s, format!(r#"{{"Pad":"{pad}"}}"#).as_bytes())
        .is_ok());
    let pad = "x".repeat(1 << 20);
    assert!(e
        .match_json(&mut s, format!(r#"{{"Pad":"{pad}"}}"#).as_bytes())
        .is_err());
}

#[test]
fn rule_files_over_the_limit_are_rejected_and_the_rest_load() {
    let dir = std::env::temp_dir().join(format!("sigmaline-limits-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for f in std::fs::read_dir(seed_rules()).unwrap() {
        let f = f.unwrap().path();
        std::fs::copy(&f, dir.join(f.file_name().unwrap())).unwrap();
    }
    let huge = format!(
        "title: huge\nlogsource: {{product: windows}}\ndetection:\n  sel:\n    Image: x\n  condition: sel\n# {}\n",
        "y".repeat(4096)
    );
    std::fs::write(dir.join("huge.yml"), huge).unwrap();
    let set = RuleSet::load_paths_limited(&[&dir], 4000).unwrap();
    assert_eq!(set.rules.len(), 2, "the seed rules still load");
    assert_eq!(set.rejected.len(), 1);
    let r = &set.rejected[0];
    assert!(r.source.path.ends_with("huge.yml"));
    assert!(r.reason.contains("max_rule_file_bytes"), "{}", r.reason);

    let mut st = Settings::default();
    st.set("rules", dir.to_str().unwrap()).unwrap();
    st.set("max_rule_file_bytes", "4000").unwrap();
    assert_eq!(st.build().unwrap().0.rule_count(), 2);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn sizes_take_suffixes_and_refuse_nonsense() {
    let mut st = Settings::default();
    st.set("max_record_bytes", "512K").unwrap();
    assert_eq!(st.max_record_bytes, 512 << 10);
    st.set("max_record_bytes", "2m").unwrap();
    assert_eq!(st.max_record_bytes, 2 << 20);
    for bad in ["", "0", "-1", "1T", "lots"] {
        let e = st.set("max_record_bytes", bad).unwrap_err();
        assert!(e.contains("max_record_bytes"), "{e}");
    }
}

#[test]
fn a_rule_set_that_compiles_to_nothing_is_an_error_with_reasons() {
    let dir = std::env::temp_dir().join(format!("sigmaline-empty-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("bad.yml"),
        "title: bad\nid: bad-rule\nlogsource: {product: windows}\ndetection:\n  sel:\n    Image|re: '('\n  condition: sel\n",
    )
    .unwrap();
    let mut st = Settings::default();
    st.set("rules", dir.to_str().unwrap()).unwrap();
    let Err(e) = st.build() else {
        panic!("a rule set where nothing compiles must not build")
    };
    assert!(e.contains("no rule could be compiled"), "{e}");
    assert!(e.contains("bad.yml") && e.contains("invalid regex"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}
