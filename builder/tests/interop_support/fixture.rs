//! The images the interop tests exchange: the busybox base (made by
//! hack/engines/mkimage.sh, no registry needed), the app context that hoist
//! builds on it (files, a directory, a symlink, an executable script, and
//! ENV/WORKDIR/USER/ENTRYPOINT/CMD/LABEL/EXPOSE), what a container of the
//! app must print, and the config every engine must show for it.
//!
//! Every check compares exact bytes or values: none can pass on a partly
//! wrong image.

use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{ensure, Context as _, Result};
use serde_json::json;

use super::command::run_ok;
use super::engine::Engine;

/// The base image's name, as hoist's and the engines' FROM/run see it.
pub const BUSYBOX: &str = "busybox:latest";
/// The app image hoist builds.
pub const APP: &str = "hoist-interop-app:v1";
/// Its repository and tag, for registries and OCI layouts.
pub const APP_REPO: &str = "hoist-interop-app";
pub const APP_TAG: &str = "v1";

pub const DOCKERFILE: &str = r#"FROM busybox:latest
LABEL org.opencontainers.image.title="hoist interop" com.example.words="two words"
ENV GREETING="hello hoist" APP_HOME=/app
WORKDIR $APP_HOME
COPY files/ ./
COPY run.sh /usr/local/bin/run.sh
USER keel
EXPOSE 8080/tcp
ENTRYPOINT ["/usr/local/bin/run.sh"]
CMD ["default-arg"]
"#;

const RUN_SH: &str = r#"#!/bin/sh
echo "args=$*"
echo "user=$(id -u):$(id -g)"
echo "cwd=$(pwd)"
echo "greeting=$GREETING"
echo "home=$APP_HOME"
cat hello.txt sub/nested.txt
echo "link=$(readlink link)"
cat link
stat -c '%n %a %u:%g' . sub sub/nested.txt secret /usr/local /usr/local/bin/run.sh
"#;

/// What the app prints when run with `args` (its CMD is `default-arg`).
pub fn app_output(args: &str) -> String {
    format!(
        "args={args}
user=1000:1000
cwd=/app
greeting=hello hoist
home=/app
hello from hoist
nested file
link=hello.txt
hello from hoist
. 755 0:0
sub 755 0:0
sub/nested.txt 644 0:0
secret 600 0:0
/usr/local 755 0:0
/usr/local/bin/run.sh 755 0:0
"
    )
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// The busybox base image tar (docker-archive and OCI layout in one) in
/// `dir`, from hack/engines/mkimage.sh.
pub fn busybox_tar(dir: &Path) -> Result<PathBuf> {
    let tar = dir.join("busybox.tar");
    run_ok(
        Command::new(workspace().join("hack/engines/mkimage.sh"))
            .arg(&tar)
            .arg(BUSYBOX)
            .arg("sh"),
    )?;
    Ok(tar)
}

fn write(path: &Path, data: &str, mode: u32) -> Result<()> {
    if let Some(p) = path.parent() {
        fs::create_dir_all(p)?;
    }
    fs::write(path, data).with_context(|| format!("write {}", path.display()))?;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))?;
    Ok(())
}

/// The app's build context in `dir` (created).
pub fn app_context(dir: &Path) -> Result<PathBuf> {
    write(&dir.join("Dockerfile"), DOCKERFILE, 0o644)?;
    write(&dir.join("run.sh"), RUN_SH, 0o755)?;
    let files = dir.join("files");
    write(&files.join("hello.txt"), "hello from hoist\n", 0o644)?;
    write(&files.join("sub/nested.txt"), "nested file\n", 0o644)?;
    write(&files.join("secret"), "not for everyone\n", 0o600)?;
    fs::set_permissions(files.join("sub"), fs::Permissions::from_mode(0o755))?;
    fs::set_permissions(&files, fs::Permissions::from_mode(0o755))?;
    std::os::unix::fs::symlink("hello.txt", files.join("link"))?;
    Ok(dir.to_path_buf())
}

