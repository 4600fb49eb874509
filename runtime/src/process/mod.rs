//! What runs on the container side of the fork, up to `execve`.
//!
//! `keel create` forks an *intermediate* process, which enters or creates the
//! namespaces (user first, so the parent can write its id maps), then forks
//! the container's *init* (pid 1 of a new pid namespace) and exits. Init sets
//! up the rootfs and the process attributes, reports `Ready`, and blocks
//! opening `exec.fifo` until `keel start` opens the other end.
//!
//! Neither function returns: each ends in `execve` or `_exit`, and every
//! failure is sent back over the channel as text first.

pub mod capabilities;
pub mod exec;
pub mod lookup;

use std::ffi::CString;
use std::io::Write;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::fcntl::OFlag;
use nix::sched::{setns, unshare, CloneFlags};
use nix::sys::resource::{setrlimit, Resource};
use nix::sys::signal::{SigSet, SigmaskHow};
use nix::sys::stat::Mode;
use nix::unistd::{Gid, Uid};
use oci_spec::runtime::{
    IOPriorityClass, LinuxNamespaceType, LinuxPersonalityDomain, LinuxSchedulerPolicy,
    PosixRlimitType, Process, Spec,
};

use crate::channel::{Channel, ChildMsg, ParentMsg};
use crate::namespaces::{flag, Plan};
use crate::rootfs::resolve::{ensure_in_root, Kind};
use crate::rootfs::Rootfs;
use crate::sys::{self, ForkResult};
use capabilities::CapPlan;

