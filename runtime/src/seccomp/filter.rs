//! [`Filter`]: `linux.seccomp` validated and compiled to a BPF program
//! (in the runtime's parent), then loaded with one system call (in the
//! container, right before `execve`).
//!
//! Semantics kept from runc, on purpose:
//! - a syscall name libseccomp does not know on this architecture is skipped
//!   with a warning, not an error (profiles list syscalls of newer kernels
//!   and of other architectures);
//! - a rule whose action equals the default action is dropped (libseccomp
//!   refuses it, and it changes nothing);
//! - `args`: when every condition of an entry names a different argument
//!   index, the conditions form one rule and must *all* match; when two or
//!   more name the same index, each condition becomes a rule of its own, so
//!   *any* one matching triggers the action (runc keeps this "old
//!   behaviour" for compatibility; libseccomp itself refuses two conditions
//!   on one argument in a single rule);
//! - `SCMP_ACT_KILL` is `SCMP_ACT_KILL_THREAD`; `errnoRet` defaults to EPERM;
//! - `SECCOMP_FILTER_FLAG_TSYNC` is accepted and needs nothing: the filter is
//!   loaded by a single-threaded process;
//! - `SCMP_ACT_NOTIFY` cannot be the default action.
//!
//! Where keel is stricter, because the spec says so: `errnoRet` or
//! `defaultErrnoRet` on an action that returns no errno, an empty `names`,
//! an argument index above 5, `listenerMetadata` without `listenerPath`, and
//! `SCMP_ACT_NOTIFY` without `listenerPath` are errors. `SCMP_ACT_NOTIFY` on
//! `sendmsg` is refused too: keel sends the notify fd with `sendmsg` after
//! loading, so that rule would block the runtime forever (runc refuses
//! `write` for the same reason).

use std::fmt;
use std::io::{Read, Seek, SeekFrom};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use libseccomp::{ScmpArgCompare, ScmpFilterContext, ScmpSyscall};
use oci_spec::runtime::{LinuxSeccomp, LinuxSeccompAction, LinuxSyscall};

use super::tables::{self, word};
use super::{cache, invalid, sys, Error, Result};

/// The kernel's limit on one filter (`BPF_MAXINSNS`).
const MAX_INSTRUCTIONS: usize = 4096;

/// Syscalls keel itself makes between loading the filter and handing the
/// notify fd to the agent; notifying them would deadlock.
const NOTIFY_FORBIDDEN: &[&str] = &["sendmsg"];

/// A syscall has at most six arguments.
const MAX_ARGS: usize = 6;

/// A compiled seccomp profile, ready to load.
pub struct Filter {
    program: Vec<libc::sock_filter>,
    flags: libc::c_ulong,
    notify: bool,
    listener_path: Option<PathBuf>,
    listener_metadata: Option<String>,
    skipped: Vec<String>,
}

impl fmt::Debug for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Filter")
            .field("instructions", &self.program.len())
            .field("flags", &self.flags)
            .field("notify", &self.notify)
            .field("listener_path", &self.listener_path)
            .field("skipped", &self.skipped)
            .finish()
    }
}

impl Filter {
    /// Validates `linux.seccomp` and compiles it to a BPF program.
    ///
    /// Call it once per `create` (or `exec`) in the runtime, before forking.
    /// Unknown syscall names are skipped with one `warn` event; a flag this
    /// kernel lacks is dropped with a `warn` event, as runc does.
    pub fn compile(s: &LinuxSeccomp) -> Result<Filter> {
        validate(s)?;
        check_kernel_actions(s)?;
        let (program, skipped) = generate(s)?;
        Ok(Filter::assemble(s, program, skipped))
    }

    /// [`Filter::compile`], but reusing the program generated earlier for
    /// the same profile, libseccomp and keel, kept in `dir` (one small file
    /// per distinct profile; `dir` must be writable by root only, as keel's
    /// `--root` is). Validation still runs every time; a cache that cannot
    /// be read or written only costs the time of a fresh compile.
    pub fn compile_cached(s: &LinuxSeccomp, dir: &Path) -> Result<Filter> {
        validate(s)?;
        check_kernel_actions(s)?;
        let key = cache::key(s);
        if let Some((program, skipped)) = key.as_deref().and_then(|k| cache::read(dir, k)) {
            return Ok(Filter::assemble(s, program, skipped));
        }
        let (program, skipped) = generate(s)?;
        if let Some(k) = &key {
            cache::write(dir, k, &program, &skipped);
        }
        Ok(Filter::assemble(s, program, skipped))
    }

