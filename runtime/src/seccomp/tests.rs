//! Unit tests: validation, the word tables, and compiling (nothing here
//! loads a filter; that is in `tests/seccomp.rs`).

use libseccomp::{ScmpAction, ScmpArch, ScmpCompareOp};
use oci_spec::runtime::{
    Arch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompFilterFlag, LinuxSeccompOperator,
};
use serde_json::json;

use super::filter::validate;
use super::tables::{self, word};
use super::{Error, Filter};

fn profile(v: serde_json::Value) -> LinuxSeccomp {
    serde_json::from_value(v).expect("test profile parses")
}

fn field_of(r: Result<(), Error>) -> String {
    match r {
        Err(Error::Invalid { field, msg }) => {
            // Lowercase, unless it starts with a spec word like SCMP_ACT_NOTIFY.
            assert!(
                msg.starts_with("SCMP_") || msg.chars().next().is_some_and(|c| !c.is_uppercase()),
                "message is lowercase: {msg}"
            );
            field
        }
        other => panic!("expected a validation error, got {other:?}"),
    }
}

fn docker_profile() -> LinuxSeccomp {
    let text = include_str!("../../tests/data/seccomp-docker-default.json");
    serde_json::from_str(text).expect("the docker profile parses")
}

#[test]
fn notify_cannot_be_the_default() {
    let s = profile(json!({"defaultAction": "SCMP_ACT_NOTIFY", "listenerPath": "/x"}));
    assert_eq!(field_of(validate(&s)), "linux.seccomp.defaultAction");
}

#[test]
fn errno_only_on_actions_that_return_one() {
    let s = profile(json!({"defaultAction": "SCMP_ACT_ALLOW", "defaultErrnoRet": 5}));
    assert_eq!(field_of(validate(&s)), "linux.seccomp.defaultErrnoRet");
    let s = profile(json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38},
        {"names": ["rmdir"], "action": "SCMP_ACT_KILL_PROCESS", "errnoRet": 1}
    ]}));
    assert_eq!(field_of(validate(&s)), "linux.seccomp.syscalls[1].errnoRet");
    let s = profile(json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["mkdir"], "action": "SCMP_ACT_TRACE", "errnoRet": 65535},
        {"names": ["rmdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 4095}
    ]}));
    assert!(validate(&s).is_ok());
}

#[test]
fn errno_above_the_kernel_limit_is_refused() {
    let s = profile(json!({"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 4096}));
    assert_eq!(field_of(validate(&s)), "linux.seccomp.defaultErrnoRet");
    let s = profile(json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["mkdir"], "action": "SCMP_ACT_TRACE", "errnoRet": 65536}
    ]}));
    assert_eq!(field_of(validate(&s)), "linux.seccomp.syscalls[0].errnoRet");
}

#[test]
fn names_must_be_given() {
    let s = profile(json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": [], "action": "SCMP_ACT_ERRNO"}
    ]}));
    assert_eq!(field_of(validate(&s)), "linux.seccomp.syscalls[0].names");
    let s = profile(json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["mkdir", ""], "action": "SCMP_ACT_ERRNO"}
    ]}));
    assert_eq!(field_of(validate(&s)), "linux.seccomp.syscalls[0].names[1]");
}

#[test]
fn argument_index_is_at_most_five() {
    let s = profile(json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"},
        {"names": ["rmdir"], "action": "SCMP_ACT_ERRNO", "args": [
            {"index": 5, "value": 1, "op": "SCMP_CMP_EQ"},
            {"index": 6, "value": 1, "op": "SCMP_CMP_EQ"}
        ]}
    ]}));
    assert_eq!(
        field_of(validate(&s)),
        "linux.seccomp.syscalls[1].args[1].index"
    );
}

#[test]
fn listener_fields_are_consistent() {
    let s = profile(json!({"defaultAction": "SCMP_ACT_ALLOW", "listenerMetadata": "x"}));
    assert_eq!(field_of(validate(&s)), "linux.seccomp.listenerMetadata");
    let s = profile(json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}
    ]}));
    assert_eq!(field_of(validate(&s)), "linux.seccomp.listenerPath");
    let s = profile(
        json!({"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/run/agent.sock",
            "listenerMetadata": "x", "syscalls": [
            {"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}
        ]}),
    );
    assert!(validate(&s).is_ok());
}

