//! Sigma string values: wildcards, escaping and how a value is matched.
//!
//! A Sigma string is a sequence of literal bytes and the wildcards `*` (any
//! run, possibly empty) and `?` (exactly one character). The backslash escapes
//! `*`, `?` and itself; before anything else it is a literal backslash. This
//! follows pySigma's `SigmaString`, which the specification defers to.
//!
//! Values are bytes rather than `str` because the `wide`/`utf16*` modifiers
//! produce UTF-16 code units that need not be valid UTF-8.
//!
//! After modifiers, every string value is classified into the cheapest
//! [`StrMatch`]: most Sigma values are plain equality, prefix, suffix or
//! substring tests that an Aho-Corasick automaton answers for all rules at
//! once. Only values with inner wildcards need a glob, and those still get a
//! literal fragment to pre-filter on.

/// One piece of a Sigma string.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Tok {
    /// Literal bytes.
    Lit(Vec<u8>),
    /// `*`: any run of characters, possibly empty.
    Star,
    /// `?`: exactly one character.
    One,
}

/// A parsed Sigma string: literals and wildcards, adjacent literals merged.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct SigmaStr {
    toks: Vec<Tok>,
}

impl SigmaStr {
    /// Parses a rule value with Sigma's wildcard and escaping rules.
    pub fn parse(s: &str) -> SigmaStr {
        let mut out = SigmaStr::default();
        let mut chars = s.chars().peekable();
        let mut buf = [0u8; 4];
        while let Some(c) = chars.next() {
            match c {
                '\\' => match chars.peek() {
                    Some(&n @ ('*' | '?' | '\\')) => {
                        chars.next();
                        out.push_lit(n.encode_utf8(&mut buf).as_bytes());
                    }
                    _ => out.push_lit(b"\\"),
                },
                '*' => out.push(Tok::Star),
                '?' => out.push(Tok::One),
                _ => out.push_lit(c.encode_utf8(&mut buf).as_bytes()),
            }
        }
        out
    }

    /// A string with no wildcards at all (used for transformed values and numbers).
    pub fn literal(bytes: &[u8]) -> SigmaStr {
        let mut out = SigmaStr::default();
        out.push_lit(bytes);
        out
    }

    pub fn toks(&self) -> &[Tok] {
        &self.toks
    }

    pub fn push(&mut self, t: Tok) {
        match t {
            Tok::Lit(b) => self.push_lit(&b),
            // `**` is the same as `*`.
            Tok::Star if self.toks.last() == Some(&Tok::Star) => {}
            t => self.toks.push(t),
        }
    }

    pub fn push_lit(&mut self, b: &[u8]) {
        if b.is_empty() {
            return;
        }
        if let Some(Tok::Lit(last)) = self.toks.last_mut() {
            last.extend_from_slice(b);
        } else {
            self.toks.push(Tok::Lit(b.to_vec()));
        }
    }

    pub fn has_wildcards(&self) -> bool {
        self.toks.iter().any(|t| !matches!(t, Tok::Lit(_)))
    }

    /// The literal bytes, if the string has no wildcards.
    pub fn as_literal(&self) -> Option<&[u8]> {
        match self.toks.as_slice() {
            [] => Some(b""),
            [Tok::Lit(b)] => Some(b),
            _ => None,
        }
    }

    /// Applies `f` to every literal run, keeping wildcards where they are.
    pub fn map_literals(&self, mut f: impl FnMut(&[u8]) -> Vec<u8>) -> SigmaStr {
        let mut out = SigmaStr::default();
        for t in &self.toks {
            match t {
                Tok::Lit(b) => out.push_lit(&f(b)),
                t => out.push(t.clone()),
            }
        }
        out
    }

    /// `*` + self + `*` (the `contains` modifier).
    pub fn contains(&self) -> SigmaStr {
        self.startswith().endswith()
    }

    /// self + `*` (the `startswith` modifier).
    pub fn startswith(&self) -> SigmaStr {
        let mut out = self.clone();
        out.push(Tok::Star);
        out
    }

    /// `*` + self (the `endswith` modifier).
    pub fn endswith(&self) -> SigmaStr {
        let mut out = SigmaStr::default();
        out.push(Tok::Star);
        for t in &self.toks {
            out.push(t.clone());
        }
        out
    }

    /// Chooses the cheapest way to test a field value against this string.
    pub fn classify(&self) -> StrMatch {
        let t = self.toks.as_slice();
        let star_first = t.first() == Some(&Tok::Star);
        let star_last = t.len() > 1 && t.last() == Some(&Tok::Star);
        let inner = &t[star_first as usize..t.len() - star_last as usize];
        match (star_first, inner, star_last) {
            (_, [], _) if star_first || star_last => StrMatch::Any,
            (false, [], false) => StrMatch::Exact(Vec::new()),
            (false, [Tok::Lit(b)], false) => StrMatch::Exact(b.clone()),
            (false, [Tok::Lit(b)], true) => StrMatch::Prefix(b.clone()),
            (true, [Tok::Lit(b)], false) => StrMatch::Suffix(b.clone()),
            (true, [Tok::Lit(b)], true) => StrMatch::Contains(b.clone()),
            _ => StrMatch::Glob {
                regex: self.to_regex(),
                required: self.longest_literal(),
            },
        }
    }

    /// The longest literal run: every value the glob matches contains it.
    fn longest_literal(&self) -> Vec<u8> {
        self.toks
            .iter()
            .filter_map(|t| match t {
                Tok::Lit(b) => Some(b),
                _ => None,
            })
            .max_by_key(|b| b.len())
            .cloned()
            .unwrap_or_default()
    }

