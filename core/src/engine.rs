//! The compiled rule pack and the per-record evaluation.
//!
//! Evaluating a record: pick its shape, walk the fields rules read, run
//! each field's [`FieldMatcher`] once per value (setting atom bits), then
//! evaluate only the *candidate* rules — those with at least one atom hit,
//! plus the few whose detection can be true with no hit at all (pure
//! negations, `null` tests). Cost grows with the record and the number of
//! hits, not with the number of rules.

use std::collections::HashMap;
use std::ops::Range;

use crate::compiler::{AtomId, Compiler, Expr, FieldId, RefKind, Test, KEYWORDS};
use crate::error::{Error, RecordError};
use crate::groups::Groups;
use crate::json_flat;
use crate::keywords::KeywordGate;
use crate::loader::RuleSet;
use crate::logsource::LogsourceMap;
use crate::matcher::{AutomatonStats, FieldMatcher, FieldMatcherBuilder};
use crate::memo::{Memo, SegMemo, ShortMemo};
use crate::msgpack::{EntrySpan, IndexedDoc, MsgDoc};
use crate::on_hit::{Effect, OnHit};
use crate::output;
use crate::pattern::StrMatch;
use crate::profile::ProfileSet;
use crate::program::Programs;
use crate::record::{Doc, Scalar, TapeDoc};
use crate::rule::{Meta, Rejection, Source};
use crate::scope_cache::ScopeCache;
use crate::shape::{all_strings, Pairs, Shapes};

/// What happens to records.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Mode {
    /// Every record passes; matching ones are tagged.
    #[default]
    Tag,
    /// Only matching records pass (tagged).
    Keep,
    /// Matching records are removed; the rest pass untouched.
    Drop,
}

impl std::str::FromStr for Mode {
    type Err = String;
    fn from_str(s: &str) -> Result<Mode, String> {
        match s {
            "tag" => Ok(Mode::Tag),
            "keep" => Ok(Mode::Keep),
            "drop" => Ok(Mode::Drop),
            _ => Err(format!("unknown mode `{s}` (tag, keep or drop)")),
        }
    }
}

/// What to do with rules whose logsource is not in the logsource map.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Unmapped {
    /// Load them (they are checked) but never fire: nothing says which
    /// records they are about, and a Linux rule must not fire on Windows events.
    #[default]
    Inactive,
    /// Apply them to every record.
    Everywhere,
}

impl std::str::FromStr for Unmapped {
    type Err = String;
    fn from_str(s: &str) -> Result<Unmapped, String> {
        match s {
            "inactive" => Ok(Unmapped::Inactive),
            "all" => Ok(Unmapped::Everywhere),
            _ => Err(format!("unknown value `{s}` (inactive or all)")),
        }
    }
}

/// Configuration of an [`Engine`].
#[derive(Clone, Debug)]
pub struct EngineBuilder {
    unmapped: Unmapped,
    profiles: ProfileSet,
    logsources: LogsourceMap,
    placeholders: HashMap<String, Vec<String>>,
    tag_field: String,
    mode: Mode,
    max_record_bytes: usize,
}

/// Records larger than this pass through unread by default (1 MiB: a
/// PowerShell script block is logged in pieces of ~32 KB).
pub const DEFAULT_MAX_RECORD_BYTES: usize = 1 << 20;

/// Marks a memo key whose text is an escaped JSON string's raw bytes, so
/// that it is never taken for a value with those bytes as its text (field
/// ids stay far below this bit).
const ESCAPED_KEY: FieldId = 1 << 31;

impl Default for EngineBuilder {
    fn default() -> Self {
        EngineBuilder {
            unmapped: Unmapped::Inactive,
            profiles: ProfileSet::auto(),
            logsources: LogsourceMap::builtin(),
            placeholders: HashMap::new(),
            tag_field: "sigma".into(),
            mode: Mode::Tag,
            max_record_bytes: DEFAULT_MAX_RECORD_BYTES,
        }
    }
}

/// Reads a placeholder file: a YAML mapping of name to a value or a list of values.
pub fn load_placeholders(path: &std::path::Path) -> Result<Vec<(String, Vec<String>)>, Error> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::Io {
        path: path.into(),
        source: e,
    })?;
    let cfg = |message: String| Error::Config {
        path: path.into(),
        message,
    };
    let doc = crate::yamlutil::load_one(&text).map_err(cfg)?;
    crate::yamlutil::pairs(Some(&doc), "placeholders")
        .map_err(cfg)?
        .into_iter()
        .map(|(k, v)| {
            Ok((
                k.clone(),
                crate::yamlutil::str_list(Some(v), &k).map_err(cfg)?,
            ))
        })
        .collect()
}

/// A rule that compiled.
#[derive(Clone, Debug)]
pub struct LoadedRule {
    pub meta: Meta,
    pub source: Source,
    /// Notes that do not stop the rule (derived id, unscoped logsource).
    pub warnings: Vec<String>,
}

/// What a build did with each document.
#[derive(Clone, Debug, Default)]
pub struct BuildReport {
    pub loaded: Vec<LoadedRule>,
    pub rejected: Vec<Rejection>,
    /// Documents of a kind not supported yet (correlations).
    pub unsupported: Vec<Rejection>,
    pub filters_applied: usize,
    pub files: usize,
    /// Loaded rules that never fire (unmapped logsource, see [`Unmapped`]).
    pub inactive: usize,
}

struct RuleEntry {
    meta: Meta,
    /// Index into `Engine::scopes`: rules of one logsource share it.
    scope: u32,
    tag_json: String,
    tag_msgpack: Vec<u8>,
}

