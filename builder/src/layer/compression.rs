//! Recognising and undoing layer/archive compression by magic bytes: gzip,
//! zstd, bzip2, xz, or a plain stream. Used by layer apply, `hoist load`
//! and ADD's auto-extraction.
//!
//! Must never lose bytes: the bytes peeked to decide are replayed.

use std::io::{self, Cursor, Read};

use super::LayerError;

/// A stream format recognised by its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Gzip,
    Zstd,
    Bzip2,
    Xz,
    /// An uncompressed tar (ustar or GNU magic at offset 257).
    Tar,
}

impl Format {
    pub fn name(self) -> &'static str {
        match self {
            Format::Gzip => "gzip",
            Format::Zstd => "zstd",
            Format::Bzip2 => "bzip2",
            Format::Xz => "xz",
            Format::Tar => "tar",
        }
    }
}

const GZIP: &[u8] = &[0x1f, 0x8b];
const ZSTD: &[u8] = &[0x28, 0xb5, 0x2f, 0xfd];
const BZIP2: &[u8] = b"BZh";
const XZ: &[u8] = &[0xfd, b'7', b'z', b'X', b'Z', 0x00];
/// Bytes [`sniff_archive`] needs to see a plain tar's magic.
pub const SNIFF_LEN: usize = 265;

/// The compression (or plain tar) that `first_bytes` start with. Give it
/// at least [`SNIFF_LEN`] bytes (or the whole stream, if shorter) so a
/// plain tar can be told from other data; `None` means neither compressed
/// nor a tar.
pub fn sniff_archive(first_bytes: &[u8]) -> Option<Format> {
    if let Some(f) = sniff_compression(first_bytes) {
        return Some(f);
    }
    match first_bytes.get(257..265) {
        Some(b"ustar\x0000") | Some(b"ustar  \0") => Some(Format::Tar),
        _ => None,
    }
}

fn sniff_compression(b: &[u8]) -> Option<Format> {
    if b.starts_with(GZIP) {
        Some(Format::Gzip)
    } else if b.starts_with(ZSTD) {
        Some(Format::Zstd)
    } else if b.starts_with(XZ) {
        Some(Format::Xz)
    } else if b.starts_with(BZIP2) {
        Some(Format::Bzip2)
    } else {
        None
    }
}

/// Reads up to `n` bytes (fewer only at end of stream).
fn peek(r: &mut impl Read, n: usize) -> io::Result<Vec<u8>> {
    let mut buf = vec![0u8; n];
    let mut got = 0;
    while got < n {
        match r.read(buf.get_mut(got..).unwrap_or_default()) {
            Ok(0) => break,
            Ok(k) => got += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    buf.truncate(got);
    Ok(buf)
}

/// Wraps `r` in the decoder its magic bytes call for; a stream with no
/// known magic is returned as it is. Concatenated gzip/bzip2/xz members and
/// zstd frames are all read.
pub fn decompress<'a>(r: impl Read + 'a) -> Result<Box<dyn Read + 'a>, LayerError> {
    let mut r = r;
    let head = peek(&mut r, XZ.len()).map_err(|source| LayerError::Decompress {
        format: "layer stream",
        source,
    })?;
    let format = sniff_compression(&head);
    let whole = Cursor::new(head).chain(r);
    Ok(match format {
        Some(Format::Gzip) => {
            Box::new(Named::new(flate2::read::MultiGzDecoder::new(whole), "gzip"))
        }
        Some(Format::Zstd) => {
            let dec = zstd::stream::read::Decoder::new(whole).map_err(|source| {
                LayerError::Decompress {
                    format: "zstd",
                    source,
                }
            })?;
            Box::new(Named::new(dec, "zstd"))
        }
        Some(Format::Bzip2) => {
            Box::new(Named::new(bzip2::read::MultiBzDecoder::new(whole), "bzip2"))
        }
        Some(Format::Xz) => Box::new(Named::new(
            liblzma::read::XzDecoder::new_multi_decoder(whole),
            "xz",
        )),
        Some(Format::Tar) | None => Box::new(whole),
    })
}

/// Whether `r` (possibly compressed) holds a tar archive: its first header
/// carries the ustar magic. Reads at most one decompressed block.
pub fn is_tar_stream(r: impl Read) -> Result<bool, LayerError> {
    let mut d = decompress(r)?;
    let head = match peek(&mut d, 512) {
        Ok(h) => h,
        // A file that merely looks compressed (or is corrupt) is no archive.
        Err(_) => return Ok(false),
    };
    Ok(sniff_archive(&head) == Some(Format::Tar))
}

/// A decoder whose read errors say which format failed.
struct Named<R> {
    inner: R,
    format: &'static str,
}

impl<R> Named<R> {
    fn new(inner: R, format: &'static str) -> Self {
        Named { inner, format }
    }
}

impl<R: Read> Read for Named<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner
            .read(buf)
            .map_err(|e| io::Error::new(e.kind(), format!("{} stream: {e}", self.format)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn roundtrip(compressed: Vec<u8>, want: &[u8]) {
        let mut out = Vec::new();
        decompress(&compressed[..])
            .unwrap()
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, want);
    }

    #[test]
    fn every_format_decompresses_back() {
        let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();

        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(&data).unwrap();
        roundtrip(gz.finish().unwrap(), &data);

        roundtrip(zstd::encode_all(&data[..], 3).unwrap(), &data);

        let mut bz = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::default());
        bz.write_all(&data).unwrap();
        roundtrip(bz.finish().unwrap(), &data);

        let mut xz = liblzma::write::XzEncoder::new(Vec::new(), 6);
        xz.write_all(&data).unwrap();
        roundtrip(xz.finish().unwrap(), &data);

        roundtrip(data.clone(), &data);
        roundtrip(Vec::new(), b"");
        roundtrip(vec![0x1f], &[0x1f]);
    }

    #[test]
    fn concatenated_gzip_members_are_all_read() {
        let mut all = Vec::new();
        for part in [&b"hello "[..], b"world"] {
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            gz.write_all(part).unwrap();
            all.extend(gz.finish().unwrap());
        }
        roundtrip(all, b"hello world");
    }

    #[test]
    fn sniffing() {
        assert_eq!(sniff_archive(&[0x1f, 0x8b, 8]), Some(Format::Gzip));
        assert_eq!(sniff_archive(b"BZh91AY"), Some(Format::Bzip2));
        assert_eq!(sniff_archive(b"hello"), None);
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_ustar();
        h.set_path("x").unwrap();
        h.set_size(0);
        h.set_cksum();
        b.append(&h, &[][..]).unwrap();
        let t = b.into_inner().unwrap();
        assert_eq!(sniff_archive(&t), Some(Format::Tar));
        assert!(is_tar_stream(&t[..]).unwrap());
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(&t).unwrap();
        assert!(is_tar_stream(&gz.finish().unwrap()[..]).unwrap());
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(b"just text").unwrap();
        assert!(!is_tar_stream(&gz.finish().unwrap()[..]).unwrap());
        assert!(!is_tar_stream(&[0x1f, 0x8b, 0, 0][..]).unwrap());
    }

    #[test]
    fn corrupt_stream_is_an_error_not_a_panic() {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(&[7u8; 10000]).unwrap();
        let mut c = gz.finish().unwrap();
        let n = c.len();
        c[n / 2] ^= 0xff;
        c.truncate(n - 5);
        let mut out = Vec::new();
        assert!(decompress(&c[..]).unwrap().read_to_end(&mut out).is_err());
    }
}
