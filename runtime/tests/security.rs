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

/// A host directory that nothing may create anything in, and the symlink
/// target that climbs to it from anywhere in the rootfs.
fn bait(ctx: &Ctx, name: &str) -> Result<(std::path::PathBuf, String)> {
    let host_dir = ctx.scratch().join(name);
    fs::create_dir_all(&host_dir)?;
    let climb = format!("../../../../../../../../..{}", host_dir.display());
    Ok((host_dir, climb))
}

fn untouched(host_dir: &std::path::Path, what: &str) -> Result<()> {
    let created: Vec<_> = fs::read_dir(host_dir)?
        .flatten()
        .map(|e| e.path())
        .collect();
    ensure!(
        created.is_empty(),
        "{what}: the runtime created {created:?} outside the rootfs"
    );
    let hd = host_dir.to_string_lossy();
    let leaked = keel_conformance::host::mounts_mentioning(&hd);
    ensure!(leaked.is_empty(), "{what}: mounts on the host: {leaked:?}");
    Ok(())
}

#[test]
fn cve_2021_30465_symlinked_cwd_stays_inside() {
    each_runtime(|ctx| -> Result<()> {
        let (host_dir, climb) = bait(ctx, "cwd-bait")?;
        for (link, cwd) in [
            // A relative climb and an absolute link, used as the cwd itself
            // and as a parent of a cwd the runtime must create.
            ("evil-rel", "/evil-rel"),
            ("evil-rel", "/evil-rel/made/by/runtime"),
            ("evil-abs", "/evil-abs/made"),
        ] {
            let spec_base = Ctx::checker_spec(&["cwd-inside", "fds=0,1,2"]);
            let bundle = ctx.bundle(&spec_base)?;
            let target = if link == "evil-abs" {
                host_dir.to_string_lossy().into_owned()
            } else {
                climb.clone()
            };
            std::os::unix::fs::symlink(&target, bundle.rootfs().join(link))?;
            let mut spec = spec_base.clone();
            spec.cwd(cwd);
            bundle.write_spec(&spec)?;
            let id = ctx.id();
            let mut c = ctx.container(&id);
            let out = c.run(CreateOptions::bundle(bundle.path()))?;
            untouched(&host_dir, &format!("cwd {cwd}"))?;
            let tap = TapReport::parse(&out.stdout);
            if out.code != 0 && tap.lines.is_empty() {
                continue; // refused before the process ran: fine
            }
            tap.passed()
                .map_err(anyhow::Error::msg)
                .with_context(|| format!("cwd {cwd}: exit {}: {}", out.code, out.stderr))?;
        }
        Ok(())
    });
}

#[test]
fn dotdot_in_mount_destinations_stays_inside() {
    each_runtime(|ctx| -> Result<()> {
        let (host_dir, _) = bait(ctx, "dotdot-bait")?;
        let h = host_dir.to_str().context("path")?;
        let src = ctx.scratch().join("src");
        fs::create_dir_all(&src)?;
        fs::write(src.join("marker"), "m")?;
        let s = src.to_str().context("path")?;
        let tmpfs_dest = format!("/../../../../../../..{h}/tmpfs-here");
        let bind_dest = format!("/tmp/../../../../../../..{h}/bind-here");
        // Lexically cleaned inside the root, these are {h}/… in the rootfs.
        let mut spec = Ctx::checker_spec(&[
            "fds=0,1,2",
            &format!("mounted={h}/tmpfs-here"),
            &format!("exists={h}/bind-here/marker"),
        ]);
        spec.mount(&tmpfs_dest, "tmpfs", "tmpfs", &["size=64k"])
            .mount(&bind_dest, "bind", s, &["bind", "ro"]);
        let bundle = ctx.bundle(&spec)?;
        let id = ctx.id();
        let mut c = ctx.container(&id);
        let out = c.run(CreateOptions::bundle(bundle.path()))?;
        untouched(&host_dir, "`..` in mount destinations")?;
        let tap = TapReport::parse(&out.stdout);
        if out.code != 0 && tap.lines.is_empty() {
            // Refusing a destination with `..` is fine, if clean.
            if ctx.is_keel() {
                keel_error(&out, &[".."])?;
            }
            return ctx.nothing_left(&id, bundle.path()).map_err(Into::into);
        }
        tap.passed()
            .map_err(anyhow::Error::msg)
            .with_context(|| format!("exit {}: {}", out.code, out.stderr))?;
        ensure!(out.code == 0, "exit {}", out.code);
        Ok(())
    });
}

