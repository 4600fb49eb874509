//! features.md: the `features` document must be complete and honest. Every
//! claim is checked against what the runtime actually does.

use std::fs;

use serde_json::{json, Value};

use super::env::NS_TYPES;
use super::lifecycle::checker;
use super::{CaseResult, Env, Registry};
use crate::checker::parse;
use crate::harness::proc_ns_name;
use crate::spec::Spec;

/// Every option the spec's Linux mount option table marks MUST.
pub const MUST_MOUNT_OPTIONS: &[&str] = &[
    "async",
    "atime",
    "bind",
    "defaults",
    "dev",
    "diratime",
    "dirsync",
    "exec",
    "iversion",
    "lazytime",
    "loud",
    "noatime",
    "nodev",
    "nodiratime",
    "noexec",
    "noiversion",
    "nolazytime",
    "norelatime",
    "nostrictatime",
    "nosuid",
    "private",
    "rbind",
    "relatime",
    "remount",
    "ro",
    "rprivate",
    "rshared",
    "rslave",
    "runbindable",
    "rw",
    "shared",
    "silent",
    "slave",
    "strictatime",
    "suid",
    "sync",
    "unbindable",
];

const SPEC_ACTIONS: &[&str] = &[
    "SCMP_ACT_KILL",
    "SCMP_ACT_KILL_PROCESS",
    "SCMP_ACT_KILL_THREAD",
    "SCMP_ACT_TRAP",
    "SCMP_ACT_ERRNO",
    "SCMP_ACT_TRACE",
    "SCMP_ACT_ALLOW",
    "SCMP_ACT_LOG",
    "SCMP_ACT_NOTIFY",
];

