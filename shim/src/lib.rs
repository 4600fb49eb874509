//! keel-shim: the supervisor between a caller (hoist, and later containerd)
//! and a runc-compatible runtime.
//!
//! It runs one container through the runtime's CLI (`create`, `start`,
//! `delete --force`), reaps everything as a child subreaper, forwards
//! signals, carries stdio (inherited pipes, or a pty received over
//! `--console-socket`), reports the exit status and OOM kills, and always
//! deletes the container. One thread, no async runtime: a poll(2) loop over
//! a signalfd, the pty master, stdin and an OOM eventfd.
//!
//! ```no_run
//! use keel_shim::{run, RunConfig, Runtime};
//! let cfg = RunConfig::new("c1", "/path/to/bundle", Runtime::new("/usr/sbin/runc", None));
//! let outcome = run(&cfg)?;
//! std::process::exit(outcome.exit_code());
//! # Ok::<(), keel_shim::Error>(())
//! ```
//!
//! Kernel calls that need `unsafe` live in `sys`; the rest is nix and std.

pub mod console;
pub mod oom;
pub mod reap;
pub mod run;
pub mod runtime;
pub mod status;
pub mod stop;
pub mod supervise;
mod sys;

pub use run::{run, Error, RunConfig};
pub use runtime::{default_runtime, Runtime, RuntimeError};
pub use status::{Outcome, ResultDoc, Stopped, Termination, EXIT_SHIM_ERROR, EXIT_TIMEOUT};
pub use sys::WinSize;
