//! Rule programs as one flat array of words.
//!
//! A record's candidate rules (~6 a record with SigmaHQ's Windows pack) are
//! evaluated at random among thousands: as [`Expr`] trees, each node was
//! its own heap allocation (`Vec` and `Box` children), so one candidate
//! chased several pointers into cold memory (`perf`: the node reads were
//! ~3% of msgpack's time). Here every rule's program is a run of words in
//! one shared array, in prefix order, so a program is one or two adjacent
//! cache lines.
//!
//! A word is an operation in its top 3 bits and a payload below. A
//! composite's payload is the length of its body in words, so that
//! short-circuiting skips the rest of the body without reading it:
//!
//! ```text
//! ATOM a              CONST b             NOT len child
//! AND len child...    OR len child...     AT_LEAST len n child...
//! ```

use crate::compiler::{AtomId, Expr};

const OP_SHIFT: u32 = 29;
const PAYLOAD: u32 = (1 << OP_SHIFT) - 1;

const ATOM: u32 = 0;
const CONST: u32 = 1;
const NOT: u32 = 2;
const AND: u32 = 3;
const OR: u32 = 4;
const AT_LEAST: u32 = 5;

/// The programs of a rule pack; each is known by where it starts.
#[derive(Debug, Default)]
pub struct Programs {
    code: Vec<u32>,
}

impl Programs {
    /// Appends `e`; returns its start for [`Programs::eval`].
    ///
    /// # Panics
    /// If an atom id or a body does not fit in 29 bits (a pack of
    /// hundreds of millions of atoms).
    pub fn push(&mut self, e: &Expr) -> u32 {
        let start = self.code.len();
        self.emit(e);
        u32::try_from(start).expect("programs beyond 4G words")
    }

    fn emit(&mut self, e: &Expr) {
        match e {
            Expr::Const(b) => self.code.push(word(CONST, *b as usize)),
            Expr::Atom(a) => self.code.push(word(ATOM, *a as usize)),
            Expr::Not(c) => self.composite(NOT, None, std::slice::from_ref(&**c)),
            Expr::And(v) => self.composite(AND, None, v),
            Expr::Or(v) => self.composite(OR, None, v),
            Expr::AtLeast(n, v) => self.composite(AT_LEAST, Some(*n), v),
        }
    }

    /// A header, an optional count, then the children; the header's
    /// payload is patched with the body's length once it is known.
    fn composite(&mut self, op: u32, count: Option<usize>, children: &[Expr]) {
        let at = self.code.len();
        self.code.push(0);
        if let Some(n) = count {
            self.code.push(word(0, n));
        }
        for c in children {
            self.emit(c);
        }
        self.code[at] = word(op, self.code.len() - at - 1);
    }

    /// The program starting at `start`, with `atom` telling which atoms hit.
    #[inline]
    pub fn eval(&self, start: u32, atom: &impl Fn(AtomId) -> bool) -> bool {
        eval_at(&self.code, start as usize, atom)
    }
}

/// One word: `op` over a payload of 29 bits.
fn word(op: u32, payload: usize) -> u32 {
    let p = u32::try_from(payload)
        .ok()
        .filter(|&p| p <= PAYLOAD)
        .expect("program payload beyond 29 bits");
    op << OP_SHIFT | p
}

/// The node at `i`.
fn eval_at(code: &[u32], i: usize, atom: &impl Fn(AtomId) -> bool) -> bool {
    let w = code[i];
    let (op, payload) = (w >> OP_SHIFT, w & PAYLOAD);
    let end = i + 1 + payload as usize;
    match op {
        ATOM => atom(payload),
        CONST => payload != 0,
        NOT => !eval_at(code, i + 1, atom),
        AND | OR => {
            // AND stops at the first false child, OR at the first true one.
            let stop = op == OR;
            let mut c = i + 1;
            while c < end {
                let (held, after) = child(code, c, atom);
                if held == stop {
                    return stop;
                }
                c = after;
            }
            !stop
        }
        _ => {
            let (n, mut held) = (code[i + 1] as usize, 0);
            let mut c = i + 2;
            while held < n && c < end {
                let (h, after) = child(code, c, atom);
                held += h as usize;
                c = after;
            }
            held >= n
        }
    }
}

/// The child at `c` and where the next one starts. Most children are
/// atoms: decided here, without a call.
#[inline(always)]
fn child(code: &[u32], c: usize, atom: &impl Fn(AtomId) -> bool) -> (bool, usize) {
    let w = code[c];
    match w >> OP_SHIFT {
        ATOM => (atom(w & PAYLOAD), c + 1),
        CONST => (w & PAYLOAD != 0, c + 1),
        _ => (eval_at(code, c, atom), c + 1 + (w & PAYLOAD) as usize),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rnd(x: &mut u64) -> u64 {
        *x ^= *x << 13;
        *x ^= *x >> 7;
        *x ^= *x << 17;
        *x
    }

    /// A small random expression over atoms `0..8`.
    fn expr(x: &mut u64, depth: u32) -> Expr {
        let kind = if depth == 0 { rnd(x) % 2 } else { rnd(x) % 6 };
        let n = 1 + rnd(x) as usize % 4;
        let list = |x: &mut u64| (0..n).map(|_| expr(x, depth - 1)).collect::<Vec<_>>();
        match kind {
            0 => Expr::Atom((rnd(x) % 8) as AtomId),
            1 => Expr::Const(rnd(x).is_multiple_of(2)),
            2 => Expr::Not(Box::new(expr(x, depth - 1))),
            3 => Expr::And(list(x)),
            4 => Expr::Or(list(x)),
            _ => {
                let k = rnd(x) as usize % (n + 2);
                Expr::AtLeast(k, list(x))
            }
        }
    }

    /// Every program, among others in one array, decides like its tree
    /// under every assignment of its atoms.
    #[test]
    fn flat_programs_agree_with_their_trees() {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let exprs: Vec<Expr> = (0..400).map(|_| expr(&mut x, 4)).collect();
        let mut p = Programs::default();
        let starts: Vec<u32> = exprs.iter().map(|e| p.push(e)).collect();
        let mut outcomes = [0; 2];
        for (e, &s) in exprs.iter().zip(&starts) {
            for hits in 0..256u32 {
                let atom = |a: AtomId| hits >> a & 1 == 1;
                let want = e.eval(&atom);
                assert_eq!(p.eval(s, &atom), want, "{e:?} under {hits:#010b}");
                outcomes[want as usize] += 1;
            }
        }
        assert!(outcomes[0] > 10_000 && outcomes[1] > 10_000, "{outcomes:?}");
    }

    #[test]
    fn empty_lists_decide_as_their_trees() {
        let mut p = Programs::default();
        for e in [
            Expr::And(vec![]),
            Expr::Or(vec![]),
            Expr::AtLeast(0, vec![]),
            Expr::AtLeast(1, vec![]),
        ] {
            let s = p.push(&e);
            assert_eq!(p.eval(s, &|_| true), e.eval(&|_| true), "{e:?}");
        }
    }
}
