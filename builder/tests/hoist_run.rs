//! `hoist run` end to end with real containers (as root): an image built by
//! hoist from the local busybox base runs through keel-shim with keel (and
//! runc), with docker run's options checked from inside the container:
//! exit codes and signals, env/workdir/user/entrypoint, binds and tmpfs,
//! networks, cgroup limits, stdin and a tty, `--rm` cleanup, and the same
//! output as `keel run` on a `hoist unpack`ed bundle.
//!
//! Needs keel and keel-shim built in the same target dir as hoist
//! (`cargo build -p keel-runtime -p keel-shim -p hoist`); without them, or
//! without root, each test prints SKIP and why.

mod common;

use std::fs;
use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _, Result};

use common::{hoist_bin, keel_bin, require, runc, workspace, Env, Run};

/// What hoist runs without: nothing (`hoist run -e K` passes the caller's
/// value through).
const UNSET: &[&str] = &[];

const APP_DOCKERFILE: &str = "\
FROM busybox
COPY greeting.txt /greeting.txt
ENV IMG_VAR=from-image
WORKDIR /app
CMD [\"cat\", \"/greeting.txt\"]
";

impl Env {
    /// A private store with busybox and the test image `app` built from it.
    fn with_app() -> Result<Env> {
        let env = Env::new(UNSET)?;
        env.load_busybox()?;
        let ctx = env.context(
            "ctx",
            &[
                ("Dockerfile", APP_DOCKERFILE),
                ("greeting.txt", "hello from a hoist-built image\n"),
            ],
        )?;
        env.build(&ctx, &["-t", "app"])
            .ok()
            .context("building the test image")?;
        Ok(env)
    }
    /// `hoist run --rm ARGS…`
    fn run(&self, args: &[&str]) -> Run {
        let mut a = vec!["run", "--rm"];
        a.extend_from_slice(args);
        self.hoist(&a)
    }
    /// The containers hoist keeps records of (`<store>/containers`).
    fn containers(&self) -> Vec<String> {
        fs::read_dir(self.store().join("containers"))
            .map(|rd| {
                rd.filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| !n.starts_with('.'))
                    .collect()
            })
            .unwrap_or_default()
    }
    /// Mount points under the store, from our mountinfo.
    fn store_mounts(&self) -> Vec<String> {
        common::mounts_under(&self.store())
    }
    fn record(&self, name: &str) -> Result<serde_json::Value> {
        let p = self
            .store()
            .join("containers")
            .join(name)
            .join("container.json");
        Ok(serde_json::from_slice(
            &fs::read(&p).with_context(|| p.display().to_string())?,
        )?)
    }
}

fn keel_list() -> String {
    Command::new(keel_bin())
        .arg("list")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
}

