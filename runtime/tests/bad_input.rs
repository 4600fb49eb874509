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
