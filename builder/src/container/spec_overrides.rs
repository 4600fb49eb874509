//! docker run's overrides, applied in two places: to a copy of the image
//! config before the bundle is written (entrypoint, command, env, user,
//! workdir) and to the bundle's `config.json` afterwards (mounts, network
//! namespace, resources, hooks).
//!
//! Pure data: edits values in memory, touches no file.

use std::path::Path;

use serde_json::{json, Value};

use super::options::{BindMount, Cpus, MemoryBytes, NetworkMode, TmpfsMount};
use crate::image::ImageConfig;

/// The overrides of the image config (docker's `--entrypoint`, CMD after
/// the image, `-e`, `--user`, `--workdir`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProcessOverrides {
    /// `--entrypoint`: `Some("")` clears the image's entrypoint.
    pub entrypoint: Option<String>,
    /// The command after the image name (empty: the image's Cmd).
    pub command: Vec<String>,
    /// `K=V` entries (already resolved), replacing image variables of the
    /// same name.
    pub env: Vec<String>,
    pub user: Option<String>,
    pub workdir: Option<String>,
}

/// The image config the container runs, as docker computes it:
/// `--entrypoint` replaces the entrypoint and drops the image's Cmd; a
/// command replaces the Cmd; `-e` replaces or adds variables.
pub fn apply_process_overrides(image: &ImageConfig, o: &ProcessOverrides) -> ImageConfig {
    let mut cfg = image.clone();
    let c = &mut cfg.config;
    if let Some(ep) = &o.entrypoint {
        c.entrypoint = if ep.is_empty() {
            None
        } else {
            Some(vec![ep.clone()])
        };
        c.cmd = None;
    }
    if !o.command.is_empty() {
        c.cmd = Some(o.command.clone());
    }
    if !o.env.is_empty() {
        let env = c.env.get_or_insert_with(Vec::new);
        let key = |e: &str| e.split_once('=').map(|(k, _)| k).unwrap_or(e).to_owned();
        for e in &o.env {
            let k = key(e);
            match env.iter_mut().find(|x| key(x) == k) {
                Some(slot) => e.clone_into(slot),
                None => env.push(e.clone()),
            }
        }
    }
    if let Some(u) = &o.user {
        c.user = Some(u.clone());
    }
    if let Some(w) = &o.workdir {
        c.working_dir = Some(w.clone());
    }
    cfg
}

/// True when the container would have a command to run.
pub fn has_command(cfg: &ImageConfig) -> bool {
    let c = &cfg.config;
    c.entrypoint.as_ref().is_some_and(|v| !v.is_empty())
        || c.cmd.as_ref().is_some_and(|v| !v.is_empty())
}

/// The overrides of `config.json`.
#[derive(Debug, Clone, Default)]
pub struct SpecEdits<'a> {
    pub binds: &'a [BindMount],
    pub tmpfs: &'a [TmpfsMount],
    pub network: NetworkMode,
    pub memory: Option<MemoryBytes>,
    pub cpus: Option<Cpus>,
    /// Files of the container directory bind-mounted over `/etc/hosts`,
    /// `/etc/resolv.conf` and `/etc/hostname` (docker's per-container
    /// copies).
    pub etc_files: &'a [(&'static str, &'a Path)],
    /// With [`NetworkMode::None`]: join this pinned network namespace
    /// (one whose loopback is up) instead of having the runtime make one.
    pub netns_path: Option<&'a Path>,
}

fn depth(dst: &str) -> usize {
    dst.split('/').filter(|c| !c.is_empty()).count()
}

