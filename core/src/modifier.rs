//! Value modifiers: turning one rule value into the strings (or other tests)
//! a field is compared against.
//!
//! Transformations (`windash`, `base64`, `base64offset`, `wide`...) run left
//! to right and may turn one value into several; the position modifiers
//! (`contains`, `startswith`, `endswith`) only add wildcards, so everything
//! ends as a [`SigmaStr`] that the engine classifies once.

use base64::Engine as _;

use crate::pattern::{SigmaStr, Tok};

/// A transformation applied to string values before matching.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transform {
    Windash,
    Base64,
    Base64Offset,
    Utf16Le,
    Utf16Be,
    /// UTF-16 little endian with a byte-order mark.
    Utf16Bom,
}

/// Most variants one value may expand to (windash on many dashes multiplies).
pub const MAX_EXPANSION: usize = 4096;

const DASHES: [&str; 5] = ["-", "/", "\u{2013}", "\u{2014}", "\u{2015}"];

/// Applies one transformation to every value.
pub fn apply(t: Transform, values: Vec<SigmaStr>) -> Result<Vec<SigmaStr>, String> {
    let mut out = Vec::new();
    for v in values {
        match t {
            Transform::Windash => out.extend(windash(&v)?),
            Transform::Base64 | Transform::Base64Offset => {
                let lit = v
                    .as_literal()
                    .ok_or("base64 cannot encode a value with wildcards")?;
                if t == Transform::Base64 {
                    let enc = base64::engine::general_purpose::STANDARD.encode(lit);
                    out.push(SigmaStr::literal(enc.as_bytes()));
                } else {
                    out.extend(
                        base64_offsets(lit)
                            .into_iter()
                            .map(|s| SigmaStr::literal(s.as_bytes())),
                    );
                }
            }
            Transform::Utf16Le => out.push(v.map_literals(|b| utf16(b, false, false))),
            Transform::Utf16Be => out.push(v.map_literals(|b| utf16(b, true, false))),
            Transform::Utf16Bom => {
                let mut first = true;
                out.push(v.map_literals(|b| {
                    let bom = first;
                    first = false;
                    utf16(b, false, bom)
                }))
            }
        }
        if out.len() > MAX_EXPANSION {
            return Err(format!(
                "modifiers expand a value to more than {MAX_EXPANSION} variants"
            ));
        }
    }
    Ok(out)
}

fn utf16(b: &[u8], be: bool, bom: bool) -> Vec<u8> {
    let s = String::from_utf8_lossy(b);
    let mut out = Vec::with_capacity(b.len() * 2 + 2);
    if bom {
        out.extend_from_slice(&[0xff, 0xfe]);
    }
    for u in s.encode_utf16() {
        out.extend_from_slice(&if be { u.to_be_bytes() } else { u.to_le_bytes() });
    }
    out
}

/// The three encodings of a value at byte offsets 0, 1 and 2 of a base64
/// stream, with the characters that depend on neighbouring bytes trimmed
/// (pySigma's `base64offset`).
pub fn base64_offsets(val: &[u8]) -> Vec<String> {
    const START: [usize; 3] = [0, 2, 3];
    const END: [usize; 3] = [0, 3, 2];
    (0..3)
        .map(|i| {
            let mut padded = vec![b' '; i];
            padded.extend_from_slice(val);
            let enc = base64::engine::general_purpose::STANDARD.encode(&padded);
            let end = enc.len() - END[(val.len() + i) % 3];
            enc[START[i].min(end)..end].to_string()
        })
        .collect()
}