#[test]
fn symlinked_rootfs_path() {
    each_runtime(|ctx| -> Result<()> {
        // root.path is a symlink to the real rootfs. runc 1.1.5 refuses it
        // ("invalid rootfs: not an absolute path, or a symlink"); running
        // is fine too, but then in the real rootfs with every mount below
        // it, and a symlink inside (as in the CVE-2021-30465 test) must
        // still not lead out.
        let (host_dir, climb) = bait(ctx, "rootlink-bait")?;
        let inside = format!("mounted={}/sub", host_dir.display());
        let mut spec = Spec::new(&[
            "/bin/sh",
            "-c",
            "stat -c '%d %i' / && exec /keel-check \"$@\"",
            "sh",
            "fds=0,1,2",
            "exists=/keel-spec.json",
            "mounted=/proc",
            "mounted=/dev/pts",
            &inside,
        ]);
        spec.root_path("rootfs-link")
            .mount("/evil/sub", "tmpfs", "tmpfs", &["size=64k"]);
        let bundle = ctx.bundle(&spec)?;
        std::os::unix::fs::symlink("rootfs", bundle.path().join("rootfs-link"))?;
        std::os::unix::fs::symlink(&climb, bundle.rootfs().join("evil"))?;
        let id = ctx.id();
        let mut c = ctx.container(&id);
        let out = c.run(CreateOptions::bundle(bundle.path()))?;
        untouched(&host_dir, "symlinked rootfs")?;
        let tap = TapReport::parse(&out.stdout);
        if out.code != 0 && tap.lines.is_empty() {
            if ctx.is_keel() {
                keel_error(&out, &["rootfs-link"])?;
            } else {
                failed_with_1(&out)?;
            }
            return ctx.nothing_left(&id, bundle.path()).map_err(Into::into);
        }
        tap.passed()
            .map_err(anyhow::Error::msg)
            .with_context(|| format!("exit {}: {}", out.code, out.stderr))?;
        ensure!(out.code == 0, "exit {}", out.code);
        let want = dev_ino(&bundle.rootfs())?;
        let have = out.stdout.lines().next().and_then(parse_dev_ino);
        ensure!(
            have == Some(want),
            "/ inside is {have:?}, the rootfs is {want:?}"
        );
        let left = keel_conformance::host::mounts_mentioning(&bundle.path().to_string_lossy());
        ensure!(left.is_empty(), "mounts left after run: {left:?}");
        Ok(())
    });
}

#[test]
fn cve_2024_21626_fds_beyond_preserve_fds_do_not_reach_the_container() {
    each_runtime(|ctx| -> Result<()> {
        // The runtime gets fd 3 (a file, passed with --preserve-fds 1) and
        // fd 4 (a host directory it must not pass on).
        let host_dir = ctx.scratch().join("leaky");
        fs::create_dir_all(&host_dir)?;
        for cwd in [None, Some("/proc/self/fd/4")] {
            let mut spec = Ctx::checker_spec(&["fds=0,1,2,3", "cwd-inside"]);
            if let Some(cwd) = cwd {
                spec.cwd(cwd);
            }
            let bundle = ctx.bundle(&spec)?;
            let id = ctx.id();
            let _c = ctx.container(&id);
            let passed = fs::File::create(ctx.scratch().join("passed"))?;
            let fds = vec![passed.into(), open_dir(&host_dir)?];
            let mut args: Vec<std::ffi::OsString> = vec![
                "--root".into(),
                ctx.rt.root().into(),
                "run".into(),
                "--bundle".into(),
                bundle.path().into(),
                "--preserve-fds".into(),
                "1".into(),
            ];
            args.push(id.clone().into());
            let out = ctx.rt.exec_raw(&args, fds)?;
            let tap = TapReport::parse(&out.stdout);
            if cwd.is_some() && out.code != 0 && tap.lines.is_empty() {
                continue; // refused: fd 4 does not exist inside
            }
            tap.passed()
                .map_err(anyhow::Error::msg)
                .with_context(|| format!("cwd {cwd:?}: exit {}: {}", out.code, out.stderr))?;
            ensure!(out.code == 0, "cwd {cwd:?}: exit {}", out.code);
        }
        Ok(())
    });
}
