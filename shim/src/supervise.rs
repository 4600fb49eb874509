//! The supervisor's poll loop, one thread: a signalfd (SIGCHLD and the
//! signals to forward), the pty master and our stdin when there is a
//! terminal, and the OOM watch. It returns when the container's init has
//! been reaped.
//!
//! Signals: SIGINT and SIGTERM go through [`StopPolicy`] (forward, grace,
//! kill); SIGHUP, SIGQUIT, SIGUSR1 and SIGUSR2 are forwarded as they are;
//! SIGWINCH resizes the pty (the kernel then signals the container's
//! foreground group), and is ignored without a terminal.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::{fcntl, FcntlArg, OFlag};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{kill, SigSet, Signal};
use nix::sys::signalfd::SignalFd;
use nix::unistd::Pid;

use crate::console;
use crate::oom::OomWatch;
use crate::reap;
use crate::status::{Stopped, Termination};
use crate::stop::{Action, StopPolicy};

/// The poll loop failed (the container is then killed by the caller).
#[derive(Debug, thiserror::Error)]
pub enum SuperviseError {
    #[error("supervising container {id} (pid {pid}): {what}: {source}")]
    Sys {
        id: String,
        pid: i32,
        what: &'static str,
        source: nix::Error,
    },
}

/// The signals the shim handles; blocked before anything is spawned, read
/// from a signalfd.
pub fn handled_signals() -> SigSet {
    let mut s = SigSet::empty();
    for sig in [
        Signal::SIGCHLD,
        Signal::SIGINT,
        Signal::SIGTERM,
        Signal::SIGHUP,
        Signal::SIGQUIT,
        Signal::SIGUSR1,
        Signal::SIGUSR2,
        Signal::SIGWINCH,
    ] {
        s.add(sig);
    }
    s
}

/// What to do with one received signal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SignalRoute {
    Reap,
    Stop(i32),
    Forward(i32),
    Resize,
    Ignore,
}

/// Routes a received signal (`tty`: the container has a pty).
pub fn route(sig: i32, tty: bool) -> SignalRoute {
    match sig {
        libc::SIGCHLD => SignalRoute::Reap,
        libc::SIGINT | libc::SIGTERM => SignalRoute::Stop(sig),
        libc::SIGHUP | libc::SIGQUIT | libc::SIGUSR1 | libc::SIGUSR2 => SignalRoute::Forward(sig),
        libc::SIGWINCH if tty => SignalRoute::Resize,
        _ => SignalRoute::Ignore,
    }
}

/// The pty side of supervision: copies between our stdio and the master.
pub struct TtyPump {
    master: OwnedFd,
    stdin_open: bool,
    /// Bytes read from stdin not yet written to the master.
    pending: Vec<u8>,
    master_open: bool,
    stdout_ok: bool,
}

impl TtyPump {
    pub fn new(master: OwnedFd) -> Result<TtyPump, nix::Error> {
        let fl = OFlag::from_bits_truncate(fcntl(&master, FcntlArg::F_GETFL)?);
        fcntl(&master, FcntlArg::F_SETFL(fl | OFlag::O_NONBLOCK))?;
        Ok(TtyPump {
            master,
            stdin_open: true,
            pending: Vec::new(),
            master_open: true,
            stdout_ok: true,
        })
    }

