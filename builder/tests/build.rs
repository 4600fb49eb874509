//! `hoist build` end to end through the binary: cache hit/miss rules,
//! metadata, layers, outputs, and bad input that leaves the store
//! consistent. Images are checked by reading the store (config, manifest,
//! layer tars) and by unpacking them.

mod common;

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{bail, Context as _, Result};
use serde_json::Value;

use common::{hoist_bin, Env, Run};

/// What hoist runs without.
const UNSET: &[&str] = &["SOURCE_DATE_EPOCH"];

fn touch_old(p: &Path) {
    let st = Command::new("touch")
        .args(["-d", "2001-01-01 00:00:00"])
        .arg(p)
        .status()
        .unwrap();
    assert!(st.success());
}

#[test]
fn second_build_is_all_cached_with_the_same_id_and_touch_still_hits() -> Result<()> {
    let e = Env::new(UNSET)?;
    let ctx = e.context(
        "ctx",
        &[
            ("Dockerfile", "FROM scratch\nCOPY a.txt /a.txt\nCOPY dir/ /dir/\nENV X=1\nWORKDIR /w\nCMD [\"/a\"]\n"),
            ("a.txt", "a\n"),
            ("dir/b.txt", "b\n"),
        ],
    )?;
    let first = e.build(&ctx, &["-t", "app"]).ok()?;
    assert_eq!(first.cached(), 0, "{}", first.stderr);
    assert_eq!(first.done(), 3 + 3, "{}", first.stderr); // 3 fs steps + context, FROM, export
    assert!(first.id().starts_with("sha256:"), "{}", first.stdout);
    let second = e.build(&ctx, &["-t", "app"]).ok()?;
    assert_eq!(second.cached(), 3, "{}", second.stderr);
    assert_eq!(second.id(), first.id());
    // mtime only: still cached, same id.
    touch_old(&ctx.join("a.txt"));
    touch_old(&ctx.join("dir/b.txt"));
    let third = e.build(&ctx, &["-t", "app"]).ok()?;
    assert_eq!(third.cached(), 3, "{}", third.stderr);
    assert_eq!(third.id(), first.id());
    e.fsck_clean()
}

#[test]
fn editing_a_copied_file_misses_from_that_step_on() -> Result<()> {
    let e = Env::new(UNSET)?;
    let ctx = e.context(
        "ctx",
        &[
            (
                "Dockerfile",
                "FROM scratch\nCOPY a.txt /a\nCOPY b.txt /b\nCOPY c.txt /c\n",
            ),
            ("a.txt", "a"),
            ("b.txt", "b"),
            ("c.txt", "c"),
        ],
    )?;
    let first = e.build(&ctx, &[]).ok()?;
    fs::write(ctx.join("b.txt"), "B")?;
    let second = e.build(&ctx, &[]).ok()?;
    let lines: Vec<&str> = second.stderr.lines().collect();
    let status_of = |instr: &str| -> String {
        let pos = lines.iter().position(|l| l.ends_with(instr)).unwrap();
        let id = lines[pos].split_whitespace().next().unwrap().to_owned();
        lines[pos + 1..]
            .iter()
            .find(|l| {
                l.starts_with(&format!("{id} ")) && (l.contains("CACHED") || l.contains("DONE"))
            })
            .unwrap()
            .to_string()
    };
    assert!(
        status_of("COPY a.txt /a").contains("CACHED"),
        "{}",
        second.stderr
    );
    assert!(
        status_of("COPY b.txt /b").contains("DONE"),
        "{}",
        second.stderr
    );
    assert!(
        status_of("COPY c.txt /c").contains("DONE"),
        "{}",
        second.stderr
    );
    assert_ne!(first.id(), second.id());
    // A chmod also misses (mode is part of the content hash).
    let third = e.build(&ctx, &[]).ok()?;
    assert_eq!(third.cached(), 3);
    fs::set_permissions(
        ctx.join("c.txt"),
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )?;
    let fourth = e.build(&ctx, &[]).ok()?;
    assert_eq!(fourth.cached(), 2, "{}", fourth.stderr);
    Ok(())
}

