//! The support library's error type.

use std::io;

/// Everything that can go wrong while preparing or driving a container.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: io::Error,
    },
    /// A test artifact is missing; the message says which script makes it.
    #[error("{0}")]
    MissingArtifact(String),
    #[error("`{cmd}` timed out after {secs}s")]
    Timeout { cmd: String, secs: u64 },
    #[error("`{cmd}` exited with {code}: {stderr}")]
    Failed {
        cmd: String,
        code: i32,
        stderr: String,
    },
    #[error("bad JSON from `{cmd}`: {source}: {text}")]
    Json {
        cmd: String,
        text: String,
        #[source]
        source: serde_json::Error,
    },
    /// A check performed by a helper did not hold.
    #[error("{0}")]
    Check(String),
}

/// A `map_err` helper: `fs::read(p).map_err(io_err(format!("read {p}")))`.
pub fn io_err(what: impl Into<String>) -> impl FnOnce(io::Error) -> Error {
    let what = what.into();
    move |source| Error::Io { what, source }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
