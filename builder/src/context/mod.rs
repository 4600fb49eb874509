//! The build context: a directory (or a tar from stdin, extracted safely),
//! its `.dockerignore` rules, path resolution that stays inside it, walks
//! that skip excluded files, and content hashes for cache keys (with a
//! persistent stat cache so an unchanged context is not re-read).
//!
//! Excluded files are invisible to everything here: they are never
//! listed, resolved, hashed or read. Nothing here writes inside the
//! context; it never resolves a path outside its root.
//!
//! - [`glob`]: Go `filepath.Match` and moby patternmatcher patterns;
//! - [`ignore`]: `.dockerignore` parsing and ordered include/exclude rules;
//! - [`root_path`]: `path.Clean` and symlink resolution scoped to a root;
//! - [`content_hash`]: the hash of a node (never the mtime);
//! - [`stat_cache`]: the persistent stat → digest cache.

pub mod content_hash;
pub mod glob;
pub mod ignore;
pub mod root_path;
pub mod stat_cache;
mod tar_extract;

use std::collections::{HashMap, VecDeque};
use std::ffi::OsString;
use std::fs::{self, Metadata};
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use tracing::{debug, warn};

use crate::digest::Digest;
use content_hash::NodeHeader;
pub use ignore::{IgnoreError, IgnoreMatcher, MatchState};
pub use stat_cache::CacheStats;
use stat_cache::{StatCache, StatKey};
pub use tar_extract::ExtractError;

/// Options for opening a context.
#[derive(Debug, Clone, Default)]
pub struct ContextOptions {
    /// A persistent stat cache file (kept in the store by the caller).
    pub hash_cache: Option<PathBuf>,
}

/// Why the context cannot be opened, walked or hashed.
#[derive(Debug, thiserror::Error)]
pub enum ContextError {
    #[error("build context {path}: no such directory: pass an existing directory as the context")]
    DirMissing { path: PathBuf },
    #[error("build context {path} is not a directory: pass a directory, or `-` to read a context tar from stdin")]
    NotADir { path: PathBuf },
    #[error("build context: {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("ignore file {0}")]
    Ignore(#[from] IgnoreError),
    #[error(transparent)]
    Extract(#[from] ExtractError),
    #[error("scratch directory {path} for the context tar is not empty: pass an empty or missing directory")]
    ScratchNotEmpty { path: PathBuf },
    #[error("cannot locate the Dockerfile {name:?} in the context tar: put it in the archive or name it with -f")]
    DockerfileMissing { name: String },
    #[error("{rel:?}: not found in the build context or excluded by .dockerignore")]
    NotFound { rel: String },
    #[error("build context: file name {path:?} is not UTF-8: rename it")]
    NotUtf8 { path: PathBuf },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> ContextError + '_ {
    move |source| ContextError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// A visible node found by [`Context::walk`].
#[derive(Debug, Clone)]
pub struct WalkEntry {
    /// Path relative to the context root.
    pub rel: String,
    /// `lstat` of the node.
    pub meta: Metadata,
}

/// A child found while listing a directory.
struct Child {
    name: String,
    rel: String,
    meta: Metadata,
    state: MatchState,
    /// Excluded itself, but a later `!` pattern may re-include something
    /// below it (only directories are kept in that case).
    excluded: bool,
}

/// The build context.
pub struct Context {
    root: PathBuf,
    dockerfile: PathBuf,
    ignore_file: Option<PathBuf>,
    ignore: IgnoreMatcher,
    reset_owner: bool,
    cache: Option<Mutex<StatCache>>,
    memo: Mutex<HashMap<String, Digest>>,
    stats: Mutex<CacheStats>,
    root_hashed: Mutex<bool>,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("root", &self.root)
            .field("dockerfile", &self.dockerfile)
            .field("ignore_file", &self.ignore_file)
            .finish()
    }
}

fn read_ignore(path: &Path) -> Result<IgnoreMatcher, ContextError> {
    let bytes = fs::read(path).map_err(io_err(path))?;
    let text = String::from_utf8_lossy(&bytes);
    Ok(IgnoreMatcher::from_ignore_file(
        &text,
        &path.display().to_string(),
    )?)
}

fn is_file(p: &Path) -> bool {
    fs::metadata(p).map(|m| m.is_file()).unwrap_or(false)
}

impl Context {
    /// Opens the context directory `dir` for the Dockerfile at `dockerfile`
    /// (a host path, as given on the command line). The ignore file is
    /// `<dockerfile>.dockerignore` when it exists, else `<dir>/.dockerignore`.
    pub fn open(
        dir: &Path,
        dockerfile: &Path,
        opts: ContextOptions,
    ) -> Result<Context, ContextError> {
        let meta = match fs::metadata(dir) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(ContextError::DirMissing {
                    path: dir.to_path_buf(),
                })
            }
            Err(e) => return Err(io_err(dir)(e)),
        };
        if !meta.is_dir() {
            return Err(ContextError::NotADir {
                path: dir.to_path_buf(),
            });
        }
        let root = dir.canonicalize().map_err(io_err(dir))?;
        let mut specific = OsString::from(dockerfile.as_os_str());
        specific.push(".dockerignore");
        let specific = PathBuf::from(specific);
        let ignore_file = if is_file(&specific) {
            Some(specific)
        } else if is_file(&root.join(".dockerignore")) {
            Some(root.join(".dockerignore"))
        } else {
            None
        };
        let ignore = match &ignore_file {
            Some(f) => read_ignore(f)?,
            None => IgnoreMatcher::default(),
        };
        debug!(root = %root.display(), ignore = ?ignore_file, patterns = ignore.patterns().len(), "context opened");
        Ok(Context {
            root,
            dockerfile: dockerfile.to_path_buf(),
            ignore_file,
            ignore,
            reset_owner: true,
            cache: opts
                .hash_cache
                .as_deref()
                .map(|f| Mutex::new(StatCache::load(f))),
            memo: Mutex::new(HashMap::new()),
            stats: Mutex::new(CacheStats::default()),
            root_hashed: Mutex::new(false),
        })
    }

