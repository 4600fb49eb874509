//! `RUN --mount` end to end: real builds on a busybox base
//! (`hack/engines/mkimage.sh`) through the hoist binary, keel-shim and
//! keel, one test per mount type (cache, bind, tmpfs, secret, ssh). The
//! layers are read from the store, the images unpacked with `hoist unpack`.
//!
//! Needs root, `keel` and `keel-shim` built next to hoist, and
//! busybox-static; otherwise each test prints a loud SKIPPED line. Every
//! test cleans up its mounts and containers even when it fails (the `Env`
//! guard); the fake ssh agent is a thread of the test, stopped by a flag.

mod common;

use std::collections::BTreeSet;
use std::fs;
use std::io::{Read, Write};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{ensure, Context as _, Result};

use common::{keel_bin, require, Env};

/// What hoist runs without (`--ssh default` takes $SSH_AUTH_SOCK only
/// where a test sets it).
const UNSET: &[&str] = &["SOURCE_DATE_EPOCH", "HOIST_SNAPSHOTTER", "SSH_AUTH_SOCK"];

impl Env {
    /// The entry names of every layer of the image but the base.
    fn layer_paths(&self, image: &str) -> Result<BTreeSet<String>> {
        Ok(self
            .layers(image)?
            .into_iter()
            .skip(1)
            .flat_map(|l| l.into_keys())
            .collect())
    }
    /// Nothing mounted, no container, no scratch left; fsck clean.
    fn clean(&self) -> Result<()> {
        ensure!(
            self.mounts().is_empty(),
            "left mounted: {:?}",
            self.mounts()
        );
        let containers = self.runtime_containers(&keel_bin())?;
        ensure!(containers.is_empty(), "containers left: {containers:?}");
        self.tmp_is_empty()?;
        self.fsck_clean()
    }
    fn cache_dir(&self, id: &str) -> PathBuf {
        self.store()
            .join("cache-mounts")
            .join(hoist::digest::Digest::of(id.as_bytes()).hex())
    }
}

fn read(root: &Path, p: &str) -> Result<String> {
    fs::read_to_string(root.join(p)).with_context(|| format!("read /{p} of the image"))
}

const CACHE: &str = "FROM busybox
RUN --mount=type=cache,target=/c sh -c 'n=$(cat /c/n 2>/dev/null || echo 0); echo $((n+1)) > /c/n; cp /c/n /count'
RUN --mount=type=cache,id=owned,target=/o,uid=1000,gid=1000,mode=0700 stat -c '%u %g %a' /o > /owned
";

#[test]
fn cache_mount_persists_across_builds_and_stays_out_of_layers_and_keys() -> Result<()> {
    require!();
    let env = Env::for_run_steps(UNSET)?;
    let ctx = env.context("ctx", &[("Dockerfile", CACHE)])?;
    env.build(&ctx, &["-t", "c"]).ok()?;
    let root = env.unpack("c", "un1")?;
    ensure!(read(&root, "count")? == "1\n");
    ensure!(read(&root, "owned")? == "1000 1000 700\n");
    let paths = env.layer_paths("c")?;
    ensure!(
        paths
            .iter()
            .all(|p| !p.starts_with("c/") && !p.starts_with("o/") && p != "c" && p != "o"),
        "a cache mount reached a layer: {paths:?}"
    );
    // Stored by id (default: the target), persistent.
    let n = env.cache_dir("/c").join("0/n");
    ensure!(
        fs::read_to_string(&n)? == "1\n",
        "cache dir at {}",
        n.display()
    );
    env.build(&ctx, &["-t", "c", "--no-cache"]).ok()?;
    ensure!(read(&env.unpack("c", "un2")?, "count")? == "2\n");

    // The cache's contents are not in the key: a changed cache still hits.
    fs::write(&n, "41\n")?;
    let r = env.build(&ctx, &["-t", "c"]).ok()?;
    ensure!(
        r.step_cached("target=/c ")?,
        "changed cache contents missed:\n{}",
        r.stderr
    );
    env.build(&ctx, &["-t", "c", "--no-cache"]).ok()?;
    ensure!(read(&env.unpack("c", "un3")?, "count")? == "42\n");

    // prune removes cache mounts, as docker builder prune does.
    let r = env.hoist(&["prune"]).ok()?;
    ensure!(
        !env.cache_dir("/c").exists(),
        "prune left the cache: {}",
        r.stdout
    );
    env.build(&ctx, &["-t", "c", "--no-cache"]).ok()?;
    ensure!(read(&env.unpack("c", "un4")?, "count")? == "1\n");
    env.clean()
}

