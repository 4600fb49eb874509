//! COPY/ADD planning: the layer entries (path, kind, mode, owner, link
//! target, content) for every rule BuildKit users rely on, built from real
//! files in temporary directories.

use std::collections::BTreeMap;
use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use hoist::context::{Context, ContextOptions};
use hoist::copy::{cache_key_input, plan, AddOptions, CopyError, CopyRequest, SourceRoot};
use hoist::dockerfile::instructions::Source;
use hoist::dockerfile::Heredoc;
use hoist::layer::{Content, Entry, EntryKind};

const NOW: i64 = 1_700_000_000;

fn write(root: &Path, rel: &str, body: &str) {
    let p = root.join(rel);
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(p, body).unwrap();
}

fn chmod(root: &Path, rel: &str, mode: u32) {
    fs::set_permissions(root.join(rel), fs::Permissions::from_mode(mode)).unwrap();
}

fn req(sources: &[&str], dest: &str) -> CopyRequest {
    CopyRequest {
        sources: sources
            .iter()
            .map(|s| Source::Path((*s).to_owned()))
            .collect(),
        dest: dest.to_owned(),
        workdir: "/".to_owned(),
        chown: None,
        chmod: None,
        link: false,
        parents: false,
        exclude: Vec::new(),
        add: None,
    }
}

fn add(sources: &[&str], dest: &str) -> CopyRequest {
    CopyRequest {
        add: Some(AddOptions::default()),
        ..req(sources, dest)
    }
}

/// A test bench: a context dir, a destination rootfs and a scratch dir.
struct Bench {
    _t: tempfile::TempDir,
    ctx: std::path::PathBuf,
    root: std::path::PathBuf,
    scratch: std::path::PathBuf,
}

impl Bench {
    fn new() -> Bench {
        let t = tempfile::tempdir().unwrap();
        let ctx = t.path().join("ctx");
        let root = t.path().join("rootfs");
        let scratch = t.path().join("scratch");
        for d in [&ctx, &root, &scratch] {
            fs::create_dir_all(d).unwrap();
        }
        Bench {
            _t: t,
            ctx,
            root,
            scratch,
        }
    }
    fn context(&self) -> Context {
        Context::open(
            &self.ctx,
            &self.ctx.join("Dockerfile"),
            ContextOptions::default(),
        )
        .unwrap()
    }
    fn plan(&self, r: &CopyRequest) -> Result<Vec<Entry>, CopyError> {
        let c = self.context();
        plan(r, &SourceRoot::Context(&c), &self.root, NOW, &self.scratch)
    }
    fn ok(&self, r: &CopyRequest) -> Vec<Entry> {
        self.plan(r).unwrap_or_else(|e| panic!("plan failed: {e}"))
    }
    fn key(&self, r: &CopyRequest) -> String {
        let c = self.context();
        cache_key_input(r, &SourceRoot::Context(&c), &self.scratch)
            .unwrap()
            .to_string()
    }
}

fn paths(es: &[Entry]) -> Vec<&str> {
    es.iter().map(|e| e.path.as_str()).collect()
}

fn get<'a>(es: &'a [Entry], path: &str) -> &'a Entry {
    es.iter()
        .find(|e| e.path == path)
        .unwrap_or_else(|| panic!("no entry {path:?} in {:?}", paths(es)))
}

fn bytes(e: &Entry) -> Vec<u8> {
    match &e.kind {
        EntryKind::File(Content::Path(p)) => fs::read(p).unwrap(),
        EntryKind::File(Content::Bytes(b)) => b.clone(),
        k => panic!("{} is not a file: {k:?}", e.path),
    }
}

fn text(e: &Entry) -> String {
    String::from_utf8(bytes(e)).unwrap()
}

fn meta(e: &Entry) -> (u32, u32, u32) {
    (e.mode, e.uid, e.gid)
}

#[test]
fn globs_follow_go_filepath_match() {
    let b = Bench::new();
    for f in [
        "a.txt",
        "b.txt",
        "c.md",
        "ab.txt",
        "x1",
        "x2",
        "y1",
        "[lit].txt",
        "d/inner.txt",
    ] {
        write(&b.ctx, f, f);
    }
    let es = b.ok(&req(&["*.txt"], "/out/"));
    assert_eq!(
        paths(&es),
        [
            "out",
            "out/[lit].txt",
            "out/a.txt",
            "out/ab.txt",
            "out/b.txt"
        ]
    );
    assert_eq!(text(get(&es, "out/a.txt")), "a.txt");
    let es = b.ok(&req(&["?.txt"], "/out/"));
    assert_eq!(paths(&es), ["out", "out/a.txt", "out/b.txt"]);
    let es = b.ok(&req(&["[x-y]1"], "/out/"));
    assert_eq!(paths(&es), ["out", "out/x1", "out/y1"]);
    let es = b.ok(&req(&["x[^1]"], "/out/"));
    assert_eq!(paths(&es), ["out", "out/x2"]);
    // The documented way to name `[`: a class holding it.
    let es = b.ok(&req(&["[[]lit].txt"], "/out/"));
    assert_eq!(paths(&es), ["out", "out/[lit].txt"]);
    // An escaped `?` is not a wildcard: the path is taken literally (and missing).
    assert!(b.plan(&req(&["\\?.txt"], "/out/")).is_err());
    // `*` does not cross `/`; a wildcard in a directory component works.
    let es = b.ok(&req(&["*/*.txt"], "/out/"));
    assert_eq!(paths(&es), ["out", "out/inner.txt"]);
    // An empty wildcard selects nothing (BuildKit), but its directory must exist.
    assert!(b.ok(&req(&["*.none"], "/out/")).is_empty());
    let e = b.plan(&req(&["nodir/*.txt"], "/out/")).unwrap_err();
    assert!(
        e.to_string().contains("stat nodir: file does not exist"),
        "{e}"
    );
    // A bad pattern names the source.
    let e = b.plan(&req(&["a[.txt"], "/out/")).unwrap_err();
    assert!(e.to_string().contains("a[.txt"), "{e}");
}

