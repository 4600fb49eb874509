//! config.md Process (args, env, cwd, user, umask, rlimits, capabilities,
//! noNewPrivileges, oomScoreAdj, terminal, LSM labels), Root, and the
//! security cases (leaked fds, cwd outside the root, the runtime binary).

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::time::Duration;

use super::env::one_line;
use super::lifecycle::{checker, sleeper};
use super::{Env, Registry};
use crate::driver::CreateOptions;
use crate::harness::{read_pty, ConsoleSocket};
use crate::spec::Spec;
use crate::tap::TapReport;

fn rlimit_case(r: &mut Registry, name: &str, limits: &'static [(&'static str, u64, u64)]) {
    r.add(
        "process",
        &format!("rlimits-{name}"),
        "Process rlimits: getrlimit MUST match soft and hard",
        move |env| {
            let mut s = checker(&["process.rlimits"]);
            s.remove("/process/rlimits");
            for (k, soft, hard) in limits {
                s.rlimit(k, *soft, *hard);
            }
            let must: Vec<String> = limits
                .iter()
                .map(|(k, _, _)| format!("process.rlimits {k}"))
                .collect();
            let must: Vec<&str> = must.iter().map(String::as_str).collect();
            env.check(&s, &must)
        },
    );
}

fn caps_case(
    r: &mut Registry,
    name: &str,
    clause: &str,
    f: impl Fn(&mut Spec) + Send + Sync + 'static,
) {
    r.add(
        "process",
        &format!("capabilities-{name}"),
        clause,
        move |env| {
            let mut s = checker(&["process.capabilities", "process.user"]);
            f(&mut s);
            env.check(&s, &["process.capabilities"])
        },
    );
}

/// Run `spec` with a terminal over a console socket; the pty's output.
fn with_terminal(env: &Env, spec: &Spec) -> Result<String, super::Problem> {
    let b = env.bundle(spec)?;
    let sock = ConsoleSocket::listen(env.scratch())?;
    let id = env.id();
    let mut c = env.ctr(&id);
    let out = c.create(CreateOptions {
        console_socket: Some(sock.path().to_path_buf()),
        ..CreateOptions::bundle(b.path())
    })?;
    ensure!(out.success(), "create failed: {}", one_line(&out.stderr));
    let master = sock.master()?;
    ensure!(c.start()?.success(), "start failed");
    Ok(read_pty(master, Duration::from_secs(10))?)
}

fn terminal_case(r: &mut Registry, name: &str, clause: &str, args: &'static [&'static str]) {
    let must: Vec<&'static str> = args.iter().copied().filter(|a| !a.contains('=')).collect();
    r.add("process", name, clause, move |env| {
        let mut s = checker(args);
        s.terminal(true).console_size(33, 101);
        let text = with_terminal(env, &s)?;
        let tap = TapReport::parse(&text);
        if let Err(e) = tap.passed() {
            fail!("{}", one_line(&e));
        }
        for m in &must {
            if let Err(e) = tap.passed_unskipped(m) {
                fail!("{}", one_line(&e));
            }
        }
        Ok(())
    });
}

