//! Encoding of tar headers: a ustar header, preceded by a PAX extended
//! header (`x`) when a value does not fit ustar (long or non-ASCII names,
//! big ids, sizes or times, device numbers, xattrs). Only bytes are built
//! here; what goes into a layer is decided by `write.rs`.
//!
//! Must never emit GNU extensions: PAX records are the only escape hatch.

use std::collections::BTreeMap;
use std::io::{self, Write};

pub(crate) const BLOCK: usize = 512;

/// The ustar typeflags hoist writes.
pub(crate) mod typeflag {
    pub const REGULAR: u8 = b'0';
    pub const HARDLINK: u8 = b'1';
    pub const SYMLINK: u8 = b'2';
    pub const CHAR: u8 = b'3';
    pub const BLOCK: u8 = b'4';
    pub const DIR: u8 = b'5';
    pub const FIFO: u8 = b'6';
    pub const PAX: u8 = b'x';
}

/// Everything a header says about one entry.
pub(crate) struct HeaderSpec<'a> {
    /// The name in the tar (`dir/` for directories).
    pub name: &'a str,
    pub link: &'a str,
    pub typeflag: u8,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    pub size: u64,
    pub mtime: i64,
    pub devmajor: u32,
    pub devminor: u32,
    pub xattrs: &'a BTreeMap<String, Vec<u8>>,
}

const NAME: (usize, usize) = (0, 100);
const MODE: (usize, usize) = (100, 8);
const UID: (usize, usize) = (108, 8);
const GID: (usize, usize) = (116, 8);
const SIZE: (usize, usize) = (124, 12);
const MTIME: (usize, usize) = (136, 12);
const CHKSUM: (usize, usize) = (148, 8);
const TYPEFLAG: usize = 156;
const LINKNAME: (usize, usize) = (157, 100);
const MAGIC: (usize, usize) = (257, 8);
const DEVMAJOR: (usize, usize) = (329, 8);
const DEVMINOR: (usize, usize) = (337, 8);
const PREFIX: (usize, usize) = (345, 155);

/// Writes the header(s) for `spec`: a PAX header first when needed.
pub(crate) fn write_header(w: &mut impl Write, spec: &HeaderSpec<'_>) -> io::Result<()> {
    let mut h = [0u8; BLOCK];
    let mut pax: BTreeMap<String, Vec<u8>> = BTreeMap::new();

    if !put_path(&mut h, spec.name) {
        pax.insert("path".into(), spec.name.as_bytes().to_vec());
        put_str(&mut h, NAME, truncate(spec.name, NAME.1));
    }
    if !spec.link.is_empty() && !fits_str(spec.link, LINKNAME.1) {
        pax.insert("linkpath".into(), spec.link.as_bytes().to_vec());
        put_str(&mut h, LINKNAME, truncate(spec.link, LINKNAME.1));
    } else {
        put_str(&mut h, LINKNAME, spec.link);
    }
    put_octal(&mut h, MODE, u64::from(spec.mode & 0o7777));
    if !put_octal(&mut h, UID, spec.uid) {
        pax.insert("uid".into(), spec.uid.to_string().into_bytes());
        put_octal(&mut h, UID, 0);
    }
    if !put_octal(&mut h, GID, spec.gid) {
        pax.insert("gid".into(), spec.gid.to_string().into_bytes());
        put_octal(&mut h, GID, 0);
    }
    if !put_octal(&mut h, SIZE, spec.size) {
        pax.insert("size".into(), spec.size.to_string().into_bytes());
        put_octal(&mut h, SIZE, 0);
    }
    match u64::try_from(spec.mtime) {
        Ok(m) if put_octal(&mut h, MTIME, m) => {}
        _ => {
            pax.insert("mtime".into(), spec.mtime.to_string().into_bytes());
            put_octal(&mut h, MTIME, 0);
        }
    }
    if let Some(t) = h.get_mut(TYPEFLAG) {
        *t = spec.typeflag;
    }
    put_bytes(&mut h, MAGIC, b"ustar\x0000");
    if !put_octal(&mut h, DEVMAJOR, u64::from(spec.devmajor)) {
        pax.insert(
            "SCHILY.devmajor".into(),
            spec.devmajor.to_string().into_bytes(),
        );
        put_octal(&mut h, DEVMAJOR, 0);
    }
    if !put_octal(&mut h, DEVMINOR, u64::from(spec.devminor)) {
        pax.insert(
            "SCHILY.devminor".into(),
            spec.devminor.to_string().into_bytes(),
        );
        put_octal(&mut h, DEVMINOR, 0);
    }
    for (k, v) in spec.xattrs {
        pax.insert(format!("SCHILY.xattr.{k}"), v.clone());
    }

    if !pax.is_empty() {
        let data = pax_records(&pax);
        let base = spec.name.trim_end_matches('/');
        let base = base.rsplit('/').next().unwrap_or(base);
        let pax_name = format!("PaxHeaders.0/{base}");
        let mut ph = [0u8; BLOCK];
        put_str(&mut ph, NAME, truncate(&pax_name, NAME.1));
        put_octal(&mut ph, MODE, 0o644);
        put_octal(&mut ph, UID, 0);
        put_octal(&mut ph, GID, 0);
        put_octal(&mut ph, SIZE, data.len() as u64);
        put_octal(&mut ph, MTIME, 0);
        if let Some(t) = ph.get_mut(TYPEFLAG) {
            *t = typeflag::PAX;
        }
        put_bytes(&mut ph, MAGIC, b"ustar\x0000");
        put_octal(&mut ph, DEVMAJOR, 0);
        put_octal(&mut ph, DEVMINOR, 0);
        checksum(&mut ph);
        w.write_all(&ph)?;
        w.write_all(&data)?;
        pad(w, data.len() as u64)?;
    }

    checksum(&mut h);
    w.write_all(&h)
}

