//! Planning `LinuxResources` for cgroup v1 (and hybrid hosts, which keel
//! drives through v1).
//!
//! Controller order follows runc: cpuset, devices, memory, cpu, pids, blkio,
//! hugetlb, net_cls, net_prio, rdma. blkio files the kernel lacks (the CFQ
//! weights on current kernels) are optional and skipped with a debug log;
//! kernel memory limits are written only where the files exist. A value for
//! a controller that is not mounted is refused, naming the field.

use oci_spec::runtime::LinuxResources;

use super::devices;
use super::error::{Error, Result};
use super::plan::*;

pub(crate) fn plan(r: &LinuxResources, host: &Host<'_>, opts: PlanOptions) -> Result<Plan> {
    let mut p = Plan::default();
    if let Some(u) = r.unified() {
        if !u.is_empty() {
            return Err(Error::unsupported(
                UNIFIED,
                "needs cgroup v2, and this host's controllers are cgroup v1; remove the unified map",
            ));
        }
    }
    cpuset(r, host, &mut p)?;
    if !opts.update {
        if let Some(rules) = r.devices().as_deref().filter(|d| !d.is_empty()) {
            let rules = devices::parse_rules(rules)?;
            host.need("devices", "linux.resources.devices")?;
            for (file, line) in devices::v1_lines(&rules) {
                p.write(Write::new("devices", file, line, "linux.resources.devices"));
            }
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
    blkio(r, host, &mut p)?;
    for (i, h) in r.hugepage_limits().iter().flatten().enumerate() {
        let field = format!("linux.resources.hugepageLimits[{i}]");
        hugepage_size(&format!("{field}.pageSize"), h.page_size(), host.machine)?;
        let v = hugetlb_value(&format!("{field}.limit"), h.limit(), false)?;
        host.need("hugetlb", &field)?;
        let ps = h.page_size();
        p.write(Write::new(
            "hugetlb",
            &format!("hugetlb.{ps}.limit_in_bytes"),
            v.clone(),
            &field,
        ));
        p.write(
            Write::new(
                "hugetlb",
                &format!("hugetlb.{ps}.rsvd.limit_in_bytes"),
                v,
                &field,
            )
            .optional(),
        );
    }
    if let Some(net) = r.network() {
        if let Some(id) = net.class_id() {
            host.need("net_cls", NET_CLASSID)?;
            p.write(Write::new(
                "net_cls",
                "net_cls.classid",
                id.to_string(),
                NET_CLASSID,
            ));
        }
        for (i, prio) in net.priorities().iter().flatten().enumerate() {
            let field = format!("linux.resources.network.priorities[{i}]");
            ifname(&format!("{field}.name"), prio.name())?;
            host.need("net_prio", &field)?;
            p.write(Write::new(
                "net_prio",
                "net_prio.ifpriomap",
                format!("{} {}", prio.name(), prio.priority()),
                &field,
            ));
        }
    }
    rdma(r, host, &mut p, "rdma")?;
    Ok(p)
}

fn swap_without_limit(swap: i64) -> Error {
    let reason =
        format!("{swap} needs a memory limit as well (swap is memory+swap), but {MEM_LIMIT} is -1");
    Error::invalid(MEM_SWAP, reason)
}

/// `pids.limit`: positive is a limit, negative is "max", 0 is not set
/// (runc 1.1).
pub(crate) fn pids_value(limit: i64) -> Option<String> {
    match limit {
        0 => None,
        n if n < 0 => Some("max".into()),
        n => Some(n.to_string()),
    }
}

/// A hugetlb limit; "no limit" is `-1` on v1 and `max` on v2.
pub(crate) fn hugetlb_value(field: &str, limit: i64, v2: bool) -> Result<String> {
    match limit {
        -1 if v2 => Ok("max".into()),
        -1 => Ok("-1".into()),
        n if n >= 0 => Ok(n.to_string()),
        n => Err(Error::invalid(
            field,
            format!("{n} is negative; use a number of bytes, or -1 for no limit"),
        )),
    }
}

pub(crate) fn rdma(
    r: &LinuxResources,
    host: &Host<'_>,
    p: &mut Plan,
    controller: &str,
) -> Result<()> {
    let Some(map) = r.rdma() else { return Ok(()) };
    let mut devs: Vec<_> = map.iter().collect();
    devs.sort_by(|a, b| a.0.cmp(b.0));
    for (dev, lim) in devs {
        let field = format!("linux.resources.rdma.{dev}");
        if dev.is_empty() || dev.contains(|c: char| c.is_whitespace() || c == '/') {
            return Err(Error::invalid(
                &field,
                format!("{dev:?} is not an RDMA device name"),
            ));
        }
        let mut line = dev.clone();
        if let Some(h) = lim.hca_handles() {
            line.push_str(&format!(" hca_handle={h}"));
        }
        if let Some(o) = lim.hca_objects() {
            line.push_str(&format!(" hca_object={o}"));
        }
        if line.len() == dev.len() {
            continue;
        }
        host.need(controller, &field)?;
        p.write(Write::new(controller, "rdma.max", line, &field));
    }
    Ok(())
}

fn cpuset(r: &LinuxResources, host: &Host<'_>, p: &mut Plan) -> Result<()> {
    let Some(cpu) = r.cpu() else { return Ok(()) };
    let cpus = super::plan::cpuset(CPU_CPUS, cpu.cpus().as_ref(), &host.machine.cpus, "CPU")?;
    let mems = super::plan::cpuset(
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
    Ok(())
}

#[allow(deprecated)] // `kernel` is deprecated in the spec, still honoured on v1
fn memory(r: &LinuxResources, host: &Host<'_>, p: &mut Plan) -> Result<()> {
    let Some(m) = r.memory() else { return Ok(()) };
    let mem = limit(MEM_LIMIT, m.limit())?;
    let mut swap = limit(MEM_SWAP, m.swap())?;
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
    }
    // Unlimited memory with swap unset: memsw must follow, or the kernel
    // refuses memsw < memory.
    if mem == Some(-1) && swap.is_none() {
        swap = Some(-1);
    }
    if let Some(s) = swap.filter(|&s| s > 0) {
        match mem {
            Some(-1) => return Err(swap_without_limit(s)),
            Some(l) if s < l => return Err(swap_below_memory(s, l)),
            _ => {}
        }
    }
    let any = mem.is_some()
        || swap.is_some()
        || reservation.is_some()
        || kernel.is_some()
        || kernel_tcp.is_some()
        || m.swappiness().is_some()
        || m.disable_oom_killer() == Some(true)
        || m.use_hierarchy().is_some();
    if !any {
        return Ok(());
    }
    host.need("memory", "linux.resources.memory")?;
    if let Some(h) = m.use_hierarchy() {
        let v = if h { "1" } else { "0" };
        p.write(Write::new(
            "memory",
            "memory.use_hierarchy",
            v,
            MEM_USE_HIERARCHY,
        ));
    }
    if mem.is_some() || swap.is_some() {
        p.steps.push(Step::MemoryAndSwap {
            memory: mem
                .map(|v| Write::new("memory", "memory.limit_in_bytes", v.to_string(), MEM_LIMIT)),
            swap: swap.map(|v| {
                let w = Write::new(
                    "memory",
                    "memory.memsw.limit_in_bytes",
                    v.to_string(),
                    MEM_SWAP,
                );
                // Without swap accounting there is nothing to lift.
                if v == -1 {
                    w.optional()
                } else {
                    w
                }
            }),
            swap_value: swap.unwrap_or(0),
        });
    }
    if let Some(v) = reservation {
        p.write(Write::new(
            "memory",
            "memory.soft_limit_in_bytes",
            v.to_string(),
            MEM_RESERVATION,
        ));
    }
    if let Some(v) = kernel {
        p.write(
            Write::new(
                "memory",
                "memory.kmem.limit_in_bytes",
                v.to_string(),
                MEM_KERNEL,
            )
            .optional(),
        );
    }
    if let Some(v) = kernel_tcp {
        p.write(
            Write::new(
                "memory",
                "memory.kmem.tcp.limit_in_bytes",
                v.to_string(),
                MEM_KERNEL_TCP,
            )
            .optional(),
        );
    }
    if let Some(s) = m.swappiness() {
        p.write(Write::new(
            "memory",
            "memory.swappiness",
            s.to_string(),
            MEM_SWAPPINESS,
        ));
    }
    if m.disable_oom_killer() == Some(true) {
        p.write(Write::new(
            "memory",
            "memory.oom_control",
            "1",
            MEM_DISABLE_OOM,
        ));
    }
    Ok(())
}

fn cpu(r: &LinuxResources, host: &Host<'_>, p: &mut Plan) -> Result<()> {
    let Some(c) = r.cpu() else { return Ok(()) };
    let shares = shares(c.shares())?;
    let period = period(c.period())?;
    let quota = quota(c.quota())?;
    let rt_period = match c.realtime_period() {
        None | Some(0) => None,
        Some(n) => Some(n),
    };
    let rt_runtime = match c.realtime_runtime() {
        None | Some(0) => None,
        Some(n) if n >= -1 => Some(n),
        Some(n) => {
            return Err(Error::invalid(
                CPU_RT_RUNTIME,
                format!("{n} is negative; use microseconds, or -1 for no limit"),
            ))
        }
    };
    if let (Some(rt), Some(per)) = (rt_runtime, rt_period) {
        if rt > 0 && rt as u64 > per {
            return Err(Error::invalid(
                CPU_RT_RUNTIME,
                format!("{rt} is longer than {CPU_RT_PERIOD} ({per}); use at most the period"),
            ));
        }
    }
    if let Some(idle) = c.idle() {
        if !(0..=1).contains(&idle) {
            return Err(Error::invalid(
                CPU_IDLE,
                format!("{idle} is out of range; use 0 or 1"),
            ));
        }
    }
    let any = shares.is_some()
        || period.is_some()
        || quota.is_some()
        || rt_period.is_some()
        || rt_runtime.is_some()
        || c.burst().is_some()
        || c.idle().is_some();
    if !any {
        return Ok(());
    }
    host.need("cpu", "linux.resources.cpu")?;
    if let Some(s) = shares {
        p.write(Write::new("cpu", "cpu.shares", s.to_string(), CPU_SHARES));
    }
    if period.is_some() || quota.is_some() {
        p.steps.push(Step::PeriodQuota {
            period: period
                .map(|v| Write::new("cpu", "cpu.cfs_period_us", v.to_string(), CPU_PERIOD)),
            quota: quota.map(|v| Write::new("cpu", "cpu.cfs_quota_us", v.to_string(), CPU_QUOTA)),
        });
    }
    if let Some(b) = c.burst() {
        p.write(Write::new("cpu", "cpu.cfs_burst_us", b.to_string(), CPU_BURST).optional());
    }
    if let Some(v) = rt_period {
        p.write(Write::new(
            "cpu",
            "cpu.rt_period_us",
            v.to_string(),
            CPU_RT_PERIOD,
        ));
    }
    if let Some(v) = rt_runtime {
        p.write(Write::new(
            "cpu",
            "cpu.rt_runtime_us",
            v.to_string(),
            CPU_RT_RUNTIME,
        ));
    }
    if let Some(i) = c.idle() {
        p.write(Write::new("cpu", "cpu.idle", i.to_string(), CPU_IDLE).optional());
    }
    Ok(())
}

fn blkio(r: &LinuxResources, host: &Host<'_>, p: &mut Plan) -> Result<()> {
    let Some(b) = r.block_io() else { return Ok(()) };
    let mut writes = Vec::new();
    if let Some(w) = blkio_weight(BLKIO_WEIGHT, b.weight())? {
        writes.push(
            Write::new("blkio", "blkio.bfq.weight", w.to_string(), BLKIO_WEIGHT)
                .or("blkio.weight", w.to_string())
                .optional(),
        );
    }
    if let Some(w) = blkio_weight(BLKIO_LEAF_WEIGHT, b.leaf_weight())? {
        writes.push(
            Write::new(
                "blkio",
                "blkio.leaf_weight",
                w.to_string(),
                BLKIO_LEAF_WEIGHT,
            )
            .optional(),
        );
    }
    for (i, d) in b.weight_device().iter().flatten().enumerate() {
        let field = format!("linux.resources.blockIO.weightDevice[{i}]");
        let dev = dev_number(&field, d.major(), d.minor())?;
        if let Some(w) = blkio_weight(&format!("{field}.weight"), d.weight())? {
            let line = format!("{dev} {w}");
            writes.push(
                Write::new("blkio", "blkio.bfq.weight_device", line.clone(), &field)
                    .or("blkio.weight_device", line)
                    .optional(),
            );
        }
        if let Some(w) = blkio_weight(&format!("{field}.leafWeight"), d.leaf_weight())? {
            writes.push(
                Write::new(
                    "blkio",
                    "blkio.leaf_weight_device",
                    format!("{dev} {w}"),
                    &field,
                )
                .optional(),
            );
        }
    }
    let throttles = [
        (
            "throttleReadBpsDevice",
            "blkio.throttle.read_bps_device",
            b.throttle_read_bps_device(),
        ),
        (
            "throttleWriteBpsDevice",
            "blkio.throttle.write_bps_device",
            b.throttle_write_bps_device(),
        ),
        (
            "throttleReadIOPSDevice",
            "blkio.throttle.read_iops_device",
            b.throttle_read_iops_device(),
        ),
        (
            "throttleWriteIOPSDevice",
            "blkio.throttle.write_iops_device",
            b.throttle_write_iops_device(),
        ),
    ];
    for (name, file, list) in throttles {
        for (i, t) in list.iter().flatten().enumerate() {
            let field = format!("linux.resources.blockIO.{name}[{i}]");
            let dev = dev_number(&field, t.major(), t.minor())?;
            writes
                .push(Write::new("blkio", file, format!("{dev} {}", t.rate()), &field).optional());
        }
    }
    if !writes.is_empty() {
        host.need("blkio", "linux.resources.blockIO")?;
        for w in writes {
            p.write(w);
        }
    }
    Ok(())
}
