//! `keel start`: release the init process blocked on `exec.fifo`, learn
//! whether its `execve` succeeded, then run the poststart hooks.
//!
//! Init writes `0` after its startContainer hooks and then execs; the fifo is
//! close-on-exec, so EOF right after `0` means the user's program is running.
//! Anything after an `E` is an error message from init.

use std::io::Read;
use std::os::fd::AsFd;
use std::os::unix::fs::OpenOptionsExt;

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

use super::{hook_state, load, Error, Globals};
use crate::hooks::run_hooks;
use crate::state::Status;

/// Starts a `created` container.
pub fn start(g: &Globals, id: &str) -> Result<(), Error> {
    let l = load(g, id)?;
    if l.status != Status::Created {
        let hint = match l.status {
            Status::Stopped => {
                "; a stopped container cannot be started again: delete it and create a new one"
            }
            Status::Running | Status::Paused => "; it is already started",
            _ => "",
        };
        return Err(Error::InvalidStatus {
            op: "start",
            id: id.into(),
            status: l.status,
            hint,
        });
    }
    let fifo_path = l.dir.fifo_path();
    let mut fifo = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(&fifo_path)
        .map_err(Error::io(format!("open {}", fifo_path.display())))?;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let ready = {
            let mut fds = [PollFd::new(fifo.as_fd(), PollFlags::POLLIN)];
            match poll(&mut fds, PollTimeout::from(100u16)) {
                Ok(n) => n > 0,
                Err(nix::Error::EINTR) => false,
                Err(e) => return Err(Error::io("poll exec.fifo")(e.into())),
            }
        };
        if !ready {
            if !l.state.init_alive() {
                break;
            }
            continue;
        }
        match fifo.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Error::io("read exec.fifo")(e)),
        }
    }
    let _ = std::fs::remove_file(&fifo_path);
    let text = String::from_utf8_lossy(&got);
    if let Some(pos) = text.find('E') {
        return Err(Error::Init(text[pos + 1..].to_string()));
    }
    if !text.starts_with('0') {
        return Err(Error::Init(format!(
            "container {id} init exited before it could start its process"
        )));
    }
    if let Some(h) = l
        .state
        .config
        .hooks()
        .as_ref()
        .and_then(|h| h.poststart().clone())
    {
        if let Err(e) = run_hooks("poststart", &h, &hook_state(&l.state, Status::Running)) {
            tracing::warn!("{e}");
        }
    }
    Ok(())
}