    fn assemble(s: &LinuxSeccomp, program: Vec<libc::sock_filter>, skipped: Vec<String>) -> Filter {
        let notify = s
            .syscalls()
            .iter()
            .flatten()
            .any(|c| c.action() == LinuxSeccompAction::ScmpActNotify);
        if !skipped.is_empty() {
            tracing::warn!(
                "linux.seccomp.syscalls: skipped {} syscall name(s) that libseccomp {} does not know on this architecture: {}",
                skipped.len(),
                super::libseccomp_version(),
                skipped.join(", ")
            );
        }
        Filter {
            program,
            flags: load_flags(s, notify),
            notify,
            listener_path: s.listener_path().clone(),
            listener_metadata: s.listener_metadata().clone(),
            skipped,
        }
    }

    /// Loads the filter into the calling thread, for it and every process it
    /// becomes by `execve`. Returns the notify fd when a rule uses
    /// `SCMP_ACT_NOTIFY`.
    ///
    /// Needs `no_new_privs` (set it first) or `CAP_SYS_ADMIN`. Makes one
    /// system call and allocates nothing, so it is safe right after a fork.
    /// Loading twice stacks a second copy of the filter.
    pub fn load(&self) -> Result<Option<OwnedFd>> {
        let mut flags = self.flags;
        if self.notify {
            flags |= libc::SECCOMP_FILTER_FLAG_NEW_LISTENER;
        }
        sys::set_mode_filter(&self.program, flags).map_err(|source| Error::Load {
            hint: load_hint(&source),
            source,
        })
    }

    /// Whether a rule uses `SCMP_ACT_NOTIFY`, so [`Filter::load`] returns a
    /// notify fd that must go to [`Filter::listener_path`].
    pub fn uses_notify(&self) -> bool {
        self.notify
    }

    /// `linux.seccomp.listenerPath` (set whenever [`Filter::uses_notify`]).
    pub fn listener_path(&self) -> Option<&Path> {
        self.listener_path.as_deref()
    }

    /// `linux.seccomp.listenerMetadata`, the opaque string for the agent.
    pub fn listener_metadata(&self) -> Option<&str> {
        self.listener_metadata.as_deref()
    }

    /// The number of BPF instructions.
    pub fn instructions(&self) -> usize {
        self.program.len()
    }

    /// Syscall names that were skipped because libseccomp does not know them.
    pub fn skipped_syscalls(&self) -> &[String] {
        &self.skipped
    }
}

/// Builds the rules with libseccomp and has it generate the BPF program.
/// Returns the program and the syscall names libseccomp does not know.
///
/// The program is a linear list (libseccomp's default), not the binary tree
/// runc asks for: generating the tree costs about 3 ms more per create for
/// Docker's profile, and since Linux 5.11 the kernel's per-syscall action
/// cache skips the filter for syscalls that are always allowed, so the
/// tree's run-time gain is small.
fn generate(s: &LinuxSeccomp) -> Result<(Vec<libc::sock_filter>, Vec<String>)> {
    let default = tables::action(s.default_action(), s.default_errno_ret());
    let mut ctx = ScmpFilterContext::new(default).map_err(|e| Error::Libseccomp {
        field: "linux.seccomp.defaultAction".into(),
        hint: "use another default action",
        source: e,
    })?;
    for (i, a) in s.architectures().iter().flatten().enumerate() {
        ctx.add_arch(tables::arch(*a))
            .map_err(|e| Error::Libseccomp {
                field: format!("linux.seccomp.architectures[{i}]"),
                hint: "this libseccomp does not support that architecture, or it cannot share a filter with the others (big- and little-endian ones cannot mix); remove it",
                source: e,
            })?;
    }
    let mut skipped = Vec::new();
    for (i, call) in s.syscalls().iter().flatten().enumerate() {
        add_rules(&mut ctx, i, call, default, &mut skipped)?;
    }
    let program = export(&ctx)?;
    if program.len() > MAX_INSTRUCTIONS {
        return Err(invalid(
            "linux.seccomp",
            format!(
                "the profile compiles to {} BPF instructions, above the kernel's limit of {MAX_INSTRUCTIONS}; list fewer syscalls or architectures",
                program.len()
            ),
        ));
    }
    Ok((program, skipped))
}

