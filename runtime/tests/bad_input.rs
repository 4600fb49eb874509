//! Bad input: every refusal must exit 1 and leave nothing behind (no state
//! under --root, no mount mentioning the bundle, no process). keel must also
//! print exactly one line on stderr naming the file, field, id or value at
//! fault; runc's wording is not asserted.

mod common;

use std::fs;

use anyhow::{ensure, Context, Result};
use common::*;
use keel_conformance::driver::Runtime;
use keel_conformance::host;

/// Create from a bundle whose config.json is `text`, expecting a refusal.
fn refuse_raw_config(ctx: &Ctx, text: &str, needles: &[&str]) -> Result<()> {
    let bundle = ctx.bundle(&sleeper())?;
    bundle.write_config_raw(text)?;
    let id = ctx.id();
    let mut c = ctx.container(&id);
    let out = c.create(CreateOptions::bundle(bundle.path()))?;
    if ctx.is_keel() {
        keel_error(&out, needles)?;
    } else {
        failed_with_1(&out)?;
    }
    ctx.nothing_left(&id, bundle.path())?;
    Ok(())
}

#[test]
fn malformed_config() {
    each_runtime(|ctx| -> Result<()> {
        refuse_raw_config(
            ctx,
            "{ \"ociVersion\": \"1.0.2\", not json",
            &["config.json"],
        )
    });
}

#[test]
fn truncated_config() {
    each_runtime(|ctx| -> Result<()> {
        let full = sleeper().to_json();
        refuse_raw_config(ctx, &full[..full.len() / 2], &["config.json"])
    });
}

#[test]
fn empty_config() {
    each_runtime(|ctx| -> Result<()> { refuse_raw_config(ctx, "", &["config.json"]) });
}

#[test]
fn wrong_field_types() {
    each_runtime(|ctx| -> Result<()> {
        let mut s = sleeper();
        s.set("/hostname", serde_json::json!(42));
        refuse_raw_config(ctx, &s.to_json(), &["config.json", "hostname"])?;
        let mut s = sleeper();
        s.set("/process/args", serde_json::json!("sleep 1000"));
        refuse_raw_config(ctx, &s.to_json(), &["config.json", "args"])?;
        Ok(())
    });
}

#[test]
fn missing_config() {
    each_runtime(|ctx| -> Result<()> {
        let bundle = ctx.bundle(&sleeper())?;
        fs::remove_file(bundle.config_path())?;
        let id = ctx.id();
        let mut c = ctx.container(&id);
        let out = c.create(CreateOptions::bundle(bundle.path()))?;
        if ctx.is_keel() {
            keel_error(&out, &["config.json"])?;
        } else {
            failed_with_1(&out)?;
        }
        ctx.nothing_left(&id, bundle.path())?;
        Ok(())
    });
}

#[test]
fn missing_bundle_dir() {
    each_runtime(|ctx| -> Result<()> {
        let missing = ctx.scratch().join("no-such-bundle");
        let id = ctx.id();
        let mut c = ctx.container(&id);
        let out = c.create(CreateOptions::bundle(&missing))?;
        if ctx.is_keel() {
            keel_error(&out, &["no-such-bundle"])?;
        } else {
            failed_with_1(&out)?;
        }
        ctx.nothing_left(&id, &missing)?;
        Ok(())
    });
}

#[test]
fn missing_rootfs() {
    each_runtime(|ctx| -> Result<()> {
        let mut spec = sleeper();
        spec.root_path("no-such-rootfs");
        expect_create_refused(ctx, &spec, &["no-such-rootfs"])
    });
}

#[test]
fn missing_executable() {
    each_runtime(|ctx| -> Result<()> {
        let spec = Spec::new(&["/no-such-binary", "arg"]);
        expect_create_refused(ctx, &spec, &["/no-such-binary"])?;
        // Not found through the container's PATH either.
        let spec = Spec::new(&["no-such-command"]);
        expect_create_refused(ctx, &spec, &["no-such-command"])
    });
}

