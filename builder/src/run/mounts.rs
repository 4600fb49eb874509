//! `RUN --mount`s turned into the step's [`RunMount`]s, with what must stay
//! up while the step runs ([`PreparedMounts`], a guard):
//!
//! - `bind`: `source` (resolved inside the context or the `from=` root,
//!   never outside it) bound read-only, or with `rw` through an overlay (a
//!   copy where overlayfs fails) so writes are thrown away. A context with
//!   `.dockerignore` exclusions is bound as a copy of its visible files.
//! - `cache`: a persistent dir of the store ([`super::cache_mounts`]).
//! - `tmpfs`: a tmpfs with `size`.
//! - `secret`: the value written to a private tmpfs of hoist's and bound
//!   read-only at `target` (default `/run/secrets/ID`, mode 0400), and/or
//!   given as the env var `env`.
//! - `ssh`: a relay socket ([`super::ssh_proxy`]) at `target` (default
//!   `/run/buildkit/ssh_agent.N`) and `SSH_AUTH_SOCK`.
//!
//! Relative targets are relative to WORKDIR, as in BuildKit. Must never
//! write into the build context or a `from=` root, and never log, key or
//! keep a secret's value: it lives in the tmpfs and the process env only,
//! and both go away with the guard.

use std::fmt;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use nix::mount::{mount, umount2, MntFlags, MsFlags};

use crate::context::{root_path, Context};
use crate::digest::Digest;
use crate::dockerfile::mount::{Mount, MountType, Sharing};
use crate::snapshot::{overlay_usable, OverlayMount, SnapshotMode};
use crate::store::Store;

use super::build_secrets::{Secret, SshAgent};
use super::cache_mounts::{self, CacheInstance, Seed};
use super::spec::RunMount;
use super::ssh_proxy::SshProxy;

/// Why a `--mount` could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum MountError {
    #[error("{path}: {what}: {source}")]
    Io {
        path: PathBuf,
        what: &'static str,
        source: std::io::Error,
    },
    #[error("--mount {spec}: source {source_path:?} {what}")]
    Source {
        spec: String,
        source_path: String,
        what: String,
    },
    #[error("secret {id:?} is required but was not provided: pass hoist build --secret id={id},src=FILE (or env=VAR)")]
    SecretMissing { id: String },
    #[error("secret {id:?}: reading {from}: {source}")]
    SecretRead {
        id: String,
        from: String,
        source: std::io::Error,
    },
    #[error(
        "secret {id:?} is not valid UTF-8, so it cannot be the env var {env}: mount it as a file"
    )]
    SecretNotUtf8 { id: String, env: String },
    #[error("ssh agent {id:?} is required but was not forwarded: pass hoist build --ssh {id} (uses $SSH_AUTH_SOCK) or --ssh {id}=/path/to/agent.sock")]
    SshMissing { id: String },
    #[error("--mount {spec}: {reason}")]
    Invalid { spec: String, reason: String },
    #[error(transparent)]
    Context(#[from] crate::context::ContextError),
}

fn io(path: &Path, what: &'static str) -> impl FnOnce(std::io::Error) -> MountError {
    let path = path.to_owned();
    move |source| MountError::Io { path, what, source }
}

/// One `--mount` with its `from=` resolved by the solver.
#[derive(Debug)]
pub struct MountPlan<'a> {
    pub mount: &'a Mount,
    /// The `from=` root (a stage's or image's filesystem, materialized);
    /// `None`: the build context for binds, nothing for caches.
    pub from_dir: Option<PathBuf>,
    /// What identifies `from=` (a stage key, an image digest): part of a
    /// cache mount's identity, as BuildKit keys a cache by id and base.
    pub from_key: Option<String>,
}

/// What the mounts of a step draw on.
pub struct MountEnv<'a> {
    pub store: &'a Store,
    /// A fresh directory for this step's scaffolding (removed on drop).
    pub scratch: PathBuf,
    pub context: &'a Context,
    /// WORKDIR: relative targets are joined to it.
    pub workdir: &'a str,
    pub secrets: &'a [Secret],
    pub ssh: &'a [SshAgent],
}

/// What keeps a mount up while the step runs.
#[derive(Debug)]
enum Held {
    Cache(CacheInstance),
    Overlay(OverlayMount),
    Tmpfs(PathBuf),
    Ssh(SshProxy),
    TempDir(tempfile::TempDir),
}

