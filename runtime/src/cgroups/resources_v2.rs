//! Planning `LinuxResources` for cgroup v2.
//!
//! v1 units are converted as runc converts them: shares to `cpu.weight`,
//! blkio weight to `io.weight`, memory+swap to `memory.swap.max`. Device
//! rules become one eBPF program. The `unified` map is written last and
//! verbatim, so it overrides the converted values; its keys must be plain
//! file names. Fields v2 has no file for (kernel memory, swappiness,
//! disableOOMKiller, useHierarchy, leaf weights) are validated, then
//! ignored with a debug log, as runc does; realtime CPU limits and network
//! classes, which would silently lose meaning, are refused.

use oci_spec::runtime::LinuxResources;

use super::bpf;
use super::devices;
use super::error::{Error, Result};
use super::plan::*;
use super::resources_v1::{hugetlb_value, pids_value, rdma};

pub(crate) fn plan(r: &LinuxResources, host: &Host<'_>, opts: PlanOptions) -> Result<Plan> {
    let mut p = Plan::default();
    if let Some(cpu) = r.cpu() {
        let cpus = cpuset(CPU_CPUS, cpu.cpus().as_ref(), &host.machine.cpus, "CPU")?;
        let mems = cpuset(
            CPU_MEMS,
            cpu.mems().as_ref(),
            &host.machine.mems,
            "memory node",
        )?;
        if let Some(c) = cpus {
            host.need("cpuset", CPU_CPUS)?;
            p.write(Write::new("cpuset", "cpuset.cpus", c, CPU_CPUS));
        }
        if let Some(m) = mems {
            host.need("cpuset", CPU_MEMS)?;
            p.write(Write::new("cpuset", "cpuset.mems", m, CPU_MEMS));
        }
    }
    if !opts.update {
        if let Some(rules) = r.devices().as_deref().filter(|d| !d.is_empty()) {
            let rules = devices::parse_rules(rules)?;
            p.steps.push(Step::DeviceFilter(bpf::device_filter(&rules)));
        }
    }
    memory(r, host, &mut p)?;
    cpu(r, host, &mut p)?;
    if let Some(pids) = r.pids() {
        if let Some(v) = pids_value(pids.limit()) {
            host.need("pids", PIDS_LIMIT)?;
            p.write(Write::new("pids", "pids.max", v, PIDS_LIMIT));
        }
    }
    io(r, host, &mut p)?;
    for (i, h) in r.hugepage_limits().iter().flatten().enumerate() {
        let field = format!("linux.resources.hugepageLimits[{i}]");
        hugepage_size(&format!("{field}.pageSize"), h.page_size(), host.machine)?;
        let v = hugetlb_value(&format!("{field}.limit"), h.limit(), true)?;
        host.need("hugetlb", &field)?;
        let ps = h.page_size();
        p.write(Write::new(
            "hugetlb",
            &format!("hugetlb.{ps}.max"),
            v.clone(),
            &field,
        ));
        p.write(Write::new("hugetlb", &format!("hugetlb.{ps}.rsvd.max"), v, &field).optional());
    }
    if let Some(net) = r.network() {
        if net.class_id().is_some() || net.priorities().as_ref().is_some_and(|p| !p.is_empty()) {
            return Err(Error::unsupported(
                "linux.resources.network",
                "cgroup v2 has no net_cls or net_prio controller; remove classID and priorities",
            ));
        }
    }
    rdma(r, host, &mut p, "rdma")?;
    if let Some(map) = r.unified() {
        let mut keys: Vec<_> = map.iter().collect();
        keys.sort_by(|a, b| a.0.cmp(b.0));
        for (key, value) in keys {
            let field = format!("{UNIFIED}.{key:?}");
            unified_key(&field, key)?;
            p.write(Write::new("", key, value.clone(), &field));
        }
    }
    Ok(p)
}

