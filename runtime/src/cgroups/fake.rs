//! An in-memory cgroupfs for unit tests: directories, control files, a log
//! of every write, scripted reads and injected errors.
//!
//! It models just enough of the kernel: `mkdir` populates the new cgroup
//! with its hierarchy's control files, `rmdir` refuses a cgroup with
//! children or processes (EBUSY), writes to missing files fail (ENOENT),
//! `cgroup.freeze` updates `cgroup.events`, `cgroup.procs` accumulates pids
//! and v2 children see their parent's `cgroup.subtree_control` as their
//! `cgroup.controllers`.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::io;
use std::path::{Path, PathBuf};

use super::bpf::Insn;
use super::fs::{BpfFailure, CgroupFs};

/// A hierarchy's root, whether it is cgroup2, and the files of its cgroups.
type Template = (PathBuf, bool, Vec<(String, String)>);

#[derive(Default)]
struct State {
    files: BTreeMap<PathBuf, String>,
    dirs: BTreeSet<PathBuf>,
    writes: Vec<(PathBuf, String)>,
    /// file → (errno, times left)
    fail: HashMap<PathBuf, (i32, usize)>,
    reads: HashMap<PathBuf, VecDeque<String>>,
    filters: Vec<(PathBuf, Vec<Insn>)>,
    /// hierarchy root → (file, default content) created in every new cgroup
    templates: BTreeMap<PathBuf, (bool, Vec<(String, String)>)>,
}

/// The fake filesystem.
#[derive(Default)]
pub struct FakeFs {
    s: RefCell<State>,
}

fn err(errno: i32) -> io::Error {
    io::Error::from_raw_os_error(errno)
}

impl FakeFs {
    pub fn new() -> FakeFs {
        FakeFs::default()
    }

    /// Adds a hierarchy at `root` whose cgroups hold `files` (name, default
    /// content). `v2` turns on the subtree_control model.
    pub fn hierarchy(&self, root: &str, v2: bool, files: &[(&str, &str)]) -> &Self {
        let root = PathBuf::from(root);
        {
            let mut s = self.s.borrow_mut();
            let mut p = PathBuf::new();
            for c in root.components() {
                p.push(c);
                s.dirs.insert(p.clone());
            }
            let files: Vec<(String, String)> = files
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect();
            for (f, c) in &files {
                s.files.insert(root.join(f), c.clone());
            }
            s.templates.insert(root.clone(), (v2, files));
        }
        self
    }

    /// Creates `path` and its missing parents as cgroups (populated).
    pub fn mkdirs(&self, path: &str) -> &Self {
        let path = Path::new(path);
        let mut p = PathBuf::new();
        for c in path.components() {
            p.push(c);
            if !self.s.borrow().dirs.contains(&p) {
                self.mkdir(&p).unwrap();
            }
        }
        self
    }

    /// Sets a file's content (creating it).
    pub fn set(&self, path: impl AsRef<Path>, content: &str) -> &Self {
        self.s
            .borrow_mut()
            .files
            .insert(path.as_ref().to_path_buf(), content.to_string());
        self
    }

    /// Removes a file, as a kernel without it would.
    pub fn remove(&self, path: impl AsRef<Path>) -> &Self {
        self.s.borrow_mut().files.remove(path.as_ref());
        self
    }

    /// The next `times` writes to `path` fail with `errno`.
    pub fn fail(&self, path: impl AsRef<Path>, errno: i32, times: usize) -> &Self {
        self.s
            .borrow_mut()
            .fail
            .insert(path.as_ref().to_path_buf(), (errno, times));
        self
    }

    /// Reads of `path` return these contents first, in order.
    pub fn script_reads(&self, path: impl AsRef<Path>, contents: &[&str]) -> &Self {
        self.s.borrow_mut().reads.insert(
            path.as_ref().to_path_buf(),
            contents.iter().map(|c| c.to_string()).collect(),
        );
        self
    }

    /// A file's content.
    pub fn get(&self, path: impl AsRef<Path>) -> Option<String> {
        self.s.borrow().files.get(path.as_ref()).cloned()
    }

    /// Whether a directory exists.
    pub fn is_dir(&self, path: impl AsRef<Path>) -> bool {
        self.s.borrow().dirs.contains(path.as_ref())
    }

    /// Every write so far, in order.
    pub fn writes(&self) -> Vec<(PathBuf, String)> {
        self.s.borrow().writes.clone()
    }

    /// Writes so far as "file=value" with paths relative to `base`.
    pub fn writes_under(&self, base: &str) -> Vec<String> {
        self.writes()
            .into_iter()
            .filter_map(|(p, v)| {
                p.strip_prefix(base)
                    .ok()
                    .map(|r| format!("{}={}", r.display(), v))
            })
            .collect()
    }

    /// Forgets the write log.
    pub fn clear_writes(&self) {
        self.s.borrow_mut().writes.clear();
    }

    /// Device filters set so far.
    pub fn filters(&self) -> Vec<(PathBuf, Vec<Insn>)> {
        self.s.borrow().filters.clone()
    }

    fn template_for(&self, path: &Path) -> Option<Template> {
        let s = self.s.borrow();
        s.templates
            .iter()
            .filter(|(root, _)| path.starts_with(root))
            .max_by_key(|(root, _)| root.as_os_str().len())
            .map(|(root, (v2, files))| (root.clone(), *v2, files.clone()))
    }
}

