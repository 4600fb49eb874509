//! config.md Mounts (the default filesystems, order, bind and rbind, every
//! Linux mount option of the table), config-linux.md Masked and Readonly
//! Paths, and Rootfs Mount Propagation.

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};

use super::lifecycle::checker;
use super::{CaseResult, Env, Problem, Registry};
use crate::spec::Spec;

/// Mount a tmpfs at `dir` on the host (inside the case's scratch directory,
/// which the case's Env unmounts when it drops).
fn host_tmpfs(dir: &Path) -> CaseResult {
    fs::create_dir_all(dir)?;
    // Tracked, so that no other case's reaping steals its exit status.
    let mut child = crate::host::spawn_tracked(
        Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=64k", "keel-conformance"])
            .arg(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    )?;
    let st = child.wait();
    crate::host::untrack(child.id());
    if !st?.success() {
        skip!("cannot mount a tmpfs on the host at {}", dir.display());
    }
    Ok(())
}

/// A host directory with a file and a tmpfs submount holding another file.
fn tree_with_submount(env: &Env) -> Result<String, Problem> {
    let src = env.scratch().join("tree");
    fs::create_dir_all(src.join("sub"))?;
    fs::write(src.join("top-file"), "x")?;
    host_tmpfs(&src.join("sub"))?;
    fs::write(src.join("sub/in-submount"), "y")?;
    Ok(src.to_string_lossy().into_owned())
}

fn default_mount(r: &mut Registry, dest: &'static str, clause: &str) {
    r.add(
        "mounts",
        &format!("default{}", dest.replace('/', "-")),
        clause,
        move |env| {
            let name = format!("mounts {dest}");
            env.check(&checker(&["mounts"]), &[&name])
        },
    );
}

/// A tmpfs at /m with `opts`; mountopt must show `want`.
fn option_case(r: &mut Registry, name: &str, opts: &'static [&'static str], want: &'static str) {
    r.add(
        "mounts",
        &format!("option-{name}"),
        &format!(
            "Linux mount options: {} MUST be implemented",
            opts.join(",")
        ),
        move |env| {
            let e = format!("mountopt=/m={want}");
            let mut s = checker(&[&e]);
            s.mount("/m", "tmpfs", "tmpfs", opts);
            env.check(&s, &[&e])
        },
    );
}

/// A tmpfs at /m with option `opt` is accepted and mounted.
fn accepted_case(r: &mut Registry, opt: &'static str, level: &str) {
    r.add(
        "mounts",
        &format!("option-{opt}-accepted"),
        &format!("Linux mount options: {opt} ({level}) is accepted"),
        move |env| {
            let mut s = checker(&["mounted=/m"]);
            s.mount("/m", "tmpfs", "tmpfs", &[opt]);
            env.check(&s, &["mounted=/m"])
        },
    );
}

/// A bind mount of a host directory at /b with `opts`; mountopt `want`.
fn bind_prop_case(r: &mut Registry, opt: &'static str, want: &'static str) {
    r.add(
        "mounts",
        &format!("bind-propagation-{opt}"),
        &format!("Linux mount options: {opt} (bind mount propagation) MUST be implemented"),
        move |env| {
            let src = env.scratch().join("bsrc");
            fs::create_dir_all(&src)?;
            let e = format!("mountopt=/b={want}");
            let mut s = checker(&[&e]);
            s.mount("/b", "bind", &src.to_string_lossy(), &["rbind", opt]);
            env.check(&s, &[&e])
        },
    );
}

fn propagation_case(r: &mut Registry, mode: &'static str) {
    r.add(
        "propagation",
        mode,
        &format!("rootfsPropagation {mode}: the rootfs mount's propagation"),
        move |env| {
            let mut s = checker(&["rootfsPropagation"]);
            s.rootfs_propagation(mode);
            env.check(&s, &["rootfsPropagation"])
        },
    );
}

/// Skip a /proc or /sys path this kernel does not have.
fn need_path(path: &str) -> CaseResult {
    if (path.starts_with("/proc/") || path.starts_with("/sys/")) && !Path::new(path).exists() {
        skip!("this kernel has no {path}");
    }
    Ok(())
}