    /// An anchored regex (for `regex::bytes`) equivalent to this glob.
    fn to_regex(&self) -> String {
        let mut re = String::from("(?s)^");
        for t in &self.toks {
            match t {
                Tok::Lit(b) => {
                    for &byte in b {
                        if byte.is_ascii() {
                            re.push_str(&regex::escape(&(byte as char).to_string()));
                        } else {
                            re.push_str(&format!("(?-u:\\x{byte:02X})"));
                        }
                    }
                }
                Tok::Star => re.push_str("(?-u:.)*"),
                Tok::One => re.push('.'),
            }
        }
        re.push('$');
        re
    }
}

/// How one string value is tested against a field value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StrMatch {
    /// Whole value equals.
    Exact(Vec<u8>),
    /// Value starts with.
    Prefix(Vec<u8>),
    /// Value ends with.
    Suffix(Vec<u8>),
    /// Value contains.
    Contains(Vec<u8>),
    /// Any string value (a pattern of only `*`).
    Any,
    /// Inner wildcards: an anchored regex, tried only when `required` occurs.
    Glob { regex: String, required: Vec<u8> },
}

/// Lowercases for case-insensitive matching: full Unicode lowercase for valid
/// UTF-8 with non-ASCII characters, ASCII lowercase otherwise. Needles and
/// field values go through the same function, so positions stay comparable.
pub fn fold_case(input: &[u8], out: &mut Vec<u8>) {
    out.clear();
    if input.is_ascii() {
        // Copy, then lowercase in place: both vectorise.
        out.extend_from_slice(input);
        out.make_ascii_lowercase();
        return;
    }
    match std::str::from_utf8(input) {
        Ok(s) => {
            for c in s.chars() {
                if c.is_ascii() {
                    out.push(c.to_ascii_lowercase() as u8);
                } else {
                    let mut buf = [0u8; 4];
                    for l in c.to_lowercase() {
                        out.extend_from_slice(l.encode_utf8(&mut buf).as_bytes());
                    }
                }
            }
        }
        Err(_) => out.extend(input.iter().map(u8::to_ascii_lowercase)),
    }
}

/// [`fold_case`] into a new vector.
pub fn folded(input: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(input.len());
    fold_case(input, &mut v);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lit(s: &str) -> Tok {
        Tok::Lit(s.as_bytes().to_vec())
    }

    #[test]
    fn escaping_rules() {
        assert_eq!(SigmaStr::parse(r"a\*b").toks(), &[lit("a*b")]);
        assert_eq!(SigmaStr::parse(r"a\?b").toks(), &[lit("a?b")]);
        // `\\*` is a literal backslash followed by a wildcard.
        assert_eq!(SigmaStr::parse(r"a\\*").toks(), &[lit(r"a\"), Tok::Star]);
        // `\\\*` is a backslash and a literal star.
        assert_eq!(SigmaStr::parse(r"a\\\*").toks(), &[lit(r"a\*")]);
        // A backslash before anything else is itself.
        assert_eq!(
            SigmaStr::parse(r"\Services\DHCP").toks(),
            &[lit(r"\Services\DHCP")]
        );
        // A trailing backslash is kept.
        assert_eq!(SigmaStr::parse(r"C:\").toks(), &[lit(r"C:\")]);
        assert_eq!(
            SigmaStr::parse("a?c*").toks(),
            &[lit("a"), Tok::One, lit("c"), Tok::Star]
        );
    }

    #[test]
    fn classification() {
        let c = |s: &str| SigmaStr::parse(s).classify();
        assert_eq!(c("abc"), StrMatch::Exact(b"abc".to_vec()));
        assert_eq!(c(""), StrMatch::Exact(vec![]));
        assert_eq!(c("abc*"), StrMatch::Prefix(b"abc".to_vec()));
        assert_eq!(c("*abc"), StrMatch::Suffix(b"abc".to_vec()));
        assert_eq!(c("*abc*"), StrMatch::Contains(b"abc".to_vec()));
        assert_eq!(c("*"), StrMatch::Any);
        assert_eq!(c("**"), StrMatch::Any);
        assert_eq!(c(r"\*"), StrMatch::Exact(b"*".to_vec()));
        match c("*a*bcd*") {
            StrMatch::Glob { required, .. } => assert_eq!(required, b"bcd"),
            other => panic!("{other:?}"),
        }
        match c("a?") {
            StrMatch::Glob { regex, .. } => {
                let re = regex::bytes::Regex::new(&regex).unwrap();
                assert!(re.is_match(b"ab"));
                assert!(re.is_match("aé".as_bytes()), "? is one character");
                assert!(!re.is_match(b"abc"));
                assert!(!re.is_match(b"a"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn modifiers_wrap_wildcards() {
        let s = SigmaStr::parse("x");
        assert_eq!(s.contains().classify(), StrMatch::Contains(b"x".to_vec()));
        assert_eq!(s.startswith().classify(), StrMatch::Prefix(b"x".to_vec()));
        assert_eq!(s.endswith().classify(), StrMatch::Suffix(b"x".to_vec()));
        // A value already ending in `*` does not gain a second one.
        assert_eq!(
            SigmaStr::parse("x*").contains().classify(),
            StrMatch::Contains(b"x".to_vec())
        );
    }

    #[test]
    fn case_folding() {
        assert_eq!(folded(b"AbC"), b"abc");
        assert_eq!(folded("ÄÖ".as_bytes()), "äö".as_bytes());
        assert_eq!(folded(&[0x41, 0xff]), &[0x61, 0xff]);
    }
}
