//! The security cases every runtime must defend against:
//! CVE-2024-21626 (leaked fds and a cwd outside the root),
//! CVE-2019-5736 (overwriting the runtime binary through /proc/PID/exe),
//! CVE-2021-30465 (a symlinked mount destination escaping the rootfs).

mod common;

use std::fs;
use std::os::unix::fs::MetadataExt;

use anyhow::{ensure, Context, Result};
use common::*;

#[test]
fn cve_2024_21626_only_stdio_and_cwd_inside() {
    each_runtime(|ctx| -> Result<()> {
        let spec = Ctx::checker_spec(&["fds=0,1,2", "cwd-inside", "process.cwd"]);
        ctx.expect_pass(&spec)?;
        ctx.expect_pass_create_start(&spec)?;
        Ok(())
    });
}

#[test]
fn cve_2024_21626_cwd_through_a_leaked_fd() {
    each_runtime(|ctx| -> Result<()> {
        // The attack sets cwd to /proc/self/fd/N, hoping N is a host
        // directory the runtime leaked. Refusing is fine; running is fine
        // only if the cwd is inside the root and no fd leaked.
        for n in 3..=9 {
            let mut spec = Ctx::checker_spec(&["fds=0,1,2", "cwd-inside"]);
            spec.cwd(&format!("/proc/self/fd/{n}"));
            let (out, tap) = ctx.run_checker(&spec)?;
            if out.code != 0 && tap.lines.is_empty() {
                continue; // refused before the process ran
            }
            tap.passed()
                .map_err(anyhow::Error::msg)
                .with_context(|| format!("cwd /proc/self/fd/{n}"))?;
        }
        Ok(())
    });
}

#[test]
fn cve_2019_5736_runtime_binary_is_not_reachable() {
    each_runtime(|ctx| -> Result<()> {
        let bundle = ctx.bundle(&sleeper())?;
        let id = ctx.id();
        let mut c = ctx.container(&id);
        c.create(CreateOptions::bundle(bundle.path()))?.ok()?;
        // While `created`, the container's process is still the runtime.
        let pid = c.pid().context("no pid after create")?;
        let exe = format!("/proc/{pid}/exe");
        let w = fs::OpenOptions::new().write(true).open(&exe);
        ensure!(w.is_err(), "{exe} could be opened for writing");
        // runc 1.1.5 runs its on-disk inode through a read-only bind mount
        // (same dev and inode, writes fail with ETXTBSY/EROFS). keel must go
        // further and run from a sealed copy: not the on-disk inode at all.
        if ctx.is_keel() {
            let on_disk = fs::metadata(ctx.rt.bin())?;
            let running = fs::metadata(&exe).with_context(|| format!("stat {exe}"))?;
            ensure!(
                (running.dev(), running.ino()) != (on_disk.dev(), on_disk.ino()),
                "{exe} is the on-disk runtime binary {}",
                ctx.rt.bin().display()
            );
        }
        Ok(())
    });
}

#[test]
fn cve_2021_30465_symlinked_mount_target_stays_inside() {
    each_runtime(|ctx| -> Result<()> {
        let host_dir = ctx.scratch().join("hostdir");
        fs::create_dir_all(&host_dir)?;
        let spec_base = Ctx::checker_spec(&["fds=0,1,2"]);
        let bundle = ctx.bundle(&spec_base)?;
        // /evil climbs out of the root with "..": resolved within the root
        // it must stay inside it.
        let escape = format!("/../../../../../../../..{}", host_dir.display());
        std::os::unix::fs::symlink(&escape, bundle.rootfs().join("evil"))?;
        let mut spec = spec_base.clone();
        spec.mount("/evil/sub", "tmpfs", "tmpfs", &["size=64k"]);
        let src = ctx.scratch().join("src");
        fs::create_dir_all(&src)?;
        spec.mount(
            "/evil/bound",
            "bind",
            src.to_str().context("path")?,
            &["bind"],
        );
        bundle.write_spec(&spec)?;
        let id = ctx.id();
        let mut c = ctx.container(&id);
        let out = c.run(CreateOptions::bundle(bundle.path()))?;
        let created: Vec<_> = fs::read_dir(&host_dir)?
            .flatten()
            .map(|e| e.path())
            .collect();
        ensure!(
            created.is_empty(),
            "the runtime created {created:?} outside the rootfs (exit {}: {})",
            out.code,
            out.stderr
        );
        let hd = host_dir.to_string_lossy();
        let leaked = keel_conformance::host::mounts_mentioning(&hd);
        let leaked: Vec<_> = leaked
            .into_iter()
            .filter(|l| !l.contains(&*bundle.path().to_string_lossy()))
            .collect();
        ensure!(leaked.is_empty(), "mounts on the host side: {leaked:?}");
        if out.code == 0 {
            // It ran: the mounts landed inside the rootfs.
            let inside = bundle
                .rootfs()
                .join(host_dir.strip_prefix("/").unwrap_or(&host_dir));
            ensure!(
                inside.join("sub").is_dir(),
                "mount target not created inside the rootfs at {}",
                inside.display()
            );
        }
        Ok(())
    });
}
