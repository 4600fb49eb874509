//! The options of `hoist run`, parsed from docker's spellings: `-v
//! SRC:DST[:ro]`, `--tmpfs DST[:OPTS]`, `--network none|host`, `--memory
//! 64m`, `--cpus 0.5`, `-e K[=V]`, `--name`.
//!
//! Pure parsing and validation: touches no file and runs nothing.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

/// A `-v`/`--volume` bind mount of a host path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BindMount {
    /// The host path (absolute).
    pub source: PathBuf,
    /// Where it appears in the container (absolute).
    pub destination: String,
    pub read_only: bool,
    /// A propagation option (`rprivate`, `rslave`, …) when one was given.
    pub propagation: Option<String>,
}

/// A `--tmpfs DST[:OPTS]` mount.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TmpfsMount {
    pub destination: String,
    /// The mount options given after `:` (comma-separated), e.g. `size=64m`.
    pub options: Vec<String>,
}

/// `--network`: which network namespace the container gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NetworkMode {
    /// A new network namespace with only loopback.
    None,
    /// The host's network namespace (hoist's default: there is no bridge).
    #[default]
    Host,
}

/// `--cpus N`: a CFS quota over a 100 ms period, as docker computes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cpus {
    pub quota: i64,
    pub period: u64,
}

/// A memory size in bytes (`--memory 64m`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryBytes(pub i64);

/// Why an option value is invalid; the text names the flag and the value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {flag} {value:?}: {reason}")]
pub struct OptionError {
    pub flag: &'static str,
    pub value: String,
    pub reason: String,
}

fn bad(flag: &'static str, value: &str, reason: impl Into<String>) -> OptionError {
    OptionError {
        flag,
        value: value.to_owned(),
        reason: reason.into(),
    }
}

/// Docker's period for `--cpus`.
pub const CPU_PERIOD_US: u64 = 100_000;

/// Docker refuses memory limits under 6 MiB.
pub const MIN_MEMORY: i64 = 6 * 1024 * 1024;

const PROPAGATIONS: &[&str] = &[
    "private", "rprivate", "shared", "rshared", "slave", "rslave",
];

fn check_destination(flag: &'static str, spec: &str, dst: &str) -> Result<(), OptionError> {
    if !dst.starts_with('/') {
        return Err(bad(
            flag,
            spec,
            format!("the container path {dst:?} must be absolute"),
        ));
    }
    if dst.split('/').any(|c| c == "..") {
        return Err(bad(
            flag,
            spec,
            format!("the container path {dst:?} must not contain \"..\""),
        ));
    }
    if dst.trim_end_matches('/').is_empty() {
        return Err(bad(flag, spec, "cannot mount over the container's /"));
    }
    Ok(())
}

impl FromStr for BindMount {
    type Err = OptionError;

    /// `SRC:DST[:OPTS]` with OPTS a comma list of `ro`, `rw`, `z`, `Z`
    /// (accepted, no SELinux here) and a propagation mode.
    fn from_str(spec: &str) -> Result<Self, Self::Err> {
        const FLAG: &str = "--volume";
        let parts: Vec<&str> = spec.split(':').collect();
        let (src, dst, opts) =
            match parts.as_slice() {
                [src, dst] => (*src, *dst, ""),
                [src, dst, opts] => (*src, *dst, *opts),
                [_] => return Err(bad(
                    FLAG,
                    spec,
                    "anonymous volumes are not supported; use SRC:DST with an absolute host path",
                )),
                _ => return Err(bad(FLAG, spec, "want SRC:DST[:ro]")),
            };
        if !src.starts_with('/') {
            return Err(bad(
                FLAG,
                spec,
                format!("{src:?} is not an absolute host path (named volumes are not supported)"),
            ));
        }
        check_destination(FLAG, spec, dst)?;
        let mut m = BindMount {
            source: PathBuf::from(src),
            destination: dst.to_owned(),
            read_only: false,
            propagation: None,
        };
        for o in opts.split(',').filter(|o| !o.is_empty()) {
            match o {
                "ro" => m.read_only = true,
                "rw" => m.read_only = false,
                "z" | "Z" => {}
                p if PROPAGATIONS.contains(&p) => m.propagation = Some(p.to_owned()),
                other => {
                    return Err(bad(
                        FLAG,
                        spec,
                        format!("unknown option {other:?}; use ro, rw or a propagation mode"),
                    ))
                }
            }
        }
        Ok(m)
    }
}