#[test]
fn notify_on_sendmsg_would_hang_the_runtime() {
    let s = profile(
        json!({"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/x", "syscalls": [
            {"names": ["mkdir", "sendmsg"], "action": "SCMP_ACT_NOTIFY"}
        ]}),
    );
    assert_eq!(field_of(validate(&s)), "linux.seccomp.syscalls[0].names[1]");
    // Other actions on sendmsg are fine.
    let s = profile(json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["sendmsg"], "action": "SCMP_ACT_ERRNO"}
    ]}));
    assert!(validate(&s).is_ok());
}

/// Unknown words never reach the module: parsing `config.json` (which the
/// runtime does with serde_path_to_error) fails and names the field.
#[test]
fn unknown_words_fail_to_parse_naming_the_field() {
    let cases = [
        (
            json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["a"], "action": "SCMP_ACT_ALLOW"}, {"names": ["b"], "action": "SCMP_ACT_BOGUS"}]}),
            "linux.seccomp.syscalls[1].action",
        ),
        (
            json!({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_VAX"]}),
            "linux.seccomp.architectures[1]",
        ),
        (
            json!({"defaultAction": "SCMP_ACT_ALLOW", "flags": ["SECCOMP_FILTER_FLAG_BOGUS"]}),
            "linux.seccomp.flags[0]",
        ),
        (
            json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["a"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_APPROX"}]}]}),
            "linux.seccomp.syscalls[0].args[0].op",
        ),
        (
            json!({"defaultAction": "SCMP_ACT_MAYBE"}),
            "linux.seccomp.defaultAction",
        ),
    ];
    for (seccomp, path) in cases {
        let spec = json!({"ociVersion": "1.0.2", "root": {"path": "rootfs"}, "linux": {"seccomp": seccomp}});
        let text = spec.to_string();
        let de = &mut serde_json::Deserializer::from_str(&text);
        let err = serde_path_to_error::deserialize::<_, oci_spec::runtime::Spec>(de)
            .expect_err("an unknown word is refused");
        assert_eq!(err.path().to_string(), path);
    }
}

#[test]
fn every_spec_word_is_listed_and_spelled_like_the_spec() {
    let actions: Vec<String> = tables::ACTIONS.iter().map(|a| word(*a)).collect();
    assert_eq!(
        actions,
        [
            "SCMP_ACT_KILL",
            "SCMP_ACT_KILL_PROCESS",
            "SCMP_ACT_KILL_THREAD",
            "SCMP_ACT_TRAP",
            "SCMP_ACT_ERRNO",
            "SCMP_ACT_TRACE",
            "SCMP_ACT_ALLOW",
            "SCMP_ACT_LOG",
            "SCMP_ACT_NOTIFY"
        ]
    );
    let ops: Vec<String> = tables::OPERATORS.iter().map(|o| word(*o)).collect();
    assert_eq!(
        ops,
        [
            "SCMP_CMP_NE",
            "SCMP_CMP_LT",
            "SCMP_CMP_LE",
            "SCMP_CMP_EQ",
            "SCMP_CMP_GE",
            "SCMP_CMP_GT",
            "SCMP_CMP_MASKED_EQ"
        ]
    );
    let flags: Vec<String> = tables::FLAGS.iter().map(|f| word(*f)).collect();
    assert_eq!(
        flags,
        [
            "SECCOMP_FILTER_FLAG_TSYNC",
            "SECCOMP_FILTER_FLAG_LOG",
            "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
            "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"
        ]
    );
    // The spec's architecture list (libseccomp 2.5.0) is all there.
    for a in [
        "SCMP_ARCH_X86",
        "SCMP_ARCH_X86_64",
        "SCMP_ARCH_X32",
        "SCMP_ARCH_ARM",
        "SCMP_ARCH_AARCH64",
        "SCMP_ARCH_MIPS",
        "SCMP_ARCH_MIPS64",
        "SCMP_ARCH_MIPS64N32",
        "SCMP_ARCH_MIPSEL",
        "SCMP_ARCH_MIPSEL64",
        "SCMP_ARCH_MIPSEL64N32",
        "SCMP_ARCH_PPC",
        "SCMP_ARCH_PPC64",
        "SCMP_ARCH_PPC64LE",
        "SCMP_ARCH_S390",
        "SCMP_ARCH_S390X",
        "SCMP_ARCH_PARISC",
        "SCMP_ARCH_PARISC64",
        "SCMP_ARCH_RISCV64",
    ] {
        assert!(
            tables::ARCHES.iter().any(|x| word(*x) == a),
            "{a} is not listed"
        );
    }
    // No duplicates, and each maps to its own libseccomp token.
    let mut seen: Vec<ScmpArch> = Vec::new();
    for a in tables::ARCHES {
        let t = tables::arch(a);
        assert!(!seen.contains(&t), "{} maps to a token twice", word(a));
        seen.push(t);
    }
}

#[test]
fn actions_map_like_runc() {
    use LinuxSeccompAction as A;
    assert_eq!(tables::action(A::ScmpActKill, None), ScmpAction::KillThread);
    assert_eq!(
        tables::action(A::ScmpActKillThread, None),
        ScmpAction::KillThread
    );
    assert_eq!(
        tables::action(A::ScmpActKillProcess, None),
        ScmpAction::KillProcess
    );
    assert_eq!(tables::action(A::ScmpActTrap, None), ScmpAction::Trap);
    assert_eq!(
        tables::action(A::ScmpActErrno, None),
        ScmpAction::Errno(libc::EPERM)
    );
    assert_eq!(
        tables::action(A::ScmpActErrno, Some(38)),
        ScmpAction::Errno(38)
    );
    assert_eq!(
        tables::action(A::ScmpActTrace, None),
        ScmpAction::Trace(libc::EPERM as u16)
    );
    assert_eq!(
        tables::action(A::ScmpActTrace, Some(7)),
        ScmpAction::Trace(7)
    );
    assert_eq!(tables::action(A::ScmpActLog, None), ScmpAction::Log);
    assert_eq!(tables::action(A::ScmpActAllow, None), ScmpAction::Allow);
    assert_eq!(tables::action(A::ScmpActNotify, None), ScmpAction::Notify);
    // The kernel values agree with oci-spec's own table.
    for a in tables::ACTIONS {
        assert_eq!(tables::kernel_action(a), a.as_u32(None) & 0xffff_0000);
    }
}

#[test]
fn operators_map_with_the_mask_in_value() {
    use LinuxSeccompOperator as O;
    assert_eq!(
        tables::compare(O::ScmpCmpNe, 3, Some(9)),
        (ScmpCompareOp::NotEqual, 3)
    );
    assert_eq!(
        tables::compare(O::ScmpCmpLt, 3, None),
        (ScmpCompareOp::Less, 3)
    );
    assert_eq!(
        tables::compare(O::ScmpCmpLe, 3, None),
        (ScmpCompareOp::LessOrEqual, 3)
    );
    assert_eq!(
        tables::compare(O::ScmpCmpEq, 3, None),
        (ScmpCompareOp::Equal, 3)
    );
    assert_eq!(
        tables::compare(O::ScmpCmpGe, 3, None),
        (ScmpCompareOp::GreaterEqual, 3)
    );
    assert_eq!(
        tables::compare(O::ScmpCmpGt, 3, None),
        (ScmpCompareOp::Greater, 3)
    );
    assert_eq!(
        tables::compare(O::ScmpCmpMaskedEq, 0o7000, Some(0o1000)),
        (ScmpCompareOp::MaskedEqual(0o7000), 0o1000)
    );
    // Docker's clone rule omits valueTwo: masked value must be 0.
    assert_eq!(
        tables::compare(O::ScmpCmpMaskedEq, 2114060288, None),
        (ScmpCompareOp::MaskedEqual(2114060288), 0)
    );
}

#[test]
fn flags_map_to_kernel_bits() {
    use LinuxSeccompFilterFlag as F;
    assert_eq!(tables::kernel_flag(F::SeccompFilterFlagTsync), 0);
    assert_eq!(
        tables::kernel_flag(F::SeccompFilterFlagLog),
        libc::SECCOMP_FILTER_FLAG_LOG
    );
    assert_eq!(
        tables::kernel_flag(F::SeccompFilterFlagSpecAllow),
        libc::SECCOMP_FILTER_FLAG_SPEC_ALLOW
    );
    assert_eq!(
        tables::kernel_flag(F::SeccompFilterFlagWaitKillableRecv),
        libc::SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV
    );
}

#[test]
fn native_arch_maps() {
    assert_eq!(tables::arch(Arch::ScmpArchNative), ScmpArch::Native);
    assert_eq!(tables::arch(Arch::ScmpArchX86_64), ScmpArch::X8664);
}

#[test]
fn docker_profile_compiles() {
    let f = Filter::compile(&docker_profile()).expect("docker's profile compiles");
    assert!(!f.uses_notify());
    assert!(f.instructions() > 100 && f.instructions() < 4096, "{f:?}");
    // libseccomp knows every name, 32-bit-only ones included (it gives
    // them pseudo numbers on x86_64), so Docker's profile warns about nothing.
    assert_eq!(f.skipped_syscalls(), [] as [String; 0], "{f:?}");
}

#[test]
fn unknown_names_are_skipped_not_fatal() {
    let s = profile(json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["mkdir", "no_such_syscall", "no_such_syscall"], "action": "SCMP_ACT_ERRNO"}
    ]}));
    let f = Filter::compile(&s).expect("compiles");
    assert_eq!(f.skipped_syscalls(), ["no_such_syscall"]);
}