#[test]
fn cache_mount_seeded_from_a_stage_once() -> Result<()> {
    require!();
    let env = Env::for_run_steps(UNSET)?;
    let df = "FROM busybox AS seed
RUN mkdir /s && echo seeded > /s/v
FROM busybox
RUN --mount=type=cache,id=sd,from=seed,source=/s,target=/c sh -c 'cat /c/v > /got; echo more >> /c/v'
";
    let ctx = env.context("ctx", &[("Dockerfile", df)])?;
    env.build(&ctx, &["-t", "s"]).ok()?;
    ensure!(read(&env.unpack("s", "un1")?, "got")? == "seeded\n");
    // The second run sees the cache, not a new seed.
    env.build(&ctx, &["-t", "s", "--no-cache"]).ok()?;
    ensure!(read(&env.unpack("s", "un2")?, "got")? == "seeded\nmore\n");
    let paths = env.layer_paths("s")?;
    ensure!(paths.iter().all(|p| !p.starts_with('c')), "{paths:?}");
    env.clean()
}

/// Two stages using one cache at the same time: each marks itself busy,
/// waits, and notes whether the other was busy meanwhile.
fn sharing_dockerfile(sharing: &str) -> String {
    let run = |me: &str, other: &str| {
        format!(
            "RUN --mount=type=cache,id=sh-{sharing},target=/c,sharing={sharing} sh -c \
             'touch /c/busy-{me}; sleep 2; if [ -e /c/busy-{other} ]; then echo overlap >> /c/log; fi; \
             rm /c/busy-{me}; echo {me} >> /c/log; cp /c/log /log-{me}'\n"
        )
    };
    format!(
        "FROM busybox AS a\n{}FROM busybox AS b\n{}FROM busybox\nCOPY --from=a /log-a /\nCOPY --from=b /log-b /\n",
        run("a", "b"),
        run("b", "a")
    )
}

#[test]
fn cache_mount_sharing_locked_serializes_shared_overlaps_private_splits() -> Result<()> {
    require!();
    let env = Env::for_run_steps(UNSET)?;
    for sharing in ["locked", "shared", "private"] {
        let name = format!("ctx-{sharing}");
        let ctx = env.context(&name, &[("Dockerfile", &sharing_dockerfile(sharing))])?;
        let t = std::time::Instant::now();
        env.build(&ctx, &["-t", sharing, "--jobs", "2"]).ok()?;
        let secs = t.elapsed().as_secs_f64();
        let root = env.unpack(sharing, &format!("un-{sharing}"))?;
        let logs = format!("{}{}", read(&root, "log-a")?, read(&root, "log-b")?);
        let instances: Vec<String> = fs::read_dir(env.cache_dir(&format!("sh-{sharing}")))?
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| !n.ends_with(".lock"))
            .collect();
        match sharing {
            "locked" => {
                ensure!(!logs.contains("overlap"), "locked steps overlapped: {logs}");
                ensure!(
                    secs >= 4.0,
                    "locked steps ran in {secs}s: not one after the other"
                );
                // The second one saw the first's line.
                ensure!(logs.lines().count() == 3, "{logs}");
            }
            "shared" => {
                ensure!(
                    logs.contains("overlap"),
                    "shared steps did not run together: {logs}"
                );
                ensure!(instances == ["0"], "{instances:?}");
            }
            _ => {
                ensure!(
                    !logs.contains("overlap"),
                    "private steps shared a dir: {logs}"
                );
                ensure!(logs == "a\nb\n", "each private user starts empty: {logs}");
                ensure!(instances.len() == 2, "two private instances: {instances:?}");
            }
        }
    }
    env.clean()
}

