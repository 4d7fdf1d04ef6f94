//! Per-field matchers: all tests of all rules on one field, answered in one
//! pass over the field's value.
//!
//! Equality goes through a hash map, every prefix/suffix/substring needle
//! and every glob's required literal through one Aho-Corasick automaton
//! (overlapping search, so no needle hides another; large families of long
//! needles such as file hashes through their stem and a table, see
//! family.rs), regexes one at a time. Case-insensitive tests see the value
//! lowercased once.

use rustc_hash::FxHashMap as HashMap;

use aho_corasick::{dfa, nfa, Anchored, MatchKind, Span};
use regex::bytes::{Regex, RegexBuilder};

use crate::compiler::{AtomId, Cidr, CmpOp, FieldId, Test, TimePart};
use crate::family::{self, Family};
use crate::memo::{SegMatch, SegMemo};
use crate::pattern::{fold_case, folded, StrMatch};

/// Values longer than this are searched line by line through the segment
/// memo (`memo::SegMemo`); shorter ones go through the whole-value memo.
pub const LONG_VALUE: usize = crate::memo::MAX_LEN;

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
        let multiline = self.needles.iter().any(|n| n.contains(&b'\n'));
        // Ids: the automaton's own needles, then one per family stem (found
        // by the automaton, expanded by the family), then family members.
        let split = family::split(&self.needles);
        let mut hooks_of = self.hooks;
        let mut ac_needles: Vec<&[u8]> = Vec::new();
        let mut hooks = Vec::new();
        for &i in &split.plain {
            ac_needles.push(&self.needles[i]);
            hooks.push(std::mem::take(&mut hooks_of[i]));
        }
        let plain = hooks.len() as u32;
        for (stem, _) in &split.families {
            ac_needles.push(stem);
            hooks.push(Vec::new());
        }
        let mut families = Vec::new();
        for (_, members) in &split.families {
            let mut ids = Vec::new();
            for &i in members {
                ids.push((self.needles[i].as_slice(), hooks.len() as u32));
                hooks.push(std::mem::take(&mut hooks_of[i]));
            }
            families.push(Family::new(ids));
        }
        // A DFA is the fastest search; its memory grows with the needles, so
        // large sets (CommandLine has thousands) keep the compact NFA.
        // aho-corasick picks its prefilter by a static rank of bytes, and for
        // stems (`md5=`, `sha1`...) it picks digits, which every hash is made
        // of: an automaton with families skips to its needles' first bytes
        // instead (`i`, `m`, `s`, none a hex digit), or steps every byte.
        let prefilter = families.is_empty();
        let starts = match prefilter {
            true => None,
            false => start_bytes(&ac_needles),
        };
        let ac = match ac_needles.len() <= DFA_MAX_NEEDLES {
            true => Searcher::Dfa(
                dfa::DFA::builder()
                    .match_kind(MatchKind::Standard)
                    .prefilter(prefilter)
                    .build(&ac_needles)
                    .map_err(|e| e.to_string())?,
            ),
            false => Searcher::Nfa(
                nfa::contiguous::NFA::builder()
                    .match_kind(MatchKind::Standard)
                    .prefilter(prefilter)
                    .build(&ac_needles)
                    .map_err(|e| e.to_string())?,
            ),
        };
        Ok(Some(Automaton {
            ac,
            starts,
            hooks,
            plain,
            families,
            multiline,
        }))
    }
}

/// The distinct first bytes of `needles`, if there are one to three (the
/// last repeated to fill three).
fn start_bytes(needles: &[&[u8]]) -> Option<[u8; 3]> {
    let mut firsts: Vec<u8> = needles
        .iter()
        .map(|n| n.first().copied())
        .collect::<Option<_>>()?;
    firsts.sort_unstable();
    firsts.dedup();
    let last = *firsts.last()?;
    (firsts.len() <= 3).then(|| [0, 1, 2].map(|i| firsts.get(i).copied().unwrap_or(last)))
}

/// A field's Aho-Corasick automaton, of the kind its size calls for.
#[derive(Debug)]
enum Searcher {
    Dfa(dfa::DFA),
    Nfa(nfa::contiguous::NFA),
}

