//! Differential test of hoist's Dockerfile parser against BuildKit's.
//!
//! Every `tests/corpus/NAME.Dockerfile` has a golden `NAME.expected.json`
//! holding BuildKit's parse of it, written by `hack/parser-diff.py write`
//! (through the PyPI package `dockerfile`, which wraps BuildKit's Go parser).
//! This test parses each file with hoist, projects hoist's syntax tree onto
//! what the Python package exposes, and requires equality:
//! - BuildKit parsed the file: same instructions, flags, values, JSON flag,
//!   original text, line range and heredocs;
//! - BuildKit parsed it but named an unknown instruction (its parser defers
//!   that error): hoist must reject it with `UnknownInstruction` at that line;
//! - BuildKit rejected it: hoist must reject it too.

use std::path::Path;

use hoist::dockerfile::{parse_bytes, ErrorKind, Keyword, Node};
use serde_json::{json, Value};

/// hoist's node as the Python package would show BuildKit's.
fn project(n: &Node) -> Value {
    let heredocs = |n: &Node| -> Vec<Value> {
        n.heredocs
            .iter()
            .map(|h| json!({"name": h.name, "file_descriptor": h.file_descriptor, "content": h.content}))
            .collect()
    };
    let (sub_cmd, is_json, value, docs, original) = match &n.onbuild {
        // The package shows the trigger's keyword, JSON flag and values, but
        // not its flags or heredocs (BuildKit keeps those elsewhere).
        Some(sub) => {
            let value = if sub.keyword == Keyword::Onbuild {
                if sub.onbuild.is_some() {
                    vec![String::new()]
                } else {
                    vec![]
                }
            } else {
                sub.args.clone()
            };
            (
                Value::from(sub.keyword_text.clone()),
                sub.json,
                value,
                vec![],
                n.original.clone(),
            )
        }
        None => {
            // The package appends heredoc bodies and delimiters to `original`.
            let mut original = n.original.clone();
            if !n.heredocs.is_empty() {
                original.push('\n');
                for h in &n.heredocs {
                    original.push_str(&h.content);
                    original.push_str(&h.name);
                    original.push('\n');
                }
            }
            (Value::Null, n.json, n.args.clone(), heredocs(n), original)
        }
    };
    json!({
        "cmd": n.keyword_text,
        "sub_cmd": sub_cmd,
        "json": is_json,
        "original": original,
        "start_line": n.start_line,
        "end_line": n.end_line,
        "flags": n.flags,
        "value": value,
        "heredocs": docs,
    })
}

fn check(name: &str, source: &[u8], golden: &Value) -> Result<(), String> {
    let parsed = parse_bytes(source, name);
    if golden["ok"] == json!(false) {
        return match parsed {
            Err(_) => Ok(()),
            Ok(_) => Err(format!(
                "{name}: BuildKit rejects it ({}), hoist accepts it",
                golden["error"]
            )),
        };
    }
    if let Some(unknown) = golden.get("unknown_instruction") {
        // hoist points at the physical line holding the word, which may be
        // a continuation line of the instruction BuildKit dates by its start.
        let (start, end) = (
            unknown["line"].as_u64().unwrap_or(0),
            unknown["end_line"].as_u64().unwrap_or(0),
        );
        return match parsed {
            Err(e)
                if matches!(e.kind(), ErrorKind::UnknownInstruction { .. })
                    && (start..=end.max(start)).contains(&(e.at.line as u64)) =>
            {
                Ok(())
            }
            Err(e) => Err(format!(
                "{name}: expected an unknown-instruction error at line {}, got: {e}",
                unknown["line"]
            )),
            Ok(_) => Err(format!(
                "{name}: expected an unknown-instruction error, hoist accepts it"
            )),
        };
    }
    let df = parsed.map_err(|e| format!("{name}: BuildKit accepts it, hoist says: {e}"))?;
    let ours: Vec<Value> = df.nodes.iter().map(project).collect();
    let theirs = golden["commands"].as_array().cloned().unwrap_or_default();
    if ours.len() != theirs.len() {
        return Err(format!(
            "{name}: {} instructions, BuildKit has {}",
            ours.len(),
            theirs.len()
        ));
    }
    for (i, (a, b)) in ours.iter().zip(&theirs).enumerate() {
        if a != b {
            return Err(format!(
                "{name}: instruction {i} differs\n  hoist:    {a}\n  buildkit: {b}"
            ));
        }
    }
    Ok(())
}

#[test]
fn corpus_matches_buildkit() {
    // HOIST_PARSER_CORPUS points the test at another corpus, such as the
    // random one `hack/parser-diff.py fuzz` writes.
    let custom = std::env::var_os("HOIST_PARSER_CORPUS");
    let dir = match &custom {
        Some(d) => Path::new(d).to_path_buf(),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus"),
    };
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .expect("read the corpus directory")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".Dockerfile"))
        .collect();
    names.sort();
    assert!(
        custom.is_some() || names.len() >= 150,
        "the corpus has {} files, want at least 150",
        names.len()
    );

    let mut failures = Vec::new();
    for name in &names {
        let source = std::fs::read(dir.join(name)).expect("read a corpus file");
        let golden_path = dir.join(name.replace(".Dockerfile", ".expected.json"));
        let golden: Value = match std::fs::read_to_string(&golden_path) {
            Ok(text) => serde_json::from_str(&text).expect("golden is JSON"),
            Err(_) => {
                failures.push(format!("{name}: no golden (run hack/parser-diff.py write)"));
                continue;
            }
        };
        if let Err(msg) = check(name, &source, &golden) {
            failures.push(msg);
        }
    }
    println!(
        "parser differential: {} of {} corpus files match BuildKit",
        names.len() - failures.len(),
        names.len()
    );
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
