//! The Sigma condition grammar.
//!
//! Precedence from loosest to tightest: `or`, `and`, `not`, `x of`,
//! parentheses. `1 of`/`any of`/`all of` take a selection name glob or
//! `them` (every selection not starting with `_`). pySigma also accepts
//! `N of` for other numbers; it means "at least N".
//!
//! The parser produces a [`Cond`] tree over selection names; the compiler
//! resolves names and quantifiers against the rule's detection section.

use std::fmt;

/// A parsed condition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cond {
    /// A selection by name.
    Ref(String),
    /// `1 of`, `all of`, `N of` over selections.
    Of(Quant, Target),
    Not(Box<Cond>),
    And(Vec<Cond>),
    Or(Vec<Cond>),
}

/// The quantifier of an `of` expression.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Quant {
    /// `all of`.
    All,
    /// `N of` (`1 of` and `any of` are `AtLeast(1)`).
    AtLeast(usize),
}

/// What an `of` expression ranges over.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// `them`: every selection whose name does not start with `_`.
    Them,
    /// A selection name, possibly with `*` wildcards.
    Pattern(String),
}

/// A condition that does not parse.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConditionError {
    pub message: String,
}

impl fmt::Display for ConditionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ConditionError {}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Token {
    LParen,
    RParen,
    And,
    Or,
    Not,
    Of,
    All,
    Them,
    Num(usize),
    Ident(String),
}

fn tokenize(s: &str) -> Result<Vec<Token>, ConditionError> {
    let mut out = Vec::new();
    let mut chars = s.char_indices().peekable();
    while let Some(&(i, c)) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
        } else if c == '(' {
            chars.next();
            out.push(Token::LParen);
        } else if c == ')' {
            chars.next();
            out.push(Token::RParen);
        } else if is_ident_char(c) {
            let mut end = i;
            while let Some(&(j, c)) = chars.peek() {
                if !is_ident_char(c) {
                    break;
                }
                end = j + c.len_utf8();
                chars.next();
            }
            let word = &s[i..end];
            out.push(match word.to_ascii_lowercase().as_str() {
                "and" => Token::And,
                "or" => Token::Or,
                "not" => Token::Not,
                "of" => Token::Of,
                "all" => Token::All,
                "any" => Token::Num(1),
                "them" => Token::Them,
                w if w.bytes().all(|b| b.is_ascii_digit()) => Token::Num(
                    w.parse()
                        .map_err(|_| err(format!("number too large: {w}")))?,
                ),
                _ => Token::Ident(word.to_string()),
            });
        } else {
            return Err(err(format!("unexpected character {c:?} at offset {i}")));
        }
    }
    Ok(out)
}

fn is_ident_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | '*' | '-' | '.')
}

fn err(message: String) -> ConditionError {
    ConditionError { message }
}

/// Parses one condition expression.
pub fn parse(s: &str) -> Result<Cond, ConditionError> {
    if s.contains('|') {
        return Err(err(
            "aggregation expressions after `|` are not supported (use a correlation rule)".into(),
        ));
    }
    let toks = tokenize(s)?;
    if toks.is_empty() {
        return Err(err("empty condition".into()));
    }
    let mut p = Parser { toks, pos: 0 };
    let c = p.or()?;
    if p.pos != p.toks.len() {
        return Err(err(format!(
            "unexpected {} after a complete expression",
            p.describe(p.pos)
        )));
    }
    Ok(c)
}

