//! Output: TAP or a table per runtime, a side-by-side comparison (text or
//! markdown), and JSON. Every report ends with one summary line per
//! runtime: `NAME: N passed, N failed, N skipped`.

use std::fmt::Write as _;

use serde_json::{json, Value};

use super::runner::{group_counts, Judgement, TargetRun};
use super::{Verdict, GROUPS};

/// `NAME: N passed, N failed, N skipped`.
pub fn summary_line(run: &TargetRun) -> String {
    let (p, f, s) = run.counts();
    format!("{}: {p} passed, {f} failed, {s} skipped", run.target.name)
}

/// TAP 13 for one runtime.
pub fn tap(run: &TargetRun) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "TAP version 13");
    let _ = writeln!(
        o,
        "# runtime {} ({}): {}",
        run.target.name,
        run.target.bin.display(),
        run.version
    );
    for (i, out) in run.outcomes.iter().enumerate() {
        let n = i + 1;
        let _ = match &out.verdict {
            Verdict::Pass => writeln!(o, "ok {n} - {}", out.id),
            Verdict::Skip(why) => writeln!(o, "ok {n} - {} # SKIP {why}", out.id),
            Verdict::Fail(why) => writeln!(o, "not ok {n} - {} # {why}", out.id),
        };
    }
    let _ = writeln!(o, "1..{}", run.outcomes.len());
    let _ = writeln!(o, "# wall time {:.1}s", run.wall.as_secs_f64());
    o
}

/// A per-test table for one runtime.
pub fn table(run: &TargetRun) -> String {
    let w = run
        .outcomes
        .iter()
        .map(|o| o.id.len())
        .max()
        .unwrap_or(4)
        .max(4);
    let mut o = String::new();
    let _ = writeln!(
        o,
        "# runtime {} ({}): {}",
        run.target.name,
        run.target.bin.display(),
        run.version
    );
    let _ = writeln!(o, "{:<w$}  RESULT  DETAIL", "TEST");
    for out in &run.outcomes {
        let _ = writeln!(
            o,
            "{:<w$}  {:<6}  {}",
            out.id,
            out.verdict.word(),
            out.verdict.detail()
        );
    }
    let _ = writeln!(o, "# wall time {:.1}s", run.wall.as_secs_f64());
    o
}

/// Test by test, one column per runtime (text).
pub fn compare(runs: &[TargetRun]) -> String {
    let Some(first) = runs.first() else {
        return String::new();
    };
    let w = first
        .outcomes
        .iter()
        .map(|o| o.id.len())
        .max()
        .unwrap_or(4)
        .max(4);
    let mut o = String::new();
    let _ = write!(o, "{:<w$}", "TEST");
    for r in runs {
        let _ = write!(o, "  {:<6}", r.target.name);
    }
    let _ = writeln!(o);
    for out in &first.outcomes {
        let _ = write!(o, "{:<w$}", out.id);
        for r in runs {
            let v = r.verdict(&out.id).map(Verdict::word).unwrap_or("-");
            let _ = write!(o, "  {v:<6}");
        }
        let _ = writeln!(o);
    }
    for r in runs {
        let _ = writeln!(
            o,
            "# {} wall time {:.1}s",
            r.target.name,
            r.wall.as_secs_f64()
        );
    }
    o
}

fn md_cell(v: Option<&Verdict>) -> String {
    match v {
        None => "–".into(),
        Some(Verdict::Pass) => "pass".into(),
        Some(Verdict::Fail(_)) => "**FAIL**".into(),
        Some(Verdict::Skip(_)) => "skip".into(),
    }
}

