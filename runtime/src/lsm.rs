//! AppArmor and SELinux labels. On a host without the LSM, a label in the
//! config is an error (runc refuses them too); with it, the label is set on
//! the next `execve` through `/proc/self/attr`.

use std::path::Path;

/// True if AppArmor is enabled on this host.
pub fn apparmor_enabled() -> bool {
    std::fs::read_to_string("/sys/module/apparmor/parameters/enabled")
        .map(|s| s.trim_start().starts_with('Y'))
        .unwrap_or(false)
}

/// True if SELinux is enabled on this host (selinuxfs is mounted).
pub fn selinux_enabled() -> bool {
    Path::new("/sys/fs/selinux/enforce").exists()
}

/// The config's labels that this host cannot honour, as (field, message).
pub fn unsupported(
    apparmor: Option<&str>,
    selinux: Option<&str>,
    mount_label: Option<&str>,
) -> Option<(&'static str, String)> {
    if apparmor.is_some_and(|p| !p.is_empty()) && !apparmor_enabled() {
        return Some((
            "process.apparmorProfile",
            "AppArmor is not enabled on this host; remove the profile".into(),
        ));
    }
    if selinux.is_some_and(|l| !l.is_empty()) && !selinux_enabled() {
        return Some((
            "process.selinuxLabel",
            "SELinux is not enabled on this host; remove the label".into(),
        ));
    }
    if mount_label.is_some_and(|l| !l.is_empty()) && !selinux_enabled() {
        return Some((
            "linux.mountLabel",
            "SELinux is not enabled on this host; remove the label".into(),
        ));
    }
    None
}

/// Arranges for the labels to apply at the next execve.
pub fn apply_exec_labels(apparmor: Option<&str>, selinux: Option<&str>) -> std::io::Result<()> {
    if let Some(p) = apparmor.filter(|p| !p.is_empty()) {
        let attr = if Path::new("/proc/self/attr/apparmor/exec").exists() {
            "/proc/self/attr/apparmor/exec"
        } else {
            "/proc/self/attr/exec"
        };
        std::fs::write(attr, format!("exec {p}"))?;
    }
    if let Some(l) = selinux.filter(|l| !l.is_empty()) {
        std::fs::write("/proc/self/attr/exec", l)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_without_the_lsm_are_refused() {
        if !apparmor_enabled() {
            assert_eq!(
                unsupported(Some("p"), None, None).unwrap().0,
                "process.apparmorProfile"
            );
        }
        if !selinux_enabled() {
            assert_eq!(
                unsupported(None, Some("l"), None).unwrap().0,
                "process.selinuxLabel"
            );
            assert_eq!(
                unsupported(None, None, Some("l")).unwrap().0,
                "linux.mountLabel"
            );
        }
        assert!(unsupported(Some(""), None, None).is_none());
        assert!(unsupported(None, None, None).is_none());
    }
}