struct Parser {
    toks: Vec<Token>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.toks.get(self.pos)
    }

    fn describe(&self, pos: usize) -> String {
        match self.toks.get(pos) {
            None => "end of condition".into(),
            Some(Token::Ident(s)) => format!("`{s}`"),
            Some(t) => format!("{t:?}").to_lowercase(),
        }
    }

    fn or(&mut self) -> Result<Cond, ConditionError> {
        let mut items = vec![self.and()?];
        while self.peek() == Some(&Token::Or) {
            self.pos += 1;
            items.push(self.and()?);
        }
        Ok(if items.len() == 1 {
            items.pop().unwrap()
        } else {
            Cond::Or(items)
        })
    }

    fn and(&mut self) -> Result<Cond, ConditionError> {
        let mut items = vec![self.not()?];
        while self.peek() == Some(&Token::And) {
            self.pos += 1;
            items.push(self.not()?);
        }
        Ok(if items.len() == 1 {
            items.pop().unwrap()
        } else {
            Cond::And(items)
        })
    }

    fn not(&mut self) -> Result<Cond, ConditionError> {
        if self.peek() == Some(&Token::Not) {
            self.pos += 1;
            return Ok(Cond::Not(Box::new(self.not()?)));
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Cond, ConditionError> {
        let pos = self.pos;
        let tok = self.toks.get(pos).cloned();
        self.pos += 1;
        match tok {
            Some(Token::LParen) => {
                let c = self.or()?;
                if self.peek() != Some(&Token::RParen) {
                    return Err(err(format!(
                        "expected `)` but found {}",
                        self.describe(self.pos)
                    )));
                }
                self.pos += 1;
                Ok(c)
            }
            Some(Token::Ident(name)) => Ok(Cond::Ref(name)),
            Some(Token::All) => self.of(Quant::All),
            Some(Token::Num(0)) => Err(err("`0 of` is not a valid quantifier".into())),
            Some(Token::Num(n)) => self.of(Quant::AtLeast(n)),
            _ => Err(err(format!(
                "expected a selection name, `(`, `not` or `x of`, found {}",
                self.describe(pos)
            ))),
        }
    }

    fn of(&mut self, q: Quant) -> Result<Cond, ConditionError> {
        if self.peek() != Some(&Token::Of) {
            return Err(err(format!(
                "expected `of` but found {}",
                self.describe(self.pos)
            )));
        }
        self.pos += 1;
        let tok = self.toks.get(self.pos).cloned();
        self.pos += 1;
        match tok {
            Some(Token::Them) => Ok(Cond::Of(q, Target::Them)),
            Some(Token::Ident(p)) => Ok(Cond::Of(q, Target::Pattern(p))),
            _ => Err(err(format!(
                "expected a selection name or `them` after `of`, found {}",
                self.describe(self.pos - 1)
            ))),
        }
    }
}

/// Does a selection name match an `of` pattern (`*` is the only wildcard)?
pub fn name_matches(pattern: &str, name: &str) -> bool {
    fn go(p: &[u8], n: &[u8]) -> bool {
        match p.split_first() {
            None => n.is_empty(),
            Some((b'*', rest)) => (0..=n.len()).any(|i| go(rest, &n[i..])),
            Some((c, rest)) => n.first() == Some(c) && go(rest, &n[1..]),
        }
    }
    go(pattern.as_bytes(), name.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(s: &str) -> Cond {
        Cond::Ref(s.into())
    }

    #[test]
    fn precedence() {
        assert_eq!(
            parse("a or b and not c").unwrap(),
            Cond::Or(vec![
                r("a"),
                Cond::And(vec![r("b"), Cond::Not(Box::new(r("c")))])
            ])
        );
        assert_eq!(
            parse("(a or b) and c").unwrap(),
            Cond::And(vec![Cond::Or(vec![r("a"), r("b")]), r("c")])
        );
        assert_eq!(
            parse("not a and b").unwrap(),
            Cond::And(vec![Cond::Not(Box::new(r("a"))), r("b")])
        );
        assert_eq!(
            parse("not not a").unwrap(),
            Cond::Not(Box::new(Cond::Not(Box::new(r("a")))))
        );
    }

    #[test]
    fn quantifiers() {
        assert_eq!(
            parse("1 of sel*").unwrap(),
            Cond::Of(Quant::AtLeast(1), Target::Pattern("sel*".into()))
        );
        assert_eq!(
            parse("any of sel*").unwrap(),
            Cond::Of(Quant::AtLeast(1), Target::Pattern("sel*".into()))
        );
        assert_eq!(
            parse("all of them").unwrap(),
            Cond::Of(Quant::All, Target::Them)
        );
        assert_eq!(
            parse("selection and not 1 of filter_*").unwrap(),
            Cond::And(vec![
                r("selection"),
                Cond::Not(Box::new(Cond::Of(
                    Quant::AtLeast(1),
                    Target::Pattern("filter_*".into())
                )))
            ])
        );
        assert_eq!(
            parse("2 of them").unwrap(),
            Cond::Of(Quant::AtLeast(2), Target::Them)
        );
        assert_eq!(
            parse("ALL OF them AND x").unwrap(),
            Cond::And(vec![Cond::Of(Quant::All, Target::Them), r("x")])
        );
    }

    #[test]
    fn errors() {
        for bad in [
            "",
            "a and",
            "(a",
            "a b",
            "1 of",
            "all sel",
            "a | count() > 5",
            "0 of them",
            "a # b",
            ")",
        ] {
            assert!(parse(bad).is_err(), "{bad:?} should not parse");
        }
    }

    #[test]
    fn name_globs() {
        assert!(name_matches("sel*", "selection"));
        assert!(name_matches("*_img", "sel_img"));
        assert!(name_matches("a*b*c", "aXXbYc"));
        assert!(!name_matches("sel*", "filter"));
        assert!(name_matches("selection", "selection"));
        assert!(!name_matches("selection", "selection2"));
    }
}
