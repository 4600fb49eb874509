//! Which namespaces a container gets: new ones to unshare and existing ones
//! to join by path. Pure planning; the syscalls happen in `process::init`.

use std::fs::File;
use std::os::fd::OwnedFd;
use std::path::PathBuf;

use nix::sched::CloneFlags;
use oci_spec::runtime::{LinuxNamespace, LinuxNamespaceType};

/// A namespace path that cannot be opened.
#[derive(Debug, thiserror::Error)]
#[error("linux.namespaces[{index}].path: cannot open {path}: {source}")]
pub struct NamespaceError {
    pub index: usize,
    pub path: PathBuf,
    pub source: std::io::Error,
}

/// The clone flag for a namespace type.
pub fn flag(t: LinuxNamespaceType) -> CloneFlags {
    match t {
        LinuxNamespaceType::Mount => CloneFlags::CLONE_NEWNS,
        LinuxNamespaceType::Cgroup => CloneFlags::CLONE_NEWCGROUP,
        LinuxNamespaceType::Uts => CloneFlags::CLONE_NEWUTS,
        LinuxNamespaceType::Ipc => CloneFlags::CLONE_NEWIPC,
        LinuxNamespaceType::User => CloneFlags::CLONE_NEWUSER,
        LinuxNamespaceType::Pid => CloneFlags::CLONE_NEWPID,
        LinuxNamespaceType::Network => CloneFlags::CLONE_NEWNET,
        LinuxNamespaceType::Time => CloneFlags::from_bits_retain(libc::CLONE_NEWTIME),
    }
}

/// A namespace to join, opened before any fork so errors name the config field.
#[derive(Debug)]
pub struct Join {
    pub typ: LinuxNamespaceType,
    pub fd: OwnedFd,
}

/// The namespace plan for one container.
#[derive(Debug)]
pub struct Plan {
    /// Namespaces to create, except the user namespace.
    pub unshare: CloneFlags,
    /// True if a new user namespace is created (first, before everything else).
    pub new_user: bool,
    /// Namespaces to join; the user namespace, if any, comes first.
    pub join: Vec<Join>,
}

impl Default for Plan {
    fn default() -> Self {
        Plan {
            unshare: CloneFlags::empty(),
            new_user: false,
            join: Vec::new(),
        }
    }
}

impl Plan {
    pub fn has(&self, t: LinuxNamespaceType) -> bool {
        self.unshare.contains(flag(t))
            || (t == LinuxNamespaceType::User && self.new_user)
            || self.join.iter().any(|j| j.typ == t)
    }

    pub fn new_ns(&self, t: LinuxNamespaceType) -> bool {
        if t == LinuxNamespaceType::User {
            self.new_user
        } else {
            self.unshare.contains(flag(t))
        }
    }
}

/// Builds the plan, opening every path to join.
pub fn plan(namespaces: &[LinuxNamespace]) -> Result<Plan, NamespaceError> {
    let mut p = Plan::default();
    for (index, ns) in namespaces.iter().enumerate() {
        match ns.path() {
            None if ns.typ() == LinuxNamespaceType::User => p.new_user = true,
            None => p.unshare |= flag(ns.typ()),
            Some(path) => {
                let fd = File::open(path).map_err(|source| NamespaceError {
                    index,
                    path: path.clone(),
                    source,
                })?;
                p.join.push(Join {
                    typ: ns.typ(),
                    fd: fd.into(),
                });
            }
        }
    }
    // Join the user namespace first: it grants the capabilities to join the rest.
    p.join.sort_by_key(|j| {
        if j.typ == LinuxNamespaceType::User {
            0
        } else {
            1
        }
    });
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::LinuxNamespaceBuilder;

    fn ns(t: LinuxNamespaceType, path: Option<&str>) -> LinuxNamespace {
        let mut b = LinuxNamespaceBuilder::default().typ(t);
        if let Some(p) = path {
            b = b.path(p);
        }
        b.build().unwrap()
    }

    #[test]
    fn plans_new_and_joined() {
        let p = plan(&[
            ns(LinuxNamespaceType::Pid, None),
            ns(LinuxNamespaceType::Network, Some("/proc/self/ns/net")),
            ns(LinuxNamespaceType::User, Some("/proc/self/ns/user")),
            ns(LinuxNamespaceType::Time, None),
        ])
        .unwrap();
        assert!(p.unshare.contains(CloneFlags::CLONE_NEWPID));
        assert!(p.new_ns(LinuxNamespaceType::Time));
        assert!(!p.new_user);
        assert_eq!(p.join[0].typ, LinuxNamespaceType::User);
        assert!(p.has(LinuxNamespaceType::Network));
        assert!(!p.has(LinuxNamespaceType::Uts));
    }

    #[test]
    fn bad_path_names_the_index() {
        let err = plan(&[
            ns(LinuxNamespaceType::Pid, None),
            ns(LinuxNamespaceType::Network, Some("/nonexistent/ns")),
        ])
        .unwrap_err();
        assert!(err.to_string().starts_with("linux.namespaces[1].path"));
    }
}
