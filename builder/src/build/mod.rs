//! The build: context + Dockerfile → an image in the store, through a
//! cached solve modelled on BuildKit's.
//!
//! - [`request`](request): what `hoist build` asks for ([`BuildRequest`]) and its outputs;
//! - [`solve`](solve): stages and steps, cache keys, layers, the final image;
//! - [`rootfs`](rootfs): a stage's filesystem, materialized only when a step misses;
//! - [`metadata`](metadata): the config-only instructions;
//! - [`progress`](progress): BuildKit-style output;
//! - [`time`](time): timestamps.
//!
//! RUN steps run in containers through [`crate::run`], on snapshots from
//! [`crate::snapshot`].

pub mod metadata;
pub mod progress;
pub mod request;
pub mod rootfs;
pub mod solve;
pub mod time;

pub use progress::{Progress, ProgressMode};
pub use request::{BuildRequest, BuildResult, ContextSource, Output};
pub use solve::build;

use std::path::PathBuf;

/// Why a build failed.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("{0}")]
    Dockerfile(#[from] crate::dockerfile::Error),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Context(#[from] crate::context::ContextError),
    #[error(transparent)]
    Archive(#[from] crate::archive::ArchiveError),
    #[error("{file}:{line}: {instruction}: {source}")]
    Step {
        file: String,
        line: usize,
        instruction: String,
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("{path}: {what}: {source}")]
    Io {
        path: PathBuf,
        what: &'static str,
        source: std::io::Error,
    },
    #[error("{file}:{line}: {instruction}: {reason}")]
    Unsupported {
        file: String,
        line: usize,
        instruction: String,
        reason: String,
    },
    #[error("platform {platform:?} is not supported: hoist builds linux/amd64 only")]
    Platform { platform: String },
    #[error("invalid output {spec:?}: {reason}")]
    Output { spec: String, reason: String },
    #[error("a build stage failed to finish: {0}")]
    Stage(String),
    /// SIGINT/SIGTERM: the build stopped after cleaning up.
    #[error("interrupted by signal {signal}: the build stopped; the cache of the finished steps is kept")]
    Interrupted { signal: i32 },
}

impl BuildError {
    pub(crate) fn io(
        path: impl Into<PathBuf>,
        what: &'static str,
    ) -> impl FnOnce(std::io::Error) -> BuildError {
        let path = path.into();
        move |source| BuildError::Io { path, what, source }
    }
}