    /// `hoist build -`: extracts the context tar read from `tar` into
    /// `scratch_dir` (created if missing; must be empty) and opens it. The
    /// Dockerfile is `dockerfile_name` inside the archive; the ignore file
    /// is `<dockerfile_name>.dockerignore` or `.dockerignore` inside it.
    /// The stat cache is not used (extracted files are new every time).
    pub fn from_tar(
        tar: impl Read,
        scratch_dir: &Path,
        dockerfile_name: &str,
        _opts: ContextOptions,
    ) -> Result<Context, ContextError> {
        fs::create_dir_all(scratch_dir).map_err(io_err(scratch_dir))?;
        if fs::read_dir(scratch_dir)
            .map_err(io_err(scratch_dir))?
            .next()
            .is_some()
        {
            return Err(ContextError::ScratchNotEmpty {
                path: scratch_dir.to_path_buf(),
            });
        }
        let root = scratch_dir.canonicalize().map_err(io_err(scratch_dir))?;
        tar_extract::extract(tar, &root)?;
        let df_rel = root_path::clean_rel(dockerfile_name);
        let find = |rel: &str| -> Option<PathBuf> {
            let r = root_path::resolve(&root, rel, true).ok()?;
            let p = root_path::join(&root, &r);
            fs::symlink_metadata(&p)
                .ok()
                .filter(|m| m.is_file())
                .map(|_| p)
        };
        let dockerfile = find(&df_rel).ok_or_else(|| ContextError::DockerfileMissing {
            name: dockerfile_name.to_owned(),
        })?;
        let ignore_file = find(&format!("{df_rel}.dockerignore")).or_else(|| find(".dockerignore"));
        let ignore = match &ignore_file {
            Some(f) => read_ignore(f)?,
            None => IgnoreMatcher::default(),
        };
        Ok(Context {
            root,
            dockerfile,
            ignore_file,
            ignore,
            reset_owner: true,
            cache: None,
            memo: Mutex::new(HashMap::new()),
            stats: Mutex::new(CacheStats::default()),
            root_hashed: Mutex::new(false),
        })
    }

