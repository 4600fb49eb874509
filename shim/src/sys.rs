//! The only `unsafe` of the shim: the few kernel calls nix does not wrap
//! safely. Each function is small and documents why its block is sound.
//!
//! Nothing here keeps state or makes policy decisions.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

/// A terminal's size in character cells.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WinSize {
    pub rows: u16,
    pub cols: u16,
}

/// `TIOCGWINSZ`: the window size of the terminal `fd`.
pub fn get_winsize(fd: BorrowedFd<'_>) -> io::Result<WinSize> {
    let mut ws = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes one `struct winsize` through the pointer,
    // which points at a live, correctly sized local; `fd` is a valid open fd
    // for the duration of the call (borrowed).
    let r = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCGWINSZ, &mut ws) };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(WinSize {
        rows: ws.ws_row,
        cols: ws.ws_col,
    })
}

/// `TIOCSWINSZ`: sets the window size of the terminal `fd` (on a pty master
/// the kernel then sends SIGWINCH to the slave's foreground process group).
pub fn set_winsize(fd: BorrowedFd<'_>, size: WinSize) -> io::Result<()> {
    let ws = libc::winsize {
        ws_row: size.rows,
        ws_col: size.cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ only reads one `struct winsize` through the pointer,
    // which points at a live local; `fd` is a valid borrowed fd.
    let r = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCSWINSZ, &ws) };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Takes ownership of an fd the kernel just installed in our table (from
/// an SCM_RIGHTS message). `None` for a negative fd.
pub fn adopt_received_fd(fd: RawFd) -> Option<OwnedFd> {
    if fd < 0 {
        return None;
    }
    // SAFETY: the fd was created for us by recvmsg(2) with SCM_RIGHTS; no
    // other owner exists, so wrapping it in an OwnedFd (closed on drop)
    // cannot double-close or alias it.
    Some(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Makes `cmd`'s child start with an empty signal mask and every signal at
/// its default action. The shim blocks the signals it reads from its
/// signalfd, and a mask (like an ignored disposition, e.g. SIGINT for a
/// background job) survives fork and execve; runc passes both on to the
/// container's process, so without this the container would start with
/// SIGUSR1 & co. blocked.
pub fn exec_with_clean_signals(cmd: &mut std::process::Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: the hook runs in the child between fork and execve, where
    // only async-signal-safe work is allowed: it makes raw rt_sigaction(2)
    // and sigprocmask(2) system calls with values on the stack; it does not
    // allocate, lock, or touch state shared with the parent. The raw call
    // (not libc's sigaction) also resets the signals glibc reserves for
    // itself (32, 33), which an ignoring parent may have passed down; the
    // process is about to execve, so glibc's own use of them does not
    // matter. The kernel's `struct sigaction` for SIG_DFL with no flags,
    // restorer or mask is all zeros: four zeroed words, 8 bytes of mask.
    unsafe {
        cmd.pre_exec(|| {
            let dfl = [0u64; 4];
            for sig in 1..=64 {
                if sig != libc::SIGKILL && sig != libc::SIGSTOP {
                    libc::syscall(
                        libc::SYS_rt_sigaction,
                        sig,
                        dfl.as_ptr(),
                        std::ptr::null_mut::<u64>(),
                        8usize,
                    );
                }
            }
            nix::sys::signal::sigprocmask(
                nix::sys::signal::SigmaskHow::SIG_SETMASK,
                Some(&nix::sys::signal::SigSet::empty()),
                None,
            )
            .map_err(std::io::Error::from)
        });
    }
}
