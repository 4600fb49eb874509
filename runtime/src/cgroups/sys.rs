//! The cgroups module's only `unsafe` code: the `bpf(2)` calls that load and
//! attach the v2 device filter, and the eventfd and inotify fds the OOM
//! watcher polls. Each block states why it is sound.
//!
//! Nothing here holds policy; `manager.rs` and `oom.rs` decide what to call.

use std::ffi::CString;
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use super::bpf::Insn;
use super::fs::BpfFailure;

// linux/bpf.h
const BPF_PROG_LOAD: libc::c_int = 5;
const BPF_PROG_ATTACH: libc::c_int = 8;
const BPF_PROG_DETACH: libc::c_int = 9;
const BPF_PROG_GET_FD_BY_ID: libc::c_int = 13;
const BPF_PROG_QUERY: libc::c_int = 16;
const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
const BPF_CGROUP_DEVICE: u32 = 6;
const BPF_F_ALLOW_MULTI: u32 = 2;

/// Every attr is padded to this size and zero-filled; the kernel accepts a
/// larger-than-known attr whose tail is zero, and `BPF_PROG_QUERY` writes
/// fields (`revision`) that older headers do not have.
const ATTR_SIZE: usize = 128;

#[repr(C)]
struct ProgLoadAttr {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
    prog_ifindex: u32,
    expected_attach_type: u32,
    _pad: [u8; ATTR_SIZE - 72],
}

#[repr(C)]
struct AttachAttr {
    target_fd: u32,
    attach_bpf_fd: u32,
    attach_type: u32,
    attach_flags: u32,
    replace_bpf_fd: u32,
    _pad: [u8; ATTR_SIZE - 20],
}

#[repr(C)]
struct QueryAttr {
    target_fd: u32,
    attach_type: u32,
    query_flags: u32,
    attach_flags: u32,
    prog_ids: u64,
    prog_cnt: u32,
    _pad0: u32,
    prog_attach_flags: u64,
    link_ids: u64,
    link_attach_flags: u64,
    revision: u64,
    _pad: [u8; ATTR_SIZE - 64],
}

#[repr(C)]
struct GetFdAttr {
    prog_id: u32,
    next_id: u32,
    open_flags: u32,
    _pad: [u8; ATTR_SIZE - 12],
}

/// Calls `bpf(cmd, attr, sizeof attr)`.
///
/// # Safety
/// `attr` must be one of the `#[repr(C)]` attr structs above, fully
/// initialised, and every pointer stored in it must be valid for the
/// kernel to read (or write, for the query's id array) for the call.
unsafe fn bpf<T>(cmd: libc::c_int, attr: &mut T) -> io::Result<libc::c_long> {
    // SAFETY: the caller guarantees `attr` is a valid, initialised attr of
    // `size_of::<T>()` bytes whose embedded pointers are live; the kernel
    // reads and writes only within that size and those pointers.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            attr as *mut T as *mut libc::c_void,
            std::mem::size_of::<T>() as libc::c_uint,
        )
    };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

/// Takes ownership of a new fd returned by a syscall.
fn owned(fd: libc::c_long) -> io::Result<OwnedFd> {
    let fd = libc::c_int::try_from(fd).map_err(|_| io::Error::from_raw_os_error(libc::EBADF))?;
    // SAFETY: the kernel just returned `fd` as a new descriptor that nothing
    // else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn load(program: &[Insn], with_log: bool, log: &mut Vec<u8>) -> io::Result<OwnedFd> {
    let license = b"Apache-2.0\0";
    let insn_cnt =
        u32::try_from(program.len()).map_err(|_| io::Error::from_raw_os_error(libc::E2BIG))?;
    let mut name = [0u8; 16];
    name[..10].copy_from_slice(b"keel_devcg");
    if with_log {
        log.clear();
        log.resize(64 * 1024, 0);
    }
    let mut attr = ProgLoadAttr {
        prog_type: BPF_PROG_TYPE_CGROUP_DEVICE,
        insn_cnt,
        insns: program.as_ptr() as u64,
        license: license.as_ptr() as u64,
        log_level: u32::from(with_log),
        log_size: if with_log { log.len() as u32 } else { 0 },
        log_buf: if with_log { log.as_mut_ptr() as u64 } else { 0 },
        kern_version: 0,
        prog_flags: 0,
        prog_name: name,
        prog_ifindex: 0,
        expected_attach_type: BPF_CGROUP_DEVICE,
        _pad: [0; ATTR_SIZE - 72],
    };
    // SAFETY: `attr` is a fully initialised ProgLoadAttr; `program`,
    // `license` and `log` outlive the call, and `log_size` is `log`'s length.
    let fd = unsafe { bpf(BPF_PROG_LOAD, &mut attr) }?;
    owned(fd)
}

/// The ids of the device programs attached to `cgroup`, and the attach flags.
fn query(cgroup: &File) -> io::Result<(Vec<u32>, u32)> {
    let mut ids = vec![0u32; 64];
    let mut attr = QueryAttr {
        target_fd: cgroup.as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        query_flags: 0,
        attach_flags: 0,
        prog_ids: ids.as_mut_ptr() as u64,
        prog_cnt: ids.len() as u32,
        _pad0: 0,
        prog_attach_flags: 0,
        link_ids: 0,
        link_attach_flags: 0,
        revision: 0,
        _pad: [0; ATTR_SIZE - 64],
    };
    // SAFETY: `attr` is fully initialised; `ids` has room for `prog_cnt`
    // ids and outlives the call.
    unsafe { bpf(BPF_PROG_QUERY, &mut attr) }?;
    ids.truncate((attr.prog_cnt as usize).min(64));
    Ok((ids, attr.attach_flags))
}