/// A compiled rule pack. Immutable and `Sync`: share it between threads,
/// give each thread its own [`Scratch`].
pub struct Engine {
    shapes: Shapes,
    field_names: Vec<String>,
    matchers: Vec<FieldMatcher>,
    keywords: Option<FieldId>,
    /// Decides per record whether the keyword scan can change any rule.
    keyword_gate: Option<KeywordGate>,
    /// Distinct logsource predicates; checked once per record before any
    /// candidate of that logsource is evaluated.
    scopes: Vec<Expr>,
    /// Fields read by some logsource predicate: extracted first.
    scope_field: Vec<bool>,
    /// Per field, the logsources (scope ids) of every rule that reads it;
    /// `None` when some such rule is unscoped. A field none of whose
    /// logsources holds for a record cannot change a result: it is skipped.
    field_gate: Vec<Option<Vec<u32>>>,
    /// (atom, field, other field, kind, cased)
    fieldrefs: Vec<(AtomId, FieldId, FieldId, RefKind, bool)>,
    keep_values: Vec<bool>,
    /// The group atoms each real atom's hit stamps and the rules it makes
    /// candidates (see [`Expr::triggers`]).
    on_hit: OnHit,
    always: Vec<u32>,
    /// Per rule, what a candidate reads: where its program starts in
    /// `programs`, and its scope (`RuleEntry` is cold: tags and metadata).
    candidate: Vec<(u32, u32)>,
    programs: Programs,
    rules: Vec<RuleEntry>,
    n_atoms: usize,
    /// Long OR lists of atoms as one atom each, numbered after the real ones
    /// (see groups.rs): how many.
    n_groups: usize,
    tag_field: String,
    mode: Mode,
    max_record_bytes: usize,
}

impl EngineBuilder {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn profiles(mut self, p: ProfileSet) -> Self {
        self.profiles = p;
        self
    }
    pub fn logsources(mut self, m: LogsourceMap) -> Self {
        self.logsources = m;
        self
    }
    /// Values for `%name%` placeholders of the `expand` modifier.
    pub fn placeholder(mut self, name: &str, values: Vec<String>) -> Self {
        self.placeholders.insert(name.to_string(), values);
        self
    }
    pub fn tag_field(mut self, name: &str) -> Self {
        self.tag_field = name.to_string();
        self
    }
    /// Rules whose logsource the map does not know.
    pub fn unmapped(mut self, u: Unmapped) -> Self {
        self.unmapped = u;
        self
    }
    pub fn mode(mut self, m: Mode) -> Self {
        self.mode = m;
        self
    }
    /// Larger records are not evaluated: [`RecordError::TooLarge`], which
    /// hosts treat like any undecodable record (passed on untouched, counted).
    pub fn max_record_bytes(mut self, n: usize) -> Self {
        self.max_record_bytes = n;
        self
    }

