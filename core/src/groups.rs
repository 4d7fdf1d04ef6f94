//! Long OR lists of atoms, decided in one step.
//!
//! Sigma rules often list hundreds of values for one field: SigmaHQ's DLL
//! side-loading rule has 430 `ImageLoaded|endswith` names. Compiled, that is
//! an OR of 430 atoms, and each evaluation of the candidate rule checks them
//! one by one until one holds — about 200 checks per evaluation on OTRF image
//! loads, where a common DLL makes the rule a candidate on 40% of records.
//!
//! Instead, every OR of at least [`MIN_LEN`] plain atoms becomes one *group
//! atom*, numbered after the real ones. When the record's atoms are known,
//! each hit stamps the groups it belongs to (one table lookup per hit), and
//! the program reads the group's stamp like any atom's. The result is the
//! same by construction: a group atom holds exactly when one of its members
//! does. Only evaluated programs are rewritten; triggers, field gates and
//! the keyword gate keep reading the original atoms.

use rustc_hash::FxHashMap as HashMap;

use crate::compiler::{AtomId, Expr};

/// The shortest OR list worth a group atom: shorter ones are checked about as
/// fast as their hits could stamp a group.
const MIN_LEN: usize = 8;

/// Which group atoms each real atom belongs to.
#[derive(Debug, Default)]
pub struct Groups {
    /// `of[starts[a]..starts[a + 1]]` are the groups atom `a` belongs to.
    starts: Vec<u32>,
    of: Vec<AtomId>,
    count: usize,
}

impl Groups {
    /// Rewrites `programs`, whose atoms are below `n_atoms`, replacing each
    /// long OR of plain atoms with a group atom (identical lists share one).
    pub fn build<'e>(programs: impl IntoIterator<Item = &'e mut Expr>, n_atoms: usize) -> Groups {
        let mut ids: HashMap<Vec<AtomId>, AtomId> = HashMap::default();
        let mut pairs: Vec<(AtomId, AtomId)> = Vec::new();
        for p in programs {
            collapse(p, n_atoms, &mut ids, &mut pairs);
        }
        pairs.sort_unstable();
        pairs.dedup();
        let mut starts = vec![0u32; n_atoms + 1];
        for &(a, _) in &pairs {
            starts[a as usize + 1] += 1;
        }
        for i in 1..starts.len() {
            starts[i] += starts[i - 1];
        }
        Groups {
            starts,
            of: pairs.into_iter().map(|(_, g)| g).collect(),
            count: ids.len(),
        }
    }

    /// How many group atoms there are (numbered from `n_atoms` on).
    pub fn count(&self) -> usize {
        self.count
    }

    /// The group atoms real atom `a` belongs to.
    #[inline]
    pub fn of(&self, a: AtomId) -> &[AtomId] {
        match self.starts.get(a as usize + 1) {
            Some(&end) => &self.of[self.starts[a as usize] as usize..end as usize],
            None => &[],
        }
    }
}

fn collapse(
    e: &mut Expr,
    n_atoms: usize,
    ids: &mut HashMap<Vec<AtomId>, AtomId>,
    pairs: &mut Vec<(AtomId, AtomId)>,
) {
    match e {
        Expr::Or(v) if v.len() >= MIN_LEN && v.iter().all(|x| matches!(x, Expr::Atom(_))) => {
            let mut members: Vec<AtomId> = v
                .iter()
                .map(|x| match x {
                    Expr::Atom(a) => *a,
                    _ => unreachable!("checked above"),
                })
                .collect();
            members.sort_unstable();
            members.dedup();
            let next = (n_atoms + ids.len()) as AtomId;
            let g = *ids.entry(members.clone()).or_insert_with(|| {
                pairs.extend(members.iter().map(|&a| (a, next)));
                next
            });
            *e = Expr::Atom(g);
        }
        Expr::Not(x) => collapse(x, n_atoms, ids, pairs),
        Expr::And(v) | Expr::Or(v) | Expr::AtLeast(_, v) => {
            v.iter_mut().for_each(|x| collapse(x, n_atoms, ids, pairs))
        }
        Expr::Const(_) | Expr::Atom(_) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn or(atoms: std::ops::Range<AtomId>) -> Expr {
        Expr::Or(atoms.map(Expr::Atom).collect())
    }

    #[test]
    fn long_or_lists_become_shared_group_atoms() {
        let mut a = Expr::And(vec![or(0..10), Expr::Not(Box::new(or(20..30)))]);
        let mut b = or(0..10);
        let mut short = or(0..3);
        let g = Groups::build([&mut a, &mut b, &mut short], 40);
        assert_eq!(g.count(), 2);
        assert_eq!(
            a,
            Expr::And(vec![Expr::Atom(40), Expr::Not(Box::new(Expr::Atom(41)))])
        );
        assert_eq!(b, Expr::Atom(40));
        assert_eq!(short, or(0..3), "short lists stay as they are");
        assert_eq!(g.of(5), [40]);
        assert_eq!(g.of(25), [41]);
        assert!(g.of(15).is_empty());
        assert!(g.of(39).is_empty());
    }

    /// A rewritten program decides like the original for any set of hits.
    #[test]
    fn rewritten_programs_agree_with_the_originals() {
        let original = Expr::And(vec![
            Expr::Or(vec![or(0..12), Expr::Atom(12)]),
            Expr::Not(Box::new(or(6..18))),
        ]);
        let mut rewritten = original.clone();
        let g = Groups::build([&mut rewritten], 20);
        let mut outcomes = [0; 2];
        let mut x = 0x2545_f491_4f6c_dd1du64;
        for seed in 0..2000 {
            let hits: Vec<bool> = (0..20)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x.is_multiple_of(11)
                })
                .collect();
            let mut stamps = hits.clone();
            stamps.resize(20 + g.count(), false);
            for a in 0..20u32 {
                if hits[a as usize] {
                    for &grp in g.of(a) {
                        stamps[grp as usize] = true;
                    }
                }
            }
            let want = original.eval(&|a| hits[a as usize]);
            assert_eq!(rewritten.eval(&|a| stamps[a as usize]), want, "case {seed}");
            outcomes[want as usize] += 1;
        }
        assert!(outcomes[0] > 100 && outcomes[1] > 100, "{outcomes:?}");
    }
}
