//! `RUN --mount=…` specifications: comma-separated `key=value` fields (CSV
//! quoting allowed), typed and checked. Unknown keys are errors.
//!
//! Values may hold variables; the parser checks structure and the values it
//! can, and the resolver re-parses with every value expanded, as BuildKit
//! expands mount values one by one.

/// The kind of mount.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MountType {
    Bind,
    Cache,
    Tmpfs,
    Secret,
    Ssh,
}

/// Cache mount sharing mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sharing {
    Shared,
    Private,
    Locked,
}

/// One `--mount` flag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// The flag's value as written.
    pub spec: String,
    pub kind: MountType,
    pub target: Option<String>,
    pub source: Option<String>,
    pub from: Option<String>,
    pub id: Option<String>,
    pub readonly: Option<bool>,
    pub required: Option<bool>,
    pub sharing: Option<Sharing>,
    pub mode: Option<u32>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub size: Option<u64>,
    pub env: Option<String>,
}

impl Mount {
    /// Parses `spec`, passing each value (not keys, not `type`) through
    /// `expand`. With `defer_vars`, values still holding `$` are not checked
    /// (they are checked again after expansion).
    pub fn parse(
        spec: &str,
        expand: &dyn Fn(&str) -> Result<String, String>,
        defer_vars: bool,
    ) -> Result<Mount, String> {
        let mut m = Mount {
            spec: spec.to_owned(),
            kind: MountType::Bind,
            target: None,
            source: None,
            from: None,
            id: None,
            readonly: None,
            required: None,
            sharing: None,
            mode: None,
            uid: None,
            gid: None,
            size: None,
            env: None,
        };
        let fields = split_csv(spec)?;
        // `type` first: other keys depend on it.
        for f in &fields {
            if let Some((k, v)) = f.split_once('=') {
                if k.trim().eq_ignore_ascii_case("type") {
                    m.kind = match v.to_ascii_lowercase().as_str() {
                        "bind" => MountType::Bind,
                        "cache" => MountType::Cache,
                        "tmpfs" => MountType::Tmpfs,
                        "secret" => MountType::Secret,
                        "ssh" => MountType::Ssh,
                        other => return Err(format!("unsupported mount type `{other}`")),
                    };
                }
            }
        }
        for field in &fields {
            let (key, value) = match field.split_once('=') {
                Some((k, v)) => (k.trim().to_ascii_lowercase(), Some(v)),
                None => (field.trim().to_ascii_lowercase(), None),
            };
            let bool_value = |v: Option<&str>| -> Result<bool, String> {
                match v.map(str::to_ascii_lowercase).as_deref() {
                    None | Some("true") => Ok(true),
                    Some("false") => Ok(false),
                    Some(o) => Err(format!(
                        "invalid value `{o}` for `{key}`: expected true or false"
                    )),
                }
            };
            match key.as_str() {
                "type" => {}
                "readonly" | "ro" => m.readonly = Some(bool_value(value)?),
                "readwrite" | "rw" => m.readonly = Some(!bool_value(value)?),
                "required" => m.required = Some(bool_value(value)?),
                _ => {
                    let Some(raw) = value else {
                        return Err(format!("field `{key}` needs a value (`{key}=…`)"));
                    };
                    let v = expand(raw)?;
                    let deferred = defer_vars && v.contains('$');
                    match key.as_str() {
                        "target" | "dst" | "destination" => m.target = Some(v),
                        "source" | "src" => m.source = Some(v),
                        "from" => m.from = Some(v),
                        "id" => m.id = Some(v),
                        "env" => m.env = Some(v),
                        _ if deferred => {}
                        "sharing" => {
                            m.sharing = Some(match v.to_ascii_lowercase().as_str() {
                                "shared" => Sharing::Shared,
                                "private" => Sharing::Private,
                                "locked" => Sharing::Locked,
                                o => return Err(format!("unsupported sharing value `{o}`")),
                            })
                        }
                        "mode" => {
                            m.mode = Some(
                                u32::from_str_radix(&v, 8)
                                    .ok()
                                    .filter(|&x| x <= 0o7777)
                                    .ok_or_else(|| format!("invalid mode `{v}`: expected octal"))?,
                            )
                        }
                        "uid" => m.uid = Some(v.parse().map_err(|_| format!("invalid uid `{v}`"))?),
                        "gid" => m.gid = Some(v.parse().map_err(|_| format!("invalid gid `{v}`"))?),
                        "size" => m.size = Some(parse_size(&v)?),
                        _ => {
                            return Err(format!(
                                "unexpected key `{key}`; keys are type, target, source, from, id, \
                                 readonly, readwrite, required, sharing, mode, uid, gid, size, env"
                            ))
                        }
                    }
                }
            }
        }
        let needs_target = matches!(
            m.kind,
            MountType::Bind | MountType::Cache | MountType::Tmpfs
        );
        if needs_target && m.target.is_none() {
            return Err("a target is required (`target=/path`)".into());
        }
        if m.kind == MountType::Secret && m.id.is_none() && m.target.is_none() && m.env.is_none() {
            return Err("a secret mount needs an id or a target".into());
        }
        Ok(m)
    }
}

