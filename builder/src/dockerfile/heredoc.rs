//! Finding heredoc delimiters (`<<EOF`, `<<-EOF`, `3<<'EOF'`) in a RUN, COPY
//! or ADD line, as BuildKit does: the line is split into shell words (quotes
//! and escapes kept), and every word of the form `[digits]<<[-]WORD` opens a
//! heredoc, wherever it stands in the command. Bodies are read by the parser.
//!
//! A quoted delimiter (any quote in it) turns build-time expansion off.

use super::ast::Heredoc;
use super::shell_lexer::{ExpansionError, Lexer, NoVars};

/// The heredocs opened by `line`, in order, with empty bodies.
pub(crate) fn heredocs_from_line(line: &str) -> Result<Vec<Heredoc>, ExpansionError> {
    let lexer = Lexer {
        raw_quotes: true,
        raw_escapes: true,
        skip_unset_env: true,
        ..Lexer::new('\\')
    };
    // A line that doesn't lex (an unbalanced quote) opens no heredocs.
    let Ok(words) = lexer.process_words(line, &NoVars) else {
        return Ok(vec![]);
    };
    let mut docs = Vec::new();
    for word in words {
        if let Some(doc) = parse_heredoc(&word)? {
            docs.push(doc);
        }
    }
    Ok(docs)
}

/// Parses one word as a heredoc opener; `None` when it is not one.
pub(crate) fn parse_heredoc(word: &str) -> Result<Option<Heredoc>, ExpansionError> {
    let digits_len = word.bytes().take_while(u8::is_ascii_digit).count();
    let (digits, after) = word.split_at(digits_len);
    let Some(after) = after.strip_prefix("<<") else {
        return Ok(None);
    };
    let (chomp, rest) = match after.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, after),
    };
    if rest.is_empty() || rest.contains('<') {
        return Ok(None);
    }
    let file_descriptor = digits.parse::<u32>().unwrap_or(0);

    let plain = Lexer {
        skip_unset_env: true,
        ..Lexer::new('\\')
    };
    let words = plain.process_words(rest, &NoVars)?;
    if words.len() != 1 {
        return Ok(None);
    }
    let raw = Lexer {
        raw_quotes: true,
        ..plain
    };
    let raw_words = raw.process_words(rest, &NoVars)?;
    let quotes = |s: &str| s.chars().filter(|&c| c == '\'' || c == '"').count();
    let expand = raw_words.len() == 1 && quotes(&words[0]) == quotes(&raw_words[0]);
    Ok(Some(Heredoc {
        name: words[0].clone(),
        file_descriptor,
        expand,
        chomp,
        content: String::new(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(line: &str) -> Vec<(String, u32, bool, bool)> {
        heredocs_from_line(line)
            .unwrap()
            .into_iter()
            .map(|h| (h.name, h.file_descriptor, h.expand, h.chomp))
            .collect()
    }

    #[test]
    fn finds_heredocs_anywhere() {
        assert_eq!(names("RUN <<EOF"), [("EOF".into(), 0, true, false)]);
        assert_eq!(
            names("RUN cat <<\"EOF\" <<'B' 3<<-C"),
            [
                ("EOF".into(), 0, false, false),
                ("B".into(), 0, false, false),
                ("C".into(), 3, true, true)
            ]
        );
        assert_eq!(names("RUN <<E'O'F"), [("EOF".into(), 0, false, false)]);
        assert_eq!(
            names("RUN cat <<EOF>file"),
            [("EOF>file".into(), 0, true, false)]
        );
    }

    #[test]
    fn not_heredocs() {
        assert!(names("RUN cat <<<here").is_empty());
        assert!(names("RUN a<<EOF").is_empty());
        assert!(names("RUN '<<EOF'").is_empty());
        assert!(names("RUN <<").is_empty());
        assert!(names("RUN <<- x").is_empty());
        assert!(names("RUN <<EOF \"unbalanced").is_empty());
    }
}
