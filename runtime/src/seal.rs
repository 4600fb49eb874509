//! Protection against CVE-2019-5736: a container must never be able to reach
//! keel's own writable executable through `/proc/<pid>/exe`.
//!
//! Before touching a container, keel copies itself into a memfd, seals it
//! against every write, and re-executes from it. Inside the container,
//! `/proc/self/exe` of any keel process then names an immutable, anonymous
//! copy; the file on the host is never exposed.

use std::ffi::CString;
use std::fs::File;
use std::os::fd::AsFd;
use std::os::unix::ffi::OsStrExt;

use nix::fcntl::{fcntl, FcntlArg, SealFlag};
use nix::sys::memfd::{memfd_create, MFdFlags};

/// Why keel could not re-execute from a sealed copy.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    #[error("cannot open /proc/self/exe: {0}; is /proc mounted?")]
    OpenSelf(std::io::Error),
    #[error("cannot create a sealed copy of keel: {0}")]
    Memfd(nix::Error),
    #[error("cannot copy keel into its sealed memfd: {0}")]
    Copy(std::io::Error),
    #[error("cannot re-execute from the sealed copy: {0}")]
    Exec(nix::Error),
}

/// True if the running executable is a sealed, unwritable memfd.
pub fn running_sealed() -> Result<bool, SealError> {
    let exe = File::open("/proc/self/exe").map_err(SealError::OpenSelf)?;
    Ok(is_sealed(&exe))
}

fn is_sealed(f: &File) -> bool {
    match fcntl(f.as_fd(), FcntlArg::F_GET_SEALS) {
        Ok(bits) => SealFlag::from_bits_truncate(bits).contains(SealFlag::F_SEAL_WRITE),
        Err(_) => false,
    }
}

/// Copies with read/write through a buffer. (`std::io::copy` between files
/// uses copy_file_range or sendfile, which can leave the kernel holding the
/// memfd's pages for a moment and make sealing fail with EBUSY.)
fn copy_plain(from: &mut File, to: &mut File) -> std::io::Result<()> {
    use std::io::{Read, Write};
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        to.write_all(&buf[..n])?;
    }
}

/// Re-executes the current process from a sealed memfd copy, unless it is
/// already running from one. Returns only if already sealed.
pub fn ensure_sealed() -> Result<(), SealError> {
    let mut exe = File::open("/proc/self/exe").map_err(SealError::OpenSelf)?;
    if is_sealed(&exe) {
        return Ok(());
    }
    let fd = memfd_create(c"keel", MFdFlags::MFD_CLOEXEC | MFdFlags::MFD_ALLOW_SEALING)
        .map_err(SealError::Memfd)?;
    let mut copy = File::from(fd);
    copy_plain(&mut exe, &mut copy).map_err(SealError::Copy)?;
    let seals = SealFlag::F_SEAL_SEAL
        | SealFlag::F_SEAL_SHRINK
        | SealFlag::F_SEAL_GROW
        | SealFlag::F_SEAL_WRITE;
    // F_SEAL_WRITE fails with EBUSY while the kernel still holds references
    // to the memfd's pages (it waits only briefly for them); on a loaded
    // machine that happens. Retry a few times before giving up.
    let mut tries = 0;
    loop {
        match fcntl(copy.as_fd(), FcntlArg::F_ADD_SEALS(seals)) {
            Ok(_) => break,
            Err(nix::errno::Errno::EBUSY) if tries < 20 => {
                tries += 1;
                std::thread::sleep(std::time::Duration::from_millis(5 * tries));
            }
            Err(e) => return Err(SealError::Memfd(e)),
        }
    }
    let args: Vec<CString> = std::env::args_os()
        .filter_map(|a| CString::new(a.as_bytes()).ok())
        .collect();
    let env: Vec<CString> = std::env::vars_os()
        .filter_map(|(k, v)| {
            let mut kv = k.as_bytes().to_vec();
            kv.push(b'=');
            kv.extend_from_slice(v.as_bytes());
            CString::new(kv).ok()
        })
        .collect();
    let err = nix::unistd::fexecve(copy.as_fd(), &args, &env).unwrap_err();
    Err(SealError::Exec(err))
}
