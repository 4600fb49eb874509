//! hoist's output in the real tools, and theirs in hoist (issue #5's interop
//! acceptance). Each test owns one engine, started once with all its state
//! in a private temp dir and stopped by PID at the end, with the mounts,
//! cgroups, processes and host paths it left removed:
//!
//! - `docker`: dockerd 20.10 loads `hoist save` and `-o type=docker`, runs
//!   the app, shows its config; `docker save` comes back into hoist, which
//!   builds FROM it, and the result runs in docker again.
//! - `podman`: the same with podman 4.3, plus `podman save --format
//!   oci-archive` back into hoist, and a `--compression zstd` image.
//! - `containerd`: `ctr images import` of `hoist save`, `-o type=oci` and a
//!   `--compression zstd` image, `ctr run`; `ctr images export` back into
//!   hoist.
//! - `registry`: `-o type=oci-layout` seen by skopeo and umoci, pushed by
//!   skopeo to docker-registry 2.8, its manifest fetched from the registry
//!   API, pulled back with `ctr images pull --plain-http` and run.
//! - `reproducible`: SOURCE_DATE_EPOCH=0 builds of two copies of a context
//!   with different mtimes, in two stores, give the same digests (and a
//!   build without it does not).
//!
//! Every run checks exact output (files, modes, owners, a symlink, env,
//! cwd, user, arguments after the entrypoint), the config each engine
//! shows, and that the engine's image id is hoist's.
//!
//! Every engine test first runs a baseline: the busybox base image (from
//! hack/engines/mkimage.sh) loads and runs in the engine, so a harness
//! problem shows apart from a hoist one. When an engine or hoist cannot
//! run, the test prints `SKIP interop::… : reason` on stderr (with
//! HOIST_INTEROP_REQUIRED=1 or KEEL_ENGINES_REQUIRED=1 it fails instead).
//! The hoist binary is $HOIST_BIN or the one cargo builds with this test.

#[path = "interop_support/mod.rs"]
mod support;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, ensure, Context as _, Result};

use support::command::{find_program, run, run_ok};
use support::containerd::{full_name, Containerd};
use support::docker::{Docker, DOCKER, DOCKERD};
use support::engine::Engine;
use support::fixture::{self, APP, APP_REPO, APP_TAG};
use support::hoist::{self, is_digest, Hoist};
use support::podman::Podman;
use support::registry::{Registry, REGISTRY};
use support::scratch::Scratch;
use support::{lock, say, skip, Suite};

/// Root and the programs, or a printed SKIP.
fn prerequisites(test: &str, programs: &[&str]) -> bool {
    if !nix::unistd::geteuid().is_root() {
        skip(test, "needs root");
        return false;
    }
    for p in programs {
        if find_program(p).is_none() {
            skip(test, &format!("`{p}` not found: run hack/deps.sh"));
            return false;
        }
    }
    true
}

/// hoist can be tested, or a printed SKIP for `what`.
fn hoist_ready(what: &str) -> bool {
    match hoist::unavailable() {
        None => true,
        Some(why) => {
            skip(what, &why);
            false
        }
    }
}

/// Run a test's body with its scratch dir and suite; clean up whatever
/// happens, then fail on a harness error or a failed case.
fn engine_test(name: &'static str, body: impl FnOnce(&mut Scratch, &mut Suite) -> Result<()>) {
    let mut scratch = Scratch::new(name).expect("scratch dir");
    let mut suite = Suite::new(name);
    say(&format!(
        "interop::{name}: private dir {}",
        scratch.dir.display()
    ));
    let res = body(&mut scratch, &mut suite);
    scratch.cleanup();
    if let Err(e) = res {
        panic!("interop::{name} harness: {e:#}");
    }
    suite.finish();
}

// ---------------------------------------------------------------------------
// hoist's side of the cases

