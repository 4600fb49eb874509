//! The cgroup v2 device filter: an eBPF program of type
//! `BPF_PROG_TYPE_CGROUP_DEVICE`, generated from the rule list.
//!
//! The kernel calls the program with a `struct bpf_cgroup_dev_ctx`
//! (`access_type` = access bits << 16 | device type, `major`, `minor`) and
//! lets the access through when it returns 1. Rules apply in the order
//! given, so the program tests them from the last to the first and the first
//! match decides; with no match the access is allowed, as a new v1 cgroup
//! inherits allow-all. A leading deny-all (`a *:* rwm`) therefore makes the
//! list an allowlist.
//!
//! An allow rule matches when every requested access bit is in the rule; a
//! deny rule matches when any requested bit is (the v1 kernel's semantics).
//! This file only encodes instructions; loading is in `sys.rs`.

use super::devices::{DeviceKind, DeviceRule};

/// `BPF_DEVCG_ACC_MKNOD`, `_READ`, `_WRITE`: access bits in the context.
pub const ACC_MKNOD: u8 = 1;
pub const ACC_READ: u8 = 2;
pub const ACC_WRITE: u8 = 4;
/// All three access bits.
pub const ACC_ALL: u8 = ACC_MKNOD | ACC_READ | ACC_WRITE;
/// `BPF_DEVCG_DEV_BLOCK` and `BPF_DEVCG_DEV_CHAR`: device types in the context.
pub const DEV_BLOCK: i32 = 1;
pub const DEV_CHAR: i32 = 2;

// Opcode parts (linux/bpf_common.h, linux/bpf.h).
const CLASS_LDX: u8 = 0x01;
const CLASS_JMP: u8 = 0x05;
const CLASS_ALU64: u8 = 0x07;
const SIZE_W: u8 = 0x00;
const MODE_MEM: u8 = 0x60;
const SRC_K: u8 = 0x00;
const SRC_X: u8 = 0x08;
const ALU_AND: u8 = 0x50;
const ALU_RSH: u8 = 0x70;
const ALU_MOV: u8 = 0xb0;
const JMP_JEQ: u8 = 0x10;
const JMP_JNE: u8 = 0x50;
const JMP_EXIT: u8 = 0x90;

/// One eBPF instruction, laid out as the kernel's `struct bpf_insn`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Insn {
    pub code: u8,
    /// `dst_reg:4, src_reg:4` as the C bitfield lays them out.
    pub regs: u8,
    pub off: i16,
    pub imm: i32,
}

impl Insn {
    fn new(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
        let regs = if cfg!(target_endian = "little") {
            (dst & 0xf) | ((src & 0xf) << 4)
        } else {
            ((dst & 0xf) << 4) | (src & 0xf)
        };
        Insn {
            code,
            regs,
            off,
            imm,
        }
    }

    /// The destination register.
    pub fn dst(&self) -> u8 {
        if cfg!(target_endian = "little") {
            self.regs & 0xf
        } else {
            self.regs >> 4
        }
    }

    /// The source register.
    pub fn src(&self) -> u8 {
        if cfg!(target_endian = "little") {
            self.regs >> 4
        } else {
            self.regs & 0xf
        }
    }

    /// `dst = *(u32 *)(src + off)`
    pub fn load_u32(dst: u8, src: u8, off: i16) -> Insn {
        Insn::new(CLASS_LDX | SIZE_W | MODE_MEM, dst, src, off, 0)
    }
    /// `dst &= imm`
    pub fn and_imm(dst: u8, imm: i32) -> Insn {
        Insn::new(CLASS_ALU64 | ALU_AND | SRC_K, dst, 0, 0, imm)
    }
    /// `dst >>= imm`
    pub fn rsh_imm(dst: u8, imm: i32) -> Insn {
        Insn::new(CLASS_ALU64 | ALU_RSH | SRC_K, dst, 0, 0, imm)
    }
    /// `dst = src`
    pub fn mov_reg(dst: u8, src: u8) -> Insn {
        Insn::new(CLASS_ALU64 | ALU_MOV | SRC_X, dst, src, 0, 0)
    }
    /// `dst = imm`
    pub fn mov_imm(dst: u8, imm: i32) -> Insn {
        Insn::new(CLASS_ALU64 | ALU_MOV | SRC_K, dst, 0, 0, imm)
    }
    /// `if dst != imm goto +off`
    pub fn jne_imm(dst: u8, imm: i32, off: i16) -> Insn {
        Insn::new(CLASS_JMP | JMP_JNE | SRC_K, dst, 0, off, imm)
    }
    /// `if dst == imm goto +off`
    pub fn jeq_imm(dst: u8, imm: i32, off: i16) -> Insn {
        Insn::new(CLASS_JMP | JMP_JEQ | SRC_K, dst, 0, off, imm)
    }
    /// `if dst != src goto +off`
    pub fn jne_reg(dst: u8, src: u8, off: i16) -> Insn {
        Insn::new(CLASS_JMP | JMP_JNE | SRC_X, dst, src, off, 0)
    }
    /// `return r0`
    pub fn exit() -> Insn {
        Insn::new(CLASS_JMP | JMP_EXIT, 0, 0, 0, 0)
    }

