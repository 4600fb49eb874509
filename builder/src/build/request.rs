//! What a build is asked to do (`hoist build`'s flags, parsed) and what it
//! returns.

use std::path::PathBuf;

use crate::digest::Digest;
use crate::image::Descriptor;
use crate::layer::Compression;
use crate::run::{Network, Secret, SshAgent};

use super::progress::{ProgressMode, Summary};
use super::BuildError;

/// Where the build context comes from.
#[derive(Debug, Clone)]
pub enum ContextSource {
    Dir(PathBuf),
    /// `hoist build -`: a tar on stdin.
    Stdin,
}

/// `-o type=…,dest=…`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// An OCI archive tar.
    Oci(PathBuf),
    /// A docker-archive tar (also an OCI layout), as `hoist save` writes.
    Docker(PathBuf),
    /// An OCI layout directory.
    OciLayout(PathBuf),
}

impl Output {
    /// Parses docker's `-o` syntax: `type=oci,dest=out.tar`, or a bare path
    /// (a directory, as `type=local`… is not supported: an OCI layout).
    pub fn parse(spec: &str) -> Result<Output, BuildError> {
        let bad = |reason: &str| BuildError::Output {
            spec: spec.into(),
            reason: reason.into(),
        };
        let mut kind = None;
        let mut dest = None;
        for part in spec.split(',') {
            match part.split_once('=') {
                Some(("type", v)) => kind = Some(v.to_owned()),
                Some(("dest", v)) => dest = Some(PathBuf::from(v)),
                Some(("name" | "tar" | "compression" | "oci-mediatypes", _)) => {}
                Some((k, _)) => {
                    return Err(bad(&format!(
                        "unknown key {k:?}: use type=oci|docker|oci-layout,dest=PATH"
                    )))
                }
                None if spec.split(',').count() == 1 => {
                    return Ok(Output::OciLayout(PathBuf::from(part)));
                }
                None => return Err(bad("want key=value pairs, e.g. type=oci,dest=out.tar")),
            }
        }
        let dest = dest.ok_or_else(|| bad("dest= is required, e.g. type=oci,dest=out.tar"))?;
        match kind.as_deref() {
            Some("oci") => Ok(Output::Oci(dest)),
            Some("docker") => Ok(Output::Docker(dest)),
            Some("oci-layout") | Some("local") => Ok(Output::OciLayout(dest)),
            Some(t) => Err(bad(&format!(
                "unsupported type {t:?}: use oci, docker or oci-layout"
            ))),
            None => Err(bad("type= is required: oci, docker or oci-layout")),
        }
    }
}

/// A build request.
#[derive(Debug, Clone)]
pub struct BuildRequest {
    pub context: ContextSource,
    /// `-f`: the Dockerfile (default `CONTEXT/Dockerfile`; with a stdin
    /// context, a path inside the tar).
    pub dockerfile: Option<PathBuf>,
    /// `-t`, normalised by the caller or not (a bare name gets `:latest`).
    pub tags: Vec<String>,
    pub build_args: Vec<(String, Option<String>)>,
    pub target: Option<String>,
    pub labels: Vec<(String, String)>,
    pub no_cache: bool,
    pub no_cache_filter: Vec<String>,
    pub progress: ProgressMode,
    pub outputs: Vec<Output>,
    pub iidfile: Option<PathBuf>,
    pub compression: Compression,
    /// `SOURCE_DATE_EPOCH`: created times and clamped file mtimes.
    pub source_date_epoch: Option<i64>,
    /// `--platform` of the build (only linux/amd64).
    pub platform: Option<String>,
    /// `--network`: what `RUN --network=default` means (default host, as
    /// buildah and kaniko do in CI).
    pub network: Network,
    /// `--runtime`: the runc-compatible runtime of RUN steps (default
    /// `keel` next to hoist, else `keel` on PATH, else `runc`).
    pub runtime: Option<PathBuf>,
    /// `--jobs`: how many stages build at once (0: the number of cores).
    pub jobs: usize,
    /// `--secret`: for `RUN --mount=type=secret` (sources only; values are
    /// read when a step mounts them).
    pub secrets: Vec<Secret>,
    /// `--ssh`: agent sockets for `RUN --mount=type=ssh`.
    pub ssh: Vec<SshAgent>,
}

impl BuildRequest {
    /// A request with defaults for `context`.
    pub fn new(context: ContextSource) -> BuildRequest {
        BuildRequest {
            context,
            dockerfile: None,
            tags: Vec::new(),
            build_args: Vec::new(),
            target: None,
            labels: Vec::new(),
            no_cache: false,
            no_cache_filter: Vec::new(),
            progress: ProgressMode::Auto,
            outputs: Vec::new(),
            iidfile: None,
            compression: Compression::Gzip { level: 6 },
            source_date_epoch: None,
            platform: None,
            network: Network::Host,
            runtime: None,
            jobs: 0,
            secrets: Vec::new(),
            ssh: Vec::new(),
        }
    }
}

/// What a build produced.
#[derive(Debug, Clone)]
pub struct BuildResult {
    /// The image id (the config digest).
    pub id: Digest,
    pub manifest: Descriptor,
    /// The names it was tagged with.
    pub names: Vec<String>,
    pub summary: Summary,
    /// `--build-arg`s no stage used (docker warns about them).
    pub unused_build_args: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outputs_parse() {
        assert_eq!(
            Output::parse("type=oci,dest=a.tar").unwrap(),
            Output::Oci("a.tar".into())
        );
        assert_eq!(
            Output::parse("type=docker,dest=/x/b.tar").unwrap(),
            Output::Docker("/x/b.tar".into())
        );
        assert_eq!(
            Output::parse("type=oci-layout,dest=dir").unwrap(),
            Output::OciLayout("dir".into())
        );
        assert!(Output::parse("type=registry").is_err());
        assert!(Output::parse("type=oci").is_err());
        assert!(Output::parse("type=oci,dest=a,bogus=1").is_err());
    }
}
