//! config.md POSIX-platform hooks and runtime.md's lifecycle steps that run
//! them: when each kind runs, in which namespace, the state on its stdin,
//! its args, env and timeout, and what a failure does.
//!
//! Every hook records itself into a host directory (bind-mounted at /hooks
//! for the startContainer hook, which runs in the container): its name into
//! `order`, its stdin into NAME.json, its mount namespace into NAME.mnt,
//! whether it sees a host-only file into NAME.host, and, when the state's
//! pid is alive, that process's executable into NAME.exe.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::env::{one_line, WAIT};
use super::lifecycle::wait_for;
use super::{CaseResult, Env, Problem, Registry};
use crate::spec::Spec;

/// The hook kinds, in the order the lifecycle runs them.
pub const KINDS: [&str; 6] = [
    "prestart",
    "createRuntime",
    "createContainer",
    "startContainer",
    "poststart",
    "poststop",
];

const RECORDER: &str = r#"n=$1; d=$2; marker=$3
echo "$n" >> "$d/order"
cat > "$d/$n.json"
readlink /proc/self/ns/mnt > "$d/$n.mnt" 2>/dev/null
if [ -e "$marker" ]; then echo yes > "$d/$n.host"; fi
pid=$(sed -n 's/.*"pid": *\([0-9][0-9]*\).*/\1/p' "$d/$n.json" | head -n 1)
if [ -n "$pid" ] && [ -d "/proc/$pid" ]; then
  echo alive > "$d/$n.alive"
  readlink "/proc/$pid/exe" > "$d/$n.exe" 2>/dev/null
fi
exit 0"#;

/// Add a recording hook of `kind` named `name` writing into `dir`.
fn add_recorder(spec: &mut Spec, kind: &str, name: &str, dir: &str, marker: &str) {
    spec.hook(
        kind,
        "/bin/sh",
        &["sh", "-c", RECORDER, "hook", name, dir, marker],
    );
}

/// What one full lifecycle with recording hooks left behind.
struct Record {
    dir: PathBuf,
    after_create: Vec<String>,
    after_start: Vec<String>,
    after_kill: Vec<String>,
    after_delete: Vec<String>,
    /// The container's mount namespace inode, read at create.
    container_mnt: Option<String>,
}

impl Record {
    fn state(&self, name: &str) -> Result<Value, Problem> {
        let p = self.dir.join(format!("{name}.json"));
        let text = fs::read_to_string(&p)
            .map_err(|_| Problem::Fail(format!("the {name} hook did not run")))?;
        serde_json::from_str(&text)
            .map_err(|e| Problem::Fail(format!("the {name} hook got bad state {text:?}: {e}")))
    }

    fn file(&self, name: &str, ext: &str) -> Option<String> {
        fs::read_to_string(self.dir.join(format!("{name}.{ext}")))
            .ok()
            .map(|s| s.trim().to_string())
    }

    fn ran(&self, name: &str) -> CaseResult {
        ensure!(
            self.after_delete.iter().any(|n| n == name),
            "the {name} hook never ran (order {:?})",
            self.after_delete
        );
        Ok(())
    }
}