    /// Compiles every rule of `set`; a rule that fails is rejected with its
    /// reason and the others still load.
    pub fn build(&self, set: &RuleSet) -> Result<(Engine, BuildReport), Error> {
        let mut report = BuildReport {
            rejected: set.rejected.clone(),
            files: set.files,
            ..Default::default()
        };
        for (meta, source) in &set.correlations {
            report.unsupported.push(Rejection {
                source: source.clone(),
                id: Some(meta.id.clone()),
                title: Some(meta.title.clone()),
                reason: "correlation rules are not supported yet".into(),
            });
        }
        let mut compiler = Compiler::new(&self.placeholders);
        let mut rules = Vec::new();
        let mut trees = Vec::new();
        let mut detections = Vec::new();
        let mut scopes = Vec::new();
        let mut distinct_scopes = Vec::new();
        let mut scope_ids = HashMap::new();
        let mut seen_ids = HashMap::new();
        for rule in &set.rules {
            let reject = |reason: String| Rejection {
                source: rule.source.clone(),
                id: Some(rule.meta.id.clone()),
                title: Some(rule.meta.title.clone()),
                reason,
            };
            if let Some(first) = seen_ids.get(&rule.meta.id) {
                report.rejected.push(reject(format!(
                    "duplicate rule id (first defined at {first})"
                )));
                continue;
            }
            let filters: Vec<_> = set
                .filters
                .iter()
                .filter(|f| {
                    let named = f
                        .rules
                        .iter()
                        .any(|r| *r == rule.meta.id || Some(r) == rule.meta.name.as_ref());
                    named || (f.rules.is_empty() && f.logsource == rule.logsource)
                })
                .collect();
            let entry = self.logsources.lookup(&rule.logsource);
            let dets: Vec<_> = filters.iter().map(|f| &f.detection).collect();
            match compiler.compile(&rule.detection, entry, &dets) {
                Ok(mut c) => {
                    let mut warnings = Vec::new();
                    if rule.meta.id_derived {
                        warnings.push(format!(
                            "no `id`: derived {} from the title and file name",
                            rule.meta.id
                        ));
                    }
                    if entry.is_none() {
                        warnings.push(match self.unmapped {
                            Unmapped::Inactive => {
                                c.detection = Expr::Const(false);
                                c.full = Expr::Const(false);
                                c.program = Expr::Const(false);
                                c.scope = Expr::Const(false);
                                report.inactive += 1;
                                format!("logsource ({}) is not in the logsource map: loaded but inactive (add it with --logsources, or use --unmapped-logsources all)", rule.logsource)
                            }
                            Unmapped::Everywhere => format!("logsource ({}) is not in the logsource map: the rule applies to every record", rule.logsource),
                        });
                    }
                    report.filters_applied += filters.len();
                    seen_ids.insert(rule.meta.id.clone(), rule.source.to_string());
                    report.loaded.push(LoadedRule {
                        meta: rule.meta.clone(),
                        source: rule.source.clone(),
                        warnings,
                    });
                    detections.push(c.detection);
                    let key = format!("{:?}", c.scope);
                    let scope = *scope_ids.entry(key).or_insert_with(|| {
                        distinct_scopes.push(c.scope.clone());
                        distinct_scopes.len() as u32 - 1
                    });
                    scopes.push(c.scope);
                    rules.push(RuleEntry {
                        tag_json: output::tag_json(&rule.meta),
                        tag_msgpack: output::tag_msgpack(&rule.meta),
                        meta: rule.meta.clone(),
                        scope,
                    });
                    // Evaluated once the rule's logsource holds (see
                    // `Compiled::program`).
                    trees.push(c.program);
                }
                Err(e) => report.rejected.push(reject(e)),
            }
        }
        let atoms = compiler.atoms;
        let nfields = atoms.fields.names.len();
        let mut builders: Vec<FieldMatcherBuilder> = (0..nfields)
            .map(|_| FieldMatcherBuilder::default())
            .collect();
        let mut fieldrefs = Vec::new();
        let mut keep_values = vec![false; nfields];
        for (i, (f, t)) in atoms.list.iter().enumerate() {
            if let Test::FieldRef { other, kind, cased } = t {
                fieldrefs.push((i as AtomId, *f, *other, *kind, *cased));
                keep_values[*f as usize] = true;
                keep_values[*other as usize] = true;
            }
            builders[*f as usize].add(i as AtomId, t).map_err(|e| {
                Error::Invalid(format!("field `{}`: {e}", atoms.fields.names[*f as usize]))
            })?;
        }
        let matchers = builders
            .into_iter()
            .enumerate()
            .map(|(i, b)| {
                b.build()
                    .map_err(|e| Error::Invalid(format!("field `{}`: {e}", atoms.fields.names[i])))
            })
            .collect::<Result<Vec<_>, _>>()?;
        // Which rules read each atom (for the field gates), which rules an
        // atom's hit makes candidates (triggers), and which need no hit.
        let mut atom_rules = vec![Vec::new(); atoms.list.len()];
        let mut trigger_rules = vec![Vec::new(); atoms.list.len()];
        let mut always = Vec::new();
        let cost = |a: AtomId| hit_odds(&atoms.list[a as usize].1);
        for (r, d) in detections.iter().enumerate() {
            let mut used = Vec::new();
            d.atoms(&mut used);
            used.sort_unstable();
            used.dedup();
            for &a in &used {
                atom_rules[a as usize].push(r as u32);
            }
            if d.eval(&|_| false) {
                always.push(r as u32);
                continue;
            }
            let mut triggers = d.triggers(&cost).map_or(used, |t| t.1);
            triggers.sort_unstable();
            triggers.dedup();
            for a in triggers {
                trigger_rules[a as usize].push(r as u32);
            }
        }
        let (scope_field, field_gate) =
            field_gates(nfields, &atoms.list, &atom_rules, &rules, &distinct_scopes);
        let keywords = atoms.fields.get(KEYWORDS);
        let rule_scopes: Vec<u32> = rules.iter().map(|r| r.scope).collect();
        let keyword_gate = keywords.map(|k| {
            KeywordGate::build(
                &atoms.list,
                k,
                &atom_rules,
                &rule_scopes,
                &distinct_scopes,
                &detections,
            )
        });
        // Only now: triggers and gates above read the original atoms.
        let groups = Groups::build(&mut trees, atoms.list.len());
        let mut programs = Programs::default();
        let candidate = (trees.iter().zip(&rules))
            .map(|(t, r)| (programs.push(t), r.scope))
            .collect();
        let engine = Engine {
            shapes: Shapes::compile(&self.profiles, &atoms.fields),
            field_names: atoms.fields.names.clone(),
            matchers,
            keywords,
            keyword_gate,
            scopes: distinct_scopes,
            scope_field,
            field_gate,
            fieldrefs,
            keep_values,
            on_hit: OnHit::new(&trigger_rules, |a| groups.of(a)),
            always,
            candidate,
            programs,
            rules,
            n_atoms: atoms.list.len(),
            n_groups: groups.count(),
            tag_field: self.tag_field.clone(),
            mode: self.mode,
            max_record_bytes: self.max_record_bytes,
        };
        Ok((engine, report))
    }
}

