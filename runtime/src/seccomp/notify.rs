//! The agent's side of a seccomp notify fd (seccomp_unotify(2)): receive a
//! notification, answer it. keel itself never answers notifications; this
//! is for tests and tools that play the agent.

use std::os::fd::BorrowedFd;

use super::{sys, Error, Result};

/// One intercepted system call, waiting for an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Notification {
    /// The cookie to answer with.
    pub id: u64,
    /// The calling thread, as a pid in the agent's pid namespace.
    pub pid: u32,
    /// The syscall number (for `arch`).
    pub syscall: i32,
    /// The `AUDIT_ARCH_*` value of the call.
    pub arch: u32,
    /// The raw arguments.
    pub args: [u64; 6],
}

/// How to answer a [`Notification`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Response {
    /// The call fails with this errno (positive, e.g. `libc::EPERM`).
    Error(i32),
    /// The call "succeeds" and returns this value, without running.
    Value(i64),
    /// The kernel runs the call as if no filter had caught it
    /// (`SECCOMP_USER_NOTIF_FLAG_CONTINUE`; never use it to enforce policy).
    Continue,
}

/// Blocks until a notification arrives on `fd`.
pub fn receive_notification(fd: BorrowedFd<'_>) -> Result<Notification> {
    loop {
        match sys::notif_recv(fd) {
            Ok(n) => {
                return Ok(Notification {
                    id: n.id,
                    pid: n.pid,
                    syscall: n.data.nr,
                    arch: n.data.arch,
                    args: n.data.args,
                })
            }
            Err(e) if e.raw_os_error() == Some(libc::EINTR) => continue,
            Err(source) => {
                return Err(Error::Notify {
                    what: "SECCOMP_IOCTL_NOTIF_RECV",
                    source,
                })
            }
        }
    }
}

/// Answers notification `id`. Fails with ENOENT when the caller is gone or
/// was interrupted by a signal meanwhile.
pub fn respond(fd: BorrowedFd<'_>, id: u64, response: Response) -> Result<()> {
    let (val, error, flags) = match response {
        Response::Error(errno) => (0, -errno.abs(), 0),
        Response::Value(v) => (v, 0, 0),
        Response::Continue => (0, 0, libc::SECCOMP_USER_NOTIF_FLAG_CONTINUE as u32),
    };
    let resp = libc::seccomp_notif_resp {
        id,
        val,
        error,
        flags,
    };
    sys::notif_send(fd, &resp).map_err(|source| Error::Notify {
        what: "SECCOMP_IOCTL_NOTIF_SEND",
        source,
    })
}

/// Whether notification `id` is still pending: check it after reading the
/// caller's memory and before acting on it (pid reuse).
pub fn notification_id_valid(fd: BorrowedFd<'_>, id: u64) -> bool {
    sys::notif_id_valid(fd, id)
}
