//! Running the cases against runtimes (a small pool of worker threads per
//! runtime), the allowlist of known gaps, and the regression rule: a
//! subject runtime regresses when it fails a test the reference passes.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::env::one_line;
use super::{Case, Env, HostFacts, Target, Verdict};
use crate::driver::Runtime;
use crate::error::{io_err, Result};
use crate::harness::Artifacts;

/// Set in the runner's environment: nothing the runtime starts in the
/// container (process, hooks) may inherit it.
pub const MARKER_ENV: &str = "KEEL_CONFORMANCE_RUNNER";

/// The result of one case against one runtime.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub id: String,
    pub group: &'static str,
    pub clause: String,
    pub verdict: Verdict,
    pub elapsed: Duration,
}

/// Every outcome of one runtime, in case order.
#[derive(Debug, Clone)]
pub struct TargetRun {
    pub target: Target,
    pub outcomes: Vec<Outcome>,
    pub wall: Duration,
    pub features: Option<Value>,
    /// The first line of `RUNTIME --version`.
    pub version: String,
}

impl TargetRun {
    pub fn counts(&self) -> (usize, usize, usize) {
        let mut c = (0, 0, 0);
        for o in &self.outcomes {
            match o.verdict {
                Verdict::Pass => c.0 += 1,
                Verdict::Fail(_) => c.1 += 1,
                Verdict::Skip(_) => c.2 += 1,
            }
        }
        c
    }

    pub fn verdict(&self, id: &str) -> Option<&Verdict> {
        self.outcomes
            .iter()
            .find(|o| o.id == id)
            .map(|o| &o.verdict)
    }
}

/// The runtime's `features` document, if it prints valid JSON.
pub fn features_of(target: &Target) -> Option<Value> {
    let root = tempfile::Builder::new().prefix("kr-").tempdir().ok()?;
    let rt = Runtime::new(&target.name, &target.bin, root.path()).ok()?;
    let out = rt.exec(&["features"]).ok()?;
    if !out.success() {
        return None;
    }
    serde_json::from_str(&out.stdout).ok()
}

/// The first line of the runtime's `--version`.
pub fn version_of(target: &Target) -> String {
    let Ok(root) = tempfile::Builder::new().prefix("kr-").tempdir() else {
        return String::new();
    };
    Runtime::new(&target.name, &target.bin, root.path())
        .and_then(|rt| rt.exec_raw(&["--version".into()], Vec::new()))
        .map(|o| o.stdout.lines().next().unwrap_or("").trim().to_string())
        .unwrap_or_default()
}

/// Run `cases` against `target` with `jobs` workers; `progress` sees each
/// outcome as it lands.
pub fn run_target(
    target: &Target,
    cases: &[Case],
    art: &Artifacts,
    host: &HostFacts,
    jobs: usize,
    progress: &(dyn Fn(&Outcome) + Sync),
) -> TargetRun {
    crate::host::become_subreaper();
    let t0 = Instant::now();
    let features = features_of(target);
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<Outcome>>> = Mutex::new(vec![None; cases.len()]);
    let finished = AtomicBool::new(false);
    let work = || loop {
        let i = next.fetch_add(1, Ordering::Relaxed);
        let Some(case) = cases.get(i) else {
            break;
        };
        let started = Instant::now();
        let verdict = match Env::new(target, art, host, features.as_ref(), &i.to_string()) {
            Ok(env) => {
                let v = Verdict::from(case.run(&env));
                drop(env);
                v
            }
            Err(e) => Verdict::Fail(format!("cannot set up the case: {e}")),
        };
        let verdict = match verdict {
            Verdict::Fail(m) => Verdict::Fail(one_line(&m)),
            Verdict::Skip(m) => Verdict::Skip(one_line(&m)),
            v => v,
        };
        let o = Outcome {
            id: case.id.clone(),
            group: case.group,
            clause: case.clause.clone(),
            verdict,
            elapsed: started.elapsed(),
        };
        progress(&o);
        results.lock().unwrap_or_else(|e| e.into_inner())[i] = Some(o);
    };
    std::thread::scope(|scope| {
        // Reap orphaned container processes (exec'd, detached) promptly, as
        // an engine's shim would: a zombie keeps a v1 cgroup busy, and the
        // runtime could not remove it at delete.
        scope.spawn(|| {
            while !finished.load(Ordering::Relaxed) {
                crate::host::reap_orphans();
                std::thread::sleep(Duration::from_millis(20));
            }
        });
        let workers: Vec<_> = (0..jobs.max(1)).map(|_| scope.spawn(work)).collect();
        for w in workers {
            let _ = w.join();
        }
        finished.store(true, Ordering::Relaxed);
    });
    crate::host::reap_orphans();
    cleanup_cgroup_parents(host);
    let outcomes = results
        .into_inner()
        .unwrap_or_else(|e| e.into_inner())
        .into_iter()
        .flatten()
        .collect();
    TargetRun {
        target: target.clone(),
        outcomes,
        wall: t0.elapsed(),
        features,
        version: version_of(target),
    }
}

