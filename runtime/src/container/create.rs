//! `keel create`: set everything up and leave the process blocked before
//! `execve` until `keel start`.
//!
//! The parent (this process) forks the intermediate, answers its requests
//! over the channel (id maps, prestart/createRuntime hooks), and records the
//! state. If anything fails, [`Cleanup`] kills what was started and removes
//! the state directory, so a failed create leaves nothing behind.

use std::io::Write;
use std::os::fd::OwnedFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use nix::sys::stat::Mode;
use nix::sys::wait::waitpid;
use nix::unistd::Pid;
use oci_spec::runtime::{LinuxIdMapping, LinuxResources, Spec};

use super::{hook_state, Error, Globals};
use crate::cgroups::{CgroupsPath, Manager};
use crate::channel::{self, ChildMsg, ParentMsg};
use crate::config;
use crate::hooks::run_hooks;
use crate::process::{self, InitArgs};
use crate::seccomp::Filter;
use crate::state::{proc_stat, ContainerDir, Status, StoredState};
use crate::sys::{self, ForkResult};

/// Where the container's pty master goes.
#[derive(Debug)]
pub enum ConsoleTarget {
    /// `--console-socket PATH`.
    Path(PathBuf),
    /// An already-connected socket (`keel run` in the foreground with a terminal).
    Fd(OwnedFd),
}

impl ConsoleTarget {
    /// The socket the container sends its pty master over (connecting to a path).
    pub fn into_fd(self) -> Result<OwnedFd, Error> {
        Ok(match self {
            ConsoleTarget::Fd(fd) => fd,
            ConsoleTarget::Path(p) => crate::console::connect(&p)?.into(),
        })
    }
}

/// The flags of `keel create`.
#[derive(Debug)]
pub struct CreateOpts {
    pub id: String,
    pub bundle: PathBuf,
    pub pid_file: Option<PathBuf>,
    pub console: Option<ConsoleTarget>,
    pub no_pivot: bool,
    pub no_new_keyring: bool,
    pub preserve_fds: u32,
}

/// Undoes a half-done create when dropped unarmed.
struct Cleanup {
    dir: Option<ContainerDir>,
    pids: Vec<i32>,
    cgroup: Option<Manager>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        for pid in self.pids.iter().rev() {
            let _ = sys::kill_raw(*pid, libc::SIGKILL);
        }
        for pid in &self.pids {
            let _ = waitpid(Pid::from_raw(*pid), None);
        }
        if let Some(cg) = self.cgroup.take() {
            if let Err(e) = cg.destroy() {
                tracing::warn!("cleanup after a failed create: {e}");
            }
        }
        if let Some(dir) = self.dir.take() {
            if let Err(e) = dir.remove() {
                tracing::warn!("cleanup after a failed create: {e}");
            }
        }
    }
}

