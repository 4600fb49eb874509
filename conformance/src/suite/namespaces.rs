//! config-linux.md Namespaces (new, inherited, joined, errors), hostname
//! and domainname, user namespace mappings, time offsets, sysctl and
//! personality.

use std::fs;
use std::os::unix::fs::MetadataExt;

use super::env::NS_TYPES;
use super::lifecycle::checker;
use super::{Env, Problem, Registry};
use crate::harness::{proc_ns_name, NsHelper};
use crate::spec::Spec;

/// `spec` with a new namespace of `kind` (with a mapping for `user`).
fn with_new_ns(s: &mut Spec, kind: &str) {
    if kind == "user" {
        s.userns(0, 100000, 65536);
    } else {
        s.namespace(kind, None);
    }
}

fn ns_expect(kind: &str, op: &str, inode: u64) -> String {
    format!("ns.{}{op}{inode}", proc_ns_name(kind))
}

fn new_ns_case(r: &mut Registry, kind: &'static str) {
    r.add(
        "namespaces",
        &format!("new-{kind}"),
        &format!("Namespaces: without path the runtime MUST create a new {kind} namespace"),
        move |env| {
            let host = env.host_ns(kind)?;
            let e = ns_expect(kind, "!=", host);
            let mut s = checker(&[&e]);
            with_new_ns(&mut s, kind);
            env.check(&s, &[&e])
        },
    );
}

fn inherit_case(r: &mut Registry, kind: &'static str) {
    r.add(
        "namespaces",
        &format!("inherit-{kind}"),
        &format!("Namespaces: without a {kind} entry the container MUST inherit the runtime's"),
        move |env| {
            let host = env.host_ns(kind)?;
            let e = ns_expect(kind, "=", host);
            let mut s = checker(&[&e]);
            s.remove_namespace(kind);
            if kind == "uts" {
                s.remove("/hostname");
            }
            env.check(&s, &[&e])
        },
    );
}

fn join_case(r: &mut Registry, kind: &'static str) {
    r.add(
        "namespaces",
        &format!("join-{kind}"),
        &format!(
            "Namespaces: with path the runtime MUST place the process in that {kind} namespace"
        ),
        move |env| {
            env.host_ns(kind)?;
            // A user namespace that maps the ids the default mounts use
            // (devpts gid=5), not just root.
            let helper = if kind == "user" {
                let h = NsHelper::spawn_with("user", &["--user"], false)?;
                let pid = h
                    .path()
                    .trim_start_matches("/proc/")
                    .split('/')
                    .next()
                    .unwrap_or("");
                for m in ["uid_map", "gid_map"] {
                    fs::write(format!("/proc/{pid}/{m}"), "0 0 65536\n")?;
                }
                h
            } else {
                NsHelper::spawn(kind)?
            };
            let inode = helper.inode()?;
            let e = ns_expect(kind, "=", inode);
            let mut s = checker(&[&e]);
            s.namespace(kind, Some(helper.path()));
            if kind == "user" {
                s.remove("/linux/uidMappings").remove("/linux/gidMappings");
            }
            env.check(&s, &[&e])
        },
    );
}

fn sysctl_case(r: &mut Registry, name: &str, key: &'static str, value: &'static str) {
    r.add(
        "sysctl",
        name,
        &format!("Sysctl: {key} is set in the container"),
        move |env| {
            let mut s = checker(&["sysctl"]);
            s.sysctl(key, value);
            env.check(&s, &[&format!("sysctl {key}")])
        },
    );
}

/// Create a container with a new user namespace and return the host view
/// of its init's status.
fn userns_host_status(env: &Env, s: &Spec) -> Result<String, Problem> {
    let (_b, c) = env.create(s)?;
    let Some(pid) = c.pid() else {
        fail!("no pid after create");
    };
    Ok(fs::read_to_string(format!("/proc/{pid}/status"))?)
}