/// A private copy of the test rootfs with keel-check in it, which a run's
/// bundles hard-link (see [`crate::Bundle::create_linked`]). Removed on drop.
pub struct RunTemplate {
    dir: tempfile::TempDir,
    pub art: Artifacts,
}

impl RunTemplate {
    pub fn new(art: &Artifacts) -> Result<RunTemplate> {
        let dir = tempfile::Builder::new()
            .prefix("keel-conf-tpl-")
            .tempdir()
            .map_err(io_err("create the run's template dir"))?;
        let rootfs = dir.path().join("rootfs");
        crate::bundle::copy_tree(&art.rootfs, &rootfs)?;
        let checker = rootfs.join("keel-check");
        fs::copy(&art.checker, &checker).map_err(io_err("copy keel-check"))?;
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(&checker, fs::Permissions::from_mode(0o755))
            .map_err(io_err("chmod keel-check"))?;
        Ok(RunTemplate {
            art: Artifacts { checker, rootfs },
            dir,
        })
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

/// Remove the (empty) parent cgroups the cases' containers lived under.
fn cleanup_cgroup_parents(host: &HostFacts) {
    for ctrl in &host.cgroup_v1 {
        let _ = fs::remove_dir(format!(
            "/sys/fs/cgroup/{ctrl}/{}",
            super::env::CGROUP_PARENT
        ));
    }
    for base in ["/sys/fs/cgroup", "/sys/fs/cgroup/unified"] {
        let _ = fs::remove_dir(format!("{base}/{}", super::env::CGROUP_PARENT));
    }
}

/// Tests a subject runtime may fail while the reference passes them: the
/// known, documented gaps. One pattern per line: a test id, or a prefix
/// ending in `/` (a whole group); `#` starts a comment.
#[derive(Debug, Clone, Default)]
pub struct Allowlist {
    pub path: Option<PathBuf>,
    pub patterns: Vec<String>,
}

impl Allowlist {
    pub fn load(path: &Path) -> Result<Allowlist> {
        let text = fs::read_to_string(path).map_err(io_err(format!("read {}", path.display())))?;
        Ok(Allowlist {
            path: Some(path.to_path_buf()),
            patterns: Self::parse(&text),
        })
    }

    pub fn parse(text: &str) -> Vec<String> {
        text.lines()
            .map(|l| l.split('#').next().unwrap_or("").trim())
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect()
    }

    pub fn allows(&self, id: &str) -> bool {
        self.patterns.iter().any(|p| pattern_matches(p, id))
    }
}

fn pattern_matches(p: &str, id: &str) -> bool {
    if p.ends_with('/') {
        id.starts_with(p)
    } else {
        id == p
    }
}

/// The comparison of a subject runtime with a reference.
#[derive(Debug, Clone, Default)]
pub struct Judgement {
    pub subject: String,
    pub reference: Option<String>,
    /// Failed by the subject, passed by the reference (or, without a
    /// reference, failed), and not allowlisted: (id, detail).
    pub regressions: Vec<(String, String)>,
    /// Failed by the subject but allowlisted.
    pub allowed: Vec<String>,
    /// Allowlisted tests the subject now passes: shrink the allowlist.
    pub now_passing: Vec<String>,
    /// Allowlist patterns that match no test that ran.
    pub stale: Vec<String>,
}

impl Judgement {
    pub fn failed(&self) -> bool {
        !self.regressions.is_empty()
    }
}

/// Apply the rule: the subject regresses on a test it fails while the
/// reference passes it (without a reference: on any failure), unless the
/// allowlist names the test.
pub fn judge(
    runs: &[TargetRun],
    subject: &str,
    reference: Option<&str>,
    allow: &Allowlist,
) -> Judgement {
    let mut j = Judgement {
        subject: subject.to_string(),
        reference: reference.map(str::to_string),
        ..Default::default()
    };
    let Some(s) = runs.iter().find(|r| r.target.name == subject) else {
        return j;
    };
    let r = reference.and_then(|n| runs.iter().find(|r| r.target.name == n));
    for o in &s.outcomes {
        let allowed = allow.allows(&o.id);
        match &o.verdict {
            Verdict::Fail(detail) => {
                let counts = match r {
                    Some(r) => r.verdict(&o.id).is_some_and(Verdict::is_pass),
                    None => true,
                };
                if counts && !allowed {
                    j.regressions.push((o.id.clone(), detail.clone()));
                } else if allowed {
                    j.allowed.push(o.id.clone());
                }
            }
            Verdict::Pass if allowed => j.now_passing.push(o.id.clone()),
            _ => {}
        }
    }
    let ran: Vec<&str> = s.outcomes.iter().map(|o| o.id.as_str()).collect();
    j.stale = allow
        .patterns
        .iter()
        .filter(|p| !ran.iter().any(|id| pattern_matches(p, id)))
        .cloned()
        .collect();
    j
}

/// Per-group counts of one run: group -> (pass, fail, skip).
pub fn group_counts(run: &TargetRun) -> BTreeMap<&'static str, (usize, usize, usize)> {
    let mut m: BTreeMap<&'static str, (usize, usize, usize)> = BTreeMap::new();
    for o in &run.outcomes {
        let e = m.entry(o.group).or_default();
        match o.verdict {
            Verdict::Pass => e.0 += 1,
            Verdict::Fail(_) => e.1 += 1,
            Verdict::Skip(_) => e.2 += 1,
        }
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(name: &str, v: &[(&str, Verdict)]) -> TargetRun {
        TargetRun {
            target: Target {
                name: name.into(),
                bin: "/bin/true".into(),
            },
            outcomes: v
                .iter()
                .map(|(id, verdict)| Outcome {
                    id: id.to_string(),
                    group: "lifecycle",
                    clause: String::new(),
                    verdict: verdict.clone(),
                    elapsed: Duration::ZERO,
                })
                .collect(),
            wall: Duration::ZERO,
            features: None,
            version: String::new(),
        }
    }

    #[test]
    fn regressions_follow_the_rule() {
        let f = || Verdict::Fail("x".into());
        let keel = run(
            "keel",
            &[
                ("g/a", f()),
                ("g/b", f()),
                ("seccomp/c", f()),
                ("seccomp/d", Verdict::Pass),
                ("g/e", Verdict::Pass),
            ],
        );
        let runc = run(
            "runc",
            &[
                ("g/a", Verdict::Pass),
                ("g/b", f()),
                ("seccomp/c", Verdict::Pass),
                ("seccomp/d", Verdict::Pass),
                ("g/e", f()),
            ],
        );
        let allow = Allowlist {
            path: None,
            patterns: Allowlist::parse("# gaps\nseccomp/\ncgroups/gone # stale\n"),
        };
        let j = judge(&[keel.clone(), runc.clone()], "keel", Some("runc"), &allow);
        assert_eq!(j.regressions.len(), 1);
        assert_eq!(j.regressions[0].0, "g/a");
        assert_eq!(j.allowed, ["seccomp/c"]);
        assert_eq!(j.now_passing, ["seccomp/d"]);
        assert_eq!(j.stale, ["cgroups/gone"]);
        assert!(j.failed());
        let alone = judge(&[keel], "keel", None, &allow);
        assert_eq!(
            alone.regressions.len(),
            2,
            "without a reference every failure counts"
        );
        let fine = judge(&[runc], "runc", None, &Allowlist::default());
        assert_eq!(fine.regressions.len(), 2);
    }
}