/// Creates the container; returns the host pid of its init process.
pub fn create(g: &Globals, o: CreateOpts) -> Result<i32, Error> {
    let bundle = config::load_bundle(&o.bundle)?;
    let spec = &bundle.spec;
    let proc_ = spec.process().as_ref().expect("validated");
    let terminal = proc_.terminal().unwrap_or(false);
    if terminal && o.console.is_none() {
        return Err(Error::Unsupported(
            "process.terminal is true but no --console-socket was given; pass one or set terminal to false".into(),
        ));
    }
    let plan = crate::namespaces::plan(
        spec.linux()
            .as_ref()
            .and_then(|l| l.namespaces().as_deref())
            .unwrap_or(&[]),
    )?;
    let console = match o.console {
        Some(c) if terminal => Some(c.into_fd()?),
        _ => None,
    };
    let linux = spec.linux().as_ref();
    let resources = cgroup_resources(spec);
    let cgroup = Manager::detect(&CgroupsPath::from_spec(
        linux.and_then(|l| l.cgroups_path().as_deref()),
        &o.id,
    )?)?;
    cgroup.validate(&resources)?;
    let seccomp = match linux.and_then(|l| l.seccomp().as_ref()) {
        Some(s) => Some(Filter::compile_cached(s, &g.root.join("seccomp-cache"))?),
        None => None,
    };
    let seccomp_listener = match seccomp.as_ref().filter(|f| f.uses_notify()) {
        Some(f) => Some(crate::seccomp::connect_listener(
            f.listener_path()
                .expect("validated: notify has a listener path"),
        )?),
        None => None,
    };

    let dir = g.state_root().create(&o.id)?;
    let fifo_path = dir.fifo_path();
    let mut cleanup = Cleanup {
        dir: Some(dir),
        pids: Vec::new(),
        cgroup: None,
    };
    nix::unistd::mkfifo(&fifo_path, Mode::from_bits_truncate(0o622)).map_err(|e| Error::Io {
        what: format!("mkfifo {}", fifo_path.display()),
        source: e.into(),
    })?;
    let mut state = StoredState {
        id: o.id.clone(),
        pid: 0,
        pid_start: 0,
        bundle: bundle.dir.clone(),
        rootfs: bundle.rootfs.clone(),
        created: crate::time::now_rfc3339(),
        owner: String::new(),
        phase: Status::Creating,
        config: spec.clone(),
        cgroup_paths: cgroup.paths(),
    };
    cleanup.dir.as_ref().expect("set above").save(&state)?;
    // mkfifo honours our umask; init may run as any user, so set the mode.
    std::fs::set_permissions(
        &fifo_path,
        std::os::unix::fs::PermissionsExt::from_mode(0o622),
    )
    .map_err(Error::io(format!("chmod {}", fifo_path.display())))?;
    if plan.new_user {
        // The kernel refuses writes to inodes whose owner is unmapped in the
        // writer's user namespace: give the fifo to the container's user.
        let linux = spec.linux().as_ref();
        let user = proc_.user();
        let uid = host_id(linux.and_then(|l| l.uid_mappings().as_deref()), user.uid());
        let gid = host_id(linux.and_then(|l| l.gid_mappings().as_deref()), user.gid());
        nix::unistd::chown(
            &fifo_path,
            uid.map(nix::unistd::Uid::from_raw),
            gid.map(nix::unistd::Gid::from_raw),
        )
        .map_err(|e| Error::io(format!("chown {}", fifo_path.display()))(e.into()))?;
    }
    let fifo = process::open_fifo_path(&fifo_path).map_err(|e| Error::Io {
        what: format!("open {}", fifo_path.display()),
        source: e.into(),
    })?;
    let (parent, child) = channel::pair()?;
    // Orphans of the container's setup are reparented to us, so a failed
    // create can reap them.
    let _ = nix::sys::prctl::set_child_subreaper(true);

    let inter = match sys::fork().map_err(|e| Error::Io {
        what: "fork".into(),
        source: e.into(),
    })? {
        ForkResult::Child => {
            drop(parent);
            process::intermediate(InitArgs {
                id: &o.id,
                spec,
                bundle: &bundle.dir,
                rootfs: &bundle.rootfs,
                plan: &plan,
                no_pivot: o.no_pivot,
                no_new_keyring: o.no_new_keyring,
                preserve_fds: o.preserve_fds,
                console,
                fifo,
                seccomp: seccomp.as_ref(),
                seccomp_listener,
                chan: child,
            })
        }
        ForkResult::Parent { child: pid } => pid,
    };
    drop(child);
    drop(fifo);
    drop(console);
    drop(seccomp_listener);
    cleanup.pids.push(inter.as_raw());
    // Into the cgroup before the intermediate makes its cgroup namespace.
    cgroup.create()?;
    cleanup.cgroup = Some(cgroup);
    let cg = cleanup.cgroup.as_ref().expect("set above");
    cg.add_pid(inter.as_raw())?;
    cg.apply(&resources)?;
    parent.send(&ParentMsg::Proceed { pid: 0 })?;

    let mut hooks_pending = false;
    loop {
        let msg =
            match parent.recv::<ChildMsg>() {
                Ok(m) => m,
                Err(crate::channel::ChannelError::Closed) => return Err(Error::Init(
                    "container init exited before it was ready; run with --debug and see the log"
                        .into(),
                )),
                Err(e) => return Err(e.into()),
            };
        match msg {
            ChildMsg::WriteIdMaps { pid } => {
                write_id_maps(spec, pid)?;
                parent.send(&ParentMsg::IdMapsWritten)?;
            }
            ChildMsg::InitPid { pid } => {
                cleanup.pids.push(pid);
                state.pid = pid;
                state.pid_start = proc_stat(pid).map(|s| s.start_time).unwrap_or(0);
                if let Some(adj) = proc_.oom_score_adj() {
                    set_oom_score_adj(pid, adj)?;
                }
            }
            ChildMsg::RunCreateRuntimeHooks => hooks_pending = true,
            ChildMsg::Ready => break,
            ChildMsg::Error { msg } => return Err(Error::Init(msg)),
            ChildMsg::Executing => {
                return Err(Error::Init(
                    "unexpected message from init: Executing".into(),
                ))
            }
        }
        if hooks_pending && state.pid != 0 {
            hooks_pending = false;
            let reply = run_create_hooks(spec, &state);
            match reply {
                Ok(()) => parent.send(&ParentMsg::HooksDone {
                    state: hook_state(&state, Status::Created),
                })?,
                Err(e) => {
                    let _ = parent.send(&ParentMsg::Abort { msg: e.to_string() });
                    return Err(e.into());
                }
            }
        }
    }
    let _ = waitpid(inter, None);
    cleanup.pids.retain(|p| *p != inter.as_raw());

    state.phase = Status::Created;
    let dir = cleanup.dir.as_ref().expect("set above");
    dir.save(&state)?;
    if let Some(pf) = &o.pid_file {
        write_pid_file(pf, state.pid)?;
    }
    // Success: disarm the cleanup without touching what it holds.
    cleanup.pids.clear();
    drop(cleanup.dir.take());
    drop(cleanup.cgroup.take());
    Ok(state.pid)
}

