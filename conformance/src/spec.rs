//! A builder for config.json, starting from `runc spec`'s default with
//! `terminal: false` and a writable root. It edits JSON directly, so tests can
//! also produce configs that no typed model would allow (bad input).

use serde_json::{json, Map, Value};

const RUNC_DEFAULT: &str = include_str!("runc_spec_default.json");

/// An OCI runtime config under construction.
#[derive(Debug, Clone, PartialEq)]
pub struct Spec(Value);

impl Spec {
    /// `runc spec`'s default with `terminal: false`, `root.readonly: false`
    /// and `process.args` set to `args`.
    pub fn new(args: &[&str]) -> Spec {
        let mut s = Spec::runc_default();
        s.terminal(false).readonly_root(false).args(args);
        s
    }

    /// Exactly what `runc spec` writes (runc 1.1.5).
    pub fn runc_default() -> Spec {
        Spec(serde_json::from_str(RUNC_DEFAULT).expect("embedded default spec is valid JSON"))
    }

    pub fn value(&self) -> &Value {
        &self.0
    }

    pub fn value_mut(&mut self) -> &mut Value {
        &mut self.0
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(&self.0).expect("a Value always serializes")
    }

    /// Set the value at a JSON pointer ("/process/cwd"), creating objects on
    /// the way.
    pub fn set(&mut self, pointer: &str, v: Value) -> &mut Self {
        let mut cur = &mut self.0;
        for part in pointer.split('/').skip(1) {
            let part = part.replace("~1", "/").replace("~0", "~");
            if !cur.is_object() {
                *cur = Value::Object(Map::new());
            }
            cur = cur
                .as_object_mut()
                .expect("just made an object")
                .entry(part)
                .or_insert(Value::Null);
        }
        *cur = v;
        self
    }

    /// Remove the value at a JSON pointer, if present.
    pub fn remove(&mut self, pointer: &str) -> &mut Self {
        let (parent, key) = pointer.rsplit_once('/').unwrap_or(("", pointer));
        if let Some(Value::Object(m)) = self.0.pointer_mut(parent) {
            m.remove(key);
        }
        self
    }

    fn array(&mut self, pointer: &str) -> &mut Vec<Value> {
        if !self.0.pointer(pointer).is_some_and(Value::is_array) {
            self.set(pointer, json!([]));
        }
        self.0
            .pointer_mut(pointer)
            .and_then(Value::as_array_mut)
            .expect("just made an array")
    }

    pub fn args(&mut self, args: &[&str]) -> &mut Self {
        self.set("/process/args", json!(args))
    }

    pub fn env(&mut self, env: &[&str]) -> &mut Self {
        self.set("/process/env", json!(env))
    }

    pub fn push_env(&mut self, kv: &str) -> &mut Self {
        self.array("/process/env").push(json!(kv));
        self
    }

    pub fn cwd(&mut self, cwd: &str) -> &mut Self {
        self.set("/process/cwd", json!(cwd))
    }

    pub fn user(&mut self, uid: u32, gid: u32) -> &mut Self {
        self.set("/process/user/uid", json!(uid))
            .set("/process/user/gid", json!(gid))
    }

    pub fn additional_gids(&mut self, gids: &[u32]) -> &mut Self {
        self.set("/process/user/additionalGids", json!(gids))
    }

    pub fn umask(&mut self, umask: u32) -> &mut Self {
        self.set("/process/user/umask", json!(umask))
    }

    pub fn terminal(&mut self, on: bool) -> &mut Self {
        self.set("/process/terminal", json!(on))
    }

    pub fn console_size(&mut self, height: u32, width: u32) -> &mut Self {
        self.set(
            "/process/consoleSize",
            json!({"height": height, "width": width}),
        )
    }

    pub fn readonly_root(&mut self, ro: bool) -> &mut Self {
        self.set("/root/readonly", json!(ro))
    }

    pub fn root_path(&mut self, path: &str) -> &mut Self {
        self.set("/root/path", json!(path))
    }

    pub fn hostname(&mut self, name: &str) -> &mut Self {
        self.set("/hostname", json!(name))
    }

    pub fn domainname(&mut self, name: &str) -> &mut Self {
        self.set("/domainname", json!(name))
    }

    /// Append a mount.
    pub fn mount(&mut self, dest: &str, kind: &str, source: &str, options: &[&str]) -> &mut Self {
        let m = json!({"destination": dest, "type": kind, "source": source, "options": options});
        self.array("/mounts").push(m);
        self
    }

    /// Drop every mount at `dest`.
    pub fn remove_mount(&mut self, dest: &str) -> &mut Self {
        self.array("/mounts")
            .retain(|m| m.get("destination").and_then(Value::as_str) != Some(dest));
        self
    }

    /// Add (or replace) a namespace; `path` joins an existing one.
    pub fn namespace(&mut self, kind: &str, path: Option<&str>) -> &mut Self {
        self.remove_namespace(kind);
        let ns = match path {
            Some(p) => json!({"type": kind, "path": p}),
            None => json!({"type": kind}),
        };
        self.array("/linux/namespaces").push(ns);
        self
    }

