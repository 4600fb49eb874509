//! The extended-attribute syscalls nix does not wrap: `lsetxattr`,
//! `lgetxattr` and `llistxattr`, all of which act on a symlink itself rather
//! than its target. The only `unsafe` of the layer code lives here.
//!
//! Must never follow the final component of a path.

use std::ffi::{CString, OsStr};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

fn cstr(b: &[u8]) -> io::Result<CString> {
    CString::new(b)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "name contains a NUL byte"))
}

/// Sets extended attribute `name` of `path` (not following a final symlink).
pub fn lsetxattr(path: &Path, name: &str, value: &[u8]) -> io::Result<()> {
    let p = cstr(path.as_os_str().as_bytes())?;
    let n = cstr(name.as_bytes())?;
    // SAFETY: `p` and `n` are NUL-terminated strings that outlive the call;
    // `value` is a valid buffer of `value.len()` bytes that the kernel only reads.
    let rc = unsafe {
        libc::lsetxattr(
            p.as_ptr(),
            n.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// The value of extended attribute `name` of `path`, `None` if unset.
pub fn lgetxattr(path: &Path, name: &str) -> io::Result<Option<Vec<u8>>> {
    let p = cstr(path.as_os_str().as_bytes())?;
    let n = cstr(name.as_bytes())?;
    let mut buf = vec![0u8; 256];
    loop {
        // SAFETY: `p`/`n` are NUL-terminated and live across the call; the
        // kernel writes at most `buf.len()` bytes into `buf`.
        let rc =
            unsafe { libc::lgetxattr(p.as_ptr(), n.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
        if rc >= 0 {
            buf.truncate(rc.unsigned_abs());
            return Ok(Some(buf));
        }
        let err = io::Error::last_os_error();
        match err.raw_os_error() {
            Some(libc::ENODATA) => return Ok(None),
            Some(libc::ERANGE) if buf.len() < 1 << 20 => buf.resize(buf.len() * 4, 0),
            _ => return Err(err),
        }
    }
}

/// The names of the extended attributes of `path`, sorted.
pub fn llistxattr(path: &Path) -> io::Result<Vec<String>> {
    let p = cstr(path.as_os_str().as_bytes())?;
    let mut buf = vec![0u8; 1024];
    loop {
        // SAFETY: `p` is NUL-terminated and lives across the call; the kernel
        // writes at most `buf.len()` bytes into `buf`.
        let rc = unsafe { libc::llistxattr(p.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
        if rc >= 0 {
            buf.truncate(rc.unsigned_abs());
            break;
        }
        let err = io::Error::last_os_error();
        match err.raw_os_error() {
            Some(libc::ERANGE) if buf.len() < 1 << 24 => buf.resize(buf.len() * 4, 0),
            _ => return Err(err),
        }
    }
    let mut names: Vec<String> = buf
        .split(|&b| b == 0)
        .filter(|n| !n.is_empty())
        .map(|n| OsStr::from_bytes(n).to_string_lossy().into_owned())
        .collect();
    names.sort();
    Ok(names)
}
