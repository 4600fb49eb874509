//! Manager tests against the in-memory cgroupfs (`fake.rs`): every file
//! write for v1 (this host's hybrid layout) and v2, validation that writes
//! nothing, ordering rules, freezer, pids, stats and removal.

use std::path::Path;

use oci_spec::runtime::LinuxResources;
use serde_json::json;

use super::bpf::{self, ACC_READ, DEV_CHAR};
use super::fake::FakeFs;
use super::*;

const MI_HYBRID: &str = "\
32 31 0:29 / /cg/cpu rw - cgroup cgroup rw,cpu
33 31 0:30 / /cg/cpuacct rw - cgroup cgroup rw,cpuacct
34 31 0:31 / /cg/cpuset rw - cgroup cgroup rw,cpuset
35 31 0:32 / /cg/memory rw - cgroup cgroup rw,memory
36 31 0:33 / /cg/devices rw - cgroup cgroup rw,devices
37 31 0:34 / /cg/freezer rw - cgroup cgroup rw,freezer
38 31 0:35 / /cg/blkio rw - cgroup cgroup rw,blkio
39 31 0:36 / /cg/pids rw - cgroup cgroup rw,pids
40 31 0:37 / /cg/systemd rw - cgroup cgroup rw,name=systemd
41 31 0:38 / /cg/unified rw - cgroup2 cgroup2 rw
";
const PC_HYBRID: &str = "9:name=systemd:/\n8:pids:/\n7:blkio:/\n6:freezer:/\n5:devices:/\n4:memory:/user/x\n3:cpuset:/\n2:cpuacct:/\n1:cpu:/\n0::/\n";

fn machine() -> Machine {
    Machine {
        cpus: IdSet::parse("0-1").unwrap(),
        mems: IdSet::parse("0").unwrap(),
        hugepage_sizes: vec!["1GB".into(), "2MB".into()],
    }
}

/// This host's hybrid layout, with the files this kernel has.
fn hybrid_fs() -> FakeFs {
    let fs = FakeFs::new();
    fs.hierarchy(
        "/cg/cpu",
        false,
        &[
            ("cpu.shares", "1024"),
            ("cpu.cfs_period_us", "100000"),
            ("cpu.cfs_quota_us", "-1"),
            ("cpu.cfs_burst_us", "0"),
            ("cpu.rt_period_us", "1000000"),
            ("cpu.rt_runtime_us", "0"),
            ("cpu.idle", "0"),
            (
                "cpu.stat",
                "nr_periods 10\nnr_throttled 2\nthrottled_time 3000\n",
            ),
        ],
    );
    fs.hierarchy(
        "/cg/cpuacct",
        false,
        &[
            ("cpuacct.usage", "11683016\n"),
            ("cpuacct.usage_percpu", "3744923 7938093 \n"),
            ("cpuacct.usage_percpu_sys", "0 12000000\n"),
            ("cpuacct.usage_percpu_user", "0 0\n"),
            ("cpuacct.stat", "user 0\nsystem 1\n"),
        ],
    );
    fs.hierarchy(
        "/cg/cpuset",
        false,
        &[
            ("cpuset.cpus", ""),
            ("cpuset.mems", ""),
            ("cpuset.cpu_exclusive", "0"),
            ("cpuset.sched_load_balance", "1"),
            ("cpuset.sched_relax_domain_level", "-1"),
        ],
    );
    fs.set("/cg/cpuset/cpuset.cpus", "0-1\n")
        .set("/cg/cpuset/cpuset.mems", "0\n");
    fs.hierarchy(
        "/cg/memory",
        false,
        &[
            ("memory.limit_in_bytes", "9223372036854771712\n"),
            ("memory.memsw.limit_in_bytes", "9223372036854771712\n"),
            ("memory.soft_limit_in_bytes", "9223372036854771712\n"),
            ("memory.kmem.limit_in_bytes", "9223372036854771712\n"),
            ("memory.kmem.tcp.limit_in_bytes", "9223372036854771712\n"),
            ("memory.swappiness", "60\n"),
            (
                "memory.oom_control",
                "oom_kill_disable 0\nunder_oom 0\noom_kill 0\n",
            ),
            ("memory.use_hierarchy", "1\n"),
            ("memory.usage_in_bytes", "700416\n"),
            ("memory.max_usage_in_bytes", "2768896\n"),
            ("memory.failcnt", "0\n"),
            ("memory.stat", "cache 4096\nrss 53248\n"),
        ],
    );
    fs.mkdirs("/cg/memory/user/x");
    fs.hierarchy(
        "/cg/devices",
        false,
        &[
            ("devices.allow", ""),
            ("devices.deny", ""),
            ("devices.list", "a *:* rwm\n"),
        ],
    );
    fs.hierarchy("/cg/freezer", false, &[("freezer.state", "THAWED\n")]);
    fs.hierarchy(
        "/cg/blkio",
        false,
        &[
            ("blkio.throttle.read_bps_device", ""),
            ("blkio.throttle.write_bps_device", ""),
            ("blkio.throttle.read_iops_device", ""),
            ("blkio.throttle.write_iops_device", ""),
            ("blkio.bfq.io_serviced_recursive", ""),
            (
                "blkio.bfq.io_service_bytes_recursive",
                "254:0 Read 4096\n254:0 Write 0\nTotal 4096\n",
            ),
        ],
    );
    fs.hierarchy(
        "/cg/pids",
        false,
        &[("pids.max", "max\n"), ("pids.current", "0\n")],
    );
    fs.hierarchy("/cg/systemd", false, &[]);
    fs.hierarchy(
        "/cg/unified",
        true,
        &[
            ("cgroup.freeze", "0\n"),
            ("cgroup.events", "populated 0\nfrozen 0\n"),
        ],
    );
    fs.set("/cg/unified/cgroup.controllers", "hugetlb\n");
    fs.set("/cg/unified/cgroup.subtree_control", "");
    fs
}

