//! Deciding, per record, whether the keyword scan is needed.
//!
//! A keyword search looks at every string of the record, which costs more
//! than all field matching together on large PowerShell events. Most records
//! cannot be affected by it:
//!
//! - a keyword used only by rules that are false whatever the keywords say
//!   cannot change any result: the *gate* is the OR, over the logsource-scoped
//!   rules that use keywords, of the rule's logsource predicate and its
//!   detection with every keyword (and field reference, evaluated later)
//!   assumed to go the rule's way — read from atoms the field walk has
//!   already set. A Security-log rule `EventID: 4728 and 'ESX Admins'` opens
//!   the gate only for a 4728, not for every Security event;
//! - a keyword used by an unscoped rule (SigmaHQ's all-Windows Mimikatz rule)
//!   can only be present if a fragment of it occurs in the raw record bytes:
//!   JSON and msgpack store printable ASCII other than `"`, `\` and `/`
//!   verbatim, unless the JSON uses `\u` escapes, in which case we scan.
//!   Values fold by Unicode's lowercase, which makes two other characters
//!   ASCII (the Kelvin sign and U+0130, see `KELVIN`): they are looked for
//!   too.
//!   Keywords match without regard to case, so each fragment is found
//!   through a short window of it (`a::` of `sekurlsa::`) in every case
//!   variant, with one SIMD (Teddy) pass over the raw bytes and a full
//!   case-insensitive comparison where a window occurs. That needs no
//!   lowercased copy of the record; windows chosen around punctuation
//!   have few variants and rarely occur in ordinary records, and fragments
//!   share windows (`s::` for every `kerberos::`), so SigmaHQ's 20
//!   fragments need 30 variants: one slim Teddy pass.
//!
//! When neither says "maybe", the scan is skipped; the result is exact.

use aho_corasick::{packed, AhoCorasick, MatchKind, Span};

use crate::compiler::{AtomId, Expr, FieldId, Test};
use crate::pattern::Tok;

#[derive(Debug)]
enum Unscoped {
    /// No unscoped rule uses a keyword.
    None,
    /// Some unscoped keyword has no verbatim fragment: always scan.
    Always,
    /// Every case variant of a window of each fragment, for the raw bytes.
    Windows(Windows),
    /// Lowercased fragments of every unscoped keyword, for a lowercased
    /// copy of the raw bytes (when the windows have too many variants).
    Prefilter(AhoCorasick),
}

/// A window per fragment, found in the raw bytes (see the module
/// documentation) in every case variant with one Teddy pass.
#[derive(Debug)]
struct Windows {
    /// Case variants of the windows, and [`KELVIN`] if a fragment has a `k`.
    searcher: Option<packed::Searcher>,
    /// Each fragment, with where its window starts in it.
    cased: Vec<Frag>,
}

/// A lowercased fragment and where its window starts in it.
type Frag = (Vec<u8>, usize);

/// Teddy, the packed searcher's SIMD algorithm, takes up to 64 patterns.
const MAX_VARIANTS: usize = 64;

/// Values are folded with Unicode's lowercase (`pattern::fold_case`), under
/// which two characters become ASCII: the Kelvin sign, U+212A, is `k`, and
/// U+0130 is `i` and a combining dot. The Kelvin sign may stand for any `k`
/// of a fragment, so where it occurs the scan runs; U+0130 can only end a
/// match (the dot follows), so a fragment's final `i` may be it, and no
/// window covers that byte.
const KELVIN: &[u8] = "\u{212a}".as_bytes();
const DOTTED_I: &[u8] = "\u{130}".as_bytes();

/// The part of `f` a window may cover (see [`DOTTED_I`]).
fn windowed(f: &[u8]) -> &[u8] {
    f.strip_suffix(b"i").unwrap_or(f)
}

