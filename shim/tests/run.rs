//! keel-shim against real containers, with keel and with runc (as root).
//! Each test cleans up its bundles, runtime root and containers; processes
//! are stopped by pid only.

mod common;

use std::io::Write;
use std::os::fd::AsFd;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};
use common::*;
use nix::sys::signal::Signal;

#[test]
fn exit_codes_and_result_file() {
    each_runtime(|ctx| {
        for (tag, script, want) in [("zero", "exit 0", 0), ("three", "echo out; exit 3", 3)] {
            let bundle = ctx.bundle(tag, false, &["sh", "-c", script], |_| {})?;
            let id = ctx.id(tag);
            let res = ctx.scratch().join(format!("{tag}.json"));
            let mut shim = ctx.spawn(
                &id,
                &bundle,
                &["--result", res.to_str().unwrap()],
                Stdio::null(),
            )?;
            let code = shim.wait(WAIT)?;
            ensure!(
                code == want,
                "`{script}`: keel-shim exited {code}, want {want}; stderr: {}",
                shim.stderr()
            );
            let r = result(&res)?;
            ensure!(
                r["exit_code"] == want && r["shim_exit_code"] == want,
                "result {r}"
            );
            ensure!(
                r["signal"].is_null() && r["oom_killed"] == false && r["timed_out"] == false,
                "result {r}"
            );
            ensure!(r["pid"].as_i64().unwrap_or(0) > 0, "no pid in {r}");
            ctx.assert_gone(&id)?;
        }

        // Killed from outside with SIGKILL: 128+9, and the signal in the result.
        let bundle = ctx.bundle("kill", false, &["sleep", "1000"], |_| {})?;
        let id = ctx.id("kill");
        let res = ctx.scratch().join("kill.json");
        let mut shim = ctx.spawn(
            &id,
            &bundle,
            &["--result", res.to_str().unwrap()],
            Stdio::null(),
        )?;
        let pid = ctx.wait_running(&id, &mut shim)?;
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), Signal::SIGKILL)?;
        let code = shim.wait(WAIT)?;
        ensure!(
            code == 137,
            "killed container: keel-shim exited {code}, want 137; stderr: {}",
            shim.stderr()
        );
        let r = result(&res)?;
        ensure!(
            r["exit_code"] == 137 && r["signal"] == 9 && r["pid"] == pid,
            "result {r}"
        );
        ctx.assert_gone(&id)?;
        Ok(())
    });
}

#[test]
fn container_output_goes_to_our_stdout() {
    each_runtime(|ctx| {
        let bundle = ctx.bundle(
            "out",
            false,
            &["sh", "-c", "echo to-stdout; echo to-stderr >&2"],
            |_| {},
        )?;
        let id = ctx.id("out");
        let mut shim = ctx.spawn(&id, &bundle, &[], Stdio::null())?;
        ensure!(shim.wait(WAIT)? == 0, "stderr: {}", shim.stderr());
        ensure!(shim.stdout() == "to-stdout\n", "stdout {:?}", shim.stdout());
        ensure!(shim.stderr() == "to-stderr\n", "stderr {:?}", shim.stderr());
        Ok(())
    });
}

#[test]
fn container_starts_with_no_signal_blocked() {
    // The shim blocks the signals it reads from a signalfd; runc would pass
    // that mask on to the container if the shim did not clear it.
    each_runtime(|ctx| {
        let bundle = ctx.bundle(
            "mask",
            false,
            &["grep", "^Sig[BI]", "/proc/self/status"],
            |_| {},
        )?;
        let id = ctx.id("mask");
        let mut shim = ctx.spawn(&id, &bundle, &[], Stdio::null())?;
        ensure!(shim.wait(WAIT)? == 0, "stderr: {}", shim.stderr());
        let out = shim.stdout();
        ensure!(
            out.contains("SigBlk:\t0000000000000000"),
            "blocked signals in the container: {out:?}"
        );
        ensure!(
            out.contains("SigIgn:\t0000000000000000"),
            "ignored signals in the container: {out:?}"
        );
        Ok(())
    });
}