#[test]
fn a_changed_build_arg_misses_at_its_first_use_and_unused_args_warn() -> Result<()> {
    let e = Env::new(UNSET)?;
    let ctx = e.context(
        "ctx",
        &[
            (
                "Dockerfile",
                "FROM scratch\nCOPY a /a\nARG V=1\nCOPY a /v${V}/\nCOPY a /last\n",
            ),
            ("a", "a"),
        ],
    )?;
    e.build(&ctx, &["--build-arg", "V=1"]).ok()?;
    let same = e.build(&ctx, &["--build-arg", "V=1"]).ok()?;
    assert_eq!(same.cached(), 3);
    let changed = e.build(&ctx, &["--build-arg", "V=2"]).ok()?;
    assert_eq!(changed.cached(), 1, "{}", changed.stderr);
    let unused = e.build(&ctx, &["--build-arg", "NOPE=1"]).ok()?;
    assert!(
        unused
            .stderr
            .contains("build-args [NOPE] were not consumed"),
        "{}",
        unused.stderr
    );
    Ok(())
}

#[test]
fn independent_stages_keep_their_cache_and_target_skips_stages() -> Result<()> {
    let e = Env::new(UNSET)?;
    let ctx = e.context(
        "ctx",
        &[
            (
                "Dockerfile",
                "FROM scratch AS a\nCOPY a /a\n\
                 FROM scratch AS b\nCOPY b /b\n\
                 FROM scratch AS broken\nCOPY does-not-exist /x\n\
                 FROM scratch\nCOPY --from=a /a /a\nCOPY --from=b /b /b\n",
            ),
            ("a", "a"),
            ("b", "b"),
        ],
    )?;
    let first = e.build(&ctx, &[]).ok()?;
    assert!(
        !first.stderr.contains("does-not-exist"),
        "unneeded stage built:\n{}",
        first.stderr
    );
    fs::write(ctx.join("b"), "B")?;
    let second = e.build(&ctx, &[]).ok()?;
    let a_line = second
        .stderr
        .lines()
        .position(|l| l.ends_with("[a 2/2] COPY a /a"))
        .unwrap();
    let lines: Vec<&str> = second.stderr.lines().collect();
    let id = lines[a_line].split_whitespace().next().unwrap();
    assert!(
        lines.iter().any(|l| *l == format!("{id} CACHED")),
        "stage a not cached:\n{}",
        second.stderr
    );
    // --target a builds only a; --target broken fails on its COPY.
    let ta = e.build(&ctx, &["--target", "a"]).ok()?;
    assert!(!ta.stderr.contains("[b "), "{}", ta.stderr);
    let tb = e.build(&ctx, &["--target", "broken"]);
    assert_ne!(tb.code, 0);
    assert!(tb.stderr.contains("Dockerfile:6"), "{}", tb.stderr);
    assert!(tb.stderr.contains("does-not-exist"), "{}", tb.stderr);
    // --no-cache and --no-cache-filter.
    let nc = e.build(&ctx, &["--no-cache"]).ok()?;
    assert_eq!(nc.cached(), 0, "{}", nc.stderr);
    let ncf = e.build(&ctx, &["--no-cache-filter", "a"]).ok()?;
    assert_eq!(ncf.cached(), 3, "{}", ncf.stderr);
    e.fsck_clean()
}

