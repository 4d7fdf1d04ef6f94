//! Reading msgpack records in place: values are measured and borrowed from
//! the record's bytes, never decoded into a tree, so a Fluent Bit record is
//! walked without allocating.

use crate::record::{Doc, Scalar};

const MAX_DEPTH: usize = 128;

fn be(b: &[u8], at: usize, n: usize) -> Option<usize> {
    let s = b.get(at..at + n)?;
    Some(s.iter().fold(0usize, |acc, &x| (acc << 8) | x as usize))
}

/// The length in bytes of the msgpack value at the start of `b`, or `None`
/// if it is truncated, invalid, or nested deeper than 128 levels.
pub fn value_len(b: &[u8]) -> Option<usize> {
    value_len_depth(b, 0)
}

fn value_len_depth(b: &[u8], depth: usize) -> Option<usize> {
    if depth > MAX_DEPTH {
        return None;
    }
    let m = *b.first()?;
    let fixed = |n: usize| (b.len() > n).then_some(n + 1);
    let total = match m {
        0x00..=0x7f | 0xe0..=0xff | 0xc0 | 0xc2 | 0xc3 => Some(1),
        0x80..=0x8f => return seq(b, 1, (m & 0x0f) as usize * 2, depth),
        0x90..=0x9f => return seq(b, 1, (m & 0x0f) as usize, depth),
        0xa0..=0xbf => Some(1 + (m & 0x1f) as usize),
        0xc4 | 0xd9 => Some(2 + be(b, 1, 1)?),
        0xc5 | 0xda => Some(3 + be(b, 1, 2)?),
        0xc6 | 0xdb => Some(5 + be(b, 1, 4)?),
        0xc7 => Some(3 + be(b, 1, 1)?),
        0xc8 => Some(4 + be(b, 1, 2)?),
        0xc9 => Some(6 + be(b, 1, 4)?),
        0xca => fixed(4),
        0xcb => fixed(8),
        0xcc | 0xd0 => fixed(1),
        0xcd | 0xd1 => fixed(2),
        0xce | 0xd2 => fixed(4),
        0xcf | 0xd3 => fixed(8),
        0xd4 => fixed(2),
        0xd5 => fixed(3),
        0xd6 => fixed(5),
        0xd7 => fixed(9),
        0xd8 => fixed(17),
        0xdc => return seq(b, 3, be(b, 1, 2)?, depth),
        0xdd => return seq(b, 5, be(b, 1, 4)?, depth),
        0xde => return seq(b, 3, be(b, 1, 2)?.checked_mul(2)?, depth),
        0xdf => return seq(b, 5, be(b, 1, 4)?.checked_mul(2)?, depth),
        0xc1 => None,
    }?;
    (total <= b.len()).then_some(total)
}

fn seq(b: &[u8], header: usize, items: usize, depth: usize) -> Option<usize> {
    let mut pos = header;
    if pos > b.len() {
        return None;
    }
    for _ in 0..items {
        pos += value_len_depth(b.get(pos..)?, depth + 1)?;
    }
    Some(pos)
}

/// Element count and header size of the array or map at the start of `b`.
fn container(b: &[u8]) -> Option<(bool, usize, usize)> {
    Some(match *b.first()? {
        m @ 0x90..=0x9f => (false, (m & 0x0f) as usize, 1),
        0xdc => (false, be(b, 1, 2)?, 3),
        0xdd => (false, be(b, 1, 4)?, 5),
        m @ 0x80..=0x8f => (true, (m & 0x0f) as usize, 1),
        0xde => (true, be(b, 1, 2)?, 3),
        0xdf => (true, be(b, 1, 4)?, 5),
        _ => return None,
    })
}

/// The element count and header size of the array at the start of `b`.
pub fn array_header(b: &[u8]) -> Option<(usize, usize)> {
    match container(b)? {
        (false, n, h) => Some((n, h)),
        _ => None,
    }
}

/// A msgpack value inside a record that [`value_len`] has validated whole.
#[derive(Clone, Copy, Debug)]
pub struct MsgDoc<'a>(pub &'a [u8]);

