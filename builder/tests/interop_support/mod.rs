//! Support for hoist's interop tests (builder/tests/interop.rs): private
//! instances of the real engines (dockerd, podman, containerd, a registry),
//! the hoist binary in a store of the test's own, and the fixture image
//! they all exchange.
//!
//! Reports go to the real stderr so that skips show even when the test
//! passes. Nothing here installs anything or touches an engine's system
//! instance.

pub mod command;
pub mod containerd;
pub mod docker;
pub mod engine;
pub mod fixture;
pub mod hoist;
pub mod podman;
pub mod registry;
pub mod scratch;

use std::io::Write as _;
use std::panic::AssertUnwindSafe;
use std::sync::Mutex;
use std::time::Instant;

/// The engine tests run one at a time: two cores, and daemons that each
/// start their own containerd.
static SERIAL: Mutex<()> = Mutex::new(());

pub fn lock() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// Write to the real stderr, past libtest's output capture.
pub fn say(msg: &str) {
    let mut e = std::io::stderr().lock();
    let _ = writeln!(e, "{msg}");
}

/// Whether a skip must fail instead (CI sets one of these where every
/// engine is installed).
fn skips_fail() -> bool {
    ["HOIST_INTEROP_REQUIRED", "KEEL_ENGINES_REQUIRED"]
        .iter()
        .any(|k| std::env::var(k).is_ok_and(|v| !v.is_empty() && v != "0"))
}

/// Say loudly that `what` does not run, and why (or fail, when skips must
/// fail).
pub fn skip(what: &str, why: &str) {
    if skips_fail() {
        panic!("interop::{what} cannot run ({why}) and HOIST_INTEROP_REQUIRED/KEEL_ENGINES_REQUIRED is set");
    }
    say(&format!("SKIP interop::{what}: {why}"));
}

/// The cases of one test: each runs and is reported at once; the test
/// fails at the end if any failed.
pub struct Suite {
    name: &'static str,
    t0: Instant,
    passed: usize,
    failed: Vec<String>,
}

impl Suite {
    pub fn new(name: &'static str) -> Suite {
        Suite {
            name,
            t0: Instant::now(),
            passed: 0,
            failed: Vec::new(),
        }
    }

    /// Run case `name`; a failure or a panic is recorded, not propagated.
    /// Returns whether it passed (later cases may depend on it).
    pub fn case(&mut self, name: &str, f: impl FnOnce() -> anyhow::Result<()>) -> bool {
        let label = format!("{}/{name}", self.name);
        let t = Instant::now();
        let res = match std::panic::catch_unwind(AssertUnwindSafe(f)) {
            Ok(r) => r,
            Err(p) => Err(anyhow::anyhow!(
                "panicked: {}",
                p.downcast_ref::<String>()
                    .map(String::as_str)
                    .or_else(|| p.downcast_ref::<&str>().copied())
                    .unwrap_or("?")
            )),
        };
        let ms = t.elapsed().as_millis();
        match res {
            Ok(()) => {
                say(&format!("interop case {label} ... ok ({ms} ms)"));
                self.passed += 1;
                true
            }
            Err(e) => {
                say(&format!(
                    "interop case {label} ... FAILED ({ms} ms)\n  error: {e:#}"
                ));
                self.failed.push(format!("{label}: {e:#}"));
                false
            }
        }
    }

    /// A case that cannot run because an earlier one failed.
    pub fn blocked(&mut self, name: &str, by: &str) {
        let label = format!("{}/{name}", self.name);
        say(&format!("interop case {label} ... NOT RUN ({by} failed)"));
        self.failed.push(format!("{label}: not run, {by} failed"));
    }

    /// Report, and fail the test if any case failed.
    pub fn finish(self) {
        say(&format!(
            "interop::{}: {} cases ok, {} failed, in {:.1} s",
            self.name,
            self.passed,
            self.failed.len(),
            self.t0.elapsed().as_secs_f64()
        ));
        if !self.failed.is_empty() {
            panic!(
                "{} interop case(s) failed:\n  {}",
                self.failed.len(),
                self.failed.join("\n  ")
            );
        }
    }
}
