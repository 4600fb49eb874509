//! The container lifecycle and the runc CLI contract: create, start, state,
//! kill, delete, run, list, their exit codes and error cases.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::sync::Mutex;

use anyhow::{ensure, Context, Result};
use common::*;
use serde_json::Value;

/// The keys of `state` (and of each `list -f json` entry) and the JSON type
/// of each, as runc prints them when the spec has annotations.
const STATE_KEYS: [(&str, &str); 9] = [
    ("ociVersion", "string"),
    ("id", "string"),
    ("pid", "number"),
    ("status", "string"),
    ("bundle", "string"),
    ("rootfs", "string"),
    ("created", "string"),
    ("owner", "string"),
    ("annotations", "object"),
];

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn shape(v: &Value) -> BTreeMap<String, &'static str> {
    v.as_object()
        .map(|o| o.iter().map(|(k, v)| (k.clone(), json_type(v))).collect())
        .unwrap_or_default()
}

fn check_state_shape(what: &str, v: &Value) -> Result<()> {
    let want: BTreeMap<String, &str> = STATE_KEYS
        .iter()
        .map(|(k, t)| (k.to_string(), *t))
        .collect();
    ensure!(
        shape(v) == want,
        "{what} has shape {:?} (want {want:?}): {v}",
        shape(v)
    );
    Ok(())
}

#[test]
fn create_start_stop_delete() {
    each_runtime(|ctx| -> Result<()> {
        // The process waits for the test's go-ahead, then becomes keel-check.
        let mut spec = Spec::new(&[
            "/bin/sh",
            "-c",
            "while [ ! -e /tmp/go ]; do sleep 0.02; done; \
             exec /keel-check all skip=process.args fds=0,1,2 cwd-inside pid=1",
        ]);
        spec.annotation("org.keel.test", "lifecycle");
        let bundle = ctx.bundle(&spec)?;
        let id = ctx.id();
        let mut c = ctx.container(&id);
        c.create(CreateOptions::bundle(bundle.path()))?.ok()?;

        let st = c.state()?;
        ensure!(st.status == "created", "status after create: {}", st.status);
        ensure!(st.pid > 0, "pid after create: {}", st.pid);
        ensure!(st.id == id, "state id {}", st.id);
        ensure!(
            fs::canonicalize(&st.bundle)? == fs::canonicalize(bundle.path())?,
            "state bundle {} (want {})",
            st.bundle,
            bundle.path().display()
        );
        ensure!(
            st.annotations
                .as_ref()
                .and_then(|a| a.get("org.keel.test"))
                .map(String::as_str)
                == Some("lifecycle"),
            "annotations {:?}",
            st.annotations
        );
        ensure!(
            fs::metadata(format!("/proc/{}", st.pid)).is_ok(),
            "pid {} of a created container does not exist",
            st.pid
        );

        c.start()?.ok()?;
        let st = c.state()?;
        ensure!(st.status == "running", "status after start: {}", st.status);

        fs::write(bundle.rootfs().join("tmp/go"), "")?;
        let code = c.wait_exit(WAIT)?;
        ctx.rt.wait_status(&id, "stopped", WAIT)?;
        let (stdout, stderr) = c.output();
        TapReport::parse(&stdout)
            .passed()
            .map_err(anyhow::Error::msg)
            .with_context(|| format!("stderr: {stderr}"))?;
        if let Some(code) = code {
            ensure!(code == 0, "keel-check exited {code}");
        }

        ctx.rt.delete(&id)?.ok()?;
        c.forget();
        let after = ctx.rt.state(&id)?;
        ensure!(
            !after.success(),
            "state of a deleted container succeeded: {}",
            after.stdout
        );
        let listed = ctx.rt.list_json()?;
        ensure!(
            !listed.iter().any(|c| c["id"] == Value::String(id.clone())),
            "deleted container still listed: {listed:?}"
        );
        Ok(())
    });
}

