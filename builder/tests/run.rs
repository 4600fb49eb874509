//! RUN steps end to end: real builds of Dockerfiles with RUN on a busybox
//! base (`hack/engines/mkimage.sh`), through the hoist binary, keel-shim and
//! keel (and runc). The produced layer tars are read from the store and the
//! images unpacked with `hoist unpack`.
//!
//! Needs root, `keel` and `keel-shim` built in the same target dir as hoist
//! (`cargo build -p keel-runtime -p keel-shim`), and busybox-static for the
//! base image. When something is missing each test prints a loud SKIPPED
//! line with the reason. Every test cleans up its mounts and containers
//! even when it fails (the `Env` guard).

mod common;

use std::fs;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{ensure, Context as _, Result};

use common::{keel_bin, require, runc, Env, Layer};

/// What hoist runs without.
const UNSET: &[&str] = &["SOURCE_DATE_EPOCH", "HOIST_SNAPSHOTTER"];

/// The entry names of a layer with their type, for comparing shapes.
fn shape(l: &Layer) -> Vec<(String, char)> {
    l.iter().map(|(k, e)| (k.clone(), e.kind as char)).collect()
}

/// No mount stub or host file may reach a layer.
fn assert_no_stubs(layers: &[Layer]) -> Result<()> {
    for l in layers.iter().skip(1) {
        for p in l.keys() {
            let p = p.trim_end_matches('/');
            ensure!(
                !matches!(
                    p,
                    "etc" | "etc/resolv.conf" | "etc/hosts" | "proc" | "sys" | "dev" | "dev/pipes"
                ),
                "a mount point reached the layer: {p} in {:?}",
                l.keys().collect::<Vec<_>>()
            );
        }
    }
    Ok(())
}

const WHITEOUTS: &str = "FROM busybox
RUN mkdir -p /d && touch /d/old && echo a > /a
RUN rm /bin/ls && rm -rf /d && mkdir /d && touch /d/new && ln /a /b
";

fn check_whiteout_layers(env: &Env, image: &str) -> Result<Layer> {
    let layers = env.layers(image)?;
    ensure!(
        layers.len() == 3,
        "want base + 2 RUN layers, got {}",
        layers.len()
    );
    let l = &layers[2];
    let wh = l.get("bin/.wh.ls").context("no bin/.wh.ls whiteout")?;
    ensure!(
        wh.kind == b'0' && wh.data.is_empty(),
        "whiteout is an empty file: {wh:?}"
    );
    ensure!(
        l.contains_key("bin/"),
        "the whiteout's parent is in the layer (BuildKit)"
    );
    ensure!(
        l.contains_key("d/.wh..wh..opq"),
        "opaque marker: {:?}",
        l.keys()
    );
    ensure!(l.contains_key("d/new") && !l.contains_key("d/old"));
    let b = l.get("b").context("no b")?;
    ensure!(
        b.kind == b'1' && b.link == "a",
        "b is a hard link to a: {b:?}"
    );
    ensure!(l
        .get("a")
        .is_some_and(|a| a.kind == b'0' && a.data == b"a\n"));
    // Nothing else: the unchanged / copied-up directories stay out.
    let names: Vec<&str> = l.keys().map(String::as_str).collect();
    ensure!(
        names
            == [
                "a",
                "b",
                "bin/",
                "bin/.wh.ls",
                "d/",
                "d/.wh..wh..opq",
                "d/new"
            ],
        "layer entries: {names:?}"
    );
    assert_no_stubs(&layers)?;
    Ok(l.clone())
}

#[test]
fn whiteouts_opaque_dirs_and_hardlinks_overlay_and_copy_agree() -> Result<()> {
    require!();
    let env = Env::for_run_steps(UNSET)?;
    let ctx = env.context("ctx", &[("Dockerfile", WHITEOUTS)])?;
    env.build(&ctx, &["-t", "wh"]).ok()?;
    let overlay = check_whiteout_layers(&env, "wh")?;
    let root = env.unpack("wh", "un")?;
    ensure!(!root.join("bin/ls").exists() && root.join("bin/sh").exists());
    let d: Vec<_> = fs::read_dir(root.join("d"))?
        .flatten()
        .map(|e| e.file_name())
        .collect();
    ensure!(d == ["new"], "/d holds only new: {d:?}");
    ensure!(fs::metadata(root.join("a"))?.ino() == fs::metadata(root.join("b"))?.ino());
    ensure!(!root.join("etc/resolv.conf").exists() && !root.join("etc/hosts").exists());

    // The copy fallback gives the same layer shape.
    env.build_env(
        &ctx,
        &["-t", "wh-copy", "--no-cache"],
        &[("HOIST_SNAPSHOTTER", "copy")],
    )
    .ok()?;
    let copy = check_whiteout_layers(&env, "wh-copy")?;
    ensure!(
        shape(&overlay) == shape(&copy),
        "overlay {:?} vs copy {:?}",
        shape(&overlay),
        shape(&copy)
    );
    ensure!(env.mounts().is_empty(), "left mounted: {:?}", env.mounts());
    env.tmp_is_empty()?;
    env.fsck_clean()
}