    /// A directory tree used as a COPY source without ignore rules and with
    /// owners kept (a stage's or image's rootfs for `COPY --from`).
    pub fn for_rootfs(dir: &Path) -> Result<Context, ContextError> {
        let root = dir.canonicalize().map_err(io_err(dir))?;
        Ok(Context {
            root,
            dockerfile: PathBuf::new(),
            ignore_file: None,
            ignore: IgnoreMatcher::default(),
            reset_owner: false,
            cache: None,
            memo: Mutex::new(HashMap::new()),
            stats: Mutex::new(CacheStats::default()),
            root_hashed: Mutex::new(false),
        })
    }

    /// The context directory (canonical).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The Dockerfile path (as given to `open`, or inside the extracted tar).
    pub fn dockerfile(&self) -> &Path {
        &self.dockerfile
    }

    /// The ignore file in use, if any.
    pub fn ignore_file(&self) -> Option<&Path> {
        self.ignore_file.as_deref()
    }

    /// The compiled ignore rules.
    pub fn ignore(&self) -> &IgnoreMatcher {
        &self.ignore
    }

    /// Whether files keep their owners (false for the build context, whose
    /// files are seen as 0:0).
    pub fn keeps_owners(&self) -> bool {
        !self.reset_owner
    }

    /// Whether `rel` (relative to the root, `/`-separated) is excluded by
    /// the ignore rules, by itself or through a parent.
    pub fn is_excluded(&self, rel: &str) -> bool {
        self.ignore.is_excluded(&root_path::clean_rel(rel))
    }

    /// Stat-cache hits and misses of content reads so far.
    pub fn cache_stats(&self) -> CacheStats {
        self.stats.lock().map(|s| *s).unwrap_or_default()
    }

    /// The absolute host path of a relative path.
    pub fn abs(&self, rel: &str) -> PathBuf {
        root_path::join(&self.root, rel)
    }

    /// Resolves `rel` through symlinks inside the root (the last component
    /// too when `follow_final`). Returns the real relative path, or `None`
    /// when it does not exist, is excluded, or the way to it passes through
    /// an excluded symlink.
    pub fn resolve(&self, rel: &str, follow_final: bool) -> Result<Option<String>, ContextError> {
        let rel = root_path::clean_rel(rel);
        // Every symlink on the way must itself be visible.
        let mut todo: VecDeque<String> = rel
            .split('/')
            .filter(|c| !c.is_empty())
            .map(str::to_owned)
            .collect();
        let mut cur = String::new();
        let mut hops = 0;
        while let Some(comp) = todo.pop_front() {
            match comp.as_str() {
                "" | "." => continue,
                ".." => {
                    cur = root_path::split_parent(&cur).0.to_owned();
                    continue;
                }
                _ => {}
            }
            let next = root_path::join_rel(&cur, &comp);
            let last = todo.is_empty();
            let p = self.abs(&next);
            let m = match fs::symlink_metadata(&p) {
                Ok(m) => m,
                Err(e)
                    if e.kind() == io::ErrorKind::NotFound
                        || e.raw_os_error() == Some(libc::ENOTDIR) =>
                {
                    return Ok(None)
                }
                Err(e) => return Err(io_err(&p)(e)),
            };
            if m.file_type().is_symlink() && (!last || follow_final) {
                if self.ignore.is_excluded(&next) {
                    return Ok(None);
                }
                hops += 1;
                if hops > 255 {
                    return Err(io_err(&p)(io::Error::other(
                        "too many levels of symbolic links",
                    )));
                }
                let target = fs::read_link(&p).map_err(io_err(&p))?;
                let target = target.as_os_str().as_bytes();
                if target.starts_with(b"/") {
                    cur.clear();
                }
                let target = String::from_utf8_lossy(target);
                for part in target.split('/').rev().filter(|s| !s.is_empty()) {
                    todo.push_front(part.to_owned());
                }
                continue;
            }
            cur = next;
        }
        if cur.is_empty() {
            return Ok(Some(cur));
        }
        let m = match fs::symlink_metadata(self.abs(&cur)) {
            Ok(m) => m,
            Err(_) => return Ok(None),
        };
        if self.visible(&cur, &m)? {
            Ok(Some(cur))
        } else {
            Ok(None)
        }
    }

