//! From rules to atoms and boolean programs.
//!
//! Every detection item value becomes an *atom*: one test on one field
//! (`Image` ends with `\cmd.exe`, `EventID` equals `13`, ...). Atoms are
//! deduplicated across the whole rule pack, so the engine evaluates each
//! distinct test once per record however many rules share it. A rule becomes
//! an [`Expr`] over atom ids: its condition, ANDed with its logsource
//! predicate and any filter documents.

use std::collections::HashMap;

use yaml_rust2::Yaml;

use crate::condition::{self, Cond, Quant, Target};
use crate::logsource::{Entry, Variant};
use crate::modifier::{self, Transform};
use crate::pattern::SigmaStr;
use crate::rule::{scalar_text, Detection};

pub type AtomId = u32;
pub type FieldId = u32;

/// The pseudo-field that keyword searches run over: every string in the record.
pub const KEYWORDS: &str = "\u{0}keywords";

/// A boolean program over atoms.
#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    Const(bool),
    Atom(AtomId),
    Not(Box<Expr>),
    And(Vec<Expr>),
    Or(Vec<Expr>),
    AtLeast(usize, Vec<Expr>),
}

impl Expr {
    pub fn eval(&self, atom: &impl Fn(AtomId) -> bool) -> bool {
        match self {
            Expr::Const(b) => *b,
            Expr::Atom(a) => atom(*a),
            Expr::Not(e) => !e.eval(atom),
            Expr::And(v) => v.iter().all(|e| e.eval(atom)),
            Expr::Or(v) => v.iter().any(|e| e.eval(atom)),
            Expr::AtLeast(n, v) => v.iter().filter(|e| e.eval(atom)).take(*n).count() >= *n,
        }
    }

    pub(crate) fn and(mut items: Vec<Expr>) -> Expr {
        if items.contains(&Expr::Const(false)) {
            return Expr::Const(false);
        }
        items.retain(|e| *e != Expr::Const(true));
        match items.len() {
            0 => Expr::Const(true),
            1 => items.pop().unwrap(),
            _ => Expr::And(items),
        }
    }

    fn or(mut items: Vec<Expr>) -> Expr {
        if items.contains(&Expr::Const(true)) {
            return Expr::Const(true);
        }
        items.retain(|e| *e != Expr::Const(false));
        match items.len() {
            0 => Expr::Const(false),
            1 => items.pop().unwrap(),
            _ => Expr::Or(items),
        }
    }

    fn not(e: Expr) -> Expr {
        match e {
            Expr::Const(b) => Expr::Const(!b),
            Expr::Not(inner) => *inner,
            e => Expr::Not(Box::new(e)),
        }
    }

    /// Atoms at least one of which holds whenever the expression holds, and
    /// their summed `cost` (the odds of a hit); `None` when there is no such
    /// set (under `not`, or `1 of` nothing). A rule becomes a candidate only
    /// when one of these atoms hits, so of an `and` only the conjunct least
    /// likely to hit is kept: `Image|endswith: \cmd.exe and CommandLine|contains:
    /// ' /c vssadmin'` is looked at when the command line matches, not for
    /// every cmd.exe.
    pub fn triggers(&self, cost: &impl Fn(AtomId) -> f64) -> Option<(f64, Vec<AtomId>)> {
        match self {
            Expr::Const(true) | Expr::Not(_) | Expr::AtLeast(0, _) => None,
            Expr::Const(false) => Some((0.0, Vec::new())),
            Expr::Atom(a) => Some((cost(*a), vec![*a])),
            Expr::And(v) => v
                .iter()
                .filter_map(|e| e.triggers(cost))
                .min_by(|a, b| a.0.total_cmp(&b.0)),
            Expr::Or(v) | Expr::AtLeast(_, v) => {
                let mut all = (0.0, Vec::new());
                for e in v {
                    let (c, atoms) = e.triggers(cost)?;
                    all.0 += c;
                    all.1.extend(atoms);
                }
                Some(all)
            }
        }
    }