/// A failed step inside the container, with the config field it concerns.
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error("{field}: {msg}")]
    Field { field: String, msg: String },
    #[error(transparent)]
    Mount(#[from] crate::rootfs::MountError),
    #[error(transparent)]
    Console(#[from] crate::console::ConsoleError),
    #[error(transparent)]
    Hook(#[from] crate::hooks::HookError),
    #[error(transparent)]
    Caps(#[from] capabilities::CapError),
    #[error(transparent)]
    Lookup(#[from] lookup::LookupError),
    #[error(transparent)]
    Channel(#[from] crate::channel::ChannelError),
    #[error(transparent)]
    Seccomp(#[from] crate::seccomp::Error),
    #[error("create aborted: {0}")]
    Aborted(String),
}

fn field(field: impl Into<String>, msg: impl std::fmt::Display) -> InitError {
    InitError::Field {
        field: field.into(),
        msg: msg.to_string(),
    }
}

/// Everything the container side needs, prepared by the parent before fork.
pub struct InitArgs<'a> {
    pub id: &'a str,
    pub spec: &'a Spec,
    pub bundle: &'a Path,
    pub rootfs: &'a Path,
    pub plan: &'a Plan,
    pub no_pivot: bool,
    pub no_new_keyring: bool,
    pub preserve_fds: u32,
    pub console: Option<OwnedFd>,
    /// `O_PATH` fd of exec.fifo; reopened for writing to wait for `start`.
    pub fifo: OwnedFd,
    /// The compiled seccomp filter, loaded just before execve.
    pub seccomp: Option<&'a crate::seccomp::Filter>,
    /// Connected to `linux.seccomp.listenerPath` when the filter notifies.
    pub seccomp_listener: Option<OwnedFd>,
    pub chan: Channel,
}

impl InitArgs<'_> {
    fn process(&self) -> &Process {
        self.spec
            .process()
            .as_ref()
            .expect("validated: process is present")
    }
}

/// The intermediate process. Never returns.
/// After joining or creating a user namespace: become its root (uid and
/// gid 0, which the mappings must include), as runc does before setting
/// up the container.
fn become_userns_root() -> Result<(), InitError> {
    let (root_gid, root_uid) = (Gid::from_raw(0), Uid::from_raw(0));
    nix::unistd::setresgid(root_gid, root_gid, root_gid).map_err(|e| {
        field(
            "linux.gidMappings",
            format!("container gid 0 is not mapped: {e}"),
        )
    })?;
    nix::unistd::setresuid(root_uid, root_uid, root_uid).map_err(|e| {
        field(
            "linux.uidMappings",
            format!("container uid 0 is not mapped: {e}"),
        )
    })
}

pub fn intermediate(a: InitArgs<'_>) -> ! {
    match intermediate_steps(&a) {
        Ok(ForkResult::Child) => init(a),
        Ok(ForkResult::Parent { .. }) => sys::exit_now(0),
        Err(e) => {
            let _ = a.chan.send(&ChildMsg::Error { msg: e.to_string() });
            sys::exit_now(1)
        }
    }
}

fn intermediate_steps(a: &InitArgs<'_>) -> Result<ForkResult, InitError> {
    let plan = a.plan;
    // Wait until the parent has put us in the container's cgroup.
    match a.chan.recv::<ParentMsg>()? {
        ParentMsg::Proceed { .. } => {}
        ParentMsg::Abort { msg } => return Err(InitError::Aborted(msg)),
        other => return Err(InitError::Aborted(format!("unexpected message {other:?}"))),
    }
    for j in plan
        .join
        .iter()
        .filter(|j| j.typ == LinuxNamespaceType::User)
    {
        setns(j.fd.as_fd(), CloneFlags::CLONE_NEWUSER)
            .map_err(|e| field("linux.namespaces (user path)", format!("setns: {e}")))?;
    }
    if plan.new_user {
        unshare(CloneFlags::CLONE_NEWUSER)
            .map_err(|e| field("linux.namespaces (user)", format!("unshare: {e}")))?;
        a.chan.send(&ChildMsg::WriteIdMaps {
            pid: nix::unistd::getpid().as_raw(),
        })?;
        match a.chan.recv::<ParentMsg>()? {
            ParentMsg::IdMapsWritten => {}
            ParentMsg::Abort { msg } => return Err(InitError::Aborted(msg)),
            other => return Err(InitError::Aborted(format!("unexpected message {other:?}"))),
        }
    }
    if plan.has(LinuxNamespaceType::User) {
        become_userns_root()?;
    }
    for j in plan
        .join
        .iter()
        .filter(|j| j.typ != LinuxNamespaceType::User)
    {
        setns(j.fd.as_fd(), flag(j.typ)).map_err(|e| {
            field(
                format!("linux.namespaces ({} path)", j.typ),
                format!("setns: {e}"),
            )
        })?;
    }
    unshare(plan.unshare).map_err(|e| field("linux.namespaces", format!("unshare: {e}")))?;
    if plan.new_ns(LinuxNamespaceType::Time) {
        // A uid change made us non-dumpable, which hands /proc/self to host
        // root; become dumpable again so we may write our own timens_offsets.
        let _ = nix::sys::prctl::set_dumpable(true);
        write_time_offsets(a.spec)?;
    }
    let r = sys::fork().map_err(|e| field("process", format!("fork: {e}")))?;
    if let ForkResult::Parent { child } = r {
        a.chan.send(&ChildMsg::InitPid {
            pid: child.as_raw(),
        })?;
    }
    Ok(r)
}

fn write_time_offsets(spec: &Spec) -> Result<(), InitError> {
    let Some(offsets) = spec.linux().as_ref().and_then(|l| l.time_offsets().clone()) else {
        return Ok(());
    };
    let mut text = String::new();
    for (clock, off) in &offsets {
        if clock != "monotonic" && clock != "boottime" {
            return Err(field(
                format!("linux.timeOffsets.{clock}"),
                "only monotonic and boottime can be offset",
            ));
        }
        text.push_str(&format!(
            "{clock} {} {}\n",
            off.secs().unwrap_or(0),
            off.nanosecs().unwrap_or(0)
        ));
    }
    std::fs::write("/proc/self/timens_offsets", text).map_err(|e| {
        field(
            "linux.timeOffsets",
            format!("write /proc/self/timens_offsets: {e}"),
        )
    })
}

/// The container's init. Never returns.
fn init(a: InitArgs<'_>) -> ! {
    let err = match init_steps(&a) {
        Ok(never) => match never {},
        Err(e) => e,
    };
    if a.chan
        .send(&ChildMsg::Error {
            msg: err.to_string(),
        })
        .is_err()
    {
        // The parent is gone (this is after Ready): the container's stderr
        // is the only place left to say why it will not start.
        let _ = writeln!(std::io::stderr(), "keel init: {err}");
    }
    sys::exit_now(1)
}

enum Never {}

fn init_steps(a: &InitArgs<'_>) -> Result<Never, InitError> {
    let proc_ = a.process();
    sys::default_signal_dispositions();
    nix::sys::signal::sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None)
        .map_err(|e| field("process", format!("sigprocmask: {e}")))?;
    nix::unistd::setsid().map_err(|e| field("process", format!("setsid: {e}")))?;
    // Not dumpable until execve: no process in the container may open /proc/<init>/*.
    let _ = nix::sys::prctl::set_dumpable(false);
    nix::sys::stat::umask(Mode::empty());

    let rootfs = Rootfs {
        spec: a.spec,
        rootfs: a.rootfs,
        bundle: a.bundle,
        userns: a.plan.has(LinuxNamespaceType::User),
        cgroupns: a.plan.new_ns(LinuxNamespaceType::Cgroup),
    };
    if !a.plan.has(LinuxNamespaceType::Mount) {
        return Err(field("linux.namespaces", "a mount namespace is required"));
    }
    let root = rootfs.prepare()?;
    ensure_in_root(root.as_fd(), proc_.cwd(), Kind::Dir)
        .map_err(|e| field("process.cwd", format!("{}: {e}", proc_.cwd().display())))?;

    a.chan.send(&ChildMsg::RunCreateRuntimeHooks)?;
    let state = match a.chan.recv::<ParentMsg>()? {
        ParentMsg::HooksDone { state } => state,
        ParentMsg::Abort { msg } => return Err(InitError::Aborted(msg)),
        other => return Err(InitError::Aborted(format!("unexpected message {other:?}"))),
    };
    if let Some(h) = a
        .spec
        .hooks()
        .as_ref()
        .and_then(|h| h.create_container().clone())
    {
        crate::hooks::run_hooks("createContainer", &h, &state)?;
    }

    rootfs.enter(root, a.no_pivot)?;
    set_uts(a)?;
    write_sysctls(a.spec)?;
    rootfs.protect_paths()?;
    if proc_.terminal().unwrap_or(false) {
        setup_console(a.console.as_ref(), proc_, true)?;
    }
    rootfs.finish()?;

    if !a.no_new_keyring {
        match sys::join_session_keyring(&format!("_ses.{}", a.id)) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::ENOSYS) => {}
            Err(e) => {
                return Err(field(
                    "process",
                    format!("cannot join a new session keyring: {e}; try --no-new-keyring"),
                ))
            }
        }
    }

    set_personality(a.spec)?;
    let seccomp = match a.seccomp {
        Some(filter) => Some(SeccompSetup {
            filter,
            listener: match &a.seccomp_listener {
                Some(fd) => Some(
                    fd.try_clone()
                        .map_err(|e| field("linux.seccomp.listenerPath", e))?,
                ),
                None => None,
            },
            pid: serde_json::from_str::<serde_json::Value>(&state)
                .ok()
                .and_then(|v| v["pid"].as_i64())
                .unwrap_or(0) as i32,
            state: state.clone(),
        }),
        None => None,
    };
    let prepared = prepare_exec(proc_, a.preserve_fds, seccomp)?;
    a.chan.send(&ChildMsg::Ready)?;

    // From here on the parent may be gone: errors go to the container's stderr.
    // Block until `keel start` opens the fifo for reading.
    let fifo_path = format!("/proc/self/fd/{}", a.fifo.as_raw_fd());
    let mut fifo = match std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_CLOEXEC)
        .open(&fifo_path)
    {
        Ok(f) => f,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "keel init: open exec.fifo: {e}");
            sys::exit_now(1)
        }
    };
    if let Some(h) = a
        .spec
        .hooks()
        .as_ref()
        .and_then(|h| h.start_container().clone())
    {
        if let Err(e) = crate::hooks::run_hooks("startContainer", &h, &state) {
            let _ = fifo.write_all(format!("E{e}").as_bytes());
            sys::exit_now(1);
        }
    }
    let _ = fifo.write_all(b"0");
    let e = prepared.exec();
    let _ = fifo.write_all(format!("E{e}").as_bytes());
    sys::exit_now(127)
}