#[test]
fn missing_source_error_names_it() {
    let b = Bench::new();
    let e = b.plan(&req(&["nope.txt"], "/x")).unwrap_err();
    assert_eq!(
        e.to_string(),
        "COPY failed: file not found in build context or excluded by .dockerignore: stat nope.txt: file does not exist"
    );
}

#[test]
fn directory_contents_merge_into_dest() {
    let b = Bench::new();
    write(&b.ctx, "src/a.txt", "a");
    write(&b.ctx, "src/sub/b.txt", "b");
    chmod(&b.ctx, "src/sub", 0o750);
    // dest_root already has /app with other metadata and a file.
    fs::create_dir_all(b.root.join("app/sub")).unwrap();
    chmod(&b.root, "app", 0o700);
    std::os::unix::fs::lchown(b.root.join("app"), Some(1000), Some(1001)).unwrap();
    let es = b.ok(&req(&["src"], "/app"));
    assert_eq!(paths(&es), ["app", "app/a.txt", "app/sub", "app/sub/b.txt"]);
    // The existing destination keeps its metadata (not re-owned, not
    // re-moded); an existing directory below it takes the source's
    // (BuildKit overwrites merged sub-directories' metadata).
    assert_eq!(meta(get(&es, "app")), (0o700, 1000, 1001));
    assert_eq!(
        meta(get(&es, "app/sub")),
        (0o750, 0, 0),
        "existing app/sub takes the source's mode and owner"
    );
    assert_eq!(meta(get(&es, "app/sub/b.txt")), (0o644, 0, 0));
    // Into an empty rootfs: the source sub-directory keeps its mode; the
    // destination itself is created 0755.
    let b2 = Bench::new();
    write(&b2.ctx, "src/sub/b.txt", "b");
    chmod(&b2.ctx, "src/sub", 0o750);
    let es = b2.ok(&req(&["src/"], "/app/"));
    assert_eq!(paths(&es), ["app", "app/sub", "app/sub/b.txt"]);
    assert_eq!(meta(get(&es, "app")), (0o755, 0, 0));
    assert_eq!(get(&es, "app").mtime, NOW);
    assert_eq!(meta(get(&es, "app/sub")), (0o750, 0, 0));
    // The context root itself.
    let es = b2.ok(&req(&["."], "/"));
    assert_eq!(paths(&es), ["src", "src/sub", "src/sub/b.txt"]);
}

#[test]
fn destination_rules() {
    let b = Bench::new();
    write(&b.ctx, "f.txt", "f");
    write(&b.ctx, "g.txt", "g");
    // Trailing slash: into the directory.
    let es = b.ok(&req(&["f.txt"], "/dst/"));
    assert_eq!(paths(&es), ["dst", "dst/f.txt"]);
    // No trailing slash: the destination is the file.
    let es = b.ok(&req(&["f.txt"], "/dst"));
    assert_eq!(paths(&es), ["dst"]);
    assert_eq!(text(get(&es, "dst")), "f");
    // An existing directory without trailing slash: into it.
    fs::create_dir(b.root.join("exists")).unwrap();
    let es = b.ok(&req(&["f.txt"], "/exists"));
    assert_eq!(paths(&es), ["exists", "exists/f.txt"]);
    // Several sources need a trailing slash.
    let e = b.plan(&req(&["f.txt", "g.txt"], "/dst")).unwrap_err();
    assert!(
        e.to_string().starts_with("When using COPY with more than one source file, the destination must be a directory and end with a /"),
        "{e}"
    );
    let e = b.plan(&req(&["*.txt"], "/dst")).unwrap_err();
    assert!(matches!(e, CopyError::DestNotDir { .. }), "{e}");
    assert_eq!(
        paths(&b.ok(&req(&["f.txt", "g.txt"], "/dst/"))),
        ["dst", "dst/f.txt", "dst/g.txt"]
    );
    // Relative destination: below WORKDIR, missing parents created 0755 0:0.
    let mut r = req(&["f.txt"], "rel/");
    r.workdir = "/usr/src/app".to_owned();
    let es = b.ok(&r);
    assert_eq!(
        paths(&es),
        [
            "usr",
            "usr/src",
            "usr/src/app",
            "usr/src/app/rel",
            "usr/src/app/rel/f.txt"
        ]
    );
    for d in ["usr", "usr/src", "usr/src/app", "usr/src/app/rel"] {
        assert_eq!(meta(get(&es, d)), (0o755, 0, 0), "{d}");
        assert_eq!(get(&es, d).kind, EntryKind::Dir);
        assert_eq!(get(&es, d).mtime, NOW);
    }
    let mut r = req(&["f.txt"], ".");
    r.workdir = "/w".to_owned();
    assert_eq!(paths(&b.ok(&r)), ["w", "w/f.txt"]);
    // A file onto an existing directory inside a copied tree is an error.
    write(&b.ctx, "tree/f.txt", "x");
    fs::create_dir_all(b.root.join("t/f.txt")).unwrap();
    let e = b.plan(&req(&["tree"], "/t")).unwrap_err();
    assert!(matches!(e, CopyError::ReplaceDir { .. }), "{e}");
    // A directory onto an existing file is an error.
    write(&b.root, "file", "x");
    let e = b.plan(&req(&["tree"], "/file")).unwrap_err();
    assert!(matches!(e, CopyError::NotADirectory { .. }), "{e}");
}