/// The step's mounts and env additions; dropping it unmounts, releases the
/// cache locks, stops the ssh relays and removes the scratch dir.
pub struct PreparedMounts {
    pub mounts: Vec<RunMount>,
    /// `KEY=VALUE` for the process only (secret env vars, `SSH_AUTH_SOCK`).
    pub env: Vec<String>,
    held: Vec<Held>,
    scratch: PathBuf,
}

impl fmt::Debug for PreparedMounts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let keys: Vec<&str> = self
            .env
            .iter()
            .map(|e| e.split_once('=').map_or(e.as_str(), |(k, _)| k))
            .collect();
        f.debug_struct("PreparedMounts")
            .field("mounts", &self.mounts)
            .field("env_keys", &keys)
            .field("held", &self.held)
            .finish()
    }
}

impl Drop for PreparedMounts {
    fn drop(&mut self) {
        let mut clean = true;
        while let Some(h) = self.held.pop() {
            match h {
                Held::Overlay(m) => {
                    if let Err(e) = m.unmount() {
                        tracing::warn!(error = %e, "could not unmount a rw bind mount's overlay");
                        clean = false;
                    }
                }
                Held::Tmpfs(p) => {
                    if let Err(e) = unmount(&p) {
                        tracing::warn!(path = %p.display(), error = %e, "could not unmount the secrets tmpfs");
                        clean = false;
                    }
                }
                Held::Cache(c) => drop(c),
                Held::Ssh(s) => drop(s),
                Held::TempDir(t) => drop(t),
            }
        }
        if clean {
            if let Err(e) = fs::remove_dir_all(&self.scratch) {
                if e.kind() != std::io::ErrorKind::NotFound {
                    tracing::warn!(path = %self.scratch.display(), error = %e, "could not remove a RUN mount scratch dir");
                }
            }
        }
    }
}

fn unmount(p: &Path) -> nix::Result<()> {
    match umount2(p, MntFlags::empty()) {
        Err(nix::Error::EBUSY) => umount2(p, MntFlags::MNT_DETACH),
        r => r,
    }
}

/// The absolute container path of a target (relative: under WORKDIR).
pub fn absolute_target(target: &str, workdir: &str) -> String {
    let joined = if target.starts_with('/') {
        target.to_owned()
    } else {
        format!("{}/{target}", workdir.trim_end_matches('/'))
    };
    root_path::clean(&joined)
}

/// The cache dir identity of a cache mount: its id (default: the target),
/// plus, as in BuildKit, the base it starts from (`from`, `source`, or the
/// `mode`/`uid`/`gid` of a fresh one).
pub fn cache_key(m: &Mount, target: &str, from_key: Option<&str>) -> Digest {
    let id = m.id.clone().unwrap_or_else(|| target.to_owned());
    if from_key.is_none()
        && m.source.is_none()
        && m.mode.is_none()
        && m.uid.is_none()
        && m.gid.is_none()
    {
        return Digest::of(id.as_bytes());
    }
    let extra = serde_json::json!({
        "from": from_key, "source": m.source, "mode": m.mode, "uid": m.uid, "gid": m.gid,
    });
    Digest::of(format!("{id}\n{extra}").as_bytes())
}

