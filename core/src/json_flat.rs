//! A one-pass scanner for the common JSON record: one object of scalars.
//!
//! Windows events reach us as flat objects (`{"EventID":4688,"Image":...}`)
//! of ~30 keys, of which rules read ~13. simd-json builds a tape of every
//! value and unescapes every string before the walk sees the first key;
//! this scanner validates the object and hands each key and value to the
//! caller in the same pass. It leaves strings escaped until the caller
//! asks for one ([`unescape`]), and nested values and floats as text the
//! caller can skip (most are under keys no rule reads, such as a
//! shipper's `tags` list).
//!
//! Strings are most of a record's bytes. A first pass classifies the
//! record 64 bytes at a time with SIMD compares ([`wide`], SSE2 on x86-64):
//! a bit for every quote and backslash, and whether any byte is a control
//! byte or not ASCII. The parse then jumps from one quote or backslash to
//! the next instead of reading string bytes one by one. Records with
//! control or non-ASCII bytes (~9% of the OTRF sample) are checked whole
//! (UTF-8) before the parse.
//!
//! It *declines* rather than rejects: a `\u` escape, an escaped key, a
//! number with an exponent or beyond 64 bits, nesting deeper than
//! [`MAX_DEPTH`], a control byte anywhere but the whitespace around the
//! object, and anything invalid make [`Scanner::scan`] return `None`, and
//! the caller parses the record with simd-json, which decides. So what
//! this scanner must get right is what it accepts: a record it takes is
//! one simd-json takes, with the same keys and values in the same order (a
//! proptest and a fuzz target check that against simd-json).

use wide::u8x16;

use crate::record::Scalar;

/// Nesting the scanner follows (simd-json's own limit is 1,024).
pub const MAX_DEPTH: usize = 32;

