//! Field extraction: walking a record through a compiled profile.
//!
//! A profile becomes a small trie of record paths. Walking a record follows
//! only the branches the trie knows, so a 40-field Sysmon record costs a
//! handful of key comparisons and the values of fields no rule reads are
//! never looked at.

use rustc_hash::FxHashMap as HashMap;

use crate::compiler::{FieldId, FieldTable};
use crate::profile::{Profile, ProfileSet};
use crate::record::{Doc, Scalar};

/// A 4,096-bit filter on (length, first byte, last byte) of a set of keys.
/// Most keys of a record are read by no rule; the filter turns them away
/// before they are hashed (no false negatives, a few false positives).
#[derive(Clone, Debug)]
struct KeyFilter(Box<[u64; 64]>);

impl KeyFilter {
    fn new<'k>(keys: impl IntoIterator<Item = &'k [u8]>) -> KeyFilter {
        let mut f = KeyFilter(Box::new([0; 64]));
        for k in keys {
            let s = Self::slot(k);
            f.0[s >> 6] |= 1 << (s & 63);
        }
        f
    }

    fn slot(k: &[u8]) -> usize {
        let (a, z) = (
            *k.first().unwrap_or(&0) as usize,
            *k.last().unwrap_or(&0) as usize,
        );
        (k.len().wrapping_mul(0x9e5) ^ a.wrapping_mul(0x3d) ^ (z << 5)) & 4095
    }

    #[inline]
    fn may_contain(&self, k: &[u8]) -> bool {
        let s = Self::slot(k);
        self.0[s >> 6] & (1 << (s & 63)) != 0
    }
}

impl Default for KeyFilter {
    fn default() -> Self {
        KeyFilter::new([])
    }
}

/// A key's identity in three words: its length and its first and last
/// bytes, which together are the whole key up to 16 bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct KeyWords {
    len: usize,
    head: u64,
    tail: u64,
}

impl KeyWords {
    #[inline(always)]
    fn of(k: &[u8]) -> KeyWords {
        let n = k.len();
        let word = |at: usize| u32::from_le_bytes(k[at..at + 4].try_into().unwrap()) as u64;
        let (head, tail) = match n {
            0 => (0, 0),
            1..=3 => (
                k[0] as u64 | (k[n / 2] as u64) << 8 | (k[n - 1] as u64) << 16,
                0,
            ),
            4..=7 => (word(0), word(n - 4)),
            _ => (
                u64::from_le_bytes(k[..8].try_into().unwrap()),
                u64::from_le_bytes(k[n - 8..].try_into().unwrap()),
            ),
        };
        KeyWords { len: n, head, tail }
    }

    #[inline]
    fn slot(&self) -> usize {
        let x = self.head ^ self.tail.rotate_left(23) ^ self.len as u64;
        (x.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> (64 - KEY_SLOT_BITS)) as usize
    }
}

const KEY_SLOT_BITS: u32 = 12;

/// The keys of a passthrough node. Most keys of a record are Sigma field
/// names, so most lookups succeed and their cost is the compare: keys are
/// compared as [`KeyWords`] (the bytes between the first and last eight
/// only for keys over 16 bytes), found by a slot of those words; a key no
/// rule reads usually lands on an empty slot.
#[derive(Debug)]
struct KeyTable<V> {
    /// `entries[starts[s]..starts[s + 1]]` are the keys in slot `s`.
    starts: Box<[u16]>,
    entries: Vec<(KeyWords, Box<[u8]>, V)>,
}

impl<V: Copy> KeyTable<V> {
    fn new(keys: impl IntoIterator<Item = (Box<[u8]>, V)>) -> KeyTable<V> {
        let mut entries: Vec<(KeyWords, Box<[u8]>, V)> = keys
            .into_iter()
            .map(|(k, v)| (KeyWords::of(&k), k, v))
            .collect();
        assert!(entries.len() < u16::MAX as usize, "too many field names");
        entries.sort_by_key(|e| e.0.slot());
        let mut starts = vec![0u16; (1 << KEY_SLOT_BITS) + 1];
        for e in &entries {
            starts[e.0.slot() + 1] += 1;
        }
        for s in 1..starts.len() {
            starts[s] += starts[s - 1];
        }
        KeyTable {
            starts: starts.into(),
            entries,
        }
    }

