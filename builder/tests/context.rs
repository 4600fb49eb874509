//! The build context: `.dockerignore` semantics (a table of moby's
//! documented cases plus property tests against a naive reference), ignore
//! file precedence, walks, content hashes (never mtimes) and the persistent
//! stat cache, and extracting a context tar safely.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use hoist::context::glob::Glob;
use hoist::context::{Context, ContextError, ContextOptions, IgnoreMatcher};
use proptest::prelude::*;

fn write(root: &Path, rel: &str, body: &str) {
    let p = root.join(rel);
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(p, body).unwrap();
}

fn matcher(lines: &[&str]) -> IgnoreMatcher {
    IgnoreMatcher::new(lines.iter().enumerate().map(|(i, l)| (i + 1, *l)), "test").unwrap()
}

fn open(dir: &Path) -> Context {
    Context::open(dir, &dir.join("Dockerfile"), ContextOptions::default()).unwrap()
}

/// Cases from moby/patternmatcher's tests (documented behaviour): pattern,
/// path, excluded (match of the path or one of its parents).
#[test]
fn moby_pattern_table() {
    let cases: &[(&str, &str, bool)] = &[
        ("**", "file", true),
        ("**", "dir/file", true),
        ("**/", "file", true),
        ("**/", "dir/file", true),
        ("**/**", "dir/file", true),
        ("dir/**", "dir/file", true),
        ("dir/**", "dir/dir2/file", true),
        ("**/dir", "dir", true),
        ("**/dir", "dir/file", true),
        ("**/dir2/*", "dir/dir2/file", true),
        ("**/dir2/**", "dir/dir2/dir3/file", true),
        ("**file", "file", true),
        ("**file", "dir/file", true),
        ("**/file", "dir/file", true),
        ("**file", "dir/dir/file", true),
        ("**/file", "dir/dir/file", true),
        ("**/file*", "dir/dir/file", true),
        ("**/file*", "dir/dir/file.txt", true),
        ("**/file*txt", "dir/dir/file.txt", true),
        ("**/file*.txt", "dir/dir/file.txt", true),
        ("**/file*.txt*", "dir/dir/file.txt", true),
        ("**/**/*.txt", "dir/dir/file.txt", true),
        ("**/**/*.txt2", "dir/dir/file.txt", false),
        ("**/*.txt", "file.txt", true),
        ("**/**/*.txt", "file.txt", true),
        ("a**/*.txt", "a/file.txt", true),
        ("a**/*.txt", "a/dir/file.txt", true),
        ("a**/*.txt", "a/dir/dir/file.txt", true),
        ("a/*.txt", "a/dir/file.txt", false),
        ("a/*.txt", "a/file.txt", true),
        ("a/*.txt**", "a/file.txt", true),
        ("a[b-d]e", "ae", false),
        ("a[b-d]e", "ace", true),
        ("a[b-d]e", "aae", false),
        ("a[^b-d]e", "aze", true),
        (".*", ".foo", true),
        (".*", "foo", false),
        ("abc.def", "abcdef", false),
        ("abc.def", "abc.def", true),
        ("abc.def", "abcZdef", false),
        ("abc?def", "abcZdef", true),
        ("abc?def", "abcdef", false),
        ("a\\\\", "a\\", true),
        ("**/foo/bar", "foo/bar", true),
        ("**/foo/bar", "dir/foo/bar", true),
        ("**/foo/bar", "dir/dir2/foo/bar", true),
        ("abc/**", "abc", false),
        ("abc/**", "abc/def", true),
        ("abc/**", "abc/def/ghi", true),
        ("**/.foo", ".foo", true),
        ("**/.foo", "bar.foo", false),
        ("a(b)c/def", "a(b)c/def", true),
        ("a(b)c/def", "a(b)c/xyz", false),
        ("a.|)$(}+{bc", "a.|)$(}+{bc", true),
        (
            "dist/*.whl",
            "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
            true,
        ),
        // Parents: a pattern naming a directory excludes everything in it.
        ("docs", "docs/a/b.md", true),
        ("*/tmp", "x/tmp/file", true),
        ("*/tmp", "x/y/tmp", false),
        ("/abs/path", "abs/path/x", true),
        ("./rel/../other", "other", true),
    ];
    for (pattern, path, want) in cases {
        let m = IgnoreMatcher::from_ignore_file(pattern, "t").unwrap();
        assert_eq!(
            m.is_excluded(path),
            *want,
            "pattern {pattern:?} path {path:?}"
        );
    }
}

