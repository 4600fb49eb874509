//! Image references, roughly docker's grammar: `[domain[:port]/]path[:tag][@digest]`
//! with lowercase path components and a tag of `[\w][\w.-]{0,127}`.
//! Names are stored in their familiar form (`app:latest`, not
//! `docker.io/library/app:latest`); lookups try the usual spellings.
//!
//! Pure string handling: never touches the filesystem.

use std::fmt;

use super::StoreError;
use crate::digest::Digest;

const DOCKER_HUB: &str = "docker.io";
const LIBRARY: &str = "library/";
const MAX_NAME: usize = 255;

/// A parsed image reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// `localhost`, `registry.example.com:5000`, … (None: Docker Hub).
    pub domain: Option<String>,
    /// The repository path (`app`, `library/app`, `org/app`).
    pub path: String,
    /// The tag, if one was given.
    pub tag: Option<String>,
    /// The manifest digest, if one was given (`name@sha256:…`).
    pub digest: Option<Digest>,
}

fn invalid(reference: &str, reason: impl Into<String>) -> StoreError {
    StoreError::InvalidReference {
        reference: reference.to_owned(),
        reason: reason.into(),
    }
}

impl Reference {
    /// Parse `s`. Uppercase in the repository path, a bad tag or an empty
    /// component is an error.
    pub fn parse(s: &str) -> Result<Reference, StoreError> {
        if s.is_empty() {
            return Err(invalid(s, "the reference is empty"));
        }
        let (rest, digest) = match s.rsplit_once('@') {
            Some((r, d)) => {
                let digest = d
                    .parse::<Digest>()
                    .map_err(|e| invalid(s, format!("bad digest: {e}")))?;
                (r, Some(digest))
            }
            None => (s, None),
        };
        let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match rest[last_slash..].rfind(':') {
            Some(i) => {
                let at = last_slash + i;
                (&rest[..at], Some(rest[at + 1..].to_owned()))
            }
            None => (rest, None),
        };
        if let Some(t) = &tag {
            check_tag(s, t)?;
        }
        if name.is_empty() {
            return Err(invalid(s, "the repository name is empty"));
        }
        if name.len() > MAX_NAME {
            return Err(invalid(
                s,
                format!("the repository name is longer than {MAX_NAME} characters"),
            ));
        }
        let (domain, path) = match name.split_once('/') {
            Some((first, rest))
                if first.contains(['.', ':'])
                    || first == "localhost"
                    || first.chars().any(|c| c.is_ascii_uppercase()) =>
            {
                check_domain(s, first)?;
                (Some(first.to_owned()), rest)
            }
            _ => (None, name),
        };
        for component in path.split('/') {
            check_component(s, component)?;
        }
        let (domain, path) = match domain.as_deref() {
            Some("index.docker.io") => (Some(DOCKER_HUB.to_owned()), path.to_owned()),
            _ => (domain, path.to_owned()),
        };
        Ok(Reference {
            domain,
            path,
            tag,
            digest,
        })
    }

    /// The tag, `latest` when none was given.
    pub fn tag_or_latest(&self) -> &str {
        self.tag.as_deref().unwrap_or("latest")
    }

    /// The familiar repository name: `app`, `org/app`, `localhost/app`.
    pub fn familiar_name(&self) -> String {
        match self.domain.as_deref() {
            None | Some(DOCKER_HUB) => self
                .path
                .strip_prefix(LIBRARY)
                .filter(|p| !p.is_empty())
                .unwrap_or(&self.path)
                .to_owned(),
            Some(d) => format!("{d}/{}", self.path),
        }
    }

    /// The fully qualified repository name: `docker.io/library/app`.
    pub fn full_name(&self) -> String {
        match self.domain.as_deref() {
            None | Some(DOCKER_HUB) => {
                if self.path.contains('/') {
                    format!("{DOCKER_HUB}/{}", self.path)
                } else {
                    format!("{DOCKER_HUB}/{LIBRARY}{}", self.path)
                }
            }
            Some(d) => format!("{d}/{}", self.path),
        }
    }

    /// `name:tag` in familiar form: what the store records as a ref name.
    pub fn familiar(&self) -> String {
        format!("{}:{}", self.familiar_name(), self.tag_or_latest())
    }

    /// `docker.io/library/app:latest`: what containerd's
    /// `io.containerd.image.name` holds.
    pub fn fully_qualified(&self) -> String {
        format!("{}:{}", self.full_name(), self.tag_or_latest())
    }

