//! hoist: the image builder of keel. This crate holds the Dockerfile front
//! end (see `dockerfile` and docs/hoist.md); the store, cache, layers and the
//! `hoist` binary come next.

pub mod dockerfile;