impl FromStr for TmpfsMount {
    type Err = OptionError;

    fn from_str(spec: &str) -> Result<Self, Self::Err> {
        let (dst, opts) = spec.split_once(':').unwrap_or((spec, ""));
        check_destination("--tmpfs", spec, dst)?;
        Ok(TmpfsMount {
            destination: dst.to_owned(),
            options: opts
                .split(',')
                .filter(|o| !o.is_empty())
                .map(str::to_owned)
                .collect(),
        })
    }
}

impl FromStr for NetworkMode {
    type Err = OptionError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "none" => Ok(NetworkMode::None),
            "host" => Ok(NetworkMode::Host),
            "bridge" | "default" => Err(bad(
                "--network",
                s,
                "hoist has no bridge network; use host (the default) or none",
            )),
            _ => Err(bad("--network", s, "use none or host")),
        }
    }
}

impl fmt::Display for NetworkMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NetworkMode::None => "none",
            NetworkMode::Host => "host",
        })
    }
}

impl FromStr for MemoryBytes {
    type Err = OptionError;

    /// Docker's `RAMInBytes`: a number with an optional `b`, `k`, `m`, `g`,
    /// `t` or `p` suffix (binary units, case-insensitive, an optional
    /// trailing `b`/`ib` as in `64MB` or `64MiB`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        const FLAG: &str = "--memory";
        let lower = s.trim().to_ascii_lowercase();
        let split = lower
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(lower.len());
        let (num, unit) = lower.split_at(split);
        let value: f64 = num
            .parse()
            .map_err(|_| bad(FLAG, s, "want a size like 64m, 512k or 1g"))?;
        let unit = unit.trim();
        let unit = unit
            .strip_suffix("ib")
            .or_else(|| unit.strip_suffix('b').filter(|u| !u.is_empty()))
            .unwrap_or(unit);
        let mult: f64 = match unit {
            "" | "b" => 1.0,
            "k" => 1024.0,
            "m" => 1024.0 * 1024.0,
            "g" => 1024.0 * 1024.0 * 1024.0,
            "t" => 1024.0f64.powi(4),
            "p" => 1024.0f64.powi(5),
            _ => return Err(bad(FLAG, s, "unknown unit; use b, k, m, g, t or p")),
        };
        let bytes = value * mult;
        if !bytes.is_finite() || bytes >= i64::MAX as f64 {
            return Err(bad(FLAG, s, "too large"));
        }
        let bytes = bytes as i64;
        if bytes < MIN_MEMORY {
            return Err(bad(FLAG, s, "the minimum memory limit is 6m"));
        }
        Ok(MemoryBytes(bytes))
    }
}

impl FromStr for Cpus {
    type Err = OptionError;

    /// `--cpus 1.5` → quota 150000 µs per 100000 µs period (docker's
    /// NanoCPUs arithmetic); at least 0.01 and at most the number of
    /// online CPUs is checked by [`Cpus::check_available`].
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let v: f64 = s
            .trim()
            .parse()
            .map_err(|_| bad("--cpus", s, "want a number of CPUs like 0.5 or 2"))?;
        if !v.is_finite() || v < 0.01 {
            return Err(bad("--cpus", s, "the minimum is 0.01"));
        }
        if v > 1_000_000.0 {
            return Err(bad("--cpus", s, "too large"));
        }
        let nano = (v * 1e9).round() as i64;
        let quota = nano * CPU_PERIOD_US as i64 / 1_000_000_000;
        Ok(Cpus {
            quota,
            period: CPU_PERIOD_US,
        })
    }
}

impl Cpus {
    /// Docker's check: no more CPUs than the machine has.
    pub fn check_available(&self, online: usize) -> Result<(), OptionError> {
        let max = online as i64 * self.period as i64;
        if self.quota > max {
            let asked = self.quota as f64 / self.period as f64;
            return Err(bad(
                "--cpus",
                &asked.to_string(),
                format!("the range of CPUs is from 0.01 to {online}.00, as there are only {online} CPUs available"),
            ));
        }
        Ok(())
    }
}

/// Checks a `--name` as docker does: `[a-zA-Z0-9][a-zA-Z0-9_.-]*`.
pub fn check_name(name: &str) -> Result<(), OptionError> {
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
    if !first_ok
        || !chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
        || name.len() > 128
    {
        return Err(bad(
            "--name",
            name,
            "only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed (at most 128 characters)",
        ));
    }
    Ok(())
}