#[test]
fn bind_mounts_from_the_context_and_a_stage() -> Result<()> {
    require!();
    let env = Env::for_run_steps(UNSET)?;
    let df = "FROM busybox AS gen
RUN mkdir /out && echo from-stage > /out/f
FROM busybox
RUN --mount=type=bind,target=/src sh -c 'cat /src/a.txt > /ro-a; if touch /src/new 2>/dev/null; then echo writable; else echo readonly; fi > /ro; ls -A /src | tr \"\\n\" \" \" > /ro-ls'
RUN --mount=type=bind,target=/src,rw sh -c 'echo changed > /src/a.txt && touch /src/new && cat /src/a.txt > /rw'
RUN --mount=type=bind,source=esc,target=/e sh -c 'ls /e | tr \"\\n\" \" \" > /esc'
RUN --mount=type=bind,from=gen,source=/out,target=/in cat /in/f > /from-stage
WORKDIR /w
RUN --mount=type=bind,source=sub/b.txt,target=rel.txt cat /w/rel.txt > /rel
";
    let ctx = env.context(
        "ctx",
        &[
            ("Dockerfile", df),
            ("a.txt", "hello\n"),
            ("sub/b.txt", "bee\n"),
            ("ignored.txt", "nope\n"),
            (".dockerignore", "ignored.txt\n"),
        ],
    )?;
    std::os::unix::fs::symlink("/", ctx.join("esc"))?;
    env.build(&ctx, &["-t", "b"]).ok()?;
    let root = env.unpack("b", "un")?;
    ensure!(read(&root, "ro-a")? == "hello\n");
    ensure!(read(&root, "ro")? == "readonly\n", "ro bind was writable");
    let ls = read(&root, "ro-ls")?;
    ensure!(
        ls.contains("a.txt") && ls.contains("sub") && !ls.contains("ignored.txt"),
        ".dockerignore not applied to the bind: {ls}"
    );
    ensure!(read(&root, "rw")? == "changed\n");
    ensure!(
        fs::read_to_string(ctx.join("a.txt"))? == "hello\n",
        "rw wrote to the context"
    );
    ensure!(
        !ctx.join("new").exists(),
        "rw created a file in the context"
    );
    // A symlink to / resolves to the context's root, not the host's.
    let esc = read(&root, "esc")?;
    ensure!(
        esc.contains("a.txt") && !esc.contains("proc"),
        "escaped: {esc}"
    );
    ensure!(read(&root, "from-stage")? == "from-stage\n");
    ensure!(
        read(&root, "rel")? == "bee\n",
        "relative target under WORKDIR"
    );
    let paths = env.layer_paths("b")?;
    for p in ["src", "src/", "e", "e/", "in", "in/", "w/rel.txt"] {
        ensure!(
            !paths.contains(p),
            "mount point {p} reached a layer: {paths:?}"
        );
    }
    // Without overlayfs (the copy snapshotter; rw binds copy too): the same.
    env.build_env(
        &ctx,
        &["-t", "b-copy", "--no-cache"],
        &[("HOIST_SNAPSHOTTER", "copy")],
    )
    .ok()?;
    let root = env.unpack("b-copy", "un-copy")?;
    ensure!(read(&root, "ro")? == "readonly\n" && read(&root, "rw")? == "changed\n");
    ensure!(fs::read_to_string(ctx.join("a.txt"))? == "hello\n" && !ctx.join("new").exists());
    ensure!(
        env.layer_paths("b-copy")? == paths,
        "copy and overlay layers differ"
    );

    // Keyed by the bound content: mtime alone hits, other files hit,
    // the bound file's content misses.
    let df2 = "FROM busybox\nRUN --mount=type=bind,source=sub/b.txt,target=/b cat /b > /b-copy\n";
    fs::write(ctx.join("Dockerfile.key"), df2)?;
    let f = ctx.join("Dockerfile.key");
    let f = f.to_str().context("path")?;
    env.build(&ctx, &["-f", f, "-t", "k"]).ok()?;
    let b = ctx.join("sub/b.txt");
    let t = fs::File::options().write(true).open(&b)?;
    t.set_modified(std::time::SystemTime::now() + Duration::from_secs(60))?;
    fs::write(ctx.join("a.txt"), "other\n")?;
    let r = env.build(&ctx, &["-f", f, "-t", "k"]).ok()?;
    ensure!(
        r.step_cached("source=sub/b.txt")?,
        "touch/unbound edit missed:\n{}",
        r.stderr
    );
    fs::write(&b, "bee2\n")?;
    let r = env.build(&ctx, &["-f", f, "-t", "k"]).ok()?;
    ensure!(
        !r.step_cached("source=sub/b.txt")?,
        "an edited bound file hit the cache"
    );
    ensure!(read(&env.unpack("k", "un-k")?, "b-copy")? == "bee2\n");
    env.clean()
}

