//! Seccomp: turns `linux.seccomp` into a kernel filter, loads it, and hands
//! the user-notification fd to the seccomp agent.
//!
//! The expensive part, [`Filter::compile`], runs once per `create` (or
//! `exec`) in the runtime's parent process: it validates the profile, builds
//! the rules with libseccomp and has libseccomp generate the BPF program. The
//! container side then only calls [`Filter::load`], a single `seccomp(2)`
//! system call that allocates nothing. keel passes the load flags itself, so
//! `SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV` works with any libseccomp.
//!
//! With `SCMP_ACT_NOTIFY`, the parent connects to `listenerPath` before it
//! forks ([`connect_listener`]); the container sends the notify fd and the
//! container process state over that socket right after loading
//! ([`send_to_listener`]). [`receive_from_runtime`], [`receive_notification`]
//! and [`respond`] are the agent's side, for tests and tools.
//!
//! This module never starts a thread and never panics on input. Its only
//! `unsafe` code is in `sys.rs`.

mod cache;
mod features;
mod filter;
mod listener;
mod notify;
mod sys;
mod tables;
#[cfg(test)]
mod tests;

pub use features::{features, libseccomp_version};
pub use filter::Filter;
pub use listener::{
    connect_listener, receive_from_runtime, send_to_listener, ProcessState, PROCESS_STATE_VERSION,
    SECCOMP_FD_NAME,
};
pub use notify::{notification_id_valid, receive_notification, respond, Notification, Response};

/// What can go wrong with a seccomp profile, its loading, or the agent socket.
///
/// Validation errors name the field, as in
/// `linux.seccomp.syscalls[3].args[0].index`.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The profile asks for something keel or the kernel cannot do.
    #[error("{field}: {msg}")]
    Invalid { field: String, msg: String },
    /// libseccomp refused a rule, an architecture or an attribute.
    #[error("{field}: libseccomp refused it ({source}); {hint}")]
    Libseccomp {
        field: String,
        hint: &'static str,
        source: libseccomp::error::SeccompError,
    },
    /// libseccomp could not generate the BPF program.
    #[error("linux.seccomp: cannot generate the filter program: {0}")]
    Generate(String),
    /// The kernel refused the filter.
    #[error("linux.seccomp: the kernel refused the filter: {source}; {hint}")]
    Load {
        hint: &'static str,
        source: std::io::Error,
    },
    /// The seccomp agent's socket could not be reached.
    #[error("linux.seccomp.listenerPath: cannot connect to {path}: {source}; start the seccomp agent first or fix the path")]
    Connect {
        path: String,
        source: std::io::Error,
    },
    /// Sending the notify fd and the state to the agent failed.
    #[error("linux.seccomp.listenerPath: cannot send the seccomp fd to the agent: {0}; check that the agent is still running")]
    Send(std::io::Error),
    /// Agent side: the runtime's message could not be read.
    #[error("seccomp listener: {0}")]
    Receive(String),
    /// Agent side: a notify ioctl failed.
    #[error("seccomp notify fd: {what}: {source}")]
    Notify {
        what: &'static str,
        source: std::io::Error,
    },
}

/// This module's result type.
pub type Result<T> = std::result::Result<T, Error>;

fn invalid(field: impl Into<String>, msg: impl Into<String>) -> Error {
    Error::Invalid {
        field: field.into(),
        msg: msg.into(),
    }
}
