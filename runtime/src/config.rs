//! Loading `config.json` with errors that name the file and the field.
//!
//! Parsing goes through `serde_path_to_error`, so a wrong type reports the
//! JSON path (`process.user.uid`) as well as line and column. [`validate`]
//! then checks what the types cannot: a root that exists, a process to run,
//! namespaces that are not repeated, mappings for a user namespace.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use oci_spec::runtime::{LinuxNamespaceType, Spec};

/// Errors from reading or checking a bundle's configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}; check the bundle path (-b/--bundle)")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: invalid JSON at line {line} column {column}{}: {msg}", field_suffix(.field))]
    Parse {
        path: PathBuf,
        field: String,
        line: usize,
        column: usize,
        msg: String,
    },
    #[error("{path}: field {field}: {msg}")]
    Invalid {
        path: PathBuf,
        field: String,
        msg: String,
    },
}

fn field_suffix(field: &str) -> String {
    if field.is_empty() || field == "." {
        String::new()
    } else {
        format!(" (field {field})")
    }
}

/// A parsed bundle: the canonical bundle path, the spec and the rootfs path.
#[derive(Debug, Clone)]
pub struct Bundle {
    pub dir: PathBuf,
    pub spec: Spec,
    pub rootfs: PathBuf,
}

/// Reads `<bundle>/config.json`, parses and validates it.
pub fn load_bundle(dir: &Path) -> Result<Bundle, ConfigError> {
    let dir = std::fs::canonicalize(dir).map_err(|source| ConfigError::Read {
        path: dir.to_path_buf(),
        source,
    })?;
    let path = dir.join("config.json");
    let bytes = std::fs::read(&path).map_err(|source| ConfigError::Read {
        path: path.clone(),
        source,
    })?;
    let spec = parse_spec(&path, &bytes)?;
    let rootfs = validate(&path, &dir, &spec)?;
    Ok(Bundle { dir, spec, rootfs })
}

/// Parses spec JSON, naming the field on a type error.
pub fn parse_spec(path: &Path, bytes: &[u8]) -> Result<Spec, ConfigError> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize::<_, Spec>(de).map_err(|e| {
        let field = e.path().to_string();
        let inner = e.inner();
        ConfigError::Parse {
            path: path.to_path_buf(),
            field,
            line: inner.line(),
            column: inner.column(),
            msg: inner.to_string(),
        }
    })
}