/// hoist's outputs of the app, made once per engine test.
struct Built {
    /// The app's context.
    ctx: PathBuf,
    /// The image id `hoist build` printed (= its config digest).
    id: String,
    /// `hoist save -o … APP`
    saved: PathBuf,
    /// `hoist build -o type=TYPE,dest=…` (the type the engine loads).
    output: PathBuf,
}

/// Load the base into a fresh store, build the app with `-o
/// type=OUT_TYPE,dest=…`, and `hoist save` it.
fn build_app(dir: &Path, base: &Path, out_type: &str) -> Result<Built> {
    let hoist = Hoist::new(&dir.join("store"));
    let names = hoist.load(base)?;
    ensure!(
        names.iter().any(|n| n.ends_with(fixture::BUSYBOX)),
        "`hoist load` of the base named {names:?} (want {})",
        fixture::BUSYBOX
    );
    let ctx = fixture::app_context(&dir.join("app-context"))?;
    let output = dir.join(format!("app-{out_type}.tar"));
    let iidfile = dir.join("app.iid");
    let id = hoist.build(
        &ctx,
        &[
            "-t",
            APP,
            "-o",
            &format!("type={out_type},dest={}", output.display()),
            "--iidfile",
            &iidfile.display().to_string(),
        ],
        &[],
    )?;
    let iid = fs::read_to_string(&iidfile).context("read the --iidfile")?;
    ensure!(
        iid.trim() == id,
        "--iidfile holds {iid:?}, stdout said {id}"
    );
    ensure!(
        output.is_file(),
        "-o type={out_type} wrote no {}",
        output.display()
    );
    let saved = dir.join("app-save.tar");
    hoist.save(&saved, &[APP])?;
    Ok(Built {
        ctx,
        id,
        saved,
        output,
    })
}

/// The engine runs `image` as the app and shows its config and id.
fn check_app(engine: &dyn Engine, image: &str, id: &str, cmd: &str) -> Result<()> {
    let got = engine.image_id(image)?;
    ensure!(
        got == id,
        "{} gives {image} the id {got}; hoist built {id}",
        engine.name()
    );
    fixture::check_app_config(engine, image, cmd)?;
    fixture::check_app_runs(engine, image, cmd)
}

/// `tar` loads into the engine (after the app's name was removed from it)
/// and runs as the app.
fn load_and_check(engine: &dyn Engine, tar: &Path, id: &str) -> Result<()> {
    let _ = engine.remove(APP);
    engine.load(tar)?;
    check_app(engine, APP, id, "default-arg")
}

/// The engine saves the app; a fresh hoist store loads it, builds FROM it
/// (one more COPY, a new CMD), passes fsck and unpacks the right files; the
/// result loads back into the engine and runs.
fn round_trip(
    engine: &dyn Engine,
    dir: &Path,
    save: impl FnOnce(&Path) -> Result<()>,
) -> Result<()> {
    fs::create_dir_all(dir)?;
    let tar = dir.join(format!("{}-save.tar", engine.name()));
    save(&tar)?;
    let hoist = Hoist::new(&dir.join("store"));
    let names = hoist.load(&tar)?;
    let Some(base) = names.iter().find(|n| n.contains(APP)) else {
        bail!(
            "`hoist load` of {}'s archive named {names:?} (want {APP})",
            engine.name()
        );
    };
    let loaded = hoist.inspect(base)?;
    let app_id = engine.image_id(APP)?;
    ensure!(
        loaded["Id"] == app_id.as_str(),
        "hoist loaded {}'s {APP} as {} (the engine's id is {app_id})",
        engine.name(),
        loaded["Id"]
    );
    hoist.fsck().context("fsck after loading")?;
    let ctx = fixture::derived_context(&dir.join("context"), base)?;
    let derived = format!("{APP_REPO}:round-{}", engine.name());
    let id = hoist.build(&ctx, &["-t", &derived], &[])?;
    hoist
        .fsck()
        .context("fsck after building FROM the loaded image")?;
    let v = hoist.inspect(&derived)?;
    ensure!(
        v["Id"] == id.as_str(),
        "inspect Id {} != build id {id}",
        v["Id"]
    );
    let base_layers = loaded["RootFS"]["diff_ids"].as_array().map_or(0, Vec::len);
    let layers = v["RootFS"]["diff_ids"].as_array().map_or(0, Vec::len);
    ensure!(
        base_layers > 0 && layers == base_layers + 1,
        "the derived image has {layers} layers; its base has {base_layers} (want one more)"
    );
    let bundle = dir.join("bundle");
    hoist.unpack(&derived, &bundle)?;
    for (path, want) in [
        ("rootfs/app/extra.txt", "extra from the round trip\n"),
        ("rootfs/app/hello.txt", "hello from hoist\n"),
    ] {
        let got = fs::read_to_string(bundle.join(path))
            .with_context(|| format!("`hoist unpack {derived}` has no {path}"))?;
        ensure!(got == want, "{path} holds {got:?} (want {want:?})");
    }
    let back = dir.join("derived.tar");
    hoist.save(&back, &[&derived])?;
    engine.load(&back)?;
    check_app(engine, &derived, &id, "second")
}

