//! The container process: args resolved through the container's PATH, env,
//! cwd, user and groups, umask, rlimits, capabilities, noNewPrivileges,
//! oomScoreAdj, sysctl, hostname and domainname, personality, and the
//! terminal handed over a console socket. Every check runs inside the
//! container (keel-check), never from the runtime's own output.

mod common;

use std::time::Duration;

use anyhow::{ensure, Context, Result};
use common::*;
use keel_conformance::harness::{read_pty, ConsoleSocket};

#[test]
fn args_resolved_through_container_path_env_cwd() {
    each_runtime(|ctx| -> Result<()> {
        // "keel-check" is found only through the container's PATH (it lives
        // at /), never through the host's.
        let mut spec = Spec::new(&["keel-check", "process.args", "process.env", "process.cwd"]);
        spec.env(&["PATH=/nonexistent:/", "FOO=bar baz", "EMPTY=", "TERM=xterm"])
            .cwd("/tmp");
        ctx.expect_pass(&spec)?;
        Ok(())
    });
}

#[test]
fn cwd_is_created_when_missing() {
    each_runtime(|ctx| -> Result<()> {
        let mut spec = Ctx::checker_spec(&["process.cwd", "cwd-inside"]);
        spec.cwd("/new/work/dir");
        ctx.expect_pass(&spec)?;
        Ok(())
    });
}

#[test]
fn user_groups_and_umask() {
    each_runtime(|ctx| -> Result<()> {
        let mut spec = Ctx::checker_spec(&["process.user", "process.umask", "fds=0,1,2"]);
        spec.user(1000, 1000)
            .additional_gids(&[5, 65534])
            .umask(0o027);
        ctx.expect_pass(&spec)?;
        let mut root = Ctx::checker_spec(&["process.user", "process.umask"]);
        root.umask(0o077);
        ctx.expect_pass(&root)?;
        Ok(())
    });
}

#[test]
fn rlimits() {
    each_runtime(|ctx| -> Result<()> {
        let mut spec = Ctx::checker_spec(&["process.rlimits"]);
        spec.rlimit("RLIMIT_NOFILE", 256, 512)
            .rlimit("RLIMIT_CORE", 0, 0)
            .rlimit("RLIMIT_NPROC", 1000, 2000)
            .rlimit("RLIMIT_STACK", 8 << 20, u64::MAX);
        ctx.expect_pass(&spec)?;
        Ok(())
    });
}

#[test]
fn capabilities_of_root() {
    each_runtime(|ctx| -> Result<()> {
        let mut spec = Ctx::checker_spec(&["process.capabilities", "process.noNewPrivileges"]);
        let set = [
            "CAP_CHOWN",
            "CAP_KILL",
            "CAP_NET_RAW",
            "CAP_SETUID",
            "CAP_SYS_CHROOT",
        ];
        spec.caps("bounding", &set)
            .caps("permitted", &set)
            .caps("effective", &set[..3])
            .caps("inheritable", &["CAP_KILL"])
            .caps("ambient", &["CAP_KILL"]);
        ctx.expect_pass(&spec)?;
        Ok(())
    });
}

#[test]
fn capabilities_of_a_user_with_ambient() {
    each_runtime(|ctx| -> Result<()> {
        let mut spec = Ctx::checker_spec(&["process.capabilities", "process.user"]);
        spec.user(1000, 1000)
            .all_caps(&["CAP_KILL", "CAP_NET_BIND_SERVICE"]);
        ctx.expect_pass(&spec)?;
        Ok(())
    });
}

#[test]
fn no_capabilities_at_all() {
    each_runtime(|ctx| -> Result<()> {
        let mut spec = Ctx::checker_spec(&["process.capabilities"]);
        spec.all_caps(&[]);
        ctx.expect_pass(&spec)?;
        Ok(())
    });
}

#[test]
fn unknown_capability_is_rejected_by_keel() {
    each_runtime(|ctx| -> Result<()> {
        let mut spec = Ctx::checker_spec(&["process.capabilities"]);
        spec.caps("bounding", &["CAP_KILL", "CAP_KEEL_BOGUS"]);
        if ctx.is_keel() {
            expect_create_refused(ctx, &spec, &["CAP_KEEL_BOGUS"])?;
        } else {
            // runc 1.1.5 only warns ("ignoring unknown or unavailable
            // capabilities") and runs the container; keel deliberately refuses.
            let (out, _) = ctx.run_checker(&spec)?;
            ensure!(
                out.code == 0,
                "runc refused an unknown capability: {}",
                out.stderr
            );
        }
        Ok(())
    });
}