/// A process ready for `execve`: every attribute applied, fds marked.
pub struct Prepared {
    program: CString,
    display: String,
    args: Vec<CString>,
    env: Vec<CString>,
}

impl Prepared {
    /// Replaces this process; returns only the reason it could not.
    pub fn exec(&self) -> String {
        let e = nix::unistd::execve(&self.program, &self.args, &self.env).unwrap_err();
        format!("exec {}: {e}", self.display)
    }
}

/// A seccomp filter to load, and where to send its notify fd.
pub struct SeccompSetup<'a> {
    pub filter: &'a crate::seccomp::Filter,
    pub listener: Option<OwnedFd>,
    /// Host pid of this process, for the listener's state message.
    pub pid: i32,
    /// The container state JSON for the listener.
    pub state: String,
}

impl SeccompSetup<'_> {
    fn load(self) -> Result<(), InitError> {
        let notify = self.filter.load()?;
        if let (Some(fd), Some(sock)) = (notify, self.listener) {
            crate::seccomp::send_to_listener(
                sock,
                fd.as_fd(),
                self.pid,
                &self.state,
                self.filter.listener_metadata(),
            )?;
        }
        Ok(())
    }
}

/// The tail shared by init and `keel exec`: cwd, program lookup, rlimits,
/// scheduling, capabilities, user, no_new_privs, seccomp, LSM labels, fds.
///
/// Seccomp goes where runc puts it: without no_new_privs it must be loaded
/// while we still have CAP_SYS_ADMIN (before dropping capabilities); with
/// it, as late as possible.
pub fn prepare_exec(
    proc_: &Process,
    preserve_fds: u32,
    seccomp: Option<SeccompSetup<'_>>,
) -> Result<Prepared, InitError> {
    let nnp = proc_.no_new_privileges().unwrap_or(false);
    let mut seccomp = seccomp;
    nix::unistd::chdir(proc_.cwd()).map_err(|e| {
        field(
            "process.cwd",
            format!("chdir {}: {e}", proc_.cwd().display()),
        )
    })?;
    check_cwd_inside()?;
    let mut env: Vec<String> = proc_.env().clone().unwrap_or_default();
    // As runc: an empty or missing HOME is the user's home in the
    // container's /etc/passwd ("/" when the uid has no entry).
    let home = env
        .iter()
        .rev()
        .find_map(|kv| kv.strip_prefix("HOME="))
        .unwrap_or("");
    if home.is_empty() {
        env.retain(|kv| !kv.starts_with("HOME="));
        env.push(format!("HOME={}", lookup::home_dir(proc_.user().uid())));
    }
    let args: Vec<String> = proc_.args().clone().unwrap_or_default();
    let first = args
        .first()
        .ok_or_else(|| field("process.args", "must name a program to run"))?;
    let program = lookup::lookup(first, lookup::path_var(&env))?;

    set_rlimits(proc_)?;
    set_scheduling(proc_)?;
    let caps = match proc_.capabilities() {
        Some(c) => Some(CapPlan::new(c)?),
        None => None,
    };
    if !nnp {
        if let Some(s) = seccomp.take() {
            s.load()?;
        }
    }
    if let Some(c) = &caps {
        c.apply_bounding()?;
    }
    set_user(proc_)?;
    if let Some(c) = &caps {
        c.apply_rest()?;
    }
    if nnp {
        nix::sys::prctl::set_no_new_privs().map_err(|e| field("process.noNewPrivileges", e))?;
    }
    crate::lsm::apply_exec_labels(
        proc_.apparmor_profile().as_deref(),
        proc_.selinux_label().as_deref(),
    )
    .map_err(|e| field("process.apparmorProfile/selinuxLabel", e))?;
    if let Some(s) = seccomp.take() {
        s.load()?;
    }

    // CVE-2024-21626: nothing but stdio and --preserve-fds crosses execve.
    sys::cloexec_from(3 + preserve_fds)
        .map_err(|e| field("process", format!("close_range: {e}")))?;
    let cstrings = |v: &[String], what: &str| -> Result<Vec<CString>, InitError> {
        v.iter()
            .map(|s| {
                CString::new(s.as_bytes())
                    .map_err(|_| field(what, format!("{s:?} contains a NUL byte")))
            })
            .collect()
    };
    Ok(Prepared {
        program: CString::new(program.as_os_str().as_bytes())
            .map_err(|_| field("process.args[0]", "contains a NUL byte"))?,
        display: program.display().to_string(),
        args: cstrings(&args, "process.args")?,
        env: cstrings(&env, "process.env")?,
    })
}