/// The cases every engine runs once the baseline passed.
fn hoist_cases(
    suite: &mut Suite,
    engine: &dyn Engine,
    dir: &Path,
    base: &Path,
    out_type: &str,
) -> Option<Built> {
    let mut built = None;
    suite.case(
        &format!("hoist build -t {APP} -o type={out_type}, hoist save"),
        || {
            built = Some(build_app(dir, base, out_type)?);
            Ok(())
        },
    );
    let Some(b) = built else {
        for c in [
            "hoist save → load → run",
            "-o type → load → run",
            "round trip",
        ] {
            suite.blocked(c, "hoist build");
        }
        return None;
    };
    let name = engine.name();
    suite.case(
        &format!("hoist save → {name} load → run, config, id"),
        || load_and_check(engine, &b.saved, &b.id),
    );
    suite.case(
        &format!("-o type={out_type} → {name} load → run, config, id"),
        || load_and_check(engine, &b.output, &b.id),
    );
    Some(b)
}

/// A hoist-built image with RUN steps gives the same output through
/// `hoist run`, through `keel run` on a `hoist unpack`ed bundle, and in the
/// engine after `hoist save`.
fn run_built_image_everywhere(engine: &dyn Engine, dir: &Path, base: &Path) -> Result<()> {
    const IMG: &str = "interop-run:v1";
    fs::create_dir_all(dir)?;
    let hoist = Hoist::new(&dir.join("store"));
    hoist.load(base)?;
    let ctx = dir.join("ctx");
    fs::create_dir_all(&ctx)?;
    fs::write(ctx.join("f"), "from the context\n")?;
    fs::write(
        ctx.join("Dockerfile"),
        "FROM busybox\n\
         RUN mkdir -p /srv/d && echo built-by-run > /srv/msg && ln -s msg /srv/link && rm /bin/ls\n\
         COPY f /srv/f\n\
         WORKDIR /srv\n\
         RUN echo 'u:x:4321:4321::/srv:/bin/sh' >> /etc/passwd && chown 4321 /srv/d\n\
         CMD [\"sh\", \"-c\", \"cat msg link f; stat -c '%u %n' d; pwd; test -e /bin/ls || echo no-ls\"]\n",
    )?;
    hoist.build(&ctx, &["-t", IMG], &[])?;
    let want = "built-by-run\nbuilt-by-run\nfrom the context\n4321 d\n/srv\nno-ls\n";

    // hoist run (through keel-shim and keel).
    let out = run_ok(&mut hoist.cmd(&["run", "--rm", "--network", "none", IMG]))?;
    ensure!(
        out.stdout == want,
        "hoist run printed {:?}, want {want:?}",
        out.stdout
    );

    // keel run on the unpacked bundle.
    let bundle = dir.join("bundle");
    hoist.unpack(IMG, &bundle)?.ok()?;
    let keel = hoist.bin.with_file_name("keel");
    ensure!(
        keel.is_file(),
        "no keel next to hoist at {}",
        keel.display()
    );
    let state = dir.join("keel-state");
    let id = format!("interop-run-{}", std::process::id());
    let out = run(Command::new(&keel)
        .arg("--root")
        .arg(&state)
        .args(["run", "--bundle"])
        .arg(&bundle)
        .arg(&id))?;
    let _ = run(Command::new(&keel)
        .arg("--root")
        .arg(&state)
        .args(["delete", "--force", &id]));
    ensure!(
        out.code == 0 && out.stdout == want,
        "keel run printed {:?} (exit {}), want {want:?}: {}",
        out.stdout,
        out.code,
        out.stderr
    );

    // The engine, after hoist save.
    let tar = dir.join("run-save.tar");
    hoist.save(&tar, &[IMG])?.ok()?;
    engine.load(&tar)?.ok()?;
    let out = engine.run(IMG, &[])?;
    ensure!(
        out.code == 0 && out.stdout == want,
        "{} run printed {:?} (exit {}), want {want:?}: {}",
        engine.name(),
        out.stdout,
        out.code,
        out.stderr
    );
    let _ = engine.remove(IMG);
    Ok(())
}

