//! `keel-shim run`: supervise one container through a runc-compatible
//! runtime and exit with its status. The CLI only parses flags, sets up a
//! tiny log sink, and calls `keel_shim::run`.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use clap::{Parser, Subcommand};
use keel_shim::{ResultDoc, RunConfig, Runtime, EXIT_SHIM_ERROR};

#[derive(Parser, Debug)]
#[command(
    name = "keel-shim",
    version,
    about = "Supervise one container through a runc-compatible runtime"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Create, start and wait for a container, then delete it. Exits with
    /// the container's status (128+N for signal N), 124 after --timeout,
    /// 125 if the shim or runtime failed.
    Run(RunArgs),
}

#[derive(clap::Args, Debug)]
struct RunArgs {
    /// The runtime binary (default: `keel` next to keel-shim, else on PATH).
    #[arg(long, value_name = "PATH")]
    runtime: Option<PathBuf>,
    /// The runtime's state root (its `--root`).
    #[arg(long, value_name = "DIR")]
    runtime_root: Option<PathBuf>,
    /// The bundle directory.
    #[arg(long, short = 'b', value_name = "DIR", default_value = ".")]
    bundle: PathBuf,
    /// Require a terminal (the bundle's process.terminal must be true).
    #[arg(long, short = 't')]
    tty: bool,
    /// Kill the container after this many seconds (exit code 124).
    #[arg(long, value_name = "SECS", value_parser = parse_secs)]
    timeout: Option<Duration>,
    /// Seconds between forwarding SIGINT/SIGTERM and killing the container.
    #[arg(long, value_name = "SECS", value_parser = parse_secs, default_value = "10")]
    grace: Duration,
    /// Write a JSON result (id, pid, exit_code, signal, oom_killed,
    /// timed_out, shim_exit_code, error) here.
    #[arg(long, value_name = "FILE")]
    result: Option<PathBuf>,
    /// Write the shim's log here (default: warnings on stderr).
    #[arg(long, value_name = "FILE")]
    log: Option<PathBuf>,
    /// Log debug details.
    #[arg(long)]
    debug: bool,
    /// The container id.
    id: String,
}

fn parse_secs(s: &str) -> Result<Duration, String> {
    s.parse::<f64>()
        .ok()
        .filter(|v| v.is_finite() && *v >= 0.0)
        .map(Duration::from_secs_f64)
        .ok_or_else(|| format!("{s:?} is not a number of seconds (e.g. 10 or 0.5)"))
}

fn main() {
    let cli = Cli::parse();
    let Cmd::Run(a) = cli.cmd;
    std::process::exit(run(a));
}

fn run(a: RunArgs) -> i32 {
    if let Err(e) = init_log(a.log.as_ref(), a.debug) {
        eprintln!("keel-shim: cannot open --log {}: {e}", show(a.log.as_ref()));
        return EXIT_SHIM_ERROR;
    }
    let runtime = Runtime::new(
        a.runtime.unwrap_or_else(keel_shim::default_runtime),
        a.runtime_root,
    );
    let mut cfg = RunConfig::new(a.id.clone(), a.bundle, runtime);
    cfg.require_tty = a.tty;
    cfg.timeout = a.timeout;
    cfg.grace = a.grace;
    let (code, doc_err) = match keel_shim::run(&cfg) {
        Ok(o) => {
            if o.oom_killed {
                eprintln!(
                    "keel-shim: container {}: a process was OOM-killed (the memory limit was reached); raise linux.resources.memory.limit if this is not expected",
                    o.id
                );
            }
            if let Some(keel_shim::Stopped::Timeout) = o.stopped {
                eprintln!("keel-shim: container {}: killed after --timeout", o.id);
            }
            if let Some(path) = &a.result {
                write_result(path, &ResultDoc::from_outcome(&o));
            }
            return o.exit_code();
        }
        Err(e) => (e.exit_code(), e.to_string()),
    };
    eprintln!("keel-shim: {doc_err}");
    if let Some(path) = &a.result {
        write_result(path, &ResultDoc::from_error(&a.id, code, doc_err));
    }
    code
}

fn write_result(path: &std::path::Path, doc: &ResultDoc<'_>) {
    if let Err(e) = doc.write(path) {
        eprintln!("keel-shim: cannot write --result {}: {e}", path.display());
    }
}

fn show(p: Option<&PathBuf>) -> String {
    p.map(|p| p.display().to_string()).unwrap_or_default()
}

/// A minimal tracing sink: one line per event, to the --log file (info,
/// or debug with --debug) or to stderr (warnings and errors only).
struct LineLog {
    out: Mutex<Box<dyn Write + Send>>,
    max: tracing::Level,
}

fn init_log(file: Option<&PathBuf>, debug: bool) -> std::io::Result<()> {
    let (out, max): (Box<dyn Write + Send>, _) = match file {
        Some(p) => (
            Box::new(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(p)?,
            ),
            if debug {
                tracing::Level::DEBUG
            } else {
                tracing::Level::INFO
            },
        ),
        None => (
            Box::new(std::io::stderr()),
            if debug {
                tracing::Level::DEBUG
            } else {
                tracing::Level::WARN
            },
        ),
    };
    let _ = tracing::subscriber::set_global_default(LineLog {
        out: Mutex::new(out),
        max,
    });
    Ok(())
}

struct Fields(String);

impl tracing::field::Visit for Fields {
    fn record_debug(&mut self, f: &tracing::field::Field, v: &dyn std::fmt::Debug) {
        use std::fmt::Write as _;
        if f.name() == "message" {
            let _ = write!(self.0, " {v:?}");
        } else {
            let _ = write!(self.0, " {}={v:?}", f.name());
        }
    }
    fn record_str(&mut self, f: &tracing::field::Field, v: &str) {
        use std::fmt::Write as _;
        if f.name() == "message" {
            let _ = write!(self.0, " {v}");
        } else {
            let _ = write!(self.0, " {}={v}", f.name());
        }
    }
}

impl tracing::Subscriber for LineLog {
    fn enabled(&self, m: &tracing::Metadata<'_>) -> bool {
        *m.level() <= self.max
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, e: &tracing::Event<'_>) {
        let mut f = Fields(String::new());
        e.record(&mut f);
        if let Ok(mut out) = self.out.lock() {
            let _ = writeln!(
                out,
                "keel-shim[{}]: {}{}",
                std::process::id(),
                e.metadata().level().as_str().to_ascii_lowercase(),
                f.0
            );
        }
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}
