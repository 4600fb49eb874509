//! A resource plan: `LinuxResources` validated and turned into an ordered
//! list of cgroup file writes, before anything is written.
//!
//! Planning is pure (it sees the [`Machine`] and which controllers exist,
//! never the filesystem), so every value that no kernel would accept is
//! refused with the config field named and nothing applied. The version
//! specific planners are `resources_v1.rs` and `resources_v2.rs`; the
//! conversions between v1 and v2 units (runc's formulas) are here.

use oci_spec::runtime::LinuxResources;

use super::bpf::Insn;
use super::error::{Error, Result};
use super::layout::{IdSet, Machine};

/// One value for one control file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Write {
    /// The controller that owns the file (`memory`, `cpu`…); for v1 the
    /// hierarchy it is written in, for v2 the controller that must be
    /// enabled; empty for files that need no controller check (the v2
    /// core files and the `unified` map, which are checked by existence).
    pub controller: String,
    /// Candidate (file, value) pairs: the first file that exists is written.
    pub targets: Vec<(String, String)>,
    /// The config field the value comes from.
    pub field: String,
    /// When no candidate file exists: skip with a debug log (true) or
    /// refuse before writing anything (false).
    pub optional: bool,
}

impl Write {
    pub(crate) fn new(
        controller: &str,
        file: &str,
        value: impl Into<String>,
        field: &str,
    ) -> Write {
        Write {
            controller: controller.to_string(),
            targets: vec![(file.to_string(), value.into())],
            field: field.to_string(),
            optional: false,
        }
    }

    pub(crate) fn optional(mut self) -> Write {
        self.optional = true;
        self
    }

    pub(crate) fn or(mut self, file: &str, value: impl Into<String>) -> Write {
        self.targets.push((file.to_string(), value.into()));
        self
    }

    /// The first candidate's file.
    pub fn file(&self) -> &str {
        &self.targets[0].0
    }

    /// The first candidate's value.
    pub fn value(&self) -> &str {
        &self.targets[0].1
    }
}

/// One step of a plan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    Write(Write),
    /// v1 `memory.limit_in_bytes` and `memory.memsw.limit_in_bytes`: the
    /// kernel wants memsw ≥ memory at every moment, so the order depends on
    /// the current limit. `swap` is the memsw value (-1: unlimited).
    MemoryAndSwap {
        memory: Option<Write>,
        swap: Option<Write>,
        swap_value: i64,
    },
    /// v1 `cpu.cfs_period_us` then `cpu.cfs_quota_us`; a period the kernel
    /// refuses with EINVAL is retried after the quota (a shorter period can
    /// exceed the parent's quota until the quota shrinks).
    PeriodQuota {
        period: Option<Write>,
        quota: Option<Write>,
    },
    /// v2 device filter (not run by `update`).
    DeviceFilter(Vec<Insn>),
}

impl Step {
    /// The writes in this step, in their default order.
    pub fn writes(&self) -> Vec<&Write> {
        match self {
            Step::Write(w) => vec![w],
            Step::MemoryAndSwap { memory, swap, .. } => memory.iter().chain(swap.iter()).collect(),
            Step::PeriodQuota { period, quota } => period.iter().chain(quota.iter()).collect(),
            Step::DeviceFilter(_) => Vec::new(),
        }
    }
}

/// What planning may assume about the host.
pub struct Host<'a> {
    pub machine: &'a Machine,
    /// Whether a controller can be used: mounted (v1) or enabled for the
    /// cgroup (v2). `None` skips the check (validation before create).
    pub has_controller: Option<&'a dyn Fn(&str) -> bool>,
    /// Describes the host for "not available" messages.
    pub what: &'static str,
}

impl Host<'_> {
    pub(crate) fn need(&self, controller: &str, field: &str) -> Result<()> {
        match self.has_controller {
            Some(has) if !has(controller) => Err(Error::unsupported(
                field,
                format!(
                    "the {controller} cgroup controller is not available {}; remove the setting",
                    self.what
                ),
            )),
            _ => Ok(()),
        }
    }
}

/// Options for planning.
#[derive(Clone, Copy, Debug, Default)]
pub struct PlanOptions {
    /// `keel update`: device rules are left alone, as runc does.
    pub update: bool,
}