#[test]
fn state_and_list_json_shape() {
    let shapes = Mutex::new(Vec::new());
    each_runtime(|ctx| -> Result<()> {
        let mut spec = sleeper();
        spec.annotation("org.keel.test", "shape");
        let bundle = ctx.bundle(&spec)?;
        let id = ctx.id();
        let mut c = ctx.container(&id);
        c.create(CreateOptions::bundle(bundle.path()))?.ok()?;
        let out = ctx.rt.state(&id)?.ok()?;
        let v: Value = serde_json::from_str(&out.stdout).context("state is not JSON")?;
        check_state_shape("state", &v)?;
        ensure!(v["status"] == "created", "status {}", v["status"]);
        ensure!(v["id"] == id.as_str(), "id {}", v["id"]);
        let rootfs = bundle.rootfs();
        ensure!(
            fs::canonicalize(v["rootfs"].as_str().unwrap_or(""))
                .is_ok_and(|p| p == fs::canonicalize(&rootfs).unwrap_or_default()),
            "rootfs {} (want {})",
            v["rootfs"],
            rootfs.display()
        );
        let created = v["created"].as_str().unwrap_or("");
        ensure!(
            created.len() >= 20 && created.as_bytes()[10] == b'T',
            "created {created:?} is not RFC 3339"
        );

        c.start()?.ok()?;
        let list = ctx.rt.list_json()?;
        ensure!(list.len() == 1, "list -f json: {list:?}");
        // runc's list entries carry the same keys as state.
        check_state_shape("list entry", &list[0])?;
        ensure!(
            list[0]["status"] == "running",
            "listed status {}",
            list[0]["status"]
        );
        shapes
            .lock()
            .unwrap()
            .push((ctx.kind, shape(&v), shape(&list[0])));
        Ok(())
    });
    let shapes = shapes.into_inner().unwrap();
    if let [(a, sa, la), (b, sb, lb)] = &shapes[..] {
        assert_eq!(sa, sb, "state shape differs between {a} and {b}");
        assert_eq!(la, lb, "list shape differs between {a} and {b}");
    }
}

#[test]
fn run_propagates_exit_status() {
    each_runtime(|ctx| -> Result<()> {
        // Without a PID namespace the shell is not init, so it can be killed
        // by its own signal.
        for (script, want) in [
            ("exit 3", 3),
            ("exit 0", 0),
            ("kill -9 $$", 137),
            ("kill -TERM $$", 143),
        ] {
            let mut spec = Spec::new(&["/bin/sh", "-c", script]);
            spec.remove_namespace("pid");
            let bundle = ctx.bundle(&spec)?;
            let id = ctx.id();
            let mut c = ctx.container(&id);
            let out = c.run(CreateOptions::bundle(bundle.path()))?;
            ensure!(
                out.code == want,
                "run `sh -c {script:?}` exited {} (want {want}); stderr: {}",
                out.code,
                out.stderr
            );
        }
        Ok(())
    });
}

#[test]
fn run_detached_then_kill() {
    each_runtime(|ctx| -> Result<()> {
        let bundle = ctx.bundle(&sleeper())?;
        let id = ctx.id();
        let mut c = ctx.container(&id);
        let opts = CreateOptions {
            detach: true,
            ..CreateOptions::bundle(bundle.path())
        };
        c.run(opts)?.ok()?;
        ensure!(
            c.state()?.status == "running",
            "run -d did not leave it running"
        );
        ctx.rt.kill(&id, "KILL")?.ok()?;
        ctx.rt.wait_status(&id, "stopped", WAIT)?;
        Ok(())
    });
}

#[test]
fn kill_accepts_name_sig_name_and_number() {
    each_runtime(|ctx| -> Result<()> {
        for sig in ["KILL", "SIGKILL", "9"] {
            let bundle = ctx.bundle(&sleeper())?;
            let id = ctx.id();
            let mut c = ctx.container(&id);
            c.create(CreateOptions::bundle(bundle.path()))?.ok()?;
            c.start()?.ok()?;
            ctx.rt
                .kill(&id, sig)?
                .ok()
                .with_context(|| format!("kill {id} {sig}"))?;
            ctx.rt.wait_status(&id, "stopped", WAIT)?;
            ctx.rt.delete(&id)?.ok()?;
            c.forget();
        }
        Ok(())
    });
}

