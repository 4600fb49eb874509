//! The socket a `RUN --mount=type=ssh` step sees: a unix socket of hoist's
//! own (with the mount's mode, uid and gid) whose connections are relayed
//! to the agent given with `hoist build --ssh`, as BuildKit forwards the
//! agent instead of exposing the host's socket.
//!
//! Relays bytes only; never reads, logs or keeps them. Dropping the proxy
//! stops accepting and removes its socket.

use std::io;
use std::net::Shutdown;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

/// A listening relay; stops on drop.
#[derive(Debug)]
pub struct SshProxy {
    path: PathBuf,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl SshProxy {
    /// Listens at `path` (mode, owner set) and relays each connection to
    /// `agent`.
    pub fn start(path: &Path, agent: &Path, mode: u32, uid: u32, gid: u32) -> io::Result<SshProxy> {
        let listener = UnixListener::bind(path)?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
        std::os::unix::fs::lchown(path, Some(uid), Some(gid))?;
        let stop = Arc::new(AtomicBool::new(false));
        let agent = agent.to_owned();
        let flag = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("hoist-ssh-proxy".into())
            .spawn(move || {
                for conn in listener.incoming() {
                    if flag.load(Ordering::SeqCst) {
                        break;
                    }
                    match conn {
                        Ok(client) => {
                            if let Err(e) = relay(client, &agent) {
                                tracing::warn!(agent = %agent.display(), error = %e, "ssh agent forwarding: could not reach the agent");
                            }
                        }
                        Err(e) => tracing::debug!(error = %e, "ssh agent proxy: accept failed"),
                    }
                }
            })?;
        Ok(SshProxy {
            path: path.to_owned(),
            stop,
            thread: Some(thread),
        })
    }
}

/// Copies both ways on two threads; when one side ends, both sockets shut
/// down so the other copy ends too.
fn relay(client: UnixStream, agent: &Path) -> io::Result<()> {
    let upstream = UnixStream::connect(agent)?;
    let (c2, u2) = (client.try_clone()?, upstream.try_clone()?);
    let pipe = |mut from: UnixStream, mut to: UnixStream| {
        move || {
            let _ = io::copy(&mut from, &mut to);
            let _ = from.shutdown(Shutdown::Both);
            let _ = to.shutdown(Shutdown::Both);
        }
    };
    std::thread::Builder::new()
        .name("hoist-ssh-relay".into())
        .spawn(pipe(client, upstream))?;
    std::thread::Builder::new()
        .name("hoist-ssh-relay".into())
        .spawn(pipe(u2, c2))?;
    Ok(())
}

impl Drop for SshProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop.
        let _ = UnixStream::connect(&self.path);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let _ = std::fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn relays_to_the_agent_and_stops() {
        let d = tempfile::tempdir().unwrap();
        let agent_path = d.path().join("agent");
        let agent = UnixListener::bind(&agent_path).unwrap();
        let server = std::thread::spawn(move || {
            let (mut s, _) = agent.accept().unwrap();
            let mut buf = [0u8; 4];
            s.read_exact(&mut buf).unwrap();
            s.write_all(&buf.map(|b| b.to_ascii_uppercase())).unwrap();
        });
        let p = d.path().join("proxy");
        let proxy = SshProxy::start(&p, &agent_path, 0o600, 1000, 1000).unwrap();
        let m = std::fs::metadata(&p).unwrap();
        assert_eq!((m.mode() & 0o777, m.uid(), m.gid()), (0o600, 1000, 1000));
        let mut c = UnixStream::connect(&p).unwrap();
        c.write_all(b"ping").unwrap();
        let mut out = Vec::new();
        c.read_to_end(&mut out).unwrap();
        assert_eq!(out, b"PING");
        server.join().unwrap();
        drop(proxy);
        assert!(!p.exists());
    }
}
