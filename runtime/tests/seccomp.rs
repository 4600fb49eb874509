//! Seccomp filters loaded for real, each in a child process.
//!
//! The child is this test binary again, started with `KEEL_SECCOMP_CASE` set
//! and filtered to the `child_entry` test: it sets no_new_privs, loads a
//! filter and checks what its system calls return. The parent only spawns,
//! plays the seccomp agent where needed, and waits (killing the child by pid
//! on a timeout). No fork of the threaded test process, no `unsafe`.
//! Works as any user: no_new_privs makes loading a filter unprivileged.

use std::io::Read;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use keel_runtime::seccomp::{self, Filter, Response};
use nix::errno::Errno;
use nix::sys::socket::{socket, AddressFamily, SockFlag, SockType};
use nix::sys::stat::Mode;
use oci_spec::runtime::LinuxSeccomp;
use serde_json::{json, Value};

const CASE_ENV: &str = "KEEL_SECCOMP_CASE";
const DIR_ENV: &str = "KEEL_SECCOMP_DIR";
const TIMEOUT: Duration = Duration::from_secs(20);
/// Docker's default profile (moby's profiles/seccomp/default.json) in the
/// form dockerd hands it to the runtime on linux/amd64 with Docker's default
/// capabilities: archMap resolved, includes/excludes applied.
const DOCKER_PROFILE: &str = include_str!("data/seccomp-docker-default.json");

// ---- the child side -------------------------------------------------------

/// Runs a case when started by [`spawn`]; a no-op in the normal test run.
#[test]
fn child_entry() {
    let Ok(case) = std::env::var(CASE_ENV) else {
        return;
    };
    let dir = PathBuf::from(std::env::var_os(DIR_ENV).unwrap_or_default());
    let code = match run_case(&case, &dir) {
        Ok(()) => 0,
        Err(msg) => {
            eprintln!("seccomp child {case}: {msg}");
            1
        }
    };
    std::process::exit(code);
}

fn run_case(case: &str, dir: &Path) -> Result<(), String> {
    match case {
        "errno" => case_errno(dir),
        "default_errno" => case_default_errno(dir),
        "docker" => case_docker(dir),
        "masked" => case_masked(dir),
        "same_index" => case_same_index(dir),
        "distinct_index" => case_distinct_index(),
        "kill_process" | "trap" => case_fatal(case, dir),
        "notify" => case_notify(dir),
        other => Err(format!("unknown case {other}")),
    }
}

fn load(profile: Value) -> Result<Option<OwnedFd>, String> {
    let s: LinuxSeccomp = serde_json::from_value(profile).map_err(|e| format!("profile: {e}"))?;
    let f = Filter::compile(&s).map_err(|e| e.to_string())?;
    nix::sys::prctl::set_no_new_privs().map_err(|e| format!("no_new_privs: {e}"))?;
    f.load().map_err(|e| e.to_string())
}

fn expect<T>(what: &str, got: nix::Result<T>, want: Option<Errno>) -> Result<(), String> {
    match (got, want) {
        (Ok(_), None) => Ok(()),
        (Err(e), Some(w)) if e == w => Ok(()),
        (Ok(_), Some(w)) => Err(format!("{what}: succeeded, expected {w}")),
        (Err(e), w) => Err(format!("{what}: failed with {e}, expected {w:?}")),
    }
}

fn mkdir(dir: &Path, name: &str, mode: u32) -> nix::Result<()> {
    nix::unistd::mkdir(&dir.join(name), Mode::from_bits_truncate(mode))
}

fn socket_of(family: AddressFamily) -> nix::Result<OwnedFd> {
    socket(family, SockType::Stream, SockFlag::SOCK_CLOEXEC, None)
}

fn mkdir_rule(action: &str, extra: Value) -> Vec<Value> {
    let mut a = json!({"names": ["mkdir", "mkdirat"], "action": action});
    if let (Some(obj), Some(more)) = (a.as_object_mut(), extra.as_object()) {
        obj.extend(more.clone());
    }
    vec![a]
}

