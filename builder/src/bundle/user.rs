//! Resolving an image's `USER` (`name`, `uid`, `name:group`, `uid:gid`)
//! through the image's `/etc/passwd` and `/etc/group`, with the semantics of
//! runc's `GetExecUser` that docker uses: a numeric user need not exist, a
//! name must; supplementary groups come only with the implicit form.
//!
//! Must never read the files through a symlink that leaves the rootfs.

use std::io::{self, Read};
use std::path::Path;

use crate::layer::root::Root;

use super::BundleError;

/// The process identity a `USER` resolves to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecUser {
    pub uid: u32,
    pub gid: u32,
    pub additional_gids: Vec<u32>,
    /// The home directory from passwd (`/` when unknown).
    pub home: String,
}

struct PasswdEntry {
    name: String,
    uid: u32,
    gid: u32,
    home: String,
}

struct GroupEntry {
    name: String,
    gid: u32,
    members: Vec<String>,
}

/// Resolves `user` against the files in `rootfs` (missing files are
/// treated as empty, as runc does).
pub(crate) fn resolve_in_root(root: &Root, user: &str) -> Result<ExecUser, BundleError> {
    let passwd = read_optional(root, "etc/passwd")?;
    let group = read_optional(root, "etc/group")?;
    resolve(
        user,
        passwd.as_deref().unwrap_or(""),
        group.as_deref().unwrap_or(""),
    )
}

fn read_optional(root: &Root, rel: &str) -> Result<Option<String>, BundleError> {
    let path = root.path().join(rel);
    match root.open_file(Path::new(rel)) {
        Ok(mut f) => {
            let mut buf = Vec::new();
            f.read_to_end(&mut buf).map_err(|source| BundleError::Io {
                path: path.clone(),
                source,
            })?;
            Ok(Some(String::from_utf8_lossy(&buf).into_owned()))
        }
        Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT | libc::ENOTDIR)) => Ok(None),
        Err(e) if e.kind() == io::ErrorKind::InvalidInput => Ok(None),
        Err(source) => Err(BundleError::Io { path, source }),
    }
}

/// `USER` against passwd/group contents.
pub(crate) fn resolve(spec: &str, passwd: &str, group: &str) -> Result<ExecUser, BundleError> {
    let (user_arg, group_arg) = match spec.split_once(':') {
        Some((u, g)) => (u, g),
        None => (spec, ""),
    };
    let bad = |reason: &str| BundleError::BadUser {
        user: spec.to_owned(),
        reason: reason.to_owned(),
    };
    let uid_num = parse_id(user_arg);
    let gid_num = parse_id(group_arg);
    if !user_arg.is_empty()
        && uid_num.is_none()
        && user_arg.bytes().all(|b| b.is_ascii_digit() || b == b'-')
    {
        return Err(bad("the uid is out of range"));
    }

    let users = parse_passwd(passwd);
    let found = users.iter().find(|u| match (user_arg, uid_num) {
        ("", _) => u.uid == 0,
        (_, Some(n)) => u.uid == n,
        (name, None) => u.name == name,
    });
    let mut out = ExecUser {
        uid: 0,
        gid: 0,
        additional_gids: Vec::new(),
        home: "/".into(),
    };
    let mut matched_name = None;
    match found {
        Some(u) => {
            out.uid = u.uid;
            out.gid = u.gid;
            out.home = if u.home.is_empty() {
                "/".into()
            } else {
                u.home.clone()
            };
            matched_name = Some(u.name.clone());
        }
        None => match (user_arg, uid_num) {
            ("", _) => {}
            (_, Some(n)) => out.uid = n,
            (name, None) => {
                return Err(BundleError::UnknownUser {
                    user: name.to_owned(),
                })
            }
        },
    }

    let groups = parse_group(group);
    if !group_arg.is_empty() {
        let g = groups.iter().find(|g| match gid_num {
            Some(n) => g.gid == n,
            None => g.name == group_arg,
        });
        out.gid = match (g, gid_num) {
            (Some(g), _) => g.gid,
            (None, Some(n)) => n,
            (None, None) => {
                if group_arg.bytes().all(|b| b.is_ascii_digit() || b == b'-') {
                    return Err(bad("the gid is out of range"));
                }
                return Err(BundleError::UnknownGroup {
                    group: group_arg.to_owned(),
                });
            }
        };
    } else if let Some(name) = matched_name {
        for g in &groups {
            if g.members.contains(&name) && !out.additional_gids.contains(&g.gid) {
                out.additional_gids.push(g.gid);
            }
        }
    }
    Ok(out)
}