#[test]
fn metadata_instructions_fill_the_config_and_history() -> Result<()> {
    let e = Env::new(UNSET)?;
    let ctx = e.context(
        "ctx",
        &[(
            "Dockerfile",
            r#"FROM scratch
MAINTAINER someone
ENV A=1 B="two words"
LABEL l1=v1 "l 2"=v2
EXPOSE 80 53/udp
VOLUME ["/data"]
USER 1000:1000
STOPSIGNAL SIGINT
SHELL ["/bin/ash", "-eo", "pipefail", "-c"]
HEALTHCHECK --interval=5s --retries=2 CMD wget -q localhost
ONBUILD COPY x /x
ENTRYPOINT ["/entry"]
CMD echo $A
"#,
        )],
    )?;
    e.build(
        &ctx,
        &[
            "-t",
            "meta:v1",
            "--label",
            "org.opencontainers.image.source=here",
        ],
    )
    .ok()?;
    let v = e.inspect("meta:v1")?;
    let c = &v["Config"];
    assert_eq!(v["Author"], "someone");
    assert_eq!(c["Env"], serde_json::json!(["A=1", "B=two words"]));
    assert_eq!(c["Labels"]["l1"], "v1");
    assert_eq!(c["Labels"]["l 2"], "v2");
    assert_eq!(c["Labels"]["org.opencontainers.image.source"], "here");
    assert!(c["ExposedPorts"]["80/tcp"].is_object());
    assert!(c["ExposedPorts"]["53/udp"].is_object());
    assert!(c["Volumes"]["/data"].is_object());
    assert_eq!(c["User"], "1000:1000");
    assert_eq!(c["StopSignal"], "SIGINT");
    assert_eq!(
        c["Shell"],
        serde_json::json!(["/bin/ash", "-eo", "pipefail", "-c"])
    );
    assert_eq!(
        c["Healthcheck"]["Test"],
        serde_json::json!(["CMD-SHELL", "wget -q localhost"])
    );
    assert_eq!(c["Healthcheck"]["Interval"], 5_000_000_000u64);
    assert_eq!(c["Healthcheck"]["Retries"], 2);
    assert_eq!(c["OnBuild"], serde_json::json!(["COPY x /x"]));
    assert_eq!(c["Entrypoint"], serde_json::json!(["/entry"]));
    assert_eq!(
        c["Cmd"],
        serde_json::json!(["/bin/ash", "-eo", "pipefail", "-c", "echo $A"])
    );
    // Every step is an empty layer: no layers at all.
    assert_eq!(v["RootFS"]["diff_ids"], serde_json::json!([]));
    let hist = v["History"].as_array().unwrap();
    assert_eq!(hist.len(), 12, "{hist:?}");
    assert!(hist.iter().all(|h| h["empty_layer"] == true));
    assert!(hist[1]["created_by"]
        .as_str()
        .unwrap()
        .starts_with("ENV A=1"));
    // The manifest carries the OCI annotation from the label.
    let manifest: Value = serde_json::from_slice(&fs::read(
        e.blob(v["Manifest"]["digest"].as_str().unwrap()),
    )?)?;
    assert_eq!(
        manifest["annotations"]["org.opencontainers.image.source"],
        "here"
    );
    Ok(())
}

#[test]
fn onbuild_triggers_run_once_in_the_child_then_are_cleared() -> Result<()> {
    let e = Env::new(UNSET)?;
    let base = e.context(
        "base",
        &[(
            "Dockerfile",
            "FROM scratch\nONBUILD COPY x /from-trigger\nONBUILD ENV T=1\n",
        )],
    )?;
    e.build(&base, &["-t", "base"]).ok()?;
    let child = e.context(
        "child",
        &[
            ("Dockerfile", "FROM base\nCOPY y /y\n"),
            ("x", "x"),
            ("y", "y"),
        ],
    )?;
    e.build(&child, &["-t", "child"]).ok()?;
    let v = e.inspect("child")?;
    assert!(v["Config"]["OnBuild"].is_null(), "{v}");
    assert_eq!(v["Config"]["Env"], serde_json::json!(["T=1"]));
    let layers = e.layers("child")?;
    assert_eq!(layers.len(), 2);
    assert!(
        layers[0].contains_key("from-trigger"),
        "{:?}",
        layers[0].keys()
    );
    // A grandchild does not run them again.
    let grand = e.context("grand", &[("Dockerfile", "FROM child\nENV G=1\n")])?;
    e.build(&grand, &["-t", "grand"]).ok()?;
    assert_eq!(e.layers("grand")?.len(), 2);
    Ok(())
}

