//! What a RUN step executes, as BuildKit's Dockerfile frontend decides it:
//!
//! - exec form: the array as is;
//! - shell form: `SHELL + [text]` (default `/bin/sh -c`);
//! - a RUN that is one bare heredoc (`RUN <<EOF`): its body through the
//!   shell, or, when the body starts with `#!`, the body written to a file
//!   that is mounted read-only at `/dev/pipes/NAME` and run through the
//!   shell (so the kernel honours the shebang);
//! - heredocs elsewhere in the command (`RUN python3 <<EOF`): the command
//!   and the bodies joined back into one shell script, for the shell to
//!   handle.
//!
//! Pure: builds strings, touches nothing.

use crate::dockerfile::ast::Heredoc;
use crate::dockerfile::instructions::{CommandLine, Run};

/// Where a heredoc script is mounted in the container.
pub const PIPES_DIR: &str = "/dev/pipes";

/// The process of a RUN step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunCommand {
    pub argv: Vec<String>,
    /// A heredoc with a shebang: (file name, body) to mount under
    /// [`PIPES_DIR`] with mode 0755.
    pub script: Option<(String, String)>,
}

/// The command of `run` with `shell` as the SHELL.
pub fn run_command(run: &Run, shell: &[String]) -> RunCommand {
    let with_shell = |s: String| {
        let mut v = shell.to_vec();
        v.push(s);
        v
    };
    match &run.command {
        CommandLine::Exec(v) => RunCommand {
            argv: v.clone(),
            script: None,
        },
        CommandLine::Shell(text) => {
            let Some(first) = run.heredocs.first() else {
                return RunCommand {
                    argv: with_shell(text.clone()),
                    script: None,
                };
            };
            if run.heredocs.len() == 1 && is_bare_heredoc(text, first) {
                let body = first.effective_content();
                if body.starts_with("#!") {
                    let name = script_name(&first.name);
                    return RunCommand {
                        argv: with_shell(format!("{PIPES_DIR}/{name}")),
                        script: Some((name, body)),
                    };
                }
                return RunCommand {
                    argv: with_shell(body),
                    script: None,
                };
            }
            let mut full = text.clone();
            for h in &run.heredocs {
                full.push('\n');
                full.push_str(&h.content);
                full.push_str(&h.name);
            }
            RunCommand {
                argv: with_shell(full),
                script: None,
            }
        }
    }
}

/// `<<EOF`, `<<-EOF`, `<<"EOF"`, `<< 'EOF'`, `3<<EOF` and nothing else.
fn is_bare_heredoc(text: &str, h: &Heredoc) -> bool {
    let t = text.trim().trim_start_matches(|c: char| c.is_ascii_digit());
    let Some(rest) = t.strip_prefix("<<") else {
        return false;
    };
    let rest = rest.strip_prefix('-').unwrap_or(rest).trim_start();
    let unquoted: String = rest.chars().filter(|c| *c != '"' && *c != '\'').collect();
    unquoted == h.name
}

/// A file name from a heredoc delimiter (no `/`, never empty).
fn script_name(name: &str) -> String {
    let n: String = name
        .chars()
        .map(|c| if c == '/' || c == '\0' { '_' } else { c })
        .collect();
    if n.is_empty() || n == "." || n == ".." {
        "script".into()
    } else {
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hd(name: &str, content: &str, chomp: bool) -> Heredoc {
        Heredoc {
            name: name.into(),
            file_descriptor: 0,
            expand: true,
            chomp,
            content: content.into(),
        }
    }
    fn run(cl: CommandLine, heredocs: Vec<Heredoc>) -> Run {
        Run {
            command: cl,
            heredocs,
            mounts: Vec::new(),
            network: None,
            security: None,
        }
    }
    fn sh() -> Vec<String> {
        vec!["/bin/sh".into(), "-c".into()]
    }

    #[test]
    fn forms() {
        let c = run_command(&run(CommandLine::Shell("echo hi".into()), vec![]), &sh());
        assert_eq!(c.argv, ["/bin/sh", "-c", "echo hi"]);
        let c = run_command(
            &run(
                CommandLine::Exec(vec!["/bin/echo".into(), "x".into()]),
                vec![],
            ),
            &sh(),
        );
        assert_eq!(c.argv, ["/bin/echo", "x"]);
        let bash = vec!["/bin/bash".into(), "-xc".into()];
        let c = run_command(&run(CommandLine::Shell("true".into()), vec![]), &bash);
        assert_eq!(c.argv, ["/bin/bash", "-xc", "true"]);
    }

    #[test]
    fn heredocs() {
        let c = run_command(
            &run(
                CommandLine::Shell("<<EOF".into()),
                vec![hd("EOF", "echo a\necho b\n", false)],
            ),
            &sh(),
        );
        assert_eq!(c.argv, ["/bin/sh", "-c", "echo a\necho b\n"]);
        assert_eq!(c.script, None);
        let c = run_command(
            &run(
                CommandLine::Shell("<<-'EOT'".into()),
                vec![hd("EOT", "\t#!/bin/sh\n\techo x\n", true)],
            ),
            &sh(),
        );
        assert_eq!(c.argv, ["/bin/sh", "-c", "/dev/pipes/EOT"]);
        assert_eq!(c.script, Some(("EOT".into(), "#!/bin/sh\necho x\n".into())));
        let c = run_command(
            &run(
                CommandLine::Shell("cat <<A >a && cat <<B >b".into()),
                vec![hd("A", "1\n", false), hd("B", "2\n", false)],
            ),
            &sh(),
        );
        assert_eq!(
            c.argv,
            ["/bin/sh", "-c", "cat <<A >a && cat <<B >b\n1\nA\n2\nB"]
        );
    }
}