#[test]
fn start_twice_is_an_error_naming_the_state() {
    each_runtime(|ctx| -> Result<()> {
        let bundle = ctx.bundle(&sleeper())?;
        let id = ctx.id();
        let mut c = ctx.container(&id);
        c.create(CreateOptions::bundle(bundle.path()))?.ok()?;
        c.start()?.ok()?;
        let again = c.start()?;
        failed_with_1(&again)?;
        ensure!(
            again.stderr.contains("running"),
            "second start does not name the state: {}",
            again.stderr
        );
        if ctx.is_keel() {
            keel_error(&again, &["running"])?;
        }
        ctx.rt.kill(&id, "KILL")?.ok()?;
        ctx.rt.wait_status(&id, "stopped", WAIT)?;
        let stopped = c.start()?;
        failed_with_1(&stopped)?;
        ensure!(
            stopped.stderr.contains("stopped"),
            "start of a stopped container does not name the state: {}",
            stopped.stderr
        );
        Ok(())
    });
}

#[test]
fn delete_running_needs_force() {
    each_runtime(|ctx| -> Result<()> {
        let bundle = ctx.bundle(&sleeper())?;
        let id = ctx.id();
        let mut c = ctx.container(&id);
        c.create(CreateOptions::bundle(bundle.path()))?.ok()?;
        c.start()?.ok()?;
        let pid = c.pid().context("no pid")?;
        let out = ctx.rt.delete(&id)?;
        failed_with_1(&out)?;
        ensure!(
            out.stderr.contains("running"),
            "delete error: {}",
            out.stderr
        );
        if ctx.is_keel() {
            keel_error(&out, &[&id, "running"])?;
        }
        ensure!(
            c.state()?.status == "running",
            "a refused delete changed the state"
        );
        ctx.rt.delete_force(&id)?.ok()?;
        c.forget();
        ensure!(
            !ctx.rt.state(&id)?.success(),
            "state still works after delete --force"
        );
        c.wait_exit(WAIT).ok();
        let gone = keel_conformance::host::proc_stat(pid).is_none_or(|(s, _, _)| s == 'Z');
        ensure!(gone, "process {pid} survived delete --force");
        Ok(())
    });
}

#[test]
fn preserve_fds_passes_exactly_those_fds() {
    each_runtime(|ctx| -> Result<()> {
        let spec = Ctx::checker_spec(&["fds=0,1,2,3,4", "cwd-inside"]);
        let bundle = ctx.bundle(&spec)?;
        let a = fs::File::create(ctx.scratch().join("a"))?;
        let b = fs::File::create(ctx.scratch().join("b"))?;
        let id = ctx.id();
        let mut c = ctx.container(&id);
        let opts = CreateOptions {
            preserve_fds: vec![a.into(), b.into()],
            ..CreateOptions::bundle(bundle.path())
        };
        let out = c.run(opts)?;
        TapReport::parse(&out.stdout)
            .passed()
            .map_err(anyhow::Error::msg)
            .with_context(|| format!("stderr: {}", out.stderr))?;
        ensure!(out.code == 0, "exit {}", out.code);
        Ok(())
    });
}

#[test]
fn pid_file_holds_the_container_pid() {
    each_runtime(|ctx| -> Result<()> {
        let bundle = ctx.bundle(&sleeper())?;
        let pid_file = ctx.scratch().join("init.pid");
        let id = ctx.id();
        let mut c = ctx.container(&id);
        let opts = CreateOptions {
            pid_file: Some(pid_file.clone()),
            ..CreateOptions::bundle(bundle.path())
        };
        c.create(opts)?.ok()?;
        let text = fs::read_to_string(&pid_file)?;
        let pid: i64 = text.trim().parse().context("pid file is not a number")?;
        ensure!(pid == c.state()?.pid, "pid file {pid} != state pid");
        Ok(())
    });
}