/// Splits CSV fields as Go's `encoding/csv` does for one record: a field
/// starting with `"` is quoted and `""` inside it is a quote.
fn split_csv(spec: &str) -> Result<Vec<String>, String> {
    let mut fields = Vec::new();
    let mut chars = spec.chars().peekable();
    loop {
        let mut field = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next() {
                    None => return Err("unterminated quoted field".into()),
                    Some('"') if chars.peek() == Some(&'"') => {
                        chars.next();
                        field.push('"');
                    }
                    Some('"') => break,
                    Some(c) => field.push(c),
                }
            }
            match chars.next() {
                None => {
                    fields.push(field);
                    return Ok(fields);
                }
                Some(',') => {}
                Some(_) => return Err("extraneous text after a quoted field".into()),
            }
        } else {
            loop {
                match chars.next() {
                    None => {
                        fields.push(field);
                        return Ok(fields);
                    }
                    Some(',') => break,
                    Some('"') => return Err("bare `\"` in a non-quoted field".into()),
                    Some(c) => field.push(c),
                }
            }
        }
        fields.push(field);
    }
}

/// Sizes like `512m`, `1g`, `1024` (bytes), with binary multiples.
fn parse_size(v: &str) -> Result<u64, String> {
    let lower = v.trim().to_ascii_lowercase();
    let trimmed = lower.trim_end_matches('b').trim_end_matches('i');
    let (num, mult) = match trimmed.chars().last() {
        Some('k') => (&trimmed[..trimmed.len() - 1], 1u64 << 10),
        Some('m') => (&trimmed[..trimmed.len() - 1], 1 << 20),
        Some('g') => (&trimmed[..trimmed.len() - 1], 1 << 30),
        Some('t') => (&trimmed[..trimmed.len() - 1], 1 << 40),
        _ => (trimmed, 1),
    };
    let n: f64 = num
        .trim()
        .parse()
        .map_err(|_| format!("invalid size `{v}`"))?;
    if !(0.0..1.8e19).contains(&(n * mult as f64)) {
        return Err(format!("invalid size `{v}`"));
    }
    Ok((n * mult as f64) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Result<Mount, String> {
        Mount::parse(s, &|v| Ok(v.to_owned()), false)
    }

    #[test]
    fn typed_mounts() {
        let m = p("type=cache,target=/root/.cache,sharing=locked,mode=0755,uid=1000").unwrap();
        assert_eq!(m.kind, MountType::Cache);
        assert_eq!(m.target.as_deref(), Some("/root/.cache"));
        assert_eq!(m.sharing, Some(Sharing::Locked));
        assert_eq!(m.mode, Some(0o755));
        assert_eq!(m.uid, Some(1000));
        let m = p("target=/src,from=build,ro").unwrap();
        assert_eq!((m.kind, m.readonly), (MountType::Bind, Some(true)));
        let m = p("type=secret,id=npmrc,required=true").unwrap();
        assert_eq!(m.required, Some(true));
        let m = p("type=tmpfs,target=/t,size=64m").unwrap();
        assert_eq!(m.size, Some(64 << 20));
        let m = p("\"type=bind\",\"target=/a,b\"").unwrap();
        assert_eq!(m.target.as_deref(), Some("/a,b"));
    }

    #[test]
    fn bad_mounts() {
        for bad in [
            "type=nfs,target=/x",
            "type=cache",
            "type=cache,target=/x,colour=red",
            "type=cache,target=/x,sharing=sometimes",
            "type=cache,target=/x,mode=999",
            "type=bind,target=/x,ro=maybe",
            "type=bind,target",
            "type=bind,tar\"get=/x",
        ] {
            assert!(p(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn deferred_values() {
        let m = Mount::parse(
            "type=cache,target=$DIR,uid=$UID",
            &|v| Ok(v.to_owned()),
            true,
        )
        .unwrap();
        assert_eq!(m.uid, None);
        assert_eq!(m.target.as_deref(), Some("$DIR"));
    }
}
