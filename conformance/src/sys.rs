//! The crate's only `unsafe`: thin wrappers over the few syscalls that std
//! does not expose. Each wrapper returns `io::Result` and does nothing but
//! the call; policy lives in the callers.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;

fn cstr(path: &Path) -> io::Result<CString> {
    CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains a NUL byte"))
}

fn check(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// `getrlimit(resource)` as `(soft, hard)`; `RLIM_INFINITY` is `u64::MAX`.
pub fn getrlimit(resource: u32) -> io::Result<(u64, u64)> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `lim` is a valid, writable rlimit struct that outlives the call.
    check(unsafe { libc::getrlimit(resource as _, &mut lim) })?;
    Ok((lim.rlim_cur, lim.rlim_max))
}

/// `uname()`'s nodename and domainname.
pub fn uname_names() -> io::Result<(String, String)> {
    // SAFETY: utsname is plain old data; all-zero is a valid value.
    let mut uts: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: `uts` is a valid, writable utsname that outlives the call.
    check(unsafe { libc::uname(&mut uts) })?;
    let field = |f: &[libc::c_char]| {
        let bytes: Vec<u8> = f
            .iter()
            .take_while(|&&c| c != 0)
            .map(|&c| c as u8)
            .collect();
        String::from_utf8_lossy(&bytes).into_owned()
    };
    Ok((field(&uts.nodename), field(&uts.domainname)))
}

/// The raw `getcwd` syscall: unlike glibc's wrapper it returns the kernel's
/// answer as is, including an "(unreachable)" prefix.
pub fn getcwd_raw() -> io::Result<Vec<u8>> {
    let mut buf = vec![0u8; libc::PATH_MAX as usize + 1];
    // SAFETY: the buffer is valid for `buf.len()` bytes and outlives the call.
    let n = unsafe { libc::syscall(libc::SYS_getcwd, buf.as_mut_ptr(), buf.len()) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    buf.truncate(n as usize);
    if buf.last() == Some(&0) {
        buf.pop();
    }
    Ok(buf)
}

/// `isatty(fd)`.
pub fn isatty(fd: RawFd) -> bool {
    // SAFETY: isatty only inspects the descriptor number.
    unsafe { libc::isatty(fd) == 1 }
}

/// The terminal size of `fd` as `(rows, cols)`.
pub fn winsize(fd: RawFd) -> io::Result<(u16, u16)> {
    let mut ws = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes one winsize into `ws`, which outlives the call.
    check(unsafe { libc::ioctl(fd, libc::TIOCGWINSZ, &mut ws) })?;
    Ok((ws.ws_row, ws.ws_col))
}

/// The open descriptors of this process, listed from `/proc/self/fd`, minus
/// the descriptor used to read that directory.
pub fn open_fds() -> io::Result<Vec<RawFd>> {
    let path = CString::new("/proc/self/fd").expect("static path");
    // SAFETY: `path` is a valid NUL-terminated string.
    let dir = unsafe { libc::opendir(path.as_ptr()) };
    if dir.is_null() {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `dir` is a valid, open DIR stream.
    let own = unsafe { libc::dirfd(dir) };
    let mut fds = Vec::new();
    loop {
        // SAFETY: `dir` is a valid, open DIR stream.
        let ent = unsafe { libc::readdir(dir) };
        if ent.is_null() {
            break;
        }
        // SAFETY: readdir returned a valid dirent whose d_name is NUL-terminated;
        // we copy the name before the next readdir call.
        let name = unsafe { std::ffi::CStr::from_ptr((*ent).d_name.as_ptr()) };
        if let Ok(fd) = name.to_string_lossy().parse::<RawFd>() {
            if fd != own {
                fds.push(fd);
            }
        }
    }
    // SAFETY: `dir` is open and not used afterwards.
    unsafe { libc::closedir(dir) };
    fds.sort_unstable();
    Ok(fds)
}

/// Make this process a child subreaper, so orphaned container processes are
/// reparented to it and can be waited for.
pub fn set_child_subreaper() -> io::Result<()> {
    // SAFETY: PR_SET_CHILD_SUBREAPER takes a plain integer argument.
    check(unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) })?;
    Ok(())
}

/// The outcome of a non-blocking wait for one child.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitOutcome {
    /// The child is still running.
    Running,
    /// The child exited with this code, or 128+N for signal N.
    Exited(i32),
    /// The process is not our child (ECHILD).
    NotChild,
}

