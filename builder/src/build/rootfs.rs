//! A stage's filesystem as a directory, made only when a step misses the
//! cache and needs it (to resolve COPY destinations and `--chown` names, or
//! as a `COPY --from` source). Layers are applied in order through
//! [`crate::layer::apply_layer`], which never writes outside the directory.

use std::path::{Path, PathBuf};

use crate::image::Descriptor;
use crate::layer::{apply_layer, decompress, ApplyOptions};
use crate::store::Store;

use super::BuildError;

/// A directory kept in step with a list of layers.
#[derive(Debug)]
pub struct Rootfs {
    dir: PathBuf,
    applied: usize,
}

impl Rootfs {
    /// An empty rootfs at `dir` (created).
    pub fn create(dir: PathBuf) -> Result<Rootfs, BuildError> {
        std::fs::create_dir_all(&dir).map_err(BuildError::io(&dir, "create a build rootfs"))?;
        Ok(Rootfs { dir, applied: 0 })
    }

    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// Applies the layers not yet applied. `layers` must extend the list
    /// given last time.
    pub fn sync(&mut self, store: &Store, layers: &[Descriptor]) -> Result<&Path, BuildError> {
        for desc in layers.iter().skip(self.applied) {
            let blob = store.open_blob(&desc.digest)?;
            let tar = decompress(blob)
                .map_err(|e| BuildError::Stage(format!("layer {}: {e}", desc.digest)))?;
            apply_layer(tar, &self.dir, &ApplyOptions::default())
                .map_err(|e| BuildError::Stage(format!("apply layer {}: {e}", desc.digest)))?;
            self.applied += 1;
        }
        Ok(&self.dir)
    }
}
