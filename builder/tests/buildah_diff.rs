//! Differential test: hoist against buildah 1.28 on the Dockerfiles of
//! `tests/buildah_corpus/` (every one has RUN steps). Each case is built by
//! both from the same busybox base (`hack/engines/mkimage.sh`, loaded into
//! a private hoist store and pulled into a private buildah store), and the
//! two images must give the same final filesystem and the same config.
//!
//! - **Filesystem.** Both images' layer tars are applied, in order, to an
//!   in-memory tree by this file's own model of OCI layer semantics
//!   (whiteouts, opaque directories, hard links), so neither tool's
//!   unpacker and no host filesystem sits in between. Compared per path:
//!   type, mode (with setuid/setgid/sticky), uid/gid, symlink target, file
//!   content (sha256), device numbers, xattrs, and which other paths are
//!   hard links of it. Never mtimes.
//! - **Config.** [`CONFIG_FIELDS`], with absent, null and empty taken as
//!   the same, and `Env` as a set: buildah moves a redefined variable to
//!   the end, docker and BuildKit (and hoist) replace it in place; the
//!   order means nothing to the process.
//! - Differences that are expected and justified are in [`ALLOW_STUBS`],
//!   [`ALLOW_LABELS`], [`allow_volume_dirs`] and [`KNOWN_BUILDAH_DIFFS`],
//!   applied to both sides, each with its reason. Anything else fails with
//!   a readable diff.
//!
//! A case directory holds `Dockerfile` and its context files, plus
//! optionally `build-args` (`K=V` lines, passed to both as `--build-arg`)
//! and `Dockerfile.buildah`: buildah's spelling of the same steps where
//! 1.28 lacks the syntax (heredocs came in buildah 1.33).
//!
//! buildah runs as `bud --format docker --layers --isolation oci --runtime
//! /usr/sbin/runc` with `--root/--runroot` in a temp dir.
//! - `--format docker` because buildah's default OCI format drops SHELL
//!   (and then ignores it for later RUNs), HEALTHCHECK and ONBUILD, which
//!   docker build keeps.
//! - `--storage-driver overlay`, not vfs: vfs diffs a step by comparing
//!   two full trees and misses a file whose only change is its link count,
//!   so `ln /lower/a /e` gives `e` as a separate copy. With overlay the
//!   step's upper directory holds the copied-up `a` and `e` linked to it,
//!   as in docker, BuildKit and hoist. The overlay mounts live under the
//!   temp dir and are unmounted at the end.
//!
//! When buildah (or runc, keel, root, busybox) is missing, the test prints
//! a loud `SKIP: reason` and passes; `HOIST_DIFF_REQUIRED=1` makes that a
//! failure. `HOIST_DIFF_CASES=a,b` runs only the cases whose names contain
//! one of the words.
//!
//! This test must never pass silently without comparing, never leave
//! buildah containers, images, mounts or temp dirs behind (also when it
//! fails), and never stop a process except by its own PID.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context as _, Result};
use serde_json::Value;
use sha2::{Digest as _, Sha256};

const RUNC: &str = "/usr/sbin/runc";

/// The longest one build (or push, or pull) may take.
const TIMEOUT: Duration = Duration::from_secs(300);

/// The config fields compared (`config` of the image config).
const CONFIG_FIELDS: &[&str] = &[
    "Env",
    "Cmd",
    "Entrypoint",
    "WorkingDir",
    "User",
    "Labels",
    "ExposedPorts",
    "Volumes",
    "StopSignal",
    "Shell",
    "Healthcheck",
    "OnBuild",
];

/// Entries taken out of both final filesystems when they are exactly
/// this (path, description), with the reason.
const ALLOW_STUBS: &[(&str, &str, &str)] = &[
    (
        "etc/hostname",
        STUB,
        "buildah bind-mounts /etc/hostname into each RUN and leaves the empty \
         mount-point file it made in the layer when the base has none",
    ),
    (
        "etc/hosts",
        STUB,
        "buildah bind-mounts /etc/hosts into each RUN and leaves the empty \
         mount-point file it made in the layer when the base has none",
    ),
    (
        "etc/resolv.conf",
        STUB,
        "buildah bind-mounts /etc/resolv.conf into each RUN and leaves the \
         empty mount-point file it made in the layer when the base has none",
    ),
];

/// What buildah's mount-point stubs look like.
const STUB: &str = "file 0 bytes sha256:e3b0c44298fc1c14 mode 0755 owner 0:0";

/// A VOLUME's directory as buildah makes it.
const VOLUME_DIR: &str = "dir mode 0755 owner 0:0";

