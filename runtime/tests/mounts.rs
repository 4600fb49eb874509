//! The root filesystem and mounts: the default mounts of `runc spec` (proc,
//! tmpfs /dev, devpts newinstance with ptmxmode, shm, mqueue, sysfs, cgroup),
//! bind and rbind mounts read-only, tmpfs options, a read-only root, default
//! and configured devices, the /dev links, masked and read-only paths, and
//! rootfsPropagation. Verified inside the container by keel-check.

mod common;

use std::fs;

use anyhow::{Context, Result};
use common::*;

#[test]
fn default_mounts_devices_and_links() {
    each_runtime(|ctx| -> Result<()> {
        let spec = Ctx::checker_spec(&[
            "mounts",
            "devices",
            "maskedPaths",
            "readonlyPaths",
            "root.readonly",
            "fds=0,1,2",
        ]);
        // Through create/start, the path engines use.
        let tap = ctx.expect_pass_create_start(&spec)?;
        for name in [
            "mounts /proc",
            "mounts /dev/pts",
            "mounts /dev/mqueue",
            "mounts /sys/fs/cgroup",
            "devices.links /dev/ptmx",
        ] {
            tap.passed_unskipped(name).map_err(anyhow::Error::msg)?;
        }
        Ok(())
    });
}

#[test]
fn readonly_root() {
    each_runtime(|ctx| -> Result<()> {
        let mut spec = Ctx::checker_spec(&["root.readonly", "mounts"]);
        spec.readonly_root(true);
        ctx.expect_pass(&spec)?;
        Ok(())
    });
}

#[test]
fn bind_rbind_and_tmpfs_options() {
    each_runtime(|ctx| -> Result<()> {
        let data = ctx.scratch().join("data");
        fs::create_dir_all(data.join("sub"))?;
        fs::write(data.join("hello"), "hi")?;
        let file = ctx.scratch().join("single-file");
        fs::write(&file, "one")?;
        let d = data.to_str().context("path")?;
        let mut spec = Ctx::checker_spec(&[
            "mounts",
            "exists=/data/hello",
            "exists=/rdata/sub",
            "exists=/rdata-ro/hello",
            "exists=/etc/single-file",
        ]);
        spec.mount("/data", "bind", d, &["bind", "ro", "nosuid", "nodev"])
            .mount("/rdata", "none", d, &["rbind", "rw", "noexec"])
            .mount("/rdata-ro", "bind", d, &["rbind", "ro", "nosuid"])
            .mount(
                "/etc/single-file",
                "bind",
                file.to_str().context("path")?,
                &["bind", "ro"],
            )
            .mount(
                "/scratch",
                "tmpfs",
                "tmpfs",
                &["nosuid", "nodev", "noexec", "size=1m", "mode=0750"],
            )
            .mount("/run/ro-tmp", "tmpfs", "tmpfs", &["ro", "size=64k"]);
        ctx.expect_pass(&spec)?;
        Ok(())
    });
}

#[test]
fn second_proc_and_sysfs_instances() {
    each_runtime(|ctx| -> Result<()> {
        let mut spec = Ctx::checker_spec(&["mounts"]);
        spec.mount("/proc2", "proc", "proc", &["nosuid", "nodev", "noexec"])
            .mount(
                "/dev/pts2",
                "devpts",
                "devpts",
                &["newinstance", "ptmxmode=0600", "mode=0620"],
            );
        ctx.expect_pass(&spec)?;
        Ok(())
    });
}

#[test]
fn configured_devices() {
    each_runtime(|ctx| -> Result<()> {
        let mut spec = Ctx::checker_spec(&["devices", "devices.default"]);
        spec.device("/dev/kc-null", "c", 1, 3, 0o640, 1000, 5)
            .device("/dev/kc-loop", "b", 7, 200, 0o600, 0, 0)
            .device("/dev/kc-fifo", "p", 0, 0, 0o620, 0, 0)
            .device("/dev/sub/kc-zero", "c", 1, 5, 0o666, 0, 0);
        ctx.expect_pass(&spec)?
            .passed_unskipped("devices /dev/kc-loop")
            .map_err(anyhow::Error::msg)?;
        Ok(())
    });
}

#[test]
fn masked_and_readonly_paths() {
    each_runtime(|ctx| -> Result<()> {
        let mut spec = Ctx::checker_spec(&["maskedPaths", "readonlyPaths"]);
        spec.masked_paths(&["/etc/group", "/home", "/proc/kcore", "/no/such/path"])
            .readonly_paths(&["/var", "/etc/passwd", "/proc/sys"]);
        let tap = ctx.expect_pass(&spec)?;
        for name in [
            "maskedPaths /etc/group",
            "maskedPaths /home",
            "readonlyPaths /var",
            "readonlyPaths /etc/passwd",
            "readonlyPaths /proc/sys",
        ] {
            tap.passed_unskipped(name).map_err(anyhow::Error::msg)?;
        }
        Ok(())
    });
}

#[test]
fn rootfs_propagation() {
    each_runtime(|ctx| -> Result<()> {
        // runc 1.1.5 gets `shared` and `unbindable` wrong (runtime-facts.md):
        // those two are asserted for keel only.
        let modes: &[&str] = if ctx.is_keel() {
            &[
                "private",
                "rprivate",
                "slave",
                "rslave",
                "shared",
                "rshared",
                "unbindable",
            ]
        } else {
            &["private", "rprivate", "slave", "rslave"]
        };
        for mode in modes {
            let mut spec = Ctx::checker_spec(&["rootfsPropagation"]);
            spec.rootfs_propagation(mode);
            ctx.expect_pass(&spec)
                .with_context(|| format!("rootfsPropagation {mode}"))?
                .passed_unskipped("rootfsPropagation")
                .map_err(anyhow::Error::msg)?;
        }
        Ok(())
    });
}