fn attach_op(cmd: libc::c_int, cgroup: &File, prog: &OwnedFd, flags: u32) -> io::Result<()> {
    let mut attr = AttachAttr {
        target_fd: cgroup.as_raw_fd() as u32,
        attach_bpf_fd: prog.as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        attach_flags: flags,
        replace_bpf_fd: 0,
        _pad: [0; ATTR_SIZE - 20],
    };
    // SAFETY: `attr` is fully initialised and holds no pointers.
    unsafe { bpf(cmd, &mut attr) }.map(|_| ())
}

fn prog_fd_by_id(id: u32) -> io::Result<OwnedFd> {
    let mut attr = GetFdAttr {
        prog_id: id,
        next_id: 0,
        open_flags: 0,
        _pad: [0; ATTR_SIZE - 12],
    };
    // SAFETY: `attr` is fully initialised and holds no pointers.
    let fd = unsafe { bpf(BPF_PROG_GET_FD_BY_ID, &mut attr) }?;
    owned(fd)
}

/// Loads `program`, attaches it to the cgroup2 directory `dir` and detaches
/// whatever device programs were attached there before.
pub(crate) fn replace_device_filter(dir: &Path, program: &[Insn]) -> Result<(), BpfFailure> {
    let fail = |op, source, log: String| BpfFailure { op, source, log };
    let cgroup = File::open(dir).map_err(|e| fail("open", e, String::new()))?;
    let mut log = Vec::new();
    let prog = match load(program, false, &mut log) {
        Ok(p) => p,
        Err(first) => {
            // Load again with the verifier's log, for the message.
            let text = match load(program, true, &mut log) {
                Ok(_) => String::new(),
                Err(_) => verifier_summary(&log),
            };
            return Err(fail("load", first, text));
        }
    };
    let (old, flags) = query(&cgroup).map_err(|e| fail("query", e, String::new()))?;
    if !old.is_empty() && flags & BPF_F_ALLOW_MULTI == 0 {
        // A single program attached without ALLOW_MULTI: attaching with the
        // same flags (none) replaces it.
        return attach_op(BPF_PROG_ATTACH, &cgroup, &prog, 0)
            .map_err(|e| fail("attach", e, String::new()));
    }
    attach_op(BPF_PROG_ATTACH, &cgroup, &prog, BPF_F_ALLOW_MULTI)
        .map_err(|e| fail("attach", e, String::new()))?;
    for id in old {
        let old_fd = match prog_fd_by_id(id) {
            Ok(fd) => fd,
            // Detached meanwhile.
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => continue,
            Err(e) => return Err(fail("detach", e, String::new())),
        };
        match attach_op(BPF_PROG_DETACH, &cgroup, &old_fd, 0) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
            Err(e) => return Err(fail("detach", e, String::new())),
        }
    }
    Ok(())
}

/// The last lines of the verifier log, as one line.
fn verifier_summary(log: &[u8]) -> String {
    let end = log.iter().position(|&b| b == 0).unwrap_or(log.len());
    let text = String::from_utf8_lossy(&log[..end]);
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    if lines.is_empty() {
        return String::new();
    }
    let tail = &lines[lines.len().saturating_sub(3)..];
    format!(" (verifier: {})", tail.join("; "))
}

/// A non-blocking, close-on-exec eventfd.
pub(crate) fn eventfd() -> io::Result<OwnedFd> {
    // SAFETY: eventfd takes no pointers.
    let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    owned(fd.into())
}

/// A non-blocking, close-on-exec inotify fd watching `path` for `mask`.
pub(crate) fn inotify_watch(path: &Path, mask: u32) -> io::Result<OwnedFd> {
    let cpath = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    // SAFETY: inotify_init1 takes no pointers.
    let fd = unsafe { libc::inotify_init1(libc::IN_CLOEXEC | libc::IN_NONBLOCK) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    let fd = owned(fd.into())?;
    // SAFETY: `fd` is an open inotify fd and `cpath` is a NUL-terminated
    // string that outlives the call.
    let wd = unsafe { libc::inotify_add_watch(fd.as_raw_fd(), cpath.as_ptr(), mask) };
    if wd < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(fd)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attr_layouts_match_the_kernel() {
        assert_eq!(std::mem::size_of::<ProgLoadAttr>(), ATTR_SIZE);
        assert_eq!(std::mem::size_of::<AttachAttr>(), ATTR_SIZE);
        assert_eq!(std::mem::size_of::<QueryAttr>(), ATTR_SIZE);
        assert_eq!(std::mem::size_of::<GetFdAttr>(), ATTR_SIZE);
        assert_eq!(std::mem::offset_of!(ProgLoadAttr, log_buf), 32);
        assert_eq!(std::mem::offset_of!(ProgLoadAttr, prog_name), 48);
        assert_eq!(std::mem::offset_of!(ProgLoadAttr, expected_attach_type), 68);
        assert_eq!(std::mem::offset_of!(QueryAttr, prog_ids), 16);
        assert_eq!(std::mem::offset_of!(QueryAttr, prog_cnt), 24);
        assert_eq!(std::mem::offset_of!(QueryAttr, revision), 56);
        assert_eq!(std::mem::offset_of!(AttachAttr, replace_bpf_fd), 16);
    }

    #[test]
    fn verifier_summary_is_one_line() {
        let log =
            b"0: (61) r2 = *(u32 *)(r1 +0)\n1: (95) exit\nR0 !read_ok\nprocessed 2 insns\n\0\0";
        let s = verifier_summary(log);
        assert!(!s.contains('\n'));
        assert!(s.contains("R0 !read_ok; processed 2 insns"), "{s}");
    }
}
