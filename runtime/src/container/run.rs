//! `keel run`: create and start, then (unless `-d`) wait for the container,
//! forward signals to it, and exit with its status (128+N for a signal).
//!
//! In the foreground keel is a child subreaper, so the container's init is
//! reparented to it when the intermediate exits. With a terminal and no
//! `--console-socket`, keel receives the pty master itself and copies between
//! it and its own stdio.

use std::io::IoSliceMut;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::net::UnixStream;

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{SigSet, SigmaskHow, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
use nix::sys::termios;
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use super::create::{create, ConsoleTarget, CreateOpts};
use super::{delete::delete, start::start, Error, Globals};

/// The flags of `keel run`.
#[derive(Debug)]
pub struct RunOpts {
    pub create: CreateOpts,
    pub detach: bool,
    pub keep: bool,
    pub no_subreaper: bool,
}

/// Runs the container; returns the exit code keel should exit with.
pub fn run(g: &Globals, mut o: RunOpts) -> Result<i32, Error> {
    let id = o.create.id.clone();
    let terminal = crate::config::load_bundle(&o.create.bundle)?
        .spec
        .process()
        .as_ref()
        .and_then(|p| p.terminal())
        .unwrap_or(false);
    let console_peer = own_console(terminal, &mut o.create.console, o.detach)?;
    let mask = forwarded_signals();
    if !o.detach {
        if !o.no_subreaper {
            let _ = nix::sys::prctl::set_child_subreaper(true);
        }
        block(&mask)?;
    }
    let pid = create(g, o.create)?;
    let master = console_peer.map(receive_master).transpose()?;
    if let Err(e) = start(g, &id) {
        let _ = delete(g, &id, true);
        return Err(e);
    }
    if o.detach {
        return Ok(0);
    }
    let code = supervise(pid, &mask, master.as_ref())?;
    if !o.keep {
        delete(g, &id, true)?;
    }
    Ok(code)
}

/// With a terminal and no `--console-socket`, keel keeps the pty master
/// itself: sets `console` to one end of a socketpair and returns the other.
/// Detached, nobody would read the pty, so that is an error.
pub(crate) fn own_console(
    terminal: bool,
    console: &mut Option<ConsoleTarget>,
    detach: bool,
) -> Result<Option<UnixStream>, Error> {
    if !terminal || console.is_some() {
        return Ok(None);
    }
    if detach {
        return Err(Error::Unsupported(
            "cannot allocate a tty if keel will detach without setting --console-socket".into(),
        ));
    }
    let (ours, theirs) = UnixStream::pair().map_err(Error::io("console socketpair"))?;
    *console = Some(ConsoleTarget::Fd(theirs.into()));
    Ok(Some(ours))
}

/// The pty master the container sent over our end of the console pair.
pub(crate) fn receive_master(sock: UnixStream) -> Result<OwnedFd, Error> {
    recv_fd(sock.as_fd()).map_err(Error::io("receive the pty master"))
}

/// Every signal a foreground `run`/`exec` forwards to the container.
pub(crate) fn forwarded_signals() -> SigSet {
    let mut mask = SigSet::all();
    mask.remove(Signal::SIGKILL);
    mask.remove(Signal::SIGSTOP);
    mask
}

/// Blocks `mask` before the container exists, so no signal is lost before
/// the signalfd reads it.
pub(crate) fn block(mask: &SigSet) -> Result<(), Error> {
    nix::sys::signal::sigprocmask(SigmaskHow::SIG_BLOCK, Some(mask), None)
        .map_err(|e| Error::io("sigprocmask")(e.into()))
}

pub(crate) fn supervise(pid: i32, mask: &SigSet, master: Option<&OwnedFd>) -> Result<i32, Error> {
    let sfd = SignalFd::with_flags(mask, SfdFlags::SFD_CLOEXEC)
        .map_err(|e| Error::io("signalfd")(e.into()))?;
    let stdin = std::io::stdin();
    let raw = master.and_then(|_| make_raw(stdin.as_fd()));
    if let Some(m) = master {
        if let Ok((rows, cols)) = crate::sys::get_winsize(stdin.as_fd()) {
            let _ = crate::sys::set_winsize(m.as_fd(), rows, cols);
        }
    }
    let mut stdin_open = master.is_some();
    let mut buf = [0u8; 8192];
    let code = 'outer: loop {
        let mut fds = vec![PollFd::new(sfd.as_fd(), PollFlags::POLLIN)];
        if let Some(m) = master {
            fds.push(PollFd::new(m.as_fd(), PollFlags::POLLIN));
            if stdin_open {
                fds.push(PollFd::new(stdin.as_fd(), PollFlags::POLLIN));
            }
        }
        match poll(&mut fds, PollTimeout::NONE) {
            Err(nix::Error::EINTR) => continue,
            Err(e) => return Err(Error::io("poll")(e.into())),
            Ok(_) => {}
        }
        let revents: Vec<_> = fds
            .iter()
            .map(|f| f.revents().unwrap_or(PollFlags::empty()))
            .collect();
        drop(fds);
        if let Some(m) = master {
            if revents[1].intersects(PollFlags::POLLIN | PollFlags::POLLHUP) {
                match nix::unistd::read(m.as_fd(), &mut buf) {
                    Ok(n) if n > 0 => write_all(std::io::stdout().as_fd(), &buf[..n]),
                    _ => {}
                }
            }
            if stdin_open && revents.len() > 2 && !revents[2].is_empty() {
                match nix::unistd::read(stdin.as_fd(), &mut buf) {
                    Ok(n) if n > 0 => write_all(m.as_fd(), &buf[..n]),
                    _ => stdin_open = false,
                }
            }
        }
        if !revents[0].contains(PollFlags::POLLIN) {
            continue;
        }
        while let Ok(Some(info)) = sfd.read_signal() {
            let sig = info.ssi_signo as i32;
            if sig == libc::SIGCHLD {
                loop {
                    match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
                        Ok(WaitStatus::Exited(p, c)) if p.as_raw() == pid => break 'outer c,
                        Ok(WaitStatus::Signaled(p, s, _)) if p.as_raw() == pid => {
                            break 'outer 128 + s as i32
                        }
                        Ok(WaitStatus::StillAlive) | Err(_) => break,
                        Ok(_) => continue,
                    }
                }
            } else if sig == libc::SIGWINCH {
                if let (Some(m), Ok((r, c))) = (master, crate::sys::get_winsize(stdin.as_fd())) {
                    let _ = crate::sys::set_winsize(m.as_fd(), r, c);
                }
            } else {
                let _ = crate::sys::kill_raw(pid, sig);
            }
        }
    };
    // Drain what the container wrote last.
    if let Some(m) = master {
        while let Ok(n) = nix::unistd::read(m.as_fd(), &mut buf) {
            if n == 0 {
                break;
            }
            write_all(std::io::stdout().as_fd(), &buf[..n]);
        }
    }
    if let Some(t) = raw {
        let _ = termios::tcsetattr(stdin.as_fd(), termios::SetArg::TCSANOW, &t);
    }
    Ok(code)
}

