//! podman 4.3 with its storage, run and temp dirs, network config and
//! containers.conf in the test's dir. The containers.conf lowers the
//! default ulimits: root lacks CAP_SYS_RESOURCE here, and podman's default
//! nofile=1048576 fails in setrlimit.
//!
//! Must never use the system's podman storage (/var/lib/containers).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context as _, Result};

use super::command::{run, run_ok, Out};
use super::engine::Engine;
use super::scratch::Scratch;

pub struct Podman {
    dir: PathBuf,
    cgroup_parent: String,
}

impl Podman {
    pub fn new(scratch: &mut Scratch) -> Result<Podman> {
        scratch.host_path("/run/containers", false);
        scratch.host_path("/run/containers/networks", true);
        scratch.host_path("/var/lib/containers", false);
        scratch.host_path("/var/lib/containers/cache", true);
        // podman passes no --root to runc: its state goes to /run/runc.
        scratch.host_path("/run/runc", false);
        let cgroup_parent = format!("/hoist-interop-podman-{}", std::process::id());
        scratch.cgroup_parent(&cgroup_parent);
        // podman's conmon goes to /libpod_parent.
        scratch.cgroup_parent("/libpod_parent");
        let dir = scratch.sub("podman")?;
        fs::create_dir_all(dir.join("tmp"))?;
        fs::write(
            dir.join("containers.conf"),
            "[containers]\ndefault_ulimits = [\"nofile=20000:20000\", \"nproc=32768:32768\"]\n",
        )?;
        Ok(Podman { dir, cgroup_parent })
    }

    pub fn podman(&self, args: &[&str]) -> Command {
        let d = &self.dir;
        let mut c = Command::new("podman");
        c.env("CONTAINERS_CONF", d.join("containers.conf"))
            .env("TMPDIR", d.join("tmp"))
            .arg("--root")
            .arg(d.join("root"))
            .arg("--runroot")
            .arg(d.join("run"))
            .arg("--tmpdir")
            .arg(d.join("tmp"))
            .args([
                "--storage-driver",
                "overlay",
                "--cgroup-manager",
                "cgroupfs",
                "--events-backend",
                "file",
            ])
            .arg("--network-config-dir")
            .arg(d.join("net"))
            // crun (podman's default) refuses this machine's hybrid cgroups.
            .args(["--runtime", "runc"])
            .args(args);
        c
    }

    /// Remove every container and image (the storage dir goes with the
    /// scratch dir; this unmounts its overlays first).
    pub fn reset(&self) {
        let _ = run(&mut self.podman(&["rm", "--all", "--force", "--time", "0"]));
        let _ = run(&mut self.podman(&["rmi", "--all", "--force"]));
    }
}

impl Engine for Podman {
    fn name(&self) -> &'static str {
        "podman"
    }

    fn load(&self, tar: &Path) -> Result<Out> {
        run_ok(self.podman(&["load", "-i"]).arg(tar))
    }

    fn run(&self, image: &str, args: &[&str]) -> Result<Out> {
        run(self
            .podman(&["run", "--rm", "--network", "none", "--cgroup-parent"])
            .arg(&self.cgroup_parent)
            .arg(image)
            .args(args))
    }

    fn config(&self, image: &str) -> Result<serde_json::Value> {
        let out = run_ok(&mut self.podman(&["image", "inspect", image]))?;
        let v: serde_json::Value = serde_json::from_str(&out.stdout)
            .with_context(|| format!("`{}` printed no JSON", out.cmd))?;
        Ok(v[0]["Config"].clone())
    }

    /// `podman save` in its default format, docker-archive.
    fn save(&self, image: &str, tar: &Path) -> Result<()> {
        run_ok(self.podman(&["save", "-o"]).arg(tar).arg(image))?;
        Ok(())
    }

    fn image_id(&self, image: &str) -> Result<String> {
        let out = run_ok(&mut self.podman(&["image", "inspect", "-f", "{{.Id}}", image]))?;
        Ok(format!("sha256:{}", out.stdout.trim()))
    }

    fn remove(&self, image: &str) -> Result<()> {
        run_ok(&mut self.podman(&["rmi", "--force", image]))?;
        Ok(())
    }
}