#[test]
fn ignore_file_rules() {
    // BOM, comments, trimming, last match wins, `!` re-includes.
    let m = IgnoreMatcher::from_ignore_file(
        "\u{feff}# comment\n*.md\n  !README.md  \n\nbuild/\n!build/keep\n",
        ".dockerignore",
    )
    .unwrap();
    assert!(m.is_excluded("a.md"));
    assert!(!m.is_excluded("README.md"));
    assert!(!m.is_excluded("sub/a.md"), "`*` does not cross `/`");
    assert!(m.is_excluded("build/x"));
    assert!(!m.is_excluded("build/keep"));
    assert!(!m.is_excluded("build/keep/inner"));
    // Order matters: a later exclusion wins over an earlier re-include.
    let m = matcher(&["!a", "a"]);
    assert!(m.is_excluded("a"));
    let m = matcher(&["a", "!a"]);
    assert!(!m.is_excluded("a"));
    // A bare `!` is an error that names the file and line.
    let e = IgnoreMatcher::from_ignore_file("x\n!\n", "/ctx/.dockerignore").unwrap_err();
    assert!(e.to_string().contains("/ctx/.dockerignore:2"), "{e}");
    assert!(e.to_string().contains("\"!\""), "{e}");
}

/// A naive backtracking matcher for the dockerignore dialect (`*`, `?`,
/// `**`), used as the reference.
fn naive(p: &[char], s: &[char]) -> bool {
    match p.first() {
        None => s.is_empty(),
        Some('*') if p.get(1) == Some(&'*') => {
            let mut rest = &p[2..];
            let slash = rest.first() == Some(&'/');
            if slash {
                rest = &rest[1..];
            }
            if rest.is_empty() {
                return true; // `.*`
            }
            // `(.*/)?` then rest.
            if naive(rest, s) {
                return true;
            }
            (0..s.len()).any(|i| s[i] == '/' && naive(rest, &s[i + 1..]))
        }
        Some('*') => {
            let mut i = 0;
            loop {
                if naive(&p[1..], &s[i..]) {
                    return true;
                }
                if i >= s.len() || s[i] == '/' {
                    return false;
                }
                i += 1;
            }
        }
        Some('?') => !s.is_empty() && s[0] != '/' && naive(&p[1..], &s[1..]),
        Some(c) => s.first() == Some(c) && naive(&p[1..], &s[1..]),
    }
}

fn pattern_strategy() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            Just("a".to_string()),
            Just("b".to_string()),
            Just("*".to_string()),
            Just("?".to_string()),
            Just("a*".to_string()),
            Just("**".to_string()),
        ],
        1..4,
    )
    .prop_map(|c| c.join("/"))
}

fn path_strategy() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![Just("a"), Just("b"), Just("ab"), Just("ba")],
        1..5,
    )
    .prop_map(|c| c.join("/"))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn glob_agrees_with_naive(p in pattern_strategy(), s in path_strategy()) {
        let g = Glob::dockerignore(&p).unwrap();
        let pc: Vec<char> = p.chars().collect();
        let sc: Vec<char> = s.chars().collect();
        prop_assert_eq!(g.matches(&s), naive(&pc, &sc), "pattern {} path {}", p, s);
    }

    #[test]
    fn literal_pattern_excludes_itself_and_below(p in path_strategy(), s in path_strategy()) {
        let m = matcher(&[p.as_str()]);
        let want = s == p || s.starts_with(&format!("{p}/"));
        prop_assert_eq!(m.is_excluded(&s), want);
    }

    #[test]
    fn walk_equals_per_path_verdicts(
        files in prop::collection::btree_set(path_strategy(), 1..12),
        pats in prop::collection::vec((any::<bool>(), pattern_strategy()), 1..5),
    ) {
        // Make a tree (a path that is a prefix of another becomes a dir).
        let t = tempfile::tempdir().unwrap();
        let all: Vec<&String> = files.iter().collect();
        for f in &all {
            let is_dir = all.iter().any(|g| g.starts_with(&format!("{f}/")));
            let p = t.path().join(f);
            if is_dir {
                fs::create_dir_all(&p).unwrap();
            } else {
                fs::create_dir_all(p.parent().unwrap()).unwrap();
                if !p.exists() { fs::write(&p, f.as_bytes()).unwrap(); }
            }
        }
        let lines: Vec<String> = pats.iter().map(|(neg, p)| if *neg { format!("!{p}") } else { p.clone() }).collect();
        fs::write(t.path().join(".dockerignore"), lines.join("\n")).unwrap();
        let ctx = open(t.path());
        let walked: Vec<String> = ctx.walk("").unwrap().into_iter().map(|w| w.rel).collect();
        // Reference: every node on disk that is not excluded, plus every
        // directory that holds a non-excluded node.
        let mut expect = Vec::new();
        for w in walkdir::WalkDir::new(t.path()).min_depth(1).sort_by_file_name() {
            let w = w.unwrap();
            let rel = w.path().strip_prefix(t.path()).unwrap().to_str().unwrap().to_owned();
            let kept = !ctx.is_excluded(&rel)
                || (w.file_type().is_dir()
                    && walkdir::WalkDir::new(w.path()).min_depth(1).into_iter().any(|x| {
                        let x = x.unwrap();
                        !ctx.is_excluded(x.path().strip_prefix(t.path()).unwrap().to_str().unwrap())
                    }));
            if kept { expect.push(rel); }
        }
        let mut a = walked.clone(); a.sort();
        let mut b = expect.clone(); b.sort();
        prop_assert_eq!(a, b, "patterns {:?}", lines);
    }
}

