//! Which runtime and shim run RUN steps: `--runtime PATH`, else `keel` next
//! to the hoist executable, else `keel` on PATH, else `runc` on PATH; the
//! shim is `keel-shim` next to hoist, else on PATH. Each runtime keeps its
//! container state under `<store>/runtime/<runtime name>`.
//!
//! Looks only; runs nothing.

use std::path::{Path, PathBuf};

use super::RunError;

/// The programs that run a step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Runtime {
    /// The runc-compatible runtime binary.
    pub runtime: PathBuf,
    /// `keel-shim`.
    pub shim: PathBuf,
    /// The runtime's `--root`.
    pub root: PathBuf,
}

impl Runtime {
    /// Finds the runtime (`explicit` first) and the shim.
    pub fn find(explicit: Option<&Path>, store_root: &Path) -> Result<Runtime, RunError> {
        let beside = std::env::current_exe()
            .ok()
            .and_then(|p| p.parent().map(Path::to_path_buf));
        let find = |name: &str| -> Option<PathBuf> {
            beside
                .as_ref()
                .map(|d| d.join(name))
                .filter(|p| is_executable(p))
                .or_else(|| on_path(name))
        };
        let runtime =
            match explicit {
                Some(p) if p.components().count() > 1 => {
                    if !is_executable(p) {
                        return Err(RunError::NoRuntime {
                            what: format!("--runtime {}: not an executable file", p.display()),
                        });
                    }
                    p.to_path_buf()
                }
                Some(p) => on_path(&p.to_string_lossy()).ok_or_else(|| RunError::NoRuntime {
                    what: format!("--runtime {}: not found on PATH", p.display()),
                })?,
                None => find("keel").or_else(|| on_path("runc")).ok_or_else(|| {
                    RunError::NoRuntime {
                    what:
                        "RUN needs a container runtime: build keel (cargo build -p keel-runtime), \
                           put keel or runc on PATH, or pass --runtime PATH"
                            .into(),
                }
                })?,
            };
        let shim = find("keel-shim").ok_or_else(|| RunError::NoRuntime {
            what: "RUN needs keel-shim next to hoist or on PATH: build it with cargo build -p keel-shim"
                .into(),
        })?;
        let name = runtime
            .file_name()
            .map_or_else(|| "runtime".into(), |n| n.to_string_lossy().into_owned());
        let root = store_root.join("runtime").join(name);
        Ok(Runtime {
            runtime: std::path::absolute(&runtime).unwrap_or(runtime),
            shim: std::path::absolute(&shim).unwrap_or(shim),
            root: std::path::absolute(&root).unwrap_or(root),
        })
    }
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| is_executable(p))
}