fn hybrid(path: &str) -> Manager<FakeFs> {
    let layout = Layout::parse(MI_HYBRID, PC_HYBRID).unwrap();
    let p = CgroupsPath::from_spec(Some(Path::new(path)), "ctr").unwrap();
    Manager::with_fs(hybrid_fs(), layout, machine(), &p).unwrap()
}

/// A pure v2 host at /cg2 with the usual controllers enabled at the root.
fn unified_fs() -> FakeFs {
    let fs = FakeFs::new();
    fs.hierarchy(
        "/cg2",
        true,
        &[
            ("cgroup.freeze", "0\n"),
            ("cgroup.events", "populated 0\nfrozen 0\n"),
            ("memory.max", "max\n"),
            ("memory.low", "0\n"),
            ("memory.high", "max\n"),
            ("memory.swap.max", "max\n"),
            ("memory.current", "8192\n"),
            ("memory.peak", "16384\n"),
            ("memory.swap.current", "0\n"),
            ("memory.events", "low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n"),
            ("memory.stat", "anon 4096\nfile 8192\n"),
            ("cpu.weight", "100\n"),
            ("cpu.max", "max 100000\n"),
            ("cpu.max.burst", "0\n"),
            ("cpu.idle", "0\n"),
            ("cpu.stat", "usage_usec 10\nuser_usec 4\nsystem_usec 6\nnr_periods 1\nnr_throttled 1\nthrottled_usec 2\n"),
            ("cpuset.cpus", ""),
            ("cpuset.mems", ""),
            ("cpuset.cpus.effective", "0-1\n"),
            ("cpuset.mems.effective", "0\n"),
            ("pids.max", "max\n"),
            ("pids.current", "2\n"),
            ("io.weight", "default 100\n"),
            ("io.max", ""),
            ("io.stat", "254:0 rbytes=10 wbytes=20 rios=1 wios=2 dbytes=0 dios=0\n"),
            ("hugetlb.2MB.max", "max\n"),
            ("hugetlb.2MB.current", "0\n"),
            ("hugetlb.2MB.events", "max 0\n"),
        ],
    );
    fs.set(
        "/cg2/cgroup.controllers",
        "cpuset cpu io memory hugetlb pids\n",
    );
    fs.set("/cg2/cgroup.subtree_control", "");
    fs
}

fn unified(path: &str) -> Manager<FakeFs> {
    let layout = Layout::parse(
        "30 23 0:26 / /cg2 rw - cgroup2 cgroup2 rw,nsdelegate\n",
        "0::/\n",
    )
    .unwrap();
    let p = CgroupsPath::from_spec(Some(Path::new(path)), "ctr").unwrap();
    Manager::with_fs(unified_fs(), layout, machine(), &p).unwrap()
}

fn res(v: serde_json::Value) -> LinuxResources {
    serde_json::from_value(v).unwrap()
}

// ---- paths and create -----------------------------------------------------