/// A value of the root object.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Value<'a> {
    /// A string without escapes, an integer, a boolean or null.
    Scalar(Scalar<'a>),
    /// A string with escapes: its raw bytes between the quotes, valid
    /// (see [`unescape`]).
    Escaped(&'a [u8]),
    /// A number with a fraction (its text): valid, typed by simd-json only.
    Float(&'a [u8]),
    /// An object or an array (its text), valid.
    Nested(&'a [u8]),
}

/// Reusable memory for [`Scanner::scan`]: the record's bits, 64 bytes a
/// word.
#[derive(Debug, Default)]
pub struct Scanner {
    /// Quotes not escaped: where strings open and close.
    quotes: Vec<u64>,
    backslashes: Vec<u64>,
}

impl Scanner {
    pub fn new() -> Scanner {
        Scanner::default()
    }

    /// Scans `record` as one JSON object (whitespace around it allowed)
    /// and calls `f` with each root key and value in order; `None` if it
    /// declines the record (see the module docs), after calls for the
    /// entries before the point where it stopped.
    #[inline]
    pub fn scan<'a>(&mut self, record: &'a [u8], f: impl FnMut(&'a [u8], Value<'a>)) -> Option<()> {
        // The record is read front to back from here on and arrives cold:
        // its lines are asked for at once, not one wait after another.
        crate::prefetch::lines(record);
        self.classify(record)?;
        Parser {
            b: record,
            quotes: &self.quotes,
            backslashes: &self.backslashes,
            word: 0,
            bits: self.quotes[0],
        }
        .object(f)
    }

    /// Calls `f` with each root key of `record` again, from the bits the
    /// last [`Scanner::scan`] left: `record` must be the record that scan
    /// accepted. For questions asked of few records (does a tagged record
    /// already hold the tag field?), so that the scan does not ask them of
    /// every key.
    pub fn keys_again(&self, record: &[u8], mut f: impl FnMut(&[u8])) {
        let parsed = Parser {
            b: record,
            quotes: &self.quotes,
            backslashes: &self.backslashes,
            word: 0,
            bits: self.quotes.first().copied().unwrap_or(0),
        }
        .object(|k, _| f(k));
        debug_assert!(parsed.is_some(), "not the record the last scan accepted");
    }

    /// Sets the bits of `b`'s unescaped quotes and of its backslashes;
    /// `None` if it has a control byte, is not UTF-8, or escapes a byte
    /// other than the two-byte escapes' (`\u` included).
    fn classify(&mut self, b: &[u8]) -> Option<()> {
        // One word per block, the padded tail's too: sized up front, so
        // the loop below does not grow them.
        let words = b.len() / 64 + 1;
        self.quotes.resize(words, 0);
        self.backslashes.resize(words, 0);
        // The smallest byte (a control byte if below 0x20) and the OR of
        // all (its high bit: not ASCII).
        let (mut min, mut high) = (u8x16::splat(0xff), u8x16::splat(0));
        let mut carry = 0u64;
        let mut block = |w: usize, bytes: &[u8; 64], s: &mut Scanner| {
            let (mut q, mut bs) = (0u64, 0u64);
            for k in 0..4 {
                let x: [u8; 16] = bytes[k * 16..k * 16 + 16].try_into().unwrap();
                let x = u8x16::from(x);
                q |= (x.simd_eq(u8x16::splat(b'"')).to_bitmask() as u64) << (16 * k);
                bs |= (x.simd_eq(u8x16::splat(b'\\')).to_bitmask() as u64) << (16 * k);
                min = min.min(x);
                high |= x;
            }
            let mut esc = escaped(bs, &mut carry);
            s.quotes[w] = q & !esc;
            s.backslashes[w] = bs;
            // Every escaped byte must be a two-byte escape's. Escaped
            // backslashes and quotes are (most escapes in Windows paths).
            let mut ok = true;
            esc &= !(bs | q);
            while esc != 0 {
                ok &= ESCAPE[bytes[esc.trailing_zeros() as usize & 63] as usize] != 0;
                esc &= esc - 1;
            }
            ok
        };
        let mut ok = true;
        let mut chunks = b.chunks_exact(64);
        for (w, c) in (&mut chunks).enumerate() {
            ok &= block(w, c.try_into().unwrap(), self);
        }
        let mut tail = [b' '; 64];
        tail[..chunks.remainder().len()].copy_from_slice(chunks.remainder());
        ok &= block(words - 1, &tail, self);
        if !ok {
            return None;
        }
        // Control bytes are whitespace around the object (a line's `\r`)
        // or a decline.
        if min.to_array().into_iter().any(|c| c < 0x20) && !only_ws_controls(b) {
            return None;
        }
        if high.to_bitmask() != 0 {
            std::str::from_utf8(b).ok()?;
        }
        Some(())
    }
}

/// Whether `b`'s control bytes are all whitespace before or after the
/// rest (JSON allows `\t`, `\n` and `\r` between tokens too, but
/// those records are left to simd-json).
fn only_ws_controls(b: &[u8]) -> bool {
    let is_ws = |c: &u8| matches!(c, b' ' | b'\t' | b'\n' | b'\r');
    let from = b.iter().position(|c| !is_ws(c)).unwrap_or(b.len());
    let to = b.iter().rposition(|c| !is_ws(c)).map_or(from, |i| i + 1);
    let body = &b[from..to.max(from)];
    let mut chunks = body.chunks_exact(16);
    let mut min = u8x16::splat(0xff);
    for c in &mut chunks {
        min = min.min(u8x16::from(<[u8; 16]>::try_from(c).unwrap()));
    }
    let lowest = min
        .to_array()
        .into_iter()
        .chain(chunks.remainder().iter().copied())
        .min();
    lowest.is_none_or(|c| c >= 0x20)
}

/// The bytes escaped by a backslash in a 64-byte block with backslashes
/// `bs`; `carry` says whether the block's first byte is escaped, and is
/// set for the next block. simdjson's branchless scanner: runs of
/// backslashes told apart by parity with one subtraction.
#[inline(always)]
fn escaped(bs: u64, carry: &mut u64) -> u64 {
    const ODD: u64 = 0xAAAA_AAAA_AAAA_AAAA;
    let potential = bs & !*carry;
    let maybe_escaped = potential << 1;
    let code = (maybe_escaped | ODD).wrapping_sub(potential) ^ ODD;
    let escaped = code ^ (bs | *carry);
    *carry = (code & bs) >> 63;
    escaped
}

/// Bytes a backslash may escape (`u` is left to simd-json), and what they
/// stand for.
const ESCAPE: [u8; 256] = {
    let mut t = [0u8; 256];
    t[b'"' as usize] = b'"';
    t[b'\\' as usize] = b'\\';
    t[b'/' as usize] = b'/';
    t[b'b' as usize] = 0x08;
    t[b'f' as usize] = 0x0c;
    t[b'n' as usize] = b'\n';
    t[b'r' as usize] = b'\r';
    t[b't' as usize] = b'\t';
    t
};

/// Appends the text of an [`Value::Escaped`] string to `out`.
pub fn unescape(raw: &[u8], out: &mut Vec<u8>) {
    let start = out.len();
    // Room for 16-byte copies past the end: cut back below.
    out.resize(start + raw.len() + 16, 0);
    let n = unescape_to(raw, &mut out[start..]);
    out.truncate(start + n);
}

/// Writes the text of an [`Value::Escaped`] string at the start of `buf`
/// and returns its length; `buf` only grows, so a reused one is not
/// cleared each time (what it held past the text is left as it was).
pub fn unescape_into(raw: &[u8], buf: &mut Vec<u8>) -> usize {
    if buf.len() < raw.len() + 16 {
        buf.resize(raw.len() + 16, 0);
    }
    unescape_to(raw, buf)
}

/// The text of `raw` into `out`, which has room for it and 16 bytes more.
fn unescape_to(raw: &[u8], out: &mut [u8]) -> usize {
    let (mut i_raw, mut o) = (0, 0);
    loop {
        // Sixteen bytes at a time up to the next backslash.
        while let Some(w) = raw.get(i_raw..i_raw + 16) {
            let w: [u8; 16] = w.try_into().unwrap();
            out[o..o + 16].copy_from_slice(&w);
            let m = u8x16::from(w).simd_eq(u8x16::splat(b'\\')).to_bitmask();
            if m != 0 {
                let k = m.trailing_zeros() as usize;
                i_raw += k;
                o += k;
                break;
            }
            i_raw += 16;
            o += 16;
        }
        let Some(&c) = raw.get(i_raw) else { break };
        if c == b'\\' {
            // `scan` accepted only two-byte escapes.
            let Some(&code) = raw.get(i_raw + 1) else {
                break;
            };
            out[o] = ESCAPE[code as usize];
            i_raw += 2;
        } else {
            out[o] = c;
            i_raw += 1;
        }
        o += 1;
    }
    o
}

/// A record being parsed: its bytes and their bits. Every quote is
/// passed in order, once: the parse pops them off `quotes` (`bits` is
/// what is left of word `word`).
struct Parser<'a, 's> {
    b: &'a [u8],
    quotes: &'s [u64],
    backslashes: &'s [u64],
    word: usize,
    bits: u64,
}

impl<'a> Parser<'a, '_> {
    #[inline(always)]
    fn object(&mut self, mut f: impl FnMut(&'a [u8], Value<'a>)) -> Option<()> {
        let b = self.b;
        let mut i = ws(b, 0);
        if b.get(i) != Some(&b'{') {
            return None;
        }
        i = ws(b, i + 1);
        if b.get(i) == Some(&b'}') {
            return (ws(b, i + 1) == b.len()).then_some(());
        }
        loop {
            if b.get(i) != Some(&b'"') {
                return None;
            }
            let (close, escaped) = self.string(i)?;
            if escaped {
                return None;
            }
            let key = &b[i + 1..close];
            i = ws(b, close + 1);
            if b.get(i) != Some(&b':') {
                return None;
            }
            i = ws(b, i + 1);
            let (v, next) = self.value(i)?;
            f(key, v);
            i = ws(b, next);
            match b.get(i) {
                Some(b',') => i = ws(b, i + 1),
                Some(b'}') => return (ws(b, i + 1) == b.len()).then_some(()),
                _ => return None,
            }
        }
    }

    /// The value at `i` and the index after it.
    #[inline(always)]
    fn value(&mut self, i: usize) -> Option<(Value<'a>, usize)> {
        let b = self.b;
        let lit = |word: &[u8], v: Scalar<'static>| {
            b[i..]
                .starts_with(word)
                .then_some((Value::Scalar(v), i + word.len()))
        };
        match *b.get(i)? {
            b'"' => {
                let (close, escaped) = self.string(i)?;
                let raw = &b[i + 1..close];
                let v = match escaped {
                    true => Value::Escaped(raw),
                    false => Value::Scalar(Scalar::Str(raw)),
                };
                Some((v, close + 1))
            }
            b'-' | b'0'..=b'9' => number(b, i),
            b't' => lit(b"true", Scalar::Bool(true)),
            b'f' => lit(b"false", Scalar::Bool(false)),
            b'n' => lit(b"null", Scalar::Null),
            b'{' | b'[' => {
                let next = self.skip_nested(i, 1)?;
                Some((Value::Nested(&b[i..next]), next))
            }
            _ => None,
        }
    }

    /// Validates the object or array at `i`, `depth` levels below the
    /// root; the index after it.
    fn skip_nested(&mut self, i: usize, depth: usize) -> Option<usize> {
        let b = self.b;
        if depth > MAX_DEPTH {
            return None;
        }
        let close = match b[i] {
            b'{' => b'}',
            _ => b']',
        };
        let mut j = ws(b, i + 1);
        if b.get(j) == Some(&close) {
            return Some(j + 1);
        }
        loop {
            if close == b'}' {
                if b.get(j) != Some(&b'"') {
                    return None;
                }
                let (q, _) = self.string(j)?;
                j = ws(b, q + 1);
                if b.get(j) != Some(&b':') {
                    return None;
                }
                j = ws(b, j + 1);
            }
            j = match *b.get(j)? {
                b'{' | b'[' => self.skip_nested(j, depth + 1)?,
                _ => self.value(j)?.1,
            };
            j = ws(b, j);
            match b.get(j) {
                Some(b',') => j = ws(b, j + 1),
                Some(&c) if c == close => return Some(j + 1),
                _ => return None,
            }
        }
    }

    /// The next unescaped quote.
    #[inline(always)]
    fn pop(&mut self) -> Option<usize> {
        while self.bits == 0 {
            self.word += 1;
            self.bits = *self.quotes.get(self.word)?;
        }
        let p = self.word * 64 + self.bits.trailing_zeros() as usize;
        self.bits &= self.bits - 1;
        Some(p)
    }

    /// Scans the string whose opening quote is at `open`; returns its
    /// closing quote's index and whether the string has escapes (their
    /// bytes were checked by `classify`, as were control bytes and UTF-8).
    #[inline(always)]
    fn string(&mut self, open: usize) -> Option<(usize, bool)> {
        // Quotes before `open` were all popped: the parse passes none
        // without popping it.
        if self.pop()? != open {
            return None;
        }
        // The padding of the last block has no quotes: `close` is in `b`.
        let close = self.pop()?;
        Some((close, self.any_backslash(open + 1, close)))
    }

    /// Whether a backslash is in `from..to`.
    #[inline(always)]
    fn any_backslash(&self, from: usize, to: usize) -> bool {
        let (a, z) = (from / 64, to / 64);
        let head = !0u64 << (from % 64);
        let tail = (1u64 << (to % 64)) - 1;
        if a == z {
            return self.backslashes[a] & head & tail != 0;
        }
        self.backslashes[a] & head != 0
            || self.backslashes[a + 1..z].iter().any(|&w| w != 0)
            || self.backslashes[z] & tail != 0
    }
}