#[test]
fn signals_are_forwarded() {
    each_runtime(|ctx| {
        let script = "trap 'echo got USR1' USR1; trap 'echo got HUP' HUP; \
                      trap 'echo got TERM; exit 7' TERM; echo ready; \
                      while true; do sleep 0.05; done";
        let bundle = ctx.bundle("sig", false, &["sh", "-c", script], |_| {})?;
        let id = ctx.id("sig");
        let mut shim = ctx.spawn(&id, &bundle, &[], Stdio::null())?;
        shim.wait_stdout("ready")?;
        shim.signal(Signal::SIGUSR1)?;
        shim.wait_stdout("got USR1")?;
        shim.signal(Signal::SIGHUP)?;
        shim.wait_stdout("got HUP")?;
        shim.signal(Signal::SIGTERM)?;
        let code = shim.wait(WAIT)?;
        ensure!(
            code == 7,
            "keel-shim exited {code}, want the container's 7; stdout {:?} stderr {:?}",
            shim.stdout(),
            shim.stderr()
        );
        ensure!(
            shim.stdout().contains("got TERM"),
            "stdout {:?}",
            shim.stdout()
        );
        ctx.assert_gone(&id)?;
        Ok(())
    });
}

#[test]
fn stdin_reaches_the_container() {
    each_runtime(|ctx| {
        let bundle = ctx.bundle("cat", false, &["cat"], |_| {})?;
        let id = ctx.id("cat");
        let mut child = ctx
            .shim_cmd(&id, &bundle, &[])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        let mut stdin = child.stdin.take().context("stdin")?;
        stdin.write_all(b"data line 1\ndata line 2\n")?;
        drop(stdin);
        let out = child.wait_with_output()?;
        ensure!(
            out.status.code() == Some(0),
            "exit {:?}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        ensure!(
            out.stdout == b"data line 1\ndata line 2\n",
            "stdout {:?}",
            String::from_utf8_lossy(&out.stdout)
        );
        ctx.assert_gone(&id)?;
        Ok(())
    });
}

#[test]
fn tty_with_resize() {
    each_runtime(|ctx| {
        // Prints the terminal's size whenever it changes; exits on input.
        let script = "tty >/dev/null || { echo not-a-tty; exit 9; }; old=; \
                      while :; do s=$(stty size); \
                      if [ \"$s\" != \"$old\" ]; then echo \"size $s\"; old=$s; fi; \
                      if read -t 0.05 line; then echo \"line $line\"; exit 4; fi; done";
        let bundle = ctx.bundle("tty", true, &["sh", "-c", script], |_| {})?;
        let id = ctx.id("tty");
        let pty = nix::pty::openpty(None, None)?;
        set_winsize(&pty.master, 33, 99)?;
        let slave = || -> Result<Stdio> { Ok(Stdio::from(pty.slave.try_clone()?)) };
        let err = ctx.scratch().join("tty.err");
        let mut child = ctx
            .shim_cmd(&id, &bundle, &["--tty"])
            .stdin(slave()?)
            .stdout(slave()?)
            .stderr(std::fs::File::create(&err)?)
            .spawn()?;
        let pid = nix::unistd::Pid::from_raw(child.id() as i32);
        let guard = scopeguard(child.id() as i32);
        let mut acc = String::new();
        read_pty_until(&pty.master, &mut acc, "size 33 99")
            .with_context(|| std::fs::read_to_string(&err).unwrap_or_default())?;
        set_winsize(&pty.master, 41, 123)?;
        nix::sys::signal::kill(pid, Signal::SIGWINCH)?;
        read_pty_until(&pty.master, &mut acc, "size 41 123")?;
        // Typed input goes through the pty (the shim put our end in raw mode).
        nix::unistd::write(pty.master.as_fd(), b"hello\r")?;
        read_pty_until(&pty.master, &mut acc, "line hello")?;
        let t0 = Instant::now();
        let status = loop {
            if let Some(st) = child.try_wait()? {
                break st;
            }
            ensure!(t0.elapsed() < WAIT, "keel-shim did not exit; pty: {acc:?}");
            std::thread::sleep(Duration::from_millis(10));
        };
        drop(guard);
        ensure!(
            status.code() == Some(4),
            "exit {status:?}; pty {acc:?}; stderr {}",
            std::fs::read_to_string(&err)?
        );
        ctx.assert_gone(&id)?;
        Ok(())
    });
}