/// A member of a tar, as JSON (read with tar(1)).
fn tar_json(tar: &Path, member: &str) -> Result<serde_json::Value> {
    let out = run_ok(Command::new("tar").arg("-xOf").arg(tar).arg(member))?;
    serde_json::from_str(&out.stdout)
        .with_context(|| format!("{member} in {} is not JSON", tar.display()))
}

/// The app built with `--compression zstd -o type=oci` in a fresh store:
/// the layers hoist made are `tar+zstd`, the config (so the id) is the
/// one a gzip build of the same input gives (both with
/// SOURCE_DATE_EPOCH=0), and the engine runs it.
///
/// A fresh store, because on a cache hit hoist keeps the layers' existing
/// compression, as BuildKit does without `force-compression=true`.
fn zstd_output(engine: &dyn Engine, b: &Built, base: &Path, dir: &Path) -> Result<()> {
    fs::create_dir_all(dir)?;
    let build = |compression: &str| -> Result<(String, PathBuf)> {
        let hoist = Hoist::new(&dir.join(format!("store-{compression}")));
        hoist.load(base)?;
        let tar = dir.join(format!("app-{compression}.tar"));
        let id = hoist.build(
            &b.ctx,
            &[
                "-t",
                APP,
                "--compression",
                compression,
                "-o",
                &format!("type=oci,dest={}", tar.display()),
            ],
            &[("SOURCE_DATE_EPOCH", "0")],
        )?;
        Ok((id, tar))
    };
    let (id, tar) = build("zstd")?;
    let (gzip_id, _) = build("gzip")?;
    ensure!(
        id == gzip_id,
        "--compression zstd gave the id {id}, gzip {gzip_id}: the config must not depend on compression"
    );
    let index = tar_json(&tar, "index.json")?;
    let digest = index["manifests"][0]["digest"].as_str().unwrap_or_default();
    let manifest = tar_json(
        &tar,
        &format!("blobs/sha256/{}", digest.trim_start_matches("sha256:")),
    )?;
    let types: Vec<&str> = manifest["layers"]
        .as_array()
        .map(|a| a.iter().filter_map(|l| l["mediaType"].as_str()).collect())
        .unwrap_or_default();
    // The first layer is the base's (loaded gzip); the rest are hoist's.
    ensure!(
        types.len() > 1
            && types[1..]
                .iter()
                .all(|t| *t == "application/vnd.oci.image.layer.v1.tar+zstd"),
        "--compression zstd wrote layers {types:?} (want the app's layers tar+zstd)"
    );
    load_and_check(engine, &tar, &id)
}

// ---------------------------------------------------------------------------
// The tests