/// `waitpid(pid, WNOHANG)`.
pub fn try_wait(pid: i32) -> io::Result<WaitOutcome> {
    let mut status = 0;
    // SAFETY: `status` is a valid, writable int that outlives the call.
    let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
    if r == 0 {
        return Ok(WaitOutcome::Running);
    }
    if r < 0 {
        let e = io::Error::last_os_error();
        if e.raw_os_error() == Some(libc::ECHILD) {
            return Ok(WaitOutcome::NotChild);
        }
        return Err(e);
    }
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else if libc::WIFSIGNALED(status) {
        128 + libc::WTERMSIG(status)
    } else {
        return Ok(WaitOutcome::Running);
    };
    Ok(WaitOutcome::Exited(code))
}

/// `kill(pid, sig)`.
pub fn kill(pid: i32, sig: i32) -> io::Result<()> {
    // SAFETY: kill only takes integers.
    check(unsafe { libc::kill(pid, sig) })?;
    Ok(())
}

/// Lazily unmount `path` (`umount2(path, MNT_DETACH)`).
pub fn umount_detach(path: &Path) -> io::Result<()> {
    let c = cstr(path)?;
    // SAFETY: `c` is a valid NUL-terminated path.
    check(unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) })?;
    Ok(())
}

/// Duplicate `fd` to a close-on-exec descriptor numbered at least `min`.
pub fn dup_at_least(fd: RawFd, min: RawFd) -> io::Result<OwnedFd> {
    // SAFETY: F_DUPFD_CLOEXEC takes an int and returns a new descriptor.
    let new = check(unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, min) })?;
    // SAFETY: `new` was just returned by fcntl and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(new) })
}

/// Arrange for the child of `cmd` to get `fds[i]` as descriptor `3 + i`.
///
/// Every source descriptor must be numbered above `3 + fds.len()` (use
/// [`dup_at_least`]) so that the `dup2` calls cannot overwrite each other.
pub fn pass_fds(cmd: &mut Command, fds: Vec<RawFd>) {
    let hook = move || -> io::Result<()> {
        for (i, &fd) in fds.iter().enumerate() {
            // SAFETY: dup2 is async-signal-safe; it clears FD_CLOEXEC on the target.
            check(unsafe { libc::dup2(fd, 3 + i as RawFd) })?;
        }
        Ok(())
    };
    // SAFETY: the hook only calls dup2, which is async-signal-safe, and
    // allocates nothing.
    unsafe {
        cmd.pre_exec(hook);
    }
}

/// Receive one descriptor sent with SCM_RIGHTS over a connected unix socket.
pub fn recv_fd(sock: &impl AsRawFd) -> io::Result<OwnedFd> {
    let (_, fds) = recv_fds_with_data(sock)?;
    fds.into_iter().next().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            "console socket message carried no file descriptor",
        )
    })
}

/// Receive one message over a connected unix socket: its payload and every
/// descriptor sent with it (SCM_RIGHTS).
pub fn recv_fds_with_data(sock: &impl AsRawFd) -> io::Result<(Vec<u8>, Vec<OwnedFd>)> {
    let mut data = vec![0u8; 16384];
    let mut iov = libc::iovec {
        iov_base: data.as_mut_ptr().cast(),
        iov_len: data.len(),
    };
    // Room for a handful of descriptors; u64 keeps the buffer aligned.
    let mut cbuf = [0u64; 16];
    // SAFETY: msghdr is plain old data; all-zero is a valid value.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(&cbuf);
    // SAFETY: msg points at iov and cbuf, which are valid and outlive the call.
    let n = unsafe { libc::recvmsg(sock.as_raw_fd(), &mut msg, libc::MSG_CMSG_CLOEXEC) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    let mut received: Vec<OwnedFd> = Vec::new();
    // SAFETY: msg was filled in by recvmsg; the CMSG macros walk its control buffer.
    let mut cmsg = unsafe { libc::CMSG_FIRSTHDR(&msg) };
    while !cmsg.is_null() {
        // SAFETY: cmsg is non-null and points into cbuf.
        let hdr = unsafe { &*cmsg };
        if hdr.cmsg_level == libc::SOL_SOCKET && hdr.cmsg_type == libc::SCM_RIGHTS {
            // SAFETY: CMSG_LEN(0) is a pure size computation.
            let header = unsafe { libc::CMSG_LEN(0) } as usize;
            let count = (hdr.cmsg_len as usize - header) / std::mem::size_of::<RawFd>();
            // SAFETY: CMSG_DATA points at `count` descriptors inside cbuf.
            let data = unsafe { libc::CMSG_DATA(cmsg) }.cast::<RawFd>();
            for i in 0..count {
                // SAFETY: i < count, within the control message; the read is
                // unaligned-safe, and each received descriptor is new and ours.
                let fd = unsafe { data.add(i).read_unaligned() };
                // SAFETY: the kernel just installed `fd` for us.
                received.push(unsafe { OwnedFd::from_raw_fd(fd) });
            }
        }
        // SAFETY: msg and cmsg are valid; NXTHDR returns null at the end.
        cmsg = unsafe { libc::CMSG_NXTHDR(&msg, cmsg) };
    }
    data.truncate(n as usize);
    Ok((data, received))
}

/// `poll` one descriptor for input. Ok(true) when readable, Ok(false) on
/// timeout; an error when the descriptor hung up or failed.
pub fn poll_readable(fd: RawFd, timeout_ms: i32) -> io::Result<bool> {
    let mut p = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: `p` is one valid pollfd that outlives the call.
    let r = unsafe { libc::poll(&mut p, 1, timeout_ms) };
    if r < 0 {
        let e = io::Error::last_os_error();
        if e.kind() == io::ErrorKind::Interrupted {
            return Ok(false);
        }
        return Err(e);
    }
    if r == 0 {
        return Ok(false);
    }
    if p.revents & libc::POLLIN != 0 {
        return Ok(true);
    }
    Err(io::Error::new(
        io::ErrorKind::BrokenPipe,
        format!("poll revents {:#x}", p.revents),
    ))
}

/// One seccomp user notification: its id, the syscall number and arguments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeccompNotif {
    pub id: u64,
    pub pid: u32,
    pub nr: i32,
    pub args: [u64; 6],
}

