//! A per-scratch memo of field verdicts.
//!
//! Log values repeat: the same call traces, image paths and registry keys
//! arrive thousands of times an hour (in the OTRF sample, 1,717 `CallTrace`
//! values are 98 distinct ones, 1,717 `SourceImage` values 18). The atoms a
//! field's matcher sets depend only on the field and the value's text, so a
//! value seen recently replays its atoms instead of being searched again.
//!
//! The memo is direct-mapped (one slot per hash, the newest value wins) and
//! bounded: `SLOTS` slots, values of `MIN_LEN..=MAX_LEN` bytes only (shorter
//! ones are cheaper to search than to hash; longer ones rarely repeat and
//! would make the memo large). A slot's buffers are reused, so once warm the
//! memo allocates nothing.

use std::hash::Hasher;

use crate::compiler::{AtomId, FieldId};

const SLOTS: usize = 1024;
pub const MIN_LEN: usize = 16;
pub const MAX_LEN: usize = 1024;

#[derive(Default)]
struct Slot {
    /// `FieldId::MAX` when empty.
    field: FieldId,
    hash: u64,
    text: Vec<u8>,
    atoms: Vec<AtomId>,
}

pub struct Memo {
    slots: Vec<Slot>,
}

impl Memo {
    pub fn new() -> Memo {
        Memo {
            slots: (0..SLOTS)
                .map(|_| Slot {
                    field: FieldId::MAX,
                    ..Slot::default()
                })
                .collect(),
        }
    }

    /// Whether a value of this length is worth memoising.
    pub fn fits(len: usize) -> bool {
        (MIN_LEN..=MAX_LEN).contains(&len)
    }

    pub fn hash(f: FieldId, text: &[u8]) -> u64 {
        let mut h = rustc_hash::FxHasher::default();
        h.write_u32(f);
        h.write(text);
        h.finish()
    }

    /// The atoms recorded for `text` in field `f`, if it is in the memo.
    pub fn get(&self, f: FieldId, hash: u64, text: &[u8]) -> Option<&[AtomId]> {
        let s = &self.slots[hash as usize % SLOTS];
        (s.field == f && s.hash == hash && s.text == text).then_some(&s.atoms[..])
    }

    /// Records the atoms `text` set in field `f`, evicting the slot's value.
    pub fn put(&mut self, f: FieldId, hash: u64, text: &[u8], atoms: &[AtomId]) {
        let s = &mut self.slots[hash as usize % SLOTS];
        s.field = f;
        s.hash = hash;
        s.text.clear();
        s.text.extend_from_slice(text);
        s.atoms.clear();
        s.atoms.extend_from_slice(atoms);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replays_only_the_same_field_and_text() {
        let mut m = Memo::new();
        let text = b"C:\\Windows\\System32\\ntdll.dll+9c534";
        let h = Memo::hash(7, text);
        assert_eq!(m.get(7, h, text), None);
        m.put(7, h, text, &[3, 9]);
        assert_eq!(m.get(7, h, text), Some(&[3, 9][..]));
        assert_eq!(m.get(8, Memo::hash(8, text), text), None, "other field");
        let other = b"C:\\Windows\\System32\\ntdll.dll+9c535";
        assert_eq!(m.get(7, Memo::hash(7, other), other), None, "other text");
        // Same slot, other value: the newest wins, the old one is gone.
        m.put(7, h, other, &[]);
        assert_eq!(m.get(7, h, text), None);
    }
}
