//! Logsource truths shared by records that look alike.
//!
//! Whether a rule's logsource holds depends only on the record's logsource
//! fields (`Channel`, `EventID`, `Provider_Name`, ...), which are matched
//! first, during the walk. Records of one kind — every Sysmon 10, every
//! PowerShell 4103 of one host — set the same atoms on those fields, so they
//! agree on every logsource and on every field gate. Each distinct set of
//! logsource-field atoms gets a slot whose truths are filled lazily, the
//! first time a record of that kind asks, and reused by the next records of
//! the kind instead of being evaluated per record.
//!
//! Bounded and set-associative: `SETS` sets of `WAYS` slots, a new kind
//! evicting the least recently used of its set. Direct-mapped (64 slots),
//! two busy kinds that hashed to one slot took it from each other on every
//! record: among the six kinds of the benches' synthetic quiet records two
//! did, and each of their records evaluated its logsources and field gates
//! afresh. Four ways: 18,465 → 16,763 instructions a quiet record, and
//! 1.04–1.25× its records/s in pairs run side by side; the OTRF sample,
//! whose kinds did not collide, unchanged. With a dozen kinds in a
//! stream, some two share a slot of 64 more often than not. A lookup
//! reads its set's tags (one line), then the matching slot's key. Buffers
//! are reused, so once warm nothing is allocated.

use std::hash::Hasher;

use crate::compiler::{AtomId, Expr};

const SETS: usize = 64;
const WAYS: usize = 4;

/// 0: not known yet, 1: false, 2: true.
type Truth = u8;

#[derive(Default)]
struct Slot {
    key: Vec<AtomId>,
    /// Per distinct logsource.
    scopes: Vec<Truth>,
    /// Per field: is any logsource of its readers true?
    fields: Vec<Truth>,
}

/// A set's ways: each one's key hash (compared before its key) and when
/// it was last selected (`ScopeCache::clock`; 0: never). One cache line.
#[derive(Clone, Copy, Default)]
#[repr(align(64))]
struct Tags([(u64, u64); WAYS]);

pub struct ScopeCache {
    tags: Vec<Tags>,
    /// `SETS` runs of `WAYS` slots.
    slots: Vec<Slot>,
    cur: usize,
    sorted: Vec<AtomId>,
    clock: u64,
}

impl ScopeCache {
    pub fn new(nscopes: usize, nfields: usize) -> ScopeCache {
        ScopeCache {
            tags: vec![Tags::default(); SETS],
            slots: (0..SETS * WAYS)
                .map(|_| Slot {
                    key: vec![AtomId::MAX],
                    scopes: vec![0; nscopes],
                    fields: vec![0; nfields],
                })
                .collect(),
            cur: 0,
            sorted: Vec::new(),
            clock: 0,
        }
    }

    /// Selects the slot of a record whose logsource fields set `atoms`
    /// (in any order; nothing else may have been set yet).
    pub fn select(&mut self, atoms: &[AtomId]) {
        self.sorted.clear();
        self.sorted.extend_from_slice(atoms);
        self.sorted.sort_unstable();
        let hash = key_hash(&self.sorted);
        let set = hash as usize % SETS;
        self.clock += 1;
        let (tags, ways) = (
            &mut self.tags[set].0,
            &mut self.slots[set * WAYS..(set + 1) * WAYS],
        );
        let i = match (0..WAYS).find(|&i| tags[i].0 == hash && ways[i].key == self.sorted) {
            Some(i) => i,
            None => {
                let i = (0..WAYS).min_by_key(|&i| tags[i].1).unwrap_or(0);
                let s = &mut ways[i];
                s.key.clear();
                s.key.extend_from_slice(&self.sorted);
                s.scopes.fill(0);
                s.fields.fill(0);
                tags[i].0 = hash;
                i
            }
        };
        tags[i].1 = self.clock;
        self.cur = set * WAYS + i;
    }

    /// Whether logsource `id` holds, `atom` telling which atoms are set.
    pub fn scope(&mut self, scopes: &[Expr], id: u32, atom: impl Fn(AtomId) -> bool) -> bool {
        let t = &mut self.slots[self.cur].scopes[id as usize];
        if *t == 0 {
            *t = 1 + scopes[id as usize].eval(&atom) as Truth;
        }
        *t == 2
    }

    /// The cached gate of field `f`, if known.
    pub fn field(&self, f: u32) -> Option<bool> {
        match self.slots[self.cur].fields[f as usize] {
            0 => None,
            t => Some(t == 2),
        }
    }

    pub fn set_field(&mut self, f: u32, open: bool) {
        self.slots[self.cur].fields[f as usize] = 1 + open as Truth;
    }
}

/// The hash of a sorted key; its set is the hash modulo `SETS`.
fn key_hash(sorted: &[AtomId]) -> u64 {
    let mut h = rustc_hash::FxHasher::default();
    for &a in sorted {
        h.write_u32(a);
    }
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truths_are_kept_per_set_of_atoms() {
        let scopes = [Expr::Atom(1), Expr::Atom(2)];
        let mut c = ScopeCache::new(2, 1);
        c.select(&[2, 1]);
        assert!(c.scope(&scopes, 0, |a| a == 1 || a == 2));
        c.set_field(0, true);
        // Same atoms in another order: the slot answers without evaluating.
        c.select(&[1, 2]);
        assert!(c.scope(&scopes, 0, |_| false), "cached");
        assert_eq!(c.field(0), Some(true));
        // Other atoms: evaluated afresh.
        c.select(&[1]);
        assert_eq!(c.field(0), None);
        assert!(!c.scope(&scopes, 1, |a| a == 1));
    }

    /// `n` keys (single atoms) whose hashes fall into one set.
    fn one_set(n: usize) -> Vec<AtomId> {
        let set = |a: AtomId| key_hash(&[a]) as usize % SETS;
        let s0 = set(0);
        (0..).filter(|&a| set(a) == s0).take(n).collect()
    }

    #[test]
    fn kinds_sharing_a_set_keep_their_slots() {
        let scopes = [Expr::Atom(0)];
        let keys = one_set(WAYS + 1);
        let mut c = ScopeCache::new(1, 1);
        // WAYS kinds of one set, each cached once...
        for &k in &keys[..WAYS] {
            c.select(&[k]);
            c.set_field(0, k % 2 == 0);
        }
        // ...are all still cached, however they alternate.
        for _ in 0..3 {
            for &k in keys[..WAYS].iter().rev() {
                c.select(&[k]);
                assert_eq!(c.field(0), Some(k % 2 == 0), "kind {k}");
            }
        }
        // One more kind evicts the least recently used (keys[WAYS - 1],
        // selected first in the last round), and only it.
        c.select(&[keys[WAYS]]);
        assert_eq!(c.field(0), None);
        c.set_field(0, true);
        for &k in &keys[..WAYS - 1] {
            c.select(&[k]);
            assert_eq!(c.field(0), Some(k % 2 == 0), "kind {k}");
        }
        c.select(&[keys[WAYS - 1]]);
        assert_eq!(c.field(0), None, "evicted");
        assert!(c.scope(&scopes, 0, |a| a == 0));
    }
}
