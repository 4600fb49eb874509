//! `keel update`: change a running container's resources, from
//! `--resources FILE|-` (JSON `LinuxResources`) and runc's flags. The new
//! values are merged into the saved ones, validated in full, then written;
//! nothing is applied half-way.

use std::io::Read;
use std::path::PathBuf;

use oci_spec::runtime::{LinuxCpu, LinuxMemory, LinuxPids, LinuxResources};

use super::{cgroup_of, load, Error, Globals};
use crate::state::Status;

/// runc's `update` flags.
#[derive(Debug, Default)]
pub struct UpdateOpts {
    pub resources: Option<PathBuf>,
    pub memory: Option<String>,
    pub memory_swap: Option<String>,
    pub memory_reservation: Option<String>,
    pub kernel_memory: Option<String>,
    pub kernel_memory_tcp: Option<String>,
    pub cpu_shares: Option<u64>,
    pub cpu_quota: Option<i64>,
    pub cpu_period: Option<u64>,
    pub cpu_rt_period: Option<u64>,
    pub cpu_rt_runtime: Option<i64>,
    pub cpuset_cpus: Option<String>,
    pub cpuset_mems: Option<String>,
    pub pids_limit: Option<i64>,
    pub blkio_weight: Option<u16>,
}

/// Parses a size like runc's flags: bytes, or with a k/m/g/t suffix; `-1` is unlimited.
pub fn parse_bytes(flag: &str, v: &str) -> Result<i64, Error> {
    let bad = || {
        Error::Unsupported(format!(
            "--{flag} {v:?}: use a number of bytes, optionally with k, m, g or t, or -1"
        ))
    };
    let t = v.trim().to_ascii_lowercase();
    if t == "-1" {
        return Ok(-1);
    }
    let t = t.strip_suffix('b').unwrap_or(&t);
    let (num, mult) = match t.chars().last() {
        Some('k') => (&t[..t.len() - 1], 1i64 << 10),
        Some('m') => (&t[..t.len() - 1], 1 << 20),
        Some('g') => (&t[..t.len() - 1], 1 << 30),
        Some('t') => (&t[..t.len() - 1], 1 << 40),
        _ => (t, 1),
    };
    let n: f64 = num.trim().parse().map_err(|_| bad())?;
    if n < 0.0 || !n.is_finite() {
        return Err(bad());
    }
    Ok((n * mult as f64) as i64)
}

/// Merges the update into `base`.
pub fn merge(
    base: &LinuxResources,
    o: &UpdateOpts,
    from_file: Option<LinuxResources>,
) -> Result<LinuxResources, Error> {
    let mut r = base.clone();
    if let Some(f) = from_file {
        if let Some(m) = f.memory() {
            r.set_memory(Some(*m));
        }
        if let Some(c) = f.cpu() {
            r.set_cpu(Some(c.clone()));
        }
        if let Some(p) = f.pids() {
            r.set_pids(Some(*p));
        }
        if let Some(b) = f.block_io() {
            r.set_block_io(Some(b.clone()));
        }
        if let Some(h) = f.hugepage_limits() {
            r.set_hugepage_limits(Some(h.clone()));
        }
        if let Some(u) = f.unified() {
            r.set_unified(Some(u.clone()));
        }
    }
    let mut mem: LinuxMemory = r.memory().unwrap_or_default();
    if let Some(v) = &o.memory {
        mem.set_limit(Some(parse_bytes("memory", v)?));
    }
    if let Some(v) = &o.memory_swap {
        mem.set_swap(Some(parse_bytes("memory-swap", v)?));
    }
    if let Some(v) = &o.memory_reservation {
        mem.set_reservation(Some(parse_bytes("memory-reservation", v)?));
    }
    if let Some(v) = &o.kernel_memory {
        mem.set_kernel(Some(parse_bytes("kernel-memory", v)?));
    }
    if let Some(v) = &o.kernel_memory_tcp {
        mem.set_kernel_tcp(Some(parse_bytes("kernel-memory-tcp", v)?));
    }
    if o.memory.is_some()
        || o.memory_swap.is_some()
        || o.memory_reservation.is_some()
        || o.kernel_memory.is_some()
        || o.kernel_memory_tcp.is_some()
    {
        r.set_memory(Some(mem));
    }
    let mut cpu: LinuxCpu = r.cpu().clone().unwrap_or_default();
    let mut cpu_set = false;
    if let Some(v) = o.cpu_shares {
        cpu.set_shares(Some(v));
        cpu_set = true;
    }
    if let Some(v) = o.cpu_quota {
        cpu.set_quota(Some(v));
        cpu_set = true;
    }
    if let Some(v) = o.cpu_period {
        cpu.set_period(Some(v));
        cpu_set = true;
    }
    if let Some(v) = o.cpu_rt_period {
        cpu.set_realtime_period(Some(v));
        cpu_set = true;
    }
    if let Some(v) = o.cpu_rt_runtime {
        cpu.set_realtime_runtime(Some(v));
        cpu_set = true;
    }
    if let Some(v) = &o.cpuset_cpus {
        cpu.set_cpus(Some(v.clone()));
        cpu_set = true;
    }
    if let Some(v) = &o.cpuset_mems {
        cpu.set_mems(Some(v.clone()));
        cpu_set = true;
    }
    if cpu_set {
        r.set_cpu(Some(cpu));
    }
    if let Some(v) = o.pids_limit {
        let mut p: LinuxPids = r.pids().unwrap_or_default();
        p.set_limit(v);
        r.set_pids(Some(p));
    }
    if let Some(w) = o.blkio_weight {
        let mut b = r.block_io().clone().unwrap_or_default();
        b.set_weight(Some(w));
        r.set_block_io(Some(b));
    }
    Ok(r)
}

