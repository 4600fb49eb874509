//! The instructions that only change the image config: ENV, LABEL, EXPOSE,
//! USER, WORKDIR (its path; the directory itself is a filesystem step),
//! VOLUME, STOPSIGNAL, SHELL, HEALTHCHECK, ONBUILD, MAINTAINER, CMD and
//! ENTRYPOINT (per Docker's interaction table), and ARG (history only).
//!
//! Pure functions over [`ImageConfig`]; never touches the filesystem.

use std::collections::BTreeMap;

use crate::dockerfile::instructions::{CommandLine, Healthcheck, Instruction};
use crate::image::{ContainerConfig, HealthConfig, ImageConfig, Map};

/// The default shell of a Linux image.
pub fn default_shell() -> Vec<String> {
    vec!["/bin/sh".into(), "-c".into()]
}

/// The shell of a config (SHELL, or `/bin/sh -c`).
pub fn shell_of(cfg: &ContainerConfig) -> Vec<String> {
    cfg.shell.clone().unwrap_or_else(default_shell)
}

/// A command line as the config stores it: exec form as is, shell form
/// through the shell.
pub fn argv(cl: &CommandLine, shell: &[String]) -> Vec<String> {
    match cl {
        CommandLine::Exec(v) => v.clone(),
        CommandLine::Shell(s) => {
            let mut v = shell.to_vec();
            v.push(s.clone());
            v
        }
    }
}

/// Joins a WORKDIR argument onto the current working directory and cleans
/// the result (`/a/b/../c` → `/a/c`).
pub fn join_workdir(current: Option<&str>, dir: &str) -> String {
    let base = if dir.starts_with('/') {
        String::new()
    } else {
        current.unwrap_or("/").to_owned()
    };
    clean_abs(&format!("{base}/{dir}"))
}

/// Cleans an absolute path lexically; `..` stops at `/`.
pub fn clean_abs(p: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    format!("/{}", parts.join("/"))
}

/// Expands `EXPOSE` values into config keys: `80` → `80/tcp`, ranges
/// `8000-8002/udp` into each port, as docker does.
pub fn exposed_ports(values: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    for v in values {
        let (ports, proto) = match v.split_once('/') {
            Some((p, proto)) => (p, proto.to_ascii_lowercase()),
            None => (v.as_str(), "tcp".to_owned()),
        };
        match ports.split_once('-') {
            Some((a, b)) => match (a.parse::<u32>(), b.parse::<u32>()) {
                (Ok(a), Ok(b)) if a <= b => {
                    out.extend((a..=b).map(|p| format!("{p}/{proto}")));
                }
                _ => out.push(format!("{ports}/{proto}")),
            },
            None => out.push(format!("{ports}/{proto}")),
        }
    }
    out
}

/// Per-stage state that the config alone doesn't carry.
#[derive(Debug, Clone, Default)]
pub struct StageFlags {
    /// CMD was set in this stage (an ENTRYPOINT then keeps it).
    pub cmd_set: bool,
}

fn set_env(cfg: &mut ContainerConfig, key: &str, value: &str) {
    let env = cfg.env.get_or_insert_with(Vec::new);
    let entry = format!("{key}={value}");
    match env
        .iter_mut()
        .find(|e| e.split_once('=').map_or(e.as_str(), |(k, _)| k) == key)
    {
        Some(slot) => *slot = entry,
        None => env.push(entry),
    }
}

