//! The narrow door to the kernel: every cgroupfs access the module makes goes
//! through [`CgroupFs`], so all policy is unit-tested against an in-memory
//! fake (see `fake.rs`), and [`HostFs`] is the only implementation that
//! touches `/sys/fs/cgroup`.
//!
//! Implementations hold no policy: they read, write, create and remove
//! exactly what they are told, and report the kernel's errno unchanged.

use std::fs::OpenOptions;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use super::bpf::Insn;
use super::sys;

/// Why loading or attaching a device filter failed.
#[derive(Debug)]
pub struct BpfFailure {
    /// `load`, `attach`, `query` or `detach`.
    pub op: &'static str,
    pub source: io::Error,
    /// The verifier's log, if the kernel gave one (already one line).
    pub log: String,
}

/// File operations on a cgroup filesystem, by absolute path.
pub trait CgroupFs {
    /// Reads a whole control file.
    fn read(&self, path: &Path) -> io::Result<String>;
    /// Writes `value` to a control file in one `write(2)`.
    fn write(&self, path: &Path, value: &str) -> io::Result<()>;
    /// Whether a file or directory exists.
    fn exists(&self, path: &Path) -> bool;
    /// Creates one directory (the parent must exist).
    fn mkdir(&self, path: &Path) -> io::Result<()>;
    /// Removes one empty cgroup directory.
    fn rmdir(&self, path: &Path) -> io::Result<()>;
    /// The child directories (child cgroups) of `path`.
    fn subdirs(&self, path: &Path) -> io::Result<Vec<PathBuf>>;
    /// Loads `program` as a `BPF_PROG_TYPE_CGROUP_DEVICE` filter, attaches
    /// it to the cgroup2 directory `dir` and detaches the filters that were
    /// there before, so exactly one filter of ours stays in effect.
    fn set_device_filter(&self, dir: &Path, program: &[Insn]) -> Result<(), BpfFailure>;
}

/// The real cgroup filesystem.
#[derive(Debug, Default, Clone, Copy)]
pub struct HostFs;

impl CgroupFs for HostFs {
    fn read(&self, path: &Path) -> io::Result<String> {
        std::fs::read_to_string(path)
    }

    fn write(&self, path: &Path, value: &str) -> io::Result<()> {
        let mut f = OpenOptions::new().write(true).open(path)?;
        f.write_all(value.as_bytes())
    }

    fn exists(&self, path: &Path) -> bool {
        path.exists()
    }

    fn mkdir(&self, path: &Path) -> io::Result<()> {
        std::fs::create_dir(path)
    }

    fn rmdir(&self, path: &Path) -> io::Result<()> {
        std::fs::remove_dir(path)
    }

    fn subdirs(&self, path: &Path) -> io::Result<Vec<PathBuf>> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(path)? {
            let entry = entry?;
            if entry.file_type()?.is_dir() {
                out.push(entry.path());
            }
        }
        out.sort();
        Ok(out)
    }

    fn set_device_filter(&self, dir: &Path, program: &[Insn]) -> Result<(), BpfFailure> {
        sys::replace_device_filter(dir, program)
    }
}