/// A plan for one cgroup.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    pub steps: Vec<Step>,
}

impl Plan {
    pub(crate) fn write(&mut self, w: Write) {
        self.steps.push(Step::Write(w));
    }

    /// Every write in order (for tests and dry runs).
    pub fn writes(&self) -> Vec<&Write> {
        self.steps.iter().flat_map(|s| s.writes()).collect()
    }
}

/// Plans `r` for a v1 (or hybrid) or a v2 host.
pub fn plan(r: &LinuxResources, v2: bool, host: &Host<'_>, opts: PlanOptions) -> Result<Plan> {
    if v2 {
        super::resources_v2::plan(r, host, opts)
    } else {
        super::resources_v1::plan(r, host, opts)
    }
}

// ---- field names -------------------------------------------------------

pub(crate) const MEM_LIMIT: &str = "linux.resources.memory.limit";
pub(crate) const MEM_SWAP: &str = "linux.resources.memory.swap";
pub(crate) const MEM_RESERVATION: &str = "linux.resources.memory.reservation";
pub(crate) const MEM_KERNEL: &str = "linux.resources.memory.kernel";
pub(crate) const MEM_KERNEL_TCP: &str = "linux.resources.memory.kernelTCP";
pub(crate) const MEM_SWAPPINESS: &str = "linux.resources.memory.swappiness";
pub(crate) const MEM_DISABLE_OOM: &str = "linux.resources.memory.disableOOMKiller";
pub(crate) const MEM_USE_HIERARCHY: &str = "linux.resources.memory.useHierarchy";
pub(crate) const CPU_SHARES: &str = "linux.resources.cpu.shares";
pub(crate) const CPU_QUOTA: &str = "linux.resources.cpu.quota";
pub(crate) const CPU_PERIOD: &str = "linux.resources.cpu.period";
pub(crate) const CPU_BURST: &str = "linux.resources.cpu.burst";
pub(crate) const CPU_IDLE: &str = "linux.resources.cpu.idle";
pub(crate) const CPU_RT_RUNTIME: &str = "linux.resources.cpu.realtimeRuntime";
pub(crate) const CPU_RT_PERIOD: &str = "linux.resources.cpu.realtimePeriod";
pub(crate) const CPU_CPUS: &str = "linux.resources.cpu.cpus";
pub(crate) const CPU_MEMS: &str = "linux.resources.cpu.mems";
pub(crate) const PIDS_LIMIT: &str = "linux.resources.pids.limit";
pub(crate) const BLKIO_WEIGHT: &str = "linux.resources.blockIO.weight";
pub(crate) const BLKIO_LEAF_WEIGHT: &str = "linux.resources.blockIO.leafWeight";
pub(crate) const NET_CLASSID: &str = "linux.resources.network.classID";
pub(crate) const UNIFIED: &str = "linux.resources.unified";

// ---- shared validation -------------------------------------------------

/// A memory-like limit: 0 or absent is "not set", -1 is "no limit", other
/// negative values are refused.
pub(crate) fn limit(field: &str, v: Option<i64>) -> Result<Option<i64>> {
    match v {
        None | Some(0) => Ok(None),
        Some(n) if n >= -1 => Ok(Some(n)),
        Some(n) => Err(Error::invalid(
            field,
            format!("{n} is negative; use a number of bytes, or -1 for no limit"),
        )),
    }
}

/// `cpu.shares` bounds (the kernel clamps silently; runc then fails).
pub(crate) const MIN_SHARES: u64 = 2;
pub(crate) const MAX_SHARES: u64 = 262_144;

pub(crate) fn shares(v: Option<u64>) -> Result<Option<u64>> {
    match v {
        None | Some(0) => Ok(None),
        Some(n) if (MIN_SHARES..=MAX_SHARES).contains(&n) => Ok(Some(n)),
        Some(n) => Err(Error::invalid(
            CPU_SHARES,
            format!("{n} is out of range; use {MIN_SHARES}..={MAX_SHARES}"),
        )),
    }
}