    /// Whether this is a conditional jump (its `off` is a target).
    pub fn is_cond_jump(&self) -> bool {
        self.code & 0x07 == CLASS_JMP && self.code & 0xf0 != JMP_EXIT
    }
}

// Registers the program uses.
const R0: u8 = 0; // return value
const R1: u8 = 1; // context on entry, scratch afterwards
const R_TYPE: u8 = 2;
const R_ACCESS: u8 = 3;
const R_MAJOR: u8 = 4;
const R_MINOR: u8 = 5;

/// A conditional jump to the start of the next rule, fixed up later.
const NEXT: i16 = i16::MAX;

/// The device filter for `rules`, applied in order (the last match wins).
pub fn device_filter(rules: &[DeviceRule]) -> Vec<Insn> {
    let mut prog = vec![
        Insn::load_u32(R_TYPE, R1, 0),
        Insn::and_imm(R_TYPE, 0xffff),
        Insn::load_u32(R_ACCESS, R1, 0),
        Insn::rsh_imm(R_ACCESS, 16),
        Insn::load_u32(R_MAJOR, R1, 4),
        Insn::load_u32(R_MINOR, R1, 8),
    ];
    for rule in rules.iter().rev() {
        let mut block = Vec::new();
        match rule.kind {
            DeviceKind::All => {}
            DeviceKind::Block => block.push(Insn::jne_imm(R_TYPE, DEV_BLOCK, NEXT)),
            DeviceKind::Char => block.push(Insn::jne_imm(R_TYPE, DEV_CHAR, NEXT)),
        }
        if rule.access != ACC_ALL {
            block.push(Insn::mov_reg(R1, R_ACCESS));
            block.push(Insn::and_imm(R1, i32::from(rule.access)));
            if rule.allow {
                // Every requested bit must be granted by this rule.
                block.push(Insn::jne_reg(R1, R_ACCESS, NEXT));
            } else {
                // Any requested bit that this rule names is denied.
                block.push(Insn::jeq_imm(R1, 0, NEXT));
            }
        }
        if let Some(major) = rule.major {
            block.push(Insn::jne_imm(R_MAJOR, dev_imm(major), NEXT));
        }
        if let Some(minor) = rule.minor {
            block.push(Insn::jne_imm(R_MINOR, dev_imm(minor), NEXT));
        }
        let unconditional = block.is_empty();
        block.push(Insn::mov_imm(R0, i32::from(rule.allow)));
        block.push(Insn::exit());
        let len = block.len();
        for (i, insn) in block.iter_mut().enumerate() {
            if insn.is_cond_jump() && insn.off == NEXT {
                // Jump to the first instruction after this block.
                insn.off = i16::try_from(len - i - 1).unwrap_or(i16::MAX);
            }
        }
        prog.extend(block);
        if unconditional {
            // Earlier rules can never be reached, and the verifier refuses
            // unreachable instructions.
            return prog;
        }
    }
    prog.push(Insn::mov_imm(R0, 1));
    prog.push(Insn::exit());
    prog
}

/// Device numbers are validated to Linux's 12-bit major and 20-bit minor,
/// so they always fit a positive immediate.
fn dev_imm(n: u32) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

