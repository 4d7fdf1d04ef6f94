//! A per-scratch memo of field verdicts.
//!
//! Log values repeat: the same call traces, image paths and registry keys
//! arrive thousands of times an hour (in the OTRF sample, 1,717 `CallTrace`
//! values are 98 distinct ones, 1,717 `SourceImage` values 18). The atoms a
//! field's matcher sets depend only on the field and the value's text, so a
//! value seen recently replays its atoms instead of being searched again.
//!
//! The memo is direct-mapped (one slot per hash, the newest value wins) and
//! bounded: `SLOTS` slots, values of `MIN_LEN..=MAX_LEN` bytes only (longer
//! ones rarely repeat and would make the memo large; shorter ones go to the
//! [`ShortMemo`], which compares them as two words instead of hashing and
//! `memcmp`ing them). A slot's buffer is reused, so once warm the memo
//! allocates nothing.
//!
//! Why 16,384 slots: the values a field matcher misses are searched by
//! automata of hundreds to thousands of needles whose memory is cold, so a
//! miss costs far more than its instructions say. The 41,823 OTRF records
//! hold ~31,000 distinct values of memo length; with 1,024 slots the field
//! automata searched 8.8 MB over two passes of the sample, with 16,384
//! slots 5.8 MB. criterion, Windows pack over the whole sample: msgpack
//! 424k-436k -> 441k-480k records/s, JSON 281k-283k -> 290k-297k (runs
//! alternated). Each slot is one cache line (1 MiB in all) holding a
//! value of up to 48 bytes with its atoms, so a hit reads one line; longer
//! values and atom lists spill into a buffer of the slot's (at most
//! `BUDGET` bytes in all).

use std::hash::Hasher;

use zerocopy::IntoBytes;

use crate::compiler::{AtomId, FieldId};

const SLOTS: usize = 16 * 1024;
pub const MIN_LEN: usize = 16;
pub const MAX_LEN: usize = 1024;
/// Bound on the bytes the slots' buffers (values and atoms) may hold
/// together.
const BUDGET: usize = 4 << 20;

/// Words of a slot's own storage: a value of up to 48 bytes with its atoms,
/// or fewer bytes and more atoms, live in the slot itself.
const INLINE: usize = 12;

/// One cache line: a hit on a value that fits inline reads nothing else
/// (its text and atoms were a separate allocation each, two more lines
/// from memory per hit).
#[derive(Clone)]
#[repr(C, align(64))]
struct Slot {
    hash: u64,
    /// `FieldId::MAX` when empty.
    field: FieldId,
    /// The value's length in bytes.
    len: u16,
    /// How many atoms it set.
    n: u16,
    /// The value's bytes (viewed as bytes: `zerocopy`), then its atoms from
    /// the next whole word on; in `Memo::spill` when they do not fit here.
    words: [u32; INLINE],
}

const _: () = assert!(size_of::<Slot>() == 64);

pub struct Memo {
    slots: Vec<Slot>,
    /// Per slot, the words of a value and its atoms too long to be inline.
    spill: Vec<Vec<u32>>,
    /// Capacity of all spill buffers, in bytes.
    bytes: usize,
}

/// The words `len` bytes of text take.
fn text_words(len: usize) -> usize {
    len.div_ceil(4)
}