/// Known buildah 1.28 deviations from docker build in one case's config:
/// (case, config field, reason). The field is left out of both sides'
/// comparison in that case only.
const KNOWN_BUILDAH_DIFFS: &[(&str, &str, &str)] = &[(
    "18-cmd-shell-form",
    "Cmd",
    "buildah 1.28 wraps a shell-form CMD in /bin/sh -c even after SHELL; \
     docker and BuildKit use the SHELL (here /bin/ash -c), as hoist does",
)];

/// Labels taken out of both configs before comparing, with the reason.
const ALLOW_LABELS: &[(&str, &str)] = &[(
    "io.buildah.version",
    "buildah stamps its own version into every image it commits",
)];

/// Cases whose difference is a known hoist bug: still built and compared,
/// the difference printed, but not a failure. A listed case that matches
/// fails, so the entry goes once the bug is fixed.
const KNOWN_HOIST_BUGS: &[(&str, &str)] = &[];

fn hoist_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_hoist"))
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/buildah_corpus")
}

/// Why the comparison can't run here, if it can't.
fn unavailable() -> Option<String> {
    if !nix::unistd::geteuid().is_root() {
        return Some("needs root (buildah's and hoist's RUN containers)".into());
    }
    match Command::new("buildah")
        .arg("--version")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .output()
    {
        Ok(o) if o.status.success() => {}
        Ok(o) => return Some(format!("`buildah --version` failed ({})", o.status)),
        Err(e) => {
            return Some(format!(
                "buildah is not installed ({e}); apt-get install buildah"
            ))
        }
    }
    if !Path::new(RUNC).is_file() {
        return Some(format!("{RUNC} is not installed (buildah's runtime here)"));
    }
    let dir = hoist_bin().parent().map(Path::to_path_buf)?;
    for b in ["keel", "keel-shim"] {
        if !dir.join(b).is_file() {
            return Some(format!(
                "{b} is not built in {} (cargo build -p keel-runtime -p keel-shim)",
                dir.display()
            ));
        }
    }
    if !Path::new("/bin/busybox").is_file() {
        return Some("busybox-static is not installed (the base image)".into());
    }
    None
}

/// A loud skip, or a failure under `HOIST_DIFF_REQUIRED=1`.
fn skip(why: &str) -> Result<()> {
    if std::env::var("HOIST_DIFF_REQUIRED").is_ok_and(|v| v == "1") {
        bail!("HOIST_DIFF_REQUIRED=1 but the buildah differential cannot run: {why}");
    }
    eprintln!(
        "\n!!!!!!!! SKIP: buildah_diff: {why} (HOIST_DIFF_REQUIRED=1 makes this fail) !!!!!!!!\n"
    );
    Ok(())
}

/// A finished command.
struct Out {
    cmd: String,
    code: i32,
    stdout: String,
    stderr: String,
    took: Duration,
}

impl Out {
    fn ok(self) -> Result<Out> {
        ensure!(
            self.code == 0,
            "`{}` exited {}\n--- stdout:\n{}\n--- stderr:\n{}",
            self.cmd,
            self.code,
            tail(&self.stdout, 40),
            tail(&self.stderr, 40)
        );
        Ok(self)
    }
}

