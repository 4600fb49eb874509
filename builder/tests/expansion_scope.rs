//! Word expansion and ARG/ENV scoping, against the rules and examples of the
//! Dockerfile reference (environment replacement, ARG scope, predefined
//! ARGs) and BuildKit's shell lexer behaviour.

use hoist::dockerfile::instructions::{Copy, Instruction, KeyValue, Source};
use hoist::dockerfile::scope::BaseRef;
use hoist::dockerfile::shell_lexer::{ExpansionError, Lexer};
use hoist::dockerfile::{
    load, BaseImages, BuildOptions, ErrorKind, NoBaseImages, Platform, Resolved,
};

fn resolve(src: &str, args: &[&str]) -> Resolved {
    resolve_with(src, args, None).unwrap_or_else(|e| panic!("{e}"))
}

fn resolve_with(
    src: &str,
    args: &[&str],
    target: Option<&str>,
) -> Result<Resolved, hoist::dockerfile::Error> {
    let opts = BuildOptions {
        build_args: BuildOptions::parse_build_args(args.iter().copied(), |k| {
            (k == "FROM_ENV").then(|| "env-value".to_owned())
        }),
        target: target.map(str::to_owned),
        ..BuildOptions::default()
    };
    load(src.as_bytes(), "Dockerfile", &opts, &mut NoBaseImages)
}

/// The instructions of the target stage.
fn steps(r: &Resolved) -> Vec<Instruction> {
    r.stage(r.target)
        .unwrap()
        .steps
        .iter()
        .map(|s| s.command.instruction.clone())
        .collect()
}

fn env_of(i: &Instruction) -> Vec<(String, String)> {
    match i {
        Instruction::Env(kvs) => kvs
            .iter()
            .map(|KeyValue { key, value }| (key.clone(), value.clone()))
            .collect(),
        other => panic!("not ENV: {other:?}"),
    }
}

fn one(i: &Instruction) -> String {
    match i {
        Instruction::User(s) | Instruction::Workdir(s) | Instruction::Stopsignal(s) => s.clone(),
        other => panic!("unexpected {other:?}"),
    }
}

/// The substitution table: each form with the variable set, set-but-empty
/// and unset.
#[test]
fn substitution_table() {
    let env: Vec<(String, String)> = vec![
        ("set".into(), "value".into()),
        ("empty".into(), String::new()),
    ];
    let lx = Lexer::new('\\');
    let cases: &[(&str, &str)] = &[
        ("$set", "value"),
        ("${set}", "value"),
        ("$unset", ""),
        ("${unset}", ""),
        ("${set:-word}", "value"),
        ("${empty:-word}", "word"),
        ("${unset:-word}", "word"),
        ("${set-word}", "value"),
        ("${empty-word}", ""),
        ("${unset-word}", "word"),
        ("${set:+word}", "word"),
        ("${empty:+word}", ""),
        ("${unset:+word}", ""),
        ("${set+word}", "word"),
        ("${empty+word}", "word"),
        ("${unset+word}", ""),
        ("${unset:-$set}", "value"),
        ("${unset:-${unset2:-deep}}", "deep"),
        ("${unset:-a b}", "a b"),
        ("${unset:-'q}'}", "q}"),
        ("\\$set", "$set"),
        ("\\${set}", "${set}"),
        ("'$set'", "$set"),
        ("\"$set\"", "value"),
        ("\"\\$set\"", "$set"),
        ("pre${set}post", "prevaluepost"),
        ("$set$set", "valuevalue"),
        ("$", "$"),
        ("${set}}", "value}"),
        ("a\\ b", "a b"),
        ("\"a  b\"", "a  b"),
        ("'it'\\''s'", "it's"),
        ("\"x\\\"y\"", "x\"y"),
        ("\"back\\\\slash\"", "back\\slash"),
        ("\"keep\\n\"", "keep\\n"),
    ];
    for (word, want) in cases {
        assert_eq!(lx.process_word(word, &env).unwrap(), *want, "{word}");
    }
    assert_eq!(
        lx.process_word("${unset:?is required}", &env).unwrap_err(),
        ExpansionError::Required {
            name: "unset".into(),
            message: "is required".into()
        }
    );
    for bad in [
        "${", "${}", "${set", "${set:-", "${:-x}", "'open", "\"open", "${set%x}",
    ] {
        assert!(lx.process_word(bad, &env).is_err(), "{bad}");
    }
}