#[test]
fn docker() {
    let _serial = lock();
    if !prerequisites("docker", &[DOCKERD, DOCKER, "containerd", "runc"]) {
        return;
    }
    engine_test("docker", |scratch, suite| {
        let base = fixture::busybox_tar(&scratch.dir)?;
        let mut d = Docker::start(scratch)?;
        if suite.case("baseline: the mkimage.sh busybox loads and runs", || {
            fixture::check_baseline(&d, &base)
        }) && hoist_ready("docker (hoist cases)")
        {
            let dir = scratch.sub("hoist")?;
            if hoist_cases(suite, &d, &dir, &base, "docker").is_some() {
                suite.case(
                    "docker save → hoist load → build FROM → fsck → docker run",
                    || round_trip(&d, &dir.join("round-trip"), |tar| d.save(APP, tar)),
                );
            }
            suite.case(
                "an image built with RUN: same output in hoist run, keel run and docker run",
                || run_built_image_everywhere(&d, &dir.join("run-everywhere"), &base),
            );
        }
        d.stop();
        Ok(())
    });
}

#[test]
fn podman() {
    let _serial = lock();
    if !prerequisites("podman", &["podman", "conmon", "runc"]) {
        return;
    }
    engine_test("podman", |scratch, suite| {
        let base = fixture::busybox_tar(&scratch.dir)?;
        let p = Podman::new(scratch)?;
        if suite.case("baseline: the mkimage.sh busybox loads and runs", || {
            fixture::check_baseline(&p, &base)
        }) && hoist_ready("podman (hoist cases)")
        {
            let dir = scratch.sub("hoist")?;
            suite.case(
                "an image built with RUN: same output in hoist run, keel run and podman run",
                || run_built_image_everywhere(&p, &dir.join("run-everywhere"), &base),
            );
            if let Some(b) = hoist_cases(suite, &p, &dir, &base, "docker") {
                suite.case(
                    "podman save (docker-archive) → hoist load → build FROM → fsck → podman run",
                    || round_trip(&p, &dir.join("round-trip"), |tar| p.save(APP, tar)),
                );
                suite.case("podman save --format oci-archive → hoist load → build FROM → fsck → podman run", || {
                    round_trip(&p, &dir.join("round-trip-oci"), |tar| {
                        run_ok(p.podman(&["save", "--format", "oci-archive", "-o"]).arg(tar).arg(APP))?;
                        Ok(())
                    })
                });
                // Last: it replaces the app with a zstd one, which a
                // docker-archive cannot hold.
                suite.case(
                    "--compression zstd -o type=oci → podman load → run",
                    || zstd_output(&p, &b, &base, &dir.join("zstd")),
                );
            }
        }
        p.reset();
        Ok(())
    });
}

#[test]
fn containerd() {
    let _serial = lock();
    if !prerequisites("containerd", &["containerd", "ctr", "runc"]) {
        return;
    }
    engine_test("containerd", |scratch, suite| {
        let base = fixture::busybox_tar(&scratch.dir)?;
        let mut c = Containerd::start(scratch)?;
        if suite.case("baseline: the mkimage.sh busybox imports and runs", || {
            fixture::check_baseline(&c, &base)
        }) && hoist_ready("containerd (hoist cases)")
        {
            let dir = scratch.sub("hoist")?;
            if let Some(b) = hoist_cases(suite, &c, &dir, &base, "oci") {
                suite.case("the imported image's name is the full reference", || {
                    let names = c.image_names()?;
                    ensure!(
                        names.contains(&full_name(APP)),
                        "`ctr images ls` lists {names:?} (want {})",
                        full_name(APP)
                    );
                    Ok(())
                });
                suite.case(
                    "ctr images export → hoist load → build FROM → fsck → ctr run",
                    || round_trip(&c, &dir.join("round-trip"), |tar| c.save(APP, tar)),
                );
                suite.case(
                    "--compression zstd -o type=oci → ctr import → run",
                    || zstd_output(&c, &b, &base, &dir.join("zstd")),
                );
            }
        }
        c.stop();
        Ok(())
    });
}

