//! Word expansion as BuildKit's shell lexer does it: quotes, escapes and the
//! `$v`, `${v}`, `${v:-w}`, `${v-w}`, `${v:+w}`, `${v+w}`, `${v:?w}`, `${v?w}`
//! substitutions.
//!
//! It is not a shell: no command substitution, no globbing, no arithmetic.
//! Two entry points: [`Lexer::process_word`] gives one string (quotes removed,
//! whitespace kept), [`Lexer::process_words`] splits into words the way the
//! shell would (used by EXPOSE and by heredoc detection).
//!
//! Never panics and never recurses without bound on input: nesting of
//! `${a:-${b:-…}}` is limited by [`MAX_NESTING`].

/// Deepest `${…}` nesting accepted before giving up with an error.
pub const MAX_NESTING: usize = 64;

/// Variables visible to an expansion.
pub trait VarLookup {
    /// The value of `name`, or `None` when it is unset.
    fn lookup(&self, name: &str) -> Option<&str>;
}

/// No variables at all.
pub struct NoVars;

impl VarLookup for NoVars {
    fn lookup(&self, _: &str) -> Option<&str> {
        None
    }
}

/// Pairs; the last pair with a name wins.
impl VarLookup for Vec<(String, String)> {
    fn lookup(&self, name: &str) -> Option<&str> {
        self.iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

impl VarLookup for std::collections::BTreeMap<String, String> {
    fn lookup(&self, name: &str) -> Option<&str> {
        self.get(name).map(String::as_str)
    }
}

/// Why an expansion failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExpansionError {
    #[error("unexpected end of statement while looking for matching single-quote")]
    UnterminatedSingleQuote,
    #[error("unexpected end of statement while looking for matching double-quote")]
    UnterminatedDoubleQuote,
    #[error("syntax error: missing '}}'")]
    MissingClosingBrace,
    #[error("syntax error: bad substitution")]
    BadSubstitution,
    #[error("unsupported modifier ({modifier}) in substitution")]
    UnsupportedModifier { modifier: char },
    #[error("{name}: {message}")]
    Required { name: String, message: String },
    #[error("substitutions nested deeper than {MAX_NESTING}")]
    TooDeep,
}

/// A configured lexer. The defaults match BuildKit's for instruction words.
#[derive(Debug, Clone, Copy)]
pub struct Lexer {
    /// The escape character (`\` or the one set by `# escape=`).
    pub escape: char,
    /// Keep quote characters in the output.
    pub raw_quotes: bool,
    /// Keep escape characters in the output.
    pub raw_escapes: bool,
    /// Leave references to unset variables as written instead of "".
    pub skip_unset_env: bool,
    /// Treat quotes as plain characters (heredoc bodies).
    pub skip_process_quotes: bool,
}

impl Lexer {
    /// A lexer with the given escape character and BuildKit's defaults.
    pub fn new(escape: char) -> Self {
        Lexer {
            escape,
            raw_quotes: false,
            raw_escapes: false,
            skip_unset_env: false,
            skip_process_quotes: false,
        }
    }

    /// Expands `word` into one string.
    pub fn process_word(&self, word: &str, env: &dyn VarLookup) -> Result<String, ExpansionError> {
        let mut sw = ShellWord::new(self, word, env);
        let mut words = Words::default();
        sw.process_stop_on(None, &mut words, 0)
    }

    /// Expands `word` and splits the result into shell words. Whitespace that
    /// came from a variable's value splits words; quoted whitespace does not.
    pub fn process_words(
        &self,
        word: &str,
        env: &dyn VarLookup,
    ) -> Result<Vec<String>, ExpansionError> {
        let mut sw = ShellWord::new(self, word, env);
        let mut words = Words::default();
        sw.process_stop_on(None, &mut words, 0)?;
        Ok(words.finish())
    }
}

/// Tracks word boundaries while expanding (for `process_words`).
#[derive(Default)]
struct Words {
    word: String,
    words: Vec<String>,
    in_word: bool,
}

impl Words {
    fn add_char(&mut self, ch: char) {
        if ch.is_whitespace() {
            if self.in_word && !self.word.is_empty() {
                self.words.push(std::mem::take(&mut self.word));
                self.in_word = false;
            }
        } else {
            self.add_raw_char(ch);
        }
    }
    fn add_raw_char(&mut self, ch: char) {
        self.word.push(ch);
        self.in_word = true;
    }
    fn add_string(&mut self, s: &str) {
        for ch in s.chars() {
            self.add_char(ch);
        }
    }
    fn add_raw_string(&mut self, s: &str) {
        self.word.push_str(s);
        self.in_word = true;
    }
    fn finish(mut self) -> Vec<String> {
        if !self.word.is_empty() {
            self.words.push(std::mem::take(&mut self.word));
        }
        self.words
    }
}

struct ShellWord<'a> {
    lx: &'a Lexer,
    chars: Vec<char>,
    pos: usize,
    env: &'a dyn VarLookup,
}

