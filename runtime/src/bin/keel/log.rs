//! keel's log output in runc's formats: logrus text
//! (`time="…" level=error msg="…"`) or JSON lines
//! (`{"level":"error","msg":"…","time":"…"}`), which containerd reads.

use std::fmt::Write as _;
use std::io::Write;
use std::sync::Mutex;

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer};

use crate::cli::LogFormat;

/// Writes each event as one line.
pub struct RuncLog {
    pub out: Mutex<Box<dyn Write + Send>>,
    pub format: LogFormat,
    pub max: Level,
}

#[derive(Default)]
struct Fields {
    msg: String,
    extra: Vec<(String, String)>,
}

impl Visit for Fields {
    fn record_str(&mut self, f: &Field, v: &str) {
        if f.name() == "message" {
            self.msg = v.to_string();
        } else {
            self.extra.push((f.name().to_string(), v.to_string()));
        }
    }

    fn record_debug(&mut self, f: &Field, v: &dyn std::fmt::Debug) {
        if f.name() == "message" {
            self.msg = format!("{v:?}");
        } else {
            self.extra.push((f.name().to_string(), format!("{v:?}")));
        }
    }
}

fn level_name(l: &Level) -> &'static str {
    match *l {
        Level::ERROR => "error",
        Level::WARN => "warning",
        Level::INFO => "info",
        Level::DEBUG => "debug",
        Level::TRACE => "trace",
    }
}

/// One log line, without the newline.
pub fn format_line(
    format: LogFormat,
    level: &str,
    msg: &str,
    extra: &[(String, String)],
    time: &str,
) -> String {
    match format {
        LogFormat::Json => {
            let mut m = serde_json::Map::new();
            for (k, v) in extra {
                m.insert(k.clone(), serde_json::Value::String(v.clone()));
            }
            m.insert("level".into(), level.into());
            m.insert("msg".into(), msg.into());
            m.insert("time".into(), time.into());
            serde_json::Value::Object(m).to_string()
        }
        LogFormat::Text => {
            let mut s = format!("time={time:?} level={level} msg={msg:?}");
            for (k, v) in extra {
                let _ = write!(s, " {k}={v:?}");
            }
            s
        }
    }
}

impl<S: Subscriber> Layer<S> for RuncLog {
    fn enabled(&self, meta: &tracing::Metadata<'_>, _: Context<'_, S>) -> bool {
        *meta.level() <= self.max
    }

    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        let mut f = Fields::default();
        event.record(&mut f);
        let line = format_line(
            self.format,
            level_name(event.metadata().level()),
            &f.msg,
            &f.extra,
            &keel_runtime::time::now_rfc3339(),
        );
        if let Ok(mut out) = self.out.lock() {
            let _ = writeln!(out, "{line}");
            let _ = out.flush();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_line_is_runcs() {
        let l = format_line(LogFormat::Json, "error", "boom \"x\"", &[], "T");
        assert_eq!(l, r#"{"level":"error","msg":"boom \"x\"","time":"T"}"#);
        let t = format_line(LogFormat::Text, "error", "a b", &[], "T");
        assert_eq!(t, r#"time="T" level=error msg="a b""#);
    }
}
