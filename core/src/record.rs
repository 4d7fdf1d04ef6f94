//! Reading records without building a document tree we do not need.
//!
//! JSON is parsed by simd-json into a reusable *tape* (a flat array of
//! nodes, strings borrowed from the input), msgpack is walked in place
//! ([`crate::msgpack::MsgDoc`]). Both are walked through the [`Doc`] trait, so the
//! field extraction in [`crate::shape`] is written once.

use simd_json::{Node, StaticNode};

/// A leaf value.
///
/// The tag is a whole word: with a one-byte tag, a copy of a value moved
/// the padding after it in pieces (4, 2 and 1 bytes), and the reads of
/// those pieces waited for wider or narrower stores (`perf`).
#[derive(Clone, Copy, Debug, PartialEq)]
#[repr(u64)]
pub enum Scalar<'a> {
    Str(&'a [u8]),
    /// A JSON string with escapes, as it is between its quotes (valid:
    /// see [`crate::json_flat`]); unescaped only when a rule reads it.
    Escaped(&'a [u8]),
    Int(i64),
    UInt(u64),
    Float(f64),
    Bool(bool),
    Null,
}

/// A navigable record value.
pub trait Doc<'a>: Sized + Copy {
    /// The value as a leaf, or `None` for objects and arrays. The leaf
    /// borrows from the record, not from `self`, so extracted values can be
    /// kept while the walk goes on.
    fn scalar(&self) -> Option<Scalar<'a>>;
    /// Calls `f` with [`Doc::scalar`]'s leaf; false (and no call) for
    /// objects and arrays. A reader whose common leaf is known at once
    /// calls `f` from each branch, so that `f` is not handed a copy merged
    /// from both (through the stack, read back wider than it was written:
    /// a store-forwarding stall on every collected value).
    #[inline(always)]
    fn with_scalar(&self, f: &mut impl FnMut(Scalar<'a>)) -> bool {
        match self.scalar() {
            Some(s) => {
                f(s);
                true
            }
            None => false,
        }
    }
    /// Calls `f` for each key/value of an object; returns false if not an object.
    fn entries(&self, f: impl FnMut(&[u8], Self)) -> bool;
    /// Calls `f` for each element of an array; returns false if not an array.
    fn items(&self, f: impl FnMut(Self)) -> bool;
    /// The value of `key` in an object.
    fn get(&self, key: &[u8]) -> Option<Self> {
        let mut found = None;
        self.entries(|k, v| {
            if found.is_none() && k == key {
                found = Some(v);
            }
        });
        found
    }
}

/// A value on a simd-json tape: the slice starts at the value's node.
#[derive(Clone, Copy, Debug)]
pub struct TapeDoc<'t, 'i>(pub &'t [Node<'i>]);

fn span(nodes: &[Node<'_>], i: usize) -> usize {
    match nodes[i] {
        Node::Object { count, .. } | Node::Array { count, .. } => count + 1,
        _ => 1,
    }
}

impl<'t, 'i: 't> Doc<'t> for TapeDoc<'t, 'i> {
    fn scalar(&self) -> Option<Scalar<'t>> {
        Some(match self.0[0] {
            Node::String(s) => Scalar::Str(s.as_bytes()),
            Node::Static(StaticNode::I64(i)) => Scalar::Int(i),
            Node::Static(StaticNode::U64(u)) => Scalar::UInt(u),
            Node::Static(StaticNode::F64(f)) => Scalar::Float(f),
            Node::Static(StaticNode::Bool(b)) => Scalar::Bool(b),
            Node::Static(StaticNode::Null) => Scalar::Null,
            _ => return None,
        })
    }

    fn entries(&self, mut f: impl FnMut(&[u8], Self)) -> bool {
        let Node::Object { len, .. } = self.0[0] else {
            return false;
        };
        let mut i = 1;
        for _ in 0..len {
            let Node::String(k) = self.0[i] else {
                return true;
            };
            let n = span(self.0, i + 1);
            f(k.as_bytes(), TapeDoc(&self.0[i + 1..i + 1 + n]));
            i += 1 + n;
        }
        true
    }

    fn items(&self, mut f: impl FnMut(Self)) -> bool {
        let Node::Array { len, .. } = self.0[0] else {
            return false;
        };
        let mut i = 1;
        for _ in 0..len {
            let n = span(self.0, i);
            f(TapeDoc(&self.0[i..i + n]));
            i += n;
        }
        true
    }
}

/// A leaf on its own (a value read by [`crate::json_flat`]).
impl<'a> Doc<'a> for Scalar<'a> {
    fn scalar(&self) -> Option<Scalar<'a>> {
        Some(*self)
    }

    fn entries(&self, _: impl FnMut(&[u8], Self)) -> bool {
        false
    }

    fn items(&self, _: impl FnMut(Self)) -> bool {
        false
    }
}

