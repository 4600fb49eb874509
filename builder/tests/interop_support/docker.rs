//! A private dockerd 20.10 (Debian's docker.io): data, exec root, pid file
//! and socket in the test's dir, no iptables, no bridge, containers under a
//! cgroup parent of the test's. Driven with /usr/bin/docker (not
//! /usr/local/bin/docker, a different client).
//!
//! Must never talk to a system dockerd: every call names the private socket.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context as _, Result};

use super::command::{run, run_ok, Daemon, Out};
use super::engine::Engine;
use super::scratch::Scratch;

pub const DOCKERD: &str = "/usr/sbin/dockerd";
pub const DOCKER: &str = "/usr/bin/docker";

pub struct Docker {
    sock: PathBuf,
    daemon: Daemon,
}

impl Docker {
    pub fn start(scratch: &mut Scratch) -> Result<Docker> {
        for p in ["/etc/docker", "/etc/docker/key.json", "/run/docker"] {
            scratch.host_path(p, false);
        }
        scratch.host_path("/run/docker/plugins", true);
        scratch.host_path("/run/containerd", false);
        scratch.host_path("/run/containerd/s", false);
        let cgroup_parent = format!("/hoist-interop-docker-{}", std::process::id());
        scratch.cgroup_parent(&cgroup_parent);
        let dir = scratch.sub("docker")?;
        let sock = dir.join("docker.sock");
        let mut cmd = Command::new(DOCKERD);
        cmd.arg("--data-root")
            .arg(dir.join("data"))
            .arg("--exec-root")
            .arg(dir.join("exec"))
            .arg("--pidfile")
            .arg(dir.join("docker.pid"))
            .arg("-H")
            .arg(format!("unix://{}", sock.display()))
            .args([
                "--iptables=false",
                "--ip6tables=false",
                "--bridge=none",
                "--ip-masq=false",
            ])
            .arg("--cgroup-parent")
            .arg(&cgroup_parent);
        let daemon = Daemon::spawn("dockerd", &mut cmd, dir.join("dockerd.log"))?;
        let mut d = Docker { sock, daemon };
        let (sock, client) = (d.sock.clone(), d.client_dir());
        d.daemon.wait_ready(Duration::from_secs(60), || {
            sock.exists()
                && run(&mut docker_cmd(&sock, &client, &["version"])).is_ok_and(|o| o.code == 0)
        })?;
        Ok(d)
    }

    fn client_dir(&self) -> PathBuf {
        self.sock.with_file_name("client")
    }

    /// `/usr/bin/docker -H unix://SOCK ARGS…`
    pub fn docker(&self, args: &[&str]) -> Command {
        docker_cmd(&self.sock, &self.client_dir(), args)
    }

    pub fn stop(&mut self) {
        self.daemon.stop();
    }
}

fn docker_cmd(sock: &Path, client: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(DOCKER);
    c.env("DOCKER_CONFIG", client)
        .arg("-H")
        .arg(format!("unix://{}", sock.display()))
        .args(args);
    c
}

impl Engine for Docker {
    fn name(&self) -> &'static str {
        "docker"
    }

    fn load(&self, tar: &Path) -> Result<Out> {
        run_ok(self.docker(&["load", "-i"]).arg(tar))
    }

    fn run(&self, image: &str, args: &[&str]) -> Result<Out> {
        run(self
            .docker(&["run", "--rm", "--network", "none", image])
            .args(args))
    }

    fn config(&self, image: &str) -> Result<serde_json::Value> {
        let out = run_ok(&mut self.docker(&["image", "inspect", image]))?;
        let v: serde_json::Value = serde_json::from_str(&out.stdout)
            .with_context(|| format!("`{}` printed no JSON", out.cmd))?;
        Ok(v[0]["Config"].clone())
    }

    fn save(&self, image: &str, tar: &Path) -> Result<()> {
        run_ok(self.docker(&["save", "-o"]).arg(tar).arg(image))?;
        Ok(())
    }

    fn image_id(&self, image: &str) -> Result<String> {
        let out = run_ok(&mut self.docker(&["image", "inspect", "-f", "{{.Id}}", image]))?;
        Ok(out.stdout.trim().to_string())
    }

    fn remove(&self, image: &str) -> Result<()> {
        run_ok(&mut self.docker(&["rmi", "--force", image]))?;
        Ok(())
    }
}
