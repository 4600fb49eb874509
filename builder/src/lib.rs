//! hoist: the image builder of keel, a pipeline modelled on BuildKit's.
//!
//! - [`dockerfile`]: text → typed, expanded stages (parser, instructions, scoping);
//! - [`context`]: the build context: `.dockerignore`, walking, content hashing, globs;
//! - [`copy`]: COPY/ADD semantics → layer [`layer::Entry`]s;
//! - [`layer`]: deterministic tar layers, compression, applying layers to a directory;
//! - [`store`]: the content store (an OCI layout, atomic and verified), refs, cache records, locks;
//! - [`archive`]: `save`/`load` (docker-archive, OCI archive, OCI layout) and `unpack` to a bundle;
//! - [`bundle`]: an image unpacked to a runtime bundle (rootfs + config.json);
//! - [`snapshot`]: layer snapshots, overlay roots and the differ of RUN steps;
//! - [`run`]: RUN steps in containers (bundle, shim, runtime);
//! - [`build`]: the cached solver that runs the steps, and its progress output;
//! - [`container`]: `hoist run`: an image run as a container through keel-shim;
//! - [`digest`], [`image`]: digests and the image formats.
//!
//! The `hoist` binary (src/bin/hoist) only parses its command line.

pub mod archive;
pub mod build;
pub mod bundle;
pub mod container;
pub mod context;
pub mod copy;
pub mod digest;
pub mod dockerfile;
pub mod image;
pub mod layer;
pub mod run;
pub mod snapshot;
pub mod store;