pub fn register(r: &mut Registry) {
    for kind in NS_TYPES {
        new_ns_case(r, kind);
    }
    for kind in ["pid", "network", "ipc", "uts", "user", "cgroup", "time"] {
        inherit_case(r, kind);
    }
    for kind in NS_TYPES {
        join_case(r, kind);
    }
    r.add(
        "namespaces",
        "join-wrong-type-fails",
        "Namespaces: a path not associated with a namespace of type MUST generate an error",
        |env| {
            let helper = NsHelper::spawn("network")?;
            let mut s = super::lifecycle::sleeper();
            s.namespace("ipc", Some(helper.path()));
            env.expect_create_fails(&s)
        },
    );
    r.add(
        "namespaces",
        "join-not-a-namespace-fails",
        "Namespaces: a path that is not a namespace file MUST generate an error",
        |env| {
            let f = env.scratch().join("not-a-namespace");
            fs::write(&f, "")?;
            let mut s = super::lifecycle::sleeper();
            s.namespace("network", Some(&f.to_string_lossy()));
            env.expect_create_fails(&s)
        },
    );
    r.add(
        "namespaces",
        "join-missing-path-fails",
        "Namespaces: a path that does not exist MUST generate an error",
        |env| {
            let mut s = super::lifecycle::sleeper();
            s.namespace("network", Some("/proc/2147483646/ns/net"));
            env.expect_create_fails(&s)
        },
    );
    r.add(
        "namespaces",
        "duplicate-type-fails",
        "Namespaces: duplicated namespace types MUST generate an error",
        |env| {
            let mut s = super::lifecycle::sleeper();
            let mut ns = s
                .value()
                .pointer("/linux/namespaces")
                .and_then(|v| v.as_array())
                .cloned()
                .unwrap_or_default();
            ns.push(serde_json::json!({"type": "network"}));
            s.set("/linux/namespaces", serde_json::Value::Array(ns));
            env.expect_create_fails(&s)
        },
    );
    r.add(
        "namespaces",
        "unknown-type-fails",
        "Valid values: an unknown namespace type MUST generate an error",
        |env| {
            let mut s = super::lifecycle::sleeper();
            s.namespace("keelns", None);
            env.expect_create_fails(&s)
        },
    );
    r.add(
        "namespaces",
        "hostname",
        "hostname: the container's hostname in its UTS namespace",
        |env| {
            let mut s = checker(&["hostname"]);
            s.hostname("keel-conformance-host");
            env.check(&s, &["hostname"])
        },
    );
    r.add(
        "namespaces",
        "domainname",
        "domainname: the container's domainname in its UTS namespace",
        |env| {
            let mut s = checker(&["domainname"]);
            s.domainname("conformance.example");
            env.check(&s, &["domainname"])
        },
    );
    r.add(
        "namespaces",
        "network-only-loopback",
        "Namespaces network: the container has its own network stack (only lo)",
        |env| env.check(&checker(&["netdevs=lo"]), &["netdevs"]),
    );
    r.add(
        "namespaces",
        "pid-isolated",
        "Namespaces pid: processes see only their own pid namespace",
        |env| env.check(&checker(&["pid=1", "absent=/proc/2"]), &["pid=1"]),
    );
    r.add(
        "namespaces",
        "cgroup-namespace-root",
        "Namespaces cgroup: the container's cgroups appear at the namespace root",
        |env| {
            let mut s = checker(&["cgroup-root"]);
            s.namespace("cgroup", None);
            env.check(&s, &["cgroup-root"])
        },
    );

    // ---- user namespace mappings ----
    r.add(
        "idmaps",
        "uid-gid-maps",
        "uidMappings/gidMappings: the user namespace's maps",
        |env| {
            let mut s = checker(&["idmaps", "process.user"]);
            s.userns(0, 100000, 65536);
            env.check(
                &s,
                &["idmaps /proc/self/uid_map", "idmaps /proc/self/gid_map"],
            )
        },
    );
    r.add(
        "idmaps",
        "several-ranges",
        "uidMappings: several ranges",
        |env| {
            let mut s = checker(&["idmaps"]);
            s.namespace("user", None);
            let m = serde_json::json!([
                {"containerID": 0, "hostID": 100000, "size": 1000},
                {"containerID": 1000, "hostID": 300000, "size": 64536}
            ]);
            s.set("/linux/uidMappings", m.clone())
                .set("/linux/gidMappings", m);
            env.check(
                &s,
                &["idmaps /proc/self/uid_map", "idmaps /proc/self/gid_map"],
            )
        },
    );
    r.add(
        "idmaps",
        "root-capabilities",
        "User namespace: uid 0 inside holds its capabilities",
        |env| {
            let mut s = checker(&["process.user", "process.capabilities"]);
            s.userns(0, 100000, 65536);
            env.check(&s, &["process.capabilities"])
        },
    );
    r.add(
        "idmaps",
        "host-view-uid",
        "User namespace: container uid 0 is the mapped host uid",
        |env| {
            let mut s = super::lifecycle::sleeper();
            s.userns(0, 100000, 65536);
            let st = userns_host_status(env, &s)?;
            let uid = crate::checker::parse::status_field(&st, "Uid").unwrap_or("");
            ensure!(
                uid.split_whitespace().all(|u| u == "100000"),
                "host sees Uid {uid:?} (want 100000)"
            );
            Ok(())
        },
    );
    r.add(
        "idmaps",
        "non-root-user-mapped",
        "User namespace: process.user is in the container namespace",
        |env| {
            let mut s = super::lifecycle::sleeper();
            s.userns(0, 100000, 65536).user(1000, 1000);
            let st = userns_host_status(env, &s)?;
            let uid = crate::checker::parse::status_field(&st, "Uid").unwrap_or("");
            ensure!(
                uid.split_whitespace().all(|u| u == "101000"),
                "host sees Uid {uid:?} (want 101000)"
            );
            Ok(())
        },
    );
    r.add(
        "idmaps",
        "rootfs-ownership-unchanged",
        "User namespace mappings: the runtime SHOULD NOT chown the filesystem",
        |env| {
            let mut s = checker(&["idmaps"]);
            s.userns(0, 100000, 65536);
            let b = env.bundle(&s)?;
            let (out, tap) = env.run_bundle(&b)?;
            super::env::judge_tap(&out, &tap, &[])?;
            let m = fs::symlink_metadata(b.rootfs().join("bin/busybox"))?;
            ensure!(m.uid() == 0, "the rootfs was chowned to {}", m.uid());
            Ok(())
        },
    );

    // ---- time namespace ----
    for clock in ["monotonic", "boottime"] {
        r.add(
            "time",
            &format!("offset-{clock}"),
            &format!("timeOffsets: the {clock} offset of the time namespace"),
            move |env| {
                if !env.host.time_ns {
                    skip!("the kernel has no time namespaces");
                }
                let e = format!("clock={clock}>=1000000");
                let mut s = checker(&["timeOffsets", &e]);
                s.namespace("time", None).time_offset(clock, 1_000_000, 500);
                env.check(&s, &["timeOffsets", &e])
            },
        );
    }
    r.add(
        "time",
        "both-offsets",
        "timeOffsets: monotonic and boottime together",
        |env| {
            if !env.host.time_ns {
                skip!("the kernel has no time namespaces");
            }
            let mut s = checker(&["timeOffsets"]);
            s.namespace("time", None)
                .time_offset("monotonic", 7200, 0)
                .time_offset("boottime", 86400, 123);
            env.check(&s, &["timeOffsets"])
        },
    );

    // ---- sysctl ----
    sysctl_case(r, "net-ip_forward", "net.ipv4.ip_forward", "1");
    sysctl_case(r, "net-somaxconn", "net.core.somaxconn", "1000");
    sysctl_case(
        r,
        "net-port-range",
        "net.ipv4.ip_local_port_range",
        "20000 40000",
    );
    sysctl_case(r, "ipc-msgmax", "kernel.msgmax", "4096");
    sysctl_case(r, "ipc-shm_rmid_forced", "kernel.shm_rmid_forced", "1");
    sysctl_case(r, "ipc-mqueue", "fs.mqueue.msg_max", "20");
    sysctl_case(r, "uts-domainname", "kernel.domainname", "sysctl.example");
    r.add(
        "sysctl",
        "unknown-key-fails",
        "Sysctl: a key that cannot be set MUST generate an error",
        |env| {
            let mut s = super::lifecycle::sleeper();
            s.sysctl("kernel.keel_no_such_sysctl", "1");
            env.expect_create_fails(&s)
        },
    );

    // ---- personality ----
    r.add(
        "personality",
        "linux32",
        "Personality: LINUX32 sets the execution domain",
        |env| {
            let mut s = checker(&["personality"]);
            s.personality("LINUX32");
            env.check(&s, &["personality"])
        },
    );
    r.add(
        "personality",
        "linux32-uname",
        "Personality: LINUX32 makes uname report a 32-bit machine",
        |env| {
            let mut s = checker(&["machine=i686"]);
            s.personality("LINUX32");
            env.check(&s, &["machine=i686"])
        },
    );
    r.add(
        "personality",
        "linux",
        "Personality: LINUX is the default domain",
        |env| {
            let mut s = checker(&["personality", "machine=x86_64"]);
            s.personality("LINUX");
            env.check(&s, &["personality"])
        },
    );
    r.add(
        "personality",
        "invalid-domain-fails",
        "Valid values: a domain outside LINUX/LINUX32 MUST generate an error",
        |env| {
            let mut s = super::lifecycle::sleeper();
            s.personality("BSD");
            env.expect_create_fails(&s)
        },
    );
}
