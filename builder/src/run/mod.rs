//! RUN steps: a step's root (an overlay of the image's layer snapshots, or
//! a copy when overlayfs is unusable), a bundle for it, the container run
//! through `keel-shim` and a runc-compatible runtime, and the filesystem
//! changes it made as layer entries.
//!
//! - [`command`]: the argv of a RUN (shell, exec, heredocs);
//! - [`spec`]: the bundle's config.json, and [`RunMount`], the mounts a step
//!   gets (RUN `--mount`s are added as more of them);
//! - [`mounts`]: `RUN --mount`s (bind, cache, tmpfs, secret, ssh) as
//!   [`RunMount`]s plus the guard that keeps them up, with
//!   [`cache_mounts`] (persistent cache dirs), [`ssh_proxy`] (the agent
//!   relay) and [`build_secrets`] (`--secret`/`--ssh` sources);
//! - [`netns`]: `--network=none` (a namespace with loopback up);
//! - [`stubs`]: mount points the runtime creates stay out of the layer;
//! - [`runtime`]: finding the runtime and the shim;
//! - [`interrupt`]: SIGINT/SIGTERM recorded, so cleanup always happens;
//! - `shim`: running the shim and collecting the output.
//!
//! Must never leave a mount, a container or a scratch dir behind: the
//! step's root is a guard ([`StepRoot`]) and the shim always deletes the
//! container.

use std::collections::HashSet;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::bundle::BundleError;
use crate::digest::Digest;
use crate::image::Descriptor;
use crate::layer::root::Root;
use crate::layer::{apply_layer, decompress, ApplyOptions, Entry};
use crate::snapshot::copy_diff::PreState;
use crate::snapshot::{
    diff_upper, ensure_snapshot, overlay_usable, Lowers, OverlayMount, SnapshotError, SnapshotMode,
};
use crate::store::Store;

pub mod build_secrets;
pub mod cache_mounts;
pub mod command;
pub mod interrupt;
pub mod mounts;
pub mod netns;
pub mod runtime;
mod shim;
pub mod spec;
pub mod ssh_proxy;
pub mod stubs;
mod sys;

pub use build_secrets::{Secret, SecretSource, SshAgent};
pub use command::{run_command, RunCommand};
pub use mounts::{MountEnv, MountError, MountPlan, PreparedMounts};
pub use runtime::Runtime;
pub use shim::TAIL_LINES;
pub use spec::{RunMount, SpecNetwork};

/// The network of a RUN step (`--network` after `default` was resolved).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Network {
    Host,
    None,
}

impl Network {
    pub fn as_str(self) -> &'static str {
        match self {
            Network::Host => "host",
            Network::None => "none",
        }
    }
}

impl std::str::FromStr for Network {
    type Err = String;
    fn from_str(s: &str) -> Result<Network, String> {
        match s {
            "host" => Ok(Network::Host),
            "none" => Ok(Network::None),
            _ => Err(format!("invalid network mode {s:?}: use host or none")),
        }
    }
}