impl<'a> MsgDoc<'a> {
    /// The record as a document, if it is one complete, valid value.
    pub fn new(record: &'a [u8]) -> Option<MsgDoc<'a>> {
        (value_len(record)? == record.len()).then_some(MsgDoc(record))
    }

    /// [`Doc::scalar`] of a value other than a fixstr, whose first byte is `m`.
    fn other_scalar(b: &'a [u8], m: u8) -> Option<Scalar<'a>> {
        let int = |n: usize| be(b, 1, n).map(|v| v as u64);
        Some(match m {
            m @ 0x00..=0x7f => Scalar::Int(m as i64),
            m @ 0xe0..=0xff => Scalar::Int(m as i8 as i64),
            0xc0 => Scalar::Null,
            0xc2 => Scalar::Bool(false),
            0xc3 => Scalar::Bool(true),
            0xa0..=0xbf | 0xd9..=0xdb | 0xc4..=0xc6 => Scalar::Str(Self::str_at(b)?),
            0xcc => Scalar::Int(int(1)? as i64),
            0xcd => Scalar::Int(int(2)? as i64),
            0xce => Scalar::Int(int(4)? as i64),
            0xcf => Scalar::UInt(int(8)?),
            0xd0 => Scalar::Int(int(1)? as u8 as i8 as i64),
            0xd1 => Scalar::Int(int(2)? as u16 as i16 as i64),
            0xd2 => Scalar::Int(int(4)? as u32 as i32 as i64),
            0xd3 => Scalar::Int(int(8)? as i64),
            0xca => Scalar::Float(f32::from_bits(int(4)? as u32) as f64),
            0xcb => Scalar::Float(f64::from_bits(int(8)?)),
            // Arrays, maps and extension types (timestamps) are not leaves.
            _ => return None,
        })
    }

    fn str_at(b: &'a [u8]) -> Option<&'a [u8]> {
        let m = *b.first()?;
        let h = str_header_len(m)?;
        // A fixstr holds its length in its first byte, the others in the
        // header's remaining bytes.
        let len = match h {
            1 => (m & 0x1f) as usize,
            _ => be(b, 1, h - 1)?,
        };
        b.get(h..h + len)
    }
}

impl<'a> Doc<'a> for MsgDoc<'a> {
    /// Inline for the common value, a short string: through a call the
    /// value came back through the stack, and the caller's wider reads of
    /// it waited for the callee's narrower stores (`perf`).
    #[inline(always)]
    fn scalar(&self) -> Option<Scalar<'a>> {
        let b = self.0;
        let m = *b.first()?;
        // Most values are short strings.
        if m & 0xe0 == 0xa0 {
            return b.get(1..1 + (m & 0x1f) as usize).map(Scalar::Str);
        }
        Self::other_scalar(b, m)
    }

    /// `f` called from each branch of the common leaves (see
    /// [`Doc::with_scalar`]): strings of up to 255 bytes and small
    /// unsigned integers, such as `EventID`.
    #[inline(always)]
    fn with_scalar(&self, f: &mut impl FnMut(Scalar<'a>)) -> bool {
        let b = self.0;
        let Some(&m) = b.first() else { return false };
        let (at, len) = match m {
            0xa0..=0xbf => (1, (m & 0x1f) as usize),
            0xd9 => match b.get(1) {
                Some(&n) => (2, n as usize),
                None => return false,
            },
            0x00..=0x7f => {
                f(Scalar::Int(m as i64));
                return true;
            }
            0xcc | 0xcd => match be(b, 1, m as usize - 0xcb) {
                Some(n) => {
                    f(Scalar::Int(n as i64));
                    return true;
                }
                None => return false,
            },
            _ => match Self::other_scalar(b, m) {
                Some(s) => {
                    f(s);
                    return true;
                }
                None => return false,
            },
        };
        match b.get(at..at + len) {
            Some(s) => {
                f(Scalar::Str(s));
                true
            }
            None => false,
        }
    }

    fn entries(&self, mut f: impl FnMut(&[u8], Self)) -> bool {
        let Some((true, n, h)) = container(self.0) else {
            return false;
        };
        let mut pos = h;
        for _ in 0..n {
            let Some(kl) = self.0.get(pos..).and_then(value_len) else {
                return true;
            };
            let key = Self::str_at(&self.0[pos..]);
            pos += kl;
            let Some(vl) = self.0.get(pos..).and_then(value_len) else {
                return true;
            };
            if let Some(k) = key {
                f(k, MsgDoc(&self.0[pos..pos + vl]));
            }
            pos += vl;
        }
        true
    }

    fn items(&self, mut f: impl FnMut(Self)) -> bool {
        let Some((false, n, h)) = container(self.0) else {
            return false;
        };
        let mut pos = h;
        for _ in 0..n {
            let Some(l) = self.0.get(pos..).and_then(value_len) else {
                return true;
            };
            f(MsgDoc(&self.0[pos..pos + l]));
            pos += l;
        }
        true
    }
}

/// Where a root entry's key text, value and end lie in the record: the key
/// is `record[.0...1]` (its bytes, without the msgpack header), the value
/// `record[.1...2]`.
pub type EntrySpan = (usize, usize, usize);

/// Validates a msgpack map record in one pass and records its root entries
/// with a str or bin key (the others are no field) in `spans` (reused, so no
/// allocation once warm). `None` unless the record is exactly one valid map.
pub fn index_map(record: &[u8], spans: &mut Vec<EntrySpan>) -> Option<()> {
    (index_map_prefix(record, 0, spans)? == record.len()).then_some(())
}

/// [`index_map`] for a map at the start of `record`, followed by anything:
/// the map's length. One pass finds where a record ends and indexes it (a
/// Fluent Bit chunk's events are not length-prefixed).
///
/// `depth` is how deep the map sits in the value a host measures with
/// [`value_len`] (0 for a record, 1 for the body of a chunk's `[header,
/// body]` event): the nesting limit then holds for that whole value, so
/// both agree on which bytes are a valid event.
pub fn index_map_prefix(record: &[u8], depth: usize, spans: &mut Vec<EntrySpan>) -> Option<usize> {
    spans.clear();
    map_prefix_entries(record, depth, |span| spans.push(span))
}

/// Validates the map at the start of `record` (see [`index_map_prefix`])
/// in one pass, calling `entry` with the span of each entry whose key is a
/// str or bin (the others are no field) once its value is measured: a
/// caller can read the entries in the pass that validates them. Returns
/// the map's length, `None` (after calling `entry` for some entries) if it
/// is not one valid map.
#[inline(always)]
pub fn map_prefix_entries(
    record: &[u8],
    depth: usize,
    mut entry: impl FnMut(EntrySpan),
) -> Option<usize> {
    let (true, n, h) = container(record)? else {
        return None;
    };
    let mut pos = h;
    for _ in 0..n {
        // Most keys are fixstrs: their length is in the byte just read.
        // A key that is no str or bin has header length 0.
        let m = *record.get(pos)?;
        let (kh, kl) = match m {
            0xa0..=0xbf => (1, 1 + (m & 0x1f) as usize),
            _ => (
                str_header_len(m).unwrap_or(0),
                scalar_len(&record[pos..], depth + 1)?,
            ),
        };
        let v = pos + kl;
        let e = v + scalar_len(record.get(v..)?, depth + 1)?;
        if kh != 0 {
            entry((pos + kh, v, e));
        }
        pos = e;
    }
    Some(pos)
}

/// The header length of a str or bin value by its first byte.
fn str_header_len(m: u8) -> Option<usize> {
    match m {
        0xa0..=0xbf => Some(1),
        0xd9 | 0xc4 => Some(2),
        0xda | 0xc5 => Some(3),
        0xdb | 0xc6 => Some(5),
        _ => None,
    }
}

/// The whole length of a value by its first byte, for the values whose
/// length the first byte fixes (fixints, nil, booleans, fixstr, numbers);
/// 0 for the others.
const FIXED_LEN: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut m = 0;
    while m < 256 {
        t[m] = match m as u8 {
            0x00..=0x7f | 0xc0 | 0xc2 | 0xc3 | 0xe0..=0xff => 1,
            0xa0..=0xbf => 1 + (m as u8 & 0x1f),
            0xcc | 0xd0 => 2,
            0xcd | 0xd1 | 0xd4 => 3,
            0xd5 => 4,
            0xca | 0xce | 0xd2 => 5,
            0xd6 => 6,
            0xcb | 0xcf | 0xd3 => 9,
            0xd7 => 10,
            0xd8 => 18,
            _ => 0,
        };
        m += 1;
    }
    t
};

/// [`value_len_depth`] for a value at `depth`, with the common root values — short
/// strings and numbers — measured by a table lookup.
#[inline]
fn scalar_len(b: &[u8], depth: usize) -> Option<usize> {
    let m = *b.first()?;
    let total = match FIXED_LEN[m as usize] {
        0 if m == 0xd9 => 2 + *b.get(1)? as usize,
        0 => return value_len_depth(b, depth),
        n => n as usize,
    };
    (total <= b.len()).then_some(total)
}

/// A map record whose root entries [`index_map`] has measured: picking the
/// profile and walking the root then read the spans instead of measuring
/// every value again (each lookup in a plain msgpack map walks it).
#[derive(Clone, Copy, Debug)]
pub enum IndexedDoc<'a, 'i> {
    Root {
        record: &'a [u8],
        spans: &'i [EntrySpan],
    },
    Value(MsgDoc<'a>),
}

impl<'a> Doc<'a> for IndexedDoc<'a, '_> {
    fn scalar(&self) -> Option<Scalar<'a>> {
        match self {
            IndexedDoc::Root { .. } => None,
            IndexedDoc::Value(v) => v.scalar(),
        }
    }

