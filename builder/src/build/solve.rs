//! The cached solve. Each stage starts from its base (scratch, an image in
//! the store, or an earlier stage) and runs its steps in order:
//!
//! - config-only instructions change the image config and add an
//!   `empty_layer` history entry (they print nothing, as in BuildKit);
//! - filesystem steps (COPY, ADD, WORKDIR's mkdir) are keyed BuildKit's way:
//!   `sha256(parent filesystem key + the op + the content hash of what it
//!   selects)` — never an mtime. A hit reuses the recorded layer; a miss
//!   materializes the stage's rootfs, plans the changeset, writes a
//!   deterministic layer into the store and records it.
//!
//! - RUN steps are keyed by the parent key, the command (argv with the
//!   shell), the env (ARGs in scope included, proxy args excluded), user,
//!   cwd, network mode, mount specs and platform; a miss runs the command in
//!   a container ([`crate::run`]) and diffs its filesystem.
//!
//! Independent stages run on their own threads, at most `--jobs` at once;
//! SIGINT/SIGTERM (see [`crate::run::interrupt`]) and a failed stage stop
//! the others between steps and stop a running container. The final
//! image's `created` is that of its newest step, so a fully cached rebuild
//! gives the same image id.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex, OnceLock};

use serde_json::json;

use crate::context::{Context, ContextOptions};
use crate::copy::{self, AddOptions, CopyRequest, SourceRoot};
use crate::digest::Digest;
use crate::dockerfile::instructions::{
    CommandLine, Instruction, NetworkMode, Run as RunInstruction, SecurityMode,
};
use crate::dockerfile::mount::MountType;
use crate::dockerfile::scope::BaseRef;
use crate::dockerfile::{self, BaseImages, BuildOptions, Platform, Resolved, ResolvedStage, Step};
use crate::image::{media, Descriptor, History, ImageConfig};
use crate::layer::{write_layer, Entry, WriteOptions};
use crate::run::{self as runner, MountEnv, MountPlan, Network, RunError, Runtime, StepRequest};
use crate::store::{CacheRecord, Store, StoredImage};

use super::metadata::{self, StageFlags};
use super::progress::{Progress, Vertex};
use super::request::{BuildRequest, BuildResult, ContextSource, Output};
use super::rootfs::Rootfs;
use super::time::{now_secs, rfc3339};
use super::BuildError;

/// What a finished stage hands to the stages after it.
struct StageOut {
    config: ImageConfig,
    layers: Vec<Descriptor>,
    fs_key: Digest,
    /// The stage's rootfs, materialized once for `COPY --from`.
    tree: Mutex<Option<PathBuf>>,
}

/// Where a `--mount`'s `from=` points.
enum MountFrom {
    None,
    Stage(Arc<StageOut>),
    Image(Box<StoredImage>),
}

/// Everything the stage threads share.
struct Shared<'a> {
    store: &'a Store,
    req: &'a BuildRequest,
    ctx: &'a Context,
    resolved: &'a Resolved,
    progress: &'a Progress,
    scratch: &'a Path,
    file: String,
    now: i64,
    /// Set when a stage failed: the others stop.
    cancel: AtomicBool,
    /// Numbers RUN steps (scratch dirs, container ids).
    runs: AtomicUsize,
    /// The runtime, found at the first RUN that misses the cache.
    runtime: OnceLock<Result<Runtime, String>>,
}

impl Shared<'_> {
    /// Stops between steps when interrupted or cancelled.
    fn check(&self) -> Result<(), BuildError> {
        if let Some(signal) = runner::interrupt::received() {
            return Err(BuildError::Interrupted { signal });
        }
        if self.cancel.load(Ordering::SeqCst) {
            return Err(BuildError::Stage("cancelled: another stage failed".into()));
        }
        Ok(())
    }

    fn runtime(&self) -> Result<&Runtime, RunError> {
        self.runtime
            .get_or_init(|| {
                Runtime::find(self.req.runtime.as_deref(), self.store.root())
                    .map_err(|e| e.to_string())
            })
            .as_ref()
            .map_err(|what| RunError::NoRuntime { what: what.clone() })
    }
}

/// A temp directory under the store, removed when the build ends.
struct ScratchDir(PathBuf);

impl Drop for ScratchDir {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_dir_all(&self.0) {
            if e.kind() != std::io::ErrorKind::NotFound {
                tracing::warn!(path = %self.0.display(), error = %e, "could not remove build scratch dir");
            }
        }
    }
}

/// Base images from the store, for the Dockerfile resolver.
struct StoreImages<'a> {
    store: &'a Store,
}

impl StoreImages<'_> {
    fn image(&self, image: &str, platform: Option<&Platform>) -> Result<StoredImage, String> {
        if let Some(p) = platform {
            if p.os != "linux" || p.arch != "amd64" {
                return Err(format!(
                    "platform {}/{} is not supported: hoist builds linux/amd64 only",
                    p.os, p.arch
                ));
            }
        }
        self.store.image(image).map_err(|e| e.to_string())
    }
}