fn masked_case(r: &mut Registry, name: &str, path: &'static str) {
    r.add(
        "paths",
        &format!("masked-{name}"),
        &format!("maskedPaths: {path} cannot be read"),
        move |env| {
            need_path(path)?;
            let mut s = checker(&["maskedPaths"]);
            s.masked_paths(&[path]);
            env.check(&s, &[&format!("maskedPaths {path}")])
        },
    );
}

fn readonly_case(r: &mut Registry, name: &str, path: &'static str) {
    r.add(
        "paths",
        &format!("readonly-{name}"),
        &format!("readonlyPaths: {path} is read-only"),
        move |env| {
            need_path(path)?;
            let mut s = checker(&["readonlyPaths"]);
            s.readonly_paths(&[path]);
            env.check(&s, &[&format!("readonlyPaths {path}")])
        },
    );
}

pub fn register(r: &mut Registry) {
    // ---- default filesystems (runc spec's mounts) ----
    default_mount(r, "/proc", "Default filesystems: /proc is proc");
    default_mount(r, "/dev", "runc default mounts: /dev is a tmpfs");
    default_mount(
        r,
        "/dev/pts",
        "Default filesystems: /dev/pts is devpts (newinstance, ptmxmode)",
    );
    default_mount(r, "/dev/shm", "Default filesystems: /dev/shm is tmpfs");
    default_mount(
        r,
        "/dev/mqueue",
        "runc default mounts: /dev/mqueue is mqueue",
    );
    default_mount(r, "/sys", "Default filesystems: /sys is sysfs (ro)");
    default_mount(
        r,
        "/sys/fs/cgroup",
        "runc default mounts: /sys/fs/cgroup (ro)",
    );

    // ---- order and placement ----
    r.add(
        "mounts",
        "listed-order",
        "Mounts: the runtime MUST mount entries in the listed order",
        |env| {
            let src = env.scratch().join("inner");
            fs::create_dir_all(&src)?;
            fs::write(src.join("marker"), "x")?;
            let mut s = checker(&["exists=/ord/inner/marker"]);
            s.mount("/ord", "tmpfs", "tmpfs", &["size=64k"]).mount(
                "/ord/inner",
                "bind",
                &src.to_string_lossy(),
                &["bind"],
            );
            env.check(&s, &["exists=/ord/inner/marker"])
        },
    );
    r.add(
        "mounts",
        "listed-order-overmount",
        "Mounts: a later entry at the same destination is on top",
        |env| {
            let mut s = checker(&["mountopt=/om=size=128k"]);
            s.mount("/om", "tmpfs", "tmpfs", &["size=64k"]).mount(
                "/om",
                "tmpfs",
                "tmpfs",
                &["size=128k"],
            );
            env.check(&s, &["mountopt=/om=size=128k"])
        },
    );
    r.add(
        "mounts",
        "nested-destination-created",
        "Mounts: a destination whose parents are missing is created in the rootfs",
        |env| {
            let mut s = checker(&["mounted=/a/b/c"]);
            s.mount("/a/b/c", "tmpfs", "tmpfs", &["size=64k"]);
            env.check(&s, &["mounted=/a/b/c"])
        },
    );
    r.add(
        "mounts",
        "relative-destination",
        "Mounts: a relative destination MUST be interpreted relative to /",
        |env| {
            let mut s = checker(&["mounted=/rel-dest"]);
            s.mount("rel-dest", "tmpfs", "tmpfs", &["size=64k"]);
            env.check(&s, &["mounted=/rel-dest"])
        },
    );
    r.add(
        "mounts",
        "unknown-type-fails",
        "Lifecycle: a mount the runtime cannot make MUST generate an error",
        |env| {
            let mut s = super::lifecycle::sleeper();
            s.mount("/x", "keelfs-no-such-type", "none", &[]);
            env.expect_create_fails(&s)
        },
    );
    r.add(
        "mounts",
        "bind-missing-source-fails",
        "Lifecycle: a bind mount of a missing source MUST generate an error",
        |env| {
            let mut s = super::lifecycle::sleeper();
            let missing = env.scratch_path("no-such-source");
            s.mount("/x", "bind", &missing, &["bind"]);
            env.expect_create_fails(&s)
        },
    );

    // ---- bind mounts ----
    r.add(
        "mounts",
        "bind-ro",
        "Linux mount options: bind with ro",
        |env| {
            let src = env.scratch().join("data");
            fs::create_dir_all(&src)?;
            fs::write(src.join("hello"), "hi")?;
            let mut s = checker(&["mounts", "exists=/data/hello", "write=/data/new:EROFS"]);
            s.mount(
                "/data",
                "bind",
                &src.to_string_lossy(),
                &["bind", "ro", "nosuid", "nodev"],
            );
            env.check(&s, &["mounts /data", "exists=/data/hello"])
        },
    );
    r.add(
        "mounts",
        "bind-rw",
        "Linux mount options: bind with rw",
        |env| {
            let src = env.scratch().join("data");
            fs::create_dir_all(&src)?;
            let mut s = checker(&["mounts", "write=/data/new:ok"]);
            s.mount("/data", "bind", &src.to_string_lossy(), &["bind", "rw"]);
            env.check(&s, &["mounts /data"])?;
            ensure!(
                src.join("new").exists(),
                "the write did not reach the source"
            );
            Ok(())
        },
    );
    r.add(
        "mounts",
        "bind-file",
        "Mounts: a bind mount of a single file",
        |env| {
            let f = env.scratch().join("single-file");
            fs::write(&f, "one")?;
            let mut s = checker(&["mounts", "content=/etc/single-file=one"]);
            s.mount(
                "/etc/single-file",
                "bind",
                &f.to_string_lossy(),
                &["bind", "ro"],
            );
            env.check(&s, &["mounts /etc/single-file", "content=/etc/single-file"])
        },
    );
    r.add(
        "mounts",
        "bind-relative-source",
        "Mounts: a bind source relative to the bundle",
        |env| {
            let s0 = checker(&["content=/rel/f=relative"]);
            let b = env.bundle(&s0)?;
            fs::create_dir_all(b.path().join("relsrc"))?;
            fs::write(b.path().join("relsrc/f"), "relative")?;
            let mut s = s0.clone();
            s.mount("/rel", "bind", "relsrc", &["bind"]);
            b.write_spec(&s)?;
            let (out, tap) = env.run_bundle(&b)?;
            super::env::judge_tap(&out, &tap, &["content=/rel/f"])
        },
    );
    r.add(
        "mounts",
        "rbind-recursive",
        "Linux mount options: rbind is a recursive bind mount",
        |env| {
            let src = tree_with_submount(env)?;
            let mut s = checker(&["exists=/r/top-file", "exists=/r/sub/in-submount"]);
            s.mount("/r", "bind", &src, &["rbind"]);
            env.check(&s, &["exists=/r/sub/in-submount"])
        },
    );
    r.add(
        "mounts",
        "bind-not-recursive",
        "Linux mount options: bind is not recursive (submounts are not carried)",
        |env| {
            let src = tree_with_submount(env)?;
            let mut s = checker(&["exists=/r/top-file", "absent=/r/sub/in-submount"]);
            s.mount("/r", "bind", &src, &["bind"]);
            env.check(&s, &["absent=/r/sub/in-submount"])
        },
    );
    r.add(
        "mounts",
        "option-rro",
        "Linux mount options: rro makes the submounts read-only too (SHOULD)",
        |env| {
            let src = tree_with_submount(env)?;
            let mut s = checker(&["write=/r/new:EROFS", "write=/r/sub/new:EROFS"]);
            s.mount("/r", "bind", &src, &["rbind", "rro"]);
            env.check(&s, &[])
        },
    );
    r.add(
        "mounts",
        "option-rnosuid",
        "Linux mount options: rnosuid applies to the submounts too (SHOULD)",
        |env| {
            let src = tree_with_submount(env)?;
            let mut s = checker(&["mountopt=/r=nosuid", "mountopt=/r/sub=nosuid"]);
            s.mount("/r", "bind", &src, &["rbind", "rnosuid"]);
            env.check(&s, &[])
        },
    );
    r.add(
        "mounts",
        "bind-ro-submount-stays-rw",
        "Linux mount options: plain ro on an rbind is not recursive",
        |env| {
            let src = tree_with_submount(env)?;
            let mut s = checker(&["write=/r/new:EROFS", "mountopt=/r/sub=rw"]);
            s.mount("/r", "bind", &src, &["rbind", "ro"]);
            env.check(&s, &[])
        },
    );
    for (opt, want) in [
        ("shared", "shared"),
        ("rshared", "shared"),
        ("private", "private"),
        ("rprivate", "private"),
        ("slave", "!shared,!unbindable"),
        ("rslave", "!shared,!unbindable"),
        ("unbindable", "unbindable"),
        ("runbindable", "unbindable"),
    ] {
        bind_prop_case(r, opt, want);
    }

    // ---- tmpfs and fs-specific options ----
    r.add(
        "mounts",
        "tmpfs-size-mode",
        "Mounts: filesystem-specific options (size, mode) reach mount(2)'s data",
        |env| {
            let mut s = checker(&["mounts"]);
            s.mount(
                "/scratch",
                "tmpfs",
                "tmpfs",
                &["nosuid", "size=1m", "mode=0750"],
            );
            env.check(&s, &["mounts /scratch"])
        },
    );
    r.add(
        "mounts",
        "unknown-option-is-data",
        "Linux mount options: unknown options SHOULD be passed as filesystem data",
        |env| {
            let mut s = checker(&["mountopt=/m=nr_inodes=100"]);
            s.mount("/m", "tmpfs", "tmpfs", &["nr_inodes=100"]);
            env.check(&s, &["mountopt=/m=nr_inodes=100"])
        },
    );
    r.add(
        "mounts",
        "second-proc",
        "Mounts: another proc instance",
        |env| {
            let mut s = checker(&["mounts"]);
            s.mount("/proc2", "proc", "proc", &["nosuid", "nodev", "noexec"]);
            env.check(&s, &["mounts /proc2"])
        },
    );
    r.add(
        "mounts",
        "second-devpts",
        "Mounts: a devpts newinstance with ptmxmode",
        |env| {
            let mut s = checker(&["mounts"]);
            s.mount(
                "/dev/pts2",
                "devpts",
                "devpts",
                &["newinstance", "ptmxmode=0600", "mode=0620"],
            );
            env.check(&s, &["mounts /dev/pts2"])
        },
    );
    r.add("mounts", "mqueue", "Mounts: an mqueue instance", |env| {
        let mut s = checker(&["mounts"]);
        s.mount("/mq2", "mqueue", "mqueue", &["nosuid", "nodev", "noexec"]);
        env.check(&s, &["mounts /mq2"])
    });

    // ---- the option table ----
    option_case(r, "ro", &["ro"], "ro");
    option_case(r, "rw", &["rw"], "rw");
    option_case(r, "nosuid", &["nosuid"], "nosuid");
    option_case(r, "suid", &["nosuid", "suid"], "!nosuid");
    option_case(r, "nodev", &["nodev"], "nodev");
    option_case(r, "dev", &["nodev", "dev"], "!nodev");
    option_case(r, "noexec", &["noexec"], "noexec");
    option_case(r, "exec", &["noexec", "exec"], "!noexec");
    option_case(r, "noatime", &["noatime"], "noatime");
    option_case(r, "nodiratime", &["nodiratime"], "nodiratime");
    option_case(r, "relatime", &["relatime"], "relatime");
    option_case(r, "strictatime", &["strictatime"], "strictatime");
    option_case(r, "sync", &["sync"], "sync");
    option_case(r, "async", &["sync", "async"], "!sync");
    option_case(r, "dirsync", &["dirsync"], "dirsync");
    option_case(r, "lazytime", &["lazytime"], "lazytime");
    option_case(r, "nolazytime", &["lazytime", "nolazytime"], "!lazytime");
    option_case(r, "nosymfollow", &["nosymfollow"], "nosymfollow");
    option_case(
        r,
        "last-wins",
        &["ro", "rw", "noexec", "exec"],
        "rw,!noexec",
    );
    for opt in [
        "defaults",
        "atime",
        "diratime",
        "iversion",
        "noiversion",
        "loud",
        "silent",
        "nostrictatime",
        "norelatime",
    ] {
        accepted_case(r, opt, "MUST");
    }
    r.add(
        "mounts",
        "idmap",
        "Linux mount options: idmap applies the mount's uid/gid mappings (SHOULD)",
        |env| {
            let Some(f) = env.features else {
                skip!("the runtime has no features document to claim idmapped mounts");
            };
            if f.pointer("/linux/mountExtensions/idmap/enabled") != Some(&serde_json::json!(true)) {
                skip!("the runtime's features do not claim idmapped mounts");
            }
            let src = env.scratch().join("idsrc");
            fs::create_dir_all(&src)?;
            fs::write(src.join("owned"), "x")?;
            let mut s = Spec::new(&["/bin/sh", "-c", "stat -c %u /id/owned"]);
            let m = serde_json::json!({
                "destination": "/id", "type": "bind", "source": src.to_string_lossy(),
                "options": ["bind", "idmap"],
                "uidMappings": [{"containerID": 1000, "hostID": 0, "size": 1}],
                "gidMappings": [{"containerID": 1000, "hostID": 0, "size": 1}],
            });
            if let Some(a) = s
                .value_mut()
                .pointer_mut("/mounts")
                .and_then(|v| v.as_array_mut())
            {
                a.push(m);
            }
            let (out, _) = env.run(&s)?;
            ensure!(
                out.success() && out.stdout.trim() == "1000",
                "the file is owned by {:?} inside (want 1000; exit {})",
                out.stdout.trim(),
                out.code
            );
            Ok(())
        },
    );

    // ---- masked and readonly paths ----
    masked_case(r, "file", "/etc/group");
    masked_case(r, "dir", "/home");
    masked_case(r, "proc-kcore", "/proc/kcore");
    masked_case(r, "proc-keys", "/proc/keys");
    masked_case(r, "proc-timer_list", "/proc/timer_list");
    masked_case(r, "proc-acpi", "/proc/acpi");
    masked_case(r, "proc-scsi", "/proc/scsi");
    masked_case(r, "sys-firmware", "/sys/firmware");
    r.add(
        "paths",
        "masked-missing-ignored",
        "maskedPaths: a path that does not exist is not an error",
        |env| {
            let mut s = checker(&["absent=/no/such/path"]);
            s.masked_paths(&["/no/such/path"]);
            env.check(&s, &[])
        },
    );
    r.add(
        "paths",
        "masked-runc-defaults",
        "maskedPaths: every default of `runc spec` is masked",
        |env| env.check(&checker(&["maskedPaths"]), &["maskedPaths /proc/keys"]),
    );
    readonly_case(r, "file", "/etc/passwd");
    readonly_case(r, "dir", "/var");
    readonly_case(r, "proc-sys", "/proc/sys");
    readonly_case(r, "proc-sysrq-trigger", "/proc/sysrq-trigger");
    readonly_case(r, "proc-irq", "/proc/irq");
    readonly_case(r, "proc-bus", "/proc/bus");
    r.add(
        "paths",
        "readonly-runc-defaults",
        "readonlyPaths: every default of `runc spec` is read-only",
        |env| env.check(&checker(&["readonlyPaths"]), &["readonlyPaths /proc/sys"]),
    );
    r.add(
        "paths",
        "readonly-missing-ignored",
        "readonlyPaths: a path that does not exist is not an error",
        |env| {
            let mut s = checker(&["absent=/no/such/ro"]);
            s.readonly_paths(&["/no/such/ro"]);
            env.check(&s, &[])
        },
    );

    // ---- rootfsPropagation ----
    for mode in ["private", "slave", "shared", "unbindable"] {
        propagation_case(r, mode);
    }
    for mode in ["rprivate", "rslave", "rshared"] {
        propagation_case(r, mode);
    }
    r.add(
        "propagation",
        "invalid-fails",
        "rootfsPropagation: a value outside shared/slave/private/unbindable MUST generate an error",
        |env| {
            let mut s = super::lifecycle::sleeper();
            s.rootfs_propagation("keel-bogus");
            env.expect_create_fails(&s)
        },
    );
}