/// Applies the update and records the new resources in the state.
pub fn update(g: &Globals, id: &str, o: &UpdateOpts) -> Result<(), Error> {
    let mut l = load(g, id)?;
    if !matches!(l.status, Status::Created | Status::Running | Status::Paused) {
        return Err(Error::InvalidStatus {
            op: "update",
            id: id.into(),
            status: l.status,
            hint: "",
        });
    }
    let from_file = match &o.resources {
        None => None,
        Some(p) => {
            let (name, bytes) = if p.as_os_str() == "-" {
                let mut b = Vec::new();
                std::io::stdin()
                    .read_to_end(&mut b)
                    .map_err(Error::io("read --resources from stdin"))?;
                ("stdin".to_string(), b)
            } else {
                (
                    p.display().to_string(),
                    std::fs::read(p).map_err(Error::io(format!("--resources {}", p.display())))?,
                )
            };
            let de = &mut serde_json::Deserializer::from_slice(&bytes);
            Some(
                serde_path_to_error::deserialize::<_, LinuxResources>(de).map_err(|e| {
                    Error::Unsupported(format!(
                        "--resources {name}: invalid JSON at line {} column {} (field {}): {}",
                        e.inner().line(),
                        e.inner().column(),
                        e.path(),
                        e.inner()
                    ))
                })?,
            )
        }
    };
    let mut spec = l.state.config.clone();
    let mut linux = spec.linux().clone().unwrap_or_default();
    let base = linux.resources().clone().unwrap_or_default();
    let merged = merge(&base, o, from_file)?;
    let cg = cgroup_of(&l.state)?
        .ok_or_else(|| Error::Unsupported(format!("container {id} has no cgroup to update")))?;
    cg.update(&merged)?;
    linux.set_resources(Some(merged));
    spec.set_linux(Some(linux));
    l.state.config = spec;
    l.dir.save(&l.state)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_like_runc() {
        assert_eq!(parse_bytes("memory", "512m").unwrap(), 512 << 20);
        assert_eq!(parse_bytes("memory", "1G").unwrap(), 1 << 30);
        assert_eq!(parse_bytes("memory", "1048576").unwrap(), 1 << 20);
        assert_eq!(parse_bytes("memory", "-1").unwrap(), -1);
        assert!(parse_bytes("memory", "-5").is_err());
        assert!(parse_bytes("memory", "lots").is_err());
    }

    #[test]
    fn flags_merge_over_saved_values() {
        let base: LinuxResources =
            serde_json::from_str(r#"{"memory":{"limit":1000},"cpu":{"shares":2}}"#).unwrap();
        let o = UpdateOpts {
            cpu_quota: Some(5000),
            pids_limit: Some(10),
            ..Default::default()
        };
        let r = merge(&base, &o, None).unwrap();
        assert_eq!(r.memory().as_ref().unwrap().limit(), Some(1000));
        assert_eq!(r.cpu().as_ref().unwrap().shares(), Some(2));
        assert_eq!(r.cpu().as_ref().unwrap().quota(), Some(5000));
        assert_eq!(r.pids().unwrap().limit(), 10);
    }
}