impl Windows {
    fn build(fragments: &[Vec<u8>]) -> Option<Windows> {
        // Greedy set cover: the window (3 bytes, or a shorter fragment
        // whole) with the fewest case variants per fragment it stands for,
        // until every fragment has one; then windows whose fragments all
        // have another are dropped. `s::` stands for all of `kerberos::*`,
        // `kiw` for the three `kiwi` fragments: SigmaHQ's 20 fragments need
        // 30 variants (31 patterns with the Kelvin sign), within slim
        // Teddy's 32, and punctuation needs no search of its own.
        let covers = |f: &[u8], w: &[u8]| find(windowed(f), w);
        // A fragment that is only `i` has no window.
        if fragments.iter().any(|f| windowed(f).is_empty()) {
            return None;
        }
        let mut chosen: Vec<Vec<u8>> = Vec::new();
        let mut left: Vec<&[u8]> = fragments.iter().map(Vec::as_slice).collect();
        while !left.is_empty() {
            let mut best: Option<(&[u8], usize, usize)> = None;
            for f in &left {
                let f = windowed(f);
                for w in f.windows(f.len().min(3)) {
                    let n = left.iter().filter(|g| covers(g, w).is_some()).count();
                    let variants = 1 << w.iter().filter(|b| b.is_ascii_alphabetic()).count();
                    // Fewer variants per fragment covered wins.
                    let better = match best {
                        None => true,
                        Some((_, bv, bn)) => variants * bn < bv * n,
                    };
                    if better {
                        best = Some((w, variants, n));
                    }
                }
            }
            let w = best?.0.to_vec();
            left.retain(|f| covers(f, &w).is_none());
            chosen.push(w);
        }
        for i in (0..chosen.len()).rev() {
            let others =
                |f: &&Vec<u8>| (0..chosen.len()).any(|j| j != i && covers(f, &chosen[j]).is_some());
            if fragments
                .iter()
                .filter(|f| covers(f, &chosen[i]).is_some())
                .all(|f| others(&f))
            {
                chosen.remove(i);
            }
        }
        let cased = fragments
            .iter()
            .map(|f| {
                let at = chosen.iter().find_map(|w| covers(f, w));
                (f.clone(), at.expect("every fragment has a window"))
            })
            .collect();
        let mut patterns: Vec<Vec<u8>> = chosen.iter().flat_map(|w| case_variants(w)).collect();
        if fragments.iter().any(|f| f.contains(&b'k')) {
            patterns.push(KELVIN.to_vec());
        }
        patterns.sort();
        patterns.dedup();
        if patterns.len() > MAX_VARIANTS {
            return None;
        }
        let searcher = match patterns.is_empty() {
            true => None,
            false => Some(
                packed::Config::new()
                    .match_kind(packed::MatchKind::LeftmostFirst)
                    .builder()
                    .extend(&patterns)
                    .build()?,
            ),
        };
        Some(Windows { searcher, cased })
    }

    /// May a fragment occur in `raw` under `fold_case`? Yes if it occurs
    /// ignoring ASCII case, if its final `i` is U+0130, or if the Kelvin
    /// sign occurs anywhere.
    fn any_in(&self, raw: &[u8]) -> bool {
        // Does a fragment of `list` have its window at `p`?
        let at = |p: usize, list: &[Frag]| {
            list.iter().any(|(f, off)| {
                let Some(rest) = p.checked_sub(*off).and_then(|q| raw.get(q..)) else {
                    return false;
                };
                let ascii = |f: &[u8]| {
                    rest.get(..f.len())
                        .is_some_and(|s| s.eq_ignore_ascii_case(f))
                };
                ascii(f)
                    || f.strip_suffix(b"i")
                        .is_some_and(|head| ascii(head) && rest[head.len()..].starts_with(DOTTED_I))
            })
        };
        let Some(searcher) = &self.searcher else {
            return false;
        };
        let mut from = 0;
        while let Some(m) = searcher.find_in(raw, Span::from(from..raw.len())) {
            let p = m.start();
            if at(p, &self.cased) || raw[p..].starts_with(KELVIN) {
                return true;
            }
            from = p + 1;
        }
        false
    }
}

/// Where `w` first occurs in `f`.
fn find(f: &[u8], w: &[u8]) -> Option<usize> {
    f.windows(w.len()).position(|x| x == w)
}