    /// Whether the node at `rel` (which exists, with `lstat` `meta`) is
    /// visible: not excluded, or an excluded directory that still holds
    /// re-included files.
    pub fn visible(&self, rel: &str, meta: &Metadata) -> Result<bool, ContextError> {
        if self.ignore.is_empty() || rel.is_empty() {
            return Ok(true);
        }
        let state = self.ignore.state_of(rel);
        let v = self.ignore.verdict(&state);
        if !v.excluded {
            return Ok(true);
        }
        if !meta.is_dir() || !self.ignore.may_reinclude_below(rel, v) {
            return Ok(false);
        }
        let mut out = Vec::new();
        self.walk_rec(rel, &state, &mut out)
    }

    /// Lists the visible children of directory `dir_rel` whose match state
    /// is `state`, sorted by name. Excluded directories that may hold
    /// re-included files are listed with `excluded` set.
    fn children(&self, dir_rel: &str, state: &MatchState) -> Result<Vec<Child>, ContextError> {
        let dir = self.abs(dir_rel);
        let mut out = Vec::new();
        for e in fs::read_dir(&dir).map_err(io_err(&dir))? {
            let e = e.map_err(io_err(&dir))?;
            let name = e.file_name();
            let Some(name) = name.to_str() else {
                return Err(ContextError::NotUtf8 { path: e.path() });
            };
            let rel = root_path::join_rel(dir_rel, name);
            // Judge by the directory entry's type first: an excluded file
            // is never even stat'ed.
            let (st, excluded) = if self.ignore.is_empty() {
                (MatchState::default(), false)
            } else {
                let st = self.ignore.child_state(state, &rel);
                let v = self.ignore.verdict(&st);
                if v.excluded {
                    let is_dir = e
                        .file_type()
                        .map(|t| t.is_dir())
                        .map_err(io_err(&e.path()))?;
                    if !(is_dir && self.ignore.may_reinclude_below(&rel, v)) {
                        continue;
                    }
                }
                (st, v.excluded)
            };
            let meta = fs::symlink_metadata(e.path()).map_err(io_err(&e.path()))?;
            out.push(Child {
                name: name.to_owned(),
                rel,
                meta,
                state: st,
                excluded,
            });
        }
        out.sort_by(|a, b| a.name.as_bytes().cmp(b.name.as_bytes()));
        Ok(out)
    }

    /// Visible descendants of `dir_rel` in pre-order; returns whether any.
    fn walk_rec(
        &self,
        dir_rel: &str,
        state: &MatchState,
        out: &mut Vec<WalkEntry>,
    ) -> Result<bool, ContextError> {
        let mut any = false;
        for c in self.children(dir_rel, state)? {
            let mark = out.len();
            let is_dir = c.meta.is_dir();
            out.push(WalkEntry {
                rel: c.rel.clone(),
                meta: c.meta,
            });
            if is_dir {
                let inner = self.walk_rec(&c.rel, &c.state, out)?;
                if c.excluded && !inner {
                    out.truncate(mark);
                    continue;
                }
            }
            any = true;
        }
        Ok(any)
    }

    /// The visible nodes below the directory `dir_rel` (a real path, as
    /// returned by [`Context::resolve`]), parents before children, siblings
    /// by name. Symlinks are listed, not followed.
    pub fn walk(&self, dir_rel: &str) -> Result<Vec<WalkEntry>, ContextError> {
        let dir_rel = root_path::clean_rel(dir_rel);
        let state = self.ignore.state_of(&dir_rel);
        let mut out = Vec::new();
        self.walk_rec(&dir_rel, &state, &mut out)?;
        Ok(out)
    }

    /// The visible children of the directory `dir_rel` (a real path),
    /// sorted by name.
    pub fn list(&self, dir_rel: &str) -> Result<Vec<WalkEntry>, ContextError> {
        let dir_rel = root_path::clean_rel(dir_rel);
        let state = self.ignore.state_of(&dir_rel);
        let mut out = Vec::new();
        for c in self.children(&dir_rel, &state)? {
            if c.excluded {
                let mut below = Vec::new();
                if !self.walk_rec(&c.rel, &c.state, &mut below)? {
                    continue;
                }
            }
            out.push(WalkEntry {
                rel: c.rel,
                meta: c.meta,
            });
        }
        Ok(out)
    }

