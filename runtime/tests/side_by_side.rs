//! Side by side: the same bundles and the same `update`, `ps`, `events
//! --stats` and `exec` calls on keel and on runc must give the same results:
//! normalised outputs (ids and pids replaced) and the resulting cgroup files.
//! Where runc 1.1.5 deviates from the spec on purpose, keel follows runc.
//!
//! Each scenario runs once per selected runtime (KEEL_TEST_RUNTIMES) and
//! records what it saw as `step -> value`; with both runtimes selected the
//! records must be equal, and every scenario also checks its own values.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::io::Write as _;
use std::process::Stdio;

use anyhow::{ensure, Context, Result};
use common::*;
use keel_conformance::harness::{selected_runtimes, RuntimeKind};
use serde_json::{json, Value};

type Record = BTreeMap<String, String>;

/// Run `scenario` on every selected runtime and require equal records.
fn side_by_side(label: &str, scenario: impl Fn(&Ctx) -> Result<Record>) {
    let kinds = selected_runtimes().unwrap_or_else(|e| panic!("{e}"));
    let mut records: Vec<(RuntimeKind, Record)> = Vec::new();
    let mut failures = Vec::new();
    for kind in kinds {
        let r = Ctx::new(kind, label)
            .map_err(anyhow::Error::from)
            .and_then(|ctx| scenario(&ctx));
        match r {
            Ok(rec) => records.push((kind, rec)),
            Err(e) => failures.push(format!("[{kind}] {e:?}")),
        }
    }
    if !failures.is_empty() {
        panic!("{}", failures.join("\n\n"));
    }
    if let [(ka, a), (kb, b)] = &records[..] {
        let mut diffs = Vec::new();
        for k in a.keys().chain(b.keys().filter(|k| !a.contains_key(*k))) {
            let (va, vb) = (a.get(k), b.get(k));
            if va != vb {
                diffs.push(format!("{k}:\n  {ka}: {va:?}\n  {kb}: {vb:?}"));
            }
        }
        if !diffs.is_empty() {
            panic!("{ka} and {kb} differ:\n{}", diffs.join("\n"));
        }
    } else {
        eprintln!("only one runtime selected: records are not compared");
    }
}

/// A started container.
fn running<'a>(
    ctx: &'a Ctx,
    spec: &Spec,
) -> Result<(keel_conformance::Bundle, Container<'a>, i32)> {
    let bundle = ctx.bundle(spec)?;
    let id = ctx.id();
    let mut c = ctx.container(&id);
    c.create(CreateOptions::bundle(bundle.path()))?.ok()?;
    c.start()?.ok()?;
    let pid = c.pid().context("no pid")?;
    Ok((bundle, c, pid))
}

use keel_conformance::harness::Container;

/// `RUNTIME --root R update ARGS… ID` with `stdin` text; (code, stderr).
fn update(ctx: &Ctx, id: &str, args: &[&str], stdin: Option<&str>) -> Result<(i32, String)> {
    let mut full = vec!["update"];
    full.extend_from_slice(args);
    full.push(id);
    let input = match stdin {
        None => Stdio::null(),
        Some(text) => {
            let p = ctx.scratch().join("update-stdin.json");
            fs::File::create(&p)?.write_all(text.as_bytes())?;
            Stdio::from(fs::File::open(&p)?)
        }
    };
    let mut bg = Background::spawn(ctx, &full, input)?;
    let code = bg.wait(WAIT)?;
    Ok((code, bg.output().1))
}

