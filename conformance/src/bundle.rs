//! OCI bundles in a temporary directory, made from the busybox rootfs
//! template, with keel-check at `/keel-check` and the config at
//! `/keel-spec.json` inside the rootfs.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::error::{io_err, Result};
use crate::host;
use crate::spec::Spec;

/// A bundle directory that is unmounted and removed on drop.
#[derive(Debug)]
pub struct Bundle {
    dir: tempfile::TempDir,
}

impl Bundle {
    /// Copy `rootfs_template` to `DIR/rootfs`, add the checker, write `spec`.
    pub fn create(rootfs_template: &Path, checker: &Path, spec: &Spec) -> Result<Bundle> {
        let dir = tempfile::Builder::new()
            .prefix("keel-bundle-")
            .tempdir()
            .map_err(io_err("create a bundle dir"))?;
        // A user-namespaced container's setup must be able to reach the rootfs.
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755))
            .map_err(io_err("chmod the bundle dir"))?;
        let b = Bundle { dir };
        copy_tree(rootfs_template, &b.rootfs())?;
        let dest = b.rootfs().join("keel-check");
        fs::copy(checker, &dest).map_err(io_err(format!("copy {}", checker.display())))?;
        fs::set_permissions(&dest, fs::Permissions::from_mode(0o755))
            .map_err(io_err("chmod keel-check"))?;
        b.write_spec(spec)?;
        Ok(b)
    }

    /// Like [`Bundle::create`], but regular files of the template (and the
    /// checker) are hard-linked, not copied: much faster. Use a private copy
    /// of the template (a runtime that wrongly chowns or writes the rootfs
    /// would change the template's files too).
    pub fn create_linked(rootfs_template: &Path, checker: &Path, spec: &Spec) -> Result<Bundle> {
        let dir = tempfile::Builder::new()
            .prefix("keel-bundle-")
            .tempdir()
            .map_err(io_err("create a bundle dir"))?;
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755))
            .map_err(io_err("chmod the bundle dir"))?;
        let b = Bundle { dir };
        link_tree(rootfs_template, &b.rootfs())?;
        let dest = b.rootfs().join("keel-check");
        if fs::symlink_metadata(&dest).is_err() {
            link_or_copy(checker, &dest)?;
        }
        b.write_spec(spec)?;
        Ok(b)
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn rootfs(&self) -> PathBuf {
        self.dir.path().join("rootfs")
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("config.json")
    }

    /// Write config.json and its copy /keel-spec.json in the rootfs.
    pub fn write_spec(&self, spec: &Spec) -> Result<()> {
        let text = spec.to_json();
        fs::write(self.config_path(), &text).map_err(io_err("write config.json"))?;
        let copy = self.rootfs().join("keel-spec.json");
        if copy.parent().is_some_and(Path::is_dir) {
            fs::write(&copy, &text).map_err(io_err("write keel-spec.json"))?;
        }
        Ok(())
    }

    /// Overwrite config.json with arbitrary text (for bad-input tests).
    pub fn write_config_raw(&self, text: &str) -> Result<()> {
        fs::write(self.config_path(), text).map_err(io_err("write config.json"))
    }
}

impl Drop for Bundle {
    fn drop(&mut self) {
        // Never let remove_dir_all descend into a mount a runtime leaked.
        host::unmount_under(self.dir.path());
    }
}

fn link_or_copy(src: &Path, dst: &Path) -> Result<()> {
    if fs::hard_link(src, dst).is_ok() {
        return Ok(());
    }
    fs::copy(src, dst).map_err(io_err(format!("copy {}", src.display())))?;
    let meta = fs::metadata(src).map_err(io_err(format!("stat {}", src.display())))?;
    fs::set_permissions(dst, fs::Permissions::from_mode(meta.mode() & 0o7777))
        .map_err(io_err(format!("chmod {}", dst.display())))
}

/// Recreate a directory tree with its regular files hard-linked (copied
/// when linking fails), keeping directory modes, ownership and symlinks.
pub fn link_tree(src: &Path, dst: &Path) -> Result<()> {
    let meta = fs::symlink_metadata(src).map_err(io_err(format!("stat {}", src.display())))?;
    let ft = meta.file_type();
    if ft.is_file() {
        return link_or_copy(src, dst);
    }
    if !ft.is_dir() {
        return copy_tree(src, dst);
    }
    fs::create_dir_all(dst).map_err(io_err(format!("mkdir {}", dst.display())))?;
    let entries = fs::read_dir(src).map_err(io_err(format!("read {}", src.display())))?;
    for e in entries {
        let e = e.map_err(io_err(format!("read {}", src.display())))?;
        link_tree(&e.path(), &dst.join(e.file_name()))?;
    }
    std::os::unix::fs::lchown(dst, Some(meta.uid()), Some(meta.gid()))
        .map_err(io_err(format!("chown {}", dst.display())))?;
    fs::set_permissions(dst, fs::Permissions::from_mode(meta.mode() & 0o7777))
        .map_err(io_err(format!("chmod {}", dst.display())))
}

/// Copy a directory tree, keeping modes, ownership and symlinks.
pub fn copy_tree(src: &Path, dst: &Path) -> Result<()> {
    let meta = fs::symlink_metadata(src).map_err(io_err(format!("stat {}", src.display())))?;
    let ft = meta.file_type();
    if ft.is_symlink() {
        let target = fs::read_link(src).map_err(io_err(format!("readlink {}", src.display())))?;
        std::os::unix::fs::symlink(&target, dst)
            .map_err(io_err(format!("symlink {}", dst.display())))?;
        return Ok(());
    }
    if ft.is_dir() {
        fs::create_dir_all(dst).map_err(io_err(format!("mkdir {}", dst.display())))?;
        let entries = fs::read_dir(src).map_err(io_err(format!("read {}", src.display())))?;
        for e in entries {
            let e = e.map_err(io_err(format!("read {}", src.display())))?;
            copy_tree(&e.path(), &dst.join(e.file_name()))?;
        }
    } else if ft.is_file() {
        fs::copy(src, dst).map_err(io_err(format!("copy {}", src.display())))?;
    } else {
        // Devices, fifos and sockets have no place in a test rootfs.
        return Ok(());
    }
    std::os::unix::fs::lchown(dst, Some(meta.uid()), Some(meta.gid()))
        .map_err(io_err(format!("chown {}", dst.display())))?;
    fs::set_permissions(dst, fs::Permissions::from_mode(meta.mode() & 0o7777))
        .map_err(io_err(format!("chmod {}", dst.display())))?;
    Ok(())
}