/// A blocked syscall fails with EPERM by default, or with errnoRet.
fn case_errno(dir: &Path) -> Result<(), String> {
    let mut rules = mkdir_rule("SCMP_ACT_ERRNO", json!({}));
    rules.push(json!({"names": ["rmdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38}));
    load(json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": rules}))?
        .map_or(Ok(()), |_| Err("no notify fd was expected".to_string()))?;
    expect("mkdir", mkdir(dir, "a", 0o755), Some(Errno::EPERM))?;
    expect(
        "rmdir",
        std::fs::remove_dir(dir).map_err(errno_of),
        Some(Errno::ENOSYS),
    )?;
    expect("getpid", Ok(nix::unistd::getpid()), None)
}

/// Docker's profile as is: the process keeps running Rust, plain calls work,
/// privileged ones get EPERM, and `socket` with an argument rule filters by
/// address family.
fn case_docker(dir: &Path) -> Result<(), String> {
    let profile: Value = serde_json::from_str(DOCKER_PROFILE).map_err(|e| e.to_string())?;
    load(profile)?;
    expect("mkdir", mkdir(dir, "ok", 0o755), None)?;
    expect(
        "unshare(CLONE_NEWUTS)",
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWUTS),
        Some(Errno::EPERM),
    )?;
    expect("socket(AF_UNIX)", socket_of(AddressFamily::Unix), None)?;
    expect(
        "socket(AF_VSOCK)",
        socket_of(AddressFamily::Vsock),
        Some(Errno::EPERM),
    )
}

/// defaultAction SCMP_ACT_ERRNO returns defaultErrnoRet for everything the
/// profile does not allow (Docker's profile, without mkdir, errno 77).
fn case_default_errno(dir: &Path) -> Result<(), String> {
    let mut profile: Value = serde_json::from_str(DOCKER_PROFILE).map_err(|e| e.to_string())?;
    profile["defaultErrnoRet"] = json!(libc::EBADFD);
    if let Some(names) = profile["syscalls"][0]["names"].as_array_mut() {
        names.retain(|n| n != "mkdir" && n != "mkdirat");
    }
    load(profile)?;
    expect("mkdir", mkdir(dir, "a", 0o755), Some(Errno::EBADFD))?;
    expect(
        "socket(AF_VSOCK)",
        socket_of(AddressFamily::Vsock),
        Some(Errno::EBADFD),
    )?;
    expect("socket(AF_UNIX)", socket_of(AddressFamily::Unix), None)
}

/// SCMP_CMP_MASKED_EQ: `value` is the mask, `valueTwo` what the masked
/// argument must equal. Blocks mkdir only for directories whose special
/// bits are exactly "sticky".
fn case_masked(dir: &Path) -> Result<(), String> {
    let masked = |index: usize| json!({"index": index, "value": 0o7000, "valueTwo": 0o1000, "op": "SCMP_CMP_MASKED_EQ"});
    load(json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38, "args": [masked(1)]},
        {"names": ["mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38, "args": [masked(2)]}
    ]}))?;
    expect(
        "mkdir 01755",
        mkdir(dir, "sticky", 0o1755),
        Some(Errno::ENOSYS),
    )?;
    // 05755 & 07000 is 05000, not 01000: the masked bits must be equal, not just include the bit.
    expect("mkdir 05755", mkdir(dir, "sticky_setuid", 0o5755), None)?;
    expect("mkdir 02755", mkdir(dir, "setgid", 0o2755), None)?;
    expect("mkdir 0755", mkdir(dir, "plain", 0o755), None)
}

/// Two conditions on the same argument: runc makes one rule per condition,
/// so either one matching blocks the call.
fn case_same_index(dir: &Path) -> Result<(), String> {
    let bit = |index: usize, b: u64| json!({"index": index, "value": b, "valueTwo": b, "op": "SCMP_CMP_MASKED_EQ"});
    load(json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "args": [bit(1, 0o1000), bit(1, 0o2000)]},
        {"names": ["mkdirat"], "action": "SCMP_ACT_ERRNO", "args": [bit(2, 0o1000), bit(2, 0o2000)]}
    ]}))?;
    expect(
        "mkdir 01755",
        mkdir(dir, "sticky", 0o1755),
        Some(Errno::EPERM),
    )?;
    expect(
        "mkdir 02755",
        mkdir(dir, "setgid", 0o2755),
        Some(Errno::EPERM),
    )?;
    expect("mkdir 0755", mkdir(dir, "plain", 0o755), None)
}

/// Conditions on different arguments form one rule: all must match.
fn case_distinct_index() -> Result<(), String> {
    let me = nix::unistd::getpid();
    let parent = nix::unistd::getppid();
    load(json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["kill"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38, "args": [
            {"index": 0, "value": me.as_raw(), "op": "SCMP_CMP_EQ"},
            {"index": 1, "value": 0, "op": "SCMP_CMP_EQ"}
        ]}
    ]}))?;
    use nix::sys::signal::{kill, Signal};
    expect("kill(self, 0)", kill(me, None), Some(Errno::ENOSYS))?;
    expect("kill(parent, 0)", kill(parent, None), None)?;
    expect("kill(self, SIGCONT)", kill(me, Signal::SIGCONT), None)
}