/// The example of "Environment replacement": one instruction sees the old
/// values throughout.
#[test]
fn one_instruction_sees_old_values() {
    let r = resolve(
        "FROM busybox\nENV abc=hello\nENV abc=bye def=$abc\nENV ghi=$abc\n",
        &[],
    );
    let s = steps(&r);
    assert_eq!(
        env_of(&s[1]),
        [("abc".into(), "bye".into()), ("def".into(), "hello".into())]
    );
    assert_eq!(env_of(&s[2]), [("ghi".into(), "bye".into())]);
}

#[test]
fn reference_examples_workdir_add_copy() {
    let r = resolve(
        "FROM busybox\nENV FOO=/bar\nWORKDIR ${FOO}\nADD . $FOO\nCOPY \\$FOO /quux\n",
        &[],
    );
    let s = steps(&r);
    assert_eq!(one(&s[1]), "/bar");
    let Instruction::Add(add) = &s[2] else {
        panic!()
    };
    assert_eq!(add.dest, "/bar");
    let Instruction::Copy(Copy { sources, dest, .. }) = &s[3] else {
        panic!()
    };
    assert_eq!(
        (sources.as_slice(), dest.as_str()),
        ([Source::Path("$FOO".into())].as_slice(), "/quux")
    );
}

#[test]
fn arg_declared_after_use_and_build_arg() {
    let src = "FROM busybox\nUSER ${username:-some_user}\nARG username\nUSER $username\n";
    let s = steps(&resolve(src, &["username=what_user"]));
    assert_eq!(
        (one(&s[0]), one(&s[2])),
        ("some_user".into(), "what_user".into())
    );
    // Without the build arg, the ARG has no value.
    let s = steps(&resolve(src, &[]));
    assert_eq!(one(&s[2]), "");
}

#[test]
fn env_overrides_arg() {
    let src = "FROM ubuntu\nARG CONT_IMG_VER\nENV CONT_IMG_VER=v1.0.0\nUSER $CONT_IMG_VER\n";
    assert_eq!(
        one(&steps(&resolve(src, &["CONT_IMG_VER=v2.0.1"]))[2]),
        "v1.0.0"
    );
    let src = "FROM ubuntu\nARG CONT_IMG_VER\nENV CONT_IMG_VER=${CONT_IMG_VER:-v1.0.0}\nUSER $CONT_IMG_VER\n";
    assert_eq!(
        one(&steps(&resolve(src, &["CONT_IMG_VER=v2.0.1"]))[2]),
        "v2.0.1"
    );
    assert_eq!(one(&steps(&resolve(src, &[]))[2]), "v1.0.0");
    // Declared after ENV, the ARG still loses.
    let src = "FROM ubuntu\nENV X=env\nARG X=arg\nUSER $X\n";
    assert_eq!(one(&steps(&resolve(src, &[]))[2]), "env");
}

#[test]
fn global_args_in_from_and_redeclared() {
    let src = "ARG VERSION=latest\nFROM busybox:$VERSION\nUSER v$VERSION\nARG VERSION\nWORKDIR /$VERSION\n";
    let r = resolve(src, &[]);
    let stage = r.stage(r.target).unwrap();
    assert_eq!(stage.base, BaseRef::Image("busybox:latest".into()));
    let s = steps(&r);
    // Not visible before the redeclaration, visible after.
    assert_eq!((one(&s[0]), one(&s[2])), ("v".into(), "/latest".into()));
    let r = resolve(src, &["VERSION=1.36"]);
    assert_eq!(
        r.stage(r.target).unwrap().base,
        BaseRef::Image("busybox:1.36".into())
    );
    assert_eq!(one(&steps(&r)[2]), "/1.36");
}

#[test]
fn stage_default_beats_global_value() {
    let src = "ARG V=global\nFROM a\nARG V=stage\nUSER $V\n";
    assert_eq!(one(&steps(&resolve(src, &[]))[1]), "stage");
    assert_eq!(one(&steps(&resolve(src, &["V=cli"]))[1]), "cli");
}

#[test]
fn global_args_see_earlier_globals() {
    let src = "ARG A=one\nARG B=${A}-two C=$B\nFROM img:$B$C\n";
    let r = resolve(src, &[]);
    // C sees the B from before its own line: unset.
    assert_eq!(
        r.stage(0).unwrap().base,
        BaseRef::Image("img:one-two".into())
    );
}

