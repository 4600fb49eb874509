//! The seccomp module's only `unsafe` code: the `seccomp(2)` calls, the
//! user-notification ioctls, and taking ownership of fds the kernel hands
//! us. Every block says why it is sound; nothing here holds policy.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

fn result(rc: libc::c_long) -> io::Result<libc::c_long> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

/// Installs `prog` on the calling thread (`SECCOMP_SET_MODE_FILTER`). With
/// `SECCOMP_FILTER_FLAG_NEW_LISTENER` in `flags` the kernel returns the
/// notify fd, which the caller then owns.
///
/// Allocates nothing, so it is safe to call between fork and exec.
pub(super) fn set_mode_filter(
    prog: &[libc::sock_filter],
    flags: libc::c_ulong,
) -> io::Result<Option<OwnedFd>> {
    let len = u16::try_from(prog.len()).map_err(|_| io::Error::from_raw_os_error(libc::E2BIG))?;
    let fprog = libc::sock_fprog {
        len,
        // The kernel only reads through this pointer (copy_from_user).
        filter: prog.as_ptr().cast_mut(),
    };
    // SAFETY: `fprog` describes `prog` (pointer and length), and both outlive
    // the call; the kernel copies the program and keeps no pointer to it.
    let rc = result(unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            flags,
            &fprog as *const libc::sock_fprog,
        )
    })?;
    if flags & libc::SECCOMP_FILTER_FLAG_NEW_LISTENER == 0 {
        return Ok(None);
    }
    let fd = RawFd::try_from(rc).map_err(|_| io::Error::from_raw_os_error(libc::EBADF))?;
    // SAFETY: with NEW_LISTENER the kernel returned a fresh fd that nothing
    // else in this process knows about; we become its only owner.
    Ok(Some(unsafe { OwnedFd::from_raw_fd(fd) }))
}

/// Whether the kernel accepts `flags` for `SECCOMP_SET_MODE_FILTER`.
///
/// The probe passes a NULL program: the kernel checks the flags first
/// (`EINVAL` for unknown ones) and then fails to copy the program
/// (`EFAULT`), so nothing is ever installed. This is how runc and crun probe.
pub(super) fn filter_flags_supported(flags: libc::c_ulong) -> bool {
    // SAFETY: a NULL program pointer is passed on purpose; the kernel reads
    // through it with copy_from_user, which fails with EFAULT instead of
    // faulting, and no filter or fd is created on that path.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            flags,
            std::ptr::null::<libc::sock_fprog>(),
        )
    };
    rc < 0 && io::Error::last_os_error().raw_os_error() == Some(libc::EFAULT)
}

/// Whether the kernel knows the `SECCOMP_RET_*` action (`SECCOMP_GET_ACTION_AVAIL`).
pub(super) fn action_available(action: u32) -> bool {
    // SAFETY: `action` is a u32 on our stack that outlives the call; the
    // kernel only reads it.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_GET_ACTION_AVAIL,
            0,
            &action as *const u32,
        )
    };
    rc == 0
}

/// `SECCOMP_IOCTL_NOTIF_RECV`: blocks until a notification arrives.
pub(super) fn notif_recv(fd: BorrowedFd<'_>) -> io::Result<libc::seccomp_notif> {
    // The kernel insists on a zeroed request.
    let mut req = libc::seccomp_notif {
        id: 0,
        pid: 0,
        flags: 0,
        data: libc::seccomp_data {
            nr: 0,
            arch: 0,
            instruction_pointer: 0,
            args: [0; 6],
        },
    };
    // SAFETY: `req` is a valid, writable seccomp_notif for the whole call;
    // the ioctl number encodes exactly that struct's size.
    let rc = unsafe {
        libc::ioctl(
            fd.as_raw_fd(),
            libc::SECCOMP_IOCTL_NOTIF_RECV,
            &mut req as *mut libc::seccomp_notif,
        )
    };
    result(rc.into()).map(|_| req)
}

/// `SECCOMP_IOCTL_NOTIF_SEND`: answers one notification.
pub(super) fn notif_send(fd: BorrowedFd<'_>, resp: &libc::seccomp_notif_resp) -> io::Result<()> {
    // SAFETY: `resp` is a valid seccomp_notif_resp that outlives the call;
    // the kernel only reads it.
    let rc = unsafe {
        libc::ioctl(
            fd.as_raw_fd(),
            libc::SECCOMP_IOCTL_NOTIF_SEND,
            resp as *const libc::seccomp_notif_resp,
        )
    };
    result(rc.into()).map(|_| ())
}

/// `SECCOMP_IOCTL_NOTIF_ID_VALID`: whether the notifying syscall is still waiting.
pub(super) fn notif_id_valid(fd: BorrowedFd<'_>, id: u64) -> bool {
    // SAFETY: `id` is a u64 on our stack that outlives the call; the kernel
    // only reads it.
    let rc = unsafe {
        libc::ioctl(
            fd.as_raw_fd(),
            libc::SECCOMP_IOCTL_NOTIF_ID_VALID,
            &id as *const u64,
        )
    };
    rc == 0
}

/// Takes ownership of an fd that arrived in an SCM_RIGHTS message.
pub(super) fn own_received_fd(fd: RawFd) -> OwnedFd {
    // SAFETY: the kernel installed this fd in our table when it delivered
    // the SCM_RIGHTS message; no other owner exists.
    unsafe { OwnedFd::from_raw_fd(fd) }
}
