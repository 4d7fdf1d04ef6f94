//! Per-field matchers: all tests of all rules on one field, answered in one
//! pass over the field's value.
//!
//! Equality goes through a hash map, every prefix/suffix/substring needle
//! and every glob's required literal through one Aho-Corasick automaton
//! (overlapping search, so no needle hides another), regexes through one
//! `RegexSet`. Case-insensitive tests see the value lowercased once.

use rustc_hash::FxHashMap as HashMap;

use aho_corasick::{AhoCorasick, AhoCorasickKind, MatchKind};
use regex::bytes::{Regex, RegexBuilder};

use crate::compiler::{AtomId, Cidr, CmpOp, Test, TimePart};
use crate::pattern::{folded, StrMatch};

/// Regex size limit per pattern (the `regex` crate's compiled-size bound).
pub const REGEX_SIZE_LIMIT: usize = 1 << 22;

/// Largest needle set compiled to a DFA. Above a few hundred needles the
/// DFA's memory (MiBs per field) buys nothing measurable over the
/// contiguous NFA: with the Windows pack, 400 instead of 2,000 cuts the
/// automata from 64 to 25 MiB for +0.6% instructions per record.
const DFA_MAX_NEEDLES: usize = 400;

#[derive(Clone, Copy, Debug)]
enum Hook {
    Prefix(AtomId),
    Suffix(AtomId),
    Contains(AtomId),
    Glob(u32, AtomId),
}

impl Hook {
    fn atom(self) -> AtomId {
        match self {
            Hook::Prefix(a) | Hook::Suffix(a) | Hook::Contains(a) | Hook::Glob(_, a) => a,
        }
    }
}

#[derive(Debug, Default)]
struct AutomatonBuilder {
    needles: Vec<Vec<u8>>,
    index: HashMap<Vec<u8>, usize>,
    hooks: Vec<Vec<Hook>>,
}

impl AutomatonBuilder {
    fn add(&mut self, needle: Vec<u8>, hook: Hook) {
        let i = *self.index.entry(needle.clone()).or_insert_with(|| {
            self.needles.push(needle);
            self.hooks.push(Vec::new());
            self.needles.len() - 1
        });
        self.hooks[i].push(hook);
    }

    fn build(self) -> Result<Option<Automaton>, String> {
        if self.needles.is_empty() {
            return Ok(None);
        }
        // A DFA is the fastest search; its memory grows with the needles, so
        // large sets (CommandLine has thousands) keep the compact NFA.
        let kind = (self.needles.len() <= DFA_MAX_NEEDLES).then_some(AhoCorasickKind::DFA);
        let ac = AhoCorasick::builder()
            .kind(kind)
            .match_kind(MatchKind::Standard)
            .build(&self.needles)
            .map_err(|e| e.to_string())?;
        Ok(Some(Automaton {
            ac,
            hooks: self.hooks,
        }))
    }
}

#[derive(Debug)]
struct Automaton {
    ac: AhoCorasick,
    hooks: Vec<Vec<Hook>>,
}

/// A test that is neither a string nor a regex.
#[derive(Debug)]
enum Other {
    Cidr(Cidr),
    Num(CmpOp, f64),
    Time(TimePart, i64),
}

/// One side (case-insensitive or cased) of a field's string tests.
#[derive(Debug, Default)]
struct Side {
    exact: HashMap<Vec<u8>, Vec<AtomId>>,
    automaton: Option<Automaton>,
    /// Globs without a literal to pre-filter on.
    bare_globs: Vec<(u32, AtomId)>,
}

impl Side {
    fn is_empty(&self) -> bool {
        self.exact.is_empty() && self.automaton.is_none() && self.bare_globs.is_empty()
    }
}

/// Everything tested on one field.
#[derive(Debug, Default)]
pub struct FieldMatcher {
    folded: Side,
    cased: Side,
    globs: Vec<Regex>,
    any: Vec<AtomId>,
    regexes: Vec<(Regex, AtomId)>,
    others: Vec<(AtomId, Other)>,
    pub present: Vec<AtomId>,
    pub nonnull: Vec<AtomId>,
}

/// Collects a field's tests, then builds its [`FieldMatcher`].
#[derive(Debug, Default)]
pub struct FieldMatcherBuilder {
    folded: AutomatonBuilder,
    cased: AutomatonBuilder,
    m: FieldMatcher,
    regexes: Vec<(String, AtomId)>,
}

