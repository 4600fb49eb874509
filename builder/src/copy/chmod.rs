//! `--chmod` values: octal (`755`, `0644`, `4755`) or chmod(1) symbolic
//! clauses (`u=rwX,go=rX`, `+x`, `a-w`, `g=u`), applied to each copied
//! file or directory's permission bits.
//!
//! A symbolic clause without `ugoa` acts on all classes; no umask is
//! applied (a build has none), so results do not depend on the machine.

/// Why a `--chmod` value is invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid --chmod={value}: {reason}: use octal (755, 0644) or symbolic (u=rwX,go=rX, +x)")]
pub struct ChmodError {
    pub value: String,
    pub reason: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Add,
    Remove,
    Set,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Perm {
    /// `rwxXst` letters.
    Bits {
        r: bool,
        w: bool,
        x: bool,
        big_x: bool,
        s: bool,
        t: bool,
    },
    /// `u`, `g` or `o`: copy that class's current bits.
    Copy(u32),
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Action {
    op: Op,
    perm: Perm,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Clause {
    /// Bits of the classes named (`ugoa`): rwx plus their special bits.
    who: u32,
    actions: Vec<Action>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Spec {
    Octal(u32),
    Symbolic(Vec<Clause>),
}

/// A parsed `--chmod`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chmod(Spec);

const U: u32 = 0o4700;
const G: u32 = 0o2070;
const O: u32 = 0o1007;

impl Chmod {
    pub fn parse(value: &str) -> Result<Chmod, ChmodError> {
        let err = |reason: &str| ChmodError {
            value: value.to_owned(),
            reason: reason.to_owned(),
        };
        if value.is_empty() {
            return Err(err("empty mode"));
        }
        if value.bytes().all(|b| b.is_ascii_digit()) {
            if value.len() > 4 {
                return Err(err("an octal mode has at most 4 digits"));
            }
            let m = u32::from_str_radix(value, 8).map_err(|_| err("octal digits are 0-7"))?;
            return Ok(Chmod(Spec::Octal(m)));
        }
        let mut clauses = Vec::new();
        for part in value.split(',') {
            let mut chars = part.chars().peekable();
            let mut who = 0;
            while let Some(&c) = chars.peek() {
                who |= match c {
                    'u' => U,
                    'g' => G,
                    'o' => O,
                    'a' => U | G | O,
                    _ => break,
                };
                chars.next();
            }
            if who == 0 {
                who = U | G | O;
            }
            let mut actions = Vec::new();
            while let Some(c) = chars.next() {
                let op = match c {
                    '+' => Op::Add,
                    '-' => Op::Remove,
                    '=' => Op::Set,
                    _ => return Err(err(&format!("unexpected {c:?} where +, - or = belongs"))),
                };
                let perm = match chars.peek() {
                    Some(&c @ ('u' | 'g' | 'o')) => {
                        chars.next();
                        Perm::Copy(match c {
                            'u' => 6,
                            'g' => 3,
                            _ => 0,
                        })
                    }
                    _ => {
                        let (mut r, mut w, mut x, mut big_x, mut s, mut t) =
                            (false, false, false, false, false, false);
                        while let Some(&c) = chars.peek() {
                            match c {
                                'r' => r = true,
                                'w' => w = true,
                                'x' => x = true,
                                'X' => big_x = true,
                                's' => s = true,
                                't' => t = true,
                                '+' | '-' | '=' => break,
                                c => return Err(err(&format!("unknown permission {c:?}"))),
                            }
                            chars.next();
                        }
                        Perm::Bits {
                            r,
                            w,
                            x,
                            big_x,
                            s,
                            t,
                        }
                    }
                };
                actions.push(Action { op, perm });
            }
            if actions.is_empty() {
                return Err(err(&format!("clause {part:?} has no +, - or =")));
            }
            clauses.push(Clause { who, actions });
        }
        Ok(Chmod(Spec::Symbolic(clauses)))
    }

    /// The new permission bits (`0o7777` mask) for a node whose current
    /// bits are `mode`.
    pub fn apply(&self, mode: u32, is_dir: bool) -> u32 {
        match &self.0 {
            Spec::Octal(m) => m & 0o7777,
            Spec::Symbolic(clauses) => {
                let mut mode = mode & 0o7777;
                for c in clauses {
                    for a in &c.actions {
                        let bits = match &a.perm {
                            Perm::Bits {
                                r,
                                w,
                                x,
                                big_x,
                                s,
                                t,
                            } => {
                                let mut b = 0;
                                if *r {
                                    b |= 0o444;
                                }
                                if *w {
                                    b |= 0o222;
                                }
                                if *x || (*big_x && (is_dir || mode & 0o111 != 0)) {
                                    b |= 0o111;
                                }
                                if *s {
                                    b |= 0o6000;
                                }
                                if *t {
                                    b |= 0o1000;
                                }
                                b
                            }
                            Perm::Copy(shift) => {
                                let class = (mode >> shift) & 0o7;
                                class | (class << 3) | (class << 6)
                            }
                        } & c.who;
                        match a.op {
                            Op::Add => mode |= bits,
                            Op::Remove => mode &= !bits,
                            Op::Set => mode = (mode & !c.who) | bits,
                        }
                    }
                }
                mode
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ap(v: &str, mode: u32, dir: bool) -> u32 {
        Chmod::parse(v).unwrap().apply(mode, dir)
    }

    #[test]
    fn octal_and_symbolic() {
        assert_eq!(ap("755", 0o600, false), 0o755);
        assert_eq!(ap("0644", 0o777, false), 0o644);
        assert_eq!(ap("4755", 0, false), 0o4755);
        assert_eq!(ap("u=rwX,go=rX", 0o600, false), 0o644);
        assert_eq!(ap("u=rwX,go=rX", 0o700, false), 0o755);
        assert_eq!(ap("u=rwX,go=rX", 0o600, true), 0o755);
        assert_eq!(ap("+x", 0o644, false), 0o755);
        assert_eq!(ap("a-w", 0o666, false), 0o444);
        assert_eq!(ap("g=u", 0o740, false), 0o770);
        assert_eq!(ap("o=", 0o777, false), 0o770);
        assert_eq!(ap("u+s,g-rx+w", 0o755, false), 0o4725);
        assert_eq!(ap("ug+rw,o-rwx", 0o004, false), 0o660);
        for bad in ["", "8", "12345", "u", "u~x", "u+q", "x+", "u=rwx,", "rwx"] {
            assert!(Chmod::parse(bad).is_err(), "{bad:?}");
        }
        let e = Chmod::parse("u+q").unwrap_err();
        assert!(e.to_string().contains("--chmod=u+q"), "{e}");
    }
}