#[test]
fn duplicate_id() {
    each_runtime(|ctx| -> Result<()> {
        let first = ctx.bundle(&sleeper())?;
        let second = ctx.bundle(&sleeper())?;
        let id = ctx.id();
        let mut c = ctx.container(&id);
        c.create(CreateOptions::bundle(first.path()))?.ok()?;
        let out = ctx.rt.create(&id, CreateOptions::bundle(second.path()))?;
        if ctx.is_keel() {
            keel_error(&out, &[&id])?;
        } else {
            failed_with_1(&out)?;
        }
        // The first container is untouched; nothing of the second is left.
        let st = c.state()?;
        ensure!(
            st.status == "created",
            "first container is now {}",
            st.status
        );
        ensure!(
            fs::canonicalize(&st.bundle)? == fs::canonicalize(first.path())?,
            "the duplicate replaced the bundle"
        );
        let b = second.path().to_string_lossy();
        ensure!(
            host::mounts_mentioning(&b).is_empty(),
            "mounts of the duplicate left"
        );
        let procs = host::processes_mentioning(&[&b]);
        ensure!(
            procs.is_empty(),
            "processes of the duplicate left: {procs:?}"
        );
        ensure!(
            ctx.rt.list_json()?.len() == 1,
            "list shows more than one container"
        );
        Ok(())
    });
}

#[test]
fn unknown_id() {
    each_runtime(|ctx| -> Result<()> {
        let id = format!("{}-unknown", ctx.id());
        for args in [
            vec!["state", &id],
            vec!["start", &id],
            vec!["kill", &id, "KILL"],
            vec!["delete", &id],
        ] {
            let out = ctx.rt.exec(&args)?;
            if ctx.is_keel() {
                keel_error(&out, &[&id])?;
            } else {
                failed_with_1(&out)?;
            }
        }
        // `delete --force` of an unknown id succeeds in runc (it is
        // idempotent, and engines call it blindly in teardown): keep that.
        let out = ctx.rt.delete_force(&id)?;
        ensure!(
            out.success(),
            "delete --force of an unknown id failed: {}",
            out.stderr
        );
        let mut left = Vec::new();
        for e in fs::read_dir(ctx.rt.root()).into_iter().flatten().flatten() {
            left.push(e.path());
        }
        ensure!(
            !left.iter().any(|p| p.to_string_lossy().contains(&id)),
            "state appeared for an unknown id: {left:?}"
        );
        Ok(())
    });
}

#[test]
fn invalid_id_cannot_escape_the_root() {
    each_runtime(|ctx| -> Result<()> {
        let bundle = ctx.bundle(&sleeper())?;
        let name = format!("escape-{}", ctx.id());
        let id = format!("../{name}");
        let mut c = ctx.container(&id);
        let out = c.create(CreateOptions::bundle(bundle.path()))?;
        let outside = ctx
            .rt
            .root()
            .parent()
            .context("root has a parent")?
            .join(&name);
        let escaped = outside.exists();
        if escaped {
            let _ = fs::remove_dir_all(&outside);
        }
        ensure!(!escaped, "id {id:?} wrote state outside --root");
        if ctx.is_keel() {
            keel_error(&out, &[&id])?;
        } else {
            failed_with_1(&out)?;
        }
        ctx.nothing_left(&name, bundle.path())?;
        Ok(())
    });
}

#[test]
fn bad_signal() {
    each_runtime(|ctx| -> Result<()> {
        let bundle = ctx.bundle(&sleeper())?;
        let id = ctx.id();
        let mut c = ctx.container(&id);
        c.create(CreateOptions::bundle(bundle.path()))?.ok()?;
        c.start()?.ok()?;
        for sig in ["SIGKEELBOGUS", "KEELBOGUS", "999"] {
            let out = ctx.rt.kill(&id, sig)?;
            if ctx.is_keel() {
                keel_error(&out, &[sig])?;
            } else {
                failed_with_1(&out)?;
            }
        }
        ensure!(
            c.state()?.status == "running",
            "a bad signal changed the container"
        );
        Ok(())
    });
}