#[test]
fn rules_that_repeat_the_default_are_dropped() {
    let with = profile(json!({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
        {"names": ["mkdir"], "action": "SCMP_ACT_ALLOW"},
        {"names": ["rmdir"], "action": "SCMP_ACT_ERRNO"}
    ]}));
    let without = profile(json!({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
        {"names": ["mkdir"], "action": "SCMP_ACT_ALLOW"}
    ]}));
    let a = Filter::compile(&with).expect("compiles");
    let b = Filter::compile(&without).expect("compiles");
    assert_eq!(a.instructions(), b.instructions());
    // A different errno is a different action, and is kept.
    let other = profile(json!({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
        {"names": ["mkdir"], "action": "SCMP_ACT_ALLOW"},
        {"names": ["rmdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38}
    ]}));
    assert!(Filter::compile(&other).expect("compiles").instructions() > b.instructions());
}

#[test]
fn every_action_and_operator_compiles() {
    let mut syscalls = Vec::new();
    let names = [
        "mkdir", "rmdir", "chmod", "chown", "link", "unlink", "rename", "symlink", "truncate",
    ];
    for (a, n) in tables::ACTIONS
        .iter()
        .filter(|a| **a != LinuxSeccompAction::ScmpActKill)
        .zip(names)
    {
        syscalls.push(json!({"names": [n], "action": word(*a)}));
    }
    for (i, o) in tables::OPERATORS.iter().enumerate() {
        syscalls.push(json!({"names": ["fchmodat"], "action": "SCMP_ACT_ERRNO",
            "args": [{"index": i % 3, "value": 4, "valueTwo": 4, "op": word(*o)}]}));
    }
    let s = profile(
        json!({"defaultAction": "SCMP_ACT_KILL", "listenerPath": "/x",
        "architectures": ["SCMP_ARCH_NATIVE"],
        "flags": ["SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG",
                  "SECCOMP_FILTER_FLAG_SPEC_ALLOW", "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"],
        "syscalls": syscalls}),
    );
    let f = Filter::compile(&s).expect("compiles");
    assert!(f.uses_notify());
    assert_eq!(f.listener_path(), Some(std::path::Path::new("/x")));
}

