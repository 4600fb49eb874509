//! Applying a layer tar (already decompressed) to a directory, as docker
//! and containerd do: whiteouts delete, opaque markers hide what lower
//! layers put in a directory, everything else is created with its owner,
//! mode, xattrs and mtime.
//!
//! Security is the point. Every entry is resolved under the root with
//! [`Root`]: symlinks already present are followed only as if the root were
//! `/`, the final component is never followed (whatever is there is
//! replaced), and entries or hard links whose path is absolute or climbs
//! above the root are refused. Must never create, change or remove anything
//! outside the root.

use std::collections::HashSet;
use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{openat, AtFlags, OFlag};
use nix::sys::stat::{
    fchmodat, fstatat, makedev, mkdirat, mknodat, utimensat, FchmodatFlags, Mode, SFlag,
    UtimensatFlags,
};
use nix::sys::time::TimeSpec;
use nix::unistd::{fchownat, linkat, symlinkat, unlinkat, Gid, Uid, UnlinkatFlags};
use tar::EntryType;

use super::root::Root;
use super::sys;
use super::LayerError;

const WHITEOUT_PREFIX: &[u8] = b".wh.";
const OPAQUE: &[u8] = b".wh..wh..opq";
const XATTR_PREFIX: &str = "SCHILY.xattr.";

/// Options of [`apply_layer`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplyOptions {
    /// Give files the owner recorded in the tar (lchown). Default true.
    pub same_owner: bool,
}

impl Default for ApplyOptions {
    fn default() -> Self {
        ApplyOptions { same_owner: true }
    }
}

/// What [`apply_layer`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApplyStats {
    /// Tar entries read (including whiteouts).
    pub entries: u64,
    pub files: u64,
    pub dirs: u64,
    pub symlinks: u64,
    pub hardlinks: u64,
    /// Devices and FIFOs.
    pub specials: u64,
    /// Whiteouts and opaque markers.
    pub whiteouts: u64,
    /// Bytes of regular-file content written.
    pub bytes: u64,
}

/// Applies the (decompressed) layer tar `tar` to directory `root`.
pub fn apply_layer(
    tar: impl Read,
    root: &Path,
    opts: &ApplyOptions,
) -> Result<ApplyStats, LayerError> {
    let r = Root::open(root).map_err(|source| LayerError::Root {
        root: root.to_owned(),
        source,
    })?;
    apply_in(tar, &r, opts)
}

/// [`apply_layer`] into an opened root (tests use a walk-only root).
pub(crate) fn apply_in(
    tar: impl Read,
    root: &Root,
    opts: &ApplyOptions,
) -> Result<ApplyStats, LayerError> {
    let mut state = State {
        root,
        opts,
        seen: HashSet::new(),
        opaque: Vec::new(),
        dir_times: Vec::new(),
        stats: ApplyStats::default(),
    };
    let mut archive = tar::Archive::new(tar);
    let entries = archive.entries().map_err(|source| LayerError::Tar {
        after: None,
        source,
    })?;
    let mut last: Option<String> = None;
    for item in entries {
        let mut entry = item.map_err(|source| LayerError::Tar {
            after: last.clone(),
            source,
        })?;
        let name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        state.entry(&mut entry, &name)?;
        state.stats.entries += 1;
        last = Some(name);
    }
    state.finish()?;
    Ok(state.stats)
}

/// A path as cleaned components.
type Comps = Vec<Vec<u8>>;

struct State<'a> {
    root: &'a Root,
    opts: &'a ApplyOptions,
    /// Paths this layer wrote, and their ancestors (joined with `/`).
    seen: HashSet<Vec<u8>>,
    /// Directories marked opaque.
    opaque: Vec<Comps>,
    /// Directory mtimes, set at the end.
    dir_times: Vec<(Comps, i64)>,
    stats: ApplyStats,
}

/// What a header says besides type and name.
struct Meta {
    mode: u32,
    uid: u32,
    gid: u32,
    mtime: i64,
    xattrs: Vec<(String, Vec<u8>)>,
    devmajor: Option<u32>,
    devminor: Option<u32>,
}

