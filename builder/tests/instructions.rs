//! Typed instructions and stages: every instruction and flag BuildKit
//! accepts, and the errors (with locations and hints) for what it doesn't.

use std::time::Duration;

use hoist::dockerfile::instructions::{
    Add, ArgDecl, Copy, Healthcheck, Instruction, KeyValue, NetworkMode, SecurityMode, Source,
};
use hoist::dockerfile::mount::{MountType, Sharing};
use hoist::dockerfile::{
    accepted_flags, build_stages, load, parse, BuildOptions, CommandLine, Error, ErrorKind,
    FlagKind, Keyword, NoBaseImages, Stages,
};

fn stages(src: &str) -> Result<Stages, Error> {
    build_stages(&parse(src, "Dockerfile")?)
}

/// The instructions of the first stage (after `FROM a`).
fn instrs(body: &str) -> Vec<Instruction> {
    let s = stages(&format!("FROM a\n{body}")).unwrap_or_else(|e| panic!("{e}"));
    s.stages[0]
        .commands
        .iter()
        .map(|c| c.instruction.clone())
        .collect()
}

fn first(body: &str) -> Instruction {
    instrs(body).remove(0)
}

fn err(body: &str) -> Error {
    stages(&format!("FROM a\n{body}")).expect_err("expected an error")
}

#[test]
fn run_flags_and_forms() {
    let Instruction::Run(r) = first(
        "RUN --mount=type=cache,target=/root/.cache,sharing=private --mount=type=secret,id=tok \
         --network=none --security=insecure make",
    ) else {
        panic!()
    };
    assert_eq!(r.command, CommandLine::Shell("make".into()));
    assert_eq!(r.mounts.len(), 2);
    assert_eq!(
        (r.mounts[0].kind, r.mounts[0].sharing),
        (MountType::Cache, Some(Sharing::Private))
    );
    assert_eq!(r.mounts[1].kind, MountType::Secret);
    assert_eq!(
        (r.network, r.security),
        (Some(NetworkMode::None), Some(SecurityMode::Insecure))
    );

    let Instruction::Run(r) = first("RUN [\"echo\", \"a b\"]") else {
        panic!()
    };
    assert_eq!(
        r.command,
        CommandLine::Exec(vec!["echo".into(), "a b".into()])
    );
    // Invalid JSON falls back to the shell form.
    let Instruction::Run(r) = first("RUN ['echo']") else {
        panic!()
    };
    assert_eq!(r.command, CommandLine::Shell("['echo']".into()));

    let Instruction::Run(r) = first("RUN <<EOF\necho hi\nEOF") else {
        panic!()
    };
    assert_eq!(r.heredocs[0].content, "echo hi\n");
}

#[test]
fn copy_and_add_flags() {
    let Instruction::Copy(c) = first(
        "COPY --from=build --chown=app:app --chmod=u=rwX,go=rX --link --parents --exclude=*.md --exclude=tmp a b /dst/",
    ) else {
        panic!()
    };
    assert_eq!(
        c,
        Copy {
            sources: vec![Source::Path("a".into()), Source::Path("b".into())],
            dest: "/dst/".into(),
            from: Some("build".into()),
            chown: Some("app:app".into()),
            chmod: Some("u=rwX,go=rX".into()),
            link: true,
            parents: true,
            exclude: vec!["*.md".into(), "tmp".into()],
        }
    );
    let sha = "sha256:24454f830cdb571e2c4ad15481119c43b3cafd48dd869a9b2945d1036d1dc68d";
    let Instruction::Add(a) = first(&format!(
        "ADD --checksum={sha} --chmod=0644 --link=false --keep-git-dir --unpack=true https://x/y.tgz /z"
    )) else {
        panic!()
    };
    assert_eq!(
        a,
        Add {
            sources: vec![Source::Path("https://x/y.tgz".into())],
            dest: "/z".into(),
            chown: None,
            chmod: Some("0644".into()),
            link: false,
            keep_git_dir: true,
            checksum: Some(sha.into()),
            exclude: vec![],
            unpack: Some(true),
        }
    );
    let Instruction::Copy(c) = first("COPY [\"a b\", \"/c d/\"]") else {
        panic!()
    };
    assert_eq!(
        (c.sources, c.dest),
        (vec![Source::Path("a b".into())], "/c d/".into())
    );
}

