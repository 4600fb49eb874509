//! config-linux.md Seccomp: actions, errno values, the default action,
//! argument operators, architectures, flags, and SCMP_ACT_NOTIFY with a
//! seccomp agent listening on `listenerPath`. The container probes the
//! syscalls itself (keel-check `syscall=NAME:ARGS:WANT`).

use std::io::Read;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::env::one_line;
use super::lifecycle::checker;
use super::{CaseResult, Env, Registry};
use crate::spec::Spec;
use crate::sys;

/// The syscalls a static program and the runtimes' last steps need, for
/// profiles whose default action denies.
const ALLOWLIST: &[&str] = &[
    "read",
    "write",
    "readv",
    "writev",
    "pread64",
    "pwrite64",
    "open",
    "openat",
    "openat2",
    "close",
    "close_range",
    "stat",
    "fstat",
    "lstat",
    "newfstatat",
    "statx",
    "lseek",
    "mmap",
    "mprotect",
    "munmap",
    "brk",
    "rt_sigaction",
    "rt_sigprocmask",
    "rt_sigreturn",
    "ioctl",
    "access",
    "faccessat",
    "faccessat2",
    "pipe",
    "pipe2",
    "dup",
    "dup2",
    "dup3",
    "nanosleep",
    "clock_nanosleep",
    "getpid",
    "getppid",
    "gettid",
    "exit",
    "exit_group",
    "execve",
    "execveat",
    "fcntl",
    "getdents64",
    "readlink",
    "readlinkat",
    "getuid",
    "geteuid",
    "getgid",
    "getegid",
    "getgroups",
    "setgroups",
    "setuid",
    "setgid",
    "setresuid",
    "setresgid",
    "capget",
    "capset",
    "prctl",
    "arch_prctl",
    "set_tid_address",
    "set_robust_list",
    "get_robust_list",
    "rseq",
    "futex",
    "futex_waitv",
    "sched_yield",
    "sched_getaffinity",
    "getrandom",
    "prlimit64",
    "getrlimit",
    "setrlimit",
    "sigaltstack",
    "poll",
    "ppoll",
    "select",
    "pselect6",
    "epoll_create1",
    "epoll_ctl",
    "epoll_pwait",
    "epoll_wait",
    "tgkill",
    "kill",
    "madvise",
    "mremap",
    "clone",
    "clone3",
    "wait4",
    "waitid",
    "umask",
    "chdir",
    "fchdir",
    "getcwd",
    "fstatfs",
    "statfs",
    "clock_gettime",
    "gettimeofday",
    "time",
    "sysinfo",
    "socket",
    "connect",
    "sendto",
    "recvfrom",
    "sendmsg",
    "recvmsg",
    "getsockname",
    "getpeername",
    "setsockopt",
    "getsockopt",
    "flock",
    "fsync",
    "fdatasync",
    "ftruncate",
    "getpriority",
    "setpriority",
    "personality",
    "membarrier",
    "seccomp",
    "keyctl",
];

fn profile(default: &str, rules: Value) -> Value {
    json!({
        "defaultAction": default,
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "syscalls": rules,
    })
}

fn rule(names: &[&str], action: &str) -> Value {
    json!({"names": names, "action": action})
}

/// keel-check with `args` under `seccomp`; every point must pass.
fn check_with(env: &Env, seccomp: Value, args: &[&str]) -> CaseResult {
    let mut s = checker(args);
    s.set("/linux/seccomp", seccomp);
    let must: Vec<&str> = args
        .iter()
        .copied()
        .filter(|a| a.starts_with("syscall="))
        .collect();
    let must: Vec<String> = must
        .iter()
        .map(|a| {
            let v = a.trim_start_matches("syscall=");
            let mut p = v.splitn(3, ':');
            let name = p.next().unwrap_or("");
            let argv = p.next().unwrap_or("");
            format!("syscall={name}({argv})")
        })
        .collect();
    let must: Vec<&str> = must.iter().map(String::as_str).collect();
    env.check(&s, &must)
}

