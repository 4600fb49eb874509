//! Decoding of the JSON (exec) form, `["a", "b"]`, with the exact acceptance
//! rules BuildKit gets from Go's `encoding/json` decoder.
//!
//! Those rules matter because anything that is not valid JSON silently falls
//! back to the shell form: `CMD ['a']` is a shell command. Only the first JSON
//! value is read; text after the closing `]` is ignored, as in BuildKit.
//! A valid array holding a non-string is an error, not a fallback.
//!
//! The scanner is iterative, so deep nesting can't overflow the stack.

/// The outcome of trying the JSON form on an instruction's arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JsonArray {
    /// A valid array of strings.
    Strings(Vec<String>),
    /// Valid JSON, but an element is not a string (an error for Dockerfiles).
    NotStrings,
    /// Not JSON: the caller falls back to the shell form.
    Invalid,
}

/// Decodes the first JSON value of `text`, which must start with `[`.
pub fn decode(text: &str) -> JsonArray {
    let bytes = text.as_bytes();
    if bytes.first() != Some(&b'[') {
        return JsonArray::Invalid;
    }
    let mut sc = Scanner { b: bytes, i: 0 };
    match sc.top_array() {
        Some(Some(v)) => JsonArray::Strings(v),
        Some(None) => JsonArray::NotStrings,
        None => JsonArray::Invalid,
    }
}

struct Scanner<'a> {
    b: &'a [u8],
    i: usize,
}

/// Go's decoder refuses nesting deeper than this.
const MAX_DEPTH: usize = 10_000;