fn wait_for(what: &str, mut f: impl FnMut() -> bool) -> Result<()> {
    let start = Instant::now();
    while !f() {
        if start.elapsed() > Duration::from_secs(20) {
            bail!("timed out waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}

#[test]
fn runs_the_image_command_and_propagates_exit_status() -> Result<()> {
    require!();
    let env = Env::with_app()?;
    let r = env.run(&["app"]).ok()?;
    assert_eq!(r.stdout, "hello from a hoist-built image\n");
    // A command replaces CMD; a non-zero status comes back unchanged.
    env.run(&["app", "sh", "-c", "exit 3"]).code_is(3)?;
    let r = env
        .run(&["app", "sh", "-c", "echo out; echo err >&2; exit 42"])
        .code_is(42)?;
    assert_eq!(r.stdout, "out\n");
    assert!(r.stderr.contains("err\n"), "{}", r.stderr);
    // A missing executable: the runtime fails, 125 as docker run.
    let r = env.run(&["app", "/no/such/binary"]);
    assert!(
        r.code == 125 || r.code == 127,
        "exit {}: {}",
        r.code,
        r.stderr
    );
    // pid 1 of a pid namespace ignores a SIGKILL from inside (docker too).
    env.run(&["app", "sh", "-c", "kill -9 $$; echo survived"])
        .ok()?;
    assert!(env.containers().is_empty(), "{:?}", env.containers());

    // A SIGKILL from outside: 128+9.
    let child = env
        .command(&["run", "--rm", "--name", "victim", "app", "sleep", "100"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()?;
    // Started: keel reports it running (after `start`, not just `create`).
    let keel_state = |id: &str| -> Option<serde_json::Value> {
        let o = Command::new(keel_bin()).args(["state", id]).output().ok()?;
        serde_json::from_slice(&o.stdout).ok()
    };
    let mut pid = 0;
    wait_for("the container to run", || {
        let Some(id) = env
            .record("victim")
            .ok()
            .and_then(|r| r["id"].as_str().map(str::to_owned))
        else {
            return false;
        };
        match keel_state(&id) {
            Some(st) if st["status"] == "running" => {
                pid = st["pid"].as_i64().unwrap_or(0) as i32;
                pid > 0
            }
            _ => false,
        }
    })?;
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    )?;
    let out = child.wait_with_output()?;
    assert_eq!(
        out.status.code(),
        Some(137),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(env.containers().is_empty());

    // SIGTERM to hoist reaches the container (here: its trap exits 7).
    let mut child = env
        .command(&[
            "run",
            "--rm",
            "--name",
            "termed",
            "app",
            "sh",
            "-c",
            "trap 'echo got TERM; exit 7' TERM; echo ready; sleep 100 & wait",
        ])
        .stdout(Stdio::piped())
        .spawn()?;
    let mut stdout = child.stdout.take().context("stdout")?;
    let mut first = [0u8; 6];
    std::io::Read::read_exact(&mut stdout, &mut first)?;
    assert_eq!(&first, b"ready\n");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )?;
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stdout, &mut rest)?;
    assert_eq!(child.wait()?.code(), Some(7));
    assert_eq!(rest, "got TERM\n");
    assert!(env.containers().is_empty());
    Ok(())
}

#[test]
fn env_workdir_user_and_entrypoint() -> Result<()> {
    require!();
    let env = Env::with_app()?;
    // -e K=V adds and overrides the image's ENV; -e K takes hoist's value;
    // -e K unset in hoist's environment is dropped.
    let r = Run::from(
        env.command(&[
            "run",
            "--rm",
            "-e",
            "A=1",
            "-e",
            "IMG_VAR=overridden",
            "-e",
            "FROM_CALLER",
            "-e",
            "UNSET_IN_CALLER",
            "app",
            "env",
        ])
        .env("FROM_CALLER", "caller value")
        .env_remove("UNSET_IN_CALLER")
        .output()?,
    )
    .ok()?;
    let vars: Vec<&str> = r.stdout.lines().collect();
    for want in [
        "A=1",
        "IMG_VAR=overridden",
        "FROM_CALLER=caller value",
        "HOME=/root",
    ] {
        assert!(vars.contains(&want), "{want} not in {vars:?}");
    }
    assert!(!r.stdout.contains("UNSET_IN_CALLER"), "{}", r.stdout);
    assert!(!r.stdout.contains("IMG_VAR=from-image"), "{}", r.stdout);
    let r = env.run(&["app", "sh", "-c", "echo $IMG_VAR"]).ok()?;
    assert_eq!(r.stdout, "from-image\n");

    // WORKDIR of the image, then --workdir (created when missing, as docker).
    assert_eq!(env.run(&["app", "pwd"]).ok()?.stdout, "/app\n");
    assert_eq!(
        env.run(&["-w", "/new/dir", "app", "pwd"]).ok()?.stdout,
        "/new/dir\n"
    );
    let r = env.run(&["--workdir", "rel", "app", "pwd"]).code_is(125)?;
    assert!(r.stderr.contains("absolute path"), "{}", r.stderr);

    // --user: numeric, or a name from the image's /etc/passwd.
    assert_eq!(env.run(&["app", "id", "-u"]).ok()?.stdout, "0\n");
    let r = env.run(&["--user", "1000:1000", "app", "id"]).ok()?;
    assert_eq!(
        r.stdout,
        "uid=1000(keel) gid=1000(keel) groups=1000(keel)\n"
    );
    let r = env
        .run(&["-u", "nobody", "app", "sh", "-c", "id -u; echo $HOME"])
        .ok()?;
    assert_eq!(r.stdout.lines().next(), Some("65534"));
    let r = env
        .run(&["--user", "nosuchuser", "app", "id"])
        .code_is(125)?;
    assert!(r.stderr.contains("nosuchuser"), "{}", r.stderr);

    // --entrypoint replaces the entrypoint and drops the image's CMD.
    let r = env.run(&["--entrypoint", "echo", "app", "a", "b"]).ok()?;
    assert_eq!(r.stdout, "a b\n");
    let r = env.run(&["--entrypoint", "pwd", "app"]).ok()?;
    assert_eq!(r.stdout, "/app\n");
    // No entrypoint and no command: docker's "no command specified".
    let r = env.run(&["--entrypoint", "", "app"]).code_is(125)?;
    assert!(r.stderr.contains("no command specified"), "{}", r.stderr);
    assert!(env.containers().is_empty());

    // The hostname: --hostname, else the name.
    assert_eq!(
        env.run(&["--name", "web-1", "app", "hostname"])
            .ok()?
            .stdout,
        "web-1\n"
    );
    let r = env
        .run(&["--hostname", "h.example", "app", "cat", "/etc/hostname"])
        .ok()?;
    assert_eq!(r.stdout, "h.example\n");
    let r = env.run(&["app", "hostname"]).ok()?;
    assert_eq!(r.stdout.trim().len(), 12, "short id: {}", r.stdout);
    Ok(())
}

#[test]
fn bind_mounts_and_tmpfs() -> Result<()> {
    require!();
    let env = Env::with_app()?;
    let host = env.path("shared");
    fs::create_dir_all(&host)?;
    fs::write(host.join("in.txt"), "from the host\n")?;
    let spec = format!("{}:/data", host.display());
    let spec_ro = format!("{}:/ro:ro", host.display());
    let r = env
        .run(&[
            "-v",
            &spec,
            "-v",
            &spec_ro,
            "app",
            "sh",
            "-c",
            "cat /data/in.txt; echo written > /data/out.txt; cat /ro/out.txt",
        ])
        .ok()?;
    assert_eq!(r.stdout, "from the host\nwritten\n");
    assert_eq!(fs::read_to_string(host.join("out.txt"))?, "written\n");
    // :ro refuses writes.
    let r = env.run(&["-v", &spec_ro, "app", "sh", "-c", "echo x > /ro/new"]);
    assert_ne!(r.code, 0);
    assert!(r.stderr.contains("Read-only file system"), "{}", r.stderr);
    assert!(!host.join("new").exists());
    // A missing host directory is created (docker -v does).
    let missing = env.path("made/by/run");
    let spec_new = format!("{}:/new", missing.display());
    env.run(&["-v", &spec_new, "app", "touch", "/new/f"]).ok()?;
    assert!(missing.join("f").is_file());
    // Not an absolute host path: named volumes are not supported.
    let r = env.run(&["-v", "vol:/data", "app", "true"]);
    assert_ne!(r.code, 0);
    assert!(r.stderr.contains("named volumes"), "{}", r.stderr);

    // --tmpfs: a writable tmpfs with docker's nosuid,nodev,noexec and the
    // given options; nothing reaches the image's rootfs or the host.
    let r = env
        .run(&[
            "--tmpfs",
            "/scratch:size=2m",
            "app",
            "sh",
            "-c",
            "echo t > /scratch/f && cat /scratch/f && grep ' /scratch ' /proc/mounts",
        ])
        .ok()?;
    let mut lines = r.stdout.lines();
    assert_eq!(lines.next(), Some("t"));
    let m = lines.next().context("mount line")?;
    assert!(m.starts_with("tmpfs /scratch tmpfs "), "{m}");
    for o in ["nosuid", "nodev", "noexec", "size=2048k"] {
        assert!(m.contains(o), "{o} not in {m}");
    }
    assert!(env.store_mounts().is_empty(), "{:?}", env.store_mounts());
    Ok(())
}

#[test]
fn network_none_and_host() -> Result<()> {
    require!();
    let env = Env::with_app()?;
    let r = env
        .run(&["--network", "none", "app", "ls", "/sys/class/net"])
        .ok()?;
    assert_eq!(r.stdout, "lo\n");
    let lo = env
        .run(&["--network", "none", "app", "cat", "/sys/class/net/lo/flags"])
        .ok()?;
    let flags = u32::from_str_radix(lo.stdout.trim().trim_start_matches("0x"), 16)?;
    assert_eq!(flags & 1, 1, "lo is not up (IFF_UP): flags {flags:#x}");
    // Loopback works: a server and a client over 127.0.0.1 inside.
    let r = env
        .run(&[
            "--network", "none", "app", "sh", "-c",
            "mkdir /w && echo served > /w/i && httpd -p 127.0.0.1:8099 -h /w && wget -qO- http://127.0.0.1:8099/i",
        ])
        .ok()?;
    assert_eq!(r.stdout, "served\n");
    // The pinned namespace is gone with the container.
    assert!(env.store_mounts().is_empty(), "{:?}", env.store_mounts());
    let r = env
        .run(&["--network", "none", "app", "cat", "/etc/hosts"])
        .ok()?;
    assert!(r.stdout.contains("127.0.0.1\tlocalhost"), "{}", r.stdout);

    // host (the default): the host's interfaces, hosts and resolv.conf.
    let mut host_ifs: Vec<String> = fs::read_dir("/sys/class/net")?
        .map(|e| Ok(e?.file_name().to_string_lossy().into_owned()))
        .collect::<Result<_>>()?;
    host_ifs.sort();
    for args in [&["--network", "host"][..], &[][..]] {
        let mut a = args.to_vec();
        a.extend(["app", "ls", "-1", "/sys/class/net"]);
        let r = env.run(&a).ok()?;
        let mut got: Vec<String> = r.stdout.lines().map(str::to_owned).collect();
        got.sort();
        assert_eq!(got, host_ifs, "{args:?}");
    }
    let r = env.run(&["app", "cat", "/etc/resolv.conf"]).ok()?;
    assert_eq!(
        r.stdout,
        fs::read_to_string("/etc/resolv.conf").unwrap_or_default()
    );
    let r = env
        .run(&["--network", "host", "app", "cat", "/etc/hosts"])
        .ok()?;
    assert_eq!(
        r.stdout,
        fs::read_to_string("/etc/hosts").unwrap_or_default()
    );
    let r = env.run(&["--network", "bridge", "app", "true"]);
    assert!(
        r.code != 0 && r.stderr.contains("no bridge"),
        "{}",
        r.stderr
    );
    Ok(())
}

#[test]
fn memory_and_cpu_limits_reach_the_cgroup() -> Result<()> {
    require!();
    let env = Env::with_app()?;
    let v1 = Path::new("/sys/fs/cgroup/memory").is_dir();
    let script = if v1 {
        "cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/cpu/cpu.cfs_quota_us /sys/fs/cgroup/cpu/cpu.cfs_period_us"
    } else {
        "cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/cpu.max"
    };
    let r = env
        .run(&[
            "--memory", "32m", "--cpus", "0.5", "app", "sh", "-c", script,
        ])
        .ok()?;
    let want = if v1 {
        "33554432\n50000\n100000\n"
    } else {
        "33554432\n50000 100000\n"
    };
    assert_eq!(r.stdout, want);
    let r = env.run(&["-m", "1g", "app", "sh", "-c", script]).ok()?;
    assert!(r.stdout.starts_with("1073741824\n"), "{}", r.stdout);
    // Over the limit: OOM-killed, 137, and the record says so.
    let r = env
        .hoist(&[
            "run",
            "--name",
            "oom",
            "-m",
            "16m",
            "app",
            "tail",
            "/dev/zero",
        ])
        .code_is(137)?;
    assert!(r.stderr.contains("OOM-killed"), "{}", r.stderr);
    let rec = env.record("oom")?;
    assert_eq!(
        (rec["exit_code"].as_i64(), rec["oom_killed"].as_bool()),
        (Some(137), Some(true))
    );
    let r = env.run(&["--memory", "2m", "app", "true"]);
    assert!(r.code != 0 && r.stderr.contains("minimum"), "{}", r.stderr);
    let r = env.run(&["--cpus", "4096", "app", "true"]);
    assert!(r.code == 125 && r.stderr.contains("CPUs"), "{}", r.stderr);
    Ok(())
}

#[test]
fn stdin_with_i_and_a_tty_with_t() -> Result<()> {
    require!();
    let env = Env::with_app()?;
    let feed = |args: &[&str], input: &str| -> Result<Run> {
        let mut c = env.command(args);
        c.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = c.spawn()?;
        child
            .stdin
            .take()
            .context("stdin")?
            .write_all(input.as_bytes())?;
        Ok(Run::from(child.wait_with_output()?))
    };
    let r = feed(
        &[
            "run",
            "--rm",
            "-i",
            "app",
            "sh",
            "-c",
            "tr a-z A-Z; echo done",
        ],
        "piped in\n",
    )?
    .ok()?;
    assert_eq!(r.stdout, "PIPED IN\ndone\n");
    // Without -i the container's stdin is empty.
    let r = feed(&["run", "--rm", "app", "sh", "-c", "wc -c"], "ignored\n")?.ok()?;
    assert_eq!(r.stdout.trim(), "0");

    // -t: a pty inside (under script(1), which gives hoist a terminal).
    if Command::new("script").arg("--version").output().is_err() {
        eprintln!("SKIP the -t part: script(1) is missing (bsdutils)");
        return Ok(());
    }
    let cmdline = format!(
        "{} --root {} run --rm -t app sh -c 'tty; echo TERM=$TERM; test -t 0 && echo stdin-is-tty; exit 5'",
        hoist_bin().display(),
        env.store().display()
    );
    let o = Command::new("script")
        .args(["-qec", &cmdline, "/dev/null"])
        .stdin(Stdio::null())
        .output()?;
    let out = String::from_utf8_lossy(&o.stdout).replace('\r', "");
    assert_eq!(o.status.code(), Some(5), "{out}");
    assert!(out.contains("/dev/pts/"), "{out}");
    assert!(out.contains("TERM=xterm\n"), "{out}");
    assert!(out.contains("stdin-is-tty\n"), "{out}");
    // -i -t: typed input reaches the pty.
    let cmdline = format!(
        "printf 'typed\\n' | {} --root {} run --rm -i -t app sh -c 'read x; echo got-$x'",
        hoist_bin().display(),
        env.store().display()
    );
    let o = Command::new("script")
        .args(["-qec", &cmdline, "/dev/null"])
        .output()?;
    let out = String::from_utf8_lossy(&o.stdout).replace('\r', "");
    assert!(out.contains("got-typed"), "{out}");
    assert!(env.containers().is_empty());
    Ok(())
}

#[test]
fn rm_leaves_nothing_and_a_kept_container_stays_until_pruned() -> Result<()> {
    require!();
    let env = Env::with_app()?;
    let r = env
        .run(&[
            "--name",
            "gone",
            "-v",
            &format!("{}:/m", env.path("m").display()),
            "--tmpfs",
            "/t",
            "app",
            "sh",
            "-c",
            "cat /proc/self/cgroup | head -1",
        ])
        .ok()?;
    let cg = r.stdout.trim().rsplit(':').next().unwrap_or("").to_owned();
    assert!(env.containers().is_empty(), "{:?}", env.containers());
    assert!(env.store_mounts().is_empty(), "{:?}", env.store_mounts());
    // keel's cgroup path is the container id: not listed, cgroup removed.
    assert!(cg.len() > 12, "{cg}");
    assert!(!keel_list().contains(cg.trim_start_matches('/')));
    {
        assert!(
            !Path::new("/sys/fs/cgroup/memory")
                .join(cg.trim_start_matches('/'))
                .exists(),
            "{cg}"
        );
    }
    // --rm also on failure.
    env.run(&["--name", "failed", "app", "sh", "-c", "exit 9"])
        .code_is(9)?;
    env.run(&["--name", "failed", "app", "/nonexistent"]);
    assert!(env.containers().is_empty(), "{:?}", env.containers());

    // Without --rm the directory and its record stay; the name is taken.
    env.hoist(&["run", "--name", "kept", "app", "sh", "-c", "exit 4"])
        .code_is(4)?;
    let rec = env.record("kept")?;
    assert_eq!(rec["status"], "exited");
    assert_eq!(rec["exit_code"], 4);
    assert_eq!(rec["image"], "app");
    assert!(!keel_list().contains(rec["id"].as_str().unwrap_or("-")));
    let r = env
        .hoist(&["run", "--name", "kept", "app", "true"])
        .code_is(125)?;
    assert!(r.stderr.contains("already in use"), "{}", r.stderr);
    // prune removes stopped containers (the library call `hoist prune`
    // would make), and leaves running ones.
    let store = hoist::store::Store::open(&env.store())?;
    let listed = hoist::container::list(&store)?;
    assert_eq!(listed.len(), 1);
    assert!(!listed[0].running);
    assert_eq!(hoist::container::prune(&store)?, ["kept"]);
    assert!(env.containers().is_empty());
    env.hoist(&["run", "--rm", "--name", "kept", "app", "true"])
        .ok()?;
    assert!(env.store_mounts().is_empty());
    Ok(())
}

#[test]
fn runc_as_the_runtime() -> Result<()> {
    require!();
    let Some(runc) = runc() else {
        eprintln!("SKIP runc_as_the_runtime: runc is not installed (hack/deps.sh)");
        return Ok(());
    };
    let runc = runc.to_str().context("runc path")?;
    let env = Env::with_app()?;
    let host = env.path("h");
    fs::create_dir_all(&host)?;
    for rt in ["runc", runc] {
        let r = env.run(&["--runtime", rt, "app"]).ok()?;
        assert_eq!(r.stdout, "hello from a hoist-built image\n");
        env.run(&["--runtime", rt, "app", "sh", "-c", "exit 3"])
            .code_is(3)?;
        let r = env
            .run(&[
                "--runtime",
                rt,
                "-e",
                "X=y",
                "-u",
                "1000",
                "-w",
                "/tmp",
                "--memory",
                "32m",
                "-v",
                &format!("{}:/h", host.display()),
                "--tmpfs",
                "/s",
                "--network",
                "none",
                "app",
                "sh",
                "-c",
                "echo $X; id -u; pwd; ls /sys/class/net; touch /s/x",
            ])
            .ok()?;
        assert_eq!(r.stdout, "y\n1000\n/tmp\nlo\n");
    }
    let r = Command::new(runc).arg("list").output()?;
    assert!(
        !String::from_utf8_lossy(&r.stdout).contains(&env.store().to_string_lossy().into_owned())
    );
    assert!(env.containers().is_empty());
    assert!(env.store_mounts().is_empty());
    Ok(())
}

#[test]
fn same_output_as_keel_run_on_an_unpacked_bundle() -> Result<()> {
    require!();
    let env = Env::with_app()?;
    let via_hoist = env.run(&["app"]).ok()?;
    let bundle = env.path("bundle");
    env.hoist(&["unpack", "app", bundle.to_str().unwrap()])
        .ok()?;
    let id = format!("hoist-run-test-{}", std::process::id());
    let o = Command::new(keel_bin())
        .args(["run", "--bundle", bundle.to_str().unwrap(), &id])
        .stdin(Stdio::null())
        .output()?;
    let _ = Command::new(keel_bin())
        .args(["delete", "--force", &id])
        .output();
    let via_keel = Run::from(o).ok()?;
    assert_eq!(via_hoist.stdout, via_keel.stdout);
    assert_eq!(via_keel.stdout, "hello from a hoist-built image\n");
    Ok(())
}

#[test]
fn the_examples_build_and_run() -> Result<()> {
    require!();
    let env = Env::with_app()?;
    let examples = workspace().join("hack/examples");
    // words: multi-stage with RUN, USER from a passwd line a RUN added.
    let words = examples.join("words");
    env.build(&words, &["-t", "words"]).ok()?;
    let r = env.run(&["words"]).ok()?;
    assert_eq!(
        r.stdout,
        "brown\ndog\nfox\njumps\nlazy\nover\nquick\nsleeps\nthe\n"
    );
    assert_eq!(
        env.run(&["words", "words-count"]).ok()?.stdout,
        "9 unique words\n"
    );
    assert_eq!(
        env.run(&["words", "id"]).ok()?.stdout,
        "uid=1001(words) gid=1001(words) groups=1001(words)\n"
    );
    // hello (the README's main job): its httpd serves the page; here on
    // loopback in a `--network none` container, so no host port is used.
    let hello = examples.join("hello");
    env.build(&hello, &["-t", "hello"]).ok()?;
    let r = env
        .run(&[
            "--network", "none", "--entrypoint", "sh", "hello", "-c",
            "httpd -p 127.0.0.1:8080 -h /www && wget -qO- http://127.0.0.1:8080/ && wget -qO- http://127.0.0.1:8080/build-info.txt",
        ])
        .ok()?;
    assert!(
        r.stdout.contains("<h1>hello from keel</h1>"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .ends_with("built by hoist from hack/examples/hello\n"),
        "{}",
        r.stdout
    );
    assert!(env.containers().is_empty());
    Ok(())
}