#[inline(always)]
fn ws(b: &[u8], mut i: usize) -> usize {
    while let Some(b' ' | b'\t' | b'\n' | b'\r') = b.get(i) {
        i += 1;
    }
    i
}

/// A number; integers typed as simd-json types them: negative (`-0`
/// included) as `Int`, else `UInt`.
fn number(b: &[u8], i: usize) -> Option<(Value<'_>, usize)> {
    let negative = b[i] == b'-';
    let start = i + negative as usize;
    let (n, mut j) = digits(b, start)?;
    if b[start] == b'0' && j - start > 1 {
        return None;
    }
    match b.get(j) {
        Some(b'e' | b'E') => None,
        Some(b'.') => {
            // Kept as text; fractions that fit 64 bits, to stay well
            // inside what simd-json parses.
            let (_, k) = digits(b, j + 1)?;
            j = k;
            match b.get(j) {
                Some(b'e' | b'E') => None,
                _ => Some((Value::Float(&b[i..j]), j)),
            }
        }
        _ => {
            let v = match negative {
                // `n` up to 2^63: `-(2^63)` wraps to `i64::MIN`.
                true if n <= 1 << 63 => Scalar::Int((n as i64).wrapping_neg()),
                true => return None,
                false => Scalar::UInt(n),
            };
            Some((Value::Scalar(v), j))
        }
    }
}