/// Why a RUN step failed.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The process ran and exited non-zero (BuildKit's wording).
    #[error("process {cmd:?} did not complete successfully: exit code: {code}{}", if *oom { " (a process was OOM-killed)" } else { "" })]
    Failed {
        cmd: String,
        code: i32,
        oom: bool,
        /// The last output lines.
        tail: Vec<String>,
    },
    /// SIGINT/SIGTERM (or the build was cancelled) while the step ran.
    #[error("interrupted by signal {signal}")]
    Interrupted { signal: i32 },
    /// The shim or the runtime could not run the container.
    #[error("the container runtime could not run the step: {reason}")]
    Shim {
        reason: String,
        /// The last output lines (the runtime's messages).
        tail: Vec<String>,
    },
    #[error("{what}")]
    NoRuntime { what: String },
    #[error("{path}: {what}: {source}")]
    Io {
        path: PathBuf,
        what: &'static str,
        source: std::io::Error,
    },
    #[error(transparent)]
    Snapshot(#[from] SnapshotError),
    #[error(transparent)]
    User(#[from] BundleError),
}

fn io(path: &Path, what: &'static str) -> impl FnOnce(std::io::Error) -> RunError {
    let path = path.to_owned();
    move |source| RunError::Io { path, what, source }
}

/// One RUN step to execute.
pub struct StepRequest<'a> {
    pub store: &'a Store,
    /// A fresh directory for the step (bundle, upper dir, …); removed when
    /// the returned [`StepRoot`] is dropped.
    pub scratch: PathBuf,
    /// The container id (unique on the runtime root).
    pub id: String,
    pub runtime: &'a Runtime,
    /// The image's layers and their diff_ids, bottom first.
    pub layers: &'a [(Descriptor, Digest)],
    pub command: &'a RunCommand,
    /// `KEY=VALUE`, PATH included.
    pub env: &'a [String],
    /// USER as written (resolved in the step's root).
    pub user: &'a str,
    /// The absolute working directory (created when missing).
    pub cwd: &'a str,
    pub hostname: &'a str,
    pub network: Network,
    /// More mounts (RUN `--mount`s).
    pub mounts: &'a [RunMount],
    /// Each output line of the process.
    pub on_output: &'a (dyn Fn(&str) + Sync),
    /// True when the build is being cancelled (another stage failed).
    pub cancelled: &'a (dyn Fn() -> bool + Sync),
}

/// A step's root and what holds it up: the overlay mount, the network
/// namespace, the scratch dir. Dropping it unmounts and removes them.
#[derive(Debug)]
pub struct StepRoot {
    dir: PathBuf,
    overlay: Option<OverlayMount>,
    netns: Option<netns::NetNs>,
}

impl Drop for StepRoot {
    fn drop(&mut self) {
        self.netns.take();
        let mut unmounted = true;
        if let Some(m) = self.overlay.take() {
            if let Err(e) = m.unmount() {
                tracing::warn!(error = %e, "could not unmount a RUN step's root; leaving its scratch dir");
                unmounted = false;
            }
        }
        if unmounted {
            if let Err(e) = fs::remove_dir_all(&self.dir) {
                if e.kind() != std::io::ErrorKind::NotFound {
                    tracing::warn!(path = %self.dir.display(), error = %e, "could not remove a RUN scratch dir");
                }
            }
        }
    }
}

/// What a step changed. The entries may name files under the step's root:
/// keep `root` until the layer is written.
#[derive(Debug)]
pub struct StepOutcome {
    pub entries: Vec<Entry>,
    pub root: StepRoot,
}