impl BaseImages for StoreImages<'_> {
    fn env(
        &mut self,
        image: &str,
        platform: Option<&Platform>,
    ) -> Result<Vec<(String, String)>, String> {
        Ok(self.image(image, platform)?.config.config.env_pairs())
    }
    fn onbuild(&mut self, image: &str, platform: Option<&Platform>) -> Result<Vec<String>, String> {
        Ok(self
            .image(image, platform)?
            .config
            .config
            .on_build
            .unwrap_or_default())
    }
}

fn key_of(value: &serde_json::Value) -> Digest {
    Digest::of(value.to_string().as_bytes())
}

/// Runs a build: resolves the Dockerfile, solves the needed stages, writes
/// and tags the image, and writes the requested outputs.
pub fn build(store: &Store, req: &BuildRequest) -> Result<BuildResult, BuildError> {
    let _gc = store.gc_lock_shared()?;
    let progress = Progress::new(req.progress);
    if let Some(p) = &req.platform {
        let parsed = Platform::parse(p).map_err(|_| BuildError::Platform {
            platform: p.clone(),
        })?;
        if parsed.os != "linux" || parsed.arch != "amd64" {
            return Err(BuildError::Platform {
                platform: p.clone(),
            });
        }
    }
    let scratch_path = store.root().join("tmp").join(format!(
        "build-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos())
    ));
    std::fs::create_dir_all(&scratch_path).map_err(BuildError::io(
        &scratch_path,
        "create the build scratch dir",
    ))?;
    let scratch = ScratchDir(scratch_path);

    // Context and Dockerfile.
    let v = progress.vertex("[internal] load build definition and context");
    let (ctx, dockerfile_path) = match &req.context {
        ContextSource::Dir(dir) => {
            // One stat cache per context directory.
            let abs = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.clone());
            let hash_cache = Some(
                store
                    .root()
                    .join("context-cache")
                    .join(Digest::of(abs.as_os_str().as_encoded_bytes()).hex()),
            );
            let df = match &req.dockerfile {
                Some(p) => p.clone(),
                None => dir.join("Dockerfile"),
            };
            let ctx = Context::open(dir, &df, ContextOptions { hash_cache })?;
            (ctx, df)
        }
        ContextSource::Stdin => {
            let name = req.dockerfile.as_ref().map_or_else(
                || "Dockerfile".to_owned(),
                |p| p.to_string_lossy().into_owned(),
            );
            let dir = scratch.0.join("context");
            let ctx = Context::from_tar(
                std::io::stdin().lock(),
                &dir,
                &name,
                ContextOptions { hash_cache: None },
            )?;
            let df = ctx.root().join(&name);
            (ctx, df)
        }
    };
    let source = std::fs::read(&dockerfile_path).map_err(BuildError::io(
        &dockerfile_path,
        "read the Dockerfile (set it with -f)",
    ))?;
    let file = dockerfile_path
        .file_name()
        .map_or_else(|| "Dockerfile".into(), |n| n.to_string_lossy().into_owned());
    let opts = BuildOptions {
        build_args: req.build_args.clone(),
        target: req.target.clone(),
        ..BuildOptions::default()
    };
    let resolved = dockerfile::load(&source, &file, &opts, &mut StoreImages { store })?;
    v.done_internal();
    if !resolved.unused_build_args.is_empty() {
        let v = progress.vertex("[warning]");
        v.log(&format!(
            "One or more build-args [{}] were not consumed",
            resolved.unused_build_args.join(" ")
        ));
        v.done_internal();
    }

    let shared = Shared {
        store,
        req,
        ctx: &ctx,
        resolved: &resolved,
        progress: &progress,
        scratch: &scratch.0,
        file,
        now: req.source_date_epoch.unwrap_or_else(now_secs),
        cancel: AtomicBool::new(false),
        runs: AtomicUsize::new(0),
        runtime: OnceLock::new(),
    };
    let outs = solve_stages(&shared)?;
    shared.check()?;
    let target = outs
        .get(&resolved.target)
        .ok_or_else(|| BuildError::Stage("the target stage was not built".into()))?;

    // The image.
    let v = progress.vertex("exporting to image");
    let mut config = target.config.clone();
    if !req.labels.is_empty() {
        let labels = config.config.labels.get_or_insert_with(BTreeMap::new);
        for (k, val) in &req.labels {
            labels.insert(k.clone(), val.clone());
        }
    }
    let created = match req.source_date_epoch {
        Some(e) => rfc3339(e),
        None => config
            .history
            .iter()
            .rev()
            .find_map(|h| h.created.clone())
            .unwrap_or_else(|| rfc3339(shared.now)),
    };
    config.created = Some(created.clone());
    let mut annotations: BTreeMap<String, String> = config
        .config
        .labels
        .iter()
        .flatten()
        .filter(|(k, _)| k.starts_with("org.opencontainers.image."))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    annotations.insert(media::CREATED.into(), created);
    let image = store.write_image(&config, &target.layers, Some(annotations))?;
    v.log(&format!("writing image {} done", image.id));
    let mut names = Vec::new();
    if req.tags.is_empty() {
        store.add_untagged(&image.manifest_desc)?;
    }
    for t in &req.tags {
        let name = crate::store::normalize_name(t)?;
        store.tag(&name, &image.manifest_desc)?;
        v.log(&format!("naming to {name} done"));
        names.push(name);
    }
    let id_ref = image.id.to_string();
    for out in &req.outputs {
        match out {
            Output::Oci(p) => {
                let f = std::fs::File::create(p).map_err(BuildError::io(p, "create the output"))?;
                crate::archive::export_oci_archive(store, &id_ref, &names, f)?;
            }
            Output::Docker(p) => {
                let f = std::fs::File::create(p).map_err(BuildError::io(p, "create the output"))?;
                crate::archive::export_docker_archive(store, &id_ref, &names, f)?;
            }
            Output::OciLayout(p) => crate::archive::export_oci_layout(store, &id_ref, &names, p)?,
        }
        v.log(&format!("exporting to {out:?} done"));
    }
    if let Some(p) = &req.iidfile {
        std::fs::write(p, image.id.to_string())
            .map_err(BuildError::io(p, "write the --iidfile"))?;
    }
    v.done_internal();
    progress.finish("build finished");
    Ok(BuildResult {
        id: image.id,
        manifest: image.manifest_desc,
        names,
        summary: progress.summary(),
        unused_build_args: resolved.unused_build_args.clone(),
    })
}

