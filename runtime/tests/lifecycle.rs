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
