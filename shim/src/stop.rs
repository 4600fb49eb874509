//! When the shim stops a container: the caller's SIGINT/SIGTERM is
//! forwarded and starts a grace period, after which (or on a second such
//! signal) the container is killed; `--timeout` kills it outright.
//!
//! Pure logic over `Instant`s, so every path is unit-tested; the poll loop
//! asks it what to do and when to wake up.

use std::time::{Duration, Instant};

use crate::status::Stopped;

/// What the poll loop should do now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Send this signal to the container's init.
    Forward(i32),
    /// SIGKILL the container's init.
    Kill,
}

/// The stop state of one running container.
#[derive(Debug)]
pub struct StopPolicy {
    grace: Duration,
    timeout_at: Option<Instant>,
    /// Set by the caller's first SIGINT/SIGTERM: (signal, grace deadline).
    interrupted: Option<(i32, Instant)>,
    /// Why we killed the container, once we have.
    killed: Option<Stopped>,
}

impl StopPolicy {
    /// A container started at `started`.
    pub fn new(started: Instant, timeout: Option<Duration>, grace: Duration) -> StopPolicy {
        StopPolicy {
            grace,
            timeout_at: timeout.map(|t| started + t),
            interrupted: None,
            killed: None,
        }
    }

    /// The caller sent SIGINT or SIGTERM: forward it the first time, kill
    /// on the second.
    pub fn on_stop_signal(&mut self, sig: i32, now: Instant) -> Action {
        match self.interrupted {
            None => {
                self.interrupted = Some((sig, now + self.grace));
                Action::Forward(sig)
            }
            Some((first, _)) => self.kill(Stopped::AfterGrace(first)),
        }
    }

    /// A deadline that has passed: the timeout, then the grace period.
    pub fn expired(&mut self, now: Instant) -> Option<Action> {
        if self.killed.is_some() {
            return None;
        }
        if self.timeout_at.is_some_and(|t| now >= t) {
            return Some(self.kill(Stopped::Timeout));
        }
        match self.interrupted {
            Some((sig, at)) if now >= at => Some(self.kill(Stopped::AfterGrace(sig))),
            _ => None,
        }
    }

    /// How long the poll loop may sleep; `None` for as long as it likes.
    pub fn next_wake(&self, now: Instant) -> Option<Duration> {
        if self.killed.is_some() {
            return None;
        }
        let grace = self.interrupted.map(|(_, at)| at);
        [self.timeout_at, grace]
            .into_iter()
            .flatten()
            .min()
            .map(|at| at.saturating_duration_since(now))
    }

    /// Why the container was killed, if the shim killed it.
    pub fn stopped(&self) -> Option<Stopped> {
        self.killed
    }

    fn kill(&mut self, why: Stopped) -> Action {
        if self.killed.is_none() {
            self.killed = Some(why);
        }
        Action::Kill
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn nothing_to_do_without_deadlines() {
        let t0 = Instant::now();
        let mut p = StopPolicy::new(t0, None, 10 * S);
        assert_eq!(p.next_wake(t0), None);
        assert_eq!(p.expired(t0 + 1000 * S), None);
        assert_eq!(p.stopped(), None);
    }

    #[test]
    fn timeout_kills_once() {
        let t0 = Instant::now();
        let mut p = StopPolicy::new(t0, Some(5 * S), 10 * S);
        assert_eq!(p.next_wake(t0 + S), Some(4 * S));
        assert_eq!(p.expired(t0 + 4 * S), None);
        assert_eq!(p.expired(t0 + 5 * S), Some(Action::Kill));
        assert_eq!(p.stopped(), Some(Stopped::Timeout));
        assert_eq!(p.expired(t0 + 6 * S), None, "killed once");
        assert_eq!(p.next_wake(t0 + 6 * S), None);
    }

    #[test]
    fn signal_forwards_then_kills_after_grace() {
        let t0 = Instant::now();
        let mut p = StopPolicy::new(t0, None, 3 * S);
        assert_eq!(p.on_stop_signal(15, t0 + S), Action::Forward(15));
        assert_eq!(p.next_wake(t0 + S), Some(3 * S));
        assert_eq!(p.expired(t0 + 3 * S), None);
        assert_eq!(p.stopped(), None, "exiting within the grace is not a kill");
        assert_eq!(p.expired(t0 + 4 * S), Some(Action::Kill));
        assert_eq!(p.stopped(), Some(Stopped::AfterGrace(15)));
    }

    #[test]
    fn second_signal_kills_at_once() {
        let t0 = Instant::now();
        let mut p = StopPolicy::new(t0, None, 30 * S);
        assert_eq!(p.on_stop_signal(2, t0), Action::Forward(2));
        assert_eq!(p.on_stop_signal(15, t0 + S), Action::Kill);
        assert_eq!(p.stopped(), Some(Stopped::AfterGrace(2)));
    }

    #[test]
    fn earliest_deadline_wins() {
        let t0 = Instant::now();
        let mut p = StopPolicy::new(t0, Some(10 * S), 30 * S);
        p.on_stop_signal(2, t0 + S);
        assert_eq!(p.next_wake(t0 + S), Some(9 * S));
        assert_eq!(p.expired(t0 + 10 * S), Some(Action::Kill));
        assert_eq!(p.stopped(), Some(Stopped::Timeout));
    }

    #[test]
    fn zero_grace_kills_on_the_next_check() {
        let t0 = Instant::now();
        let mut p = StopPolicy::new(t0, None, Duration::ZERO);
        assert_eq!(p.on_stop_signal(2, t0), Action::Forward(2));
        assert_eq!(p.next_wake(t0), Some(Duration::ZERO));
        assert_eq!(p.expired(t0), Some(Action::Kill));
    }
}
