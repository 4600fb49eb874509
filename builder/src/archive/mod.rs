//! Image archives: `save` and `load` (docker-archive, OCI archive, OCI
//! layout directory) and the `-o type=docker|oci|oci-layout` exports.
//!
//! - [`save`] / [`export_docker_archive`] write one tar that is both a
//!   docker-archive (`manifest.json`, `repositories`) and an OCI layout
//!   (`oci-layout`, `index.json`, `blobs/sha256/…`), as BuildKit's docker
//!   exporter does, so `docker load`, `podman load`, `ctr import` and skopeo
//!   all read it;
//! - [`export_oci_archive`] writes the OCI layout only, as a tar;
//! - [`export_oci_layout`] writes (or adds to) a layout directory;
//! - [`load`] reads any of these, and `docker save` / `podman save` output.
//!
//! Everything goes through the store's verified readers and atomic
//! writers; this module never writes into the store's directories itself.

mod error;
mod export;
mod load;
mod tar_writer;

pub use error::ArchiveError;
pub use export::{
    export_docker_archive, export_oci_archive, export_oci_layout, save, CONTAINERD_IMAGE_NAME,
};
pub use load::{load, LoadedImage};