#[test]
fn delete_of_a_created_container_needs_force_in_keel() {
    each_runtime(|ctx| -> Result<()> {
        let bundle = ctx.bundle(&sleeper())?;
        let id = ctx.id();
        let mut c = ctx.container(&id);
        c.create(CreateOptions::bundle(bundle.path()))?.ok()?;
        let pid = c.pid().context("no pid after create")?;
        let out = ctx.rt.delete(&id)?;
        if ctx.is_keel() {
            // Deliberate difference (docs/runtime.md): runtime-spec says
            // delete of a container that is not stopped must fail.
            keel_error(&out, &[&id, "created"])?;
            ensure!(
                c.state()?.status == "created",
                "a refused delete changed the state"
            );
            ensure!(
                keel_conformance::host::proc_stat(pid).is_some_and(|s| s.0 != 'Z'),
                "a refused delete killed the init process {pid}"
            );
            ctx.rt.delete_force(&id)?.ok()?;
        } else {
            // runc 1.1.5 kills and deletes a created container without --force.
            ensure!(out.success(), "runc refused: {}", out.stderr);
        }
        c.forget();
        ensure!(
            !ctx.rt.state(&id)?.success(),
            "state still works after delete"
        );
        wait_until(&format!("init {pid} gone"), WAIT, || {
            keel_conformance::host::proc_stat(pid).is_none_or(|s| s.0 == 'Z')
        })?;
        ensure!(ctx.rt.list_json()?.is_empty(), "still listed after delete");
        Ok(())
    });
}

#[test]
fn kill_all_signals_every_process_in_the_pid_namespace() {
    each_runtime(|ctx| -> Result<()> {
        // init (pid 1 of a new pid namespace) traps TERM and keeps running;
        // its two `sleep 1000` children die of TERM only if they get it too.
        let script = "trap 'echo TERM >> /tmp/init-got-term' TERM; \
                      sleep 1000 & sleep 1000 & touch /tmp/ready; \
                      while :; do sleep 0.05; done";
        let bundle = ctx.bundle(&Spec::new(&["/bin/sh", "-c", script]))?;
        let id = ctx.id();
        let mut c = ctx.container(&id);
        c.create(CreateOptions::bundle(bundle.path()))?.ok()?;
        c.start()?.ok()?;
        wait_for_path(&bundle.rootfs().join("tmp/ready"), WAIT, None)?;
        let init = c.pid().context("no pid")?;
        let ns = ns_of(init, "pid").context("init's pid namespace")?;
        ensure!(
            Some(ns) != ns_of(std::process::id() as i32, "pid"),
            "the container has no pid namespace of its own"
        );
        // `sleep 1000 &` may still be a forked shell when /tmp/ready appears.
        let mut sleepers = Vec::new();
        let seen = wait_until("both sleep 1000 running", WAIT, || {
            sleepers = pids_in_pid_ns(ns, "sleep 1000");
            sleepers.len() == 2
        });
        ensure!(seen.is_ok(), "sleepers before kill: {sleepers:?}");

        ctx.rt.kill_all(&id, "TERM")?.ok()?;
        wait_until("both sleep 1000 killed by kill --all", WAIT, || {
            pids_in_pid_ns(ns, "sleep 1000").is_empty()
        })?;
        wait_for_path(&bundle.rootfs().join("tmp/init-got-term"), WAIT, None)
            .context("init did not get TERM from kill --all")?;
        ensure!(
            c.state()?.status == "running",
            "init does not exit on TERM, yet the container is {}",
            c.state()?.status
        );
        ctx.rt.kill(&id, "KILL")?.ok()?;
        ctx.rt.wait_status(&id, "stopped", WAIT)?;
        Ok(())
    });
}

/// Start `run` (foreground) of `spec` in the background, wait until the
/// container wrote /tmp/ready, send `sig` to the runtime process, and
/// return the runtime's exit code.
fn run_and_signal(ctx: &Ctx, spec: &Spec, sig: nix::sys::signal::Signal) -> Result<i32> {
    let bundle = ctx.bundle(spec)?;
    let id = ctx.id();
    let _c = ctx.container(&id);
    let b = bundle.path().to_str().context("path")?;
    let mut run = Background::spawn(
        ctx,
        &["run", "--bundle", b, &id],
        std::process::Stdio::null(),
    )?;
    wait_for_path(&bundle.rootfs().join("tmp/ready"), WAIT, Some(&mut run))?;
    run.signal(sig)?;
    let code = run.wait(WAIT)?;
    // The runtime deletes the container after a foreground run.
    ensure!(
        !ctx.rt.state(&id)?.success(),
        "{id} still exists after `run` returned"
    );
    Ok(code)
}