/// The bytes a record was read from, for the keyword gate's raw scan.
#[derive(Clone, Copy)]
enum Raw<'a> {
    /// JSON that may hold `\u` escapes (one can hide any character).
    Json(&'a [u8]),
    /// JSON without `\u` escapes (the flat scanner declines them): its
    /// other escapes keep the keyword fragments' bytes, as msgpack does.
    JsonNoUnicode(&'a [u8]),
    Msgpack(&'a [u8]),
    /// An already parsed value.
    None,
}

/// Per-thread working memory, reused across records (no allocation per
/// record once warm).
pub struct Scratch {
    st: State,
    /// Root entries of the msgpack record being matched.
    spans: Vec<EntrySpan>,
    simd: SimdJson,
    /// The last msgpack record had a `detect` key (not flat): the next one
    /// is walked the general way first, not after a one-pass attempt.
    general_first: bool,
    /// The same for JSON: the next record goes to simd-json first, not
    /// after an attempt with the flat scanner.
    json_general_first: bool,
    scanner: json_flat::Scanner,
}

/// simd-json's reusable memory: a padded copy of the record, its buffers
/// and the tape.
struct SimdJson {
    copy: Vec<u8>,
    buffers: simd_json::Buffers,
    tape: Option<simd_json::Tape<'static>>,
}

impl SimdJson {
    /// Parses `record` onto the tape and hands `f` its nodes (or the
    /// error). simd-json unescapes in place and reads up to
    /// `INPUT_PADDING` bytes past the end: one padded copy, so it need not
    /// make its own.
    fn parse<R>(
        &mut self,
        record: &[u8],
        f: impl FnOnce(Result<&[simd_json::Node<'_>], simd_json::Error>) -> R,
    ) -> R {
        self.copy.clear();
        self.copy.extend_from_slice(record);
        self.copy
            .extend_from_slice(&[b' '; simd_json::INPUT_PADDING]);
        let mut tape = self
            .tape
            .take()
            .unwrap_or_else(|| simd_json::Tape::null().reset())
            .reset();
        let r =
            simd_json::fill_tape_padded(&mut self.copy, record.len(), &mut self.buffers, &mut tape);
        let out = f(r.map(|()| &tape.0[..]));
        self.tape = Some(tape.reset());
        out
    }
}

/// A record's generation, stamped on the atoms it set and the rules it made
/// candidates. One byte: the stamps of the pack's ~34,000 atoms and groups
/// then take 34 KB, not 137 KB, and stay in the caches nearest the core
/// (every hit and every candidate's program reads them at random); the
/// price is clearing them every 255 records, ~140 bytes a record.
type Gen = u8;

struct State {
    atom_stamp: Vec<Gen>,
    rule_stamp: Vec<Gen>,
    /// Logsource truths and field gates, per kind of record.
    scopes: ScopeCache,
    gen: Gen,
    hits: Vec<AtomId>,
    candidates: Vec<u32>,
    matched: Vec<u32>,
    text: Vec<u8>,
    lower: Vec<u8>,
    /// Values of fields a `fieldref` compares: (field, raw, folded) as
    /// ranges of `kept_bytes`, so keeping them allocates nothing.
    kept: Vec<(FieldId, Range<usize>, Range<usize>)>,
    kept_bytes: Vec<u8>,
    memo: Memo,
    short: ShortMemo,
    /// Hits of long values' lines (see memo.rs).
    segs: SegMemo,
    /// Atoms one value set, for the memo.
    found: Vec<AtomId>,
    /// The text of an escaped JSON string being fed.
    unescaped: Vec<u8>,
}

impl State {
    fn set(&mut self, a: AtomId) {
        let s = &mut self.atom_stamp[a as usize];
        if *s != self.gen {
            *s = self.gen;
            self.hits.push(a);
        }
    }
}

/// The result of filtering one record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// Rules that fired.
    pub matched: usize,
    /// The record was written to the output.
    pub emitted: bool,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("rules", &self.rules.len())
            .field("atoms", &self.n_atoms)
            .field("fields", &self.field_names.len())
            .field("mode", &self.mode)
            .finish()
    }
}

impl Engine {
    /// A fresh scratch space for this engine.
    pub fn scratch(&self) -> Scratch {
        Scratch {
            spans: Vec::new(),
            st: State {
                atom_stamp: vec![0; self.n_atoms + self.n_groups],
                rule_stamp: vec![0; self.rules.len()],
                scopes: ScopeCache::new(self.scopes.len(), self.field_names.len()),
                gen: 0,
                hits: Vec::new(),
                candidates: Vec::new(),
                matched: Vec::new(),
                text: Vec::new(),
                lower: Vec::new(),
                kept: Vec::new(),
                kept_bytes: Vec::new(),
                memo: Memo::new(),
                short: ShortMemo::new(),
                segs: SegMemo::new(),
                found: Vec::new(),
                unescaped: Vec::new(),
            },
            simd: SimdJson {
                copy: Vec::new(),
                buffers: simd_json::Buffers::new(4096),
                tape: Some(simd_json::Tape::null().reset()),
            },
            general_first: false,
            json_general_first: false,
            scanner: json_flat::Scanner::new(),
        }
    }

    pub fn rule_count(&self) -> usize {
        self.rules.len()
    }

    pub fn atom_count(&self) -> usize {
        self.n_atoms
    }

    /// Per field with needles: its name and its automata, most needles
    /// first.
    pub fn field_stats(&self) -> Vec<(&str, AutomatonStats)> {
        let mut v: Vec<_> = self
            .matchers
            .iter()
            .zip(&self.field_names)
            .map(|(m, name)| (name.as_str(), m.automaton_stats()))
            .filter(|(_, st)| st.needles > 0)
            .collect();
        v.sort_by_key(|(name, st)| (std::cmp::Reverse(st.needles), *name));
        v
    }

    pub fn field_count(&self) -> usize {
        self.field_names.len()
    }

    pub fn mode(&self) -> Mode {
        self.mode
    }

    pub fn tag_field(&self) -> &str {
        &self.tag_field
    }

    /// The tag object of rule `i` as JSON (what tagging inserts).
    pub fn tag_json(&self, i: u32) -> &str {
        &self.rules[i as usize].tag_json
    }

    /// Metadata of rule `i` (an index from a match list).
    pub fn rule(&self, i: u32) -> &Meta {
        &self.rules[i as usize].meta
    }

    /// Matches a JSON record; returns the indexes of the rules that fired,
    /// in rule order.
    pub fn match_json<'s>(
        &self,
        s: &'s mut Scratch,
        record: &[u8],
    ) -> Result<&'s [u32], RecordError> {
        self.eval_json(s, record)?;
        Ok(&s.st.matched)
    }

    /// Matches a msgpack map record.
    pub fn match_msgpack<'s>(
        &self,
        s: &'s mut Scratch,
        record: &[u8],
    ) -> Result<&'s [u32], RecordError> {
        self.check_size(record)?;
        crate::prefetch::lines(record);
        if self.eval_msgpack(s, record, 0).ok() != Some(record.len()) {
            // A map with bytes after it was evaluated before that was known.
            s.st.matched.clear();
            return Err(match MsgDoc::new(record) {
                Some(_) => RecordError::NotAnObject,
                None => RecordError::Msgpack("truncated or invalid msgpack value".into()),
            });
        }
        Ok(&s.st.matched)
    }

    /// Matches the msgpack map at the start of `bytes` (anything may follow
    /// it); returns its length and the rules that fired. A host that finds
    /// records by walking a buffer (a Fluent Bit chunk) learns where this
    /// one ends from the same pass that indexes it, instead of measuring it
    /// first. The caller brings the bytes into cache (the chunk filter
    /// prefetches ahead of its walk).
    /// On an error the record's length is unknown: measure it with
    /// `msgpack::value_len`. `depth` is how deep the map sits in what the
    /// host measures as one value (1 for a chunk event's body), so that the
    /// nesting limit is the same for both (see `msgpack::index_map_prefix`).
    pub fn match_msgpack_prefix<'s>(
        &self,
        s: &'s mut Scratch,
        bytes: &[u8],
        depth: usize,
    ) -> Result<(usize, &'s [u32]), RecordError> {
        let len = self.eval_msgpack(s, bytes, depth)?;
        Ok((len, &s.st.matched))
    }

    /// Validates the msgpack map at the start of `bytes` (nested at most
    /// `MAX_DEPTH - depth`) and, unless it is over the size limit,
    /// evaluates it; returns its length. A record of the fallback shape is
    /// walked in the pass that validates it; any other is then indexed and
    /// walked the general way.
    fn eval_msgpack(
        &self,
        s: &mut Scratch,
        bytes: &[u8],
        depth: usize,
    ) -> Result<usize, RecordError> {
        let invalid = || RecordError::Msgpack("not a valid msgpack map".into());
        if self.shapes.has_fast() && !s.general_first {
            let mut pairs = Pairs::new();
            let mut other = false;
            // Read no further than the size limit: a record over it is
            // refused, and its values would only cost memory.
            let head = &bytes[..bytes.len().min(self.max_record_bytes.saturating_add(1))];
            let walked = crate::msgpack::map_prefix_entries(head, depth, |(k, v, e)| {
                other |= self
                    .shapes
                    .fast_entry(&head[k..v], MsgDoc(&head[v..e]), &mut pairs);
            });
            let Some(len) = walked else {
                // Invalid, or cut short by the limit: measured whole, a
                // valid map is too large.
                let whole = (head.len() < bytes.len())
                    .then(|| crate::msgpack::map_prefix_entries(bytes, depth, |_| {}))
                    .flatten();
                return Err(match whole {
                    Some(n) => self.check_size(&bytes[..n]).err().unwrap_or_else(invalid),
                    None => invalid(),
                });
            };
            let record = &bytes[..len];
            self.check_size(record)?;
            if !other {
                let raw = Raw::Msgpack(record);
                let strings = |f: &mut dyn FnMut(&[u8])| all_strings(MsgDoc(record), &mut |b| f(b));
                self.eval_walked(&mut s.st, &pairs, true, strings, raw);
                return Ok(len);
            }
        }
        // Not flat (or no one-pass table): the general walk, once. The
        // next record is expected to be of the same kind.
        let len =
            crate::msgpack::index_map_prefix(bytes, depth, &mut s.spans).ok_or_else(invalid)?;
        let record = &bytes[..len];
        self.check_size(record)?;
        let doc = IndexedDoc::Root {
            record,
            spans: &s.spans,
        };
        s.general_first = self.eval_general(&mut s.st, doc, Raw::Msgpack(record));
        Ok(len)
    }

    /// Matches an already parsed JSON value (used for evtx records).
    pub fn match_value<'s>(
        &self,
        s: &'s mut Scratch,
        v: &serde_json::Value,
    ) -> Result<&'s [u32], RecordError> {
        if !v.is_object() {
            return Err(RecordError::NotAnObject);
        }
        self.eval_doc(&mut s.st, v, Raw::None);
        Ok(&s.st.matched)
    }

    /// Matches a JSON record; returns whether it already has the tag field
    /// (asked only when a rule fired: false otherwise). A flat object is
    /// read by the flat scanner; anything it declines, by simd-json.
    fn eval_json(&self, s: &mut Scratch, record: &[u8]) -> Result<bool, RecordError> {
        self.check_size(record)?;
        if self.shapes.has_fast() && !s.json_general_first {
            if let Some(tagged) = self.eval_json_flat(s, record) {
                return Ok(tagged);
            }
        }
        let (st, general_first) = (&mut s.st, &mut s.json_general_first);
        s.simd.parse(record, |nodes| {
            let nodes = nodes.map_err(|e| RecordError::Json(e.to_string()))?;
            if !matches!(nodes.first(), Some(simd_json::Node::Object { .. })) {
                return Err(RecordError::NotAnObject);
            }
            // The flat scanner had its try (or a record like the last one
            // would not be flat): the general walk, once.
            let root = TapeDoc(nodes);
            *general_first = self.eval_general(st, root, Raw::Json(record));
            // Only a tagged record needs to know (one more pass over the
            // root's keys).
            let tagged = !st.matched.is_empty();
            Ok(tagged && root.get(self.tag_field.as_bytes()).is_some())
        })
    }

    /// [`Engine::eval_json`] for a flat object of the fallback shape, read
    /// in one pass by [`json_flat::Scanner`]; `None` (nothing evaluated) for
    /// a record the scanner declines or with a `detect` key.
    fn eval_json_flat(&self, s: &mut Scratch, record: &[u8]) -> Option<bool> {
        let mut pairs = Pairs::new();
        let mut other = false;
        s.scanner.scan(record, |k, v| {
            if let Some((key, detect)) = self.shapes.fast_key(k) {
                let v = match v {
                    json_flat::Value::Scalar(v) => v,
                    // Unescaped when fed, if the field is open.
                    json_flat::Value::Escaped(raw) => Scalar::Escaped(raw),
                    // A read value the scanner leaves as text: simd-json's.
                    json_flat::Value::Float(_) | json_flat::Value::Nested(_) => {
                        other = true;
                        return;
                    }
                };
                other |= detect;
                self.shapes.fast_value(key, v, &mut pairs);
            }
        })?;
        if other {
            return None;
        }
        // Keyword searches read every string (rare: see keywords.rs), from
        // simd-json's tape.
        let simd = &mut s.simd;
        let strings = |f: &mut dyn FnMut(&[u8])| {
            simd.parse(record, |nodes| {
                if let Ok(nodes) = nodes {
                    all_strings(TapeDoc(nodes), &mut |b| f(b));
                }
            })
        };
        let raw = Raw::JsonNoUnicode(record);
        self.eval_walked(&mut s.st, &pairs, true, strings, raw);
        // Only a tagged record needs to know (its keys read again).
        let mut has_tag = false;
        if !s.st.matched.is_empty() {
            let tag = self.tag_field.as_bytes();
            s.scanner.keys_again(record, |k| has_tag |= k == tag);
        }
        Some(has_tag)
    }

    fn check_size(&self, record: &[u8]) -> Result<(), RecordError> {
        match record.len() > self.max_record_bytes {
            true => Err(RecordError::TooLarge {
                len: record.len(),
                max: self.max_record_bytes,
            }),
            false => Ok(()),
        }
    }

    /// Evaluates a record walked the general way (no one-pass attempt);
    /// returns whether the next record of its stream should be too (this
    /// one was not of the one-pass shape).
    fn eval_general<'a, D: Doc<'a>>(&self, st: &mut State, root: D, raw: Raw<'_>) -> bool {
        let mut pairs = Pairs::new();
        let walked = self.shapes.walk_general(root, &mut pairs);
        let strings = |f: &mut dyn FnMut(&[u8])| all_strings(root, &mut |b| f(b));
        self.eval_walked(st, &pairs, walked.is_some(), strings, raw);
        walked == Some(false)
    }

    fn eval_doc<'a, D: Doc<'a>>(&self, st: &mut State, root: D, raw: Raw<'_>) {
        let mut pairs = Pairs::new();
        let walked = self.shapes.walk(root, &mut pairs);
        let strings = |f: &mut dyn FnMut(&[u8])| all_strings(root, &mut |b| f(b));
        self.eval_walked(st, &pairs, walked, strings, raw);
    }

    /// Evaluates a record whose walk gave `pairs` (`walked` is false if no
    /// profile applied); `strings` hands every string value of the record
    /// to a keyword scan, if one is needed.
    fn eval_walked(
        &self,
        st: &mut State,
        pairs: &[(FieldId, Scalar<'_>)],
        walked: bool,
        strings: impl FnOnce(&mut dyn FnMut(&[u8])),
        raw: Raw<'_>,
    ) {
        st.gen = st.gen.wrapping_add(1);
        if st.gen == 0 {
            st.atom_stamp.fill(0);
            st.rule_stamp.fill(0);
            st.gen = 1;
        }
        st.hits.clear();
        st.candidates.clear();
        st.matched.clear();
        st.kept.clear();
        st.kept_bytes.clear();
        if walked {
            // Logsource fields first: their atoms name the kind of record
            // (see scope_cache.rs), which gates every other field.
            for &(f, v) in pairs {
                if self.scope_field[f as usize] {
                    self.feed(st, f, v)
                }
            }
            st.scopes.select(&st.hits);
            for &(f, v) in pairs {
                if !self.scope_field[f as usize] && self.field_open(st, f) {
                    self.feed(st, f, v)
                }
            }
        } else {
            st.scopes.select(&[]);
        }
        let scan = match &self.keyword_gate {
            Some(g) => {
                let (gen, stamps) = (st.gen, &st.atom_stamp);
                let cache = &mut st.scopes;
                let (bytes, json) = match raw {
                    Raw::Json(b) => (Some(b), true),
                    Raw::JsonNoUnicode(b) | Raw::Msgpack(b) => (Some(b), false),
                    Raw::None => (None, false),
                };
                g.needs_scan(
                    bytes,
                    json,
                    &mut st.lower,
                    |id| cache.scope(&self.scopes, id, |a| stamps[a as usize] == gen),
                    |a| stamps[a as usize] == gen,
                )
            }
            None => false,
        };
        if let (Some(k), true) = (self.keywords, scan) {
            let m = &self.matchers[k as usize];
            let (mut text, mut lower) =
                (std::mem::take(&mut st.text), std::mem::take(&mut st.lower));
            strings(&mut |b| {
                text.clear();
                text.extend_from_slice(b);
                let mut segs = std::mem::take(&mut st.segs);
                m.run(k, &text, &mut lower, &mut segs, &mut |a| st.set(a));
                st.segs = segs;
            });
            st.text = text;
            st.lower = lower;
        }
        // A reference compares two kept values: with none kept, none holds.
        let fieldrefs = match st.kept.is_empty() {
            true => &[][..],
            false => &self.fieldrefs[..],
        };
        for &(atom, f, other, kind, cased) in fieldrefs {
            if fieldref_holds(&st.kept, &st.kept_bytes, f, other, kind, cased) {
                st.set(atom);
            }
        }
        for i in 0..st.hits.len() {
            for e in self.on_hit.of(st.hits[i]) {
                match e {
                    Effect::Group(g) => st.atom_stamp[g as usize] = st.gen,
                    Effect::Rule(r) => {
                        if st.rule_stamp[r as usize] != st.gen {
                            st.rule_stamp[r as usize] = st.gen;
                            st.candidates.push(r);
                        }
                    }
                }
            }
        }
        for &r in &self.always {
            if st.rule_stamp[r as usize] != st.gen {
                st.rule_stamp[r as usize] = st.gen;
                st.candidates.push(r);
            }
        }
        let (gen, stamps) = (st.gen, &st.atom_stamp);
        let atom = |a: AtomId| stamps[a as usize] == gen;
        for &r in &st.candidates {
            let (program, scope) = self.candidate[r as usize];
            // Most candidates come from needles shared with other logsources:
            // their logsource, evaluated once per record, rules them out.
            if st.scopes.scope(&self.scopes, scope, atom) && self.programs.eval(program, &atom) {
                st.matched.push(r);
            }
        }
        st.matched.sort_unstable();
    }

    /// Is any logsource of the rules reading field `f` true for this record?
    fn field_open(&self, st: &mut State, f: FieldId) -> bool {
        let Some(ids) = &self.field_gate[f as usize] else {
            return true;
        };
        if let Some(open) = st.scopes.field(f) {
            return open;
        }
        let (gen, stamps) = (st.gen, &st.atom_stamp);
        let open = ids.iter().any(|&id| {
            st.scopes
                .scope(&self.scopes, id, |a| stamps[a as usize] == gen)
        });
        st.scopes.set_field(f, open);
        open
    }

    fn feed(&self, st: &mut State, f: FieldId, v: Scalar<'_>) {
        let m = &self.matchers[f as usize];
        for i in 0..m.present.len() {
            st.set(m.present[i]);
        }
        if matches!(v, Scalar::Null) {
            return;
        }
        for i in 0..m.nonnull.len() {
            st.set(m.nonnull[i]);
        }
        match v {
            // Strings are read where they lie.
            Scalar::Str(text) => self.feed_text(st, f, text, (f, text), true),
            // An escaped string is known to the memo by its raw bytes: a
            // value seen recently is not unescaped again.
            Scalar::Escaped(raw) => {
                let key = (f | ESCAPED_KEY, raw);
                let keep = self.keep_values[f as usize];
                if !keep && (!m.reads_values() || self.replay(st, key)) {
                    return;
                }
                let mut buf = std::mem::take(&mut st.unescaped);
                let n = crate::json_flat::unescape_into(raw, &mut buf);
                self.feed_text(st, f, &buf[..n], key, keep);
                st.unescaped = buf;
            }
            // Other values are written, as text, into the scratch's buffer.
            _ => {
                let mut buf = std::mem::take(&mut st.text);
                crate::record::scalar_text(v, &mut buf);
                self.feed_text(st, f, &buf, (f, &buf), true);
                st.text = buf;
            }
        }
    }

    /// Replays the atoms the memo holds for `key` (field, text); false if
    /// it holds none.
    #[inline(always)]
    fn replay(&self, st: &mut State, (f, text): (FieldId, &[u8])) -> bool {
        let seen = match ShortMemo::fits(text.len()) {
            true => st.short.get(f, text),
            false if Memo::fits(text.len()) => st.memo.get(f, Memo::hash(f, text), text),
            false => None,
        };
        let Some(atoms) = seen else { return false };
        for &a in atoms {
            let s = &mut st.atom_stamp[a as usize];
            if *s != st.gen {
                *s = st.gen;
                st.hits.push(a);
            }
        }
        true
    }

    /// Matches a non-null value's text (its `present` and `nonnull` atoms
    /// are set); the memo knows it as `key`, and was asked already unless
    /// `lookup`.
    #[inline(always)]
    fn feed_text(
        &self,
        st: &mut State,
        f: FieldId,
        text: &[u8],
        key: (FieldId, &[u8]),
        lookup: bool,
    ) {
        let m = &self.matchers[f as usize];
        // A value seen recently replays its atoms (see memo.rs).
        if m.reads_values() && !(lookup && self.replay(st, key)) {
            let mut lower = std::mem::take(&mut st.lower);
            let mut found = std::mem::take(&mut st.found);
            found.clear();
            let mut segs = std::mem::take(&mut st.segs);
            m.run(f, text, &mut lower, &mut segs, &mut |a| {
                found.push(a);
                st.set(a)
            });
            st.segs = segs;
            let (kf, kt) = key;
            if ShortMemo::fits(kt.len()) {
                st.short.put(kf, kt, &found);
            } else if Memo::fits(kt.len()) {
                st.memo.put(kf, Memo::hash(kf, kt), kt, &found);
            }
            st.lower = lower;
            st.found = found;
        }
        if self.keep_values[f as usize] {
            let b = &mut st.kept_bytes;
            let raw = b.len()..b.len() + text.len();
            b.extend_from_slice(text);
            let mut lower = std::mem::take(&mut st.lower);
            crate::pattern::fold_case(text, &mut lower);
            let low = b.len()..b.len() + lower.len();
            b.extend_from_slice(&lower);
            st.lower = lower;
            st.kept.push((f, raw, low));
        }
    }

    /// Filters one JSON record according to the mode: appends what should
    /// be emitted (the record untouched, or tagged) to `out`.
    pub fn filter_json(
        &self,
        s: &mut Scratch,
        record: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<Outcome, RecordError> {
        let has_tag_field = self.eval_json(s, record)?;
        let matched = s.st.matched.len();
        let emit = self.emits(matched);
        if emit {
            if self.tags(matched) {
                let tags: smallvec::SmallVec<[&str; 16]> =
                    s.st.matched
                        .iter()
                        .map(|&r| self.rules[r as usize].tag_json.as_str())
                        .collect();
                output::insert_json(record, &self.tag_field, &tags, has_tag_field, out)?;
            } else {
                out.extend_from_slice(record);
            }
        }
        Ok(Outcome {
            matched,
            emitted: emit,
        })
    }

    /// Filters one msgpack map record (see [`Engine::filter_json`]).
    pub fn filter_msgpack(
        &self,
        s: &mut Scratch,
        record: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<Outcome, RecordError> {
        let matched = self.match_msgpack(s, record)?.len();
        let emit = self.emits(matched);
        if emit {
            if self.tags(matched) {
                self.write_tagged_msgpack(s, record, out)?;
            } else {
                out.extend_from_slice(record);
            }
        }
        Ok(Outcome {
            matched,
            emitted: emit,
        })
    }

    /// Writes `record` with the tags of the rules its last match fired
    /// (see [`Engine::last_matches`]) to `out`.
    pub fn write_tagged_msgpack(
        &self,
        s: &Scratch,
        record: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), RecordError> {
        let tags: smallvec::SmallVec<[&[u8]; 16]> =
            s.st.matched
                .iter()
                .map(|&r| self.rules[r as usize].tag_msgpack.as_slice())
                .collect();
        output::insert_msgpack(record, &self.tag_field, &tags, out)
    }

    /// Whether a record that fired `matched` rules is written out tagged
    /// (else unchanged, if [`Engine::emits`] it at all).
    pub fn tags(&self, matched: usize) -> bool {
        matched > 0 && self.mode != Mode::Drop
    }

    /// Whether a record that fired `matched` rules is written out, in this
    /// engine's mode.
    pub fn emits(&self, matched: usize) -> bool {
        match self.mode {
            Mode::Tag => true,
            Mode::Keep => matched > 0,
            Mode::Drop => matched == 0,
        }
    }

    /// The indexes matched by the last evaluated record.
    pub fn last_matches<'s>(&self, s: &'s Scratch) -> &'s [u32] {
        &s.st.matched
    }
}

fn fieldref_holds(
    kept: &[(FieldId, Range<usize>, Range<usize>)],
    bytes: &[u8],
    f: FieldId,
    other: FieldId,
    kind: RefKind,
    cased: bool,
) -> bool {
    let vals = |id| {
        kept.iter()
            .filter(move |(k, _, _)| *k == id)
            .map(move |(_, raw, low)| {
                let r = if cased { raw } else { low };
                &bytes[r.clone()]
            })
    };
    vals(f).any(|a| {
        vals(other).any(|b| match kind {
            RefKind::Equals => a == b,
            RefKind::StartsWith => a.starts_with(b),
            RefKind::EndsWith => a.ends_with(b),
            RefKind::Contains => b.is_empty() || a.windows(b.len()).any(|w| w == b),
        })
    })
}

/// Which fields logsource predicates read, and for every other field the
/// logsources of the rules that read it (see `Engine::field_gate`).
fn field_gates(
    nfields: usize,
    atoms: &[(FieldId, Test)],
    atom_rules: &[Vec<u32>],
    rules: &[RuleEntry],
    scopes: &[Expr],
) -> (Vec<bool>, Vec<Option<Vec<u32>>>) {
    let mut scope_field = vec![false; nfields];
    for s in scopes {
        let mut used = Vec::new();
        s.atoms(&mut used);
        for a in used {
            scope_field[atoms[a as usize].0 as usize] = true;
        }
    }
    let mut gate: Vec<Option<Vec<u32>>> = vec![Some(Vec::new()); nfields];
    for (a, rs) in atom_rules.iter().enumerate() {
        let (f, t) = &atoms[a];
        let mut fields = vec![*f];
        if let Test::FieldRef { other, .. } = t {
            fields.push(*other);
        }
        for f in fields {
            for &r in rs {
                let id = rules[r as usize].scope;
                if scopes[id as usize] == Expr::Const(true) {
                    gate[f as usize] = None;
                } else if let Some(ids) = &mut gate[f as usize] {
                    ids.push(id);
                }
            }
        }
    }
    for ids in gate.iter_mut().flatten() {
        ids.sort_unstable();
        ids.dedup();
    }
    (scope_field, gate)
}

/// A rough, data-free guess at how often an atom holds on a record that
/// carries its field: presence tests and short needles hit often, long
/// literals rarely. Only used to pick which conjunct of a rule triggers it.
fn hit_odds(t: &Test) -> f64 {
    let needle = |len: usize| (4.0 / (len.max(1) as f64).powi(2)).min(0.5);
    match t {
        Test::Str { value, .. } => match value.classify() {
            StrMatch::Any => 0.9,
            StrMatch::Exact(b) if b.len() <= 6 => 0.3,
            StrMatch::Exact(_) => 0.02,
            StrMatch::Prefix(b) | StrMatch::Suffix(b) | StrMatch::Contains(b) => needle(b.len()),
            StrMatch::Glob { required, .. } => needle(required.len()),
        },
        Test::Regex(_) => 0.1,
        Test::Cidr(_) => 0.3,
        Test::Num(..) | Test::Time(..) | Test::FieldRef { .. } => 0.5,
        Test::Present | Test::NonNull => 0.9,
    }
}