/// Sets up `plans` in order. On error, what was set up is torn down.
pub fn prepare(env: &MountEnv<'_>, plans: &[MountPlan<'_>]) -> Result<PreparedMounts, MountError> {
    fs::create_dir_all(&env.scratch).map_err(io(&env.scratch, "create the mount scratch dir"))?;
    let mut out = PreparedMounts {
        mounts: Vec::new(),
        env: Vec::new(),
        held: Vec::new(),
        scratch: env.scratch.clone(),
    };
    // Cache locks are taken in one order (by cache dir), so two steps that
    // lock the same caches cannot deadlock.
    let mut caches: Vec<(usize, PathBuf, Sharing, Seed)> = Vec::new();
    for (i, p) in plans.iter().enumerate() {
        if p.mount.kind != MountType::Cache {
            continue;
        }
        let target = target_of(p.mount, env.workdir)?;
        let dir = cache_mounts::cache_mounts_dir(env.store)
            .join(cache_key(p.mount, &target, p.from_key.as_deref()).hex());
        let from = match &p.from_dir {
            Some(root) => Some(resolve_in(root, p.mount, "in the from= image or stage")?),
            None => None,
        };
        let seed = Seed {
            from,
            mode: p.mount.mode,
            uid: p.mount.uid,
            gid: p.mount.gid,
        };
        caches.push((i, dir, p.mount.sharing.unwrap_or(Sharing::Shared), seed));
    }
    caches.sort_by(|a, b| a.1.cmp(&b.1));
    let mut cache_dirs: Vec<(usize, PathBuf)> = Vec::new();
    // The same cache twice in one step: one reservation.
    let mut reserved: Vec<(PathBuf, PathBuf)> = Vec::new();
    for (i, dir, sharing, seed) in &caches {
        if let Some((_, inst)) = reserved.iter().find(|(d, _)| d == dir) {
            cache_dirs.push((*i, inst.clone()));
            continue;
        }
        let inst = cache_mounts::acquire(dir, *sharing, seed)?;
        cache_dirs.push((*i, inst.dir.clone()));
        reserved.push((dir.clone(), inst.dir.clone()));
        out.held.push(Held::Cache(inst));
    }

    let mut ssh_index = 0usize;
    let mut secrets_dir: Option<PathBuf> = None;
    for (i, p) in plans.iter().enumerate() {
        let m = p.mount;
        match m.kind {
            MountType::Bind => {
                let target = target_of(m, env.workdir)?;
                let rw = m.readonly == Some(false);
                let (src, private) = bind_source(env, p, i)?;
                let src = if rw && !private {
                    writable_view(env, &src, i, &mut out)?
                } else {
                    src
                };
                let mut options = vec!["rbind".to_owned()];
                options.push(if rw { "rw" } else { "ro" }.into());
                out.mounts.push(RunMount {
                    destination: target,
                    kind: "bind".into(),
                    source: src,
                    options,
                });
            }
            MountType::Cache => {
                let target = target_of(m, env.workdir)?;
                let inst = cache_dirs
                    .iter()
                    .find(|(j, _)| *j == i)
                    .map(|(_, d)| d.clone())
                    .ok_or_else(|| MountError::Invalid {
                        spec: m.spec.clone(),
                        reason: "the cache dir was not reserved".into(),
                    })?;
                // Without from=, `source` is a subdir of the cache.
                let src = match (&p.from_dir, &m.source) {
                    (None, Some(s)) if !root_path::clean_rel(s).is_empty() => {
                        let rel = root_path::clean_rel(s);
                        crate::layer::root::Root::open(&inst)
                            .and_then(|r| r.create_dir_all(Path::new(&rel)).map(drop))
                            .map_err(io(&inst.join(&rel), "create the cache mount's source dir"))?;
                        let real = root_path::resolve(&inst, &rel, true)
                            .map_err(io(&inst, "resolve the cache mount's source"))?;
                        root_path::join(&inst, &real)
                    }
                    _ => inst,
                };
                let ro = m.readonly == Some(true);
                out.mounts.push(RunMount {
                    destination: target,
                    kind: "bind".into(),
                    source: src,
                    options: vec!["rbind".into(), if ro { "ro" } else { "rw" }.into()],
                });
            }
            MountType::Tmpfs => {
                let target = target_of(m, env.workdir)?;
                let mut options = vec!["nosuid".to_owned(), "nodev".to_owned()];
                if let Some(size) = m.size {
                    options.push(format!("size={size}"));
                }
                out.mounts.push(RunMount {
                    destination: target,
                    kind: "tmpfs".into(),
                    source: "tmpfs".into(),
                    options,
                });
            }
            MountType::Secret => {
                let id = secret_id(m, env.workdir);
                let Some(secret) = env.secrets.iter().rev().find(|s| s.id == id) else {
                    if m.required == Some(true) {
                        return Err(MountError::SecretMissing { id });
                    }
                    tracing::debug!(id = %id, "optional secret not provided: not mounted");
                    continue;
                };
                let from = format!("{:?}", secret.source);
                let value = match secret.read() {
                    Ok(Some(v)) => v,
                    Ok(None) if m.required == Some(true) => {
                        return Err(MountError::SecretMissing { id })
                    }
                    Ok(None) => continue,
                    Err(source) => return Err(MountError::SecretRead { id, from, source }),
                };
                if let Some(var) = &m.env {
                    let s = String::from_utf8(value.clone()).map_err(|_| {
                        MountError::SecretNotUtf8 {
                            id: id.clone(),
                            env: var.clone(),
                        }
                    })?;
                    out.env.push(format!("{var}={s}"));
                }
                if m.env.is_some() && m.target.is_none() {
                    continue;
                }
                let target = match &m.target {
                    Some(t) => absolute_target(t, env.workdir),
                    None => format!("/run/secrets/{id}"),
                };
                let dir = match &secrets_dir {
                    Some(d) => d.clone(),
                    None => {
                        let d = env.scratch.join("secrets");
                        secrets_tmpfs(&d, &mut out)?;
                        secrets_dir = Some(d.clone());
                        d
                    }
                };
                let f = dir.join(i.to_string());
                write_secret(&f, &value, m)?;
                out.mounts.push(RunMount {
                    destination: target,
                    kind: "bind".into(),
                    source: f,
                    options: ["rbind", "ro", "nosuid", "nodev", "noexec"]
                        .map(String::from)
                        .to_vec(),
                });
            }
            MountType::Ssh => {
                let n = ssh_index;
                ssh_index += 1;
                let id = m.id.clone().unwrap_or_else(|| "default".into());
                let Some(agent) = env.ssh.iter().rev().find(|a| a.id == id) else {
                    if m.required == Some(true) {
                        return Err(MountError::SshMissing { id });
                    }
                    tracing::debug!(id = %id, "optional ssh agent not forwarded: not mounted");
                    continue;
                };
                let target = match &m.target {
                    Some(t) => absolute_target(t, env.workdir),
                    None => format!("/run/buildkit/ssh_agent.{n}"),
                };
                let sock = ssh_socket_path(&env.scratch, i, &mut out)?;
                let proxy = SshProxy::start(
                    &sock,
                    &agent.socket,
                    m.mode.unwrap_or(0o600),
                    m.uid.unwrap_or(0),
                    m.gid.unwrap_or(0),
                )
                .map_err(io(&sock, "listen for ssh agent forwarding"))?;
                out.held.push(Held::Ssh(proxy));
                if !out.env.iter().any(|e| e.starts_with("SSH_AUTH_SOCK=")) {
                    out.env.push(format!("SSH_AUTH_SOCK={target}"));
                }
                out.mounts.push(RunMount {
                    destination: target,
                    kind: "bind".into(),
                    source: sock,
                    options: ["rbind", "nosuid", "nodev", "noexec"]
                        .map(String::from)
                        .to_vec(),
                });
            }
        }
    }
    // The runtime resolves relative sources against the bundle.
    for m in out.mounts.iter_mut().filter(|m| m.kind == "bind") {
        if m.source.is_relative() {
            m.source = std::path::absolute(&m.source).map_err(io(&m.source, "resolve"))?;
        }
    }
    Ok(out)
}