    fn entries(&self, mut f: impl FnMut(&[u8], Self)) -> bool {
        match *self {
            IndexedDoc::Root { record, spans } => {
                for &(k, v, e) in spans {
                    f(&record[k..v], IndexedDoc::Value(MsgDoc(&record[v..e])));
                }
                true
            }
            IndexedDoc::Value(v) => v.entries(|k, c| f(k, IndexedDoc::Value(c))),
        }
    }

    fn items(&self, mut f: impl FnMut(Self)) -> bool {
        match self {
            IndexedDoc::Root { .. } => false,
            IndexedDoc::Value(v) => v.items(|c| f(IndexedDoc::Value(c))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every first byte, with tails of every length up to 40 (so that
    /// truncated headers and payloads are covered): small bytes (short
    /// str8/array/map lengths) and mixed ones. `f` gets the value and a
    /// label for assertions.
    fn every_header(mut f: impl FnMut(&[u8], &str)) {
        let small = [3u8; 40];
        let mixed: Vec<u8> = (0..40u8).map(|i| i.wrapping_mul(37) ^ 0x5a).collect();
        for tail in [&small[..], &mixed[..]] {
            for m in 0..=255u8 {
                for n in 0..tail.len() {
                    let mut b = vec![m];
                    b.extend_from_slice(&tail[..n]);
                    f(&b, &format!("{m:#04x} + {n}"));
                }
            }
        }
    }

    #[test]
    fn scalar_len_agrees_with_the_full_measure() {
        every_header(|b, at| assert_eq!(scalar_len(b, 1), value_len_depth(b, 1), "{at}"));
    }

    #[test]
    fn with_scalar_hands_over_what_scalar_reads() {
        every_header(|b, at| {
            let mut seen = Vec::new();
            let leaf = MsgDoc(b).with_scalar(&mut |s| seen.push(s));
            let want = MsgDoc(b).scalar();
            assert_eq!(leaf, want.is_some(), "{at}");
            assert_eq!(seen, want.into_iter().collect::<Vec<_>>(), "{at}");
        });
        assert!(!MsgDoc(&[]).with_scalar(&mut |_| panic!("no leaf")));
    }

    #[test]
    fn index_map_validates_and_spans_the_root() {
        let mut v = Vec::new();
        rmp::encode::write_map_len(&mut v, 2).unwrap();
        rmp::encode::write_str(&mut v, "EventID").unwrap();
        rmp::encode::write_u16(&mut v, 4624).unwrap();
        rmp::encode::write_str(&mut v, "Data").unwrap();
        rmp::encode::write_array_len(&mut v, 1).unwrap();
        rmp::encode::write_str(&mut v, "x").unwrap();
        let mut spans = Vec::new();
        assert_eq!(index_map(&v, &mut spans), Some(()));
        let root = IndexedDoc::Root {
            record: &v,
            spans: &spans,
        };
        let mut keys = Vec::new();
        root.entries(|k, _| keys.push(k.to_vec()));
        assert_eq!(keys, [b"EventID".to_vec(), b"Data".to_vec()]);
        // Keys of every str and bin header; an integer key is no field.
        let long = "K".repeat(40);
        let mut w = Vec::new();
        rmp::encode::write_map_len(&mut w, 5).unwrap();
        rmp::encode::write_str(&mut w, &long).unwrap();
        rmp::encode::write_str(&mut w, "str8").unwrap();
        rmp::encode::write_u8(&mut w, 7).unwrap();
        rmp::encode::write_str(&mut w, "int key").unwrap();
        rmp::encode::write_bin(&mut w, b"bin").unwrap();
        rmp::encode::write_nil(&mut w).unwrap();
        w.extend_from_slice(&[0xda, 0, 4]);
        w.extend_from_slice(b"st16");
        rmp::encode::write_bool(&mut w, true).unwrap();
        w.extend_from_slice(&[0xdb, 0, 0, 0, 4]);
        w.extend_from_slice(b"st32");
        rmp::encode::write_str(&mut w, "").unwrap();
        assert_eq!(index_map(&w, &mut spans), Some(()));
        let wide = IndexedDoc::Root {
            record: &w,
            spans: &spans,
        };
        let mut seen = Vec::new();
        wide.entries(|k, v| seen.push((String::from_utf8(k.to_vec()).unwrap(), v.scalar())));
        assert_eq!(
            seen,
            [
                (long.clone(), Some(Scalar::Str(b"str8"))),
                ("bin".into(), Some(Scalar::Null)),
                ("st16".into(), Some(Scalar::Bool(true))),
                ("st32".into(), Some(Scalar::Str(b""))),
            ]
        );
        assert_eq!(index_map(&v, &mut spans), Some(()));
        let root = IndexedDoc::Root {
            record: &v,
            spans: &spans,
        };
        assert_eq!(
            root.get(b"EventID").unwrap().scalar(),
            Some(Scalar::Int(4624))
        );
        for cut in 0..v.len() {
            assert_eq!(index_map(&v[..cut], &mut spans), None, "truncated at {cut}");
        }
        let mut trailing = v.clone();
        trailing.push(0xc0);
        assert_eq!(index_map(&trailing, &mut spans), None);
        // The prefix form measures the map and ignores what follows.
        assert_eq!(index_map_prefix(&trailing, 0, &mut spans), Some(v.len()));
        assert_eq!(spans.len(), 2);
        for cut in 0..v.len() {
            assert_eq!(
                index_map_prefix(&v[..cut], 0, &mut spans),
                None,
                "truncated at {cut}"
            );
        }
        assert_eq!(
            index_map(b"\x91\x01", &mut spans),
            None,
            "an array is not a record"
        );
    }

    #[test]
    fn lengths_of_every_kind() {
        let mut v = Vec::new();
        rmp::encode::write_map_len(&mut v, 2).unwrap();
        rmp::encode::write_str(&mut v, "a").unwrap();
        rmp::encode::write_array_len(&mut v, 3).unwrap();
        rmp::encode::write_u64(&mut v, u64::MAX).unwrap();
        rmp::encode::write_f64(&mut v, 1.5).unwrap();
        rmp::encode::write_nil(&mut v).unwrap();
        rmp::encode::write_str(&mut v, &"x".repeat(300)).unwrap();
        rmp::encode::write_bin(&mut v, &[1, 2, 3]).unwrap();
        let n = v.len();
        v.extend_from_slice(b"\xc3trailing");
        assert_eq!(value_len(&v), Some(n));
        for cut in 0..n {
            assert_eq!(value_len(&v[..cut]), None, "truncated at {cut}");
        }
        assert_eq!(value_len(b"\xc1"), None);
        // Deep nesting is refused, not a stack overflow.
        assert_eq!(value_len(&[0x91; 100_000]), None);
    }

    #[test]
    fn walks_like_a_decoder() {
        let mut v = Vec::new();
        rmp::encode::write_map_len(&mut v, 4).unwrap();
        rmp::encode::write_str(&mut v, "i").unwrap();
        rmp::encode::write_sint(&mut v, -300).unwrap();
        rmp::encode::write_str(&mut v, "s").unwrap();
        rmp::encode::write_str(&mut v, "ünï").unwrap();
        rmp::encode::write_str(&mut v, "arr").unwrap();
        rmp::encode::write_array_len(&mut v, 2).unwrap();
        rmp::encode::write_u8(&mut v, 200).unwrap();
        rmp::encode::write_f32(&mut v, 0.5).unwrap();
        rmp::encode::write_uint(&mut v, 7).unwrap(); // a non-string key: skipped
        rmp::encode::write_bool(&mut v, true).unwrap();
        let d = MsgDoc::new(&v).unwrap();
        assert_eq!(d.get(b"i").unwrap().scalar(), Some(Scalar::Int(-300)));
        assert_eq!(
            d.get(b"s").unwrap().scalar(),
            Some(Scalar::Str("ünï".as_bytes()))
        );
        let mut items = Vec::new();
        d.get(b"arr")
            .unwrap()
            .items(|x| items.push(x.scalar().unwrap()));
        assert_eq!(items, [Scalar::Int(200), Scalar::Float(0.5)]);
        let mut keys = 0;
        d.entries(|_, _| keys += 1);
        assert_eq!(keys, 3);
        assert!(MsgDoc::new(&v[..v.len() - 1]).is_none());
    }
}