fn md_escape(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// The markdown results page body: per-group counts, then one table per
/// group with every test, each runtime's verdict, and the first failing
/// or skipping runtime's reason.
pub fn markdown(runs: &[TargetRun]) -> String {
    let Some(first) = runs.first() else {
        return String::new();
    };
    let mut o = String::new();
    let _ = writeln!(o, "### Totals\n");
    for r in runs {
        let _ = writeln!(o, "- **{}**: {}", r.target.name, r.version);
    }
    let _ = writeln!(o);
    let _ = write!(o, "| group | tests |");
    for r in runs {
        let _ = write!(o, " {} pass/fail/skip |", r.target.name);
    }
    let _ = writeln!(o);
    let _ = write!(o, "|---|---|");
    for _ in runs {
        let _ = write!(o, "---|");
    }
    let _ = writeln!(o);
    let counts: Vec<_> = runs.iter().map(group_counts).collect();
    for (g, _) in GROUPS {
        let n = first.outcomes.iter().filter(|x| x.group == *g).count();
        if n == 0 {
            continue;
        }
        let _ = write!(o, "| {g} | {n} |");
        for c in &counts {
            let (p, f, s) = c.get(g).copied().unwrap_or_default();
            let _ = write!(o, " {p}/{f}/{s} |");
        }
        let _ = writeln!(o);
    }
    let _ = write!(o, "| **all** | **{}** |", first.outcomes.len());
    for r in runs {
        let (p, f, s) = r.counts();
        let _ = write!(o, " **{p}/{f}/{s}** |");
    }
    let _ = writeln!(o);
    let _ = write!(o, "| wall time | |");
    for r in runs {
        let _ = write!(o, " {:.1} s |", r.wall.as_secs_f64());
    }
    let _ = writeln!(o);

    for (g, section) in GROUPS {
        let outs: Vec<_> = first.outcomes.iter().filter(|x| x.group == *g).collect();
        if outs.is_empty() {
            continue;
        }
        let _ = writeln!(o, "\n### {g} — {section}\n");
        let _ = write!(o, "| test | clause |");
        for r in runs {
            let _ = write!(o, " {} |", r.target.name);
        }
        let _ = writeln!(o, " note |");
        let _ = write!(o, "|---|---|");
        for _ in runs {
            let _ = write!(o, "---|");
        }
        let _ = writeln!(o, "---|");
        for out in outs {
            let name = out.id.split_once('/').map(|x| x.1).unwrap_or(&out.id);
            let _ = write!(o, "| `{name}` | {} |", md_escape(&out.clause));
            let mut note = String::new();
            for r in runs {
                let v = r.verdict(&out.id);
                let _ = write!(o, " {} |", md_cell(v));
                if note.is_empty() {
                    if let Some(v @ (Verdict::Fail(_) | Verdict::Skip(_))) = v {
                        let d = v.detail();
                        let short: String = d.chars().take(140).collect();
                        note = format!(
                            "{}: {}{}",
                            r.target.name,
                            md_escape(&short),
                            if d.chars().count() > 140 { "…" } else { "" }
                        );
                    }
                }
            }
            let _ = writeln!(o, " {note} |");
        }
    }
    o
}

/// Everything as JSON (for tools and for regenerating the results page).
pub fn json(runs: &[TargetRun], judgement: Option<&Judgement>) -> Value {
    let runs: Vec<Value> = runs
        .iter()
        .map(|r| {
            let (p, f, s) = r.counts();
            json!({
                "runtime": r.target.name,
                "binary": r.target.bin.display().to_string(),
                "version": r.version,
                "wall_seconds": r.wall.as_secs_f64(),
                "passed": p, "failed": f, "skipped": s,
                "tests": r.outcomes.iter().map(|o| json!({
                    "id": o.id,
                    "group": o.group,
                    "clause": o.clause,
                    "result": o.verdict.word(),
                    "detail": o.verdict.detail(),
                    "ms": o.elapsed.as_millis() as u64,
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    json!({
        "runs": runs,
        "judgement": judgement.map(|j| json!({
            "subject": j.subject,
            "reference": j.reference,
            "regressions": j.regressions.iter().map(|(id, d)| json!({"id": id, "detail": d})).collect::<Vec<_>>(),
            "allowed": j.allowed,
            "now_passing": j.now_passing,
            "stale_allowlist_entries": j.stale,
        })),
    })
}

/// The judgement in a few lines (before the summary lines).
pub fn judgement_text(j: &Judgement) -> String {
    let mut o = String::new();
    let against = j
        .reference
        .as_deref()
        .map(|r| format!(" that {r} passes"))
        .unwrap_or_default();
    if j.regressions.is_empty() {
        let _ = writeln!(
            o,
            "# OK: {} fails no test{against} (outside the allowlist)",
            j.subject
        );
    } else {
        let _ = writeln!(
            o,
            "# REGRESSION: {} fails {} test(s){against}:",
            j.subject,
            j.regressions.len()
        );
        for (id, d) in &j.regressions {
            let _ = writeln!(o, "#   {id}: {d}");
        }
    }
    if !j.allowed.is_empty() {
        let _ = writeln!(o, "# allowlisted (known gaps) failing: {}", j.allowed.len());
    }
    for id in &j.now_passing {
        let _ = writeln!(o, "# NOW PASSING, remove from the allowlist: {id}");
    }
    for p in &j.stale {
        let _ = writeln!(o, "# allowlist entry matches no test that ran: {p}");
    }
    o
}
