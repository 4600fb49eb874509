//! The suite must catch a deliberately broken runtime: hack/broken-runtime.sh
//! is keel minus --console-socket and root.readonly. Run against it (with
//! runc as the reference), the runner must exit 1 and name those tests.
//!
//! Needs root, runc, the keel binary, the static keel-check and the rootfs
//! (hack/conformance.sh builds them all).

use std::path::PathBuf;
use std::process::Command;

use anyhow::{ensure, Context, Result};

fn ws() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace")
        .to_path_buf()
}

#[test]
fn suite_fails_a_broken_runtime() -> Result<()> {
    let ws = ws();
    let keel = std::env::var_os("KEEL_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| ws.join("target/release/keel"));
    ensure!(
        keel.is_file(),
        "{} missing: run `cargo build --release -p keel-runtime` (or hack/conformance.sh)",
        keel.display()
    );
    let out = Command::new(env!("CARGO_BIN_EXE_keel-conformance"))
        .env("KEEL_BIN", &keel)
        .args([
            "--runtime",
            &format!("broken={}", ws.join("hack/broken-runtime.sh").display()),
            "--runtime",
            "runc",
            "--filter",
            "process/terminal-stdio-is-pty",
            "--filter",
            "root/readonly-true",
            "--format",
            "tap",
        ])
        .output()
        .context("run keel-conformance")?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    ensure!(
        out.status.code() == Some(1),
        "exit {:?} (want 1: a regression)\n{stdout}\n{stderr}",
        out.status.code()
    );
    for id in ["process/terminal-stdio-is-pty", "root/readonly-true"] {
        ensure!(
            stdout.contains(&format!("#   {id}:")),
            "{id} is not among the regressions:\n{stdout}"
        );
    }
    ensure!(
        stdout
            .lines()
            .last()
            .is_some_and(|l| l.starts_with("runc: 2 passed")),
        "runc must pass both:\n{stdout}"
    );
    Ok(())
}
