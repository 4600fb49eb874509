//! config-linux.md Control groups: cgroupsPath, every resource block (read
//! back from inside the container, from its own cgroup), the device
//! allowlist by behaviour, and the runc CLI operations on cgroups that
//! engines use: update, pause, resume, ps, events.
//!
//! The machine's layout decides what can be tested: a resource whose
//! control file the host lacks is a SKIP naming the file.

use std::fs;
use std::time::Duration;

use serde_json::{json, Value};

use super::env::{judge_tap, one_line, CGROUP_PARENT, WAIT};
use super::lifecycle::{checker, wait_for};
use super::{CaseResult, Ctr, Env, Problem, Registry};
use crate::bundle::Bundle;
use crate::driver::CreateOptions;
use crate::spec::Spec;
use crate::tap::TapReport;

/// Set `resources.KEY = value`, keeping the default device rules.
fn set_resource(s: &mut Spec, key: &str, v: Value) {
    s.set(&format!("/linux/resources/{key}"), v);
}

/// The host path of a file of container `id`'s v1 cgroup.
fn host_file(ctrl: &str, id: &str, file: &str) -> String {
    format!("/sys/fs/cgroup/{ctrl}/{CGROUP_PARENT}/{id}/{file}")
}

fn read_host(ctrl: &str, id: &str, file: &str) -> Result<String, Problem> {
    let p = host_file(ctrl, id, file);
    fs::read_to_string(&p)
        .map(|s| s.trim().to_string())
        .map_err(|e| Problem::Fail(format!("{p}: {e} (the container has no cgroup there)")))
}

/// Skip unless the host's v1 hierarchy `ctrl` has `file`.
fn need(env: &Env, ctrl: &str, file: &str) -> CaseResult {
    if env.host.cgroup2_unified {
        skip!("cgroup v2 only: the v1 file {ctrl}/{file} does not exist");
    }
    if !env.host.cgroup_v1.iter().any(|c| c == ctrl) {
        skip!("no v1 {ctrl} controller on this machine");
    }
    if !env.host.cgroup_child_file(ctrl, file) {
        skip!("this kernel has no {ctrl}/{file}");
    }
    Ok(())
}

/// Run keel-check with `args` in a container with cgroupsPath set and
/// `edit` applied.
fn run_in_cgroup(env: &Env, args: &[&str], must: &[&str], edit: impl Fn(&mut Spec)) -> CaseResult {
    let id = env.id();
    let mut s = checker(args);
    s.set("/linux/cgroupsPath", json!(Env::cgroups_path(&id)));
    edit(&mut s);
    let b = env.bundle(&s)?;
    let mut c = env.ctr(&id);
    let out = c.run(CreateOptions::bundle(b.path()))?;
    judge_tap(&out, &TapReport::parse(&out.stdout), must)
}

/// A resource case: `resources.KEY = value`; file CTRL/FILE must read WANT.
fn resource_case(
    r: &mut Registry,
    name: &str,
    key: &'static str,
    value: Value,
    checks: &'static [(&'static str, &'static str, &'static str)],
) {
    r.add(
        "cgroups",
        name,
        &format!("Control groups: resources.{key} is applied to the container's cgroup"),
        move |env| {
            for (ctrl, file, _) in checks {
                need(env, ctrl, file)?;
            }
            let exps: Vec<String> = checks
                .iter()
                .map(|(c, f, w)| format!("cgfile={c}/{f}={w}"))
                .collect();
            let args: Vec<&str> = exps.iter().map(String::as_str).collect();
            let names: Vec<String> = checks
                .iter()
                .map(|(c, f, _)| format!("cgfile={c}/{f}"))
                .collect();
            let must: Vec<&str> = names.iter().map(String::as_str).collect();
            let v = value.clone();
            run_in_cgroup(env, &args, &must, |s| set_resource(s, key, v.clone()))
        },
    );
}

fn skip_case(r: &mut Registry, name: &str, clause: &str, precondition: fn(&Env) -> CaseResult) {
    r.add("cgroups", name, clause, move |env| {
        precondition(env)?;
        fail!("precondition met but the case has no body on this layout")
    });
}

