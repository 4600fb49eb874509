//! Signal state the container's process starts with. keel is a Rust program
//! and Rust ignores SIGPIPE; an ignored disposition survives execve, so keel
//! must reset it (and its blocked mask) before starting the user's process.

mod common;

use anyhow::{ensure, Result};
use common::*;

fn status_field(text: &str, key: &str) -> Option<String> {
    text.lines()
        .find_map(|l| l.strip_prefix(key))
        .map(|v| v.trim().to_string())
}

#[test]
fn no_signal_ignored_or_blocked_in_the_container() {
    each_runtime(|ctx| -> Result<()> {
        let spec = Spec::new(&["cat", "/proc/self/status"]);
        let bundle = ctx.bundle(&spec)?;
        let id = ctx.id();
        let mut c = ctx.container(&id);
        let out = c.run(CreateOptions::bundle(bundle.path()))?;
        ensure!(out.code == 0, "exit {}: {}", out.code, out.stderr);
        let blocked = status_field(&out.stdout, "SigBlk:");
        ensure!(
            blocked.as_deref() == Some("0000000000000000"),
            "SigBlk is {blocked:?} inside the container, want all zero"
        );
        let ignored = status_field(&out.stdout, "SigIgn:").unwrap_or_default();
        let mask = u64::from_str_radix(&ignored, 16)?;
        ensure!(
            mask & (1 << (libc::SIGPIPE - 1)) == 0,
            "SIGPIPE is ignored inside the container (SigIgn {ignored})"
        );
        // runc passes on whatever its caller ignored (here the test harness
        // ignores signal 32); keel resets every disposition.
        if ctx.is_keel() {
            ensure!(
                mask == 0,
                "SigIgn is {ignored} inside the container, want all zero"
            );
        }
        Ok(())
    });
}
