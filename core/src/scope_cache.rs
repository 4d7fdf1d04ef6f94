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
//! Direct-mapped and bounded (`SLOTS` slots; a new kind evicts the slot's
//! old one); buffers are reused, so once warm nothing is allocated.

use std::hash::Hasher;

use crate::compiler::{AtomId, Expr};

const SLOTS: usize = 64;

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

pub struct ScopeCache {
    slots: Vec<Slot>,
    cur: usize,
    sorted: Vec<AtomId>,
}

impl ScopeCache {
    pub fn new(nscopes: usize, nfields: usize) -> ScopeCache {
        ScopeCache {
            slots: (0..SLOTS)
                .map(|_| Slot {
                    key: vec![AtomId::MAX],
                    scopes: vec![0; nscopes],
                    fields: vec![0; nfields],
                })
                .collect(),
            cur: 0,
            sorted: Vec::new(),
        }
    }

    /// Selects the slot of a record whose logsource fields set `atoms`
    /// (in any order; nothing else may have been set yet).
    pub fn select(&mut self, atoms: &[AtomId]) {
        self.sorted.clear();
        self.sorted.extend_from_slice(atoms);
        self.sorted.sort_unstable();
        let mut h = rustc_hash::FxHasher::default();
        for &a in &self.sorted {
            h.write_u32(a);
        }
        self.cur = h.finish() as usize % SLOTS;
        let s = &mut self.slots[self.cur];
        if s.key != self.sorted {
            s.key.clear();
            s.key.extend_from_slice(&self.sorted);
            s.scopes.fill(0);
            s.fields.fill(0);
        }
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
}