#[test]
fn default_path_is_the_id_below_our_own_cgroup_in_every_hierarchy() {
    let layout = Layout::parse(MI_HYBRID, PC_HYBRID).unwrap();
    let p = CgroupsPath::from_spec(None, "ctr").unwrap();
    let m = Manager::with_fs(hybrid_fs(), layout, machine(), &p).unwrap();
    assert_eq!(m.dir("memory").unwrap(), Path::new("/cg/memory/user/x/ctr"));
    assert_eq!(m.dir("cpu").unwrap(), Path::new("/cg/cpu/ctr"));
    assert_eq!(m.dir("name=systemd").unwrap(), Path::new("/cg/systemd/ctr"));
    assert_eq!(m.unified_dir().unwrap(), Path::new("/cg/unified/ctr"));
    assert_eq!(m.dirs().len(), 10);
    let abs = hybrid("/k/ctr");
    assert_eq!(abs.dir("memory").unwrap(), Path::new("/cg/memory/k/ctr"));
}

#[test]
fn create_v1_makes_every_hierarchy_and_copies_the_parent_cpuset() {
    let m = hybrid("/a/b");
    m.create().unwrap();
    for d in m.dirs() {
        assert!(m.fs().is_dir(&d.dir), "{}", d.dir.display());
    }
    for dir in ["/cg/cpuset/a", "/cg/cpuset/a/b"] {
        assert_eq!(m.fs().get(format!("{dir}/cpuset.cpus")).unwrap(), "0-1");
        assert_eq!(m.fs().get(format!("{dir}/cpuset.mems")).unwrap(), "0");
    }
    // Hybrid: cgroup2 is joined, never configured.
    assert_eq!(
        m.fs().get("/cg/unified/cgroup.subtree_control").unwrap(),
        ""
    );
    // Idempotent.
    m.create().unwrap();
}

#[test]
fn add_pid_joins_each_distinct_directory() {
    let m = hybrid("/c");
    m.create().unwrap();
    m.fs().clear_writes();
    m.add_pid(42).unwrap();
    let w = m.fs().writes();
    assert_eq!(w.len(), 10);
    assert!(w
        .iter()
        .all(|(p, v)| p.ends_with("cgroup.procs") && v == "42"));
    assert!(w
        .iter()
        .any(|(p, _)| p == Path::new("/cg/unified/c/cgroup.procs")));
    let e = m
        .add_pid_to_subs(42, &[(Vec::new(), "sub".into())])
        .unwrap_err()
        .to_string();
    assert!(e.contains("does not exist"), "{e}");
}

// ---- v1 resources -------------------------------------------------------------

#[test]
fn apply_v1_writes_every_file_in_order() {
    let m = hybrid("/c");
    m.create().unwrap();
    m.fs().clear_writes();
    let mut rules = vec![json!({"allow": false, "access": "rwm"})];
    rules.extend(
        devices::runc_default_rules()
            .iter()
            .map(|r| serde_json::to_value(r).unwrap()),
    );
    let r = res(json!({
        "devices": rules,
        "memory": {"limit": 104857600, "swap": 209715200, "reservation": 52428800, "kernel": 10485760,
                   "kernelTCP": 1048576, "swappiness": 10, "disableOOMKiller": true},
        "cpu": {"shares": 512, "quota": 50000, "period": 100000, "burst": 1000, "realtimeRuntime": 950,
                "realtimePeriod": 1000, "cpus": "1", "mems": "0", "idle": 0},
        "pids": {"limit": 64},
        "blockIO": {"weight": 500, "leafWeight": 300,
                    "weightDevice": [{"major": 254, "minor": 0, "weight": 200}],
                    "throttleReadBpsDevice": [{"major": 254, "minor": 0, "rate": 1048576}],
                    "throttleWriteIOPSDevice": [{"major": 254, "minor": 0, "rate": 100}]}
    }));
    m.apply(&r).unwrap();
    let w = m.fs().writes_under("/cg");
    let want = [
        "cpuset/c/cpuset.cpus=1",
        "cpuset/c/cpuset.mems=0",
        "devices/c/devices.deny=a *:* rwm",
        "devices/c/devices.allow=c *:* m",
        "devices/c/devices.allow=b *:* m",
        "devices/c/devices.allow=c 1:3 rwm",
        "devices/c/devices.allow=c 1:8 rwm",
        "devices/c/devices.allow=c 1:7 rwm",
        "devices/c/devices.allow=c 5:0 rwm",
        "devices/c/devices.allow=c 1:5 rwm",
        "devices/c/devices.allow=c 1:9 rwm",
        "devices/c/devices.allow=c 136:* rwm",
        "devices/c/devices.allow=c 5:2 rwm",
        "devices/c/devices.allow=c 10:200 rwm",
        // memsw (200M) > current memory limit (unlimited)? No: memory first.
        "memory/c/memory.limit_in_bytes=104857600",
        "memory/c/memory.memsw.limit_in_bytes=209715200",
        "memory/c/memory.soft_limit_in_bytes=52428800",
        "memory/c/memory.kmem.limit_in_bytes=10485760",
        "memory/c/memory.kmem.tcp.limit_in_bytes=1048576",
        "memory/c/memory.swappiness=10",
        "memory/c/memory.oom_control=1",
        "cpu/c/cpu.shares=512",
        "cpu/c/cpu.cfs_period_us=100000",
        "cpu/c/cpu.cfs_quota_us=50000",
        "cpu/c/cpu.cfs_burst_us=1000",
        "cpu/c/cpu.rt_period_us=1000",
        "cpu/c/cpu.rt_runtime_us=950",
        "cpu/c/cpu.idle=0",
        "pids/c/pids.max=64",
        // blkio weights: this kernel has no CFQ/BFQ weight files: skipped.
        "blkio/c/blkio.throttle.read_bps_device=254:0 1048576",
        "blkio/c/blkio.throttle.write_iops_device=254:0 100",
    ];
    assert_eq!(w, want);
}