impl Searcher {
    /// Calls `f` with (needle, start, end) of every occurrence of every
    /// needle in `hay`, overlapping, in order of end.
    #[inline]
    fn overlapping(&self, hay: &[u8], f: impl FnMut(u32, usize, usize)) {
        match self {
            Searcher::Dfa(a) => overlapping(a, hay, f),
            Searcher::Nfa(a) => overlapping(a, hay, f),
        }
    }

    /// [`Self::overlapping`], skipping from the start state to the next of
    /// `starts` (every needle begins with one of them).
    #[inline]
    fn overlapping_from(&self, starts: [u8; 3], hay: &[u8], f: impl FnMut(u32, usize, usize)) {
        match self {
            Searcher::Dfa(a) => overlapping_from(a, starts, hay, f),
            Searcher::Nfa(a) => overlapping_from(a, starts, hay, f),
        }
    }
}

/// [`overlapping`] for an automaton without a prefilter and whose needles
/// (none empty) all begin with one of `starts`. A loop of its own: the skip
/// as an `Option` parameter of [`overlapping`] cost every field's search
/// 2-4% more instructions a record over the OTRF sample (stop 21).
fn overlapping_from<A: aho_corasick::automaton::Automaton>(
    aut: &A,
    starts: [u8; 3],
    hay: &[u8],
    mut f: impl FnMut(u32, usize, usize),
) {
    let Ok(start) = aut.start_state(Anchored::No) else {
        return;
    };
    let (mut sid, mut at) = (start, 0);
    while at < hay.len() {
        if sid == start {
            match memchr::memchr3(starts[0], starts[1], starts[2], &hay[at..]) {
                None => return,
                Some(i) => at += i,
            }
        }
        sid = aut.next_state(Anchored::No, sid, hay[at]);
        if aut.is_special(sid) {
            if aut.is_dead(sid) {
                return;
            } else if aut.is_match(sid) {
                report(aut, sid, at, &mut f);
            }
        }
        at += 1;
    }
}

/// Calls `f` for each needle that match state `sid` ends at byte `at`.
#[inline(always)]
fn report<A: aho_corasick::automaton::Automaton>(
    aut: &A,
    sid: aho_corasick::automaton::StateID,
    at: usize,
    f: &mut impl FnMut(u32, usize, usize),
) {
    for i in 0..aut.match_len(sid) {
        let pid = aut.match_pattern(sid, i);
        let len = aut.pattern_len(pid);
        f(pid.as_u32(), at + 1 - len, at + 1);
    }
}

/// aho-corasick's overlapping search (`try_find_overlapping_fwd`), with
/// the matches of a state reported where they are found: the crate's
/// iterator leaves and resumes its search for every match, which on field
/// values with a few matches each cost more than the scan.
#[inline(always)]
fn overlapping<A: aho_corasick::automaton::Automaton>(
    aut: &A,
    hay: &[u8],
    mut f: impl FnMut(u32, usize, usize),
) {
    let Ok(mut sid) = aut.start_state(Anchored::No) else {
        return;
    };
    // An empty needle (none today: empty literals are `any` tests) matches
    // before the first byte.
    if aut.is_match(sid) {
        for i in 0..aut.match_len(sid) {
            f(aut.match_pattern(sid, i).as_u32(), 0, 0);
        }
    }
    let pre = aut.prefilter();
    let mut at = 0;
    while at < hay.len() {
        sid = aut.next_state(Anchored::No, sid, hay[at]);
        if aut.is_special(sid) {
            if aut.is_dead(sid) {
                return;
            } else if aut.is_match(sid) {
                report(aut, sid, at, &mut f);
            } else if let Some(pre) = pre {
                // A start state: skip to where a needle may begin.
                match pre.find_in(hay, Span::from(at..hay.len())).into_option() {
                    None => return,
                    Some(i) if i > at => {
                        at = i;
                        continue;
                    }
                    Some(_) => {}
                }
            }
        }
        at += 1;
    }
}

#[derive(Debug)]
struct Automaton {
    ac: Searcher,
    /// With families: the needles' first bytes, when three or fewer.
    starts: Option<[u8; 3]>,
    /// By needle id: the automaton's needles, the family stems (no hooks),
    /// then the family members.
    hooks: Vec<Vec<Hook>>,
    /// How many of the automaton's needles are not family stems.
    plain: u32,
    families: Vec<Family>,
    /// Whether a needle spans lines (then values are searched whole).
    multiline: bool,
}