fn target_of(m: &Mount, workdir: &str) -> Result<String, MountError> {
    let t = m.target.as_deref().ok_or_else(|| MountError::Invalid {
        spec: m.spec.clone(),
        reason: "a target is required (target=/path)".into(),
    })?;
    let abs = absolute_target(t, workdir);
    if abs == "/" {
        return Err(MountError::Invalid {
            spec: m.spec.clone(),
            reason: "the target cannot be / (mount somewhere below it)".into(),
        });
    }
    Ok(abs)
}

/// A secret's id: `id=`, else the target's last name (BuildKit).
pub fn secret_id(m: &Mount, workdir: &str) -> String {
    match (&m.id, &m.target) {
        (Some(id), _) => id.clone(),
        (None, Some(t)) => {
            let abs = absolute_target(t, workdir);
            abs.rsplit('/').next().unwrap_or_default().to_owned()
        }
        (None, None) => m.env.clone().unwrap_or_default(),
    }
}

/// `source` (default: the root) resolved inside `root`, symlinks included,
/// never leaving it; it must exist.
fn resolve_in(root: &Path, m: &Mount, where_: &str) -> Result<PathBuf, MountError> {
    let rel = root_path::clean_rel(m.source.as_deref().unwrap_or("/"));
    let real = root_path::resolve(root, &rel, true).map_err(io(root, "resolve a mount source"))?;
    let p = root_path::join(root, &real);
    if fs::symlink_metadata(&p).is_err() {
        return Err(MountError::Source {
            spec: m.spec.clone(),
            source_path: m.source.clone().unwrap_or_else(|| "/".into()),
            what: format!("does not exist {where_}"),
        });
    }
    Ok(p)
}

