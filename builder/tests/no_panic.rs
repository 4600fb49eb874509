//! Property test: no input makes the front end panic. Random Dockerfiles
//! built from the tricky pieces of the syntax (continuations, quotes,
//! heredocs, JSON, flags, substitutions, odd whitespace) and arbitrary
//! characters go through parse, typing and resolution; each step may fail,
//! but only with an error that has a location.

use hoist::dockerfile::shell_lexer::Lexer;
use hoist::dockerfile::{build_stages, parse, resolve, BuildOptions, NoBaseImages};
use proptest::prelude::*;

const PIECES: &[&str] = &[
    "FROM ",
    "from a",
    "RUN ",
    "COPY ",
    "ADD ",
    "ENV ",
    "LABEL ",
    "ARG ",
    "CMD ",
    "ENTRYPOINT ",
    "SHELL ",
    "ONBUILD ",
    "HEALTHCHECK ",
    "EXPOSE ",
    "VOLUME ",
    "USER ",
    "WORKDIR ",
    "STOPSIGNAL ",
    "MAINTAINER ",
    "NONE",
    " AS x",
    " ",
    "\t",
    "\\",
    "`",
    "\\\n",
    "`\n",
    "\n",
    "\r\n",
    "#",
    "# c\n",
    "# escape=`\n",
    "# syntax=x\n",
    "# check=skip=all\n",
    "'",
    "\"",
    "=",
    "a=b",
    "k=\"v w\"",
    "$x",
    "${y:-z}",
    "${",
    "}",
    "${a:?}",
    "${a+b}",
    "[",
    "]",
    "[\"a\", \"b\"]",
    "['a']",
    "[1]",
    ",",
    "--",
    "--from=0",
    "--from=x",
    "--mount=type=cache,target=/x",
    "--mount=type=",
    "--link",
    "--chown=1:1",
    "--chmod=755",
    "--chmod=$M",
    "--platform=$BUILDPLATFORM",
    "--interval=1s",
    "--retries=x",
    "-x",
    "<<EOF",
    "<<-EOF",
    "<<'Q'",
    "3<<E",
    "EOF\n",
    "\tEOF\n",
    "Q\n",
    "E\n",
    "<<<",
    "é",
    "\u{a0}",
    "\u{b}",
    "\u{feff}",
    "\u{0}",
    "{}",
    "\"\"",
    "''",
    "x",
    "/dst/",
    "&&",
    ";",
    "\\u00e9",
    "80/tcp",
    "1-2",
    "SIGTERM",
];

fn dockerfile() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        9 => prop::sample::select(PIECES).prop_map(str::to_owned),
        1 => any::<char>().prop_map(|c| c.to_string()),
    ];
    (any::<bool>(), prop::collection::vec(piece, 0..60)).prop_map(|(with_from, parts)| {
        let body = parts.concat();
        if with_from {
            format!("FROM a AS base\n{body}")
        } else {
            body
        }
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn front_end_never_panics(src in dockerfile(), args in prop::collection::vec("[A-Za-z_]{1,4}(=[a-z$]{0,3})?", 0..3)) {
        let df = match parse(&src, "Dockerfile") {
            Ok(df) => df,
            Err(e) => {
                prop_assert!(e.at.line >= 1 && e.at.col >= 1);
                let _ = e.to_string();
                return Ok(());
            }
        };
        let stages = match build_stages(&df) {
            Ok(s) => s,
            Err(e) => {
                prop_assert!(e.at.line >= 1 && e.at.col >= 1);
                return Ok(());
            }
        };
        let opts = BuildOptions {
            build_args: BuildOptions::parse_build_args(args.iter().map(String::as_str), |_| None),
            ..BuildOptions::default()
        };
        if let Err(e) = resolve(&df, &stages, &opts, &mut NoBaseImages) {
            prop_assert!(e.at.line >= 1 && e.at.col >= 1);
        }
    }

    #[test]
    fn lexer_never_panics(word in ".{0,40}", raw in any::<bool>(), tick in any::<bool>()) {
        let lexer = Lexer {
            raw_quotes: raw,
            raw_escapes: raw,
            skip_unset_env: raw,
            ..Lexer::new(if tick { '`' } else { '\\' })
        };
        let env = vec![("a".to_owned(), "x y".to_owned())];
        let _ = lexer.process_word(&word, &env);
        let _ = lexer.process_words(&word, &env);
    }

    #[test]
    fn bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        let _ = hoist::dockerfile::parse_bytes(&bytes, "Dockerfile");
    }
}