impl Memo {
    pub fn new() -> Memo {
        let empty = Slot {
            hash: 0,
            field: FieldId::MAX,
            len: 0,
            n: 0,
            words: [0; INLINE],
        };
        Memo {
            slots: vec![empty; SLOTS],
            spill: vec![Vec::new(); SLOTS],
            bytes: 0,
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

    /// Slot `i`'s words: the text's, then the atoms'.
    fn words(&self, i: usize) -> &[u32] {
        let s = &self.slots[i];
        match text_words(s.len as usize) + s.n as usize {
            n if n <= INLINE => &s.words[..n],
            _ => &self.spill[i],
        }
    }

    /// The atoms recorded for `text` in field `f`, if it is in the memo.
    pub fn get(&self, f: FieldId, hash: u64, text: &[u8]) -> Option<&[AtomId]> {
        let i = hash as usize % SLOTS;
        let s = &self.slots[i];
        if s.field != f || s.hash != hash || s.len as usize != text.len() {
            return None;
        }
        let (words, tw) = (self.words(i), text_words(text.len()));
        (&words[..tw].as_bytes()[..text.len()] == text).then(|| &words[tw..])
    }

    /// Records the atoms `text` set in field `f`, evicting the slot's value.
    /// Skipped when a spill buffer would have to grow past the budget.
    pub fn put(&mut self, f: FieldId, hash: u64, text: &[u8], atoms: &[AtomId]) {
        if !Self::fits(text.len()) || atoms.len() > u16::MAX as usize {
            return;
        }
        let i = hash as usize % SLOTS;
        let tw = text_words(text.len());
        let need = tw + atoms.len();
        let words = if need <= INLINE {
            &mut self.slots[i].words[..need]
        } else {
            let v = &mut self.spill[i];
            let before = v.capacity() * 4;
            // What the buffer holds after a put that grows it exactly.
            if self.bytes - before + need.max(v.capacity()) * 4 > BUDGET {
                return;
            }
            v.clear();
            v.reserve_exact(need);
            v.resize(need, 0);
            self.bytes = self.bytes - before + v.capacity() * 4;
            &mut v[..]
        };
        // The text as bytes of the first words (compared as bytes by `get`).
        words[..tw].as_mut_bytes()[..text.len()].copy_from_slice(text);
        words[tw..].copy_from_slice(atoms);
        let s = &mut self.slots[i];
        s.field = f;
        s.hash = hash;
        s.len = text.len() as u16;
        s.n = atoms.len() as u16;
    }
}

/// Slots of the short-value memo (32 bytes each: 128 KiB, within L2; its
/// atoms take another 256 KiB).
const SHORT_SLOTS: usize = 4096;
/// Bound on the atoms the short-value memo holds together; past it the
/// memo starts over.
const SHORT_ATOMS: usize = 64 * 1024;
/// Values setting more atoms than this are not memoised.
const SHORT_MAX_ATOMS: usize = 1024;

#[derive(Clone, Copy, Default)]
struct ShortSlot {
    /// The value's bytes, zero-padded to 16.
    text: [u64; 2],
    /// Field, length and a valid bit (see `ShortMemo::key`); 0 when empty.
    meta: u64,
    /// The atoms: `atoms[at..at + n]`.
    at: u32,
    n: u32,
}

/// A memo of field verdicts for values shorter than [`MIN_LEN`].
///
/// Short values are the most repeated of all (`EventID` 10, `GrantedAccess`
/// 0x1400, `EventType` SetValue: 3.1 per OTRF record, 2,639 distinct in
/// 130,356), and searching one still runs the field's automaton from its
/// start state, a lookup in its exact-value table, its regexes and number
/// tests. A value under 16 bytes fits in two words with its field and
/// length in a third, so a lookup is a few compares in one slot of a small
/// table, no hashing of bytes and no `memcmp`.
pub struct ShortMemo {
    slots: Box<[ShortSlot]>,
    atoms: Vec<AtomId>,
}

impl ShortMemo {
    pub fn new() -> ShortMemo {
        ShortMemo {
            slots: vec![ShortSlot::default(); SHORT_SLOTS].into(),
            // Allocated once: growing later would allocate on the hot path.
            atoms: Vec::with_capacity(SHORT_ATOMS),
        }
    }

    /// Whether a value of this length is kept here.
    pub fn fits(len: usize) -> bool {
        len < MIN_LEN
    }

    #[inline]
    fn key(f: FieldId, text: &[u8]) -> ([u64; 2], u64) {
        let mut b = [0u8; 16];
        b[..text.len()].copy_from_slice(text);
        let w = [
            u64::from_le_bytes(b[..8].try_into().unwrap()),
            u64::from_le_bytes(b[8..].try_into().unwrap()),
        ];
        (w, (1 << 63) | (u64::from(f) << 8) | text.len() as u64)
    }

    #[inline]
    fn slot(w: [u64; 2], meta: u64) -> usize {
        let x = w[0] ^ w[1].rotate_left(29) ^ meta.rotate_left(41);
        (x.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 52) as usize
    }

    /// The atoms recorded for `text` (shorter than [`MIN_LEN`]) in field `f`.
    #[inline]
    pub fn get(&self, f: FieldId, text: &[u8]) -> Option<&[AtomId]> {
        let (w, meta) = Self::key(f, text);
        let s = &self.slots[Self::slot(w, meta)];
        (s.meta == meta && s.text == w)
            .then(|| &self.atoms[s.at as usize..s.at as usize + s.n as usize])
    }

    /// Records the atoms `text` set in field `f`, evicting the slot's value.
    /// Each slot owns its run of the arena: a new value whose atoms fit in
    /// the evicted one's run reuses it, others are appended.
    pub fn put(&mut self, f: FieldId, text: &[u8], atoms: &[AtomId]) {
        if atoms.len() > SHORT_MAX_ATOMS {
            return;
        }
        let (w, meta) = Self::key(f, text);
        let i = Self::slot(w, meta);
        let old = self.slots[i];
        let at = if old.meta != 0 && atoms.len() <= old.n as usize {
            let at = old.at as usize;
            self.atoms[at..at + atoms.len()].copy_from_slice(atoms);
            old.at
        } else {
            if self.atoms.len() + atoms.len() > SHORT_ATOMS {
                // Starting over is rare (values repeat) and keeps this
                // simple: no slot points past the cleared atoms.
                self.slots.fill(ShortSlot::default());
                self.atoms.clear();
            }
            let at = self.atoms.len() as u32;
            self.atoms.extend_from_slice(atoms);
            at
        };
        self.slots[i] = ShortSlot {
            text: w,
            meta,
            at,
            n: atoms.len() as u32,
        };
    }
}

/// A search hit inside one segment: (pattern, start, end), relative to the
/// segment as the automaton saw it (folded or not).
pub type SegMatch = (u32, u32, u32);

/// Segments shorter than this are searched, not memoised: hashing and
/// comparing would cost about as much as the search. (32, not 64, since
/// the memo became two-way: PowerShell's 30-60 byte `ContextInfo` lines
/// can no longer evict the 5 KB line beside them. OTRF 4103 events: 6%
/// fewer instructions.)
pub const SEG_MIN: usize = 32;
/// Longer segments are searched, not memoised (they would crowd the memo).
pub const SEG_MAX: usize = 16 * 1024;
const SEG_SLOTS: usize = 1024;
/// Bound on the bytes the slots' text buffers may hold together.
const SEG_BUDGET: usize = 4 << 20;

#[derive(Default)]
struct SegSlot {
    /// `u64::MAX` when empty; else field and side (see [`SegMemo::key`]).
    key: u64,
    hash: u64,
    text: Vec<u8>,
    /// Length of the segment as searched (folding may change it).
    len: u32,
    matches: Vec<SegMatch>,
    /// Replayed since its set last took a new segment.
    used: bool,
}

/// A per-scratch memo of automaton hits for the lines of long values.
///
/// Long values (PowerShell's `ContextInfo`, rendered `Message`s, script
/// blocks) are rarely equal as a whole — a sequence number or a pipeline id
/// changes — but are made of lines that repeat: the same 5 KB encoded
/// command line arrives in every event of a PowerShell session. No needle of
/// a field that uses this memo contains a newline, so every hit lies within
/// one line, and a line's hits depend only on its text. A line seen recently
/// replays its hits (positions relative to the line) instead of being
/// searched again; the caller decides prefix/suffix hooks from where the
/// line sits in the value.
///
/// Lookups hash a fixed sample of the line (its length, both ends and a few
/// words in between) and then compare the whole line, so a lookup costs
/// O(1) plus one `memcmp`; a weak hash can only cost a miss, never a wrong
/// answer. Each hash has two slots, and eviction keeps what saves most (see
/// [`SegMemo::put`]).
pub struct SegMemo {
    slots: Vec<SegSlot>,
    bytes: usize,
    /// Scratch for one miss's hits.
    pub found: Vec<SegMatch>,
    /// Scratch for one folded segment.
    pub folded: Vec<u8>,
}

/// An empty placeholder (no slots): what `std::mem::take` leaves behind
/// while the memo is lent out. Only [`SegMemo::new`] makes a usable one.
impl Default for SegMemo {
    fn default() -> Self {
        SegMemo {
            slots: Vec::new(),
            bytes: 0,
            found: Vec::new(),
            folded: Vec::new(),
        }
    }
}

impl SegMemo {
    pub fn new() -> SegMemo {
        SegMemo {
            slots: (0..SEG_SLOTS)
                .map(|_| SegSlot {
                    key: u64::MAX,
                    ..SegSlot::default()
                })
                .collect(),
            bytes: 0,
            found: Vec::new(),
            folded: Vec::new(),
        }
    }

    /// Whether a segment of this length is worth memoising.
    pub fn fits(len: usize) -> bool {
        (SEG_MIN..=SEG_MAX).contains(&len)
    }

    /// The memo key of a field's folded or cased automaton.
    pub fn key(f: FieldId, folded: bool) -> u64 {
        (u64::from(f) << 1) | folded as u64
    }

    /// A hash of a fixed sample of `text` (at least [`SEG_MIN`] bytes).
    pub fn hash(key: u64, text: &[u8]) -> u64 {
        let n = text.len();
        let word = |i: usize| u64::from_le_bytes(text[i..i + 8].try_into().unwrap());
        let mut h = rustc_hash::FxHasher::default();
        h.write_u64(key);
        h.write_usize(n);
        h.write(&text[..16]);
        h.write(&text[n - 16..]);
        for k in 1..8 {
            h.write_u64(word((n - 8) * k / 8));
        }
        h.finish()
    }

    /// The two slots (ways) a hash may sit in.
    fn set(hash: u64) -> usize {
        (hash as usize % (SEG_SLOTS / 2)) * 2
    }

    /// The searched length and hits recorded for `text`, if present.
    pub fn get(&mut self, key: u64, hash: u64, text: &[u8]) -> Option<(u32, &[SegMatch])> {
        let set = Self::set(hash);
        let w = (set..set + 2).find(|&i| {
            let s = &self.slots[i];
            s.key == key && s.hash == hash && s.text == text
        })?;
        let s = &mut self.slots[w];
        s.used = true;
        Some((s.len, &s.matches[..]))
    }

    /// Records `text`'s hits in one way of its set. The victim is an empty
    /// way, else one not replayed since the set last changed, else the
    /// shorter segment: a 5 KB line that repeats in every event must not be
    /// evicted by the short lines around it, whose search costs little.
    /// Skipped when the slot's buffer would have to grow past the memo's
    /// byte budget.
    pub fn put(&mut self, key: u64, hash: u64, text: &[u8], len: u32, matches: &[SegMatch]) {
        let set = Self::set(hash);
        let (a, b) = (&self.slots[set], &self.slots[set + 1]);
        let w = match () {
            _ if a.key == u64::MAX => set,
            _ if b.key == u64::MAX => set + 1,
            _ if a.used != b.used => set + a.used as usize,
            _ => set + (b.text.len() < a.text.len()) as usize,
        };
        let s = &mut self.slots[w];
        let grow = text.len().saturating_sub(s.text.capacity());
        if self.bytes + grow > SEG_BUDGET {
            return;
        }
        let before = s.text.capacity();
        s.key = key;
        s.hash = hash;
        s.text.clear();
        s.text.extend_from_slice(text);
        s.len = len;
        s.matches.clear();
        s.matches.extend_from_slice(matches);
        self.bytes += s.text.capacity() - before;
        self.slots[set].used = false;
        self.slots[set + 1].used = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_values_replay_only_the_same_field_and_bytes() {
        let mut m = ShortMemo::new();
        assert!(ShortMemo::fits(15) && !ShortMemo::fits(MIN_LEN));
        m.put(7, b"10", &[3, 9]);
        m.put(7, b"", &[4]);
        m.put(7, b"0x1400\0", &[]);
        assert_eq!(m.get(7, b"10"), Some(&[3, 9][..]));
        assert_eq!(m.get(7, b""), Some(&[4][..]));
        assert_eq!(m.get(7, b"0x1400\0"), Some(&[][..]));
        assert_eq!(m.get(8, b"10"), None, "other field");
        assert_eq!(m.get(7, b"1"), None, "prefix");
        // Padding is zeros: a value ending in NUL bytes is another value.
        assert_eq!(m.get(7, b"10\0"), None, "trailing NUL");
        assert_eq!(m.get(7, b"0x1400"), None, "without its NUL");
        let long = b"123456789012345";
        m.put(u32::MAX - 1, long, &[1]);
        assert_eq!(m.get(u32::MAX - 1, long), Some(&[1][..]));
        assert_eq!(m.get(u32::MAX - 1, b"123456789012346"), None);
    }

    /// The slot of a short value.
    fn short_slot(f: FieldId, text: &[u8]) -> usize {
        let (w, meta) = ShortMemo::key(f, text);
        ShortMemo::slot(w, meta)
    }

    /// Values of field 3 whose keys share one slot.
    fn same_slot(n: usize) -> Vec<String> {
        let target = short_slot(3, b"v0");
        let found: Vec<String> = (0..1_000_000)
            .map(|i| format!("v{i}"))
            .filter(|t| short_slot(3, t.as_bytes()) == target)
            .take(n)
            .collect();
        assert_eq!(found.len(), n);
        found
    }

    #[test]
    fn short_values_in_one_slot_evict_and_never_answer_for_each_other() {
        let mut m = ShortMemo::new();
        // An empty slot is no entry, not even for the empty value of field 0.
        assert_eq!(m.get(0, b""), None);
        let vals = same_slot(3);
        let (a, b, c) = (vals[0].as_bytes(), vals[1].as_bytes(), vals[2].as_bytes());
        m.put(3, a, &[1, 2, 3]);
        assert_eq!(m.get(3, b), None, "same slot, other value");
        m.put(3, b, &[4]);
        assert_eq!(m.get(3, a), None, "evicted");
        assert_eq!(m.get(3, b), Some(&[4][..]));
        // `b` reused `a`'s run; `c` needs more room than that run.
        m.put(3, c, &[5, 6, 7, 8]);
        assert_eq!(m.get(3, c), Some(&[5, 6, 7, 8][..]));
        assert_eq!(m.get(3, b), None);
        assert_eq!(
            m.atoms.len(),
            3 + 4,
            "a fitting value reuses its slot's run"
        );
    }

    #[test]
    fn short_memo_starts_over_when_its_atoms_are_full() {
        let mut m = ShortMemo::new();
        let cap = m.atoms.capacity();
        let atoms: Vec<AtomId> = (0..SHORT_MAX_ATOMS as u32).collect();
        assert_eq!(m.get(1, b"x"), None);
        m.put(1, b"x", &atoms);
        assert_eq!(m.get(1, b"x"), Some(&atoms[..]));
        // Too many atoms: not kept.
        m.put(1, b"y", &vec![0; SHORT_MAX_ATOMS + 1]);
        assert_eq!(m.get(1, b"y"), None);
        // Values in slots of their own (not `x`'s), each appending a run.
        let mut used = std::collections::HashSet::from([short_slot(1, b"x")]);
        let others: Vec<String> = (0..)
            .map(|i| format!("v{i}"))
            .filter(|t| used.insert(short_slot(2, t.as_bytes())))
            .take(SHORT_ATOMS / SHORT_MAX_ATOMS)
            .collect();
        for t in &others[..others.len() - 1] {
            m.put(2, t.as_bytes(), &atoms);
        }
        assert_eq!(m.get(1, b"x"), Some(&atoms[..]), "full, not yet over");
        m.put(2, others.last().unwrap().as_bytes(), &atoms);
        assert_eq!(m.get(1, b"x"), None, "forgotten when the memo started over");
        assert_eq!(m.get(2, others[0].as_bytes()), None);
        assert_eq!(
            m.get(2, others.last().unwrap().as_bytes()),
            Some(&atoms[..])
        );
        assert_eq!(m.atoms.len(), SHORT_MAX_ATOMS);
        assert_eq!(m.atoms.capacity(), cap, "the arena never grows");
    }

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
    #[test]
    fn values_stay_within_the_budget() {
        let mut m = Memo::new();
        let mut put = Vec::new();
        for i in 0..SLOTS * 2 {
            let mut t = vec![b'x'; MAX_LEN];
            t[..8].copy_from_slice(&(i as u64).to_le_bytes());
            let h = Memo::hash(1, &t);
            m.put(1, h, &t, &[1]);
            put.push((h, t));
        }
        assert!(m.bytes <= BUDGET, "{} bytes", m.bytes);
        // Puts over the budget are dropped, never wrong: what is there replays.
        let kept: Vec<_> = put.iter().filter_map(|(h, t)| m.get(1, *h, t)).collect();
        assert!(kept.len() >= BUDGET / MAX_LEN / 2, "{} kept", kept.len());
        assert!(kept.iter().all(|a| *a == [1]));
        // Values that grow their slot's buffers, and long lists of atoms,
        // are counted as allocated.
        let mut m = Memo::new();
        for i in 0..SLOTS * 4 {
            let len = MIN_LEN + (i * 37) % (MAX_LEN - MIN_LEN);
            let mut t = vec![b'y'; len];
            t[..8].copy_from_slice(&(i as u64).to_le_bytes());
            let atoms: Vec<AtomId> = (0..(i % 3) * 700).map(|a| a as AtomId).collect();
            m.put(2, Memo::hash(2, &t), &t, &atoms);
            if i % 4096 == 0 {
                let held: usize = m.spill.iter().map(|v| v.capacity() * 4).sum();
                assert_eq!(m.bytes, held);
            }
        }
        assert!(m.bytes <= BUDGET, "{} bytes", m.bytes);
    }

    #[test]
    fn values_in_the_slot_and_spilled_replay_alike() {
        let mut m = Memo::new();
        // 16 to 48 bytes with as many atoms as fill the slot, and one more.
        for len in MIN_LEN..=48 {
            for extra in [0, 1] {
                let n = INLINE.saturating_sub(text_words(len)) + extra;
                let text: Vec<u8> = (0..len).map(|i| b'a' + (i % 26) as u8).collect();
                let atoms: Vec<AtomId> = (0..n as AtomId).map(|a| a * 7 + 1).collect();
                let h = Memo::hash(5, &text);
                m.put(5, h, &text, &atoms);
                assert_eq!(
                    m.get(5, h, &text),
                    Some(&atoms[..]),
                    "{len} bytes, {n} atoms"
                );
                // One byte changed anywhere, the last one included, is
                // another value (the hash is kept: only the compare decides).
                for at in [0, len / 2, len - 1] {
                    let mut other = text.clone();
                    other[at] ^= 0x20;
                    assert_eq!(m.get(5, h, &other), None, "{len} bytes, byte {at}");
                }
                // A shorter value under the same hash: the padding is no text.
                assert_eq!(m.get(5, h, &text[..len - 1]), None);
            }
        }
        // A slot goes from spilled to inline and back.
        let t = b"C:\\Windows\\System32\\ntdll.dll+9c534";
        let h = Memo::hash(6, t);
        m.put(6, h, t, &[9; 40]);
        assert_eq!(m.get(6, h, t), Some(&[9; 40][..]));
        m.put(6, h, t, &[3]);
        assert_eq!(m.get(6, h, t), Some(&[3][..]));
        m.put(6, h, t, &[4; 20]);
        assert_eq!(m.get(6, h, t), Some(&[4; 20][..]));
    }

    #[test]
    fn segments_replay_by_whole_text_and_key() {
        let mut m = SegMemo::new();
        let a = vec![b'a'; 100];
        let mut b = a.clone();
        b[32] = b'b'; // between the sampled words: same hash, other text
        let k = SegMemo::key(3, true);
        let (ha, hb) = (SegMemo::hash(k, &a), SegMemo::hash(k, &b));
        assert_eq!(ha, hb);
        m.put(k, ha, &a, 100, &[(1, 2, 5)]);
        assert_eq!(m.get(k, ha, &a), Some((100, &[(1, 2, 5)][..])));
        assert_eq!(m.get(k, hb, &b), None, "same sample, other text");
        let k2 = SegMemo::key(3, false);
        assert_eq!(m.get(k2, SegMemo::hash(k2, &a), &a), None, "other side");
    }

    #[test]
    fn a_replayed_long_line_outlives_the_short_lines_of_its_set() {
        let mut m = SegMemo::new();
        let k = SegMemo::key(1, false);
        let long = vec![b'L'; 5000];
        // Every segment below gets the same hash: one set, two ways.
        let h = 42;
        m.put(k, h, &long, 5000, &[(0, 1, 2)]);
        for i in 0..10u8 {
            assert!(m.get(k, h, &long).is_some(), "round {i}");
            let short = vec![b'a' + i; 40];
            assert!(m.get(k, h, &short).is_none());
            m.put(k, h, &short, 40, &[]);
            assert_eq!(m.get(k, h, &short), Some((40, &[][..])));
        }
        // A long line not replayed while its neighbour is gives way.
        let (last, next) = (vec![b'a' + 9; 40], vec![b'z'; 40]);
        m.put(k, h, &next, 40, &[]);
        assert!(m.get(k, h, &long).is_none(), "stale long line kept");
        assert!(m.get(k, h, &last).is_some(), "replayed line evicted");
        assert!(m.get(k, h, &next).is_some());
    }

    #[test]
    fn segment_memo_stays_within_its_budget() {
        let mut m = SegMemo::new();
        let k = SegMemo::key(0, false);
        for i in 0..SEG_SLOTS * 2 {
            let mut t = vec![b'x'; SEG_MAX];
            t[..8].copy_from_slice(&(i as u64).to_le_bytes());
            m.put(k, SegMemo::hash(k, &t), &t, t.len() as u32, &[]);
        }
        assert!(m.bytes <= SEG_BUDGET, "{} bytes", m.bytes);
        let held: usize = m.slots.iter().map(|s| s.text.capacity()).sum();
        assert_eq!(held, m.bytes);
    }
}