#[test]
fn tmpfs_mount_has_its_size_and_leaves_nothing() -> Result<()> {
    require!();
    let env = Env::for_run_steps(UNSET)?;
    let df = "FROM busybox\nRUN --mount=type=tmpfs,target=/t,size=2m sh -c 'df -k /t | tail -1 > /df; echo x > /t/f; mkdir /t/d'\n";
    let ctx = env.context("ctx", &[("Dockerfile", df)])?;
    env.build(&ctx, &["-t", "t"]).ok()?;
    let d = read(&env.unpack("t", "un")?, "df")?;
    let cols: Vec<&str> = d.split_whitespace().collect();
    ensure!(
        cols.first() == Some(&"tmpfs") && cols.get(1) == Some(&"2048"),
        "df: {d}"
    );
    let paths = env.layer_paths("t")?;
    ensure!(
        paths == BTreeSet::from(["df".to_owned()]),
        "layer: {paths:?}"
    );
    env.clean()
}

const SECRET_FILE_VALUE: &str = "s3cr3t-from-a-file-7f1e";
const SECRET_ENV_VALUE: &str = "s3cr3t-from-env-9c2d";

/// Every file of the store (layers decompressed) free of `needle`.
fn store_free_of(store: &Path, needle: &str) -> Result<()> {
    for e in walkdir::WalkDir::new(store) {
        let e = e?;
        if !e.file_type().is_file() {
            continue;
        }
        let raw = fs::read(e.path())?;
        let mut texts = vec![raw.clone()];
        if let Ok(mut r) = hoist::layer::decompress(std::io::Cursor::new(raw)) {
            let mut out = Vec::new();
            if r.read_to_end(&mut out).is_ok() {
                texts.push(out);
            }
        }
        for t in texts {
            ensure!(
                !t.windows(needle.len()).any(|w| w == needle.as_bytes()),
                "the secret is in {}",
                e.path().display()
            );
        }
    }
    Ok(())
}

