//! `keel events`: runc's event stream. `--stats` prints one stats event;
//! otherwise a stats event every interval and an `oom` event for each OOM
//! kill, until the container stops. No threads: one poll on the OOM fd with
//! the interval as timeout.

use std::io::Write;
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use serde::Serialize;

use super::{cgroup_of, load, Error, Globals};

#[derive(Serialize)]
struct Event<'a, T: Serialize> {
    #[serde(rename = "type")]
    typ: &'a str,
    id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<T>,
}

/// Prints events to `out` as JSON lines.
pub fn events(
    g: &Globals,
    id: &str,
    stats_once: bool,
    interval: Duration,
    out: &mut dyn Write,
) -> Result<(), Error> {
    let l = load(g, id)?;
    let cg = cgroup_of(&l.state)?
        .ok_or_else(|| Error::Unsupported(format!("container {id} has no cgroup")))?;
    let state = l.state.clone();
    drop(l);
    let emit = |out: &mut dyn Write,
                typ: &str,
                data: Option<crate::cgroups::Stats>|
     -> Result<(), Error> {
        let line = serde_json::to_string(&Event { typ, id, data }).unwrap_or_default();
        writeln!(out, "{line}")
            .and_then(|()| out.flush())
            .map_err(Error::io("write event"))
    };
    if stats_once {
        return emit(out, "stats", Some(cg.stats()?));
    }
    let watcher = cg.oom_watcher().ok();
    let mut next = Instant::now();
    loop {
        if !state.init_alive() {
            return Ok(());
        }
        let now = Instant::now();
        if now >= next {
            if let Ok(s) = cg.stats() {
                emit(out, "stats", Some(s))?;
            }
            next = now + interval;
        }
        let wait = next
            .saturating_duration_since(Instant::now())
            .min(Duration::from_millis(500));
        let ms = PollTimeout::try_from(wait.as_millis().min(i32::MAX as u128) as i32)
            .unwrap_or(PollTimeout::MAX);
        match &watcher {
            Some(w) => {
                let mut fds = [PollFd::new(w.as_fd(), PollFlags::POLLIN)];
                let _ = poll(&mut fds, ms);
                let check = w.check();
                for _ in 0..check.as_ref().map(|c| c.ooms).unwrap_or(0) {
                    emit(out, "oom", None)?;
                }
                if check.map(|c| c.gone).unwrap_or(false) {
                    return Ok(());
                }
            }
            None => std::thread::sleep(wait),
        }
    }
}

/// Parses runc's interval syntax: `5s`, `500ms`, `1m`, or plain seconds.
pub fn parse_interval(s: &str) -> Result<Duration, Error> {
    let bad = || Error::Unsupported(format!("--interval {s:?}: use a duration like 5s or 500ms"));
    let (num, unit) = match s.find(|c: char| c.is_ascii_alphabetic()) {
        Some(i) => (&s[..i], &s[i..]),
        None => (s, "s"),
    };
    let n: f64 = num.parse().map_err(|_| bad())?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return Err(bad()),
    };
    if !(secs > 0.0 && secs.is_finite()) {
        return Err(bad());
    }
    Ok(Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals() {
        assert_eq!(parse_interval("5s").unwrap(), Duration::from_secs(5));
        assert_eq!(parse_interval("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_interval("2").unwrap(), Duration::from_secs(2));
        assert!(parse_interval("0s").is_err());
        assert!(parse_interval("fast").is_err());
    }
}
