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
//!   Keywords match without regard to case, so each fragment is found
//!   through a short window of it (`a::` of `sekurlsa::`) in every case
//!   variant, with one SIMD (Teddy) pass over the raw bytes and a full
//!   case-insensitive comparison where a window occurs. That needs no
//!   lowercased copy of the record; windows chosen around punctuation
//!   have few variants and rarely occur in ordinary records, and fragments
//!   share windows (`s::` for every `kerberos::`), so SigmaHQ's 20
//!   fragments need 32 variants: one slim Teddy pass.
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
    /// Case variants of the windows.
    searcher: Option<packed::Searcher>,
    /// The same and [`ESCAPE`], for JSON: one pass answers both.
    json: Option<packed::Searcher>,
    /// Each fragment, with where its window starts in it.
    cased: Vec<Frag>,
}

/// A lowercased fragment and where its window starts in it.
type Frag = (Vec<u8>, usize);

/// Teddy, the packed searcher's SIMD algorithm, takes up to 64 patterns.
const MAX_VARIANTS: usize = 64;

/// How a JSON `\u` escape of a fragment's byte begins: fragments are
/// printable ASCII, `\u0020` to `\u007e`.
const ESCAPE: &[u8] = b"\\u0";

impl Windows {
    fn build(fragments: &[Vec<u8>]) -> Option<Windows> {
        // Greedy set cover: the window (3 bytes, or a shorter fragment
        // whole) with the fewest case variants per fragment it stands for,
        // until every fragment has one; then windows whose fragments all
        // have another are dropped. `s::` stands for all of `kerberos::*`,
        // `kiw` for the three `kiwi` fragments: SigmaHQ's 20 fragments need
        // 30 variants, within slim Teddy's 32, and punctuation needs no
        // search of its own.
        let mut chosen: Vec<Vec<u8>> = Vec::new();
        let mut left: Vec<&[u8]> = fragments.iter().map(Vec::as_slice).collect();
        while !left.is_empty() {
            let mut best: Option<(&[u8], usize, usize)> = None;
            for f in &left {
                for w in f.windows(f.len().min(3)) {
                    let covers = left.iter().filter(|g| find(g, w).is_some()).count();
                    let variants = 1 << w.iter().filter(|b| b.is_ascii_alphabetic()).count();
                    // Fewer variants per fragment covered wins.
                    let better = match best {
                        None => true,
                        Some((_, bv, bc)) => variants * bc < bv * covers,
                    };
                    if better {
                        best = Some((w, variants, covers));
                    }
                }
            }
            let w = best?.0.to_vec();
            left.retain(|f| find(f, &w).is_none());
            chosen.push(w);
        }
        for i in (0..chosen.len()).rev() {
            let others =
                |f: &&Vec<u8>| (0..chosen.len()).any(|j| j != i && find(f, &chosen[j]).is_some());
            if fragments
                .iter()
                .filter(|f| find(f, &chosen[i]).is_some())
                .all(|f| others(&f))
            {
                chosen.remove(i);
            }
        }
        let cased = fragments
            .iter()
            .map(|f| {
                let at = chosen.iter().find_map(|w| find(f, w));
                (f.clone(), at.expect("every fragment has a window"))
            })
            .collect();
        let mut patterns: Vec<Vec<u8>> = chosen.iter().flat_map(|w| case_variants(w)).collect();
        patterns.sort();
        patterns.dedup();
        if patterns.len() > MAX_VARIANTS - 1 {
            return None;
        }
        let build = |pats: &[Vec<u8>]| {
            packed::Config::new()
                .match_kind(packed::MatchKind::LeftmostFirst)
                .builder()
                .extend(pats)
                .build()
        };
        let searcher = match patterns.is_empty() {
            true => None,
            false => Some(build(&patterns)?),
        };
        patterns.push(ESCAPE.to_vec());
        let json = Some(build(&patterns)?);
        Some(Windows {
            searcher,
            json,
            cased,
        })
    }