/// `linux.resources` with runc's default device allow list appended after
/// the config's rules. Devices in `linux.devices` get no rule of their own:
/// the config's rules decide (`docker run --device X:r` relies on a
/// read-only rule not being widened).
pub fn cgroup_resources(spec: &Spec) -> LinuxResources {
    let linux = spec.linux().as_ref();
    let mut r = linux
        .and_then(|l| l.resources().clone())
        .unwrap_or_default();
    let mut devs = r.devices().clone().unwrap_or_default();
    devs.extend(crate::cgroups::runc_default_rules());
    r.set_devices(Some(devs));
    r
}

fn run_create_hooks(spec: &Spec, state: &StoredState) -> Result<(), crate::hooks::HookError> {
    let Some(h) = spec.hooks() else { return Ok(()) };
    let s = hook_state(state, Status::Creating);
    #[allow(deprecated)]
    if let Some(pre) = h.prestart() {
        run_hooks("prestart", pre, &s)?;
    }
    if let Some(cr) = h.create_runtime() {
        run_hooks("createRuntime", cr, &s)?;
    }
    Ok(())
}

/// Written by the parent, as host root, into the init's /proc entry.
fn set_oom_score_adj(pid: i32, adj: i32) -> Result<(), Error> {
    let path = format!("/proc/{pid}/oom_score_adj");
    std::fs::write(&path, adj.to_string()).map_err(|e| {
        let hint = if adj < 0 {
            "; a negative value needs CAP_SYS_RESOURCE, which this runtime lacks: use 0 or more"
        } else {
            ""
        };
        Error::Init(format!(
            "process.oomScoreAdj: cannot set {adj}: write {path}: {e}{hint}"
        ))
    })
}

/// The host id that container id `id` maps to.
fn host_id(maps: Option<&[LinuxIdMapping]>, id: u32) -> Option<u32> {
    maps?.iter().find_map(|m| {
        (id >= m.container_id() && id - m.container_id() < m.size())
            .then(|| m.host_id() + (id - m.container_id()))
    })
}

fn map_text(maps: &[LinuxIdMapping]) -> String {
    maps.iter()
        .map(|m| format!("{} {} {}\n", m.container_id(), m.host_id(), m.size()))
        .collect()
}

fn write_id_maps(spec: &Spec, pid: i32) -> Result<(), Error> {
    let linux = spec.linux().as_ref();
    let uid = linux
        .and_then(|l| l.uid_mappings().clone())
        .unwrap_or_default();
    let gid = linux
        .and_then(|l| l.gid_mappings().clone())
        .unwrap_or_default();
    for (file, field, maps) in [
        ("uid_map", "linux.uidMappings", &uid),
        ("gid_map", "linux.gidMappings", &gid),
    ] {
        let path = format!("/proc/{pid}/{file}");
        std::fs::write(&path, map_text(maps))
            .map_err(Error::io(format!("{field}: write {path}")))?;
    }
    Ok(())
}

/// Writes the pid file atomically, without a newline, as runc does.
pub fn write_pid_file(path: &Path, pid: i32) -> Result<(), Error> {
    let tmp = path.with_file_name(format!(
        ".{}.tmp",
        path.file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default()
    ));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o644)
        .open(&tmp)
        .map_err(Error::io(format!("--pid-file {}", path.display())))?;
    f.write_all(pid.to_string().as_bytes())
        .map_err(Error::io(format!("--pid-file {}", path.display())))?;
    std::fs::rename(&tmp, path).map_err(Error::io(format!("--pid-file {}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::LinuxIdMappingBuilder;

    #[test]
    fn id_map_text() {
        let m = LinuxIdMappingBuilder::default()
            .container_id(0u32)
            .host_id(100000u32)
            .size(65536u32)
            .build()
            .unwrap();
        assert_eq!(map_text(&[m, m]), "0 100000 65536\n0 100000 65536\n");
    }
}
