//! keel's command line: runc's commands and flag names, parsed with clap.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "keel",
    about = "keel: an OCI container runtime, a drop-in for runc",
    disable_version_flag = true,
    infer_subcommands = false
)]
pub struct Cli {
    /// Root directory for storage of container state (this should be located in tmpfs).
    #[arg(long, global = true, default_value = "/run/keel")]
    pub root: PathBuf,
    /// Set the log file to write keel's logs to (default is stderr).
    #[arg(long, global = true)]
    pub log: Option<PathBuf>,
    /// Set the log format ('text' (default), or 'json').
    #[arg(long = "log-format", global = true, value_enum, default_value = "text")]
    pub log_format: LogFormat,
    /// Enable debug logging.
    #[arg(long, global = true)]
    pub debug: bool,
    /// Enable systemd cgroup support, expects cgroupsPath to be of form "slice:prefix:name".
    #[arg(long = "systemd-cgroup")]
    pub systemd_cgroup: bool,
    /// Ignore cgroup permission errors ('true', 'false', or 'auto').
    #[arg(long, value_enum, default_value = "auto")]
    pub rootless: Rootless,
    /// Print the version.
    #[arg(short = 'v', long = "version")]
    pub version: bool,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Rootless {
    Auto,
    True,
    False,
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Path to the root of the bundle directory, defaults to the current directory.
    #[arg(short = 'b', long, default_value = ".")]
    pub bundle: PathBuf,
    /// Path to an AF_UNIX socket which will receive a file descriptor referencing the master end of the console's pseudoterminal.
    #[arg(long = "console-socket")]
    pub console_socket: Option<PathBuf>,
    /// Path to an AF_UNIX socket which will receive a file descriptor referencing the init process.
    #[arg(long = "pidfd-socket")]
    pub pidfd_socket: Option<PathBuf>,
    /// Specify the file to write the process id to.
    #[arg(long = "pid-file")]
    pub pid_file: Option<PathBuf>,
    /// Do not use pivot root to jail process inside rootfs.
    #[arg(long = "no-pivot")]
    pub no_pivot: bool,
    /// Do not create a new session keyring for the container.
    #[arg(long = "no-new-keyring")]
    pub no_new_keyring: bool,
    /// Pass N additional file descriptors to the container (stdio + $LISTEN_FDS + N in total).
    #[arg(long = "preserve-fds", default_value_t = 0)]
    pub preserve_fds: u32,
    /// The container id.
    pub id: String,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a container.
    Create(CreateArgs),
    /// Create and run a container.
    Run {
        #[command(flatten)]
        create: CreateArgs,
        /// Detach from the container's process.
        #[arg(short = 'd', long)]
        detach: bool,
        /// Do not delete the container after it exits.
        #[arg(long)]
        keep: bool,
        /// Disable the use of the subreaper used to reap reparented processes.
        #[arg(long = "no-subreaper")]
        no_subreaper: bool,
    },
    /// Execute new process inside the container.
    Exec(Box<ExecArgs>),
    /// Execute the process defined in config.json of a created container.
    Start { id: String },
    /// Output the state of a container.
    State { id: String },
    /// Send the specified signal (default: SIGTERM) to the container's init process.
    Kill {
        /// Send the specified signal to all processes inside the container.
        #[arg(short = 'a', long)]
        all: bool,
        id: String,
        #[arg(default_value = "SIGTERM")]
        signal: String,
    },
    /// Delete any resources held by the container, often used with detached containers.
    Delete {
        /// Forcibly delete the container if it is still running (uses SIGKILL).
        #[arg(short = 'f', long)]
        force: bool,
        id: String,
    },
    /// Lists containers started by keel with the given root.
    List {
        /// Select one of: table or json.
        #[arg(short = 'f', long, value_enum, default_value = "table")]
        format: ListFormat,
        /// Display only container IDs.
        #[arg(short = 'q', long)]
        quiet: bool,
    },
    /// Show the enabled features.
    Features,
    /// Suspend all processes inside the container.
    Pause { id: String },
    /// Resume all processes that have been previously paused.
    Resume { id: String },
    /// Display the processes running inside a container.
    Ps {
        /// Select one of: table or json.
        #[arg(short = 'f', long, value_enum, default_value = "table")]
        format: ListFormat,
        id: String,
        /// Options passed to ps (default -ef).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        ps_args: Vec<String>,
    },
    /// Update container resource constraints.
    Update(Box<UpdateArgs>),
    /// Display container events such as OOM notifications, cpu, memory, and IO usage statistics.
    Events {
        /// Display the container's stats then exit.
        #[arg(long)]
        stats: bool,
        /// Set the stats collection interval.
        #[arg(long, default_value = "5s")]
        interval: String,
        id: String,
    },
    /// Create a new specification file.
    Spec {
        /// Path to the root of the bundle directory.
        #[arg(short = 'b', long)]
        bundle: Option<PathBuf>,
        /// Generate a configuration for a rootless container.
        #[arg(long)]
        rootless: bool,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ListFormat {
    Table,
    Json,
}

#[derive(Debug, Args)]
pub struct ExecArgs {
    /// Path to the process.json.
    #[arg(short = 'p', long)]
    pub process: Option<PathBuf>,
    /// Allocate a pseudo-TTY.
    #[arg(short = 't', long)]
    pub tty: bool,
    /// Path to an AF_UNIX socket which will receive a file descriptor referencing the master end of the console's pseudoterminal.
    #[arg(long = "console-socket")]
    pub console_socket: Option<PathBuf>,
    /// Path to an AF_UNIX socket which will receive a file descriptor referencing the exec process.
    #[arg(long = "pidfd-socket")]
    pub pidfd_socket: Option<PathBuf>,
    /// Detach from the container's process.
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Specify the file to write the process id to.
    #[arg(long = "pid-file")]
    pub pid_file: Option<PathBuf>,
    /// Set environment variables.
    #[arg(short = 'e', long = "env")]
    pub env: Vec<String>,
    /// Current working directory in the container.
    #[arg(long)]
    pub cwd: Option<PathBuf>,
    /// UID (format: <uid>[:<gid>]).
    #[arg(short = 'u', long)]
    pub user: Option<String>,
    /// Additional gids.
    #[arg(short = 'g', long = "additional-gids")]
    pub additional_gids: Vec<u32>,
    /// Add a capability to the bounding set for the process.
    #[arg(short = 'c', long = "cap")]
    pub cap: Vec<String>,
    /// Set the no new privileges value for the process.
    #[arg(long = "no-new-privs")]
    pub no_new_privs: bool,
    /// Set the apparmor profile for the process.
    #[arg(long)]
    pub apparmor: Option<String>,
    /// Set the asm process label for the process commonly used with selinux.
    #[arg(long = "process-label")]
    pub process_label: Option<String>,
    /// Pass N additional file descriptors to the container.
    #[arg(long = "preserve-fds", default_value_t = 0)]
    pub preserve_fds: u32,
    /// Allow exec in a paused container.
    #[arg(long = "ignore-paused")]
    pub ignore_paused: bool,
    /// Run the process in an (existing) sub-cgroup(s). Format is [<controller>:]<cgroup>.
    #[arg(long)]
    pub cgroup: Vec<String>,
    /// The container id.
    pub id: String,
    /// The command and its arguments.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

#[derive(Debug, Args)]
pub struct UpdateArgs {
    /// Path to a file containing the resources to update or '-' to read from the standard input.
    #[arg(short = 'r', long)]
    pub resources: Option<PathBuf>,
    /// Memory limit (in bytes).
    #[arg(long, allow_hyphen_values = true)]
    pub memory: Option<String>,
    /// Total memory usage (memory + swap); set '-1' to enable unlimited swap.
    #[arg(long = "memory-swap", allow_hyphen_values = true)]
    pub memory_swap: Option<String>,
    /// Memory reservation or soft_limit (in bytes).
    #[arg(long = "memory-reservation", allow_hyphen_values = true)]
    pub memory_reservation: Option<String>,
    /// (Obsoleted; do not use) Kernel memory limit (in bytes).
    #[arg(long = "kernel-memory", allow_hyphen_values = true)]
    pub kernel_memory: Option<String>,
    /// (Obsoleted; do not use) Kernel memory limit (in bytes) for tcp buffer.
    #[arg(long = "kernel-memory-tcp", allow_hyphen_values = true)]
    pub kernel_memory_tcp: Option<String>,
    /// CPU shares (relative weight vs. other containers).
    #[arg(long = "cpu-share", alias = "cpu-shares")]
    pub cpu_shares: Option<u64>,
    /// CPU CFS hardcap limit (in usecs). Allowed cpu time in a given period.
    #[arg(long = "cpu-quota", allow_hyphen_values = true)]
    pub cpu_quota: Option<i64>,
    /// CPU CFS period to be used for hardcapping (in usecs). 0 to use system default.
    #[arg(long = "cpu-period")]
    pub cpu_period: Option<u64>,
    /// CPU realtime period to be used for hardcapping (in usecs).
    #[arg(long = "cpu-rt-period")]
    pub cpu_rt_period: Option<u64>,
    /// CPU realtime hardcap limit (in usecs). Allowed cpu time in a given period.
    #[arg(long = "cpu-rt-runtime", allow_hyphen_values = true)]
    pub cpu_rt_runtime: Option<i64>,
    /// CPU(s) to use.
    #[arg(long = "cpuset-cpus")]
    pub cpuset_cpus: Option<String>,
    /// Memory node(s) to use.
    #[arg(long = "cpuset-mems")]
    pub cpuset_mems: Option<String>,
    /// Maximum number of pids allowed in the container.
    #[arg(long = "pids-limit", allow_hyphen_values = true)]
    pub pids_limit: Option<i64>,
    /// Specifies per cgroup weight, range is from 10 to 1000.
    #[arg(long = "blkio-weight")]
    pub blkio_weight: Option<u16>,
    /// The container id.
    pub id: String,
}
