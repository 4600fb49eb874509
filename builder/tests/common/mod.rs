//! What hoist's end-to-end tests share (build, copy_layers, run,
//! run_mounts, hoist_run): a private store in a temp dir (`Env`) with the
//! hoist binary run against it (`Run`), the busybox base image, the layer
//! tars of an image read back from the store, and the prerequisites of the
//! tests that run containers.
//!
//! Each test binary compiles its own copy (`mod common;`), so the statics
//! here (the busybox tar, the mkimage lock) are per binary. Nothing here
//! stops a process, and cleanup touches only what lies under an `Env`'s
//! own temp dir.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Mutex, OnceLock};

use anyhow::{bail, ensure, Context as _, Result};
use serde_json::Value;

pub fn hoist_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_hoist"))
}

/// keel, built next to hoist (where hoist looks for it first).
pub fn keel_bin() -> PathBuf {
    hoist_bin().with_file_name("keel")
}

pub fn runc() -> Option<PathBuf> {
    ["/usr/sbin/runc", "/usr/bin/runc"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
}

pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

/// keel and keel-shim next to hoist, root, busybox: or the reason why not.
pub fn missing_prerequisite() -> Option<String> {
    let dir = hoist_bin().parent().map(Path::to_path_buf)?;
    for b in ["keel", "keel-shim"] {
        if !dir.join(b).is_file() {
            return Some(format!(
                "{b} is not built in {} (cargo build -p keel-runtime -p keel-shim -p hoist, same CARGO_TARGET_DIR)",
                dir.display()
            ));
        }
    }
    if !nix::unistd::geteuid().is_root() {
        return Some("tests that run containers need root".into());
    }
    if !Path::new("/bin/busybox").is_file() {
        return Some("busybox-static is not installed (apt-get install busybox-static)".into());
    }
    None
}

/// Returns `Ok(())` from a test that cannot run here, after a loud
/// SKIPPED line with the reason (`missing_prerequisite`).
#[allow(unused_macros)] // not every test binary runs containers
macro_rules! require {
    () => {
        if let Some(why) = $crate::common::missing_prerequisite() {
            eprintln!("\n!!!!!!!! SKIPPED {}: {why} !!!!!!!!\n", module_path!());
            return Ok(());
        }
    };
}
#[allow(unused_imports)]
pub(crate) use require;

/// One mkimage.sh at a time: mkrootfs builds its template once.
static MKIMAGE: Mutex<()> = Mutex::new(());

/// Writes `busybox:latest` (Cmd `sh`) as an image tar at `out`, with
/// hack/engines/mkimage.sh.
pub fn mkimage(out: &Path) -> Result<()> {
    let _g = MKIMAGE.lock().unwrap_or_else(|e| e.into_inner());
    let o = Command::new("sh")
        .arg(workspace().join("hack/engines/mkimage.sh"))
        .arg(out)
        .args(["busybox:latest", "sh"])
        .output()
        .context("run mkimage.sh")?;
    ensure!(
        o.status.success(),
        "mkimage.sh failed:\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    Ok(())
}

/// The busybox base image tar, made once per test binary in the target's
/// tmp dir (`<binary>-busybox-<pid>.tar`). The tars of earlier runs whose
/// process is gone are removed first (a test binary can't remove its own
/// at exit: statics are never dropped).
pub fn busybox_tar() -> &'static Path {
    static TAR: OnceLock<PathBuf> = OnceLock::new();
    TAR.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR"));
        fs::create_dir_all(dir).expect("target tmpdir");
        let binary = env!("CARGO_CRATE_NAME").replace('_', "-");
        let prefix = format!("{binary}-busybox-");
        for ent in fs::read_dir(dir).into_iter().flatten().flatten() {
            let name = ent.file_name().to_string_lossy().into_owned();
            let pid = name
                .strip_prefix(&prefix)
                .and_then(|r| r.strip_suffix(".tar"));
            if let Some(pid) = pid.filter(|p| p.bytes().all(|b| b.is_ascii_digit())) {
                if !Path::new("/proc").join(pid).exists() {
                    let _ = fs::remove_file(ent.path());
                }
            }
        }
        let out = dir.join(format!("{prefix}{}.tar", std::process::id()));
        mkimage(&out).unwrap_or_else(|e| panic!("{e:#}"));
        out
    })
}