/// Every spelling of `w` under ASCII case changes.
fn case_variants(w: &[u8]) -> Vec<Vec<u8>> {
    let mut out = vec![Vec::new()];
    for &b in w {
        let up = b.to_ascii_uppercase();
        let mut next = Vec::new();
        for v in &out {
            let mut a = v.clone();
            a.push(b);
            next.push(a);
            if up != b {
                let mut c = v.clone();
                c.push(up);
                next.push(c);
            }
        }
        out = next;
    }
    out
}

/// Whether JSON bytes hold a `\u` escape (a `\u` after an even run of
/// backslashes; `C:\\users` holds none). Any escape may hide a fragment's
/// byte, or a character that folds to one.
fn has_unicode_escape(raw: &[u8]) -> bool {
    memchr::memmem::find_iter(raw, b"\\u").any(|i| {
        let run = raw[..i].iter().rev().take_while(|&&b| b == b'\\').count();
        run % 2 == 0
    })
}

/// See the module documentation.
#[derive(Debug)]
pub struct KeywordGate {
    unscoped: Unscoped,
    /// (logsource id, detection with unknowns assumed): the scan is needed
    /// if both hold for some entry. Logsources are the engine's distinct
    /// ones, whose truth is memoised per record.
    gates: Vec<(u32, Expr)>,
}

impl KeywordGate {
    /// `atom_rules` maps atoms to the rules they feed; `rule_scopes` rules to
    /// their logsource ids, `scopes` ids to predicates; `detections` rules to
    /// their detections.
    pub fn build(
        atoms: &[(FieldId, Test)],
        keywords: FieldId,
        atom_rules: &[Vec<u32>],
        rule_scopes: &[u32],
        scopes: &[Expr],
        detections: &[Expr],
    ) -> KeywordGate {
        let unknown = |a: AtomId| {
            let (f, t) = &atoms[a as usize];
            *f == keywords || matches!(t, Test::FieldRef { .. })
        };
        let mut fragments = Some(Vec::new());
        let mut gates = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for (a, (f, test)) in atoms.iter().enumerate() {
            if *f != keywords {
                continue;
            }
            let rules = &atom_rules[a];
            let unscoped = |r: u32| scopes[rule_scopes[r as usize] as usize] == Expr::Const(true);
            if rules.iter().any(|&r| unscoped(r)) {
                match (fragment(test), &mut fragments) {
                    (Some(frag), Some(list)) => list.push(frag),
                    _ => fragments = None,
                }
            }
            for &r in rules {
                if unscoped(r) {
                    continue;
                }
                let g = (
                    rule_scopes[r as usize],
                    detections[r as usize].assume_best(&unknown, true),
                );
                if g.1 != Expr::Const(false) && seen.insert(format!("{g:?}")) {
                    gates.push(g);
                }
            }
        }
        let unscoped = match fragments {
            None => Unscoped::Always,
            Some(f) if f.is_empty() => Unscoped::None,
            Some(f) if Windows::build(&f).is_some() => {
                Unscoped::Windows(Windows::build(&f).unwrap())
            }
            // Leftmost-first lets aho-corasick use its SIMD (Teddy) prefilter;
            // for "is there any match" it answers the same as standard semantics.
            Some(f) => AhoCorasick::builder()
                .match_kind(MatchKind::LeftmostFirst)
                .build(&f)
                .map(Unscoped::Prefilter)
                .unwrap_or(Unscoped::Always),
        };
        KeywordGate { unscoped, gates }
    }

