//! `linux.cgroupsPath`: where the container's cgroup goes.
//!
//! For the cgroupfs driver an absolute path is taken below each hierarchy's
//! root and a relative one below the caller's own cgroup, and an empty path
//! means the container id below the caller's own cgroup, which is what runc
//! 1.1.5 does (measured: `4:memory:/<own>/<id>`). Paths are cleaned
//! lexically, so `..` can never climb above the base.
//!
//! With `--systemd-cgroup` the path is `slice:prefix:name`. keel parses it,
//! but has no D-Bus driver: [`SystemdPath::manager_error`] says why it
//! cannot go on.

use std::path::{Component, Path, PathBuf};

use super::error::{Error, Result};

/// A cleaned cgroupfs path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CgroupsPath {
    /// Below each hierarchy's root (`/a/b` in the spec), stored without the
    /// leading slash.
    Absolute(PathBuf),
    /// Below the calling process's own cgroup.
    Relative(PathBuf),
}

impl CgroupsPath {
    /// The path for `linux.cgroupsPath` (or the default for container `id`).
    pub fn from_spec(cgroups_path: Option<&Path>, id: &str) -> Result<CgroupsPath> {
        let raw = match cgroups_path {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new(id),
        };
        let shown = raw.display().to_string();
        let mut absolute = false;
        let mut parts: Vec<&std::ffi::OsStr> = Vec::new();
        for c in raw.components() {
            match c {
                Component::RootDir => absolute = true,
                Component::CurDir | Component::Prefix(_) => {}
                Component::ParentDir => {
                    parts.pop();
                }
                Component::Normal(s) => parts.push(s),
            }
        }
        if parts.is_empty() {
            let what = if absolute {
                "the root cgroup"
            } else {
                "this process's own cgroup"
            };
            return Err(Error::Path {
                path: shown,
                reason: format!("names {what}; give the container a cgroup of its own below it"),
            });
        }
        let clean: PathBuf = parts.iter().collect();
        Ok(if absolute {
            CgroupsPath::Absolute(clean)
        } else {
            CgroupsPath::Relative(clean)
        })
    }

    /// The cleaned path below its base.
    pub fn rel(&self) -> &Path {
        match self {
            CgroupsPath::Absolute(p) | CgroupsPath::Relative(p) => p,
        }
    }
}

/// A `--systemd-cgroup` path, `slice:prefix:name`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SystemdPath {
    pub slice: String,
    pub prefix: String,
    pub name: String,
}

impl SystemdPath {
    /// Parses `linux.cgroupsPath` for the systemd driver; an empty path is
    /// `system.slice:keel:<id>`.
    pub fn parse(cgroups_path: Option<&str>, id: &str) -> Result<SystemdPath> {
        let raw = cgroups_path.unwrap_or("");
        if raw.is_empty() {
            return Ok(SystemdPath {
                slice: "system.slice".into(),
                prefix: "keel".into(),
                name: id.into(),
            });
        }
        let bad = |reason: &str| Error::Path {
            path: raw.to_string(),
            reason: reason.to_string(),
        };
        let parts: Vec<&str> = raw.split(':').collect();
        let [slice, prefix, name] = parts[..] else {
            return Err(bad("with --systemd-cgroup the path must be slice:prefix:name, e.g. system.slice:docker:1234"));
        };
        if name.is_empty() || [slice, prefix, name].iter().any(|p| p.contains('/')) {
            return Err(bad(
                "slice, prefix and name must not contain '/', and the name must not be empty",
            ));
        }
        let p = SystemdPath {
            slice: if slice.is_empty() {
                "system.slice".into()
            } else {
                slice.into()
            },
            prefix: prefix.into(),
            name: name.into(),
        };
        p.slice_dir().map_err(|r| bad(&r))?;
        Ok(p)
    }

    /// The unit systemd would create: `prefix-name.scope`, or the name
    /// itself when it is a slice.
    pub fn unit(&self) -> String {
        if self.name.ends_with(".slice") {
            self.name.clone()
        } else if self.prefix.is_empty() {
            format!("{}.scope", self.name)
        } else {
            format!("{}-{}.scope", self.prefix, self.name)
        }
    }