fn strings(v: &Value, ptr: &str) -> Vec<String> {
    v.pointer(ptr)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn semver(v: &str) -> Option<(u64, u64, u64)> {
    let core = v.split(['-', '+']).next()?;
    let mut it = core.split('.').map(|p| p.parse::<u64>().ok());
    Some((it.next()??, it.next()??, it.next()??))
}

/// A container with a new namespace of each of `kinds`: do they all work?
fn namespaces_work(env: &Env, kinds: &[String]) -> CaseResult {
    let mut args = Vec::new();
    for k in kinds {
        let host = env.host_ns(k)?;
        args.push(format!("ns.{}!={host}", proc_ns_name(k)));
    }
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut s = checker(&a);
    for k in kinds {
        if k == "user" {
            s.userns(0, 100000, 65536);
        } else {
            s.namespace(k, None);
        }
    }
    env.check(&s, &a)
}

pub fn register(r: &mut Registry) {
    r.add(
        "features",
        "valid-json",
        "features: the runtime prints a features document (JSON object)",
        |env| {
            let out = env.rt.exec(&["features"])?;
            ensure!(
                out.success(),
                "features failed ({}): {}",
                out.code,
                out.stderr.trim()
            );
            let v: Value = serde_json::from_str(&out.stdout)?;
            ensure!(v.is_object(), "features printed {v}");
            Ok(())
        },
    );
    r.add(
        "features",
        "oci-version-range",
        "features: ociVersionMin and ociVersionMax are SemVer, min <= max",
        |env| {
            let f = env.features()?;
            let min = f["ociVersionMin"].as_str().and_then(semver);
            let max = f["ociVersionMax"].as_str().and_then(semver);
            ensure!(
                min.is_some() && max.is_some() && min <= max,
                "ociVersionMin {} ociVersionMax {}",
                f["ociVersionMin"],
                f["ociVersionMax"]
            );
            Ok(())
        },
    );
    r.add(
        "features",
        "hooks-complete",
        "features: hooks lists every hook kind the runtime runs",
        |env| {
            let have = strings(env.features()?, "/hooks");
            let missing: Vec<&str> = super::hooks::KINDS
                .iter()
                .copied()
                .filter(|k| !have.iter().any(|h| h == k))
                .collect();
            ensure!(missing.is_empty(), "hooks lacks {missing:?}");
            Ok(())
        },
    );
    r.add(
        "features",
        "mount-options-must",
        "features: mountOptions lists every MUST option of the spec's table",
        |env| {
            let have = strings(env.features()?, "/mountOptions");
            let missing: Vec<&str> = MUST_MOUNT_OPTIONS
                .iter()
                .copied()
                .filter(|o| !have.iter().any(|h| h == o))
                .collect();
            ensure!(missing.is_empty(), "mountOptions lacks {missing:?}");
            Ok(())
        },
    );
    r.add(
        "features",
        "namespaces-listed-work",
        "features: every namespace listed can be created",
        |env| {
            let listed = strings(env.features()?, "/linux/namespaces");
            ensure!(!listed.is_empty(), "linux.namespaces is empty");
            let unknown: Vec<&String> = listed
                .iter()
                .filter(|n| !NS_TYPES.contains(&n.as_str()))
                .collect();
            ensure!(unknown.is_empty(), "unknown namespace types {unknown:?}");
            namespaces_work(env, &listed)
        },
    );
    r.add(
        "features",
        "namespaces-complete",
        "features: a namespace the runtime can create is listed (complete and honest)",
        |env| {
            let listed = strings(env.features()?, "/linux/namespaces");
            let mut unlisted_working = Vec::new();
            for k in NS_TYPES {
                if listed.iter().any(|l| l == k) || !env.host.ns.contains_key(k) {
                    continue;
                }
                if namespaces_work(env, &[k.to_string()]).is_ok() {
                    unlisted_working.push(k);
                }
            }
            ensure!(
                unlisted_working.is_empty(),
                "{unlisted_working:?} work but are not listed"
            );
            Ok(())
        },
    );
    r.add(
        "features",
        "capabilities-complete",
        "features: capabilities lists every capability the kernel knows",
        |env| {
            let listed = strings(env.features()?, "/linux/capabilities");
            let last: u32 = fs::read_to_string("/proc/sys/kernel/cap_last_cap")?
                .trim()
                .parse()
                .unwrap_or(40);
            let all = parse::cap_names((1u64 << (last + 1)) - 1);
            let missing: Vec<&String> = all.iter().filter(|c| !listed.contains(c)).collect();
            ensure!(missing.is_empty(), "capabilities lacks {missing:?}");
            Ok(())
        },
    );
    r.add(
        "features",
        "capabilities-valid",
        "features: every capability listed is a real one",
        |env| {
            let listed = strings(env.features()?, "/linux/capabilities");
            let bad: Vec<&String> = listed
                .iter()
                .filter(|c| parse::cap_bit(c).is_none())
                .collect();
            ensure!(bad.is_empty(), "unknown capabilities {bad:?}");
            Ok(())
        },
    );
    r.add(
        "features",
        "seccomp-honest",
        "features: seccomp.enabled is true iff a seccomp profile is applied (never silently ignored)",
        |env| {
            let enabled = env.features()?.pointer("/linux/seccomp/enabled") == Some(&json!(true));
            let mut s = checker(&["syscall=uname::EPERM"]);
            s.set(
                "/linux/seccomp",
                json!({"defaultAction": "SCMP_ACT_ALLOW",
                       "syscalls": [{"names": ["uname"], "action": "SCMP_ACT_ERRNO"}]}),
            );
            if enabled {
                env.check(&s, &["syscall=uname()"])
            } else {
                // Refusing the profile is honest; running without it is not.
                let (_out, tap) = env.run(&s)?;
                let ran_unfiltered = tap
                    .find("syscall=uname()")
                    .is_some_and(|l| !l.ok);
                ensure!(
                    !ran_unfiltered,
                    "seccomp.enabled is false, yet a profile was accepted and silently not applied"
                );
                Ok(())
            }
        },
    );
    r.add(
        "features",
        "seccomp-actions-valid",
        "features: every seccomp action listed is one of the spec's",
        |env| {
            let f = env.features()?;
            if f.pointer("/linux/seccomp/enabled") != Some(&json!(true)) {
                skip!("seccomp is not enabled");
            }
            let listed = strings(f, "/linux/seccomp/actions");
            let bad: Vec<&String> = listed
                .iter()
                .filter(|a| !SPEC_ACTIONS.contains(&a.as_str()))
                .collect();
            ensure!(
                !listed.is_empty(),
                "seccomp is enabled but lists no actions"
            );
            ensure!(bad.is_empty(), "unknown actions {bad:?}");
            Ok(())
        },
    );
    r.add(
        "features",
        "cgroup-honest",
        "features: cgroup v1/v2 claimed means resources are applied",
        |env| {
            let f = env.features()?;
            let claims = f.pointer("/linux/cgroup/v1") == Some(&json!(true))
                || f.pointer("/linux/cgroup/v2") == Some(&json!(true));
            if !claims {
                return Ok(());
            }
            if env.host.cgroup2_unified {
                skip!("cgroup v2 host: the v1 memory file is not there to read");
            }
            let id = env.id();
            let mut s = checker(&["cgfile=memory/memory.limit_in_bytes=67108864"]);
            s.set("/linux/cgroupsPath", json!(Env::cgroups_path(&id)))
                .set("/linux/resources/memory", json!({"limit": 64 << 20}));
            let b = env.bundle(&s)?;
            let mut c = env.ctr(&id);
            let out = c.run(crate::driver::CreateOptions::bundle(b.path()))?;
            super::env::judge_tap(
                &out,
                &crate::tap::TapReport::parse(&out.stdout),
                &["cgfile=memory/memory.limit_in_bytes"],
            )
        },
    );
    r.add(
        "features",
        "idmap-honest",
        "features: mountExtensions.idmap false means an idmap mount is refused, not mounted unmapped",
        |env| {
            let f = env.features()?;
            if f.pointer("/linux/mountExtensions/idmap/enabled") == Some(&json!(true)) {
                skip!("idmapped mounts are claimed (mounts/idmap checks them)");
            }
            let src = env.scratch().join("idsrc");
            fs::create_dir_all(&src)?;
            let mut s = Spec::new(&["true"]);
            s.userns(0, 100000, 65536);
            if let Some(a) = s
                .value_mut()
                .pointer_mut("/mounts")
                .and_then(Value::as_array_mut)
            {
                a.push(json!({
                    "destination": "/id", "type": "bind", "source": src.to_string_lossy(),
                    "options": ["bind", "idmap"],
                    "uidMappings": [{"containerID": 0, "hostID": 100000, "size": 65536}],
                    "gidMappings": [{"containerID": 0, "hostID": 100000, "size": 65536}],
                }));
            }
            env.expect_create_fails(&s)
        },
    );
    r.add(
        "features",
        "annotations-strings",
        "features: annotations, if present, map strings to strings",
        |env| match env.features()?.get("annotations") {
            None | Some(Value::Null) => Ok(()),
            Some(Value::Object(m)) => {
                ensure!(
                    m.values().all(Value::is_string),
                    "non-string annotation values"
                );
                Ok(())
            }
            Some(other) => fail!("annotations is {other}"),
        },
    );
}
