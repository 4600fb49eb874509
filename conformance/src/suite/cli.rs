//! The runc command line that engines depend on (run, list, state fields,
//! --pid-file, --log json, --no-pivot, spec, kill --all) and `exec`.

use std::fs;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::env::{one_line, WAIT};
use super::lifecycle::{checker, shell, sleeper, wait_for};
use super::{Ctr, Env, Problem, Registry};
use crate::driver::CreateOptions;
use crate::harness::{read_pty, ConsoleSocket};
use crate::spec::Spec;
use crate::tap::TapReport;

/// A running sleeper.
fn running<'a>(env: &'a Env<'a>) -> Result<(crate::Bundle, Ctr<'a>), Problem> {
    let (b, c) = env.create(&sleeper())?;
    let st = c.start()?;
    ensure!(st.success(), "start failed: {}", one_line(&st.stderr));
    Ok((b, c))
}

/// `exec ARGS… ID CMD…` against a running sleeper.
fn exec_in(env: &Env, c: &Ctr, flags: &[&str], cmd: &[&str]) -> Result<crate::CmdOutput, Problem> {
    let mut a = vec!["exec"];
    a.extend_from_slice(flags);
    a.push(&c.id);
    a.extend_from_slice(cmd);
    Ok(env.rt.exec(&a)?)
}

fn exec_prints(
    r: &mut Registry,
    name: &str,
    clause: &str,
    flags: &'static [&'static str],
    cmd: &'static [&'static str],
    want: &'static str,
) {
    r.add("exec", name, clause, move |env| {
        let (_b, c) = running(env)?;
        let out = exec_in(env, &c, flags, cmd)?;
        ensure!(
            out.success(),
            "exec failed ({}): {}",
            out.code,
            one_line(&out.stderr)
        );
        ensure!(
            out.stdout.trim() == want,
            "exec printed {:?} (want {want:?})",
            out.stdout.trim()
        );
        Ok(())
    });
}

/// Fail unless `exec` works at all (so that an error case cannot pass just
/// because the command does not exist).
fn exec_works(env: &Env) -> Result<(), Problem> {
    let (_b, c) = running(env)?;
    let out = exec_in(env, &c, &[], &["true"])?;
    ensure!(
        out.success(),
        "exec into a running container failed: {}",
        one_line(&out.stderr)
    );
    Ok(())
}

fn ns_of(pid: i32, kind: &str) -> Result<u64, Problem> {
    Ok(crate::host::ns_inode_of(&format!("/proc/{pid}/ns/{kind}"))?)
}