impl<'a> Doc<'a> for &'a serde_json::Value {
    fn scalar(&self) -> Option<Scalar<'a>> {
        use serde_json::Value as V;
        Some(match *self {
            V::String(s) => Scalar::Str(s.as_bytes()),
            V::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
                (Some(i), _, _) => Scalar::Int(i),
                (_, Some(u), _) => Scalar::UInt(u),
                (_, _, Some(f)) => Scalar::Float(f),
                _ => Scalar::Null,
            },
            V::Bool(b) => Scalar::Bool(*b),
            V::Null => Scalar::Null,
            V::Array(_) | V::Object(_) => return None,
        })
    }

    fn entries(&self, mut f: impl FnMut(&[u8], Self)) -> bool {
        let serde_json::Value::Object(m) = self else {
            return false;
        };
        m.iter().for_each(|(k, v)| f(k.as_bytes(), v));
        true
    }

    fn items(&self, f: impl FnMut(Self)) -> bool {
        let serde_json::Value::Array(a) = self else {
            return false;
        };
        a.iter().for_each(f);
        true
    }
}

/// Writes a scalar as the text Sigma compares it as; returns false for
/// null.
pub fn scalar_text(s: Scalar<'_>, buf: &mut Vec<u8>) -> bool {
    use std::io::Write;
    buf.clear();
    match s {
        Scalar::Str(b) => buf.extend_from_slice(b),
        Scalar::Escaped(raw) => crate::json_flat::unescape(raw, buf),
        Scalar::Int(i) => {
            if i < 0 {
                buf.push(b'-');
            }
            push_decimal(i.unsigned_abs(), buf)
        }
        Scalar::UInt(u) => push_decimal(u, buf),
        Scalar::Float(f) => write!(buf, "{f}").unwrap(),
        Scalar::Bool(b) => buf.extend_from_slice(if b { b"true" } else { b"false" }),
        Scalar::Null => return false,
    }
    true
}

/// Appends `n` in decimal. Every record's `EventID` is an integer: going
/// through `core::fmt` cost ~180 instructions per OTRF record.
fn push_decimal(mut n: u64, buf: &mut Vec<u8>) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    buf.extend_from_slice(&digits[at..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// Integers read as the text `Display` writes.
        #[test]
        fn integers_read_as_their_decimal_text(i: i64, u: u64) {
            let mut buf = Vec::new();
            scalar_text(Scalar::Int(i), &mut buf);
            proptest::prop_assert_eq!(String::from_utf8(buf.clone()).unwrap(), i.to_string());
            scalar_text(Scalar::UInt(u), &mut buf);
            proptest::prop_assert_eq!(String::from_utf8(buf.clone()).unwrap(), u.to_string());
        }
    }

    #[test]
    fn integer_edges_read_as_their_decimal_text() {
        let mut buf = Vec::new();
        for i in [0, -1, 9, 10, -10, i64::MIN, i64::MAX] {
            scalar_text(Scalar::Int(i), &mut buf);
            assert_eq!(buf, i.to_string().as_bytes());
        }
        scalar_text(Scalar::UInt(u64::MAX), &mut buf);
        assert_eq!(buf, u64::MAX.to_string().as_bytes());
    }

    #[test]
    fn tape_walk_skips_nested_values() {
        let mut input =
            br#"{"a":{"x":[1,{"y":2}],"z":"s"},"b":"t\u0041\\","c":[true,null,1.5]}"#.to_vec();
        let tape = simd_json::to_tape(&mut input).unwrap();
        let root = TapeDoc(&tape.0);
        let mut keys = Vec::new();
        root.entries(|k, _| keys.push(String::from_utf8(k.to_vec()).unwrap()));
        assert_eq!(keys, ["a", "b", "c"]);
        assert_eq!(root.get(b"b").unwrap().scalar(), Some(Scalar::Str(b"tA\\")));
        let z = root.get(b"a").unwrap().get(b"z").unwrap();
        assert_eq!(z.scalar(), Some(Scalar::Str(b"s")));
        let mut items = Vec::new();
        root.get(b"c")
            .unwrap()
            .items(|v| items.push(format!("{:?}", v.scalar())));
        assert_eq!(items.len(), 3);
        let mut n = 0;
        root.get(b"a").unwrap().get(b"x").unwrap().items(|_| n += 1);
        assert_eq!(n, 2);
    }

    #[test]
    fn scalars_as_text() {
        let mut b = Vec::new();
        assert!(scalar_text(Scalar::Int(13), &mut b));
        assert_eq!(b, b"13");
        assert!(scalar_text(Scalar::Float(1.5), &mut b));
        assert_eq!(b, b"1.5");
        assert!(!scalar_text(Scalar::Null, &mut b));
        assert!(scalar_text(Scalar::Bool(false), &mut b));
        assert_eq!(b, b"false");
        assert!(scalar_text(Scalar::Escaped(br"C:\\x\ty\/"), &mut b));
        assert_eq!(b, b"C:\\x\ty/");
    }
}