/// SCMP_ACT_KILL_PROCESS and SCMP_ACT_TRAP end the process with SIGSYS.
fn case_fatal(case: &str, dir: &Path) -> Result<(), String> {
    // No core file for the expected SIGSYS.
    nix::sys::resource::setrlimit(nix::sys::resource::Resource::RLIMIT_CORE, 0, 0)
        .map_err(|e| format!("setrlimit: {e}"))?;
    let action = if case == "trap" {
        "SCMP_ACT_TRAP"
    } else {
        "SCMP_ACT_KILL_PROCESS"
    };
    load(json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": mkdir_rule(action, json!({}))}))?;
    let r = mkdir(dir, "a", 0o755);
    Err(format!(
        "mkdir returned {r:?} instead of killing the process"
    ))
}

/// SCMP_ACT_NOTIFY: the agent socket arrives as stdin, already connected
/// (as the runtime's parent would connect it before forking).
fn case_notify(dir: &Path) -> Result<(), String> {
    let sock = nix::unistd::dup(std::io::stdin()).map_err(|e| format!("dup: {e}"))?;
    // Only `sock` may keep the connection open: the agent reads until EOF.
    let null = std::fs::File::open("/dev/null").map_err(|e| e.to_string())?;
    nix::unistd::dup2_stdin(&null).map_err(|e| format!("dup2: {e}"))?;
    let path = dir.join("agent.sock");
    let notify_fd = load(json!({"defaultAction": "SCMP_ACT_ALLOW",
        "listenerPath": path, "listenerMetadata": "hello agent",
        "flags": ["SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
                  "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"],
        "syscalls": mkdir_rule("SCMP_ACT_NOTIFY", json!({}))}))?
    .ok_or("no notify fd")?;
    let pid = std::process::id() as i32;
    let state = json!({"ociVersion": "1.1.0", "id": "seccomp-notify", "status": "creating",
        "pid": pid, "bundle": dir})
    .to_string();
    seccomp::send_to_listener(sock, notify_fd.as_fd(), pid, &state, Some("hello agent"))
        .map_err(|e| e.to_string())?;
    drop(notify_fd);
    // The agent answers the first call with EXDEV, lets the second run.
    expect(
        "mkdir (agent: EXDEV)",
        mkdir(dir, "a", 0o755),
        Some(Errno::EXDEV),
    )?;
    expect("mkdir (agent: continue)", mkdir(dir, "b", 0o755), None)?;
    if !dir.join("b").is_dir() {
        return Err("the continued mkdir did not create the directory".into());
    }
    Ok(())
}

fn errno_of(e: std::io::Error) -> Errno {
    Errno::from_raw(e.raw_os_error().unwrap_or(0))
}

// ---- the parent side ------------------------------------------------------

struct Run {
    status: ExitStatus,
    stderr: String,
}

fn spawn(case: &str, dir: &Path, stdin: Option<OwnedFd>) -> Child {
    let exe = std::env::current_exe().expect("test binary path");
    let mut cmd = Command::new(exe);
    cmd.args([
        "child_entry",
        "--exact",
        "--nocapture",
        "--test-threads=1",
        "-q",
    ])
    .env(CASE_ENV, case)
    .env(DIR_ENV, dir)
    .stdout(Stdio::null())
    .stderr(Stdio::piped());
    cmd.stdin(stdin.map_or_else(Stdio::null, Stdio::from));
    cmd.spawn().expect("spawn the test binary as a child")
}

/// Waits for the child; kills it (by its pid) if it overruns.
fn finish(mut child: Child) -> Run {
    let deadline = Instant::now() + TIMEOUT;
    let status = loop {
        match child.try_wait().expect("wait for the child") {
            Some(s) => break s,
            None if Instant::now() > deadline => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("seccomp child {} timed out", child.id());
            }
            None => std::thread::sleep(Duration::from_millis(10)),
        }
    };
    let mut stderr = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut stderr);
    }
    Run { status, stderr }
}

fn run(case: &str) -> Run {
    let dir = tempfile::tempdir().expect("tempdir");
    finish(spawn(case, dir.path(), None))
}

fn assert_ok(case: &str) {
    let r = run(case);
    assert!(
        r.status.success(),
        "case {case}: {:?}\n{}",
        r.status,
        r.stderr
    );
}

#[test]
fn blocked_syscall_fails_with_the_configured_errno() {
    assert_ok("errno");
}

#[test]
fn docker_default_profile_runs_and_filters() {
    assert_ok("docker");
}

#[test]
fn default_action_returns_default_errno_ret() {
    assert_ok("default_errno");
}