/// Solves the needed stages: every stage whose dependencies are done runs
/// on its own thread, at most `--jobs` at once. The first failure cancels
/// the others (they stop at their next step) and is returned.
fn solve_stages(sh: &Shared) -> Result<HashMap<usize, Arc<StageOut>>, BuildError> {
    let jobs = match sh.req.jobs {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    };
    let mut done: HashMap<usize, Arc<StageOut>> = HashMap::new();
    let mut pending: Vec<&ResolvedStage> = sh.resolved.stages.iter().collect();
    let mut first_err: Option<BuildError> = None;
    std::thread::scope(|s| {
        let (tx, rx) = mpsc::channel::<(usize, Result<StageOut, BuildError>)>();
        let mut running = 0usize;
        loop {
            while running < jobs && first_err.is_none() {
                let Some(pos) = pending
                    .iter()
                    .position(|st| st.deps.iter().all(|d| done.contains_key(d)))
                else {
                    break;
                };
                let st = pending.remove(pos);
                let deps: HashMap<usize, Arc<StageOut>> = st
                    .deps
                    .iter()
                    .filter_map(|d| done.get(d).map(|o| (*d, Arc::clone(o))))
                    .collect();
                let tx = tx.clone();
                s.spawn(move || {
                    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        solve_stage(sh, st, &deps)
                    }))
                    .unwrap_or_else(|_| {
                        Err(BuildError::Stage(format!("stage {} panicked", st.index)))
                    });
                    let _ = tx.send((st.index, r));
                });
                running += 1;
            }
            if running == 0 {
                break;
            }
            let Ok((i, r)) = rx.recv() else { break };
            running -= 1;
            match r {
                Ok(out) => {
                    done.insert(i, Arc::new(out));
                }
                Err(e) => {
                    sh.cancel.store(true, Ordering::SeqCst);
                    // An interruption explains the others' failures.
                    match (&first_err, &e) {
                        (None, _)
                        | (Some(BuildError::Stage(_)), BuildError::Interrupted { .. }) => {
                            first_err = Some(e)
                        }
                        _ => {}
                    }
                }
            }
        }
    });
    if let Some(e) = first_err {
        return Err(e);
    }
    if !pending.is_empty() {
        return Err(BuildError::Stage(
            "stages depend on each other in a cycle".into(),
        ));
    }
    Ok(done)
}

/// The progress label of a stage's k-th filesystem op.
fn label(sh: &Shared, st: &ResolvedStage, k: usize, n: usize) -> String {
    match &st.name {
        Some(name) => format!("[{name} {k}/{n}]"),
        None if st.index == sh.resolved.target => format!("[{k}/{n}]"),
        None => format!("[stage-{} {k}/{n}]", st.index),
    }
}

fn is_fs_step(i: &Instruction) -> bool {
    matches!(
        i,
        Instruction::Copy(_) | Instruction::Add(_) | Instruction::Run(_) | Instruction::Workdir(_)
    )
}

/// The running state of one stage.
struct StageRun<'a, 'b> {
    sh: &'a Shared<'b>,
    st: &'a ResolvedStage,
    config: ImageConfig,
    layers: Vec<Descriptor>,
    fs_key: Digest,
    rootfs: Option<Rootfs>,
    /// A read-only view of the stage for COPY/ADD/WORKDIR planning: an
    /// overlay of the layers' snapshots, for this many layers.
    view: Option<(usize, crate::snapshot::OverlayMount)>,
    last_created: Option<String>,
    no_cache: bool,
}