/// A context whose Dockerfile builds FROM `base` (the app, loaded back
/// from an engine) and adds one file and a CMD.
pub fn derived_context(dir: &Path, base: &str) -> Result<PathBuf> {
    write(
        &dir.join("Dockerfile"),
        &format!("FROM {base}\nCOPY extra.txt /app/extra.txt\nCMD [\"second\"]\n"),
        0o644,
    )?;
    write(&dir.join("extra.txt"), "extra from the round trip\n", 0o644)?;
    Ok(dir.to_path_buf())
}

/// The busybox base runs in `engine` after loading `tar`: the harness
/// works, whatever hoist does.
pub fn check_baseline(engine: &dyn Engine, tar: &Path) -> Result<()> {
    engine.load(tar)?;
    let out = engine.run(BUSYBOX, &["sh", "-c", "echo baseline $(id -u) $(pwd)"])?;
    out.ok()?;
    ensure!(
        out.stdout == "baseline 0 /\n",
        "`{}` printed {:?} (want \"baseline 0 /\\n\")",
        out.cmd,
        out.stdout
    );
    Ok(())
}

/// A container of the app (`image`, an app or a child of it whose CMD is
/// `cmd`) prints exactly what it must, with its default CMD and with
/// arguments.
pub fn check_app_runs(engine: &dyn Engine, image: &str, cmd: &str) -> Result<()> {
    let out = engine.run(image, &[])?;
    out.ok()?;
    ensure!(
        out.stdout == app_output(cmd),
        "{} ran {image} (`{}`) and it printed:\n{}\nwant:\n{}\nstderr: {}",
        engine.name(),
        out.cmd,
        out.stdout,
        app_output(cmd),
        out.stderr
    );
    let out = engine.run(image, &["one", "two words"])?;
    out.ok()?;
    ensure!(
        out.stdout == app_output("one two words"),
        "{} ran {image} with arguments (`{}`) and it printed:\n{}\nwant:\n{}",
        engine.name(),
        out.cmd,
        out.stdout,
        app_output("one two words")
    );
    Ok(())
}

/// The config the engine shows for the app (or its child with CMD `cmd`)
/// has every value the Dockerfile set.
pub fn check_app_config(engine: &dyn Engine, image: &str, cmd: &str) -> Result<()> {
    let c = engine.config(image)?;
    let env: Vec<&str> = c["Env"]
        .as_array()
        .map(|a| a.iter().filter_map(|v| v.as_str()).collect())
        .unwrap_or_default();
    let mut problems = Vec::new();
    for want in ["GREETING=hello hoist", "APP_HOME=/app"] {
        if !env.contains(&want) {
            problems.push(format!("Env lacks {want:?}"));
        }
    }
    if !env.iter().any(|e| e.starts_with("PATH=")) {
        problems.push("Env lacks the base image's PATH".into());
    }
    let expect = [
        ("Entrypoint", json!(["/usr/local/bin/run.sh"])),
        ("Cmd", json!([cmd])),
        ("WorkingDir", json!("/app")),
        ("User", json!("keel")),
    ];
    for (k, want) in expect {
        if c[k] != want {
            problems.push(format!("{k} is {} (want {want})", c[k]));
        }
    }
    for (k, v) in [
        ("org.opencontainers.image.title", "hoist interop"),
        ("com.example.words", "two words"),
    ] {
        if c["Labels"][k] != json!(v) {
            problems.push(format!("Labels.{k} is {} (want {v:?})", c["Labels"][k]));
        }
    }
    if c["ExposedPorts"].get("8080/tcp").is_none() {
        problems.push(format!(
            "ExposedPorts is {} (want 8080/tcp)",
            c["ExposedPorts"]
        ));
    }
    ensure!(
        problems.is_empty(),
        "{} shows the config of {image} wrong: {}\n  config: {c}",
        engine.name(),
        problems.join("; ")
    );
    Ok(())
}
