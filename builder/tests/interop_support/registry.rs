//! A private docker-registry 2.8 (Debian's package) on a free loopback
//! port, storage in the test's dir, and a minimal HTTP/1.0 client for its
//! API (enough to fetch a manifest or a blob and see their headers).
//!
//! Must never listen beyond 127.0.0.1, and never reach another host.

use std::fs;
use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::process::Command;
use std::time::Duration;

use anyhow::{bail, Context as _, Result};

use super::command::Daemon;
use super::scratch::Scratch;

pub const REGISTRY: &str = "docker-registry";

/// The Accept header of a client that takes any single-image manifest.
pub const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json";

pub struct Registry {
    /// `127.0.0.1:PORT`
    pub addr: String,
    daemon: Daemon,
}

/// An HTTP response.
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

impl Registry {
    pub fn start(scratch: &mut Scratch) -> Result<Registry> {
        let dir = scratch.sub("registry")?;
        // A free port: bind to 0, read it, let it go.
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let addr = format!("127.0.0.1:{port}");
        fs::write(
            dir.join("config.yml"),
            format!(
                "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {addr}\n",
                dir.join("data").display()
            ),
        )?;
        let mut cmd = Command::new(REGISTRY);
        cmd.arg("serve").arg(dir.join("config.yml"));
        let daemon = Daemon::spawn("docker-registry", &mut cmd, dir.join("registry.log"))?;
        let mut r = Registry { addr, daemon };
        let addr = r.addr.clone();
        r.daemon.wait_ready(Duration::from_secs(30), || {
            http_get(&addr, "/v2/", "*/*").is_ok_and(|resp| resp.status == 200)
        })?;
        Ok(r)
    }

    pub fn get(&self, path: &str, accept: &str) -> Result<Response> {
        http_get(&self.addr, path, accept)
    }

    /// The manifest of `repo:reference` as the registry serves it: its
    /// media type, its digest header, and the parsed JSON.
    pub fn manifest(
        &self,
        repo: &str,
        reference: &str,
    ) -> Result<(String, String, serde_json::Value)> {
        let path = format!("/v2/{repo}/manifests/{reference}");
        let r = self.get(&path, MANIFEST_ACCEPT)?;
        if r.status != 200 {
            bail!(
                "GET {path} from the registry: status {} ({})",
                r.status,
                String::from_utf8_lossy(&r.body)
            );
        }
        let v = serde_json::from_slice(&r.body)
            .with_context(|| format!("GET {path}: the body is not JSON"))?;
        Ok((
            r.header("Content-Type").unwrap_or_default().to_string(),
            r.header("Docker-Content-Digest")
                .unwrap_or_default()
                .to_string(),
            v,
        ))
    }

    pub fn stop(&mut self) {
        self.daemon.stop();
    }
}

/// `GET path` over HTTP/1.0 (so no chunked body), with `Accept`.
fn http_get(addr: &str, path: &str, accept: &str) -> Result<Response> {
    let mut s = TcpStream::connect(addr).with_context(|| format!("connect to {addr}"))?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    write!(
        s,
        "GET {path} HTTP/1.0\r\nHost: {addr}\r\nAccept: {accept}\r\nConnection: close\r\n\r\n"
    )?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let Some(split) = raw.windows(4).position(|w| w == b"\r\n\r\n") else {
        bail!("GET {path}: no end of headers in {} bytes", raw.len());
    };
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let body = raw[split + 4..].to_vec();
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .with_context(|| format!("GET {path}: bad status line in {head:?}"))?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    Ok(Response {
        status,
        headers,
        body,
    })
}