    /// Does any fragment occur in `raw`, ignoring ASCII case? For JSON
    /// (`json`), a `\u` escape of a printable byte also says yes: it may
    /// hide one.
    fn any_in(&self, raw: &[u8], json: bool) -> bool {
        // Does a fragment of `list` have its window at `p`?
        let at = |p: usize, list: &[Frag]| {
            list.iter().any(|(f, off)| {
                p >= *off
                    && raw
                        .get(p - off..p - off + f.len())
                        .is_some_and(|s| s.eq_ignore_ascii_case(f))
            })
        };
        let searcher = match json {
            true => &self.json,
            false => &self.searcher,
        };
        let Some(searcher) = searcher else {
            return false;
        };
        let mut from = 0;
        while let Some(m) = searcher.find_in(raw, Span::from(from..raw.len())) {
            let p = m.start();
            if at(p, &self.cased) || (json && raw[p..].starts_with(ESCAPE) && escapes(raw, p)) {
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

/// Whether the backslash at `p` starts an escape (an even run of
/// backslashes before it: `C:\\users` holds no `\u` escape).
fn escapes(raw: &[u8], p: usize) -> bool {
    raw[..p].iter().rev().take_while(|&&b| b == b'\\').count() % 2 == 0
}

/// Whether JSON bytes hold a `\u` escape.
fn has_unicode_escape(raw: &[u8]) -> bool {
    memchr::memmem::find_iter(raw, b"\\u").any(|i| escapes(raw, i))
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
            (Unscoped::Windows(w), Some(raw)) => w.any_in(raw, json),
            (_, Some(raw)) if json && has_unicode_escape(raw) => true,
            (Unscoped::Prefilter(ac), Some(raw)) => {
                buf.clear();
                buf.extend_from_slice(raw);
                buf.make_ascii_lowercase();
                ac.is_match(buf.as_slice())
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

    fn contains_folded(raw: &[u8], fragments: &[Vec<u8>]) -> bool {
        let low = raw.to_ascii_lowercase();
        fragments
            .iter()
            .any(|f| memchr::memmem::find(&low, f).is_some())
    }

    #[test]
    fn windows_find_fragments_in_any_case() {
        let w = Windows::build(&mimikatz()[..5]).unwrap();
        assert!(w.any_in(
            br#"{"CommandLine":"mimikatz SEKURLSA::logonpasswords"}"#,
            false
        ));
        assert!(w.any_in(b"\xa4Data\xb0KeRbErOs::PtT /ticket", false));
        assert!(!w.any_in(br#"{"CommandLine":"sekurlsa:: "#[..20].as_ref(), false));
        assert!(!w.any_in(br#"{"Message":"kerberos::pt lsadump:"}"#, false));
        // JSON escapes of printable bytes may hide a fragment; escaped
        // backslashes do not.
        assert!(w.any_in(br#"{"a":"\u0053EKURLSA"}"#, true));
        assert!(!w.any_in(br#"{"a":"\u0053EKURLSA"}"#, false));
        assert!(!w.any_in(br#"{"a":"C:\\u0053ers"}"#, true));
        assert!(w.any_in(br#"{"a":"C:\\\u0053ers"}"#, true));
        // Window `.b.` at offset 1: a failed candidate at 1 overlaps the
        // real one at 3.
        let w = Windows::build(&[b"b.b.c".to_vec()]).unwrap();
        assert!(w.any_in(b"x.b.B.c", false));
        assert!(!w.any_in(b"x.b.b.d", false));
        // Punctuation windows (`::`, `.-`) overlap the same way.
        let w = Windows::build(&[b"a::::b".to_vec(), b"x.-y".to_vec()]).unwrap();
        assert!(w.any_in(b"c::::a::::B", false));
        assert!(!w.any_in(b"c::::a:::b x.-z", false));
        assert!(w.any_in(b"X.-Y", false));
        let w = Windows::build(&[b"::::b".to_vec()]).unwrap();
        assert!(w.any_in(b"x:::::B", false));
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
        assert!(w.any_in(b"x PRIVILEGE::Debug", false));
        assert!(w.any_in(b"gentilKiwi.com", false));
        assert!(!w.any_in(b"privilege:: debug kiwi mimi", false));
    }

    #[test]
    fn too_many_variants_fall_back() {
        // Three letters, no window shared: 8 variants each; with JSON's
        // escape window, eight fragments exceed 64 patterns.
        let f: Vec<Vec<u8>> = (0..8u8)
            .map(|i| vec![b'a' + i, b'j' + i, b'a' + (i + 18) % 26])
            .collect();
        assert!(Windows::build(&f[..7]).is_some());
        assert!(Windows::build(&f).is_none());
    }

    #[test]
    fn unicode_escapes_are_told_from_escaped_backslashes() {
        assert!(has_unicode_escape(br#"{"a":"mimi\u006batz"}"#));
        assert!(!has_unicode_escape(br#"{"a":"C:\\users\\x"}"#));
        assert!(has_unicode_escape(br#"{"a":"C:\\\u0055sers"}"#));
        assert!(!has_unicode_escape(br#"{"a":"plain"}"#));
    }

    proptest! {
        /// The window search answers exactly "does a fragment occur, ignoring
        /// ASCII case" — candidates that overlap, repeat or sit at the ends
        /// included.
        #[test]
        fn windows_agree_with_a_folded_search(
            pieces in proptest::collection::vec((0usize..7, 0usize..12, any::<u16>(), any::<u8>()), 0..30),
        ) {
            // Each piece: a prefix of a fragment (whole ones included) in a
            // random case, then one arbitrary byte.
            let f = mimikatz();
            let mut raw = Vec::new();
            for (i, len, case, byte) in pieces {
                let frag = &f[i];
                for (k, &b) in frag[..len.min(frag.len())].iter().enumerate() {
                    raw.push(if case >> (k % 16) & 1 == 1 { b.to_ascii_uppercase() } else { b });
                }
                raw.push(byte);
            }
            let w = Windows::build(&f).unwrap();
            let found = contains_folded(&raw, &f);
            prop_assert_eq!(w.any_in(&raw, false), found);
            // JSON: never less; more only where a backslash may escape.
            prop_assert!(!found || w.any_in(&raw, true));
            if !raw.contains(&b'\\') {
                prop_assert_eq!(w.any_in(&raw, true), found);
            }
        }
    }
}
