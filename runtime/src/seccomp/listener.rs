//! The seccomp agent socket (`linux.seccomp.listenerPath`): the runtime
//! sends the notify fd with SCM_RIGHTS and the *container process state*
//! (config-linux.md) as JSON, once per connection, then closes it.
//!
//! `listenerPath` is a host path, but the fd only exists inside the
//! container after the filter is loaded, past `pivot_root`. So the runtime's
//! parent connects before forking ([`connect_listener`], like
//! `--console-socket`) and the container sends over the inherited socket
//! ([`send_to_listener`]). [`receive_from_runtime`] is the agent's side.

use std::io::{self, IoSlice, IoSliceMut};
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::path::Path;

use nix::errno::Errno;
use nix::sys::socket::{recvmsg, sendmsg, ControlMessage, ControlMessageOwned, MsgFlags};
use serde::{Deserialize, Serialize};

use super::{sys, Error, Result};

/// The name of the notify fd in [`ProcessState::fds`].
pub const SECCOMP_FD_NAME: &str = "seccompFd";

/// The runtime-spec version the container process state follows.
pub const PROCESS_STATE_VERSION: &str = "1.1.0";

/// An agent refuses a message larger than this (a state with annotations is
/// a few KiB).
const MAX_MESSAGE: usize = 4 << 20;

/// The container process state, as config-linux.md defines it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProcessState {
    /// The runtime-spec version this message follows.
    pub oci_version: String,
    /// The names of the fds sent with SCM_RIGHTS, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fds: Vec<String>,
    /// The container process's pid, as the runtime sees it (host pid).
    pub pid: i32,
    /// `linux.seccomp.listenerMetadata`, passed through untouched.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<String>,
    /// The container's state (runtime.md), as `keel state` prints it.
    pub state: serde_json::Value,
}

/// Connects to the seccomp agent. Call it in the runtime's parent, before
/// forking, when [`super::Filter::uses_notify`]; the socket is close-on-exec.
pub fn connect_listener(path: &Path) -> Result<OwnedFd> {
    UnixStream::connect(path)
        .map(OwnedFd::from)
        .map_err(|source| Error::Connect {
            path: path.display().to_string(),
            source,
        })
}

/// Sends `notify_fd` and the container process state over `sock`, then
/// closes `sock` (the spec allows one state per connection).
///
/// `pid` is the process's host pid; `state_json` the container's state
/// (status `creating` from `create`, `running` from `exec`); `metadata`
/// is `linux.seccomp.listenerMetadata`.
pub fn send_to_listener(
    sock: OwnedFd,
    notify_fd: BorrowedFd<'_>,
    pid: i32,
    state_json: &str,
    metadata: Option<&str>,
) -> Result<()> {
    let state: serde_json::Value = serde_json::from_str(state_json).map_err(|e| {
        Error::Send(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("the container state is not JSON: {e}"),
        ))
    })?;
    let msg = ProcessState {
        oci_version: PROCESS_STATE_VERSION.to_string(),
        fds: vec![SECCOMP_FD_NAME.to_string()],
        pid,
        metadata: metadata.map(str::to_string),
        state,
    };
    let bytes = serde_json::to_vec(&msg)
        .map_err(|e| Error::Send(io::Error::new(io::ErrorKind::InvalidData, e)))?;
    let fds = [notify_fd.as_raw_fd()];
    let rights = [ControlMessage::ScmRights(&fds)];
    // The fd goes with the first sendmsg only; the rest of a short write
    // follows in plain messages, as the spec allows.
    let mut sent = 0;
    while sent < bytes.len() {
        let cmsgs: &[ControlMessage<'_>] = if sent == 0 { &rights } else { &[] };
        match sendmsg::<()>(
            sock.as_raw_fd(),
            &[IoSlice::new(&bytes[sent..])],
            cmsgs,
            MsgFlags::MSG_NOSIGNAL,
            None,
        ) {
            Ok(0) => return Err(Error::Send(io::Error::from(io::ErrorKind::WriteZero))),
            Ok(n) => sent += n,
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(Error::Send(e.into())),
        }
    }
    drop(sock);
    Ok(())
}

/// The agent's side: reads one message until the runtime closes the
/// connection, and returns the notify fd with the container process state.
pub fn receive_from_runtime(sock: BorrowedFd<'_>) -> Result<(OwnedFd, ProcessState)> {
    let mut data = Vec::new();
    let mut fds: Vec<OwnedFd> = Vec::new();
    let mut buf = vec![0u8; 64 << 10];
    loop {
        let mut space = nix::cmsg_space!([RawFd; 4]);
        let mut iov = [IoSliceMut::new(&mut buf)];
        let msg = match recvmsg::<()>(
            sock.as_raw_fd(),
            &mut iov,
            Some(&mut space),
            MsgFlags::MSG_CMSG_CLOEXEC,
        ) {
            Ok(m) => m,
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(Error::Receive(format!("recvmsg: {e}"))),
        };
        let n = msg.bytes;
        let cmsgs = msg
            .cmsgs()
            .map_err(|e| Error::Receive(format!("control message: {e}")))?;
        for c in cmsgs {
            if let ControlMessageOwned::ScmRights(raw) = c {
                fds.extend(raw.into_iter().map(sys::own_received_fd));
            }
        }
        if n == 0 {
            break;
        }
        data.extend_from_slice(buf.get(..n).unwrap_or_default());
        if data.len() > MAX_MESSAGE {
            return Err(Error::Receive(format!(
                "the message is larger than {MAX_MESSAGE} bytes"
            )));
        }
    }
    let state: ProcessState = serde_json::from_slice(&data)
        .map_err(|e| Error::Receive(format!("the container process state is not valid: {e}")))?;
    let index = state
        .fds
        .iter()
        .position(|n| n == SECCOMP_FD_NAME)
        .ok_or_else(|| Error::Receive(format!("fds does not name {SECCOMP_FD_NAME}")))?;
    let fd = fds.into_iter().nth(index).ok_or_else(|| {
        Error::Receive(format!(
            "fds names {SECCOMP_FD_NAME} at index {index}, but that fd did not arrive"
        ))
    })?;
    Ok((fd, state))
}