impl Scanner<'_> {
    fn ws(&mut self) {
        while matches!(self.b.get(self.i), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    /// `Some(Some(strings))`, `Some(None)` when valid with a non-string,
    /// `None` when invalid.
    fn top_array(&mut self) -> Option<Option<Vec<String>>> {
        self.i += 1; // '['
        let mut out = Vec::new();
        let mut all_strings = true;
        self.ws();
        if self.peek() == Some(b']') {
            return Some(Some(out));
        }
        loop {
            self.ws();
            if self.peek() == Some(b'"') {
                out.push(self.string()?);
            } else {
                self.value()?;
                all_strings = false;
            }
            self.ws();
            match self.peek()? {
                b',' => self.i += 1,
                b']' => break,
                _ => return None,
            }
        }
        Some(all_strings.then_some(out))
    }

    /// Validates any JSON value without building it.
    fn value(&mut self) -> Option<()> {
        // Stack of open containers: true for object, false for array.
        let mut stack: Vec<bool> = Vec::new();
        loop {
            self.ws();
            // A value.
            match self.peek()? {
                b'"' => {
                    self.string()?;
                }
                b'[' => {
                    self.i += 1;
                    self.ws();
                    if self.peek() == Some(b']') {
                        self.i += 1;
                    } else {
                        if stack.len() + 2 > MAX_DEPTH {
                            return None;
                        }
                        stack.push(false);
                        continue;
                    }
                }
                b'{' => {
                    self.i += 1;
                    self.ws();
                    if self.peek() == Some(b'}') {
                        self.i += 1;
                    } else {
                        if stack.len() + 2 > MAX_DEPTH {
                            return None;
                        }
                        stack.push(true);
                        self.key()?;
                        continue;
                    }
                }
                b't' => self.literal(b"true")?,
                b'f' => self.literal(b"false")?,
                b'n' => self.literal(b"null")?,
                b'-' | b'0'..=b'9' => self.number()?,
                _ => return None,
            }
            // After a value: close containers or move to the next element.
            loop {
                let Some(&is_obj) = stack.last() else {
                    return Some(());
                };
                self.ws();
                match (self.peek()?, is_obj) {
                    (b',', false) => {
                        self.i += 1;
                        break;
                    }
                    (b',', true) => {
                        self.i += 1;
                        self.ws();
                        self.key()?;
                        break;
                    }
                    (b']', false) | (b'}', true) => {
                        self.i += 1;
                        stack.pop();
                    }
                    _ => return None,
                }
            }
        }
    }

    /// An object key and its colon.
    fn key(&mut self) -> Option<()> {
        if self.peek()? != b'"' {
            return None;
        }
        self.string()?;
        self.ws();
        if self.peek()? != b':' {
            return None;
        }
        self.i += 1;
        Some(())
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        if self.b.get(self.i..self.i + word.len())? == word {
            self.i += word.len();
            Some(())
        } else {
            None
        }
    }

    fn digits(&mut self) -> usize {
        let start = self.i;
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.i += 1;
        }
        self.i - start
    }

    fn number(&mut self) -> Option<()> {
        if self.peek() == Some(b'-') {
            self.i += 1;
        }
        match self.peek()? {
            b'0' => self.i += 1,
            b'1'..=b'9' => {
                self.digits();
            }
            _ => return None,
        }
        if self.peek() == Some(b'.') {
            self.i += 1;
            if self.digits() == 0 {
                return None;
            }
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.i += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.i += 1;
            }
            if self.digits() == 0 {
                return None;
            }
        }
        Some(())
    }

    fn hex4(&self, at: usize) -> Option<u32> {
        let s = self.b.get(at..at + 4)?;
        let mut v = 0u32;
        for &c in s {
            v = v * 16 + (c as char).to_digit(16)?;
        }
        Some(v)
    }

    /// A string literal, decoded. Lone surrogates become U+FFFD, as in Go.
    fn string(&mut self) -> Option<String> {
        self.i += 1; // '"'
        let mut out: Vec<u8> = Vec::new();
        loop {
            let c = self.peek()?;
            match c {
                b'"' => {
                    self.i += 1;
                    // The input is UTF-8 and escapes produce valid UTF-8.
                    return String::from_utf8(out).ok();
                }
                0..=0x1f => return None,
                b'\\' => {
                    self.i += 1;
                    let e = self.peek()?;
                    self.i += 1;
                    let ch = match e {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => {
                            let hi = self.hex4(self.i)?;
                            self.i += 4;
                            if (0xD800..0xE000).contains(&hi) {
                                let pair = (hi < 0xDC00
                                    && self.b.get(self.i) == Some(&b'\\')
                                    && self.b.get(self.i + 1) == Some(&b'u'))
                                .then(|| self.hex4(self.i + 2))
                                .flatten()
                                .filter(|lo| (0xDC00..0xE000).contains(lo));
                                match pair {
                                    Some(lo) => {
                                        self.i += 6;
                                        char::from_u32(
                                            0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00),
                                        )
                                        .unwrap_or('\u{fffd}')
                                    }
                                    None => '\u{fffd}',
                                }
                            } else {
                                char::from_u32(hi).unwrap_or('\u{fffd}')
                            }
                        }
                        _ => return None,
                    };
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                }
                _ => {
                    out.push(c);
                    self.i += 1;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> JsonArray {
        JsonArray::Strings(v.iter().map(|x| x.to_string()).collect())
    }

    #[test]
    fn arrays_of_strings() {
        assert_eq!(decode(r#"["a", "b"]"#), s(&["a", "b"]));
        assert_eq!(decode("[]"), s(&[]));
        assert_eq!(decode(r#"[ "a" , "b" ]  trailing"#), s(&["a", "b"]));
        assert_eq!(decode(r#"["a"]]"#), s(&["a"]));
        assert_eq!(
            decode(r#"["\u00e9\ud83d\ude00\ud800x"]"#),
            s(&["é😀\u{fffd}x"])
        );
        assert_eq!(decode(r#"["\"\\\/\n"]"#), s(&["\"\\/\n"]));
    }

    #[test]
    fn non_strings_are_reported() {
        assert_eq!(decode(r#"["a", 1]"#), JsonArray::NotStrings);
        assert_eq!(decode(r#"[{"a":[1,2,{}]}]"#), JsonArray::NotStrings);
        assert_eq!(decode("[null, true, -0.5e+3]"), JsonArray::NotStrings);
    }

    #[test]
    fn invalid_falls_back() {
        for bad in [
            "['a']",
            "[1, \"a",
            "[\"a\",]",
            "[01]",
            "[1.]",
            "[\"a\tb\"]",
            "[\"\\x\"]",
            "[",
            "[tru]",
            "[{\"a\" 1}]",
            "[-]",
        ] {
            assert_eq!(decode(bad), JsonArray::Invalid, "{bad}");
        }
    }

    #[test]
    fn deep_nesting_is_invalid_not_a_crash() {
        let deep = "[".repeat(200_000);
        assert_eq!(decode(&deep), JsonArray::Invalid);
    }
}