    #[inline(always)]
    fn get(&self, k: &[u8]) -> Option<V> {
        let w = KeyWords::of(k);
        let s = w.slot();
        let (a, b) = (self.starts[s] as usize, self.starts[s + 1] as usize);
        self.entries[a..b]
            .iter()
            .find(|e| {
                // Middles are short (field names): a loop beats a memcmp call.
                e.0 == w
                    && (w.len <= 16
                        || e.1[8..w.len - 8]
                            .iter()
                            .zip(&k[8..w.len - 8])
                            .all(|(a, b)| a == b))
            })
            .map(|e| e.2)
    }
}

impl<V: Copy> Default for KeyTable<V> {
    fn default() -> Self {
        KeyTable::new([])
    }
}

/// What a passthrough node's key leads to: a child node, a field, or both.
type KeyStep = (Option<usize>, Option<FieldId>);

#[derive(Debug, Default)]
struct Node {
    children: HashMap<Box<[u8]>, usize>,
    wildcard: Option<usize>,
    /// Fields whose value is this node's value.
    fields: Vec<FieldId>,
    /// This node's keys are Sigma field names.
    passthrough: bool,
    /// For a passthrough node: each key's child node and field, so a key
    /// costs one lookup (children and field names merged).
    keys: KeyTable<KeyStep>,
    /// This node is the positional array (see `Positional`).
    positional: bool,
}

/// One compiled profile.
#[derive(Debug)]
pub struct Shape {
    pub name: String,
    detect: Vec<Box<[u8]>>,
    nodes: Vec<Node>,
    positional: Option<PositionalTable>,
}

/// (lowercased provider name, event id as text).
type LayoutKey = (Vec<u8>, Vec<u8>);

/// Compiled `Positional`: (lowercased provider, event id) to field ids by position.
#[derive(Debug)]
struct PositionalTable {
    provider_field: Box<[u8]>,
    event_id_field: Box<[u8]>,
    layouts: HashMap<LayoutKey, Vec<Option<FieldId>>>,
}

impl Shape {
    fn compile(p: &Profile, fields: &FieldTable) -> Shape {
        let mut s = Shape {
            name: p.name.clone(),
            detect: p.detect.iter().map(|d| d.as_bytes().into()).collect(),
            nodes: vec![Node::default()],
            positional: None,
        };
        if let Some(pos) = &p.positional {
            let n = s.node_for(&pos.path);
            s.nodes[n].positional = true;
            let mut layouts = HashMap::default();
            for ev in &pos.events {
                let ids: Vec<Option<FieldId>> = ev.fields.iter().map(|f| fields.get(f)).collect();
                for prov in &ev.providers {
                    for id in &ev.event_ids {
                        layouts.insert(
                            (
                                crate::pattern::folded(prov.as_bytes()),
                                id.as_bytes().to_vec(),
                            ),
                            ids.clone(),
                        );
                    }
                }
            }
            s.positional = Some(PositionalTable {
                provider_field: pos.provider_field.as_bytes().into(),
                event_id_field: pos.event_id_field.as_bytes().into(),
                layouts,
            });
        }
        for (name, paths) in &p.fields {
            // Only fields some rule reads are extracted.
            let Some(id) = fields.get(name) else { continue };
            for path in paths {
                let n = s.node_for(path);
                if !s.nodes[n].fields.contains(&id) {
                    s.nodes[n].fields.push(id);
                }
            }
        }
        for path in &p.passthrough {
            let n = s.node_for(path);
            s.nodes[n].passthrough = true;
        }
        s
    }

    fn node_for(&mut self, path: &str) -> usize {
        let mut cur = 0;
        if path.is_empty() {
            return cur;
        }
        for seg in path.split('.') {
            let next = if seg == "*" {
                self.nodes[cur].wildcard
            } else {
                self.nodes[cur].children.get(seg.as_bytes()).copied()
            };
            cur = match next {
                Some(n) => n,
                None => {
                    let n = self.nodes.len();
                    self.nodes.push(Node::default());
                    if seg == "*" {
                        self.nodes[cur].wildcard = Some(n);
                    } else {
                        self.nodes[cur].children.insert(seg.as_bytes().into(), n);
                    }
                    n
                }
            };
        }
        cur
    }
}