impl FieldMatcherBuilder {
    pub fn add(&mut self, atom: AtomId, test: &Test) -> Result<(), String> {
        match test {
            Test::Str { value, cased } => {
                let value = if *cased {
                    value.clone()
                } else {
                    value.map_literals(folded)
                };
                let (side, ac) = if *cased {
                    (&mut self.m.cased, &mut self.cased)
                } else {
                    (&mut self.m.folded, &mut self.folded)
                };
                match value.classify() {
                    StrMatch::Exact(b) => side.exact.entry(b).or_default().push(atom),
                    StrMatch::Any => self.m.any.push(atom),
                    StrMatch::Prefix(b) | StrMatch::Suffix(b) | StrMatch::Contains(b)
                        if b.is_empty() =>
                    {
                        self.m.any.push(atom)
                    }
                    StrMatch::Prefix(b) => ac.add(b, Hook::Prefix(atom)),
                    StrMatch::Suffix(b) => ac.add(b, Hook::Suffix(atom)),
                    StrMatch::Contains(b) => ac.add(b, Hook::Contains(atom)),
                    StrMatch::Glob { regex, required } => {
                        let re = RegexBuilder::new(&regex)
                            .size_limit(REGEX_SIZE_LIMIT)
                            .build()
                            .map_err(|e| e.to_string())?;
                        let gi = self.m.globs.len() as u32;
                        self.m.globs.push(re);
                        if required.is_empty() {
                            side.bare_globs.push((gi, atom));
                        } else {
                            ac.add(required, Hook::Glob(gi, atom));
                        }
                    }
                }
            }
            Test::Regex(p) => self.regexes.push((p.clone(), atom)),
            Test::Cidr(c) => self.m.others.push((atom, Other::Cidr(*c))),
            Test::Num(op, n) => self.m.others.push((atom, Other::Num(*op, *n))),
            Test::Time(p, n) => self.m.others.push((atom, Other::Time(*p, *n))),
            Test::Present => self.m.present.push(atom),
            Test::NonNull => self.m.nonnull.push(atom),
            Test::FieldRef { .. } => {}
        }
        Ok(())
    }

    pub fn build(mut self) -> Result<FieldMatcher, String> {
        self.m.folded.automaton = self.folded.build()?;
        self.m.cased.automaton = self.cased.build()?;
        for (p, a) in self.regexes {
            let re = RegexBuilder::new(&p)
                .size_limit(REGEX_SIZE_LIMIT)
                .build()
                .map_err(|e| e.to_string())?;
            self.m.regexes.push((re, a));
        }
        Ok(self.m)
    }
}

impl FieldMatcher {
    /// Needles in this field's automata (case-folded, cased).
    pub fn needle_counts(&self) -> (usize, usize) {
        let n = |s: &Side| s.automaton.as_ref().map_or(0, |a| a.hooks.len());
        (n(&self.folded), n(&self.cased))
    }

    /// Does any test need the value's text (not just presence)?
    pub fn reads_values(&self) -> bool {
        !(self.folded.is_empty()
            && self.cased.is_empty()
            && self.any.is_empty()
            && self.regexes.is_empty()
            && self.others.is_empty())
    }

    /// Runs every test on one value's text; `lower` is a scratch buffer.
    pub fn run(&self, text: &[u8], lower: &mut Vec<u8>, set: &mut impl FnMut(AtomId)) {
        for &a in &self.any {
            set(a);
        }
        if !self.folded.is_empty() {
            crate::pattern::fold_case(text, lower);
            self.run_side(&self.folded, lower, set);
        }
        if !self.cased.is_empty() {
            self.run_side(&self.cased, text, set);
        }
        // One regex at a time: each gets the `regex` crate's literal
        // prefilter, which a RegexSet (all patterns, every match) cannot use.
        for (re, a) in &self.regexes {
            if re.is_match(text) {
                set(*a);
            }
        }
        if !self.others.is_empty() {
            let s = std::str::from_utf8(text).unwrap_or("").trim();
            for (a, o) in &self.others {
                if other_matches(o, s) {
                    set(*a);
                }
            }
        }
    }

    fn run_side(&self, side: &Side, hay: &[u8], set: &mut impl FnMut(AtomId)) {
        if let Some(atoms) = side.exact.get(hay) {
            for &a in atoms {
                set(a);
            }
        }
        for &(g, a) in &side.bare_globs {
            if self.globs[g as usize].is_match(hay) {
                set(a);
            }
        }
        let Some(au) = &side.automaton else { return };
        for m in au.ac.find_overlapping_iter(hay) {
            for &h in &au.hooks[m.pattern().as_usize()] {
                let hit = match h {
                    Hook::Contains(_) => true,
                    Hook::Prefix(_) => m.start() == 0,
                    Hook::Suffix(_) => m.end() == hay.len(),
                    Hook::Glob(g, _) => self.globs[g as usize].is_match(hay),
                };
                if hit {
                    set(h.atom());
                }
            }
        }
    }
}

fn other_matches(o: &Other, s: &str) -> bool {
    match o {
        Other::Num(op, n) => match s.parse::<f64>() {
            Ok(v) => match op {
                CmpOp::Lt => v < *n,
                CmpOp::Lte => v <= *n,
                CmpOp::Gt => v > *n,
                CmpOp::Gte => v >= *n,
            },
            Err(_) => false,
        },
        Other::Cidr(c) => s
            .trim_matches(|c| c == '[' || c == ']')
            .parse()
            .map(|ip| c.contains(ip))
            .unwrap_or(false),
        Other::Time(part, n) => crate::timeparts::part(s, *part) == Some(*n),
    }
}
