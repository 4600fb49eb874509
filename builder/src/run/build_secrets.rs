//! What `hoist build --secret` and `--ssh` hand to RUN steps, in buildx's
//! syntax: `--secret id=ID,src=FILE|env=VAR[,type=file|env]` and
//! `--ssh ID[=SOCKET]` (`--ssh default` takes `$SSH_AUTH_SOCK`).
//!
//! Holds only where a secret comes from (a path or a variable name), never
//! its value: the value is read when a step mounts it, so it cannot reach
//! a request's `Debug` output, a log, a cache key or a layer.

use std::ffi::OsString;
use std::fmt;
use std::os::unix::fs::FileTypeExt;
use std::path::PathBuf;

/// Where a secret's value comes from.
#[derive(Clone, PartialEq, Eq)]
pub enum SecretSource {
    /// A file on the host, read when a step mounts it.
    File(PathBuf),
    /// An environment variable of the hoist process, by name.
    Env(String),
}

impl fmt::Debug for SecretSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretSource::File(p) => write!(f, "file {}", p.display()),
            SecretSource::Env(v) => write!(f, "env ${v}"),
        }
    }
}

/// One `--secret`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Secret {
    pub id: String,
    pub source: SecretSource,
}

impl Secret {
    /// Parses buildx's `--secret` value: `id=ID` plus `src=FILE` (also
    /// `source=`) or `env=VAR`, optionally `type=file|env` (with
    /// `type=env`, `src` names the variable). With neither `src` nor
    /// `env`, the variable named ID when it is set, else the file ID
    /// (BuildKit's rule). `has_env` tells whether a variable is set.
    pub fn parse(spec: &str, has_env: &dyn Fn(&str) -> bool) -> Result<Secret, String> {
        let mut id = None;
        let mut src = None;
        let mut env = None;
        let mut typ = None;
        for field in spec.split(',') {
            let Some((k, v)) = field.split_once('=') else {
                return Err(format!(
                    "invalid --secret {spec:?}: field {field:?} is not key=value \
                     (want id=ID,src=FILE or id=ID,env=VAR)"
                ));
            };
            match k.trim().to_ascii_lowercase().as_str() {
                "id" => id = Some(v.to_owned()),
                "src" | "source" => src = Some(v.to_owned()),
                "env" => env = Some(v.to_owned()),
                "type" => match v {
                    "file" | "env" => typ = Some(v.to_owned()),
                    _ => {
                        return Err(format!(
                            "invalid --secret {spec:?}: type {v:?} is not file or env"
                        ))
                    }
                },
                other => {
                    return Err(format!(
                        "invalid --secret {spec:?}: unknown key {other:?} \
                         (keys are id, src, env, type)"
                    ))
                }
            }
        }
        let id = id.filter(|i| !i.is_empty()).ok_or_else(|| {
            format!("invalid --secret {spec:?}: id= is required (id=ID,src=FILE)")
        })?;
        if typ.as_deref() == Some("env") && env.is_none() {
            env = src.take();
        }
        let source = match (src, env) {
            (Some(_), Some(_)) => {
                return Err(format!(
                    "invalid --secret {spec:?}: give src= or env=, not both"
                ))
            }
            (Some(p), None) => SecretSource::File(PathBuf::from(p)),
            (None, Some(v)) => SecretSource::Env(v),
            (None, None) if typ.as_deref() == Some("file") => {
                SecretSource::File(PathBuf::from(&id))
            }
            (None, None) if has_env(&id) => SecretSource::Env(id.clone()),
            (None, None) => SecretSource::File(PathBuf::from(&id)),
        };
        Ok(Secret { id, source })
    }

    /// The value, or `None` when the variable is not set.
    pub(crate) fn read(&self) -> Result<Option<Vec<u8>>, std::io::Error> {
        match &self.source {
            SecretSource::File(p) => std::fs::read(p).map(Some),
            SecretSource::Env(v) => Ok(std::env::var_os(v).map(|s| s.into_encoded_bytes())),
        }
    }
}

/// One `--ssh`: an agent socket forwarded to `RUN --mount=type=ssh`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshAgent {
    pub id: String,
    pub socket: PathBuf,
}