/// All profiles of an engine, and how to pick one for a record.
#[derive(Debug)]
pub struct Shapes {
    shapes: Vec<Shape>,
    /// Each `detect` key and the first shape that names it, so picking a
    /// shape is one pass over the root's keys (a msgpack map has no index:
    /// every lookup would walk it).
    detect: HashMap<Box<[u8]>, usize>,
    detect_filter: KeyFilter,
    /// The first shape without `detect` (or the first shape).
    fallback: usize,
    /// A table of the fallback shape's root keys and every `detect` key,
    /// when that root is only a key lookup (the `flat` profile): see
    /// [`Shapes::walk`].
    fast: Option<KeyTable<FastStep>>,
}

/// A root key's step in the fallback shape, and whether the key is some
/// profile's `detect` key (then the fallback is not the record's shape).
type FastStep = (Step, bool);

/// Fields and leaf values a record's walk extracted, in walk order. On
/// the stack: the hot path allocates nothing per record.
pub type Pairs<'a> = smallvec::SmallVec<[(FieldId, Scalar<'a>); 48]>;

impl Shapes {
    pub fn compile(set: &ProfileSet, fields: &FieldTable) -> Shapes {
        let shapes: Vec<Shape> = set
            .profiles
            .iter()
            .map(|p| Shape::compile(p, fields))
            .collect();
        let by_name: HashMap<Box<[u8]>, FieldId> = fields
            .ids
            .iter()
            .map(|(k, &v)| (k.as_bytes().into(), v))
            .collect();
        let mut shapes = shapes;
        for node in shapes.iter_mut().flat_map(|s| s.nodes.iter_mut()) {
            if node.passthrough {
                let mut keys: HashMap<Box<[u8]>, KeyStep> = by_name
                    .iter()
                    .map(|(k, &f)| (k.clone(), (None, Some(f))))
                    .collect();
                for (k, &c) in &node.children {
                    keys.insert(k.clone(), (Some(c), by_name.get(k).copied()));
                }
                node.keys = KeyTable::new(keys);
            }
        }
        let mut detect = HashMap::default();
        for (i, s) in shapes.iter().enumerate() {
            for k in &s.detect {
                detect.entry(k.clone()).or_insert(i);
            }
        }
        let fallback = shapes.iter().position(|s| s.detect.is_empty()).unwrap_or(0);
        let fast = shapes.get(fallback).and_then(|shape| {
            let root = &shape.nodes[0];
            if shape.positional.is_some() || !root.fields.is_empty() || root.wildcard.is_some() {
                return None;
            }
            // Every key whose step is not `Skip`, and the detect keys.
            let mut keys: Vec<&[u8]> = root.children.keys().map(|k| &k[..]).collect();
            if root.passthrough {
                keys.extend(by_name.keys().map(|k| &k[..]));
            }
            keys.extend(detect.keys().map(|k| &k[..]));
            keys.sort();
            keys.dedup();
            Some(KeyTable::new(
                keys.into_iter()
                    .map(|k| (k.into(), (root.step(k), detect.contains_key(k)))),
            ))
        });
        Shapes {
            shapes,
            detect_filter: KeyFilter::new(detect.keys().map(|k| &k[..])),
            detect,
            fallback,
            fast,
        }
    }

    /// The profile for a record: the first whose `detect` key the record
    /// has, else the first without `detect`.
    fn pick<'a, D: Doc<'a>>(&self, root: &D) -> Option<usize> {
        let mut first = usize::MAX;
        if !self.detect.is_empty() {
            root.entries(|k, _| {
                if !self.detect_filter.may_contain(k) {
                    return;
                }
                if let Some(&i) = self.detect.get(k) {
                    first = first.min(i);
                }
            });
        }
        [first, self.fallback]
            .into_iter()
            .find(|&i| i < self.shapes.len())
    }