/// One or more digits from `i` that fit in a `u64`: their value and the
/// index after them.
#[inline(always)]
fn digits(b: &[u8], i: usize) -> Option<(u64, usize)> {
    let mut j = i;
    let mut n: u64 = 0;
    while let Some(&c @ b'0'..=b'9') = b.get(j) {
        n = n.wrapping_mul(10).wrapping_add((c - b'0') as u64);
        j += 1;
    }
    // Up to 19 digits cannot overflow; 20 can, and are compared with
    // `u64::MAX` as text (same length: the same order as their values).
    match j - i {
        0 => None,
        1..=19 => Some((n, j)),
        20 if &b[i..j] <= b"18446744073709551615" => Some((n, j)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{Doc, TapeDoc};

    fn entries(record: &[u8]) -> Option<Vec<(Vec<u8>, Value<'_>)>> {
        let mut v = Vec::new();
        Scanner::new().scan(record, |k, x| v.push((k.to_vec(), x)))?;
        Some(v)
    }

    /// A root entry's value, strings unescaped.
    #[derive(Debug, PartialEq)]
    enum Tok {
        Str(Vec<u8>),
        Other(Scalar<'static>),
        /// A nested value's string values.
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
            Scalar::Int(i) => Tok::Other(Scalar::Int(i)),
            Scalar::UInt(u) => Tok::Other(Scalar::UInt(u)),
            Scalar::Float(f) => Tok::Other(Scalar::Float(f)),
            Scalar::Bool(b) => Tok::Other(Scalar::Bool(b)),
            Scalar::Null => Tok::Other(Scalar::Null),
        }
    }

    /// The root entries simd-json finds, if the record is a flat object.
    fn simd(record: &[u8]) -> Option<Vec<(Vec<u8>, Tok)>> {
        let mut buf = record.to_vec();
        let tape = simd_json::to_tape(&mut buf).ok()?;
        let root = TapeDoc(&tape.0);
        let mut v = Vec::new();
        let object = root.entries(|k, x| match x.scalar() {
            Some(s) => v.push((k.to_vec(), tok(s))),
            None => {
                let mut all = Vec::new();
                crate::shape::all_strings(x, &mut |b| all.push(b.to_vec()));
                v.push((k.to_vec(), Tok::Nested(all)))
            }
        });
        object.then_some(v)
    }

    /// What the scanner found, in `simd`'s form.
    fn ours(record: &[u8]) -> Option<Vec<(Vec<u8>, Tok)>> {
        let e = entries(record)?;
        fn text(v: Value<'_>) -> Vec<u8> {
            match v {
                Value::Scalar(Scalar::Str(s)) => s.to_vec(),
                Value::Escaped(raw) => {
                    let mut out = Vec::new();
                    unescape(raw, &mut out);
                    out
                }
                _ => unreachable!("not a string: {v:?}"),
            }
        }
        let tok = |v| match v {
            Value::Scalar(Scalar::Str(_)) | Value::Escaped(_) => Tok::Str(text(v)),
            Value::Scalar(s) => tok(s),
            Value::Float(t) => Tok::Other(Scalar::Float(
                std::str::from_utf8(t).unwrap().parse().unwrap(),
            )),
            Value::Nested(raw) => {
                let mut buf = raw.to_vec();
                let tape = simd_json::to_tape(&mut buf).unwrap();
                let mut all = Vec::new();
                crate::shape::all_strings(TapeDoc(&tape.0), &mut |b| all.push(b.to_vec()));
                Tok::Nested(all)
            }
        };
        Some(e.into_iter().map(|(k, v)| (k, tok(v))).collect())
    }

    /// A record the scanner takes is one simd-json takes, with the same
    /// entries.
    fn agrees(record: &[u8]) {
        if let Some(mine) = ours(record) {
            let theirs = simd(record);
            assert_eq!(
                Some(&mine),
                theirs.as_ref(),
                "{:?}",
                String::from_utf8_lossy(record)
            );
        }
    }

    #[test]
    fn takes_flat_records() {
        let r = br#" {"EventID": 4688, "Image":"C:\\Windows\\cmd.exe","x":-12,"y":true,"z":null,"w":false,"e":""} "#;
        let e = ours(r).unwrap();
        assert_eq!(e.len(), 7);
        assert_eq!(e[0], (b"EventID".to_vec(), Tok::Other(Scalar::UInt(4688))));
        assert_eq!(e[1].1, Tok::Str(b"C:\\Windows\\cmd.exe".to_vec()));
        assert_eq!(e[2].1, Tok::Other(Scalar::Int(-12)));
        agrees(r);
        assert_eq!(ours(b"{}"), Some(vec![]));
        assert_eq!(ours(b"\n{ }\r\n"), Some(vec![]));
        // Control bytes: whitespace around the object, not inside it.
        assert!(ours(b"\t{\"a\":1}\r\n").is_some());
        assert!(entries(b"{\"a\":\"x\ty\"}\r\n").is_none());
        assert!(entries(b"{\"a\":\t1}").is_none());
        agrees(b"{}");
    }

    #[test]
    fn takes_nested_values_and_floats_as_text() {
        let r = br#"{"tags":["a", {"b":"c\\d","e":[1,2.5,null]}],"f":-0.25,"g":{}, "h":[]}"#;
        let e = entries(r).unwrap();
        let tags = br#"["a", {"b":"c\\d","e":[1,2.5,null]}]"#;
        assert_eq!(e[0].1, Value::Nested(tags));
        assert_eq!(e[1].1, Value::Float(b"-0.25"));
        assert_eq!(e[2].1, Value::Nested(b"{}"));
        assert_eq!(e[3].1, Value::Nested(b"[]"));
        agrees(r);
        // Nesting up to the limit, not beyond.
        let deep = |n: usize| format!("{{\"a\":{}1{}}}", "[".repeat(n), "]".repeat(n));
        assert!(entries(deep(MAX_DEPTH).as_bytes()).is_some());
        assert!(entries(deep(MAX_DEPTH + 1).as_bytes()).is_none());
        agrees(deep(MAX_DEPTH).as_bytes());
    }

    #[test]
    fn unescapes_into_a_reused_buffer() {
        let mut buf = vec![b'x'; 100];
        let n = unescape_into(br"a\nb\\c\/", &mut buf);
        assert_eq!(&buf[..n], b"a\nb\\c/");
        let long = br"C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe";
        let n = unescape_into(long, &mut buf);
        assert_eq!(
            &buf[..n],
            br"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe"
        );
        let mut appended = b"ab".to_vec();
        unescape(br"\tc", &mut appended);
        assert_eq!(appended, b"ab\tc");
    }

    #[test]
    fn declines_what_it_does_not_read() {
        for r in [
            &br#"{"a":1e3}"#[..],
            br#"{"a":1.5E3}"#,
            br#"{"a":[1e3]}"#,
            br#"{"a":18446744073709551616}"#,
            br#"{"a":-9223372036854775809}"#,
            br#"{"a":"\u0041"}"#,
            br#"{"a":{"b\u0041":1}}"#,
            br#"{"a\n":1}"#,
            br#"[]"#,
            br#""a""#,
        ] {
            assert!(entries(r).is_none(), "{}", String::from_utf8_lossy(r));
        }
    }

    #[test]
    fn declines_invalid_records() {
        for r in [
            &b""[..],
            b"{",
            b"{\"a\"}",
            b"{\"a\":}",
            b"{\"a\":1,}",
            b"{\"a\":1 \"b\":2}",
            b"{\"a\":01}",
            b"{\"a\":-}",
            b"{\"a\":+1}",
            b"{\"a\":tru}",
            b"{\"a\":truex}",
            b"{\"a\":nul}",
            b"{\"a\":\"x\ty\"}",
            b"{\"a\":\"x\\qy\"}",
            b"{\"a\":\"x\xffy\"}",
            b"{\"a\":\"\xc3\"}",
            b"{\"a\":\"x}",
            b"{\"a\":1}x",
            b"{\"a\":1}{}",
            b"{'a':1}",
            b"\x0c{}",
        ] {
            assert!(entries(r).is_none(), "{}", String::from_utf8_lossy(r));
            assert!(simd(r).is_none(), "{}", String::from_utf8_lossy(r));
        }
    }

    #[test]
    fn strings_of_every_length_and_stop_position() {
        // Quotes, escapes, control and non-ASCII bytes at every offset of
        // the 16-byte words and 64-byte blocks, near the record's end too.
        for len in (0..40).chain(56..76).chain(120..136) {
            for at in 0..len {
                for special in [
                    &b"\\\""[..],
                    b"\\\\",
                    b"\\n",
                    "é".as_bytes(),
                    b"\x01",
                    b"\\u0041",
                ] {
                    let mut s = vec![b'a'; len];
                    s.splice(at..at + 1, special.iter().copied());
                    let mut r = b"{\"k\":\"".to_vec();
                    r.extend_from_slice(&s);
                    r.extend_from_slice(b"\"}");
                    agrees(&r);
                    let valid = !matches!(special, b"\x01" | b"\\u0041");
                    assert_eq!(ours(&r).is_some(), valid, "{}", String::from_utf8_lossy(&r));
                }
            }
        }
    }

    #[test]
    fn integers_as_simd_json_types_them() {
        for n in [
            "0",
            "-0",
            "7",
            "-7",
            "123456789012345678",
            "-123456789012345678",
            "1234567890123456789",
            "18446744073709551615",
            "-9223372036854775808",
            "-9223372036854775807",
        ] {
            let r = format!("{{\"n\":{n}}}");
            assert!(ours(r.as_bytes()).is_some(), "{r}");
            agrees(r.as_bytes());
        }
    }

    #[test]
    fn integers_beyond_64_bits_are_declined() {
        for n in [
            "18446744073709551616",
            "20000000000000000000",
            "99999999999999999999",
            "123456789012345678901",
            "-9223372036854775809",
            "-18446744073709551615",
            "1.123456789012345678901",
        ] {
            let r = format!("{{\"n\":{n}}}");
            assert!(ours(r.as_bytes()).is_none(), "{r}");
        }
        // Twenty digits of fraction fit, as twenty of an integer do.
        assert!(ours(b"{\"n\":1.09999999999999999999}").is_some());
    }

    use proptest::prelude::*;

    /// JSON-ish text: fragments that make valid and nearly valid records.
    fn jsonish() -> impl Strategy<Value = Vec<u8>> {
        const FRAGS: &[&[u8]] = &[
            b"{",
            b"}",
            b"\"",
            b":",
            b",",
            b" ",
            b"\\",
            b"\\\\",
            b"\\n",
            b"\\u00e9",
            b"-",
            b"0",
            b"17",
            b".5",
            b"e",
            b"true",
            b"null",
            b"[1]",
            b"[",
            b"]",
            b"{\"x\":[\"y\",{}]}",
            b"1.25",
            b"E3",
            b"abcdefghij",
            "é".as_bytes(),
            b"\xe9",
            b"\x1f",
            b"\"k\":\"v\"",
            b"\"k\":1",
        ];
        let frag = prop::sample::select(FRAGS);
        prop::collection::vec(frag, 0..24).prop_map(|v| v.concat())
    }

    /// A valid object of scalars and shallow lists and objects, serialized
    /// by serde_json.
    fn flat_object() -> impl Strategy<Value = Vec<u8>> {
        let leaf = prop_oneof![
            any::<String>().prop_map(serde_json::Value::from),
            "[a-z\\\\\"/\n\t\u{1}é]{0,20}".prop_map(serde_json::Value::from),
            any::<i64>().prop_map(serde_json::Value::from),
            any::<u64>().prop_map(serde_json::Value::from),
            any::<bool>().prop_map(serde_json::Value::from),
            Just(serde_json::Value::Null),
            (-1e6..1e6f64).prop_map(serde_json::Value::from),
        ];
        let scalar = leaf.prop_recursive(3, 16, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::from),
                prop::collection::vec(("[a-z\\\\]{0,4}", inner), 0..4)
                    .prop_map(|kv| { serde_json::Value::Object(kv.into_iter().collect()) }),
            ]
        });
        prop::collection::vec(("[A-Za-z]{1,12}", scalar), 0..12).prop_map(|kv| {
            let mut r = b"{".to_vec();
            for (i, (k, v)) in kv.iter().enumerate() {
                if i > 0 {
                    r.push(b',');
                }
                r.extend_from_slice(serde_json::to_string(k).unwrap().as_bytes());
                r.push(b':');
                r.extend_from_slice(v.to_string().as_bytes());
            }
            r.push(b'}');
            r
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4000))]
        #[test]
        fn escaped_bytes_across_blocks(text in "[\\\\\"a]{0,300}") {
            let b = text.as_bytes();
            // One byte at a time: a backslash not itself escaped escapes
            // the next byte.
            let mut want = vec![false; b.len()];
            let mut next = false;
            for (i, &c) in b.iter().enumerate() {
                want[i] = next;
                next = !next && c == b'\\';
            }
            let mut carry = 0;
            for (w, chunk) in b.chunks(64).enumerate() {
                let bs = chunk
                    .iter()
                    .enumerate()
                    .fold(0u64, |m, (i, &c)| m | ((c == b'\\') as u64) << i);
                let got = escaped(bs, &mut carry);
                for i in 0..chunk.len() {
                    prop_assert_eq!(got >> i & 1 == 1, want[w * 64 + i], "byte {}", w * 64 + i);
                }
            }
        }

        #[test]
        fn accepts_only_what_simd_json_accepts(r in jsonish()) {
            agrees(&r);
        }

        #[test]
        fn reads_flat_objects_as_simd_json_does(r in flat_object()) {
            agrees(&r);
            // Declined only for what it leaves to simd-json.
            let s = String::from_utf8_lossy(&r);
            fn exponent(v: &serde_json::Value) -> bool {
                match v {
                    serde_json::Value::Number(n) => n.to_string().contains(['e', 'E']),
                    serde_json::Value::Array(a) => a.iter().any(exponent),
                    serde_json::Value::Object(o) => o.values().any(exponent),
                    _ => false,
                }
            }
            let v: serde_json::Value = serde_json::from_slice(&r).unwrap();
            let left = s.contains("\\u") || exponent(&v);
            prop_assert!(ours(&r).is_some() || left, "declined {}", s);
        }
    }
}
