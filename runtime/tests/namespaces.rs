//! Namespaces: each type new (with user-namespace id mappings and time
//! namespace offsets), and each joined through `path` to the namespace of a
//! helper `unshare … sleep` process (killed by PID afterwards). The inodes
//! are compared from inside the container by keel-check.

mod common;

use anyhow::{Context, Result};
use common::*;

#[test]
fn new_namespaces_of_every_type() {
    each_runtime(|ctx| -> Result<()> {
        let kinds = ["pid", "network", "ipc", "uts", "mount", "cgroup"];
        let mut checks: Vec<String> = Vec::new();
        for k in kinds {
            checks.push(format!("ns.{k}!={}", host_ns_inode(k)?));
        }
        checks.push("pid=1".into());
        checks.push("hostname".into());
        let refs: Vec<&str> = checks.iter().map(String::as_str).collect();
        let mut spec = Ctx::checker_spec(&refs);
        spec.namespace("cgroup", None).hostname("keel-ns");
        ctx.expect_pass(&spec)?;
        Ok(())
    });
}

#[test]
fn user_namespace_with_mappings() {
    each_runtime(|ctx| -> Result<()> {
        let user = format!("ns.user!={}", host_ns_inode("user")?);
        let mut spec = Ctx::checker_spec(&[
            "idmaps",
            &user,
            "mounts",
            "devices.default",
            "process.user",
            "process.capabilities",
        ]);
        spec.userns(0, 100000, 65536);
        ctx.expect_pass(&spec)?
            .passed_unskipped("idmaps /proc/self/uid_map")
            .map_err(anyhow::Error::msg)?;
        Ok(())
    });
}

#[test]
fn time_namespace_with_offsets() {
    each_runtime(|ctx| -> Result<()> {
        // runc 1.1.5 has no time namespace ("namespace {time} does not
        // exist"); keel must support it.
        if !ctx.is_keel() {
            return Ok(());
        }
        let time = format!("ns.time!={}", host_ns_inode("time")?);
        let mut spec = Ctx::checker_spec(&["timeOffsets", &time]);
        spec.namespace("time", None)
            .time_offset("monotonic", 86400, 5000)
            .time_offset("boottime", 172800, 0);
        ctx.expect_pass(&spec)?
            .passed_unskipped("timeOffsets")
            .map_err(anyhow::Error::msg)?;
        Ok(())
    });
}

fn join_by_path(ctx: &Ctx, kind: &str) -> Result<()> {
    let helper = NsHelper::spawn(kind)?;
    let want = format!("ns.{kind}={}", helper.inode()?);
    let mut checks = vec![want.as_str(), "fds=0,1,2"];
    if kind == "pid" {
        // Joined, not new: the helper's sleep is PID 1 there.
        checks.push("process.args");
    }
    let mut spec = Ctx::checker_spec(&checks);
    spec.namespace(kind, Some(helper.path()));
    if kind == "user" {
        // The runtime spec says a runtime joining a namespace by path must
        // error out if the config sets anything else for it, so keel refuses
        // uidMappings here. runc 1.1.5 instead insists on them ("User
        // namespaces enabled, but no uid mappings found"): give runc the
        // helper's real ones (unshare --map-root-user: 0 0 1).
        if !ctx.is_keel() {
            let m = serde_json::json!([{"containerID": 0, "hostID": 0, "size": 1}]);
            spec.set("/linux/uidMappings", m.clone())
                .set("/linux/gidMappings", m);
        }
        // gid 5 (tty) is unmapped there.
        spec.remove_mount("/dev/pts").mount(
            "/dev/pts",
            "devpts",
            "devpts",
            &[
                "nosuid",
                "noexec",
                "newinstance",
                "ptmxmode=0666",
                "mode=0620",
            ],
        );
    }
    if kind == "uts" {
        // Setting a hostname would change the helper's namespace.
        spec.remove("/hostname");
    }
    ctx.expect_pass(&spec)
        .with_context(|| format!("joining the {kind} namespace at {}", helper.path()))?;
    Ok(())
}

#[test]
fn join_network_ipc_uts_by_path() {
    each_runtime(|ctx| -> Result<()> {
        for kind in ["network", "ipc", "uts"] {
            join_by_path(ctx, kind)?;
        }
        Ok(())
    });
}

#[test]
fn join_pid_and_cgroup_by_path() {
    each_runtime(|ctx| -> Result<()> {
        for kind in ["pid", "cgroup"] {
            join_by_path(ctx, kind)?;
        }
        Ok(())
    });
}

#[test]
fn join_mount_namespace_by_path() {
    each_runtime(|ctx| -> Result<()> { join_by_path(ctx, "mount") });
}

#[test]
fn join_user_namespace_by_path() {
    each_runtime(|ctx| -> Result<()> { join_by_path(ctx, "user") });
}

#[test]
fn keel_refuses_mappings_for_a_joined_user_namespace() {
    each_runtime(|ctx| -> Result<()> {
        // runc requires them (see join_by_path); keel follows the spec.
        if !ctx.is_keel() {
            return Ok(());
        }
        let helper = NsHelper::spawn("user")?;
        let mut spec = sleeper();
        spec.namespace("user", Some(helper.path()));
        let m = serde_json::json!([{"containerID": 0, "hostID": 0, "size": 1}]);
        spec.set("/linux/uidMappings", m.clone())
            .set("/linux/gidMappings", m);
        expect_create_refused(ctx, &spec, &["uidMappings"])
    });
}

#[test]
fn join_time_namespace_by_path() {
    each_runtime(|ctx| -> Result<()> {
        // runc 1.1.5 has no time namespace: keel only.
        if !ctx.is_keel() {
            return Ok(());
        }
        join_by_path(ctx, "time")
    });
}