/// The last `n` lines of `s`.
fn tail(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Runs `cmd` with its output in files under `dir` and a deadline; on the
/// deadline it is killed by its PID.
fn run(mut cmd: Command, dir: &Path) -> Result<Out> {
    let desc = format!(
        "{} {}",
        cmd.get_program().to_string_lossy(),
        cmd.get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join(" ")
    );
    let out_path = dir.join("cmd.stdout");
    let err_path = dir.join("cmd.stderr");
    cmd.stdin(Stdio::null())
        .stdout(fs::File::create(&out_path)?)
        .stderr(fs::File::create(&err_path)?);
    let start = Instant::now();
    let mut child = cmd.spawn().with_context(|| format!("starting `{desc}`"))?;
    let status = loop {
        if let Some(s) = child.try_wait()? {
            break s;
        }
        if start.elapsed() > TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            bail!("`{desc}` took more than {TIMEOUT:?}: killed");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Ok(Out {
        cmd: desc,
        code: status.code().unwrap_or(-1),
        stdout: fs::read_to_string(&out_path).unwrap_or_default(),
        stderr: fs::read_to_string(&err_path).unwrap_or_default(),
        took: start.elapsed(),
    })
}

/// The temp dir with the hoist store and the buildah storage; cleans
/// both up when dropped, whatever happened.
struct Workspace {
    dir: tempfile::TempDir,
}

impl Workspace {
    fn new() -> Result<Workspace> {
        let dir = tempfile::Builder::new().prefix("hoist-diff.").tempdir()?;
        for d in ["tmp", "out", "buildah"] {
            fs::create_dir_all(dir.path().join(d))?;
        }
        Ok(Workspace { dir })
    }
    fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }
    fn hoist_store(&self) -> PathBuf {
        self.path("hoist")
    }
    fn hoist(&self, args: &[&str]) -> Result<Out> {
        let mut c = Command::new(hoist_bin());
        c.arg("--root").arg(self.hoist_store()).args(args);
        c.env_remove("SOURCE_DATE_EPOCH")
            .env_remove("HOIST_SNAPSHOTTER")
            .env_remove("HOIST_ROOT");
        run(c, &self.path("out"))
    }
    fn buildah(&self, args: &[&str]) -> Result<Out> {
        let mut c = Command::new("buildah");
        c.arg("--root")
            .arg(self.path("buildah/root"))
            .arg("--runroot")
            .arg(self.path("buildah/run"))
            .args(["--storage-driver", "overlay"])
            .args(args);
        c.env("TMPDIR", self.path("tmp"))
            .env_remove("BUILDAH_ISOLATION")
            .env_remove("STORAGE_DRIVER")
            .env_remove("BUILDAH_FORMAT");
        run(c, &self.path("out"))
    }
    /// Mount points at or under the workspace, deepest first.
    fn mounts(&self) -> Vec<String> {
        let root = self.dir.path().to_string_lossy().into_owned();
        let mut m: Vec<String> = fs::read_to_string("/proc/self/mountinfo")
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.split(' ').nth(4))
            .map(|p| p.replace("\\040", " "))
            .filter(|p| p == &root || p.starts_with(&format!("{root}/")))
            .collect();
        m.sort_by_key(|p| std::cmp::Reverse(p.len()));
        m
    }
}

impl Drop for Workspace {
    fn drop(&mut self) {
        if self.path("buildah/root").exists() {
            let _ = self.buildah(&["rm", "--all"]);
            let _ = self.buildah(&["rmi", "--all", "--force"]);
        }
        let keel = hoist_bin().with_file_name("keel");
        let keel_root = self.hoist_store().join("runtime/keel");
        if keel_root.exists() {
            if let Ok(o) = Command::new(&keel)
                .arg("--root")
                .arg(&keel_root)
                .args(["list", "-q"])
                .output()
            {
                for id in String::from_utf8_lossy(&o.stdout).lines() {
                    let _ = Command::new(&keel)
                        .arg("--root")
                        .arg(&keel_root)
                        .args(["delete", "--force", id])
                        .status();
                }
            }
        }
        for m in self.mounts() {
            let _ = nix::mount::umount2(Path::new(&m), nix::mount::MntFlags::MNT_DETACH);
        }
    }
}

/// One corpus case.
struct Case {
    name: String,
    dir: PathBuf,
    buildah_dockerfile: PathBuf,
    build_args: Vec<String>,
}

fn corpus() -> Result<Vec<Case>> {
    let mut cases = Vec::new();
    for e in fs::read_dir(corpus_dir())? {
        let dir = e?.path();
        if !dir.join("Dockerfile").is_file() {
            continue;
        }
        let name = dir
            .file_name()
            .context("case name")?
            .to_string_lossy()
            .into_owned();
        let alt = dir.join("Dockerfile.buildah");
        let args = dir.join("build-args");
        let build_args = if args.exists() {
            fs::read_to_string(&args)?
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .map(str::to_owned)
                .collect()
        } else {
            Vec::new()
        };
        cases.push(Case {
            name,
            buildah_dockerfile: if alt.exists() {
                alt
            } else {
                dir.join("Dockerfile")
            },
            dir,
            build_args,
        });
    }
    cases.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(cases)
}

// ---------------------------------------------------------------------------
// The filesystem model.

#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    Dir,
    File { sha256: String, size: u64 },
    Symlink(String),
    Fifo,
    Char(u32, u32),
    Block(u32, u32),
}

#[derive(Debug, Clone)]
struct Node {
    kind: Kind,
    mode: u32,
    uid: u64,
    gid: u64,
    xattrs: BTreeMap<String, String>,
    /// Identity for hard links: equal for the names of one file.
    inode: u64,
}

/// A final filesystem: normalized path (no leading `/`, no trailing `/`,
/// the root itself left out) → node.
#[derive(Default)]
struct Tree {
    nodes: BTreeMap<String, Node>,
    next_inode: u64,
}

