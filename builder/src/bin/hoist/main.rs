//! `hoist`: a daemonless Dockerfile builder. This file only parses the
//! command line and calls the library.

mod cli;
mod run_cmd;

use std::process::ExitCode;

use clap::Parser;

/// An error and its causes on one line. Library errors usually carry their
/// cause in their own text; a cause from the chain is added only when it
/// says something new.
pub(crate) fn error_text(e: &anyhow::Error) -> String {
    let mut msg = e.to_string();
    for cause in e.chain().skip(1) {
        let c = cause.to_string();
        if !msg.contains(&c) {
            msg.push_str(": ");
            msg.push_str(&c);
        }
    }
    msg
}

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    init_logging(args.debug);
    match cli::run(args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", error_text(&e));
            ExitCode::from(1)
        }
    }
}

/// Prints `level: message key=value` lines on stderr.
struct StderrLog {
    max: tracing::Level,
}

#[derive(Default)]
struct Fields(String);

impl tracing::field::Visit for Fields {
    fn record_debug(&mut self, f: &tracing::field::Field, v: &dyn std::fmt::Debug) {
        use std::fmt::Write as _;
        if f.name() == "message" {
            let _ = write!(self.0, "{v:?}");
        } else {
            let _ = write!(self.0, " {}={v:?}", f.name());
        }
    }
    fn record_str(&mut self, f: &tracing::field::Field, v: &str) {
        use std::fmt::Write as _;
        if f.name() == "message" {
            self.0.push_str(v);
        } else {
            let _ = write!(self.0, " {}={v}", f.name());
        }
    }
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for StderrLog {
    fn enabled(
        &self,
        meta: &tracing::Metadata<'_>,
        _: tracing_subscriber::layer::Context<'_, S>,
    ) -> bool {
        *meta.level() <= self.max
    }
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        let mut f = Fields::default();
        event.record(&mut f);
        let level = match *event.metadata().level() {
            tracing::Level::ERROR => "error",
            tracing::Level::WARN => "warning",
            tracing::Level::INFO => "info",
            tracing::Level::DEBUG => "debug",
            tracing::Level::TRACE => "trace",
        };
        eprintln!("{level}: {}", f.0);
    }
}

fn init_logging(debug: bool) {
    use tracing_subscriber::layer::SubscriberExt;
    let max = if debug {
        tracing::Level::DEBUG
    } else {
        tracing::Level::WARN
    };
    let _ = tracing::subscriber::set_global_default(
        tracing_subscriber::registry().with(StderrLog { max }),
    );
}
