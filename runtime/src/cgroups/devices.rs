//! Device rules (`linux.resources.devices`): validation into [`DeviceRule`],
//! the v1 lines for `devices.allow`/`devices.deny`, and runc's default
//! allowlist.
//!
//! Rules apply in the order given. On v1 each rule is one write, so a list
//! that starts with a deny-all (`a *:* rwm`) first clears the inherited
//! allow-all and then adds exceptions. The v1 kernel only removes exceptions
//! that match exactly, so a deny narrower than an earlier wildcard allow has
//! no effect there; the v2 eBPF filter (see `bpf.rs`) has exact last-match-wins
//! semantics.

use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType};

use super::bpf::{ACC_ALL, ACC_MKNOD, ACC_READ, ACC_WRITE};
use super::error::{Error, Result};

/// Largest major and minor numbers Linux can represent (12 and 20 bits).
const MAX_MAJOR: i64 = (1 << 12) - 1;
const MAX_MINOR: i64 = (1 << 20) - 1;

/// Which devices a rule covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeviceKind {
    All,
    Block,
    Char,
}

/// A validated device rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceRule {
    pub allow: bool,
    pub kind: DeviceKind,
    /// `None` is the wildcard `*`.
    pub major: Option<u32>,
    pub minor: Option<u32>,
    /// `ACC_*` bits; never 0.
    pub access: u8,
}

impl DeviceRule {
    /// Whether this rule covers every device and every access.
    pub fn is_everything(&self) -> bool {
        self.kind == DeviceKind::All
            && self.major.is_none()
            && self.minor.is_none()
            && self.access == ACC_ALL
    }

    fn access_str(&self) -> String {
        let mut s = String::new();
        if self.access & ACC_READ != 0 {
            s.push('r');
        }
        if self.access & ACC_WRITE != 0 {
            s.push('w');
        }
        if self.access & ACC_MKNOD != 0 {
            s.push('m');
        }
        s
    }
}

/// Validates `linux.resources.devices`. A missing or empty `access` means
/// `rwm`; a missing or -1 major/minor means `*`.
pub fn parse_rules(rules: &[LinuxDeviceCgroup]) -> Result<Vec<DeviceRule>> {
    rules
        .iter()
        .enumerate()
        .map(|(i, r)| parse_rule(i, r))
        .collect()
}

fn parse_rule(i: usize, r: &LinuxDeviceCgroup) -> Result<DeviceRule> {
    let field = |f: &str| format!("linux.resources.devices[{i}].{f}");
    let kind = match r.typ() {
        None | Some(LinuxDeviceType::A) => DeviceKind::All,
        Some(LinuxDeviceType::B) => DeviceKind::Block,
        Some(LinuxDeviceType::C) => DeviceKind::Char,
        Some(other) => {
            return Err(Error::invalid(
                field("type"),
                format!(
                    "{:?} is not a cgroup device type; use \"a\", \"b\" or \"c\"",
                    other.as_str()
                ),
            ))
        }
    };
    let number = |name: &str, v: Option<i64>, max: i64| -> Result<Option<u32>> {
        match v {
            None | Some(-1) => Ok(None),
            Some(n) if (0..=max).contains(&n) => Ok(u32::try_from(n).ok()),
            Some(n) => Err(Error::invalid(
                field(name),
                format!(
                    "{n} is not a device number; use 0..={max}, or -1 (or leave it out) for any"
                ),
            )),
        }
    };
    let major = number("major", r.major(), MAX_MAJOR)?;
    let minor = number("minor", r.minor(), MAX_MINOR)?;
    let mut access = 0u8;
    let text = r.access().as_deref().unwrap_or("");
    for c in text.chars() {
        access |= match c {
            'r' => ACC_READ,
            'w' => ACC_WRITE,
            'm' => ACC_MKNOD,
            _ => {
                return Err(Error::invalid(
                    field("access"),
                    format!("{text:?} has {c:?}; use a combination of r, w and m"),
                ))
            }
        };
    }
    if access == 0 {
        access = ACC_ALL;
    }
    Ok(DeviceRule {
        allow: r.allow(),
        kind,
        major,
        minor,
        access,
    })
}

/// The writes that apply `rules` on v1, in order: (`devices.allow` or
/// `devices.deny`, line). The kernel treats any line of type `a` as
/// allow-all or deny-all, so a narrower `a` rule is split into `b` and `c`.
pub fn v1_lines(rules: &[DeviceRule]) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    for r in rules {
        let file = if r.allow {
            "devices.allow"
        } else {
            "devices.deny"
        };
        let num = |n: Option<u32>| n.map_or_else(|| "*".to_string(), |n| n.to_string());
        let rest = format!("{}:{} {}", num(r.major), num(r.minor), r.access_str());
        match r.kind {
            DeviceKind::All if r.is_everything() => out.push((file, "a *:* rwm".to_string())),
            DeviceKind::All => {
                out.push((file, format!("b {rest}")));
                out.push((file, format!("c {rest}")));
            }
            DeviceKind::Block => out.push((file, format!("b {rest}"))),
            DeviceKind::Char => out.push((file, format!("c {rest}"))),
        }
    }
    out
}