#[test]
fn chown_creates_parents_with_owner_and_keeps_existing() {
    let b = Bench::new();
    write(&b.ctx, "f", "f");
    write(&b.ctx, "d/g", "g");
    fs::create_dir_all(b.root.join("opt")).unwrap();
    chmod(&b.root, "opt", 0o711);
    let mut r = req(&["f"], "/opt/a/b/");
    r.chown = Some("10:20".into());
    let es = b.ok(&r);
    assert_eq!(paths(&es), ["opt", "opt/a", "opt/a/b", "opt/a/b/f"]);
    assert_eq!(
        meta(get(&es, "opt")),
        (0o711, 0, 0),
        "existing: not re-owned or re-moded"
    );
    assert_eq!(meta(get(&es, "opt/a")), (0o755, 10, 20));
    assert_eq!(meta(get(&es, "opt/a/b")), (0o755, 10, 20));
    assert_eq!(meta(get(&es, "opt/a/b/f")), (0o644, 10, 20));
    // Numeric user only: gid = uid.
    r.chown = Some("33".into());
    let es = b.ok(&r);
    assert_eq!(meta(get(&es, "opt/a/b/f")), (0o644, 33, 33));
}

#[test]
fn chown_names_from_rootfs_passwd_and_group() {
    let b = Bench::new();
    write(&b.ctx, "f", "f");
    write(
        &b.root,
        "etc/passwd",
        "root:x:0:0:root:/root:/bin/sh\n# comment\napp:x:1000:1500:App:/home/app:/bin/sh\n",
    );
    write(
        &b.root,
        "etc/group",
        "root:x:0:\nstaff:x:50:\napp:x:1500:\n",
    );
    let mut r = req(&["f"], "/f");
    r.chown = Some("app".into());
    assert_eq!(
        meta(get(&b.ok(&r), "f")),
        (0o644, 1000, 1500),
        "user only: primary group"
    );
    r.chown = Some("app:staff".into());
    assert_eq!(meta(get(&b.ok(&r), "f")), (0o644, 1000, 50));
    r.chown = Some("7:staff".into());
    assert_eq!(meta(get(&b.ok(&r), "f")), (0o644, 7, 50));
    r.chown = Some("nobody".into());
    let e = b.plan(&r).unwrap_err();
    assert!(
        e.to_string()
            .contains("unable to find user nobody: no matching entries in passwd file"),
        "{e}"
    );
    assert!(e.to_string().contains("--chown=nobody"), "{e}");
    r.chown = Some("app:wheel".into());
    let e = b.plan(&r).unwrap_err();
    assert!(e.to_string().contains("unable to find group wheel"), "{e}");
    // passwd through a symlink that points outside the rootfs: resolved inside.
    let b2 = Bench::new();
    write(&b2.ctx, "f", "f");
    write(&b2.root, "real/passwd", "svc:x:42:43::/:/bin/false\n");
    fs::create_dir_all(b2.root.join("etc")).unwrap();
    std::os::unix::fs::symlink("/../../../../real/passwd", b2.root.join("etc/passwd")).unwrap();
    let mut r = req(&["f"], "/f");
    r.chown = Some("svc".into());
    assert_eq!(meta(get(&b2.ok(&r), "f")), (0o644, 42, 43));
    // --link: an empty rootfs has no names.
    let b3 = Bench::new();
    write(&b3.ctx, "f", "f");
    let mut r = req(&["f"], "/f");
    r.link = true;
    r.chown = Some("app".into());
    assert!(b3.plan(&r).is_err());
    r.chown = Some("1:2".into());
    assert_eq!(meta(get(&b3.ok(&r), "f")), (0o644, 1, 2));
}

#[test]
fn chmod_octal_symbolic_invalid() {
    let b = Bench::new();
    write(&b.ctx, "d/run.sh", "#!/bin/sh");
    write(&b.ctx, "d/data", "x");
    chmod(&b.ctx, "d/run.sh", 0o744);
    chmod(&b.ctx, "d/data", 0o600);
    let mut r = req(&["d"], "/app/");
    r.chmod = Some("640".into());
    let es = b.ok(&r);
    assert_eq!(get(&es, "app/run.sh").mode, 0o640);
    assert_eq!(get(&es, "app/data").mode, 0o640);
    assert_eq!(
        get(&es, "app").mode,
        0o755,
        "created destination is not chmodded"
    );
    r.chmod = Some("u=rwX,go=rX".into());
    let es = b.ok(&r);
    assert_eq!(get(&es, "app/run.sh").mode, 0o755);
    assert_eq!(get(&es, "app/data").mode, 0o644);
    r.chmod = Some("+x".into());
    assert_eq!(get(&b.ok(&r), "app/data").mode, 0o711);
    write(&b.ctx, "d/sub/x", "x");
    chmod(&b.ctx, "d/sub", 0o700);
    r.chmod = Some("go=rX".into());
    assert_eq!(
        get(&b.ok(&r), "app/sub").mode,
        0o755,
        "X applies to directories"
    );
    r.chmod = Some("u+q".into());
    let e = b.plan(&r).unwrap_err();
    assert!(e.to_string().contains("--chmod=u+q"), "{e}");
    r.chmod = Some("999".into());
    assert!(b.plan(&r).is_err());
}