use std::os::unix::fs::OpenOptionsExt;

fn set_uts(a: &InitArgs<'_>) -> Result<(), InitError> {
    if !a.plan.has(LinuxNamespaceType::Uts) {
        if a.spec.hostname().is_some() {
            tracing::debug!("hostname set without a uts namespace; ignored");
        }
        return Ok(());
    }
    if let Some(h) = a.spec.hostname() {
        nix::unistd::sethostname(h).map_err(|e| field("hostname", e))?;
    }
    if let Some(d) = a.spec.domainname() {
        sys::set_domainname(d).map_err(|e| field("domainname", e))?;
    }
    Ok(())
}

fn write_sysctls(spec: &Spec) -> Result<(), InitError> {
    for (k, v) in spec
        .linux()
        .as_ref()
        .and_then(|l| l.sysctl().clone())
        .unwrap_or_default()
    {
        let path = PathBuf::from("/proc/sys").join(k.replace('.', "/"));
        std::fs::write(&path, v.as_bytes()).map_err(|e| {
            field(
                format!("linux.sysctl.{k}"),
                format!("write {}: {e}", path.display()),
            )
        })?;
    }
    Ok(())
}

/// Makes a pty in the container, sends its master over `console`, and
/// makes the slave our stdio and controlling terminal (and `/dev/console`
/// for init).
pub fn setup_console(
    console: Option<&OwnedFd>,
    p: &Process,
    dev_console: bool,
) -> Result<(), InitError> {
    let sock =
        console.ok_or_else(|| field("process.terminal", "a terminal needs --console-socket"))?;
    let pty = crate::console::open_pty()?;
    if let Some(size) = p.console_size() {
        sys::set_winsize(pty.slave.as_fd(), size.height() as u16, size.width() as u16)
            .map_err(|e| field("process.consoleSize", e))?;
    }
    let console = Path::new("/dev/console");
    if dev_console && !console.exists() {
        std::fs::File::create(console)
            .map_err(|e| field("process.terminal", format!("create /dev/console: {e}")))?;
    }
    if dev_console {
        nix::mount::mount(
            Some(pty.slave_path.as_str()),
            console,
            None::<&str>,
            nix::mount::MsFlags::MS_BIND,
            None::<&str>,
        )
        .map_err(|e| {
            field(
                "process.terminal",
                format!("bind {} to /dev/console: {e}", pty.slave_path),
            )
        })?;
    }
    crate::console::send_fd(sock.as_fd(), pty.master.as_fd(), &pty.slave_path)?;
    drop(pty.master);
    crate::console::attach_stdio(&pty.slave)?;
    Ok(())
}