/// Zero bytes up to the next block boundary after `len` bytes of content.
pub(crate) fn pad(w: &mut impl Write, len: u64) -> io::Result<()> {
    let rem = (len % BLOCK as u64) as usize;
    if rem != 0 {
        w.write_all(&[0u8; BLOCK][rem..])?;
    }
    Ok(())
}

/// The end-of-archive marker: two zero blocks.
pub(crate) fn write_trailer(w: &mut impl Write) -> io::Result<()> {
    w.write_all(&[0u8; 2 * BLOCK])
}

/// `"<len> <key>=<value>\n"` records, `len` counting the whole record.
fn pax_records(recs: &BTreeMap<String, Vec<u8>>) -> Vec<u8> {
    let mut out = Vec::new();
    for (k, v) in recs {
        // " key=value\n"
        let rest = 1 + k.len() + 1 + v.len() + 1;
        let mut len = rest + 1;
        while len != rest + len.to_string().len() {
            len = rest + len.to_string().len();
        }
        out.extend_from_slice(len.to_string().as_bytes());
        out.push(b' ');
        out.extend_from_slice(k.as_bytes());
        out.push(b'=');
        out.extend_from_slice(v);
        out.push(b'\n');
    }
    out
}

/// Puts `name` in the ustar name (and prefix) fields; false if it does not
/// fit or is not plain ASCII.
fn put_path(h: &mut [u8; BLOCK], name: &str) -> bool {
    if !name.is_ascii() || name.contains('\0') {
        return false;
    }
    if name.len() <= NAME.1 {
        put_str(h, NAME, name);
        return true;
    }
    // Split at a '/' so that prefix <= 155 and name <= 100 (name non-empty).
    let bytes = name.as_bytes();
    let lo = bytes.len().saturating_sub(NAME.1 + 1);
    let hi = PREFIX.1.min(bytes.len().saturating_sub(1));
    for i in lo..=hi {
        if bytes.get(i) == Some(&b'/') && i > 0 {
            let (prefix, rest) = (&name[..i], &name[i + 1..]);
            if !rest.is_empty() && rest.len() <= NAME.1 && prefix.len() <= PREFIX.1 {
                put_str(h, PREFIX, prefix);
                put_str(h, NAME, rest);
                return true;
            }
        }
    }
    false
}

fn fits_str(s: &str, width: usize) -> bool {
    s.is_ascii() && !s.contains('\0') && s.len() <= width
}

