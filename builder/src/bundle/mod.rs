//! An image unpacked to an OCI runtime bundle: `rootfs/` with the layers
//! applied in order, and `config.json` with the process docker would run
//! (Entrypoint + Cmd, the image's Env, WorkingDir, and USER resolved
//! through the image's own passwd/group files).
//!
//! - [`spec`]: the runtime spec JSON (`runc spec`'s defaults, docker's caps);
//! - [`user`]: `USER` → uid/gid/additional gids.
//!
//! Must never write into a non-empty directory or outside `dir`.

use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use crate::image::ImageConfig;
use crate::layer::root::Root;
use crate::layer::{apply_layer, decompress, ApplyOptions, LayerError};

pub mod spec;
pub mod user;

pub use user::ExecUser;

/// Options of [`write_bundle`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BundleOptions {
    /// Give the process a terminal (and `TERM=xterm`).
    pub terminal: bool,
    /// Replaces the image's Cmd (the Entrypoint is kept), like the
    /// arguments of `docker run IMAGE ARGS...`.
    pub args_override: Option<Vec<String>>,
    /// The container's hostname; "hoist" when unset.
    pub hostname: Option<String>,
}

/// Why a bundle could not be written.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error(
        "bundle directory {dir} exists and is not empty; remove it or choose another directory"
    )]
    NotEmpty { dir: PathBuf },
    #[error("bundle {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("applying layer {index} of the image to {rootfs}: {source}")]
    Layer {
        index: usize,
        rootfs: PathBuf,
        source: LayerError,
    },
    #[error("user {user:?} is not in the image's /etc/passwd; use a numeric uid or add the user")]
    UnknownUser { user: String },
    #[error(
        "group {group:?} is not in the image's /etc/group; use a numeric gid or add the group"
    )]
    UnknownGroup { group: String },
    #[error("USER {user:?}: {reason}")]
    BadUser { user: String, reason: String },
    #[error("the image has no command to run: it sets neither ENTRYPOINT nor CMD; give a command")]
    NoCommand,
}

/// Unpacks `layers` (each compressed or not, bottom first) into
/// `dir/rootfs` and writes `dir/config.json` for `config`.
pub fn write_bundle(
    config: &ImageConfig,
    layers: Vec<Box<dyn Read + '_>>,
    dir: &Path,
    opts: &BundleOptions,
) -> Result<(), BundleError> {
    let io_err = |path: &Path| {
        let path = path.to_owned();
        move |source| BundleError::Io { path, source }
    };
    fs::create_dir_all(dir).map_err(io_err(dir))?;
    if fs::read_dir(dir).map_err(io_err(dir))?.next().is_some() {
        return Err(BundleError::NotEmpty {
            dir: dir.to_owned(),
        });
    }
    let c = &config.config;
    let args: Vec<String> = c
        .entrypoint
        .iter()
        .flatten()
        .chain(
            opts.args_override
                .as_ref()
                .or(c.cmd.as_ref())
                .into_iter()
                .flatten(),
        )
        .cloned()
        .collect();
    if args.is_empty() {
        return Err(BundleError::NoCommand);
    }

    let rootfs = dir.join("rootfs");
    fs::create_dir(&rootfs).map_err(io_err(&rootfs))?;
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(&rootfs, fs::Permissions::from_mode(0o755)).map_err(io_err(&rootfs))?;
    }
    let apply_opts = ApplyOptions::default();
    for (index, layer) in layers.into_iter().enumerate() {
        let layer_err = |source| BundleError::Layer {
            index,
            rootfs: rootfs.clone(),
            source,
        };
        let tar = decompress(layer).map_err(layer_err)?;
        let stats = apply_layer(tar, &rootfs, &apply_opts).map_err(layer_err)?;
        tracing::debug!(index, ?stats, "applied layer");
    }

    let root = Root::open(&rootfs).map_err(io_err(&rootfs))?;
    let user = user::resolve_in_root(&root, c.user.as_deref().unwrap_or(""))?;

    let cwd = match c.working_dir.as_deref() {
        None | Some("") => "/".to_owned(),
        Some(w) if w.starts_with('/') => w.to_owned(),
        Some(w) => format!("/{w}"),
    };
    // Docker creates a missing WORKDIR when the container starts.
    root.create_dir_all(Path::new(cwd.trim_start_matches('/')))
        .map_err(io_err(&rootfs.join(cwd.trim_start_matches('/'))))?;

    let hostname = opts.hostname.clone().unwrap_or_else(|| "hoist".into());
    let env = spec::container_env(
        c.env.as_deref().unwrap_or_default(),
        &hostname,
        opts.terminal,
        &user.home,
    );
    let doc = spec::runtime_spec(&spec::ProcessSpec {
        args: &args,
        env: &env,
        cwd: &cwd,
        user: &user,
        terminal: opts.terminal,
        hostname: &hostname,
    });
    let path = dir.join("config.json");
    let bytes = serde_json::to_vec_pretty(&doc).map_err(|e| BundleError::Io {
        path: path.clone(),
        source: e.into(),
    })?;
    fs::write(&path, bytes).map_err(io_err(&path))?;
    Ok(())
}
