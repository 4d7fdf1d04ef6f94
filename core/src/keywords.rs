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
//!
//! When neither says "maybe", the scan is skipped; the result is exact.

use aho_corasick::{AhoCorasick, MatchKind};

use crate::compiler::{AtomId, Expr, FieldId, Test};
use crate::pattern::Tok;

#[derive(Debug)]
enum Unscoped {
    /// No unscoped rule uses a keyword.
    None,
    /// Some unscoped keyword has no verbatim fragment: always scan.
    Always,
    /// Lowercased fragments of every unscoped keyword.
    Prefilter(AhoCorasick),
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
    /// bytes when there are any; `buf` is scratch space; `scope` says whether
    /// a logsource holds, `atom` whether an atom was set.
    pub fn needs_scan(
        &self,
        raw: Option<&[u8]>,
        buf: &mut Vec<u8>,
        mut scope: impl FnMut(u32) -> bool,
        atom: impl Fn(AtomId) -> bool,
    ) -> bool {
        if self.gates.iter().any(|(s, d)| scope(*s) && d.eval(&atom)) {
            return true;
        }
        match (&self.unscoped, raw) {
            (Unscoped::None, _) => false,
            (Unscoped::Prefilter(ac), Some(raw)) if memchr::memmem::find(raw, b"\\u").is_none() => {
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