/// `./a/b/` → `a/b`; `None` for the root.
fn normalize(p: &str) -> Option<String> {
    let parts: Vec<&str> = p
        .split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .collect();
    if parts.is_empty() {
        None
    } else {
        Some(parts.join("/"))
    }
}

fn parent_of(p: &str) -> Option<&str> {
    p.rsplit_once('/').map(|(d, _)| d)
}

impl Tree {
    /// `p` and everything under it.
    fn remove_tree(&mut self, p: &str) {
        self.nodes.remove(p);
        let prefix = format!("{p}/");
        let under: Vec<String> = self
            .nodes
            .range(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(&prefix))
            .map(|(k, _)| k.clone())
            .collect();
        for k in under {
            self.nodes.remove(&k);
        }
    }

    /// Missing parents of `p` made as extraction makes them (0755, 0:0).
    fn make_parents(&mut self, p: &str) {
        let mut missing = Vec::new();
        let mut cur = parent_of(p);
        while let Some(d) = cur {
            if self.nodes.contains_key(d) {
                break;
            }
            missing.push(d.to_owned());
            cur = parent_of(d);
        }
        for d in missing {
            self.next_inode += 1;
            self.nodes.insert(
                d,
                Node {
                    kind: Kind::Dir,
                    mode: 0o755,
                    uid: 0,
                    gid: 0,
                    xattrs: BTreeMap::new(),
                    inode: self.next_inode,
                },
            );
        }
    }

    /// Applies one (possibly compressed) layer tar.
    fn apply(&mut self, blob: &Path) -> Result<()> {
        let r = hoist::layer::decompress(fs::File::open(blob)?)?;
        let mut a = tar::Archive::new(r);
        // Names this layer wrote: an opaque marker spares them.
        let mut added: HashSet<String> = HashSet::new();
        for e in a.entries()? {
            let mut e = e?;
            let raw = String::from_utf8_lossy(&e.path_bytes()).into_owned();
            let Some(path) = normalize(&raw) else {
                continue;
            };
            let (dir, base) = match path.rsplit_once('/') {
                Some((d, b)) => (Some(d), b),
                None => (None, path.as_str()),
            };
            if base == ".wh..wh..opq" {
                let prefix = dir.map(|d| format!("{d}/")).unwrap_or_default();
                let gone: Vec<String> = self
                    .nodes
                    .keys()
                    .filter(|k| k.starts_with(&prefix) && !added.contains(*k))
                    .cloned()
                    .collect();
                for k in gone {
                    self.nodes.remove(&k);
                }
                continue;
            }
            if let Some(name) = base.strip_prefix(".wh.") {
                let victim = match dir {
                    Some(d) => format!("{d}/{name}"),
                    None => name.to_owned(),
                };
                self.remove_tree(&victim);
                continue;
            }
            let h = e.header().clone();
            let mut xattrs = BTreeMap::new();
            if let Some(exts) = e.pax_extensions()? {
                for x in exts {
                    let x = x?;
                    if let Some(k) = x.key()?.strip_prefix("SCHILY.xattr.") {
                        xattrs.insert(k.to_owned(), hex::encode(x.value_bytes()));
                    }
                }
            }
            let ty = h.entry_type();
            let link = e
                .link_name_bytes()
                .map(|b| String::from_utf8_lossy(&b).into_owned());
            let dev = || -> Result<(u32, u32)> {
                Ok((
                    h.device_major()?.unwrap_or(0),
                    h.device_minor()?.unwrap_or(0),
                ))
            };
            self.next_inode += 1;
            let mut node = Node {
                kind: Kind::Dir,
                mode: h.mode()? & 0o7777,
                uid: h.uid()?,
                gid: h.gid()?,
                xattrs,
                inode: self.next_inode,
            };
            node.kind = match ty {
                tar::EntryType::Directory => Kind::Dir,
                tar::EntryType::Regular | tar::EntryType::Continuous => {
                    let mut data = Vec::new();
                    e.read_to_end(&mut data)?;
                    Kind::File {
                        sha256: hex::encode(Sha256::digest(&data)),
                        size: data.len() as u64,
                    }
                }
                tar::EntryType::Symlink => Kind::Symlink(link.clone().unwrap_or_default()),
                tar::EntryType::Fifo => Kind::Fifo,
                tar::EntryType::Char => {
                    let (a, b) = dev()?;
                    Kind::Char(a, b)
                }
                tar::EntryType::Block => {
                    let (a, b) = dev()?;
                    Kind::Block(a, b)
                }
                tar::EntryType::Link => {
                    let target = link
                        .as_deref()
                        .and_then(normalize)
                        .with_context(|| format!("hard link {path} without a target"))?;
                    let t = self.nodes.get(&target).with_context(|| {
                        format!("hard link {path} to {target}, which the layers don't hold")
                    })?;
                    node = t.clone();
                    node.kind.clone()
                }
                other => bail!("{path}: unexpected tar entry type {other:?}"),
            };
            match self.nodes.get(&path) {
                Some(old) if old.kind == Kind::Dir && node.kind == Kind::Dir => {}
                Some(_) => self.remove_tree(&path),
                None => {}
            }
            self.make_parents(&path);
            self.nodes.insert(path.clone(), node);
            added.insert(path);
        }
        Ok(())
    }