/// `uname` under a one-rule profile with `action` kills the process.
fn killed_by(env: &Env, action: &str) -> CaseResult {
    let mut s = checker(&["syscall=uname::ok"]);
    s.set(
        "/linux/seccomp",
        profile("SCMP_ACT_ALLOW", json!([rule(&["uname"], action)])),
    );
    let (out, tap) = env.run(&s)?;
    ensure!(
        out.code == 128 + libc::SIGSYS,
        "exit {} (want {}: killed by SIGSYS); output: {}",
        out.code,
        128 + libc::SIGSYS,
        one_line(&tap.raw)
    );
    Ok(())
}

fn op_case(
    r: &mut Registry,
    op: &'static str,
    value: u64,
    value_two: Option<u64>,
    probes: &'static [(&'static str, &'static str)],
) {
    r.add(
        "seccomp",
        &format!("args-{}", op.trim_start_matches("SCMP_CMP_").to_lowercase()),
        &format!("Seccomp args: operator {op}"),
        move |env| {
            let mut arg = json!({"index": 0, "value": value, "op": op});
            if let Some(v2) = value_two {
                arg["valueTwo"] = json!(v2);
            }
            let rules = json!([{"names": ["flock"], "action": "SCMP_ACT_ERRNO",
                                "errnoRet": 42, "args": [arg]}]);
            let args: Vec<String> = probes
                .iter()
                .map(|(fd, want)| format!("syscall=flock:{fd},1:{want}"))
                .collect();
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            check_with(env, profile("SCMP_ACT_ALLOW", rules), &args)
        },
    );
}

/// A seccomp agent: accepts one connection on `listenerPath`, reads the
/// container process state and the listener fd, and answers every
/// notification with EXDEV until the filter's processes are gone.
struct Agent {
    path: PathBuf,
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<Result<(Value, usize), String>>>,
}

impl Agent {
    fn start(dir: &Path) -> Result<Agent, super::Problem> {
        let path = dir.join("seccomp.sock");
        let listener = UnixListener::bind(&path)?;
        listener.set_nonblocking(true)?;
        let stop = Arc::new(AtomicBool::new(false));
        let st = stop.clone();
        let handle = std::thread::spawn(move || serve(listener, &st));
        Ok(Agent {
            path,
            stop,
            handle: Some(handle),
        })
    }