#[test]
fn secrets_from_a_file_and_env_never_reach_the_store_or_the_output() -> Result<()> {
    require!();
    let env = Env::for_run_steps(UNSET)?;
    let df = "FROM busybox
RUN --mount=type=secret,id=tok sh -c 'stat -c \"%a %u %g\" /run/secrets/tok > /tok-stat; sha256sum < /run/secrets/tok > /tok-hash'
RUN --mount=type=secret,id=envtok,env=TOK sh -c 'printf %s \"$TOK\" | sha256sum > /env-hash; if [ -e /run/secrets/envtok ]; then echo file; else echo nofile; fi > /env-file'
RUN --mount=type=secret,id=tok,target=/etc/tok.conf,mode=0440,uid=1000,gid=1000 stat -c '%a %u %g' /etc/tok.conf > /conf-stat
RUN --mount=type=secret,id=envtok,target=/s/tok,env=TOK2 sh -c 'if [ \"$(cat /s/tok)\" = \"$TOK2\" ]; then echo same; else echo differ; fi > /both'
RUN --mount=type=secret,id=absent sh -c 'if [ -e /run/secrets/absent ]; then echo present; else echo absent; fi > /absent'
";
    let ctx = env.context("ctx", &[("Dockerfile", df)])?;
    let sfile = env.path("secret.txt");
    fs::write(&sfile, SECRET_FILE_VALUE)?;
    let sarg = format!("id=tok,src={}", sfile.display());
    let args = [
        "-t",
        "sec",
        "--secret",
        sarg.as_str(),
        "--secret",
        "id=envtok,env=HOIST_TEST_TOKEN",
    ];
    let r = env
        .build_env(&ctx, &args, &[("HOIST_TEST_TOKEN", SECRET_ENV_VALUE)])
        .ok()?;
    let root = env.unpack("sec", "un")?;
    let hash = |v: &str| format!("{}  -\n", hoist::digest::Digest::of(v.as_bytes()).hex());
    ensure!(
        read(&root, "tok-stat")? == "400 0 0\n",
        "default mode 0400, root"
    );
    ensure!(read(&root, "tok-hash")? == hash(SECRET_FILE_VALUE));
    ensure!(read(&root, "env-hash")? == hash(SECRET_ENV_VALUE));
    ensure!(
        read(&root, "env-file")? == "nofile\n",
        "env= alone mounts no file"
    );
    ensure!(read(&root, "conf-stat")? == "440 1000 1000\n");
    ensure!(
        read(&root, "both")? == "same\n",
        "target= and env= together"
    );
    ensure!(
        read(&root, "absent")? == "absent\n",
        "an optional missing secret is skipped"
    );
    let paths = env.layer_paths("sec")?;
    for p in [
        "run/secrets/tok",
        "etc/tok.conf",
        "s/",
        "s/tok",
        "run/secrets/",
    ] {
        ensure!(!paths.contains(p), "{p} reached a layer: {paths:?}");
    }
    for v in [SECRET_FILE_VALUE, SECRET_ENV_VALUE] {
        ensure!(
            !r.stdout.contains(v) && !r.stderr.contains(v),
            "the secret is in the output"
        );
        store_free_of(&env.store(), v)?;
    }
    // Keyed on the id only: another value still hits.
    fs::write(&sfile, "another-value")?;
    let r = env
        .build_env(&ctx, &args, &[("HOIST_TEST_TOKEN", "another-env")])
        .ok()?;
    ensure!(
        r.step_cached("id=tok sh")?,
        "a changed secret value missed:\n{}",
        r.stderr
    );

    // required and missing: an error naming the id.
    let df = "FROM busybox\nRUN --mount=type=secret,id=needed-token,required=true true\n";
    let ctx = env.context("ctx-req", &[("Dockerfile", df)])?;
    let r = env.build(&ctx, &[]).failed()?;
    ensure!(
        r.stderr.contains("\"needed-token\"") && r.stderr.contains("--secret"),
        "{}",
        r.stderr
    );
    env.clean()
}

/// A static program that connects to `$SSH_AUTH_SOCK`, sends `ping` and
/// prints the reply (busybox has no unix-socket client). `None` without a
/// static C toolchain.
fn sockcat(dir: &Path) -> Option<PathBuf> {
    let src = dir.join("sockcat.c");
    fs::write(
        &src,
        r#"#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
int main(void) {
    const char *p = getenv("SSH_AUTH_SOCK");
    if (!p) return 2;
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un a;
    memset(&a, 0, sizeof a);
    a.sun_family = AF_UNIX;
    strncpy(a.sun_path, p, sizeof a.sun_path - 1);
    if (connect(s, (struct sockaddr *)&a, sizeof a) != 0) { perror("connect"); return 3; }
    if (write(s, "ping", 4) != 4) return 4;
    char b[64];
    ssize_t n = read(s, b, sizeof b);
    if (n <= 0) return 5;
    fwrite(b, 1, (size_t)n, stdout);
    return 0;
}
"#,
    )
    .ok()?;
    let out = dir.join("sockcat");
    let ok = Command::new("cc")
        .args(["-static", "-O1", "-o"])
        .arg(&out)
        .arg(&src)
        .status()
        .is_ok_and(|s| s.success());
    let _ = fs::remove_file(&src);
    ok.then_some(out)
}

