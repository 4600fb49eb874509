//! Signal names and numbers as `runc kill` accepts them: `KILL`, `SIGKILL`,
//! `9`, and the real-time signals `RTMIN+n`.

use std::str::FromStr;

use nix::sys::signal::Signal;

/// A signal the user named that does not exist.
#[derive(Debug, thiserror::Error)]
#[error("unknown signal {0:?}; use a name like TERM or SIGKILL, or a number from 1 to 64")]
pub struct BadSignal(pub String);

/// Parses a signal given by name or number.
pub fn parse_signal(s: &str) -> Result<i32, BadSignal> {
    let bad = || BadSignal(s.to_string());
    if let Ok(n) = s.parse::<i32>() {
        return if (1..=libc::SIGRTMAX()).contains(&n) {
            Ok(n)
        } else {
            Err(bad())
        };
    }
    let upper = s.to_ascii_uppercase();
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    if let Some(off) = name.strip_prefix("RTMIN+") {
        let n = libc::SIGRTMIN() + off.parse::<i32>().map_err(|_| bad())?;
        return if n <= libc::SIGRTMAX() {
            Ok(n)
        } else {
            Err(bad())
        };
    }
    if name == "RTMIN" {
        return Ok(libc::SIGRTMIN());
    }
    if name == "RTMAX" {
        return Ok(libc::SIGRTMAX());
    }
    Signal::from_str(&format!("SIG{name}"))
        .map(|sig| sig as i32)
        .map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_numbers() {
        assert_eq!(parse_signal("KILL").unwrap(), 9);
        assert_eq!(parse_signal("SIGKILL").unwrap(), 9);
        assert_eq!(parse_signal("sigterm").unwrap(), 15);
        assert_eq!(parse_signal("9").unwrap(), 9);
        assert_eq!(parse_signal("RTMIN+1").unwrap(), libc::SIGRTMIN() + 1);
        for bad in ["FOO", "0", "65", "-1", "SIG", ""] {
            assert!(parse_signal(bad).is_err(), "{bad}");
        }
    }
}