/// A running sleeper with cgroupsPath (and `edit`); (bundle, guard).
fn running_in_cgroup<'a>(
    env: &'a Env<'a>,
    process: Spec,
    edit: impl Fn(&mut Spec),
) -> Result<(Bundle, Ctr<'a>), Problem> {
    let id = env.id();
    let mut s = process;
    s.set("/linux/cgroupsPath", json!(Env::cgroups_path(&id)));
    edit(&mut s);
    let b = env.bundle(&s)?;
    let mut c = env.ctr(&id);
    let out = c.create(CreateOptions::bundle(b.path()))?;
    ensure!(out.success(), "create failed: {}", one_line(&out.stderr));
    let st = c.start()?;
    ensure!(st.success(), "start failed: {}", one_line(&st.stderr));
    Ok((b, c))
}

fn update_case(
    r: &mut Registry,
    name: &str,
    args: &'static [&'static str],
    ctrl: &'static str,
    file: &'static str,
    want: &'static str,
) {
    r.add(
        "cgroups",
        name,
        &format!("runc CLI: update {} changes {ctrl}/{file}", args.join(" ")),
        move |env| {
            need(env, ctrl, file)?;
            let (_b, c) = running_in_cgroup(env, super::lifecycle::sleeper(), |s| {
                set_resource(s, "memory", json!({"limit": 64 << 20}));
                set_resource(s, "pids", json!({"limit": 100}));
            })?;
            let mut a = vec!["update"];
            a.extend_from_slice(args);
            a.push(&c.id);
            let out = env.rt.exec(&a)?;
            ensure!(out.success(), "update failed: {}", one_line(&out.stderr));
            let have = read_host(ctrl, &c.id, file)?;
            ensure!(have == want, "{ctrl}/{file} is {have:?} (want {want:?})");
            Ok(())
        },
    );
}

/// The device cases use /dev/loop0 (b 7:0), which opens without any
/// capability, unlike most char devices outside the default set.
fn need_loop() -> CaseResult {
    if !std::path::Path::new("/sys/block/loop0").exists() {
        skip!("no loop0 block device (b 7:0) on this machine");
    }
    Ok(())
}

fn counter() -> Spec {
    super::lifecycle::shell("i=0; while :; do i=$((i+1)); echo $i > /tmp/count; sleep 0.02; done")
}

fn count(b: &Bundle) -> Option<u64> {
    fs::read_to_string(b.rootfs().join("tmp/count"))
        .ok()
        .and_then(|s| s.trim().parse().ok())
}

fn pause(env: &Env, c: &Ctr) -> CaseResult {
    let out = env.rt.exec(&["pause", &c.id])?;
    ensure!(out.success(), "pause failed: {}", one_line(&out.stderr));
    Ok(())
}

