//! `hoist run`: docker run's flags (clap) and the call into
//! `hoist::container`. Exits with the container's status; hoist's own
//! failures exit 125, as `docker run` does.

use std::path::PathBuf;
use std::process::ExitCode;

use hoist::container::{self, options, BindMount, Cpus, MemoryBytes, NetworkMode, TmpfsMount};
use hoist::store::Store;

#[derive(clap::Args, Debug)]
#[command(trailing_var_arg = true)]
pub struct RunArgs {
    /// Remove the container directory when the container exits.
    #[arg(long)]
    rm: bool,
    /// Keep stdin open (the container reads hoist's stdin; else /dev/null).
    #[arg(short, long)]
    interactive: bool,
    /// Allocate a pseudo-TTY.
    #[arg(short, long)]
    tty: bool,
    /// Set an environment variable: K=V, or K to take it from hoist's
    /// environment; repeatable.
    #[arg(short, long = "env", value_name = "K=V")]
    env: Vec<String>,
    /// Bind mount a host path: SRC:DST[:ro]; repeatable.
    #[arg(short, long = "volume", value_name = "SRC:DST[:ro]")]
    volume: Vec<BindMount>,
    /// Mount a tmpfs: DST[:OPTIONS]; repeatable.
    #[arg(long, value_name = "DST[:OPTS]")]
    tmpfs: Vec<TmpfsMount>,
    /// `host` (default: the host's network) or `none` (loopback only).
    #[arg(long, alias = "net", default_value = "host")]
    network: NetworkMode,
    /// Memory limit, e.g. 64m or 1g.
    #[arg(short, long)]
    memory: Option<MemoryBytes>,
    /// Number of CPUs (a CFS quota), e.g. 0.5.
    #[arg(long)]
    cpus: Option<Cpus>,
    /// The container's name (default: the short id).
    #[arg(long)]
    name: Option<String>,
    /// The container's hostname (default: its name).
    #[arg(long)]
    hostname: Option<String>,
    /// The runtime: a path, or a name found next to hoist or on PATH
    /// (default keel; runc works).
    #[arg(long)]
    runtime: Option<String>,
    /// The working directory inside the container.
    #[arg(short, long)]
    workdir: Option<String>,
    /// The user: NAME|UID[:GROUP|GID].
    #[arg(short, long)]
    user: Option<String>,
    /// Overwrite the image's ENTRYPOINT ("" clears it; the image's CMD is
    /// dropped).
    #[arg(long)]
    entrypoint: Option<String>,
    /// The image to run.
    image: String,
    /// The command and its arguments (replace the image's CMD).
    #[arg(allow_hyphen_values = true)]
    command: Vec<String>,
}

/// Runs the container; `Ok` carries its exit status.
pub fn run(root: PathBuf, a: RunArgs) -> anyhow::Result<ExitCode> {
    let code = match run_inner(root, a) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("hoist: {}", crate::error_text(&e));
            125
        }
    };
    Ok(ExitCode::from(u8::try_from(code).unwrap_or(125)))
}

fn run_inner(root: PathBuf, a: RunArgs) -> anyhow::Result<i32> {
    let store = Store::open(&root)?;
    let env = options::resolve_env(&a.env, |k| std::env::var(k).ok())?;
    let opts = container::RunOptions {
        image: a.image,
        process: container::ProcessOverrides {
            entrypoint: a.entrypoint,
            command: a.command,
            env,
            user: a.user,
            workdir: a.workdir,
        },
        name: a.name,
        hostname: a.hostname,
        rm: a.rm,
        interactive: a.interactive,
        tty: a.tty,
        binds: a.volume,
        tmpfs: a.tmpfs,
        network: a.network,
        memory: a.memory,
        cpus: a.cpus,
        runtime: a.runtime,
        shim: std::env::var("HOIST_SHIM").ok().filter(|s| !s.is_empty()),
    };
    let exit = container::run(&store, &opts)?;
    Ok(exit.exit_code)
}
