//! The typed channel between `keel create` and the processes it forks.
//!
//! One `SOCK_SEQPACKET` socketpair carries JSON messages, one per packet, so
//! message boundaries are kept and errors travel back as values: the parent
//! never has to guess from "EOF from pipe" what went wrong.

use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};

use nix::sys::socket::{recvmsg, sendmsg, socketpair, AddressFamily, MsgFlags, SockFlag, SockType};
use serde::{de::DeserializeOwned, Deserialize, Serialize};

const MAX_MSG: usize = 64 * 1024;

/// Errors on the channel itself.
#[derive(Debug, thiserror::Error)]
pub enum ChannelError {
    #[error("cannot create the sync socketpair: {0}")]
    Create(nix::Error),
    #[error("sync channel send failed: {0}")]
    Send(nix::Error),
    #[error("sync channel receive failed: {0}")]
    Recv(nix::Error),
    #[error("sync channel closed by the other side")]
    Closed,
    #[error("sync channel: malformed message: {0}")]
    Decode(serde_json::Error),
}

/// Messages from the container side (intermediate or init) to the parent.
#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub enum ChildMsg {
    /// The intermediate made a new user namespace; write its id maps.
    WriteIdMaps { pid: i32 },
    /// The container's init process exists, with this host pid.
    InitPid { pid: i32 },
    /// Mounts are done; run prestart and createRuntime hooks now.
    RunCreateRuntimeHooks,
    /// Setup is complete; init now waits for `start`.
    Ready,
    /// `keel exec`: everything is applied; execve comes next.
    Executing,
    /// Setup failed.
    Error { msg: String },
}

/// Messages from the parent to the container side.
#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub enum ParentMsg {
    IdMapsWritten,
    /// The process is in the container's cgroup; go on. `pid` is the host
    /// pid of the exec'd process (0 for create's intermediate).
    Proceed {
        pid: i32,
    },
    /// Hooks ran; `state` is the state JSON for createContainer hooks.
    HooksDone {
        state: String,
    },
    Abort {
        msg: String,
    },
}

/// One end of the channel.
#[derive(Debug)]
pub struct Channel {
    fd: OwnedFd,
}

/// A connected pair: `(parent end, child end)`, both close-on-exec.
pub fn pair() -> Result<(Channel, Channel), ChannelError> {
    let (a, b) = socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .map_err(ChannelError::Create)?;
    Ok((Channel { fd: a }, Channel { fd: b }))
}

impl Channel {
    pub fn send<T: Serialize>(&self, msg: &T) -> Result<(), ChannelError> {
        let bytes = serde_json::to_vec(msg).map_err(ChannelError::Decode)?;
        let iov = [IoSlice::new(&bytes)];
        loop {
            match sendmsg::<()>(self.fd.as_raw_fd(), &iov, &[], MsgFlags::MSG_NOSIGNAL, None) {
                Err(nix::Error::EINTR) => continue,
                Err(e) => return Err(ChannelError::Send(e)),
                Ok(_) => return Ok(()),
            }
        }
    }

    pub fn recv<T: DeserializeOwned>(&self) -> Result<T, ChannelError> {
        let mut buf = vec![0u8; MAX_MSG];
        let n = loop {
            let mut iov = [IoSliceMut::new(&mut buf)];
            match recvmsg::<()>(self.fd.as_raw_fd(), &mut iov, None, MsgFlags::empty()) {
                Err(nix::Error::EINTR) => continue,
                Err(e) => return Err(ChannelError::Recv(e)),
                Ok(m) => break m.bytes,
            }
        };
        if n == 0 {
            return Err(ChannelError::Closed);
        }
        serde_json::from_slice(&buf[..n]).map_err(ChannelError::Decode)
    }
}

impl AsFd for Channel {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_close() {
        let (p, c) = pair().unwrap();
        c.send(&ChildMsg::InitPid { pid: 42 }).unwrap();
        assert_eq!(p.recv::<ChildMsg>().unwrap(), ChildMsg::InitPid { pid: 42 });
        p.send(&ParentMsg::Abort { msg: "x".into() }).unwrap();
        assert_eq!(
            c.recv::<ParentMsg>().unwrap(),
            ParentMsg::Abort { msg: "x".into() }
        );
        drop(c);
        assert!(matches!(p.recv::<ChildMsg>(), Err(ChannelError::Closed)));
    }
}