/// The rules runc 1.1 appends after the spec's own: mknod of any device, and
/// full access to null, random, full, tty, zero, urandom, the pty devices and
/// tun. keel's create appends these too, to behave as runc does.
pub fn runc_default_rules() -> Vec<LinuxDeviceCgroup> {
    let rule = |typ, major: Option<i64>, minor: Option<i64>, access: &str| {
        let mut r = LinuxDeviceCgroup::default();
        r.set_allow(true);
        r.set_typ(Some(typ));
        r.set_major(major);
        r.set_minor(minor);
        r.set_access(Some(access.to_string()));
        r
    };
    use LinuxDeviceType::{B, C};
    vec![
        rule(C, None, None, "m"),
        rule(B, None, None, "m"),
        rule(C, Some(1), Some(3), "rwm"),
        rule(C, Some(1), Some(8), "rwm"),
        rule(C, Some(1), Some(7), "rwm"),
        rule(C, Some(5), Some(0), "rwm"),
        rule(C, Some(1), Some(5), "rwm"),
        rule(C, Some(1), Some(9), "rwm"),
        rule(C, Some(136), None, "rwm"),
        rule(C, Some(5), Some(2), "rwm"),
        rule(C, Some(10), Some(200), "rwm"),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec_rule(
        allow: bool,
        typ: Option<LinuxDeviceType>,
        major: Option<i64>,
        minor: Option<i64>,
        access: Option<&str>,
    ) -> LinuxDeviceCgroup {
        let mut r = LinuxDeviceCgroup::default();
        r.set_allow(allow);
        r.set_typ(typ);
        r.set_major(major);
        r.set_minor(minor);
        r.set_access(access.map(str::to_string));
        r
    }

    #[test]
    fn deny_all_then_allows_in_order() {
        let mut rules = vec![spec_rule(false, None, None, None, Some("rwm"))];
        rules.extend(runc_default_rules());
        rules.push(spec_rule(
            false,
            Some(LinuxDeviceType::C),
            Some(1),
            Some(3),
            Some("w"),
        ));
        let parsed = parse_rules(&rules).unwrap();
        let lines = v1_lines(&parsed);
        assert_eq!(lines[0], ("devices.deny", "a *:* rwm".to_string()));
        assert_eq!(lines[1], ("devices.allow", "c *:* m".to_string()));
        assert_eq!(lines[2], ("devices.allow", "b *:* m".to_string()));
        assert_eq!(lines[3], ("devices.allow", "c 1:3 rwm".to_string()));
        assert_eq!(lines[9], ("devices.allow", "c 136:* rwm".to_string()));
        assert_eq!(
            lines.last().unwrap(),
            &("devices.deny", "c 1:3 w".to_string())
        );
        assert_eq!(lines.len(), 13);
    }

    #[test]
    fn narrow_all_rules_split_into_block_and_char() {
        let parsed = parse_rules(&[spec_rule(
            true,
            Some(LinuxDeviceType::A),
            Some(7),
            None,
            Some("r"),
        )])
        .unwrap();
        assert_eq!(
            v1_lines(&parsed),
            vec![
                ("devices.allow", "b 7:* r".to_string()),
                ("devices.allow", "c 7:* r".to_string())
            ]
        );
    }

    #[test]
    fn missing_access_means_rwm_and_minus_one_is_a_wildcard() {
        let parsed = parse_rules(&[spec_rule(false, None, Some(-1), None, None)]).unwrap();
        assert!(parsed[0].is_everything());
    }

    #[test]
    fn bad_rules_name_the_field() {
        let e = parse_rules(&[
            spec_rule(true, None, None, None, Some("rwm")),
            spec_rule(
                true,
                Some(LinuxDeviceType::C),
                Some(1),
                Some(3),
                Some("rwx"),
            ),
        ])
        .unwrap_err()
        .to_string();
        assert_eq!(
            e,
            "linux.resources.devices[1].access: \"rwx\" has 'x'; use a combination of r, w and m"
        );
        let e = parse_rules(&[spec_rule(true, Some(LinuxDeviceType::P), None, None, None)])
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("linux.resources.devices[0].type: \"p\""),
            "{e}"
        );
        let e = parse_rules(&[spec_rule(
            true,
            Some(LinuxDeviceType::C),
            Some(-2),
            None,
            None,
        )])
        .unwrap_err()
        .to_string();
        assert!(e.starts_with("linux.resources.devices[0].major: -2"), "{e}");
        let e = parse_rules(&[spec_rule(
            true,
            Some(LinuxDeviceType::C),
            Some(1),
            Some(1 << 20),
            None,
        )])
        .unwrap_err()
        .to_string();
        assert!(
            e.starts_with("linux.resources.devices[0].minor: 1048576"),
            "{e}"
        );
    }
}