/// `-e` values → `K=V` entries: `K=V` as given, a bare `K` takes the value
/// from `lookup` (the caller's environment) and is dropped when unset, as
/// docker does.
pub fn resolve_env(
    args: &[String],
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<Vec<String>, OptionError> {
    let mut out = Vec::new();
    for a in args {
        match a.split_once('=') {
            Some(("", _)) => return Err(bad("--env", a, "the variable name is empty")),
            Some(_) => out.push(a.clone()),
            None if a.is_empty() => return Err(bad("--env", a, "the variable name is empty")),
            None => {
                if let Some(v) = lookup(a) {
                    out.push(format!("{a}={v}"));
                }
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volumes() {
        let m: BindMount = "/h:/c".parse().unwrap();
        assert_eq!(m.source, PathBuf::from("/h"));
        assert_eq!(m.destination, "/c");
        assert!(!m.read_only);
        let m: BindMount = "/h:/c:ro,rslave,z".parse().unwrap();
        assert!(m.read_only);
        assert_eq!(m.propagation.as_deref(), Some("rslave"));
        for bad in [
            "data:/c",
            "/h:c",
            "/h",
            "/h:/c:ro:x",
            "/h:/c:nope",
            "/h:/",
            "/h:/a/../b",
        ] {
            assert!(bad.parse::<BindMount>().is_err(), "{bad}");
        }
        let e = "vol:/c".parse::<BindMount>().unwrap_err().to_string();
        assert!(e.contains("named volumes"), "{e}");
    }

    #[test]
    fn tmpfs() {
        let t: TmpfsMount = "/run:size=1m,mode=700".parse().unwrap();
        assert_eq!(t.destination, "/run");
        assert_eq!(t.options, ["size=1m", "mode=700"]);
        let t: TmpfsMount = "/scratch".parse().unwrap();
        assert!(t.options.is_empty());
        assert!("run".parse::<TmpfsMount>().is_err());
    }

    #[test]
    fn memory_units() {
        let m = |s: &str| s.parse::<MemoryBytes>().map(|m| m.0);
        assert_eq!(m("64m"), Ok(64 << 20));
        assert_eq!(m("64M"), Ok(64 << 20));
        assert_eq!(m("64MB"), Ok(64 << 20));
        assert_eq!(m("64MiB"), Ok(64 << 20));
        assert_eq!(m("1g"), Ok(1 << 30));
        assert_eq!(m("1.5g"), Ok(3 << 29));
        assert_eq!(m("8388608"), Ok(8 << 20));
        assert_eq!(m("8388608b"), Ok(8 << 20));
        assert_eq!(m("10240k"), Ok(10 << 20));
        assert!(m("4m").is_err());
        assert!(m("").is_err());
        assert!(m("12q").is_err());
        assert!(m("-1g").is_err());
        assert!(m("99999999p").is_err());
    }

    #[test]
    fn cpus_like_docker() {
        let c: Cpus = "0.5".parse().unwrap();
        assert_eq!((c.quota, c.period), (50_000, 100_000));
        let c: Cpus = "1.5".parse().unwrap();
        assert_eq!(c.quota, 150_000);
        assert_eq!("0.01".parse::<Cpus>().unwrap().quota, 1_000);
        assert!("0".parse::<Cpus>().is_err());
        assert!("x".parse::<Cpus>().is_err());
        assert!("3".parse::<Cpus>().unwrap().check_available(2).is_err());
        assert!("2".parse::<Cpus>().unwrap().check_available(2).is_ok());
    }

    #[test]
    fn network_and_names() {
        assert_eq!("none".parse(), Ok(NetworkMode::None));
        assert_eq!("host".parse(), Ok(NetworkMode::Host));
        assert!("bridge".parse::<NetworkMode>().is_err());
        assert!(check_name("web-1.a_b").is_ok());
        for n in ["", "-x", "a/b", "a b", "é"] {
            assert!(check_name(n).is_err(), "{n}");
        }
    }

    #[test]
    fn env_from_args_and_caller() {
        let args = [
            "A=1".to_owned(),
            "B".to_owned(),
            "C".to_owned(),
            "D=".to_owned(),
        ];
        let env = resolve_env(&args, |k| (k == "B").then(|| "from-host".to_owned())).unwrap();
        assert_eq!(env, ["A=1", "B=from-host", "D="]);
        assert!(resolve_env(&["=x".to_owned()], |_| None).is_err());
    }
}