#[test]
fn run_forwards_signals_and_exits_with_the_container_status() {
    use nix::sys::signal::Signal;
    each_runtime(|ctx| -> Result<()> {
        // A trap: the container decides its exit code (pid namespace kept:
        // init with a handler gets the signal).
        let spec = Spec::new(&[
            "/bin/sh",
            "-c",
            "trap 'exit 7' TERM; touch /tmp/ready; sleep 1000 & wait $!",
        ]);
        let code = run_and_signal(ctx, &spec, Signal::SIGTERM)?;
        ensure!(code == 7, "run exited {code} (want 7 from the TERM trap)");

        // No trap: killed by the signal, 128+N. Without a pid namespace the
        // process is not an init, so the default action applies.
        for (sig, want) in [(Signal::SIGTERM, 143), (Signal::SIGHUP, 129)] {
            let mut spec = Spec::new(&["/bin/sh", "-c", "touch /tmp/ready; exec sleep 1000"]);
            spec.remove_namespace("pid");
            let code = run_and_signal(ctx, &spec, sig)?;
            ensure!(code == want, "run exited {code} after {sig} (want {want})");
        }
        Ok(())
    });
}

#[test]
fn run_with_a_terminal_proxies_the_pty_in_the_foreground() {
    each_runtime(|ctx| -> Result<()> {
        // runc needs one of its stdio to be a terminal (it copies that
        // terminal's size and mode): give both runtimes a pty as stdin and
        // collect stdout in a file. The size of that pty must reach the
        // container's.
        let ws = nix::pty::Winsize {
            ws_row: 41,
            ws_col: 123,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        let pty = nix::pty::openpty(Some(&ws), None).context("openpty")?;
        // Both runtimes size the pty only after the process started (runc
        // in its signal forwarder, keel in its copy loop), so poll up to 2 s
        // for a size instead of racing them. (The SIGWINCH of the resize can
        // also cut a `$(stty size)` short: retry on any non-size output.)
        let script = "tty; i=0; while [ $i -lt 100 ]; do \
                        s=$(stty size 2>/dev/null); case \"$s\" in [1-9]*) break;; esac; \
                        i=$((i+1)); sleep 0.02; \
                      done; echo \"$s\"; echo hello-from-the-pty";
        let mut spec = Spec::new(&["/bin/sh", "-c", script]);
        spec.terminal(true);
        let bundle = ctx.bundle(&spec)?;
        let id = ctx.id();
        let _c = ctx.container(&id);
        let b = bundle.path().to_str().context("path")?;
        let mut run = Background::spawn(
            ctx,
            &["run", "--bundle", b, &id],
            std::process::Stdio::from(pty.slave),
        )?;
        let code = run.wait(WAIT)?;
        drop(pty.master);
        let (out, err) = run.output();
        ensure!(
            code == 0,
            "run exited {code}; stdout {out:?}; stderr {err:?}"
        );
        let lines: Vec<&str> = out.lines().map(|l| l.trim_end_matches('\r')).collect();
        ensure!(
            lines.first().is_some_and(|l| l.starts_with("/dev/pts/")),
            "the process has no pty as stdin: {out:?}"
        );
        ensure!(
            lines.get(1) == Some(&"41 123"),
            "stty size inside: {out:?} (want 41 123)"
        );
        ensure!(
            lines.get(2) == Some(&"hello-from-the-pty"),
            "output: {out:?}"
        );
        Ok(())
    });
}

#[test]
fn terminal_without_console_socket_when_detached_is_an_error() {
    each_runtime(|ctx| -> Result<()> {
        let mut spec = sleeper();
        spec.terminal(true);
        for detach in [true, false] {
            let bundle = ctx.bundle(&spec)?;
            let id = ctx.id();
            let mut c = ctx.container(&id);
            // `run -d`, and `create` (which always detaches).
            let out = if detach {
                c.run(CreateOptions {
                    detach: true,
                    ..CreateOptions::bundle(bundle.path())
                })?
            } else {
                c.create(CreateOptions::bundle(bundle.path()))?
            };
            if ctx.is_keel() {
                keel_error(&out, &["console-socket"])?;
            } else {
                failed_with_1(&out)?;
            }
            ctx.nothing_left(&id, bundle.path())?;
        }
        Ok(())
    });
}