    /// The expression with each atom `unknown` says is not known yet
    /// replaced by the constant that makes the whole as true as it can be
    /// (`true` under an even number of `not`s, `false` under an odd one).
    /// When the result is false, no outcome of those atoms makes `self` true.
    pub fn assume_best(&self, unknown: &impl Fn(AtomId) -> bool, polarity: bool) -> Expr {
        let each = |v: &[Expr]| -> Vec<Expr> {
            v.iter().map(|e| e.assume_best(unknown, polarity)).collect()
        };
        match self {
            Expr::Atom(a) if unknown(*a) => Expr::Const(polarity),
            Expr::Const(_) | Expr::Atom(_) => self.clone(),
            Expr::Not(e) => Expr::not(e.assume_best(unknown, !polarity)),
            Expr::And(v) => Expr::and(each(v)),
            Expr::Or(v) => Expr::or(each(v)),
            Expr::AtLeast(n, v) => Expr::AtLeast(*n, each(v)),
        }
    }

    /// Every atom the program reads.
    pub fn atoms(&self, out: &mut Vec<AtomId>) {
        match self {
            Expr::Const(_) => {}
            Expr::Atom(a) => out.push(*a),
            Expr::Not(e) => e.atoms(out),
            Expr::And(v) | Expr::Or(v) | Expr::AtLeast(_, v) => v.iter().for_each(|e| e.atoms(out)),
        }
    }
}

/// Numeric comparison of the `lt`/`lte`/`gt`/`gte` modifiers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CmpOp {
    Lt,
    Lte,
    Gt,
    Gte,
}

/// A part of a timestamp (`minute`, `hour`, ... modifiers).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TimePart {
    Minute,
    Hour,
    Day,
    Week,
    Month,
    Year,
}

/// How a `fieldref` compares the two fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RefKind {
    Equals,
    Contains,
    StartsWith,
    EndsWith,
}

/// One test on one field.
#[derive(Clone, Debug, PartialEq)]
pub enum Test {
    /// A Sigma string (wildcards, position modifiers applied).
    Str { value: SigmaStr, cased: bool },
    /// A regular expression, flags already inline.
    Regex(String),
    /// The value is an IP address inside one of the networks.
    Cidr(Cidr),
    /// Numeric comparison.
    Num(CmpOp, f64),
    /// A timestamp part equals a number.
    Time(TimePart, i64),
    /// The field is in the record (even as null).
    Present,
    /// The field is in the record with a non-null value.
    NonNull,
    /// The field's value compared with another field's value.
    FieldRef {
        other: FieldId,
        kind: RefKind,
        cased: bool,
    },
}

/// Atoms are interned by value (see [`Atoms`]): a number by its value, so
/// `0.0` and `-0.0` hash alike, as `==` has them equal.
impl std::hash::Hash for Test {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        std::mem::discriminant(self).hash(h);
        match self {
            Test::Str { value, cased } => (value, cased).hash(h),
            Test::Regex(p) => p.hash(h),
            Test::Cidr(c) => c.hash(h),
            Test::Num(op, n) => (op, if *n == 0.0 { 0 } else { n.to_bits() }).hash(h),
            Test::Time(part, n) => (part, n).hash(h),
            Test::Present | Test::NonNull => {}
            Test::FieldRef { other, kind, cased } => (other, kind, cased).hash(h),
        }
    }
}

/// A `Num` test of NaN is unequal to itself, so it is never merged with
/// another: it matches nothing either way.
impl Eq for Test {}

/// An IPv4 or IPv6 network.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Cidr {
    pub addr: u128,
    pub prefix: u8,
    pub v6: bool,
}

impl Cidr {
    pub fn parse(s: &str) -> Result<Cidr, String> {
        let (ip, len) = s.split_once('/').unwrap_or((s, ""));
        let ip: std::net::IpAddr = ip
            .trim()
            .parse()
            .map_err(|_| format!("invalid CIDR `{s}`"))?;
        let v6 = ip.is_ipv6();
        let max = if v6 { 128 } else { 32 };
        let prefix = if len.is_empty() {
            max
        } else {
            len.parse::<u8>()
                .map_err(|_| format!("invalid CIDR `{s}`"))?
        };
        if prefix > max {
            return Err(format!("invalid CIDR prefix in `{s}`"));
        }
        Ok(Cidr {
            addr: ip_bits(ip),
            prefix,
            v6,
        })
    }