/// CFS period bounds in microseconds (1 ms to 1 s).
pub(crate) fn period(v: Option<u64>) -> Result<Option<u64>> {
    match v {
        None | Some(0) => Ok(None),
        Some(n) if (1_000..=1_000_000).contains(&n) => Ok(Some(n)),
        Some(n) => Err(Error::invalid(
            CPU_PERIOD,
            format!("{n} is out of range; use 1000..=1000000 microseconds"),
        )),
    }
}

/// CFS quota: -1 is unlimited, otherwise at least 1 ms.
pub(crate) fn quota(v: Option<i64>) -> Result<Option<i64>> {
    match v {
        None | Some(0) => Ok(None),
        Some(-1) => Ok(Some(-1)),
        Some(n) if n >= 1_000 => Ok(Some(n)),
        Some(n) => Err(Error::invalid(
            CPU_QUOTA,
            format!("{n} is out of range; use at least 1000 microseconds, or -1 for no limit"),
        )),
    }
}

/// A cpuset list that must lie within `online`.
pub(crate) fn cpuset(
    field: &str,
    v: Option<&String>,
    online: &IdSet,
    what: &str,
) -> Result<Option<String>> {
    let Some(text) = v.map(|s| s.trim()).filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    let set = IdSet::parse(text)
        .map_err(|reason| Error::invalid(field, format!("{text:?}: {reason}")))?;
    let missing = set.missing_from(online);
    if !missing.is_empty() {
        let list: Vec<String> = missing.iter().map(u32::to_string).collect();
        return Err(Error::invalid(
            field,
            format!(
                "{text:?} names {what} {} that this machine does not have online ({online}); use a subset of {online}",
                list.join(","),
            ),
        ));
    }
    Ok(Some(text.to_string()))
}

/// blkio weights: 10..=1000 (0 or absent: not set).
pub(crate) fn blkio_weight(field: &str, v: Option<u16>) -> Result<Option<u16>> {
    match v {
        None | Some(0) => Ok(None),
        Some(n) if (10..=1000).contains(&n) => Ok(Some(n)),
        Some(n) => Err(Error::invalid(
            field,
            format!("{n} is out of range; use 10..=1000"),
        )),
    }
}

/// A device number in a blkio rule.
pub(crate) fn dev_number(field: &str, major: i64, minor: i64) -> Result<String> {
    if major < 0 || minor < 0 {
        return Err(Error::invalid(
            field,
            format!("{major}:{minor} is not a device; major and minor must not be negative"),
        ));
    }
    Ok(format!("{major}:{minor}"))
}

/// A huge page size such as `2MB` that this machine supports.
pub(crate) fn hugepage_size(field: &str, size: &str, machine: &Machine) -> Result<()> {
    if machine.hugepage_sizes.iter().any(|s| s == size) {
        return Ok(());
    }
    Err(Error::invalid(
        field,
        format!(
            "{size:?} is not a huge page size of this machine; use one of: {}",
            if machine.hugepage_sizes.is_empty() {
                "(none)".to_string()
            } else {
                machine.hugepage_sizes.join(", ")
            }
        ),
    ))
}

/// A network interface name for `ifpriomap`.
pub(crate) fn ifname(field: &str, name: &str) -> Result<()> {
    if name.is_empty()
        || name.len() > 15
        || name.contains(|c: char| c.is_whitespace() || c == '/' || c == '\0')
    {
        return Err(Error::invalid(
            field,
            format!("{name:?} is not a network interface name (1-15 characters, no spaces or '/')"),
        ));
    }
    Ok(())
}

// ---- v1 to v2 conversions (runc's formulas) -----------------------------

/// `cpu.shares` (2..262144) to `cpu.weight` (1..10000).
pub fn shares_to_weight(shares: u64) -> u64 {
    if shares == 0 {
        return 0;
    }
    1 + (shares.saturating_sub(2) * 9999) / 262_142
}

/// blkio weight (10..1000) to `io.weight` (1..10000).
pub fn blkio_to_io_weight(weight: u64) -> u64 {
    if weight == 0 {
        return 0;
    }
    1 + (weight.saturating_sub(10) * 9999) / 990
}