/// A bind's source on the host, and whether it is a private copy (free to
/// be written).
fn bind_source(
    env: &MountEnv<'_>,
    p: &MountPlan<'_>,
    i: usize,
) -> Result<(PathBuf, bool), MountError> {
    let m = p.mount;
    if let Some(root) = &p.from_dir {
        return Ok((resolve_in(root, m, "in the from= image or stage")?, false));
    }
    let ctx = env.context;
    let rel = root_path::clean_rel(m.source.as_deref().unwrap_or("/"));
    let real = ctx.resolve(&rel, true)?.ok_or_else(|| MountError::Source {
        spec: m.spec.clone(),
        source_path: m.source.clone().unwrap_or_else(|| "/".into()),
        what: "does not exist in the build context (or .dockerignore excludes it)".into(),
    })?;
    let abs = ctx.abs(&real);
    let is_dir = fs::symlink_metadata(&abs).is_ok_and(|md| md.is_dir());
    if !is_dir || ctx.ignore().is_empty() {
        return Ok((abs, false));
    }
    // Only the files the context shows: a copy (hard links where
    // possible; the mount is read-only or an overlay sits on it).
    let dst = env.scratch.join(format!("context-{i}"));
    copy_dir_entry(&abs, &dst, true)?;
    for e in ctx.walk(&real)? {
        let below = e
            .rel
            .strip_prefix(real.as_str())
            .unwrap_or(&e.rel)
            .trim_start_matches('/');
        if below.is_empty() {
            continue;
        }
        copy_node(&ctx.abs(&e.rel), &dst.join(below), &e.meta, true)?;
    }
    Ok((dst, false))
}

/// A writable view of `src` whose writes never reach it: an overlay with
/// `src` as the lower dir, or a copy when overlayfs is not usable.
fn writable_view(
    env: &MountEnv<'_>,
    src: &Path,
    i: usize,
    out: &mut PreparedMounts,
) -> Result<PathBuf, MountError> {
    let base = env.scratch.join(format!("rw-{i}"));
    let is_dir = fs::metadata(src).is_ok_and(|m| m.is_dir());
    if is_dir && overlay_usable(&env.scratch) == SnapshotMode::Overlay {
        let (upper, work, merged) = (base.join("upper"), base.join("work"), base.join("merged"));
        for d in [&upper, &work, &merged] {
            fs::create_dir_all(d).map_err(io(d, "create a rw bind mount's overlay dir"))?;
        }
        // The mount's root shows the upper dir's metadata.
        if let Ok(md) = fs::metadata(src) {
            let _ = fs::set_permissions(&upper, fs::Permissions::from_mode(md.mode() & 0o7777));
            let _ = std::os::unix::fs::lchown(&upper, Some(md.uid()), Some(md.gid()));
        }
        match OverlayMount::mount(&[src.to_owned()], &upper, &work, &merged) {
            Ok(m) => {
                out.held.push(Held::Overlay(m));
                return Ok(merged);
            }
            Err(e) => {
                tracing::debug!(error = %e, "rw bind mount: overlay failed, copying the source");
            }
        }
    }
    let dst = base.join("copy");
    fs::create_dir_all(&base).map_err(io(&base, "create a rw bind mount's copy"))?;
    copy_tree(src, &dst, false)?;
    Ok(dst)
}

fn secrets_tmpfs(dir: &Path, out: &mut PreparedMounts) -> Result<(), MountError> {
    fs::create_dir(dir).map_err(io(dir, "create the secrets dir"))?;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
        .map_err(io(dir, "set the secrets dir's mode"))?;
    match mount(
        Some("tmpfs"),
        dir,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        Some("mode=0700"),
    ) {
        Ok(()) => out.held.push(Held::Tmpfs(dir.to_owned())),
        // Still a 0700 dir of the scratch, removed with it.
        Err(e) => tracing::debug!(error = %e, "no tmpfs for secrets; using the scratch dir"),
    }
    Ok(())
}

fn write_secret(f: &Path, value: &[u8], m: &Mount) -> Result<(), MountError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(f)
        .map_err(io(f, "create a secret file"))?;
    file.write_all(value)
        .map_err(io(f, "write a secret file"))?;
    drop(file);
    fs::set_permissions(f, fs::Permissions::from_mode(m.mode.unwrap_or(0o400)))
        .map_err(io(f, "set a secret's mode"))?;
    std::os::unix::fs::lchown(f, Some(m.uid.unwrap_or(0)), Some(m.gid.unwrap_or(0)))
        .map_err(io(f, "set a secret's owner"))
}