#[test]
fn workdir_creates_its_directory_and_copy_lands_relative_to_it() -> Result<()> {
    let e = Env::new(UNSET)?;
    let ctx = e.context(
        "ctx",
        &[
            (
                "Dockerfile",
                "FROM scratch\nWORKDIR /app/src\nCOPY f ./\nCOPY f rel/g\nWORKDIR /app/src\n",
            ),
            ("f", "F"),
        ],
    )?;
    e.build(&ctx, &["-t", "wd"]).ok()?;
    let layers = e.layers("wd")?;
    // mkdir, COPY, COPY; the second WORKDIR changes nothing: no layer.
    assert_eq!(layers.len(), 3, "{layers:?}");
    assert_eq!(layers[0]["app/src/"].meta(), (b'5', 0o755, 0, 0));
    assert_eq!(layers[1]["app/src/f"].data, b"F");
    assert_eq!(layers[2]["app/src/rel/g"].data, b"F");
    let v = e.inspect("wd")?;
    assert_eq!(v["Config"]["WorkingDir"], "/app/src");
    let hist = v["History"].as_array().unwrap();
    assert_eq!(hist.last().unwrap()["empty_layer"], true);
    Ok(())
}

#[test]
fn source_date_epoch_builds_are_reproducible_across_mtimes_and_stores() -> Result<()> {
    let e = Env::new(UNSET)?;
    let files = [
        ("Dockerfile", "FROM scratch\nCOPY . /ctx/\nENV X=1\n"),
        ("a", "a"),
        ("d/b", "b"),
    ];
    let c1 = e.context("c1", &files)?;
    let c2 = e.context("c2", &files)?;
    touch_old(&c2.join("a"));
    touch_old(&c2.join("d"));
    let mut ids = Vec::new();
    for (i, c) in [&c1, &c2].iter().enumerate() {
        let store = e.path(&format!("store{i}"));
        let o = Command::new(hoist_bin())
            .arg("--root")
            .arg(&store)
            .args(["build", "--progress", "plain", "-o"])
            .arg(format!(
                "type=oci-layout,dest={}",
                e.path(&format!("out{i}")).display()
            ))
            .arg(c)
            .env("SOURCE_DATE_EPOCH", "0")
            .output()?;
        let r = Run::from(o).ok()?;
        let index: Value =
            serde_json::from_slice(&fs::read(e.path(&format!("out{i}/index.json")))?)?;
        ids.push((r.id(), index["manifests"][0]["digest"].clone()));
    }
    assert_eq!(ids[0], ids[1]);
    Ok(())
}