pub fn register(r: &mut Registry) {
    // ---- run ----
    r.add(
        "cli",
        "run-exit-code",
        "runc CLI: run exits with the container process's status",
        |env| {
            let (out, _) = env.run(&shell("exit 3"))?;
            ensure!(out.code == 3, "run exited {} (want 3)", out.code);
            Ok(())
        },
    );
    r.add(
        "cli",
        "run-signal-exit-code",
        "runc CLI: run exits 128+N when the process dies of signal N",
        |env| {
            let mut s = shell("kill -KILL $$");
            s.remove_namespace("pid");
            let (out, _) = env.run(&s)?;
            ensure!(out.code == 137, "run exited {} (want 137)", out.code);
            Ok(())
        },
    );
    r.add(
        "cli",
        "run-detach",
        "runc CLI: run -d returns with the container running",
        |env| {
            let b = env.bundle(&sleeper())?;
            let id = env.id();
            let mut c = env.ctr(&id);
            let t0 = Instant::now();
            let out = c.run(CreateOptions {
                detach: true,
                ..CreateOptions::bundle(b.path())
            })?;
            ensure!(out.success(), "run -d failed: {}", one_line(&out.stderr));
            ensure!(
                t0.elapsed() < Duration::from_secs(5),
                "run -d took {:?}",
                t0.elapsed()
            );
            let st = c.status()?;
            ensure!(st == "running", "status {st:?} after run -d");
            Ok(())
        },
    );
    r.add(
        "cli",
        "run-removes-container",
        "runc CLI: a foreground run deletes the container when it exits",
        |env| {
            let b = env.bundle(&Spec::new(&["true"]))?;
            let id = env.id();
            let mut c = env.ctr(&id);
            let out = c.run(CreateOptions::bundle(b.path()))?;
            ensure!(out.success(), "run failed: {}", one_line(&out.stderr));
            ensure!(
                !env.rt.state(&id)?.success(),
                "the container still exists after run returned"
            );
            env.nothing_left(&id, b.path())
        },
    );
    r.add(
        "cli",
        "pid-file",
        "runc CLI: --pid-file holds the container's init pid",
        |env| {
            let b = env.bundle(&sleeper())?;
            let id = env.id();
            let mut c = env.ctr(&id);
            let pf = env.scratch().join("explicit.pid");
            let out = c.create(CreateOptions {
                pid_file: Some(pf.clone()),
                ..CreateOptions::bundle(b.path())
            })?;
            ensure!(out.success(), "create failed: {}", one_line(&out.stderr));
            let text = fs::read_to_string(&pf)?;
            let st = c.state()?;
            ensure!(
                text.trim() == st.pid.to_string(),
                "pid file says {:?}, state says {}",
                text.trim(),
                st.pid
            );
            Ok(())
        },
    );
    r.add(
        "cli",
        "list-quiet",
        "runc CLI: list -q prints the ids",
        |env| {
            let (_b, c) = env.create(&sleeper())?;
            let out = env.rt.exec(&["list", "-q"])?;
            ensure!(
                out.success() && out.stdout.lines().any(|l| l.trim() == c.id),
                "list -q printed {:?}",
                out.stdout
            );
            Ok(())
        },
    );
    r.add(
        "cli",
        "list-json-empty",
        "runc CLI: list -f json with no containers prints JSON (null or [])",
        |env| {
            let out = env.rt.exec(&["list", "--format", "json"])?;
            ensure!(out.success(), "list failed: {}", one_line(&out.stderr));
            let v: Value = serde_json::from_str(out.stdout.trim())?;
            ensure!(
                v.is_null() || v.as_array().is_some_and(Vec::is_empty),
                "list printed {v}"
            );
            Ok(())
        },
    );
    r.add(
        "cli",
        "state-created-rfc3339",
        "runc CLI: state has created (RFC 3339) and owner",
        |env| {
            let (_b, c) = env.create(&sleeper())?;
            let v = c.state_value()?;
            let created = v["created"].as_str().unwrap_or("");
            ensure!(
                created.len() >= 20
                    && created.as_bytes().get(4) == Some(&b'-')
                    && created.contains('T'),
                "created {:?} is not RFC 3339",
                v["created"]
            );
            ensure!(v["owner"].is_string(), "owner {}", v["owner"]);
            Ok(())
        },
    );
    r.add(
        "cli",
        "log-json-on-error",
        "runc CLI: --log FILE --log-format json records errors as JSON lines (containerd reads them)",
        |env| {
            let b = env.bundle(&sleeper())?;
            fs::remove_dir_all(b.rootfs())?;
            let log = env.scratch().join("log.json");
            let id = env.id();
            let out = env.rt.exec(&[
                "--log",
                &log.to_string_lossy(),
                "--log-format",
                "json",
                "create",
                "--bundle",
                &b.path().to_string_lossy(),
                &id,
            ])?;
            ensure!(!out.success(), "create of a bundle without rootfs succeeded");
            let text = fs::read_to_string(&log).unwrap_or_default();
            let err = text
                .lines()
                .filter_map(|l| serde_json::from_str::<Value>(l).ok())
                .find(|v| v["level"] == "error" && v["msg"].is_string());
            ensure!(
                err.is_some(),
                "no {{\"level\":\"error\",\"msg\":…}} line in the log: {:?}",
                one_line(&text)
            );
            Ok(())
        },
    );
    r.add(
        "cli",
        "terminal-needs-console-socket",
        "runc CLI: create with terminal true and no --console-socket is an error",
        |env| {
            let mut s = sleeper();
            s.terminal(true);
            env.expect_create_fails(&s)
        },
    );
    r.add(
        "cli",
        "no-pivot",
        "runc CLI: create --no-pivot still confines the process to the rootfs",
        |env| {
            let marker = env.scratch_path("host-only");
            fs::write(&marker, "")?;
            let s = checker(&["exists=/keel-check", &format!("absent={marker}"), "mounts"]);
            let b = env.bundle(&s)?;
            let id = env.id();
            let mut c = env.ctr(&id);
            let out = c.run(CreateOptions {
                no_pivot: true,
                ..CreateOptions::bundle(b.path())
            })?;
            super::env::judge_tap(
                &out,
                &TapReport::parse(&out.stdout),
                &["exists=/keel-check"],
            )
        },
    );
    r.add(
        "cli",
        "spec-generates-config",
        "runc CLI: spec writes a valid default config.json",
        |env| {
            let dir = env.scratch().join("spec");
            fs::create_dir_all(&dir)?;
            let out = env.rt.exec(&["spec", "--bundle", &dir.to_string_lossy()])?;
            ensure!(out.success(), "spec failed: {}", one_line(&out.stderr));
            let v: Value = serde_json::from_str(&fs::read_to_string(dir.join("config.json"))?)?;
            ensure!(
                v["ociVersion"].is_string()
                    && v["root"]["path"] == "rootfs"
                    && v["process"]["args"].is_array()
                    && v["linux"]["namespaces"].is_array(),
                "spec wrote {}",
                one_line(&v.to_string())
            );
            Ok(())
        },
    );
    r.add(
        "cli",
        "spec-runs",
        "runc CLI: the config spec writes runs (with terminal off and another process)",
        |env| {
            let dir = env.scratch().join("spec");
            fs::create_dir_all(&dir)?;
            let out = env.rt.exec(&["spec", "--bundle", &dir.to_string_lossy()])?;
            ensure!(out.success(), "spec failed: {}", one_line(&out.stderr));
            let mut v: Value = serde_json::from_str(&fs::read_to_string(dir.join("config.json"))?)?;
            v["process"]["terminal"] = Value::Bool(false);
            v["process"]["args"] = serde_json::json!(["/keel-check", "fds=0,1,2"]);
            let b = env.bundle(&Spec::new(&["true"]))?;
            b.write_config_raw(&v.to_string())?;
            let (out, tap) = env.run_bundle(&b)?;
            super::env::judge_tap(&out, &tap, &["fds"])
        },
    );
    r.add(
        "cli",
        "spec-rootless",
        "runc CLI: spec --rootless adds a user namespace with mappings",
        |env| {
            let dir = env.scratch().join("spec");
            fs::create_dir_all(&dir)?;
            let out = env
                .rt
                .exec(&["spec", "--rootless", "--bundle", &dir.to_string_lossy()])?;
            ensure!(
                out.success(),
                "spec --rootless failed: {}",
                one_line(&out.stderr)
            );
            let v: Value = serde_json::from_str(&fs::read_to_string(dir.join("config.json"))?)?;
            let has_user = v["linux"]["namespaces"]
                .as_array()
                .is_some_and(|a| a.iter().any(|n| n["type"] == "user"));
            ensure!(
                has_user && v["linux"]["uidMappings"].is_array(),
                "no user namespace with mappings"
            );
            Ok(())
        },
    );
    r.add("cli", "version", "runc CLI: --version", |env| {
        let out = env.rt.exec(&["--version"])?;
        ensure!(
            out.success() && out.stdout.to_lowercase().contains("version"),
            "--version printed {:?}",
            out.stdout
        );
        Ok(())
    });
    r.add(
        "cli",
        "kill-all",
        "runc CLI: kill --all signals every process of the container",
        |env| {
            let mut s = shell("sleep 1000 & echo $! > /tmp/child; exec sleep 1000");
            s.remove_namespace("pid");
            let (b, c) = env.create(&s)?;
            ensure!(c.start()?.success(), "start failed");
            let child_file = b.rootfs().join("tmp/child");
            ensure!(wait_for(WAIT, || child_file.exists()), "no child started");
            let child: i32 = fs::read_to_string(&child_file)?
                .trim()
                .parse()
                .unwrap_or(-1);
            let out = env.rt.kill_all(&c.id, "KILL")?;
            ensure!(
                out.success(),
                "kill --all failed: {}",
                one_line(&out.stderr)
            );
            ensure!(
                wait_for(WAIT, || crate::host::proc_stat(child)
                    .is_none_or(|(s, _, _)| s == 'Z')),
                "the child {child} survived kill --all"
            );
            if let Some((s, _, _)) = crate::host::proc_stat(child) {
                if s == 'Z' {
                    let _ = crate::sys::try_wait(child);
                }
            }
            Ok(())
        },
    );
    r.add(
        "cli",
        "root-isolates",
        "runc CLI: containers under another --root are not visible",
        |env| {
            let (_b, c) = env.create(&sleeper())?;
            let other = env.scratch().join("other-root");
            fs::create_dir_all(&other)?;
            let rt2 = crate::driver::Runtime::new(env.rt.name(), env.rt.bin(), &other)?;
            let out = rt2.state(&c.id)?;
            ensure!(!out.success(), "another --root sees the container");
            Ok(())
        },
    );

    // ---- exec ----
    r.add(
        "exec",
        "joins-namespaces",
        "runc CLI: exec runs the process in every namespace of the container",
        |env| {
            let (_b, c) = running(env)?;
            let Some(pid) = c.pid() else {
                fail!("no pid");
            };
            let mut args = vec!["/keel-check".to_string()];
            for k in ["mnt", "pid", "net", "ipc", "uts"] {
                args.push(format!("ns.{k}={}", ns_of(pid, k)?));
            }
            let a: Vec<&str> = args.iter().map(String::as_str).collect();
            let out = exec_in(env, &c, &[], &a)?;
            super::env::judge_tap(&out, &TapReport::parse(&out.stdout), &[])
        },
    );
    r.add(
        "exec",
        "joins-cgroup",
        "runc CLI: exec puts the process in the container's cgroup",
        |env| {
            let (_b, c) = running(env)?;
            let Some(pid) = c.pid() else {
                fail!("no pid");
            };
            let init = fs::read_to_string(format!("/proc/{pid}/cgroup"))?;
            let pf = env.scratch().join("exec.pid");
            let out = exec_in(
                env,
                &c,
                &["-d", "--pid-file", &pf.to_string_lossy()],
                &["sleep", "1000"],
            )?;
            ensure!(out.success(), "exec -d failed: {}", one_line(&out.stderr));
            let epid: i32 = fs::read_to_string(&pf)?.trim().parse().unwrap_or(-1);
            let theirs = fs::read_to_string(format!("/proc/{epid}/cgroup"))?;
            ensure!(
                theirs == init,
                "exec'd process cgroups {theirs:?} differ from init's {init:?}"
            );
            Ok(())
        },
    );
    r.add(
        "exec",
        "exit-code",
        "runc CLI: exec exits with the process's status",
        |env| {
            let (_b, c) = running(env)?;
            let out = exec_in(env, &c, &[], &["sh", "-c", "exit 7"])?;
            ensure!(out.code == 7, "exec exited {} (want 7)", out.code);
            Ok(())
        },
    );
    exec_prints(
        r,
        "env-flag",
        "runc CLI: exec -e sets the environment",
        &["-e", "KEEL_EXEC=from-flag"],
        &["/bin/sh", "-c", "echo $KEEL_EXEC"],
        "from-flag",
    );
    exec_prints(
        r,
        "cwd-flag",
        "runc CLI: exec --cwd sets the working directory",
        &["--cwd", "/tmp"],
        &["pwd"],
        "/tmp",
    );
    exec_prints(
        r,
        "user-flag",
        "runc CLI: exec -u sets uid and gid",
        &["-u", "1000:1001"],
        &["sh", "-c", "echo $(id -u):$(id -g)"],
        "1000:1001",
    );
    exec_prints(
        r,
        "no-new-privs-flag",
        "runc CLI: exec --no-new-privs sets no_new_privs",
        &["--no-new-privs"],
        &[
            "sh",
            "-c",
            "grep NoNewPrivs /proc/self/status | tr -d ' \\t'",
        ],
        "NoNewPrivs:1",
    );
    r.add(
        "exec",
        "process-json",
        "runc CLI: exec --process FILE runs a config.md process",
        |env| {
            let (_b, c) = running(env)?;
            let p = serde_json::json!({
                "args": ["sh", "-c", "echo $KEEL_P:$(pwd):$(id -u)"],
                "env": ["PATH=/bin:/usr/bin", "KEEL_P=proc"],
                "cwd": "/tmp",
                "user": {"uid": 1000, "gid": 1000},
                "terminal": false,
            });
            let f = env.scratch().join("process.json");
            fs::write(&f, p.to_string())?;
            let out = exec_in(env, &c, &["--process", &f.to_string_lossy()], &[])?;
            ensure!(
                out.success(),
                "exec --process failed: {}",
                one_line(&out.stderr)
            );
            ensure!(
                out.stdout.trim() == "proc:/tmp:1000",
                "exec printed {:?}",
                out.stdout.trim()
            );
            Ok(())
        },
    );
    r.add(
        "exec",
        "detach-pid-file",
        "runc CLI: exec -d --pid-file returns at once and records the pid",
        |env| {
            let (_b, c) = running(env)?;
            let Some(init) = c.pid() else {
                fail!("no pid");
            };
            let pf = env.scratch().join("exec.pid");
            let out = exec_in(
                env,
                &c,
                &["-d", "--pid-file", &pf.to_string_lossy()],
                &["sleep", "1000"],
            )?;
            ensure!(out.success(), "exec -d failed: {}", one_line(&out.stderr));
            let epid: i32 = fs::read_to_string(&pf)?.trim().parse().unwrap_or(-1);
            ensure!(
                ns_of(epid, "pid")? == ns_of(init, "pid")?,
                "the exec'd process {epid} is not in the container's pid namespace"
            );
            Ok(())
        },
    );
    r.add(
        "exec",
        "tty",
        "runc CLI: exec -t hands a pty over --console-socket",
        |env| {
            let (_b, c) = running(env)?;
            let sock = ConsoleSocket::listen(env.scratch())?;
            let sp = sock.path().to_string_lossy().into_owned();
            let mut a = vec!["exec", "-t", "-d", "--console-socket", &sp, &c.id];
            a.extend(["/keel-check", "tty=0,1,2"]);
            let out = env.rt.exec(&a)?;
            ensure!(out.success(), "exec -t failed: {}", one_line(&out.stderr));
            let master = sock.master()?;
            let text = read_pty(master, Duration::from_secs(10))?;
            let tap = TapReport::parse(&text);
            tap.passed_unskipped("tty=0,1,2")
                .map_err(|e| Problem::Fail(one_line(&e)))
        },
    );
    r.add(
        "exec",
        "stopped-fails",
        "runc CLI: exec into a stopped container is an error",
        |env| {
            let (_b, mut c) = env.create(&Spec::new(&["true"]))?;
            ensure!(c.start()?.success(), "start failed");
            exec_works(env)?;
            c.wait_exit(WAIT)?;
            c.wait_status("stopped")?;
            let out = exec_in(env, &c, &[], &["true"])?;
            ensure!(!out.success(), "exec into a stopped container succeeded");
            Ok(())
        },
    );
    r.add(
        "exec",
        "unknown-fails",
        "runc CLI: exec into a container that does not exist is an error",
        |env| {
            exec_works(env)?;
            let out = env.rt.exec(&["exec", "no-such-container", "true"])?;
            ensure!(!out.success(), "exec into an unknown id succeeded");
            Ok(())
        },
    );
}
