//! The msgpack paths give the answers the JSON path gives for the same
//! record, whichever way the record is walked: a flat record in the pass
//! that validates it, a record of another profile (a `detect` key first,
//! last or nested) indexed and walked after, and records JSON cannot
//! express (keys that are not strings) or expresses differently
//! (duplicate keys). One scratch serves every record in turn, as a
//! shipper's thread does.

mod common;

use common::titles;
use sigmaline_core::Engine;

/// A record value: enough of msgpack to build both encodings.
enum V {
    S(&'static str),
    I(i64),
    A(Vec<V>),
    M(Vec<(K, V)>),
}

/// A map key; `Int` keys exist only in msgpack (the JSON text drops them).
enum K {
    S(&'static str),
    Int(i64),
}

fn json(v: &V, out: &mut String) {
    match v {
        V::S(s) => out.push_str(&serde_json::to_string(s).unwrap()),
        V::I(i) => out.push_str(&i.to_string()),
        V::A(items) => {
            out.push('[');
            for (i, x) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                json(x, out);
            }
            out.push(']');
        }
        V::M(entries) => {
            out.push('{');
            let mut first = true;
            for (k, x) in entries {
                let K::S(k) = k else { continue };
                if !first {
                    out.push(',');
                }
                first = false;
                out.push_str(&serde_json::to_string(k).unwrap());
                out.push(':');
                json(x, out);
            }
            out.push('}');
        }
    }
}

fn msgpack(v: &V, out: &mut Vec<u8>) {
    match v {
        V::S(s) => rmp::encode::write_str(out, s).unwrap(),
        V::I(i) => {
            rmp::encode::write_sint(out, *i).unwrap();
        }
        V::A(items) => {
            rmp::encode::write_array_len(out, items.len() as u32).unwrap();
            items.iter().for_each(|x| msgpack(x, out));
        }
        V::M(entries) => {
            rmp::encode::write_map_len(out, entries.len() as u32).unwrap();
            for (k, x) in entries {
                match k {
                    K::S(k) => rmp::encode::write_str(out, k).unwrap(),
                    K::Int(i) => {
                        rmp::encode::write_sint(out, *i).unwrap();
                    }
                }
                msgpack(x, out);
            }
        }
    }
}

fn engine() -> Engine {
    common::engine(&[
        ("evil", "sel:\n    Image|endswith: '\\evil.exe'", "sel"),
        ("whoami", "sel:\n    CommandLine|contains: whoami", "sel"),
        ("one", "sel:\n    EventID: 1", "sel"),
    ])
}

/// A string key.
fn k(s: &'static str) -> K {
    K::S(s)
}

#[test]
fn msgpack_answers_as_json_does() {
    let evil = || V::S("C:\\x\\evil.exe");
    let records: Vec<(V, &[&str])> = vec![
        // Flat.
        (
            V::M(vec![(k("Image"), evil()), (k("EventID"), V::I(1))]),
            &["evil", "one"],
        ),
        (V::M(vec![(k("Other"), V::S("x"))]), &[]),
        (V::M(vec![]), &[]),
        // Flat, with lists and a nested map no rule reads.
        (
            V::M(vec![
                (k("CommandLine"), V::A(vec![V::S("a"), V::S("whoami /all")])),
                (k("Nested"), V::M(vec![(k("Image"), evil())])),
            ]),
            &["whoami"],
        ),
        // Keys JSON has no way to say: dropped from the JSON text.
        (
            V::M(vec![(K::Int(7), V::S("x")), (k("Image"), evil())]),
            &["evil"],
        ),
        // Duplicate keys: every value is read (simd-json keeps both too).
        (
            V::M(vec![(k("Image"), V::S("C:\\ok.exe")), (k("Image"), evil())]),
            &["evil"],
        ),
        // evtx_dump shape: the detect key first.
        (
            V::M(vec![(
                k("Event"),
                V::M(vec![
                    (k("EventData"), V::M(vec![(k("Image"), evil())])),
                    (k("System"), V::M(vec![(k("EventID"), V::I(1))])),
                ]),
            )]),
            &["evil", "one"],
        ),
        // Winlogbeat shape: the detect key last, after root fields that a
        // flat walk would have read.
        (
            V::M(vec![
                (k("Image"), evil()),
                (k("CommandLine"), V::S("whoami")),
                (
                    k("winlog"),
                    V::M(vec![(
                        k("event_data"),
                        V::M(vec![(k("Image"), V::S("C:\\ok.exe"))]),
                    )]),
                ),
            ]),
            &[],
        ),
        // Flat again after records of other profiles (which a scratch
        // then walks the general way first).
        (
            V::M(vec![
                (k("CommandLine"), V::S("whoami")),
                (k("EventID"), V::I(1)),
            ]),
            &["whoami", "one"],
        ),
    ];
    let e = engine();
    let mut s = e.scratch();
    for (i, (record, want)) in records.iter().enumerate() {
        let mut text = String::new();
        json(record, &mut text);
        let from_json = titles(&e, e.match_json(&mut s, text.as_bytes()).unwrap());
        assert_eq!(from_json, *want, "record {i}: {text}");
        let mut mp = Vec::new();
        msgpack(record, &mut mp);
        let from_mp = titles(&e, e.match_msgpack(&mut s, &mp).unwrap());
        assert_eq!(from_mp, from_json, "record {i}, msgpack: {text}");
        // As a chunk event's body: the map, then whatever follows.
        let mut body = mp.clone();
        body.extend_from_slice(&[0x92, 0x01, 0xc0]);
        let (len, m) = e.match_msgpack_prefix(&mut s, &body, 1).unwrap();
        assert_eq!(len, mp.len(), "record {i}");
        assert_eq!(titles(&e, m), from_json, "record {i}, prefix: {text}");
    }
}

#[test]
fn a_map_with_bytes_after_it_is_refused_and_reports_no_matches() {
    let e = engine();
    let mut s = e.scratch();
    let mut mp = Vec::new();
    msgpack(&V::M(vec![(k("EventID"), V::I(1))]), &mut mp);
    assert_eq!(e.match_msgpack(&mut s, &mp).unwrap().len(), 1);
    mp.push(0xc0);
    assert!(e.match_msgpack(&mut s, &mp).is_err());
    assert!(
        e.last_matches(&s).is_empty(),
        "the refused record's matches are not reported"
    );
}