/// OCI swap (memory+swap) to `memory.swap.max` (swap alone), given the
/// memory limit. 0 is "not set", -1 is "max".
pub fn swap_to_v2(swap: i64, memory: i64) -> Result<i64> {
    // Unlimited memory with swap unset: unlimited swap too, as on v1.
    if memory == -1 && swap == 0 {
        return Ok(-1);
    }
    if swap == -1 || swap == 0 {
        return Ok(swap);
    }
    if memory == 0 || memory == -1 {
        return Err(Error::invalid(
            MEM_SWAP,
            format!("{swap} needs a memory limit as well (swap is memory+swap); set {MEM_LIMIT}"),
        ));
    }
    if swap < memory {
        return Err(swap_below_memory(swap, memory));
    }
    Ok(swap - memory)
}

pub(crate) fn swap_below_memory(swap: i64, memory: i64) -> Error {
    Error::invalid(
        MEM_SWAP,
        format!(
            "{swap} is less than {MEM_LIMIT} ({memory}); swap is memory+swap, so use at least {memory}, or -1 for unlimited swap"
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions_match_runc() {
        assert_eq!(shares_to_weight(0), 0);
        assert_eq!(shares_to_weight(2), 1);
        assert_eq!(shares_to_weight(1024), 39);
        assert_eq!(shares_to_weight(262_144), 10_000);
        assert_eq!(blkio_to_io_weight(10), 1);
        assert_eq!(blkio_to_io_weight(500), 4950);
        assert_eq!(blkio_to_io_weight(1000), 10_000);
        assert_eq!(swap_to_v2(0, -1).unwrap(), -1);
        assert_eq!(swap_to_v2(-1, 100).unwrap(), -1);
        assert_eq!(swap_to_v2(0, 100).unwrap(), 0);
        assert_eq!(swap_to_v2(300, 100).unwrap(), 200);
        assert_eq!(swap_to_v2(100, 100).unwrap(), 0);
        assert!(swap_to_v2(50, 100)
            .unwrap_err()
            .to_string()
            .starts_with(MEM_SWAP));
        assert!(swap_to_v2(50, 0)
            .unwrap_err()
            .to_string()
            .contains("needs a memory limit"));
    }

    #[test]
    fn limits_and_ranges() {
        assert_eq!(limit(MEM_LIMIT, Some(0)).unwrap(), None);
        assert_eq!(limit(MEM_LIMIT, Some(-1)).unwrap(), Some(-1));
        assert_eq!(
            limit(MEM_LIMIT, Some(-5)).unwrap_err().to_string(),
            "linux.resources.memory.limit: -5 is negative; use a number of bytes, or -1 for no limit"
        );
        assert!(shares(Some(1)).is_err());
        assert!(shares(Some(262_145)).is_err());
        assert_eq!(shares(Some(1024)).unwrap(), Some(1024));
        assert!(period(Some(999)).is_err());
        assert!(quota(Some(500)).is_err());
        assert!(quota(Some(-2)).is_err());
        assert_eq!(quota(Some(-1)).unwrap(), Some(-1));
        assert!(blkio_weight(BLKIO_WEIGHT, Some(5)).is_err());
        assert!(dev_number("f", -1, 0).is_err());
        assert!(ifname("f", "eth 0").is_err());
        assert!(ifname("f", "eth0").is_ok());
    }

    #[test]
    fn cpusets_outside_the_machine_are_refused() {
        let online = IdSet::parse("0-1").unwrap();
        assert_eq!(
            cpuset(CPU_CPUS, Some(&"0-1".into()), &online, "CPU").unwrap(),
            Some("0-1".into())
        );
        assert_eq!(
            cpuset(CPU_CPUS, Some(&" ".into()), &online, "CPU").unwrap(),
            None
        );
        assert_eq!(
            cpuset(CPU_CPUS, Some(&"1-3".into()), &online, "CPU").unwrap_err().to_string(),
            "linux.resources.cpu.cpus: \"1-3\" names CPU 2,3 that this machine does not have online (0-1); use a subset of 0-1"
        );
        assert!(cpuset(CPU_MEMS, Some(&"x".into()), &online, "memory node")
            .unwrap_err()
            .to_string()
            .starts_with("linux.resources.cpu.mems: \"x\""));
    }
}