#[test]
fn symlinks_top_level_followed_inner_kept() {
    let b = Bench::new();
    write(&b.ctx, "real.txt", "real");
    write(&b.ctx, "dir/target.txt", "t");
    std::os::unix::fs::symlink("real.txt", b.ctx.join("link.txt")).unwrap();
    std::os::unix::fs::symlink("target.txt", b.ctx.join("dir/inner")).unwrap();
    std::os::unix::fs::symlink("/nowhere/at/all", b.ctx.join("dir/dangling")).unwrap();
    std::os::unix::fs::symlink("dir", b.ctx.join("dirlink")).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", b.ctx.join("hostlink")).unwrap();
    // Top-level: dereferenced, named after the link.
    let es = b.ok(&req(&["link.txt"], "/out/"));
    let e = get(&es, "out/link.txt");
    assert!(matches!(e.kind, EntryKind::File(_)));
    assert_eq!(text(e), "real");
    // Inner: kept as links, dangling ones too.
    let es = b.ok(&req(&["dirlink"], "/out/"));
    assert_eq!(
        paths(&es),
        ["out", "out/dangling", "out/inner", "out/target.txt"]
    );
    assert_eq!(
        get(&es, "out/inner").kind,
        EntryKind::Symlink("target.txt".into())
    );
    assert_eq!(
        get(&es, "out/dangling").kind,
        EntryKind::Symlink("/nowhere/at/all".into())
    );
    assert_eq!(get(&es, "out/dangling").mode, 0o777);
    // A top-level link to a host path resolves inside the context: not found.
    let e = b.plan(&req(&["hostlink"], "/x")).unwrap_err();
    assert!(e.to_string().contains("hostlink"), "{e}");
}

#[test]
fn hardlinks_are_preserved_and_sockets_skipped() {
    let b = Bench::new();
    write(&b.ctx, "d/a", "same");
    fs::hard_link(b.ctx.join("d/a"), b.ctx.join("d/b")).unwrap();
    fs::hard_link(b.ctx.join("d/a"), b.ctx.join("d/c")).unwrap();
    let _sock = std::os::unix::net::UnixListener::bind(b.ctx.join("d/sock")).unwrap();
    let es = b.ok(&req(&["d"], "/x/"));
    assert_eq!(paths(&es), ["x", "x/a", "x/b", "x/c"]);
    assert!(matches!(get(&es, "x/a").kind, EntryKind::File(_)));
    assert_eq!(get(&es, "x/b").kind, EntryKind::Hardlink("x/a".into()));
    assert_eq!(get(&es, "x/c").kind, EntryKind::Hardlink("x/a".into()));
}

#[test]
fn dotdot_never_escapes_the_context() {
    let b = Bench::new();
    write(b.ctx.parent().unwrap(), "outside.txt", "secret");
    write(&b.ctx, "inside.txt", "ok");
    let e = b.plan(&req(&["../outside.txt"], "/x")).unwrap_err();
    assert!(
        e.to_string()
            .contains("stat outside.txt: file does not exist"),
        "{e}"
    );
    // `..` is clamped at the root: ../../inside.txt is the context's inside.txt.
    let es = b.ok(&req(&["../../inside.txt"], "/x"));
    assert_eq!(text(get(&es, "x")), "ok");
    let es = b.ok(&req(&["/inside.txt"], "/y"));
    assert_eq!(text(get(&es, "y")), "ok");
    // The destination cannot climb out of the image either.
    let es = b.ok(&req(&["inside.txt"], "/../../z"));
    assert_eq!(paths(&es), ["z"]);
}

#[test]
fn excluded_files_are_invisible() {
    let b = Bench::new();
    write(&b.ctx, "app/main.rs", "m");
    write(&b.ctx, "app/secret.key", "k");
    write(&b.ctx, "secret.env", "e");
    write(&b.ctx, "logs/a.log", "a");
    write(&b.ctx, "logs/keep.log", "k");
    write(
        &b.ctx,
        ".dockerignore",
        "*.env\n**/*.key\nlogs\n!logs/keep.log\n",
    );
    let e = b.plan(&req(&["secret.env"], "/x")).unwrap_err();
    assert!(e.to_string().contains("excluded by .dockerignore"), "{e}");
    assert!(b.ok(&req(&["*.env"], "/x/")).is_empty());
    let es = b.ok(&req(&["."], "/"));
    assert_eq!(
        paths(&es),
        [
            ".dockerignore",
            "app",
            "app/main.rs",
            "logs",
            "logs/keep.log"
        ]
    );
    let es = b.ok(&req(&["logs"], "/l/"));
    assert_eq!(paths(&es), ["l", "l/keep.log"]);
}