#[test]
fn update_every_flag_gives_the_same_cgroup_files() {
    side_by_side("sbs-update", |ctx| {
        let mut spec = sleeper();
        spec.set("/linux/resources/memory", json!({"limit": 268435456}))
            .set("/linux/resources/cpu", json!({"shares": 512}))
            .set("/linux/resources/pids", json!({"limit": 100}));
        let (_b, c, pid) = running(ctx, &spec)?;
        let id = c.id.clone();
        let mut rec = Record::new();
        let snap = |rec: &mut Record, step: &str| -> Result<()> {
            for (k, v) in cgroup_files(pid)? {
                rec.insert(format!("{step} {k}"), v);
            }
            Ok(())
        };
        snap(&mut rec, "00 create")?;
        let file = ctx.scratch().join("resources.json");
        fs::write(
            &file,
            json!({"memory": {"limit": 100663296}, "cpu": {"shares": 300}, "pids": {"limit": 40}})
                .to_string(),
        )?;
        let f = file.to_str().context("path")?;
        let steps: Vec<(&str, Vec<&str>, Option<&str>)> = vec![
            ("01 memory", vec!["--memory", "128m"], None),
            ("02 memory-swap", vec!["--memory-swap", "256m"], None),
            (
                "03 memory-reservation",
                vec!["--memory-reservation", "64m"],
                None,
            ),
            ("04 cpu-share", vec!["--cpu-share", "256"], None),
            ("05 cpu-period", vec!["--cpu-period", "200000"], None),
            ("06 cpu-quota", vec!["--cpu-quota", "50000"], None),
            ("07 cpuset-cpus", vec!["--cpuset-cpus", "0"], None),
            ("08 cpuset-mems", vec!["--cpuset-mems", "0"], None),
            ("09 pids-limit", vec!["--pids-limit", "50"], None),
            ("10 blkio-weight", vec!["--blkio-weight", "300"], None),
            (
                "11 several",
                vec![
                    "--memory",
                    "192m",
                    "--cpu-quota",
                    "-1",
                    "--pids-limit",
                    "60",
                ],
                None,
            ),
            (
                "12 unlimited",
                vec!["--memory-swap", "-1", "--memory", "-1"],
                None,
            ),
            ("13 resources file", vec!["--resources", f], None),
            (
                "14 resources stdin",
                vec!["-r", "-"],
                Some(r#"{"memory": {"limit": 83886080}, "pids": {"limit": 30}}"#),
            ),
        ];
        for (step, args, stdin) in &steps {
            let (code, stderr) = update(ctx, &id, args, *stdin)?;
            ensure!(code == 0, "{step}: update {args:?} exited {code}: {stderr}");
            rec.insert(format!("{step} exit"), code.to_string());
            snap(&mut rec, step)?;
        }
        // The values asked for, whatever the other runtime does.
        for (key, want) in [
            ("01 memory memory/memory.limit_in_bytes", "134217728"),
            (
                "03 memory-reservation memory/memory.soft_limit_in_bytes",
                "67108864",
            ),
            ("04 cpu-share cpu/cpu.shares", "256"),
            ("05 cpu-period cpu/cpu.cfs_period_us", "200000"),
            ("06 cpu-quota cpu/cpu.cfs_quota_us", "50000"),
            ("07 cpuset-cpus cpuset/cpuset.cpus", "0"),
            ("09 pids-limit pids/pids.max", "50"),
            ("11 several memory/memory.limit_in_bytes", "201326592"),
            ("11 several cpu/cpu.cfs_quota_us", "-1"),
            ("11 several pids/pids.max", "60"),
            (
                "13 resources file memory/memory.limit_in_bytes",
                "100663296",
            ),
            ("13 resources file cpu/cpu.shares", "300"),
            ("13 resources file pids/pids.max", "40"),
            (
                "14 resources stdin memory/memory.limit_in_bytes",
                "83886080",
            ),
            ("14 resources stdin pids/pids.max", "30"),
        ] {
            ensure!(
                rec.get(key).map(String::as_str) == Some(want),
                "{key} = {:?} (want {want})",
                rec.get(key)
            );
        }
        // events --stats reflects the last update.
        let out = ctx.rt.exec(&["events", "--stats", &id])?.ok()?;
        let ev: Value = serde_json::from_str(out.stdout.trim())
            .with_context(|| format!("events --stats printed {:?}", out.stdout))?;
        ensure!(ev["type"] == "stats", "event type {}", ev["type"]);
        ensure!(ev["id"] == id.as_str(), "event id {}", ev["id"]);
        let limit = &ev["data"]["memory"]["usage"]["limit"];
        ensure!(limit == 83886080, "stats memory.usage.limit {limit}");
        let pids = &ev["data"]["pids"];
        ensure!(
            pids["current"] == 1 && pids["limit"] == 30,
            "stats pids {pids}"
        );
        rec.insert("events memory.usage.limit".into(), limit.to_string());
        rec.insert("events pids".into(), pids.to_string());
        Ok(rec)
    });
}

/// Every key path of `v` with its JSON type ("data.memory.usage.limit
/// number"); array elements as `[]`.
fn shape(v: &Value, path: &str, out: &mut Vec<String>) {
    let t = match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    };
    out.push(format!("{path} {t}"));
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                shape(x, &format!("{path}.{k}"), out);
            }
        }
        Value::Array(a) => {
            if let Some(x) = a.first() {
                shape(x, &format!("{path}[]"), out);
            }
        }
        _ => {}
    }
}