pub fn register(r: &mut Registry) {
    // ---- cgroupsPath ----
    r.add(
        "cgroups",
        "cgroupsPath-absolute",
        "cgroupsPath: an absolute path is relative to the cgroups mount point",
        |env| {
            if env.host.cgroup_v1.is_empty() {
                skip!("no v1 hierarchies: cgroup-path checks the v1 lines");
            }
            let id = env.id();
            let want = Env::cgroups_path(&id);
            let e = format!("cgroup-path={want}");
            let mut s = checker(&[&e]);
            s.set("/linux/cgroupsPath", json!(want));
            let b = env.bundle(&s)?;
            let mut c = env.ctr(&id);
            let out = c.run(CreateOptions::bundle(b.path()))?;
            judge_tap(&out, &TapReport::parse(&out.stdout), &[&e])
        },
    );
    r.add(
        "cgroups",
        "cgroupsPath-host-procs",
        "cgroupsPath: the container's process is in that cgroup on the host",
        |env| {
            need(env, "pids", "cgroup.procs")?;
            let (_b, c) = running_in_cgroup(env, super::lifecycle::sleeper(), |_| {})?;
            let procs = read_host("pids", &c.id, "cgroup.procs")?;
            let pid = c.pid().unwrap_or(-1).to_string();
            ensure!(
                procs.lines().any(|l| l == pid),
                "pid {pid} is not in the cgroup (procs {procs:?})"
            );
            Ok(())
        },
    );
    r.add(
        "cgroups",
        "delete-removes-cgroup",
        "Delete: MUST delete the resources created during create (the cgroup)",
        |env| {
            need(env, "memory", "cgroup.procs")?;
            let id = env.id();
            let mut s = Spec::new(&["true"]);
            s.set("/linux/cgroupsPath", json!(Env::cgroups_path(&id)));
            let b = env.bundle(&s)?;
            let mut c = env.ctr(&id);
            ensure!(
                c.create(CreateOptions::bundle(b.path()))?.success(),
                "create failed"
            );
            let dir = format!("/sys/fs/cgroup/memory/{CGROUP_PARENT}/{id}");
            ensure!(
                std::path::Path::new(&dir).is_dir(),
                "create made no cgroup at {dir}"
            );
            ensure!(c.start()?.success(), "start failed");
            c.wait_exit(WAIT)?;
            c.wait_status("stopped")?;
            ensure!(c.delete()?.success(), "delete failed");
            ensure!(
                wait_for(Duration::from_secs(2), || !std::path::Path::new(&dir)
                    .exists()),
                "{dir} survived delete"
            );
            Ok(())
        },
    );

    // ---- memory ----
    resource_case(
        r,
        "memory-limit",
        "memory",
        json!({"limit": 64 << 20}),
        &[("memory", "memory.limit_in_bytes", "67108864")],
    );
    resource_case(
        r,
        "memory-reservation",
        "memory",
        json!({"limit": 64 << 20, "reservation": 32 << 20}),
        &[("memory", "memory.soft_limit_in_bytes", "33554432")],
    );
    resource_case(
        r,
        "memory-swap",
        "memory",
        json!({"limit": 64 << 20, "swap": 128 << 20}),
        &[("memory", "memory.memsw.limit_in_bytes", "134217728")],
    );
    resource_case(
        r,
        "memory-swappiness",
        "memory",
        json!({"swappiness": 10}),
        &[("memory", "memory.swappiness", "10")],
    );
    resource_case(
        r,
        "memory-disableOOMKiller",
        "memory",
        json!({"limit": 64 << 20, "disableOOMKiller": true}),
        &[("memory", "memory.oom_control", "oom_kill_disable 1")],
    );
    resource_case(
        r,
        "memory-kernelTCP",
        "memory",
        json!({"kernelTCP": 16 << 20}),
        &[("memory", "memory.kmem.tcp.limit_in_bytes", "16777216")],
    );
    resource_case(
        r,
        "memory-useHierarchy",
        "memory",
        json!({"useHierarchy": true}),
        &[("memory", "memory.use_hierarchy", "1")],
    );
    skip_case(
        r,
        "memory-kernel",
        "Control groups: resources.memory.kernel (NOT RECOMMENDED) is applied",
        |_| skip!("kernel-memory limits are accepted but ignored by this kernel"),
    );

    // ---- cpu, cpuset ----
    resource_case(
        r,
        "cpu-shares",
        "cpu",
        json!({"shares": 512}),
        &[("cpu", "cpu.shares", "512")],
    );
    resource_case(
        r,
        "cpu-quota-period",
        "cpu",
        json!({"quota": 50000, "period": 100000}),
        &[
            ("cpu", "cpu.cfs_quota_us", "50000"),
            ("cpu", "cpu.cfs_period_us", "100000"),
        ],
    );
    resource_case(
        r,
        "cpu-period",
        "cpu",
        json!({"period": 50000}),
        &[("cpu", "cpu.cfs_period_us", "50000")],
    );
    resource_case(
        r,
        "cpu-burst",
        "cpu",
        json!({"quota": 50000, "period": 100000, "burst": 10000}),
        &[("cpu", "cpu.cfs_burst_us", "10000")],
    );
    resource_case(
        r,
        "cpu-idle",
        "cpu",
        json!({"idle": 1}),
        &[("cpu", "cpu.idle", "1")],
    );
    resource_case(
        r,
        "cpu-realtime-period",
        "cpu",
        json!({"realtimePeriod": 500000}),
        &[("cpu", "cpu.rt_period_us", "500000")],
    );
    r.add(
        "cgroups",
        "cpu-realtime-runtime",
        "Control groups: resources.cpu.realtimeRuntime is applied to the container's cgroup",
        |env| {
            need(env, "cpu", "cpu.rt_runtime_us")?;
            // A child can only get a realtime budget its parent has: give the
            // suite's parent cgroup one (the host's setup, not the runtime's).
            let parent = format!("/sys/fs/cgroup/cpu/{CGROUP_PARENT}");
            let _ = fs::create_dir(&parent);
            let budget = fs::read_to_string(format!("{parent}/cpu.rt_runtime_us"))
                .ok()
                .and_then(|s| s.trim().parse::<u64>().ok())
                .unwrap_or(0);
            if budget < 10000 && fs::write(format!("{parent}/cpu.rt_runtime_us"), "100000").is_err()
            {
                skip!("cannot give {parent} a realtime budget");
            }
            run_in_cgroup(
                env,
                &["cgfile=cpu/cpu.rt_runtime_us=10000"],
                &["cgfile=cpu/cpu.rt_runtime_us"],
                |s| {
                    set_resource(
                        s,
                        "cpu",
                        json!({"realtimeRuntime": 10000, "realtimePeriod": 1000000}),
                    )
                },
            )
        },
    );
    resource_case(
        r,
        "cpuset-cpus",
        "cpu",
        json!({"cpus": "0"}),
        &[("cpuset", "cpuset.cpus", "0")],
    );
    resource_case(
        r,
        "cpuset-mems",
        "cpu",
        json!({"mems": "0"}),
        &[("cpuset", "cpuset.mems", "0")],
    );

    // ---- pids ----
    resource_case(
        r,
        "pids-limit",
        "pids",
        json!({"limit": 32}),
        &[("pids", "pids.max", "32")],
    );
    r.add(
        "cgroups",
        "pids-limit-enforced",
        "Control groups: pids.limit stops forks beyond the limit",
        |env| {
            need(env, "pids", "pids.max")?;
            run_in_cgroup(
                env,
                &["forks-fail-before=40"],
                &["forks-fail-before=40"],
                |s| set_resource(s, "pids", json!({"limit": 16})),
            )
        },
    );

    // ---- blkio ----
    r.add(
        "cgroups",
        "blkio-weight",
        "Control groups: resources.blockIO.weight",
        |env| {
            need(env, "blkio", "blkio.weight")?;
            run_in_cgroup(
                env,
                &["cgfile=blkio/blkio.weight=500"],
                &["cgfile=blkio/blkio.weight"],
                |s| set_resource(s, "blockIO", json!({"weight": 500})),
            )
        },
    );
    r.add(
        "cgroups",
        "blkio-leafWeight",
        "Control groups: resources.blockIO.leafWeight",
        |env| {
            need(env, "blkio", "blkio.leaf_weight")?;
            run_in_cgroup(
                env,
                &["cgfile=blkio/blkio.leaf_weight=300"],
                &["cgfile=blkio/blkio.leaf_weight"],
                |s| set_resource(s, "blockIO", json!({"leafWeight": 300})),
            )
        },
    );
    r.add(
        "cgroups",
        "blkio-weightDevice",
        "Control groups: resources.blockIO.weightDevice",
        |env| {
            need(env, "blkio", "blkio.weight_device")?;
            let Some((maj, min)) = env.host.block_dev else {
                skip!("no block device found");
            };
            let e = format!("cgfile=blkio/blkio.weight_device={maj}:{min} 400");
            run_in_cgroup(env, &[&e], &["cgfile=blkio/blkio.weight_device"], |s| {
                set_resource(
                    s,
                    "blockIO",
                    json!({"weightDevice": [{"major": maj, "minor": min, "weight": 400}]}),
                )
            })
        },
    );
    for (name, key, file) in [
        (
            "read-bps",
            "throttleReadBpsDevice",
            "blkio.throttle.read_bps_device",
        ),
        (
            "write-bps",
            "throttleWriteBpsDevice",
            "blkio.throttle.write_bps_device",
        ),
        (
            "read-iops",
            "throttleReadIOPSDevice",
            "blkio.throttle.read_iops_device",
        ),
        (
            "write-iops",
            "throttleWriteIOPSDevice",
            "blkio.throttle.write_iops_device",
        ),
    ] {
        r.add(
            "cgroups",
            &format!("blkio-throttle-{name}"),
            &format!("Control groups: resources.blockIO.{key}"),
            move |env| {
                need(env, "blkio", file)?;
                let Some((maj, min)) = env.host.block_dev else {
                    skip!("no block device found");
                };
                let e = format!("cgfile=blkio/{file}={maj}:{min} 1048576");
                let m = format!("cgfile=blkio/{file}");
                run_in_cgroup(env, &[&e], &[&m], |s| {
                    set_resource(
                        s,
                        "blockIO",
                        json!({key: [{"major": maj, "minor": min, "rate": 1048576}]}),
                    )
                })
            },
        );
    }

    // ---- controllers this machine lacks ----
    r.add(
        "cgroups",
        "hugepageLimits",
        "Control groups: resources.hugepageLimits (hugetlb)",
        |env| {
            need(env, "hugetlb", "hugetlb.2MB.limit_in_bytes").map_err(|_| {
                Problem::Skip(
                    if env.host.cgroup2_controllers.iter().any(|c| c == "hugetlb") {
                        "hugetlb is a cgroup2 controller here, not a v1 one".to_string()
                    } else {
                        "no hugetlb controller".to_string()
                    },
                )
            })?;
            run_in_cgroup(
                env,
                &["cgfile=hugetlb/hugetlb.2MB.limit_in_bytes=4194304"],
                &["cgfile=hugetlb/hugetlb.2MB.limit_in_bytes"],
                |s| {
                    set_resource(
                        s,
                        "hugepageLimits",
                        json!([{"pageSize": "2MB", "limit": 4194304}]),
                    )
                },
            )
        },
    );
    r.add(
        "cgroups",
        "network-classID",
        "Control groups: resources.network.classID (net_cls)",
        |env| {
            need(env, "net_cls", "net_cls.classid")?;
            run_in_cgroup(
                env,
                &["cgfile=net_cls/net_cls.classid=1048577"],
                &["cgfile=net_cls/net_cls.classid"],
                |s| set_resource(s, "network", json!({"classID": 1048577})),
            )
        },
    );
    r.add(
        "cgroups",
        "network-priorities",
        "Control groups: resources.network.priorities (net_prio)",
        |env| {
            need(env, "net_prio", "net_prio.ifpriomap")?;
            run_in_cgroup(
                env,
                &["cgfile=net_prio/net_prio.ifpriomap=lo 5"],
                &["cgfile=net_prio/net_prio.ifpriomap"],
                |s| {
                    set_resource(
                        s,
                        "network",
                        json!({"priorities": [{"name": "lo", "priority": 5}]}),
                    )
                },
            )
        },
    );
    r.add("cgroups", "rdma", "Control groups: resources.rdma", |env| {
        need(env, "rdma", "rdma.max")?;
        skip!("no RDMA device to limit")
    });
    r.add(
        "cgroups",
        "unified-missing-controller-fails",
        "Unified: a key for a controller that is not present MUST generate an error",
        |env| {
            if env.host.cgroup2_controllers.iter().any(|c| c == "pids") {
                skip!("pids is a cgroup2 controller here");
            }
            let mut s = super::lifecycle::sleeper();
            let id = env.id();
            s.set("/linux/cgroupsPath", json!(Env::cgroups_path(&id)));
            set_resource(&mut s, "unified", json!({"pids.max": "10"}));
            env.expect_create_fails(&s)
        },
    );

    // ---- the device allowlist, by behaviour ----
    r.add(
        "cgroups",
        "devices-deny-all",
        "Allowed device list: a deny-all rule blocks a device node not allowed",
        |env| {
            need(env, "devices", "devices.list")?;
            need_loop()?;
            run_in_cgroup(
                env,
                &["open=/dev/kc-loop:r:EPERM", "open=/dev/null:rw:ok"],
                &["open=/dev/kc-loop:r"],
                |s| {
                    s.device("/dev/kc-loop", "b", 7, 0, 0o600, 0, 0);
                },
            )
        },
    );
    r.add(
        "cgroups",
        "devices-allow-rule",
        "Allowed device list: an allow rule grants exactly its access",
        |env| {
            need(env, "devices", "devices.list")?;
            need_loop()?;
            run_in_cgroup(
                env,
                &["open=/dev/kc-loop:r:ok", "open=/dev/kc-loop:w:EPERM"],
                &["open=/dev/kc-loop:r", "open=/dev/kc-loop:w"],
                |s| {
                    s.device("/dev/kc-loop", "b", 7, 0, 0o600, 0, 0);
                    set_resource(
                        s,
                        "devices",
                        json!([
                            {"allow": false, "access": "rwm"},
                            {"allow": true, "type": "b", "major": 7, "minor": 0, "access": "r"}
                        ]),
                    );
                },
            )
        },
    );
    r.add(
        "cgroups",
        "devices-listed-order",
        "Allowed device list: the runtime MUST apply entries in the listed order",
        |env| {
            need(env, "devices", "devices.list")?;
            need_loop()?;
            run_in_cgroup(
                env,
                &["open=/dev/kc-loop:r:ok", "open=/dev/kc-loop:w:EPERM"],
                &["open=/dev/kc-loop:r", "open=/dev/kc-loop:w"],
                |s| {
                    s.device("/dev/kc-loop", "b", 7, 0, 0o600, 0, 0);
                    set_resource(
                        s,
                        "devices",
                        json!([
                            {"allow": false, "access": "rwm"},
                            {"allow": true, "type": "b", "major": 7, "minor": 0, "access": "rw"},
                            {"allow": false, "type": "b", "major": 7, "minor": 0, "access": "w"}
                        ]),
                    );
                },
            )
        },
    );
    r.add(
        "cgroups",
        "devices-deny-all-last",
        "Allowed device list: a deny-all after an allow revokes it (listed order)",
        |env| {
            need(env, "devices", "devices.list")?;
            need_loop()?;
            run_in_cgroup(
                env,
                &["open=/dev/kc-loop:r:EPERM"],
                &["open=/dev/kc-loop:r"],
                |s| {
                    s.device("/dev/kc-loop", "b", 7, 0, 0o600, 0, 0);
                    set_resource(
                        s,
                        "devices",
                        json!([
                            {"allow": true, "type": "b", "major": 7, "minor": 0, "access": "rw"},
                            {"allow": false, "access": "rwm"}
                        ]),
                    );
                },
            )
        },
    );
    r.add(
        "cgroups",
        "devices-mknod-access",
        "Allowed device list: access m grants mknod, not read or write",
        |env| {
            need(env, "devices", "devices.list")?;
            need_loop()?;
            run_in_cgroup(
                env,
                &["mknod=/tmp/kc-m:b:7:0:ok", "open=/dev/kc-loop:r:EPERM"],
                &["mknod=/tmp/kc-m", "open=/dev/kc-loop:r"],
                |s| {
                    s.device("/dev/kc-loop", "b", 7, 0, 0o600, 0, 0);
                    s.caps("bounding", &["CAP_MKNOD"])
                        .caps("effective", &["CAP_MKNOD"])
                        .caps("permitted", &["CAP_MKNOD"]);
                    set_resource(
                        s,
                        "devices",
                        json!([
                            {"allow": false, "access": "rwm"},
                            {"allow": true, "type": "b", "major": 7, "minor": 0, "access": "m"}
                        ]),
                    );
                },
            )
        },
    );

    // ---- update ----
    update_case(
        r,
        "update-memory",
        &["--memory", "134217728"],
        "memory",
        "memory.limit_in_bytes",
        "134217728",
    );
    update_case(
        r,
        "update-pids",
        &["--pids-limit", "20"],
        "pids",
        "pids.max",
        "20",
    );
    update_case(
        r,
        "update-cpu-shares",
        &["--cpu-share", "256"],
        "cpu",
        "cpu.shares",
        "256",
    );
    update_case(
        r,
        "update-cpu-quota",
        &["--cpu-quota", "20000", "--cpu-period", "100000"],
        "cpu",
        "cpu.cfs_quota_us",
        "20000",
    );
    r.add(
        "cgroups",
        "update-resources-json",
        "runc CLI: update --resources FILE applies a LinuxResources document",
        |env| {
            need(env, "pids", "pids.max")?;
            need(env, "memory", "memory.limit_in_bytes")?;
            let (_b, c) = running_in_cgroup(env, super::lifecycle::sleeper(), |s| {
                set_resource(s, "memory", json!({"limit": 64 << 20}));
                set_resource(s, "pids", json!({"limit": 100}));
            })?;
            let f = env.scratch().join("resources.json");
            fs::write(
                &f,
                json!({"memory": {"limit": 96 << 20}, "pids": {"limit": 42}}).to_string(),
            )?;
            let out = env
                .rt
                .exec(&["update", "--resources", &f.to_string_lossy(), &c.id])?;
            ensure!(out.success(), "update failed: {}", one_line(&out.stderr));
            let mem = read_host("memory", &c.id, "memory.limit_in_bytes")?;
            let pids = read_host("pids", &c.id, "pids.max")?;
            ensure!(
                mem == (96u64 << 20).to_string() && pids == "42",
                "memory {mem}, pids {pids} after update"
            );
            Ok(())
        },
    );

    // ---- pause and resume ----
    r.add(
        "cgroups",
        "pause-status-paused",
        "runc CLI: pause freezes the container; state says paused",
        |env| {
            need(env, "freezer", "cgroup.procs")?;
            let (_b, c) = running_in_cgroup(env, counter(), |_| {})?;
            pause(env, &c)?;
            let st = c.status()?;
            ensure!(st == "paused", "status {st:?} after pause");
            let fz = read_host("freezer", &c.id, "freezer.state")?;
            ensure!(fz == "FROZEN", "freezer.state {fz:?}");
            Ok(())
        },
    );
    r.add(
        "cgroups",
        "pause-stops-progress",
        "runc CLI: a paused container's processes do not run",
        |env| {
            need(env, "freezer", "cgroup.procs")?;
            let (b, c) = running_in_cgroup(env, counter(), |_| {})?;
            ensure!(
                wait_for(WAIT, || count(&b).is_some()),
                "the counter never ran"
            );
            pause(env, &c)?;
            std::thread::sleep(Duration::from_millis(100));
            let a = count(&b);
            std::thread::sleep(Duration::from_millis(300));
            let z = count(&b);
            ensure!(a == z, "the counter moved from {a:?} to {z:?} while paused");
            Ok(())
        },
    );
    r.add(
        "cgroups",
        "resume-running",
        "runc CLI: resume thaws a paused container; state says running",
        |env| {
            need(env, "freezer", "cgroup.procs")?;
            let (b, c) = running_in_cgroup(env, counter(), |_| {})?;
            ensure!(
                wait_for(WAIT, || count(&b).is_some()),
                "the counter never ran"
            );
            pause(env, &c)?;
            let out = env.rt.exec(&["resume", &c.id])?;
            ensure!(out.success(), "resume failed: {}", one_line(&out.stderr));
            let st = c.status()?;
            ensure!(st == "running", "status {st:?} after resume");
            let a = count(&b);
            ensure!(
                wait_for(Duration::from_secs(3), || count(&b) > a),
                "the counter did not move after resume"
            );
            Ok(())
        },
    );
    r.add(
        "cgroups",
        "resume-not-paused-fails",
        "runc CLI: resume of a container that is not paused is an error",
        |env| {
            need(env, "freezer", "cgroup.procs")?;
            let (_b, c) = running_in_cgroup(env, super::lifecycle::sleeper(), |_| {})?;
            pause(env, &c)?;
            let out = env.rt.exec(&["resume", &c.id])?;
            ensure!(out.success(), "resume failed: {}", one_line(&out.stderr));
            let out = env.rt.exec(&["resume", &c.id])?;
            ensure!(!out.success(), "resume of a running container succeeded");
            Ok(())
        },
    );
    r.add(
        "cgroups",
        "delete-force-paused",
        "runc CLI: delete --force removes a paused container",
        |env| {
            need(env, "freezer", "cgroup.procs")?;
            let (_b, mut c) = running_in_cgroup(env, super::lifecycle::sleeper(), |_| {})?;
            pause(env, &c)?;
            let out = c.delete_force()?;
            ensure!(
                out.success(),
                "delete --force failed: {}",
                one_line(&out.stderr)
            );
            ensure!(wait_for(WAIT, || c.init_gone()), "the process survived");
            Ok(())
        },
    );

    r.add(
        "cgroups",
        "delete-force-with-exec",
        "Delete: --force removes a container with an exec'd process: the process and the cgroup",
        |env| {
            need(env, "pids", "cgroup.procs")?;
            let (_b, mut c) = running_in_cgroup(env, super::lifecycle::sleeper(), |_| {})?;
            let pf = env.scratch().join("exec.pid");
            let out = env.rt.exec(&[
                "exec",
                "-d",
                "--pid-file",
                &pf.to_string_lossy(),
                &c.id,
                "sleep",
                "1000",
            ])?;
            ensure!(out.success(), "exec -d failed: {}", one_line(&out.stderr));
            let epid: i32 = fs::read_to_string(&pf)?.trim().parse().unwrap_or(-1);
            let out = c.delete_force()?;
            ensure!(
                out.success(),
                "delete --force failed: {}",
                one_line(&out.stderr)
            );
            ensure!(
                wait_for(WAIT, || crate::host::proc_stat(epid)
                    .is_none_or(|(s, _, _)| s == 'Z')),
                "the exec'd process {epid} survived delete --force"
            );
            let dir = format!("/sys/fs/cgroup/pids/{CGROUP_PARENT}/{}", c.id);
            ensure!(
                wait_for(Duration::from_secs(2), || !std::path::Path::new(&dir)
                    .exists()),
                "{dir} survived delete --force"
            );
            Ok(())
        },
    );

    // ---- ps, events ----
    r.add(
        "cgroups",
        "ps-json",
        "runc CLI: ps --format json lists the container's processes",
        |env| {
            let (_b, c) = running_in_cgroup(env, super::lifecycle::sleeper(), |_| {})?;
            let out = env.rt.exec(&["ps", "--format", "json", &c.id])?;
            ensure!(out.success(), "ps failed: {}", one_line(&out.stderr));
            let v: Value = serde_json::from_str(out.stdout.trim())?;
            let pid = c.pid().unwrap_or(-1) as i64;
            ensure!(
                v.as_array()
                    .is_some_and(|a| a.iter().any(|p| p.as_i64() == Some(pid))),
                "ps printed {v} (want the init pid {pid})"
            );
            Ok(())
        },
    );
    r.add(
        "cgroups",
        "events-stats",
        "runc CLI: events --stats prints the container's resource statistics",
        |env| {
            let (_b, c) = running_in_cgroup(env, super::lifecycle::sleeper(), |s| {
                set_resource(s, "memory", json!({"limit": 64 << 20}));
            })?;
            let out = env.rt.exec(&["events", "--stats", &c.id])?;
            ensure!(
                out.success(),
                "events --stats failed: {}",
                one_line(&out.stderr)
            );
            let v: Value = serde_json::from_str(out.stdout.trim())?;
            ensure!(
                v["type"] == "stats" && v["id"] == c.id.as_str() && v["data"].is_object(),
                "events --stats printed {}",
                one_line(&out.stdout)
            );
            Ok(())
        },
    );
}