impl CgroupFs for FakeFs {
    fn read(&self, path: &Path) -> io::Result<String> {
        let mut s = self.s.borrow_mut();
        if let Some(q) = s.reads.get_mut(path) {
            if let Some(v) = q.pop_front() {
                return Ok(v);
            }
        }
        if s.dirs.contains(path) {
            return Err(err(libc::EISDIR));
        }
        s.files.get(path).cloned().ok_or_else(|| err(libc::ENOENT))
    }

    fn write(&self, path: &Path, value: &str) -> io::Result<()> {
        let mut s = self.s.borrow_mut();
        if !s.files.contains_key(path) {
            return Err(err(libc::ENOENT));
        }
        if let Some((errno, left)) = s.fail.get_mut(path) {
            if *left > 0 {
                *left -= 1;
                let e = *errno;
                s.writes
                    .push((path.to_path_buf(), format!("{value} (failed)")));
                return Err(err(e));
            }
        }
        s.writes.push((path.to_path_buf(), value.to_string()));
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let dir = path.parent().unwrap_or(Path::new("/")).to_path_buf();
        match name {
            "cgroup.procs" => {
                let cur = s.files.get(path).cloned().unwrap_or_default();
                s.files
                    .insert(path.to_path_buf(), format!("{cur}{}\n", value.trim()));
            }
            "cgroup.freeze" => {
                let frozen = value.trim() == "1";
                s.files
                    .insert(path.to_path_buf(), format!("{}\n", u8::from(frozen)));
                s.files.insert(
                    dir.join("cgroup.events"),
                    format!("populated 1\nfrozen {}\n", u8::from(frozen)),
                );
            }
            "cgroup.subtree_control" => {
                let avail = s
                    .files
                    .get(&dir.join("cgroup.controllers"))
                    .cloned()
                    .unwrap_or_default();
                let mut cur: BTreeSet<String> = s
                    .files
                    .get(path)
                    .map(|c| c.split_whitespace().map(str::to_string).collect())
                    .unwrap_or_default();
                for tok in value.split_whitespace() {
                    let (on, c) = tok.split_at(1);
                    if !avail.split_whitespace().any(|a| a == c) {
                        return Err(err(libc::ENOENT));
                    }
                    if on == "+" {
                        cur.insert(c.to_string());
                    } else {
                        cur.remove(c);
                    }
                }
                let v: Vec<String> = cur.into_iter().collect();
                s.files.insert(path.to_path_buf(), v.join(" "));
            }
            _ => {
                s.files.insert(path.to_path_buf(), value.to_string());
            }
        }
        Ok(())
    }

    fn exists(&self, path: &Path) -> bool {
        let s = self.s.borrow();
        s.dirs.contains(path) || s.files.contains_key(path)
    }

    fn mkdir(&self, path: &Path) -> io::Result<()> {
        let parent = path
            .parent()
            .ok_or_else(|| err(libc::EINVAL))?
            .to_path_buf();
        if !self.s.borrow().dirs.contains(&parent) {
            return Err(err(libc::ENOENT));
        }
        if self.exists(path) {
            return Err(err(libc::EEXIST));
        }
        let tpl = self.template_for(path);
        let mut s = self.s.borrow_mut();
        s.dirs.insert(path.to_path_buf());
        if let Some((_root, v2, files)) = tpl {
            for (f, c) in files {
                s.files.insert(path.join(&f), c);
            }
            s.files.insert(path.join("cgroup.procs"), String::new());
            if v2 {
                let ctrls = s
                    .files
                    .get(&parent.join("cgroup.subtree_control"))
                    .cloned()
                    .unwrap_or_default();
                s.files.insert(path.join("cgroup.controllers"), ctrls);
                s.files
                    .insert(path.join("cgroup.subtree_control"), String::new());
            }
        }
        Ok(())
    }

    fn rmdir(&self, path: &Path) -> io::Result<()> {
        let mut s = self.s.borrow_mut();
        if !s.dirs.contains(path) {
            return Err(err(libc::ENOENT));
        }
        if let Some((errno, left)) = s.fail.get_mut(path) {
            if *left > 0 {
                *left -= 1;
                return Err(err(*errno));
            }
        }
        let has_child = s.dirs.iter().any(|d| d != path && d.starts_with(path));
        let procs = s
            .files
            .get(&path.join("cgroup.procs"))
            .is_some_and(|p| !p.trim().is_empty());
        if has_child || procs {
            return Err(err(libc::EBUSY));
        }
        s.dirs.remove(path);
        s.files.retain(|f, _| !f.starts_with(path));
        Ok(())
    }

    fn subdirs(&self, path: &Path) -> io::Result<Vec<PathBuf>> {
        let s = self.s.borrow();
        if !s.dirs.contains(path) {
            return Err(err(libc::ENOENT));
        }
        Ok(s.dirs
            .iter()
            .filter(|d| d.parent() == Some(path))
            .cloned()
            .collect())
    }

    fn set_device_filter(&self, dir: &Path, program: &[Insn]) -> Result<(), BpfFailure> {
        let mut s = self.s.borrow_mut();
        if !s.dirs.contains(dir) {
            return Err(BpfFailure {
                op: "attach",
                source: err(libc::ENOENT),
                log: String::new(),
            });
        }
        s.filters.push((dir.to_path_buf(), program.to_vec()));
        Ok(())
    }
}