#[test]
fn dockerfile_specific_ignore_file_wins() {
    let t = tempfile::tempdir().unwrap();
    let r = t.path();
    write(r, "a.txt", "a");
    write(r, "b.txt", "b");
    write(r, ".dockerignore", "a.txt\n");
    write(r, "build/app.Dockerfile", "FROM scratch\n");
    write(r, "build/app.Dockerfile.dockerignore", "b.txt\n");
    let c = Context::open(
        r,
        &r.join("build/app.Dockerfile"),
        ContextOptions::default(),
    )
    .unwrap();
    assert_eq!(
        c.ignore_file(),
        Some(r.join("build/app.Dockerfile.dockerignore").as_path())
    );
    assert!(!c.is_excluded("a.txt"));
    assert!(c.is_excluded("b.txt"));
    // Without the specific file, the context's .dockerignore applies.
    let c = Context::open(r, &r.join("Dockerfile"), ContextOptions::default()).unwrap();
    assert!(c.is_excluded("a.txt"));
    assert!(!c.is_excluded("b.txt"));
}

#[test]
fn dockerfile_and_ignore_file_may_be_excluded() {
    let t = tempfile::tempdir().unwrap();
    let r = t.path();
    write(r, "Dockerfile", "FROM scratch\n");
    write(r, ".dockerignore", "Dockerfile\n.dockerignore\n");
    write(r, "app", "x");
    let c = open(r);
    let names: Vec<String> = c.walk("").unwrap().into_iter().map(|w| w.rel).collect();
    assert_eq!(names, ["app"]);
    assert!(matches!(
        c.hash("Dockerfile"),
        Err(ContextError::NotFound { .. })
    ));
}

#[test]
fn open_errors_name_the_directory() {
    let t = tempfile::tempdir().unwrap();
    let missing = t.path().join("nope");
    let e =
        Context::open(&missing, Path::new("Dockerfile"), ContextOptions::default()).unwrap_err();
    assert!(matches!(e, ContextError::DirMissing { .. }));
    assert!(e.to_string().contains("nope"), "{e}");
    write(t.path(), "file", "x");
    let e = Context::open(
        &t.path().join("file"),
        Path::new("Dockerfile"),
        ContextOptions::default(),
    )
    .unwrap_err();
    assert!(matches!(e, ContextError::NotADir { .. }), "{e}");
    write(t.path(), "bad/.dockerignore", "ok\n!\n");
    let e = Context::open(
        &t.path().join("bad"),
        Path::new("Dockerfile"),
        ContextOptions::default(),
    )
    .unwrap_err();
    assert!(e.to_string().contains(".dockerignore:2"), "{e}");
}