#[test]
fn parents_keep_structure_with_pivot() {
    let b = Bench::new();
    write(&b.ctx, "x/a.txt", "xa");
    write(&b.ctx, "y/a.txt", "ya");
    write(&b.ctx, "x/y/a.txt", "xya");
    write(&b.ctx, "x/y/b.txt", "xyb");
    write(&b.ctx, "src/a.txt", "1");
    write(&b.ctx, "src/x/b.txt", "2");
    write(&b.ctx, "src/x/y/c.txt", "3");
    chmod(&b.ctx, "x", 0o750);
    let mut r = req(&["./x/a.txt", "./y/a.txt"], "/parents/");
    r.parents = true;
    let es = b.ok(&r);
    assert_eq!(
        paths(&es),
        [
            "parents",
            "parents/x",
            "parents/x/a.txt",
            "parents/y",
            "parents/y/a.txt"
        ]
    );
    assert_eq!(
        get(&es, "parents/x").mode,
        0o750,
        "parents below the pivot keep source metadata"
    );
    assert_eq!(text(get(&es, "parents/y/a.txt")), "ya");
    let mut r = req(&["./x/./y/*.txt"], "/parents/");
    r.parents = true;
    assert_eq!(
        paths(&b.ok(&r)),
        ["parents", "parents/y", "parents/y/a.txt", "parents/y/b.txt"]
    );
    let mut r = req(&["./src/**/*.txt"], "/p/");
    r.parents = true;
    assert_eq!(
        paths(&b.ok(&r)),
        [
            "p",
            "p/src",
            "p/src/a.txt",
            "p/src/x",
            "p/src/x/b.txt",
            "p/src/x/y",
            "p/src/x/y/c.txt"
        ]
    );
    // Without --parents the same sources collide on one name.
    let es = b.ok(&req(&["./x/a.txt", "./y/a.txt"], "/no_parents/"));
    assert_eq!(paths(&es), ["no_parents", "no_parents/a.txt"]);
    assert_eq!(text(get(&es, "no_parents/a.txt")), "ya");
}

#[test]
fn exclude_flag_drops_matches() {
    let b = Bench::new();
    for f in [
        "home.txt",
        "home.md",
        "homer.rs",
        "hom/a.txt",
        "hom/b.rs",
        "hom/sub/c.txt",
    ] {
        write(&b.ctx, f, f);
    }
    let mut r = req(&["hom*"], "/mydir/");
    r.exclude = vec!["*.txt".into()];
    let es = b.ok(&r);
    assert_eq!(
        paths(&es),
        [
            "mydir",
            "mydir/b.rs",
            "mydir/sub",
            "mydir/sub/c.txt",
            "mydir/home.md",
            "mydir/homer.rs"
        ]
    );
    r.exclude = vec!["*.txt".into(), "*.md".into(), "**/*.txt".into()];
    let es = b.ok(&r);
    assert_eq!(
        paths(&es),
        ["mydir", "mydir/b.rs", "mydir/sub", "mydir/homer.rs"]
    );
    r.exclude = vec!["!".into()];
    assert!(b.plan(&r).is_err());
}

fn heredoc(name: &str, content: &str) -> Source {
    Source::Heredoc(Heredoc {
        name: name.into(),
        file_descriptor: 0,
        expand: true,
        chomp: false,
        content: content.into(),
    })
}

#[test]
fn heredoc_sources_become_files() {
    let b = Bench::new();
    let mut r = req(&[], "/etc/app.conf");
    r.sources = vec![heredoc("EOF", "key=value\n")];
    let es = b.ok(&r);
    assert_eq!(paths(&es), ["etc", "etc/app.conf"]);
    let f = get(&es, "etc/app.conf");
    assert_eq!(
        (meta(f), text(f), f.mtime),
        ((0o644, 0, 0), "key=value\n".to_owned(), NOW)
    );
    r.chmod = Some("755".into());
    r.dest = "/bin/".into();
    r.sources = vec![heredoc("run", "#!/bin/sh\n"), heredoc("other", "x\n")];
    let es = b.ok(&r);
    assert_eq!(paths(&es), ["bin", "bin/run", "bin/other"]);
    assert_eq!(get(&es, "bin/run").mode, 0o755);
}

#[test]
fn copy_from_rootfs_keeps_owners() {
    let b = Bench::new();
    let stage = b.ctx.parent().unwrap().join("stage");
    write(&stage, "app/bin", "elf");
    std::os::unix::fs::lchown(stage.join("app/bin"), Some(500), Some(501)).unwrap();
    chmod(&stage, "app/bin", 0o4755);
    let r = req(&["/app/bin"], "/usr/bin/");
    let es = plan(&r, &SourceRoot::Dir(&stage), &b.root, NOW, &b.scratch).unwrap();
    assert_eq!(meta(get(&es, "usr/bin/bin")), (0o4755, 500, 501));
    // From the context, owners become 0:0.
    write(&b.ctx, "f", "x");
    std::os::unix::fs::lchown(b.ctx.join("f"), Some(500), Some(501)).unwrap();
    assert_eq!(meta(get(&b.ok(&req(&["f"], "/f")), "f")), (0o644, 0, 0));
}

