//! The runtime's only `unsafe` code: thin wrappers over system calls that
//! `nix` does not cover safely. Every block states why it is sound.
//!
//! Nothing here holds policy; callers decide what to call and when.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

pub use nix::unistd::{ForkResult, Pid};

/// Forks the process.
///
/// keel never starts a thread, so the child inherits a consistent copy of
/// every lock and allocator state.
pub fn fork() -> nix::Result<ForkResult> {
    // SAFETY: the runtime is single-threaded (no thread is ever spawned), so
    // the child may run arbitrary Rust code, including allocation, after fork.
    unsafe { nix::unistd::fork() }
}

/// Marks every fd from `first` upwards close-on-exec.
pub fn cloexec_from(first: u32) -> io::Result<()> {
    // SAFETY: close_range only changes fd flags; it takes no pointers.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            first,
            u32::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Makes the terminal on `fd` the controlling terminal of this session.
pub fn set_controlling_tty(fd: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: TIOCSCTTY takes an int argument, no memory is passed.
    let rc = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCSCTTY, 0) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Sets the window size of the terminal on `fd`.
pub fn set_winsize(fd: BorrowedFd<'_>, rows: u16, cols: u16) -> io::Result<()> {
    let ws = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: `ws` is a valid winsize that outlives the call; the kernel only reads it.
    let rc = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCSWINSZ, &ws) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Reads the window size of the terminal on `fd`.
pub fn get_winsize(fd: BorrowedFd<'_>) -> io::Result<(u16, u16)> {
    let mut ws = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: `ws` is a valid, writable winsize for the duration of the call.
    let rc = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCGWINSZ, &mut ws) };
    if rc == 0 {
        Ok((ws.ws_row, ws.ws_col))
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Joins a new session keyring named `name` (what runc does per container).
pub fn join_session_keyring(name: &str) -> io::Result<()> {
    let name = CString::new(name).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    const KEYCTL_JOIN_SESSION_KEYRING: libc::c_long = 1;
    // SAFETY: `name` is a NUL-terminated string alive for the call.
    let rc = unsafe { libc::syscall(libc::SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, name.as_ptr()) };
    if rc >= 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// The kernel's `struct sched_attr` (sched_setattr(2)).
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct SchedAttr {
    pub size: u32,
    pub policy: u32,
    pub flags: u64,
    pub nice: i32,
    pub priority: u32,
    pub runtime: u64,
    pub deadline: u64,
    pub period: u64,
}

/// Sets this thread's scheduling policy and attributes.
pub fn sched_setattr(attr: &SchedAttr) -> io::Result<()> {
    let mut a = *attr;
    a.size = std::mem::size_of::<SchedAttr>() as u32;
    // SAFETY: `a` is a properly sized, initialised sched_attr that outlives the call.
    let rc = unsafe { libc::syscall(libc::SYS_sched_setattr, 0, &a as *const SchedAttr, 0) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Sets this process's I/O priority (ioprio_set(2), IOPRIO_WHO_PROCESS).
pub fn ioprio_set(class: i32, level: i32) -> io::Result<()> {
    const IOPRIO_WHO_PROCESS: libc::c_int = 1;
    let value = (class << 13) | level;
    // SAFETY: plain integer arguments.
    let rc = unsafe { libc::syscall(libc::SYS_ioprio_set, IOPRIO_WHO_PROCESS, 0, value) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Sets the execution domain (personality(2)).
pub fn set_personality(persona: libc::c_ulong) -> io::Result<()> {
    // SAFETY: personality takes a plain integer.
    let rc = unsafe { libc::personality(persona) };
    if rc == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Opens a pidfd for `pid` (pidfd_open(2)).
pub fn pidfd_open(pid: i32) -> io::Result<OwnedFd> {
    // SAFETY: plain integer arguments.
    let rc = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: on success the kernel returned a new fd that nobody else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(rc as RawFd) })
}

/// Takes ownership of an fd number inherited from the caller (`--preserve-fds`,
/// `LISTEN_FDS`-style handoffs). Returns `None` if it is not open.
pub fn inherited_fd(fd: RawFd) -> Option<OwnedFd> {
    // SAFETY: F_GETFD only inspects the descriptor table.
    if unsafe { libc::fcntl(fd, libc::F_GETFD) } == -1 {
        return None;
    }
    // SAFETY: the fd is open and was handed to us by our caller; we become its only owner.
    Some(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Exits the process immediately, without running destructors or atexit
/// handlers: the only correct way to end a forked child that must not flush
/// its parent's buffers.
pub fn exit_now(code: i32) -> ! {
    // SAFETY: _exit never returns and touches no Rust state.
    unsafe { libc::_exit(code) }
}

/// Sends signal number `sig` (including real-time signals, which
/// `nix::sys::signal::Signal` cannot name) to `pid`.
pub fn kill_raw(pid: i32, sig: i32) -> io::Result<()> {
    // SAFETY: plain integer arguments.
    let rc = unsafe { libc::kill(pid, sig) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Sets the NIS domain name of this UTS namespace.
pub fn set_domainname(name: &str) -> io::Result<()> {
    // SAFETY: the pointer and length describe `name`, alive for the call.
    let rc = unsafe { libc::setdomainname(name.as_ptr().cast(), name.len()) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Resets every signal's disposition to the default. Dispositions set to
/// "ignore" survive execve (Rust's runtime ignores SIGPIPE; a caller may
/// ignore others, even glibc's reserved 32 and 33), and the container's
/// process must start with the defaults, as under runc.
pub fn default_signal_dispositions() {
    #[repr(C)]
    struct KernelSigaction {
        handler: usize,
        flags: u64,
        restorer: usize,
        mask: u64,
    }
    let act = KernelSigaction {
        handler: libc::SIG_DFL,
        flags: 0,
        restorer: 0,
        mask: 0,
    };
    for sig in 1..=64 {
        if sig == libc::SIGKILL || sig == libc::SIGSTOP {
            continue;
        }
        // SAFETY: the raw rt_sigaction syscall (glibc's wrapper refuses its
        // reserved signals) with a valid kernel sigaction installing SIG_DFL;
        // no code of ours runs in signal context. The old action is not read.
        unsafe {
            libc::syscall(
                libc::SYS_rt_sigaction,
                sig,
                &act as *const KernelSigaction,
                std::ptr::null_mut::<KernelSigaction>(),
                8usize,
            );
        }
    }
}

/// The kernel's `struct mount_attr` (mount_setattr(2)).
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct MountAttr {
    pub attr_set: u64,
    pub attr_clr: u64,
    pub propagation: u64,
    pub userns_fd: u64,
}

/// Applies `attr` to the mount `fd` refers to and, with `recursive`, to
/// every mount below it (mount_setattr(2), AT_EMPTY_PATH).
pub fn mount_setattr(fd: BorrowedFd<'_>, recursive: bool, attr: &MountAttr) -> io::Result<()> {
    const AT_RECURSIVE: libc::c_uint = 0x8000;
    let flags = libc::AT_EMPTY_PATH as libc::c_uint | if recursive { AT_RECURSIVE } else { 0 };
    // SAFETY: an empty NUL-terminated path, a valid fd, and a properly sized
    // mount_attr that outlives the call; the kernel only reads it.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            fd.as_raw_fd(),
            c"".as_ptr(),
            flags,
            attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}