#[test]
fn unwritable_root() {
    each_runtime(|ctx| -> Result<()> {
        // --root below a regular file can never be created.
        let file = ctx.scratch().join("a-file");
        fs::write(&file, "")?;
        let root = file.join("root");
        let rt = Runtime::new(ctx.kind.name(), ctx.rt.bin(), &root)?;
        let bundle = ctx.bundle(&sleeper())?;
        let id = ctx.id();
        let out = rt.create(&id, CreateOptions::bundle(bundle.path()))?;
        if ctx.is_keel() {
            keel_error(&out, &[&root.to_string_lossy()])?;
        } else {
            failed_with_1(&out)?;
        }
        let b = bundle.path().to_string_lossy();
        ensure!(host::mounts_mentioning(&b).is_empty(), "mounts left");
        let procs = host::processes_mentioning(&[&id, &b]);
        ensure!(procs.is_empty(), "processes left: {procs:?}");
        Ok(())
    });
}

#[test]
fn rlimit_above_the_hard_limit() {
    each_runtime(|ctx| -> Result<()> {
        // Raising a hard limit needs CAP_SYS_RESOURCE, which root's bounding
        // set lacks on this machine: setrlimit fails with EPERM.
        let (_, hard) = keel_conformance::sys::getrlimit(libc::RLIMIT_NOFILE)?;
        ensure!(
            hard != u64::MAX,
            "RLIMIT_NOFILE is unlimited here: cannot exceed it"
        );
        let mut spec = sleeper();
        spec.rlimit("RLIMIT_NOFILE", 1024, hard + 1);
        expect_create_refused(ctx, &spec, &["RLIMIT_NOFILE"])
    });
}

// Failures half-way through create: after the namespaces exist, some mounts
// are made, or hooks ran. Each must still leave nothing behind.

#[test]
fn bad_mount_in_the_middle_of_mounts() {
    each_runtime(|ctx| -> Result<()> {
        // An unknown filesystem type between good mounts.
        let mut spec = sleeper();
        spec.mount("/before-ok", "tmpfs", "tmpfs", &["size=64k"])
            .mount("/in-the-middle", "keelbogusfs", "none", &[])
            .mount("/after", "tmpfs", "tmpfs", &["size=64k"]);
        expect_create_refused(ctx, &spec, &["/in-the-middle"])?;
        // A bind mount whose source does not exist.
        let missing = ctx.scratch().join("no-such-source");
        let mut spec = sleeper();
        spec.mount("/before-ok", "tmpfs", "tmpfs", &["size=64k"])
            .mount(
                "/bind-missing",
                "bind",
                missing.to_str().context("path")?,
                &["bind"],
            )
            .mount("/after", "tmpfs", "tmpfs", &["size=64k"]);
        expect_create_refused(ctx, &spec, &["/bind-missing"])
    });
}

#[test]
fn failing_hooks_during_create() {
    each_runtime(|ctx| -> Result<()> {
        // prestart and createRuntime run in the runtime's namespace,
        // createContainer in the container's (its path resolves there).
        for kind in ["prestart", "createRuntime", "createContainer"] {
            let mut spec = sleeper();
            spec.hook(kind, "/bin/false", &["false"]);
            expect_create_refused(ctx, &spec, &[kind]).with_context(|| format!("{kind} hook"))?;
        }
        // A hook that does not exist at all.
        let mut spec = sleeper();
        spec.hook("createRuntime", "/no/such/hook", &["hook"]);
        expect_create_refused(ctx, &spec, &["/no/such/hook"])
    });
}

#[test]
fn late_failures_in_process_setup() {
    each_runtime(|ctx| -> Result<()> {
        // An unknown sysctl: written after the mounts, before exec.
        let mut spec = sleeper();
        spec.sysctl("kernel.keel_no_such_sysctl", "1");
        expect_create_refused(ctx, &spec, &["kernel.keel_no_such_sysctl"])?;
        // A cwd that is a regular file.
        let mut spec = sleeper();
        spec.cwd("/etc/passwd");
        expect_create_refused(ctx, &spec, &["/etc/passwd"])?;
        // An executable that is not executable.
        let spec = Spec::new(&["/etc/passwd"]);
        expect_create_refused(ctx, &spec, &["/etc/passwd"])
    });
}

// Bad input for exec, update and the cgroup configuration. A refused create
// leaves no cgroup either; a refused update leaves every cgroup file as it
// was. A refused exec exits 255 on both runtimes (runc's exec contract).