#[test]
fn dest_symlinks_resolve_inside_the_rootfs() {
    let b = Bench::new();
    write(&b.ctx, "tool", "t");
    fs::create_dir_all(b.root.join("usr/local")).unwrap();
    fs::create_dir_all(b.root.join("opt/bin")).unwrap();
    std::os::unix::fs::symlink("/opt/bin", b.root.join("usr/local/bin")).unwrap();
    let es = b.ok(&req(&["tool"], "/usr/local/bin/"));
    assert_eq!(paths(&es), ["opt", "opt/bin", "opt/bin/tool"]);
    // A link that points outside the rootfs (on the host) stays inside.
    let host = b.ctx.parent().unwrap().join("host-target");
    fs::create_dir_all(&host).unwrap();
    std::os::unix::fs::symlink(&host, b.root.join("evil")).unwrap();
    std::os::unix::fs::symlink("../../../../../../tmp", b.root.join("evil2")).unwrap();
    let es = b.ok(&req(&["tool"], "/evil/"));
    let want: String = host.to_str().unwrap().trim_start_matches('/').to_owned();
    assert_eq!(es.last().unwrap().path, format!("{want}/tool"));
    assert!(!host.join("tool").exists());
    let es = b.ok(&req(&["tool"], "/evil2/x"));
    assert_eq!(paths(&es), ["tmp", "tmp/x"]);
    assert_eq!(
        get(&es, "tmp").mode,
        0o755,
        "created inside the image, not the host /tmp"
    );
}

fn make_tar() -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Directory);
    h.set_mode(0o750);
    h.set_uid(3);
    h.set_gid(4);
    h.set_mtime(1234);
    h.set_size(0);
    b.append_data(&mut h, "pkg/", &b""[..]).unwrap();
    let mut h = tar::Header::new_gnu();
    h.set_mode(0o640);
    h.set_uid(3);
    h.set_gid(4);
    h.set_mtime(1234);
    h.set_size(5);
    b.append_data(&mut h, "pkg/file", &b"hello"[..]).unwrap();
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Symlink);
    h.set_mode(0o777);
    h.set_size(0);
    b.append_link(&mut h, "pkg/link", "file").unwrap();
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Link);
    h.set_mode(0o640);
    h.set_size(0);
    b.append_link(&mut h, "pkg/hard", "pkg/file").unwrap();
    let mut h = tar::Header::new_gnu();
    h.set_mode(0o644);
    h.set_size(1);
    b.append_data(&mut h, "pkg/.wh.notawhiteout", &b"w"[..])
        .unwrap();
    b.into_inner().unwrap()
}

fn compress(kind: &str, raw: &[u8]) -> Vec<u8> {
    match kind {
        "tar" => raw.to_vec(),
        "gz" => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            e.write_all(raw).unwrap();
            e.finish().unwrap()
        }
        "bz2" => {
            let mut e = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::default());
            e.write_all(raw).unwrap();
            e.finish().unwrap()
        }
        "xz" => {
            let mut e = liblzma::write::XzEncoder::new(Vec::new(), 6);
            e.write_all(raw).unwrap();
            e.finish().unwrap()
        }
        "zst" => zstd::encode_all(raw, 3).unwrap(),
        _ => unreachable!(),
    }
}

#[test]
fn add_extracts_local_archives_of_every_compression() {
    let raw = make_tar();
    for kind in ["tar", "gz", "bz2", "xz", "zst"] {
        let b = Bench::new();
        // The name says nothing: detection is by content.
        fs::write(b.ctx.join("archive.bin"), compress(kind, &raw)).unwrap();
        let es = b.ok(&add(&["archive.bin"], "/opt"));
        assert_eq!(
            paths(&es),
            [
                "opt",
                "opt/pkg",
                "opt/pkg/file",
                "opt/pkg/link",
                "opt/pkg/hard",
                "opt/pkg/.wh.notawhiteout"
            ],
            "{kind}"
        );
        assert_eq!(meta(get(&es, "opt/pkg")), (0o750, 3, 4), "{kind}");
        assert_eq!(get(&es, "opt/pkg").mtime, 1234);
        let f = get(&es, "opt/pkg/file");
        assert_eq!(
            (meta(f), text(f)),
            ((0o640, 3, 4), "hello".to_owned()),
            "{kind}"
        );
        assert_eq!(
            get(&es, "opt/pkg/link").kind,
            EntryKind::Symlink("file".into())
        );
        assert_eq!(
            get(&es, "opt/pkg/hard").kind,
            EntryKind::Hardlink("opt/pkg/file".into())
        );
        assert_eq!(text(get(&es, "opt/pkg/.wh.notawhiteout")), "w");
        // --chown applies to the members.
        let mut r = add(&["archive.bin"], "/opt/");
        r.chown = Some("9:9".into());
        assert_eq!(meta(get(&b.ok(&r), "opt/pkg/file")), (0o640, 9, 9));
        // --unpack=false: the archive is copied as a file.
        let mut r = add(&["archive.bin"], "/opt/");
        r.add.as_mut().unwrap().unpack = Some(false);
        let es = b.ok(&r);
        assert_eq!(paths(&es), ["opt", "opt/archive.bin"], "{kind}");
        // COPY never extracts.
        assert_eq!(
            paths(&b.ok(&req(&["archive.bin"], "/opt/"))),
            ["opt", "opt/archive.bin"]
        );
    }
    // A non-archive (even named .tar.gz) is a plain file.
    let b = Bench::new();
    write(&b.ctx, "fake.tar.gz", "not an archive at all");
    assert_eq!(
        paths(&b.ok(&add(&["fake.tar.gz"], "/x/"))),
        ["x", "x/fake.tar.gz"]
    );
    write(&b.ctx, "empty.tar", "");
    assert_eq!(
        paths(&b.ok(&add(&["empty.tar"], "/x/"))),
        ["x", "x/empty.tar"]
    );
}

