//! COPY/ADD semantics (BuildKit's): which files a COPY or ADD selects,
//! where they land, with which owner and mode, and the layer
//! [`Entry`]s that result, plus the cache-key input (selectors and content
//! hashes, never mtimes).
//!
//! Planning reads the source tree and the destination rootfs but never
//! writes to either: file bytes are referenced by path (or held in memory
//! for heredocs); downloads, clones and archive members go to the scratch
//! directory. No path is ever resolved outside its root: `..` stops at the
//! root and symlinks are followed as if the root were `/`.
//!
//! - [`chmod`]: `--chmod` (octal and symbolic);
//! - [`owner`]: `--chown` through the rootfs's passwd/group files;
//! - [`sources`]: source paths, wildcards, `--parents` pivots;
//! - [`add_archive`]: local tar detection (by content) and extraction;
//! - [`add_url`], [`add_git`]: remote ADD sources.

pub mod add_archive;
pub mod add_git;
pub mod add_url;
pub mod chmod;
pub mod owner;
pub mod sources;

use std::collections::{BTreeMap, HashMap};
use std::fs::Metadata;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use crate::context::{content_hash, root_path, Context, ContextError, IgnoreError, IgnoreMatcher};
use crate::digest::{Digest, Hasher};
use crate::dockerfile::instructions::Source;
use crate::layer::{Content, Entry, EntryKind};

pub use add_archive::ArchiveError;
pub use add_git::GitError;
pub use add_url::UrlError;
pub use chmod::{Chmod, ChmodError};
pub use owner::{Owner, OwnerError};
pub use sources::{LocalItem, SourceError};

/// One COPY or ADD, as the integrator builds it from the instruction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyRequest {
    pub sources: Vec<Source>,
    pub dest: String,
    /// The stage's working directory (absolute, in the image).
    pub workdir: String,
    pub chown: Option<String>,
    pub chmod: Option<String>,
    pub link: bool,
    pub parents: bool,
    pub exclude: Vec<String>,
    /// `Some` for ADD.
    pub add: Option<AddOptions>,
}

/// ADD's own flags.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AddOptions {
    pub checksum: Option<String>,
    pub keep_git_dir: bool,
    /// `--unpack`; `None` is the default (unpack local archives only).
    pub unpack: Option<bool>,
}

