//! `keel`: parses runc's command line and calls the runtime library.

mod cli;
mod log;

/// `println!` that treats a closed stdout (`keel state X | head -1`) as
/// done, not as a panic.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let mut o = std::io::stdout().lock();
        if let Err(e) = writeln!(o, $($arg)*).and_then(|()| o.flush()) {
            if e.kind() != std::io::ErrorKind::BrokenPipe {
                return Err(e.into());
            }
        }
    }};
}

use std::io::Write;
use std::process::ExitCode;
use std::sync::Mutex;

use anyhow::{bail, Context as _};
use clap::Parser;
use keel_runtime::container::{self, create::ConsoleTarget, Globals};
use tracing::Level;
use tracing_subscriber::layer::SubscriberExt;

use cli::{Cli, Command, CreateArgs, ListFormat, Rootless};

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { 1 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let to_stderr = cli.log.is_none();
    // As runc: a failed `exec` exits 255, so that it cannot be mistaken for
    // the exit status of the process it was asked to run.
    let fail_code = if matches!(cli.command, Some(Command::Exec(_))) {
        255
    } else {
        1
    };
    if let Err(msg) = install_logger(&cli) {
        eprintln!("{msg}");
        return ExitCode::from(1);
    }
    match dispatch(cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            let msg = error_text(&e);
            tracing::error!("{msg}");
            if !to_stderr {
                eprintln!("{msg}");
            }
            ExitCode::from(fail_code)
        }
    }
}

/// The error and its causes on one line, skipping causes the message already quotes.
fn error_text(e: &anyhow::Error) -> String {
    let mut msg = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if !msg.contains(&text) {
            if !msg.is_empty() {
                msg.push_str(": ");
            }
            msg.push_str(&text);
        }
    }
    msg.replace('\n', " ")
}

fn install_logger(cli: &Cli) -> Result<(), String> {
    let out: Box<dyn Write + Send> = match &cli.log {
        None => Box::new(std::io::stderr()),
        Some(p) => Box::new(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
                .map_err(|e| format!("cannot open --log {}: {e}", p.display()))?,
        ),
    };
    let layer = log::RuncLog {
        out: Mutex::new(out),
        format: cli.log_format,
        max: if cli.debug { Level::DEBUG } else { Level::INFO },
    };
    let _ = tracing::subscriber::set_global_default(tracing_subscriber::registry().with(layer));
    Ok(())
}

fn check_cgroup_flags(cli: &Cli) -> anyhow::Result<()> {
    if cli.rootless == Rootless::True
        || (cli.rootless == Rootless::Auto && !nix::unistd::geteuid().is_root())
    {
        bail!("rootless containers are not supported yet: run keel as root (--rootless)");
    }
    if cli.systemd_cgroup {
        let pid1 = std::fs::read_to_string("/proc/1/comm").unwrap_or_default();
        if pid1.trim() != "systemd" {
            bail!(
                "--systemd-cgroup: systemd is not running (PID 1 is {:?}); drop the flag to use cgroupfs",
                pid1.trim()
            );
        }
        bail!("--systemd-cgroup: the systemd cgroup driver is not implemented yet; drop the flag");
    }
    Ok(())
}

fn create_opts(a: CreateArgs) -> anyhow::Result<container::create::CreateOpts> {
    if a.pidfd_socket.is_some() {
        bail!("--pidfd-socket is not supported yet");
    }
    Ok(container::create::CreateOpts {
        id: a.id,
        bundle: a.bundle,
        pid_file: a.pid_file.map(|p| std::path::absolute(&p).unwrap_or(p)),
        console: a.console_socket.map(ConsoleTarget::Path),
        no_pivot: a.no_pivot,
        no_new_keyring: a.no_new_keyring,
        // Socket activation, as runc: $LISTEN_FDS fds after stdio are passed too.
        preserve_fds: a.preserve_fds
            + std::env::var("LISTEN_FDS")
                .ok()
                .and_then(|v| v.parse::<u32>().ok())
                .unwrap_or(0),
    })
}