fn parse_id(s: &str) -> Option<u32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn parse_passwd(s: &str) -> Vec<PasswdEntry> {
    s.lines()
        .filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            Some(PasswdEntry {
                name: (*f.first()?).to_owned(),
                uid: f.get(2)?.trim().parse().ok()?,
                gid: f.get(3)?.trim().parse().ok()?,
                home: f.get(5).map(|h| (*h).to_owned()).unwrap_or_default(),
            })
        })
        .collect()
}

fn parse_group(s: &str) -> Vec<GroupEntry> {
    s.lines()
        .filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            Some(GroupEntry {
                name: (*f.first()?).to_owned(),
                gid: f.get(2)?.trim().parse().ok()?,
                members: f
                    .get(3)
                    .map(|m| {
                        m.split(',')
                            .map(str::trim)
                            .filter(|m| !m.is_empty())
                            .map(str::to_owned)
                            .collect()
                    })
                    .unwrap_or_default(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\n# comment\nbroken line\napp:x:1000:1001::/home/app:/bin/sh\nnohome:x:1002:1002:::\n";
    const GROUP: &str =
        "root:x:0:\nwheel:x:10:root,app\napp:x:1001:\nextra:x:2000:nohome, app\nstaff:x:50:\n";

    fn ok(spec: &str) -> ExecUser {
        resolve(spec, PASSWD, GROUP).unwrap()
    }

    #[test]
    fn forms_of_user() {
        assert_eq!(
            ok(""),
            ExecUser {
                uid: 0,
                gid: 0,
                additional_gids: vec![10],
                home: "/root".into()
            }
        );
        assert_eq!(
            ok("app"),
            ExecUser {
                uid: 1000,
                gid: 1001,
                additional_gids: vec![10, 2000],
                home: "/home/app".into()
            }
        );
        assert_eq!(
            ok("1000").additional_gids,
            vec![10, 2000],
            "a numeric uid in passwd gets its groups"
        );
        assert_eq!(
            ok("app:staff"),
            ExecUser {
                uid: 1000,
                gid: 50,
                additional_gids: vec![],
                home: "/home/app".into()
            }
        );
        assert_eq!(ok("app:50").gid, 50);
        assert_eq!(ok("app:4242").gid, 4242);
        assert_eq!(
            ok("5000"),
            ExecUser {
                uid: 5000,
                gid: 0,
                additional_gids: vec![],
                home: "/".into()
            }
        );
        assert_eq!(
            ok("5000:6000"),
            ExecUser {
                uid: 5000,
                gid: 6000,
                additional_gids: vec![],
                home: "/".into()
            }
        );
        assert_eq!(ok("nohome").home, "/");
        assert_eq!(ok("app:").gid, 1001);
    }

    #[test]
    fn unknown_names_are_errors() {
        let e = resolve("nobody", PASSWD, GROUP).unwrap_err();
        assert!(matches!(e, BundleError::UnknownUser { .. }), "{e}");
        assert!(e.to_string().contains("nobody"));
        let e = resolve("app:nogroup", PASSWD, GROUP).unwrap_err();
        assert!(matches!(e, BundleError::UnknownGroup { .. }), "{e}");
        assert!(resolve("99999999999", PASSWD, GROUP).is_err());
        assert!(
            resolve("app", "", "").is_err(),
            "no passwd file: names are unknown"
        );
        assert_eq!(resolve("7:8", "", "").unwrap().gid, 8);
    }
}