/// `index.json` of an OCI layout dir: its one manifest descriptor.
fn layout_manifest(layout: &Path) -> Result<serde_json::Value> {
    let index: serde_json::Value = serde_json::from_slice(
        &fs::read(layout.join("index.json")).context("read the layout's index.json")?,
    )?;
    match index["manifests"].as_array().map(Vec::as_slice) {
        Some([m]) => Ok(m.clone()),
        _ => bail!(
            "index.json of {} has not exactly one manifest: {index}",
            layout.display()
        ),
    }
}

/// Push `oci:LAYOUT:REF` with skopeo to the registry as REPO:TAG and check
/// the registry serves the same manifest and config.
fn push_and_fetch(
    reg: &Registry,
    layout: &Path,
    reference: &str,
    repo: &str,
    tag: &str,
    manifest_digest: &str,
    config_digest: &str,
) -> Result<()> {
    run_ok(
        Command::new("skopeo")
            .args(["copy", "--dest-tls-verify=false"])
            .arg(format!("oci:{}:{reference}", layout.display()))
            .arg(format!("docker://{}/{repo}:{tag}", reg.addr)),
    )?;
    let (media_type, digest, m) = reg.manifest(repo, tag)?;
    ensure!(
        m["config"]["digest"] == config_digest,
        "the registry's manifest of {repo}:{tag} has config {} (want {config_digest}): {m}",
        m["config"]["digest"]
    );
    ensure!(
        digest == manifest_digest,
        "the registry serves {repo}:{tag} with digest {digest} (the layout has {manifest_digest})"
    );
    ensure!(
        media_type == "application/vnd.oci.image.manifest.v1+json",
        "the registry serves {repo}:{tag} as {media_type:?}"
    );
    // The config blob itself is there and hashes to the id.
    let r = reg.get(&format!("/v2/{repo}/blobs/{config_digest}"), "*/*")?;
    ensure!(r.status == 200, "GET the config blob: status {}", r.status);
    let got = support::command::run_with_input(&mut Command::new("sha256sum"), &r.body)?;
    ensure!(
        format!(
            "sha256:{}",
            got.stdout.split_whitespace().next().unwrap_or_default()
        ) == config_digest,
        "the config blob the registry serves does not hash to {config_digest}"
    );
    Ok(())
}

