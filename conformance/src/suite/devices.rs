//! config-linux.md Devices and Default Devices.

use std::fs;

use super::lifecycle::checker;
use super::Registry;

fn default_device(r: &mut Registry, path: &'static str) {
    r.add(
        "devices",
        &format!("default{}", path.replace('/', "-")),
        &format!("Default devices: the runtime MUST supply {path}"),
        move |env| {
            let name = format!("devices.default {path}");
            env.check(&checker(&["devices.default"]), &[&name])
        },
    );
}

fn link_case(r: &mut Registry, link: &'static str) {
    r.add(
        "devices",
        &format!("link{}", link.replace('/', "-")),
        &format!("runc behaviour: {link} is the conventional symlink"),
        move |env| {
            let name = format!("devices.links {link}");
            env.check(&checker(&["devices.links"]), &[&name])
        },
    );
}

/// One configured device; `devices DEVPATH` must pass.
fn device_case(
    r: &mut Registry,
    name: &str,
    clause: &str,
    dev: (&'static str, &'static str, i64, i64, u32, u32, u32),
) {
    r.add("devices", name, clause, move |env| {
        let (path, kind, major, minor, mode, uid, gid) = dev;
        let mut s = checker(&["devices"]);
        s.device(path, kind, major, minor, mode, uid, gid);
        env.check(&s, &[&format!("devices {path}")])
    });
}

pub fn register(r: &mut Registry) {
    for p in [
        "/dev/null",
        "/dev/zero",
        "/dev/full",
        "/dev/random",
        "/dev/urandom",
        "/dev/tty",
    ] {
        default_device(r, p);
    }
    r.add(
        "devices",
        "default-ptmx",
        "Default devices: /dev/ptmx is the container's /dev/pts/ptmx",
        |env| {
            let s = checker(&["exists=/dev/ptmx", "open=/dev/ptmx:rw:ok"]);
            env.check(&s, &["open=/dev/ptmx:rw"])?;
            // A symlink to pts/ptmx, or a bind mount of it.
            let s = checker(&["devices.links"]);
            let (out, tap) = env.run(&s)?;
            let _ = out;
            let link_ok = tap
                .find("devices.links /dev/ptmx")
                .is_some_and(|l| l.ok && !l.skipped());
            if !link_ok {
                env.check(&checker(&["mounted=/dev/ptmx"]), &["mounted=/dev/ptmx"])
                    .map_err(|_| {
                        super::Problem::Fail(
                            "/dev/ptmx is neither a symlink to pts/ptmx nor a bind mount".into(),
                        )
                    })?;
            }
            Ok(())
        },
    );
    r.add(
        "devices",
        "default-devices-usable",
        "Default devices: null, zero, full and urandom can be opened",
        |env| {
            let s = checker(&[
                "open=/dev/null:rw:ok",
                "open=/dev/zero:r:ok",
                "open=/dev/full:w:ok",
                "open=/dev/urandom:r:ok",
                "open=/dev/random:r:ok",
            ]);
            env.check(&s, &[])
        },
    );
    for l in ["/dev/fd", "/dev/stdin", "/dev/stdout", "/dev/stderr"] {
        link_case(r, l);
    }
    device_case(
        r,
        "char-device",
        "Devices: a char device with fileMode, uid and gid",
        ("/dev/kc-null", "c", 1, 3, 0o640, 1000, 5),
    );
    device_case(
        r,
        "block-device",
        "Devices: a block device",
        ("/dev/kc-loop", "b", 7, 200, 0o600, 0, 0),
    );
    device_case(
        r,
        "fifo",
        "Devices: a fifo (type p, no major/minor)",
        ("/dev/kc-fifo", "p", 0, 0, 0o620, 0, 0),
    );
    device_case(
        r,
        "unbuffered-char",
        "Devices: type u (unbuffered char)",
        ("/dev/kc-u", "u", 1, 5, 0o666, 0, 0),
    );
    device_case(
        r,
        "outside-dev",
        "Devices: the path MAY be outside /dev",
        ("/opt/kc-zero", "c", 1, 5, 0o644, 0, 0),
    );
    device_case(
        r,
        "nested-dir",
        "Devices: a path in a directory that does not exist yet",
        ("/dev/sub/dir/kc-zero", "c", 1, 5, 0o666, 0, 0),
    );
    device_case(
        r,
        "owner",
        "Devices: uid and gid of the device in the container namespace",
        ("/dev/kc-owned", "c", 1, 7, 0o600, 4242, 4343),
    );
    r.add(
        "devices",
        "existing-mismatch-fails",
        "Devices: a file at path that does not match the device MUST generate an error",
        |env| {
            let mut s = super::lifecycle::sleeper();
            s.device("/opt/kc-exists", "c", 1, 5, 0o666, 0, 0);
            let b = env.bundle(&s)?;
            fs::create_dir_all(b.rootfs().join("opt"))?;
            fs::write(b.rootfs().join("opt/kc-exists"), "a regular file")?;
            env.expect_bundle_create_fails(&b)
        },
    );
    r.add(
        "devices",
        "configured-device-usable",
        "Devices: a listed device (allowed by the cgroup) can be opened",
        |env| {
            let mut s = checker(&["open=/dev/kc-zero:r:ok"]);
            s.device("/dev/kc-zero", "c", 1, 5, 0o666, 0, 0);
            env.check(&s, &["open=/dev/kc-zero:r"])
        },
    );
}