#[test]
fn events_stats_have_the_same_shape() {
    side_by_side("sbs-events", |ctx| {
        let mut spec = sleeper();
        spec.set("/linux/resources/memory", json!({"limit": 67108864}))
            .set("/linux/resources/pids", json!({"limit": 20}));
        let (_b, c, _pid) = running(ctx, &spec)?;
        let id = c.id.clone();
        let pf = ctx.scratch().join("exec.pid");
        ctx.rt
            .exec(&[
                "exec",
                "-d",
                "--pid-file",
                pf.to_str().context("path")?,
                &id,
                "sleep",
                "1001",
            ])?
            .ok()?;
        let out = ctx.rt.exec(&["events", "--stats", &id])?.ok()?;
        ensure!(
            out.stdout.trim().lines().count() == 1,
            "events --stats printed more than one line: {:?}",
            out.stdout
        );
        let ev: Value = serde_json::from_str(out.stdout.trim())?;
        let mut keys = Vec::new();
        shape(&ev, "", &mut keys);
        let mut rec = Record::new();
        rec.insert("shape".into(), keys.join("\n"));
        for (name, ptr, want) in [
            ("type", "/type", json!("stats")),
            ("id", "/id", json!(id)),
            ("memory limit", "/data/memory/usage/limit", json!(67108864)),
            ("pids.current", "/data/pids/current", json!(2)),
            ("pids.limit", "/data/pids/limit", json!(20)),
        ] {
            let got = ev.pointer(ptr).cloned().unwrap_or(Value::Null);
            ensure!(got == want, "{name} ({ptr}) = {got} (want {want})");
            rec.insert(name.into(), got.to_string().replace(&id, "<id>"));
        }
        ensure!(
            ev.pointer("/data/cpu/usage/total")
                .and_then(Value::as_u64)
                .is_some_and(|t| t > 0),
            "no cpu usage: {ev}"
        );
        Ok(rec)
    });
}

#[test]
fn ps_lists_the_same_processes() {
    side_by_side("sbs-ps", |ctx| {
        let (_b, c, init) = running(ctx, &sleeper())?;
        let id = c.id.clone();
        let pf = ctx.scratch().join("exec.pid");
        ctx.rt
            .exec(&[
                "exec",
                "-d",
                "--pid-file",
                pf.to_str().context("path")?,
                &id,
                "sleep",
                "1001",
            ])?
            .ok()?;
        let epid: i32 = fs::read_to_string(&pf)?.trim().parse()?;
        let mut rec = Record::new();
        // -f json: the host pids, init and the exec'd process.
        let out = ctx.rt.exec(&["ps", "-f", "json", &id])?.ok()?;
        let mut pids: Vec<i32> = serde_json::from_str(out.stdout.trim())
            .with_context(|| format!("ps -f json printed {:?}", out.stdout))?;
        pids.sort();
        let mut want = vec![init, epid];
        want.sort();
        ensure!(pids == want, "ps -f json {pids:?} (want {want:?})");
        let named: Vec<String> = pids
            .iter()
            .map(|p| {
                if *p == init {
                    "init".into()
                } else if *p == epid {
                    "exec".into()
                } else {
                    "other".into()
                }
            })
            .collect();
        rec.insert("json".into(), format!("{named:?}"));
        // The table: ps -ef's header, one row per process.
        for (name, args) in [
            ("table", vec!["ps", id.as_str()]),
            ("table -f table", vec!["ps", "-f", "table", id.as_str()]),
            ("table -o", vec!["ps", id.as_str(), "-o", "pid,comm"]),
        ] {
            let out = ctx.rt.exec(&args)?;
            ensure!(
                out.code == 0,
                "{args:?} exited {}: {}",
                out.code,
                out.stderr
            );
            let mut lines = out.stdout.lines();
            let header: Vec<&str> = lines.next().unwrap_or("").split_whitespace().collect();
            let pid_col = header
                .iter()
                .position(|h| *h == "PID")
                .context("no PID column")?;
            let mut rows: Vec<String> = lines
                .map(|l| {
                    let cols: Vec<&str> = l.split_whitespace().collect();
                    let pid: i32 = cols.get(pid_col).and_then(|p| p.parse().ok()).unwrap_or(0);
                    let who = if pid == init {
                        "init"
                    } else if pid == epid {
                        "exec"
                    } else {
                        "other"
                    };
                    // Keep the command only (the last columns after the
                    // header's last-but-one): times and ttys differ.
                    format!("{who} {}", cols[header.len() - 1..].join(" "))
                })
                .collect();
            rows.sort();
            ensure!(rows.len() == 2, "{args:?}: rows {rows:?}");
            rec.insert(format!("{name} header"), header.join(" "));
            rec.insert(format!("{name} rows"), rows.join(" | "));
        }
        Ok(rec)
    });
}