#[test]
fn no_new_privileges_on_and_off() {
    each_runtime(|ctx| -> Result<()> {
        for on in [true, false] {
            let mut spec = Ctx::checker_spec(&["process.noNewPrivileges"]);
            spec.no_new_privileges(on);
            ctx.expect_pass(&spec)
                .with_context(|| format!("noNewPrivileges {on}"))?;
        }
        Ok(())
    });
}

#[test]
fn oom_score_adj_positive() {
    each_runtime(|ctx| -> Result<()> {
        let mut spec = Ctx::checker_spec(&["process.oomScoreAdj"]);
        spec.oom_score_adj(500);
        ctx.expect_pass(&spec)?;
        Ok(())
    });
}

#[test]
fn oom_score_adj_negative_fails_clearly() {
    // Root's bounding set here lacks CAP_SYS_RESOURCE, so lowering
    // oom_score_adj fails with EPERM. runc reports it as "can't get final
    // child's PID from pipe: EOF"; keel must name oom_score_adj.
    each_runtime(|ctx| -> Result<()> {
        let mut spec = Ctx::checker_spec(&["process.oomScoreAdj"]);
        spec.oom_score_adj(-500);
        expect_create_refused(ctx, &spec, &["oom_score_adj"])?;
        if ctx.is_keel() {
            let bundle = ctx.bundle(&spec)?;
            let id = ctx.id();
            let mut c = ctx.container(&id);
            let out = c.create(CreateOptions::bundle(bundle.path()))?;
            ensure!(!out.stderr.contains("EOF"), "keel said EOF: {}", out.stderr);
        }
        Ok(())
    });
}

#[test]
fn sysctl_in_new_namespaces() {
    each_runtime(|ctx| -> Result<()> {
        let mut spec = Ctx::checker_spec(&["sysctl"]);
        spec.sysctl("net.ipv4.ip_forward", "1")
            .sysctl("net.core.somaxconn", "1000")
            .sysctl("kernel.msgmax", "4096")
            .sysctl("kernel.shm_rmid_forced", "1");
        ctx.expect_pass(&spec)?;
        Ok(())
    });
}

#[test]
fn hostname_and_domainname() {
    each_runtime(|ctx| -> Result<()> {
        let mut spec = Ctx::checker_spec(&["hostname", "domainname"]);
        spec.hostname("keel-test-host");
        // runc 1.1.5 silently ignores `domainname`; keel must set it.
        if ctx.is_keel() {
            spec.domainname("keel.example");
        }
        let tap = ctx.expect_pass(&spec)?;
        tap.passed_unskipped("hostname")
            .map_err(anyhow::Error::msg)?;
        if ctx.is_keel() {
            tap.passed_unskipped("domainname")
                .map_err(anyhow::Error::msg)?;
        }
        Ok(())
    });
}

#[test]
fn personality_linux32() {
    each_runtime(|ctx| -> Result<()> {
        // runc 1.1.5 ignores linux.personality (support came in 1.2): keel only.
        if !ctx.is_keel() {
            return Ok(());
        }
        let mut spec = Ctx::checker_spec(&["personality"]);
        spec.personality("LINUX32");
        ctx.expect_pass(&spec)?
            .passed_unskipped("personality")
            .map_err(anyhow::Error::msg)?;
        Ok(())
    });
}

#[test]
fn terminal_over_console_socket() {
    each_runtime(|ctx| -> Result<()> {
        let mut spec = Ctx::checker_spec(&["terminal", "consoleSize", "process.env", "fds=0,1,2"]);
        spec.terminal(true).console_size(33, 101);
        let bundle = ctx.bundle(&spec)?;
        let sock = ConsoleSocket::listen(ctx.scratch())?;
        let id = ctx.id();
        let mut c = ctx.container(&id);
        let opts = CreateOptions {
            console_socket: Some(sock.path().to_path_buf()),
            ..CreateOptions::bundle(bundle.path())
        };
        c.create(opts)?.ok()?;
        let master = sock.master()?;
        c.start()?.ok()?;
        let text = read_pty(master, Duration::from_secs(20))?;
        let tap = TapReport::parse(&text);
        tap.passed().map_err(anyhow::Error::msg)?;
        tap.passed_unskipped("terminal")
            .map_err(anyhow::Error::msg)?;
        tap.passed_unskipped("consoleSize")
            .map_err(anyhow::Error::msg)?;
        Ok(())
    });
}