fn order(dir: &Path) -> Vec<String> {
    fs::read_to_string(dir.join("order"))
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

/// Run a container with a recording hook of every kind (plus `extra` edits
/// of the spec) through create, start, kill and delete.
fn lifecycle(env: &Env, extra: impl Fn(&mut Spec, &str)) -> Result<Record, Problem> {
    let dir = env.scratch().join("hooks");
    fs::create_dir_all(&dir)?;
    let d = dir.to_string_lossy().into_owned();
    let marker = env.scratch_path("host-only");
    fs::write(&marker, "")?;
    let mut spec = Spec::new(&[
        "/bin/sh",
        "-c",
        "if [ -e /hooks/startContainer.json ]; then echo yes > /hooks/process-saw-startContainer; fi; \
         exec sleep 1000",
    ]);
    for kind in KINDS {
        let target = if kind == "startContainer" {
            "/hooks"
        } else {
            &d
        };
        add_recorder(&mut spec, kind, kind, target, &marker);
    }
    spec.mount("/hooks", "bind", &d, &["bind", "rw"]);
    extra(&mut spec, &d);
    let (_b, mut c) = env.create(&spec)?;
    let after_create = order(&dir);
    let container_mnt = c
        .pid()
        .and_then(|p| fs::read_link(format!("/proc/{p}/ns/mnt")).ok())
        .map(|l| l.to_string_lossy().into_owned());
    let st = c.start()?;
    ensure!(st.success(), "start failed: {}", one_line(&st.stderr));
    let after_start = order(&dir);
    let k = c.kill("KILL")?;
    ensure!(k.success(), "kill failed: {}", one_line(&k.stderr));
    c.wait_exit(WAIT)?;
    c.wait_status("stopped")?;
    let after_kill = order(&dir);
    let del = c.delete()?;
    ensure!(del.success(), "delete failed: {}", one_line(&del.stderr));
    let after_delete = order(&dir);
    Ok(Record {
        dir,
        after_create,
        after_start,
        after_kill,
        after_delete,
        container_mnt,
    })
}

fn plain(env: &Env) -> Result<Record, Problem> {
    lifecycle(env, |_, _| {})
}

fn status_case(r: &mut Registry, kind: &'static str, want: &'static str) {
    r.add(
        "hooks",
        &format!("{kind}-state-status-{want}"),
        &format!("Hooks: the state on stdin is the state of the moment: {kind} sees {want}"),
        move |env| {
            let rec = plain(env)?;
            let st = rec.state(kind)?;
            ensure!(
                st["status"] == want,
                "{kind} saw status {} (want {want})",
                st["status"]
            );
            Ok(())
        },
    );
}

fn runtime_ns_case(r: &mut Registry, kind: &'static str) {
    r.add(
        "hooks",
        &format!("{kind}-in-runtime-namespace"),
        &format!("Hooks: {kind} MUST be executed in the runtime namespace"),
        move |env| {
            let rec = plain(env)?;
            rec.ran(kind)?;
            ensure!(
                rec.file(kind, "host").is_some(),
                "{kind} did not see the host filesystem"
            );
            let mnt = rec.file(kind, "mnt");
            ensure!(
                mnt.is_some() && mnt != rec.container_mnt,
                "{kind} ran in the container's mount namespace {mnt:?}"
            );
            Ok(())
        },
    );
}

fn failure_fails_create(r: &mut Registry, kind: &'static str) {
    r.add(
        "hooks",
        &format!("{kind}-failure-fails-create"),
        &format!("Lifecycle: a failing {kind} hook MUST make create fail and stop the container"),
        move |env| {
            let mut s = super::lifecycle::sleeper();
            s.hook(kind, "/bin/false", &["false"]);
            env.expect_create_fails(&s)
        },
    );
}

pub fn register(r: &mut Registry) {
    for (kind, phase) in [
        ("prestart", "create"),
        ("createRuntime", "create"),
        ("createContainer", "create"),
    ] {
        r.add(
            "hooks",
            &format!("{kind}-runs-at-{phase}"),
            &format!("Hooks: {kind} MUST be called as part of create"),
            move |env| {
                let rec = plain(env)?;
                ensure!(
                    rec.after_create.iter().any(|n| n == kind),
                    "{kind} had not run when create returned (order {:?})",
                    rec.after_create
                );
                Ok(())
            },
        );
    }
    r.add(
        "hooks",
        "startContainer-runs-at-start",
        "Hooks: startContainer MUST be called as part of start, before the process",
        |env| {
            let rec = plain(env)?;
            ensure!(
                !rec.after_create.iter().any(|n| n == "startContainer"),
                "startContainer ran at create"
            );
            ensure!(
                rec.after_start.iter().any(|n| n == "startContainer"),
                "startContainer had not run when start returned (order {:?})",
                rec.after_start
            );
            Ok(())
        },
    );
    r.add(
        "hooks",
        "poststart-runs-at-start",
        "Hooks: poststart MUST be called after the process is executed, before start returns",
        |env| {
            let rec = plain(env)?;
            ensure!(
                !rec.after_create.iter().any(|n| n == "poststart"),
                "poststart ran at create (order {:?})",
                rec.after_create
            );
            ensure!(
                rec.after_start.iter().any(|n| n == "poststart"),
                "poststart had not run when start returned (order {:?})",
                rec.after_start
            );
            Ok(())
        },
    );
    r.add(
        "hooks",
        "poststop-runs-at-delete",
        "Hooks: poststop MUST be called after the container is deleted, before delete returns",
        |env| {
            let rec = plain(env)?;
            ensure!(
                !rec.after_kill.iter().any(|n| n == "poststop"),
                "poststop ran before delete (order {:?})",
                rec.after_kill
            );
            ensure!(
                rec.after_delete.iter().any(|n| n == "poststop"),
                "poststop had not run when delete returned (order {:?})",
                rec.after_delete
            );
            Ok(())
        },
    );
    r.add(
        "hooks",
        "order",
        "Hooks: MUST be called in the listed order of the lifecycle",
        |env| {
            let rec = plain(env)?;
            ensure!(
                rec.after_delete == KINDS,
                "order {:?} (want {KINDS:?})",
                rec.after_delete
            );
            Ok(())
        },
    );
    r.add(
        "hooks",
        "prestart-before-createRuntime",
        "Hooks: prestart MUST be called before createRuntime",
        |env| {
            let rec = plain(env)?;
            let i = |n: &str| rec.after_delete.iter().position(|x| x == n);
            ensure!(
                i("prestart").is_some() && i("prestart") < i("createRuntime"),
                "order {:?}",
                rec.after_delete
            );
            Ok(())
        },
    );
    r.add(
        "hooks",
        "createContainer-after-createRuntime",
        "Hooks: createContainer MUST be called after createRuntime",
        |env| {
            let rec = plain(env)?;
            let i = |n: &str| rec.after_delete.iter().position(|x| x == n);
            ensure!(
                i("createRuntime").is_some() && i("createRuntime") < i("createContainer"),
                "order {:?}",
                rec.after_delete
            );
            Ok(())
        },
    );
    r.add(
        "hooks",
        "same-kind-in-listed-order",
        "Hooks: several hooks of one kind MUST be called in the listed order",
        |env| {
            let rec = lifecycle(env, |s, d| {
                let m = "/nonexistent";
                add_recorder(s, "createRuntime", "cr-second", d, m);
                add_recorder(s, "createRuntime", "cr-third", d, m);
                add_recorder(s, "poststop", "ps-second", d, m);
            })?;
            let i = |n: &str| rec.after_delete.iter().position(|x| x == n);
            ensure!(
                i("createRuntime") < i("cr-second")
                    && i("cr-second") < i("cr-third")
                    && i("cr-third") < i("createContainer")
                    && i("poststop") < i("ps-second")
                    && i("ps-second").is_some(),
                "order {:?}",
                rec.after_delete
            );
            Ok(())
        },
    );
    r.add(
        "hooks",
        "state-on-stdin",
        "Hooks: the state of the container MUST be passed on stdin",
        |env| {
            let rec = plain(env)?;
            for kind in KINDS {
                let st = rec.state(kind)?;
                ensure!(
                    st["ociVersion"].is_string() && st["bundle"].is_string(),
                    "{kind} got {st}"
                );
                ensure!(st["status"].is_string(), "{kind} state lacks status: {st}");
            }
            Ok(())
        },
    );
    r.add(
        "hooks",
        "state-names-container",
        "Hooks: the state names the container (id) and its process (pid)",
        |env| {
            let mut seen_id = None;
            let rec = lifecycle(env, |_, _| {})?;
            for kind in KINDS {
                let st = rec.state(kind)?;
                let id = st["id"].as_str().unwrap_or("").to_string();
                ensure!(!id.is_empty(), "{kind} state has no id");
                if let Some(prev) = &seen_id {
                    ensure!(&id == prev, "{kind} got id {id} (others {prev})");
                }
                seen_id = Some(id);
                if kind != "poststop" {
                    ensure!(
                        st["pid"].as_i64().unwrap_or(0) > 0,
                        "{kind} state has no pid: {st}"
                    );
                }
            }
            Ok(())
        },
    );
    status_case(r, "createRuntime", "creating");
    status_case(r, "createContainer", "created");
    status_case(r, "startContainer", "created");
    status_case(r, "poststart", "running");
    status_case(r, "poststop", "stopped");
    r.add(
        "hooks",
        "annotations-in-state",
        "Hooks: the state passed to hooks carries the annotations",
        |env| {
            let rec = lifecycle(env, |s, _| {
                s.annotation("org.keel.hook", "seen");
            })?;
            let st = rec.state("createRuntime")?;
            ensure!(
                st["annotations"]["org.keel.hook"] == "seen",
                "createRuntime got annotations {}",
                st["annotations"]
            );
            Ok(())
        },
    );
    for kind in ["prestart", "createRuntime", "poststart"] {
        runtime_ns_case(r, kind);
    }
    r.add(
        "hooks",
        "poststop-in-runtime-namespace",
        "Hooks: poststop MUST be executed in the runtime namespace",
        |env| {
            let rec = plain(env)?;
            rec.ran("poststop")?;
            ensure!(
                rec.file("poststop", "host").is_some(),
                "poststop did not see the host filesystem"
            );
            Ok(())
        },
    );
    r.add(
        "hooks",
        "createContainer-in-container-namespace",
        "Hooks: createContainer MUST be executed in the container namespace",
        |env| {
            let rec = plain(env)?;
            rec.ran("createContainer")?;
            let mnt = rec.file("createContainer", "mnt");
            ensure!(
                mnt.is_some() && mnt == rec.container_mnt,
                "createContainer ran in mount namespace {mnt:?} (container {:?})",
                rec.container_mnt
            );
            Ok(())
        },
    );
    r.add(
        "hooks",
        "startContainer-in-container-namespace",
        "Hooks: startContainer MUST be executed in the container namespace",
        |env| {
            let rec = plain(env)?;
            rec.ran("startContainer")?;
            let mnt = rec.file("startContainer", "mnt");
            ensure!(
                mnt.is_some() && mnt == rec.container_mnt,
                "startContainer ran in mount namespace {mnt:?} (container {:?})",
                rec.container_mnt
            );
            ensure!(
                rec.file("startContainer", "host").is_none(),
                "startContainer saw the host filesystem"
            );
            Ok(())
        },
    );
    r.add(
        "hooks",
        "startContainer-path-in-container",
        "Hooks: startContainer's path MUST resolve in the container namespace",
        |env| {
            let dir = env.scratch().join("sc");
            fs::create_dir_all(&dir)?;
            let mut s = Spec::new(&["true"]);
            s.hook("startContainer", "/only-in-container/hook", &["hook"])
                .mount("/sc", "bind", &dir.to_string_lossy(), &["bind", "rw"]);
            let b = env.bundle(&s)?;
            let hook_dir = b.rootfs().join("only-in-container");
            fs::create_dir_all(&hook_dir)?;
            let hook = hook_dir.join("hook");
            fs::write(&hook, "#!/bin/sh\necho ran > /sc/ran\n")?;
            std::os::unix::fs::PermissionsExt::set_mode(
                &mut fs::metadata(&hook)?.permissions(),
                0o755,
            );
            fs::set_permissions(&hook, std::os::unix::fs::PermissionsExt::from_mode(0o755))?;
            let (out, _) = env.run_bundle(&b)?;
            ensure!(out.success(), "run failed: {}", one_line(&out.stderr));
            ensure!(dir.join("ran").exists(), "the hook did not run");
            Ok(())
        },
    );
    r.add(
        "hooks",
        "prestart-sees-live-process",
        "Hooks: prestart runs after the container's namespaces exist (its pid is alive)",
        |env| {
            let rec = plain(env)?;
            rec.ran("prestart")?;
            ensure!(
                rec.file("prestart", "alive").is_some(),
                "the state's pid was not alive during prestart"
            );
            Ok(())
        },
    );
    r.add(
        "hooks",
        "poststart-after-process-executed",
        "Hooks: poststart MUST be called after the user-specified process is executed",
        |env| {
            let rec = plain(env)?;
            rec.ran("poststart")?;
            let exe = rec.file("poststart", "exe").unwrap_or_default();
            ensure!(
                exe.ends_with("/busybox") || exe.ends_with("/sleep"),
                "during poststart the process was still {exe:?} (not the user program)"
            );
            Ok(())
        },
    );
    r.add(
        "hooks",
        "startContainer-before-process",
        "Hooks: startContainer MUST be called before the user-specified process runs",
        |env| {
            let rec = plain(env)?;
            rec.ran("startContainer")?;
            let saw = rec.dir.join("process-saw-startContainer");
            ensure!(
                wait_for(Duration::from_secs(2), || saw.exists()),
                "the process started before the startContainer hook had run"
            );
            Ok(())
        },
    );
    r.add(
        "hooks",
        "poststop-after-process-gone",
        "Hooks: poststop is called after the container is deleted (its process is gone)",
        |env| {
            let rec = plain(env)?;
            rec.ran("poststop")?;
            ensure!(
                rec.file("poststop", "alive").is_none(),
                "the container's process was alive during poststop"
            );
            Ok(())
        },
    );
    r.add(
        "hooks",
        "args-and-env",
        "Hooks: args and env have execv/environ semantics (exactly what was given)",
        |env| {
            let d = env.scratch_path("argenv");
            fs::create_dir_all(&d)?;
            let mut s = Spec::new(&["true"]);
            let script = format!("echo \"$0|$1|$2\" > {d}/args; env > {d}/env");
            s.set(
                "/hooks/createRuntime",
                serde_json::json!([{
                    "path": "/bin/sh",
                    "args": ["sh", "-c", script, "argzero", "one", "two words"],
                    "env": ["KEEL_HOOK=yes", "PATH=/usr/bin:/bin"],
                }]),
            );
            let (out, _) = env.run(&s)?;
            ensure!(out.success(), "run failed: {}", one_line(&out.stderr));
            let args = fs::read_to_string(format!("{d}/args")).unwrap_or_default();
            ensure!(
                args.trim() == "argzero|one|two words",
                "the hook got args {:?}",
                args.trim()
            );
            let e = fs::read_to_string(format!("{d}/env")).unwrap_or_default();
            ensure!(
                e.lines().any(|l| l == "KEEL_HOOK=yes"),
                "the hook's env lacks KEEL_HOOK=yes: {}",
                one_line(&e)
            );
            ensure!(
                !e.lines().any(|l| l.starts_with(super::runner::MARKER_ENV)),
                "the hook inherited the runtime caller's environment"
            );
            Ok(())
        },
    );
    r.add(
        "hooks",
        "timeout-aborts-hook",
        "Hooks: timeout is the number of seconds before aborting the hook",
        |env| {
            let mut s = super::lifecycle::sleeper();
            s.set(
                "/hooks/createRuntime",
                serde_json::json!([{"path": "/bin/sleep", "args": ["sleep", "60"], "timeout": 1}]),
            );
            let t0 = Instant::now();
            env.expect_create_fails(&s)?;
            ensure!(
                t0.elapsed() < Duration::from_secs(15),
                "create took {:?} with a 1 s hook timeout",
                t0.elapsed()
            );
            Ok(())
        },
    );
    failure_fails_create(r, "prestart");
    failure_fails_create(r, "createRuntime");
    failure_fails_create(r, "createContainer");
    r.add(
        "hooks",
        "startContainer-failure-fails-start",
        "Lifecycle: a failing startContainer hook MUST make start fail and stop the container",
        |env| {
            let d = env.scratch_path("sc-fail");
            fs::create_dir_all(&d)?;
            let mut s = Spec::new(&["/bin/sh", "-c", "touch /sc/ran; exec sleep 1000"]);
            s.hook("startContainer", "/bin/false", &["false"]).mount(
                "/sc",
                "bind",
                &d,
                &["bind", "rw"],
            );
            let (_b, c) = env.create(&s)?;
            let st = c.start()?;
            ensure!(
                !st.success(),
                "start succeeded despite a failing startContainer hook"
            );
            std::thread::sleep(Duration::from_millis(200));
            ensure!(
                !Path::new(&d).join("ran").exists(),
                "the user process ran after the startContainer hook failed"
            );
            let status = c
                .state()
                .map(|s| s.status)
                .unwrap_or_else(|_| "gone".into());
            ensure!(
                status != "running" && status != "created",
                "status {status:?} after the failed start (want the container stopped)"
            );
            Ok(())
        },
    );
    r.add(
        "hooks",
        "poststart-failure-is-warning",
        "Lifecycle: a failing poststart hook MUST only be logged; start succeeds",
        |env| {
            let mut s = super::lifecycle::sleeper();
            s.hook("poststart", "/bin/false", &["false"]);
            let (_b, c) = env.create(&s)?;
            let st = c.start()?;
            ensure!(
                st.success(),
                "start failed because of the poststart hook: {}",
                one_line(&st.stderr)
            );
            let status = c.status()?;
            ensure!(status == "running", "status {status:?}");
            Ok(())
        },
    );
    r.add(
        "hooks",
        "poststop-failure-is-warning",
        "Lifecycle: a failing poststop hook MUST only be logged; delete succeeds",
        |env| {
            let mut s = Spec::new(&["true"]);
            s.hook("poststop", "/bin/false", &["false"]);
            let (_b, mut c) = env.create(&s)?;
            ensure!(c.start()?.success(), "start failed");
            c.wait_exit(WAIT)?;
            c.wait_status("stopped")?;
            let del = c.delete()?;
            ensure!(
                del.success(),
                "delete failed because of the poststop hook: {}",
                one_line(&del.stderr)
            );
            ensure!(
                !env.rt.state(&c.id)?.success(),
                "the container survived delete"
            );
            Ok(())
        },
    );
    r.add(
        "hooks",
        "failed-hook-stops-later-hooks",
        "Lifecycle: after a failing createRuntime hook, createContainer hooks do not run",
        |env| {
            let d = env.scratch_path("later");
            fs::create_dir_all(&d)?;
            let mut s = super::lifecycle::sleeper();
            s.hook("createRuntime", "/bin/false", &["false"]);
            add_recorder(
                &mut s,
                "createContainer",
                "createContainer",
                &d,
                "/nonexistent",
            );
            env.expect_create_fails(&s)?;
            ensure!(
                !Path::new(&d).join("createContainer.json").exists(),
                "createContainer ran after createRuntime failed"
            );
            Ok(())
        },
    );
}