#[test]
fn exec_outputs_are_the_same() {
    side_by_side("sbs-exec", |ctx| {
        let mut spec = sleeper();
        spec.hostname("sbs-host").user(0, 0).additional_gids(&[10]);
        let (_b, c, _pid) = running(ctx, &spec)?;
        let id = c.id.clone();
        let mut rec = Record::new();
        let cases: Vec<(&str, Vec<&str>, Vec<&str>)> = vec![
            ("id", vec![], vec!["id"]),
            ("id -u 1000:1000", vec!["-u", "1000:1000"], vec!["id"]),
            ("id -u 5", vec!["-u", "5"], vec!["id"]),
            ("id -g", vec!["-g", "20"], vec!["id"]),
            ("env", vec![], vec!["env"]),
            (
                "env -e",
                vec!["-e", "A=1", "-e", "PATH=/bin"],
                vec!["/bin/env"],
            ),
            ("env -u", vec!["-u", "1000"], vec!["env"]),
            ("pwd --cwd", vec!["--cwd", "/proc"], vec!["pwd"]),
            ("hostname", vec![], vec!["hostname"]),
            (
                "caps",
                vec![],
                vec![
                    "sh",
                    "-c",
                    "grep -E '^(Cap|NoNewPrivs|Seccomp)' /proc/self/status",
                ],
            ),
            (
                "caps --cap",
                vec!["--cap", "CAP_SYS_ADMIN"],
                vec!["sh", "-c", "grep -E '^Cap' /proc/self/status"],
            ),
            (
                "nnp",
                vec!["--no-new-privs"],
                vec!["grep", "NoNewPrivs", "/proc/self/status"],
            ),
            ("limits", vec![], vec!["sh", "-c", "ulimit -n; ulimit -Hn"]),
            ("umask", vec![], vec!["sh", "-c", "umask"]),
            ("fds", vec![], vec!["ls", "/proc/self/fd"]),
            (
                "exit 3",
                vec![],
                vec!["sh", "-c", "echo out; echo err >&2; exit 3"],
            ),
            ("signal", vec![], vec!["sh", "-c", "kill -TERM $$"]),
            ("no such command", vec![], vec!["no-such-command"]),
        ];
        for (name, flags, cmd) in cases {
            let mut a = vec!["exec"];
            a.extend(flags);
            a.push(&id);
            a.extend(cmd);
            let out = ctx.rt.exec(&a)?;
            rec.insert(format!("{name} exit"), out.code.to_string());
            rec.insert(format!("{name} stdout"), out.stdout.replace(&id, "<id>"));
            if out.code == 0 {
                ensure!(
                    out.stderr.is_empty() || name.starts_with("caps --cap"),
                    "{name}: stderr {:?}",
                    out.stderr
                );
            }
        }
        ensure!(
            rec["exit 3 exit"] == "3",
            "exit 3 -> {}",
            rec["exit 3 exit"]
        );
        ensure!(
            rec["signal exit"] == "143",
            "signal -> {}",
            rec["signal exit"]
        );
        ensure!(
            rec["no such command exit"] == "255",
            "no such command -> {}",
            rec["no such command exit"]
        );
        ensure!(
            rec["hostname stdout"] == "sbs-host\n",
            "hostname {:?}",
            rec["hostname stdout"]
        );
        Ok(rec)
    });
}