#[test]
fn oom_kill_is_reported() {
    each_runtime(|ctx| {
        // busybox tail keeps the whole (newline-free) input: it grows until killed.
        let bundle = ctx.bundle("oom", false, &["tail", "/dev/zero"], |v| {
            memory_limit(v, 16 << 20)
        })?;
        let id = ctx.id("oom");
        let res = ctx.scratch().join("oom.json");
        let mut shim = ctx.spawn(
            &id,
            &bundle,
            &["--result", res.to_str().unwrap()],
            Stdio::null(),
        )?;
        let code = shim.wait(WAIT)?;
        let r = result(&res)?;
        ensure!(
            r["oom_killed"] == true,
            "result {r}; stderr {:?}",
            shim.stderr()
        );
        ensure!(code == 137 && r["signal"] == 9, "exit {code}, result {r}");
        ensure!(
            shim.stderr().contains("OOM-killed"),
            "stderr {:?}",
            shim.stderr()
        );
        ctx.assert_gone(&id)?;
        Ok(())
    });
}

#[test]
fn sigint_stops_kills_and_deletes() {
    each_runtime(|ctx| {
        // sleep is pid 1 in its namespace: it ignores the forwarded SIGINT,
        // so the shim kills it after the grace period.
        let bundle = ctx.bundle("int", false, &["sleep", "1000"], |_| {})?;
        let id = ctx.id("int");
        let res = ctx.scratch().join("int.json");
        // Started as a shell starts a background job, with SIGINT ignored:
        // the shim must still get it.
        let mut shim = ctx.spawn_ignoring_sigint(
            &id,
            &bundle,
            &["--grace", "1", "--result", res.to_str().unwrap()],
        )?;
        let pid = ctx.wait_running(&id, &mut shim)?;
        let cgroup = memory_cgroup(pid)?;
        ensure!(
            cgroup.is_dir(),
            "{} missing while running",
            cgroup.display()
        );
        let t0 = Instant::now();
        shim.signal(Signal::SIGINT)?;
        let code = shim.wait(WAIT)?;
        let took = t0.elapsed();
        ensure!(
            code == 130,
            "keel-shim exited {code}, want 130; stderr {:?}",
            shim.stderr()
        );
        ensure!(
            took >= Duration::from_millis(900),
            "killed after {took:?}, before the 1 s grace"
        );
        ensure!(took < Duration::from_secs(6), "took {took:?} to stop");
        ensure!(!alive(pid), "init {pid} still alive");
        ensure!(!cgroup.exists(), "cgroup {} left behind", cgroup.display());
        ctx.assert_gone(&id)?;
        let r = result(&res)?;
        ensure!(
            r["exit_code"] == 137 && r["shim_exit_code"] == 130,
            "result {r}"
        );
        Ok(())
    });
}

#[test]
fn timeout_kills_and_deletes() {
    each_runtime(|ctx| {
        let bundle = ctx.bundle("timeout", false, &["sleep", "1000"], |_| {})?;
        let id = ctx.id("timeout");
        let res = ctx.scratch().join("timeout.json");
        let t0 = Instant::now();
        let mut shim = ctx.spawn(
            &id,
            &bundle,
            &["--timeout", "1", "--result", res.to_str().unwrap()],
            Stdio::null(),
        )?;
        let pid = ctx.wait_running(&id, &mut shim)?;
        let cgroup = memory_cgroup(pid)?;
        let code = shim.wait(WAIT)?;
        let took = t0.elapsed();
        ensure!(
            code == 124,
            "keel-shim exited {code}, want 124; stderr {:?}",
            shim.stderr()
        );
        ensure!(
            took >= Duration::from_millis(1000) && took < Duration::from_secs(6),
            "took {took:?}"
        );
        let r = result(&res)?;
        ensure!(
            r["timed_out"] == true && r["exit_code"] == 137 && r["signal"] == 9,
            "result {r}"
        );
        ensure!(!alive(pid), "init {pid} still alive");
        ensure!(!cgroup.exists(), "cgroup {} left behind", cgroup.display());
        ctx.assert_gone(&id)?;
        Ok(())
    });
}

