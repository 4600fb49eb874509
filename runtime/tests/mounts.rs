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

/// Run `spec` in the foreground (it prints /proc/self/mountinfo) and parse
/// what it printed.
fn mountinfo_inside(
    ctx: &Ctx,
    spec: &Spec,
) -> Result<Vec<keel_conformance::checker::parse::MountEntry>> {
    let bundle = ctx.bundle(spec)?;
    let id = ctx.id();
    let mut c = ctx.container(&id);
    let out = c.run(CreateOptions::bundle(bundle.path()))?;
    anyhow::ensure!(out.code == 0, "run exited {}: {}", out.code, out.stderr);
    mountinfo(&out.stdout)
}

#[test]
fn bind_mount_propagation_flags() {
    each_runtime(|ctx| -> Result<()> {
        // A host directory with a mount below it, so the recursive flags
        // have something to recurse into.
        let data = ctx.scratch().join("data");
        fs::create_dir_all(&data)?;
        let _sub = HostTmpfs::mount(&data.join("sub"))?;
        let d = data.to_str().context("path")?;
        let mut spec = Spec::new(&["cat", "/proc/self/mountinfo"]);
        let cases = [
            ("shared", "bind"),
            ("rshared", "rbind"),
            ("private", "bind"),
            ("rprivate", "rbind"),
            ("slave", "bind"),
            ("rslave", "rbind"),
            ("unbindable", "bind"),
            ("runbindable", "rbind"),
        ];
        for (prop, bind) in cases {
            spec.mount(&format!("/p-{prop}"), "bind", d, &[bind, prop]);
        }
        let all = mountinfo_inside(ctx, &spec)?;
        let mut problems = Vec::new();
        for (prop, bind) in cases {
            let mut points = vec![format!("/p-{prop}")];
            if bind == "rbind" {
                points.push(format!("/p-{prop}/sub"));
            }
            for p in points {
                let m = mount_at(&all, &p)?;
                let shared = m.optional.iter().any(|o| o.starts_with("shared:"));
                let master = m.optional.iter().any(|o| o.starts_with("master:"));
                let unbindable = m.optional.iter().any(|o| o == "unbindable");
                // The host's mounts are private here, so a slave has no master.
                let ok = match prop.trim_start_matches('r') {
                    "shared" => shared && !unbindable,
                    "private" => !shared && !master && !unbindable,
                    "slave" => !shared && !unbindable,
                    "unbindable" => unbindable && !shared,
                    _ => false,
                };
                if !ok {
                    problems.push(format!("{p} ({prop}): optional fields {:?}", m.optional));
                }
            }
        }
        anyhow::ensure!(problems.is_empty(), "propagation: {problems:#?}");
        Ok(())
    });
}

#[test]
fn mounts_are_made_in_order() {
    each_runtime(|ctx| -> Result<()> {
        let data = ctx.scratch().join("data");
        fs::create_dir_all(&data)?;
        fs::write(data.join("hello"), "hi")?;
        let d = data.to_str().context("path")?;
        // The bind over the tmpfs is visible only if the tmpfs came first;
        // the second tmpfs at /ord2 hides the first one's file.
        let mut spec = Ctx::checker_spec(&[
            "mounts",
            "exists=/ord/inner/hello",
            "exists=/ord/inner/deeper",
            "absent=/ord2/inner",
        ]);
        spec.mount("/ord", "tmpfs", "tmpfs", &["size=64k"])
            .mount("/ord/inner", "bind", d, &["bind"])
            .mount("/ord/inner/deeper", "tmpfs", "tmpfs", &["size=64k"])
            .mount("/ord2", "tmpfs", "tmpfs", &["size=64k"])
            .mount("/ord2/inner", "tmpfs", "tmpfs", &["size=64k"])
            .mount("/ord2", "tmpfs", "tmpfs", &["size=64k", "mode=0700"]);
        ctx.expect_pass(&spec)?;
        Ok(())
    });
}