impl State<'_> {
    fn entry<R: Read>(
        &mut self,
        entry: &mut tar::Entry<'_, R>,
        name: &str,
    ) -> Result<(), LayerError> {
        let refuse = |reason: String| LayerError::Refused {
            entry: name.to_owned(),
            reason,
        };
        let etype = entry.header().entry_type();
        if matches!(etype, EntryType::XGlobalHeader) {
            return Ok(());
        }
        let comps = clean(&entry.path_bytes()).map_err(refuse)?;

        if let Some(base) = comps.last() {
            if base.starts_with(WHITEOUT_PREFIX) {
                self.stats.whiteouts += 1;
                return self.whiteout(&comps, name);
            }
        }

        let meta = self.meta(entry, name)?;
        let Some((last, parent)) = comps.split_last() else {
            // `./`: the root itself; only its metadata can change.
            if !etype.is_dir() {
                return Err(refuse(
                    "the root of the layer can only be a directory".into(),
                ));
            }
            let root_fd = self
                .root
                .fd()
                .try_clone_to_owned()
                .map_err(|e| apply_err(name, "opening the root", e))?;
            self.set_meta_at(&root_fd, OsStr::new("."), &meta, name, Kind::Dir)?;
            self.dir_times.push((Vec::new(), meta.mtime));
            return Ok(());
        };
        let parent_fd = self
            .root
            .create_dir_all(&join_path(parent))
            .map_err(|e| apply_err(name, "creating its parent directories", e))?;
        let base = OsStr::from_bytes(last);
        self.mark_seen(&comps);

        match etype {
            EntryType::Directory => {
                match fstatat(&parent_fd, base, AtFlags::AT_SYMLINK_NOFOLLOW) {
                    Ok(st) if is_kind(&st, SFlag::S_IFDIR) => {}
                    Ok(_) => {
                        remove_all(&parent_fd, base)
                            .map_err(|e| apply_err(name, "replacing what was there", e))?;
                        mkdirat(&parent_fd, base, Mode::from_bits_truncate(0o700))
                            .map_err(|e| apply_err(name, "creating the directory", e.into()))?;
                    }
                    Err(Errno::ENOENT) => {
                        mkdirat(&parent_fd, base, Mode::from_bits_truncate(0o700))
                            .map_err(|e| apply_err(name, "creating the directory", e.into()))?
                    }
                    Err(e) => return Err(apply_err(name, "inspecting what was there", e.into())),
                }
                self.set_meta_at(&parent_fd, base, &meta, name, Kind::Dir)?;
                self.dir_times.push((comps.clone(), meta.mtime));
                self.stats.dirs += 1;
            }
            EntryType::Regular | EntryType::Continuous | EntryType::GNUSparse => {
                remove_all(&parent_fd, base)
                    .map_err(|e| apply_err(name, "replacing what was there", e))?;
                let fd = openat(
                    &parent_fd,
                    base,
                    OFlag::O_WRONLY
                        | OFlag::O_CREAT
                        | OFlag::O_EXCL
                        | OFlag::O_NOFOLLOW
                        | OFlag::O_CLOEXEC,
                    Mode::from_bits_truncate(0o600),
                )
                .map_err(|e| apply_err(name, "creating the file", e.into()))?;
                let mut file = File::from(fd);
                let want = entry.size();
                let got = copy_content(entry, &mut file, name)?;
                if got != want {
                    return Err(LayerError::Tar {
                        after: Some(name.to_owned()),
                        source: io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            format!("the tar ends inside this entry ({got} of {want} bytes)"),
                        ),
                    });
                }
                self.stats.bytes += got;
                self.stats.files += 1;
                drop(file);
                self.set_meta_at(&parent_fd, base, &meta, name, Kind::Other)?;
            }
            EntryType::Symlink => {
                let target = entry
                    .link_name_bytes()
                    .map(|b| b.into_owned())
                    .filter(|b| !b.is_empty())
                    .ok_or_else(|| refuse("symlink without a target".into()))?;
                remove_all(&parent_fd, base)
                    .map_err(|e| apply_err(name, "replacing what was there", e))?;
                symlinkat(OsStr::from_bytes(&target), &parent_fd, base)
                    .map_err(|e| apply_err(name, "creating the symlink", e.into()))?;
                self.set_meta_at(&parent_fd, base, &meta, name, Kind::Symlink)?;
                self.stats.symlinks += 1;
            }
            EntryType::Link => {
                let raw = entry
                    .link_name_bytes()
                    .map(|b| b.into_owned())
                    .ok_or_else(|| refuse("hard link without a target".into()))?;
                let target = clean(&raw).map_err(|r| {
                    refuse(format!(
                        "hard link target {:?}: {r}",
                        String::from_utf8_lossy(&raw)
                    ))
                })?;
                if target == comps {
                    return Err(refuse("hard link to itself".into()));
                }
                let Some((tlast, tparent)) = target.split_last() else {
                    return Err(refuse("hard link to the root directory".into()));
                };
                let tparent_fd = self
                    .root
                    .open_dir(&join_path(tparent))
                    .map_err(|e| apply_err(name, "resolving the hard link target", e))?;
                remove_all(&parent_fd, base)
                    .map_err(|e| apply_err(name, "replacing what was there", e))?;
                linkat(
                    &tparent_fd,
                    OsStr::from_bytes(tlast),
                    &parent_fd,
                    base,
                    AtFlags::empty(),
                )
                .map_err(|e| {
                    apply_err(
                        name,
                        &format!("linking to {:?}", String::from_utf8_lossy(&raw)),
                        e.into(),
                    )
                })?;
                self.stats.hardlinks += 1;
            }
            EntryType::Char | EntryType::Block | EntryType::Fifo => {
                let (kind, dev) = match etype {
                    EntryType::Fifo => (SFlag::S_IFIFO, 0),
                    _ => {
                        let (Some(major), Some(minor)) = (meta.devmajor, meta.devminor) else {
                            return Err(refuse("device without major/minor numbers".into()));
                        };
                        let kind = if etype == EntryType::Char {
                            SFlag::S_IFCHR
                        } else {
                            SFlag::S_IFBLK
                        };
                        (kind, makedev(u64::from(major), u64::from(minor)))
                    }
                };
                remove_all(&parent_fd, base)
                    .map_err(|e| apply_err(name, "replacing what was there", e))?;
                mknodat(&parent_fd, base, kind, Mode::from_bits_truncate(0o600), dev)
                    .map_err(|e| apply_err(name, "creating the device node", e.into()))?;
                self.set_meta_at(&parent_fd, base, &meta, name, Kind::Other)?;
                self.stats.specials += 1;
            }
            other => {
                return Err(refuse(format!(
                    "unsupported tar entry type {:?}",
                    other.as_byte() as char
                )));
            }
        }
        Ok(())
    }

    /// `.wh.NAME` deletes NAME (unless this layer wrote it);
    /// `.wh..wh..opq` marks the directory opaque (handled at the end).
    fn whiteout(&mut self, comps: &[Vec<u8>], name: &str) -> Result<(), LayerError> {
        let Some((base, parent)) = comps.split_last() else {
            return Ok(());
        };
        if base.as_slice() == OPAQUE {
            self.opaque.push(parent.to_vec());
            return Ok(());
        }
        if base.starts_with(b".wh..wh.") {
            tracing::debug!(entry = name, "skipping aufs metadata entry");
            return Ok(());
        }
        let victim = base.get(WHITEOUT_PREFIX.len()..).unwrap_or_default();
        if victim.is_empty() || victim == b"." || victim == b".." {
            return Err(LayerError::Refused {
                entry: name.to_owned(),
                reason: "whiteout of an invalid name".into(),
            });
        }
        let mut target = parent.to_vec();
        target.push(victim.to_vec());
        if self.seen.contains(&join(&target)) {
            return Ok(());
        }
        let parent_fd = match self.root.open_dir(&join_path(parent)) {
            Ok(fd) => fd,
            Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT | libc::ENOTDIR)) => {
                return Ok(())
            }
            Err(e) => return Err(apply_err(name, "resolving the whited-out path", e)),
        };
        remove_all(&parent_fd, OsStr::from_bytes(victim))
            .map_err(|e| apply_err(name, "removing the whited-out path", e))
    }

    /// Opaque directories lose what this layer did not write; then the
    /// directory mtimes are set.
    fn finish(&mut self) -> Result<(), LayerError> {
        let mut opaque = std::mem::take(&mut self.opaque);
        opaque.sort();
        opaque.dedup();
        for dir in opaque {
            let name = format!(
                "{}/{}",
                String::from_utf8_lossy(&join(&dir)),
                String::from_utf8_lossy(OPAQUE)
            );
            let fd = match self.open_real_dir(&dir) {
                Ok(Some(fd)) => fd,
                Ok(None) => continue,
                Err(e) => return Err(apply_err(&name, "opening the opaque directory", e)),
            };
            self.clear_lower(&fd, &dir)
                .map_err(|e| apply_err(&name, "clearing the opaque directory", e))?;
        }
        for (dir, mtime) in std::mem::take(&mut self.dir_times) {
            let name = String::from_utf8_lossy(&join(&dir)).into_owned() + "/";
            let ts = TimeSpec::new(mtime, 0);
            let res = match dir.split_last() {
                None => utimensat(
                    self.root.fd(),
                    OsStr::new("."),
                    &ts,
                    &ts,
                    UtimensatFlags::NoFollowSymlink,
                )
                .map_err(io::Error::from),
                Some((last, parent)) => match self.root.open_dir(&join_path(parent)) {
                    Ok(pfd) => utimensat(
                        &pfd,
                        OsStr::from_bytes(last),
                        &ts,
                        &ts,
                        UtimensatFlags::NoFollowSymlink,
                    )
                    .map_err(io::Error::from),
                    Err(e) => Err(e),
                },
            };
            match res {
                Ok(()) => {}
                Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT | libc::ENOTDIR)) => {}
                Err(e) => return Err(apply_err(&name, "setting the directory mtime", e)),
            }
        }
        Ok(())
    }

    /// The directory at `dir` itself (not through a final symlink), if any.
    fn open_real_dir(&self, dir: &[Vec<u8>]) -> io::Result<Option<OwnedFd>> {
        let Some((last, parent)) = dir.split_last() else {
            return self.root.fd().try_clone_to_owned().map(Some);
        };
        let pfd = match self.root.open_dir(&join_path(parent)) {
            Ok(fd) => fd,
            Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT | libc::ENOTDIR)) => {
                return Ok(None)
            }
            Err(e) => return Err(e),
        };
        match openat(
            &pfd,
            OsStr::from_bytes(last),
            OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            Mode::empty(),
        ) {
            Ok(fd) => Ok(Some(fd)),
            Err(Errno::ENOENT | Errno::ENOTDIR | Errno::ELOOP) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Removes everything under `fd` (path `prefix`) this layer did not write.
    fn clear_lower(&self, fd: &OwnedFd, prefix: &[Vec<u8>]) -> io::Result<()> {
        let mut names: Vec<Vec<u8>> = Vec::new();
        for de in std::fs::read_dir(proc_path(fd, None))? {
            names.push(de?.file_name().as_bytes().to_vec());
        }
        for n in names {
            let mut child = prefix.to_vec();
            child.push(n.clone());
            let base = OsStr::from_bytes(&n);
            if !self.seen.contains(&join(&child)) {
                remove_all(fd, base)?;
                continue;
            }
            match openat(
                fd,
                base,
                OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
                Mode::empty(),
            ) {
                Ok(sub) => self.clear_lower(&sub, &child)?,
                Err(Errno::ENOTDIR | Errno::ELOOP | Errno::ENOENT) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    fn mark_seen(&mut self, comps: &[Vec<u8>]) {
        for i in 1..=comps.len() {
            self.seen.insert(join(comps.get(..i).unwrap_or_default()));
        }
    }

    /// Reads the header fields (PAX records override ustar ones).
    fn meta<R: Read>(&self, entry: &mut tar::Entry<'_, R>, name: &str) -> Result<Meta, LayerError> {
        let bad_header = |what: &str, e: io::Error| LayerError::Refused {
            entry: name.to_owned(),
            reason: format!("bad {what} in header: {e}"),
        };
        let mut xattrs = Vec::new();
        let mut pax_mtime = None;
        let mut pax_major = None;
        let mut pax_minor = None;
        if let Some(exts) = entry
            .pax_extensions()
            .map_err(|e| bad_header("PAX records", e))?
        {
            for ext in exts {
                let ext = ext.map_err(|e| bad_header("PAX records", e))?;
                let Ok(key) = ext.key() else { continue };
                let value = ext.value_bytes();
                if let Some(attr) = key.strip_prefix(XATTR_PREFIX) {
                    xattrs.push((attr.to_owned(), value.to_vec()));
                } else if key == "mtime" {
                    pax_mtime = parse_pax_time(value);
                } else if key == "SCHILY.devmajor" {
                    pax_major = std::str::from_utf8(value).ok().and_then(|s| s.parse().ok());
                } else if key == "SCHILY.devminor" {
                    pax_minor = std::str::from_utf8(value).ok().and_then(|s| s.parse().ok());
                }
            }
        }
        let h = entry.header();
        let old = h.as_old();
        let mode = or_zero(&old.mode, h.mode().map(u64::from)).map_err(|e| bad_header("mode", e))?
            as u32
            & 0o7777;
        let id = |v: io::Result<u64>, what: &str| -> Result<u32, LayerError> {
            let v = v.map_err(|e| bad_header(what, e))?;
            u32::try_from(v)
                .map_err(|_| bad_header(what, io::Error::other(format!("{v} is out of range"))))
        };
        let uid = id(or_zero(&old.uid, h.uid()), "uid")?;
        let gid = id(or_zero(&old.gid, h.gid()), "gid")?;
        let mtime = match pax_mtime {
            Some(m) => m,
            None => {
                let m = or_zero(&old.mtime, h.mtime()).map_err(|e| bad_header("mtime", e))?;
                i64::try_from(m).unwrap_or(i64::MAX)
            }
        };
        let (devmajor, devminor) = if matches!(h.entry_type(), EntryType::Char | EntryType::Block) {
            let major = match pax_major {
                Some(m) => Some(m),
                None => h
                    .device_major()
                    .map_err(|e| bad_header("device major", e))?,
            };
            let minor = match pax_minor {
                Some(m) => Some(m),
                None => h
                    .device_minor()
                    .map_err(|e| bad_header("device minor", e))?,
            };
            (major, minor)
        } else {
            (None, None)
        };
        Ok(Meta {
            mode,
            uid,
            gid,
            mtime,
            xattrs,
            devmajor,
            devminor,
        })
    }

    /// Owner, xattrs, mode (after chown, which clears setuid bits) and, for
    /// non-directories, mtime of `parent/base`, never following `base`.
    fn set_meta_at(
        &self,
        parent: &OwnedFd,
        base: &OsStr,
        m: &Meta,
        name: &str,
        kind: Kind,
    ) -> Result<(), LayerError> {
        if self.opts.same_owner {
            fchownat(
                parent,
                base,
                Some(Uid::from_raw(m.uid)),
                Some(Gid::from_raw(m.gid)),
                AtFlags::AT_SYMLINK_NOFOLLOW,
            )
            .map_err(|e| {
                apply_err(
                    name,
                    &format!("changing the owner to {}:{}", m.uid, m.gid),
                    e.into(),
                )
            })?;
        }
        for (attr, value) in &m.xattrs {
            if let Err(e) = sys::lsetxattr(&proc_path(parent, Some(base)), attr, value) {
                if attr.starts_with("trusted.") || attr.starts_with("security.") {
                    tracing::warn!(entry = name, xattr = attr.as_str(), error = %e, "could not set extended attribute");
                } else {
                    return Err(apply_err(
                        name,
                        &format!("setting extended attribute {attr}"),
                        e,
                    ));
                }
            }
        }
        if kind != Kind::Symlink {
            // `base` was just created or checked to be no symlink.
            fchmodat(
                parent,
                base,
                Mode::from_bits_truncate(m.mode),
                FchmodatFlags::FollowSymlink,
            )
            .map_err(|e| apply_err(name, &format!("setting mode {:o}", m.mode), e.into()))?;
        }
        if kind != Kind::Dir {
            let ts = TimeSpec::new(m.mtime, 0);
            utimensat(parent, base, &ts, &ts, UtimensatFlags::NoFollowSymlink)
                .map_err(|e| apply_err(name, "setting the mtime", e.into()))?;
        }
        Ok(())
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Dir,
    Symlink,
    Other,
}

/// Copies an entry's content, telling tar read errors from write errors.
fn copy_content(r: &mut impl Read, w: &mut File, name: &str) -> Result<u64, LayerError> {
    let mut buf = vec![0u8; 64 * 1024];
    let mut total = 0u64;
    loop {
        let n = match r.read(&mut buf) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(source) => {
                return Err(LayerError::Tar {
                    after: Some(name.to_owned()),
                    source,
                })
            }
        };
        w.write_all(buf.get(..n).unwrap_or_default())
            .map_err(|e| apply_err(name, "writing the content", e))?;
        total += n as u64;
    }
}

/// Cleans a tar path into components: `.` and empty ones dropped, `..`
/// popping; refused if absolute or if it climbs above the root.
fn clean(raw: &[u8]) -> Result<Comps, String> {
    if raw.starts_with(b"/") {
        return Err("absolute paths are not allowed in a layer".into());
    }
    if raw.contains(&0) {
        return Err("path contains a NUL byte".into());
    }
    let mut out: Comps = Vec::new();
    for c in raw.split(|&b| b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => {
                if out.pop().is_none() {
                    return Err("path climbs above the root with \"..\"".into());
                }
            }
            c => out.push(c.to_vec()),
        }
    }
    Ok(out)
}

fn join(comps: &[Vec<u8>]) -> Vec<u8> {
    comps.join(&b'/')
}

fn join_path(comps: &[Vec<u8>]) -> PathBuf {
    PathBuf::from(OsStr::from_bytes(&join(comps)))
}

fn is_kind(st: &nix::sys::stat::FileStat, kind: SFlag) -> bool {
    SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == kind
}

/// `/proc/self/fd/N[/base]`: names `base` inside the directory `fd`
/// without resolving any path again.
fn proc_path(fd: &OwnedFd, base: Option<&OsStr>) -> PathBuf {
    let mut p = PathBuf::from(format!("/proc/self/fd/{}", fd.as_fd().as_raw_fd()));
    if let Some(b) = base {
        p.push(b);
    }
    p
}

/// Removes `parent/base` whatever it is (recursively for a directory); a
/// missing one is fine. Never follows `base`.
fn remove_all(parent: &OwnedFd, base: &OsStr) -> io::Result<()> {
    match fstatat(parent, base, AtFlags::AT_SYMLINK_NOFOLLOW) {
        Err(Errno::ENOENT) => Ok(()),
        Err(e) => Err(e.into()),
        // std's remove_dir_all works on descriptors and never follows symlinks.
        Ok(st) if is_kind(&st, SFlag::S_IFDIR) => {
            std::fs::remove_dir_all(proc_path(parent, Some(base)))
        }
        Ok(_) => Ok(unlinkat(parent, base, UnlinkatFlags::NoRemoveDir)?),
    }
}

fn apply_err(entry: &str, op: &str, source: io::Error) -> LayerError {
    LayerError::Apply {
        entry: entry.to_owned(),
        op: op.to_owned(),
        source,
    }
}

/// An empty numeric field (all NULs or spaces) reads as 0, as Go's
/// archive/tar reads it; anything else must parse.
fn or_zero(raw: &[u8], parsed: io::Result<u64>) -> io::Result<u64> {
    if raw.iter().all(|&b| b == 0 || b == b' ') {
        Ok(0)
    } else {
        parsed
    }
}

/// A PAX time (`secs[.frac]`, possibly negative) as whole seconds.
fn parse_pax_time(v: &[u8]) -> Option<i64> {
    let s = std::str::from_utf8(v).ok()?;
    let int = s.split('.').next()?;
    int.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_paths() {
        assert_eq!(
            clean(b"./a//b/./c/").unwrap(),
            vec![b"a".to_vec(), b"b".to_vec(), b"c".to_vec()]
        );
        assert_eq!(clean(b"a/../b").unwrap(), vec![b"b".to_vec()]);
        assert!(clean(b"./").unwrap().is_empty());
        assert!(clean(b"../x").is_err());
        assert!(clean(b"a/../../x").is_err());
        assert!(clean(b"/etc/passwd").is_err());
    }

    #[test]
    fn pax_times() {
        assert_eq!(parse_pax_time(b"1700000000.123"), Some(1_700_000_000));
        assert_eq!(parse_pax_time(b"-5"), Some(-5));
        assert_eq!(parse_pax_time(b"x"), None);
    }

    /// Builds a tar of (path, type, link) with the tar crate (GNU-free ustar).
    fn tar_of(entries: &[(&str, EntryType, &str)]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (path, t, link) in entries {
            let mut h = tar::Header::new_ustar();
            h.set_entry_type(*t);
            h.set_mode(0o644);
            h.set_size(0);
            h.set_mtime(0);
            // Raw names: the tar crate's set_path refuses "..".
            let name = h.as_old_mut().name.as_mut();
            name[..path.len()].copy_from_slice(path.as_bytes());
            let l = h.as_old_mut().linkname.as_mut();
            l[..link.len()].copy_from_slice(link.as_bytes());
            h.set_cksum();
            b.append(&h, &[][..]).unwrap();
        }
        b.into_inner().unwrap()
    }

    /// The breakout attempts, with the userspace walk (the integration tests
    /// cover the openat2 path).
    #[test]
    fn breakouts_with_the_userspace_walk() {
        let t = tempfile::tempdir().unwrap();
        let outside = t.path().join("outside");
        std::fs::create_dir(&outside).unwrap();
        std::fs::write(outside.join("secret"), b"keep").unwrap();
        let opts = ApplyOptions::default();
        let out = outside.to_str().unwrap();

        type Case<'a> = (Vec<(&'a str, EntryType, &'a str)>, bool);
        let cases: Vec<Case<'_>> = vec![
            (
                vec![
                    ("a", EntryType::Symlink, out),
                    ("a/secret", EntryType::Regular, ""),
                ],
                true,
            ),
            (
                vec![
                    ("b", EntryType::Symlink, "../../../.."),
                    ("b/x", EntryType::Regular, ""),
                ],
                true,
            ),
            (vec![("../x", EntryType::Regular, "")], false),
            (vec![("h", EntryType::Link, "../outside/secret")], false),
            (vec![("/abs", EntryType::Regular, "")], false),
        ];
        for (i, (entries, ok)) in cases.into_iter().enumerate() {
            let root = t.path().join(format!("root{i}"));
            std::fs::create_dir(&root).unwrap();
            let r = Root::open_walk_only(&root).unwrap();
            let res = apply_in(&tar_of(&entries)[..], &r, &opts);
            assert_eq!(res.is_ok(), ok, "case {i}: {res:?}");
            assert_eq!(
                std::fs::read(outside.join("secret")).unwrap(),
                b"keep",
                "case {i}"
            );
            assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 1, "case {i}");
        }
        // The symlinked writes landed inside the roots.
        assert!(t
            .path()
            .join("root0")
            .join(out.trim_start_matches('/'))
            .join("secret")
            .is_file());
        assert!(t.path().join("root1/x").is_file());
    }
}