#[test]
fn registry() {
    let _serial = lock();
    if !prerequisites(
        "registry",
        &[REGISTRY, "skopeo", "umoci", "tar", "containerd", "ctr"],
    ) {
        return;
    }
    engine_test("registry", |scratch, suite| {
        let base = fixture::busybox_tar(&scratch.dir)?;
        let mut reg = Registry::start(scratch)?;
        say(&format!(
            "interop::registry: docker-registry on {}",
            reg.addr
        ));
        let baseline = suite.case(
            "baseline: the busybox OCI layout → umoci ls, skopeo push, registry API",
            || {
                let layout = scratch.sub("busybox-layout")?;
                run_ok(
                    Command::new("tar")
                        .arg("-xf")
                        .arg(&base)
                        .arg("-C")
                        .arg(&layout),
                )?;
                let m = layout_manifest(&layout)?;
                let ls = run_ok(Command::new("umoci").args(["ls", "--layout"]).arg(&layout))?;
                ensure!(
                    ls.stdout.lines().any(|l| l == "latest"),
                    "umoci ls printed {:?}",
                    ls.stdout
                );
                let blob = layout.join("blobs/sha256").join(
                    m["digest"]
                        .as_str()
                        .unwrap_or_default()
                        .trim_start_matches("sha256:"),
                );
                let manifest: serde_json::Value = serde_json::from_slice(&fs::read(blob)?)?;
                push_and_fetch(
                    &reg,
                    &layout,
                    "latest",
                    "busybox",
                    "latest",
                    m["digest"].as_str().unwrap_or_default(),
                    manifest["config"]["digest"].as_str().unwrap_or_default(),
                )
            },
        );
        if baseline && hoist_ready("registry (hoist cases)") {
            let dir = scratch.sub("hoist")?;
            let hoist = Hoist::new(&dir.join("store"));
            let layout = dir.join("layout");
            let mut built: Option<(String, String, String)> = None;
            suite.case(&format!("hoist build -t {APP} -o type=oci-layout"), || {
                hoist.load(&base)?;
                let ctx = fixture::app_context(&dir.join("app-context"))?;
                let id = hoist.build(
                    &ctx,
                    &["-t", APP, "-o", &format!("type=oci-layout,dest={}", layout.display())],
                    &[],
                )?;
                let m = layout_manifest(&layout)?;
                let digest = m["digest"].as_str().unwrap_or_default().to_string();
                ensure!(is_digest(&digest), "index.json's manifest has no digest: {m}");
                let inspected = hoist.manifest_digest(APP)?;
                ensure!(
                    digest == inspected,
                    "the layout's manifest is {digest}, `hoist inspect` says {inspected}"
                );
                let Some(reference) = m["annotations"]["org.opencontainers.image.ref.name"].as_str()
                else {
                    bail!("index.json's manifest has no org.opencontainers.image.ref.name: {m}");
                };
                ensure!(
                    reference == APP_TAG,
                    "org.opencontainers.image.ref.name is {reference:?} (want {APP_TAG:?}, as BuildKit writes it)"
                );
                built = Some((id, digest, reference.to_string()));
                Ok(())
            });
            if let Some((id, digest, reference)) = built {
                suite.case("skopeo inspect oci:DIR:REF and umoci ls see it", || {
                    let out = run_ok(
                        Command::new("skopeo")
                            .arg("inspect")
                            .arg(format!("oci:{}:{reference}", layout.display())),
                    )?;
                    let v: serde_json::Value = serde_json::from_str(&out.stdout)?;
                    ensure!(
                        v["Digest"] == digest.as_str(),
                        "skopeo's Digest {} (want {digest})",
                        v["Digest"]
                    );
                    ensure!(
                        v["Labels"]["com.example.words"] == "two words",
                        "skopeo's Labels {}",
                        v["Labels"]
                    );
                    let cfg = run_ok(
                        Command::new("skopeo")
                            .args(["inspect", "--config"])
                            .arg(format!("oci:{}:{reference}", layout.display())),
                    )?;
                    let cfg: serde_json::Value = serde_json::from_str(&cfg.stdout)?;
                    ensure!(
                        cfg["config"]["User"] == "keel" && cfg["config"]["WorkingDir"] == "/app",
                        "skopeo inspect --config: {}",
                        cfg["config"]
                    );
                    let ls = run_ok(Command::new("umoci").args(["ls", "--layout"]).arg(&layout))?;
                    ensure!(
                        ls.stdout.lines().any(|l| l == reference),
                        "umoci ls printed {:?} (want {reference})",
                        ls.stdout
                    );
                    let unpacked = dir.join("umoci-bundle");
                    run_ok(
                        Command::new("umoci")
                            .args(["unpack", "--image"])
                            .arg(format!("{}:{reference}", layout.display()))
                            .arg(&unpacked),
                    )?;
                    let hello = fs::read_to_string(unpacked.join("rootfs/app/hello.txt"))?;
                    ensure!(
                        hello == "hello from hoist\n",
                        "umoci unpacked hello.txt as {hello:?}"
                    );
                    let link = fs::read_link(unpacked.join("rootfs/app/link"))?;
                    ensure!(
                        link == Path::new("hello.txt"),
                        "umoci unpacked link → {link:?}"
                    );
                    Ok(())
                });
                let pushed = suite.case(
                    "skopeo copy → docker-registry; manifest and config from the API",
                    || push_and_fetch(&reg, &layout, &reference, APP_REPO, APP_TAG, &digest, &id),
                );
                if pushed {
                    suite.case(
                        "ctr images pull --plain-http from the registry → ctr run",
                        || {
                            let mut c = Containerd::start(scratch)?;
                            let res = (|| {
                                let name = format!("{}/{APP_REPO}:{APP_TAG}", reg.addr);
                                run_ok(&mut c.ctr(&["images", "pull", "--plain-http", &name]))?;
                                ensure!(
                                    c.image_target(&name)? == digest,
                                    "ctr pulled a different manifest"
                                );
                                check_app(&c, &name, &id, "default-arg")
                            })();
                            c.stop();
                            res
                        },
                    );
                } else {
                    suite.blocked("ctr images pull", "the push");
                }
            }
        }
        reg.stop();
        Ok(())
    });
}