#[test]
fn walk_skips_excluded_and_keeps_reincluded() {
    let t = tempfile::tempdir().unwrap();
    let r = t.path();
    for f in [
        "src/main.rs",
        "node_modules/x/y.js",
        "logs/a.log",
        "logs/keep.log",
        "docs/a.md",
    ] {
        write(r, f, f);
    }
    write(
        r,
        ".dockerignore",
        "node_modules\nlogs\n!logs/keep.log\n*.md\n**/*.md\n",
    );
    let c = open(r);
    let names: Vec<String> = c.walk("").unwrap().into_iter().map(|w| w.rel).collect();
    assert_eq!(
        names,
        [
            ".dockerignore",
            "docs",
            "logs",
            "logs/keep.log",
            "src",
            "src/main.rs"
        ]
    );
    assert!(c.resolve("node_modules/x", true).unwrap().is_none());
    assert_eq!(c.resolve("logs", true).unwrap().as_deref(), Some("logs"));
    assert!(c.resolve("logs/a.log", true).unwrap().is_none());
}

#[test]
fn resolve_never_leaves_the_root() {
    let t = tempfile::tempdir().unwrap();
    let r = t.path().join("ctx");
    write(&r, "inside/etc/passwd", "inside");
    write(t.path(), "outside.txt", "secret");
    std::os::unix::fs::symlink("/etc", r.join("abs")).unwrap();
    std::os::unix::fs::symlink("../../../outside.txt", r.join("rel")).unwrap();
    std::os::unix::fs::symlink("/inside/etc", r.join("etc")).unwrap();
    let c = open(&r);
    assert_eq!(
        c.resolve("etc/passwd", true).unwrap().as_deref(),
        Some("inside/etc/passwd")
    );
    // `/etc` means the context's etc (itself a link to inside/etc), never the host's.
    assert_eq!(
        c.resolve("abs/passwd", true).unwrap().as_deref(),
        Some("inside/etc/passwd")
    );
    assert!(c.resolve("abs/shadow", true).unwrap().is_none());
    assert!(
        c.resolve("rel", true).unwrap().is_none(),
        "../ stops at the root"
    );
    assert!(c.resolve("../outside.txt", true).unwrap().is_none());
    assert_eq!(c.resolve("rel", false).unwrap().as_deref(), Some("rel"));
}

fn set_mtime(p: &Path, secs: i64) {
    let tv = nix::sys::time::TimeVal::new(secs, 0);
    nix::sys::stat::lutimes(p, &tv, &tv).unwrap();
}

#[test]
fn hash_covers_content_mode_xattrs_names_not_mtime() {
    let t = tempfile::tempdir().unwrap();
    let r = t.path();
    write(r, "dir/a.txt", "hello");
    write(r, "dir/b.txt", "world");
    std::os::unix::fs::symlink("a.txt", r.join("dir/link")).unwrap();
    let base_file = open(r).hash("dir/a.txt").unwrap();
    let base_dir = open(r).hash("dir").unwrap();
    let base_link = open(r).hash("dir/link").unwrap();
    assert_ne!(base_file, base_dir);

    // touch: same hashes.
    set_mtime(&r.join("dir/a.txt"), 1_000_000);
    set_mtime(&r.join("dir"), 2_000_000);
    assert_eq!(open(r).hash("dir/a.txt").unwrap(), base_file);
    assert_eq!(open(r).hash("dir").unwrap(), base_dir);

    // chmod: different.
    fs::set_permissions(r.join("dir/a.txt"), fs::Permissions::from_mode(0o755)).unwrap();
    let chmodded = open(r).hash("dir/a.txt").unwrap();
    assert_ne!(chmodded, base_file);
    assert_ne!(open(r).hash("dir").unwrap(), base_dir);
    fs::set_permissions(r.join("dir/a.txt"), fs::Permissions::from_mode(0o644)).unwrap();
    assert_eq!(open(r).hash("dir/a.txt").unwrap(), base_file);

    // content: different (same size too).
    fs::write(r.join("dir/a.txt"), "HELLO").unwrap();
    let changed = open(r).hash("dir/a.txt").unwrap();
    assert_ne!(changed, base_file);
    fs::write(r.join("dir/a.txt"), "hello").unwrap();
    assert_eq!(open(r).hash("dir/a.txt").unwrap(), base_file);

    // xattr: different.
    xattr::set(r.join("dir/a.txt"), "user.hoist", b"1").unwrap();
    assert_ne!(open(r).hash("dir/a.txt").unwrap(), base_file);
    xattr::set(r.join("dir/a.txt"), "user.hoist", b"2").unwrap();
    let x2 = open(r).hash("dir/a.txt").unwrap();
    xattr::remove(r.join("dir/a.txt"), "user.hoist").unwrap();
    assert_ne!(x2, base_file);
    assert_eq!(open(r).hash("dir/a.txt").unwrap(), base_file);

    // rename inside a directory: the directory hash changes.
    fs::rename(r.join("dir/b.txt"), r.join("dir/c.txt")).unwrap();
    assert_ne!(open(r).hash("dir").unwrap(), base_dir);
    fs::rename(r.join("dir/c.txt"), r.join("dir/b.txt")).unwrap();
    assert_eq!(open(r).hash("dir").unwrap(), base_dir);

    // symlink target: different.
    fs::remove_file(r.join("dir/link")).unwrap();
    std::os::unix::fs::symlink("b.txt", r.join("dir/link")).unwrap();
    assert_ne!(open(r).hash("dir/link").unwrap(), base_link);

    // An excluded file does not count.
    fs::remove_file(r.join("dir/link")).unwrap();
    std::os::unix::fs::symlink("a.txt", r.join("dir/link")).unwrap();
    write(r, ".dockerignore", "dir/*.tmp\n");
    let with_ignore = open(r).hash("dir").unwrap();
    write(r, "dir/junk.tmp", "junk");
    assert_eq!(open(r).hash("dir").unwrap(), with_ignore);
}