/// Checks what the types cannot; returns the absolute rootfs path.
pub fn validate(path: &Path, bundle: &Path, spec: &Spec) -> Result<PathBuf, ConfigError> {
    let invalid = |field: &str, msg: String| ConfigError::Invalid {
        path: path.to_path_buf(),
        field: field.to_string(),
        msg,
    };
    let root = spec.root().as_ref().ok_or_else(|| {
        invalid(
            "root",
            "missing; set root.path to the rootfs directory".into(),
        )
    })?;
    let rootfs = if root.path().is_absolute() {
        root.path().clone()
    } else {
        bundle.join(root.path())
    };
    match std::fs::metadata(&rootfs) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => {
            return Err(invalid(
                "root.path",
                format!("{} is not a directory", rootfs.display()),
            ))
        }
        Err(e) => {
            return Err(invalid(
                "root.path",
                format!("rootfs {} does not exist: {e}", rootfs.display()),
            ))
        }
    }
    let rootfs = std::fs::canonicalize(&rootfs)
        .map_err(|e| invalid("root.path", format!("{}: {e}", rootfs.display())))?;
    let process = spec
        .process()
        .as_ref()
        .ok_or_else(|| invalid("process", "missing; a container needs a process".into()))?;
    match process.args() {
        Some(a) if !a.is_empty() && !a[0].is_empty() => {}
        _ => return Err(invalid("process.args", "must name a program to run".into())),
    }
    let mount_label = spec
        .linux()
        .as_ref()
        .and_then(|l| l.mount_label().as_deref());
    if let Some((f, msg)) = crate::lsm::unsupported(
        process.apparmor_profile().as_deref(),
        process.selinux_label().as_deref(),
        mount_label,
    ) {
        return Err(invalid(f, msg));
    }
    if !process.cwd().is_absolute() {
        return Err(invalid(
            "process.cwd",
            format!("{} must be an absolute path", process.cwd().display()),
        ));
    }
    // A relative mount destination is relative to the container's `/`
    // (config.md); the rootfs code resolves every destination that way.
    if let Some(linux) = spec.linux() {
        let mut seen = HashSet::new();
        let mut user = false;
        for (i, ns) in linux.namespaces().iter().flatten().enumerate() {
            if !seen.insert(ns.typ()) {
                return Err(invalid(
                    &format!("linux.namespaces[{i}].type"),
                    format!("namespace {} is listed twice", ns.typ()),
                ));
            }
            if ns.typ() == LinuxNamespaceType::User && ns.path().is_none() {
                user = true;
            }
        }
        let has_maps = linux.uid_mappings().as_ref().is_some_and(|m| !m.is_empty());
        if user && !has_maps {
            return Err(invalid(
                "linux.uidMappings",
                "a new user namespace needs uidMappings and gidMappings".into(),
            ));
        }
        if !user && has_maps {
            return Err(invalid(
                "linux.uidMappings",
                "mappings are set but no new user namespace is requested".into(),
            ));
        }
        if linux.time_offsets().is_some()
            && !linux
                .namespaces()
                .iter()
                .flatten()
                .any(|n| n.typ() == LinuxNamespaceType::Time && n.path().is_none())
        {
            return Err(invalid(
                "linux.timeOffsets",
                "time offsets need a new time namespace".into(),
            ));
        }
        for (k, _) in linux.sysctl().iter().flatten() {
            if k.contains("..") || k.starts_with('/') || k.starts_with('.') {
                return Err(invalid(
                    &format!("linux.sysctl.{k}"),
                    "not a sysctl name".into(),
                ));
            }
        }
    }
    Ok(rootfs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p() -> PathBuf {
        PathBuf::from("/b/config.json")
    }

    #[test]
    fn wrong_type_names_the_field() {
        let err = parse_spec(
            &p(),
            br#"{"ociVersion":"1.0.2","process":{"user":{"uid":"x","gid":0},"cwd":"/"}}"#,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("process.user.uid"), "{err}");
        assert!(err.contains("/b/config.json"), "{err}");
    }

    #[test]
    fn truncated_json_names_line() {
        let err = parse_spec(&p(), b"{\"ociVersion\":\n\"1.0\", \"process\": {").unwrap_err();
        match err {
            ConfigError::Parse { line, .. } => assert_eq!(line, 2),
            other => panic!("unexpected {other}"),
        }
    }

    #[test]
    fn unknown_capability_is_rejected() {
        let err = parse_spec(
            &p(),
            br#"{"ociVersion":"1.0.2","process":{"user":{"uid":0,"gid":0},"cwd":"/","capabilities":{"bounding":["CAP_KILL","CAP_BOGUS"]}}}"#,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("process.capabilities.bounding"), "{err}");
    }

    #[test]
    fn missing_rootfs_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let spec: Spec = serde_json::from_str(crate::spec::DEFAULT_SPEC).unwrap();
        let err = validate(&p(), dir.path(), &spec).unwrap_err().to_string();
        assert!(err.contains("root.path"), "{err}");
        assert!(err.contains("does not exist"), "{err}");
    }

    #[test]
    fn user_namespace_needs_mappings() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("rootfs")).unwrap();
        let mut v: serde_json::Value = serde_json::from_str(crate::spec::DEFAULT_SPEC).unwrap();
        v["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(serde_json::json!({"type":"user"}));
        let spec: Spec = serde_json::from_value(v).unwrap();
        let err = validate(&p(), dir.path(), &spec).unwrap_err().to_string();
        assert!(err.contains("linux.uidMappings"), "{err}");
    }
}