    fn finish(mut self) -> Result<(Value, usize), String> {
        self.stop.store(true, Ordering::Relaxed);
        match self.handle.take() {
            Some(h) => h.join().map_err(|_| "the agent thread died".to_string())?,
            None => Err("no agent".into()),
        }
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

fn serve(listener: UnixListener, stop: &AtomicBool) -> Result<(Value, usize), String> {
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut stream = loop {
        match listener.accept() {
            Ok((s, _)) => break s,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                if stop.load(Ordering::Relaxed) || Instant::now() > deadline {
                    return Err("no connection on listenerPath".into());
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(e) => return Err(format!("accept: {e}")),
        }
    };
    stream
        .set_nonblocking(false)
        .and_then(|()| stream.set_read_timeout(Some(Duration::from_secs(5))))
        .map_err(|e| e.to_string())?;
    let (mut data, fds) = sys::recv_fds_with_data(&stream).map_err(|e| format!("recvmsg: {e}"))?;
    // The state may span several messages: read until it parses or the
    // runtime closes the connection.
    let mut buf = [0u8; 4096];
    let state: Value = loop {
        if let Ok(v) = serde_json::from_slice(&data) {
            break v;
        }
        match stream.read(&mut buf) {
            Ok(n) if n > 0 => data.extend_from_slice(&buf[..n]),
            _ => {
                return Err(format!(
                    "bad container process state {:?}",
                    String::from_utf8_lossy(&data)
                ))
            }
        }
    };
    let Some(fd) = fds.first() else {
        return Err("the runtime sent no seccomp fd".into());
    };
    let mut handled = 0;
    while Instant::now() < deadline {
        match sys::poll_readable(fd.as_raw_fd(), 50) {
            Ok(true) => {
                if let Ok(n) = sys::seccomp_notif_recv(fd.as_raw_fd()) {
                    let _ = sys::seccomp_notif_send(fd.as_raw_fd(), n.id, libc::EXDEV, 0);
                    handled += 1;
                }
            }
            Ok(false) => {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
            }
            Err(_) => break,
        }
    }
    Ok((state, handled))
}

fn notify_spec(agent: &Agent, args: &[&str]) -> Spec {
    let mut s = checker(args);
    s.set(
        "/linux/seccomp",
        json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
            "listenerPath": agent.path.to_string_lossy(),
            "listenerMetadata": "keel-conformance-metadata",
            "syscalls": [rule(&["mkdir"], "SCMP_ACT_NOTIFY")],
        }),
    );
    s
}

pub fn register(r: &mut Registry) {
    r.add(
        "seccomp",
        "errno-default-eperm",
        "Seccomp: SCMP_ACT_ERRNO without errnoRet returns EPERM (a profile blocking getcwd still starts)",
        |env| {
            check_with(
                env,
                profile("SCMP_ACT_ALLOW", json!([rule(&["getcwd"], "SCMP_ACT_ERRNO")])),
                &["syscall=getcwd::EPERM", "syscall=uname::ok"],
            )
        },
    );
    r.add(
        "seccomp",
        "errnoRet",
        "Seccomp: errnoRet is the errno returned",
        |env| {
            check_with(
                env,
                profile(
                    "SCMP_ACT_ALLOW",
                    json!([{"names": ["uname"], "action": "SCMP_ACT_ERRNO", "errnoRet": 42}]),
                ),
                &["syscall=uname::ENOMSG"],
            )
        },
    );
    r.add(
        "seccomp",
        "defaultAction-errno",
        "Seccomp: defaultAction applies to every syscall without a rule",
        |env| {
            check_with(
                env,
                profile("SCMP_ACT_ERRNO", json!([rule(ALLOWLIST, "SCMP_ACT_ALLOW")])),
                &["syscall=uname::EPERM", "syscall=getpid::ok"],
            )
        },
    );
    r.add(
        "seccomp",
        "defaultErrnoRet",
        "Seccomp: defaultErrnoRet is the errno of the default action",
        |env| {
            let mut p = profile("SCMP_ACT_ERRNO", json!([rule(ALLOWLIST, "SCMP_ACT_ALLOW")]));
            p["defaultErrnoRet"] = json!(38);
            check_with(env, p, &["syscall=uname::ENOSYS", "syscall=getpid::ok"])
        },
    );
    r.add(
        "seccomp",
        "allow-rule",
        "Seccomp: SCMP_ACT_ALLOW lets a syscall through a denying default",
        |env| {
            let mut names = ALLOWLIST.to_vec();
            names.push("uname");
            check_with(
                env,
                profile("SCMP_ACT_ERRNO", json!([rule(&names, "SCMP_ACT_ALLOW")])),
                &["syscall=uname::ok", "syscall=getsid:0:EPERM"],
            )
        },
    );
    r.add(
        "seccomp",
        "action-kill",
        "Seccomp: SCMP_ACT_KILL kills the process",
        |env| killed_by(env, "SCMP_ACT_KILL"),
    );
    r.add(
        "seccomp",
        "action-kill-process",
        "Seccomp: SCMP_ACT_KILL_PROCESS kills the process",
        |env| killed_by(env, "SCMP_ACT_KILL_PROCESS"),
    );
    r.add(
        "seccomp",
        "action-kill-thread",
        "Seccomp: SCMP_ACT_KILL_THREAD kills the (only) thread",
        |env| killed_by(env, "SCMP_ACT_KILL_THREAD"),
    );
    r.add(
        "seccomp",
        "action-trap",
        "Seccomp: SCMP_ACT_TRAP sends SIGSYS",
        |env| killed_by(env, "SCMP_ACT_TRAP"),
    );
    r.add(
        "seccomp",
        "action-trace-without-tracer",
        "Seccomp: SCMP_ACT_TRACE without a tracer fails the syscall with ENOSYS",
        |env| {
            check_with(
                env,
                profile(
                    "SCMP_ACT_ALLOW",
                    json!([rule(&["uname"], "SCMP_ACT_TRACE")]),
                ),
                &["syscall=uname::ENOSYS"],
            )
        },
    );
    r.add(
        "seccomp",
        "action-log",
        "Seccomp: SCMP_ACT_LOG allows (and logs) the syscall",
        |env| {
            check_with(
                env,
                profile("SCMP_ACT_ALLOW", json!([rule(&["uname"], "SCMP_ACT_LOG")])),
                &["syscall=uname::ok", "status=Seccomp=2"],
            )
        },
    );
    op_case(
        r,
        "SCMP_CMP_EQ",
        1000,
        None,
        &[("1000", "ENOMSG"), ("1001", "EBADF")],
    );
    op_case(
        r,
        "SCMP_CMP_NE",
        1000,
        None,
        &[("1000", "EBADF"), ("1001", "ENOMSG")],
    );
    op_case(
        r,
        "SCMP_CMP_LT",
        1000,
        None,
        &[("999", "ENOMSG"), ("1000", "EBADF")],
    );
    op_case(
        r,
        "SCMP_CMP_LE",
        1000,
        None,
        &[("1000", "ENOMSG"), ("1001", "EBADF")],
    );
    op_case(
        r,
        "SCMP_CMP_GT",
        1000,
        None,
        &[("1001", "ENOMSG"), ("1000", "EBADF")],
    );
    op_case(
        r,
        "SCMP_CMP_GE",
        1000,
        None,
        &[("1000", "ENOMSG"), ("999", "EBADF")],
    );
    op_case(
        r,
        "SCMP_CMP_MASKED_EQ",
        0xff00,
        Some(0x0300),
        &[("1000", "ENOMSG"), ("1256", "EBADF")],
    );
    r.add(
        "seccomp",
        "args-all-must-match",
        "Seccomp args: several conditions on one rule must all hold",
        |env| {
            let rules = json!([{"names": ["flock"], "action": "SCMP_ACT_ERRNO", "errnoRet": 42,
                "args": [{"index": 0, "value": 1000, "op": "SCMP_CMP_EQ"},
                         {"index": 1, "value": 2, "op": "SCMP_CMP_EQ"}]}]);
            check_with(
                env,
                profile("SCMP_ACT_ALLOW", rules),
                &["syscall=flock:1000,2:ENOMSG", "syscall=flock:1000,1:EBADF"],
            )
        },
    );
    r.add(
        "seccomp",
        "several-names",
        "Seccomp: one rule with several names",
        |env| {
            check_with(
                env,
                profile(
                    "SCMP_ACT_ALLOW",
                    json!([rule(&["uname", "getcwd"], "SCMP_ACT_ERRNO")]),
                ),
                &["syscall=uname::EPERM", "syscall=getcwd::EPERM"],
            )
        },
    );
    r.add(
        "seccomp",
        "several-rules",
        "Seccomp: several rules, each with its own action and errno",
        |env| {
            check_with(
                env,
                profile(
                    "SCMP_ACT_ALLOW",
                    json!([
                        {"names": ["uname"], "action": "SCMP_ACT_ERRNO", "errnoRet": 42},
                        {"names": ["getcwd"], "action": "SCMP_ACT_ERRNO", "errnoRet": 18},
                        {"names": ["getpid"], "action": "SCMP_ACT_ALLOW"}
                    ]),
                ),
                &[
                    "syscall=uname::ENOMSG",
                    "syscall=getcwd::EXDEV",
                    "syscall=getpid::ok",
                ],
            )
        },
    );
    r.add(
        "seccomp",
        "no-architectures",
        "Seccomp: architectures is OPTIONAL (the native one applies)",
        |env| {
            let p = json!({"defaultAction": "SCMP_ACT_ALLOW",
                           "syscalls": [rule(&["uname"], "SCMP_ACT_ERRNO")]});
            check_with(env, p, &["syscall=uname::EPERM"])
        },
    );
    for flag in ["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW"] {
        r.add(
            "seccomp",
            &format!(
                "flag-{}",
                flag.trim_start_matches("SECCOMP_FILTER_FLAG_")
                    .to_lowercase()
            ),
            &format!("Seccomp flags: {flag}"),
            move |env| {
                let mut p = profile(
                    "SCMP_ACT_ALLOW",
                    json!([rule(&["uname"], "SCMP_ACT_ERRNO")]),
                );
                p["flags"] = json!([flag]);
                check_with(env, p, &["syscall=uname::EPERM"])
            },
        );
    }
    r.add(
        "seccomp",
        "filter-mode",
        "Seccomp: the process runs in filter mode",
        |env| {
            check_with(
                env,
                profile(
                    "SCMP_ACT_ALLOW",
                    json!([rule(&["uname"], "SCMP_ACT_ERRNO")]),
                ),
                &["status=Seccomp=2"],
            )
        },
    );
    r.add(
        "seccomp",
        "no-profile-no-filter",
        "Seccomp: without linux.seccomp the runtime adds no filter",
        |env| env.check(&checker(&["status=Seccomp=0"]), &[]),
    );
    r.add(
        "seccomp",
        "without-no-new-privileges",
        "Seccomp: the filter applies with noNewPrivileges false",
        |env| {
            let mut s = checker(&["syscall=uname::EPERM", "status=NoNewPrivs=0"]);
            s.no_new_privileges(false).set(
                "/linux/seccomp",
                profile(
                    "SCMP_ACT_ALLOW",
                    json!([rule(&["uname"], "SCMP_ACT_ERRNO")]),
                ),
            );
            env.check(&s, &["syscall=uname()"])
        },
    );
    r.add(
        "seccomp",
        "non-root-user",
        "Seccomp: the filter applies to a non-root user without capabilities",
        |env| {
            let mut s = checker(&["syscall=uname::EPERM"]);
            s.user(1000, 1000).all_caps(&[]).set(
                "/linux/seccomp",
                profile(
                    "SCMP_ACT_ALLOW",
                    json!([rule(&["uname"], "SCMP_ACT_ERRNO")]),
                ),
            );
            env.check(&s, &["syscall=uname()"])
        },
    );
    r.add(
        "seccomp",
        "inherited-by-children",
        "Seccomp: the filter is inherited by the process's children",
        |env| {
            let mut s = Spec::new(&["/bin/sh", "-c", "/keel-check syscall=uname::EPERM; exit $?"]);
            s.set(
                "/linux/seccomp",
                profile(
                    "SCMP_ACT_ALLOW",
                    json!([rule(&["uname"], "SCMP_ACT_ERRNO")]),
                ),
            );
            env.check(&s, &["syscall=uname()"])
        },
    );
    r.add(
        "seccomp",
        "notify",
        "Seccomp: SCMP_ACT_NOTIFY hands the listener fd to the agent at listenerPath",
        |env| {
            let agent = Agent::start(env.scratch())?;
            let s = notify_spec(&agent, &["syscall=mkdir::EXDEV"]);
            let (out, tap) = env.run(&s)?;
            let report = agent.finish();
            super::env::judge_tap(&out, &tap, &["syscall=mkdir()"]).map_err(|e| match &report {
                Err(a) => super::Problem::Fail(format!("{e:?}; agent: {a}")),
                Ok(_) => e,
            })?;
            let (_, handled) = report.map_err(super::Problem::Fail)?;
            ensure!(handled >= 1, "the agent answered no notification");
            Ok(())
        },
    );
    r.add(
        "seccomp",
        "notify-container-process-state",
        "Seccomp: the agent gets the container process state (fds, pid, metadata, state)",
        |env| {
            let agent = Agent::start(env.scratch())?;
            let s = notify_spec(&agent, &["syscall=mkdir::EXDEV"]);
            let (out, _) = env.run(&s)?;
            let (st, _) = agent.finish().map_err(super::Problem::Fail)?;
            ensure!(
                out.success(),
                "run failed ({}): {}",
                out.code,
                one_line(&out.stderr)
            );
            ensure!(st["ociVersion"].is_string(), "no ociVersion in {st}");
            ensure!(
                st["fds"] == json!(["seccompFd"]),
                "fds {} (want [\"seccompFd\"])",
                st["fds"]
            );
            ensure!(st["pid"].as_i64().unwrap_or(0) > 0, "no pid in {st}");
            ensure!(
                st["metadata"] == "keel-conformance-metadata",
                "metadata {}",
                st["metadata"]
            );
            ensure!(
                st["state"]["id"].is_string() && st["state"]["bundle"].is_string(),
                "state {}",
                st["state"]
            );
            Ok(())
        },
    );
    r.add(
        "seccomp",
        "notify-listener-unreachable-fails",
        "Seccomp: if sending to listenerPath fails, the runtime MUST generate an error",
        |env| {
            let mut s = super::lifecycle::sleeper();
            s.set(
                "/linux/seccomp",
                json!({"defaultAction": "SCMP_ACT_ALLOW",
                       "listenerPath": env.scratch_path("nobody-listens.sock"),
                       "syscalls": [rule(&["mkdir"], "SCMP_ACT_NOTIFY")]}),
            );
            env.expect_create_fails(&s)
        },
    );
    r.add(
        "seccomp",
        "unknown-action-fails",
        "Valid values: an unknown seccomp action MUST generate an error",
        |env| {
            let mut s = super::lifecycle::sleeper();
            s.set(
                "/linux/seccomp",
                profile(
                    "SCMP_ACT_ALLOW",
                    json!([rule(&["uname"], "SCMP_ACT_KEEL_BOGUS")]),
                ),
            );
            env.expect_create_fails(&s)
        },
    );
    r.add(
        "seccomp",
        "unknown-architecture-fails",
        "Valid values: an unknown architecture MUST generate an error",
        |env| {
            let mut s = super::lifecycle::sleeper();
            s.set(
                "/linux/seccomp",
                json!({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_KEEL"],
                       "syscalls": [rule(&["uname"], "SCMP_ACT_ERRNO")]}),
            );
            env.expect_create_fails(&s)
        },
    );
    r.add(
        "seccomp",
        "unknown-operator-fails",
        "Valid values: an unknown argument operator MUST generate an error",
        |env| {
            let mut s = super::lifecycle::sleeper();
            s.set(
                "/linux/seccomp",
                profile(
                    "SCMP_ACT_ALLOW",
                    json!([{"names": ["flock"], "action": "SCMP_ACT_ERRNO",
                            "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_KEEL"}]}]),
                ),
            );
            env.expect_create_fails(&s)
        },
    );
    r.add(
        "seccomp",
        "errnoRet-on-kill-fails",
        "Seccomp: errnoRet on an action without an errno MUST print an error and fail",
        |env| {
            let mut s = super::lifecycle::sleeper();
            s.set(
                "/linux/seccomp",
                profile(
                    "SCMP_ACT_ALLOW",
                    json!([{"names": ["uname"], "action": "SCMP_ACT_KILL", "errnoRet": 5}]),
                ),
            );
            env.expect_create_fails(&s)
        },
    );
}