    /// Each path's description, with its hard-link peers.
    fn describe(&self) -> BTreeMap<String, String> {
        let mut peers: BTreeMap<u64, Vec<&str>> = BTreeMap::new();
        for (p, n) in &self.nodes {
            if n.kind != Kind::Dir {
                peers.entry(n.inode).or_default().push(p);
            }
        }
        self.nodes
            .iter()
            .map(|(p, n)| {
                let kind = match &n.kind {
                    Kind::Dir => "dir".to_owned(),
                    Kind::File { sha256, size } => {
                        format!("file {size} bytes sha256:{}", &sha256[..16])
                    }
                    Kind::Symlink(t) => format!("symlink -> {t:?}"),
                    Kind::Fifo => "fifo".to_owned(),
                    Kind::Char(a, b) => format!("char device {a}:{b}"),
                    Kind::Block(a, b) => format!("block device {a}:{b}"),
                };
                let mut d = format!("{kind} mode {:04o} owner {}:{}", n.mode, n.uid, n.gid);
                if !n.xattrs.is_empty() {
                    d.push_str(&format!(" xattrs {:?}", n.xattrs));
                }
                if let Some(others) = peers.get(&n.inode).filter(|v| v.len() > 1) {
                    let others: Vec<&str> = others.iter().copied().filter(|o| *o != p).collect();
                    d.push_str(&format!(" hard-linked with {others:?}"));
                }
                (p.clone(), d)
            })
            .collect()
    }
}

/// An image as the comparison sees it.
struct Image {
    fs: BTreeMap<String, String>,
    config: BTreeMap<String, Value>,
    /// Allowlisted entries taken out, for the report.
    allowed: Vec<String>,
}

/// Drops a VOLUME's directory (and its parents) where it is an empty
/// `0755 0:0` directory: buildah mounts a fresh volume there for each RUN
/// after VOLUME and so leaves the mount point in the layer; docker and
/// BuildKit leave making it to the runtime. A VOLUME path that a step
/// filled, or gave another mode or owner, stays compared.
fn allow_volume_dirs(img: &mut Image) {
    let volumes: Vec<String> = img
        .config
        .get("Volumes")
        .and_then(Value::as_object)
        .map(|m| m.keys().filter_map(|k| normalize(k)).collect())
        .unwrap_or_default();
    for v in volumes {
        let mut cur = Some(v.as_str());
        while let Some(p) = cur {
            let prefix = format!("{p}/");
            let empty = !img.fs.keys().any(|k| k.starts_with(&prefix));
            if !(empty && img.fs.get(p).is_some_and(|d| d == VOLUME_DIR)) {
                break;
            }
            img.fs.remove(p);
            img.allowed.push(format!("/{p} (VOLUME directory)"));
            cur = parent_of(p);
        }
    }
}

/// Absent, null and empty are the same; allowlisted labels are dropped.
fn config_view(config: &Value) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    let c = &config["config"];
    for f in CONFIG_FIELDS {
        let mut v = c[*f].clone();
        if *f == "Labels" {
            if let Some(m) = v.as_object_mut() {
                for (l, _) in ALLOW_LABELS {
                    m.remove(*l);
                }
            }
        }
        let empty = match &v {
            Value::Null => true,
            Value::String(s) => s.is_empty(),
            Value::Array(a) => a.is_empty(),
            Value::Object(o) => o.is_empty(),
            _ => false,
        };
        if *f == "Env" {
            if let Some(a) = v.as_array_mut() {
                a.sort_by_key(Value::to_string);
            }
        }
        if !empty {
            out.insert((*f).to_owned(), v);
        }
    }
    out
}