/// What a command did. A death by signal counts as 128 + the signal.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Run {
    fn from(o: Output) -> Run {
        Run {
            code: o
                .status
                .code()
                .unwrap_or_else(|| 128 + o.status.signal().unwrap_or(0)),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

impl Run {
    pub fn ok(self) -> Result<Run> {
        self.code_is(0)
    }
    pub fn code_is(self, want: i32) -> Result<Run> {
        if self.code != want {
            bail!(
                "exit {} (want {want}):\nstdout:\n{}\nstderr:\n{}",
                self.code,
                self.stdout,
                self.stderr
            );
        }
        Ok(self)
    }
    pub fn failed(self) -> Result<Run> {
        if self.code == 0 {
            bail!(
                "hoist should have failed:\n{}\n{}",
                self.stdout,
                self.stderr
            );
        }
        Ok(self)
    }
    /// Asserts a failure without a panic and returns the last `error:` line.
    pub fn err(self) -> Result<String> {
        let r = self.failed()?;
        if r.stderr.contains("panicked") {
            bail!("hoist panicked:\n{}", r.stderr);
        }
        Ok(r.error_line().to_owned())
    }
    /// The last `error:` line of stderr, or "".
    pub fn error_line(&self) -> &str {
        self.stderr
            .lines()
            .rev()
            .find(|l| l.starts_with("error:"))
            .unwrap_or("")
    }
    /// The last line of stdout: the image id of a build.
    pub fn id(&self) -> String {
        self.stdout.trim().lines().last().unwrap_or("").to_owned()
    }
    /// How many steps were CACHED.
    pub fn cached(&self) -> usize {
        self.stderr
            .lines()
            .filter(|l| l.ends_with(" CACHED"))
            .count()
    }
    /// How many steps (and context, FROM, export) were DONE.
    pub fn done(&self) -> usize {
        self.stderr
            .lines()
            .filter(|l| l.starts_with('#') && l.contains(" DONE "))
            .count()
    }
    /// Whether the RUN step whose progress line contains `needle` was CACHED.
    pub fn step_cached(&self, needle: &str) -> Result<bool> {
        let lines: Vec<&str> = self.stderr.lines().collect();
        let i = lines
            .iter()
            .position(|l| l.contains(needle) && l.contains("RUN"))
            .with_context(|| format!("no step {needle:?} in:\n{}", self.stderr))?;
        Ok(lines.get(i + 1).is_some_and(|l| l.ends_with(" CACHED")))
    }
}

/// One layer entry.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Tar type byte: b'0' file, b'1' hardlink, b'2' symlink, b'5' dir.
    pub kind: u8,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    /// File content.
    pub data: Vec<u8>,
    /// Link target (types 1 and 2); empty for the others.
    pub link: String,
    /// PAX records (`SCHILY.xattr.*` and friends).
    pub pax: BTreeMap<String, Vec<u8>>,
    /// Device major and minor (types 3 and 4).
    pub dev: (u32, u32),
}

impl Entry {
    pub fn meta(&self) -> (u8, u32, u64, u64) {
        (self.kind, self.mode, self.uid, self.gid)
    }
}

/// A layer: path (directories end in `/`) → entry.
pub type Layer = BTreeMap<String, Entry>;

/// Reads a (compressed) layer blob.
pub fn read_layer(blob: &Path) -> Result<Layer> {
    let r = hoist::layer::decompress(fs::File::open(blob)?)?;
    let mut a = tar::Archive::new(r);
    let mut m = Layer::new();
    for e in a.entries()? {
        let mut e = e?;
        let path = String::from_utf8_lossy(&e.path_bytes()).into_owned();
        let mut pax = BTreeMap::new();
        if let Some(exts) = e.pax_extensions()? {
            for x in exts {
                let x = x?;
                pax.insert(x.key()?.to_owned(), x.value_bytes().to_vec());
            }
        }
        let h = e.header().clone();
        let link = e
            .link_name_bytes()
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default();
        let dev = (
            // GNU tar leaves these fields blank on non-devices.
            h.device_major().ok().flatten().unwrap_or(0),
            h.device_minor().ok().flatten().unwrap_or(0),
        );
        let mut data = Vec::new();
        e.read_to_end(&mut data)?;
        m.insert(
            path,
            Entry {
                kind: h.entry_type().as_byte(),
                mode: h.mode()?,
                uid: h.uid()?,
                gid: h.gid()?,
                data,
                link,
                pax,
                dev,
            },
        );
    }
    Ok(m)
}

/// Mount points (from our mountinfo) under `root`.
pub fn mounts_under(root: &Path) -> Vec<String> {
    let root = root.to_string_lossy().into_owned();
    fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split(' ').nth(4).map(str::to_owned))
        .filter(|m| m.starts_with(&root))
        .collect()
}

