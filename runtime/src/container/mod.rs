//! One file per CLI verb. Each verb takes the state lock of its container,
//! checks that the operation is valid in the current status, and says which
//! status it found when it is not.

pub mod create;
pub mod delete;
pub mod events;
pub mod exec;
pub mod kill;
pub mod list;
pub mod pause;
pub mod ps;
pub mod run;
pub mod start;
pub mod update;

use std::path::PathBuf;

use crate::state::{ContainerDir, Status, StoredState};

/// Everything a verb can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error(transparent)]
    State(#[from] crate::state::StateError),
    #[error(transparent)]
    Namespace(#[from] crate::namespaces::NamespaceError),
    #[error(transparent)]
    Console(#[from] crate::console::ConsoleError),
    #[error(transparent)]
    Channel(#[from] crate::channel::ChannelError),
    #[error(transparent)]
    Hook(#[from] crate::hooks::HookError),
    #[error(transparent)]
    Signal(#[from] crate::signal::BadSignal),
    #[error(transparent)]
    Seal(#[from] crate::seal::SealError),
    #[error(transparent)]
    Spec(#[from] crate::spec::SpecError),
    #[error(transparent)]
    Cgroup(#[from] crate::cgroups::Error),
    #[error(transparent)]
    Seccomp(#[from] crate::seccomp::Error),
    /// The container side reported a failure.
    #[error("{0}")]
    Init(String),
    #[error("cannot {op} container {id}: it is {status}{hint}")]
    InvalidStatus {
        op: &'static str,
        id: String,
        status: Status,
        hint: &'static str,
    },
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
    #[error("{0}")]
    Unsupported(String),
}

impl Error {
    pub(crate) fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
        let what = what.into();
        move |source| Error::Io { what, source }
    }
}

/// Global options every verb sees.
#[derive(Debug, Clone)]
pub struct Globals {
    pub root: PathBuf,
}

impl Globals {
    pub fn state_root(&self) -> crate::state::StateRoot {
        crate::state::StateRoot::new(&self.root)
    }
}

/// A locked container with its state and current status.
pub struct Loaded {
    pub dir: ContainerDir,
    pub state: StoredState,
    pub status: Status,
}

/// Locks and loads a container.
pub fn load(g: &Globals, id: &str) -> Result<Loaded, Error> {
    let dir = g.state_root().open(id)?;
    let state = dir.load()?;
    let status = live_status(&state, dir.fifo_path().exists());
    Ok(Loaded { dir, state, status })
}

/// The status, with `paused` when the container's cgroup is frozen.
pub fn live_status(state: &StoredState, fifo_exists: bool) -> Status {
    let status = state.status(fifo_exists);
    if status == Status::Running && !state.cgroup_paths.is_empty() {
        if let Ok(m) = crate::cgroups::Manager::from_paths(&state.cgroup_paths) {
            if m.is_frozen().unwrap_or(false) {
                return Status::Paused;
            }
        }
    }
    status
}

/// The container's cgroup manager, if it has a cgroup.
pub fn cgroup_of(state: &StoredState) -> Result<Option<crate::cgroups::Manager>, Error> {
    if state.cgroup_paths.is_empty() {
        return Ok(None);
    }
    Ok(Some(crate::cgroups::Manager::from_paths(
        &state.cgroup_paths,
    )?))
}

/// The state JSON handed to hooks, with the status of the moment.
pub fn hook_state(state: &StoredState, status: Status) -> String {
    let mut doc = state.doc(status);
    doc.pid = state.pid;
    serde_json::to_string(&doc).unwrap_or_default()
}

/// Prints runc's `state` document for one container.
pub fn state_json(g: &Globals, id: &str) -> Result<String, Error> {
    let root = g.state_root();
    let st = root.peek(id)?;
    let fifo = root.path().join(id).join("exec.fifo").exists();
    let status = live_status(&st, fifo);
    Ok(serde_json::to_string_pretty(&st.doc(status)).unwrap_or_default())
}