/// Where local sources are read from.
#[derive(Debug, Clone, Copy)]
pub enum SourceRoot<'a> {
    /// The build context (ignore rules apply; owners become 0:0).
    Context(&'a Context),
    /// `COPY --from`: a stage's or image's rootfs (owners kept).
    Dir(&'a Path),
}

/// Why a COPY/ADD cannot be planned.
#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    #[error("{instr} failed: {source}")]
    Source {
        instr: &'static str,
        #[source]
        source: SourceError,
    },
    #[error("When using {instr} with more than one source file, the destination must be a directory and end with a /: write {dest:?} as \"{dest}/\"")]
    DestNotDir { instr: &'static str, dest: String },
    #[error(transparent)]
    Chmod(#[from] ChmodError),
    #[error(transparent)]
    Owner(#[from] OwnerError),
    #[error("{instr} --link --chown={flag}: user and group names cannot be resolved with --link (the layer is built on an empty base, as in BuildKit): use numeric ids such as --chown=1000:1000, or drop --link")]
    LinkChownName { instr: &'static str, flag: String },
    #[error("{instr} --exclude: {source}")]
    Exclude {
        instr: &'static str,
        #[source]
        source: IgnoreError,
    },
    #[error(transparent)]
    Context(#[from] ContextError),
    #[error("{instr}: cannot copy to non-directory: {path} exists and is not a directory: remove it in an earlier step or choose another destination")]
    NotADirectory { instr: &'static str, path: String },
    #[error("{instr}: cannot replace directory {path} with a file: remove it in an earlier step or copy into it with a trailing /")]
    ReplaceDir { instr: &'static str, path: String },
    #[error("{instr}: {path}: {source}")]
    Io {
        instr: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{instr}: {what} {value:?} is not UTF-8: rename it")]
    NotUtf8 {
        instr: &'static str,
        what: &'static str,
        value: String,
    },
    #[error("COPY does not take URLs ({url}): use ADD to download it")]
    UrlInCopy { url: String },
    #[error("ADD --checksum applies only to URL and git sources, not to {source_path:?}")]
    ChecksumLocal { source_path: String },
    #[error(transparent)]
    Archive(#[from] ArchiveError),
    #[error(transparent)]
    Url(#[from] UrlError),
    #[error(transparent)]
    Git(#[from] GitError),
}

impl CopyRequest {
    fn instr(&self) -> &'static str {
        if self.add.is_some() {
            "ADD"
        } else {
            "COPY"
        }
    }
}

/// A source, classified.
enum Kind<'r> {
    Local(&'r str),
    Heredoc(&'r crate::dockerfile::Heredoc),
    Url(&'r str),
    Git(&'r str, add_git::GitRef),
}

fn classify(req: &CopyRequest) -> Result<Vec<Kind<'_>>, CopyError> {
    let mut out = Vec::new();
    for s in &req.sources {
        out.push(match s {
            Source::Heredoc(h) => Kind::Heredoc(h),
            Source::Path(p) if req.add.is_some() => {
                if let Some(g) = add_git::parse(p) {
                    Kind::Git(p, g)
                } else if add_url::is_http(p) {
                    Kind::Url(p)
                } else {
                    Kind::Local(p)
                }
            }
            Source::Path(p) if add_url::is_http(p) => {
                return Err(CopyError::UrlInCopy { url: p.clone() })
            }
            Source::Path(p) => Kind::Local(p),
        });
    }
    if let Some(sum) = req.add.as_ref().and_then(|a| a.checksum.as_ref()) {
        let _ = sum;
        for k in &out {
            match k {
                Kind::Local(p) => {
                    return Err(CopyError::ChecksumLocal {
                        source_path: (*p).to_owned(),
                    })
                }
                Kind::Heredoc(h) => {
                    return Err(CopyError::ChecksumLocal {
                        source_path: format!("<<{}", h.name),
                    })
                }
                _ => {}
            }
        }
    }
    Ok(out)
}

/// The tree local sources come from.
enum Tree<'a> {
    Borrowed(&'a Context),
    Owned(Box<Context>),
}

impl Tree<'_> {
    fn get(&self) -> &Context {
        match self {
            Tree::Borrowed(c) => c,
            Tree::Owned(c) => c,
        }
    }
}

fn tree<'a>(src: &SourceRoot<'a>) -> Result<Tree<'a>, CopyError> {
    Ok(match src {
        SourceRoot::Context(c) => Tree::Borrowed(c),
        SourceRoot::Dir(d) => Tree::Owned(Box::new(Context::for_rootfs(d)?)),
    })
}

fn resolve_locals(req: &CopyRequest, tree: &Context, p: &str) -> Result<Vec<LocalItem>, CopyError> {
    sources::resolve(tree, p, req.parents).map_err(|source| CopyError::Source {
        instr: req.instr(),
        source,
    })
}

/// Whether the destination as written names a directory.
fn dest_is_dir_syntax(dest: &str) -> bool {
    dest.is_empty() || dest == "." || dest.ends_with('/') || dest.ends_with("/.")
}

/// The destination relative to the image root (before symlinks).
fn dest_rel(req: &CopyRequest) -> String {
    if req.dest.starts_with('/') {
        root_path::clean_rel(&req.dest)
    } else {
        root_path::clean_rel(&format!("{}/{}", req.workdir, req.dest))
    }
}

/// The cache-key input of a COPY/ADD: its selectors (sources, dest,
/// workdir, flags) and the content hash of everything they select —
/// never mtimes. URLs are downloaded (into `scratch`) and hashed; git
/// sources contribute their resolved commit.
pub fn cache_key_input(
    req: &CopyRequest,
    src: &SourceRoot,
    scratch: &Path,
) -> Result<Digest, CopyError> {
    let kinds = classify(req)?;
    let tree = tree(src)?;
    let tree = tree.get();
    let mut h = Hasher::new();
    let field = |h: &mut Hasher, k: &str, v: &[u8]| {
        h.update(k.as_bytes());
        h.update(&(v.len() as u64).to_le_bytes());
        h.update(v);
    };
    field(&mut h, "hoist-copy-key-v1", b"");
    field(&mut h, "instr", req.instr().as_bytes());
    field(&mut h, "dest", req.dest.as_bytes());
    field(&mut h, "workdir", req.workdir.as_bytes());
    field(
        &mut h,
        "chown",
        req.chown.as_deref().unwrap_or("\0none").as_bytes(),
    );
    field(
        &mut h,
        "chmod",
        req.chmod.as_deref().unwrap_or("\0none").as_bytes(),
    );
    field(&mut h, "link", &[u8::from(req.link)]);
    field(&mut h, "parents", &[u8::from(req.parents)]);
    field(&mut h, "owners", &[u8::from(tree.keeps_owners())]);
    for e in &req.exclude {
        field(&mut h, "exclude", e.as_bytes());
    }
    if let Some(a) = &req.add {
        field(
            &mut h,
            "checksum",
            a.checksum.as_deref().unwrap_or("\0none").as_bytes(),
        );
        field(&mut h, "keep-git-dir", &[u8::from(a.keep_git_dir)]);
        field(&mut h, "unpack", &[a.unpack.map_or(2, u8::from)]);
    }
    let checksum = req.add.as_ref().and_then(|a| a.checksum.as_deref());
    for k in kinds {
        match k {
            Kind::Local(p) => {
                field(&mut h, "path", p.as_bytes());
                for it in resolve_locals(req, tree, p)? {
                    if it.from_wildcard {
                        field(&mut h, "match", it.logical.as_bytes());
                    }
                    let d = tree.hash(&it.real)?;
                    field(&mut h, "content", d.hex().as_bytes());
                }
            }
            Kind::Heredoc(hd) => {
                field(&mut h, "heredoc", hd.name.as_bytes());
                field(&mut h, "body", hd.effective_content().as_bytes());
            }
            Kind::Url(u) => {
                let d = add_url::fetch(u, scratch, checksum)?;
                field(&mut h, "url", u.as_bytes());
                field(&mut h, "content", d.digest.hex().as_bytes());
            }
            Kind::Git(s, g) => {
                let keep = req.add.as_ref().is_some_and(|a| a.keep_git_dir);
                let c = add_git::fetch(&g, scratch, keep, checksum)?;
                field(&mut h, "git", s.as_bytes());
                field(&mut h, "commit", c.commit.as_bytes());
            }
        }
    }
    Ok(h.finish())
}

/// How a tree's nodes are turned into entries.
#[derive(Clone, Copy)]
struct NodeRules {
    keep_owners: bool,
    /// Git checkouts: files 0644 or 0755, directories 0755.
    git_modes: bool,
    /// Fixed mtime (git commit time) instead of the node's.
    mtime: Option<i64>,
}

/// The changeset being built.
struct Planner<'a> {
    instr: &'static str,
    dest_root: &'a Path,
    mtime_now: i64,
    owner: Option<Owner>,
    chmod: Option<Chmod>,
    exclude: IgnoreMatcher,
    entries: Vec<Entry>,
    index: HashMap<String, usize>,
    /// (dev, ino) of copied files → the first entry's path.
    links: HashMap<(u64, u64), String>,
}

impl Planner<'_> {
    fn io(&self, path: &Path) -> impl FnOnce(std::io::Error) -> CopyError {
        let instr = self.instr;
        let path = path.to_path_buf();
        move |source| CopyError::Io {
            instr,
            path,
            source,
        }
    }

    fn existing(&self, rel: &str) -> Option<Metadata> {
        if rel.is_empty() {
            return None;
        }
        std::fs::symlink_metadata(root_path::join(self.dest_root, rel)).ok()
    }

    fn existing_dir_entry(&self, rel: &str, m: &Metadata) -> Result<Entry, CopyError> {
        let p = root_path::join(self.dest_root, rel);
        let mut e = Entry::dir(rel, m.mode() & 0o7777, m.uid(), m.gid(), m.mtime());
        e.xattrs = content_hash::read_xattrs(&p).map_err(self.io(&p))?;
        Ok(e)
    }

    fn created_dir_entry(&self, rel: &str) -> Entry {
        let (uid, gid) = self.owner.map_or((0, 0), |o| (o.uid, o.gid));
        Entry::dir(rel, 0o755, uid, gid, self.mtime_now)
    }

    fn insert(&mut self, e: Entry) {
        match self.index.get(&e.path) {
            Some(&i) => {
                if let Some(slot) = self.entries.get_mut(i) {
                    *slot = e;
                }
            }
            None => {
                self.index.insert(e.path.clone(), self.entries.len());
                self.entries.push(e);
            }
        }
    }

    /// Makes sure `rel` is a directory in the changeset: already planned,
    /// existing (its metadata kept), or created 0755 with the --chown owner.
    fn ensure_dir(&mut self, rel: &str) -> Result<(), CopyError> {
        if rel.is_empty() {
            return Ok(());
        }
        if let Some(&i) = self.index.get(rel) {
            return match self.entries.get(i).map(|e| &e.kind) {
                Some(EntryKind::Dir) => Ok(()),
                _ => Err(CopyError::NotADirectory {
                    instr: self.instr,
                    path: format!("/{rel}"),
                }),
            };
        }
        self.ensure_parents(rel)?;
        let e = match self.existing(rel) {
            Some(m) if m.is_dir() => self.existing_dir_entry(rel, &m)?,
            Some(_) => {
                return Err(CopyError::NotADirectory {
                    instr: self.instr,
                    path: format!("/{rel}"),
                })
            }
            None => self.created_dir_entry(rel),
        };
        self.insert(e);
        Ok(())
    }

    fn ensure_parents(&mut self, rel: &str) -> Result<(), CopyError> {
        let (parent, _) = root_path::split_parent(rel);
        self.ensure_dir(parent)
    }

    /// Adds an entry. A directory that exists in the rootfs keeps its
    /// metadata unless `overwrite_dir_meta` (archive members, as `tar -x`,
    /// and directories inside a copied directory, as BuildKit: the source
    /// directory's mode and owner replace the existing ones).
    fn put(&mut self, mut e: Entry, overwrite_dir_meta: bool) -> Result<(), CopyError> {
        self.ensure_parents(&e.path)?;
        let planned_dir = self
            .index
            .get(&e.path)
            .and_then(|&i| self.entries.get(i))
            .map(|x| x.kind == EntryKind::Dir);
        let existing = self.existing(&e.path);
        if e.kind == EntryKind::Dir {
            if planned_dir == Some(false) {
                return Err(CopyError::NotADirectory {
                    instr: self.instr,
                    path: format!("/{}", e.path),
                });
            }
            match &existing {
                Some(m) if m.is_dir() => {
                    if !overwrite_dir_meta {
                        if planned_dir == Some(true) {
                            return Ok(());
                        }
                        e = self.existing_dir_entry(&e.path, m)?;
                    }
                }
                Some(_) if planned_dir.is_none() => {
                    return Err(CopyError::NotADirectory {
                        instr: self.instr,
                        path: format!("/{}", e.path),
                    })
                }
                _ => {
                    if planned_dir == Some(true) && !overwrite_dir_meta {
                        // Planned earlier in this step: the first one stays.
                        return Ok(());
                    }
                }
            }
        } else if planned_dir == Some(true)
            || (planned_dir.is_none() && existing.is_some_and(|m| m.is_dir()))
        {
            return Err(CopyError::ReplaceDir {
                instr: self.instr,
                path: format!("/{}", e.path),
            });
        }
        self.insert(e);
        Ok(())
    }

    /// The entry for one node of a source tree, placed at `target`.
    fn node_entry(
        &mut self,
        tree: &Context,
        real: &str,
        m: &Metadata,
        target: &str,
        rules: NodeRules,
    ) -> Result<Option<Entry>, CopyError> {
        let t = m.file_type();
        if t.is_socket() {
            return Ok(None);
        }
        let abs = tree.abs(real);
        let xattrs = content_hash::read_xattrs(&abs).map_err(self.io(&abs))?;
        let (uid, gid) = match self.owner {
            Some(o) => (o.uid, o.gid),
            None if rules.keep_owners => (m.uid(), m.gid()),
            None => (0, 0),
        };
        let mut mode = m.mode() & 0o7777;
        if rules.git_modes {
            mode = if t.is_dir() || (t.is_file() && mode & 0o111 != 0) {
                0o755
            } else if t.is_file() {
                0o644
            } else {
                mode
            };
        }
        if !t.is_symlink() {
            if let Some(c) = &self.chmod {
                mode = c.apply(mode, t.is_dir());
            }
        }
        let kind = if t.is_dir() {
            EntryKind::Dir
        } else if t.is_symlink() {
            let target = std::fs::read_link(&abs).map_err(self.io(&abs))?;
            let target = target
                .into_os_string()
                .into_string()
                .map_err(|t| CopyError::NotUtf8 {
                    instr: self.instr,
                    what: "symlink target",
                    value: t.to_string_lossy().into_owned(),
                })?;
            mode = 0o777;
            EntryKind::Symlink(target)
        } else if t.is_char_device() {
            EntryKind::CharDevice {
                major: nix::sys::stat::major(m.rdev()) as u32,
                minor: nix::sys::stat::minor(m.rdev()) as u32,
            }
        } else if t.is_block_device() {
            EntryKind::BlockDevice {
                major: nix::sys::stat::major(m.rdev()) as u32,
                minor: nix::sys::stat::minor(m.rdev()) as u32,
            }
        } else if t.is_fifo() {
            EntryKind::Fifo
        } else {
            let key = (m.dev(), m.ino());
            match self.links.get(&key) {
                Some(first) if m.nlink() > 1 && first != target => {
                    EntryKind::Hardlink(first.clone())
                }
                _ => {
                    if m.nlink() > 1 {
                        self.links.insert(key, target.to_owned());
                    }
                    EntryKind::File(Content::Path(abs))
                }
            }
        };
        Ok(Some(Entry {
            path: target.to_owned(),
            kind,
            mode,
            uid,
            gid,
            mtime: rules.mtime.unwrap_or(m.mtime()),
            xattrs,
        }))
    }

    /// Copies the contents of directory `real` of `tree` into `target_dir`.
    /// `target_dir` itself keeps its metadata when it exists; directories
    /// below it take the source's, even when they exist (BuildKit's copy
    /// overwrites the metadata of merged sub-directories: a context `tmp/`
    /// copied to `/` resets `/tmp`'s mode).
    fn copy_dir_contents(
        &mut self,
        tree: &Context,
        real: &str,
        target_dir: &str,
        rules: NodeRules,
    ) -> Result<(), CopyError> {
        for w in tree.walk(real)? {
            let inner = w
                .rel
                .strip_prefix(real)
                .map(|s| s.trim_start_matches('/'))
                .unwrap_or(&w.rel);
            if !self.exclude.is_empty() && self.exclude.is_excluded(inner) {
                continue;
            }
            let target = root_path::join_rel(target_dir, inner);
            if let Some(e) = self.node_entry(tree, &w.rel, &w.meta, &target, rules)? {
                self.put(e, true)?;
            }
        }
        Ok(())
    }
}

/// Resolved destination.
struct Dest {
    /// Relative to the image root, symlinks in the rootfs resolved inside it.
    real: String,
    /// Written with a trailing `/` (or `.`).
    dir_syntax: bool,
    /// Exists in the rootfs as a directory.
    is_dir: bool,
}

impl Dest {
    /// Where a single non-directory named `name` lands.
    fn file_target(&self, name: &str) -> String {
        if self.dir_syntax || self.is_dir {
            root_path::join_rel(&self.real, name)
        } else {
            self.real.clone()
        }
    }
}

/// The changeset entries of a COPY/ADD: paths relative to the image root,
/// parents before children. `dest_root` is the stage's rootfs before this
/// step (empty for `--link`), used for names, symlinks and existing
/// directories; `mtime_now` dates created directories and heredocs.
pub fn plan(
    req: &CopyRequest,
    src: &SourceRoot,
    dest_root: &Path,
    mtime_now: i64,
    scratch: &Path,
) -> Result<Vec<Entry>, CopyError> {
    let instr = req.instr();
    let kinds = classify(req)?;
    let chmod = req.chmod.as_deref().map(Chmod::parse).transpose()?;
    let owner = req
        .chown
        .as_deref()
        .map(|c| {
            owner::resolve(c, dest_root).map_err(|e| match e {
                OwnerError::UnknownUser { .. } | OwnerError::UnknownGroup { .. } if req.link => {
                    CopyError::LinkChownName {
                        instr,
                        flag: c.to_owned(),
                    }
                }
                e => CopyError::Owner(e),
            })
        })
        .transpose()?;
    let exclude = IgnoreMatcher::from_patterns(&req.exclude, "--exclude")
        .map_err(|source| CopyError::Exclude { instr, source })?;
    let tree = tree(src)?;
    let tree = tree.get();
    let keep_owners = tree.keeps_owners();

    // Resolve local sources first: cheap, and needed for the dest rule.
    let mut locals: Vec<Vec<LocalItem>> = Vec::new();
    let mut count = 0usize;
    for k in &kinds {
        match k {
            Kind::Local(p) => {
                let items = resolve_locals(req, tree, p)?;
                count += items.len();
                locals.push(items);
            }
            _ => {
                count += 1;
                locals.push(Vec::new());
            }
        }
    }
    let dir_syntax = dest_is_dir_syntax(&req.dest) || req.parents;
    if (kinds.len() > 1 || count > 1) && !dir_syntax {
        return Err(CopyError::DestNotDir {
            instr,
            dest: req.dest.clone(),
        });
    }
    let rel = dest_rel(req);
    let real = root_path::resolve(dest_root, &rel, true).map_err(|source| CopyError::Io {
        instr,
        path: dest_root.join(&rel),
        source,
    })?;
    let is_dir = real.is_empty()
        || std::fs::symlink_metadata(root_path::join(dest_root, &real)).is_ok_and(|m| m.is_dir());
    let dest = Dest {
        real,
        dir_syntax,
        is_dir,
    };

    let mut p = Planner {
        instr,
        dest_root,
        mtime_now,
        owner,
        chmod,
        exclude,
        entries: Vec::new(),
        index: HashMap::new(),
        links: HashMap::new(),
    };
    let rules = NodeRules {
        keep_owners,
        git_modes: false,
        mtime: None,
    };
    let add = req.add.as_ref();
    let checksum = add.and_then(|a| a.checksum.as_deref());
    for (k, items) in kinds.iter().zip(locals) {
        match k {
            Kind::Local(_) => {
                for it in items {
                    copy_local(&mut p, req, tree, &it, &dest, rules, scratch)?;
                }
            }
            Kind::Heredoc(h) => {
                let target = dest.file_target(&h.name);
                let (uid, gid) = p.owner.map_or((0, 0), |o| (o.uid, o.gid));
                let mode = p.chmod.as_ref().map_or(0o644, |c| c.apply(0o644, false));
                p.put(
                    Entry {
                        path: target,
                        kind: EntryKind::File(Content::Bytes(h.effective_content().into_bytes())),
                        mode,
                        uid,
                        gid,
                        mtime: mtime_now,
                        xattrs: BTreeMap::new(),
                    },
                    false,
                )?;
            }
            Kind::Url(u) => {
                let d = add_url::fetch(u, scratch, checksum)?;
                if add.and_then(|a| a.unpack) == Some(true)
                    && add_archive::is_archive(&d.file).unwrap_or(false)
                {
                    extract_archive(&mut p, &d.file, u, &dest.real, scratch)?;
                    continue;
                }
                let (uid, gid) = p.owner.map_or((0, 0), |o| (o.uid, o.gid));
                let mode = p.chmod.as_ref().map_or(0o600, |c| c.apply(0o600, false));
                p.put(
                    Entry {
                        path: dest.file_target(&d.name),
                        kind: EntryKind::File(Content::Path(d.file.clone())),
                        mode,
                        uid,
                        gid,
                        mtime: d.last_modified.unwrap_or(mtime_now),
                        xattrs: BTreeMap::new(),
                    },
                    false,
                )?;
            }
            Kind::Git(_, g) => {
                let keep = add.is_some_and(|a| a.keep_git_dir);
                let c = add_git::fetch(g, scratch, keep, checksum)?;
                let repo = Context::for_rootfs(&c.dir)?;
                p.ensure_dir(&dest.real)?;
                let git_rules = NodeRules {
                    keep_owners: false,
                    git_modes: true,
                    mtime: Some(c.commit_time),
                };
                p.copy_dir_contents(&repo, "", &dest.real, git_rules)?;
            }
        }
    }
    Ok(p.entries)
}

/// ADD/COPY of one selected local source.
fn copy_local(
    p: &mut Planner,
    req: &CopyRequest,
    tree: &Context,
    it: &LocalItem,
    dest: &Dest,
    rules: NodeRules,
    scratch: &Path,
) -> Result<(), CopyError> {
    // A selected node whose own name is excluded by --exclude is skipped.
    if !p.exclude.is_empty() && !it.name.is_empty() && p.exclude.is_excluded(&it.name) {
        return Ok(());
    }
    let abs = tree.abs(&it.real);
    let m = std::fs::symlink_metadata(&abs).map_err(p.io(&abs))?;
    if m.is_dir() {
        let target_dir = match &it.parents_rel {
            Some(pr) => {
                let target = root_path::join_rel(&dest.real, pr);
                // Parents below the pivot (and the directory itself) keep
                // the source's metadata.
                let mut logical = it.pivot.clone();
                let mut placed = dest.real.clone();
                for c in pr.split('/').filter(|c| !c.is_empty()) {
                    logical = root_path::join_rel(&logical, c);
                    placed = root_path::join_rel(&placed, c);
                    match tree.resolve(&logical, true)? {
                        Some(r) => {
                            let rm = std::fs::symlink_metadata(tree.abs(&r))
                                .map_err(p.io(&tree.abs(&r)))?;
                            if let Some(e) = p.node_entry(tree, &r, &rm, &placed, rules)? {
                                p.put(e, false)?;
                            }
                        }
                        None => p.ensure_dir(&placed)?,
                    }
                }
                target
            }
            None => {
                if !dest.real.is_empty() && !dest.is_dir && p.existing(&dest.real).is_some() {
                    return Err(CopyError::NotADirectory {
                        instr: p.instr,
                        path: format!("/{}", dest.real),
                    });
                }
                p.ensure_dir(&dest.real)?;
                dest.real.clone()
            }
        };
        return p.copy_dir_contents(tree, &it.real, &target_dir, rules);
    }
    let target = match &it.parents_rel {
        Some(pr) => {
            // Parents between the pivot and the file keep source metadata.
            let (pdir, _) = root_path::split_parent(pr);
            let mut logical = it.pivot.clone();
            let mut placed = dest.real.clone();
            for c in pdir.split('/').filter(|c| !c.is_empty()) {
                logical = root_path::join_rel(&logical, c);
                placed = root_path::join_rel(&placed, c);
                match tree.resolve(&logical, true)? {
                    Some(r) => {
                        let rm =
                            std::fs::symlink_metadata(tree.abs(&r)).map_err(p.io(&tree.abs(&r)))?;
                        if let Some(e) = p.node_entry(tree, &r, &rm, &placed, rules)? {
                            p.put(e, false)?;
                        }
                    }
                    None => p.ensure_dir(&placed)?,
                }
            }
            root_path::join_rel(&dest.real, pr)
        }
        None => dest.file_target(&it.name),
    };
    let unpack = req
        .add
        .as_ref()
        .map(|a| a.unpack != Some(false))
        .unwrap_or(false);
    if unpack && m.is_file() && add_archive::is_archive(&abs).unwrap_or(false) {
        return extract_archive(p, &abs, &it.logical, &dest.real, scratch);
    }
    if let Some(e) = p.node_entry(tree, &it.real, &m, &target, rules)? {
        p.put(e, false)?;
    }
    Ok(())
}

/// Extracts an archive's members under `dest_dir`.
fn extract_archive(
    p: &mut Planner,
    file: &Path,
    display: &str,
    dest_dir: &str,
    scratch: &Path,
) -> Result<(), CopyError> {
    p.ensure_dir(dest_dir)?;
    let root = p.dest_root.to_path_buf();
    let resolve_parent =
        move |rel: &str| root_path::resolve(&root, rel, true).unwrap_or_else(|_| rel.to_owned());
    let entries = add_archive::entries(file, display, dest_dir, p.owner, scratch, &resolve_parent)?;
    for e in entries {
        p.put(e, true)?;
    }
    Ok(())
}