/// Create `spec`, expecting a refusal that names `needles` (keel) and
/// leaves no state, mount, process or cgroup behind.
fn refuse_create_without_cgroups(ctx: &Ctx, spec: &Spec, needles: &[&str]) -> Result<()> {
    let bundle = ctx.bundle(spec)?;
    let id = ctx.id();
    let mut c = ctx.container(&id);
    let out = c.create(CreateOptions::bundle(bundle.path()))?;
    if ctx.is_keel() {
        keel_error(&out, needles)?;
    } else {
        failed_with_1(&out)?;
    }
    ctx.nothing_left(&id, bundle.path())?;
    let left = cgroups_named(&id);
    ensure!(left.is_empty(), "cgroups left: {left:?}");
    Ok(())
}

#[test]
fn negative_memory_limit_in_config() {
    each_runtime(|ctx| -> Result<()> {
        let mut spec = sleeper();
        spec.set("/linux/resources/memory", serde_json::json!({"limit": -5}));
        refuse_create_without_cgroups(ctx, &spec, &["linux.resources.memory.limit", "-5"])?;
        // -1 is "no limit", not an error.
        let mut spec = Spec::new(&["true"]);
        spec.set("/linux/resources/memory", serde_json::json!({"limit": -1}));
        let (out, _) = ctx.run_checker(&spec)?;
        ensure!(out.code == 0, "memory.limit -1 refused: {}", out.stderr);
        Ok(())
    });
}

#[test]
fn cpuset_outside_the_machine_in_config() {
    each_runtime(|ctx| -> Result<()> {
        let mut spec = sleeper();
        spec.set("/linux/resources/cpu", serde_json::json!({"cpus": "64-70"}));
        refuse_create_without_cgroups(ctx, &spec, &["linux.resources.cpu.cpus", "64-70"])?;
        let mut spec = sleeper();
        spec.set("/linux/resources/cpu", serde_json::json!({"mems": "7"}));
        refuse_create_without_cgroups(ctx, &spec, &["linux.resources.cpu.mems", "7"])
    });
}

#[test]
fn unknown_seccomp_action_in_config() {
    each_runtime(|ctx| -> Result<()> {
        let mut spec = sleeper();
        spec.set(
            "/linux/seccomp",
            serde_json::json!({
                "defaultAction": "SCMP_ACT_ALLOW",
                "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_KEEL_BOGUS"}],
            }),
        );
        refuse_create_without_cgroups(
            ctx,
            &spec,
            &["linux.seccomp.syscalls[0].action", "SCMP_ACT_KEEL_BOGUS"],
        )?;
        let mut spec = sleeper();
        spec.set(
            "/linux/seccomp",
            serde_json::json!({"defaultAction": "SCMP_ACT_KEEL_BOGUS"}),
        );
        refuse_create_without_cgroups(
            ctx,
            &spec,
            &["linux.seccomp.defaultAction", "SCMP_ACT_KEEL_BOGUS"],
        )
    });
}

/// A started sleeper with memory and pids limits; its guard, bundle and pid.
fn limited_sleeper(
    ctx: &Ctx,
) -> Result<(
    keel_conformance::harness::Container<'_>,
    keel_conformance::Bundle,
    i32,
)> {
    let mut spec = sleeper();
    spec.set(
        "/linux/resources/memory",
        serde_json::json!({"limit": 134217728}),
    )
    .set("/linux/resources/pids", serde_json::json!({"limit": 64}))
    .set("/linux/resources/cpu", serde_json::json!({"shares": 512}));
    let bundle = ctx.bundle(&spec)?;
    let id = ctx.id();
    let mut c = ctx.container(&id);
    c.create(CreateOptions::bundle(bundle.path()))?.ok()?;
    c.start()?.ok()?;
    let pid = c.pid().context("no pid")?;
    Ok((c, bundle, pid))
}

/// `update ARGS… ID` must be refused and change no cgroup file.
fn refuse_update(ctx: &Ctx, id: &str, pid: i32, args: &[&str], needles: &[&str]) -> Result<()> {
    let before = cgroup_files(pid)?;
    let mut a = vec!["update"];
    a.extend_from_slice(args);
    a.push(id);
    let out = ctx.rt.exec(&a)?;
    if ctx.is_keel() {
        keel_error(&out, needles).with_context(|| format!("update {args:?}"))?;
    } else {
        failed_with_1(&out).with_context(|| format!("update {args:?}"))?;
    }
    let after = cgroup_files(pid)?;
    for (k, v) in &before {
        ensure!(
            after.get(k) == Some(v),
            "update {args:?} was refused but changed {k}: {v} -> {:?}",
            after.get(k)
        );
    }
    Ok(())
}