#[test]
fn v1_memory_and_swap_order_follows_the_current_limit() {
    let m = hybrid("/c");
    m.create().unwrap();
    // Lowering both below a high current limit: memory first.
    m.fs()
        .set("/cg/memory/c/memory.limit_in_bytes", "1073741824\n");
    m.fs().clear_writes();
    m.apply(&res(json!({"memory": {"limit": 1000000, "swap": 2000000}})))
        .unwrap();
    assert_eq!(
        m.fs().writes_under("/cg/memory/c"),
        [
            "memory.limit_in_bytes=1000000",
            "memory.memsw.limit_in_bytes=2000000"
        ]
    );
    // Raising above the current limit: memsw first.
    m.fs()
        .set("/cg/memory/c/memory.limit_in_bytes", "1000000\n");
    m.fs().clear_writes();
    m.apply(&res(json!({"memory": {"limit": 5000000, "swap": 8000000}})))
        .unwrap();
    assert_eq!(
        m.fs().writes_under("/cg/memory/c"),
        [
            "memory.memsw.limit_in_bytes=8000000",
            "memory.limit_in_bytes=5000000"
        ]
    );
    // Unlimited memory, swap unset: memsw is lifted too, first.
    m.fs().clear_writes();
    m.apply(&res(json!({"memory": {"limit": -1}}))).unwrap();
    assert_eq!(
        m.fs().writes_under("/cg/memory/c"),
        ["memory.memsw.limit_in_bytes=-1", "memory.limit_in_bytes=-1"]
    );
}

#[test]
fn v1_period_refused_with_einval_is_retried_after_the_quota() {
    let m = hybrid("/c");
    m.create().unwrap();
    m.fs().fail("/cg/cpu/c/cpu.cfs_period_us", libc::EINVAL, 1);
    m.fs().clear_writes();
    m.apply(&res(json!({"cpu": {"quota": 20000, "period": 50000}})))
        .unwrap();
    assert_eq!(
        m.fs().writes_under("/cg/cpu/c"),
        [
            "cpu.cfs_period_us=50000 (failed)",
            "cpu.cfs_quota_us=20000",
            "cpu.cfs_period_us=50000"
        ]
    );
}

