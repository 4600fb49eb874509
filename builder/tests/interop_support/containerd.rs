//! A private containerd 1.6 (Debian's package) driven with `ctr`: root,
//! state, sockets, plugin dir, runc root and fifo dir all in the test's
//! dir, the CRI plugin off, containers under the cgroup /NAMESPACE/ID of a
//! namespace of the test's own.
//!
//! Must never talk to a system containerd: every call names the private
//! socket.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::{bail, Context as _, Result};

use super::command::{run, run_ok, Daemon, Out};
use super::engine::Engine;
use super::scratch::Scratch;

pub struct Containerd {
    dir: PathBuf,
    sock: PathBuf,
    ns: String,
    daemon: Daemon,
    next_id: AtomicUsize,
}

/// The name ctr knows an image by: docker's normalisation
/// (`name:tag` → `docker.io/library/name:tag`).
pub fn full_name(name: &str) -> String {
    let name = if name.rsplit('/').next().is_some_and(|l| l.contains(':')) {
        name.to_string()
    } else {
        format!("{name}:latest")
    };
    match name.split_once('/') {
        None => format!("docker.io/library/{name}"),
        Some((host, _)) if host.contains('.') || host.contains(':') || host == "localhost" => name,
        Some(_) => format!("docker.io/{name}"),
    }
}

impl Containerd {
    pub fn start(scratch: &mut Scratch) -> Result<Containerd> {
        scratch.host_path("/run/containerd", false);
        scratch.host_path("/run/containerd/s", false);
        let ns = format!("hoist-interop-{}", std::process::id());
        scratch.cgroup_parent(&format!("/{ns}"));
        let dir = scratch.sub("containerd")?;
        let sock = dir.join("containerd.sock");
        let d = dir.display();
        fs::write(
            dir.join("config.toml"),
            format!(
                r#"version = 2
root = "{d}/root"
state = "{d}/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "{sock}"
[ttrpc]
  address = "{sock}.ttrpc"
[debug]
  address = "{d}/debug.sock"
[plugins."io.containerd.internal.v1.opt"]
  path = "{d}/opt"
"#,
                sock = sock.display()
            ),
        )?;
        let mut cmd = Command::new("containerd");
        cmd.arg("--config").arg(dir.join("config.toml"));
        let daemon = Daemon::spawn("containerd", &mut cmd, dir.join("containerd.log"))?;
        let mut c = Containerd {
            dir,
            sock,
            ns,
            daemon,
            next_id: AtomicUsize::new(0),
        };
        let (sock, ns) = (c.sock.clone(), c.ns.clone());
        c.daemon.wait_ready(Duration::from_secs(30), || {
            sock.exists() && run(&mut ctr_cmd(&sock, &ns, &["version"])).is_ok_and(|o| o.code == 0)
        })?;
        Ok(c)
    }

    /// `ctr -a SOCK -n NS ARGS…`
    pub fn ctr(&self, args: &[&str]) -> Command {
        ctr_cmd(&self.sock, &self.ns, args)
    }

    /// The names of the images in the namespace.
    pub fn image_names(&self) -> Result<Vec<String>> {
        let out = run_ok(&mut self.ctr(&["images", "ls", "-q"]))?;
        Ok(out.stdout.lines().map(str::to_string).collect())
    }

    /// The manifest digest `ctr images ls` shows for `name`.
    pub fn image_target(&self, name: &str) -> Result<String> {
        let out = run_ok(&mut self.ctr(&["images", "ls"]))?;
        for line in out.stdout.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.first() == Some(&name) {
                if let Some(d) = f.get(2) {
                    return Ok((*d).to_string());
                }
            }
        }
        bail!("`ctr images ls` has no {name}:\n{}", out.stdout)
    }

    /// A blob of the content store, as JSON.
    pub fn content_json(&self, digest: &str) -> Result<serde_json::Value> {
        let out = run_ok(&mut self.ctr(&["content", "get", digest]))?;
        serde_json::from_str(&out.stdout)
            .with_context(|| format!("blob {digest} from `{}` is not JSON", out.cmd))
    }

    pub fn stop(&mut self) {
        self.daemon.stop();
    }
}

fn ctr_cmd(sock: &Path, ns: &str, args: &[&str]) -> Command {
    let mut c = Command::new("ctr");
    c.arg("-a").arg(sock).arg("-n").arg(ns).args(args);
    c
}

impl Engine for Containerd {
    fn name(&self) -> &'static str {
        "containerd"
    }

    fn load(&self, tar: &Path) -> Result<Out> {
        run_ok(self.ctr(&["images", "import"]).arg(tar))
    }

    /// `ctr run` takes a command as the whole argv (the entrypoint too):
    /// the entrypoint is put back in front here, as docker would.
    fn run(&self, image: &str, args: &[&str]) -> Result<Out> {
        let mut argv: Vec<String> = Vec::new();
        if !args.is_empty() {
            if let Some(ep) = self.config(image)?["Entrypoint"].as_array() {
                argv.extend(ep.iter().filter_map(|a| a.as_str().map(str::to_string)));
            }
            argv.extend(args.iter().map(|a| (*a).to_string()));
        }
        let id = format!(
            "hoist-interop-{}",
            self.next_id.fetch_add(1, Ordering::Relaxed)
        );
        run(self
            .ctr(&["run", "--rm", "--runc-root"])
            .arg(self.dir.join("runc-root"))
            .arg("--fifo-dir")
            .arg(self.dir.join("fifo"))
            .arg(full_name(image))
            .arg(id)
            .args(argv))
    }

    /// From the content store: the image's manifest, then its config
    /// blob's `config`.
    fn config(&self, image: &str) -> Result<serde_json::Value> {
        let manifest = self.content_json(&self.image_target(&full_name(image))?)?;
        let Some(config) = manifest["config"]["digest"].as_str() else {
            bail!("the manifest of {image} has no config digest: {manifest}");
        };
        Ok(self.content_json(config)?["config"].clone())
    }

    /// `ctr images export` (an OCI archive with index.json and
    /// manifest.json).
    fn save(&self, image: &str, tar: &Path) -> Result<()> {
        run_ok(
            self.ctr(&["images", "export"])
                .arg(tar)
                .arg(full_name(image)),
        )?;
        Ok(())
    }

    fn image_id(&self, image: &str) -> Result<String> {
        let manifest = self.content_json(&self.image_target(&full_name(image))?)?;
        Ok(manifest["config"]["digest"]
            .as_str()
            .unwrap_or_default()
            .to_string())
    }

    fn remove(&self, image: &str) -> Result<()> {
        run_ok(&mut self.ctr(&["images", "rm", &full_name(image)]))?;
        Ok(())
    }
}