#[test]
fn atime_and_sync_mount_options() {
    each_runtime(|ctx| -> Result<()> {
        let mut spec = Spec::new(&["cat", "/proc/self/mountinfo"]);
        spec.mount("/t-noatime", "tmpfs", "tmpfs", &["noatime", "nodiratime"])
            .mount("/t-strict", "tmpfs", "tmpfs", &["strictatime"])
            .mount("/t-relatime", "tmpfs", "tmpfs", &["relatime", "nosuid"])
            .mount("/t-sync", "tmpfs", "tmpfs", &["sync", "dirsync"])
            .mount(
                "/t-undo",
                "tmpfs",
                "tmpfs",
                &["sync", "async", "noexec", "exec", "ro", "rw"],
            )
            .mount(
                "/t-data",
                "tmpfs",
                "tmpfs",
                &["nr_inodes=77", "uid=1000", "gid=5"],
            );
        let all = mountinfo_inside(ctx, &spec)?;
        let mut problems = Vec::new();
        let mut want =
            |path: &str, per_mount: &[&str], absent: &[&str], sb: &[&str]| -> Result<()> {
                let m = mount_at(&all, path)?;
                for o in per_mount {
                    if !m.has_opt(o) {
                        problems.push(format!("{path}: lacks {o}: {:?}", m.mount_opts));
                    }
                }
                for o in absent {
                    if m.has_opt(o) || m.super_opts.iter().any(|s| s == o) {
                        problems.push(format!(
                            "{path}: has {o}: {:?} {:?}",
                            m.mount_opts, m.super_opts
                        ));
                    }
                }
                for o in sb {
                    if !m.super_opts.iter().any(|s| s == o) {
                        problems.push(format!("{path}: superblock lacks {o}: {:?}", m.super_opts));
                    }
                }
                Ok(())
            };
        want("/t-noatime", &["noatime", "nodiratime"], &["relatime"], &[])?;
        want("/t-strict", &[], &["noatime", "relatime"], &[])?;
        want("/t-relatime", &["relatime", "nosuid"], &["noatime"], &[])?;
        want("/t-sync", &[], &[], &["sync", "dirsync"])?;
        want("/t-undo", &["rw"], &["sync", "noexec", "ro"], &[])?;
        want("/t-data", &[], &[], &["nr_inodes=77", "uid=1000", "gid=5"])?;
        anyhow::ensure!(problems.is_empty(), "mount options: {problems:#?}");
        Ok(())
    });
}

#[test]
fn more_sysfs_mqueue_and_cgroup_instances() {
    each_runtime(|ctx| -> Result<()> {
        // sysfs can be mounted in the container's own network namespace.
        let mut spec = Ctx::checker_spec(&["mounts"]);
        spec.mount(
            "/sys2",
            "sysfs",
            "sysfs",
            &["nosuid", "noexec", "nodev", "ro"],
        )
        .mount("/mq2", "mqueue", "mqueue", &["nosuid", "noexec", "nodev"])
        .mount(
            "/cg2",
            "cgroup",
            "cgroup",
            &["nosuid", "noexec", "nodev", "relatime", "ro"],
        );
        let tap = ctx.expect_pass(&spec)?;
        for name in ["mounts /sys2", "mounts /mq2", "mounts /cg2"] {
            tap.passed_unskipped(name).map_err(anyhow::Error::msg)?;
        }
        Ok(())
    });
}

#[test]
fn no_pivot_root_is_the_rootfs() {
    each_runtime(|ctx| -> Result<()> {
        let host_only = ctx.scratch().to_str().context("path")?.to_string();
        for (no_pivot, readonly) in [(true, false), (true, true), (false, false)] {
            // The container's / is the bundle's rootfs (same device and
            // inode, seen from inside) and nothing of the host is reachable.
            let absent = format!("absent={host_only}");
            let mut spec = Spec::new(&[
                "/bin/sh",
                "-c",
                "stat -c '%d %i' / /.. && exec /keel-check \"$@\"",
                "sh",
                "mounts",
                "devices",
                "maskedPaths",
                "readonlyPaths",
                "root.readonly",
                "fds=0,1,2",
                "cwd-inside",
                "exists=/keel-spec.json",
                &absent,
            ]);
            spec.readonly_root(readonly);
            let bundle = ctx.bundle(&spec)?;
            let id = ctx.id();
            let mut c = ctx.container(&id);
            let out = c.run(CreateOptions {
                no_pivot,
                ..CreateOptions::bundle(bundle.path())
            })?;
            let what = format!("--no-pivot={no_pivot}, readonly root {readonly}");
            TapReport::parse(&out.stdout)
                .passed()
                .map_err(anyhow::Error::msg)
                .with_context(|| format!("{what}: exit {}; stderr: {}", out.code, out.stderr))?;
            anyhow::ensure!(out.code == 0, "{what}: exit {}", out.code);
            let want = dev_ino(&bundle.rootfs())?;
            let mut lines = out.stdout.lines();
            for name in ["/", "/.."] {
                let have = lines.next().and_then(parse_dev_ino);
                anyhow::ensure!(
                    have == Some(want),
                    "{what}: {name} inside is {have:?}, the rootfs is {want:?}"
                );
            }
        }
        Ok(())
    });
}