    /// The slice's cgroup directory: `a-b.slice` is `a.slice/a-b.slice`.
    pub fn slice_dir(&self) -> Result<PathBuf, String> {
        let s = &self.slice;
        if s == "-.slice" {
            return Ok(PathBuf::new());
        }
        let Some(stem) = s.strip_suffix(".slice") else {
            return Err(format!("slice {s:?} must end in .slice"));
        };
        if stem.is_empty() || stem.starts_with('-') || stem.ends_with('-') || stem.contains("--") {
            return Err(format!("slice {s:?} is not a valid systemd slice name"));
        }
        let mut dir = PathBuf::new();
        let mut acc = String::new();
        for part in stem.split('-') {
            if !acc.is_empty() {
                acc.push('-');
            }
            acc.push_str(part);
            dir.push(format!("{acc}.slice"));
        }
        Ok(dir)
    }

    /// Why keel cannot create this cgroup through systemd on this host.
    pub fn manager_error(&self, raw: &str) -> Error {
        if !systemd_booted() {
            Error::SystemdUnavailable {
                path: raw.to_string(),
            }
        } else {
            Error::SystemdUnsupported {
                slice: self.slice.clone(),
                unit: self.unit(),
            }
        }
    }
}

/// Whether systemd is the init system (`sd_booted()`).
pub fn systemd_booted() -> bool {
    Path::new("/run/systemd/system").is_dir()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Result<CgroupsPath> {
        CgroupsPath::from_spec(Some(Path::new(s)), "ctr")
    }

    #[test]
    fn default_is_the_id_below_our_own_cgroup() {
        assert_eq!(
            CgroupsPath::from_spec(None, "abc").unwrap(),
            CgroupsPath::Relative("abc".into())
        );
        assert_eq!(
            CgroupsPath::from_spec(Some(Path::new("")), "abc").unwrap(),
            CgroupsPath::Relative("abc".into())
        );
    }

    #[test]
    fn absolute_and_relative_are_cleaned() {
        assert_eq!(p("/a/b").unwrap(), CgroupsPath::Absolute("a/b".into()));
        assert_eq!(
            p("/a/../../b/./c/").unwrap(),
            CgroupsPath::Absolute("b/c".into())
        );
        assert_eq!(p("x/y").unwrap(), CgroupsPath::Relative("x/y".into()));
        assert_eq!(p("../../x").unwrap(), CgroupsPath::Relative("x".into()));
        assert_eq!(p("//k8s//pod1").unwrap().rel(), Path::new("k8s/pod1"));
    }

    #[test]
    fn root_and_own_cgroup_are_refused() {
        let e = p("/").unwrap_err().to_string();
        assert_eq!(
            e,
            "linux.cgroupsPath \"/\": names the root cgroup; give the container a cgroup of its own below it"
        );
        assert!(p("a/..").unwrap_err().to_string().contains("own cgroup"));
    }

    #[test]
    fn systemd_paths() {
        let s = SystemdPath::parse(Some("system.slice:docker:1234"), "x").unwrap();
        assert_eq!(s.unit(), "docker-1234.scope");
        assert_eq!(s.slice_dir().unwrap(), Path::new("system.slice"));
        let s = SystemdPath::parse(Some("kubepods-besteffort-pod1.slice:cri:abc"), "x").unwrap();
        assert_eq!(
            s.slice_dir().unwrap(),
            Path::new("kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod1.slice")
        );
        let s = SystemdPath::parse(None, "id1").unwrap();
        assert_eq!(
            (s.slice.as_str(), s.unit()),
            ("system.slice", "keel-id1.scope".to_string())
        );
        let s = SystemdPath::parse(Some(":p:machine.slice"), "x").unwrap();
        assert_eq!(s.unit(), "machine.slice");
        assert_eq!(
            SystemdPath::parse(Some("-.slice:p:n"), "x")
                .unwrap()
                .slice_dir()
                .unwrap(),
            Path::new("")
        );
        for bad in [
            "a:b",
            "/sys/fs/cgroup/x",
            "a.slice:b:",
            "nope:b:c",
            "a--b.slice:p:n",
            "a.slice:p:n/x",
        ] {
            let e = SystemdPath::parse(Some(bad), "x").unwrap_err().to_string();
            assert!(
                e.starts_with(&format!("linux.cgroupsPath {bad:?}: ")),
                "{e}"
            );
        }
    }

    #[test]
    fn systemd_error_is_clear_without_systemd() {
        let s = SystemdPath::parse(Some("system.slice:docker:1"), "x").unwrap();
        let e = s.manager_error("system.slice:docker:1").to_string();
        if systemd_booted() {
            assert!(e.contains("not implemented"), "{e}");
        } else {
            assert!(
                e.starts_with("--systemd-cgroup needs systemd running as init"),
                "{e}"
            );
        }
    }
}
