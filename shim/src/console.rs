//! The container's terminal: a unix socket the runtime's `create` connects
//! to (`--console-socket`) to hand over the pty master with SCM_RIGHTS, and
//! our own terminal put in raw mode while we copy to and from the master.
//!
//! Copying itself happens in the supervisor's poll loop; this module only
//! sets things up and tears them down.

use std::io::IoSliceMut;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
use nix::sys::termios::{self, SetArg, Termios};

use crate::sys::{self, WinSize};
pub use crate::sys::{get_winsize, set_winsize};

/// The console could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    #[error("cannot listen on console socket {path}: {source}")]
    Listen {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the runtime did not send a pty master over {path} within {secs}s; does the bundle's config.json set process.terminal to true?")]
    NoConnection { path: PathBuf, secs: u64 },
    #[error("cannot receive the pty master over {path}: {source}")]
    Receive {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// A listening `--console-socket`.
pub struct ConsoleSocket {
    listener: UnixListener,
    path: PathBuf,
}

impl ConsoleSocket {
    /// Listens on `path` (which must not exist).
    pub fn listen(path: &Path) -> Result<ConsoleSocket, ConsoleError> {
        let listener = UnixListener::bind(path).map_err(|source| ConsoleError::Listen {
            path: path.to_path_buf(),
            source,
        })?;
        Ok(ConsoleSocket {
            listener,
            path: path.to_path_buf(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Accepts the runtime's connection (already queued once `create` has
    /// returned) and receives the pty master.
    pub fn receive_master(self, wait: Duration) -> Result<OwnedFd, ConsoleError> {
        let recv_err = |source| ConsoleError::Receive {
            path: self.path.clone(),
            source,
        };
        let mut fds = [PollFd::new(self.listener.as_fd(), PollFlags::POLLIN)];
        let ms = PollTimeout::try_from(wait).unwrap_or(PollTimeout::MAX);
        let ready = loop {
            match poll(&mut fds, ms) {
                Err(nix::Error::EINTR) => continue,
                r => break r.map_err(|e| recv_err(e.into()))?,
            }
        };
        if ready == 0 {
            return Err(ConsoleError::NoConnection {
                path: self.path.clone(),
                secs: wait.as_secs(),
            });
        }
        let (conn, _) = self.listener.accept().map_err(recv_err)?;
        recv_fd(conn.as_fd()).map_err(recv_err)
    }
}

/// Receives one fd sent with SCM_RIGHTS (the payload, the pty's name, is
/// ignored).
fn recv_fd(sock: BorrowedFd<'_>) -> std::io::Result<OwnedFd> {
    let mut buf = [0u8; 1024];
    let mut iov = [IoSliceMut::new(&mut buf)];
    let mut cmsg = nix::cmsg_space!([RawFd; 1]);
    let msg = recvmsg::<()>(
        sock.as_raw_fd(),
        &mut iov,
        Some(&mut cmsg),
        MsgFlags::MSG_CMSG_CLOEXEC,
    )?;
    let mut first = None;
    for c in msg.cmsgs()? {
        if let ControlMessageOwned::ScmRights(fds) = c {
            for fd in fds {
                // Own every fd we were sent, so extras are closed.
                let owned = sys::adopt_received_fd(fd);
                if first.is_none() {
                    first = owned;
                }
            }
        }
    }
    first.ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "the message carried no file descriptor",
        )
    })
}

/// Our own terminal in raw mode; restored on drop.
pub struct RawTerminal<'a> {
    fd: BorrowedFd<'a>,
    saved: Termios,
}

impl<'a> RawTerminal<'a> {
    /// Puts `fd` in raw mode if it is a terminal; `None` if it is not.
    pub fn enter(fd: BorrowedFd<'a>) -> Option<RawTerminal<'a>> {
        let saved = termios::tcgetattr(fd).ok()?;
        let mut raw = saved.clone();
        termios::cfmakeraw(&mut raw);
        termios::tcsetattr(fd, SetArg::TCSANOW, &raw).ok()?;
        Some(RawTerminal { fd, saved })
    }
}

impl Drop for RawTerminal<'_> {
    fn drop(&mut self) {
        let _ = termios::tcsetattr(self.fd, SetArg::TCSADRAIN, &self.saved);
    }
}

/// Copies the window size of our terminal `from` to the pty master `to`.
/// Does nothing when `from` is not a terminal or reports a 0×0 size.
pub fn copy_winsize(from: BorrowedFd<'_>, to: BorrowedFd<'_>) -> Option<WinSize> {
    let ws = sys::get_winsize(from).ok()?;
    if ws.rows == 0 && ws.cols == 0 {
        return None;
    }
    sys::set_winsize(to, ws).ok()?;
    Some(ws)
}

/// The byte the pty turns into end-of-file for a reader in canonical mode
/// (VEOF, normally ^D); `None` if the terminal is not canonical.
pub fn eof_byte(master: BorrowedFd<'_>) -> Option<u8> {
    let t = termios::tcgetattr(master).ok()?;
    if !t.local_flags.contains(termios::LocalFlags::ICANON) {
        return None;
    }
    Some(t.control_chars[termios::SpecialCharacterIndices::VEOF as usize])
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::IoSlice;
    use std::os::unix::net::UnixStream;

    use nix::sys::socket::{sendmsg, ControlMessage};

    #[test]
    fn receives_a_master_over_the_socket() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("console.sock");
        let sock = ConsoleSocket::listen(&path).unwrap();
        let pty = nix::pty::openpty(None, None).unwrap();
        let client = UnixStream::connect(&path).unwrap();
        let fds = [pty.master.as_raw_fd()];
        sendmsg::<()>(
            client.as_raw_fd(),
            &[IoSlice::new(b"/dev/pts/9")],
            &[ControlMessage::ScmRights(&fds)],
            MsgFlags::empty(),
            None,
        )
        .unwrap();
        let got = sock.receive_master(Duration::from_secs(1)).unwrap();
        // It is the same pty: a size set on the received master shows on the slave.
        let ws = WinSize {
            rows: 33,
            cols: 101,
        };
        sys::set_winsize(got.as_fd(), ws).unwrap();
        assert_eq!(sys::get_winsize(pty.slave.as_fd()).unwrap(), ws);
        assert_eq!(eof_byte(got.as_fd()), Some(4));
    }

    #[test]
    fn no_connection_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let sock = ConsoleSocket::listen(&dir.path().join("c.sock")).unwrap();
        let e = sock.receive_master(Duration::from_millis(10)).unwrap_err();
        assert!(e.to_string().contains("process.terminal"), "{e}");
    }

    #[test]
    fn winsize_copy_skips_non_terminals() {
        let pty = nix::pty::openpty(None, None).unwrap();
        let file = std::fs::File::open("/dev/null").unwrap();
        assert_eq!(copy_winsize(file.as_fd(), pty.master.as_fd()), None);
        let other = nix::pty::openpty(None, None).unwrap();
        let ws = WinSize { rows: 24, cols: 80 };
        sys::set_winsize(other.master.as_fd(), ws).unwrap();
        assert_eq!(
            copy_winsize(other.slave.as_fd(), pty.master.as_fd()),
            Some(ws)
        );
        assert_eq!(sys::get_winsize(pty.slave.as_fd()).unwrap(), ws);
    }
}