    /// The ref names to try, in order, when looking this reference up:
    /// the familiar form, the fully qualified one, then with/without
    /// `localhost/` (podman names local images `localhost/NAME`).
    pub fn candidates(&self) -> Vec<String> {
        let tag = self.tag_or_latest();
        let familiar = self.familiar();
        let mut out = vec![familiar.clone(), self.fully_qualified()];
        match self.domain.as_deref() {
            None | Some(DOCKER_HUB) => {
                out.push(format!("{DOCKER_HUB}/{}:{tag}", self.path));
                out.push(format!("localhost/{familiar}"));
            }
            Some("localhost") => {
                out.push(format!("{}:{tag}", self.path));
                out.push(format!("{DOCKER_HUB}/{LIBRARY}{}:{tag}", self.path));
            }
            Some(_) => {}
        }
        let mut seen = std::collections::HashSet::new();
        out.retain(|c| seen.insert(c.clone()));
        out
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.familiar_name())?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

/// The name a tag is stored under: `app` → `app:latest`,
/// `docker.io/library/app:v1` → `app:v1`. A digest is refused.
pub fn normalize_name(name: &str) -> Result<String, StoreError> {
    let r = Reference::parse(name)?;
    if r.digest.is_some() {
        return Err(invalid(
            name,
            "a tag name cannot carry a digest (drop the @sha256:… part)",
        ));
    }
    Ok(r.familiar())
}

fn check_tag(s: &str, tag: &str) -> Result<(), StoreError> {
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut chars = tag.chars();
    let ok = match chars.next() {
        Some(first) => {
            word(first) && tag.len() <= 128 && chars.all(|c| word(c) || c == '.' || c == '-')
        }
        None => false,
    };
    if ok {
        Ok(())
    } else {
        Err(invalid(
            s,
            format!("bad tag {tag:?}: a tag is 1-128 characters of letters, digits, '_', '.' and '-', not starting with '.' or '-'"),
        ))
    }
}

fn check_domain(s: &str, domain: &str) -> Result<(), StoreError> {
    let (host, port) = match domain.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (domain, None),
    };
    if let Some(p) = port {
        if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
            return Err(invalid(s, format!("bad registry port in {domain:?}")));
        }
    }
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    if host.split('.').all(label_ok) {
        Ok(())
    } else {
        Err(invalid(s, format!("bad registry host {domain:?}")))
    }
}

/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`
fn check_component(s: &str, c: &str) -> Result<(), StoreError> {
    if c.is_empty() {
        return Err(invalid(s, "empty path component in the repository name"));
    }
    if c.bytes().any(|b| b.is_ascii_uppercase()) {
        return Err(invalid(s, "repository name must be lowercase"));
    }
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let bytes = c.as_bytes();
    let mut i = 0;
    let mut need_alnum = true;
    while i < bytes.len() {
        let b = bytes[i];
        if alnum(b) {
            need_alnum = false;
            i += 1;
            continue;
        }
        if need_alnum {
            break;
        }
        // A separator: '.', '_', '__' or a run of '-'.
        let sep_len = match b {
            b'.' => 1,
            b'_' if bytes.get(i + 1) == Some(&b'_') => 2,
            b'_' => 1,
            b'-' => bytes[i..].iter().take_while(|&&x| x == b'-').count(),
            _ => {
                return Err(invalid(
                    s,
                    format!(
                        "character {:?} is not allowed in a repository name",
                        b as char
                    ),
                ))
            }
        };
        i += sep_len;
        need_alnum = true;
    }
    if need_alnum {
        return Err(invalid(
            s,
            format!("path component {c:?} must start and end with a lowercase letter or digit and not repeat separators"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_normalizes() {
        let r = Reference::parse("app").unwrap();
        assert_eq!(r.familiar(), "app:latest");
        assert_eq!(r.fully_qualified(), "docker.io/library/app:latest");
        let r = Reference::parse("docker.io/library/app:v1").unwrap();
        assert_eq!(r.familiar(), "app:v1");
        let r = Reference::parse("localhost/base:v1").unwrap();
        assert_eq!(r.familiar(), "localhost/base:v1");
        assert_eq!(r.fully_qualified(), "localhost/base:v1");
        assert!(r.candidates().contains(&"base:v1".to_owned()));
        let r = Reference::parse("localhost:5000/a/b-c__d:1.0-x").unwrap();
        assert_eq!(r.domain.as_deref(), Some("localhost:5000"));
        assert_eq!(r.path, "a/b-c__d");
        assert_eq!(r.tag.as_deref(), Some("1.0-x"));
        let r = Reference::parse("org/app").unwrap();
        assert_eq!(r.fully_qualified(), "docker.io/org/app:latest");
        assert!(Reference::parse("base")
            .unwrap()
            .candidates()
            .contains(&"localhost/base:latest".to_owned()));
        let d = Digest::of(b"x");
        let r = Reference::parse(&format!("app@{d}")).unwrap();
        assert_eq!(r.digest, Some(d));
    }

    #[test]
    fn rejects_bad_names() {
        for bad in [
            "",
            "App",
            "app:",
            "app:-x",
            "a//b",
            "a/",
            "/a",
            "a..b",
            "a_-b",
            "-a",
            "a:b:c",
            "app@sha256:xyz",
            "bad host!/x",
            "a b",
        ] {
            let e = Reference::parse(bad);
            assert!(e.is_err(), "{bad:?} parsed as {e:?}");
        }
        let long_tag = format!("app:{}", "a".repeat(129));
        assert!(Reference::parse(&long_tag).is_err());
        let msg = Reference::parse("App").unwrap_err().to_string();
        assert!(msg.contains("lowercase"), "{msg}");
    }
}
