//! keel-conformance: the OCI runtime conformance suite, run against one or
//! more runc-compatible runtimes side by side.
//!
//! Exit status: 0 when the subject runtime (keel, or the first one) fails no
//! test that the reference (runc) passes, outside the allowlist; 1 when it
//! does; 2 when the suite cannot run.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::{bail, Context, Result};
use clap::{Parser, ValueEnum};
use keel_conformance::harness;
use keel_conformance::suite::{self, report, runner, HostFacts, Target};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    /// TAP 13, one stream per runtime.
    Tap,
    /// A per-test table per runtime.
    Table,
    /// One table, test by test, one column per runtime.
    Compare,
    /// The comparison as markdown (docs/conformance.md).
    Markdown,
}

/// Run the OCI runtime conformance suite against runc-compatible runtimes.
#[derive(Debug, Parser)]
#[command(name = "keel-conformance", version)]
struct Cli {
    /// A runtime: NAME=PATH, a PATH, or one of the names keel, runc, crun
    /// (crun runs through hack/crun-wrapper.sh). Repeat to compare. Default:
    /// keel and runc.
    #[arg(long = "runtime", value_name = "RUNTIME")]
    runtimes: Vec<String>,
    /// Run only the tests whose id matches: a group (`seccomp`), an id
    /// prefix (`hooks/poststart`) or a substring. Repeatable.
    #[arg(long, value_name = "PATTERN")]
    filter: Vec<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    /// Cases run concurrently per runtime.
    #[arg(long, short = 'j', default_value_t = 4)]
    jobs: usize,
    /// Known gaps: tests the subject may fail while the reference passes.
    #[arg(long, value_name = "FILE")]
    allowlist: Option<PathBuf>,
    /// The runtime judged by the exit status (default: keel if given, else
    /// the first runtime).
    #[arg(long)]
    subject: Option<String>,
    /// The runtime the subject is compared with (default: runc if given).
    #[arg(long)]
    reference: Option<String>,
    /// Also write the results as JSON.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// List the tests (id and clause) and exit.
    #[arg(long)]
    list: bool,
    /// Give every runtime the view crun needs: run each call in a private
    /// mount namespace with the cgroup2 mount (/sys/fs/cgroup/unified)
    /// unmounted.
    #[arg(long)]
    same_view: bool,
    /// The keel-check binary (default: KEEL_CHECK or the static build).
    #[arg(long, value_name = "PATH")]
    checker: Option<PathBuf>,
    /// The busybox rootfs template (default: KEEL_ROOTFS or hack/out/rootfs).
    #[arg(long, value_name = "DIR")]
    rootfs: Option<PathBuf>,
    /// Print every outcome to stderr as it lands.
    #[arg(long, short)]
    verbose: bool,
}

fn resolve(spec: &str) -> Result<Target> {
    let ws = harness::workspace_dir();
    let (name, path) = match spec.split_once('=') {
        Some((n, p)) => (n.to_string(), PathBuf::from(p)),
        None => match spec {
            "keel" => (
                "keel".into(),
                std::env::var_os("KEEL_BIN")
                    .map(PathBuf::from)
                    .unwrap_or_else(|| ws.join("target/release/keel")),
            ),
            "runc" => (
                "runc".into(),
                std::env::var_os("RUNC_BIN")
                    .map(PathBuf::from)
                    .unwrap_or_else(|| "/usr/sbin/runc".into()),
            ),
            "crun" => ("crun".into(), ws.join("hack/crun-wrapper.sh")),
            p => {
                let path = PathBuf::from(p);
                let name = path
                    .file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_else(|| p.to_string());
                (name, path)
            }
        },
    };
    let bin = std::fs::canonicalize(&path)
        .with_context(|| format!("runtime {name}: {} not found", path.display()))?;
    Ok(Target { name, bin })
}

/// A script that runs `bin` in a private mount namespace without the
/// cgroup2 mount, like hack/crun-wrapper.sh does for crun.
fn same_view_wrapper(dir: &Path, t: &Target) -> Result<Target> {
    let script = dir.join(format!("{}-same-view", t.name));
    let text = format!(
        "#!/bin/sh\nexec unshare -m --propagation slave sh -c \
         'umount /sys/fs/cgroup/unified 2>/dev/null; exec \"$0\" \"$@\"' '{}' \"$@\"\n",
        t.bin.display()
    );
    std::fs::write(&script, text)?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755))?;
    Ok(Target {
        name: t.name.clone(),
        bin: script,
    })
}

fn main() {
    match real_main() {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("keel-conformance: {e:#}");
            std::process::exit(2);
        }
    }
}