/// Runs one step and diffs its filesystem.
pub fn run_step(req: &StepRequest<'_>) -> Result<StepOutcome, RunError> {
    // Absolute: the bundle, the mount options and the runtime see these.
    let scratch = &std::path::absolute(&req.scratch).map_err(io(&req.scratch, "resolve"))?;
    fs::create_dir_all(scratch).map_err(io(scratch, "create the step's scratch dir"))?;
    let mut root = StepRoot {
        dir: scratch.clone(),
        overlay: None,
        netns: None,
    };
    let rootfs = scratch.join("rootfs");
    let upper = scratch.join("upper");
    let mode = overlay_usable(scratch);
    let (pre, lowers) = match mode {
        SnapshotMode::Overlay => {
            let (mount, lowers) = mount_overlay(req.store, req.layers, scratch)?;
            root.overlay = Some(mount);
            (None, Some(Lowers::new(lowers)))
        }
        SnapshotMode::Copy => {
            fs::create_dir(&rootfs).map_err(io(&rootfs, "create the step's root"))?;
            fs::set_permissions(&rootfs, fs::Permissions::from_mode(0o755))
                .map_err(io(&rootfs, "set the root's mode"))?;
            for (desc, _) in req.layers {
                let blob = req
                    .store
                    .open_blob(&desc.digest)
                    .map_err(SnapshotError::from)?;
                let layer_err = |source| SnapshotError::Layer {
                    digest: desc.digest.clone(),
                    source,
                };
                let tar = decompress(blob).map_err(layer_err)?;
                apply_layer(tar, &rootfs, &ApplyOptions::default()).map_err(layer_err)?;
            }
            (Some(PreState::record(&rootfs)?), None)
        }
    };

    let r = Root::open(&rootfs).map_err(io(&rootfs, "open the step's root"))?;
    let user = crate::bundle::user::resolve_in_root(&r, req.user)?;
    let cwd_rel = req.cwd.trim_start_matches('/');
    if !cwd_rel.is_empty() {
        r.create_dir_all(Path::new(cwd_rel))
            .map_err(io(&rootfs.join(cwd_rel), "create the working directory"))?;
    }
    drop(r);
    let tmp_tmpfs = fs::symlink_metadata(rootfs.join("tmp")).is_err();

    let mut mounts = Vec::new();
    for f in ["/etc/resolv.conf", "/etc/hosts"] {
        match fs::canonicalize(f) {
            Ok(src) => mounts.push(RunMount::bind_ro(src, f)),
            Err(e) => tracing::debug!(file = f, error = %e, "host file not bound into RUN"),
        }
    }
    if let Some((name, body)) = &req.command.script {
        let dir = scratch.join("pipes");
        fs::create_dir(&dir).map_err(io(&dir, "create the heredoc dir"))?;
        let f = dir.join(name);
        fs::write(&f, body).map_err(io(&f, "write the heredoc script"))?;
        fs::set_permissions(&f, fs::Permissions::from_mode(0o755))
            .map_err(io(&f, "make the heredoc script executable"))?;
        mounts.push(RunMount::bind_ro(dir, command::PIPES_DIR));
    }
    mounts.extend(req.mounts.iter().cloned());
    let mut dests = spec::standard_mount_points(tmp_tmpfs);
    dests.extend(mounts.iter().map(|m| m.destination.as_str()));
    let stubs = stubs::MountStubs::record(&rootfs, &dests);

    let network = match req.network {
        Network::Host => SpecNetwork::Host,
        Network::None => {
            let ns = netns::NetNs::create(&scratch.join("netns"))?;
            let p = ns.path().to_owned();
            root.netns = Some(ns);
            SpecNetwork::Join(p)
        }
    };
    let mut env = req.env.to_vec();
    if !env.iter().any(|e| e.starts_with("HOME=")) {
        env.push(format!("HOME={}", user.home));
    }
    let bundle = scratch.join("bundle");
    fs::create_dir(&bundle).map_err(io(&bundle, "create the bundle dir"))?;
    let doc = spec::step_spec(&spec::StepSpec {
        args: &req.command.argv,
        env: &env,
        cwd: if req.cwd.is_empty() { "/" } else { req.cwd },
        user: &user,
        hostname: req.hostname,
        rootfs: &rootfs,
        network: &network,
        tmp_tmpfs,
        mounts: &mounts,
    });
    let config = bundle.join("config.json");
    fs::write(&config, doc.to_string()).map_err(io(&config, "write the bundle's config.json"))?;

    let result = scratch.join("result.json");
    let started = std::time::Instant::now();
    let outcome = shim::run_shim(
        req.runtime,
        &bundle,
        &req.id,
        &result,
        req.on_output,
        req.cancelled,
    );
    stubs.clean(&rootfs);
    let o = outcome?;
    if let Some(signal) = o.interrupted {
        return Err(RunError::Interrupted { signal });
    }
    match o.exit_code {
        Some(0) => {}
        Some(code) => {
            return Err(RunError::Failed {
                cmd: req.command.argv.join(" "),
                code,
                oom: o.oom_killed,
                tail: o.tail,
            })
        }
        None => {
            let reason = o.error.unwrap_or_else(|| {
                format!(
                    "keel-shim exited with {:?} and reported no exit code",
                    o.shim_exit
                )
            });
            return Err(RunError::Shim {
                reason,
                tail: o.tail,
            });
        }
    }
    tracing::debug!(id = %req.id, elapsed = ?started.elapsed(), "RUN container exited");
    let started = std::time::Instant::now();
    let entries = match (pre, lowers) {
        (Some(pre), _) => pre.diff(&rootfs)?,
        (None, Some(l)) => diff_upper(&upper, &l)?,
        (None, None) => Vec::new(),
    };
    tracing::debug!(entries = entries.len(), elapsed = ?started.elapsed(), "RUN changes diffed");
    Ok(StepOutcome { entries, root })
}