#[test]
fn setcap_xattr_is_a_pax_record() -> Result<()> {
    require!();
    let env = Env::for_run_steps(UNSET)?;
    let ctx = env.path("ctx");
    fs::create_dir_all(&ctx)?;
    let src = r#"#include <sys/xattr.h>
#include <stdio.h>
int main(int argc, char **argv) {
    /* vfs_cap_data v2, effective, permitted = CAP_NET_BIND_SERVICE */
    unsigned char v[20] = {1,0,0,2, 0,4,0,0, 0,0,0,0, 0,0,0,0, 0,0,0,0};
    if (argc < 2) return 2;
    if (setxattr(argv[1], "security.capability", v, sizeof v, 0)) { perror("setxattr"); return 1; }
    return 0;
}
"#;
    fs::write(ctx.join("setcap.c"), src)?;
    let gcc = Command::new("gcc")
        .args(["-static", "-O2", "-o"])
        .arg(ctx.join("setcap"))
        .arg(ctx.join("setcap.c"))
        .output();
    match gcc {
        Ok(o) if o.status.success() => {}
        other => {
            eprintln!("\n!!!!!!!! SKIPPED setcap_xattr_is_a_pax_record: gcc -static failed: {other:?} !!!!!!!!\n");
            return Ok(());
        }
    }
    fs::write(
        ctx.join("Dockerfile"),
        "FROM busybox\nCOPY setcap /usr/local/bin/setcap\nRUN cp /bin/busybox /ping && setcap /ping\n",
    )?;
    env.build(&ctx, &["-t", "cap"]).ok()?;
    let layers = env.layers("cap")?;
    let l = layers.last().context("layers")?;
    let ping = l.get("ping").context("no /ping in the RUN layer")?;
    let cap = ping
        .pax
        .get("SCHILY.xattr.security.capability")
        .context("no SCHILY.xattr.security.capability")?;
    ensure!(cap.as_slice() == [1, 0, 0, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    let root = env.unpack("cap", "un")?;
    let got = xattr::get(root.join("ping"), "security.capability")?;
    ensure!(
        got.as_deref() == Some(cap.as_slice()),
        "the xattr survives unpack"
    );
    Ok(())
}

#[test]
fn deleted_files_stay_deleted_after_a_cache_hit_and_in_a_later_stage() -> Result<()> {
    require!();
    let env = Env::for_run_steps(UNSET)?;
    let df = |check: &str| {
        format!(
            "FROM busybox AS base\nRUN echo x > /gone && echo y > /kept\nRUN rm /gone\n\
             FROM base AS later\nRUN test ! -e /gone && test -e /kept && echo {check} > /checked\n"
        )
    };
    let ctx = env.context("ctx", &[("Dockerfile", &df("one"))])?;
    env.build(&ctx, &["-t", "del"]).ok()?;
    let r = env.build(&ctx, &["-t", "del"]).ok()?;
    ensure!(r.cached() == 3, "a rebuild is all cached:\n{}", r.stderr);
    // A change in the later stage only: its RUN runs on the cached layers.
    fs::write(ctx.join("Dockerfile"), df("two"))?;
    let r = env.build(&ctx, &["-t", "del"]).ok()?;
    ensure!(
        r.cached() == 2,
        "the base stage stays cached:\n{}",
        r.stderr
    );
    let root = env.unpack("del", "un")?;
    ensure!(!root.join("gone").exists());
    ensure!(fs::read_to_string(root.join("checked"))? == "two\n");
    ensure!(fs::read_to_string(root.join("kept"))? == "y\n");
    // The deletion is a whiteout in its layer.
    let layers = env.layers("del")?;
    ensure!(layers.iter().any(|l| l.contains_key(".wh.gone")));
    Ok(())
}

fn host_interfaces() -> Result<String> {
    let mut v: Vec<String> = fs::read_dir("/sys/class/net")?
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    Ok(v.join("\n") + "\n")
}

fn network_checks(env: &Env, runtime: &[&str]) -> Result<()> {
    let ctx = env.context(
        "net",
        &[(
            "Dockerfile",
            "FROM busybox\n\
             RUN --network=none ls /sys/class/net > /none.txt && cat /sys/class/net/lo/flags >> /none.txt\n\
             RUN ls /sys/class/net > /default.txt\n",
        )],
    )?;
    let mut args = vec!["-t", "net"];
    args.extend_from_slice(runtime);
    // Other processes on the machine may add or remove interfaces while
    // the step runs: the step must see the host's list as it was before or
    // after.
    let host_before = host_interfaces()?;
    env.build(&ctx, &args).ok()?;
    let host_after = host_interfaces()?;
    let root = env.unpack("net", "un-net")?;
    let none = fs::read_to_string(root.join("none.txt"))?;
    let mut lines = none.lines();
    ensure!(
        lines.next() == Some("lo"),
        "only lo in a none network: {none:?}"
    );
    let flags = lines.next().context("flags")?;
    let flags = u32::from_str_radix(flags.trim_start_matches("0x"), 16)?;
    ensure!(
        flags & 1 == 1,
        "lo is up (IFF_UP) in a none network: {none:?}"
    );
    ensure!(lines.next().is_none(), "only lo: {none:?}");
    let host = fs::read_to_string(root.join("default.txt"))?;
    ensure!(
        host == host_before || host == host_after,
        "host network shows the host's interfaces: {host:?}, host had {host_before:?} / {host_after:?}"
    );

    // `hoist build --network none` changes the default, and the key.
    let mut args = vec!["-t", "net2", "--network", "none"];
    args.extend_from_slice(runtime);
    let r = env.build(&ctx, &args).ok()?;
    ensure!(
        r.cached() == 1,
        "only the --network=none step is cached:\n{}",
        r.stderr
    );
    let root = env.unpack("net2", "un-net2")?;
    ensure!(fs::read_to_string(root.join("default.txt"))? == "lo\n");
    ensure!(env.mounts().is_empty(), "left mounted: {:?}", env.mounts());
    Ok(())
}

#[test]
fn network_none_has_only_loopback_up_and_host_sees_the_host() -> Result<()> {
    require!();
    let env = Env::for_run_steps(UNSET)?;
    network_checks(&env, &[])
}

#[test]
fn user_workdir_env_args_and_heredocs_reach_the_process() -> Result<()> {
    require!();
    let env = Env::for_run_steps(UNSET)?;
    let df = "FROM busybox\n\
        ARG GREETING=hi\n\
        ENV WHO=world\n\
        USER keel\n\
        WORKDIR /home/keel/w\n\
        RUN id -u > uid && id -g > gid && pwd > pwd && echo \"$GREETING $WHO\" > env && echo \"$HOME\" > home\n\
        USER root\n\
        RUN <<EOF\n\
        echo bare > /bare\n\
        EOF\n\
        RUN <<EOT\n\
        #!/bin/sh\n\
        echo \"script $0\" > /script\n\
        EOT\n\
        RUN cat <<A > /mid && test -e /dev/null\n\
        mid $WHO\n\
        A\n\
        RUN [\"/bin/sh\", \"-c\", \"echo exec > /exec\"]\n";
    let ctx = env.context("ctx", &[("Dockerfile", df)])?;
    env.build(&ctx, &["-t", "u", "--build-arg", "GREETING=hello"])
        .ok()?;
    let root = env.unpack("u", "un")?;
    let w = root.join("home/keel/w");
    ensure!(fs::read_to_string(w.join("uid"))? == "1000\n");
    ensure!(fs::read_to_string(w.join("gid"))? == "1000\n");
    ensure!(fs::read_to_string(w.join("pwd"))? == "/home/keel/w\n");
    ensure!(fs::read_to_string(w.join("env"))? == "hello world\n");
    ensure!(fs::read_to_string(w.join("home"))? == "/home/keel\n");
    ensure!(
        fs::metadata(w.join("uid"))?.uid() == 1000,
        "files belong to USER"
    );
    ensure!(fs::read_to_string(root.join("bare"))? == "bare\n");
    ensure!(fs::read_to_string(root.join("script"))? == "script /dev/pipes/EOT\n");
    ensure!(fs::read_to_string(root.join("mid"))? == "mid world\n");
    ensure!(fs::read_to_string(root.join("exec"))? == "exec\n");
    let layers = env.layers("u")?;
    assert_no_stubs(&layers)?;
    ensure!(
        !layers
            .iter()
            .skip(1)
            .any(|l| l.keys().any(|k| k.starts_with("dev/"))),
        "the heredoc script stays out of the layers"
    );
    let e = layers
        .iter()
        .find_map(|l| l.get("home/keel/w/uid"))
        .context("uid file in a layer")?;
    ensure!(
        (e.uid, e.gid, e.mode & 0o777) == (1000, 1000, 0o644),
        "owner and mode in the tar: {e:?}"
    );
    // History as BuildKit writes it: ARGs, then the argv.
    let v = env.inspect("u")?;
    let hist = v["Config"].to_string() + &v.to_string();
    ensure!(
        hist.contains("RUN |1 GREETING=hello /bin/sh -c id -u > uid"),
        "history names the ARGs and the shell: {hist}"
    );
    Ok(())
}

#[test]
fn a_failing_run_reports_and_a_fixed_rebuild_resumes_from_the_cache() -> Result<()> {
    require!();
    let env = Env::for_run_steps(UNSET)?;
    let ctx = env.context(
        "ctx",
        &[
            ("app.txt", "app\n"),
            (
                "Dockerfile",
                "FROM busybox\nCOPY app.txt /app.txt\nRUN echo prepared > /prep\n\
                 RUN for i in 1 2 3 4 5 6 7 8 9 10 11 12; do echo line-$i; done; exit 3\n",
            ),
        ],
    )?;
    let r = env.build(&ctx, &["-t", "f"]);
    ensure!(r.code != 0, "the build fails");
    ensure!(
        r.stderr.contains(
            "Dockerfile:4: RUN for i in 1 2 3 4 5 6 7 8 9 10 11 12; do echo line-$i; done; exit 3: \
             process \"/bin/sh -c for i in 1 2 3 4 5 6 7 8 9 10 11 12; do echo line-$i; done; exit 3\" \
             did not complete successfully: exit code: 3"
        ),
        "BuildKit's wording:\n{}",
        r.stderr
    );
    let block = r
        .stderr
        .split("------")
        .nth(1)
        .context("the output block")?;
    ensure!(
        block.contains("line-12") && block.contains("line-3") && !block.contains("line-2\n"),
        "the last 10 lines:\n{block}"
    );
    ensure!(env.mounts().is_empty(), "left mounted: {:?}", env.mounts());
    ensure!(env.runtime_containers(&keel_bin())?.is_empty());
    env.tmp_is_empty()?;
    env.fsck_clean()?;
    fs::write(
        ctx.join("Dockerfile"),
        "FROM busybox\nCOPY app.txt /app.txt\nRUN echo prepared > /prep\nRUN echo fixed > /fixed\n",
    )?;
    let r = env.build(&ctx, &["-t", "f"]).ok()?;
    ensure!(
        r.cached() == 2,
        "COPY and the first RUN are cached:\n{}",
        r.stderr
    );
    let root = env.unpack("f", "un")?;
    ensure!(fs::read_to_string(root.join("fixed"))? == "fixed\n");
    env.fsck_clean()
}

/// Starts a build whose RUN sleeps, interrupts it with SIGINT to its
/// process group once the container printed, and checks the cleanup.
fn sigint_checks(env: &Env, runtime: &Path, flags: &[&str]) -> Result<()> {
    let ctx = env.context(
        "sleep",
        &[(
            "Dockerfile",
            "FROM busybox\nRUN echo step-one > /one\nRUN echo started; sleep 30\n",
        )],
    )?;
    let mut args = vec!["build", "--progress", "plain"];
    args.extend_from_slice(flags);
    args.push(ctx.to_str().context("path")?);
    let mut child = env
        .command(&args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()?;
    let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id())?);
    // Kill the whole group by pid if the test fails before the signal.
    struct Reap(nix::unistd::Pid);
    impl Drop for Reap {
        fn drop(&mut self) {
            let _ = nix::sys::signal::killpg(self.0, nix::sys::signal::Signal::SIGKILL);
        }
    }
    let reap = Reap(pid);
    let stderr = child.stderr.take().context("stderr")?;
    let (tx, rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut all = String::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.ends_with(" started") {
                let _ = tx.send(());
            }
            all.push_str(&line);
            all.push('\n');
        }
        all
    });
    rx.recv_timeout(Duration::from_secs(60))
        .context("the RUN never printed `started`")?;
    ensure!(
        !env.mounts().is_empty(),
        "the step's root is mounted while it runs"
    );
    ensure!(
        env.runtime_containers(runtime)?.len() == 1,
        "the container runs"
    );
    let t = Instant::now();
    nix::sys::signal::killpg(pid, nix::sys::signal::Signal::SIGINT)?;
    let status = child.wait()?;
    let took = t.elapsed();
    let err = reader.join().unwrap_or_default();
    drop(reap);
    ensure!(
        status.code() == Some(130),
        "exit 130 on SIGINT, got {status:?}:\n{err}"
    );
    ensure!(took < Duration::from_secs(15), "stopped promptly: {took:?}");
    ensure!(err.contains("interrupted"), "says so:\n{err}");
    ensure!(env.mounts().is_empty(), "left mounted: {:?}", env.mounts());
    ensure!(
        env.runtime_containers(runtime)?.is_empty(),
        "container left: {:?}",
        env.runtime_containers(runtime)?
    );
    env.tmp_is_empty()?;
    env.fsck_clean()?;
    // The step before the interrupted one stays cached.
    fs::write(
        ctx.join("Dockerfile"),
        "FROM busybox\nRUN echo step-one > /one\nRUN true\n",
    )?;
    let r = env.build(&ctx, flags).ok()?;
    ensure!(r.cached() == 1, "the first RUN is cached:\n{}", r.stderr);
    Ok(())
}

