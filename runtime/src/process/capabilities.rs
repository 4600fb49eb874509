//! Applying `process.capabilities`: the bounding set is reduced first (while
//! keel still has CAP_SETPCAP), the other four sets after the user switch.

use std::collections::HashSet;
use std::str::FromStr;

use caps::{CapSet, Capability as Cap, CapsHashSet};
use oci_spec::runtime::{Capabilities, LinuxCapabilities};

/// A capability set that cannot be applied.
#[derive(Debug, thiserror::Error)]
#[error("process.capabilities.{set}: {msg}")]
pub struct CapError {
    pub set: &'static str,
    pub msg: String,
}

/// Converts oci-spec names to the `caps` crate's, skipping what this kernel lacks.
pub fn convert(set: &'static str, list: &Option<Capabilities>) -> Result<CapsHashSet, CapError> {
    let supported = caps::runtime::thread_all_supported();
    let mut out = HashSet::new();
    for c in list.iter().flatten() {
        let name = serde_json::to_value(c)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        let cap = Cap::from_str(&name).map_err(|_| CapError {
            set,
            msg: format!("unknown capability {name}"),
        })?;
        if supported.contains(&cap) {
            out.insert(cap);
        } else {
            tracing::warn!(capability = %name, "capability not supported by this kernel; ignored");
        }
    }
    Ok(out)
}

/// The five sets, converted up front so that errors surface before any change.
#[derive(Debug, Default)]
pub struct CapPlan {
    pub bounding: CapsHashSet,
    pub effective: CapsHashSet,
    pub inheritable: CapsHashSet,
    pub permitted: CapsHashSet,
    pub ambient: CapsHashSet,
}

impl CapPlan {
    pub fn new(c: &LinuxCapabilities) -> Result<Self, CapError> {
        Ok(CapPlan {
            bounding: convert("bounding", c.bounding())?,
            effective: convert("effective", c.effective())?,
            inheritable: convert("inheritable", c.inheritable())?,
            permitted: convert("permitted", c.permitted())?,
            ambient: convert("ambient", c.ambient())?,
        })
    }

    /// Drops every capability not in the bounding set.
    pub fn apply_bounding(&self) -> Result<(), CapError> {
        for cap in caps::runtime::thread_all_supported() {
            if !self.bounding.contains(&cap) {
                caps::drop(None, CapSet::Bounding, cap).map_err(|e| CapError {
                    set: "bounding",
                    msg: format!("cannot drop {cap}: {e}"),
                })?;
            }
        }
        Ok(())
    }

    /// Sets effective, permitted, inheritable and ambient.
    pub fn apply_rest(&self) -> Result<(), CapError> {
        let set = |name: &'static str, which: CapSet, v: &CapsHashSet| {
            caps::set(None, which, v).map_err(|e| CapError {
                set: name,
                msg: format!("cannot set: {e}"),
            })
        };
        // Effective must stay within permitted at every step.
        let eff_now = caps::read(None, CapSet::Effective).unwrap_or_default();
        set(
            "effective",
            CapSet::Effective,
            &eff_now.intersection(&self.effective).copied().collect(),
        )?;
        set("inheritable", CapSet::Inheritable, &self.inheritable)?;
        set("permitted", CapSet::Permitted, &self.permitted)?;
        set("effective", CapSet::Effective, &self.effective)?;
        caps::clear(None, CapSet::Ambient).map_err(|e| CapError {
            set: "ambient",
            msg: format!("cannot clear: {e}"),
        })?;
        for cap in &self.ambient {
            // The kernel only lets a capability be ambient if it is also
            // permitted and inheritable; runc skips the others, and so do we.
            if !(self.permitted.contains(cap) && self.inheritable.contains(cap)) {
                tracing::debug!(capability = %cap, "ambient capability not permitted and inheritable; skipped");
                continue;
            }
            caps::raise(None, CapSet::Ambient, *cap).map_err(|e| CapError {
                set: "ambient",
                msg: format!("cannot raise {cap}: {e}"),
            })?;
        }
        Ok(())
    }
}
