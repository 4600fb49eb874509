//! The hoist binary under test, with a store of the test's own: `load`,
//! `build`, `save`, `inspect`, `unpack`, `fsck` as a user types them.
//!
//! Never uses the default store (/var/lib/hoist): every call passes --root.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, ensure, Context as _, Result};

use super::command::{run, run_ok, Out};

/// The binary: $HOIST_BIN, else the one cargo built with this test.
pub fn hoist_bin() -> PathBuf {
    std::env::var_os("HOIST_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_hoist")))
}

/// Why hoist cannot be tested yet (its binary is missing or lacks a
/// command these tests use), or `None` when it can.
pub fn unavailable() -> Option<String> {
    let bin = hoist_bin();
    if !bin.is_file() {
        return Some(format!("no hoist binary at {}", bin.display()));
    }
    let help = match run(Command::new(&bin).arg("--help")) {
        Ok(o) => format!("{}{}", o.stdout, o.stderr),
        Err(e) => return Some(format!("`{} --help` failed: {e:#}", bin.display())),
    };
    let missing: Vec<&str> = ["build", "load", "save", "inspect", "unpack", "fsck"]
        .into_iter()
        .filter(|c| !help.lines().any(|l| l.split_whitespace().next() == Some(c)))
        .collect();
    if missing.is_empty() {
        None
    } else {
        Some(format!(
            "{} has no {} command yet (`--help` lists none)",
            bin.display(),
            missing.join("/")
        ))
    }
}

pub struct Hoist {
    pub bin: PathBuf,
    pub root: PathBuf,
}

impl Hoist {
    pub fn new(root: &Path) -> Hoist {
        Hoist {
            bin: hoist_bin(),
            root: root.to_path_buf(),
        }
    }

    /// `hoist --root ROOT ARGS…`
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&self.bin);
        c.env_remove("SOURCE_DATE_EPOCH")
            .arg("--root")
            .arg(&self.root)
            .args(args);
        c
    }

    /// `hoist load -i INPUT`: the names it printed (`Loaded image: NAME`).
    pub fn load(&self, input: &Path) -> Result<Vec<String>> {
        let out = run_ok(self.cmd(&["load", "-i"]).arg(input))?;
        let names: Vec<String> = out
            .stdout
            .lines()
            .filter_map(|l| l.strip_prefix("Loaded image: "))
            .map(|n| n.trim().to_string())
            .collect();
        ensure!(
            !names.is_empty(),
            "`{}` printed no `Loaded image: NAME` line:\n{}",
            out.cmd,
            out.stdout
        );
        Ok(names)
    }

    /// `hoist build --progress plain ARGS… CONTEXT` with extra environment:
    /// the image id it printed (checked to be `sha256:` and 64 hex digits).
    pub fn build(&self, context: &Path, args: &[&str], env: &[(&str, &str)]) -> Result<String> {
        let mut c = self.cmd(&["build", "--progress", "plain"]);
        c.args(args).arg(context);
        for (k, v) in env {
            c.env(k, v);
        }
        let out = run_ok(&mut c)?;
        let id = out
            .stdout
            .trim()
            .lines()
            .last()
            .unwrap_or_default()
            .to_string();
        ensure!(
            is_digest(&id),
            "`{}` printed {:?} on stdout, not an image id `sha256:<64 hex>`",
            out.cmd,
            out.stdout
        );
        Ok(id)
    }

    pub fn save(&self, tar: &Path, images: &[&str]) -> Result<Out> {
        run_ok(self.cmd(&["save", "-o"]).arg(tar).args(images))
    }

    /// `hoist inspect IMAGE`: its one JSON object.
    pub fn inspect(&self, image: &str) -> Result<serde_json::Value> {
        let out = run_ok(&mut self.cmd(&["inspect", image]))?;
        let v: serde_json::Value = serde_json::from_str(&out.stdout)
            .with_context(|| format!("`{}` printed no JSON:\n{}", out.cmd, out.stdout))?;
        match v {
            serde_json::Value::Array(mut a) if a.len() == 1 => Ok(a.remove(0)),
            v => bail!("`{}` printed {v}, not an array of one image", out.cmd),
        }
    }

    /// The manifest digest of IMAGE (`Manifest.digest` of `hoist inspect`).
    pub fn manifest_digest(&self, image: &str) -> Result<String> {
        let v = self.inspect(image)?;
        let d = v["Manifest"]["digest"].as_str().unwrap_or_default();
        ensure!(
            is_digest(d),
            "`hoist inspect {image}` has no Manifest.digest: {v}"
        );
        Ok(d.to_string())
    }

    /// `hoist fsck`, which must report a clean store.
    pub fn fsck(&self) -> Result<Out> {
        let out = run_ok(&mut self.cmd(&["fsck"]))?;
        ensure!(
            !out.stdout.contains("problem"),
            "`{}` found problems:\n{}",
            out.cmd,
            out.stdout
        );
        Ok(out)
    }

    /// `hoist unpack IMAGE DIR`
    pub fn unpack(&self, image: &str, dir: &Path) -> Result<Out> {
        run_ok(self.cmd(&["unpack", image]).arg(dir))
    }
}

/// `sha256:` and 64 lowercase hex digits.
pub fn is_digest(s: &str) -> bool {
    s.strip_prefix("sha256:").is_some_and(|h| {
        h.len() == 64
            && h.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}