#[test]
fn hash_of_devices_and_owner() {
    let t = tempfile::tempdir().unwrap();
    let r = t.path();
    let dev = |major, minor| nix::sys::stat::makedev(major, minor);
    let mk = |name: &str, d| {
        nix::sys::stat::mknod(
            &r.join(name),
            nix::sys::stat::SFlag::S_IFCHR,
            nix::sys::stat::Mode::from_bits_truncate(0o644),
            d,
        )
        .unwrap()
    };
    mk("null", dev(1, 3));
    mk("zero", dev(1, 5));
    let c = open(r);
    assert_ne!(c.hash("null").unwrap(), c.hash("zero").unwrap());
    // The build context is seen as 0:0, so chown does not change its hash;
    // a rootfs (COPY --from) keeps owners and does.
    write(r, "f", "x");
    let before = open(r).hash("f").unwrap();
    let fs_before = Context::for_rootfs(r).unwrap().hash("f").unwrap();
    std::os::unix::fs::lchown(r.join("f"), Some(1234), Some(1234)).unwrap();
    assert_eq!(open(r).hash("f").unwrap(), before);
    assert_ne!(
        Context::for_rootfs(r).unwrap().hash("f").unwrap(),
        fs_before
    );
}

#[test]
fn stat_cache_hits_misses_and_corruption() {
    let t = tempfile::tempdir().unwrap();
    let r = t.path().join("ctx");
    for i in 0..20 {
        write(&r, &format!("d{}/f{i}", i % 3), &format!("content {i}"));
    }
    let cache = t.path().join("store/stat-cache");
    // Entries younger than the clock granularity are not trusted later.
    std::thread::sleep(std::time::Duration::from_millis(60));
    let opts = || ContextOptions {
        hash_cache: Some(cache.clone()),
    };
    let c = Context::open(&r, &r.join("Dockerfile"), opts()).unwrap();
    let cold = c.hash("").unwrap();
    assert_eq!(c.cache_stats().misses, 20);
    assert_eq!(c.cache_stats().hits, 0);
    c.save_hash_cache().unwrap();
    drop(c);
    assert!(cache.is_file());

    let c = Context::open(&r, &r.join("Dockerfile"), opts()).unwrap();
    assert_eq!(c.hash("").unwrap(), cold);
    assert_eq!(c.cache_stats().hits, 20, "warm run reads nothing");
    assert_eq!(c.cache_stats().misses, 0);
    drop(c);

    // A changed file (same size) is re-read: its ctime/mtime changed.
    fs::write(r.join("d1/f1"), "CONTENT 1").unwrap();
    let c = Context::open(&r, &r.join("Dockerfile"), opts()).unwrap();
    assert_ne!(c.hash("").unwrap(), cold);
    assert_eq!(c.cache_stats().misses, 1);
    assert_eq!(c.cache_stats().hits, 19);
    drop(c);

    // A corrupt cache is ignored (everything re-read) and rewritten.
    let mut bytes = fs::read(&cache).unwrap();
    let n = bytes.len();
    bytes[n / 2] ^= 0x55;
    fs::write(&cache, &bytes).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(60));
    let c = Context::open(&r, &r.join("Dockerfile"), opts()).unwrap();
    c.hash("").unwrap();
    assert_eq!(c.cache_stats().hits, 0);
    assert_eq!(c.cache_stats().misses, 20);
    drop(c);
    let c = Context::open(&r, &r.join("Dockerfile"), opts()).unwrap();
    c.hash("").unwrap();
    assert_eq!(c.cache_stats().hits, 20, "the rewritten cache is valid");
}