/// `SECCOMP_IOCTL_NOTIF_RECV` on a seccomp listener descriptor.
pub fn seccomp_notif_recv(fd: RawFd) -> io::Result<SeccompNotif> {
    // SAFETY: seccomp_notif is plain old data and must be zeroed for RECV.
    let mut n: libc::seccomp_notif = unsafe { std::mem::zeroed() };
    // SAFETY: NOTIF_RECV writes one seccomp_notif into `n`, which outlives the call.
    check(unsafe { libc::ioctl(fd, libc::SECCOMP_IOCTL_NOTIF_RECV, &mut n) })?;
    Ok(SeccompNotif {
        id: n.id,
        pid: n.pid,
        nr: n.data.nr,
        args: n.data.args,
    })
}

/// `SECCOMP_IOCTL_NOTIF_SEND`: answer notification `id` with `-errno`
/// (when `errno` is non-zero) or with the return value `val`.
pub fn seccomp_notif_send(fd: RawFd, id: u64, errno: i32, val: i64) -> io::Result<()> {
    let mut r = libc::seccomp_notif_resp {
        id,
        val,
        error: -errno,
        flags: 0,
    };
    // SAFETY: NOTIF_SEND reads one seccomp_notif_resp from `r`, which outlives the call.
    check(unsafe { libc::ioctl(fd, libc::SECCOMP_IOCTL_NOTIF_SEND, &mut r) })?;
    Ok(())
}

/// The outcome of a probed syscall: its return value or its errno.
pub type SyscallResult = Result<i64, i32>;

fn sys_result(r: libc::c_long) -> SyscallResult {
    if r < 0 {
        Err(io::Error::last_os_error().raw_os_error().unwrap_or(0))
    } else {
        Ok(r)
    }
}

/// The syscalls keel-check may probe with integer arguments only. None of
/// them reads or writes memory through an argument.
pub const INT_SYSCALLS: &[(&str, libc::c_long)] = &[
    ("close", libc::SYS_close),
    ("dup", libc::SYS_dup),
    ("getpid", libc::SYS_getpid),
    ("getppid", libc::SYS_getppid),
    ("getuid", libc::SYS_getuid),
    ("getgid", libc::SYS_getgid),
    ("getpriority", libc::SYS_getpriority),
    ("sched_yield", libc::SYS_sched_yield),
    ("umask", libc::SYS_umask),
    ("personality", libc::SYS_personality),
    ("kill", libc::SYS_kill),
    ("socket", libc::SYS_socket),
    ("fchmod", libc::SYS_fchmod),
    ("fchdir", libc::SYS_fchdir),
    ("flock", libc::SYS_flock),
    ("setpgid", libc::SYS_setpgid),
    ("getpgid", libc::SYS_getpgid),
    ("getsid", libc::SYS_getsid),
];

/// Call one of [`INT_SYSCALLS`] by name with integer arguments.
pub fn int_syscall(name: &str, args: &[u64]) -> Option<SyscallResult> {
    let nr = INT_SYSCALLS.iter().find(|(n, _)| *n == name)?.1;
    let mut a = [0u64; 6];
    for (d, s) in a.iter_mut().zip(args) {
        *d = *s;
    }
    // SAFETY: every syscall in INT_SYSCALLS takes integer arguments only and
    // never dereferences them, so no argument value can corrupt memory.
    let r = unsafe { libc::syscall(nr, a[0], a[1], a[2], a[3], a[4], a[5]) };
    let res = sys_result(r);
    // A probe that created a descriptor must not leak it into later checks.
    if matches!(name, "dup" | "socket") {
        if let Ok(fd) = res {
            // SAFETY: the descriptor was just created by this probe and is ours.
            unsafe { libc::close(fd as RawFd) };
        }
    }
    Some(res)
}