    /// The content hash of the file, directory or symlink at `rel` (a
    /// symlink is hashed as a link, not followed; parents are resolved
    /// inside the root). A directory's hash covers its visible children,
    /// names included. Never covers mtimes.
    pub fn hash(&self, rel: &str) -> Result<Digest, ContextError> {
        let rel = root_path::clean_rel(rel);
        if let Some(d) = self.memo.lock().ok().and_then(|m| m.get(&rel).cloned()) {
            return Ok(d);
        }
        let not_found = || ContextError::NotFound { rel: rel.clone() };
        let real = root_path::resolve(&self.root, &rel, false).map_err(io_err(&self.root))?;
        let p = self.abs(&real);
        let meta = fs::symlink_metadata(&p).map_err(|_| not_found())?;
        let state = self.ignore.state_of(&real);
        let v = self.ignore.verdict(&state);
        if v.excluded && !(meta.is_dir() && self.ignore.may_reinclude_below(&real, v)) {
            return Err(not_found());
        }
        let d = self
            .hash_node(&real, &meta, &state, v.excluded)?
            .ok_or_else(not_found)?;
        if real.is_empty() {
            if let Ok(mut h) = self.root_hashed.lock() {
                *h = true;
            }
        }
        if let Ok(mut m) = self.memo.lock() {
            m.insert(rel, d.clone());
        }
        Ok(d)
    }

    fn hash_node(
        &self,
        rel: &str,
        meta: &Metadata,
        state: &MatchState,
        excluded: bool,
    ) -> Result<Option<Digest>, ContextError> {
        let p = self.abs(rel);
        let t = meta.file_type();
        if t.is_socket() {
            return Ok(None);
        }
        let xattrs = content_hash::read_xattrs(&p).map_err(io_err(&p))?;
        let link = if t.is_symlink() {
            Some(content_hash::link_target(&p).map_err(io_err(&p))?)
        } else {
            None
        };
        let header = NodeHeader {
            meta,
            reset_owner: self.reset_owner,
            xattrs: &xattrs,
            link_target: link.as_deref(),
        };
        if t.is_dir() {
            let mut kids: Vec<(String, Digest)> = Vec::new();
            for c in self.children(rel, state)? {
                if let Some(d) = self.hash_node(&c.rel, &c.meta, &c.state, c.excluded)? {
                    kids.push((c.name, d));
                }
            }
            if excluded && kids.is_empty() {
                return Ok(None);
            }
            return Ok(Some(content_hash::dir_digest(
                &header,
                kids.iter().map(|(n, d)| (n.as_bytes(), d)),
            )));
        }
        if excluded {
            return Ok(None);
        }
        let bytes = if t.is_file() {
            Some(self.file_bytes(&p, meta)?)
        } else {
            None
        };
        Ok(Some(content_hash::leaf_digest(&header, bytes.as_ref())))
    }

    /// The digest of a regular file's bytes, from the stat cache when its
    /// stat tuple is unchanged.
    fn file_bytes(&self, p: &Path, meta: &Metadata) -> Result<[u8; 32], ContextError> {
        let key = StatKey::of(meta);
        if let Some(c) = &self.cache {
            if let Some(d) = c.lock().ok().and_then(|mut c| c.get(p, key)) {
                if let Ok(mut s) = self.stats.lock() {
                    s.hits += 1;
                }
                return Ok(d);
            }
        }
        let d = content_hash::file_bytes_digest(p).map_err(io_err(p))?;
        if let Ok(mut s) = self.stats.lock() {
            s.misses += 1;
        }
        if let Some(c) = &self.cache {
            if let Ok(mut c) = c.lock() {
                c.put(p, key, d);
            }
        }
        Ok(d)
    }

    /// Writes the stat cache (atomically) if one is in use and it changed.
    /// Also done, best effort, when the context is dropped.
    pub fn save_hash_cache(&self) -> Result<(), ContextError> {
        let Some(c) = &self.cache else { return Ok(()) };
        let Ok(mut c) = c.lock() else { return Ok(()) };
        if self.root_hashed.lock().map(|h| *h).unwrap_or(false) {
            c.prune_unseen_under(&self.root);
        }
        let path = self.root.clone();
        c.save().map_err(io_err(&path))
    }
}

impl Drop for Context {
    fn drop(&mut self) {
        if let Err(e) = self.save_hash_cache() {
            warn!(error = %e, "cannot save the context stat cache");
        }
    }
}
