//! `keel spec`: the default `config.json`, the same document `runc spec` writes.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

/// runc 1.1.5's `runc spec` output, byte for byte.
pub const DEFAULT_SPEC: &str = include_str!("spec_default.json");

/// Errors from `keel spec`.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    #[error("file {0} exists; remove it first")]
    Exists(PathBuf),
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The document `runc spec --rootless` writes for the calling user.
pub fn rootless_spec(uid: u32, gid: u32) -> String {
    let mut v: Value = serde_json::from_str(DEFAULT_SPEC).expect("embedded spec is valid JSON");
    for m in v["mounts"].as_array_mut().into_iter().flatten() {
        if m["destination"] == "/dev/pts" {
            if let Some(opts) = m["options"].as_array_mut() {
                opts.retain(|o| o != "gid=5");
            }
        }
        if m["destination"] == "/sys" {
            m["type"] = json!("none");
            m["source"] = json!("/sys");
            if let Some(opts) = m["options"].as_array_mut() {
                opts.insert(0, json!("rbind"));
            }
        }
    }
    let linux = v["linux"].as_object_mut().expect("linux object");
    linux.shift_remove("resources");
    let namespaces = linux.shift_remove("namespaces");
    let masked = linux.shift_remove("maskedPaths");
    let readonly = linux.shift_remove("readonlyPaths");
    linux.insert(
        "uidMappings".into(),
        json!([{"containerID": 0, "hostID": uid, "size": 1}]),
    );
    linux.insert(
        "gidMappings".into(),
        json!([{"containerID": 0, "hostID": gid, "size": 1}]),
    );
    let mut namespaces = namespaces.unwrap_or_else(|| json!([]));
    if let Some(list) = namespaces.as_array_mut() {
        list.retain(|n| n["type"] != "network");
        list.push(json!({"type": "user"}));
    }
    linux.insert("namespaces".into(), namespaces);
    if let Some(m) = masked {
        linux.insert("maskedPaths".into(), m);
    }
    if let Some(r) = readonly {
        linux.insert("readonlyPaths".into(), r);
    }
    to_tab_json(&v)
}

/// Pretty JSON indented with tabs, as runc writes it.
pub fn to_tab_json(v: &Value) -> String {
    let mut out = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"\t");
    let mut ser = serde_json::Serializer::with_formatter(&mut out, fmt);
    serde::Serialize::serialize(v, &mut ser).expect("serialising a Value cannot fail");
    String::from_utf8(out).expect("serde_json writes UTF-8")
}

/// Writes `config.json` into `bundle`, refusing to overwrite one.
pub fn write_spec(bundle: &Path, rootless: bool) -> Result<(), SpecError> {
    let path = bundle.join("config.json");
    let text = if rootless {
        rootless_spec(
            nix::unistd::getuid().as_raw(),
            nix::unistd::getgid().as_raw(),
        )
    } else {
        DEFAULT_SPEC.to_string()
    };
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .map_err(|source| {
            if source.kind() == std::io::ErrorKind::AlreadyExists {
                SpecError::Exists(path.clone())
            } else {
                SpecError::Write {
                    path: path.clone(),
                    source,
                }
            }
        })?;
    f.write_all(text.as_bytes())
        .map_err(|source| SpecError::Write { path, source })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_spec_parses_as_oci() {
        let spec: oci_spec::runtime::Spec = serde_json::from_str(DEFAULT_SPEC).unwrap();
        assert_eq!(spec.hostname().as_deref(), Some("runc"));
    }

    #[test]
    fn rootless_matches_runc_shape() {
        let v: Value = serde_json::from_str(&rootless_spec(1000, 1000)).unwrap();
        let ns: Vec<_> = v["linux"]["namespaces"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["type"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(ns, ["pid", "ipc", "uts", "mount", "user"]);
        assert_eq!(v["linux"]["uidMappings"][0]["hostID"], 1000);
        assert!(v["linux"].get("resources").is_none());
        let sys = v["mounts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["destination"] == "/sys")
            .unwrap();
        assert_eq!(sys["options"][0], "rbind");
    }
}