#[test]
fn invalid_values_name_the_field_and_write_nothing() {
    let m = hybrid("/c");
    m.create().unwrap();
    m.fs().clear_writes();
    let cases = [
        (
            json!({"memory": {"limit": -5}}),
            "linux.resources.memory.limit: -5 is negative",
        ),
        (
            json!({"memory": {"limit": 200, "swap": 100}}),
            "linux.resources.memory.swap: 100 is less than",
        ),
        (
            json!({"memory": {"limit": -1, "swap": 100}}),
            "linux.resources.memory.swap: 100 needs a memory limit",
        ),
        (
            json!({"memory": {"swappiness": 101}}),
            "linux.resources.memory.swappiness: 101",
        ),
        (
            json!({"cpu": {"cpus": "0-3"}}),
            "linux.resources.cpu.cpus: \"0-3\" names CPU 2,3",
        ),
        (
            json!({"cpu": {"mems": "1"}}),
            "linux.resources.cpu.mems: \"1\" names memory node 1",
        ),
        (
            json!({"cpu": {"shares": 1}}),
            "linux.resources.cpu.shares: 1 is out of range",
        ),
        (
            json!({"cpu": {"quota": 10}}),
            "linux.resources.cpu.quota: 10 is out of range",
        ),
        (
            json!({"cpu": {"realtimeRuntime": 2000, "realtimePeriod": 1000}}),
            "linux.resources.cpu.realtimeRuntime: 2000 is longer",
        ),
        (json!({"cpu": {"idle": 2}}), "linux.resources.cpu.idle: 2"),
        (
            json!({"blockIO": {"weight": 5}}),
            "linux.resources.blockIO.weight: 5 is out of range",
        ),
        (
            json!({"blockIO": {"throttleReadBpsDevice": [{"major": -1, "minor": 0, "rate": 1}]}}),
            "linux.resources.blockIO.throttleReadBpsDevice[0]: -1:0",
        ),
        (
            json!({"devices": [{"allow": false, "access": "rwm"}, {"allow": true, "type": "c", "access": "rwz"}]}),
            "linux.resources.devices[1].access: \"rwz\"",
        ),
        (
            json!({"hugepageLimits": [{"pageSize": "3MB", "limit": 1}]}),
            "linux.resources.hugepageLimits[0].pageSize: \"3MB\"",
        ),
        (
            json!({"network": {"priorities": [{"name": "eth 0", "priority": 1}]}}),
            "linux.resources.network.priorities[0].name",
        ),
        (
            json!({"unified": {"memory.high": "1"}}),
            "linux.resources.unified: needs cgroup v2",
        ),
        // A valid first part must not be written when a later part fails.
        (
            json!({"cpu": {"cpus": "0", "shares": 1}}),
            "linux.resources.cpu.shares",
        ),
    ];
    for (v, want) in cases {
        let r = res(v.clone());
        let e = m.apply(&r).unwrap_err().to_string();
        assert!(e.starts_with(want), "{v}: got {e:?}, want prefix {want:?}");
        assert!(!e.contains('\n'));
        assert!(m.validate(&r).is_err() || e.contains("cgroup v2"), "{v}");
    }
    assert!(m.fs().writes().is_empty(), "{:?}", m.fs().writes());
}

#[test]
fn unsupported_on_this_host_is_refused_before_writing() {
    let m = hybrid("/c");
    m.create().unwrap();
    m.fs().clear_writes();
    // hugetlb is only on cgroup2 here, and a hybrid host is driven via v1.
    let e = m
        .apply(&res(json!({"pids": {"limit": 5}, "hugepageLimits": [{"pageSize": "2MB", "limit": 2097152}]})))
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("linux.resources.hugepageLimits[0]: the hugetlb cgroup controller is not available on this host's cgroup v1 hierarchies"),
        "{e}"
    );
    let e = m
        .apply(&res(json!({"network": {"classID": 16}})))
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("linux.resources.network.classID: the net_cls cgroup controller"),
        "{e}"
    );
    // No swap accounting: refused in the preflight, after planning.
    m.fs().remove("/cg/memory/c/memory.memsw.limit_in_bytes");
    let e = m
        .apply(&res(
            json!({"pids": {"limit": 5}, "memory": {"limit": 1000000, "swap": 2000000}}),
        ))
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("linux.resources.memory.swap: this kernel has no swap accounting"),
        "{e}"
    );
    // ...but an unlimited swap is simply skipped.
    m.apply(&res(json!({"memory": {"limit": -1}}))).unwrap();
    assert_eq!(
        m.fs().writes_under("/cg/memory/c"),
        ["memory.limit_in_bytes=-1"]
    );
    // Kernel-memory files are optional.
    m.fs().remove("/cg/memory/c/memory.kmem.limit_in_bytes");
    m.fs().clear_writes();
    m.apply(&res(json!({"memory": {"kernel": 1048576}})))
        .unwrap();
    assert!(m.fs().writes().is_empty());
}

#[test]
fn write_failures_name_the_field_file_and_remedy() {
    let m = hybrid("/c");
    m.create().unwrap();
    m.fs()
        .fail("/cg/memory/c/memory.limit_in_bytes", libc::EBUSY, 1);
    let e = m
        .apply(&res(json!({"memory": {"limit": 4096}})))
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "linux.resources.memory.limit: cannot write \"4096\" to /cg/memory/c/memory.limit_in_bytes: Device or resource busy (os error 16); the cgroup already uses 700416 bytes: raise the limit"
    );
}