#[test]
fn add_archive_members_cannot_escape() {
    let b = Bench::new();
    let mut tb = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_mode(0o644);
    h.set_size(1);
    let name = b"../../etc/evil";
    h.as_old_mut().name[..name.len()].copy_from_slice(name);
    h.set_cksum();
    tb.append(&h, &b"x"[..]).unwrap();
    fs::write(b.ctx.join("evil.tar"), tb.into_inner().unwrap()).unwrap();
    let e = b.plan(&add(&["evil.tar"], "/opt/")).unwrap_err();
    assert!(e.to_string().contains("outside the destination"), "{e}");
    // An absolute member name stays under the destination.
    let mut tb = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_mode(0o644);
    h.set_size(1);
    let name = b"/etc/abs";
    h.as_old_mut().name[..name.len()].copy_from_slice(name);
    h.set_cksum();
    tb.append(&h, &b"x"[..]).unwrap();
    fs::write(b.ctx.join("abs.tar"), tb.into_inner().unwrap()).unwrap();
    assert_eq!(
        paths(&b.ok(&add(&["abs.tar"], "/opt/"))),
        ["opt", "opt/etc", "opt/etc/abs"]
    );
    // Members under a merged-/usr style symlink of the rootfs land where it points.
    fs::create_dir_all(b.root.join("usr/bin")).unwrap();
    std::os::unix::fs::symlink("usr/bin", b.root.join("bin")).unwrap();
    let mut tb = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_mode(0o755);
    h.set_size(1);
    tb.append_data(&mut h, "bin/tool", &b"x"[..]).unwrap();
    fs::write(b.ctx.join("bin.tar"), tb.into_inner().unwrap()).unwrap();
    assert_eq!(
        paths(&b.ok(&add(&["bin.tar"], "/"))),
        ["usr", "usr/bin", "usr/bin/tool"]
    );
}

/// Serves one fixed response per connection; returns the base URL.
fn serve(body: &'static [u8], last_modified: &'static str) -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { continue };
            let mut buf = [0u8; 4096];
            let mut got = Vec::new();
            while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                match s.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => got.extend_from_slice(&buf[..n]),
                }
            }
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nLast-Modified: {last_modified}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = s.write_all(head.as_bytes());
            let _ = s.write_all(body);
        }
    });
    format!("http://{addr}")
}

#[test]
fn add_url_downloads_with_mode_mtime_name_and_checksum() {
    let b = Bench::new();
    let base = serve(b"downloaded bytes", "Sun, 06 Nov 1994 08:49:37 GMT");
    let url = format!("{base}/files/tool-1.0.bin?token=x");
    let es = b.ok(&add(&[&url], "/dl/"));
    assert_eq!(paths(&es), ["dl", "dl/tool-1.0.bin"]);
    let f = get(&es, "dl/tool-1.0.bin");
    assert_eq!(
        (meta(f), f.mtime, text(f)),
        ((0o600, 0, 0), 784111777, "downloaded bytes".to_owned())
    );
    // No trailing slash: the destination is the file name.
    let es = b.ok(&add(&[&url], "/opt/tool"));
    assert_eq!(paths(&es), ["opt", "opt/tool"]);
    // --chmod and --chown apply.
    let mut r = add(&[&url], "/opt/tool");
    r.chmod = Some("755".into());
    r.chown = Some("1:1".into());
    assert_eq!(meta(get(&b.ok(&r), "opt/tool")), (0o755, 1, 1));
    // Checksums: right one passes, wrong one fails naming both digests.
    let good = hoist::digest::Digest::of(b"downloaded bytes").to_string();
    let mut r = add(&[&url], "/opt/tool");
    r.add.as_mut().unwrap().checksum = Some(good.clone());
    b.ok(&r);
    let bad = hoist::digest::Digest::of(b"other").to_string();
    r.add.as_mut().unwrap().checksum = Some(bad.clone());
    let e = b.plan(&r).unwrap_err();
    assert!(
        e.to_string().contains("checksum mismatch")
            && e.to_string().contains(&bad)
            && e.to_string().contains(&good),
        "{e}"
    );
    r.add.as_mut().unwrap().checksum = Some("md5:abc".into());
    assert!(b.plan(&r).is_err());
    // The cache key covers the content, not the Last-Modified time.
    let k1 = b.key(&add(&[&url], "/opt/tool"));
    let b2 = Bench::new();
    let base2 = serve(b"downloaded bytes", "Mon, 07 Nov 1994 08:49:37 GMT");
    let k2 = b2.key(&add(
        &[&format!("{base2}/files/tool-1.0.bin?token=x")],
        "/opt/tool",
    ));
    assert_ne!(k1, k2, "the URL is a selector");
    // COPY refuses URLs.
    let e = b.plan(&req(&[&url], "/x")).unwrap_err();
    assert!(e.to_string().contains("use ADD"), "{e}");
}