impl Automaton {
    /// Calls `f` with (needle, start, end) of every occurrence of every
    /// needle in `hay`, overlapping; a family member's when its stem is
    /// found.
    #[inline]
    fn overlapping(&self, hay: &[u8], mut f: impl FnMut(u32, usize, usize)) {
        if self.families.is_empty() {
            return self.ac.overlapping(hay, f);
        }
        let expand = |p: u32, start, end| match p.checked_sub(self.plain) {
            None => f(p, start, end),
            Some(fam) => {
                self.families[fam as usize].find_at(hay, start, |id, end| f(id, start, end))
            }
        };
        match self.starts {
            Some(starts) => self.ac.overlapping_from(starts, hay, expand),
            None => self.ac.overlapping(hay, expand),
        }
    }

    /// How many needles it finds (stems are not needles).
    fn needles(&self) -> usize {
        self.hooks.len() - self.families.len()
    }

    fn add_stats(&self, st: &mut AutomatonStats) {
        use aho_corasick::automaton::Automaton as _;
        st.needles += self.needles();
        st.families += self.families.len();
        st.in_families += self.families.iter().map(Family::len).sum::<usize>();
        st.bytes += self
            .families
            .iter()
            .map(Family::memory_usage)
            .sum::<usize>();
        match &self.ac {
            Searcher::Dfa(a) => {
                st.dfas += 1;
                st.bytes += a.memory_usage();
            }
            Searcher::Nfa(a) => {
                st.nfas += 1;
                st.bytes += a.memory_usage();
            }
        }
    }
}

/// A field's automata as `sigmaline check --stats` shows them: what a
/// rule pack (an IOC list above all) costs in memory, and where.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AutomatonStats {
    /// Needles the automata find, family members included.
    pub needles: usize,
    /// Of those, members of families (found through a stem and a table
    /// instead of the automaton: see `family.rs`).
    pub in_families: usize,
    pub families: usize,
    /// Heap bytes of the automata (aho-corasick's count) and the families'
    /// tables.
    pub bytes: usize,
    /// Automata by kind: a field has one for case-insensitive needles and
    /// one for cased ones, each a DFA up to a few hundred needles.
    pub dfas: usize,
    pub nfas: usize,
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
    /// Longest key of `exact`.
    max_exact: usize,
}

impl Side {
    fn is_empty(&self) -> bool {
        self.exact.is_empty() && self.automaton.is_none() && self.bare_globs.is_empty()
    }