#[test]
fn background_children_are_reaped_and_do_not_hold_the_shim() {
    each_runtime(|ctx| {
        // Without a pid namespace, init's children are reparented to the
        // shim when init exits: two that exit soon (zombies unless reaped)
        // and one that would run for 1000 s holding stdout open.
        let script = "sh -c 'sleep 0.3' & sh -c 'sleep 0.5' & sleep 1000 & echo bg=$!; exit 0";
        let bundle = ctx.bundle("bg", false, &["sh", "-c", script], no_pid_namespace)?;
        let id = ctx.id("bg");
        let t0 = Instant::now();
        let mut shim = ctx.spawn(&id, &bundle, &[], Stdio::null())?;
        let shim_pid = shim.pid();
        let mut seen: std::collections::HashMap<i32, Instant> = Default::default();
        let code = loop {
            for z in zombies_of(shim_pid) {
                let first = *seen.entry(z).or_insert_with(Instant::now);
                ensure!(
                    first.elapsed() < Duration::from_millis(300),
                    "zombie {z} of keel-shim not reaped for 300 ms"
                );
            }
            if let Some(c) = shim.try_wait()? {
                break c;
            }
            ensure!(
                t0.elapsed() < Duration::from_secs(8),
                "keel-shim still running after 8 s; stderr {:?}",
                shim.stderr()
            );
            std::thread::sleep(Duration::from_millis(10));
        };
        ensure!(
            code == 0,
            "keel-shim exited {code}; stderr {:?}",
            shim.stderr()
        );
        let out = shim.stdout();
        let bg: i32 = out
            .trim()
            .strip_prefix("bg=")
            .and_then(|p| p.parse().ok())
            .with_context(|| format!("no bg pid in {out:?}"))?;
        ensure!(!alive(bg), "the background sleep {bg} outlived the shim");
        ctx.assert_gone(&id)?;

        // With a pid namespace the kernel kills the rest with init.
        let bundle = ctx.bundle("bgns", false, &["sh", "-c", "sleep 1000 & exit 0"], |_| {})?;
        let id = ctx.id("bgns");
        let t0 = Instant::now();
        let mut shim = ctx.spawn(&id, &bundle, &[], Stdio::null())?;
        ensure!(
            shim.wait(Duration::from_secs(8))? == 0,
            "stderr {:?}",
            shim.stderr()
        );
        ensure!(
            t0.elapsed() < Duration::from_secs(5),
            "took {:?}",
            t0.elapsed()
        );
        ctx.assert_gone(&id)?;
        Ok(())
    });
}

#[test]
fn failed_create_exits_125_and_leaves_nothing() {
    each_runtime(|ctx| {
        let bundle = ctx.bundle("bad", false, &["/no/such/binary"], |_| {})?;
        let id = ctx.id("bad");
        let res = ctx.scratch().join("bad.json");
        let mut shim = ctx.spawn(
            &id,
            &bundle,
            &["--result", res.to_str().unwrap()],
            Stdio::null(),
        )?;
        let code = shim.wait(WAIT)?;
        ensure!(
            code == 125,
            "keel-shim exited {code}, want 125; stderr {:?}",
            shim.stderr()
        );
        ensure!(
            shim.stderr().contains(&id),
            "the error does not name {id}: {:?}",
            shim.stderr()
        );
        let r = result(&res)?;
        ensure!(
            r["error"].is_string() && r["exit_code"].is_null(),
            "result {r}"
        );
        ctx.assert_gone(&id)?;
        // The shim's private work dir is gone too.
        let leftover = std::fs::read_dir(std::env::temp_dir())?.flatten().any(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with(&format!("keel-shim-{}-", shim.pid()))
        });
        ensure!(
            !leftover,
            "work dir of keel-shim {} left in {}",
            shim.pid(),
            std::env::temp_dir().display()
        );
        Ok(())
    });
}

#[test]
fn tty_flag_needs_a_terminal_bundle() {
    each_runtime(|ctx| {
        let bundle = ctx.bundle("notty", false, &["true"], |_| {})?;
        let id = ctx.id("notty");
        let out = ctx
            .shim_cmd(&id, &bundle, &["--tty"])
            .stdin(Stdio::null())
            .output()?;
        let err = String::from_utf8_lossy(&out.stderr);
        ensure!(
            out.status.code() == Some(125),
            "exit {:?}: {err}",
            out.status
        );
        ensure!(err.contains("process.terminal"), "{err}");
        Ok(())
    });
}

/// SIGKILLs a pid on drop (the shim under a pty, if the test fails early).
struct KillOnDrop(i32);

fn scopeguard(pid: i32) -> KillOnDrop {
    KillOnDrop(pid)
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if common::alive(self.0) {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.0), Signal::SIGKILL);
        }
    }
}