fn solve_stage(
    sh: &Shared,
    st: &ResolvedStage,
    done: &HashMap<usize, Arc<StageOut>>,
) -> Result<StageOut, BuildError> {
    if let Some(p) = &st.platform {
        if p.os != "linux" || p.arch != "amd64" {
            let v = p
                .variant
                .as_deref()
                .map_or(String::new(), |v| format!("/{v}"));
            return Err(BuildError::Platform {
                platform: format!(
                    "{}/{}{v} (FROM --platform of stage {})",
                    p.os, p.arch, st.index
                ),
            });
        }
    }
    let n = 1 + st
        .steps
        .iter()
        .filter(|s| is_fs_step(&s.command.instruction))
        .count();
    let from_text = match &st.base {
        BaseRef::Scratch => "scratch".to_owned(),
        BaseRef::Image(r) => r.clone(),
        BaseRef::Stage(j) => done
            .get(j)
            .map_or_else(|| format!("stage-{j}"), |_| format!("stage-{j}")),
    };
    let v = sh
        .progress
        .vertex(format!("{} FROM {from_text}", label(sh, st, 1, n)));
    let (mut config, layers, fs_key) = match &st.base {
        BaseRef::Scratch => (
            ImageConfig::scratch(),
            Vec::new(),
            key_of(&json!("scratch")),
        ),
        BaseRef::Image(r) => {
            let img = sh.store.image(r)?;
            let key = key_of(&json!({ "image": img.manifest_desc.digest }));
            (img.config, img.manifest.layers, key)
        }
        BaseRef::Stage(j) => {
            let out = done
                .get(j)
                .ok_or_else(|| BuildError::Stage(format!("stage {j} was not built")))?;
            (out.config.clone(), out.layers.clone(), out.fs_key.clone())
        }
    };
    v.done_internal();
    // The base's ONBUILD triggers run now (they are the first steps).
    config.config.on_build = None;
    let last_created = config
        .history
        .iter()
        .rev()
        .find_map(|h| h.created.clone())
        .or_else(|| config.created.clone());
    let no_cache = sh.req.no_cache
        || st.name.as_ref().is_some_and(|name| {
            sh.req
                .no_cache_filter
                .iter()
                .any(|f| f.eq_ignore_ascii_case(name))
        });
    let mut run = StageRun {
        sh,
        st,
        config,
        layers,
        fs_key,
        rootfs: None,
        view: None,
        last_created,
        no_cache,
    };
    let mut flags = StageFlags::default();
    let mut k = 1;
    for step in &st.steps {
        sh.check()?;
        let ins = &step.command.instruction;
        if is_fs_step(ins) {
            k += 1;
        }
        let created_by_meta = metadata::created_by(&step.command.original, false);
        match ins {
            Instruction::Run(r) => {
                let name = format!("{} {}", label(sh, st, k, n), step.command.original.trim());
                run.run_step(step, r, &name, done)?;
            }
            Instruction::Copy(_) | Instruction::Add(_) => {
                let name = format!("{} {}", label(sh, st, k, n), step.command.original.trim());
                run.copy_step(step, &name, done)?;
            }
            Instruction::Workdir(_) => {
                metadata::apply(&mut run.config, &mut flags, ins);
                let name = format!("{} {}", label(sh, st, k, n), step.command.original.trim());
                run.workdir_step(step, &name)?;
            }
            _ => {
                metadata::apply(&mut run.config, &mut flags, ins);
                run.config.history.push(History {
                    created: run.history_created(),
                    created_by: Some(created_by_meta),
                    empty_layer: true,
                    ..History::default()
                });
            }
        }
    }
    Ok(StageOut {
        config: run.config,
        layers: run.layers,
        fs_key: run.fs_key,
        tree: Mutex::new(None),
    })
}

impl StageRun<'_, '_> {
    fn history_created(&self) -> Option<String> {
        match self.sh.req.source_date_epoch {
            Some(e) => Some(rfc3339(e)),
            None => self.last_created.clone(),
        }
    }

    fn step_error(
        &self,
        step: &Step,
        e: impl std::error::Error + Send + Sync + 'static,
    ) -> BuildError {
        BuildError::Step {
            file: self.sh.file.clone(),
            line: step.command.start_line,
            instruction: step.command.original.trim().to_owned(),
            source: Box::new(e),
        }
    }

    /// The stage's filesystem as a directory, brought up to date: an
    /// overlay over the layers' snapshots (unpacked once per diff_id and
    /// shared between builds) when overlayfs works, else the layers applied
    /// into a directory. Planning only reads it.
    fn rootfs(&mut self) -> Result<PathBuf, BuildError> {
        use crate::snapshot::{overlay_usable, SnapshotMode};
        let n = self.layers.len();
        if n == self.config.rootfs.diff_ids.len()
            && overlay_usable(self.sh.scratch) == SnapshotMode::Overlay
        {
            if let Some((have, m)) = &self.view {
                if *have == n {
                    return Ok(m.target().to_path_buf());
                }
            }
            self.view = None;
            let dir = self.sh.scratch.join(format!("view-{}-{n}", self.st.index));
            let layers: Vec<(Descriptor, Digest)> = self
                .layers
                .iter()
                .cloned()
                .zip(self.config.rootfs.diff_ids.iter().cloned())
                .collect();
            let m = runner::read_view(self.sh.store, &layers, &dir)
                .map_err(|e| BuildError::Stage(e.to_string()))?;
            let target = m.target().to_path_buf();
            self.view = Some((n, m));
            return Ok(target);
        }
        if self.rootfs.is_none() {
            let dir = self.sh.scratch.join(format!("stage-{}", self.st.index));
            self.rootfs = Some(Rootfs::create(dir)?);
        }
        let layers = self.layers.clone();
        let r = self
            .rootfs
            .as_mut()
            .ok_or_else(|| BuildError::Stage("no rootfs".into()))?;
        Ok(r.sync(self.sh.store, &layers)?.to_path_buf())
    }