impl SshAgent {
    /// Parses `ID[=SOCKET]`; a bare ID takes `$SSH_AUTH_SOCK` (through
    /// `env`). The path must be a unix socket: key files (which BuildKit
    /// loads into an agent of its own) are not supported.
    pub fn parse(spec: &str, env: &dyn Fn(&str) -> Option<OsString>) -> Result<SshAgent, String> {
        let (id, path) = match spec.split_once('=') {
            Some((id, p)) => (id, PathBuf::from(p)),
            None => (
                spec,
                env("SSH_AUTH_SOCK")
                    .filter(|v| !v.is_empty())
                    .map(PathBuf::from)
                    .ok_or_else(|| {
                        format!(
                            "--ssh {spec}: SSH_AUTH_SOCK is not set: start an agent \
                             (eval $(ssh-agent)) or give the socket, --ssh {spec}=/path/to/agent.sock"
                        )
                    })?,
            ),
        };
        if id.is_empty() {
            return Err(format!(
                "invalid --ssh {spec:?}: the id is empty (e.g. --ssh default)"
            ));
        }
        if path.as_os_str().to_string_lossy().contains(',') {
            return Err(format!(
                "--ssh {spec}: several paths (private keys) are not supported: \
                 load the keys into an agent and pass its socket"
            ));
        }
        match std::fs::metadata(&path) {
            Ok(m) if m.file_type().is_socket() => {}
            Ok(_) => {
                return Err(format!(
                    "--ssh {spec}: {} is not a unix socket: private keys are not supported, \
                     load them into an agent (ssh-add) and pass its socket",
                    path.display()
                ))
            }
            Err(e) => return Err(format!("--ssh {spec}: {}: {e}", path.display())),
        }
        Ok(SshAgent {
            id: id.to_owned(),
            socket: path,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn none(_: &str) -> bool {
        false
    }

    #[test]
    fn secret_specs() {
        let s = Secret::parse("id=npm,src=/x/.npmrc", &none).unwrap();
        assert_eq!(s.id, "npm");
        assert_eq!(s.source, SecretSource::File("/x/.npmrc".into()));
        let s = Secret::parse("id=tok,env=TOKEN", &none).unwrap();
        assert_eq!(s.source, SecretSource::Env("TOKEN".into()));
        let s = Secret::parse("id=tok,type=env,source=TOKEN", &none).unwrap();
        assert_eq!(s.source, SecretSource::Env("TOKEN".into()));
        let s = Secret::parse("id=HOME_TOKEN", &|v| v == "HOME_TOKEN").unwrap();
        assert_eq!(s.source, SecretSource::Env("HOME_TOKEN".into()));
        let s = Secret::parse("id=aws", &none).unwrap();
        assert_eq!(s.source, SecretSource::File("aws".into()));
        for bad in [
            "src=/x",
            "id=a,src=/x,env=Y",
            "id=a,colour=red",
            "id=a,type=vault",
            "id",
        ] {
            assert!(Secret::parse(bad, &none).is_err(), "{bad}");
        }
        // Debug never shows more than the source's name.
        assert_eq!(format!("{:?}", SecretSource::Env("T".into())), "env $T");
    }

    #[test]
    fn ssh_specs() {
        let d = tempfile::tempdir().unwrap();
        let sock = d.path().join("agent.sock");
        let _l = std::os::unix::net::UnixListener::bind(&sock).unwrap();
        let s = SshAgent::parse(&format!("default={}", sock.display()), &|_| None).unwrap();
        assert_eq!(
            (s.id.as_str(), s.socket.as_path()),
            ("default", sock.as_path())
        );
        let envd = sock.clone();
        let s = SshAgent::parse("default", &|k| {
            (k == "SSH_AUTH_SOCK").then(|| envd.clone().into_os_string())
        })
        .unwrap();
        assert_eq!(s.socket, sock);
        assert!(SshAgent::parse("default", &|_| None)
            .unwrap_err()
            .contains("SSH_AUTH_SOCK"));
        let key = d.path().join("id_rsa");
        std::fs::write(&key, "k").unwrap();
        assert!(SshAgent::parse(&format!("gh={}", key.display()), &|_| None)
            .unwrap_err()
            .contains("not a unix socket"));
        assert!(SshAgent::parse("gh=/a,/b", &|_| None).is_err());
    }
}