#[test]
fn update_leaves_devices_alone_and_checks_before_update() {
    let m = hybrid("/c");
    m.create().unwrap();
    m.fs().clear_writes();
    let r = res(json!({"devices": [{"allow": false, "access": "rwm"}], "pids": {"limit": -1}}));
    m.update(&r).unwrap();
    assert_eq!(m.fs().writes_under("/cg"), ["pids/c/pids.max=max"]);
    m.fs().clear_writes();
    let e = m
        .update(&res(
            json!({"memory": {"limit": 4096, "checkBeforeUpdate": true}}),
        ))
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("linux.resources.memory.limit: 4096 is below the current usage of 700416"),
        "{e}"
    );
    assert!(m.fs().writes().is_empty());
}

// ---- freezer, pids, stats, destroy (v1) -----------------------------------------

#[test]
fn v1_freeze_waits_through_freezing() {
    let m = hybrid("/c");
    m.create().unwrap();
    let state = "/cg/freezer/c/freezer.state";
    m.fs().script_reads(state, &["FREEZING\n", "FREEZING\n"]);
    m.fs().clear_writes();
    m.freeze().unwrap();
    assert_eq!(
        m.fs().writes_under("/cg/freezer/c"),
        ["freezer.state=FROZEN"; 3]
    );
    assert!(m.is_frozen().unwrap());
    m.thaw().unwrap();
    assert!(!m.is_frozen().unwrap());
    m.fs().script_reads(state, &["SOMETHING\n"]);
    assert!(m
        .freeze()
        .unwrap_err()
        .to_string()
        .contains("unexpected freezer state"));
}

#[test]
fn pids_are_listed_recursively() {
    let m = hybrid("/c");
    m.create().unwrap();
    m.add_pid(10).unwrap();
    m.fs().mkdirs("/cg/pids/c/sub/deeper");
    m.fs().set("/cg/pids/c/sub/cgroup.procs", "30\n20\n");
    m.fs().set("/cg/pids/c/sub/deeper/cgroup.procs", "40\n");
    assert_eq!(m.pids().unwrap(), vec![10, 20, 30, 40]);
    assert_eq!(hybrid("/none").pids().unwrap(), Vec::<i32>::new());
}

#[test]
fn destroy_removes_bottom_up_and_retries_on_ebusy() {
    let m = hybrid("/a/c");
    m.create().unwrap();
    m.fs().mkdirs("/cg/memory/a/c/sub");
    m.fs().fail("/cg/cpu/a/c", libc::EBUSY, 2);
    m.destroy().unwrap();
    for d in m.dirs() {
        assert!(!m.fs().is_dir(&d.dir), "{}", d.dir.display());
    }
    // The intermediate directory stays, as with runc.
    assert!(m.fs().is_dir("/cg/cpu/a"));
    // Already gone: fine.
    m.destroy().unwrap();
    // Still busy: an error naming the cgroup, and the rest is removed anyway.
    m.create().unwrap();
    m.fs().set("/cg/pids/a/c/cgroup.procs", "99\n");
    let e = m.destroy().unwrap_err().to_string();
    assert!(
        e.starts_with("cannot remove cgroup /cg/pids/a/c: Device or resource busy"),
        "{e}"
    );
    assert!(!m.fs().is_dir("/cg/memory/a/c"));
}

#[test]
fn v1_stats_and_oom_count() {
    let m = hybrid("/c");
    m.create().unwrap();
    for (f, v) in [
        (
            "cpu/c/cpu.stat",
            "nr_periods 10\nnr_throttled 2\nthrottled_time 3000\n",
        ),
        ("cpuacct/c/cpuacct.usage", "11683016\n"),
        ("cpuacct/c/cpuacct.usage_percpu", "3744923 7938093 \n"),
        ("cpuacct/c/cpuacct.stat", "user 0\nsystem 1\n"),
        (
            "memory/c/memory.oom_control",
            "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n",
        ),
        ("pids/c/pids.current", "3\n"),
        ("pids/c/pids.max", "64\n"),
    ] {
        m.fs().set(format!("/cg/{f}"), v);
    }
    let s = m.stats().unwrap();
    assert_eq!(s.cpu.usage.total, 11683016);
    assert_eq!(s.cpu.usage.percpu, vec![3744923, 7938093]);
    assert_eq!(s.cpu.usage.kernel, 10_000_000);
    assert_eq!(s.cpu.throttling.throttled_periods, 2);
    assert_eq!(s.cpuset.cpus, vec![0, 1]);
    assert_eq!(s.cpuset.sched_relax_domain_level, -1);
    assert_eq!(s.memory.usage.usage, 700416);
    assert_eq!(s.memory.usage.limit, 9223372036854771712);
    assert_eq!(s.memory.cache, 4096);
    assert_eq!(s.memory.raw["rss"], 53248);
    assert_eq!((s.pids.current, s.pids.limit), (3, 64));
    assert_eq!(s.blkio.io_service_bytes_recursive.len(), 2);
    assert!(s.hugetlb.is_empty());
    assert_eq!(m.oom_kill_count().unwrap(), 2);
    assert!(hybrid("/gone").stats().is_err());
}