/// The longest prefix of `s` that fits `width` bytes, cut at a char boundary.
fn truncate(s: &str, width: usize) -> &str {
    if s.len() <= width {
        return s;
    }
    let mut end = width;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

fn put_str(h: &mut [u8; BLOCK], field: (usize, usize), s: &str) {
    put_bytes(h, field, s.as_bytes());
}

fn put_bytes(h: &mut [u8; BLOCK], (off, width): (usize, usize), b: &[u8]) {
    let n = b.len().min(width);
    if let (Some(dst), Some(src)) = (h.get_mut(off..off + n), b.get(..n)) {
        dst.copy_from_slice(src);
    }
}

/// Zero-padded octal with a trailing NUL; false (field untouched) if `v`
/// needs more than `width - 1` digits.
fn put_octal(h: &mut [u8; BLOCK], (off, width): (usize, usize), v: u64) -> bool {
    let digits = width - 1;
    let s = format!("{v:0digits$o}");
    if s.len() > digits {
        return false;
    }
    put_bytes(h, (off, width), s.as_bytes());
    if let Some(b) = h.get_mut(off + digits) {
        *b = 0;
    }
    true
}

/// Fills the checksum field: the byte sum with the field taken as spaces,
/// written as six octal digits, NUL, space.
fn checksum(h: &mut [u8; BLOCK]) {
    put_bytes(h, CHKSUM, b"        ");
    let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
    put_bytes(h, CHKSUM, format!("{sum:06o}\0 ").as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec<'a>(name: &'a str, x: &'a BTreeMap<String, Vec<u8>>) -> HeaderSpec<'a> {
        HeaderSpec {
            name,
            link: "",
            typeflag: typeflag::REGULAR,
            mode: 0o644,
            uid: 0,
            gid: 0,
            size: 0,
            mtime: 0,
            devmajor: 0,
            devminor: 0,
            xattrs: x,
        }
    }

    #[test]
    fn pax_record_lengths_count_themselves() {
        let mut m = BTreeMap::new();
        m.insert("path".to_string(), vec![b'a'; 93]);
        let r = pax_records(&m);
        // "100 path=" + 93 + "\n" = 4 + 5 + 93 + 1 = 103? digits grow: check self-consistency
        let s = String::from_utf8(r.clone()).unwrap();
        let (n, _) = s.split_once(' ').unwrap();
        assert_eq!(n.parse::<usize>().unwrap(), r.len());
        for len in 0..300 {
            let mut m = BTreeMap::new();
            m.insert("k".to_string(), vec![b'v'; len]);
            let r = pax_records(&m);
            let s = String::from_utf8(r.clone()).unwrap();
            assert_eq!(
                s.split_once(' ').unwrap().0.parse::<usize>().unwrap(),
                r.len()
            );
        }
    }

    #[test]
    fn short_names_need_no_pax_and_checksum_is_valid() {
        let x = BTreeMap::new();
        let mut out = Vec::new();
        write_header(&mut out, &spec("a/b", &x)).unwrap();
        assert_eq!(out.len(), BLOCK);
        let h = tar::Header::from_byte_slice(&out);
        assert_eq!(h.path_bytes().as_ref(), b"a/b");
        assert_eq!(h.cksum().unwrap(), {
            let mut c = out.clone();
            c[148..156].copy_from_slice(b"        ");
            c.iter().map(|&b| u32::from(b)).sum::<u32>()
        });
    }

    #[test]
    fn prefix_split_and_pax_fallback() {
        let x = BTreeMap::new();
        let long = format!("{}/{}", "d".repeat(150), "f".repeat(99));
        let mut out = Vec::new();
        write_header(&mut out, &spec(&long, &x)).unwrap();
        assert_eq!(out.len(), BLOCK, "fits via prefix");
        let longer = format!("{}/{}", "d".repeat(200), "f".repeat(99));
        let mut out = Vec::new();
        write_header(&mut out, &spec(&longer, &x)).unwrap();
        assert!(out.len() > BLOCK, "needs pax");
        assert_eq!(out[156], b'x');
    }
}