fn real_main() -> Result<i32> {
    let cli = Cli::parse();
    // Nothing the runtimes start may inherit this (hooks, processes).
    std::env::set_var(runner::MARKER_ENV, "1");

    let mut cases = suite::all_cases();
    if !cli.filter.is_empty() {
        cases.retain(|c| cli.filter.iter().any(|f| c.matches(f)));
    }
    if cli.list {
        for c in &cases {
            println!("{}\t{}", c.id, c.clause);
        }
        println!("{} tests", cases.len());
        return Ok(0);
    }
    if cases.is_empty() {
        bail!("no test matches {:?}", cli.filter);
    }

    if let Some(c) = &cli.checker {
        std::env::set_var("KEEL_CHECK", c);
    }
    if let Some(r) = &cli.rootfs {
        std::env::set_var("KEEL_ROOTFS", r);
    }
    let art = harness::artifacts()?;
    // A private template per run: the bundles hard-link its files.
    let template = runner::RunTemplate::new(&art)?;

    let specs = if cli.runtimes.is_empty() {
        vec!["keel".to_string(), "runc".to_string()]
    } else {
        cli.runtimes.clone()
    };
    let mut targets = specs
        .iter()
        .map(|s| resolve(s))
        .collect::<Result<Vec<_>>>()?;
    let wrap_dir = tempfile::Builder::new()
        .prefix("keel-conf-view-")
        .tempdir()?;
    if cli.same_view {
        targets = targets
            .iter()
            .map(|t| same_view_wrapper(wrap_dir.path(), t))
            .collect::<Result<_>>()?;
    }
    let mut names: Vec<&str> = targets.iter().map(|t| t.name.as_str()).collect();
    names.sort_unstable();
    if names.windows(2).any(|w| w[0] == w[1]) {
        bail!("two runtimes share a name; use NAME=PATH");
    }

    let host = HostFacts::probe();
    let mut runs = Vec::new();
    for t in &targets {
        let done = Mutex::new(0usize);
        let total = cases.len();
        let verbose = cli.verbose;
        let progress = |o: &runner::Outcome| {
            let mut n = done.lock().unwrap_or_else(|e| e.into_inner());
            *n += 1;
            if verbose {
                let mut err = std::io::stderr().lock();
                let _ = writeln!(
                    err,
                    "[{}] {}/{} {} {} ({} ms) {}",
                    t.name,
                    *n,
                    total,
                    o.verdict.word(),
                    o.id,
                    o.elapsed.as_millis(),
                    o.verdict.detail()
                );
            }
        };
        eprintln!(
            "# running {} tests against {} ({})",
            total,
            t.name,
            t.bin.display()
        );
        let run = runner::run_target(t, &cases, &template.art, &host, cli.jobs, &progress);
        eprintln!("# {} done in {:.1}s", t.name, run.wall.as_secs_f64());
        runs.push(run);
    }

    let subject = cli.subject.clone().unwrap_or_else(|| {
        if targets.iter().any(|t| t.name == "keel") {
            "keel".into()
        } else {
            targets[0].name.clone()
        }
    });
    let reference = cli.reference.clone().or_else(|| {
        targets
            .iter()
            .find(|t| t.name == "runc" && t.name != subject)
            .map(|t| t.name.clone())
    });
    let allow = match &cli.allowlist {
        Some(p) => runner::Allowlist::load(p)?,
        None => runner::Allowlist::default(),
    };
    let judgement = runner::judge(&runs, &subject, reference.as_deref(), &allow);

    let mut out = std::io::stdout().lock();
    match cli.format {
        Format::Tap => {
            for r in &runs {
                write!(out, "{}", report::tap(r))?;
            }
        }
        Format::Table => {
            for r in &runs {
                write!(out, "{}", report::table(r))?;
            }
        }
        Format::Compare => write!(out, "{}", report::compare(&runs))?,
        Format::Markdown => write!(out, "{}", report::markdown(&runs))?,
    }
    if let Some(p) = &cli.json {
        std::fs::write(
            p,
            serde_json::to_string_pretty(&report::json(&runs, Some(&judgement)))?,
        )?;
    }
    write!(out, "{}", report::judgement_text(&judgement))?;
    for r in &runs {
        writeln!(
            out,
            "# {} wall time {:.1}s",
            r.target.name,
            r.wall.as_secs_f64()
        )?;
    }
    for r in &runs {
        writeln!(out, "{}", report::summary_line(r))?;
    }
    Ok(if judgement.failed() { 1 } else { 0 })
}
