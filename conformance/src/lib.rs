//! Conformance support for keel: the in-container checker (`keel-check`),
//! bundles built from the busybox test rootfs, a `Spec` builder, a typed
//! driver of the runc CLI that works with any runtime binary, and the test
//! harness that runs each scenario against runc and keel.
//!
//! Everything that starts a process or mounts something cleans up after
//! itself in `Drop`; processes are stopped by PID only.

pub mod bundle;
pub mod checker;
pub mod driver;
pub mod error;
pub mod harness;
pub mod host;
pub mod spec;
pub mod suite;
pub mod sys;
pub mod tap;

pub use bundle::Bundle;
pub use driver::{CmdOutput, CreateOptions, Runtime};
pub use error::Error;
pub use harness::{each_runtime, Artifacts, Ctx, RuntimeKind};
pub use spec::Spec;