    pub fn master(&self) -> BorrowedFd<'_> {
        self.master.as_fd()
    }

    /// Reads what the master has and writes it to stdout. `false` once
    /// the master is closed (EIO: every slave fd is closed) or would block.
    fn pump_out(&mut self, buf: &mut [u8]) -> bool {
        match nix::unistd::read(&self.master, buf) {
            Ok(0) | Err(Errno::EIO) => {
                self.master_open = false;
                false
            }
            Ok(n) => {
                if self.stdout_ok {
                    self.stdout_ok = write_all(std::io::stdout().as_fd(), &buf[..n]);
                }
                true
            }
            Err(_) => false,
        }
    }

    /// Reads stdin into `pending`; on EOF queues the terminal's EOF byte.
    fn pump_in(&mut self, buf: &mut [u8]) {
        match nix::unistd::read(std::io::stdin().as_fd(), buf) {
            Ok(n) if n > 0 => self.pending.extend_from_slice(&buf[..n]),
            Err(Errno::EINTR | Errno::EAGAIN) => {}
            _ => {
                self.stdin_open = false;
                if let Some(b) = console::eof_byte(self.master.as_fd()) {
                    self.pending.push(b);
                }
            }
        }
    }

    /// Writes as much of `pending` as the master takes now.
    fn flush_in(&mut self) {
        while !self.pending.is_empty() {
            match nix::unistd::write(&self.master, &self.pending) {
                Ok(n) => {
                    self.pending.drain(..n);
                }
                Err(Errno::EINTR) => {}
                Err(Errno::EAGAIN) => return,
                Err(_) => {
                    self.pending.clear();
                    self.stdin_open = false;
                }
            }
        }
    }

    /// After init is gone: copy out what the container wrote last.
    fn drain(&mut self, buf: &mut [u8]) {
        let deadline = Instant::now() + Duration::from_millis(500);
        while self.master_open && Instant::now() < deadline {
            let mut fds = [PollFd::new(self.master.as_fd(), PollFlags::POLLIN)];
            match poll(&mut fds, PollTimeout::from(100u16)) {
                Ok(0) => return,
                Ok(_) => {
                    if !self.pump_out(buf) && self.master_open {
                        return;
                    }
                }
                Err(Errno::EINTR) => {}
                Err(_) => return,
            }
        }
    }
}

fn write_all(fd: BorrowedFd<'_>, mut data: &[u8]) -> bool {
    while !data.is_empty() {
        match nix::unistd::write(fd, data) {
            Ok(n) if n > 0 => data = &data[n..],
            Err(Errno::EINTR) => {}
            _ => return false,
        }
    }
    true
}

/// The end of one supervision.
#[derive(Debug, PartialEq, Eq)]
pub struct Ended {
    pub termination: Termination,
    pub stopped: Option<Stopped>,
    /// An OOM event arrived while the container ran.
    pub oom_seen: bool,
}

/// One container's supervision state.
pub struct Supervisor<'a> {
    pub id: &'a str,
    pub pid: i32,
    pub signals: &'a SignalFd,
    pub tty: Option<TtyPump>,
    pub oom: Option<&'a mut OomWatch>,
    pub policy: StopPolicy,
}