/// CVE-2024-21626: the working directory must be inside the container's root.
fn check_cwd_inside() -> Result<(), InitError> {
    let cwd = nix::unistd::getcwd().map_err(|e| field("process.cwd", format!("getcwd: {e}")))?;
    let s = cwd.as_os_str().as_bytes();
    if s.first() != Some(&b'/') {
        return Err(field(
            "process.cwd",
            format!("{} is outside the container root", cwd.display()),
        ));
    }
    Ok(())
}

fn rlimit_resource(t: PosixRlimitType) -> Resource {
    match t {
        PosixRlimitType::RlimitCpu => Resource::RLIMIT_CPU,
        PosixRlimitType::RlimitFsize => Resource::RLIMIT_FSIZE,
        PosixRlimitType::RlimitData => Resource::RLIMIT_DATA,
        PosixRlimitType::RlimitStack => Resource::RLIMIT_STACK,
        PosixRlimitType::RlimitCore => Resource::RLIMIT_CORE,
        PosixRlimitType::RlimitRss => Resource::RLIMIT_RSS,
        PosixRlimitType::RlimitNproc => Resource::RLIMIT_NPROC,
        PosixRlimitType::RlimitNofile => Resource::RLIMIT_NOFILE,
        PosixRlimitType::RlimitMemlock => Resource::RLIMIT_MEMLOCK,
        PosixRlimitType::RlimitAs => Resource::RLIMIT_AS,
        PosixRlimitType::RlimitLocks => Resource::RLIMIT_LOCKS,
        PosixRlimitType::RlimitSigpending => Resource::RLIMIT_SIGPENDING,
        PosixRlimitType::RlimitMsgqueue => Resource::RLIMIT_MSGQUEUE,
        PosixRlimitType::RlimitNice => Resource::RLIMIT_NICE,
        PosixRlimitType::RlimitRtprio => Resource::RLIMIT_RTPRIO,
        PosixRlimitType::RlimitRttime => Resource::RLIMIT_RTTIME,
    }
}