// ---- v2 ---------------------------------------------------------------------------

#[test]
fn create_v2_enables_controllers_down_the_tree() {
    let m = unified("/k/pod/c");
    m.create().unwrap();
    assert_eq!(
        m.fs().get("/cg2/cgroup.subtree_control").unwrap(),
        "cpu cpuset hugetlb io memory pids"
    );
    assert_eq!(
        m.fs().get("/cg2/k/cgroup.subtree_control").unwrap(),
        "cpu cpuset hugetlb io memory pids"
    );
    assert_eq!(
        m.fs().get("/cg2/k/pod/c/cgroup.controllers").unwrap(),
        "cpu cpuset hugetlb io memory pids"
    );
    // The leaf enables nothing for children it does not have.
    assert_eq!(
        m.fs().get("/cg2/k/pod/c/cgroup.subtree_control").unwrap(),
        ""
    );
    assert_eq!(m.dir("memory"), m.dir("cpu"));
}

#[test]
fn apply_v2_converts_and_writes_every_file() {
    let m = unified("/c");
    m.create().unwrap();
    m.fs().clear_writes();
    let r = res(json!({
        "devices": [{"allow": false, "access": "rwm"}, {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "r"}],
        "memory": {"limit": 104857600, "swap": 209715200, "reservation": 52428800, "kernel": 1, "swappiness": 10},
        "cpu": {"shares": 1024, "quota": 50000, "period": 100000, "burst": 1000, "cpus": "0-1", "mems": "0"},
        "pids": {"limit": 64},
        "blockIO": {"weight": 500, "weightDevice": [{"major": 254, "minor": 0, "weight": 1000}],
                    "throttleReadBpsDevice": [{"major": 254, "minor": 0, "rate": 1048576}],
                    "throttleWriteIOPSDevice": [{"major": 254, "minor": 0, "rate": 0}]},
        "hugepageLimits": [{"pageSize": "2MB", "limit": -1}],
        "unified": {"memory.high": "94371840", "cpu.weight": "50"}
    }));
    m.apply(&r).unwrap();
    assert_eq!(
        m.fs().writes_under("/cg2/c"),
        [
            "cpuset.cpus=0-1",
            "cpuset.mems=0",
            "memory.swap.max=104857600",
            "memory.max=104857600",
            "memory.low=52428800",
            "cpu.weight=39",
            "cpu.max=50000 100000",
            "cpu.max.burst=1000",
            "pids.max=64",
            "io.weight=4950",
            "io.weight=254:0 10000",
            "io.max=254:0 rbps=1048576",
            "io.max=254:0 wiops=max",
            "hugetlb.2MB.max=max",
            "cpu.weight=50",
            "memory.high=94371840",
        ]
    );
    let filters = m.fs().filters();
    assert_eq!(filters.len(), 1);
    assert_eq!(filters[0].0, Path::new("/cg2/c"));
    let prog = &filters[0].1;
    assert_eq!(bpf::run(prog, DEV_CHAR as u32, ACC_READ as u32, 1, 3), 1);
    assert_eq!(
        bpf::run(
            prog,
            DEV_CHAR as u32,
            (ACC_READ | bpf::ACC_WRITE) as u32,
            1,
            3
        ),
        0
    );
    assert_eq!(bpf::run(prog, DEV_CHAR as u32, ACC_READ as u32, 1, 5), 0);
}

