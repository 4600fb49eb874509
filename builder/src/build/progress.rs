//! Build progress in BuildKit's style: each step is a numbered vertex
//! (`#N [stage k/n] INSTRUCTION`), finished by `#N CACHED`, `#N DONE 0.1s` or
//! `#N ERROR: …`, then a final summary. `plain` prints whole lines (safe for
//! concurrent stages and for CI logs), `tty` draws live spinners with
//! indicatif, `quiet` prints nothing. Progress goes to stderr; the image id
//! is the caller's to print on stdout.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// `--progress`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProgressMode {
    Auto,
    Plain,
    Tty,
    Quiet,
}

impl std::str::FromStr for ProgressMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "auto" => Ok(ProgressMode::Auto),
            "plain" => Ok(ProgressMode::Plain),
            "tty" => Ok(ProgressMode::Tty),
            "quiet" => Ok(ProgressMode::Quiet),
            _ => Err(format!(
                "invalid --progress value {s:?}: use auto, plain, tty or quiet"
            )),
        }
    }
}

/// Counts for the final summary.
#[derive(Debug, Default, Clone, Copy)]
pub struct Summary {
    pub steps: usize,
    pub cached: usize,
}

/// The progress printer of one build.
pub struct Progress {
    mode: ProgressMode,
    next: AtomicUsize,
    out: Mutex<()>,
    bars: Option<indicatif::MultiProgress>,
    started: Instant,
    summary: Mutex<Summary>,
}

/// One step in the output.
pub struct Vertex<'a> {
    p: &'a Progress,
    id: usize,
    name: String,
    start: Instant,
    bar: Option<indicatif::ProgressBar>,
    counted: bool,
}

fn secs(d: Duration) -> String {
    format!("{:.1}s", d.as_secs_f64())
}

impl Progress {
    pub fn new(mode: ProgressMode) -> Progress {
        let mode = match mode {
            ProgressMode::Auto if std::io::stderr().is_terminal() => ProgressMode::Tty,
            ProgressMode::Auto => ProgressMode::Plain,
            m => m,
        };
        let bars = (mode == ProgressMode::Tty).then(indicatif::MultiProgress::new);
        Progress {
            mode,
            next: AtomicUsize::new(1),
            out: Mutex::new(()),
            bars,
            started: Instant::now(),
            summary: Mutex::new(Summary::default()),
        }
    }

    /// The mode after `auto` was decided.
    pub fn mode(&self) -> ProgressMode {
        self.mode
    }

    fn line(&self, text: &str) {
        match self.mode {
            ProgressMode::Quiet => {}
            ProgressMode::Tty => {
                if let Some(b) = &self.bars {
                    let _ = b.println(text);
                }
            }
            _ => {
                let _g = self.out.lock().unwrap_or_else(|e| e.into_inner());
                let mut err = std::io::stderr().lock();
                let _ = writeln!(err, "{text}");
            }
        }
    }

    /// Starts a vertex and prints its header.
    pub fn vertex(&self, name: impl Into<String>) -> Vertex<'_> {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let name = name.into();
        let bar = self.bars.as_ref().map(|m| {
            let b = m.add(indicatif::ProgressBar::new_spinner());
            b.set_style(
                indicatif::ProgressStyle::with_template("{spinner} {msg} {elapsed}")
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
            );
            b.set_message(format!("#{id} {name}"));
            b.enable_steady_tick(Duration::from_millis(100));
            b
        });
        if bar.is_none() {
            self.line(&format!("#{id} {name}"));
        }
        Vertex {
            p: self,
            id,
            name,
            start: Instant::now(),
            bar,
            counted: false,
        }
    }

    /// Prints the closing summary line.
    pub fn finish(&self, what: &str) {
        let s = *self.summary.lock().unwrap_or_else(|e| e.into_inner());
        self.line(&format!(
            "{what} in {}: {} steps, {} cached",
            secs(self.started.elapsed()),
            s.steps,
            s.cached
        ));
    }

    /// A failure report (BuildKit's `------ > STEP: … ------` block with
    /// the step's last output lines). Printed in every mode, quiet
    /// included: it explains the error.
    pub fn report(&self, title: &str, lines: &[String]) {
        let mut text = format!("------\n > {title}:\n");
        for l in lines {
            text.push_str(l);
            text.push('\n');
        }
        text.push_str("------");
        match (&self.bars, self.mode) {
            (Some(b), ProgressMode::Tty) => {
                let _ = b.println(&text);
            }
            _ => {
                let _g = self.out.lock().unwrap_or_else(|e| e.into_inner());
                let _ = writeln!(std::io::stderr().lock(), "{text}");
            }
        }
    }

    pub fn summary(&self) -> Summary {
        *self.summary.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Vertex<'_> {
    /// A log line under this vertex (`#N text`).
    pub fn log(&self, text: &str) {
        match &self.bar {
            Some(b) => b.set_message(format!("#{} {}: {text}", self.id, self.name)),
            None => self.p.line(&format!("#{} {text}", self.id)),
        }
    }

    fn end(&mut self, text: String, step: Option<bool>) {
        if let Some(cached) = step {
            if !self.counted {
                let mut s = self.p.summary.lock().unwrap_or_else(|e| e.into_inner());
                s.steps += 1;
                s.cached += usize::from(cached);
                self.counted = true;
            }
        }
        match self.bar.take() {
            Some(b) => {
                b.finish_and_clear();
                self.p.line(&format!("#{} {} {text}", self.id, self.name));
            }
            None => self.p.line(&format!("#{} {text}\n", self.id)),
        }
    }

    /// The step hit the cache.
    pub fn cached(mut self) {
        self.end("CACHED".into(), Some(true));
    }

    /// The step ran.
    pub fn done(mut self) {
        let t = secs(self.start.elapsed());
        self.end(format!("DONE {t}"), Some(false));
    }

    /// An internal vertex (loading, exporting) finished.
    pub fn done_internal(mut self) {
        let t = secs(self.start.elapsed());
        self.end(format!("DONE {t}"), None);
    }

    /// The step failed.
    pub fn error(mut self, msg: &str) {
        let t = secs(self.start.elapsed());
        self.end(format!("ERROR {t}: {msg}"), None);
    }
}

impl Drop for Vertex<'_> {
    fn drop(&mut self) {
        if let Some(b) = self.bar.take() {
            b.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_parse_and_count() {
        assert_eq!("plain".parse::<ProgressMode>(), Ok(ProgressMode::Plain));
        assert!("fancy".parse::<ProgressMode>().is_err());
        let p = Progress::new(ProgressMode::Quiet);
        p.vertex("[1/2] COPY a /").cached();
        p.vertex("[2/2] RUN x").done();
        p.vertex("exporting").done_internal();
        let s = p.summary();
        assert_eq!((s.steps, s.cached), (2, 1));
    }
}
