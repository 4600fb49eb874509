//! The OCI runtime conformance suite: test cases grouped by spec section,
//! each one a config variation driven through runc's command line and
//! checked from inside the container by keel-check (or, where that is the
//! only way, from the host: state JSON, hook records, leftover mounts,
//! cgroup files).
//!
//! A case is one test point: it passes, fails with a reason, or is skipped
//! with the reason the machine cannot run it. Cases never panic (the
//! release profile aborts on panic); every wait has a time limit; everything
//! a case starts or mounts is removed when its [`Env`] drops.

/// Fail the case with a message unless `cond` holds.
macro_rules! ensure {
    ($cond:expr, $($fmt:tt)+) => {
        if !$cond {
            return Err($crate::suite::Problem::Fail(format!($($fmt)+)));
        }
    };
}

/// Fail the case with a message.
macro_rules! fail {
    ($($fmt:tt)+) => {
        return Err($crate::suite::Problem::Fail(format!($($fmt)+)))
    };
}

/// Skip the case: the machine lacks a precondition.
macro_rules! skip {
    ($($fmt:tt)+) => {
        return Err($crate::suite::Problem::Skip(format!($($fmt)+)))
    };
}

mod cgroups;
mod cli;
mod devices;
mod env;
mod features;
mod hooks;
mod lifecycle;
mod mounts;
mod namespaces;
mod process;
mod seccomp;

pub mod report;
pub mod runner;

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

pub use env::{Ctr, Env, HostFacts};

/// Why a case did not pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    Fail(String),
    Skip(String),
}

impl From<crate::Error> for Problem {
    fn from(e: crate::Error) -> Self {
        Problem::Fail(e.to_string())
    }
}

impl From<std::io::Error> for Problem {
    fn from(e: std::io::Error) -> Self {
        Problem::Fail(e.to_string())
    }
}

impl From<serde_json::Error> for Problem {
    fn from(e: serde_json::Error) -> Self {
        Problem::Fail(format!("JSON: {e}"))
    }
}

/// What a case returns.
pub type CaseResult = Result<(), Problem>;

/// The outcome of one test point.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Pass,
    Fail(String),
    Skip(String),
}

impl Verdict {
    pub fn word(&self) -> &'static str {
        match self {
            Verdict::Pass => "PASS",
            Verdict::Fail(_) => "FAIL",
            Verdict::Skip(_) => "SKIP",
        }
    }

    pub fn detail(&self) -> &str {
        match self {
            Verdict::Pass => "",
            Verdict::Fail(d) | Verdict::Skip(d) => d,
        }
    }

    pub fn is_pass(&self) -> bool {
        matches!(self, Verdict::Pass)
    }

    pub fn is_fail(&self) -> bool {
        matches!(self, Verdict::Fail(_))
    }
}

impl From<CaseResult> for Verdict {
    fn from(r: CaseResult) -> Self {
        match r {
            Ok(()) => Verdict::Pass,
            Err(Problem::Fail(m)) => Verdict::Fail(m),
            Err(Problem::Skip(m)) => Verdict::Skip(m),
        }
    }
}

type CaseFn = dyn Fn(&Env) -> CaseResult + Send + Sync;

/// One test point.
#[derive(Clone)]
pub struct Case {
    /// `group/name`, unique.
    pub id: String,
    pub group: &'static str,
    /// The spec clause (or CLI contract) the case checks, in a few words.
    pub clause: String,
    run: Arc<CaseFn>,
}

impl fmt::Debug for Case {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Case")
            .field("id", &self.id)
            .field("clause", &self.clause)
            .finish()
    }
}

impl Case {
    pub fn run(&self, env: &Env) -> CaseResult {
        (self.run)(env)
    }

    /// Whether `--filter PATTERN` selects this case: a group name selects
    /// that group; anything else matches an id prefix (`hooks/poststart`)
    /// or a substring of the id (`terminal`).
    pub fn matches(&self, pattern: &str) -> bool {
        let p = pattern.trim_end_matches('/');
        if GROUPS.iter().any(|(g, _)| *g == p) {
            return self.group == p;
        }
        self.id.starts_with(p) || self.id.contains(p)
    }
}