#[test]
fn add_url_archives_are_not_extracted_by_default() {
    let b = Bench::new();
    let tarball: &'static [u8] = Box::leak(compress("gz", &make_tar()).into_boxed_slice());
    let base = serve(tarball, "Sun, 06 Nov 1994 08:49:37 GMT");
    let url = format!("{base}/pkg.tar.gz");
    assert_eq!(paths(&b.ok(&add(&[&url], "/dl/"))), ["dl", "dl/pkg.tar.gz"]);
    let mut r = add(&[&url], "/dl/");
    r.add.as_mut().unwrap().unpack = Some(true);
    let es = b.ok(&r);
    assert!(paths(&es).contains(&"dl/pkg/file"), "{:?}", paths(&es));
}

#[test]
fn add_git_clones_a_repository() {
    if !std::process::Command::new("git")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
    {
        eprintln!("skipping add_git_clones_a_repository: git is not installed");
        return;
    }
    let b = Bench::new();
    let repo = b.ctx.parent().unwrap().join("repo.git");
    fs::create_dir_all(&repo).unwrap();
    let git = |args: &[&str]| {
        let o = std::process::Command::new("git")
            .args([
                "-c",
                "user.name=t",
                "-c",
                "user.email=t@t",
                "-c",
                "init.defaultBranch=main",
            ])
            .args(args)
            .current_dir(&repo)
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).trim().to_owned()
    };
    git(&["init", "-q"]);
    write(&repo, "README", "readme");
    write(&repo, "bin/run.sh", "#!/bin/sh\n");
    chmod(&repo, "bin/run.sh", 0o775);
    write(&repo, "docs/guide.md", "guide");
    git(&["add", "."]);
    git(&["commit", "-q", "-m", "one"]);
    git(&["tag", "v1"]);
    let commit = git(&["rev-parse", "HEAD"]);
    let url = format!("file://{}", repo.display());
    let es = b.ok(&add(&[&url], "/src/"));
    assert_eq!(
        paths(&es),
        [
            "src",
            "src/README",
            "src/bin",
            "src/bin/run.sh",
            "src/docs",
            "src/docs/guide.md"
        ]
    );
    assert_eq!(meta(get(&es, "src/README")), (0o644, 0, 0));
    assert_eq!(meta(get(&es, "src/bin/run.sh")), (0o755, 0, 0));
    assert_eq!(meta(get(&es, "src/bin")), (0o755, 0, 0));
    assert_eq!(text(get(&es, "src/docs/guide.md")), "guide");
    // A ref and a subdirectory; --keep-git-dir; --checksum is a commit prefix.
    let es = b.ok(&add(&[&format!("{url}#v1:docs")], "/d/"));
    assert_eq!(paths(&es), ["d", "d/guide.md"]);
    let mut r = add(&[&url], "/k/");
    r.add.as_mut().unwrap().keep_git_dir = true;
    assert!(paths(&b.ok(&r)).contains(&"k/.git"));
    let mut r = add(&[&url], "/c/");
    r.add.as_mut().unwrap().checksum = Some(commit[..10].to_owned());
    b.ok(&r);
    r.add.as_mut().unwrap().checksum = Some("0000000".into());
    let e = b.plan(&r).unwrap_err();
    assert!(e.to_string().contains("checksum mismatch"), "{e}");
    // The cache key is the resolved commit: a new commit changes it.
    let k1 = b.key(&add(&[&url], "/src/"));
    write(&repo, "README", "changed");
    git(&["commit", "-q", "-am", "two"]);
    let b2 = Bench::new();
    assert_ne!(k1, b2.key(&add(&[&url], "/src/")));
}

#[test]
fn cache_key_ignores_mtime_but_not_mode_content_or_names() {
    let b = Bench::new();
    write(&b.ctx, "src/a.txt", "a");
    write(&b.ctx, "src/b.txt", "b");
    let r = req(&["src/*.txt"], "/app/");
    let k0 = b.key(&r);
    let tv = nix::sys::time::TimeVal::new(42, 0);
    nix::sys::stat::lutimes(&b.ctx.join("src/a.txt"), &tv, &tv).unwrap();
    assert_eq!(b.key(&r), k0, "touch keeps the key");
    chmod(&b.ctx, "src/a.txt", 0o755);
    let k1 = b.key(&r);
    assert_ne!(k1, k0, "chmod changes the key");
    chmod(&b.ctx, "src/a.txt", 0o644);
    assert_eq!(b.key(&r), k0);
    fs::write(b.ctx.join("src/a.txt"), "A").unwrap();
    assert_ne!(b.key(&r), k0, "content changes the key");
    fs::write(b.ctx.join("src/a.txt"), "a").unwrap();
    fs::rename(b.ctx.join("src/b.txt"), b.ctx.join("src/c.txt")).unwrap();
    assert_ne!(b.key(&r), k0, "renaming a wildcard match changes the key");
    fs::rename(b.ctx.join("src/c.txt"), b.ctx.join("src/b.txt")).unwrap();
    assert_eq!(b.key(&r), k0);
    let mut r2 = r.clone();
    r2.chown = Some("1".into());
    assert_ne!(b.key(&r2), k0, "flags are selectors");
    let mut r3 = r.clone();
    r3.dest = "/other/".into();
    assert_ne!(b.key(&r3), k0);
    let mut r4 = r.clone();
    r4.sources = vec![heredoc("EOF", "x")];
    let mut r5 = r.clone();
    r5.sources = vec![heredoc("EOF", "y")];
    assert_ne!(b.key(&r4), b.key(&r5));
    let _ = BTreeMap::<String, Vec<u8>>::new();
}