    /// Picks the record's profile and adds every (field, leaf value) it
    /// extracts to `out`; false if there is no profile.
    ///
    /// Most records have the fallback shape (no `detect` key): with a
    /// one-pass table (`fast`) they are picked and their root walked in one
    /// pass, one lookup a key; a record found to have a `detect` key is
    /// walked again the general way.
    pub fn walk<'a, D: Doc<'a>>(&self, root: D, out: &mut Pairs<'a>) -> bool {
        if self.has_fast() {
            let mut other = false;
            root.entries(|k, child| {
                if !other {
                    other = self.fast_entry(k, child, out);
                }
            });
            if !other {
                return true;
            }
            out.clear();
        }
        self.walk_general(root, out).is_some()
    }

    /// [`Shapes::walk`] without the one-pass attempt (for a record found,
    /// or likely, to have a `detect` key); `None` if there is no profile,
    /// else whether the record turned out to be one the one-pass walk
    /// takes.
    pub fn walk_general<'a, D: Doc<'a>>(&self, root: D, out: &mut Pairs<'a>) -> Option<bool> {
        let sink = &mut |f, v| out.push((f, v));
        let i = self.pick(&root)?;
        let shape = &self.shapes[i];
        let one_pass = self.fast.is_some() && i == self.fallback;
        let layout = shape.positional.as_ref().and_then(|p| {
            let provider = root.get(&p.provider_field)?.scalar()?;
            let id = root.get(&p.event_id_field)?.scalar()?;
            let mut text = Vec::new();
            crate::record::scalar_text(provider, &mut text);
            let provider = crate::pattern::folded(&text);
            crate::record::scalar_text(id, &mut text);
            p.layouts.get(&(provider, text)).map(Vec::as_slice)
        });
        self.walk_node(shape, 0, root, layout, sink);
        Some(one_pass)
    }

    /// Whether records of the fallback shape can be walked one root entry
    /// at a time ([`Shapes::fast_entry`]).
    pub fn has_fast(&self) -> bool {
        self.fast.is_some()
    }

    /// Walks one root entry as the fallback shape would (nothing without a
    /// fast table); true if its key is a `detect` key, i.e. the record is
    /// not of the fallback shape and what was collected must be dropped.
    #[inline(always)]
    pub fn fast_entry<'a, D: Doc<'a>>(&self, k: &[u8], v: D, out: &mut Pairs<'a>) -> bool {
        match self.fast_key(k) {
            Some((key, detect)) => {
                self.fast_value(key, v, out);
                detect
            }
            None => false,
        }
    }

    /// [`Shapes::fast_entry`] in two halves, for a reader that learns a
    /// key before it has its value: the key's step (`None` if the fallback
    /// shape reads nothing under it), and whether it is a `detect` key.
    #[inline(always)]
    pub fn fast_key(&self, k: &[u8]) -> Option<(FastKey, bool)> {
        let (step, detect) = self.fast.as_ref()?.get(k)?;
        Some((FastKey(step), detect))
    }

    /// Walks a root value whose key gave `key`.
    #[inline(always)]
    pub fn fast_value<'a, D: Doc<'a>>(&self, key: FastKey, v: D, out: &mut Pairs<'a>) {
        self.take_step(&self.shapes[self.fallback], key.0, v, None, &mut |f, v| {
            out.push((f, v))
        });
    }