#[test]
fn outputs_iidfile_stdin_context_and_unpack() -> Result<()> {
    let e = Env::new(UNSET)?;
    let ctx = e.context(
        "ctx",
        &[
            ("Dockerfile", "FROM scratch\nCOPY a /a\nCMD [\"/a\"]\n"),
            ("a", "a"),
        ],
    )?;
    let oci = e.path("o.tar");
    let dock = e.path("d.tar");
    let lay = e.path("layout");
    let iid = e.path("iid");
    let r = e
        .build(
            &ctx,
            &[
                "-t",
                "outs",
                "-o",
                &format!("type=oci,dest={}", oci.display()),
                "-o",
                &format!("type=docker,dest={}", dock.display()),
                "-o",
                &format!("type=oci-layout,dest={}", lay.display()),
                "--iidfile",
                iid.to_str().unwrap(),
            ],
        )
        .ok()?;
    assert_eq!(fs::read_to_string(&iid)?, r.id());
    assert!(lay.join("index.json").is_file() && lay.join("oci-layout").is_file());
    let names = |p: &Path| -> Result<Vec<String>> {
        let mut a = tar::Archive::new(fs::File::open(p)?);
        let mut v = Vec::new();
        for en in a.entries()? {
            v.push(en?.path()?.to_string_lossy().into_owned());
        }
        Ok(v)
    };
    assert!(names(&oci)?.contains(&"index.json".to_owned()));
    assert!(!names(&oci)?.contains(&"manifest.json".to_owned()));
    assert!(names(&dock)?.contains(&"manifest.json".to_owned()));
    // Load the docker archive into a fresh store: same id.
    let e2 = Env::new(UNSET)?;
    let l = e2.hoist(&["load", "-i", dock.to_str().unwrap()]).ok()?;
    assert!(
        l.stdout.contains("Loaded image: outs:latest"),
        "{}",
        l.stdout
    );
    assert_eq!(e2.inspect("outs")?["Id"], r.id().as_str());
    // A context tar on stdin.
    let tarball = e.path("ctx.tar");
    let st = Command::new("tar")
        .arg("-C")
        .arg(&ctx)
        .arg("-cf")
        .arg(&tarball)
        .arg(".")
        .status()?;
    assert!(st.success());
    let o = Command::new(hoist_bin())
        .arg("--root")
        .arg(e.store())
        .args(["build", "--progress", "plain", "-t", "stdin", "-"])
        .stdin(Stdio::from(fs::File::open(&tarball)?))
        .output()?;
    let s = Run::from(o).ok()?;
    assert_eq!(s.id(), r.id(), "stdin context gives the same image");
    // unpack writes a bundle.
    let b = e.path("bundle");
    e.hoist(&["unpack", "outs", b.to_str().unwrap()]).ok()?;
    assert_eq!(fs::read_to_string(b.join("rootfs/a"))?, "a");
    let spec: Value = serde_json::from_slice(&fs::read(b.join("config.json"))?)?;
    assert_eq!(spec["process"]["args"], serde_json::json!(["/a"]));
    Ok(())
}

