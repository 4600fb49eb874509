//! Reading keel-check's TAP output on the test side.

/// One test point.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TapLine {
    pub ok: bool,
    pub name: String,
    /// The text after `#`: a failure's detail or `SKIP reason`.
    pub directive: String,
}

impl TapLine {
    pub fn skipped(&self) -> bool {
        self.directive.starts_with("SKIP")
    }
}

/// A parsed TAP stream.
#[derive(Debug, Clone, Default)]
pub struct TapReport {
    pub lines: Vec<TapLine>,
    pub plan: Option<usize>,
    pub raw: String,
}

impl TapReport {
    pub fn parse(text: &str) -> TapReport {
        let mut r = TapReport {
            raw: text.to_string(),
            ..Default::default()
        };
        for line in text.lines().map(|l| l.trim_end_matches('\r')) {
            let (ok, rest) = if let Some(rest) = line.strip_prefix("not ok ") {
                (false, rest)
            } else if let Some(rest) = line.strip_prefix("ok ") {
                (true, rest)
            } else {
                if let Some(n) = line.strip_prefix("1..") {
                    r.plan = n.trim().parse().ok();
                }
                continue;
            };
            let rest = rest.split_once(" - ").map(|(_, r)| r).unwrap_or(rest);
            let (name, directive) = match rest.split_once(" # ") {
                Some((n, d)) => (n.to_string(), d.to_string()),
                None => (rest.to_string(), String::new()),
            };
            r.lines.push(TapLine {
                ok,
                name,
                directive,
            });
        }
        r
    }

    pub fn failures(&self) -> Vec<&TapLine> {
        self.lines.iter().filter(|l| !l.ok).collect()
    }

    pub fn find(&self, name: &str) -> Option<&TapLine> {
        self.lines.iter().find(|l| l.name == name)
    }

    /// Ok when the stream is complete (its plan matches), has at least one
    /// test point, and none failed; else a message with the failures and
    /// the whole output.
    pub fn passed(&self) -> Result<(), String> {
        let fails: Vec<String> = self
            .failures()
            .iter()
            .map(|l| format!("{} # {}", l.name, l.directive))
            .collect();
        if !fails.is_empty() {
            return Err(format!(
                "keel-check failed: {}\n--- output ---\n{}",
                fails.join("\n  "),
                self.raw
            ));
        }
        if self.lines.is_empty() || self.plan != Some(self.lines.len()) {
            return Err(format!(
                "keel-check output is incomplete (plan {:?}, {} test points)\n--- output ---\n{}",
                self.plan,
                self.lines.len(),
                self.raw
            ));
        }
        Ok(())
    }

    /// Ok when the named test point exists and passed without being skipped.
    pub fn passed_unskipped(&self, name: &str) -> Result<(), String> {
        match self.find(name) {
            Some(l) if l.ok && !l.skipped() => Ok(()),
            Some(l) => Err(format!("{name}: {}\n{}", l.directive, self.raw)),
            None => Err(format!("no test point {name:?} in\n{}", self.raw)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_judges() {
        let r = TapReport::parse(
            "TAP version 13\r\nok 1 - a\r\nok 2 - b # SKIP no\nnot ok 3 - c d # why\n1..3\n",
        );
        assert_eq!(r.lines.len(), 3);
        assert_eq!(r.plan, Some(3));
        assert!(r.lines[1].skipped());
        assert_eq!(r.failures()[0].name, "c d");
        assert!(r.passed().is_err());
        assert!(r.passed_unskipped("a").is_ok());
        assert!(r.passed_unskipped("b").is_err());
        let good = TapReport::parse("ok 1 - a\n1..1\n");
        assert!(good.passed().is_ok());
        assert!(TapReport::parse("ok 1 - a\n").passed().is_err(), "no plan");
        assert!(TapReport::parse("").passed().is_err());
    }
}