/// The groups, in report order, with the spec section each covers.
pub const GROUPS: &[(&str, &str)] = &[
    ("lifecycle", "runtime.md: Lifecycle, Operations, Errors"),
    ("state", "runtime.md: State"),
    (
        "hooks",
        "config.md: POSIX-platform Hooks; runtime.md: Lifecycle",
    ),
    ("edge", "runtime.md: edge cases a user hits"),
    ("process", "config.md: Process, User, Linux Process"),
    ("root", "config.md: Root"),
    ("mounts", "config.md: Mounts, Linux mount options"),
    ("devices", "config-linux.md: Devices, Default Devices"),
    (
        "namespaces",
        "config-linux.md: Namespaces, hostname/domainname",
    ),
    ("idmaps", "config-linux.md: User namespace mappings"),
    ("time", "config-linux.md: Offset for Time Namespace"),
    ("sysctl", "config-linux.md: Sysctl"),
    ("paths", "config-linux.md: Masked Paths, Readonly Paths"),
    ("propagation", "config-linux.md: Rootfs Mount Propagation"),
    ("personality", "config-linux.md: Personality"),
    (
        "cgroups",
        "config-linux.md: Control groups; runc CLI update/pause/resume/ps/events",
    ),
    ("seccomp", "config-linux.md: Seccomp"),
    ("features", "features.md, features-linux.md"),
    ("exec", "runc CLI: exec"),
    ("cli", "runc CLI contract (engines depend on it)"),
    ("security", "CVE-2019-5736, CVE-2024-21626, CVE-2021-30465"),
];

/// Collects cases while the groups register them.
#[derive(Default)]
pub struct Registry {
    cases: Vec<Case>,
}

impl Registry {
    /// Register `group/name`, checking `clause`.
    pub fn add(
        &mut self,
        group: &'static str,
        name: &str,
        clause: &str,
        f: impl Fn(&Env) -> CaseResult + Send + Sync + 'static,
    ) {
        self.cases.push(Case {
            id: format!("{group}/{name}"),
            group,
            clause: clause.to_string(),
            run: Arc::new(f),
        });
    }
}

/// Every case, grouped in [`GROUPS`] order.
pub fn all_cases() -> Vec<Case> {
    let mut r = Registry::default();
    lifecycle::register(&mut r);
    hooks::register(&mut r);
    process::register(&mut r);
    mounts::register(&mut r);
    devices::register(&mut r);
    namespaces::register(&mut r);
    cgroups::register(&mut r);
    seccomp::register(&mut r);
    features::register(&mut r);
    cli::register(&mut r);
    let order: BTreeMap<&str, usize> = GROUPS
        .iter()
        .enumerate()
        .map(|(i, (g, _))| (*g, i))
        .collect();
    let mut cases = r.cases;
    cases.sort_by_key(|c| order.get(c.group).copied().unwrap_or(usize::MAX));
    cases
}

/// A runtime under test.
#[derive(Debug, Clone)]
pub struct Target {
    /// Short name for reports ("keel", "runc", "crun").
    pub name: String,
    /// What to execute: the runtime, or a wrapper script around it.
    pub bin: PathBuf,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_grouped_and_numerous() {
        let cases = all_cases();
        let mut seen = std::collections::BTreeSet::new();
        for c in &cases {
            assert!(seen.insert(c.id.clone()), "duplicate id {}", c.id);
            assert!(
                GROUPS.iter().any(|(g, _)| *g == c.group),
                "{} is in an unknown group",
                c.id
            );
            assert!(!c.clause.is_empty(), "{} has no clause", c.id);
            assert!(
                c.id.chars()
                    .all(|ch| ch.is_ascii_alphanumeric() || "/-_.".contains(ch)),
                "{} has odd characters",
                c.id
            );
        }
        assert!(cases.len() >= 150, "only {} cases", cases.len());
    }

    #[test]
    fn filters_select_groups_and_ids() {
        let cases = all_cases();
        let pick = |p: &str| cases.iter().filter(|c| c.matches(p)).count();
        assert!(pick("seccomp") > 10);
        assert_eq!(pick("seccomp/"), pick("seccomp"));
        assert_eq!(pick("lifecycle/create-status-created"), 1);
        assert_eq!(pick("no-such-test-anywhere"), 0);
    }
}