#[test]
fn update_with_a_negative_memory_limit() {
    each_runtime(|ctx| -> Result<()> {
        let (c, _b, pid) = limited_sleeper(ctx)?;
        // runc: "invalid value for memory: invalid size: '-5'".
        refuse_update(ctx, &c.id, pid, &["--memory", "-5"], &["--memory", "-5"])?;
        refuse_update(
            ctx,
            &c.id,
            pid,
            &["--memory=-5", "--pids-limit", "9"],
            &["-5"],
        )?;
        refuse_update(
            ctx,
            &c.id,
            pid,
            &["--memory-swap", "-2"],
            &["--memory-swap"],
        )?;
        refuse_update(
            ctx,
            &c.id,
            pid,
            &["--memory-reservation", "-3"],
            &["--memory-reservation"],
        )?;
        // -1 is unlimited, as in runc.
        ctx.rt.exec(&["update", "--memory", "-1", &c.id])?.ok()?;
        let v = cgroup_files(pid)?["memory/memory.limit_in_bytes"].clone();
        ensure!(
            v.parse::<u64>().is_ok_and(|n| n > 1 << 60),
            "--memory -1 left limit_in_bytes {v}"
        );
        Ok(())
    });
}

#[test]
fn update_with_a_cpuset_outside_the_machine() {
    each_runtime(|ctx| -> Result<()> {
        let (c, _b, pid) = limited_sleeper(ctx)?;
        refuse_update(
            ctx,
            &c.id,
            pid,
            &["--cpuset-cpus", "64-70"],
            &["cpu.cpus", "64-70"],
        )?;
        refuse_update(ctx, &c.id, pid, &["--cpuset-mems", "7"], &["cpu.mems", "7"])?;
        // With good values in the same call: none of them is applied.
        refuse_update(
            ctx,
            &c.id,
            pid,
            &[
                "--memory",
                "96m",
                "--pids-limit",
                "9",
                "--cpu-share",
                "300",
                "--cpuset-cpus",
                "64-70",
            ],
            &["cpu.cpus", "64-70"],
        )?;
        // And the container still takes a good update afterwards.
        ctx.rt.exec(&["update", "--pids-limit", "9", &c.id])?.ok()?;
        let v = cgroup_files(pid)?["pids/pids.max"].clone();
        ensure!(v == "9", "pids.max {v} after --pids-limit 9");
        Ok(())
    });
}

#[test]
fn update_of_a_container_that_does_not_exist() {
    each_runtime(|ctx| -> Result<()> {
        let id = format!("{}-missing", ctx.id());
        for args in [
            vec!["update", "--memory", "64m", &id],
            vec!["update", "--pids-limit", "5", &id],
        ] {
            let out = ctx.rt.exec(&args)?;
            if ctx.is_keel() {
                keel_error(&out, &[&id, "does not exist"])?;
            } else {
                failed_with_1(&out)?;
            }
        }
        ensure!(cgroups_named(&id).is_empty(), "update made a cgroup");
        ensure!(
            !ctx.rt.root().join(&id).exists(),
            "update made state for an unknown id"
        );
        Ok(())
    });
}

/// `exec` must fail with 255 (both) and one line naming `needles` (keel).
fn exec_refused(ctx: &Ctx, out: &CmdOutput, needles: &[&str]) -> Result<()> {
    ensure!(
        out.code == 255,
        "`{}` exited {} (want 255); stderr {}",
        out.cmd,
        out.code,
        out.stderr
    );
    if ctx.is_keel() {
        let msg = out.stderr.trim_end();
        ensure!(
            !msg.is_empty() && !msg.contains('\n'),
            "not one line: {msg:?}"
        );
        for n in needles {
            ensure!(msg.contains(n), "error {msg:?} does not name {n:?}");
        }
    }
    Ok(())
}

