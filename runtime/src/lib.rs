//! keel's runtime library: everything behind the `keel` binary.
//!
//! The runtime knows only bundles (a directory with `config.json` and a root
//! filesystem). It is synchronous and single-threaded: the container's
//! processes are forked before any thread could exist, and parent and child
//! talk over a typed [`channel`]. All `unsafe` lives in [`sys`].
//!
//! Layout: [`config`] loads and checks `config.json`; [`state`] owns the state
//! directory under `--root`; [`container`] holds one file per CLI verb;
//! [`process`] is what runs inside the new container before `execve`;
//! [`rootfs`] plans and performs the mounts; [`hooks`] runs OCI hooks.

pub mod cgroups;
pub mod channel;
pub mod config;
pub mod console;
pub mod container;
pub mod features;
pub mod hooks;
pub mod lsm;
pub mod namespaces;
pub mod process;
pub mod rootfs;
pub mod seal;
pub mod seccomp;
pub mod signal;
pub mod spec;
pub mod state;
pub mod sys;
pub mod time;

pub use container::Error;