/// The raw `mkdir` syscall (not mkdirat).
pub fn sys_mkdir(path: &Path, mode: u32) -> io::Result<SyscallResult> {
    let c = cstr(path)?;
    // SAFETY: `c` is a valid NUL-terminated path that outlives the call.
    Ok(sys_result(unsafe {
        libc::syscall(libc::SYS_mkdir, c.as_ptr(), mode as libc::c_long)
    }))
}

/// The raw `mkdirat(AT_FDCWD, …)` syscall.
pub fn sys_mkdirat(path: &Path, mode: u32) -> io::Result<SyscallResult> {
    let c = cstr(path)?;
    // SAFETY: `c` is a valid NUL-terminated path that outlives the call.
    Ok(sys_result(unsafe {
        libc::syscall(
            libc::SYS_mkdirat,
            libc::AT_FDCWD as libc::c_long,
            c.as_ptr(),
            mode as libc::c_long,
        )
    }))
}

/// The raw `chmod` syscall.
pub fn sys_chmod(path: &Path, mode: u32) -> io::Result<SyscallResult> {
    let c = cstr(path)?;
    // SAFETY: `c` is a valid NUL-terminated path that outlives the call.
    Ok(sys_result(unsafe {
        libc::syscall(libc::SYS_chmod, c.as_ptr(), mode as libc::c_long)
    }))
}

/// The raw `uname` syscall.
pub fn sys_uname() -> SyscallResult {
    // SAFETY: utsname is plain old data; all-zero is a valid value.
    let mut uts: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: `uts` is a valid, writable utsname that outlives the call.
    sys_result(unsafe { libc::syscall(libc::SYS_uname, &mut uts as *mut libc::utsname) })
}

/// The raw `getcwd` syscall's result (the length, or the errno).
pub fn sys_getcwd() -> SyscallResult {
    let mut buf = vec![0u8; libc::PATH_MAX as usize + 1];
    // SAFETY: the buffer is valid for `buf.len()` bytes and outlives the call.
    sys_result(unsafe { libc::syscall(libc::SYS_getcwd, buf.as_mut_ptr(), buf.len()) })
}

/// `uname()`'s machine field.
pub fn uname_machine() -> io::Result<String> {
    // SAFETY: utsname is plain old data; all-zero is a valid value.
    let mut uts: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: `uts` is a valid, writable utsname that outlives the call.
    check(unsafe { libc::uname(&mut uts) })?;
    let bytes: Vec<u8> = uts
        .machine
        .iter()
        .take_while(|&&c| c != 0)
        .map(|&c| c as u8)
        .collect();
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// `clock_gettime(clock)` in whole seconds.
pub fn clock_secs(clock: libc::clockid_t) -> io::Result<i64> {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec that outlives the call.
    check(unsafe { libc::clock_gettime(clock, &mut ts) })?;
    Ok(ts.tv_sec)
}

/// `mknod(path, mode | kind, makedev(major, minor))`.
pub fn mknod(path: &Path, kind: libc::mode_t, mode: u32, major: u32, minor: u32) -> io::Result<()> {
    let c = cstr(path)?;
    let dev = libc::makedev(major, minor);
    // SAFETY: `c` is a valid NUL-terminated path; the rest are integers.
    check(unsafe { libc::mknod(c.as_ptr(), kind | mode as libc::mode_t, dev) })?;
    Ok(())
}

/// Fork children that sleep until killed, up to `n` of them. Returns how
/// many forks succeeded and the errno of the first failure, after killing
/// and reaping every child.
pub fn fork_sleepers(n: usize) -> (usize, Option<i32>) {
    let mut kids = Vec::new();
    let mut err = None;
    for _ in 0..n {
        // SAFETY: the child only calls async-signal-safe functions (pause,
        // _exit) before it is killed.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            loop {
                // SAFETY: pause has no arguments; the child never returns.
                unsafe { libc::pause() };
            }
        }
        if pid < 0 {
            err = io::Error::last_os_error().raw_os_error();
            break;
        }
        kids.push(pid);
    }
    for &k in &kids {
        let _ = kill(k, libc::SIGKILL);
        let mut st = 0;
        // SAFETY: `st` is a valid, writable int; `k` is our child.
        unsafe { libc::waitpid(k, &mut st, 0) };
    }
    (kids.len(), err)
}