#[test]
fn image_management_tag_images_rmi_prune() -> Result<()> {
    let e = Env::new(UNSET)?;
    let ctx = e.context(
        "ctx",
        &[("Dockerfile", "FROM scratch\nCOPY a /a\n"), ("a", "a")],
    )?;
    let id = e.build(&ctx, &["-t", "one"]).ok()?.id();
    e.hoist(&["tag", "one", "two:v2"]).ok()?;
    let imgs = e.hoist(&["images", "--format", "json"]).ok()?;
    let v: Value = serde_json::from_str(&imgs.stdout)?;
    let names: Vec<String> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            format!(
                "{}:{}",
                r["Repository"].as_str().unwrap(),
                r["Tag"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(names, ["one:latest", "two:v2"]);
    assert!(v[0]["ID"].as_str().unwrap() == id);
    e.hoist(&["rmi", "one"]).ok()?;
    e.hoist(&["prune"]).ok()?;
    // two:v2 still works after prune; its blobs were kept.
    e.inspect("two:v2")?;
    e.fsck_clean()?;
    e.hoist(&["rmi", "two:v2"]).ok()?;
    let p = e.hoist(&["prune"]).ok()?;
    assert!(p.stdout.contains("Deleted"), "{}", p.stdout);
    let blobs = fs::read_dir(e.store().join("blobs/sha256"))?.count();
    assert_eq!(blobs, 0, "prune left blobs behind");
    // The cache is gone: a rebuild runs again.
    let again = e.build(&ctx, &["-t", "one"]).ok()?;
    assert_eq!(again.cached(), 0);
    Ok(())
}

/// Each bad input fails with a clear, located error, leaves the store
/// consistent, and a later good build succeeds.
#[test]
fn bad_input_is_reported_and_the_store_stays_consistent() -> Result<()> {
    let e = Env::new(UNSET)?;
    let good = e.context(
        "good",
        &[("Dockerfile", "FROM scratch\nCOPY a /a\n"), ("a", "a")],
    )?;
    e.build(&good, &["-t", "good"]).ok()?;
    let cases: &[(&str, &str, &[&str])] = &[
        ("syntax", "FROM scratch\nCOPY\n", &["Dockerfile:2"]),
        (
            "unknown-instr",
            "FROM scratch\nFROBNICATE x\n",
            &["Dockerfile:2", "FROBNICATE"],
        ),
        (
            "missing-src",
            "FROM scratch\nCOPY nope /x\n",
            &["Dockerfile:2", "nope"],
        ),
        (
            "bad-chown",
            "FROM scratch\nCOPY --chown=nobodyhere a /x\n",
            &["Dockerfile:2", "nobodyhere"],
        ),
        (
            "bad-chmod",
            "FROM scratch\nCOPY --chmod=99z a /x\n",
            &["Dockerfile:2", "chmod"],
        ),
        (
            "unknown-from",
            "FROM scratch\nCOPY --from=nostage /a /x\n",
            &["Dockerfile:2", "nostage"],
        ),
        (
            "cycle",
            "FROM scratch AS a\nCOPY --from=b /x /x\nFROM scratch AS b\nCOPY --from=a /y /y\n",
            &["depends on itself"],
        ),
        (
            "base-missing",
            "FROM notloaded:1\n",
            &["notloaded", "hoist load"],
        ),
        (
            "platform",
            "FROM --platform=linux/arm64 scratch\nCOPY a /a\n",
            &["arm64"],
        ),
    ];
    for (name, df, want) in cases {
        let ctx = e.context(name, &[("Dockerfile", df), ("a", "a")])?;
        let r = e.build(&ctx, &[]);
        assert_ne!(r.code, 0, "{name}: should fail:\n{}", r.stderr);
        let last = r.error_line();
        for w in *want {
            assert!(
                last.contains(w),
                "{name}: {w:?} not in the error line {last:?}\n{}",
                r.stderr
            );
        }
        assert!(!r.stderr.contains("panicked"), "{name}: {}", r.stderr);
        e.fsck_clean().with_context(|| name.to_string())?;
    }
    // A context that doesn't exist.
    let r = e.hoist(&["build", e.path("no-such-dir").to_str().unwrap()]);
    assert_ne!(r.code, 0);
    assert!(r.stderr.contains("no-such-dir"), "{}", r.stderr);
    // A corrupt tar for load.
    let bad = e.path("bad.tar");
    fs::write(
        &bad,
        b"this is not a tar at all, not even close............",
    )?;
    let r = e.hoist(&["load", "-i", bad.to_str().unwrap()]);
    assert_ne!(r.code, 0);
    assert!(r.stderr.contains("bad.tar"), "{}", r.stderr);
    e.fsck_clean()?;
    // The store still works.
    let again = e.build(&good, &["-t", "good"]).ok()?;
    assert_eq!(again.cached(), 1);
    Ok(())
}

/// A full disk while writing a layer: a clear error, nothing dangling, and
/// a later build with room succeeds.
#[test]
fn a_full_disk_while_writing_a_layer_leaves_the_store_consistent() -> Result<()> {
    let e = Env::new(UNSET)?;
    let store = e.store();
    fs::create_dir_all(&store)?;
    let st = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=2m", "tmpfs"])
        .arg(&store)
        .status()?;
    if !st.success() {
        bail!("mount tmpfs failed (tests run as root)");
    }
    struct Umount(PathBuf);
    impl Drop for Umount {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg(&self.0).status();
        }
    }
    let _guard = Umount(store.clone());
    // 8 MiB of random bytes: does not compress, does not fit.
    let mut big = vec![0u8; 8 << 20];
    fs::File::open("/dev/urandom")?.read_exact(&mut big)?;
    let ctx = e.path("ctx");
    fs::create_dir_all(&ctx)?;
    fs::write(ctx.join("Dockerfile"), "FROM scratch\nCOPY big /big\n")?;
    fs::write(ctx.join("big"), &big)?;
    let r = e.build(&ctx, &["-t", "big"]);
    assert_ne!(r.code, 0);
    assert!(
        r.stderr.to_lowercase().contains("disk is full") || r.stderr.contains("No space"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("Dockerfile:2") || r.stderr.contains("blob"),
        "{}",
        r.stderr
    );
    e.fsck_clean()?;
    // Shrink the input: it fits now.
    fs::write(ctx.join("big"), &big[..64 << 10])?;
    e.build(&ctx, &["-t", "big"]).ok()?;
    e.fsck_clean()
}