/// Checks everything that needs neither libseccomp nor the kernel.
pub(crate) fn validate(s: &LinuxSeccomp) -> Result<()> {
    let default = s.default_action();
    if default == LinuxSeccompAction::ScmpActNotify {
        return Err(invalid(
            "linux.seccomp.defaultAction",
            "SCMP_ACT_NOTIFY cannot be the default action: every syscall, the runtime's own included, would wait for the agent; notify only the syscalls the agent handles",
        ));
    }
    check_errno(
        "linux.seccomp.defaultErrnoRet",
        default,
        s.default_errno_ret(),
    )?;
    if s.listener_metadata().is_some() && s.listener_path().is_none() {
        return Err(invalid(
            "linux.seccomp.listenerMetadata",
            "is set without listenerPath; set listenerPath or remove listenerMetadata",
        ));
    }
    for (i, call) in s.syscalls().iter().flatten().enumerate() {
        let at = format!("linux.seccomp.syscalls[{i}]");
        if call.names().is_empty() {
            return Err(invalid(
                format!("{at}.names"),
                "is empty; list at least one syscall name",
            ));
        }
        for (j, name) in call.names().iter().enumerate() {
            if name.is_empty() {
                return Err(invalid(
                    format!("{at}.names[{j}]"),
                    "is an empty string; give a syscall name",
                ));
            }
        }
        check_errno(&format!("{at}.errnoRet"), call.action(), call.errno_ret())?;
        for (k, arg) in call.args().iter().flatten().enumerate() {
            if arg.index() >= MAX_ARGS {
                return Err(invalid(
                    format!("{at}.args[{k}].index"),
                    format!(
                        "{} is out of range; syscall arguments are numbered 0 to 5",
                        arg.index()
                    ),
                ));
            }
        }
        if call.action() == LinuxSeccompAction::ScmpActNotify {
            if let Some(j) = call
                .names()
                .iter()
                .position(|n| NOTIFY_FORBIDDEN.contains(&n.as_str()))
            {
                return Err(invalid(
                    format!("{at}.names[{j}]"),
                    format!(
                        "SCMP_ACT_NOTIFY cannot apply to {}: keel sends the notify fd to the agent with it after loading the filter, so the container would hang; let the agent handle other syscalls",
                        call.names()[j]
                    ),
                ));
            }
            if s.listener_path().is_none() {
                return Err(invalid(
                    "linux.seccomp.listenerPath",
                    format!("is not set, but {at} uses SCMP_ACT_NOTIFY; set listenerPath to the seccomp agent's socket"),
                ));
            }
        }
    }
    Ok(())
}

fn check_errno(field: &str, action: LinuxSeccompAction, errno: Option<u32>) -> Result<()> {
    let Some(n) = errno else { return Ok(()) };
    if !tables::takes_errno(action) {
        return Err(invalid(
            field,
            format!(
                "{} returns no errno; remove it, or use SCMP_ACT_ERRNO",
                word(action)
            ),
        ));
    }
    let max = tables::max_errno_ret(action);
    if n > max {
        return Err(invalid(
            field,
            format!(
                "{n} is above {max}, the largest value {} can carry; use a smaller one",
                word(action)
            ),
        ));
    }
    Ok(())
}

/// Refuses actions the running kernel does not implement (SCMP_ACT_LOG and
/// SCMP_ACT_KILL_PROCESS need Linux 4.14, SCMP_ACT_NOTIFY 5.0).
fn check_kernel_actions(s: &LinuxSeccomp) -> Result<()> {
    let mut checked: Vec<LinuxSeccompAction> = Vec::new();
    let calls = s.syscalls().iter().flatten().enumerate();
    let uses = std::iter::once((
        "linux.seccomp.defaultAction".to_string(),
        s.default_action(),
    ))
    .chain(calls.map(|(i, c)| (format!("linux.seccomp.syscalls[{i}].action"), c.action())));
    for (field, a) in uses {
        if checked.contains(&a) {
            continue;
        }
        if !sys::action_available(tables::kernel_action(a)) {
            return Err(invalid(
                field,
                format!(
                    "{} is not supported by this kernel; use another action or a newer kernel",
                    word(a)
                ),
            ));
        }
        checked.push(a);
    }
    Ok(())
}

/// The `seccomp(2)` flags to load with, dropping (with a warning) those the
/// kernel lacks.
fn load_flags(s: &LinuxSeccomp, notify: bool) -> libc::c_ulong {
    let mut flags = 0;
    for (i, f) in s.flags().iter().flatten().enumerate() {
        let bits = tables::kernel_flag(*f);
        if bits == 0 {
            continue;
        }
        if bits == libc::SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV && !notify {
            tracing::debug!(
                "linux.seccomp.flags[{i}]: {} ignored: no rule uses SCMP_ACT_NOTIFY",
                word(*f)
            );
            continue;
        }
        if !supported_flag(*f) {
            tracing::warn!(
                "linux.seccomp.flags[{i}]: {} is not supported by this kernel; loading the filter without it",
                word(*f)
            );
            continue;
        }
        flags |= bits;
    }
    flags
}

