//! Cgroups: put a container's processes in a cgroup, limit them, pause
//! them, measure them and clean up, on cgroup v1, hybrid and v2 hosts.
//!
//! The pieces, in the order a container meets them:
//! - [`layout`] detects the host's hierarchies from `/proc/self/mountinfo`
//!   (pure v1, hybrid — driven through v1, as runc does — or unified) and
//!   the [`Machine`]'s online CPUs, memory nodes and huge page sizes;
//! - [`path`] turns `linux.cgroupsPath` into a [`CgroupsPath`] (runc's
//!   default: the container id below the caller's own cgroup) and parses
//!   `--systemd-cgroup` paths, which keel refuses with a clear error;
//! - [`plan`] validates `LinuxResources` into an ordered list of writes
//!   ([`resources_v1`], [`resources_v2`]; device rules via [`devices`] and
//!   the eBPF encoder in [`bpf`]) before anything is written;
//! - [`Manager`] creates the directories, adds pids, applies and updates the
//!   plan, freezes, lists pids, reads [`Stats`] and OOM counts
//!   ([`OomWatcher`]) and destroys the cgroup.
//!
//! All file access goes through the [`CgroupFs`] trait, so the logic is
//! unit-tested against an in-memory fake; the only `unsafe` code is the
//! bpf/eventfd/inotify calls in `sys.rs`. No threads, no async: waiting is
//! a bounded sleep loop, and OOM events come from an fd the caller polls.
//! This module never kills processes.

pub mod bpf;
pub mod devices;
pub mod error;
pub mod fs;
pub mod layout;
pub mod manager;
pub mod oom;
pub mod path;
pub mod plan;
pub mod resources_v1;
pub mod resources_v2;
pub mod stats;
mod sys;

#[cfg(test)]
mod fake;
#[cfg(test)]
mod tests;

pub use devices::runc_default_rules;
pub use error::{Error, Result};
pub use fs::{CgroupFs, HostFs};
pub use layout::{Hierarchy, IdSet, Layout, Machine, Mode};
pub use manager::{CgroupDir, Manager};
pub use oom::{OomCheck, OomWatcher};
pub use path::{systemd_booted, CgroupsPath, SystemdPath};
pub use plan::{Plan, PlanOptions, Step, Write};
pub use stats::Stats;