fn set_rlimits(p: &Process) -> Result<(), InitError> {
    for (i, r) in p.rlimits().iter().flatten().enumerate() {
        let name = serde_json::to_value(r.typ())
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        setrlimit(rlimit_resource(r.typ()), r.soft(), r.hard()).map_err(|e| {
            let hint = if e == nix::Error::EPERM {
                "; raising a hard limit needs CAP_SYS_RESOURCE, which this runtime lacks: lower the hard limit"
            } else {
                ""
            };
            field(format!("process.rlimits[{i}]"), format!("setrlimit {name} (soft {}, hard {}): {e}{hint}", r.soft(), r.hard()))
        })?;
    }
    Ok(())
}

fn set_personality(spec: &Spec) -> Result<(), InitError> {
    let Some(p) = spec.linux().as_ref().and_then(|l| l.personality().clone()) else {
        return Ok(());
    };
    let persona = match p.domain() {
        LinuxPersonalityDomain::PerLinux => 0x0000,
        LinuxPersonalityDomain::PerLinux32 => 0x0008,
    };
    sys::set_personality(persona).map_err(|e| field("linux.personality", e))
}

fn set_scheduling(p: &Process) -> Result<(), InitError> {
    if let Some(s) = p.scheduler() {
        let policy = match s.policy() {
            LinuxSchedulerPolicy::SchedOther => 0,
            LinuxSchedulerPolicy::SchedFifo => 1,
            LinuxSchedulerPolicy::SchedRr => 2,
            LinuxSchedulerPolicy::SchedBatch => 3,
            LinuxSchedulerPolicy::SchedIso => 4,
            LinuxSchedulerPolicy::SchedIdle => 5,
            LinuxSchedulerPolicy::SchedDeadline => 6,
        };
        let attr = sys::SchedAttr {
            policy,
            nice: s.nice().unwrap_or(0),
            priority: s.priority().unwrap_or(0) as u32,
            runtime: s.runtime().unwrap_or(0),
            deadline: s.deadline().unwrap_or(0),
            period: s.period().unwrap_or(0),
            ..Default::default()
        };
        sys::sched_setattr(&attr)
            .map_err(|e| field("process.scheduler", format!("sched_setattr: {e}")))?;
    }
    if let Some(io) = p.io_priority() {
        let class = match io.class() {
            IOPriorityClass::IoprioClassRt => 1,
            IOPriorityClass::IoprioClassBe => 2,
            IOPriorityClass::IoprioClassIdle => 3,
        };
        sys::ioprio_set(class, io.priority() as i32)
            .map_err(|e| field("process.ioPriority", format!("ioprio_set: {e}")))?;
    }
    Ok(())
}

fn set_user(p: &Process) -> Result<(), InitError> {
    let u = p.user();
    let gids: Vec<Gid> = u
        .additional_gids()
        .iter()
        .flatten()
        .map(|g| Gid::from_raw(*g))
        .collect();
    nix::sys::prctl::set_keepcaps(true)
        .map_err(|e| field("process.user", format!("keepcaps: {e}")))?;
    // A joined user namespace may have setgroups disabled; then only an
    // empty supplementary list is possible, and it is already ours.
    let setgroups_denied = std::fs::read_to_string("/proc/self/setgroups")
        .map(|s| s.trim() == "deny")
        .unwrap_or(false);
    if setgroups_denied && !gids.is_empty() {
        return Err(field(
            "process.user.additionalGids",
            "setgroups is denied in this user namespace; remove additionalGids",
        ));
    }
    if !setgroups_denied {
        nix::unistd::setgroups(&gids)
            .map_err(|e| field("process.user.additionalGids", format!("setgroups: {e}")))?;
    }
    let gid = Gid::from_raw(u.gid());
    nix::unistd::setresgid(gid, gid, gid)
        .map_err(|e| field("process.user.gid", format!("setresgid {}: {e}", u.gid())))?;
    let uid = Uid::from_raw(u.uid());
    nix::unistd::setresuid(uid, uid, uid)
        .map_err(|e| field("process.user.uid", format!("setresuid {}: {e}", u.uid())))?;
    nix::sys::prctl::set_keepcaps(false)
        .map_err(|e| field("process.user", format!("keepcaps: {e}")))?;
    nix::sys::stat::umask(Mode::from_bits_truncate(u.umask().unwrap_or(0o022)));
    Ok(())
}

/// Opens exec.fifo as O_PATH, so init can reopen it after pivot_root.
pub fn open_fifo_path(path: &Path) -> nix::Result<OwnedFd> {
    nix::fcntl::open(path, OFlag::O_PATH | OFlag::O_CLOEXEC, Mode::empty())
}
