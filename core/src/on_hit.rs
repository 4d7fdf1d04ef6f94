//! What a real atom's hit sets off, one list per atom in one array.
//!
//! A hit stamps the group atoms the atom belongs to (`groups.rs`) and
//! makes the rules it triggers candidates. An OTRF record has ~18 hits
//! with the Windows pack. Kept as a `Vec` of rules per atom (plus the
//! groups' own table), a hit read four cache lines in ~1 MB of tables: the
//! groups' bounds and list, the rules' `Vec` header (24 bytes × 33,548
//! atoms) and its buffer, somewhere on the heap. Here a hit reads two
//! adjacent bounds and one run of the shared array, in 0.3 MB.

use crate::compiler::AtomId;

/// Marks a rule in an atom's list (group atoms are unmarked).
const RULE: u32 = 1 << 31;

/// What a hit on each real atom does.
#[derive(Debug, Default)]
pub struct OnHit {
    /// `items[starts[a]..starts[a + 1]]` is atom `a`'s list.
    starts: Vec<u32>,
    items: Vec<u32>,
}

/// One entry of an atom's list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Effect {
    /// Stamp this group atom.
    Group(AtomId),
    /// Make this rule a candidate.
    Rule(u32),
}

impl OnHit {
    /// Atom `a`'s groups are `groups(a)` and its triggered rules
    /// `rules[a]`, for every `a` below `rules.len()`.
    pub fn new<'g>(rules: &[Vec<u32>], groups: impl Fn(AtomId) -> &'g [AtomId]) -> OnHit {
        let mut starts = Vec::with_capacity(rules.len() + 1);
        let mut items = Vec::new();
        starts.push(0);
        for (a, rs) in rules.iter().enumerate() {
            for &g in groups(a as AtomId) {
                assert!(g < RULE, "too many atoms");
                items.push(g);
            }
            for &r in rs {
                assert!(r < RULE, "too many rules");
                items.push(r | RULE);
            }
            starts.push(u32::try_from(items.len()).expect("too many trigger entries"));
        }
        OnHit { starts, items }
    }

    /// What a hit on atom `a` does: its groups, then its rules.
    #[inline]
    pub fn of(&self, a: AtomId) -> impl Iterator<Item = Effect> + '_ {
        let (from, to) = (self.starts[a as usize], self.starts[a as usize + 1]);
        self.items[from as usize..to as usize]
            .iter()
            .map(|&x| match x & RULE {
                0 => Effect::Group(x),
                _ => Effect::Rule(x & !RULE),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_atom_gives_its_groups_then_its_rules() {
        let rules = vec![vec![0, 7], vec![], vec![3], vec![]];
        let groups: Vec<Vec<AtomId>> = vec![vec![4], vec![4, 5], vec![], vec![]];
        let on = OnHit::new(&rules, |a| &groups[a as usize]);
        let of = |a| on.of(a).collect::<Vec<_>>();
        use Effect::*;
        assert_eq!(of(0), [Group(4), Rule(0), Rule(7)]);
        assert_eq!(of(1), [Group(4), Group(5)]);
        assert_eq!(of(2), [Rule(3)]);
        assert_eq!(of(3), []);
        // Rule and group ids that look alike stay apart.
        let on = OnHit::new(&[vec![5]], |_| &[5][..]);
        assert_eq!(on.of(0).collect::<Vec<_>>(), [Group(5), Rule(5)]);
    }
}