#[test]
fn copy_heredoc_sources() {
    let Instruction::Copy(c) = first("COPY <<one <<-two /etc/\n1\none\n\t2\n\ttwo") else {
        panic!()
    };
    let Source::Heredoc(h) = &c.sources[1] else {
        panic!()
    };
    assert_eq!(
        (h.name.as_str(), h.chomp, h.effective_content()),
        ("two", true, "2\n".to_owned())
    );
    assert!(matches!(
        err("COPY a <<EOF\nx\nEOF").kind(),
        ErrorKind::HeredocNotAllowed { .. }
    ));
}

#[test]
fn metadata_instructions() {
    let all = instrs(
        "ENV A=1 B=\"2 3\"\nENV LEGACY value here\nLABEL a=b\nMAINTAINER Jane\nEXPOSE 80 443/udp\n\
         VOLUME /v [\"/x\"]\nVOLUME [\"/y\", \"/z\"]\nUSER u:g\nWORKDIR /w\nARG X Y=2\n\
         STOPSIGNAL SIGINT\nSHELL [\"/bin/bash\", \"-c\"]\nCMD [\"a\"]\nENTRYPOINT run it",
    );
    assert_eq!(
        all[0],
        Instruction::Env(vec![
            KeyValue {
                key: "A".into(),
                value: "1".into()
            },
            KeyValue {
                key: "B".into(),
                value: "\"2 3\"".into()
            }
        ])
    );
    assert_eq!(
        all[1],
        Instruction::Env(vec![KeyValue {
            key: "LEGACY".into(),
            value: "value here".into()
        }])
    );
    assert_eq!(all[3], Instruction::Maintainer("Jane".into()));
    assert_eq!(
        all[4],
        Instruction::Expose(vec!["80".into(), "443/udp".into()])
    );
    assert_eq!(
        all[5],
        Instruction::Volume(vec!["/v".into(), "[\"/x\"]".into()])
    );
    assert_eq!(all[6], Instruction::Volume(vec!["/y".into(), "/z".into()]));
    assert_eq!(
        all[9],
        Instruction::Arg(vec![
            ArgDecl {
                name: "X".into(),
                default: None
            },
            ArgDecl {
                name: "Y".into(),
                default: Some("2".into())
            }
        ])
    );
    assert_eq!(
        all[11],
        Instruction::Shell(vec!["/bin/bash".into(), "-c".into()])
    );
    assert_eq!(
        all[12],
        Instruction::Cmd(CommandLine::Exec(vec!["a".into()]))
    );
    assert_eq!(
        all[13],
        Instruction::Entrypoint(CommandLine::Shell("run it".into()))
    );
}

#[test]
fn healthcheck_forms() {
    let Instruction::Healthcheck(Healthcheck::Check { test, interval, timeout, start_period, start_interval, retries }) = first(
        "HEALTHCHECK --interval=1m30s --timeout=3s --start-period=0 --start-interval=500ms --retries=0 CMD curl -f x",
    ) else {
        panic!()
    };
    assert_eq!(test, CommandLine::Shell("curl -f x".into()));
    assert_eq!(interval, Some(Duration::from_secs(90)));
    assert_eq!(timeout, Some(Duration::from_secs(3)));
    assert_eq!(start_period, Some(Duration::ZERO));
    assert_eq!(start_interval, Some(Duration::from_millis(500)));
    assert_eq!(retries, Some(0));
    assert_eq!(
        first("HEALTHCHECK none"),
        Instruction::Healthcheck(Healthcheck::None)
    );
    for bad in [
        "HEALTHCHECK NONE x",
        "HEALTHCHECK --interval=1s NONE",
        "HEALTHCHECK CMD",
        "HEALTHCHECK PING x",
        "HEALTHCHECK --interval=5 CMD x",
        "HEALTHCHECK --timeout=1us CMD x",
        "HEALTHCHECK --retries=-1 CMD x",
    ] {
        stages(&format!("FROM a\n{bad}")).expect_err(bad);
    }
}