    /// Whether long values may be searched line by line: only automaton
    /// hooks need the text, and no needle spans lines.
    fn by_lines(&self) -> bool {
        self.bare_globs.is_empty() && self.automaton.as_ref().is_some_and(|a| !a.multiline)
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
        for side in [&mut self.m.folded, &mut self.m.cased] {
            side.max_exact = side.exact.keys().map(Vec::len).max().unwrap_or(0);
        }
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
    /// This field's automata (case-folded and cased) counted together.
    pub fn automaton_stats(&self) -> AutomatonStats {
        let mut st = AutomatonStats::default();
        for a in [&self.folded, &self.cased]
            .into_iter()
            .flat_map(|s| &s.automaton)
        {
            a.add_stats(&mut st);
        }
        st
    }

    /// Does any test need the value's text (not just presence)?
    pub fn reads_values(&self) -> bool {
        !(self.folded.is_empty()
            && self.cased.is_empty()
            && self.any.is_empty()
            && self.regexes.is_empty()
            && self.others.is_empty())
    }

    /// Runs every test on one value's text of field `f`; `lower` is a
    /// scratch buffer, `segs` the memo for long values' lines.
    pub fn run(
        &self,
        f: FieldId,
        text: &[u8],
        lower: &mut Vec<u8>,
        segs: &mut SegMemo,
        set: &mut impl FnMut(AtomId),
    ) {
        self.run_with(f, text, lower, segs, text.len() > LONG_VALUE, set)
    }

    /// [`Self::run`], searching by lines where possible if `long`.
    fn run_with(
        &self,
        f: FieldId,
        text: &[u8],
        lower: &mut Vec<u8>,
        segs: &mut SegMemo,
        long: bool,
        set: &mut impl FnMut(AtomId),
    ) {
        for &a in &self.any {
            set(a);
        }
        if !self.folded.is_empty() {
            if long && self.folded.by_lines() {
                self.run_lines(f, &self.folded, true, text, lower, segs, set);
            } else {
                fold_case(text, lower);
                self.run_side(&self.folded, lower, set);
            }
        }
        if !self.cased.is_empty() {
            if long && self.cased.by_lines() {
                self.run_lines(f, &self.cased, false, text, lower, segs, set);
            } else {
                self.run_side(&self.cased, text, set);
            }
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
            // Parsed once per value, not once per test (IP fields carry
            // dozens of `cidr` tests).
            let ip = std::cell::OnceCell::new();
            let num = std::cell::OnceCell::new();
            for (a, o) in &self.others {
                if other_matches(o, s, &ip, &num) {
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
        au.overlapping(hay, |pid, start, end| {
            for &h in &au.hooks[pid as usize] {
                let hit = match h {
                    Hook::Contains(_) => true,
                    Hook::Prefix(_) => start == 0,
                    Hook::Suffix(_) => end == hay.len(),
                    Hook::Glob(g, _) => self.globs[g as usize].is_match(hay),
                };
                if hit {
                    set(h.atom());
                }
            }
        });
    }

    /// [`Self::run_side`] for a long value, one line at a time: lines of
    /// [`SegMemo::fits`] length replay their hits from `segs` or are searched
    /// and recorded; runs of shorter lines are searched together. Gives the
    /// same atoms as searching the whole value, since no needle spans lines
    /// (see [`Side::by_lines`]).
    #[allow(clippy::too_many_arguments)]
    fn run_lines(
        &self,
        f: FieldId,
        side: &Side,
        fold: bool,
        text: &[u8],
        lower: &mut Vec<u8>,
        segs: &mut SegMemo,
        set: &mut impl FnMut(AtomId),
    ) {
        let Some(au) = &side.automaton else { return };
        // `lower` holds the whole folded value once a glob or an exact key
        // needs it (folding may change lengths, so only up to 3x shrink).
        let mut whole = false;
        if !side.exact.is_empty() && text.len() <= side.max_exact * 3 {
            let hay = self.whole(fold, text, lower, &mut whole);
            if let Some(atoms) = side.exact.get(hay) {
                atoms.iter().for_each(|&a| set(a));
            }
        }
        let key = SegMemo::key(f, fold);
        let (mut found, mut buf) = (
            std::mem::take(&mut segs.found),
            std::mem::take(&mut segs.folded),
        );
        let n = text.len();
        // Hooks of one hit in a searched region: `first`/`last` say whether
        // the region starts/ends the value, `len` is its searched length.
        let mut hooks = |hit: SegMatch, len: u32, first: bool, last: bool, lower: &mut Vec<u8>| {
            let (p, start, end) = hit;
            for &h in &au.hooks[p as usize] {
                let ok = match h {
                    Hook::Contains(_) => true,
                    Hook::Prefix(_) => first && start == 0,
                    Hook::Suffix(_) => last && end == len,
                    Hook::Glob(g, _) => {
                        let hay = self.whole(fold, text, lower, &mut whole);
                        self.globs[g as usize].is_match(hay)
                    }
                };
                if ok {
                    set(h.atom());
                }
            }
        };
        // Searches text[range] into `found`; returns the searched length.
        let search =
            |range: std::ops::Range<usize>, found: &mut Vec<SegMatch>, buf: &mut Vec<u8>| {
                let hay: &[u8] = if fold {
                    fold_case(&text[range], buf);
                    buf
                } else {
                    &text[range]
                };
                found.clear();
                au.overlapping(hay, |p, start, end| {
                    found.push((p, start as u32, end as u32))
                });
                hay.len() as u32
            };
        let (mut pos, mut batch) = (0, 0);
        loop {
            let end = memchr::memchr(b'\n', &text[pos..]).map_or(n, |i| pos + i);
            let line = &text[pos..end];
            if SegMemo::fits(line.len()) {
                if batch < pos {
                    let len = search(batch..pos, &mut found, &mut buf);
                    for &hit in &found {
                        hooks(hit, len, batch == 0, false, lower);
                    }
                }
                let h = SegMemo::hash(key, line);
                let (first, last) = (pos == 0, end == n);
                if let Some((len, hits)) = segs.get(key, h, line) {
                    for &hit in hits {
                        hooks(hit, len, first, last, lower);
                    }
                } else {
                    let len = search(pos..end, &mut found, &mut buf);
                    for &hit in &found {
                        hooks(hit, len, first, last, lower);
                    }
                    segs.put(key, h, line, len, &found);
                }
                batch = end;
            }
            if end == n {
                break;
            }
            pos = end + 1;
        }
        if batch < n || n == 0 {
            let len = search(batch..n, &mut found, &mut buf);
            for &hit in &found {
                hooks(hit, len, batch == 0, true, lower);
            }
        }
        segs.found = found;
        segs.folded = buf;
    }

    /// The whole value as `side` searches it, folded into `lower` once.
    fn whole<'t>(
        &self,
        fold: bool,
        text: &'t [u8],
        lower: &'t mut Vec<u8>,
        done: &mut bool,
    ) -> &'t [u8] {
        if !fold {
            return text;
        }
        if !*done {
            fold_case(text, lower);
            *done = true;
        }
        lower
    }
}

fn other_matches(
    o: &Other,
    s: &str,
    ip: &std::cell::OnceCell<Option<std::net::IpAddr>>,
    num: &std::cell::OnceCell<Option<f64>>,
) -> bool {
    match o {
        Other::Num(op, n) => match *num.get_or_init(|| s.parse::<f64>().ok()) {
            Some(v) => match op {
                CmpOp::Lt => v < *n,
                CmpOp::Lte => v <= *n,
                CmpOp::Gt => v > *n,
                CmpOp::Gte => v >= *n,
            },
            None => false,
        },
        Other::Cidr(c) => ip
            .get_or_init(|| s.trim_matches(|c| c == '[' || c == ']').parse().ok())
            .is_some_and(|ip| c.contains(ip)),
        Other::Time(part, n) => crate::timeparts::part(s, *part) == Some(*n),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pattern::SigmaStr;
    use proptest::prelude::*;

    /// A matcher over `needles` with every kind of hook on both sides.
    fn matcher(needles: &[String]) -> FieldMatcher {
        let mut b = FieldMatcherBuilder::default();
        let mut atom = 0;
        let mut add = |b: &mut FieldMatcherBuilder, value: SigmaStr, cased: bool| {
            b.add(atom, &Test::Str { value, cased }).unwrap();
            atom += 1;
        };
        for n in needles {
            let lit = SigmaStr::literal(n.as_bytes());
            for cased in [false, true] {
                add(&mut b, lit.contains(), cased);
                add(&mut b, lit.startswith(), cased);
                add(&mut b, lit.endswith(), cased);
                add(&mut b, lit.clone(), cased);
                add(&mut b, SigmaStr::parse(&format!("*{n}?b*")), cased);
            }
        }
        b.build().unwrap()
    }

    fn atoms(m: &FieldMatcher, text: &[u8], segs: &mut SegMemo, long: bool) -> Vec<AtomId> {
        let mut v = Vec::new();
        m.run_with(0, text, &mut Vec::new(), segs, long, &mut |a| v.push(a));
        v.sort_unstable();
        v.dedup();
        v
    }

    fn chars() -> impl Strategy<Value = String> {
        // Kelvin sign folds to one byte, 'İ' to three: lengths change.
        proptest::collection::vec(
            prop::sample::select(vec!['a', 'b', 'A', 'B', '\\', '\u{212A}', 'İ', 'k']),
            0..160,
        )
        .prop_map(|v| v.into_iter().collect())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        /// Searching a long value line by line (memo cold, then warm) sets
        /// exactly the atoms a search of the whole value sets.
        #[test]
        fn lines_agree_with_the_whole_value(
            needles in proptest::collection::vec("[abAB\\\\k\u{212A}]{1,5}", 1..12),
            lines in proptest::collection::vec(chars(), 1..40),
            trailing_newline: bool,
        ) {
            let m = matcher(&needles);
            let mut text = lines.join("\n");
            if trailing_newline {
                text.push('\n');
            }
            let mut segs = SegMemo::new();
            let whole = atoms(&m, text.as_bytes(), &mut segs, false);
            prop_assert_eq!(&atoms(&m, text.as_bytes(), &mut segs, true), &whole, "cold");
            prop_assert_eq!(&atoms(&m, text.as_bytes(), &mut segs, true), &whole, "warm");
        }

        /// Our overlapping search reports exactly aho-corasick's overlapping
        /// matches, in the same order, for the DFA and the contiguous NFA,
        /// with and without their prefilters: needles that share prefixes
        /// and suffixes (`a`, `aa`, `ba`...) or are empty, haystacks that
        /// repeat them.
        #[test]
        fn overlapping_search_agrees_with_aho_corasick(
            needles in proptest::collection::vec("[ab\\.]{0,4}|[a-z]{3,8}", 1..60),
            hay in "([ab\\.]{0,6}[a-z ]{0,6}){0,12}",
        ) {
            let needles: Vec<&[u8]> = needles.iter().map(|n| n.as_bytes()).collect();
            let want: Vec<(u32, usize, usize)> = aho_corasick::AhoCorasick::builder()
                .match_kind(MatchKind::Standard)
                .build(&needles)
                .unwrap()
                .find_overlapping_iter(hay.as_bytes())
                .map(|m| (m.pattern().as_u32(), m.start(), m.end()))
                .collect();
            for prefilter in [true, false] {
                let searchers = [
                    Searcher::Dfa(dfa::DFA::builder().prefilter(prefilter).build(&needles).unwrap()),
                    Searcher::Nfa(
                        nfa::contiguous::NFA::builder()
                            .prefilter(prefilter)
                            .build(&needles)
                            .unwrap(),
                    ),
                ];
                for ac in &searchers {
                    let mut got = Vec::new();
                    ac.overlapping(hay.as_bytes(), |p, s, e| got.push((p, s, e)));
                    prop_assert_eq!(&got, &want, "{:?} prefilter {}", ac, prefilter);
                }
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        /// An automaton with needle families (see family.rs) reports every
        /// occurrence aho-corasick reports over all the needles: members
        /// that overlap, share prefixes, run off the end of the text or sit
        /// after a stem that is a needle of its own.
        #[test]
        fn families_agree_with_aho_corasick(
            members in proptest::collection::vec(
                (0..3usize, "[0-3]{20}|[0-3]{24}"), 48..90),
            short in proptest::collection::vec("md5=|sha1|[0-3,=a-z]{1,6}", 0..8),
            with_short: bool,
            pieces in proptest::collection::vec((0..4u8, 0..60usize, "[0-3]{0,30}"), 0..20),
        ) {
            let stems = ["md5=", "sha1", "imph"];
            let mut needles: Vec<String> =
                members.iter().map(|(s, hex)| format!("{}{hex}", stems[*s])).collect();
            if with_short {
                needles.extend(short);
            }
            let mut hay = String::new();
            for (kind, i, hex) in &pieces {
                match kind {
                    0 => hay.push_str(&needles[i % needles.len()]),
                    1 => {
                        let n = &needles[i % needles.len()];
                        hay.push_str(&n[..n.len() / 2]);
                    }
                    2 => hay.push_str(stems[i % 3]),
                    _ => hay.push_str(hex),
                }
            }
            let mut b = AutomatonBuilder::default();
            for (i, n) in needles.iter().enumerate() {
                b.add(n.as_bytes().to_vec(), Hook::Contains(i as AtomId));
            }
            let au = b.build().unwrap().unwrap();
            // 48 members over 3 stems: one has at least 16; with only
            // members, the needles' first bytes are `i`, `m` and `s`.
            prop_assert!(!au.families.is_empty());
            prop_assert!(with_short || au.starts.is_some());
            let mut got = Vec::new();
            au.overlapping(hay.as_bytes(), |p, s, e| {
                for h in &au.hooks[p as usize] {
                    got.push((h.atom(), s, e));
                }
            });
            let mut want: Vec<(AtomId, usize, usize)> = aho_corasick::AhoCorasick::builder()
                .match_kind(MatchKind::Standard)
                .build(&needles)
                .unwrap()
                .find_overlapping_iter(hay.as_bytes())
                .map(|m| (m.pattern().as_u32(), m.start(), m.end()))
                .collect();
            got.sort_unstable();
            want.sort_unstable();
            prop_assert_eq!(got, want);
        }
    }

    #[test]
    fn multiline_needles_search_the_whole_value() {
        let m = matcher(&["a\nb".to_string()]);
        assert!(!m.folded.by_lines() && !m.cased.by_lines());
        let text = format!("{}a\nb{}", "x".repeat(2000), "y".repeat(2000));
        let found = atoms(&m, text.as_bytes(), &mut SegMemo::new(), true);
        assert!(!found.is_empty());
    }
}