    fn walk_node<'a, D: Doc<'a>>(
        &self,
        shape: &Shape,
        n: usize,
        v: D,
        layout: Option<&[Option<FieldId>]>,
        sink: &mut impl FnMut(FieldId, Scalar<'a>),
    ) {
        let node = &shape.nodes[n];
        node_leaves(node, &v, layout, sink);
        if node.children.is_empty() && node.wildcard.is_none() && !node.passthrough {
            return;
        }
        v.entries(|k, child| self.take_step(shape, node.step(k), child, layout, sink));
    }

    #[inline(always)]
    fn take_step<'a, D: Doc<'a>>(
        &self,
        shape: &Shape,
        step: Step,
        child: D,
        layout: Option<&[Option<FieldId>]>,
        sink: &mut impl FnMut(FieldId, Scalar<'a>),
    ) {
        match step {
            Step::Skip => {}
            Step::Leaf(f) => leaf_values(&child, &mut |s| sink(f, s)),
            Step::Node(c, f) => {
                self.walk_node(shape, c, child, layout, sink);
                // An explicit mapping of a passthrough key keeps the key's own name too.
                if let Some(f) = f {
                    leaf_values(&child, &mut |s| sink(f, s));
                }
            }
        }
    }
}

/// A root key's step in the fallback shape (see [`Shapes::fast_key`]).
#[derive(Clone, Copy, Debug)]
pub struct FastKey(Step);

/// What a node's key leads to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    /// No rule reads anything under the key.
    Skip,
    /// The key's leaf values are this field's.
    Leaf(FieldId),
    /// The key's value is walked as this node; its leaf values are also the
    /// field's, if one is given.
    Node(usize, Option<FieldId>),
}

impl Node {
    #[inline(always)]
    fn step(&self, k: &[u8]) -> Step {
        if self.passthrough {
            return match self.keys.get(k) {
                Some((Some(c), f)) => Step::Node(c, f),
                _ if self.wildcard.is_some() => Step::Node(self.wildcard.unwrap(), None),
                Some((None, Some(f))) => Step::Leaf(f),
                _ => Step::Skip,
            };
        }
        match self.children.get(k) {
            Some(&c) => Step::Node(c, None),
            None => self.wildcard.map_or(Step::Skip, |c| Step::Node(c, None)),
        }
    }
}

/// The values a node itself yields: its own fields, and the positional
/// array's items.
fn node_leaves<'a, D: Doc<'a>>(
    node: &Node,
    v: &D,
    layout: Option<&[Option<FieldId>]>,
    sink: &mut impl FnMut(FieldId, Scalar<'a>),
) {
    for &f in &node.fields {
        leaf_values(v, &mut |s| sink(f, s));
    }
    if let (true, Some(layout)) = (node.positional, layout) {
        let mut i = 0;
        v.items(|item| {
            if let Some(Some(f)) = layout.get(i) {
                leaf_values(&item, &mut |s| sink(*f, s));
            }
            i += 1;
        });
    }
}

/// The leaf values of a field: a scalar, the scalars of a list, or the
/// `#text` of an evtx_dump element with attributes.
///
/// A scalar (nearly every value) is handed over inline: through a call,
/// the value went out and back through the stack in pieces of other
/// sizes, and each read back waited for its stores (`perf`: ~4% of
/// msgpack's time, in this function).
#[inline(always)]
fn leaf_values<'a, D: Doc<'a>>(v: &D, f: &mut impl FnMut(Scalar<'a>)) {
    if !v.with_scalar(f) {
        leaf_items(v, f)
    }
}

/// [`leaf_values`] of a value that is not a scalar.
fn leaf_items<'a, D: Doc<'a>>(v: &D, f: &mut impl FnMut(Scalar<'a>)) {
    if v.items(|item| {
        if let Some(s) = item.scalar() {
            f(s)
        } else if let Some(t) = item.get(b"#text") {
            if let Some(s) = t.scalar() {
                f(s)
            }
        }
    }) {
        return;
    }
    if let Some(t) = v.get(b"#text") {
        leaf_values(&t, f);
    }
}

/// Every string anywhere in the record (for keyword searches).
pub fn all_strings<'a, D: Doc<'a>>(v: D, f: &mut impl FnMut(&[u8])) {
    if let Some(s) = v.scalar() {
        match s {
            Scalar::Str(b) => f(b),
            Scalar::Escaped(raw) => {
                let mut b = Vec::new();
                crate::json_flat::unescape(raw, &mut b);
                f(&b)
            }
            _ => {}
        }
        return;
    }
    if !v.items(|i| all_strings(i, f)) {
        v.entries(|_, c| all_strings(c, f));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::ProfileSet;
    use proptest::prelude::*;

    proptest! {
        /// The key table answers like a hash map: for its keys, for keys
        /// one byte away from them (at any position), and for others.
        #[test]
        fn key_table_answers_like_a_map(
            keys in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..40), 0..60),
            probes in proptest::collection::vec((any::<proptest::sample::Index>(), any::<proptest::sample::Index>(), any::<u8>()), 0..60),
            others in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..40), 0..20),
        ) {
            let map: HashMap<Box<[u8]>, usize> = keys
                .iter()
                .enumerate()
                .map(|(i, k)| (k.clone().into_boxed_slice(), i))
                .collect();
            let table = KeyTable::new(map.iter().map(|(k, &v)| (k.clone(), v)));
            let mut queries: Vec<Vec<u8>> = keys.clone();
            queries.extend(others);
            if !keys.is_empty() {
                for (k, at, b) in probes {
                    let mut q = keys[k.index(keys.len())].clone();
                    if !q.is_empty() {
                        let i = at.index(q.len());
                        q[i] ^= b.max(1);
                    }
                    queries.push(q);
                }
            }
            for q in &queries {
                prop_assert_eq!(table.get(q), map.get(&q[..]).copied(), "{:?}", q);
            }
        }
    }

    /// The one-pass walk of fallback-shaped records gives the same fields
    /// and values, in the same order, as picking the shape and walking it;
    /// a record with a `detect` key anywhere (first, last, or a key that is
    /// also a field name) is walked as its own shape, without the pairs the
    /// one-pass walk collected before it saw that key.
    #[test]
    fn one_pass_walk_agrees_with_pick_and_walk() {
        let mut fields = FieldTable::default();
        for f in [
            "Image",
            "EventID",
            "Channel",
            "Event",
            "Provider_Name",
            "Data",
            "Keywords",
        ] {
            fields.intern(f);
        }
        let shapes = Shapes::compile(&ProfileSet::auto(), &fields);
        assert!(
            shapes.fast.is_some(),
            "the flat profile has a one-pass table"
        );
        let mut general = Shapes::compile(&ProfileSet::auto(), &fields);
        general.fast = None;
        let records = [
            r#"{"Image": "C:\\a.exe", "EventID": 1, "Unread": "x", "Keywords": ["a", "b"]}"#,
            r#"{}"#,
            r#"{"Image": "C:\\a.exe", "Event": {"System": {"EventID": 4104, "Channel": "c"}}}"#,
            r#"{"Event": {"EventData": {"Image": "x"}}, "Image": "y"}"#,
            r#"{"EventID": 7, "winlog": {"event_data": {"Image": "z"}, "channel": "c"}}"#,
            r#"{"EventID": 4104, "EventData": {"Image": "w"}, "Image": "v", "Channel": "c"}"#,
            r##"{"Image": {"#text": "t"}, "Data": [{"#text": "u"}, "v"], "EventID": null}"##,
        ];
        for r in records {
            let v: serde_json::Value = serde_json::from_str(r).unwrap();
            let (mut a, mut b) = (Pairs::new(), Pairs::new());
            assert!(shapes.walk(&v, &mut a));
            assert!(general.walk(&v, &mut b));
            assert_eq!(a, b, "{r}");
        }
        // The first record: read fields only, in record order.
        let v: serde_json::Value = serde_json::from_str(records[0]).unwrap();
        let mut a = Pairs::new();
        shapes.walk(&v, &mut a);
        let id = |n| fields.get(n).unwrap();
        assert_eq!(
            a.as_slice(),
            [
                (id("Image"), Scalar::Str(b"C:\\a.exe")),
                (id("EventID"), Scalar::Int(1)),
                (id("Keywords"), Scalar::Str(b"a")),
                (id("Keywords"), Scalar::Str(b"b")),
            ]
        );
    }

    #[test]
    fn key_words_tell_apart_keys_of_every_short_length() {
        let keys: Vec<&[u8]> = vec![
            b"",
            b"a",
            b"ab",
            b"ba",
            b"abc",
            b"acc",
            b"abcd",
            b"abdd",
            b"Image",
            b"image",
            b"CommandLine",
            b"CommandLina",
            b"SourceProcessGUID",
            b"SourceProcessGUIE",
            b"SourceProcesxGUID",
            b"TargetProcessGUID",
        ];
        for (i, a) in keys.iter().enumerate() {
            for b in &keys[i + 1..] {
                let same = KeyWords::of(a) == KeyWords::of(b);
                // Equal words are only allowed where the middle decides (> 16 bytes).
                assert!(!same || a.len() > 16, "{a:?} {b:?}");
            }
        }
        let table = KeyTable::new(keys.iter().enumerate().map(|(i, k)| (Box::from(*k), i)));
        for (i, k) in keys.iter().enumerate() {
            assert_eq!(table.get(k), Some(i));
        }
        assert_eq!(table.get(b"Imag"), None);
    }
}