#[test]
fn console_size_is_what_stty_sees() {
    each_runtime(|ctx| -> Result<()> {
        let mut spec = Spec::new(&["/bin/sh", "-c", "stty size; tty"]);
        spec.terminal(true).console_size(37, 111);
        let bundle = ctx.bundle(&spec)?;
        let sock = ConsoleSocket::listen(ctx.scratch())?;
        let id = ctx.id();
        let mut c = ctx.container(&id);
        c.create(CreateOptions {
            console_socket: Some(sock.path().to_path_buf()),
            ..CreateOptions::bundle(bundle.path())
        })?
        .ok()?;
        let master = sock.master()?;
        c.start()?.ok()?;
        let text = read_pty(master, Duration::from_secs(20))?;
        let lines: Vec<&str> = text.lines().map(|l| l.trim_end_matches('\r')).collect();
        ensure!(
            lines.first() == Some(&"37 111"),
            "stty size through the pty: {text:?} (want 37 111)"
        );
        ensure!(
            lines.get(1).is_some_and(|l| l.starts_with("/dev/pts/")),
            "stdin is not the pty: {text:?}"
        );
        Ok(())
    });
}

/// Run `sh -c "cut …/proc/self/stat; ionice"` with `scheduler` and
/// `ioPriority` set, returning `(nice, policy, ionice output)` as seen by
/// a process inside.
fn sched_inside(
    ctx: &Ctx,
    scheduler: serde_json::Value,
    io: serde_json::Value,
) -> Result<(i32, u32, String)> {
    let mut spec = Spec::new(&["/bin/sh", "-c", "cut -d' ' -f19,41 /proc/self/stat; ionice"]);
    spec.set("/process/scheduler", scheduler)
        .set("/process/ioPriority", io);
    let bundle = ctx.bundle(&spec)?;
    let id = ctx.id();
    let mut c = ctx.container(&id);
    let out = c.run(CreateOptions::bundle(bundle.path()))?;
    ensure!(out.code == 0, "run exited {}: {}", out.code, out.stderr);
    let mut lines = out.stdout.lines();
    let stat = lines.next().context("no /proc/self/stat fields")?;
    let (nice, policy) = stat.split_once(' ').context("bad stat fields")?;
    Ok((
        nice.parse()?,
        policy.trim().parse()?,
        lines.next().unwrap_or("").to_string(),
    ))
}

#[test]
fn scheduler_and_io_priority() {
    use serde_json::json;
    each_runtime(|ctx| -> Result<()> {
        // runc 1.1.5 ignores process.scheduler and process.ioPriority (they
        // came in runc 1.2): keel only.
        if !ctx.is_keel() {
            return Ok(());
        }
        // SCHED_BATCH is policy 3, SCHED_IDLE 5 (sched.h); the default is
        // SCHED_OTHER (0) with "none: prio 0", so each case can fail.
        let got = sched_inside(
            ctx,
            json!({"policy": "SCHED_BATCH", "nice": 5}),
            json!({"class": "IOPRIO_CLASS_BE", "priority": 4}),
        )?;
        ensure!(
            got == (5, 3, "best-effort: prio 4".to_string()),
            "SCHED_BATCH nice 5, BE 4: inside (nice, policy, ionice) = {got:?}"
        );
        let got = sched_inside(
            ctx,
            json!({"policy": "SCHED_IDLE"}),
            json!({"class": "IOPRIO_CLASS_IDLE", "priority": 0}),
        )?;
        ensure!(
            got.1 == 5 && got.2 == "idle",
            "SCHED_IDLE, IOPRIO_CLASS_IDLE: inside (nice, policy, ionice) = {got:?}"
        );
        let got = sched_inside(
            ctx,
            json!({"policy": "SCHED_OTHER", "nice": 7}),
            json!({"class": "IOPRIO_CLASS_BE", "priority": 7}),
        )?;
        ensure!(
            got == (7, 0, "best-effort: prio 7".to_string()),
            "SCHED_OTHER nice 7, BE 7: inside (nice, policy, ionice) = {got:?}"
        );
        Ok(())
    });
}