/// The image from its config and layer blobs.
fn image(config: &Path, layers: &[PathBuf]) -> Result<Image> {
    let cfg: Value = serde_json::from_slice(&fs::read(config)?)?;
    let mut tree = Tree::default();
    for l in layers {
        tree.apply(l)
            .with_context(|| format!("applying layer {}", l.display()))?;
    }
    let mut img = Image {
        fs: tree.describe(),
        config: config_view(&cfg),
        allowed: Vec::new(),
    };
    for (p, want, _) in ALLOW_STUBS {
        if img.fs.get(*p).is_some_and(|d| d == want) {
            img.fs.remove(*p);
            img.allowed.push(format!("/{p} (stub)"));
        }
    }
    allow_volume_dirs(&mut img);
    Ok(img)
}

/// hoist's image `name`, read from its store.
fn hoist_image(w: &Workspace, name: &str) -> Result<Image> {
    let o = w.hoist(&["inspect", name])?.ok()?;
    let v: Value = serde_json::from_str(&o.stdout)?;
    let blob = |d: &str| {
        w.hoist_store()
            .join("blobs/sha256")
            .join(d.trim_start_matches("sha256:"))
    };
    let m = v[0]["Manifest"]["digest"]
        .as_str()
        .context("hoist inspect: no Manifest.digest")?;
    let manifest: Value = serde_json::from_slice(&fs::read(blob(m))?)?;
    let config = manifest["config"]["digest"]
        .as_str()
        .context("manifest config")?;
    let layers = manifest["layers"]
        .as_array()
        .context("manifest layers")?
        .iter()
        .map(|l| l["digest"].as_str().map(blob).context("layer digest"))
        .collect::<Result<Vec<_>>>()?;
    image(&blob(config), &layers)
}

/// buildah's image `name`, pushed to a `dir:` directory (the manifest,
/// config and layer blobs as the storage has them).
fn buildah_image(w: &Workspace, name: &str) -> Result<Image> {
    let dir = w.path(&format!("out/{name}.dir"));
    let _ = fs::remove_dir_all(&dir);
    w.buildah(&[
        "push",
        "--quiet",
        name,
        &format!("dir:{}", dir.to_string_lossy()),
    ])?
    .ok()?;
    let manifest: Value = serde_json::from_slice(&fs::read(dir.join("manifest.json"))?)?;
    let blob = |d: &str| dir.join(d.trim_start_matches("sha256:"));
    let config = manifest["config"]["digest"]
        .as_str()
        .context("buildah manifest config")?;
    let layers = manifest["layers"]
        .as_array()
        .context("buildah manifest layers")?
        .iter()
        .map(|l| l["digest"].as_str().map(blob).context("layer digest"))
        .collect::<Result<Vec<_>>>()?;
    let img = image(&blob(config), &layers);
    let _ = fs::remove_dir_all(&dir);
    img
}

/// The differences, one per line; empty when the images agree.
fn differences(hoist: &Image, buildah: &Image) -> Vec<String> {
    let mut d = Vec::new();
    let paths: BTreeSet<&String> = hoist.fs.keys().chain(buildah.fs.keys()).collect();
    for p in paths {
        match (hoist.fs.get(p), buildah.fs.get(p)) {
            (Some(h), None) => d.push(format!("  /{p}: only in hoist: {h}")),
            (None, Some(b)) => d.push(format!("  /{p}: only in buildah: {b}")),
            (Some(h), Some(b)) if h != b => {
                d.push(format!("  /{p}:\n      hoist:   {h}\n      buildah: {b}"))
            }
            _ => {}
        }
    }
    let fields: BTreeSet<&String> = hoist.config.keys().chain(buildah.config.keys()).collect();
    for f in fields {
        let (h, b) = (hoist.config.get(f), buildah.config.get(f));
        if h != b {
            let show = |v: Option<&Value>| v.map_or("(none)".to_owned(), Value::to_string);
            d.push(format!(
                "  config.{f}:\n      hoist:   {}\n      buildah: {}",
                show(h),
                show(b)
            ));
        }
    }
    d
}