    pub fn contains(&self, ip: std::net::IpAddr) -> bool {
        if ip.is_ipv6() != self.v6 {
            return false;
        }
        let bits = if self.v6 { 128 } else { 32 };
        let shift = bits - self.prefix as u32;
        shift >= bits || (ip_bits(ip) >> shift) == (self.addr >> shift)
    }
}

fn ip_bits(ip: std::net::IpAddr) -> u128 {
    match ip {
        std::net::IpAddr::V4(a) => u32::from(a) as u128,
        std::net::IpAddr::V6(a) => u128::from(a),
    }
}

/// Field names to dense ids.
#[derive(Clone, Debug, Default)]
pub struct FieldTable {
    pub names: Vec<String>,
    pub ids: HashMap<String, FieldId>,
}

impl FieldTable {
    pub fn intern(&mut self, name: &str) -> FieldId {
        if let Some(&id) = self.ids.get(name) {
            return id;
        }
        let id = self.names.len() as FieldId;
        self.names.push(name.to_string());
        self.ids.insert(name.to_string(), id);
        id
    }

    pub fn get(&self, name: &str) -> Option<FieldId> {
        self.ids.get(name).copied()
    }
}

/// Atoms of a whole rule pack, deduplicated.
#[derive(Debug, Default)]
pub struct Atoms {
    pub fields: FieldTable,
    pub list: Vec<(FieldId, Test)>,
    /// By value: a key formatted with `Debug` cost ~300 bytes a hash of an
    /// IOC list (its bytes printed as numbers) and most of loading time.
    index: rustc_hash::FxHashMap<(FieldId, Test), AtomId>,
}

impl Atoms {
    pub fn intern(&mut self, field: FieldId, test: Test) -> AtomId {
        let key = (field, test);
        if let Some(&id) = self.index.get(&key) {
            return id;
        }
        let id = self.list.len() as AtomId;
        self.list.push(key.clone());
        self.index.insert(key, id);
        id
    }
}

/// Compiles rule detections into expressions over a shared atom table.
pub struct Compiler<'a> {
    pub atoms: Atoms,
    pub placeholders: &'a HashMap<String, Vec<String>>,
}

/// A rule compiled: the detection alone (to find candidate atoms) and the
/// full program (detection and logsource).
#[derive(Debug)]
pub struct Compiled {
    pub detection: Expr,
    pub full: Expr,
    /// The logsource alone: which records the rule can fire on at all.
    pub scope: Expr,
    /// What must hold once `scope` is known to: the detection when every
    /// logsource variant maps the fields alike (`full` = `scope` and it),
    /// else `full`.
    pub program: Expr,
}

impl<'a> Compiler<'a> {
    pub fn new(placeholders: &'a HashMap<String, Vec<String>>) -> Self {
        Compiler {
            atoms: Atoms::default(),
            placeholders,
        }
    }

    /// Compiles a rule's detection, scoped by its logsource entry (or
    /// unscoped when `entry` is `None` or has no variants). `filters` are
    /// extra detections whose condition must also hold.
    pub fn compile(
        &mut self,
        det: &Detection,
        entry: Option<&Entry>,
        filters: &[&Detection],
    ) -> Result<Compiled, String> {
        let identity = Variant::default();
        let variants: Vec<(&Variant, bool)> = match entry {
            Some(e) if !e.variants.is_empty() => e.variants.iter().map(|v| (v, true)).collect(),
            _ => vec![(&identity, false)],
        };
        let mut dets = Vec::new();
        let mut fulls = Vec::new();
        let mut scopes = Vec::new();
        for (v, scoped) in variants {
            let mut parts = vec![self.detection(det, &v.fieldmappings)?];
            for f in filters {
                parts.push(
                    self.detection(f, &v.fieldmappings)
                        .map_err(|e| format!("filter: {e}"))?,
                );
            }
            let d = Expr::and(parts);
            dets.push(d.clone());
            let scope = if scoped {
                self.variant_predicate(v)?
            } else {
                Expr::Const(true)
            };
            scopes.push(scope.clone());
            fulls.push(Expr::and(vec![scope, d]));
        }
        let full = Expr::or(fulls);
        let program = match dets.iter().all(|d| *d == dets[0]) {
            true => dets[0].clone(),
            false => full.clone(),
        };
        Ok(Compiled {
            detection: Expr::or(dets),
            full,
            scope: Expr::or(scopes),
            program,
        })
    }