/// Every dash or slash that starts a word (after a non-word character, before
/// a word character) may be any of `-`, `/`, en dash, em dash, horizontal bar.
fn windash(v: &SigmaStr) -> Result<Vec<SigmaStr>, String> {
    let mut variants: Vec<SigmaStr> = vec![SigmaStr::default()];
    let toks = v.toks();
    for (ti, t) in toks.iter().enumerate() {
        let Tok::Lit(b) = t else {
            for v in &mut variants {
                v.push(t.clone());
            }
            continue;
        };
        let mut seg_start = 0;
        for i in 0..b.len() {
            if b[i] != b'-' && b[i] != b'/' {
                continue;
            }
            let prev_is_word = if i == 0 {
                // A wildcard before counts as a non-word character.
                ti > 0 && matches!(toks[ti - 1], Tok::Lit(_))
            } else {
                is_word(b[i - 1])
            };
            let next_is_word = b.get(i + 1).is_some_and(|&c| is_word(c));
            if prev_is_word || !next_is_word {
                continue;
            }
            let seg = &b[seg_start..i];
            let mut next = Vec::with_capacity(variants.len() * DASHES.len());
            for v in &variants {
                for d in DASHES {
                    let mut n = v.clone();
                    n.push_lit(seg);
                    n.push_lit(d.as_bytes());
                    next.push(n);
                }
            }
            if next.len() > MAX_EXPANSION {
                return Err(format!(
                    "windash expands a value to more than {MAX_EXPANSION} variants"
                ));
            }
            variants = next;
            seg_start = i + 1;
        }
        for v in &mut variants {
            v.push_lit(&b[seg_start..]);
        }
    }
    Ok(variants)
}

fn is_word(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c >= 0x80
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pattern::StrMatch;

    fn lits(v: &[SigmaStr]) -> Vec<String> {
        v.iter()
            .map(|s| String::from_utf8_lossy(s.as_literal().unwrap()).into_owned())
            .collect()
    }

    #[test]
    fn windash_variants() {
        let v = apply(Transform::Windash, vec![SigmaStr::parse(" -nop ")]).unwrap();
        assert_eq!(
            lits(&v),
            [
                " -nop ",
                " /nop ",
                " \u{2013}nop ",
                " \u{2014}nop ",
                " \u{2015}nop "
            ]
        );
        // Only dashes at a word start.
        let v = apply(Transform::Windash, vec![SigmaStr::parse("a-b -c")]).unwrap();
        assert_eq!(v.len(), 5);
        assert!(lits(&v).contains(&"a-b /c".to_string()));
        let v = apply(Transform::Windash, vec![SigmaStr::parse("-a -b")]).unwrap();
        assert_eq!(v.len(), 25);
        // After a wildcard.
        let v = apply(Transform::Windash, vec![SigmaStr::parse("*-x")]).unwrap();
        assert_eq!(v.len(), 5);
        assert_eq!(v[1].classify(), StrMatch::Suffix(b"/x".to_vec()));
    }

    #[test]
    fn base64_and_offsets() {
        let v = apply(Transform::Base64, vec![SigmaStr::parse("abc")]).unwrap();
        assert_eq!(lits(&v), ["YWJj"]);
        // pySigma's documented example for `base64offset` of "/bin/sh".
        assert_eq!(
            base64_offsets(b"/bin/sh"),
            ["L2Jpbi9za", "9iaW4vc2", "vYmluL3No"]
        );
        assert!(apply(Transform::Base64, vec![SigmaStr::parse("a*")]).is_err());
    }

    #[test]
    fn utf16_encodings() {
        let le = apply(Transform::Utf16Le, vec![SigmaStr::parse("ab")]).unwrap();
        assert_eq!(le[0].as_literal().unwrap(), b"a\0b\0");
        let be = apply(Transform::Utf16Be, vec![SigmaStr::parse("ab")]).unwrap();
        assert_eq!(be[0].as_literal().unwrap(), b"\0a\0b");
        let bom = apply(Transform::Utf16Bom, vec![SigmaStr::parse("a")]).unwrap();
        assert_eq!(bom[0].as_literal().unwrap(), b"\xff\xfea\0");
        // wide then base64offset, as in `|wide|base64offset|contains`.
        let w = apply(Transform::Utf16Le, vec![SigmaStr::parse("ping")]).unwrap();
        let b = apply(Transform::Base64Offset, w).unwrap();
        assert_eq!(b.len(), 3);
        assert_eq!(lits(&b)[0], "cABpAG4AZw");
    }
}
