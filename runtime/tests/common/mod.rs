//! Helpers shared by keel's integration tests. The heavy lifting (bundles,
//! the runtime driver, guards, keel-check) lives in `keel_conformance`.
//!
//! Every scenario runs against each runtime selected by KEEL_TEST_RUNTIMES
//! (default "keel,runc"). Artifacts: KEEL_BIN (default target/release/keel),
//! KEEL_CHECK (hack/build-checker.sh), KEEL_ROOTFS (hack/mkrootfs.sh).
#![allow(dead_code, unused_imports)]

use std::time::Duration;

use anyhow::{ensure, Result};
pub use keel_conformance::driver::{CmdOutput, CreateOptions};
pub use keel_conformance::harness::{each_runtime, host_ns_inode, Ctx, NsHelper};
pub use keel_conformance::tap::TapReport;
pub use keel_conformance::Spec;

pub const WAIT: Duration = Duration::from_secs(20);

/// A container that sleeps until it is killed.
pub fn sleeper() -> Spec {
    Spec::new(&["sleep", "1000"])
}

/// `out` failed with exit code 1.
pub fn failed_with_1(out: &CmdOutput) -> Result<()> {
    ensure!(
        out.code == 1,
        "`{}` exited {} (want 1); stderr: {}",
        out.cmd,
        out.code,
        out.stderr
    );
    Ok(())
}

/// keel's error contract: exit code 1 and exactly one line on stderr that
/// names each of `needles` (the file, field, id or value at fault).
pub fn keel_error(out: &CmdOutput, needles: &[&str]) -> Result<()> {
    failed_with_1(out)?;
    let msg = out.stderr.trim_end();
    ensure!(!msg.is_empty(), "`{}` failed without a message", out.cmd);
    ensure!(
        !msg.contains('\n'),
        "`{}` printed more than one line: {msg:?}",
        out.cmd
    );
    for n in needles {
        ensure!(msg.contains(n), "error {msg:?} does not name {n:?}");
    }
    Ok(())
}

/// Create `spec` and expect a clean refusal: exit 1, nothing left behind,
/// and for keel a one-line error naming `needles`.
pub fn expect_create_refused(ctx: &Ctx, spec: &Spec, needles: &[&str]) -> Result<()> {
    let bundle = ctx.bundle(spec)?;
    let id = ctx.id();
    let mut c = ctx.container(&id);
    let out = c.create(CreateOptions::bundle(bundle.path()))?;
    if ctx.is_keel() {
        keel_error(&out, needles)?;
    } else {
        failed_with_1(&out)?;
    }
    ctx.nothing_left(&id, bundle.path())?;
    Ok(())
}