#[test]
fn args_on_the_same_index_become_separate_rules() {
    // Same index twice: runc adds one rule per condition (either matches).
    let shared = profile(json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "args": [
            {"index": 1, "value": 1, "op": "SCMP_CMP_EQ"},
            {"index": 1, "value": 2, "op": "SCMP_CMP_EQ"}
        ]}
    ]}));
    // Different indexes: one rule, both must match.
    let distinct = profile(json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "args": [
            {"index": 0, "value": 1, "op": "SCMP_CMP_EQ"},
            {"index": 1, "value": 2, "op": "SCMP_CMP_EQ"}
        ]}
    ]}));
    // Both compile (a single libseccomp rule with two conditions on one
    // argument would be refused). The behaviour itself is checked by
    // loading, in tests/seccomp.rs.
    Filter::compile(&shared).expect("shared index compiles");
    Filter::compile(&distinct).expect("distinct indexes compile");
}

#[test]
fn unsupported_arch_names_the_field() {
    let supported: Vec<String> = super::features()["archs"]
        .as_array()
        .expect("archs")
        .iter()
        .filter_map(|a| a.as_str().map(str::to_string))
        .collect();
    let Some(missing) = tables::ARCHES
        .iter()
        .map(|a| word(*a))
        .find(|w| w != "SCMP_ARCH_NATIVE" && !supported.contains(w))
    else {
        return; // this libseccomp knows every architecture
    };
    let s = profile(json!({"defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_NATIVE", missing]}));
    match Filter::compile(&s) {
        Err(Error::Libseccomp { field, .. }) => {
            assert_eq!(field, "linux.seccomp.architectures[1]")
        }
        other => panic!("expected an architecture error, got {other:?}"),
    }
}

