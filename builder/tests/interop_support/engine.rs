//! What the interop cases need from an engine: load an image archive, run
//! a container from it (removed after, no network), show the image's
//! config, and save the image back to an archive.
//!
//! Implementations must keep all state in the test's private dir.

use std::path::Path;

use anyhow::Result;

use super::command::Out;

pub trait Engine {
    fn name(&self) -> &'static str;
    /// Load an image archive (the engine's own load/import command).
    fn load(&self, tar: &Path) -> Result<Out>;
    /// Run `image` with `args` (appended as the command, so after an
    /// entrypoint as arguments), `--rm`, no network; whatever its exit code.
    fn run(&self, image: &str, args: &[&str]) -> Result<Out>;
    /// The image's runtime config as docker shows it (`Env`, `Cmd`,
    /// `Entrypoint`, `WorkingDir`, `User`, `Labels`, `ExposedPorts`).
    fn config(&self, image: &str) -> Result<serde_json::Value>;
    /// Save `image` to an archive the engine writes natively.
    fn save(&self, image: &str, tar: &Path) -> Result<()>;
    /// The image id the engine gives `image`: `sha256:` + the config
    /// digest's hex (docker's, podman's and containerd's notion alike).
    fn image_id(&self, image: &str) -> Result<String>;
    /// Forget `image` (its name; blobs may stay), so that a later load is
    /// seen to bring it back.
    fn remove(&self, image: &str) -> Result<()>;
}
