//! runtime.md: the lifecycle (create, start, kill, delete), the state of a
//! container, the errors of invalid operations, and the edge cases a user
//! hits (a missing binary, a process that dies before start, a second
//! start, a kill of a stopped container, a delete of a running one).

use std::fs;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::env::{one_line, WAIT};
use super::{CaseResult, Env, Problem, Registry};
use crate::driver::CreateOptions;
use crate::spec::Spec;

pub fn sleeper() -> Spec {
    Spec::new(&["sleep", "1000"])
}

/// A shell process, with `sh -c SCRIPT`.
pub fn shell(script: &str) -> Spec {
    Spec::new(&["/bin/sh", "-c", script])
}

/// keel-check with `args`.
pub fn checker(args: &[&str]) -> Spec {
    let mut v = vec!["/keel-check"];
    v.extend_from_slice(args);
    Spec::new(&v)
}

/// Wait until `f` holds, polling; false after `timeout`.
pub fn wait_for(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let t0 = Instant::now();
    loop {
        if f() {
            return true;
        }
        if t0.elapsed() > timeout {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn expect_error(out: &crate::driver::CmdOutput, what: &str) -> CaseResult {
    ensure!(
        !out.success(),
        "{what} succeeded (want an error): {}",
        one_line(&out.stdout)
    );
    Ok(())
}

/// Create a sleeper and start it.
fn running<'a>(env: &'a Env<'a>) -> Result<(crate::Bundle, super::Ctr<'a>), Problem> {
    let (b, c) = env.create(&sleeper())?;
    let st = c.start()?;
    ensure!(st.success(), "start failed: {}", one_line(&st.stderr));
    Ok((b, c))
}

/// A created-then-stopped container: `true` started and exited.
fn stopped<'a>(env: &'a Env<'a>) -> Result<(crate::Bundle, super::Ctr<'a>), Problem> {
    let (b, mut c) = env.create(&Spec::new(&["true"]))?;
    let st = c.start()?;
    ensure!(st.success(), "start failed: {}", one_line(&st.stderr));
    c.wait_exit(WAIT)?;
    c.wait_status("stopped")?;
    Ok((b, c))
}

/// A process that records the signals it gets to /tmp/sig (in the rootfs).
fn signal_recorder() -> Spec {
    shell(
        "trap 'echo TERM >> /tmp/sig' TERM; trap 'echo USR1 >> /tmp/sig' USR1; \
         echo ready > /tmp/ready; while :; do sleep 0.05; done",
    )
}

fn kill_delivers(env: &Env, signal: Option<&str>, want: &str) -> CaseResult {
    let (b, c) = env.create(&signal_recorder())?;
    ensure!(c.start()?.success(), "start failed");
    let ready = b.rootfs().join("tmp/ready");
    ensure!(
        wait_for(WAIT, || ready.exists()),
        "the process never became ready"
    );
    let out = match signal {
        Some(s) => c.kill(s)?,
        None => env.rt.exec(&["kill", &c.id])?,
    };
    ensure!(
        out.success(),
        "kill {signal:?} failed: {}",
        one_line(&out.stderr)
    );
    let sig = b.rootfs().join("tmp/sig");
    ensure!(
        wait_for(WAIT, || fs::read_to_string(&sig)
            .is_ok_and(|s| s.lines().any(|l| l == want))),
        "the process did not receive {want} (got {:?})",
        fs::read_to_string(&sig).unwrap_or_default()
    );
    Ok(())
}

pub fn register(r: &mut Registry) {
    // ---- create ----
    r.add(
        "lifecycle",
        "create-status-created",
        "Create: on success the status MUST be created",
        |env| {
            let (_b, c) = env.create(&sleeper())?;
            let st = c.status()?;
            ensure!(st == "created", "status {st:?} after create");
            Ok(())
        },
    );
    r.add(
        "lifecycle",
        "create-does-not-run-process",
        "Create: the user-specified program MUST NOT be run",
        |env| {
            let (b, c) = env.create(&shell("touch /tmp/ran; exec sleep 1000"))?;
            std::thread::sleep(Duration::from_millis(200));
            let ran = b.rootfs().join("tmp/ran");
            ensure!(!ran.exists(), "the process ran at create");
            ensure!(c.start()?.success(), "start failed");
            ensure!(
                wait_for(WAIT, || ran.exists()),
                "the process did not run at start"
            );
            Ok(())
        },
    );
    r.add(
        "lifecycle",
        "create-pid-is-live",
        "State: pid is the container's process as seen by the host",
        |env| {
            let (_b, c) = env.create(&sleeper())?;
            let st = c.state()?;
            ensure!(st.pid > 0, "pid {} after create", st.pid);
            ensure!(
                fs::metadata(format!("/proc/{}", st.pid)).is_ok(),
                "pid {} does not exist",
                st.pid
            );
            Ok(())
        },
    );
    r.add(
        "lifecycle",
        "create-resources-created",
        "Create: the resources (namespaces, mounts) MUST be created",
        |env| {
            let (_b, c) = env.create(&sleeper())?;
            let pid = c.state()?.pid;
            for kind in ["mnt", "pid", "net", "ipc", "uts"] {
                let host = crate::host::ns_inode_of(&format!("/proc/self/ns/{kind}"))?;
                let theirs = crate::host::ns_inode_of(&format!("/proc/{pid}/ns/{kind}"))?;
                ensure!(
                    host != theirs,
                    "the created container's {kind} namespace is the host's"
                );
            }
            Ok(())
        },
    );
    r.add(
        "lifecycle",
        "config-change-after-create-ignored",
        "Create: changes to config.json after create MUST NOT affect the container",
        |env| {
            let (b, c) = env.create(&shell("echo original > /tmp/which; exec sleep 1000"))?;
            b.write_config_raw(&shell("echo changed > /tmp/which; exec sleep 1000").to_json())?;
            ensure!(c.start()?.success(), "start failed");
            let which = b.rootfs().join("tmp/which");
            ensure!(wait_for(WAIT, || which.exists()), "the process did not run");
            let got = fs::read_to_string(&which).unwrap_or_default();
            ensure!(got.trim() == "original", "the process ran {:?}", got.trim());
            Ok(())
        },
    );
    r.add(
        "lifecycle",
        "duplicate-id-fails",
        "Create: an ID that is not unique MUST generate an error and no new container",
        |env| {
            let (b, c) = env.create(&sleeper())?;
            let pid = c.state()?.pid;
            let b2 = env.bundle(&sleeper())?;
            let out = env.rt.create(&c.id, CreateOptions::bundle(b2.path()))?;
            expect_error(&out, "a second create with the same id")?;
            let st = c.state()?;
            ensure!(
                st.pid == pid && st.status == "created",
                "the first container changed: pid {} status {}",
                st.pid,
                st.status
            );
            ensure!(
                crate::host::mounts_mentioning(&b2.path().to_string_lossy()).is_empty(),
                "mounts left for the refused bundle"
            );
            drop(b);
            Ok(())
        },
    );
    r.add(
        "lifecycle",
        "invalid-id-fails",
        "Create: an ID that is not valid MUST generate an error",
        |env| {
            let b = env.bundle(&sleeper())?;
            for bad in ["../escape", "a/b", ""] {
                let out = env.rt.create(bad, CreateOptions::bundle(b.path()))?;
                if out.success() {
                    let _ = env.rt.delete_force(bad);
                    fail!("create accepted the id {bad:?}");
                }
            }
            let parent = env.rt.root().parent().map(|p| p.join("escape"));
            ensure!(
                !parent.is_some_and(|p| p.exists()),
                "state was written outside --root"
            );
            Ok(())
        },
    );
    r.add(
        "lifecycle",
        "missing-bundle-fails",
        "Create: a bundle that does not exist MUST generate an error",
        |env| {
            let id = env.id();
            let mut c = env.ctr(&id);
            let out = c.create(CreateOptions::bundle(env.scratch().join("no-such-bundle")))?;
            expect_error(&out, "create of a missing bundle")
        },
    );
    r.add(
        "lifecycle",
        "missing-config-fails",
        "Create: a bundle without config.json MUST generate an error",
        |env| {
            let b = env.bundle(&sleeper())?;
            fs::remove_file(b.config_path())?;
            env.expect_bundle_create_fails(&b)
        },
    );
    r.add(
        "lifecycle",
        "malformed-config-fails",
        "Create: an invalid config.json MUST generate an error",
        |env| {
            let b = env.bundle(&sleeper())?;
            b.write_config_raw("{\"ociVersion\": \"1.0.2\", \"process\": ")?;
            env.expect_bundle_create_fails(&b)
        },
    );
    r.add(
        "lifecycle",
        "wrong-field-type-fails",
        "config.md Valid values: invalid values MUST generate an error",
        |env| {
            let mut s = sleeper();
            s.set("/process/args", serde_json::json!("sleep 1000"));
            env.expect_create_fails(&s)
        },
    );
    r.add(
        "lifecycle",
        "missing-rootfs-fails",
        "config.md Root: a directory MUST exist at root.path",
        |env| {
            let mut s = sleeper();
            s.root_path("no-such-rootfs");
            env.expect_create_fails(&s)
        },
    );
    r.add(
        "lifecycle",
        "missing-process-fails",
        "config.md Process: process is REQUIRED when start is called",
        |env| {
            let mut s = sleeper();
            s.remove("/process");
            let b = env.bundle(&s)?;
            let id = env.id();
            let mut c = env.ctr(&id);
            let out = c.create(CreateOptions::bundle(b.path()))?;
            if out.success() {
                expect_error(&c.start()?, "start without a process")?;
            }
            Ok(())
        },
    );
    r.add(
        "lifecycle",
        "unknown-property-ignored",
        "config.md Extensibility: unknown properties MUST be ignored, not errors",
        |env| {
            let mut s = checker(&["process.args"]);
            s.set("/org.keel.unknown", serde_json::json!({"x": 1}))
                .set("/linux/org.keel.unknown", serde_json::json!([1, 2]))
                .set("/process/org.keel.unknown", serde_json::json!(true));
            env.check(&s, &["process.args"])
        },
    );

    // ---- start ----
    r.add(
        "lifecycle",
        "start-runs-process",
        "Start: MUST run the user-specified program; status MUST be running",
        |env| {
            let (b, c) = env.create(&shell("touch /tmp/ran; exec sleep 1000"))?;
            ensure!(c.start()?.success(), "start failed");
            let st = c.status()?;
            ensure!(st == "running", "status {st:?} after start");
            let ran = b.rootfs().join("tmp/ran");
            ensure!(wait_for(WAIT, || ran.exists()), "the process did not run");
            Ok(())
        },
    );
    r.add(
        "lifecycle",
        "start-unknown-fails",
        "Start: a container that does not exist MUST generate an error",
        |env| {
            expect_error(
                &env.rt.start("no-such-container")?,
                "start of an unknown id",
            )
        },
    );
    r.add(
        "lifecycle",
        "stdio-passed-to-process",
        "The process inherits the runtime's stdout and stderr (no terminal)",
        |env| {
            let (_b, mut c) = env.create(&shell("echo to-stdout; echo to-stderr >&2"))?;
            ensure!(c.start()?.success(), "start failed");
            c.wait_exit(WAIT)?;
            let (out, err) = c.output();
            ensure!(
                out.contains("to-stdout"),
                "stdout {:?} lacks the process's output",
                one_line(&out)
            );
            ensure!(
                err.contains("to-stderr"),
                "stderr {:?} lacks the process's output",
                one_line(&err)
            );
            Ok(())
        },
    );

    // ---- stopped ----
    r.add(
        "lifecycle",
        "exit-status-stopped",
        "Kill: when the process stops for any reason the status MUST be stopped",
        |env| {
            stopped(env)?;
            Ok(())
        },
    );
    r.add(
        "lifecycle",
        "kill-status-stopped",
        "Kill: after the process is killed the status MUST be stopped",
        |env| {
            let (_b, mut c) = running(env)?;
            ensure!(c.kill("KILL")?.success(), "kill KILL failed");
            c.wait_exit(WAIT)?;
            c.wait_status("stopped")?;
            Ok(())
        },
    );

    // ---- kill ----
    r.add(
        "lifecycle",
        "kill-created",
        "Kill: a created container can be signalled; it is then stopped",
        |env| {
            let (_b, mut c) = env.create(&sleeper())?;
            let out = c.kill("KILL")?;
            ensure!(
                out.success(),
                "kill of a created container failed: {}",
                one_line(&out.stderr)
            );
            c.wait_exit(WAIT)?;
            c.wait_status("stopped")?;
            Ok(())
        },
    );
    r.add(
        "lifecycle",
        "kill-default-sigterm",
        "runc CLI: kill without a signal sends SIGTERM",
        |env| kill_delivers(env, None, "TERM"),
    );
    r.add(
        "lifecycle",
        "kill-signal-name",
        "Kill: MUST send the specified signal (name USR1)",
        |env| kill_delivers(env, Some("USR1"), "USR1"),
    );
    r.add(
        "lifecycle",
        "kill-signal-sig-name",
        "Kill: MUST send the specified signal (name SIGUSR1)",
        |env| kill_delivers(env, Some("SIGUSR1"), "USR1"),
    );
    r.add(
        "lifecycle",
        "kill-signal-number",
        "Kill: MUST send the specified signal (number 10)",
        |env| kill_delivers(env, Some("10"), "USR1"),
    );
    r.add(
        "lifecycle",
        "kill-term-number",
        "Kill: MUST send the specified signal (number 15)",
        |env| kill_delivers(env, Some("15"), "TERM"),
    );
    r.add(
        "lifecycle",
        "kill-unknown-signal-fails",
        "Kill: an invalid signal is an error and has no effect",
        |env| {
            let (_b, c) = running(env)?;
            expect_error(&c.kill("SIGKEELBOGUS")?, "kill with an unknown signal")?;
            expect_error(&c.kill("999")?, "kill with signal 999")?;
            let st = c.status()?;
            ensure!(st == "running", "status {st:?} after a bad kill");
            Ok(())
        },
    );
    r.add(
        "lifecycle",
        "kill-unknown-fails",
        "Kill: a container that does not exist MUST generate an error",
        |env| {
            expect_error(
                &env.rt.kill("no-such-container", "KILL")?,
                "kill of an unknown id",
            )
        },
    );

    // ---- delete ----
    r.add(
        "lifecycle",
        "delete-stopped",
        "Delete: a stopped container is deleted; state then MUST fail",
        |env| {
            let (_b, mut c) = stopped(env)?;
            let out = c.delete()?;
            ensure!(out.success(), "delete failed: {}", one_line(&out.stderr));
            expect_error(&env.rt.state(&c.id)?, "state after delete")
        },
    );
    r.add(
        "lifecycle",
        "delete-leaves-nothing",
        "Delete: MUST delete the resources created during create",
        |env| {
            let (b, mut c) = stopped(env)?;
            ensure!(c.delete()?.success(), "delete failed");
            env.nothing_left(&c.id, b.path())
        },
    );
    r.add(
        "lifecycle",
        "delete-keeps-foreign-resources",
        "Delete: resources not created by the container MUST NOT be deleted",
        |env| {
            let data = env.scratch().join("data");
            fs::create_dir_all(&data)?;
            fs::write(data.join("keep"), "x")?;
            let mut s = Spec::new(&["true"]);
            s.mount("/data", "bind", &data.to_string_lossy(), &["bind", "rw"]);
            let (b, mut c) = env.create(&s)?;
            ensure!(c.start()?.success(), "start failed");
            c.wait_exit(WAIT)?;
            c.wait_status("stopped")?;
            ensure!(c.delete()?.success(), "delete failed");
            ensure!(
                data.join("keep").exists(),
                "the bind-mount source lost its file"
            );
            ensure!(
                b.rootfs().join("bin/busybox").exists(),
                "the rootfs was removed"
            );
            ensure!(b.config_path().exists(), "config.json was removed");
            Ok(())
        },
    );
    r.add(
        "lifecycle",
        "delete-unknown-fails",
        "Delete: a container that does not exist MUST generate an error",
        |env| {
            expect_error(
                &env.rt.delete("no-such-container")?,
                "delete of an unknown id",
            )
        },
    );
    r.add(
        "lifecycle",
        "delete-created-fails",
        "Delete: a container that is not stopped MUST NOT be deleted (runc and crun delete it)",
        |env| {
            let (_b, c) = env.create(&sleeper())?;
            let out = env.rt.delete(&c.id)?;
            expect_error(&out, "delete of a created container without --force")?;
            let st = c.status()?;
            ensure!(st == "created", "status {st:?} after the refused delete");
            Ok(())
        },
    );
    r.add(
        "lifecycle",
        "delete-force-running",
        "runc CLI: delete --force kills a running container and removes it",
        |env| {
            let (_b, mut c) = running(env)?;
            let pid = c.pid();
            let out = c.delete_force()?;
            ensure!(
                out.success(),
                "delete --force failed: {}",
                one_line(&out.stderr)
            );
            ensure!(
                wait_for(WAIT, || c.init_gone()),
                "process {pid:?} survived delete --force"
            );
            expect_error(&env.rt.state(&c.id)?, "state after delete --force")
        },
    );
    r.add(
        "lifecycle",
        "delete-force-created",
        "runc CLI: delete --force removes a created container",
        |env| {
            let (_b, mut c) = env.create(&sleeper())?;
            let out = c.delete_force()?;
            ensure!(
                out.success(),
                "delete --force failed: {}",
                one_line(&out.stderr)
            );
            ensure!(wait_for(WAIT, || c.init_gone()), "the process survived");
            expect_error(&env.rt.state(&c.id)?, "state after delete --force")
        },
    );
    r.add(
        "lifecycle",
        "id-reusable-after-delete",
        "Delete: once deleted, its ID MAY be used by a new container",
        |env| {
            let (_b, mut c) = stopped(env)?;
            ensure!(c.delete()?.success(), "delete failed");
            let b2 = env.bundle(&sleeper())?;
            let mut c2 = env.ctr(&c.id);
            let out = c2.create(CreateOptions::bundle(b2.path()))?;
            ensure!(
                out.success(),
                "create with a reused id failed: {}",
                one_line(&out.stderr)
            );
            Ok(())
        },
    );

    // ---- state ----
    r.add(
        "state",
        "required-properties",
        "State: MUST include ociVersion, id, status, pid, bundle",
        |env| {
            let (_b, c) = env.create(&sleeper())?;
            let v = c.state_value()?;
            for (k, t) in [
                ("ociVersion", "string"),
                ("id", "string"),
                ("status", "string"),
                ("pid", "number"),
                ("bundle", "string"),
            ] {
                let ok = match t {
                    "string" => v.get(k).is_some_and(Value::is_string),
                    _ => v.get(k).is_some_and(Value::is_i64),
                };
                ensure!(ok, "state lacks {k} ({t}): {v}");
            }
            Ok(())
        },
    );
    r.add(
        "state",
        "oci-version-semver",
        "State: ociVersion is the spec version (SemVer)",
        |env| {
            let (_b, c) = env.create(&sleeper())?;
            let v = c.state()?.oci_version;
            let core = v.split(['-', '+']).next().unwrap_or("");
            let parts: Vec<&str> = core.split('.').collect();
            ensure!(
                parts.len() == 3 && parts.iter().all(|p| p.parse::<u64>().is_ok()),
                "ociVersion {v:?} is not SemVer"
            );
            Ok(())
        },
    );
    r.add(
        "state",
        "id-matches",
        "State: id is the container's ID",
        |env| {
            let (_b, c) = env.create(&sleeper())?;
            let st = c.state()?;
            ensure!(st.id == c.id, "id {:?} (want {:?})", st.id, c.id);
            Ok(())
        },
    );
    r.add(
        "state",
        "bundle-absolute",
        "State: bundle is the absolute path to the bundle directory",
        |env| {
            let (b, c) = env.create(&sleeper())?;
            let st = c.state()?;
            ensure!(
                st.bundle.starts_with('/'),
                "bundle {:?} is not absolute",
                st.bundle
            );
            ensure!(
                fs::canonicalize(&st.bundle)? == fs::canonicalize(b.path())?,
                "bundle {} (want {})",
                st.bundle,
                b.path().display()
            );
            Ok(())
        },
    );
    r.add(
        "state",
        "pid-is-container-init",
        "State: pid is the container's process as seen by the host",
        |env| {
            let (b, c) = env.create(&sleeper())?;
            let pid = c.state()?.pid;
            use std::os::unix::fs::MetadataExt;
            let theirs = fs::metadata(format!("/proc/{pid}/root"))?;
            let rootfs = fs::metadata(b.rootfs())?;
            ensure!(
                (theirs.dev(), theirs.ino()) == (rootfs.dev(), rootfs.ino()),
                "/proc/{pid}/root is not the bundle's rootfs"
            );
            Ok(())
        },
    );
    r.add(
        "state",
        "annotations",
        "State: annotations lists the container's annotations",
        |env| {
            let mut s = sleeper();
            s.annotation("org.keel.test", "value one")
                .annotation("com.example.empty", "");
            let (_b, c) = env.create(&s)?;
            let a = c.state()?.annotations.unwrap_or_default();
            ensure!(
                a.get("org.keel.test").map(String::as_str) == Some("value one")
                    && a.get("com.example.empty").map(String::as_str) == Some(""),
                "annotations {a:?}"
            );
            Ok(())
        },
    );
    r.add(
        "state",
        "no-annotations-absent-or-empty",
        "State: without annotations the property MAY be absent or an empty map",
        |env| {
            let (_b, c) = env.create(&sleeper())?;
            let v = c.state_value()?;
            match v.get("annotations") {
                None => Ok(()),
                Some(Value::Object(m)) if m.is_empty() => Ok(()),
                Some(other) => fail!("annotations is {other}"),
            }
        },
    );
    r.add(
        "state",
        "status-running",
        "Start: on success the status MUST be running",
        |env| {
            let (_b, c) = running(env)?;
            let st = c.status()?;
            ensure!(st == "running", "status {st:?}");
            Ok(())
        },
    );
    r.add(
        "state",
        "unknown-fails",
        "Query State: a container that does not exist MUST generate an error",
        |env| {
            expect_error(
                &env.rt.state("no-such-container")?,
                "state of an unknown id",
            )
        },
    );
    r.add(
        "state",
        "list-shows-container",
        "runc CLI: list -f json shows each container with its status",
        |env| {
            let (_b, c) = env.create(&sleeper())?;
            let list = env.rt.list_json()?;
            let me = list
                .iter()
                .find(|x| x.get("id").and_then(Value::as_str) == Some(c.id.as_str()));
            let Some(me) = me else {
                fail!("list does not show {}", c.id);
            };
            ensure!(
                me.get("status").and_then(Value::as_str) == Some("created"),
                "list shows {me}"
            );
            Ok(())
        },
    );

    // ---- edge cases ----
    r.add(
        "edge",
        "nonexistent-binary",
        "Lifecycle: a missing process binary MUST generate an error; nothing keeps running",
        |env| {
            let s = Spec::new(&["/no/such/binary"]);
            let b = env.bundle(&s)?;
            let id = env.id();
            let mut c = env.ctr(&id);
            let out = c.create(CreateOptions::bundle(b.path()))?;
            if !out.success() {
                return env.nothing_left(&id, b.path());
            }
            expect_error(&c.start()?, "start of a missing binary")?;
            let st = c.status()?;
            ensure!(st != "running", "status {st:?} after a failed start");
            Ok(())
        },
    );
    r.add(
        "edge",
        "binary-not-executable",
        "Lifecycle: a process that cannot be executed MUST generate an error",
        |env| {
            let s = Spec::new(&["/etc/passwd"]);
            let (out, _) = env.run(&s)?;
            expect_error(&out, "run of a non-executable file")
        },
    );
    r.add(
        "edge",
        "exits-before-start",
        "Start: a container whose process died before start cannot be started",
        |env| {
            let (_b, mut c) = env.create(&sleeper())?;
            ensure!(
                c.kill("KILL")?.success(),
                "kill of the created container failed"
            );
            c.wait_exit(WAIT)?;
            c.wait_status("stopped")?;
            expect_error(&c.start()?, "start of a container whose process died")
        },
    );
    r.add(
        "edge",
        "start-twice-fails",
        "Start: an already started container MUST generate an error and be unaffected",
        |env| {
            let (b, c) = env.create(&shell("echo x >> /tmp/starts; exec sleep 1000"))?;
            ensure!(c.start()?.success(), "first start failed");
            expect_error(&c.start()?, "a second start")?;
            let st = c.status()?;
            ensure!(st == "running", "status {st:?} after a second start");
            std::thread::sleep(Duration::from_millis(100));
            let n = fs::read_to_string(b.rootfs().join("tmp/starts"))
                .unwrap_or_default()
                .lines()
                .count();
            ensure!(n == 1, "the process ran {n} times");
            Ok(())
        },
    );
    r.add(
        "edge",
        "start-stopped-fails",
        "Start: a stopped container MUST generate an error",
        |env| {
            let (_b, c) = stopped(env)?;
            expect_error(&c.start()?, "start of a stopped container")
        },
    );
    r.add(
        "edge",
        "kill-stopped-fails",
        "Kill: a container that is not running MUST generate an error",
        |env| {
            let (_b, c) = stopped(env)?;
            expect_error(&c.kill("KILL")?, "kill of a stopped container")?;
            let st = c.status()?;
            ensure!(st == "stopped", "status {st:?}");
            Ok(())
        },
    );
    r.add(
        "edge",
        "delete-running-fails",
        "Delete: a container whose process is running MUST generate an error",
        |env| {
            let (_b, c) = running(env)?;
            expect_error(&env.rt.delete(&c.id)?, "delete of a running container")?;
            let st = c.status()?;
            ensure!(st == "running", "status {st:?} after the refused delete");
            ensure!(!c.init_gone(), "the process died");
            Ok(())
        },
    );
    r.add(
        "edge",
        "delete-twice-fails",
        "Delete: a deleted container does not exist; deleting it MUST fail",
        |env| {
            let (_b, mut c) = stopped(env)?;
            ensure!(c.delete()?.success(), "delete failed");
            expect_error(&env.rt.delete(&c.id)?, "a second delete")
        },
    );
    r.add(
        "edge",
        "start-after-delete-fails",
        "Start: a deleted container does not exist; starting it MUST fail",
        |env| {
            let (_b, mut c) = env.create(&sleeper())?;
            ensure!(c.delete_force()?.success(), "delete --force failed");
            expect_error(&env.rt.start(&c.id)?, "start after delete")
        },
    );
    r.add(
        "edge",
        "immediate-exit",
        "A process that exits at once is stopped and deletable",
        |env| {
            let (_b, mut c) = stopped(env)?;
            let out = c.delete()?;
            ensure!(out.success(), "delete failed: {}", one_line(&out.stderr));
            Ok(())
        },
    );
    r.add(
        "edge",
        "failed-create-leaves-nothing",
        "Errors: a failed operation MUST leave the environment as if never attempted",
        |env| {
            let mut s = sleeper();
            s.hook("createRuntime", "/bin/false", &["false"]);
            env.expect_create_fails(&s)
        },
    );
}
