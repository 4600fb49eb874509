//! The container's terminal: a pty made inside the container's devpts,
//! whose master is sent over `--console-socket` with SCM_RIGHTS, as runc does.

use std::io::IoSlice;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::Path;

use nix::fcntl::OFlag;
use nix::pty::{grantpt, posix_openpt, ptsname_r, unlockpt};
use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags};

/// A console that could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    #[error("cannot connect to --console-socket {path}: {source}")]
    Connect {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot allocate a pty in the container: {0}")]
    Pty(nix::Error),
    #[error("cannot send the pty master over the console socket: {0}")]
    Send(nix::Error),
    #[error("cannot set up {what}: {source}")]
    Setup {
        what: &'static str,
        source: std::io::Error,
    },
}

/// Connects to the console socket (done by the parent, before the fork).
pub fn connect(path: &Path) -> Result<UnixStream, ConsoleError> {
    UnixStream::connect(path).map_err(|source| ConsoleError::Connect {
        path: path.display().to_string(),
        source,
    })
}

/// A freshly made pty pair.
pub struct Pty {
    pub master: OwnedFd,
    pub slave: OwnedFd,
    pub slave_path: String,
}

/// Opens a pty through the container's `/dev/ptmx`.
pub fn open_pty() -> Result<Pty, ConsoleError> {
    let master = posix_openpt(OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC)
        .map_err(ConsoleError::Pty)?;
    grantpt(&master).map_err(ConsoleError::Pty)?;
    unlockpt(&master).map_err(ConsoleError::Pty)?;
    let slave_path = ptsname_r(&master).map_err(ConsoleError::Pty)?;
    let slave = nix::fcntl::open(
        slave_path.as_str(),
        OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(ConsoleError::Pty)?;
    let master: OwnedFd = master.into();
    Ok(Pty {
        master,
        slave,
        slave_path,
    })
}

/// Sends `fd` over a connected unix socket with the name runc uses (the slave path).
pub fn send_fd(sock: BorrowedFd<'_>, fd: BorrowedFd<'_>, name: &str) -> Result<(), ConsoleError> {
    let fds = [fd.as_raw_fd()];
    let cmsg = [ControlMessage::ScmRights(&fds)];
    let iov = [IoSlice::new(name.as_bytes())];
    sendmsg::<()>(sock.as_raw_fd(), &iov, &cmsg, MsgFlags::empty(), None)
        .map_err(ConsoleError::Send)?;
    Ok(())
}

/// Makes the slave the process's stdio and controlling terminal.
pub fn attach_stdio(slave: &OwnedFd) -> Result<(), ConsoleError> {
    let setup = |source: nix::Error| ConsoleError::Setup {
        what: "stdio on the pty",
        source: source.into(),
    };
    nix::unistd::dup2_stdin(slave).map_err(setup)?;
    nix::unistd::dup2_stdout(slave).map_err(setup)?;
    nix::unistd::dup2_stderr(slave).map_err(setup)?;
    crate::sys::set_controlling_tty(slave.as_fd()).map_err(|source| ConsoleError::Setup {
        what: "controlling terminal",
        source,
    })
}