    fn variant_predicate(&mut self, v: &Variant) -> Result<Expr, String> {
        let mut parts = Vec::new();
        let mut origin = Vec::new();
        for (field, values) in [("Channel", &v.channels), ("Provider_Name", &v.providers)] {
            let f = self.atoms.fields.intern(field);
            for val in values {
                origin.push(Expr::Atom(self.atoms.intern(
                    f,
                    Test::Str {
                        value: SigmaStr::literal(val.as_bytes()),
                        cased: false,
                    },
                )));
            }
        }
        if !origin.is_empty() {
            parts.push(Expr::or(origin));
        }
        for (field, values) in &v.conditions {
            let f = self.atoms.fields.intern(field);
            let alts = values
                .iter()
                .map(|val| {
                    Expr::Atom(self.atoms.intern(
                        f,
                        Test::Str {
                            value: SigmaStr::parse(val),
                            cased: false,
                        },
                    ))
                })
                .collect();
            parts.push(Expr::or(alts));
        }
        Ok(Expr::and(parts))
    }

    fn detection(
        &mut self,
        det: &Detection,
        map: &HashMap<String, String>,
    ) -> Result<Expr, String> {
        let mut sels: Vec<(&str, Expr)> = Vec::new();
        for (name, body) in &det.selections {
            let e = self
                .selection(body, map)
                .map_err(|e| format!("selection `{name}`: {e}"))?;
            sels.push((name, e));
        }
        let mut conds = Vec::new();
        for c in &det.conditions {
            let parsed = condition::parse(c).map_err(|e| format!("condition `{c}`: {e}"))?;
            conds.push(resolve(&parsed, &sels).map_err(|e| format!("condition `{c}`: {e}"))?);
        }
        Ok(Expr::or(conds))
    }

    fn selection(&mut self, body: &Yaml, map: &HashMap<String, String>) -> Result<Expr, String> {
        match body {
            Yaml::Hash(h) => {
                let mut items = Vec::new();
                for (k, v) in h {
                    let key = scalar_text(k).ok_or("field names must be strings")?;
                    items.push(self.item(&key, v, map)?);
                }
                if items.is_empty() {
                    return Err("empty selection".into());
                }
                Ok(Expr::and(items))
            }
            Yaml::Array(a) => {
                if a.is_empty() {
                    return Err("empty selection".into());
                }
                let mut alts = Vec::new();
                for v in a {
                    alts.push(match v {
                        Yaml::Hash(_) => self.selection(v, map)?,
                        _ => self.item("", v, map)?,
                    });
                }
                Ok(Expr::or(alts))
            }
            Yaml::Null => Err("empty selection".into()),
            v => self.item("", v, map),
        }
    }

    /// One `field|modifiers: value(s)` item; an empty field is a keyword search.
    fn item(
        &mut self,
        key: &str,
        value: &Yaml,
        map: &HashMap<String, String>,
    ) -> Result<Expr, String> {
        let mut parts = key.split('|');
        let raw_field = parts.next().unwrap_or("");
        let mods = Mods::parse(parts)?;
        let field_name = if raw_field.is_empty() {
            KEYWORDS.to_string()
        } else {
            map.get(raw_field)
                .cloned()
                .unwrap_or_else(|| raw_field.to_string())
        };
        let field = self.atoms.fields.intern(&field_name);
        let values: Vec<&Yaml> = match value {
            Yaml::Array(a) => a.iter().collect(),
            v => vec![v],
        };
        if values.is_empty() {
            return Err(format!("`{key}` has an empty list of values"));
        }
        let mut exprs = Vec::new();
        for v in values {
            exprs.push(
                self.value(field, &mods, v, map)
                    .map_err(|e| format!("`{key}`: {e}"))?,
            );
        }
        Ok(if mods.all {
            Expr::and(exprs)
        } else {
            Expr::or(exprs)
        })
    }