fn nanos(d: Option<std::time::Duration>) -> Option<u64> {
    d.map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// Applies one metadata instruction. Returns false for instructions that
/// are not metadata (RUN, COPY, ADD, FROM), which it leaves alone.
pub fn apply(img: &mut ImageConfig, flags: &mut StageFlags, ins: &Instruction) -> bool {
    let cfg = &mut img.config;
    match ins {
        Instruction::Env(kvs) => {
            for kv in kvs {
                set_env(cfg, &kv.key, &kv.value);
            }
        }
        Instruction::Label(kvs) => {
            let labels = cfg.labels.get_or_insert_with(BTreeMap::new);
            for kv in kvs {
                labels.insert(kv.key.clone(), kv.value.clone());
            }
        }
        Instruction::Expose(ports) => {
            let map = cfg.exposed_ports.get_or_insert_with(BTreeMap::new);
            for p in exposed_ports(ports) {
                map.insert(p, Map::new());
            }
        }
        Instruction::User(u) => cfg.user = Some(u.clone()),
        Instruction::Workdir(d) => {
            cfg.working_dir = Some(join_workdir(cfg.working_dir.as_deref(), d));
        }
        Instruction::Volume(vs) => {
            let map = cfg.volumes.get_or_insert_with(BTreeMap::new);
            for v in vs {
                map.insert(v.clone(), Map::new());
            }
        }
        Instruction::Stopsignal(s) => cfg.stop_signal = Some(s.clone()),
        Instruction::Shell(v) => cfg.shell = Some(v.clone()),
        Instruction::Healthcheck(h) => {
            cfg.healthcheck = Some(match h {
                Healthcheck::None => HealthConfig {
                    test: Some(vec!["NONE".into()]),
                    ..HealthConfig::default()
                },
                Healthcheck::Check {
                    test,
                    interval,
                    timeout,
                    start_period,
                    start_interval,
                    retries,
                } => HealthConfig {
                    test: Some(match test {
                        CommandLine::Exec(v) => {
                            let mut t = vec!["CMD".to_owned()];
                            t.extend(v.iter().cloned());
                            t
                        }
                        CommandLine::Shell(s) => vec!["CMD-SHELL".into(), s.clone()],
                    }),
                    interval: nanos(*interval),
                    timeout: nanos(*timeout),
                    start_period: nanos(*start_period),
                    start_interval: nanos(*start_interval),
                    retries: *retries,
                },
            });
        }
        Instruction::Onbuild(o) => {
            cfg.on_build
                .get_or_insert_with(Vec::new)
                .push(o.expression.clone());
        }
        Instruction::Maintainer(m) => img.author = Some(m.clone()),
        Instruction::Cmd(cl) => {
            let shell = shell_of(cfg);
            cfg.cmd = Some(argv(cl, &shell));
            flags.cmd_set = true;
        }
        Instruction::Entrypoint(cl) => {
            let shell = shell_of(cfg);
            cfg.entrypoint = Some(argv(cl, &shell));
            if !flags.cmd_set {
                cfg.cmd = None;
            }
        }
        Instruction::Arg(_) => {}
        Instruction::Run(_) | Instruction::Copy(_) | Instruction::Add(_) | Instruction::From(_) => {
            return false
        }
    }
    true
}

/// The `created_by` text of a history entry, as BuildKit writes it: the
/// instruction as written, with `# buildkit` after filesystem steps.
pub fn created_by(original: &str, fs_step: bool) -> String {
    let text = original.trim();
    if fs_step {
        format!("{text} # buildkit")
    } else {
        text.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dockerfile::instructions::{KeyValue, Onbuild};

    fn sh(s: &str) -> CommandLine {
        CommandLine::Shell(s.into())
    }
    fn ex(v: &[&str]) -> CommandLine {
        CommandLine::Exec(v.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn cmd_entrypoint_table() {
        // ENTRYPOINT in a stage resets a CMD inherited from the base.
        let mut img = ImageConfig::scratch();
        img.config.cmd = Some(vec!["base-cmd".into()]);
        let mut f = StageFlags::default();
        apply(&mut img, &mut f, &Instruction::Entrypoint(ex(&["/app"])));
        assert_eq!(img.config.entrypoint, Some(vec!["/app".into()]));
        assert_eq!(img.config.cmd, None);
        // CMD then ENTRYPOINT in the same stage keeps the CMD.
        let mut img = ImageConfig::scratch();
        let mut f = StageFlags::default();
        apply(&mut img, &mut f, &Instruction::Cmd(ex(&["--help"])));
        apply(&mut img, &mut f, &Instruction::Entrypoint(sh("run app")));
        assert_eq!(img.config.cmd, Some(vec!["--help".into()]));
        assert_eq!(
            img.config.entrypoint,
            Some(vec!["/bin/sh".into(), "-c".into(), "run app".into()])
        );
        // SHELL changes the shell form.
        apply(
            &mut img,
            &mut f,
            &Instruction::Shell(vec!["/bin/bash".into(), "-eu".into(), "-c".into()]),
        );
        apply(&mut img, &mut f, &Instruction::Cmd(sh("echo hi")));
        assert_eq!(
            img.config.cmd,
            Some(vec![
                "/bin/bash".into(),
                "-eu".into(),
                "-c".into(),
                "echo hi".into()
            ])
        );
    }

    #[test]
    fn env_label_expose_volume_workdir() {
        let mut img = ImageConfig::scratch();
        img.config.env = Some(vec!["PATH=/bin".into(), "A=1".into()]);
        let mut f = StageFlags::default();
        let kv = |k: &str, v: &str| KeyValue {
            key: k.into(),
            value: v.into(),
        };
        apply(
            &mut img,
            &mut f,
            &Instruction::Env(vec![kv("A", "2"), kv("B", "x y")]),
        );
        assert_eq!(
            img.config.env,
            Some(vec!["PATH=/bin".into(), "A=2".into(), "B=x y".into()])
        );
        apply(&mut img, &mut f, &Instruction::Label(vec![kv("l", "v")]));
        assert_eq!(img.config.labels.as_ref().unwrap()["l"], "v");
        apply(
            &mut img,
            &mut f,
            &Instruction::Expose(vec!["80".into(), "53/UDP".into(), "8000-8002".into()]),
        );
        let ports: Vec<&String> = img.config.exposed_ports.as_ref().unwrap().keys().collect();
        assert_eq!(
            ports,
            ["53/udp", "80/tcp", "8000/tcp", "8001/tcp", "8002/tcp"]
        );
        apply(&mut img, &mut f, &Instruction::Volume(vec!["/data".into()]));
        assert!(img.config.volumes.as_ref().unwrap().contains_key("/data"));
        apply(&mut img, &mut f, &Instruction::Workdir("/app".into()));
        apply(&mut img, &mut f, &Instruction::Workdir("sub/../src".into()));
        assert_eq!(img.config.working_dir.as_deref(), Some("/app/src"));
        apply(
            &mut img,
            &mut f,
            &Instruction::Onbuild(Onbuild {
                trigger: Box::new(Instruction::User("x".into())),
                expression: "USER x".into(),
            }),
        );
        assert_eq!(img.config.on_build, Some(vec!["USER x".into()]));
        apply(&mut img, &mut f, &Instruction::Maintainer("me".into()));
        assert_eq!(img.author.as_deref(), Some("me"));
    }

    #[test]
    fn healthcheck_forms() {
        let mut img = ImageConfig::scratch();
        let mut f = StageFlags::default();
        apply(
            &mut img,
            &mut f,
            &Instruction::Healthcheck(Healthcheck::Check {
                test: sh("curl -f localhost"),
                interval: Some(std::time::Duration::from_secs(5)),
                timeout: None,
                start_period: None,
                start_interval: None,
                retries: Some(3),
            }),
        );
        let h = img.config.healthcheck.clone().unwrap();
        assert_eq!(
            h.test,
            Some(vec!["CMD-SHELL".into(), "curl -f localhost".into()])
        );
        assert_eq!(h.interval, Some(5_000_000_000));
        assert_eq!(h.retries, Some(3));
        apply(
            &mut img,
            &mut f,
            &Instruction::Healthcheck(Healthcheck::None),
        );
        assert_eq!(
            img.config.healthcheck.unwrap().test,
            Some(vec!["NONE".into()])
        );
    }

    #[test]
    fn workdir_cleaning() {
        assert_eq!(join_workdir(None, "a"), "/a");
        assert_eq!(join_workdir(Some("/x"), "../../y/"), "/y");
        assert_eq!(join_workdir(Some("/x"), "/abs/./p"), "/abs/p");
    }
}
