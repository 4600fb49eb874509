//! Ctrl-C and SIGTERM during a build: the handler only records the signal,
//! so hoist lives on to stop the container (the shim gets the terminal's
//! SIGINT too, or hoist forwards it), unmount the step's root and remove
//! its scratch dir; then the build fails with
//! [`RunError::Interrupted`](super::RunError::Interrupted) and the command
//! exits 128 + the signal (130 for SIGINT).
//!
//! Without [`install`] (a library user that keeps the default handlers) a
//! signal kills the process as usual.

use std::sync::atomic::Ordering;

/// Records SIGINT/SIGTERM instead of dying. Call once, in the binary.
pub fn install() -> std::io::Result<()> {
    super::sys::install_interrupt_handler()
}

/// The signal received since [`install`], if any.
pub fn received() -> Option<i32> {
    match super::sys::SIGNAL.load(Ordering::SeqCst) {
        0 => None,
        s => Some(s),
    }
}