/// A fake ssh agent: answers `agent:` plus what it read, uppercased;
/// counts connections. Stopped (by flag) when dropped.
struct FakeAgent {
    path: PathBuf,
    stop: Arc<AtomicBool>,
    conns: Arc<Mutex<usize>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FakeAgent {
    fn start(path: PathBuf) -> Result<FakeAgent> {
        let l = UnixListener::bind(&path)?;
        l.set_nonblocking(true)?;
        let stop = Arc::new(AtomicBool::new(false));
        let conns = Arc::new(Mutex::new(0));
        let (s2, c2) = (Arc::clone(&stop), Arc::clone(&conns));
        let thread = std::thread::spawn(move || {
            while !s2.load(Ordering::SeqCst) {
                match l.accept() {
                    Ok((mut s, _)) => {
                        *c2.lock().unwrap_or_else(|e| e.into_inner()) += 1;
                        let _ = s.set_nonblocking(false);
                        let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
                        let mut b = [0u8; 4];
                        if s.read_exact(&mut b).is_ok() {
                            let _ = s.write_all(b"agent:");
                            let _ = s.write_all(&b.to_ascii_uppercase());
                        }
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        });
        Ok(FakeAgent {
            path,
            stop,
            conns,
            thread: Some(thread),
        })
    }
    fn connections(&self) -> usize {
        *self.conns.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for FakeAgent {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let _ = fs::remove_file(&self.path);
    }
}

#[test]
fn ssh_agent_is_forwarded_and_required_without_ssh_fails() -> Result<()> {
    require!();
    let env = Env::for_run_steps(UNSET)?;
    let agent = FakeAgent::start(env.path("agent.sock"))?;
    let ctx = env.context("ctx", &[])?;
    let client = sockcat(&ctx);
    let mut df = String::from(
        "FROM busybox
RUN --mount=type=ssh sh -c 'test -S \"$SSH_AUTH_SOCK\" && echo \"$SSH_AUTH_SOCK\" > /sock'
RUN --mount=type=ssh,target=/agent,uid=1000,mode=0660 stat -c '%u %a' /agent > /perm
",
    );
    if client.is_some() {
        df.push_str("RUN --mount=type=ssh --mount=type=bind,source=sockcat,target=/usr/local/bin/sockcat sockcat > /reply\n");
    } else {
        eprintln!("!!!!!!!! no static C toolchain: the ssh test only checks the socket, not a connection !!!!!!!!");
    }
    fs::write(ctx.join("Dockerfile"), &df)?;
    let ssh = format!("default={}", agent.path.display());
    env.build(&ctx, &["-t", "ssh", "--ssh", &ssh]).ok()?;
    let root = env.unpack("ssh", "un")?;
    ensure!(read(&root, "sock")? == "/run/buildkit/ssh_agent.0\n");
    ensure!(read(&root, "perm")? == "1000 660\n");
    if client.is_some() {
        ensure!(read(&root, "reply")? == "agent:PING");
        ensure!(agent.connections() >= 1);
    }
    let paths = env.layer_paths("ssh")?;
    for p in [
        "run/buildkit/",
        "run/buildkit/ssh_agent.0",
        "agent",
        "usr/local/bin/sockcat",
    ] {
        ensure!(!paths.contains(p), "{p} reached a layer: {paths:?}");
    }
    // `--ssh default` takes $SSH_AUTH_SOCK.
    let sock = agent.path.to_str().context("path")?;
    env.build_env(
        &ctx,
        &["-t", "ssh2", "--no-cache", "--ssh", "default"],
        &[("SSH_AUTH_SOCK", sock)],
    )
    .ok()?;

    // Not required and not forwarded: skipped. Required: a clear error.
    let df =
        "FROM busybox\nRUN --mount=type=ssh sh -c 'echo \"${SSH_AUTH_SOCK:-unset}\" > /sock'\n";
    let ctx2 = env.context("ctx-opt", &[("Dockerfile", df)])?;
    env.build(&ctx2, &["-t", "opt"]).ok()?;
    ensure!(read(&env.unpack("opt", "un-opt")?, "sock")? == "unset\n");
    let df = "FROM busybox\nRUN --mount=type=ssh,id=github,required=true true\n";
    let ctx3 = env.context("ctx-req", &[("Dockerfile", df)])?;
    let r = env.build(&ctx3, &[]).failed()?;
    ensure!(
        r.stderr.contains("\"github\"") && r.stderr.contains("--ssh github"),
        "{}",
        r.stderr
    );
    env.clean()
}