/// Whether the running kernel accepts a flag (probed, never installs anything).
pub(crate) fn supported_flag(f: oci_spec::runtime::LinuxSeccompFilterFlag) -> bool {
    sys::filter_flags_supported(tables::probe_bits(f))
}

fn add_rules(
    ctx: &mut ScmpFilterContext,
    i: usize,
    call: &LinuxSyscall,
    default: libseccomp::ScmpAction,
    skipped: &mut Vec<String>,
) -> Result<()> {
    let action = tables::action(call.action(), call.errno_ret());
    if action == default {
        return Ok(());
    }
    let args = call.args().as_deref().unwrap_or_default();
    let conds: Vec<ScmpArgCompare> = args
        .iter()
        .map(|a| {
            let (op, datum) = tables::compare(a.op(), a.value(), a.value_two());
            // validate() keeps the index below 6.
            ScmpArgCompare::new(a.index() as u32, op, datum)
        })
        .collect();
    let mut seen = [false; MAX_ARGS];
    let shared_index = args.iter().any(|a| {
        let slot = &mut seen[a.index().min(MAX_ARGS - 1)];
        std::mem::replace(slot, true)
    });
    for (j, name) in call.names().iter().enumerate() {
        let Ok(nr) = ScmpSyscall::from_name(name) else {
            if !skipped.contains(name) {
                skipped.push(name.clone());
            }
            continue;
        };
        let added = if shared_index {
            conds
                .iter()
                .try_for_each(|c| ctx.add_rule_conditional(action, nr, &[*c]).map(|_| ()))
        } else {
            ctx.add_rule_conditional(action, nr, &conds).map(|_| ())
        };
        added.map_err(|e| Error::Libseccomp {
            field: format!("linux.seccomp.syscalls[{i}].names[{j}]"),
            hint: "check the rule's arguments, and that no other entry gives this syscall a conflicting action",
            source: e,
        })?;
    }
    Ok(())
}

/// Has libseccomp generate the BPF program (through a memfd: libseccomp
/// 2.5 can only export to an fd).
fn export(ctx: &ScmpFilterContext) -> Result<Vec<libc::sock_filter>> {
    let fd = nix::sys::memfd::memfd_create(c"keel-seccomp", nix::sys::memfd::MFdFlags::MFD_CLOEXEC)
        .map_err(|e| Error::Generate(format!("memfd_create: {e}")))?;
    ctx.export_bpf(&fd)
        .map_err(|e| Error::Generate(e.to_string()))?;
    let mut file = std::fs::File::from(fd);
    let mut bytes = Vec::new();
    file.seek(SeekFrom::Start(0))
        .and_then(|_| file.read_to_end(&mut bytes))
        .map_err(|e| Error::Generate(format!("read the program back: {e}")))?;
    decode(&bytes)
}

/// Decodes `struct sock_filter` records (8 bytes each, native byte order).
pub(crate) fn decode(bytes: &[u8]) -> Result<Vec<libc::sock_filter>> {
    const SIZE: usize = std::mem::size_of::<libc::sock_filter>();
    if bytes.is_empty() || !bytes.len().is_multiple_of(SIZE) {
        return Err(Error::Generate(format!(
            "libseccomp produced {} bytes, not a whole number of instructions",
            bytes.len()
        )));
    }
    Ok(bytes
        .chunks_exact(SIZE)
        .filter_map(|c| <[u8; SIZE]>::try_from(c).ok())
        .map(|[c0, c1, jt, jf, k0, k1, k2, k3]| libc::sock_filter {
            code: u16::from_ne_bytes([c0, c1]),
            jt,
            jf,
            k: u32::from_ne_bytes([k0, k1, k2, k3]),
        })
        .collect())
}

fn load_hint(e: &std::io::Error) -> &'static str {
    match e.raw_os_error() {
        Some(libc::EACCES) => "set process.noNewPrivileges, or load the filter while the process still has CAP_SYS_ADMIN",
        Some(libc::EBUSY) => "this process already has a seccomp notify listener (nested SCMP_ACT_NOTIFY); remove SCMP_ACT_NOTIFY rules",
        Some(libc::EINVAL) => "the kernel rejected the program or its flags; try without linux.seccomp.flags",
        Some(libc::ENOMEM) => "the process's seccomp filters together are too large; use a smaller profile",
        _ => "report this together with the profile",
    }
}