/// A private store plus a scratch area, in a temp dir of its own.
pub struct Env {
    dir: tempfile::TempDir,
    /// Variables hoist runs without (each test binary has its list).
    unset: &'static [&'static str],
    /// Whether dropping it deletes the containers and detaches the mounts
    /// a failed test left (the RUN tests).
    reap: bool,
}

impl Env {
    /// An empty store; hoist runs without the variables in `unset`.
    pub fn new(unset: &'static [&'static str]) -> Result<Env> {
        Ok(Env {
            dir: tempfile::tempdir()?,
            unset,
            reap: false,
        })
    }
    /// For the tests that run RUN steps: a store with `busybox:latest` from
    /// a tar made for this env alone, and a guard that, dropped, deletes
    /// the containers and detaches the mounts a failed test left.
    pub fn for_run_steps(unset: &'static [&'static str]) -> Result<Env> {
        let mut env = Env::new(unset)?;
        env.reap = true;
        let tar = env.path("busybox.tar");
        mkimage(&tar)?;
        env.load(&tar)?;
        Ok(env)
    }
    /// Loads `busybox:latest` from the tar made once per test binary.
    pub fn load_busybox(&self) -> Result<()> {
        self.load(busybox_tar())
    }
    fn load(&self, tar: &Path) -> Result<()> {
        self.hoist(&["load", "-i", tar.to_str().context("path")?])
            .ok()?;
        Ok(())
    }
    pub fn store(&self) -> PathBuf {
        self.dir.path().join("store")
    }
    pub fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }
    /// `hoist --root STORE ARGS…`, not yet run.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(hoist_bin());
        c.arg("--root").arg(self.store()).args(args);
        for v in self.unset {
            c.env_remove(v);
        }
        c
    }
    pub fn hoist(&self, args: &[&str]) -> Run {
        self.hoist_env(args, &[])
    }
    /// Runs hoist with these variables set.
    pub fn hoist_env(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut c = self.command(args);
        for (k, v) in env {
            c.env(k, v);
        }
        Run::from(c.output().expect("run hoist"))
    }
    /// `hoist build --progress plain EXTRA… CTX`
    pub fn build(&self, ctx: &Path, extra: &[&str]) -> Run {
        self.build_env(ctx, extra, &[])
    }
    pub fn build_env(&self, ctx: &Path, extra: &[&str], env: &[(&str, &str)]) -> Run {
        let mut args = vec!["build", "--progress", "plain"];
        args.extend_from_slice(extra);
        args.push(ctx.to_str().expect("utf-8 path"));
        self.hoist_env(&args, env)
    }
    /// A context directory `name` with these files (path → content).
    pub fn context(&self, name: &str, files: &[(&str, &str)]) -> Result<PathBuf> {
        let dir = self.path(name);
        fs::create_dir_all(&dir)?;
        for (p, content) in files {
            let f = dir.join(p);
            fs::create_dir_all(f.parent().context("parent")?)?;
            fs::write(&f, content)?;
        }
        Ok(dir)
    }
    pub fn inspect(&self, image: &str) -> Result<Value> {
        let r = self.hoist(&["inspect", image]).ok()?;
        let v: Value = serde_json::from_str(&r.stdout)?;
        Ok(v[0].clone())
    }
    pub fn blob(&self, digest: &str) -> PathBuf {
        self.store()
            .join("blobs/sha256")
            .join(digest.trim_start_matches("sha256:"))
    }
    /// Every layer of the image, bottom first, read from the store's blobs.
    pub fn layers(&self, image: &str) -> Result<Vec<Layer>> {
        let v = self.inspect(image)?;
        let mdig = v["Manifest"]["digest"]
            .as_str()
            .context("manifest digest")?;
        let manifest: Value = serde_json::from_slice(&fs::read(self.blob(mdig))?)?;
        let mut out = Vec::new();
        for l in manifest["layers"].as_array().context("layers")? {
            let d = l["digest"].as_str().context("layer digest")?;
            out.push(read_layer(&self.blob(d))?);
        }
        Ok(out)
    }
    /// `hoist unpack` into the new dir `name`; its rootfs.
    pub fn unpack(&self, image: &str, name: &str) -> Result<PathBuf> {
        let dir = self.path(name);
        self.hoist(&["unpack", image, dir.to_str().context("path")?])
            .ok()?;
        Ok(dir.join("rootfs"))
    }
    pub fn fsck_clean(&self) -> Result<()> {
        let r = self.hoist(&["fsck"]);
        if r.code != 0 || r.stdout.contains("problem:") {
            bail!("fsck not clean:\n{}\n{}", r.stdout, r.stderr);
        }
        Ok(())
    }
    pub fn tmp_is_empty(&self) -> Result<()> {
        let tmp = self.store().join("tmp");
        let left: Vec<_> = fs::read_dir(&tmp)?.flatten().map(|e| e.path()).collect();
        ensure!(left.is_empty(), "left in the store's tmp: {left:?}");
        Ok(())
    }
    /// Mount points under this env (there must be none between builds).
    pub fn mounts(&self) -> Vec<String> {
        mounts_under(self.dir.path())
    }
    /// Containers a runtime still lists under this store.
    pub fn runtime_containers(&self, runtime: &Path) -> Result<Vec<String>> {
        let name = runtime.file_name().context("runtime name")?;
        let root = self.store().join("runtime").join(name);
        if !root.exists() {
            return Ok(Vec::new());
        }
        let o = Command::new(runtime)
            .arg("--root")
            .arg(&root)
            .args(["list", "-q"])
            .output()?;
        ensure!(
            o.status.success(),
            "{} list: {}",
            runtime.display(),
            String::from_utf8_lossy(&o.stderr)
        );
        Ok(String::from_utf8_lossy(&o.stdout)
            .lines()
            .map(str::to_owned)
            .filter(|l| !l.is_empty())
            .collect())
    }
}

impl Drop for Env {
    /// With `reap`, whatever a failed test left: containers deleted, mounts
    /// detached (deepest first), so the temp dir can go.
    fn drop(&mut self) {
        if !self.reap {
            return;
        }
        for rt in [Some(keel_bin()), runc()].into_iter().flatten() {
            for id in self.runtime_containers(&rt).unwrap_or_default() {
                let name = rt.file_name().map(PathBuf::from).unwrap_or_default();
                let _ = Command::new(&rt)
                    .arg("--root")
                    .arg(self.store().join("runtime").join(name))
                    .args(["delete", "--force", &id])
                    .status();
            }
        }
        let mut m = self.mounts();
        m.sort_by_key(|p| std::cmp::Reverse(p.len()));
        for p in m {
            let _ = nix::mount::umount2(Path::new(&p), nix::mount::MntFlags::MNT_DETACH);
        }
    }
}