#[test]
fn platform_args_are_global() {
    let src = "FROM --platform=$BUILDPLATFORM golang AS build\nUSER [$TARGETARCH]\nARG TARGETARCH\nARG TARGETPLATFORM BUILDOS\nWORKDIR /$TARGETARCH/$TARGETPLATFORM/$BUILDOS\n";
    let opts = BuildOptions {
        target_platform: Platform::parse("linux/arm64/v8").unwrap(),
        ..BuildOptions::default()
    };
    let r = load(src.as_bytes(), "Dockerfile", &opts, &mut NoBaseImages).unwrap();
    let stage = r.stage(0).unwrap();
    assert_eq!(stage.platform, Some(Platform::linux_amd64()));
    let s = steps(&r);
    assert_eq!(one(&s[0]), "[]");
    assert_eq!(one(&s[3]), "/arm64/linux/arm64/v8/linux");
}

#[test]
fn proxy_args_reach_run_only() {
    let src = "FROM a\nUSER x$HTTP_PROXY\nRUN env\n";
    let r = resolve(
        src,
        &[
            "HTTP_PROXY=http://proxy:3128",
            "unused=1",
            "no_proxy=localhost",
        ],
    );
    assert_eq!(one(&steps(&r)[0]), "x");
    assert_eq!(
        r.proxy_env,
        [
            ("HTTP_PROXY".to_owned(), "http://proxy:3128".to_owned()),
            ("no_proxy".into(), "localhost".into())
        ]
    );
    assert_eq!(r.unused_build_args, ["unused"]);
}

#[test]
fn build_arg_without_value_comes_from_environment() {
    let src = "FROM a\nARG FROM_ENV NOT_IN_ENV=default\nUSER $FROM_ENV:$NOT_IN_ENV\n";
    let r = resolve(src, &["FROM_ENV", "NOT_IN_ENV"]);
    assert_eq!(one(&steps(&r)[1]), "env-value:default");
    assert!(r.unused_build_args.is_empty());
}

#[test]
fn unused_build_args_only_count_needed_stages() {
    let src = "ARG G\nFROM a AS one\nARG ONLY_ONE\nFROM b AS two\nARG ONLY_TWO\n";
    let r = resolve_with(
        src,
        &["G=1", "ONLY_ONE=1", "ONLY_TWO=1", "NOPE=1"],
        Some("two"),
    )
    .unwrap();
    assert_eq!(r.unused_build_args, ["NOPE", "ONLY_ONE"]);
    assert_eq!(r.stages.len(), 1);
}

#[test]
fn step_scope_lists_args_and_env() {
    let src = "FROM a\nARG A=1 B=2\nENV B=env\nRUN true\n";
    let r = resolve(src, &[]);
    let step = &r.stage(0).unwrap().steps[2];
    assert_eq!(step.args, [("A".to_owned(), "1".to_owned())]);
    assert_eq!(step.env, [("B".to_owned(), "env".to_owned())]);
}

#[test]
fn run_cmd_entrypoint_are_not_expanded() {
    let src = "FROM a\nENV X=1\nRUN echo $X\nCMD echo $X\nENTRYPOINT [\"echo\", \"$X\"]\n";
    let s = steps(&resolve(src, &[]));
    assert!(
        matches!(&s[1], Instruction::Run(r) if r.command == hoist::dockerfile::CommandLine::Shell("echo $X".into()))
    );
    assert!(
        matches!(&s[2], Instruction::Cmd(hoist::dockerfile::CommandLine::Shell(c)) if c == "echo $X")
    );
}

#[test]
fn expansion_applies_to_expandable_instructions() {
    let src = "FROM a\nARG P=8080 V=/data N=app\nEXPOSE $P ${P}/udp\nVOLUME [\"$V\"]\nLABEL \"$N.name\"=\"my $N\"\nSTOPSIGNAL SIG${S:-TERM}\nCOPY --chown=$N:$N --from=${N}0 a $V/\n";
    let s = steps(&resolve(src, &[]));
    assert_eq!(
        s[1],
        Instruction::Expose(vec!["8080".into(), "8080/udp".into()])
    );
    assert_eq!(s[2], Instruction::Volume(vec!["/data".into()]));
    assert_eq!(
        s[3],
        Instruction::Label(vec![KeyValue {
            key: "app.name".into(),
            value: "my app".into()
        }])
    );
    assert_eq!(one(&s[4]), "SIGTERM");
    let Instruction::Copy(c) = &s[5] else {
        panic!()
    };
    assert_eq!(
        (c.chown.as_deref(), c.from.as_deref(), c.dest.as_str()),
        (Some("app:app"), Some("app0"), "/data/")
    );
}