/// Runs `prog` on one device access, as the kernel would: returns r0.
/// Only the instructions [`device_filter`] emits are understood; this is
/// for tests and for `keel features`-style self checks.
#[cfg(test)]
pub fn run(prog: &[Insn], dev_type: u32, access: u32, major: u32, minor: u32) -> u64 {
    let ctx = [dev_type | (access << 16), major, minor];
    let mut r = [0u64; 11];
    let mut pc = 0usize;
    for _ in 0..100_000 {
        let insn = prog[pc];
        let (d, s) = (insn.dst() as usize, insn.src() as usize);
        let imm = insn.imm as i64 as u64;
        let mut next = pc + 1;
        match insn.code {
            0x61 => {
                assert_eq!(s, 1, "loads only from the context");
                r[d] = u64::from(ctx[(insn.off / 4) as usize]);
            }
            0x57 => r[d] &= imm,
            0x77 => r[d] >>= imm,
            0xbf => r[d] = r[s],
            0xb7 => r[d] = imm,
            0x55 | 0x15 | 0x5d => {
                let rhs = if insn.code == 0x5d { r[s] } else { imm };
                let taken = if insn.code == 0x15 {
                    r[d] == rhs
                } else {
                    r[d] != rhs
                };
                if taken {
                    next = (pc as i64 + 1 + insn.off as i64) as usize;
                }
            }
            0x95 => return r[0],
            other => panic!("unknown opcode {other:#x} at {pc}"),
        }
        pc = next;
    }
    panic!("program did not terminate");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(
        allow: bool,
        kind: DeviceKind,
        major: Option<u32>,
        minor: Option<u32>,
        access: u8,
    ) -> DeviceRule {
        DeviceRule {
            allow,
            kind,
            major,
            minor,
            access,
        }
    }

    /// Every instruction is reachable, every jump lands inside the program
    /// and goes forward, and the program ends with exit: what the verifier
    /// checks structurally.
    fn check_structure(prog: &[Insn]) {
        assert!(!prog.is_empty());
        assert_eq!(*prog.last().unwrap(), Insn::exit());
        let mut reachable = vec![false; prog.len()];
        reachable[0] = true;
        for pc in 0..prog.len() {
            if !reachable[pc] {
                panic!("unreachable instruction {pc}: {:?}", prog[pc]);
            }
            let insn = prog[pc];
            if insn == Insn::exit() {
                continue;
            }
            if insn.is_cond_jump() {
                assert!(insn.off >= 0, "backward jump at {pc}");
                let target = pc + 1 + insn.off as usize;
                assert!(target < prog.len(), "jump out of program at {pc}");
                reachable[target] = true;
            }
            assert!(pc + 1 < prog.len(), "falls off the end at {pc}");
            reachable[pc + 1] = true;
        }
        // r0 is set before every exit.
        for (pc, insn) in prog.iter().enumerate() {
            if *insn == Insn::exit() {
                assert_eq!(prog[pc - 1].code, 0xb7, "exit at {pc} without setting r0");
                assert_eq!(prog[pc - 1].dst(), 0);
            }
        }
    }

    /// The reference semantics: last matching rule wins, default allow.
    fn model(rules: &[DeviceRule], dev_type: u32, access: u8, major: u32, minor: u32) -> bool {
        for r in rules.iter().rev() {
            let type_ok = match r.kind {
                DeviceKind::All => true,
                DeviceKind::Block => dev_type == DEV_BLOCK as u32,
                DeviceKind::Char => dev_type == DEV_CHAR as u32,
            };
            let num_ok = r.major.is_none_or(|m| m == major) && r.minor.is_none_or(|m| m == minor);
            let acc_ok = if r.allow {
                access & r.access == access
            } else {
                access & r.access != 0
            };
            if type_ok && num_ok && acc_ok {
                return r.allow;
            }
        }
        true
    }

    #[test]
    fn encoding_matches_the_kernel_layout() {
        assert_eq!(std::mem::size_of::<Insn>(), 8);
        // r2 = *(u32 *)(r1 + 0): code 0x61, dst 2, src 1.
        let i = Insn::load_u32(2, 1, 0);
        assert_eq!((i.code, i.dst(), i.src(), i.off, i.imm), (0x61, 2, 1, 0, 0));
        if cfg!(target_endian = "little") {
            assert_eq!(i.regs, 0x12);
        }
        assert_eq!(Insn::and_imm(2, 0xffff).code, 0x57);
        assert_eq!(Insn::rsh_imm(3, 16).code, 0x77);
        assert_eq!(Insn::mov_reg(1, 3).code, 0xbf);
        assert_eq!(Insn::mov_imm(0, 1).code, 0xb7);
        assert_eq!(Insn::jne_imm(2, 2, 5).code, 0x55);
        assert_eq!(Insn::jeq_imm(1, 0, 5).code, 0x15);
        assert_eq!(Insn::jne_reg(1, 3, 5).code, 0x5d);
        assert_eq!(Insn::exit().code, 0x95);
    }

    #[test]
    fn deny_all_then_allow_null_is_exactly_this_program() {
        let rules = [
            rule(false, DeviceKind::All, None, None, ACC_ALL),
            rule(
                true,
                DeviceKind::Char,
                Some(1),
                Some(3),
                ACC_READ | ACC_WRITE,
            ),
        ];
        let prog = device_filter(&rules);
        let want = vec![
            Insn::load_u32(2, 1, 0),
            Insn::and_imm(2, 0xffff),
            Insn::load_u32(3, 1, 0),
            Insn::rsh_imm(3, 16),
            Insn::load_u32(4, 1, 4),
            Insn::load_u32(5, 1, 8),
            // allow c 1:3 rw
            Insn::jne_imm(2, DEV_CHAR, 7),
            Insn::mov_reg(1, 3),
            Insn::and_imm(1, 6),
            Insn::jne_reg(1, 3, 4),
            Insn::jne_imm(4, 1, 3),
            Insn::jne_imm(5, 3, 2),
            Insn::mov_imm(0, 1),
            Insn::exit(),
            // deny a *:* rwm: unconditional, so nothing follows
            Insn::mov_imm(0, 0),
            Insn::exit(),
        ];
        assert_eq!(prog, want);
        check_structure(&prog);
        assert_eq!(run(&prog, DEV_CHAR as u32, ACC_READ as u32, 1, 3), 1);
        assert_eq!(
            run(&prog, DEV_CHAR as u32, (ACC_READ | ACC_WRITE) as u32, 1, 3),
            1
        );
        assert_eq!(run(&prog, DEV_CHAR as u32, ACC_MKNOD as u32, 1, 3), 0);
        assert_eq!(run(&prog, DEV_CHAR as u32, ACC_READ as u32, 1, 5), 0);
        assert_eq!(run(&prog, DEV_BLOCK as u32, ACC_READ as u32, 1, 3), 0);
    }

    #[test]
    fn empty_list_allows_everything() {
        let prog = device_filter(&[]);
        check_structure(&prog);
        assert_eq!(run(&prog, DEV_BLOCK as u32, ACC_WRITE as u32, 8, 0), 1);
    }

    #[test]
    fn order_matters_last_rule_wins() {
        let allow = rule(true, DeviceKind::Char, Some(1), Some(3), ACC_ALL);
        let deny = rule(false, DeviceKind::Char, Some(1), None, ACC_WRITE);
        // deny c 1:* w after allow c 1:3: writes to 1:3 are denied.
        let p = device_filter(&[allow.clone(), deny.clone()]);
        check_structure(&p);
        assert_eq!(run(&p, 2, ACC_WRITE as u32, 1, 3), 0);
        assert_eq!(run(&p, 2, ACC_READ as u32, 1, 3), 1);
        // The other order: the allow overrides the deny.
        let p = device_filter(&[deny, allow]);
        assert_eq!(run(&p, 2, ACC_WRITE as u32, 1, 3), 1);
        assert_eq!(run(&p, 2, ACC_WRITE as u32, 1, 4), 0);
    }

    #[test]
    fn generated_programs_agree_with_the_model() {
        // A deterministic pseudo-random sweep of rule lists and requests.
        let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = move |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        for _ in 0..400 {
            let count = next(6) as usize;
            let rules: Vec<DeviceRule> = (0..count)
                .map(|_| {
                    let kind =
                        [DeviceKind::All, DeviceKind::Block, DeviceKind::Char][next(3) as usize];
                    let major = if next(3) == 0 {
                        None
                    } else {
                        Some(next(3) as u32)
                    };
                    let minor = if next(3) == 0 {
                        None
                    } else {
                        Some(next(3) as u32)
                    };
                    let access = (next(7) + 1) as u8;
                    rule(next(2) == 0, kind, major, minor, access)
                })
                .collect();
            let prog = device_filter(&rules);
            check_structure(&prog);
            for dev_type in [DEV_BLOCK as u32, DEV_CHAR as u32] {
                for access in 1..=7u8 {
                    for major in 0..3 {
                        for minor in 0..3 {
                            let want = model(&rules, dev_type, access, major, minor);
                            let got = run(&prog, dev_type, u32::from(access), major, minor) == 1;
                            assert_eq!(
                                got, want,
                                "rules {rules:?} type {dev_type} access {access} {major}:{minor}"
                            );
                        }
                    }
                }
            }
        }
    }
}