    /// A filesystem step: cache lookup by key, or `make` the changeset and
    /// write its layer.
    /// `make` returns the entries and what must live until the layer is
    /// written (a RUN step's mounted root).
    fn fs_step<G>(
        &mut self,
        step: &Step,
        name: &str,
        op: serde_json::Value,
        created_by: String,
        make: impl FnOnce(&mut Self, &Vertex<'_>) -> Result<(Vec<Entry>, G), BuildError>,
    ) -> Result<(), BuildError> {
        let v = self.sh.progress.vertex(name);
        let key = key_of(&json!({ "parent": self.fs_key, "op": op }));
        if !self.no_cache {
            if let Some(rec) = self.sh.store.cache_get(&key)? {
                self.commit(key, rec.layer, rec.diff_id, rec.created, created_by);
                v.cached();
                return Ok(());
            }
        }
        let (entries, keep) = match make(self, &v) {
            Ok(e) => e,
            Err(e) => {
                v.error(&e.to_string());
                return Err(e);
            }
        };
        let (layer, diff_id) = if entries.is_empty() {
            (None, None)
        } else {
            let started = std::time::Instant::now();
            let mut w = self.sh.store.blob_writer()?;
            let info = write_layer(
                entries,
                &WriteOptions {
                    compression: self.sh.req.compression,
                    source_date_epoch: self.sh.req.source_date_epoch,
                },
                &mut w,
            )
            .map_err(|e| self.step_error(step, e))?;
            w.commit(Some(&info.digest))?;
            tracing::debug!(digest = %info.digest, size = info.size, elapsed = ?started.elapsed(), "layer written");
            (
                Some(Descriptor::new(info.media_type, info.digest, info.size)),
                Some(info.diff_id),
            )
        };
        let started = std::time::Instant::now();
        drop(keep);
        tracing::debug!(elapsed = ?started.elapsed(), "step root released");
        let created = rfc3339(self.sh.now);
        self.sh.store.cache_put(
            &key,
            &CacheRecord {
                layer: layer.clone(),
                diff_id: diff_id.clone(),
                created: Some(created.clone()),
            },
        )?;
        self.commit(key, layer, diff_id, Some(created), created_by);
        v.done();
        Ok(())
    }

    fn commit(
        &mut self,
        key: Digest,
        layer: Option<Descriptor>,
        diff_id: Option<Digest>,
        created: Option<String>,
        created_by: String,
    ) {
        let empty = layer.is_none();
        if let (Some(l), Some(d)) = (layer, diff_id) {
            self.layers.push(l);
            self.config.rootfs.diff_ids.push(d);
        }
        if created.is_some() {
            self.last_created = created;
        }
        self.config.history.push(History {
            created: self.history_created(),
            created_by: Some(created_by),
            empty_layer: empty,
            ..History::default()
        });
        self.fs_key = key;
    }

    fn workdir(&self) -> String {
        self.config
            .config
            .working_dir
            .clone()
            .unwrap_or_else(|| "/".into())
    }

    fn copy_step(
        &mut self,
        step: &Step,
        name: &str,
        done: &HashMap<usize, Arc<StageOut>>,
    ) -> Result<(), BuildError> {
        let (req, from) = match &step.command.instruction {
            Instruction::Copy(c) => (
                CopyRequest {
                    sources: c.sources.clone(),
                    dest: c.dest.clone(),
                    workdir: self.workdir(),
                    chown: c.chown.clone(),
                    chmod: c.chmod.clone(),
                    link: c.link,
                    parents: c.parents,
                    exclude: c.exclude.clone(),
                    add: None,
                },
                c.from.clone(),
            ),
            Instruction::Add(a) => (
                CopyRequest {
                    sources: a.sources.clone(),
                    dest: a.dest.clone(),
                    workdir: self.workdir(),
                    chown: a.chown.clone(),
                    chmod: a.chmod.clone(),
                    link: a.link,
                    parents: false,
                    exclude: a.exclude.clone(),
                    add: Some(AddOptions {
                        checksum: a.checksum.clone(),
                        keep_git_dir: a.keep_git_dir,
                        unpack: a.unpack,
                    }),
                },
                None,
            ),
            _ => return Ok(()),
        };
        let scratch = self.sh.scratch.join(format!(
            "copy-{}-{}",
            self.st.index, step.command.start_line
        ));
        std::fs::create_dir_all(&scratch)
            .map_err(BuildError::io(&scratch, "create a scratch dir"))?;
        // Where the sources come from, and the key input for them.
        enum From {
            Context,
            Stage(Arc<StageOut>),
            Image(Box<StoredImage>),
        }
        let src = match &from {
            None => From::Context,
            Some(r) => match self.stage_ref(r) {
                Some(j) => From::Stage(
                    done.get(&j)
                        .cloned()
                        .ok_or_else(|| BuildError::Stage(format!("stage {j} was not built")))?,
                ),
                None => From::Image(Box::new(
                    self.sh
                        .store
                        .image(r)
                        .map_err(|e| self.step_error(step, e))?,
                )),
            },
        };
        let op_req = format!("{req:?}");
        let op = match &src {
            From::Context => {
                let input =
                    copy::cache_key_input(&req, &SourceRoot::Context(self.sh.ctx), &scratch)
                        .map_err(|e| self.step_error(step, e))?;
                json!({ "copy": op_req, "input": input })
            }
            From::Stage(out) => json!({ "copy": op_req, "from_stage": out.fs_key }),
            From::Image(img) => json!({ "copy": op_req, "from_image": img.manifest_desc.digest }),
        };
        let created_by = metadata::created_by(&step.command.original, true);
        self.fs_step(step, name, op, created_by, |run, _| {
            let dest_root = if req.link {
                let d = scratch.join("link-root");
                std::fs::create_dir_all(&d).map_err(BuildError::io(&d, "create a scratch dir"))?;
                d
            } else {
                run.rootfs()?
            };
            let src_dir = match &src {
                From::Context => None,
                From::Stage(out) => Some(run.stage_tree(out)?),
                From::Image(img) => {
                    let mut r = Rootfs::create(scratch.join("from-image"))?;
                    r.sync(run.sh.store, &img.manifest.layers)?;
                    Some(r.path().to_path_buf())
                }
            };
            let source = match &src_dir {
                None => SourceRoot::Context(run.sh.ctx),
                Some(d) => SourceRoot::Dir(d),
            };
            let entries = copy::plan(&req, &source, &dest_root, run.sh.now, &scratch)
                .map_err(|e| run.step_error(step, e))?;
            Ok((entries, ()))
        })
    }

    /// Materializes a finished stage's filesystem once.
    fn stage_tree(&self, out: &StageOut) -> Result<PathBuf, BuildError> {
        let mut tree = out.tree.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(p) = &*tree {
            return Ok(p.clone());
        }
        let dir = self.sh.scratch.join(format!("tree-{}", out.fs_key.short()));
        let mut r = Rootfs::create(dir)?;
        r.sync(self.sh.store, &out.layers)?;
        let p = r.path().to_path_buf();
        *tree = Some(p.clone());
        Ok(p)
    }

    /// Where each `--mount`'s `from=` points, and what of it enters the
    /// cache key: a bind's source content hash from the context
    /// (BuildKit keys bind mounts by content), the stage's key or the
    /// image's digest for `from=`; nothing for the other kinds (a cache's
    /// contents, a secret's value never enter the key).
    fn mount_inputs(
        &self,
        step: &Step,
        r: &RunInstruction,
        done: &HashMap<usize, Arc<StageOut>>,
    ) -> Result<(Vec<MountFrom>, Vec<serde_json::Value>), BuildError> {
        let mut froms = Vec::new();
        let mut inputs = Vec::new();
        for m in &r.mounts {
            let uses_from = matches!(m.kind, MountType::Bind | MountType::Cache);
            let from = match &m.from {
                Some(f) if uses_from => match self.stage_ref(f) {
                    Some(j) => MountFrom::Stage(done.get(&j).cloned().ok_or_else(|| {
                        BuildError::Stage(format!("stage {j} (--mount from={f}) was not built"))
                    })?),
                    None => MountFrom::Image(Box::new(
                        self.sh
                            .store
                            .image(f)
                            .map_err(|e| self.step_error(step, e))?,
                    )),
                },
                _ => MountFrom::None,
            };
            let input = match (&from, m.kind) {
                (MountFrom::Stage(o), _) => json!({ "stage": o.fs_key }),
                (MountFrom::Image(i), _) => json!({ "image": i.manifest_desc.digest }),
                (MountFrom::None, MountType::Bind) => {
                    let ctx = self.sh.ctx;
                    let rel =
                        crate::context::root_path::clean_rel(m.source.as_deref().unwrap_or("/"));
                    let real = ctx
                        .resolve(&rel, true)
                        .map_err(|e| self.step_error(step, e))?
                        .ok_or_else(|| {
                            self.step_error(
                                step,
                                runner::MountError::Source {
                                    spec: m.spec.clone(),
                                    source_path: m.source.clone().unwrap_or_else(|| "/".into()),
                                    what: "does not exist in the build context (or .dockerignore excludes it)".into(),
                                },
                            )
                        })?;
                    let d = ctx.hash(&real).map_err(|e| self.step_error(step, e))?;
                    json!({ "context": d })
                }
                _ => serde_json::Value::Null,
            };
            froms.push(from);
            inputs.push(input);
        }
        Ok((froms, inputs))
    }

    /// A `--from` value that names a stage (by name or index).
    fn stage_ref(&self, r: &str) -> Option<usize> {
        let lower = r.to_ascii_lowercase();
        if let Some(s) = self
            .sh
            .resolved
            .stages
            .iter()
            .find(|s| s.name.as_deref() == Some(lower.as_str()))
        {
            return Some(s.index);
        }
        r.parse::<usize>().ok()
    }

    /// WORKDIR creates its directory (owned by USER, mode 0755) when missing.
    fn workdir_step(&mut self, step: &Step, name: &str) -> Result<(), BuildError> {
        let dir = self.workdir();
        let user = self.config.config.user.clone().unwrap_or_default();
        let op = json!({ "mkdir": dir, "user": user });
        let now = self.sh.now;
        let created_by = metadata::created_by(&step.command.original, true);
        self.fs_step(step, name, op, created_by, |run, _| {
            let root = run.rootfs()?;
            let (uid, gid) = if user.is_empty() {
                (0, 0)
            } else {
                let o = copy::owner::resolve(&user, &root).map_err(|e| run.step_error(step, e))?;
                (o.uid, o.gid)
            };
            Ok((mkdir_entries(&root, &dir, uid, gid, now), ()))
        })
    }

    /// A RUN step: keyed by what it runs and how, never by what it
    /// produces; a miss runs it in a container and diffs its filesystem.
    fn run_step(
        &mut self,
        step: &Step,
        r: &RunInstruction,
        name: &str,
        done: &HashMap<usize, Arc<StageOut>>,
    ) -> Result<(), BuildError> {
        let unsupported = |reason: &str| BuildError::Unsupported {
            file: self.sh.file.clone(),
            line: step.command.start_line,
            instruction: step.command.original.trim().to_owned(),
            reason: reason.into(),
        };
        if r.security == Some(SecurityMode::Insecure) {
            return Err(unsupported(
                "RUN --security=insecure is not supported: hoist runs every step sandboxed",
            ));
        }
        let shell = metadata::shell_of(&self.config.config);
        let cmd = runner::run_command(r, &shell);
        let network = match r.network {
            None | Some(NetworkMode::Default) => self.sh.req.network,
            Some(NetworkMode::None) => Network::None,
            Some(NetworkMode::Host) => Network::Host,
        };
        let env = run_env(step);
        let user = self.config.config.user.clone().unwrap_or_default();
        let cwd = self.workdir();
        let mount_specs: Vec<&str> = r.mounts.iter().map(|m| m.spec.as_str()).collect();
        let (froms, mount_inputs) = self.mount_inputs(step, r, done)?;
        let mut op = json!({
            "run": cmd.argv,
            "script": cmd.script,
            "env": env,
            "user": user,
            "cwd": cwd,
            "network": network.as_str(),
            "mounts": mount_specs,
            "platform": "linux/amd64",
        });
        if !r.mounts.is_empty() {
            op["mount_inputs"] = json!(mount_inputs);
        }
        let created_by = run_created_by(step, &cmd.argv);
        let mut run_env = env.clone();
        for (k, v) in &self.sh.resolved.proxy_env {
            if !run_env
                .iter()
                .any(|e| e.split_once('=').is_some_and(|(ek, _)| ek == k))
            {
                run_env.push(format!("{k}={v}"));
            }
        }
        let sh = self.sh;
        let index = self.st.index;
        self.fs_step(step, name, op, created_by, |run, v| {
            let runtime = sh.runtime().map_err(|e| run.step_error(step, e))?;
            let layers: Vec<(Descriptor, Digest)> = run
                .layers
                .iter()
                .cloned()
                .zip(run.config.rootfs.diff_ids.iter().cloned())
                .collect();
            if layers.len() != run.layers.len() || layers.len() != run.config.rootfs.diff_ids.len()
            {
                return Err(BuildError::Stage(format!(
                    "stage {index}: the image has {} layers but {} diff_ids",
                    run.layers.len(),
                    run.config.rootfs.diff_ids.len()
                )));
            }
            let n = sh.runs.fetch_add(1, Ordering::SeqCst);
            // The `--mount`s: from= roots materialized, then set up.
            let mut plans = Vec::new();
            let mut image_dirs = Vec::new();
            for (i, (m, from)) in r.mounts.iter().zip(&froms).enumerate() {
                let (from_dir, from_key) = match from {
                    MountFrom::None => (None, None),
                    MountFrom::Stage(o) => (Some(run.stage_tree(o)?), Some(o.fs_key.to_string())),
                    MountFrom::Image(img) => {
                        let d = sh.scratch.join(format!("mount-image-{index}-{n}-{i}"));
                        let mut rf = Rootfs::create(d.clone())?;
                        rf.sync(sh.store, &img.manifest.layers)?;
                        image_dirs.push(ScratchDir(d.clone()));
                        (Some(d), Some(img.manifest_desc.digest.to_string()))
                    }
                };
                plans.push(MountPlan {
                    mount: m,
                    from_dir,
                    from_key,
                });
            }
            let prepared = runner::mounts::prepare(
                &MountEnv {
                    store: sh.store,
                    scratch: sh.scratch.join(format!("mounts-{index}-{n}")),
                    context: sh.ctx,
                    workdir: &cwd,
                    secrets: &sh.req.secrets,
                    ssh: &sh.req.ssh,
                },
                &plans,
            )
            .map_err(|e| run.step_error(step, e))?;
            let mut run_env = run_env.clone();
            for e in &prepared.env {
                let key = e.split_once('=').map_or(e.as_str(), |(k, _)| k);
                run_env.retain(|x| x.split_once('=').map_or(x.as_str(), |(k, _)| k) != key);
                run_env.push(e.clone());
            }
            let on_output = |line: &str| v.log(line);
            let cancelled = || sh.cancel.load(Ordering::SeqCst);
            let req = StepRequest {
                store: sh.store,
                scratch: sh.scratch.join(format!("run-{index}-{n}")),
                id: format!(
                    "hoist-{}-{}-{n}",
                    std::process::id(),
                    sh.scratch
                        .file_name()
                        .map_or_else(String::new, |f| f.to_string_lossy().into_owned())
                        .rsplit('-')
                        .next()
                        .unwrap_or("0")
                ),
                runtime,
                layers: &layers,
                command: &cmd,
                env: &run_env,
                user: &user,
                cwd: &cwd,
                hostname: "hoist",
                network,
                mounts: &prepared.mounts,
                on_output: &on_output,
                cancelled: &cancelled,
            };
            let result = runner::run_step(&req);
            drop(prepared);
            drop(image_dirs);
            match result {
                Ok(out) => Ok((out.entries, Some(out.root))),
                Err(RunError::Interrupted { signal }) => Err(BuildError::Interrupted { signal }),
                Err(e) => {
                    if let RunError::Failed { tail, .. } | RunError::Shim { tail, .. } = &e {
                        sh.progress.report(name, tail);
                    }
                    Err(run.step_error(step, e))
                }
            }
        })
    }
}

/// The environment of a RUN as it enters the cache key: the image's ENV,
/// then the ARGs in scope (ENV wins), PATH added when missing. The proxy
/// args are added only to the process.
fn run_env(step: &Step) -> Vec<String> {
    let mut env: Vec<String> = step.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
    for (k, v) in &step.args {
        if !step.env.iter().any(|(ek, _)| ek == k) {
            env.push(format!("{k}={v}"));
        }
    }
    if !env.iter().any(|e| e.starts_with("PATH=")) {
        env.push(format!("PATH={}", crate::bundle::spec::DEFAULT_PATH));
    }
    env
}

/// BuildKit's history text of a RUN: `RUN |N K=V… argv # buildkit`.
fn run_created_by(step: &Step, argv: &[String]) -> String {
    let mut parts = Vec::new();
    if !step.args.is_empty() {
        parts.push(format!("|{}", step.args.len()));
        for (k, v) in &step.args {
            parts.push(format!("{k}={v}"));
        }
    }
    parts.extend(argv.iter().cloned());
    format!("RUN {} # buildkit", parts.join(" "))
}

/// The entries that `mkdir -p dir` adds to `root`: each missing component
/// (0755, owned by uid:gid), plus its existing parents as they are (as an
/// overlay upper dir would hold them). Nothing when it all exists or a
/// component is not a plain directory.
fn mkdir_entries(root: &Path, dir: &str, uid: u32, gid: u32, now: i64) -> Vec<Entry> {
    use std::os::unix::fs::MetadataExt;
    let mut out = Vec::new();
    let mut rel = String::new();
    let mut missing = false;
    for comp in dir.split('/').filter(|c| !c.is_empty() && *c != ".") {
        if !rel.is_empty() {
            rel.push('/');
        }
        rel.push_str(comp);
        if missing {
            out.push(Entry::dir(rel.clone(), 0o755, uid, gid, now));
            continue;
        }
        match std::fs::symlink_metadata(root.join(&rel)) {
            Ok(m) if m.is_dir() => {
                out.push(Entry::dir(
                    rel.clone(),
                    m.mode() & 0o7777,
                    m.uid(),
                    m.gid(),
                    m.mtime(),
                ));
            }
            Ok(_) => return Vec::new(),
            Err(_) => {
                missing = true;
                out.push(Entry::dir(rel.clone(), 0o755, uid, gid, now));
            }
        }
    }
    if missing {
        out
    } else {
        Vec::new()
    }
}

/// The argv a RUN step would execute (used by part 2 and by history).
pub fn run_argv(cl: &CommandLine, config: &ImageConfig) -> Vec<String> {
    metadata::argv(cl, &metadata::shell_of(&config.config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mkdir_entries_only_when_missing() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("a/b")).unwrap();
        assert!(mkdir_entries(d.path(), "/a/b", 0, 0, 1).is_empty());
        let e = mkdir_entries(d.path(), "/a/b/c/d", 5, 6, 1);
        let paths: Vec<&str> = e.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(paths, ["a", "a/b", "a/b/c", "a/b/c/d"]);
        assert_eq!((e[2].uid, e[2].gid, e[2].mode), (5, 6, 0o755));
        std::fs::write(d.path().join("f"), "").unwrap();
        assert!(mkdir_entries(d.path(), "/f/x", 0, 0, 1).is_empty());
    }
}