/// Applies `e` to a runtime spec written by [`crate::bundle::write_bundle`].
pub fn apply_spec_edits(doc: &mut Value, e: &SpecEdits<'_>) {
    let mut user_mounts: Vec<(String, Value)> = Vec::new();
    for (dst, src) in e.etc_files {
        user_mounts.push((
            (*dst).to_owned(),
            json!({ "destination": dst, "type": "bind", "source": src,
                    "options": ["rbind", "rprivate"] }),
        ));
    }
    for t in e.tmpfs {
        // docker's defaults, then the user's options (later ones win).
        let mut opts: Vec<String> = ["noexec", "nosuid", "nodev"]
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        opts.extend(t.options.iter().cloned());
        user_mounts.push((
            t.destination.clone(),
            json!({ "destination": t.destination, "type": "tmpfs", "source": "tmpfs",
                    "options": opts }),
        ));
    }
    for b in e.binds {
        let mut opts = vec!["rbind".to_owned()];
        opts.push(b.propagation.clone().unwrap_or_else(|| "rprivate".into()));
        if b.read_only {
            opts.push("ro".into());
        }
        user_mounts.push((
            b.destination.clone(),
            json!({ "destination": b.destination, "type": "bind", "source": b.source,
                    "options": opts }),
        ));
    }
    // A mount the user gives replaces a default one on the same path (as
    // docker's `--tmpfs /dev/shm`), and parents mount before children.
    user_mounts.sort_by_key(|(dst, _)| depth(dst));
    let norm = |d: &str| d.trim_end_matches('/').to_owned();
    let user_dsts: Vec<String> = user_mounts.iter().map(|(d, _)| norm(d)).collect();
    if let Some(mounts) = doc.get_mut("mounts").and_then(Value::as_array_mut) {
        mounts.retain(|m| {
            let d = m.get("destination").and_then(Value::as_str).unwrap_or("");
            !user_dsts.contains(&norm(d))
        });
        mounts.extend(user_mounts.into_iter().map(|(_, m)| m));
    }

    let Some(linux) = doc.get_mut("linux").and_then(Value::as_object_mut) else {
        return;
    };
    if let Some(ns) = linux.get_mut("namespaces").and_then(Value::as_array_mut) {
        ns.retain(|n| n.get("type").and_then(Value::as_str) != Some("network"));
        match (e.network, e.netns_path) {
            (NetworkMode::Host, _) => {}
            (NetworkMode::None, None) => ns.push(json!({ "type": "network" })),
            (NetworkMode::None, Some(p)) => ns.push(json!({ "type": "network", "path": p })),
        }
    }
    let resources = linux.entry("resources").or_insert_with(|| json!({}));
    if let Some(r) = resources.as_object_mut() {
        if let Some(MemoryBytes(limit)) = e.memory {
            r.insert("memory".into(), json!({ "limit": limit }));
        }
        if let Some(c) = e.cpus {
            r.insert(
                "cpu".into(),
                json!({ "quota": c.quota, "period": c.period }),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(ep: Option<&[&str]>, cmd: Option<&[&str]>) -> ImageConfig {
        serde_json::from_value(json!({
            "architecture": "amd64",
            "os": "linux",
            "config": { "Entrypoint": ep, "Cmd": cmd, "Env": ["PATH=/bin", "A=img"] },
            "rootfs": { "type": "layers", "diff_ids": [] },
        }))
        .unwrap()
    }

    #[test]
    fn entrypoint_and_command_like_docker() {
        let img = image(Some(&["httpd", "-f"]), Some(&["-p", "80"]));
        let o = ProcessOverrides::default();
        assert_eq!(apply_process_overrides(&img, &o), img);

        let o = ProcessOverrides {
            command: vec!["-p".into(), "81".into()],
            ..Default::default()
        };
        let c = apply_process_overrides(&img, &o).config;
        assert_eq!(c.entrypoint.unwrap(), ["httpd", "-f"]);
        assert_eq!(c.cmd.unwrap(), ["-p", "81"]);

        // --entrypoint drops the image's Cmd.
        let o = ProcessOverrides {
            entrypoint: Some("sh".into()),
            ..Default::default()
        };
        let c = apply_process_overrides(&img, &o);
        assert_eq!(c.config.entrypoint.as_deref().unwrap(), ["sh"]);
        assert_eq!(c.config.cmd, None);
        assert!(has_command(&c));

        let o = ProcessOverrides {
            entrypoint: Some(String::new()),
            ..Default::default()
        };
        assert!(!has_command(&apply_process_overrides(&img, &o)));
        assert!(!has_command(&image(Some(&[]), None)));
    }

    #[test]
    fn env_user_workdir() {
        let img = image(None, Some(&["sh"]));
        let o = ProcessOverrides {
            env: vec!["A=run".into(), "B=2".into()],
            user: Some("1000:1000".into()),
            workdir: Some("/w".into()),
            ..Default::default()
        };
        let c = apply_process_overrides(&img, &o).config;
        assert_eq!(c.env.unwrap(), ["PATH=/bin", "A=run", "B=2"]);
        assert_eq!(c.user.as_deref(), Some("1000:1000"));
        assert_eq!(c.working_dir.as_deref(), Some("/w"));
    }

    #[test]
    fn spec_mounts_network_resources() {
        let mut doc = json!({
            "mounts": [
                { "destination": "/proc", "type": "proc", "source": "proc" },
                { "destination": "/dev/shm", "type": "tmpfs", "source": "shm" },
            ],
            "linux": {
                "resources": { "devices": [] },
                "namespaces": [{ "type": "pid" }, { "type": "network" }],
            },
        });
        let binds = [
            "/h/a:/data/sub:ro".parse::<BindMount>().unwrap(),
            "/h/b:/data".parse::<BindMount>().unwrap(),
        ];
        let tmpfs = ["/dev/shm:size=1m".parse::<TmpfsMount>().unwrap()];
        let hosts = Path::new("/c/hosts");
        let mut e = SpecEdits {
            binds: &binds,
            tmpfs: &tmpfs,
            network: NetworkMode::Host,
            memory: Some(MemoryBytes(32 << 20)),
            cpus: Some("0.5".parse().unwrap()),
            etc_files: &[("/etc/hosts", hosts)],
            netns_path: None,
        };
        apply_spec_edits(&mut doc, &e);
        let dsts: Vec<&str> = doc["mounts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["destination"].as_str().unwrap())
            .collect();
        // The replaced /dev/shm moves among the user's mounts, parents first.
        assert_eq!(
            dsts,
            ["/proc", "/data", "/etc/hosts", "/dev/shm", "/data/sub"]
        );
        assert_eq!(
            doc["mounts"][3]["options"],
            json!(["noexec", "nosuid", "nodev", "size=1m"])
        );
        assert_eq!(
            doc["mounts"][4]["options"],
            json!(["rbind", "rprivate", "ro"])
        );
        assert_eq!(doc["mounts"][1]["source"], "/h/b");
        assert_eq!(doc["linux"]["namespaces"], json!([{ "type": "pid" }]));
        assert_eq!(doc["linux"]["resources"]["memory"]["limit"], 32 << 20);
        assert_eq!(
            doc["linux"]["resources"]["cpu"],
            json!({"quota": 50000, "period": 100000})
        );

        let fresh = || json!({ "mounts": [], "linux": { "namespaces": [{ "type": "network" }, { "type": "pid" }] } });
        let mut doc2 = fresh();
        e.network = NetworkMode::None;
        apply_spec_edits(&mut doc2, &e);
        assert_eq!(
            doc2["linux"]["namespaces"],
            json!([{ "type": "pid" }, { "type": "network" }])
        );
        let mut doc3 = fresh();
        e.netns_path = Some(Path::new("/c/netns"));
        apply_spec_edits(&mut doc3, &e);
        assert_eq!(
            doc3["linux"]["namespaces"],
            json!([{ "type": "pid" }, { "type": "network", "path": "/c/netns" }])
        );
    }
}