pub fn register(r: &mut Registry) {
    // ---- args, env, cwd ----
    r.add("process", "args", "Process args: argv as given", |env| {
        env.check(&checker(&["process.args"]), &["process.args"])
    });
    r.add(
        "process",
        "args-exact",
        "Process args: empty, spaced and dashed arguments reach the process unchanged",
        |env| {
            let s = Spec::new(&[
                "/bin/sh",
                "-c",
                "[ \"$0\" = zero ] && [ \"$1\" = 'one two' ] && [ -z \"$2\" ] \
                 && [ \"$3\" = --three ] && [ $# = 3 ] && echo ARGS-OK",
                "zero",
                "one two",
                "",
                "--three",
            ]);
            let (out, _) = env.run(&s)?;
            ensure!(
                out.success() && out.stdout.contains("ARGS-OK"),
                "the process saw other arguments (exit {}): {}",
                out.code,
                one_line(&out.stdout)
            );
            Ok(())
        },
    );
    r.add(
        "process",
        "args-path-lookup",
        "Process args: args[0] has execvp semantics (found through the container's PATH)",
        |env| {
            let mut s = Spec::new(&["keel-check", "process.args"]);
            s.env(&["PATH=/nonexistent:/"]);
            env.check(&s, &["process.args"])
        },
    );
    r.add(
        "process",
        "env",
        "Process env: the environment as given",
        |env| {
            let mut s = checker(&["process.env"]);
            s.env(&[
                "PATH=/bin",
                "FOO=bar baz",
                "EMPTY=",
                "WITH_EQUALS=a=b=c",
                "TERM=xterm",
            ]);
            env.check(&s, &["process.env"])
        },
    );
    r.add(
        "process",
        "env-not-inherited",
        "Process env: the caller's environment does not leak into the container",
        |env| {
            let s = checker(&[&format!(
                "lacks=/proc/self/environ={}",
                super::runner::MARKER_ENV
            )]);
            env.check(&s, &[])
        },
    );
    r.add(
        "process",
        "cwd",
        "Process cwd: the working directory",
        |env| {
            let mut s = checker(&["process.cwd", "cwd-inside"]);
            s.cwd("/tmp");
            env.check(&s, &["process.cwd"])
        },
    );
    r.add(
        "process",
        "cwd-missing-created",
        "runc behaviour: a missing cwd is created inside the rootfs",
        |env| {
            let mut s = checker(&["process.cwd", "cwd-inside"]);
            s.cwd("/new/work/dir");
            env.check(&s, &["process.cwd"])
        },
    );

    // ---- user ----
    r.add(
        "process",
        "user-uid-gid",
        "User: uid and gid in the container namespace",
        |env| {
            let mut s = checker(&["process.user"]);
            s.user(1000, 1000);
            env.check(&s, &["process.user"])
        },
    );
    r.add(
        "process",
        "user-additional-gids",
        "User: additionalGids are added to the process",
        |env| {
            let mut s = checker(&["process.user"]);
            s.user(1000, 1000).additional_gids(&[5, 65534]);
            env.check(&s, &["process.user"])
        },
    );
    r.add(
        "process",
        "user-root-groups-cleared",
        "User: without additionalGids the process has no supplementary groups",
        |env| env.check(&checker(&["process.user"]), &["process.user"]),
    );
    r.add(
        "process",
        "user-unmapped-uid",
        "User: a uid without a passwd entry is used as is",
        |env| {
            let mut s = checker(&["process.user"]);
            s.user(4242, 4343);
            env.check(&s, &["process.user"])
        },
    );
    r.add("process", "umask", "User: umask", |env| {
        let mut s = checker(&["process.umask"]);
        s.user(1000, 1000).umask(0o027);
        env.check(&s, &["process.umask"])
    });
    r.add("process", "umask-root", "User: umask of root", |env| {
        let mut s = checker(&["process.umask"]);
        s.umask(0o077);
        env.check(&s, &["process.umask"])
    });

    // ---- rlimits ----
    rlimit_case(r, "nofile", &[("RLIMIT_NOFILE", 256, 512)]);
    rlimit_case(r, "core-zero", &[("RLIMIT_CORE", 0, 0)]);
    rlimit_case(r, "nproc", &[("RLIMIT_NPROC", 1000, 2000)]);
    rlimit_case(
        r,
        "several",
        &[
            ("RLIMIT_NOFILE", 100, 200),
            ("RLIMIT_MSGQUEUE", 8192, 8192),
            ("RLIMIT_STACK", 8 << 20, 16 << 20),
            ("RLIMIT_CPU", 1000, 2000),
        ],
    );
    r.add(
        "process",
        "rlimits-duplicate-fails",
        "Process rlimits: duplicated types MUST generate an error",
        |env| {
            let mut s = sleeper();
            s.set(
                "/process/rlimits",
                serde_json::json!([
                    {"type": "RLIMIT_NOFILE", "soft": 100, "hard": 100},
                    {"type": "RLIMIT_NOFILE", "soft": 200, "hard": 200}
                ]),
            );
            env.expect_create_fails(&s)
        },
    );
    r.add(
        "process",
        "rlimits-unknown-fails",
        "Process rlimits: a type that cannot be mapped MUST generate an error",
        |env| {
            let mut s = sleeper();
            s.rlimit("RLIMIT_KEEL_BOGUS", 1, 1);
            env.expect_create_fails(&s)
        },
    );
    r.add(
        "process",
        "rlimits-raise-hard-limit",
        "Process rlimits: a hard limit above the caller's is set (needs CAP_SYS_RESOURCE)",
        |env| {
            if !env.host.cap_sys_resource {
                skip!("no CAP_SYS_RESOURCE in the bounding set");
            }
            let (_, hard) = crate::sys::getrlimit(libc::RLIMIT_NOFILE)?;
            let mut s = checker(&["process.rlimits"]);
            s.rlimit("RLIMIT_NOFILE", 1024, hard.saturating_add(1024));
            env.check(&s, &["process.rlimits RLIMIT_NOFILE"])
        },
    );
    r.add(
        "process",
        "rlimits-unsatisfiable-fails",
        "Process rlimits: a limit that cannot be set MUST generate an error",
        |env| {
            if env.host.cap_sys_resource {
                skip!("CAP_SYS_RESOURCE is available: every hard limit can be raised");
            }
            let (_, hard) = crate::sys::getrlimit(libc::RLIMIT_NOFILE)?;
            if hard == u64::MAX {
                skip!("RLIMIT_NOFILE is unlimited here");
            }
            let mut s = sleeper();
            s.rlimit("RLIMIT_NOFILE", 1024, hard + 1);
            env.expect_create_fails(&s)
        },
    );

    // ---- capabilities ----
    caps_case(
        r,
        "root-sets",
        "Capabilities: each of the five sets as given (root)",
        |s| {
            let set = [
                "CAP_CHOWN",
                "CAP_KILL",
                "CAP_NET_RAW",
                "CAP_SETUID",
                "CAP_SYS_CHROOT",
            ];
            s.caps("bounding", &set)
                .caps("permitted", &set)
                .caps("effective", &set[..3])
                .caps("inheritable", &["CAP_KILL"])
                .caps("ambient", &["CAP_KILL"]);
        },
    );
    caps_case(
        r,
        "user-ambient",
        "Capabilities: a non-root user keeps its ambient capabilities",
        |s| {
            s.user(1000, 1000)
                .all_caps(&["CAP_KILL", "CAP_NET_BIND_SERVICE"]);
        },
    );
    caps_case(
        r,
        "user-without-ambient",
        "Capabilities: a non-root user without ambient capabilities has none effective",
        |s| {
            s.user(1000, 1000).all_caps(&["CAP_KILL", "CAP_CHOWN"]);
            s.caps("ambient", &[]);
        },
    );
    caps_case(
        r,
        "none",
        "Capabilities: empty sets drop every capability",
        |s| {
            s.all_caps(&[]);
        },
    );
    caps_case(
        r,
        "bounding-only",
        "Capabilities: the bounding set as given, others empty",
        |s| {
            s.all_caps(&[]);
            s.caps("bounding", &["CAP_KILL", "CAP_SETGID"]);
        },
    );
    caps_case(
        r,
        "runc-default",
        "Capabilities: runc spec's default sets",
        |_| {},
    );
    r.add(
        "process",
        "capabilities-unknown-fails",
        "Capabilities (spec 1.1.0): a value that cannot be mapped MUST cause an error (runc and crun ignore it)",
        |env| {
            let mut s = sleeper();
            s.caps("bounding", &["CAP_KILL", "CAP_KEEL_BOGUS"]);
            env.expect_create_fails(&s)
        },
    );

    // ---- noNewPrivileges, oomScoreAdj ----
    for on in [true, false] {
        r.add(
            "process",
            &format!("noNewPrivileges-{on}"),
            "noNewPrivileges: set (or not) no_new_privs",
            move |env| {
                let mut s = checker(&["process.noNewPrivileges"]);
                s.no_new_privileges(on);
                env.check(&s, &["process.noNewPrivileges"])
            },
        );
    }
    r.add(
        "process",
        "oomScoreAdj-set",
        "oomScoreAdj: if set, the runtime MUST set oom_score_adj",
        |env| {
            let mut s = checker(&["process.oomScoreAdj"]);
            s.oom_score_adj(500);
            env.check(&s, &["process.oomScoreAdj"])
        },
    );
    r.add(
        "process",
        "oomScoreAdj-unset-unchanged",
        "oomScoreAdj: if not set, the runtime MUST NOT change oom_score_adj",
        |env| {
            let want = env.host.oom_score_adj;
            let s = checker(&[&format!("content=/proc/self/oom_score_adj={want}")]);
            env.check(&s, &[])
        },
    );
    r.add(
        "process",
        "oomScoreAdj-negative",
        "oomScoreAdj: a negative value is set (needs CAP_SYS_RESOURCE)",
        |env| {
            if !env.host.cap_sys_resource {
                skip!("no CAP_SYS_RESOURCE: a negative oom_score_adj cannot be set here");
            }
            let mut s = checker(&["process.oomScoreAdj"]);
            s.oom_score_adj(-500);
            env.check(&s, &["process.oomScoreAdj"])
        },
    );
    r.add(
        "process",
        "oomScoreAdj-unsatisfiable-fails",
        "Lifecycle: a value the runtime cannot set MUST generate an error",
        |env| {
            if env.host.cap_sys_resource {
                skip!("CAP_SYS_RESOURCE is available: negative values can be set");
            }
            let mut s = sleeper();
            s.oom_score_adj(-500);
            env.expect_create_fails(&s)
        },
    );

    // ---- terminal ----
    terminal_case(
        r,
        "terminal-stdio-is-pty",
        "terminal: a pty is duplicated on the standard streams",
        &["terminal", "tty=0,1,2"],
    );
    terminal_case(
        r,
        "terminal-console-size",
        "consoleSize: the console size of the terminal",
        &["consoleSize"],
    );
    terminal_case(
        r,
        "terminal-dev-console",
        "Default devices: /dev/console is set up when terminal is true",
        &["exists=/dev/console", "terminal"],
    );
    terminal_case(
        r,
        "terminal-env-and-fds",
        "terminal: only the pty on 0,1,2 and the environment as given",
        &["process.env", "fds=0,1,2"],
    );
    r.add(
        "process",
        "no-terminal-stdio-not-tty",
        "terminal false: the standard streams are not a terminal",
        |env| env.check(&checker(&["notty=0,1,2"]), &[]),
    );
    r.add(
        "process",
        "consoleSize-ignored-without-terminal",
        "consoleSize: MUST be ignored if terminal is false",
        |env| {
            let mut s = checker(&["notty=0,1,2", "process.args"]);
            s.console_size(10, 20);
            env.check(&s, &["process.args"])
        },
    );

    // ---- LSMs ----
    r.add(
        "process",
        "apparmorProfile",
        "apparmorProfile: the process runs under the profile",
        |env| {
            if !env.host.apparmor {
                skip!("no AppArmor on this machine");
            }
            let mut s = checker(&["contains=/proc/self/attr/current=unconfined"]);
            s.set("/process/apparmorProfile", serde_json::json!("unconfined"));
            env.check(&s, &[])
        },
    );
    r.add(
        "process",
        "selinuxLabel",
        "selinuxLabel: the process runs with the label",
        |env| {
            if !env.host.selinux {
                skip!("no SELinux on this machine");
            }
            let label = "system_u:system_r:container_t:s0";
            let mut s = checker(&[&format!("contains=/proc/self/attr/current={label}")]);
            s.set("/process/selinuxLabel", serde_json::json!(label));
            env.check(&s, &[])
        },
    );
    r.add(
        "process",
        "pid-1-in-pid-namespace",
        "Namespaces pid: the process is PID 1 of its new pid namespace",
        |env| env.check(&checker(&["pid=1"]), &["pid=1"]),
    );

    // ---- root ----
    r.add(
        "root",
        "readonly-true",
        "Root readonly: true MUST make the root filesystem read-only",
        |env| {
            let mut s = checker(&["root.readonly", "write=/probe:EROFS"]);
            s.readonly_root(true);
            env.check(&s, &["root.readonly"])
        },
    );
    r.add(
        "root",
        "readonly-false",
        "Root readonly: false (the default) leaves it writable",
        |env| {
            let s = checker(&["root.readonly", "write=/probe:ok"]);
            env.check(&s, &["root.readonly"])
        },
    );
    r.add(
        "root",
        "readonly-with-writable-tmpfs",
        "Root readonly: mounts on a read-only root stay writable",
        |env| {
            let mut s = checker(&["root.readonly", "write=/tmp/probe:ok", "mounts"]);
            s.readonly_root(true)
                .mount("/tmp", "tmpfs", "tmpfs", &["nosuid", "size=1m"]);
            env.check(&s, &["root.readonly", "mounts /tmp"])
        },
    );
    r.add(
        "root",
        "path-relative",
        "Root path: a path relative to the bundle",
        |env| env.check(&checker(&["exists=/keel-check"]), &[]),
    );
    r.add(
        "root",
        "path-absolute",
        "Root path: an absolute path",
        |env| {
            let s = checker(&["exists=/keel-check"]);
            let b = env.bundle(&s)?;
            let mut abs = s.clone();
            abs.root_path(&b.rootfs().to_string_lossy());
            b.write_spec(&abs)?;
            let (out, tap) = env.run_bundle(&b)?;
            super::env::judge_tap(&out, &tap, &["exists=/keel-check"])
        },
    );
    r.add(
        "root",
        "is-the-root",
        "Root: the container's / is root.path; the host filesystem is not visible",
        |env| {
            let marker = env.scratch_path("host-only");
            fs::write(&marker, "")?;
            let s = checker(&[
                "exists=/keel-check",
                &format!("absent={marker}"),
                "cwd-inside",
            ]);
            env.check(&s, &[])
        },
    );

    // ---- security ----
    r.add(
        "security",
        "only-stdio-fds",
        "CVE-2024-21626: only stdio (and --preserve-fds) reach the process",
        |env| {
            let s = checker(&["fds=0,1,2"]);
            let (tap, code) = env.create_start_wait(&s)?;
            if let Err(e) = tap.passed() {
                fail!("{}", one_line(&e));
            }
            ensure!(code.unwrap_or(0) == 0, "exit {code:?}");
            Ok(())
        },
    );
    r.add(
        "security",
        "cwd-through-leaked-fd",
        "CVE-2024-21626: a cwd of /proc/self/fd/N never resolves to a host directory",
        |env| {
            for n in 3..=8 {
                let mut s = checker(&["fds=0,1,2", "cwd-inside"]);
                s.cwd(&format!("/proc/self/fd/{n}"));
                let (out, tap) = env.run(&s)?;
                if out.code != 0 && tap.lines.is_empty() {
                    continue;
                }
                if let Err(e) = tap.passed() {
                    fail!("cwd /proc/self/fd/{n}: {}", one_line(&e));
                }
            }
            Ok(())
        },
    );
    r.add(
        "security",
        "preserve-fds",
        "runc CLI: --preserve-fds N passes exactly fds 3..3+N",
        |env| {
            let s = checker(&["fds=0,1,2,3,4"]);
            let b = env.bundle(&s)?;
            let id = env.id();
            let mut c = env.ctr(&id);
            let f1 = fs::File::open("/dev/null")?;
            let f2 = fs::File::open("/dev/null")?;
            let out = c.run(CreateOptions {
                preserve_fds: vec![f1.into(), f2.into()],
                ..CreateOptions::bundle(b.path())
            })?;
            let tap = TapReport::parse(&out.stdout);
            super::env::judge_tap(&out, &tap, &["fds"])
        },
    );
    r.add(
        "security",
        "runtime-binary-not-writable",
        "CVE-2019-5736: the runtime binary cannot be opened for writing through /proc/PID/exe",
        |env| {
            let (_b, c) = env.create(&sleeper())?;
            let Some(pid) = c.pid() else {
                fail!("no pid after create");
            };
            let exe = format!("/proc/{pid}/exe");
            let w = fs::OpenOptions::new().write(true).open(&exe);
            ensure!(w.is_err(), "{exe} could be opened for writing");
            Ok(())
        },
    );
    r.add(
        "security",
        "runtime-binary-sealed",
        "CVE-2019-5736: the created container's process is not the on-disk runtime binary",
        |env| {
            let (_b, c) = env.create(&sleeper())?;
            let Some(pid) = c.pid() else {
                fail!("no pid after create");
            };
            let exe = fs::metadata(format!("/proc/{pid}/exe"))?;
            let bin = fs::canonicalize(&env.target.bin)?;
            let on_disk = fs::metadata(&bin)?;
            if exe.dev() == on_disk.dev() && exe.ino() == on_disk.ino() {
                // A read-only bind mount of the binary (runc 1.1) shares the
                // inode; it must at least refuse writes, which the case above
                // checks. Here the process must not be the writable inode.
                let w = fs::OpenOptions::new().write(true).open(&bin);
                ensure!(
                    w.is_err(),
                    "the created container runs the on-disk, writable runtime binary {}",
                    bin.display()
                );
            }
            Ok(())
        },
    );
    r.add(
        "security",
        "symlinked-mount-target-stays-inside",
        "CVE-2021-30465: a mount destination through a symlink stays inside the rootfs",
        |env| {
            let host_dir = env.scratch().join("hostdir");
            fs::create_dir_all(&host_dir)?;
            let base = checker(&["fds=0,1,2"]);
            let b = env.bundle(&base)?;
            let escape = format!("/../../../../../../../..{}", host_dir.display());
            std::os::unix::fs::symlink(&escape, b.rootfs().join("evil"))?;
            let mut s = base.clone();
            s.mount("/evil/sub", "tmpfs", "tmpfs", &["size=64k"]);
            b.write_spec(&s)?;
            let (out, _) = env.run_bundle(&b)?;
            let created: Vec<_> = fs::read_dir(&host_dir)?
                .flatten()
                .map(|e| e.path())
                .collect();
            ensure!(
                created.is_empty(),
                "the runtime created {created:?} outside the rootfs (exit {})",
                out.code
            );
            let hd = host_dir.to_string_lossy();
            let leaked: Vec<String> = crate::host::mounts_mentioning(&hd)
                .into_iter()
                .filter(|l| !l.contains(&*b.path().to_string_lossy()))
                .collect();
            ensure!(leaked.is_empty(), "mounts on the host side: {leaked:?}");
            Ok(())
        },
    );
}
