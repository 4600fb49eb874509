//! OCI hooks: run a hook binary with the container state on its stdin,
//! its own args and env, and an optional timeout.
//!
//! Which hooks run when, and whether a failure is fatal, is the caller's
//! business (see `container::create`, `start`, `delete`).

use std::io::Write;
use std::os::fd::AsFd;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use oci_spec::runtime::Hook;

/// A hook that did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum HookError {
    #[error("{stage} hook {index} ({path}): cannot start: {source}")]
    Spawn {
        stage: &'static str,
        index: usize,
        path: String,
        source: std::io::Error,
    },
    #[error("{stage} hook {index} ({path}) failed: {status}{}", stderr_suffix(.stderr))]
    Failed {
        stage: &'static str,
        index: usize,
        path: String,
        status: String,
        stderr: String,
    },
    #[error("{stage} hook {index} ({path}) timed out after {secs}s and was killed")]
    Timeout {
        stage: &'static str,
        index: usize,
        path: String,
        secs: i64,
    },
}

fn stderr_suffix(s: &str) -> String {
    let s = s.trim();
    if s.is_empty() {
        String::new()
    } else {
        format!(": {s}")
    }
}

/// Runs every hook of one stage in order; stops at the first failure.
pub fn run_hooks(stage: &'static str, hooks: &[Hook], state_json: &str) -> Result<(), HookError> {
    for (index, hook) in hooks.iter().enumerate() {
        run_hook(stage, index, hook, state_json)?;
    }
    Ok(())
}

fn run_hook(stage: &'static str, index: usize, hook: &Hook, state: &str) -> Result<(), HookError> {
    let path = hook.path().display().to_string();
    tracing::debug!(stage, index, path, "running hook");
    let mut cmd = Command::new(hook.path());
    if let Some(args) = hook.args() {
        if let Some((argv0, rest)) = args.split_first() {
            std::os::unix::process::CommandExt::arg0(&mut cmd, argv0);
            cmd.args(rest);
        }
    }
    cmd.env_clear();
    for kv in hook.env().iter().flatten() {
        if let Some((k, v)) = kv.split_once('=') {
            cmd.env(k, v);
        }
    }
    // Output goes to an anonymous file, not a pipe: a chatty hook can never
    // block on a full pipe while we wait for it.
    let out = output_file().map_err(|source| HookError::Spawn {
        stage,
        index,
        path: path.clone(),
        source,
    })?;
    let err_clone = out.try_clone().map_err(|source| HookError::Spawn {
        stage,
        index,
        path: path.clone(),
        source,
    })?;
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::from(err_clone))
        .stderr(Stdio::from(out.try_clone().map_err(|source| {
            HookError::Spawn {
                stage,
                index,
                path: path.clone(),
                source,
            }
        })?));
    let mut child = cmd.spawn().map_err(|source| HookError::Spawn {
        stage,
        index,
        path: path.clone(),
        source,
    })?;
    if let Some(mut stdin) = child.stdin.take() {
        // A hook may exit without reading its stdin; EPIPE is not a failure.
        let _ = stdin.write_all(state.as_bytes());
    }
    let deadline = hook
        .timeout()
        .filter(|t| *t > 0)
        .map(|t| Instant::now() + Duration::from_secs(t as u64));
    let status = match deadline {
        None => child.wait(),
        Some(deadline) => loop {
            if let Some(st) = child.try_wait().transpose() {
                break st;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                let _ = child.kill();
                let _ = child.wait();
                return Err(HookError::Timeout {
                    stage,
                    index,
                    path,
                    secs: hook.timeout().unwrap_or(0),
                });
            }
            // Sleep until the hook exits or the deadline passes.
            match crate::sys::pidfd_open(child.id() as i32) {
                Ok(pidfd) => {
                    let mut fds = [PollFd::new(pidfd.as_fd(), PollFlags::POLLIN)];
                    let ms = left.as_millis().min(i32::MAX as u128) as i32;
                    let _ = poll(
                        &mut fds,
                        PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX),
                    );
                }
                Err(_) => std::thread::sleep(left.min(Duration::from_millis(10))),
            }
        },
    }
    .map_err(|source| HookError::Spawn {
        stage,
        index,
        path: path.clone(),
        source,
    })?;
    if status.success() {
        return Ok(());
    }
    // The last KiB of output says most about a failure.
    let mut out = out;
    let len = out.metadata().map(|m| m.len()).unwrap_or(0);
    let _ = std::io::Seek::seek(&mut out, std::io::SeekFrom::Start(len.saturating_sub(1024)));
    let mut tail = Vec::new();
    let _ = std::io::Read::read_to_end(&mut out, &mut tail);
    let stderr = String::from_utf8_lossy(&tail).into_owned();
    Err(HookError::Failed {
        stage,
        index,
        path,
        status: status.to_string(),
        stderr,
    })
}

fn output_file() -> std::io::Result<std::fs::File> {
    let fd =
        nix::sys::memfd::memfd_create(c"keel-hook-output", nix::sys::memfd::MFdFlags::MFD_CLOEXEC)?;
    Ok(std::fs::File::from(fd))
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::HookBuilder;

    fn hook(script: &str, timeout: Option<i64>) -> Hook {
        let mut b = HookBuilder::default().path("/bin/sh").args(vec![
            "sh".to_string(),
            "-c".to_string(),
            script.to_string(),
        ]);
        if let Some(t) = timeout {
            b = b.timeout(t);
        }
        b.build().unwrap()
    }

    #[test]
    fn state_goes_to_stdin() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("o");
        let h = hook(&format!("cat > {}", out.display()), None);
        run_hooks("poststop", &[h], "{\"status\":\"stopped\"}").unwrap();
        assert_eq!(
            std::fs::read_to_string(out).unwrap(),
            "{\"status\":\"stopped\"}"
        );
    }

    #[test]
    fn failure_and_timeout_are_reported() {
        let noisy = "head -c 200000 /dev/zero | tr '\\0' x >&2; echo boom >&2; exit 3";
        let err = run_hooks("prestart", &[hook(noisy, None)], "{}").unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("prestart hook 0") && msg.contains("boom"),
            "{msg}"
        );
        let err = run_hooks("createRuntime", &[hook("sleep 5", Some(1))], "{}").unwrap_err();
        assert!(matches!(err, HookError::Timeout { .. }), "{err}");
    }
}