#[test]
fn onbuild_triggers() {
    let Instruction::Onbuild(o) = first("ONBUILD RUN --mount=type=cache,target=/x make") else {
        panic!()
    };
    assert_eq!(o.expression, "RUN --mount=type=cache,target=/x make");
    assert!(matches!(*o.trigger, Instruction::Run(_)));
    let Instruction::Onbuild(o) = first("onbuild  COPY <<EOF /x\nhi\nEOF") else {
        panic!()
    };
    assert_eq!(o.expression, "COPY <<EOF /x\nhi\nEOF");
    for bad in [
        "ONBUILD ONBUILD RUN x",
        "ONBUILD FROM x",
        "ONBUILD MAINTAINER x",
        "ONBUILD",
        "ONBUILD COPY --nope a b",
    ] {
        stages(&format!("FROM a\n{bad}")).expect_err(bad);
    }
}

#[test]
fn every_instruction_rejects_unknown_flags() {
    for k in Keyword::ALL {
        let rest = if k == Keyword::Onbuild {
            "RUN y"
        } else {
            "x y"
        };
        let src = format!("FROM a\n{} --bogus=1 {rest}\n", k.as_str());
        let e = stages(&src).expect_err(k.as_str());
        assert!(
            matches!(e.kind(), ErrorKind::UnknownFlag { flag, .. } if flag == "bogus"),
            "{k}: {e}"
        );
        assert_eq!((e.at.line, e.text.as_str()), (2, "--bogus=1"));
    }
}

#[test]
fn flag_table_matches_buildkit() {
    let names = |k| {
        accepted_flags(k)
            .iter()
            .map(|(n, _)| *n)
            .collect::<Vec<_>>()
    };
    assert_eq!(names(Keyword::From), ["platform"]);
    assert_eq!(names(Keyword::Run), ["mount", "network", "security"]);
    assert_eq!(
        names(Keyword::Copy),
        ["from", "chown", "chmod", "link", "parents", "exclude"]
    );
    assert_eq!(
        names(Keyword::Add),
        [
            "chown",
            "chmod",
            "link",
            "keep-git-dir",
            "checksum",
            "exclude",
            "unpack"
        ]
    );
    assert_eq!(
        names(Keyword::Healthcheck),
        [
            "interval",
            "timeout",
            "start-period",
            "start-interval",
            "retries"
        ]
    );
    assert!(accepted_flags(Keyword::Copy).contains(&("exclude", FlagKind::Strings)));
    for k in [
        Keyword::Env,
        Keyword::Cmd,
        Keyword::Workdir,
        Keyword::Arg,
        Keyword::Onbuild,
    ] {
        assert!(accepted_flags(k).is_empty());
    }
}

#[test]
fn flag_errors_have_hints() {
    let e = err("COPY --form=build a b");
    assert_eq!(e.to_string(), "Dockerfile:2:6: unknown flag `--form` for COPY\n  at: --form=build\n  hint: did you mean `--from`?");
    let e = err("WORKDIR --x=1 /w");
    assert_eq!(e.hint, "WORKDIR takes no flags");
    assert!(matches!(
        err("COPY --from a b").kind(),
        ErrorKind::MissingFlagValue { .. }
    ));
    assert!(matches!(
        err("COPY --link=maybe a b").kind(),
        ErrorKind::InvalidBoolFlag { .. }
    ));
    assert!(matches!(
        err("COPY --from=a --from=b c d").kind(),
        ErrorKind::DuplicateFlag { .. }
    ));
    assert!(matches!(
        err("COPY --chmod=999 a b").kind(),
        ErrorKind::InvalidFlagValue { .. }
    ));
    assert!(matches!(
        err("ADD --checksum=md5:abc a b").kind(),
        ErrorKind::InvalidFlagValue { .. }
    ));
    assert!(matches!(
        err("RUN --network=bridge x").kind(),
        ErrorKind::InvalidFlagValue { .. }
    ));
    assert!(matches!(
        err("RUN --mount=type=cache x").kind(),
        ErrorKind::InvalidMount { .. }
    ));
}

#[test]
fn argument_count_errors() {
    for bad in [
        "COPY onlyone",
        "ADD",
        "ENV",
        "LABEL",
        "EXPOSE",
        "VOLUME",
        "USER",
        "WORKDIR",
        "STOPSIGNAL",
        "MAINTAINER",
        "ARG",
        "SHELL /bin/sh",
        "SHELL []",
        "ENV =x",
        "ARG =x",
        "RUN",
        "VOLUME [\"\"]",
    ] {
        let e = stages(&format!("FROM a\n{bad}")).expect_err(bad);
        assert_eq!(e.at.line, 2, "{bad}: {e}");
    }
}