    fn value(
        &mut self,
        field: FieldId,
        m: &Mods,
        v: &Yaml,
        map: &HashMap<String, String>,
    ) -> Result<Expr, String> {
        let is_keyword = self.atoms.fields.names[field as usize] == KEYWORDS;
        if matches!(v, Yaml::Null) {
            let nonnull = Expr::Atom(self.atoms.intern(field, Test::NonNull));
            return Ok(if m.neq { nonnull } else { Expr::not(nonnull) });
        }
        let text = scalar_text(v).ok_or("values must be scalars")?;
        if m.exists {
            let b = match (v, text.to_ascii_lowercase().as_str()) {
                (Yaml::Boolean(b), _) => *b,
                (_, "true" | "yes") => true,
                (_, "false" | "no") => false,
                _ => return Err("`exists` takes true or false".into()),
            };
            let present = Expr::Atom(self.atoms.intern(field, Test::Present));
            return Ok(if b { present } else { Expr::not(present) });
        }
        let test = if m.re {
            let mut flags = String::new();
            for (on, f) in [(m.re_i, 'i'), (m.re_m, 'm'), (m.re_s, 's')] {
                if on {
                    flags.push(f);
                }
            }
            let pat = if flags.is_empty() {
                text.clone()
            } else {
                format!("(?{flags}){text}")
            };
            regex::bytes::RegexBuilder::new(&pat)
                .size_limit(1 << 22)
                .build()
                .map_err(|e| {
                    format!(
                        "invalid regex: {}",
                        e.to_string().lines().last().unwrap_or("")
                    )
                })?;
            vec![Test::Regex(pat)]
        } else if m.cidr {
            vec![Test::Cidr(Cidr::parse(&text)?)]
        } else if let Some(op) = m.cmp {
            let n: f64 = text
                .trim()
                .parse()
                .map_err(|_| format!("`{text}` is not a number"))?;
            vec![Test::Num(op, n)]
        } else if let Some(part) = m.time {
            let n: i64 = text
                .trim()
                .parse()
                .map_err(|_| format!("`{text}` is not an integer"))?;
            vec![Test::Time(part, n)]
        } else if m.fieldref {
            let target = map.get(&text).cloned().unwrap_or(text);
            let other = self.atoms.fields.intern(&target);
            let kind = match (m.contains, m.startswith, m.endswith) {
                (true, _, _) => RefKind::Contains,
                (_, true, _) => RefKind::StartsWith,
                (_, _, true) => RefKind::EndsWith,
                _ => RefKind::Equals,
            };
            vec![Test::FieldRef {
                other,
                kind,
                cased: m.cased,
            }]
        } else {
            let texts = if m.expand {
                self.expand(&text)?
            } else {
                vec![text]
            };
            let mut strs: Vec<SigmaStr> = texts
                .iter()
                .map(|t| match v {
                    Yaml::String(_) => SigmaStr::parse(t),
                    _ => SigmaStr::literal(t.as_bytes()),
                })
                .collect();
            for t in &m.transforms {
                strs = modifier::apply(*t, strs)?;
            }
            // Keywords are substring searches over the whole record.
            let contains = m.contains || (is_keyword && !m.startswith && !m.endswith);
            strs.into_iter()
                .map(|s| {
                    let s = if contains {
                        s.contains()
                    } else if m.startswith {
                        s.startswith()
                    } else if m.endswith {
                        s.endswith()
                    } else {
                        s
                    };
                    Test::Str {
                        value: s,
                        cased: m.cased,
                    }
                })
                .collect()
        };
        let alts: Vec<Expr> = test
            .into_iter()
            .map(|t| Expr::Atom(self.atoms.intern(field, t)))
            .collect();
        let e = Expr::or(alts);
        if m.neq {
            let present = Expr::Atom(self.atoms.intern(field, Test::Present));
            return Ok(Expr::and(vec![present, Expr::not(e)]));
        }
        Ok(e)
    }

