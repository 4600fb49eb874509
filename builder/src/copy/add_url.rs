//! ADD from an http(s) URL: downloads into the scratch directory, verifies
//! `--checksum=sha256:…`, and reports the file name (from the URL path)
//! and the `Last-Modified` time.
//!
//! A URL is never extracted here, and the download is never trusted
//! before its checksum (when given) matches.

use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::digest::{Digest, HashingWriter};

/// Why a URL source fails.
#[derive(Debug, thiserror::Error)]
pub enum UrlError {
    #[error("ADD {url}: download failed: {reason}: check the URL and the network (proxies come from HTTP_PROXY/HTTPS_PROXY/NO_PROXY)")]
    Fetch { url: String, reason: String },
    #[error("ADD {url}: cannot write the download to {path}: {source}")]
    Scratch {
        url: String,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("ADD --checksum={value}: expected sha256:<64 hex digits>")]
    BadChecksum { value: String },
    #[error("ADD {url}: checksum mismatch: --checksum wants {expected} but the download is {actual}: fix the checksum or the URL")]
    Mismatch {
        url: String,
        expected: String,
        actual: String,
    },
}

/// A downloaded URL.
#[derive(Debug, Clone)]
pub struct Download {
    pub file: PathBuf,
    pub digest: Digest,
    /// `Last-Modified`, seconds since the epoch.
    pub last_modified: Option<i64>,
    /// The file name from the URL path (`__unnamed__` when it has none).
    pub name: String,
}

/// Whether `s` is an http(s) URL.
pub fn is_http(s: &str) -> bool {
    let l = s.get(..8).unwrap_or(s).to_ascii_lowercase();
    l.starts_with("http://") || l.starts_with("https://")
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        if c == b'%' {
            if let Some(h) = b
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
            {
                if let Ok(v) = u8::from_str_radix(h, 16) {
                    out.push(v);
                    i += 3;
                    continue;
                }
            }
        }
        out.push(c);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The file name BuildKit derives from a URL: the last path segment
/// (decoded), or `__unnamed__`.
pub fn file_name(url: &str) -> String {
    let after_scheme = url.split_once("://").map_or(url, |(_, r)| r);
    let path = after_scheme
        .split(['?', '#'])
        .next()
        .unwrap_or_default()
        .split_once('/')
        .map_or("", |(_, p)| p);
    let base = path
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or_default();
    let base = percent_decode(base);
    if base.is_empty() || base == "." || base == ".." || base.contains('/') {
        "__unnamed__".to_owned()
    } else {
        base
    }
}

/// Parses `sha256:<hex>` into a digest.
pub fn parse_checksum(value: &str) -> Result<Digest, UrlError> {
    value.parse().map_err(|_| UrlError::BadChecksum {
        value: value.to_owned(),
    })
}

/// Parses an HTTP date (IMF-fixdate, e.g. `Sun, 06 Nov 1994 08:49:37 GMT`).
pub fn parse_http_date(s: &str) -> Option<i64> {
    let parts: Vec<&str> = s.split_whitespace().collect();
    let [_, day, mon, year, time, zone] = parts.as_slice() else {
        return None;
    };
    if *zone != "GMT" && *zone != "UTC" {
        return None;
    }
    let day: i64 = day.parse().ok()?;
    let month = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ]
    .iter()
    .position(|m| m == mon)? as i64
        + 1;
    let year: i64 = year.parse().ok()?;
    let hms: Vec<i64> = time
        .split(':')
        .map(|x| x.parse().ok())
        .collect::<Option<_>>()?;
    let [h, m, sec] = hms.as_slice() else {
        return None;
    };
    // Days from civil (Howard Hinnant's algorithm).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + h * 3600 + m * 60 + sec)
}

/// Downloads `url` into `scratch` (reusing an earlier download of the same
/// URL there) and verifies `checksum` when given.
pub fn fetch(url: &str, scratch: &Path, checksum: Option<&str>) -> Result<Download, UrlError> {
    let want = checksum.map(parse_checksum).transpose()?;
    let key = Digest::of(url.as_bytes());
    let dir = scratch.join(format!("url-{}", key.short()));
    let file = dir.join("content");
    let meta = dir.join("meta.json");
    let scratch_err = |path: &Path| {
        let path = path.to_path_buf();
        move |source: io::Error| UrlError::Scratch {
            url: url.to_owned(),
            path,
            source,
        }
    };
    let cached = std::fs::read(&meta)
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .and_then(|v| {
            let digest: Digest = v.get("digest")?.as_str()?.parse().ok()?;
            let lm = v.get("last_modified").and_then(|x| x.as_i64());
            Some((digest, lm))
        })
        .filter(|_| file.is_file());
    let (digest, last_modified) = match cached {
        Some(c) => c,
        None => {
            std::fs::create_dir_all(&dir).map_err(scratch_err(&dir))?;
            let fetch_err = |reason: String| UrlError::Fetch {
                url: url.to_owned(),
                reason,
            };
            let agent: ureq::Agent = ureq::Agent::config_builder()
                .timeout_global(Some(Duration::from_secs(3600)))
                .timeout_connect(Some(Duration::from_secs(30)))
                .build()
                .into();
            let resp = agent
                .get(url)
                .call()
                .map_err(|e| fetch_err(e.to_string()))?;
            let last_modified = resp
                .headers()
                .get("last-modified")
                .and_then(|v| v.to_str().ok())
                .and_then(parse_http_date);
            let mut body = resp.into_body().into_with_config().limit(u64::MAX).reader();
            let tmp = dir.join("content.partial");
            let f = std::fs::File::create(&tmp).map_err(scratch_err(&tmp))?;
            let mut w = HashingWriter::new(io::BufWriter::new(f));
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                let n = match body.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(fetch_err(e.to_string())),
                };
                w.write_all(buf.get(..n).unwrap_or_default())
                    .map_err(scratch_err(&tmp))?;
            }
            let (mut inner, digest, _) = w.finish();
            inner.flush().map_err(scratch_err(&tmp))?;
            drop(inner);
            std::fs::rename(&tmp, &file).map_err(scratch_err(&file))?;
            let m =
                serde_json::json!({ "digest": digest.to_string(), "last_modified": last_modified });
            std::fs::write(&meta, m.to_string()).map_err(scratch_err(&meta))?;
            (digest, last_modified)
        }
    };
    if let Some(want) = want {
        if want != digest {
            return Err(UrlError::Mismatch {
                url: url.to_owned(),
                expected: want.to_string(),
                actual: digest.to_string(),
            });
        }
    }
    Ok(Download {
        file,
        digest,
        last_modified,
        name: file_name(url),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_dates() {
        assert_eq!(file_name("http://example.com/foobar"), "foobar");
        assert_eq!(
            file_name("https://example.com/a/b%20c.tar.gz?x=1#f"),
            "b c.tar.gz"
        );
        assert_eq!(file_name("http://example.com"), "__unnamed__");
        assert_eq!(file_name("http://example.com/"), "__unnamed__");
        assert_eq!(
            parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(784111777)
        );
        assert_eq!(parse_http_date("Thu, 01 Jan 1970 00:00:00 GMT"), Some(0));
        assert_eq!(parse_http_date("garbage"), None);
        assert!(parse_checksum("sha256:abc").is_err());
    }
}