/// A `unified` key must name a file in the cgroup directory itself.
fn unified_key(field: &str, key: &str) -> Result<()> {
    if key.is_empty()
        || key == "."
        || key == ".."
        || key.contains('/')
        || key.contains('\0')
        || !key.contains('.')
    {
        return Err(Error::invalid(
            field,
            "is not a cgroup file name; use a name like memory.high, without '/' or '..'",
        ));
    }
    Ok(())
}

/// `max` for -1, the number otherwise.
fn v2_num(n: i64) -> String {
    if n == -1 {
        "max".into()
    } else {
        n.to_string()
    }
}

#[allow(deprecated)] // `kernel` is deprecated in the spec; validated, then ignored
fn memory(r: &LinuxResources, host: &Host<'_>, p: &mut Plan) -> Result<()> {
    let Some(m) = r.memory() else { return Ok(()) };
    let mem = limit(MEM_LIMIT, m.limit())?;
    let swap = limit(MEM_SWAP, m.swap())?;
    let reservation = limit(MEM_RESERVATION, m.reservation())?;
    let kernel = limit(MEM_KERNEL, m.kernel())?;
    let kernel_tcp = limit(MEM_KERNEL_TCP, m.kernel_tcp())?;
    if let Some(s) = m.swappiness() {
        if s > 100 {
            return Err(Error::invalid(
                MEM_SWAPPINESS,
                format!("{s} is out of range; use 0..=100"),
            ));
        }
        tracing::debug!(
            field = MEM_SWAPPINESS,
            "cgroup v2 has no per-cgroup swappiness; ignored"
        );
    }
    if kernel.is_some() || kernel_tcp.is_some() {
        tracing::debug!(
            field = MEM_KERNEL,
            "cgroup v2 has no kernel memory limits; ignored"
        );
    }
    if m.disable_oom_killer().is_some() || m.use_hierarchy().is_some() {
        tracing::debug!("cgroup v2 has no disableOOMKiller or useHierarchy; ignored");
    }
    let swap_v2 = swap_to_v2(swap.unwrap_or(0), mem.unwrap_or(0))?;
    let swap_str = match swap_v2 {
        -1 => Some("max".to_string()),
        // memory == swap: no swap at all.
        0 if swap.unwrap_or(0) > 0 => Some("0".to_string()),
        0 => None,
        n => Some(n.to_string()),
    };
    if swap_str.is_none() && mem.is_none() && reservation.is_none() {
        return Ok(());
    }
    host.need("memory", "linux.resources.memory")?;
    if let Some(s) = swap_str {
        let w = Write::new("memory", "memory.swap.max", s.clone(), MEM_SWAP);
        // Without swap accounting there is no file, and nothing to lift.
        p.write(if s == "max" { w.optional() } else { w });
    }
    if let Some(v) = mem {
        p.write(Write::new("memory", "memory.max", v2_num(v), MEM_LIMIT));
    }
    if let Some(v) = reservation {
        p.write(Write::new(
            "memory",
            "memory.low",
            v2_num(v),
            MEM_RESERVATION,
        ));
    }
    Ok(())
}