    /// Replaces `%name%` placeholders with every configured value.
    fn expand(&self, text: &str) -> Result<Vec<String>, String> {
        let mut out = vec![String::new()];
        let mut rest = text;
        while let Some(start) = rest.find('%') {
            let Some(len) = rest[start + 1..].find('%') else {
                break;
            };
            let name = &rest[start + 1..start + 1 + len];
            let values = self
                .placeholders
                .get(name)
                .filter(|v| !v.is_empty())
                .ok_or_else(|| {
                    format!("placeholder %{name}% has no configured value (see --placeholder)")
                })?;
            let prefix = &rest[..start];
            out = out
                .iter()
                .flat_map(|o| values.iter().map(move |v| format!("{o}{prefix}{v}")))
                .collect();
            if out.len() > modifier::MAX_EXPANSION {
                return Err("placeholder expansion is too large".into());
            }
            rest = &rest[start + len + 2..];
        }
        Ok(out.into_iter().map(|o| o + rest).collect())
    }
}

/// Resolves a parsed condition against the compiled selections.
fn resolve(c: &Cond, sels: &[(&str, Expr)]) -> Result<Expr, String> {
    Ok(match c {
        Cond::Ref(name) => sels
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, e)| e.clone())
            .ok_or_else(|| format!("unknown selection `{name}`"))?,
        Cond::Not(e) => Expr::not(resolve(e, sels)?),
        Cond::And(v) => Expr::and(
            v.iter()
                .map(|e| resolve(e, sels))
                .collect::<Result<_, _>>()?,
        ),
        Cond::Or(v) => Expr::or(
            v.iter()
                .map(|e| resolve(e, sels))
                .collect::<Result<_, _>>()?,
        ),
        Cond::Of(q, t) => {
            let picked: Vec<Expr> = sels
                .iter()
                .filter(|(n, _)| match t {
                    Target::Them => !n.starts_with('_'),
                    Target::Pattern(p) => condition::name_matches(p, n),
                })
                .map(|(_, e)| e.clone())
                .collect();
            if picked.is_empty() {
                let what = match t {
                    Target::Them => "them".to_string(),
                    Target::Pattern(p) => format!("`{p}`"),
                };
                return Err(format!("{what} matches no selection"));
            }
            match q {
                Quant::All => Expr::and(picked),
                Quant::AtLeast(1) => Expr::or(picked),
                Quant::AtLeast(n) => Expr::AtLeast(*n, picked),
            }
        }
    })
}

/// The modifiers of one detection item.
#[derive(Clone, Debug, Default)]
struct Mods {
    contains: bool,
    startswith: bool,
    endswith: bool,
    all: bool,
    cased: bool,
    re: bool,
    re_i: bool,
    re_m: bool,
    re_s: bool,
    cidr: bool,
    exists: bool,
    neq: bool,
    cmp: Option<CmpOp>,
    fieldref: bool,
    expand: bool,
    time: Option<TimePart>,
    transforms: Vec<Transform>,
}

impl Mods {
    fn parse<'s>(names: impl Iterator<Item = &'s str>) -> Result<Mods, String> {
        let mut m = Mods::default();
        for n in names {
            match n.to_ascii_lowercase().as_str() {
                "contains" => m.contains = true,
                "startswith" => m.startswith = true,
                "endswith" => m.endswith = true,
                "all" => m.all = true,
                "cased" => m.cased = true,
                "re" => m.re = true,
                "i" | "ignorecase" => m.re_i = true,
                "m" | "multiline" => m.re_m = true,
                "s" | "dotall" => m.re_s = true,
                "cidr" => m.cidr = true,
                "exists" => m.exists = true,
                "neq" => m.neq = true,
                "lt" => m.cmp = Some(CmpOp::Lt),
                "lte" => m.cmp = Some(CmpOp::Lte),
                "gt" => m.cmp = Some(CmpOp::Gt),
                "gte" => m.cmp = Some(CmpOp::Gte),
                "fieldref" => m.fieldref = true,
                "expand" => m.expand = true,
                "minute" => m.time = Some(TimePart::Minute),
                "hour" => m.time = Some(TimePart::Hour),
                "day" => m.time = Some(TimePart::Day),
                "week" => m.time = Some(TimePart::Week),
                "month" => m.time = Some(TimePart::Month),
                "year" => m.time = Some(TimePart::Year),
                "windash" => m.transforms.push(Transform::Windash),
                "base64" => m.transforms.push(Transform::Base64),
                "base64offset" => m.transforms.push(Transform::Base64Offset),
                "wide" | "utf16le" => m.transforms.push(Transform::Utf16Le),
                "utf16be" => m.transforms.push(Transform::Utf16Be),
                "utf16" => m.transforms.push(Transform::Utf16Bom),
                other => return Err(format!("unknown modifier `{other}`")),
            }
        }
        if (m.re_i || m.re_m || m.re_s) && !m.re {
            return Err("regex flags i/m/s need the `re` modifier".into());
        }
        if [m.contains, m.startswith, m.endswith]
            .iter()
            .filter(|b| **b)
            .count()
            > 1
        {
            return Err("contains, startswith and endswith exclude each other".into());
        }
        Ok(m)
    }
}