/// Builds one case with both and compares; the differences, if any.
fn run_case(w: &Workspace, case: &Case) -> Result<(Vec<String>, String)> {
    let tag = format!("diff-{}", case.name.to_lowercase());
    let ctx = case.dir.to_string_lossy().into_owned();
    let mut args: Vec<String> = Vec::new();
    for a in &case.build_args {
        args.push("--build-arg".into());
        args.push(a.clone());
    }

    let df = case.dir.join("Dockerfile").to_string_lossy().into_owned();
    let mut h: Vec<&str> = vec!["build", "--progress", "plain", "-t", &tag, "-f", &df];
    h.extend(args.iter().map(String::as_str));
    h.push(&ctx);
    let ho = w.hoist(&h)?.ok().context("hoist build")?;

    let bdf = case.buildah_dockerfile.to_string_lossy().into_owned();
    let mut b: Vec<&str> = vec![
        "bud",
        "--format",
        "docker",
        "--layers",
        "--pull=never",
        "--isolation",
        "oci",
        "--runtime",
        RUNC,
        "-t",
        &tag,
        "-f",
        &bdf,
    ];
    b.extend(args.iter().map(String::as_str));
    b.push(&ctx);
    let bo = w.buildah(&b)?.ok().context("buildah bud")?;

    let mut hi = hoist_image(w, &tag).context("reading hoist's image")?;
    let mut bi = buildah_image(w, &tag).context("reading buildah's image")?;
    for (c, f, _) in KNOWN_BUILDAH_DIFFS {
        if *c == case.name {
            for img in [&mut hi, &mut bi] {
                img.config.remove(*f);
                img.allowed
                    .push(format!("config.{f} (known buildah difference)"));
            }
        }
    }
    let shown = |img: &Image| {
        if img.allowed.is_empty() {
            "none".to_owned()
        } else {
            img.allowed.join(", ")
        }
    };
    let stats = format!(
        "{} paths, hoist {:.1}s, buildah {:.1}s; allowlisted in hoist's: {}; in buildah's: {}",
        hi.fs.len(),
        ho.took.as_secs_f64(),
        bo.took.as_secs_f64(),
        shown(&hi),
        shown(&bi)
    );
    Ok((differences(&hi, &bi), stats))
}