    pub fn remove_namespace(&mut self, kind: &str) -> &mut Self {
        self.array("/linux/namespaces")
            .retain(|n| n.get("type").and_then(Value::as_str) != Some(kind));
        self
    }

    /// A new user namespace with one mapping for uids and gids.
    pub fn userns(&mut self, container_id: u32, host_id: u32, size: u32) -> &mut Self {
        let m = json!([{"containerID": container_id, "hostID": host_id, "size": size}]);
        self.namespace("user", None)
            .set("/linux/uidMappings", m.clone())
            .set("/linux/gidMappings", m)
    }

    pub fn time_offset(&mut self, clock: &str, secs: i64, nanosecs: u32) -> &mut Self {
        self.set(
            &format!("/linux/timeOffsets/{clock}"),
            json!({"secs": secs, "nanosecs": nanosecs}),
        )
    }

    pub fn masked_paths(&mut self, paths: &[&str]) -> &mut Self {
        self.set("/linux/maskedPaths", json!(paths))
    }

    pub fn readonly_paths(&mut self, paths: &[&str]) -> &mut Self {
        self.set("/linux/readonlyPaths", json!(paths))
    }

    /// Append a `linux.devices` entry.
    #[allow(clippy::too_many_arguments)]
    pub fn device(
        &mut self,
        path: &str,
        kind: &str,
        major: i64,
        minor: i64,
        file_mode: u32,
        uid: u32,
        gid: u32,
    ) -> &mut Self {
        let d = json!({"path": path, "type": kind, "major": major, "minor": minor,
                       "fileMode": file_mode, "uid": uid, "gid": gid});
        self.array("/linux/devices").push(d);
        self
    }

    pub fn sysctl(&mut self, key: &str, value: &str) -> &mut Self {
        let k = key.replace('~', "~0").replace('/', "~1");
        self.set(&format!("/linux/sysctl/{k}"), json!(value))
    }

    /// Add or replace an rlimit.
    pub fn rlimit(&mut self, kind: &str, soft: u64, hard: u64) -> &mut Self {
        let r = self.array("/process/rlimits");
        r.retain(|l| l.get("type").and_then(Value::as_str) != Some(kind));
        r.push(json!({"type": kind, "soft": soft, "hard": hard}));
        self
    }

    /// Set one capability set ("bounding", "effective", …).
    pub fn caps(&mut self, set: &str, names: &[&str]) -> &mut Self {
        self.set(&format!("/process/capabilities/{set}"), json!(names))
    }

    /// Set all five capability sets to `names`.
    pub fn all_caps(&mut self, names: &[&str]) -> &mut Self {
        for set in [
            "bounding",
            "effective",
            "inheritable",
            "permitted",
            "ambient",
        ] {
            self.caps(set, names);
        }
        self
    }

    pub fn no_new_privileges(&mut self, on: bool) -> &mut Self {
        self.set("/process/noNewPrivileges", json!(on))
    }

    pub fn oom_score_adj(&mut self, v: i32) -> &mut Self {
        self.set("/process/oomScoreAdj", json!(v))
    }

    pub fn personality(&mut self, domain: &str) -> &mut Self {
        self.set("/linux/personality", json!({"domain": domain}))
    }

    pub fn rootfs_propagation(&mut self, p: &str) -> &mut Self {
        self.set("/linux/rootfsPropagation", json!(p))
    }

    /// Append a hook of `kind` ("prestart", "createRuntime", …).
    pub fn hook(&mut self, kind: &str, path: &str, args: &[&str]) -> &mut Self {
        self.array(&format!("/hooks/{kind}"))
            .push(json!({"path": path, "args": args}));
        self
    }

    pub fn annotation(&mut self, key: &str, value: &str) -> &mut Self {
        let k = key.replace('~', "~0").replace('/', "~1");
        self.set(&format!("/annotations/{k}"), json!(value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_from_runc_default() {
        let mut s = Spec::new(&["/keel-check", "all"]);
        assert_eq!(s.value()["process"]["terminal"], json!(false));
        assert_eq!(s.value()["root"]["readonly"], json!(false));
        assert_eq!(s.value()["process"]["args"][1], json!("all"));
        s.namespace("user", None)
            .namespace("user", Some("/proc/1/ns/user"));
        let users: Vec<_> = s.value()["linux"]["namespaces"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|n| n["type"] == "user")
            .collect();
        assert_eq!(users.len(), 1);
        assert_eq!(users[0]["path"], json!("/proc/1/ns/user"));
        s.sysctl("net.ipv4.ip_forward", "1").annotation("a/b", "c");
        assert_eq!(
            s.value()["linux"]["sysctl"]["net.ipv4.ip_forward"],
            json!("1")
        );
        assert_eq!(s.value()["annotations"]["a/b"], json!("c"));
        s.remove_mount("/dev/mqueue");
        assert!(!s.to_json().contains("/dev/mqueue"));
        s.rlimit("RLIMIT_NOFILE", 10, 20)
            .rlimit("RLIMIT_NOFILE", 5, 6);
        assert_eq!(s.value()["process"]["rlimits"].as_array().unwrap().len(), 1);
        s.remove("/process/rlimits");
        assert!(s.value()["process"].get("rlimits").is_none());
    }
}