fn cpu(r: &LinuxResources, host: &Host<'_>, p: &mut Plan) -> Result<()> {
    let Some(c) = r.cpu() else { return Ok(()) };
    let shares = shares(c.shares())?;
    let period = period(c.period())?;
    let quota = quota(c.quota())?;
    if c.realtime_runtime().is_some_and(|v| v != 0) {
        return Err(Error::unsupported(
            CPU_RT_RUNTIME,
            "cgroup v2 has no realtime CPU limits; remove realtimeRuntime and realtimePeriod",
        ));
    }
    if c.realtime_period().is_some_and(|v| v != 0) {
        return Err(Error::unsupported(
            CPU_RT_PERIOD,
            "cgroup v2 has no realtime CPU limits; remove realtimeRuntime and realtimePeriod",
        ));
    }
    if let Some(idle) = c.idle() {
        if !(0..=1).contains(&idle) {
            return Err(Error::invalid(
                CPU_IDLE,
                format!("{idle} is out of range; use 0 or 1"),
            ));
        }
    }
    if shares.is_none()
        && period.is_none()
        && quota.is_none()
        && c.burst().is_none()
        && c.idle().is_none()
    {
        return Ok(());
    }
    host.need("cpu", "linux.resources.cpu")?;
    if let Some(s) = shares {
        p.write(Write::new(
            "cpu",
            "cpu.weight",
            shares_to_weight(s).to_string(),
            CPU_SHARES,
        ));
    }
    if period.is_some() || quota.is_some() {
        let mut v = match quota {
            Some(q) if q > 0 => q.to_string(),
            _ => "max".to_string(),
        };
        if let Some(per) = period {
            v.push_str(&format!(" {per}"));
        }
        let field = if quota.is_some() {
            CPU_QUOTA
        } else {
            CPU_PERIOD
        };
        p.write(Write::new("cpu", "cpu.max", v, field));
    }
    if let Some(b) = c.burst() {
        p.write(Write::new("cpu", "cpu.max.burst", b.to_string(), CPU_BURST).optional());
    }
    if let Some(i) = c.idle() {
        p.write(Write::new("cpu", "cpu.idle", i.to_string(), CPU_IDLE).optional());
    }
    Ok(())
}

fn io(r: &LinuxResources, host: &Host<'_>, p: &mut Plan) -> Result<()> {
    let Some(b) = r.block_io() else { return Ok(()) };
    let mut writes = Vec::new();
    if let Some(w) = blkio_weight(BLKIO_WEIGHT, b.weight())? {
        writes.push(
            Write::new("io", "io.bfq.weight", w.to_string(), BLKIO_WEIGHT)
                .or("io.weight", blkio_to_io_weight(u64::from(w)).to_string())
                .optional(),
        );
    }
    if blkio_weight(BLKIO_LEAF_WEIGHT, b.leaf_weight())?.is_some() {
        tracing::debug!(
            field = BLKIO_LEAF_WEIGHT,
            "cgroup v2 has no leaf weight; ignored"
        );
    }
    for (i, d) in b.weight_device().iter().flatten().enumerate() {
        let field = format!("linux.resources.blockIO.weightDevice[{i}]");
        let dev = dev_number(&field, d.major(), d.minor())?;
        blkio_weight(&format!("{field}.leafWeight"), d.leaf_weight())?;
        if let Some(w) = blkio_weight(&format!("{field}.weight"), d.weight())? {
            writes.push(
                Write::new("io", "io.bfq.weight", format!("{dev} {w}"), &field)
                    .or(
                        "io.weight",
                        format!("{dev} {}", blkio_to_io_weight(u64::from(w))),
                    )
                    .optional(),
            );
        }
    }
    let throttles = [
        (
            "throttleReadBpsDevice",
            "rbps",
            b.throttle_read_bps_device(),
        ),
        (
            "throttleWriteBpsDevice",
            "wbps",
            b.throttle_write_bps_device(),
        ),
        (
            "throttleReadIOPSDevice",
            "riops",
            b.throttle_read_iops_device(),
        ),
        (
            "throttleWriteIOPSDevice",
            "wiops",
            b.throttle_write_iops_device(),
        ),
    ];
    for (name, key, list) in throttles {
        for (i, t) in list.iter().flatten().enumerate() {
            let field = format!("linux.resources.blockIO.{name}[{i}]");
            let dev = dev_number(&field, t.major(), t.minor())?;
            let rate = if t.rate() == 0 {
                "max".to_string()
            } else {
                t.rate().to_string()
            };
            writes.push(Write::new(
                "io",
                "io.max",
                format!("{dev} {key}={rate}"),
                &field,
            ));
        }
    }
    if !writes.is_empty() {
        host.need("io", "linux.resources.blockIO")?;
        for w in writes {
            p.write(w);
        }
    }
    Ok(())
}