#[test]
fn hoist_and_buildah_build_the_same_images() -> Result<()> {
    if let Some(why) = unavailable() {
        return skip(&why);
    }
    let cases = corpus()?;
    ensure!(
        cases.len() >= 15,
        "the corpus has {} cases, want at least 15",
        cases.len()
    );
    let filter: Vec<String> = std::env::var("HOIST_DIFF_CASES")
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();

    let w = Workspace::new()?;
    let base = w.path("busybox.tar");
    let o = Command::new(repo().join("hack/engines/mkimage.sh"))
        .arg(&base)
        .args(["busybox:latest", "sh"])
        .output()?;
    ensure!(
        o.status.success(),
        "mkimage.sh failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let base = base.to_string_lossy().into_owned();
    w.hoist(&["load", "-i", &base])?.ok()?;
    let pulled = w.buildah(&["pull", "--quiet", &format!("docker-archive:{base}")])?;
    if pulled.code != 0 {
        return skip(&format!(
            "buildah cannot pull the base image: {}",
            tail(&pulled.stderr, 5)
        ));
    }
    for (p, _, why) in ALLOW_STUBS {
        println!("allowlisted /{p} as an empty 0755 file: {why}");
    }
    println!("allowlisted VOLUME directories: see allow_volume_dirs");
    for (c, f, why) in KNOWN_BUILDAH_DIFFS {
        println!("allowlisted config.{f} in {c}: {why}");
    }
    for (l, why) in ALLOW_LABELS {
        println!("allowlisted label {l}: {why}");
    }

    let mut failures = Vec::new();
    let mut ran = 0;
    for case in &cases {
        if !filter.is_empty() && !filter.iter().any(|f| case.name.contains(f.as_str())) {
            continue;
        }
        ran += 1;
        let known = KNOWN_HOIST_BUGS
            .iter()
            .find(|(n, _)| *n == case.name)
            .map(|(_, why)| *why);
        match (run_case(&w, case), known) {
            (Ok((d, stats)), None) if d.is_empty() => println!("ok    {} ({stats})", case.name),
            (Ok((d, _)), None) => {
                println!("DIFF  {}", case.name);
                failures.push(format!(
                    "{}: hoist and buildah differ ({} differences):\n{}",
                    case.name,
                    d.len(),
                    d.join("\n")
                ));
            }
            (Ok((d, _)), Some(why)) if d.is_empty() => failures.push(format!(
                "{}: listed in KNOWN_HOIST_BUGS ({why}) but hoist and buildah now agree: \
                 remove the entry",
                case.name
            )),
            (Ok((d, _)), Some(why)) => eprintln!(
                "\n!!!!!!!! SKIP (known hoist bug) {}: {why}\n{}\n",
                case.name,
                d.join("\n")
            ),
            (Err(e), _) => {
                println!("FAIL  {}", case.name);
                failures.push(format!("{}: {e:#}", case.name));
            }
        }
    }
    ensure!(ran > 0, "HOIST_DIFF_CASES={filter:?} matched no case");
    ensure!(
        failures.is_empty(),
        "{} of {ran} cases failed:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
    Ok(())
}

/// The layer model itself, on hand-made tars: a whiteout, an opaque
/// directory that spares its own layer's entries, a hard link, a
/// directory replaced by a file; and a difference is reported.
#[test]
fn the_layer_model_applies_whiteouts_opaque_dirs_and_hard_links() -> Result<()> {
    fn layer(dir: &Path, name: &str, entries: &[(&str, tar::EntryType, &str, u32)]) -> PathBuf {
        let path = dir.join(name);
        let mut b = tar::Builder::new(fs::File::create(&path).expect("layer file"));
        for (p, ty, data, mode) in entries {
            let mut h = tar::Header::new_ustar();
            h.set_entry_type(*ty);
            h.set_mode(*mode);
            h.set_uid(0);
            h.set_gid(0);
            if *ty == tar::EntryType::Link || *ty == tar::EntryType::Symlink {
                h.set_size(0);
                b.append_link(&mut h, p, data).expect("link");
            } else {
                h.set_size(data.len() as u64);
                b.append_data(&mut h, p, data.as_bytes()).expect("entry");
            }
        }
        b.finish().expect("tar");
        path
    }
    use tar::EntryType as T;
    let t = tempfile::tempdir()?;
    let l1 = layer(
        t.path(),
        "1.tar",
        &[
            ("d/", T::Directory, "", 0o755),
            ("d/old", T::Regular, "old", 0o644),
            ("d/sub/", T::Directory, "", 0o700),
            ("d/sub/x", T::Regular, "x", 0o644),
            ("f", T::Regular, "f", 0o644),
            ("g/", T::Directory, "", 0o755),
            ("g/in", T::Regular, "in", 0o644),
            ("s", T::Symlink, "d/old", 0o777),
        ],
    );
    let l2 = layer(
        t.path(),
        "2.tar",
        &[
            ("d/", T::Directory, "", 0o750),
            ("d/new", T::Regular, "new", 0o600),
            ("d/.wh..wh..opq", T::Regular, "", 0o644),
            (".wh.f", T::Regular, "", 0o644),
            ("g", T::Regular, "now a file", 0o644),
            ("h", T::Link, "d/new", 0o644),
            ("deep/er/file", T::Regular, "p", 0o644),
        ],
    );
    let img = image_from_layers(&[l1.clone(), l2])?;
    let names: Vec<&str> = img.keys().map(String::as_str).collect();
    ensure!(
        names
            == [
                "d",
                "d/new",
                "deep",
                "deep/er",
                "deep/er/file",
                "g",
                "h",
                "s"
            ],
        "paths: {names:?}"
    );
    ensure!(img["d"] == "dir mode 0750 owner 0:0", "{}", img["d"]);
    ensure!(
        img["h"].starts_with("file 3 bytes") && img["h"].ends_with("hard-linked with [\"d/new\"]"),
        "{}",
        img["h"]
    );
    ensure!(img["d/new"].contains("mode 0600") && img["d/new"].contains("[\"h\"]"));
    ensure!(img["deep"] == "dir mode 0755 owner 0:0");
    ensure!(img["s"] == "symlink -> \"d/old\" mode 0777 owner 0:0");
    ensure!(img["g"].starts_with("file 10 bytes"));

    let a = Image {
        fs: image_from_layers(std::slice::from_ref(&l1))?,
        config: config_view(&serde_json::json!({"config": {
            "Cmd": ["sh"], "Labels": {"io.buildah.version": "1.28.2"}, "Env": []}})),
        allowed: Vec::new(),
    };
    let mut b = Image {
        fs: a.fs.clone(),
        config: config_view(&serde_json::json!({"config": {"Cmd": ["sh"]}})),
        allowed: Vec::new(),
    };
    ensure!(
        differences(&a, &b).is_empty(),
        "allowlisted label and empty Env"
    );
    b.fs.insert("f".into(), "file 1 bytes mode 0600".into());
    b.config.insert("User".into(), Value::from("keel"));
    let d = differences(&a, &b);
    ensure!(d.len() == 2, "{d:?}");
    ensure!(
        d[0].contains("/f:") && d[1].contains("config.User"),
        "{d:?}"
    );
    Ok(())
}

fn image_from_layers(layers: &[PathBuf]) -> Result<BTreeMap<String, String>> {
    let mut tree = Tree::default();
    for l in layers {
        tree.apply(l)?;
    }
    Ok(tree.describe())
}