#[test]
fn unknown_instruction_suggests() {
    let e = parse("FROM a\nCOPPY a b\n", "df").unwrap_err();
    assert_eq!(
        e.to_string(),
        "df:2:1: unknown instruction `COPPY`\n  at: COPPY\n  hint: did you mean `COPY`?"
    );
}

#[test]
fn stages_and_names() {
    let s = stages("ARG V=1\nFROM a AS Build\nRUN x\nFROM build AS final\nCOPY --from=0 / /\n")
        .unwrap();
    assert_eq!(s.meta_args.len(), 1);
    assert_eq!(s.stages.len(), 2);
    assert_eq!(s.stages[0].name(), Some("build"));
    assert_eq!(s.stages[1].commands.len(), 1);
    for bad in [
        "FROM a AS 1x\n",
        "FROM a AS b c\n",
        "FROM a b c\n",
        "FROM a AS x\nFROM b AS X\n",
        "RUN x\nFROM a\n",
        "ARG x\n",
    ] {
        stages(bad).expect_err(bad);
    }
}

fn resolve_err(src: &str, target: Option<&str>) -> Error {
    let opts = BuildOptions {
        target: target.map(str::to_owned),
        ..BuildOptions::default()
    };
    load(src.as_bytes(), "Dockerfile", &opts, &mut NoBaseImages).expect_err(src)
}

#[test]
fn targets_dependencies_and_cycles() {
    let src = "FROM a AS one\nFROM b AS two\nCOPY --from=one / /\nFROM c AS three\nRUN --mount=from=two,target=/t x\n";
    let opts = BuildOptions {
        target: Some("TWO".into()),
        ..BuildOptions::default()
    };
    let r = load(src.as_bytes(), "Dockerfile", &opts, &mut NoBaseImages).unwrap();
    assert_eq!(r.target, 1);
    assert_eq!(r.stages.iter().map(|s| s.index).collect::<Vec<_>>(), [0, 1]);
    let r = load(
        src.as_bytes(),
        "Dockerfile",
        &BuildOptions::default(),
        &mut NoBaseImages,
    )
    .unwrap();
    assert_eq!(r.stages.len(), 3);
    assert_eq!(r.stage(2).unwrap().deps, [1]);

    let e = resolve_err(src, Some("four"));
    assert!(matches!(e.kind(), ErrorKind::UnknownTarget { .. }));
    assert_eq!(e.hint, "the named stages are: one, two, three");
    let e = resolve_err(
        "FROM a AS x\nCOPY --from=y / /\nFROM b AS y\nCOPY --from=x / /\n",
        None,
    );
    assert!(matches!(e.kind(), ErrorKind::StageCycle { .. }), "{e}");
    let e = resolve_err("FROM a\nCOPY --from=0 / /\n", None);
    assert!(matches!(e.kind(), ErrorKind::StageCycle { .. }), "{e}");
    let e = resolve_err("FROM a\nCOPY --from=3 / /\n", None);
    assert!(
        matches!(e.kind(), ErrorKind::StageIndexOutOfRange { .. }),
        "{e}"
    );
    let e = resolve_err("FROM a\nEXPOSE 80/foo\n", None);
    assert!(matches!(e.kind(), ErrorKind::InvalidPort { .. }), "{e}");
    let e = resolve_err("FROM a\nSTOPSIGNAL SIGNOPE\n", None);
    assert!(matches!(e.kind(), ErrorKind::InvalidSignal { .. }), "{e}");
    let e = resolve_err("FROM --platform=linux a\n", None);
    assert!(matches!(e.kind(), ErrorKind::InvalidPlatform { .. }), "{e}");
    let e = resolve_err("ARG IMG\nFROM $IMG\n", None);
    assert_eq!(e.at.line, 2);
}

#[test]
fn directives_are_recorded() {
    let df = parse(
        "# syntax=docker/dockerfile:1.7\n# check=skip=all\n# escape=`\nFROM a\n",
        "Dockerfile",
    )
    .unwrap();
    assert_eq!(
        df.directives.syntax.as_deref(),
        Some("docker/dockerfile:1.7")
    );
    assert_eq!(df.directives.check.as_deref(), Some("skip=all"));
    assert_eq!(df.directives.escape, '`');
}