#[test]
fn exec_process_file_that_does_not_parse() {
    each_runtime(|ctx| -> Result<()> {
        let (c, _b, pid) = limited_sleeper(ctx)?;
        let file = ctx.scratch().join("bad-process.json");
        let f = file.to_str().context("path")?;
        for (text, field) in [
            ("{\"args\": [\"true\"], not json", "bad-process.json"),
            ("", "bad-process.json"),
            ("{\"args\": \"true\", \"cwd\": \"/\"}", "args"),
            (
                "{\"args\": [\"true\"], \"cwd\": \"/\", \"user\": {\"uid\": \"root\"}}",
                "user.uid",
            ),
            (
                "{\"args\": [\"true\"], \"cwd\": \"/\", \"rlimits\": [{\"type\": \"RLIMIT_NOFILE\", \"soft\": -1, \"hard\": 1}]}",
                "rlimits[0].soft",
            ),
        ] {
            fs::write(&file, text)?;
            let out = ctx.rt.exec(&["exec", "--process", f, &c.id])?;
            exec_refused(ctx, &out, &[f, field]).with_context(|| format!("process.json {text:?}"))?;
        }
        let out = ctx.rt.exec(&["ps", "-f", "json", &c.id])?.ok()?;
        ensure!(
            out.stdout.trim() == format!("[{pid}]"),
            "a refused exec left processes: {}",
            out.stdout
        );
        // A missing file.
        let missing = ctx.scratch().join("no-such-process.json");
        let m = missing.to_str().context("path")?;
        let out = ctx.rt.exec(&["exec", "-p", m, &c.id])?;
        exec_refused(ctx, &out, &[m])
    });
}

#[test]
fn exec_into_a_stopped_container() {
    each_runtime(|ctx| -> Result<()> {
        let bundle = ctx.bundle(&Spec::new(&["true"]))?;
        let id = ctx.id();
        let mut c = ctx.container(&id);
        c.create(CreateOptions::bundle(bundle.path()))?.ok()?;
        // Exec works while it is created (as runc allows).
        let out = ctx.rt.exec(&["exec", &id, "true"])?;
        ensure!(
            out.code == 0,
            "exec into a created container: {}",
            out.stderr
        );
        c.start()?.ok()?;
        c.wait_exit(WAIT)?;
        ctx.rt.wait_status(&id, "stopped", WAIT)?;
        let out = ctx.rt.exec(&["exec", &id, "echo", "ran"])?;
        exec_refused(ctx, &out, &[&id, "stopped"])?;
        ensure!(out.stdout.is_empty(), "exec ran: {:?}", out.stdout);
        // Nor with -d, or a process file.
        let out = ctx.rt.exec(&["exec", "-d", &id, "true"])?;
        exec_refused(ctx, &out, &[&id, "stopped"])?;
        ensure!(c.state()?.status == "stopped", "the container changed");
        Ok(())
    });
}

#[test]
fn systemd_cgroup_with_a_slice_path_without_systemd() {
    each_runtime(|ctx| -> Result<()> {
        let pid1 = fs::read_to_string("/proc/1/comm").unwrap_or_default();
        ensure!(
            pid1.trim() != "systemd",
            "systemd is PID 1 here: this test expects a host without it"
        );
        let id = ctx.id();
        let mut spec = sleeper();
        spec.set(
            "/linux/cgroupsPath",
            serde_json::json!(format!("system.slice:keel-test:{id}")),
        );
        let bundle = ctx.bundle(&spec)?;
        let b = bundle.path().to_str().context("path")?;
        let _c = ctx.container(&id);
        for verb in ["create", "run"] {
            let out = ctx
                .rt
                .exec(&["--systemd-cgroup", verb, "--bundle", b, &id])?;
            if ctx.is_keel() {
                keel_error(&out, &["--systemd-cgroup", "systemd is not running"])?;
            } else {
                failed_with_1(&out)?;
                ensure!(
                    out.stderr.contains("systemd not running"),
                    "runc: {}",
                    out.stderr
                );
            }
            ctx.nothing_left(&id, bundle.path())?;
            let left = cgroups_named(&id);
            ensure!(left.is_empty(), "cgroups left: {left:?}");
            ensure!(
                cgroups_named("keel-test").is_empty(),
                "a slice cgroup was made"
            );
        }
        Ok(())
    });
}