#[test]
fn expose_splits_words_from_variables() {
    let s = steps(&resolve(
        "FROM a\nARG PORTS=\"80 443/tcp\"\nEXPOSE $PORTS\n",
        &[],
    ));
    assert_eq!(
        s[1],
        Instruction::Expose(vec!["80".into(), "443/tcp".into()])
    );
}

#[test]
fn heredoc_bodies_expand_unless_quoted() {
    let src =
        "FROM a\nARG NAME=world\nCOPY <<EOF <<'RAW' /\nhello $NAME 'q'\nEOF\nhello $NAME\nRAW\n";
    let s = steps(&resolve(src, &[]));
    let Instruction::Copy(c) = &s[1] else {
        panic!()
    };
    let bodies: Vec<&str> = c
        .sources
        .iter()
        .map(|s| match s {
            Source::Heredoc(h) => h.content.as_str(),
            Source::Path(p) => p.as_str(),
        })
        .collect();
    assert_eq!(bodies, ["hello world 'q'\n", "hello $NAME\n"]);
}

#[test]
fn escape_directive_changes_the_lexer() {
    let src = "# escape=`\nFROM a\nENV P=C:\\dir`$notvar Q=a` b\n";
    let s = steps(&resolve(src, &[]));
    assert_eq!(
        env_of(&s[0]),
        [
            ("P".into(), "C:\\dir$notvar".into()),
            ("Q".into(), "a b".into())
        ]
    );
}

#[test]
fn mounts_expand_values() {
    let src = "FROM a\nARG DIR=/cache UID=1000\nRUN --mount=type=cache,target=$DIR,uid=$UID true\n";
    let s = steps(&resolve(src, &[]));
    let Instruction::Run(r) = &s[1] else { panic!() };
    assert_eq!(
        (r.mounts[0].target.as_deref(), r.mounts[0].uid),
        (Some("/cache"), Some(1000))
    );
    let err = resolve_with(
        "FROM a\nARG UID=me\nRUN --mount=type=cache,target=/x,uid=$UID true\n",
        &[],
        None,
    )
    .unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::InvalidMount { .. }),
        "{err}"
    );
}

#[test]
fn expansion_errors_are_located() {
    let err = resolve_with("FROM a\n\nWORKDIR ${DIR:?set DIR}\n", &[], None).unwrap_err();
    assert_eq!((err.at.line, err.at.col), (3, 9));
    assert!(err.to_string().contains("DIR: set DIR"), "{err}");
}

struct Images;
impl BaseImages for Images {
    fn env(&mut self, image: &str, _: Option<&Platform>) -> Result<Vec<(String, String)>, String> {
        match image {
            "base" => Ok(vec![
                ("PATH".into(), "/usr/bin".into()),
                ("HOME".into(), "/root".into()),
            ]),
            _ => Err("not in the store".into()),
        }
    }
}

#[test]
fn base_image_env_is_visible_and_inherited_by_stages() {
    let src = "FROM base AS one\nENV PATH=$PATH:/opt/bin\nFROM one\nWORKDIR $HOME\nUSER $PATH\n";
    let r = load(
        src.as_bytes(),
        "Dockerfile",
        &BuildOptions::default(),
        &mut Images,
    )
    .unwrap();
    assert_eq!(r.stage(1).unwrap().base, BaseRef::Stage(0));
    let s = steps(&r);
    assert_eq!(
        (one(&s[0]), one(&s[1])),
        ("/root".into(), "/usr/bin:/opt/bin".into())
    );
    // An image missing from the store is an error only for needed stages.
    let src = "FROM missing AS unused\nFROM base\nUSER x\n";
    assert!(load(
        src.as_bytes(),
        "Dockerfile",
        &BuildOptions::default(),
        &mut Images
    )
    .is_ok());
    let err = load(
        b"FROM missing\n",
        "Dockerfile",
        &BuildOptions::default(),
        &mut Images,
    )
    .unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::BaseImage { .. }));
    assert!(err.hint.contains("hoist load"));
}