#[test]
fn v2_swap_and_quota_edge_cases() {
    let m = unified("/c");
    m.create().unwrap();
    m.fs().clear_writes();
    m.apply(&res(
        json!({"memory": {"limit": 1000000, "swap": 1000000}, "cpu": {"quota": -1}}),
    ))
    .unwrap();
    m.apply(&res(
        json!({"memory": {"limit": -1}, "cpu": {"period": 20000}}),
    ))
    .unwrap();
    assert_eq!(
        m.fs().writes_under("/cg2/c"),
        [
            "memory.swap.max=0",
            "memory.max=1000000",
            "cpu.max=max",
            "memory.swap.max=max",
            "memory.max=max",
            "cpu.max=max 20000",
        ]
    );
}

#[test]
fn v2_refusals() {
    let m = unified("/c");
    m.create().unwrap();
    // The controller is not enabled for this cgroup.
    m.fs().set("/cg2/c/cgroup.controllers", "cpu\n");
    m.fs().clear_writes();
    let e = m
        .apply(&res(json!({"pids": {"limit": 3}})))
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "linux.resources.pids.limit: the pids cgroup controller is not available in this cgroup (not in its cgroup.controllers); remove the setting"
    );
    let cases = [
        (
            json!({"unified": {"../memory.max": "1"}}),
            "linux.resources.unified.\"../memory.max\": is not a cgroup file name",
        ),
        (
            json!({"unified": {"..": "1"}}),
            "linux.resources.unified.\"..\"",
        ),
        (
            json!({"unified": {"memory.nope": "1"}}),
            "linux.resources.unified.\"memory.nope\": memory.nope does not exist",
        ),
        (
            json!({"cpu": {"realtimeRuntime": 100}}),
            "linux.resources.cpu.realtimeRuntime: cgroup v2 has no realtime",
        ),
        (
            json!({"network": {"classID": 1}}),
            "linux.resources.network: cgroup v2 has no net_cls",
        ),
        (
            json!({"memory": {"swap": 100}}),
            "linux.resources.memory.swap: 100 needs a memory limit",
        ),
    ];
    for (v, want) in cases {
        let e = m.apply(&res(v.clone())).unwrap_err().to_string();
        assert!(e.starts_with(want), "{v}: {e}");
    }
    assert!(m.fs().writes().is_empty());
}

#[test]
fn v2_freeze_stats_and_oom() {
    let m = unified("/c");
    m.create().unwrap();
    m.freeze().unwrap();
    assert!(m.is_frozen().unwrap());
    assert_eq!(
        m.fs().get("/cg2/c/cgroup.events").unwrap(),
        "populated 1\nfrozen 1\n"
    );
    m.thaw().unwrap();
    assert!(!m.is_frozen().unwrap());
    let s = m.stats().unwrap();
    assert_eq!(s.cpu.usage.total, 10_000);
    assert_eq!(s.cpu.usage.kernel, 6_000);
    assert_eq!(s.cpu.throttling.throttled_time, 2_000);
    assert_eq!(s.memory.usage.usage, 8192);
    assert_eq!(s.memory.usage.limit, u64::MAX);
    assert_eq!(s.memory.usage.max, 16384);
    assert_eq!(s.memory.usage.failcnt, 3);
    assert_eq!(s.memory.swap.usage, 8192);
    assert_eq!(s.memory.cache, 8192);
    assert_eq!(s.pids.current, 2);
    assert_eq!(s.blkio.io_serviced_recursive.len(), 2);
    assert_eq!(s.hugetlb["2MB"].failcnt, 0);
    assert_eq!(s.cpuset.cpus, vec![0, 1]);
    assert_eq!(m.oom_kill_count().unwrap(), 1);
    m.destroy().unwrap();
    assert!(!m.exists());
}

#[test]
fn saved_paths_rebuild_the_same_manager_from_another_cgroup() {
    let m = hybrid("ctr");
    let saved = m.paths();
    assert!(saved.contains(&Path::new("/cg/memory/user/x/ctr").to_path_buf()));
    // `delete` may run in a different cgroup than `create` did.
    let elsewhere = PC_HYBRID.replace("4:memory:/user/x", "4:memory:/other");
    let layout = Layout::parse(MI_HYBRID, &elsewhere).unwrap();
    let again =
        Manager::with_fs_from_paths(hybrid_fs(), layout.clone(), machine(), &saved).unwrap();
    assert_eq!(again.paths(), saved);
    assert_eq!(
        again.dir("memory").unwrap(),
        Path::new("/cg/memory/user/x/ctr")
    );
    let e = Manager::with_fs_from_paths(hybrid_fs(), layout, machine(), &["/elsewhere/x".into()])
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.starts_with(
            "linux.cgroupsPath \"/elsewhere/x\": is not below any mounted cgroup hierarchy"
        ),
        "{e}"
    );
}
