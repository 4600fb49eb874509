//! The `linux.seccomp` object of `keel features` (runtime-spec
//! features-linux.md), listing only what this kernel and libseccomp accept.

use libseccomp::{ScmpAction, ScmpArch, ScmpFilterContext, ScmpVersion};
use oci_spec::runtime::Arch;
use serde_json::{json, Value};

use super::filter::supported_flag;
use super::sys;
use super::tables::{self, word};

/// `{"enabled", "actions", "operators", "archs", "knownFlags", "supportedFlags"}`.
///
/// Actions are those the kernel implements (`SECCOMP_GET_ACTION_AVAIL`),
/// archs those libseccomp can add to a filter, supported flags those the
/// kernel accepts (probed without installing anything).
pub fn features() -> Value {
    let actions: Vec<String> = tables::ACTIONS
        .iter()
        .filter(|a| sys::action_available(tables::kernel_action(**a)))
        .map(|a| word(*a))
        .collect();
    let operators: Vec<String> = tables::OPERATORS.iter().map(|o| word(*o)).collect();
    let known: Vec<String> = tables::FLAGS.iter().map(|f| word(*f)).collect();
    let supported: Vec<String> = tables::FLAGS
        .iter()
        .filter(|f| supported_flag(**f))
        .map(|f| word(*f))
        .collect();
    json!({
        "enabled": true,
        "actions": actions,
        "operators": operators,
        "archs": supported_arches(),
        "knownFlags": known,
        "supportedFlags": supported,
    })
}

/// The linked libseccomp's version, e.g. `2.5.4` (runc reports it as the
/// `io.github.seccomp.libseccomp.version` annotation of `features`).
pub fn libseccomp_version() -> String {
    match ScmpVersion::current() {
        Ok(v) => format!("{}.{}.{}", v.major, v.minor, v.micro),
        Err(_) => String::from("unknown"),
    }
}

fn supported_arches() -> Vec<String> {
    // One fresh context per architecture, without the native one: a filter
    // cannot mix big- and little-endian architectures.
    let known = |a: Arch| -> bool {
        let Ok(mut ctx) = ScmpFilterContext::new(ScmpAction::Allow) else {
            return false;
        };
        ctx.remove_arch(ScmpArch::Native).is_ok() && ctx.add_arch(tables::arch(a)).is_ok()
    };
    tables::ARCHES
        .iter()
        .filter(|a| **a != Arch::ScmpArchNative && known(**a))
        .map(|a| word(*a))
        .collect()
}