/// An overlay of `layers`' snapshots at `dir/rootfs` (upper and work dirs
/// in `dir`), for reading a stage's filesystem without unpacking it.
pub fn read_view(
    store: &Store,
    layers: &[(Descriptor, Digest)],
    dir: &Path,
) -> Result<OverlayMount, RunError> {
    let dir = &std::path::absolute(dir).map_err(io(dir, "resolve"))?;
    fs::create_dir_all(dir).map_err(io(dir, "create a view dir"))?;
    Ok(mount_overlay(store, layers, dir)?.0)
}

/// Mounts `layers`' snapshots at `dir/rootfs`, with the upper and work dirs
/// `dir/upper` and `dir/work` (all three created here; `dir` is absolute).
/// Returns the mount and the lower dirs, top first.
fn mount_overlay(
    store: &Store,
    layers: &[(Descriptor, Digest)],
    dir: &Path,
) -> Result<(OverlayMount, Vec<PathBuf>), RunError> {
    let lowers = snapshot_dirs(store, layers, dir)?;
    let (upper, work, rootfs) = (dir.join("upper"), dir.join("work"), dir.join("rootfs"));
    for d in [&upper, &work, &rootfs] {
        fs::create_dir(d).map_err(io(d, "create an overlay dir"))?;
    }
    // The root directory of the mount shows the upper dir's metadata.
    let top = fs::symlink_metadata(&lowers[0]).map_err(io(&lowers[0], "stat a layer"))?;
    fs::set_permissions(&upper, fs::Permissions::from_mode(top.mode() & 0o7777))
        .map_err(io(&upper, "set the root's mode"))?;
    std::os::unix::fs::lchown(&upper, Some(top.uid()), Some(top.gid()))
        .map_err(io(&upper, "set the root's owner"))?;
    let mount = OverlayMount::mount(&lowers, &upper, &work, &rootfs)?;
    Ok((mount, lowers))
}

/// The snapshot dirs of `layers`, top first; a layer repeated in the chain
/// counts once, at its topmost place (the same dir twice is refused by
/// overlayfs, and the lower copy adds nothing). An empty dir for no layers.
fn snapshot_dirs(
    store: &Store,
    layers: &[(Descriptor, Digest)],
    scratch: &Path,
) -> Result<Vec<PathBuf>, RunError> {
    let mut seen = HashSet::new();
    let mut dirs = Vec::new();
    for (desc, diff_id) in layers.iter().rev() {
        if seen.insert(diff_id.clone()) {
            let d = ensure_snapshot(store, desc, diff_id)?;
            dirs.push(std::path::absolute(&d).map_err(io(&d, "resolve"))?);
        }
    }
    if dirs.is_empty() {
        let empty = scratch.join("empty");
        fs::create_dir(&empty).map_err(io(&empty, "create an empty lower dir"))?;
        fs::set_permissions(&empty, fs::Permissions::from_mode(0o755))
            .map_err(io(&empty, "set the root's mode"))?;
        dirs.push(empty);
    }
    Ok(dirs)
}
