//! `hoist run`: an image from the store run as a container, daemonless, the
//! way `docker run` runs it. The image is unpacked into a bundle under
//! `<store>/containers/NAME/`, its `config.json` gets docker run's
//! overrides (entrypoint, command, env, user, workdir, binds, tmpfs,
//! network, memory, cpus), and `keel-shim` runs it through a runc-compatible
//! runtime (keel by default). The call returns the container's exit status
//! (128+N for a signal). With `rm` the directory is removed afterwards,
//! also on failure; without it the directory and its `container.json` stay
//! until [`prune`] or [`remove`].
//!
//! - [`options`]: parsing of docker's flag values;
//! - [`spec_overrides`]: the overrides applied to the image config and the runtime spec;
//! - [`record`]: container directories, their records and locks, removal;
//! - [`shim_process`]: finding and running keel-shim, passing signals on.
//!
//! Must never write outside the store's `containers/` directory (bind
//! sources that don't exist are created, as docker does), nor remove a
//! directory that has a mount under it or a container that runs.

use std::fs;
use std::io::{self, Read as _};
use std::path::{Path, PathBuf};

use serde_json::Value;

pub mod options;
pub mod record;
pub mod shim_process;
pub mod spec_overrides;

pub use options::{BindMount, Cpus, MemoryBytes, NetworkMode, OptionError, TmpfsMount};
pub use record::{
    list, prune, read_record, remove, ContainerEntry, ContainerRecord, ContainerStatus,
};
pub use spec_overrides::ProcessOverrides;

use crate::build::time::{now_secs, rfc3339};
use crate::bundle::{self, BundleError, BundleOptions};
use crate::run::netns::NetNs;
use crate::store::{Store, StoreError};

/// Why a container could not be run. The container's own failure is not an
/// error: it is the exit code of [`RunExit`].
#[derive(Debug, thiserror::Error)]
pub enum ContainerError {
    #[error(transparent)]
    Option(#[from] OptionError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Bundle(#[from] BundleError),
    #[error(
        "no command specified: image {image} sets neither ENTRYPOINT nor CMD; give a command after the image name"
    )]
    NoCommand { image: String },
    #[error("the working directory {dir:?} is invalid, it needs to be an absolute path")]
    RelativeWorkdir { dir: String },
    #[error("{what} {name:?} not found next to hoist or on PATH; build it (cargo build -p {package}) or give its path with {flag}")]
    BinaryNotFound {
        what: &'static str,
        name: String,
        package: &'static str,
        flag: &'static str,
    },
    #[error("the container name {name:?} is already in use by {dir}; once it has stopped, remove it (`rm -r {dir}`) or choose another --name")]
    NameInUse { name: String, dir: PathBuf },
    #[error("no container named {name:?} in {dir}")]
    NoSuchContainer { name: String, dir: PathBuf },
    #[error("container {name:?} is running; stop it first")]
    Running { name: String },
    #[error("not removing {dir}: {mount} is still mounted; unmount it (umount -R) and retry")]
    StillMounted { dir: PathBuf, mount: PathBuf },
    #[error("container record {path}: {reason}")]
    BadRecord { path: PathBuf, reason: String },
    #[error("container {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("starting {path}: {source}")]
    Spawn { path: PathBuf, source: io::Error },
    #[error("setting up signal forwarding: {source}")]
    Signals { source: io::Error },
    #[error("--network none: {0}")]
    Network(#[from] crate::run::RunError),
}

/// What to run, with docker run's options.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// An image reference or id in the store.
    pub image: String,
    /// The process overrides: entrypoint, command, env (resolved `K=V`;
    /// see [`options::resolve_env`]), user, workdir.
    pub process: ProcessOverrides,
    /// `--name`; default: the first 12 hex digits of the id.
    pub name: Option<String>,
    /// `--hostname`; default: the name.
    pub hostname: Option<String>,
    /// `--rm`: remove the container directory when it ends.
    pub rm: bool,
    /// `-i`: the container reads our stdin (else /dev/null).
    pub interactive: bool,
    /// `-t`: a pty.
    pub tty: bool,
    pub binds: Vec<BindMount>,
    pub tmpfs: Vec<TmpfsMount>,
    pub network: NetworkMode,
    pub memory: Option<MemoryBytes>,
    pub cpus: Option<Cpus>,
    /// `--runtime`: a path, or a name found next to hoist or on PATH
    /// (default `keel`).
    pub runtime: Option<String>,
    /// The shim: a path or name (default `keel-shim`, found the same way).
    pub shim: Option<String>,
}