/// Digests of one SOURCE_DATE_EPOCH=0 build: (image id, manifest digest
/// from inspect, manifest digest in the OCI layout's index.json).
fn reproducible_build(dir: &Path, base: &Path, touch: &str) -> Result<(String, String, String)> {
    let hoist = Hoist::new(&dir.join("store"));
    hoist.load(base)?;
    let ctx = fixture::app_context(&dir.join("context"))?;
    // Every file and dir of the context gets this mtime (symlinks too).
    run_ok(
        Command::new("find")
            .arg(&ctx)
            .args(["-exec", "touch", "-h", "-d", touch, "{}", "+"]),
    )?;
    let iidfile = dir.join("iid");
    let layout = dir.join("layout");
    let id = hoist.build(
        &ctx,
        &[
            "-t",
            APP,
            "--iidfile",
            &iidfile.display().to_string(),
            "-o",
            &format!("type=oci-layout,dest={}", layout.display()),
        ],
        &[("SOURCE_DATE_EPOCH", "0")],
    )?;
    let iid = fs::read_to_string(&iidfile)?.trim().to_string();
    ensure!(iid == id, "--iidfile {iid} != stdout {id}");
    let inspected = hoist.manifest_digest(APP)?;
    let m = layout_manifest(&layout)?;
    let in_layout = m["digest"].as_str().unwrap_or_default().to_string();
    ensure!(
        inspected == in_layout,
        "inspect's manifest {inspected} != index.json's {in_layout}"
    );
    let v = hoist.inspect(APP)?;
    ensure!(
        v["Created"] == "1970-01-01T00:00:00Z",
        "SOURCE_DATE_EPOCH=0 gave Created {} (want 1970-01-01T00:00:00Z)",
        v["Created"]
    );
    Ok((id, inspected, in_layout))
}

#[test]
fn reproducible() {
    let _serial = lock();
    if !prerequisites("reproducible", &["find", "touch"]) || !hoist_ready("reproducible") {
        return;
    }
    engine_test("reproducible", |scratch, suite| {
        let base = fixture::busybox_tar(&scratch.dir)?;
        let mut builds = Vec::new();
        for (name, touch) in [("a", "2001-02-03 04:05:06"), ("b", "2024-12-31 23:59:59")] {
            suite.case(
                &format!("SOURCE_DATE_EPOCH=0 build {name} (context mtime {touch})"),
                || {
                    builds.push(reproducible_build(&scratch.sub(name)?, &base, touch)?);
                    Ok(())
                },
            );
        }
        if let [a, b] = builds.as_slice() {
            suite.case(
                "both builds give the same image id and manifest digest",
                || {
                    ensure!(a == b, "build a gave {a:?}, build b gave {b:?}");
                    Ok(())
                },
            );
            suite.case(
                "without SOURCE_DATE_EPOCH the id differs (the check can fail)",
                || {
                    let dir = scratch.dir.join("a");
                    let hoist = Hoist::new(&dir.join("store"));
                    let id = hoist.build(&dir.join("context"), &["--no-cache"], &[])?;
                    ensure!(
                        id != a.0,
                        "a build without SOURCE_DATE_EPOCH gave the same id {id} as with it"
                    );
                    Ok(())
                },
            );
        } else {
            suite.blocked("same digests", "a build");
        }
        Ok(())
    });
}