    /// Whether to run the keyword scan on this record. `raw` is the record's
    /// bytes when there are any, `json` whether they may hold escapes;
    /// `buf` is scratch space; `scope` says whether a logsource holds, `atom`
    /// whether an atom was set.
    pub fn needs_scan(
        &self,
        raw: Option<&[u8]>,
        json: bool,
        buf: &mut Vec<u8>,
        mut scope: impl FnMut(u32) -> bool,
        atom: impl Fn(AtomId) -> bool,
    ) -> bool {
        if self.gates.iter().any(|(s, d)| scope(*s) && d.eval(&atom)) {
            return true;
        }
        match (&self.unscoped, raw) {
            (Unscoped::None, _) => false,
            (_, Some(raw)) if json && has_unicode_escape(raw) => true,
            (Unscoped::Windows(w), Some(raw)) => w.any_in(raw),
            // ASCII folding only: any other byte may fold to a fragment's.
            (Unscoped::Prefilter(ac), Some(raw)) => {
                buf.clear();
                buf.extend_from_slice(raw);
                buf.make_ascii_lowercase();
                !raw.is_ascii() || ac.is_match(buf.as_slice())
            }
            _ => true,
        }
    }
}

/// The longest lowercased run of a keyword's literal bytes that JSON and
/// msgpack keep verbatim, or `None`.
fn fragment(t: &Test) -> Option<Vec<u8>> {
    let Test::Str { value, .. } = t else {
        return None;
    };
    let best = value
        .toks()
        .iter()
        .filter_map(|t| match t {
            Tok::Lit(b) => Some(b),
            _ => None,
        })
        .flat_map(|b| b.split(|&c| !(0x20..0x7f).contains(&c) || matches!(c, b'"' | b'\\' | b'/')))
        .max_by_key(|f| f.len())?;
    (!best.is_empty()).then(|| best.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn mimikatz() -> Vec<Vec<u8>> {
        [
            "sekurlsa::",
            "kerberos::ptt",
            "eo.oe.kiwi",
            "mimidrv.sys",
            "lsadump::",
            "x:",
            "::::b",
        ]
        .iter()
        .map(|s| s.as_bytes().to_vec())
        .collect()
    }

    /// What the keyword scan sees: each value folded by `fold_case`.
    fn contains_folded(raw: &[u8], fragments: &[Vec<u8>]) -> bool {
        let mut low = Vec::new();
        crate::pattern::fold_case(raw, &mut low);
        fragments
            .iter()
            .any(|f| memchr::memmem::find(&low, f).is_some())
    }

    #[test]
    fn windows_find_fragments_in_any_case() {
        let w = Windows::build(&mimikatz()[..5]).unwrap();
        assert!(w.any_in(br#"{"CommandLine":"mimikatz SEKURLSA::logonpasswords"}"#));
        assert!(w.any_in(b"\xa4Data\xb0KeRbErOs::PtT /ticket"));
        assert!(!w.any_in(br#"{"CommandLine":"sekurlsa:: "#[..20].as_ref()));
        assert!(!w.any_in(br#"{"Message":"kerberos::pt lsadump:"}"#));
        // Folded as values are: the Kelvin sign is a `k`, U+0130 an `i` with
        // a dot after it, so it can end a fragment but not sit inside one.
        assert!(w.any_in("x KERBEROS::PT\u{212a}".as_bytes()));
        assert!(w.any_in("\u{212a}".as_bytes()));
        let kiwi = Windows::build(&[b"eo.oe.kiwi".to_vec(), b"mimidrv.sys".to_vec()]).unwrap();
        assert!(kiwi.any_in("EO.OE.KIW\u{130}".as_bytes()));
        assert!(!kiwi.any_in("M\u{130}MIDRV.SYS".as_bytes()));
        assert!(!kiwi.any_in("EO.OE.KIW\u{131}".as_bytes()));
        // Window `.b.` at offset 1: a failed candidate at 1 overlaps the
        // real one at 3.
        let w = Windows::build(&[b"b.b.c".to_vec()]).unwrap();
        assert!(w.any_in(b"x.b.B.c"));
        assert!(!w.any_in(b"x.b.b.d"));
        // Punctuation windows (`::`, `.-`) overlap the same way.
        let w = Windows::build(&[b"a::::b".to_vec(), b"x.-y".to_vec()]).unwrap();
        assert!(w.any_in(b"c::::a::::B"));
        assert!(!w.any_in(b"c::::a:::b x.-z"));
        assert!(w.any_in(b"X.-Y"));
        let w = Windows::build(&[b"::::b".to_vec()]).unwrap();
        assert!(w.any_in(b"x:::::B"));
    }

    #[test]
    fn windows_are_shared_between_fragments() {
        // The real rule's fragments: one Teddy pass of at most 32 variants
        // (slim Teddy), `::` windows included.
        let f: Vec<Vec<u8>> = [
            "dpapi::masterkey",
            "eo.oe.kiwi",
            "event::clear",
            "event::drop",
            "gentilkiwi.com",
            "kerberos::golden",
            "kerberos::ptc",
            "kerberos::ptt",
            "kerberos::tgt",
            "kiwi legit printer",
            "lsadump::",
            "mimidrv.sys",
            "mimilib.dll",
            "misc::printnightmare",
            "misc::shadowcopies",
            "misc::skeleton",
            "privilege::backup",
            "privilege::debug",
            "privilege::driver",
            "sekurlsa::",
        ]
        .iter()
        .map(|s| s.as_bytes().to_vec())
        .collect();
        let w = Windows::build(&f).unwrap();
        assert_eq!(w.cased.len(), f.len());
        let variants: usize = {
            let mut all = std::collections::BTreeSet::new();
            for (frag, at) in &w.cased {
                all.extend(case_variants(&frag[*at..*at + 3]));
            }
            all.len()
        };
        assert!(variants <= 30, "{variants} variants: {:?}", w.cased);
        assert!(w.any_in(b"x PRIVILEGE::Debug"));
        assert!(w.any_in(b"gentilKiwi.com"));
        assert!(!w.any_in(b"privilege:: debug kiwi mimi"));
    }

    #[test]
    fn too_many_variants_fall_back() {
        // Three letters (no `k`, none ending in `i`), no window shared: 8
        // variants each, nine fragments exceed 64.
        let f: Vec<Vec<u8>> = (0..9u8)
            .map(|i| vec![b'a' + i, b'l' + i, b'a' + (i + 20) % 26])
            .collect();
        assert!(Windows::build(&f[..8]).is_some());
        assert!(Windows::build(&f).is_none());
        // A fragment that is only `i` has no window U+0130 cannot hide.
        assert!(Windows::build(&[b"i".to_vec()]).is_none());
    }

    #[test]
    fn unicode_escapes_are_told_from_escaped_backslashes() {
        assert!(has_unicode_escape(br#"{"a":"mimi\u006batz"}"#));
        assert!(!has_unicode_escape(br#"{"a":"C:\\users\\x"}"#));
        assert!(has_unicode_escape(br#"{"a":"C:\\\u0055sers"}"#));
        assert!(!has_unicode_escape(br#"{"a":"plain"}"#));
    }

    proptest! {
        /// The window search never misses what the keyword scan would find
        /// (each value folded by `fold_case`), and with ASCII alone answers
        /// exactly that — candidates that overlap, repeat or sit at the
        /// ends included.
        #[test]
        fn windows_agree_with_a_folded_search(
            pieces in proptest::collection::vec((0usize..7, 0usize..12, any::<u16>(), any::<u8>()), 0..30),
        ) {
            // Each piece: a prefix of a fragment (whole ones included) in a
            // random case, a `k` sometimes the Kelvin sign and an `i`
            // U+0130, then one arbitrary ASCII byte.
            let f = mimikatz();
            let mut raw = Vec::new();
            for (i, len, case, byte) in pieces {
                let frag = &f[i];
                for (k, &b) in frag[..len.min(frag.len())].iter().enumerate() {
                    match (b, case >> (k % 16) & 1 == 1, case % 7) {
                        (b'k', true, 0) => raw.extend_from_slice(KELVIN),
                        (b'i', true, 1) => raw.extend_from_slice(DOTTED_I),
                        (b, true, _) => raw.push(b.to_ascii_uppercase()),
                        (b, false, _) => raw.push(b),
                    }
                }
                raw.push(byte & 0x7f);
            }
            let w = Windows::build(&f).unwrap();
            let found = contains_folded(&raw, &f);
            prop_assert!(!found || w.any_in(&raw));
            if raw.is_ascii() {
                prop_assert_eq!(w.any_in(&raw), found);
            }
        }
    }
}