/// How a container ended.
#[derive(Debug, Clone)]
pub struct RunExit {
    pub id: String,
    pub name: String,
    /// The container's status as `docker run` exits: N, 128+N for signal
    /// N, 125 when the shim or runtime failed.
    pub exit_code: i32,
    pub oom_killed: bool,
    /// The container directory, None when it was removed (`rm`).
    pub dir: Option<PathBuf>,
}

fn random_id() -> Result<String, ContainerError> {
    let path = Path::new("/dev/urandom");
    let mut b = [0u8; 32];
    fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut b))
        .map_err(|source| ContainerError::Io {
            path: path.to_owned(),
            source,
        })?;
    Ok(hex::encode(b))
}

fn locate(
    given: Option<&str>,
    default: &str,
    what: &'static str,
    package: &'static str,
    flag: &'static str,
) -> Result<PathBuf, ContainerError> {
    let name = given.unwrap_or(default);
    shim_process::find_binary(name).ok_or_else(|| ContainerError::BinaryNotFound {
        what,
        name: name.to_owned(),
        package,
        flag,
    })
}

fn online_cpus() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

/// Runs `opts.image` as a container and waits for it (module doc).
pub fn run(store: &Store, opts: &RunOptions) -> Result<RunExit, ContainerError> {
    // Everything that can be checked before touching the store.
    if let Some(n) = &opts.name {
        options::check_name(n)?;
    }
    if let Some(c) = &opts.cpus {
        c.check_available(online_cpus())?;
    }
    if let Some(w) = &opts.process.workdir {
        if !w.starts_with('/') {
            return Err(ContainerError::RelativeWorkdir { dir: w.clone() });
        }
    }
    let runtime = locate(
        opts.runtime.as_deref(),
        "keel",
        "runtime",
        "keel-runtime",
        "--runtime",
    )?;
    let shim = locate(
        opts.shim.as_deref(),
        "keel-shim",
        "shim",
        "keel-shim",
        "HOIST_SHIM",
    )?;

    let gc = store.gc_lock_shared()?;
    let image = store.image(&opts.image)?;
    let config = spec_overrides::apply_process_overrides(&image.config, &opts.process);
    if !spec_overrides::has_command(&config) {
        return Err(ContainerError::NoCommand {
            image: opts.image.clone(),
        });
    }
    let id = random_id()?;
    let short = id.get(..12).unwrap_or(&id).to_owned();
    let name = opts.name.clone().unwrap_or_else(|| short.clone());
    let owned = record::create_dir(store, &name)?;
    let dir = owned.dir.clone();
    let mut rec = ContainerRecord {
        id: id.clone(),
        name: name.clone(),
        image: opts.image.clone(),
        image_id: image.id.to_string(),
        created: rfc3339(now_secs()),
        runtime: runtime.clone(),
        status: ContainerStatus::Created,
        exit_code: None,
        finished: None,
        oom_killed: false,
    };

    // Until the shim runs, any failure removes the directory: nothing ran.
    let prepared = (|| -> Result<(PathBuf, Option<NetNs>), ContainerError> {
        record::write_record(&dir, &rec)?;
        let bundle_dir = dir.join("bundle");
        let mut layers: Vec<Box<dyn std::io::Read>> = Vec::new();
        for l in &image.manifest.layers {
            layers.push(Box::new(store.open_blob(&l.digest)?));
        }
        let hostname = opts.hostname.clone().unwrap_or_else(|| name.clone());
        bundle::write_bundle(
            &config,
            layers,
            &bundle_dir,
            &BundleOptions {
                terminal: opts.tty,
                args_override: None,
                hostname: Some(hostname.clone()),
            },
        )?;
        write_etc_files(&dir, &hostname, opts.network)?;
        for b in &opts.binds {
            if !b.source.exists() {
                fs::create_dir_all(&b.source).map_err(|source| ContainerError::Io {
                    path: b.source.clone(),
                    source,
                })?;
            }
        }
        let (hosts, resolv, hostname_file) = (
            dir.join("hosts"),
            dir.join("resolv.conf"),
            dir.join("hostname"),
        );
        let etc = [
            ("/etc/hosts", hosts.as_path()),
            ("/etc/resolv.conf", resolv.as_path()),
            ("/etc/hostname", hostname_file.as_path()),
        ];
        // `--network none`: a namespace whose loopback is up (runtimes
        // leave lo down in the namespace they make), pinned under the
        // container dir until the container ends.
        let netns = match opts.network {
            NetworkMode::None => Some(NetNs::create(&dir.join("netns"))?),
            NetworkMode::Host => None,
        };
        let edits = spec_overrides::SpecEdits {
            binds: &opts.binds,
            tmpfs: &opts.tmpfs,
            network: opts.network,
            memory: opts.memory,
            cpus: opts.cpus,
            etc_files: &etc,
            netns_path: netns.as_ref().map(NetNs::path),
        };
        let spec_path = bundle_dir.join("config.json");
        let io = |source| ContainerError::Io {
            path: spec_path.clone(),
            source,
        };
        let mut doc: Value =
            serde_json::from_slice(&fs::read(&spec_path).map_err(io)?).map_err(|e| io(e.into()))?;
        spec_overrides::apply_spec_edits(&mut doc, &edits);
        fs::write(
            &spec_path,
            serde_json::to_vec_pretty(&doc).map_err(|e| io(e.into()))?,
        )
        .map_err(io)?;
        rec.status = ContainerStatus::Running;
        record::write_record(&dir, &rec)?;
        Ok((bundle_dir, netns))
    })();
    drop(gc);
    let (bundle_dir, netns) = match prepared {
        Ok(b) => b,
        Err(e) => {
            if let Err(re) = record::remove_dir(&dir) {
                tracing::warn!(dir = %dir.display(), "removing the container directory: {re}");
            }
            return Err(e);
        }
    };

    let result_path = dir.join("result.json");
    let shim_run = shim_process::run_shim(&shim_process::ShimCommand {
        shim: &shim,
        runtime: &runtime,
        bundle: &bundle_dir,
        id: &id,
        tty: opts.tty,
        stdin: opts.interactive,
        result: &result_path,
    });
    // Unpinned before the directory may be removed.
    drop(netns);
    let finish = |exit: Option<&shim_process::ShimExit>| -> Result<(), ContainerError> {
        if opts.rm {
            return record::remove_dir(&dir);
        }
        let mut rec = rec.clone();
        rec.status = ContainerStatus::Exited;
        rec.exit_code = exit.map(|e| e.code);
        rec.oom_killed = exit
            .and_then(|e| e.result.as_ref())
            .is_some_and(|r| r.oom_killed);
        rec.finished = Some(rfc3339(now_secs()));
        record::write_record(&dir, &rec)
    };
    let exit = match shim_run {
        Ok(exit) => exit,
        Err(e) => {
            if let Err(fe) = finish(None) {
                tracing::warn!("cleaning up container {name}: {fe}");
            }
            return Err(e);
        }
    };
    finish(Some(&exit))?;
    drop(owned);
    Ok(RunExit {
        id,
        name,
        exit_code: exit.code,
        oom_killed: exit.result.as_ref().is_some_and(|r| r.oom_killed),
        dir: (!opts.rm).then_some(dir),
    })
}

/// The container's `/etc/hostname`, `/etc/hosts` and `/etc/resolv.conf`,
/// as docker writes them: the host's resolv.conf; with the host network
/// the host's hosts file, else localhost entries and the hostname.
fn write_etc_files(dir: &Path, hostname: &str, net: NetworkMode) -> Result<(), ContainerError> {
    let write = |name: &str, body: &[u8]| {
        let p = dir.join(name);
        fs::write(&p, body).map_err(|source| ContainerError::Io { path: p, source })
    };
    write("hostname", format!("{hostname}\n").as_bytes())?;
    let host_file = |p: &str| fs::read(p).ok();
    let hosts = match (net, host_file("/etc/hosts")) {
        (NetworkMode::Host, Some(h)) => h,
        _ => format!(
            "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.0.1\t{hostname}\n"
        )
        .into_bytes(),
    };
    write("hosts", &hosts)?;
    write(
        "resolv.conf",
        &host_file("/etc/resolv.conf").unwrap_or_default(),
    )
}