/// Where the relay socket of an ssh mount listens: in the scratch dir, or
/// a short temp dir when that path is too long for a unix socket.
fn ssh_socket_path(
    scratch: &Path,
    i: usize,
    out: &mut PreparedMounts,
) -> Result<PathBuf, MountError> {
    let dir = scratch.join("ssh");
    let p = dir.join(i.to_string());
    if p.as_os_str().len() < 100 {
        fs::create_dir_all(&dir).map_err(io(&dir, "create the ssh socket dir"))?;
        return Ok(p);
    }
    let t = tempfile::Builder::new()
        .prefix("hoist-ssh-")
        .tempdir()
        .map_err(io(&std::env::temp_dir(), "create an ssh socket dir"))?;
    let p = t.path().join("s");
    out.held.push(Held::TempDir(t));
    Ok(p)
}

/// Copies the node `src` (a file, dir tree or symlink) to `dst`, keeping
/// modes and owners. With `links`, regular files are hard-linked when they
/// can be (the result must then never be written). Skips sockets, fifos
/// and devices.
pub fn copy_tree(src: &Path, dst: &Path, links: bool) -> Result<(), MountError> {
    let md = fs::symlink_metadata(src).map_err(io(src, "read a mount source"))?;
    if !md.is_dir() {
        return copy_node(src, dst, &md, links);
    }
    copy_dir_entry(src, dst, false)?;
    for e in walkdir::WalkDir::new(src).min_depth(1).sort_by_file_name() {
        let e = e.map_err(|e| {
            let path = e.path().map_or_else(|| src.to_owned(), Path::to_owned);
            MountError::Io {
                path,
                what: "walk a mount source",
                source: e.into(),
            }
        })?;
        let rel = e.path().strip_prefix(src).unwrap_or(e.path());
        let md = e.metadata().map_err(|err| MountError::Io {
            path: e.path().to_owned(),
            what: "stat a mount source file",
            source: err.into(),
        })?;
        copy_node(e.path(), &dst.join(rel), &md, links)?;
    }
    Ok(())
}

/// Creates the directory `dst` with `src`'s mode and owner (`exists_ok`:
/// it may be there).
fn copy_dir_entry(src: &Path, dst: &Path, exists_ok: bool) -> Result<(), MountError> {
    let md = fs::symlink_metadata(src).map_err(io(src, "read a mount source"))?;
    match fs::create_dir(dst) {
        Err(e) if exists_ok && e.kind() == std::io::ErrorKind::AlreadyExists => {}
        r => r.map_err(io(dst, "create a copy of a mount source"))?,
    }
    fs::set_permissions(dst, fs::Permissions::from_mode(md.mode() & 0o7777))
        .map_err(io(dst, "set a copied dir's mode"))?;
    std::os::unix::fs::lchown(dst, Some(md.uid()), Some(md.gid()))
        .map_err(io(dst, "set a copied dir's owner"))
}

fn copy_node(src: &Path, dst: &Path, md: &fs::Metadata, links: bool) -> Result<(), MountError> {
    let ft = md.file_type();
    if ft.is_dir() {
        return copy_dir_entry(src, dst, false);
    }
    if ft.is_symlink() {
        let target = fs::read_link(src).map_err(io(src, "read a symlink"))?;
        std::os::unix::fs::symlink(&target, dst).map_err(io(dst, "copy a symlink"))?;
        return std::os::unix::fs::lchown(dst, Some(md.uid()), Some(md.gid()))
            .map_err(io(dst, "set a copied symlink's owner"));
    }
    if !ft.is_file() {
        tracing::debug!(path = %src.display(), "special file not copied into a mount");
        return Ok(());
    }
    if links && fs::hard_link(src, dst).is_ok() {
        return Ok(());
    }
    fs::copy(src, dst).map_err(io(dst, "copy a mount source file"))?;
    fs::set_permissions(dst, fs::Permissions::from_mode(md.mode() & 0o7777))
        .map_err(io(dst, "set a copied file's mode"))?;
    std::os::unix::fs::lchown(dst, Some(md.uid()), Some(md.gid()))
        .map_err(io(dst, "set a copied file's owner"))
}
