//! Needle families: many long needles that share a short stem and come in
//! a few lengths, found through the stem and a table lookup instead of
//! through the field's automaton.
//!
//! Why: IOC rules list file hashes (`Hashes|contains: 'MD5=0E76...'`), and
//! SigmaHQ's Windows pack puts ~5,700 of them on `Hashes`. In an
//! Aho-Corasick automaton each hex digit after `md5=` steps into one of
//! thousands of branches whose states are cold, so the ~200 bytes of a
//! Sysmon record's `Hashes` cost about a cache miss each, and the field
//! holds the largest automaton but one. Every occurrence of a needle begins
//! with an occurrence of its first [`STEM`] bytes, and the automaton reports
//! every occurrence of every needle it holds (overlapping search), so it
//! can hold the stem alone: where the stem occurs, the text there is looked
//! up in the family's table once per member length. The result is exact,
//! not a filter: a member is reported exactly where it occurs.
//!
//! A family is formed only where that is cheap: members of at least
//! [`MIN_LEN`] bytes (short needles are cheap in the automaton), at least
//! [`MIN_MEMBERS`] of them (a few needles do not make the automaton
//! large), and at most [`MAX_LENGTHS`] distinct lengths (each is a lookup
//! where the stem occurs). Hashes are the case it is made for: a stem such
//! as `md5=` or `sha2` and one length per stem.

use rustc_hash::FxHashMap as HashMap;

/// Bytes of a needle its family is known by.
pub const STEM: usize = 4;
/// Shortest needle that may join a family.
pub const MIN_LEN: usize = 24;
/// Fewest needles that make a family.
pub const MIN_MEMBERS: usize = 16;
/// Most distinct member lengths in a family.
pub const MAX_LENGTHS: usize = 4;

/// How a needle set divides: the needles the automaton keeps, and the
/// families (stem and member indices), both as indices into the set.
#[derive(Debug, Default, PartialEq)]
pub struct Split {
    pub plain: Vec<usize>,
    pub families: Vec<(Vec<u8>, Vec<usize>)>,
}

/// Divides `needles` (distinct) into automaton needles and families.
pub fn split(needles: &[Vec<u8>]) -> Split {
    let mut by_stem: HashMap<&[u8], Vec<usize>> = HashMap::default();
    for (i, n) in needles.iter().enumerate() {
        if n.len() >= MIN_LEN {
            by_stem.entry(&n[..STEM]).or_default().push(i);
        }
    }
    let mut families: Vec<(Vec<u8>, Vec<usize>)> = by_stem
        .into_iter()
        .filter(|(_, m)| m.len() >= MIN_MEMBERS && lengths(needles, m).len() <= MAX_LENGTHS)
        .map(|(stem, m)| (stem.to_vec(), m))
        .collect();
    // Deterministic needle ids whatever the hash map's order.
    families.sort_unstable();
    let mut member = vec![false; needles.len()];
    for &i in families.iter().flat_map(|(_, m)| m) {
        member[i] = true;
    }
    let plain = (0..needles.len()).filter(|&i| !member[i]).collect();
    Split { plain, families }
}

fn lengths(needles: &[Vec<u8>], members: &[usize]) -> Vec<usize> {
    let mut v: Vec<usize> = members.iter().map(|&i| needles[i].len()).collect();
    v.sort_unstable();
    v.dedup();
    v
}

/// One family's members, by their bytes.
#[derive(Debug)]
pub struct Family {
    /// Distinct member lengths, ascending.
    lens: Vec<usize>,
    /// Each member's bytes and needle id.
    members: HashMap<Box<[u8]>, u32>,
}

impl Family {
    /// A family of `(needle, id)` members.
    pub fn new<'a>(members: impl IntoIterator<Item = (&'a [u8], u32)>) -> Family {
        let members: HashMap<Box<[u8]>, u32> =
            members.into_iter().map(|(n, id)| (n.into(), id)).collect();
        let mut lens: Vec<usize> = members.keys().map(|k| k.len()).collect();
        lens.sort_unstable();
        lens.dedup();
        Family { lens, members }
    }

    /// How many members it has.
    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// Heap bytes of its table and members (an estimate: the table's
    /// slots and control bytes, and each member's bytes).
    pub fn memory_usage(&self) -> usize {
        let slot = size_of::<(Box<[u8]>, u32)>() + 1;
        self.members.capacity() * slot
            + self.members.keys().map(|k| k.len()).sum::<usize>()
            + self.lens.capacity() * size_of::<usize>()
    }

    /// Calls `f(id, end)` for every member that occurs in `hay` at `start`
    /// (where the family's stem occurs).
    #[inline]
    pub fn find_at(&self, hay: &[u8], start: usize, mut f: impl FnMut(u32, usize)) {
        for &len in &self.lens {
            let end = start + len;
            let Some(text) = hay.get(start..end) else {
                break;
            };
            if let Some(&id) = self.members.get(text) {
                f(id, end);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(i: usize, len: usize) -> String {
        format!(
            "{:0>len$x}",
            i.wrapping_mul(0x9e37_79b9_7f4a_7c15) % (1 << 60)
        )[..len]
            .to_string()
    }

    #[test]
    fn hashes_form_families_and_the_rest_stays_plain() {
        let mut needles: Vec<Vec<u8>> = Vec::new();
        for i in 0..20 {
            needles.push(format!("md5={}", hex(i, 32)).into_bytes());
            needles.push(format!("sha1={}", hex(i, 40)).into_bytes());
        }
        // Long, but too few to share a stem, or in too many lengths.
        needles.push(b"\\windows\\system32\\wbem\\wmic.exe".to_vec());
        for i in 0..20 {
            needles.push(format!("c:\\users\\{}\\", "x".repeat(20 + i)).into_bytes());
        }
        // Short needles with a family's stem.
        needles.push(b"md5=".to_vec());
        needles.push(b"sha1=".to_vec());
        let s = split(&needles);
        let stems: Vec<&[u8]> = s.families.iter().map(|(s, _)| s.as_slice()).collect();
        assert_eq!(stems, [b"md5=".as_slice(), b"sha1"]);
        assert_eq!(s.families[0].1, (0..20).map(|i| 2 * i).collect::<Vec<_>>());
        assert_eq!(s.plain, (40..needles.len()).collect::<Vec<_>>());
    }

    #[test]
    fn a_family_reports_each_member_where_it_occurs() {
        let a = b"md5=0123456789abcdef0123".to_vec();
        let b = b"md5=0123456789abcdef0123456789".to_vec();
        let f = Family::new([(a.as_slice(), 7), (b.as_slice(), 9)]);
        let hay = b"x,md5=0123456789abcdef0123456789,";
        let mut got = Vec::new();
        f.find_at(hay, 2, |id, end| got.push((id, end)));
        assert_eq!(got, [(7, 2 + a.len()), (9, 2 + b.len())]);
        // Cut short: only the shorter member fits.
        let mut got = Vec::new();
        f.find_at(&hay[..28], 2, |id, end| got.push((id, end)));
        assert_eq!(got, [(7, 2 + a.len())]);
        // Elsewhere, nothing.
        let mut got = Vec::new();
        f.find_at(hay, 3, |id, end| got.push((id, end)));
        assert!(got.is_empty());
    }
}