#[test]
fn features_document() {
    let f = super::features();
    assert_eq!(f["enabled"], true);
    assert_eq!(f["operators"].as_array().map(Vec::len), Some(7));
    assert_eq!(f["knownFlags"].as_array().map(Vec::len), Some(4));
    let actions = f["actions"].as_array().expect("actions");
    assert!(actions.iter().any(|a| a == "SCMP_ACT_ERRNO"));
    let archs = f["archs"].as_array().expect("archs");
    #[cfg(target_arch = "x86_64")]
    assert!(archs.iter().any(|a| a == "SCMP_ARCH_X86_64"));
    assert!(!archs.iter().any(|a| a == "SCMP_ARCH_NATIVE"));
    let known = f["knownFlags"].as_array().expect("knownFlags");
    for s in f["supportedFlags"].as_array().expect("supportedFlags") {
        assert!(known.contains(s));
    }
    assert!(super::libseccomp_version().starts_with("2."));
}

#[test]
fn process_state_serialises_like_the_spec_example() {
    let st = super::ProcessState {
        oci_version: "1.1.0".into(),
        fds: vec![super::SECCOMP_FD_NAME.into()],
        pid: 4422,
        metadata: Some("MKNOD=/dev/null".into()),
        state: json!({"ociVersion": "1.1.0", "id": "c1", "status": "creating", "pid": 4422, "bundle": "/b"}),
    };
    let v = serde_json::to_value(&st).expect("serialises");
    assert_eq!(
        v,
        json!({"ociVersion": "1.1.0", "fds": ["seccompFd"], "pid": 4422,
               "metadata": "MKNOD=/dev/null",
               "state": {"ociVersion": "1.1.0", "id": "c1", "status": "creating", "pid": 4422, "bundle": "/b"}})
    );
}

#[test]
fn cached_compile_reuses_the_program_and_only_that() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cache = dir.path().join("cache");
    let s = docker_profile();
    let fresh = Filter::compile(&s).expect("compiles");
    let first = Filter::compile_cached(&s, &cache).expect("compiles and stores");
    let files: Vec<_> = std::fs::read_dir(&cache).expect("cache dir").collect();
    assert_eq!(files.len(), 1, "one file per profile");
    let second = Filter::compile_cached(&s, &cache).expect("reads the cache");
    assert_eq!(first.instructions(), fresh.instructions());
    assert_eq!(second.instructions(), fresh.instructions());
    assert_eq!(format!("{second:?}"), format!("{fresh:?}"));

    // A different profile is a different entry, never the cached one.
    let mut other = docker_profile();
    other.set_default_errno_ret(Some(38));
    let o = Filter::compile_cached(&other, &cache).expect("compiles");
    assert_eq!(std::fs::read_dir(&cache).expect("cache dir").count(), 2);
    assert_eq!(
        o.instructions(),
        Filter::compile(&other).expect("compiles").instructions()
    );

    // Damaged files are misses, and get rewritten.
    for f in std::fs::read_dir(&cache).expect("cache dir").flatten() {
        std::fs::write(f.path(), b"keel-seccomp-bpf 1\n\xff\xff").expect("damage");
    }
    let again = Filter::compile_cached(&s, &cache).expect("recompiles");
    assert_eq!(again.instructions(), fresh.instructions());

    // Validation still runs on a cached profile.
    let mut bad = docker_profile();
    bad.set_default_errno_ret(Some(5000));
    assert!(Filter::compile_cached(&bad, &cache).is_err());
}

#[test]
fn cache_parse_rejects_a_key_mismatch() {
    let dir = tempfile::tempdir().expect("tempdir");
    let prog = [libc::sock_filter {
        code: 6,
        jt: 0,
        jf: 0,
        k: 0x7fff_0000,
    }];
    super::cache::write(dir.path(), b"key one", &prog, &["a".into(), "b".into()]);
    let (p, skipped) = super::cache::read(dir.path(), b"key one").expect("hit");
    assert_eq!(p.len(), 1);
    assert_eq!((p[0].code, p[0].k), (6, 0x7fff_0000));
    assert_eq!(skipped, ["a", "b"]);
    assert!(super::cache::read(dir.path(), b"key two").is_none());
}
