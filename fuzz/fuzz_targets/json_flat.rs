//! Any bytes through the flat JSON scanner, against simd-json: a record
//! the scanner takes is one simd-json takes, with the same root keys and
//! values in the same order (escaped strings unescaped, floats and nested
//! values as simd-json reads their text).
#![no_main]

use libfuzzer_sys::fuzz_target;
use sigmaline_core::json_flat::{unescape, Scanner, Value};
use sigmaline_core::record::{Doc, Scalar, TapeDoc};
use sigmaline_core::shape::all_strings;

#[derive(Debug, PartialEq)]
enum Tok {
    Str(Vec<u8>),
    Int(i64),
    UInt(u64),
    Float(u64),
    Bool(bool),
    Null,
    /// A nested value's strings.
    Nested(Vec<Vec<u8>>),
}

fn tok(s: Scalar<'_>) -> Tok {
    match s {
        Scalar::Str(b) => Tok::Str(b.to_vec()),
        Scalar::Escaped(raw) => {
            let mut out = Vec::new();
            unescape(raw, &mut out);
            Tok::Str(out)
        }
        Scalar::Int(i) => Tok::Int(i),
        Scalar::UInt(u) => Tok::UInt(u),
        Scalar::Float(f) => Tok::Float(f.to_bits()),
        Scalar::Bool(b) => Tok::Bool(b),
        Scalar::Null => Tok::Null,
    }
}

/// How simd-json reads a value.
fn simd(d: TapeDoc<'_, '_>) -> Tok {
    match d.scalar() {
        Some(s) => tok(s),
        None => {
            let mut all = Vec::new();
            all_strings(d, &mut |b| all.push(b.to_vec()));
            Tok::Nested(all)
        }
    }
}

/// simd-json's reading of a text the scanner kept whole.
fn reparse(text: &[u8]) -> Tok {
    let mut buf = text.to_vec();
    let tape = simd_json::to_tape(&mut buf).expect("the scanner kept an invalid value");
    simd(TapeDoc(&tape.0))
}

fuzz_target!(|data: &[u8]| {
    let mut ours = Vec::new();
    let taken = Scanner::new().scan(data, |k, v| {
        let t = match v {
            Value::Scalar(s) => tok(s),
            Value::Escaped(raw) => tok(Scalar::Escaped(raw)),
            Value::Float(text) | Value::Nested(text) => reparse(text),
        };
        ours.push((k.to_vec(), t));
    });
    if taken.is_none() {
        return;
    }
    let mut buf = data.to_vec();
    let tape = simd_json::to_tape(&mut buf).expect("the scanner took a record simd-json refuses");
    let mut theirs = Vec::new();
    let object = TapeDoc(&tape.0).entries(|k, v| theirs.push((k.to_vec(), simd(v))));
    assert!(object, "the scanner took a record that is not an object");
    assert_eq!(ours, theirs);
});