impl Supervisor<'_> {
    /// Runs the loop until init is reaped.
    pub fn run(mut self) -> Result<Ended, SuperviseError> {
        let mut buf = vec![0u8; 16 * 1024];
        let mut oom_seen = false;
        // Signals (SIGCHLD among them) may have been read before the loop
        // began; reap once up front so an early exit is not missed.
        let mut ended = reap::sweep(self.pid).init;
        if let Some(t) = &self.tty {
            if let Some(ws) = console::copy_winsize(std::io::stdin().as_fd(), t.master()) {
                tracing::debug!(rows = ws.rows, cols = ws.cols, "initial window size");
            }
        }
        while ended.is_none() {
            let now = Instant::now();
            let timeout = match self.policy.next_wake(now) {
                None => PollTimeout::NONE,
                Some(d) => PollTimeout::try_from(d.as_millis().saturating_add(1))
                    .unwrap_or(PollTimeout::MAX),
            };
            let stdin = std::io::stdin();
            let (sig_ready, master_ready, stdin_ready, oom_ready) = {
                let mut fds = vec![PollFd::new(self.signals.as_fd(), PollFlags::POLLIN)];
                let mut idx_master = None;
                let mut idx_stdin = None;
                let mut idx_oom = None;
                if let Some(t) = &self.tty {
                    if t.master_open {
                        let mut ev = PollFlags::POLLIN;
                        if !t.pending.is_empty() {
                            ev |= PollFlags::POLLOUT;
                        }
                        idx_master = Some(fds.len());
                        fds.push(PollFd::new(t.master(), ev));
                    }
                    if t.stdin_open && t.pending.is_empty() {
                        idx_stdin = Some(fds.len());
                        fds.push(PollFd::new(stdin.as_fd(), PollFlags::POLLIN));
                    }
                }
                if let Some(w) = &self.oom {
                    idx_oom = Some(fds.len());
                    fds.push(PollFd::new(w.as_fd(), w.poll_flags()));
                }
                match poll(&mut fds, timeout) {
                    Ok(_) | Err(Errno::EINTR) => {}
                    Err(e) => return Err(self.err("poll", e)),
                }
                let rev = |i: Option<usize>| {
                    i.and_then(|i| fds[i].revents())
                        .unwrap_or(PollFlags::empty())
                };
                (rev(Some(0)), rev(idx_master), rev(idx_stdin), rev(idx_oom))
            };

            if let Some(t) = &mut self.tty {
                if master_ready.intersects(PollFlags::POLLIN | PollFlags::POLLHUP) {
                    t.pump_out(&mut buf);
                }
                if !stdin_ready.is_empty() {
                    t.pump_in(&mut buf);
                }
                if master_ready.contains(PollFlags::POLLOUT) || !t.pending.is_empty() {
                    t.flush_in();
                }
            }
            if !oom_ready.is_empty() {
                if let Some(w) = &mut self.oom {
                    if w.on_ready() {
                        oom_seen = true;
                        tracing::warn!(id = self.id, "out of memory in the container's cgroup");
                    }
                }
            }
            if !sig_ready.is_empty() {
                ended = self.handle_signals()?;
            }
            if ended.is_none() {
                if let Some(a) = self.policy.expired(Instant::now()) {
                    self.act(a);
                }
            }
        }
        if let Some(t) = &mut self.tty {
            t.drain(&mut buf);
        }
        Ok(Ended {
            termination: ended.expect("loop ends with init reaped"),
            stopped: self.policy.stopped(),
            oom_seen,
        })
    }

    fn handle_signals(&mut self) -> Result<Option<Termination>, SuperviseError> {
        let mut ended = None;
        loop {
            let info = match self.signals.read_signal() {
                Ok(Some(i)) => i,
                Ok(None) => return Ok(ended),
                Err(Errno::EINTR) => continue,
                Err(e) => return Err(self.err("read the signalfd", e)),
            };
            let sig = info.ssi_signo as i32;
            match route(sig, self.tty.is_some()) {
                SignalRoute::Reap => {
                    if let Some(t) = reap::sweep(self.pid).init {
                        ended = Some(t);
                    }
                }
                _ if ended.is_some() => {}
                SignalRoute::Stop(s) => {
                    tracing::info!(id = self.id, signal = s, "stopping the container");
                    let a = self.policy.on_stop_signal(s, Instant::now());
                    self.act(a);
                }
                SignalRoute::Forward(s) => self.act(Action::Forward(s)),
                SignalRoute::Resize => {
                    if let Some(t) = &self.tty {
                        console::copy_winsize(std::io::stdin().as_fd(), t.master());
                    }
                }
                SignalRoute::Ignore => {}
            }
        }
    }

    /// Signals init. It cannot have been reaped yet (callers check), so
    /// its pid still names it: as its subreaper, only we can free the pid.
    fn act(&self, a: Action) {
        let sig = match a {
            Action::Forward(s) => Signal::try_from(s).ok(),
            Action::Kill => Some(Signal::SIGKILL),
        };
        if let Some(sig) = sig {
            tracing::debug!(pid = self.pid, ?sig, "signalling the container");
            let _ = kill(Pid::from_raw(self.pid), sig);
        }
    }

    fn err(&self, what: &'static str, source: nix::Error) -> SuperviseError {
        SuperviseError::Sys {
            id: self.id.to_string(),
            pid: self.pid,
            what,
            source,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signal_routes() {
        assert_eq!(route(libc::SIGCHLD, false), SignalRoute::Reap);
        assert_eq!(route(libc::SIGTERM, false), SignalRoute::Stop(15));
        assert_eq!(route(libc::SIGINT, true), SignalRoute::Stop(2));
        for s in [libc::SIGHUP, libc::SIGQUIT, libc::SIGUSR1, libc::SIGUSR2] {
            assert_eq!(route(s, false), SignalRoute::Forward(s));
        }
        assert_eq!(route(libc::SIGWINCH, true), SignalRoute::Resize);
        assert_eq!(route(libc::SIGWINCH, false), SignalRoute::Ignore);
    }

    #[test]
    fn every_handled_signal_has_a_route() {
        for s in handled_signals().iter() {
            let r = route(s as i32, true);
            assert_ne!(r, SignalRoute::Ignore, "{s:?}");
        }
    }
}