fn tar_with(members: &[(&str, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, body) in members {
        let mut h = tar::Header::new_gnu();
        h.set_size(body.len() as u64);
        h.set_mode(0o640);
        h.set_uid(7);
        h.set_gid(8);
        h.set_mtime(1_600_000_000);
        h.set_entry_type(tar::EntryType::Regular);
        // Write the raw name (no validation) so hostile names can be tested.
        let raw = &mut h.as_old_mut().name;
        raw[..name.len()].copy_from_slice(name.as_bytes());
        h.set_cksum();
        b.append(&h, *body).unwrap();
    }
    b.into_inner().unwrap()
}

#[test]
fn context_from_tar() {
    let t = tempfile::tempdir().unwrap();
    let tar = tar_with(&[
        ("Dockerfile", b"FROM scratch\n"),
        ("Dockerfile.dockerignore", b"secret\n"),
        ("/abs/file", b"abs"),
        ("src/./app.rs", b"fn main() {}"),
        ("secret", b"s"),
    ]);
    let scratch = t.path().join("ctx");
    let c = Context::from_tar(&tar[..], &scratch, "Dockerfile", ContextOptions::default()).unwrap();
    assert_eq!(
        fs::read_to_string(c.dockerfile()).unwrap(),
        "FROM scratch\n"
    );
    assert!(c.is_excluded("secret"));
    let names: Vec<String> = c.walk("").unwrap().into_iter().map(|w| w.rel).collect();
    assert_eq!(
        names,
        [
            "Dockerfile",
            "Dockerfile.dockerignore",
            "abs",
            "abs/file",
            "src",
            "src/app.rs"
        ]
    );
    use std::os::unix::fs::MetadataExt;
    let m = fs::metadata(scratch.join("src/app.rs")).unwrap();
    assert_eq!(
        (m.mode() & 0o7777, m.uid(), m.gid(), m.mtime()),
        (0o640, 7, 8, 1_600_000_000)
    );

    // `..` escapes are refused and nothing lands outside.
    let evil = tar_with(&[("Dockerfile", b"x"), ("../../escaped", b"x")]);
    let e = Context::from_tar(
        &evil[..],
        &t.path().join("ctx2"),
        "Dockerfile",
        ContextOptions::default(),
    )
    .unwrap_err();
    assert!(e.to_string().contains("outside the context"), "{e}");
    assert!(!t.path().join("escaped").exists());

    // Writing through a symlink member is refused.
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Symlink);
    h.set_size(0);
    h.set_mode(0o777);
    b.append_link(&mut h, "link", t.path()).unwrap();
    let mut h = tar::Header::new_gnu();
    h.set_size(1);
    h.set_mode(0o644);
    b.append_data(&mut h, "link/pwned", &b"x"[..]).unwrap();
    let data = b.into_inner().unwrap();
    let e = Context::from_tar(
        &data[..],
        &t.path().join("ctx3"),
        "Dockerfile",
        ContextOptions::default(),
    )
    .unwrap_err();
    assert!(e.to_string().contains("through the symlink"), "{e}");
    assert!(!t.path().join("pwned").exists());

    // A missing Dockerfile is reported by name; a non-empty scratch dir is refused.
    let e = Context::from_tar(
        &tar[..],
        &t.path().join("ctx4"),
        "other/Dockerfile",
        ContextOptions::default(),
    )
    .unwrap_err();
    assert!(matches!(e, ContextError::DockerfileMissing { .. }), "{e}");
    let e =
        Context::from_tar(&tar[..], &scratch, "Dockerfile", ContextOptions::default()).unwrap_err();
    assert!(matches!(e, ContextError::ScratchNotEmpty { .. }), "{e}");
}