fn dispatch(mut cli: Cli) -> anyhow::Result<u8> {
    if cli.version {
        out!("keel version {}\nspec: 1.1.0", env!("CARGO_PKG_VERSION"));
        return Ok(0);
    }
    let Some(command) = cli.command.take() else {
        use clap::CommandFactory;
        let _ = Cli::command().print_help();
        return Ok(0);
    };
    let g = Globals {
        root: cli.root.clone(),
    };
    if matches!(
        command,
        Command::Create(_) | Command::Run { .. } | Command::Exec(_)
    ) {
        check_cgroup_flags(&cli)?;
        // CVE-2019-5736: never let a container reach our writable binary.
        keel_runtime::seal::ensure_sealed()?;
    }
    match command {
        Command::Create(a) => {
            container::create::create(&g, create_opts(a)?)?;
        }
        Command::Run {
            create,
            detach,
            keep,
            no_subreaper,
        } => {
            let code = container::run::run(
                &g,
                container::run::RunOpts {
                    create: create_opts(create)?,
                    detach,
                    keep,
                    no_subreaper,
                },
            )?;
            return Ok(code.clamp(0, 255) as u8);
        }
        Command::Exec(a) => {
            if a.pidfd_socket.is_some() {
                bail!("--pidfd-socket is not supported yet");
            }
            let code = container::exec::exec(
                &g,
                container::exec::ExecOpts {
                    id: a.id,
                    process_file: a.process,
                    args: a.command,
                    tty: a.tty,
                    console: a.console_socket.map(ConsoleTarget::Path),
                    detach: a.detach,
                    pid_file: a.pid_file.map(|p| std::path::absolute(&p).unwrap_or(p)),
                    env: a.env,
                    cwd: a.cwd,
                    user: a.user,
                    additional_gids: a.additional_gids,
                    caps: a.cap,
                    no_new_privs: a.no_new_privs,
                    apparmor: a.apparmor,
                    process_label: a.process_label,
                    preserve_fds: a.preserve_fds,
                    ignore_paused: a.ignore_paused,
                    cgroup: a.cgroup,
                },
            )?;
            return Ok(code.clamp(0, 255) as u8);
        }
        Command::Start { id } => container::start::start(&g, &id)?,
        Command::State { id } => out!("{}", container::state_json(&g, &id)?),
        Command::Kill { all, id, signal } => container::kill::kill(&g, &id, &signal, all)?,
        Command::Delete { force, id } => container::delete::delete(&g, &id, force)?,
        Command::List { format, quiet } => {
            let docs = container::list::list(&g)?;
            if quiet {
                for d in &docs {
                    out!("{}", d.id);
                }
            } else if format == ListFormat::Json {
                if docs.is_empty() {
                    out!("null");
                } else {
                    out!("{}", serde_json::to_string(&docs)?);
                }
            } else {
                out!("{}", container::list::table(&docs).trim_end());
            }
        }
        Command::Pause { id } => container::pause::pause(&g, &id)?,
        Command::Resume { id } => container::pause::resume(&g, &id)?,
        Command::Ps {
            format,
            id,
            ps_args,
        } => {
            let pids = container::ps::pids(&g, &id)?;
            if format == ListFormat::Json {
                out!("{}", serde_json::to_string(&pids)?);
            } else {
                out!("{}", container::ps::table(&pids, &ps_args)?.trim_end());
            }
        }
        Command::Update(a) => {
            let a = *a;
            container::update::update(
                &g,
                &a.id,
                &container::update::UpdateOpts {
                    resources: a.resources,
                    memory: a.memory,
                    memory_swap: a.memory_swap,
                    memory_reservation: a.memory_reservation,
                    kernel_memory: a.kernel_memory,
                    kernel_memory_tcp: a.kernel_memory_tcp,
                    cpu_shares: a.cpu_shares,
                    cpu_quota: a.cpu_quota,
                    cpu_period: a.cpu_period,
                    cpu_rt_period: a.cpu_rt_period,
                    cpu_rt_runtime: a.cpu_rt_runtime,
                    cpuset_cpus: a.cpuset_cpus,
                    cpuset_mems: a.cpuset_mems,
                    pids_limit: a.pids_limit,
                    blkio_weight: a.blkio_weight,
                },
            )?;
        }
        Command::Events {
            stats,
            interval,
            id,
        } => {
            let interval = container::events::parse_interval(&interval)?;
            container::events::events(&g, &id, stats, interval, &mut std::io::stdout())?;
        }
        Command::Features => out!(
            "{}",
            serde_json::to_string_pretty(&keel_runtime::features::features())?
        ),
        Command::Spec { bundle, rootless } => {
            let dir = bundle.unwrap_or_else(|| ".".into());
            keel_runtime::spec::write_spec(&dir, rootless)
                .with_context(|| format!("spec in {}", dir.display()))?;
        }
    }
    Ok(0)
}