#[cfg(test)]
mod tests {
    use super::Expr::{self, *};

    fn a(i: u32) -> Expr {
        Atom(i)
    }

    /// Equal tests on one field are one atom; any difference (field,
    /// value, case, operator) makes another. `0.0` and `-0.0` are equal.
    #[test]
    fn atoms_are_interned_by_value() {
        use super::{Atoms, CmpOp, Test};
        use crate::pattern::SigmaStr;
        let s = |v: &str, cased| Test::Str {
            value: SigmaStr::literal(v.as_bytes()).contains(),
            cased,
        };
        let mut at = Atoms::default();
        let first = at.intern(0, s("md5=0e76", false));
        assert_eq!(at.intern(0, s("md5=0e76", false)), first);
        let others = [
            at.intern(1, s("md5=0e76", false)),
            at.intern(0, s("md5=0e76", true)),
            at.intern(0, s("md5=0e77", false)),
            at.intern(0, Test::Num(CmpOp::Gt, 0.0)),
            at.intern(0, Test::Num(CmpOp::Gte, 0.0)),
            at.intern(0, Test::Regex("md5=0e76".into())),
        ];
        assert_eq!(others, [1, 2, 3, 4, 5, 6]);
        assert_eq!(at.intern(0, Test::Num(CmpOp::Gt, -0.0)), 4);
        assert_eq!(at.list.len(), 7);
    }

    /// Whenever an expression holds, one of its trigger atoms holds:
    /// checked over every assignment of its atoms.
    #[test]
    fn triggers_cover_every_match() {
        let exprs = [
            a(0),
            And(vec![a(0), a(1)]),
            And(vec![a(0), Not(Box::new(a(1)))]),
            Or(vec![a(0), And(vec![a(1), a(2)])]),
            And(vec![
                Or(vec![a(0), a(1)]),
                Or(vec![a(2), a(3)]),
                Not(Box::new(a(4))),
            ]),
            AtLeast(2, vec![a(0), a(1), a(2)]),
            And(vec![
                AtLeast(1, vec![a(0), a(1)]),
                Not(Box::new(Or(vec![a(2), a(3)]))),
            ]),
            Or(vec![And(vec![a(0), a(1), a(2)]), And(vec![a(3), a(4)])]),
        ];
        // Lower atom numbers look more likely to hit.
        let cost = |x: u32| 1.0 / (x + 1) as f64;
        for e in &exprs {
            let (_, trig) = e.triggers(&cost).expect("has triggers");
            for bits in 0u32..32 {
                let atom = |x: u32| bits >> x & 1 == 1;
                if e.eval(&atom) {
                    assert!(
                        trig.iter().any(|&t| atom(t)),
                        "{e:?} with {bits:05b}: {trig:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn and_keeps_the_least_likely_conjunct() {
        let cost = |x: u32| if x == 0 { 0.9 } else { 0.01 };
        let e = And(vec![a(0), Or(vec![a(1), a(2)])]);
        assert_eq!(e.triggers(&cost).unwrap().1, vec![1, 2]);
    }

    #[test]
    fn negations_and_constants_have_no_triggers() {
        let cost = |_| 1.0;
        assert_eq!(Not(Box::new(a(0))).triggers(&cost), None);
        assert_eq!(Or(vec![a(0), Not(Box::new(a(1)))]).triggers(&cost), None);
        assert_eq!(Const(true).triggers(&cost), None);
        assert_eq!(Const(false).triggers(&cost), Some((0.0, vec![])));
    }
}