#[test]
fn masked_equal_matches_on_the_masked_bits() {
    assert_ok("masked");
}

#[test]
fn conditions_on_one_argument_match_separately() {
    assert_ok("same_index");
}

#[test]
fn conditions_on_different_arguments_must_all_match() {
    assert_ok("distinct_index");
}

#[test]
fn kill_process_kills_with_sigsys() {
    let r = run("kill_process");
    assert_eq!(
        r.status.signal(),
        Some(libc::SIGSYS),
        "{:?}\n{}",
        r.status,
        r.stderr
    );
}

#[test]
fn trap_sends_sigsys() {
    let r = run("trap");
    assert_eq!(
        r.status.signal(),
        Some(libc::SIGSYS),
        "{:?}\n{}",
        r.status,
        r.stderr
    );
}

/// Waits up to the timeout for `fd` to become readable.
fn readable(fd: std::os::fd::BorrowedFd<'_>) -> bool {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    let mut fds = [PollFd::new(fd, PollFlags::POLLIN)];
    let ms = u16::try_from(TIMEOUT.as_millis()).unwrap_or(u16::MAX);
    matches!(poll(&mut fds, PollTimeout::from(ms)), Ok(n) if n > 0)
}

/// The thread group (process) of a thread id, from /proc.
fn tgid_of(tid: u32) -> Option<u32> {
    let status = std::fs::read_to_string(format!("/proc/{tid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("Tgid:"))
        .and_then(|v| v.trim().parse().ok())
}

#[test]
fn notify_listener_receives_the_fd_and_state() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("agent.sock");
    let agent = UnixListener::bind(&path).expect("bind the agent socket");
    // What the runtime's parent does before forking the container.
    let runtime_end = seccomp::connect_listener(&path).expect("connect to the agent");
    let (conn, _) = agent.accept().expect("accept");
    conn.set_read_timeout(Some(TIMEOUT)).expect("timeout");
    let child = spawn("notify", dir.path(), Some(runtime_end));
    let pid = child.id();

    let agent_side = || -> Result<(), String> {
        let (nfd, st) = seccomp::receive_from_runtime(conn.as_fd()).map_err(|e| e.to_string())?;
        assert_eq!(st.fds, [seccomp::SECCOMP_FD_NAME]);
        assert_eq!(st.pid, pid as i32);
        assert_eq!(st.metadata.as_deref(), Some("hello agent"));
        assert_eq!(st.oci_version, seccomp::PROCESS_STATE_VERSION);
        assert_eq!(st.state["id"], "seccomp-notify");
        assert_eq!(st.state["status"], "creating");
        for answer in [Response::Error(libc::EXDEV), Response::Continue] {
            if !readable(nfd.as_fd()) {
                return Err("no notification arrived".into());
            }
            let n = seccomp::receive_notification(nfd.as_fd()).map_err(|e| e.to_string())?;
            assert!(
                [libc::SYS_mkdir, libc::SYS_mkdirat].contains(&i64::from(n.syscall)),
                "{n:?}"
            );
            assert_eq!(
                tgid_of(n.pid),
                Some(pid),
                "the notification comes from the child"
            );
            assert!(seccomp::notification_id_valid(nfd.as_fd(), n.id));
            seccomp::respond(nfd.as_fd(), n.id, answer).map_err(|e| e.to_string())?;
        }
        Ok(())
    };
    let agent_result = agent_side();
    if agent_result.is_err() {
        // Unblock the child before waiting for it.
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid as i32),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
    let r = finish(child);
    agent_result.expect("the agent side");
    assert!(r.status.success(), "{:?}\n{}", r.status, r.stderr);
}

fn median(mut f: impl FnMut() -> Filter) -> (Duration, Duration) {
    let mut times: Vec<Duration> = (0..25)
        .map(|_| {
            let t = Instant::now();
            let filter = f();
            let d = t.elapsed();
            assert!(filter.instructions() > 0);
            d
        })
        .collect();
    times.sort();
    (times[times.len() / 2], times[0])
}

/// Prints what compiling Docker's profile costs (run with --nocapture).
#[test]
fn docker_profile_compile_time() {
    let s: LinuxSeccomp = serde_json::from_str(DOCKER_PROFILE).expect("parses");
    let (med, min) = median(|| Filter::compile(&s).expect("compiles"));
    eprintln!("docker default profile: compile median {med:?} (min {min:?})");
    let dir = tempfile::tempdir().expect("tempdir");
    let (med, min) = median(|| Filter::compile_cached(&s, dir.path()).expect("compiles"));
    eprintln!("docker default profile: compile_cached median {med:?} (min {min:?})");
}