impl<'a> ShellWord<'a> {
    fn new(lx: &'a Lexer, word: &str, env: &'a dyn VarLookup) -> Self {
        // BuildKit reads words through Go's text/scanner, which drops a byte
        // order mark at the very start; do the same.
        let word = word.strip_prefix('\u{feff}').unwrap_or(word);
        ShellWord {
            lx,
            chars: word.chars().collect(),
            pos: 0,
            env,
        }
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn next(&mut self) -> Option<char> {
        let c = self.peek();
        if c.is_some() {
            self.pos += 1;
        }
        c
    }

    fn process_stop_on(
        &mut self,
        stop: Option<char>,
        words: &mut Words,
        depth: usize,
    ) -> Result<String, ExpansionError> {
        if depth > MAX_NESTING {
            return Err(ExpansionError::TooDeep);
        }
        let mut result = String::new();
        while let Some(ch) = self.peek() {
            if Some(ch) == stop {
                self.next();
                return Ok(result);
            }
            match ch {
                '\'' if !self.lx.skip_process_quotes => {
                    let s = self.single_quote()?;
                    result.push_str(&s);
                    words.add_raw_string(&s);
                }
                '"' if !self.lx.skip_process_quotes => {
                    let s = self.double_quote(depth)?;
                    result.push_str(&s);
                    words.add_raw_string(&s);
                }
                '$' => {
                    let s = self.dollar(depth)?;
                    result.push_str(&s);
                    words.add_string(&s);
                }
                _ => {
                    self.next();
                    if ch == self.lx.escape {
                        if self.lx.raw_escapes {
                            words.add_raw_char(ch);
                            result.push(ch);
                        }
                        // The escape character escapes the next one; at the
                        // very end it is dropped.
                        let Some(escaped) = self.next() else { break };
                        words.add_raw_char(escaped);
                        result.push(escaped);
                    } else {
                        words.add_char(ch);
                        result.push(ch);
                    }
                }
            }
        }
        if stop.is_some() {
            // Callers map this to "missing '}'".
            return Err(ExpansionError::MissingClosingBrace);
        }
        Ok(result)
    }

    fn single_quote(&mut self) -> Result<String, ExpansionError> {
        // Everything up to the next ' is literal; ' can't be escaped inside.
        let mut out = String::new();
        let open = self.next();
        if self.lx.raw_quotes {
            out.extend(open);
        }
        loop {
            match self.next() {
                None => return Err(ExpansionError::UnterminatedSingleQuote),
                Some('\'') => {
                    if self.lx.raw_quotes {
                        out.push('\'');
                    }
                    return Ok(out);
                }
                Some(c) => out.push(c),
            }
        }
    }

    fn double_quote(&mut self, depth: usize) -> Result<String, ExpansionError> {
        // Literal except `$` and the escape character, which escapes only
        // `"`, `$` and itself; before anything else it stays literal.
        let mut out = String::new();
        let open = self.next();
        if self.lx.raw_quotes {
            out.extend(open);
        }
        loop {
            match self.peek() {
                None => return Err(ExpansionError::UnterminatedDoubleQuote),
                Some('"') => {
                    self.next();
                    if self.lx.raw_quotes {
                        out.push('"');
                    }
                    return Ok(out);
                }
                Some('$') => {
                    let v = self.dollar(depth)?;
                    out.push_str(&v);
                }
                Some(_) => {
                    let mut ch = self.next().unwrap_or_default();
                    if ch == self.lx.escape {
                        if self.lx.raw_escapes {
                            out.push(ch);
                        }
                        match self.peek() {
                            None => continue,
                            Some(n) if n == '"' || n == '$' || n == self.lx.escape => {
                                ch = n;
                                self.next();
                            }
                            Some(_) => {}
                        }
                    }
                    out.push(ch);
                }
            }
        }
    }

    fn lookup(&self, name: &str) -> Option<String> {
        self.env.lookup(name).map(str::to_owned)
    }

    fn dollar(&mut self, depth: usize) -> Result<String, ExpansionError> {
        self.next(); // '$'
        if self.peek() != Some('{') {
            let name = self.name();
            if name.is_empty() {
                return Ok("$".into());
            }
            return Ok(match self.lookup(&name) {
                Some(v) => v,
                None if self.lx.skip_unset_env => format!("${name}"),
                None => String::new(),
            });
        }
        self.next(); // '{'
        match self.peek() {
            None => return Err(ExpansionError::MissingClosingBrace),
            Some('{' | '}' | ':') => return Err(ExpansionError::BadSubstitution),
            Some(_) => {}
        }
        let name = self.name();
        let value = self.lookup(&name);
        let skip = self.lx.skip_unset_env && value.is_none();
        match self.next() {
            Some('}') => Ok(match value {
                Some(v) => v,
                None if skip => format!("${{{name}}}"),
                None => String::new(),
            }),
            Some(op @ ('?' | '+' | '-')) => {
                let word = self.nested_word(depth)?;
                if skip {
                    return Ok(format!("${{{name}{op}{word}}}"));
                }
                match (op, value) {
                    ('?', None) => Err(required(&name, &word, "is not allowed to be unset")),
                    ('?', Some(v)) | ('-', Some(v)) => Ok(v),
                    ('-', None) => Ok(word),
                    ('+', Some(_)) => Ok(word),
                    _ => Ok(String::new()),
                }
            }
            Some(':') => {
                let Some(modifier) = self.next() else {
                    return Err(ExpansionError::MissingClosingBrace);
                };
                let word = self.nested_word(depth)?;
                let current = value.clone().unwrap_or_default();
                match modifier {
                    '+' => {
                        if skip {
                            return Ok(format!("${{{name}:+{word}}}"));
                        }
                        Ok(if current.is_empty() { current } else { word })
                    }
                    '-' => {
                        if skip {
                            return Ok(format!("${{{name}:-{word}}}"));
                        }
                        Ok(if current.is_empty() { word } else { current })
                    }
                    '?' => {
                        if value.is_none() {
                            Err(required(&name, &word, "is not allowed to be unset"))
                        } else if current.is_empty() {
                            Err(required(&name, &word, "is not allowed to be empty"))
                        } else {
                            Ok(current)
                        }
                    }
                    other => Err(ExpansionError::UnsupportedModifier { modifier: other }),
                }
            }
            None => Err(ExpansionError::MissingClosingBrace),
            Some(other) => Err(ExpansionError::UnsupportedModifier { modifier: other }),
        }
    }

    /// The word after a modifier, up to the closing `}`.
    fn nested_word(&mut self, depth: usize) -> Result<String, ExpansionError> {
        let mut ignored = Words::default();
        match self.process_stop_on(Some('}'), &mut ignored, depth + 1) {
            Ok(w) => Ok(w),
            Err(_) if self.peek().is_none() => Err(ExpansionError::MissingClosingBrace),
            Err(e) => Err(e),
        }
    }

    /// A variable name: letters, digits and `_`; or a run of digits; or one
    /// special parameter character.
    fn name(&mut self) -> String {
        let mut name = String::new();
        while let Some(ch) = self.peek() {
            if name.is_empty() && ch.is_ascii_digit() {
                while let Some(d) = self.peek().filter(char::is_ascii_digit) {
                    name.push(d);
                    self.next();
                }
                return name;
            }
            if name.is_empty() && matches!(ch, '@' | '*' | '#' | '?' | '-' | '$' | '!' | '0') {
                self.next();
                return ch.to_string();
            }
            if !ch.is_alphanumeric() && ch != '_' {
                break;
            }
            name.push(ch);
            self.next();
        }
        name
    }
}

fn required(name: &str, word: &str, default: &str) -> ExpansionError {
    ExpansionError::Required {
        name: name.to_owned(),
        message: if word.is_empty() {
            default.to_owned()
        } else {
            word.to_owned()
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env() -> Vec<(String, String)> {
        vec![
            ("a".into(), "hello".into()),
            ("empty".into(), String::new()),
            ("sp".into(), "x  y".into()),
        ]
    }

    fn w(s: &str) -> String {
        Lexer::new('\\').process_word(s, &env()).unwrap()
    }

    #[test]
    fn plain_and_braced() {
        assert_eq!(w("$a"), "hello");
        assert_eq!(w("${a}"), "hello");
        assert_eq!(w("pre$a.post"), "prehello.post");
        assert_eq!(w("$nope"), "");
        assert_eq!(w("$"), "$");
        assert_eq!(w("$-x"), "x");
        assert_eq!(w("a$"), "a$");
    }

    #[test]
    fn modifiers() {
        assert_eq!(w("${a:-d}"), "hello");
        assert_eq!(w("${nope:-d}"), "d");
        assert_eq!(w("${empty:-d}"), "d");
        assert_eq!(w("${empty-d}"), "");
        assert_eq!(w("${nope-d}"), "d");
        assert_eq!(w("${a:+r}"), "r");
        assert_eq!(w("${empty:+r}"), "");
        assert_eq!(w("${empty+r}"), "r");
        assert_eq!(w("${nope+r}"), "");
        assert_eq!(w("${nope:-${a}}"), "hello");
        assert_eq!(w("${nope:-a\\}b}"), "a}b");
    }

    #[test]
    fn required_values() {
        let lx = Lexer::new('\\');
        assert_eq!(
            lx.process_word("${nope:?must be set}", &env()).unwrap_err(),
            ExpansionError::Required {
                name: "nope".into(),
                message: "must be set".into()
            }
        );
        assert!(lx.process_word("${empty:?}", &env()).is_err());
        assert_eq!(lx.process_word("${empty?}", &env()).unwrap(), "");
    }

    #[test]
    fn quotes_and_escapes() {
        assert_eq!(w("'$a'"), "$a");
        assert_eq!(w("\"$a\""), "hello");
        assert_eq!(w("\\$a"), "$a");
        assert_eq!(w("\"\\$a\""), "$a");
        assert_eq!(w("\"a\\b\""), "a\\b");
        assert_eq!(w("a\\ b"), "a b");
        assert_eq!(w("abc\\"), "abc");
        assert_eq!(w("'a\\'"), "a\\");
    }

    #[test]
    fn errors() {
        let lx = Lexer::new('\\');
        for bad in [
            "${}", "${:a}", "${a", "${a:-b", "'abc", "\"abc", "${a!}", "${a:*b}",
        ] {
            assert!(lx.process_word(bad, &env()).is_err(), "{bad}");
        }
    }

    #[test]
    fn words_split_on_unquoted_value_whitespace() {
        let lx = Lexer::new('\\');
        assert_eq!(lx.process_words("$sp z", &env()).unwrap(), ["x", "y", "z"]);
        assert_eq!(
            lx.process_words("\"$sp\" z", &env()).unwrap(),
            ["x  y", "z"]
        );
        assert_eq!(lx.process_words("'' a", &env()).unwrap(), ["a"]);
    }

    #[test]
    fn backtick_escape() {
        let lx = Lexer::new('`');
        assert_eq!(
            lx.process_word("c:\\dir `$a", &env()).unwrap(),
            "c:\\dir $a"
        );
    }

    #[test]
    fn skip_unset_keeps_reference() {
        let lx = Lexer {
            skip_unset_env: true,
            ..Lexer::new('\\')
        };
        assert_eq!(
            lx.process_word("$x ${y} ${z:-w}", &env()).unwrap(),
            "$x ${y} ${z:-w}"
        );
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let s = "${a:-".repeat(10_000);
        assert!(Lexer::new('\\').process_word(&s, &env()).is_err());
    }
}