fn write_all(fd: BorrowedFd<'_>, mut data: &[u8]) {
    while !data.is_empty() {
        match nix::unistd::write(fd, data) {
            Ok(n) if n > 0 => data = &data[n..],
            Err(nix::Error::EINTR) => continue,
            _ => return,
        }
    }
}

/// Puts our terminal in raw mode; returns the settings to restore.
fn make_raw(fd: BorrowedFd<'_>) -> Option<termios::Termios> {
    let old = termios::tcgetattr(fd).ok()?;
    let mut raw = old.clone();
    termios::cfmakeraw(&mut raw);
    termios::tcsetattr(fd, termios::SetArg::TCSANOW, &raw).ok()?;
    Some(old)
}

/// Receives one fd sent with SCM_RIGHTS.
pub fn recv_fd(sock: BorrowedFd<'_>) -> std::io::Result<OwnedFd> {
    let mut buf = [0u8; 4096];
    let mut iov = [IoSliceMut::new(&mut buf)];
    let mut cmsg = nix::cmsg_space!([std::os::fd::RawFd; 1]);
    let msg = recvmsg::<()>(
        sock.as_raw_fd(),
        &mut iov,
        Some(&mut cmsg),
        MsgFlags::MSG_CMSG_CLOEXEC,
    )?;
    for c in msg.cmsgs()? {
        if let ControlMessageOwned::ScmRights(fds) = c {
            if let Some(fd) = fds.first() {
                return crate::sys::inherited_fd(*fd)
                    .ok_or_else(|| std::io::Error::from_raw_os_error(libc::EBADF));
            }
        }
    }
    Err(std::io::Error::new(
        std::io::ErrorKind::InvalidData,
        "no fd in the console message",
    ))
}