#[test]
fn sigint_during_run_leaves_no_mount_no_container_and_a_clean_store() -> Result<()> {
    require!();
    let env = Env::for_run_steps(UNSET)?;
    sigint_checks(&env, &keel_bin(), &[])
}

#[test]
fn runc_as_the_runtime() -> Result<()> {
    require!();
    let Some(runc) = runc() else {
        eprintln!("\n!!!!!!!! SKIPPED runc_as_the_runtime: runc is not installed !!!!!!!!\n");
        return Ok(());
    };
    let env = Env::for_run_steps(UNSET)?;
    let rt = runc.to_str().context("path")?;
    let ctx = env.context("ctx", &[("Dockerfile", WHITEOUTS)])?;
    env.build(&ctx, &["-t", "wh", "--runtime", rt]).ok()?;
    check_whiteout_layers(&env, "wh")?;
    ensure!(env.runtime_containers(&runc)?.is_empty());
    network_checks(&env, &["--runtime", rt])?;
    sigint_checks(&env, &runc, &["--runtime", rt])
}

#[test]
fn independent_stages_build_with_jobs_bounded() -> Result<()> {
    require!();
    let env = Env::for_run_steps(UNSET)?;
    let df = "FROM busybox AS a\nRUN echo a > /a\n\
              FROM busybox AS b\nRUN echo b > /b\n\
              FROM busybox\nCOPY --from=a /a /a\nCOPY --from=b /b /b\n";
    let ctx = env.context("ctx", &[("Dockerfile", df)])?;
    for jobs in ["1", "4"] {
        env.build(&ctx, &["-t", "j", "--jobs", jobs, "--no-cache"])
            .ok()?;
        let root = env.unpack("j", &format!("un-{jobs}"))?;
        ensure!(fs::read_to_string(root.join("a"))? == "a\n");
        ensure!(fs::read_to_string(root.join("b"))? == "b\n");
    }
    Ok(())
}

#[test]
fn run_layers_are_reproducible_under_source_date_epoch() -> Result<()> {
    require!();
    let env = Env::for_run_steps(UNSET)?;
    let df =
        "FROM busybox\nRUN mkdir -p /x/y && echo a > /x/y/a && ln /x/y/a /x/b && rm /bin/cat\n";
    let ctx = env.context("ctx", &[("Dockerfile", df)])?;
    let sde = [("SOURCE_DATE_EPOCH", "1700000000")];
    let one = env.build_env(&ctx, &["-t", "r1"], &sde).ok()?.stdout;
    std::thread::sleep(Duration::from_millis(1100));
    let two = env
        .build_env(&ctx, &["-t", "r2", "--no-cache"], &sde)
        .ok()?;
    ensure!(two.cached() == 0, "the second build ran:\n{}", two.stderr);
    ensure!(
        one.trim() == two.stdout.trim(),
        "same image id: {one} vs {}",
        two.stdout
    );
    Ok(())
}
