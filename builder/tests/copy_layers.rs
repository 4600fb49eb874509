//! COPY and ADD end to end through the `hoist` binary: every semantic of
//! issue #5 (sources, destinations, `--from`, `--chown`, `--chmod`,
//! `--link`, `--parents`, `--exclude`, symlinks, hardlinks, xattrs, ADD
//! archives, URLs and git, heredocs, the cache key, and writes that try to
//! leave the rootfs), checked on the layer tar the build wrote to the
//! store and on the rootfs `hoist unpack` makes from the image.
//!
//! Each test has a private store; base images come from
//! `hack/engines/mkimage.sh` (busybox) or are built by hoist itself.

mod common;

use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context as _, Result};

use common::{hoist_bin, workspace, Entry, Env, Layer, Run};

/// What hoist runs without: ADD fetches from a local server, not a proxy.
const UNSET: &[&str] = &[
    "SOURCE_DATE_EPOCH",
    "http_proxy",
    "https_proxy",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "all_proxy",
];

impl Env {
    /// A context directory `name` with this Dockerfile and these files.
    fn build_context(
        &self,
        name: &str,
        dockerfile: &str,
        files: &[(&str, &str)],
    ) -> Result<PathBuf> {
        let mut all = vec![("Dockerfile", dockerfile)];
        all.extend_from_slice(files);
        self.context(name, &all)
    }
    /// Builds `ctx` as `tag`; the image's layers.
    fn build_layers(&self, ctx: &Path, tag: &str) -> Result<Vec<Layer>> {
        self.build(ctx, &["-t", tag]).ok()?;
        self.layers(tag)
    }
    /// Rewrites the Dockerfile of `ctx` and builds it as `tag`.
    fn rebuild(&self, ctx: &Path, tag: &str, dockerfile: impl AsRef<[u8]>) -> Result<Run> {
        fs::write(ctx.join("Dockerfile"), dockerfile)?;
        Ok(self.build(ctx, &["-t", tag]))
    }
    /// The last layer of `image`.
    fn top(&self, image: &str) -> Result<Layer> {
        self.layers(image)?.pop().context("image has no layers")
    }
    /// `hoist unpack` into a fresh directory; returns the rootfs path.
    /// unpack wants a command, so a metadata-only child image (same
    /// layers) with a CMD is unpacked.
    fn unpack_with_cmd(&self, image: &str) -> Result<PathBuf> {
        let name = image.replace([':', '/'], "-");
        let ctx = self.build_context(
            &format!("unpack-ctx-{name}"),
            &format!("FROM {image}\nCMD [\"/probe\"]\n"),
            &[],
        )?;
        let child = format!("unpack-{name}");
        self.build(&ctx, &["-t", &child]).ok()?;
        let b = format!("bundle-{name}");
        let _ = fs::remove_dir_all(self.path(&b));
        self.unpack(&child, &b)
    }
}

fn keys(l: &Layer) -> Vec<&str> {
    l.keys().map(String::as_str).collect()
}

fn get<'a>(l: &'a Layer, p: &str) -> &'a Entry {
    l.get(p)
        .unwrap_or_else(|| panic!("{p} not in the layer: {:?}", keys(l)))
}

fn text(l: &Layer, p: &str) -> String {
    String::from_utf8_lossy(&get(l, p).data).into_owned()
}

fn sh(cmd: &str, dir: &Path) -> Result<()> {
    let o = Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .current_dir(dir)
        .output()?;
    if !o.status.success() {
        bail!("{cmd}: {}", String::from_utf8_lossy(&o.stderr));
    }
    Ok(())
}

fn have(tool: &str) -> bool {
    Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {tool}"))
        .output()
        .is_ok_and(|o| o.status.success())
}

// ---------------------------------------------------------------- sources

#[test]
fn sources_globs_dir_contents_and_context_relative_paths() -> Result<()> {
    let e = Env::new(UNSET)?;
    let ctx = e.build_context(
        "ctx",
        "FROM scratch\n\
         COPY a?.txt /q/\n\
         COPY [ab]*.md /cls/\n\
         COPY *.txt /star/\n\
         COPY dir1 dir2 /merged/\n\
         COPY /sub/x.txt /abs-x\n\
         COPY ../../../sub/../a1.txt /dotdot\n\
         COPY sub/* /subglob/\n",
        &[
            ("a1.txt", "a1"),
            ("a2.txt", "a2"),
            ("a10.txt", "a10"),
            ("b.txt", "b"),
            ("a.md", "amd"),
            ("b.md", "bmd"),
            ("c.md", "cmd"),
            ("dir1/one", "1"),
            ("dir1/same/x", "from dir1"),
            ("dir2/two", "2"),
            ("dir2/same/y", "from dir2"),
            ("sub/x.txt", "x"),
            ("sub/deeper/z", "z"),
        ],
    )?;
    let ls = e.build_layers(&ctx, "src")?;
    assert_eq!(ls.len(), 7);
    // `?` is one character: a10.txt does not match.
    assert_eq!(keys(&ls[0]), ["q/", "q/a1.txt", "q/a2.txt"]);
    // Character classes.
    assert_eq!(keys(&ls[1]), ["cls/", "cls/a.md", "cls/b.md"]);
    assert_eq!(
        keys(&ls[2]),
        [
            "star/",
            "star/a1.txt",
            "star/a10.txt",
            "star/a2.txt",
            "star/b.txt"
        ]
    );
    // Directory *contents* are copied and merged, not the directories.
    assert_eq!(
        keys(&ls[3]),
        [
            "merged/",
            "merged/one",
            "merged/same/",
            "merged/same/x",
            "merged/same/y",
            "merged/two"
        ]
    );
    assert_eq!(text(&ls[4], "abs-x"), "x");
    // `..` stops at the context root.
    assert_eq!(text(&ls[5], "dotdot"), "a1");
    // A wildcard that matches a directory copies its contents into dest/.
    assert!(ls[6].contains_key("subglob/x.txt"), "{:?}", keys(&ls[6]));
    assert!(ls[6].contains_key("subglob/z"), "{:?}", keys(&ls[6]));

    // A source above the context is not found (it is the context's own
    // path after cleaning), and the error names it and the line.
    fs::write(e.path("outside.txt"), "secret")?;
    let bad = e.build_context(
        "bad",
        "FROM scratch\nCOPY a /a\nCOPY ../outside.txt /o\n",
        &[("a", "a")],
    )?;
    let err = e.build(&bad, &["-t", "bad"]).err()?;
    assert!(err.contains("Dockerfile:3"), "{err}");
    assert!(err.contains("outside.txt"), "{err}");
    // A wildcard that matches nothing is not an error (BuildKit's
    // AllowEmptyWildcard) and adds nothing; a plain name that is missing is.
    let none = e.build_context("none", "FROM scratch\nCOPY *.nope /d/\nCOPY nope /n\n", &[])?;
    let err = e.build(&none, &["-t", "none"]).err()?;
    assert!(
        err.contains("Dockerfile:3") && err.contains("nope"),
        "{err}"
    );
    e.rebuild(&none, "none", "FROM scratch\nCOPY *.nope /d/\n")?
        .ok()?;
    assert_eq!(
        e.inspect("none")?["RootFS"]["diff_ids"],
        serde_json::json!([])
    );
    Ok(())
}

#[test]
fn dockerignored_files_are_invisible_and_missing_sources_name_the_line() -> Result<()> {
    let e = Env::new(UNSET)?;
    let ctx = e.build_context(
        "ctx",
        "FROM scratch\nCOPY . /all/\nCOPY *.txt /txt/\n",
        &[
            (
                ".dockerignore",
                "secret*\nlogs/\n**/*.tmp\n!logs/keep.log\n",
            ),
            ("keep.txt", "k"),
            ("secret.txt", "s"),
            ("logs/a.log", "a"),
            ("logs/keep.log", "kept"),
            ("deep/x.tmp", "t"),
            ("deep/y", "y"),
        ],
    )?;
    let ls = e.build_layers(&ctx, "ign")?;
    let all = keys(&ls[0]);
    assert!(all.contains(&"all/keep.txt"), "{all:?}");
    assert!(all.contains(&"all/deep/y"), "{all:?}");
    assert!(all.contains(&"all/logs/keep.log"), "{all:?}");
    for hidden in ["all/secret.txt", "all/logs/a.log", "all/deep/x.tmp"] {
        assert!(!all.contains(&hidden), "{hidden} leaked: {all:?}");
    }
    assert_eq!(keys(&ls[1]), ["txt/", "txt/keep.txt"]);
    // Naming an ignored file is the docker "not found" error.
    let err = e
        .rebuild(
            &ctx,
            "ign2",
            "FROM scratch\nCOPY keep.txt /k\n\nCOPY secret.txt /s\n",
        )?
        .err()?;
    assert!(err.contains("Dockerfile:4"), "{err}");
    assert!(err.contains("secret.txt"), "{err}");
    assert!(err.contains("not found"), "{err}");
    Ok(())
}

// ----------------------------------------------------------- destinations

#[test]
fn destinations_trailing_slash_workdir_and_created_parents() -> Result<()> {
    let e = Env::new(UNSET)?;
    let ctx = e.build_context(
        "ctx",
        "FROM scratch\n\
         COPY f /plain\n\
         COPY f /asdir/\n\
         WORKDIR /w\n\
         COPY f rel/deep/\n\
         COPY f ./here\n\
         COPY f .\n\
         COPY one.txt /single-glob-*\n\
         COPY *.txt /g/\n",
        &[("f", "F"), ("one.txt", "one")],
    )?;
    // Make the context's own dir modes odd: created parents stay 0755.
    fs::set_permissions(&ctx, fs::Permissions::from_mode(0o700))?;
    let ls = e.build_layers(&ctx, "dest")?;
    assert_eq!(ls.len(), 8, "{ls:?}");
    assert_eq!(keys(&ls[0]), ["plain"]);
    assert_eq!(get(&ls[0], "plain").meta(), (b'0', 0o644, 0, 0));
    assert_eq!(keys(&ls[1]), ["asdir/", "asdir/f"]);
    assert_eq!(get(&ls[1], "asdir/").meta(), (b'5', 0o755, 0, 0));
    // ls[2] is WORKDIR's mkdir.
    assert_eq!(keys(&ls[2]), ["w/"]);
    assert_eq!(
        keys(&ls[3]),
        ["w/", "w/rel/", "w/rel/deep/", "w/rel/deep/f"]
    );
    for d in ["w/rel/", "w/rel/deep/"] {
        assert_eq!(get(&ls[3], d).meta(), (b'5', 0o755, 0, 0), "{d}");
    }
    assert_eq!(text(&ls[4], "w/here"), "F");
    assert_eq!(text(&ls[5], "w/f"), "F");
    // The destination is not a pattern.
    assert!(ls[6].contains_key("single-glob-*"), "{:?}", keys(&ls[6]));
    assert_eq!(keys(&ls[7]), ["g/", "g/one.txt"]);

    // Several sources, no trailing slash: docker's error.
    for (df, line) in [
        ("FROM scratch\nCOPY f one.txt /nodir\n", "Dockerfile:2"),
        ("FROM scratch\nCOPY f /f\nCOPY * /nodir\n", "Dockerfile:3"),
    ] {
        let err = e.rebuild(&ctx, "multi", df)?.err()?;
        assert!(
            err.contains("When using COPY with more than one source file, the destination must be a directory and end with a /"),
            "{err}"
        );
        assert!(err.contains(line), "{err}");
    }
    // No trailing slash onto an existing directory: into it. A directory
    // onto an existing file: an error naming it.
    fs::create_dir_all(ctx.join("d"))?;
    fs::write(ctx.join("d/in"), "in")?;
    e.rebuild(
        &ctx,
        "into",
        "FROM scratch\nCOPY f /exists/\nCOPY one.txt /exists\n",
    )?
    .ok()?;
    assert_eq!(keys(&e.top("into")?), ["exists/", "exists/one.txt"]);
    let err = e
        .rebuild(&ctx, "onto", "FROM scratch\nCOPY f /file\nCOPY d /file\n")?
        .err()?;
    assert!(
        err.contains("Dockerfile:3") && err.contains("/file"),
        "{err}"
    );
    // Unpacked: the file under the created parents.
    e.rebuild(
        &ctx,
        "dest2",
        "FROM scratch\nWORKDIR /w\nCOPY f rel/deep/\n",
    )?
    .ok()?;
    let root = e.unpack_with_cmd("dest2")?;
    assert_eq!(fs::read_to_string(root.join("w/rel/deep/f"))?, "F");
    let m = fs::metadata(root.join("w/rel"))?;
    assert_eq!(m.mode() & 0o7777, 0o755);
    Ok(())
}

// ------------------------------------------------------------------ --from

#[test]
fn copy_from_stage_index_and_image_keeps_owners_context_files_become_root() -> Result<()> {
    let e = Env::new(UNSET)?;
    e.load_busybox()?;
    let ctx = e.build_context(
        "ctx",
        "FROM scratch AS build\n\
         COPY --chown=1000:1001 f /owned/f\n\
         COPY g /g\n\
         FROM scratch\n\
         COPY --from=build /owned/f /by-name\n\
         COPY --from=0 /owned /by-index/\n\
         COPY --from=busybox:latest /home /home-from-image/\n\
         COPY --from=busybox /bin/busybox /bb\n\
         COPY g /g\n\
         COPY --from=build /g /g-from-stage\n",
        &[("f", "F"), ("g", "G")],
    )?;
    nix::unistd::chown(
        &ctx.join("g"),
        Some(nix::unistd::Uid::from_raw(1234)),
        Some(nix::unistd::Gid::from_raw(4321)),
    )?;
    fs::set_permissions(ctx.join("g"), fs::Permissions::from_mode(0o640))?;
    let ls = e.build_layers(&ctx, "from")?;
    assert_eq!(ls.len(), 6);
    assert_eq!(get(&ls[0], "by-name").meta(), (b'0', 0o644, 1000, 1001));
    assert_eq!(get(&ls[1], "by-index/f").meta(), (b'0', 0o644, 1000, 1001));
    // The image's /home/keel is 1000:1000 and keeps it.
    assert_eq!(
        get(&ls[2], "home-from-image/keel/").meta(),
        (b'5', 0o755, 1000, 1000)
    );
    let bb = get(&ls[3], "bb");
    assert_eq!(bb.meta(), (b'0', 0o755, 0, 0));
    assert_eq!(
        bb.data,
        fs::read(workspace().join("hack/out/rootfs/bin/busybox"))?
    );
    // A context file owned 1234:4321 becomes 0:0, its mode kept.
    assert_eq!(get(&ls[4], "g").meta(), (b'0', 0o640, 0, 0));
    assert_eq!(get(&ls[5], "g-from-stage").meta(), (b'0', 0o640, 0, 0));
    let root = e.unpack_with_cmd("from")?;
    let m = fs::metadata(root.join("by-name"))?;
    assert_eq!((m.uid(), m.gid()), (1000, 1001));
    // An image that is not loaded is named in the error.
    let err = e
        .rebuild(&ctx, "bad", "FROM scratch\nCOPY --from=notloaded:9 /x /x\n")?
        .err()?;
    assert!(err.contains("notloaded"), "{err}");
    Ok(())
}

// ----------------------------------------------------------------- --chown

#[test]
fn chown_resolves_names_owns_created_parents_not_existing_dirs() -> Result<()> {
    let e = Env::new(UNSET)?;
    e.load_busybox()?;
    let ctx = e.build_context(
        "ctx",
        "FROM busybox\n\
         COPY --chown=nobody:nogroup f /opt/new/f\n\
         COPY --chown=keel f /home/keel/sub/f\n\
         COPY --chown=keel:tty f /kt\n\
         COPY --chown=4242 f /n1\n\
         COPY --chown=4242:4343 f /n2\n\
         COPY passwd group /etc/\n\
         COPY --chown=app:devs d /app/\n\
         COPY --chown=app f /n3\n\
         COPY --chown=root:devs f /n4\n",
        &[
            ("f", "F"),
            ("d/x", "x"),
            ("d/y/z", "z"),
            (
                "passwd",
                "root:x:0:0:root:/root:/bin/sh\napp:x:4000:4100::/app:/bin/sh\n",
            ),
            ("group", "root:x:0:\ndevs:x:4200:\napp:x:4100:\n"),
        ],
    )?;
    let ls = e.build_layers(&ctx, "chown")?;
    let ls = &ls[1..]; // ls[0] is busybox
    assert_eq!(ls.len(), 9);
    assert_eq!(keys(&ls[0]), ["opt/", "opt/new/", "opt/new/f"]);
    for p in ["opt/", "opt/new/"] {
        assert_eq!(get(&ls[0], p).meta(), (b'5', 0o755, 65534, 65534), "{p}");
    }
    assert_eq!(get(&ls[0], "opt/new/f").meta(), (b'0', 0o644, 65534, 65534));
    // /home and /home/keel exist: they keep their owners (0:0 and
    // 1000:1000); sub/ is created with the --chown owner.
    assert_eq!(get(&ls[1], "home/").meta(), (b'5', 0o755, 0, 0));
    assert_eq!(get(&ls[1], "home/keel/").meta(), (b'5', 0o755, 1000, 1000));
    assert_eq!(
        get(&ls[1], "home/keel/sub/").meta(),
        (b'5', 0o755, 1000, 1000)
    );
    assert_eq!(
        get(&ls[1], "home/keel/sub/f").meta(),
        (b'0', 0o644, 1000, 1000)
    );
    assert_eq!(get(&ls[2], "kt").meta(), (b'0', 0o644, 1000, 5));
    assert_eq!(get(&ls[3], "n1").meta(), (b'0', 0o644, 4242, 4242));
    assert_eq!(get(&ls[4], "n2").meta(), (b'0', 0o644, 4242, 4343));
    // Names come from the passwd/group copied in an earlier step; the
    // existing /etc is not re-owned... (ls[5] wrote them).
    assert_eq!(get(&ls[5], "etc/").meta(), (b'5', 0o755, 0, 0));
    assert_eq!(get(&ls[6], "app/").meta(), (b'5', 0o755, 4000, 4200));
    assert_eq!(get(&ls[6], "app/y/").meta(), (b'5', 0o755, 4000, 4200));
    assert_eq!(get(&ls[6], "app/y/z").meta(), (b'0', 0o644, 4000, 4200));
    // A user name alone: its primary group from passwd.
    assert_eq!(get(&ls[7], "n3").meta(), (b'0', 0o644, 4000, 4100));
    assert_eq!(get(&ls[8], "n4").meta(), (b'0', 0o644, 0, 4200));
    // Unpacked: the existing dir kept its owner.
    let root = e.unpack_with_cmd("chown")?;
    let m = fs::metadata(root.join("home/keel"))?;
    assert_eq!((m.uid(), m.gid()), (1000, 1000));
    let m = fs::metadata(root.join("home/keel/sub/f"))?;
    assert_eq!((m.uid(), m.gid()), (1000, 1000));

    // Unknown names fail with the name and the line.
    for (flag, name) in [
        ("ghost", "ghost"),
        ("keel:ghosts", "ghosts"),
        ("ghost:tty", "ghost"),
    ] {
        let err = e
            .rebuild(
                &ctx,
                "bad",
                format!("FROM busybox\nCOPY f /ok\nCOPY --chown={flag} f /x\n"),
            )?
            .err()?;
        assert!(err.contains("Dockerfile:3"), "{err}");
        assert!(
            err.contains(&format!("find user {name}"))
                || err.contains(&format!("find group {name}")),
            "{err}"
        );
    }
    Ok(())
}

#[test]
fn merged_subdirectories_take_the_source_metadata_but_the_destination_keeps_its_own() -> Result<()>
{
    // BuildKit (buildkit#3602): copying a directory overwrites the mode and
    // owner of directories it merges into, except the destination itself;
    // a file copied into /tmp leaves /tmp's 1777 alone.
    let e = Env::new(UNSET)?;
    e.load_busybox()?;
    let ctx = e.build_context(
        "ctx",
        "FROM busybox\n\
         COPY f /tmp/\n\
         COPY tree/ /\n\
         COPY --chown=nobody tree/home/ /home/\n\
         COPY tree/tmp /tmp\n",
        &[("f", "F"), ("tree/tmp/t", "t"), ("tree/home/keel/k", "k")],
    )?;
    fs::set_permissions(ctx.join("tree/tmp"), fs::Permissions::from_mode(0o755))?;
    fs::set_permissions(ctx.join("tree/home"), fs::Permissions::from_mode(0o755))?;
    fs::set_permissions(
        ctx.join("tree/home/keel"),
        fs::Permissions::from_mode(0o700),
    )?;
    let ls = e.build_layers(&ctx, "merge")?;
    let ls = &ls[1..];
    assert_eq!(get(&ls[0], "tmp/").meta(), (b'5', 0o1777, 0, 0));
    assert_eq!(get(&ls[1], "tmp/").meta(), (b'5', 0o755, 0, 0));
    assert_eq!(get(&ls[1], "home/keel/").meta(), (b'5', 0o700, 0, 0));
    // The destination /home keeps its own; keel/ below it is re-owned.
    assert_eq!(get(&ls[2], "home/").meta(), (b'5', 0o755, 0, 0));
    assert_eq!(
        get(&ls[2], "home/keel/").meta(),
        (b'5', 0o700, 65534, 65534)
    );
    // /tmp as the destination (no slash, it exists): kept as it is now.
    assert_eq!(get(&ls[3], "tmp/").meta(), (b'5', 0o755, 0, 0));
    let root = e.unpack_with_cmd("merge")?;
    let m = fs::metadata(root.join("home/keel"))?;
    assert_eq!((m.mode() & 0o7777, m.uid()), (0o700, 65534));
    Ok(())
}

#[test]
fn chown_root_and_numeric_ids_need_no_passwd_file() -> Result<()> {
    // BuildKit maps `root` to 0 without reading /etc/passwd, so it works
    // on scratch and with --link.
    let e = Env::new(UNSET)?;
    let ctx = e.build_context(
        "ctx",
        "FROM scratch\n\
         COPY --chown=root:root f /a\n\
         COPY --chown=root f /b\n\
         COPY --link --chown=7:8 f /c\n",
        &[("f", "F")],
    )?;
    let ls = e.build_layers(&ctx, "root")?;
    assert_eq!(get(&ls[0], "a").meta(), (b'0', 0o644, 0, 0));
    assert_eq!(get(&ls[1], "b").meta(), (b'0', 0o644, 0, 0));
    assert_eq!(get(&ls[2], "c").meta(), (b'0', 0o644, 7, 8));
    // A name on scratch: no passwd file, a clear error.
    let err = e
        .rebuild(&ctx, "bad", "FROM scratch\nCOPY --chown=app f /a\n")?
        .err()?;
    assert!(err.contains("Dockerfile:2") && err.contains("app"), "{err}");
    Ok(())
}

// ----------------------------------------------------------------- --chmod

#[test]
fn chmod_octal_symbolic_and_invalid() -> Result<()> {
    let e = Env::new(UNSET)?;
    let ctx = e.build_context(
        "ctx",
        "FROM scratch\n\
         COPY --chmod=0640 f /octal\n\
         COPY --chmod=4755 f /suid\n\
         COPY --chmod=u=rwX,go=rX d /sym/\n\
         COPY --chmod=a+x,o-r f /plus\n\
         COPY --chmod=600 d /dirs-too/\n",
        &[
            ("f", "F"),
            ("d/file", "x"),
            ("d/exe", "#!"),
            ("d/sub/inner", "i"),
        ],
    )?;
    fs::set_permissions(ctx.join("f"), fs::Permissions::from_mode(0o644))?;
    fs::set_permissions(ctx.join("d/file"), fs::Permissions::from_mode(0o600))?;
    fs::set_permissions(ctx.join("d/exe"), fs::Permissions::from_mode(0o700))?;
    fs::set_permissions(ctx.join("d/sub"), fs::Permissions::from_mode(0o700))?;
    let ls = e.build_layers(&ctx, "chmod")?;
    assert_eq!(get(&ls[0], "octal").mode, 0o640);
    assert_eq!(get(&ls[1], "suid").mode, 0o4755);
    assert_eq!(get(&ls[2], "sym/file").mode, 0o644);
    assert_eq!(get(&ls[2], "sym/exe").mode, 0o755);
    assert_eq!(get(&ls[2], "sym/sub/").mode, 0o755);
    assert_eq!(get(&ls[2], "sym/sub/inner").mode, 0o644);
    assert_eq!(get(&ls[3], "plus").mode, 0o751);
    // Octal applies to directories too (BuildKit).
    assert_eq!(get(&ls[4], "dirs-too/sub/").mode, 0o600);
    assert_eq!(get(&ls[4], "dirs-too/file").mode, 0o600);
    let root = e.unpack_with_cmd("chmod")?;
    assert_eq!(fs::metadata(root.join("suid"))?.mode() & 0o7777, 0o4755);
    for bad in ["99z", "u=rwq", "888", "x=r", "u+r,,"] {
        let err = e
            .rebuild(
                &ctx,
                "bad",
                format!("FROM scratch\nCOPY --chmod={bad} f /x\n"),
            )?
            .err()
            .context(format!("--chmod={bad}"))?;
        assert!(
            err.contains("Dockerfile:2") && err.contains("chmod"),
            "--chmod={bad}: {err}"
        );
    }
    Ok(())
}

// ------------------------------------------- --link, --parents, --exclude

#[test]
fn link_layer_holds_only_the_copied_files_and_parents() -> Result<()> {
    let e = Env::new(UNSET)?;
    e.load_busybox()?;
    let ctx = e.build_context(
        "ctx",
        "FROM busybox\nCOPY --link f /etc/f\nCOPY --link d /usr/share/d/\n",
        &[("f", "F"), ("d/x", "x")],
    )?;
    let ls = e.build_layers(&ctx, "link")?;
    assert_eq!(ls.len(), 3);
    assert_eq!(keys(&ls[1]), ["etc/", "etc/f"]);
    assert_eq!(get(&ls[1], "etc/").meta(), (b'5', 0o755, 0, 0));
    assert_eq!(
        keys(&ls[2]),
        ["usr/", "usr/share/", "usr/share/d/", "usr/share/d/x"]
    );
    // The rest of the base is still there once stacked.
    let root = e.unpack_with_cmd("link")?;
    assert_eq!(fs::read_to_string(root.join("etc/f"))?, "F");
    assert!(fs::read_to_string(root.join("etc/passwd"))?.contains("keel"));
    assert!(root.join("usr/bin").is_dir());
    // Names cannot be resolved on --link's empty base (BuildKit refuses
    // them too); numeric ids and root work.
    let err = e
        .rebuild(
            &ctx,
            "link-name",
            "FROM busybox\nCOPY --link --chown=0:99 f /n\nCOPY --link --chown=keel f /x\n",
        )?
        .err()?;
    assert!(err.contains("Dockerfile:3"), "{err}");
    assert!(err.contains("--link") && err.contains("numeric"), "{err}");
    Ok(())
}

#[test]
fn parents_keep_the_structure_and_exclude_repeats() -> Result<()> {
    let e = Env::new(UNSET)?;
    let ctx = e.build_context(
        "ctx",
        "FROM scratch\n\
         COPY --parents a/b/*.txt c/d.txt /out/\n\
         COPY --parents src/./lib/x.rs /pivot/\n\
         COPY --parents **/keep.me /star/\n\
         COPY --exclude=*.log --exclude=tmp . /app/\n\
         COPY --exclude=**/*.o src/ /noobj/\n",
        &[
            ("a/b/1.txt", "1"),
            ("a/b/2.txt", "2"),
            ("a/b/no.md", "no"),
            ("c/d.txt", "d"),
            ("src/lib/x.rs", "x"),
            ("src/lib/y.o", "o"),
            ("src/main.o", "o"),
            ("deep/er/keep.me", "k"),
            ("keep.me", "k0"),
            ("build.log", "l"),
            ("tmp/junk", "j"),
            ("nested/also.log", "l"),
            ("nested/ok", "ok"),
        ],
    )?;
    let ls = e.build_layers(&ctx, "par")?;
    assert_eq!(
        keys(&ls[0]),
        [
            "out/",
            "out/a/",
            "out/a/b/",
            "out/a/b/1.txt",
            "out/a/b/2.txt",
            "out/c/",
            "out/c/d.txt"
        ]
    );
    assert_eq!(keys(&ls[1]), ["pivot/", "pivot/lib/", "pivot/lib/x.rs"]);
    let star = keys(&ls[2]);
    assert!(star.contains(&"star/deep/er/keep.me"), "{star:?}");
    assert!(star.contains(&"star/keep.me"), "{star:?}");
    let app = keys(&ls[3]);
    assert!(app.contains(&"app/nested/ok"), "{app:?}");
    // `*` does not cross `/`: only the top-level log is excluded.
    assert!(app.contains(&"app/nested/also.log"), "{app:?}");
    assert!(app.contains(&"app/src/lib/x.rs"), "{app:?}");
    for gone in ["app/build.log", "app/tmp/", "app/tmp/junk"] {
        assert!(!app.contains(&gone), "{gone} not excluded: {app:?}");
    }
    assert_eq!(keys(&ls[4]), ["noobj/", "noobj/lib/", "noobj/lib/x.rs"]);
    Ok(())
}

// ------------------------------------------------------ links and xattrs

#[test]
fn symlinks_top_level_dereferenced_inner_kept_dangling_too() -> Result<()> {
    let e = Env::new(UNSET)?;
    let ctx = e.build_context(
        "ctx",
        "FROM scratch\nCOPY top /top\nCOPY d /d/\nCOPY topdir /td/\nCOPY l* /glob/\n",
        &[
            ("real.txt", "real"),
            ("d/file", "f"),
            ("realdir/inside", "in"),
        ],
    )?;
    std::os::unix::fs::symlink("real.txt", ctx.join("top"))?;
    std::os::unix::fs::symlink("realdir", ctx.join("topdir"))?;
    std::os::unix::fs::symlink("../real.txt", ctx.join("d/inner"))?;
    std::os::unix::fs::symlink("/nowhere/at/all", ctx.join("d/dangling"))?;
    std::os::unix::fs::symlink("real.txt", ctx.join("lnk"))?;
    let ls = e.build_layers(&ctx, "sym")?;
    let top = get(&ls[0], "top");
    assert_eq!((top.kind, top.data.as_slice()), (b'0', &b"real"[..]));
    let inner = get(&ls[1], "d/inner");
    assert_eq!((inner.kind, inner.link.as_str()), (b'2', "../real.txt"));
    let dangling = get(&ls[1], "d/dangling");
    assert_eq!(
        (dangling.kind, dangling.link.as_str()),
        (b'2', "/nowhere/at/all")
    );
    // A top-level symlink to a directory copies the directory's contents.
    assert_eq!(keys(&ls[2]), ["td/", "td/inside"]);
    // Wildcard matches are top-level too: dereferenced, named as matched.
    let g = get(&ls[3], "glob/lnk");
    assert_eq!((g.kind, g.data.as_slice()), (b'0', &b"real"[..]));
    let root = e.unpack_with_cmd("sym")?;
    assert_eq!(
        fs::read_link(root.join("d/dangling"))?,
        Path::new("/nowhere/at/all")
    );
    assert_eq!(
        fs::read_link(root.join("d/inner"))?,
        Path::new("../real.txt")
    );
    assert_eq!(fs::read_to_string(root.join("top"))?, "real");
    // A top-level symlink that points out of the context resolves inside
    // it (not found), never to the host file.
    let esc = e.build_context("esc", "FROM scratch\nCOPY out /out\n", &[])?;
    std::os::unix::fs::symlink("/etc/hostname", esc.join("out"))?;
    let r = e.build(&esc, &["-t", "esc"]);
    if r.code == 0 {
        let l = e.top("esc")?;
        assert_ne!(
            get(&l, "out").data,
            fs::read("/etc/hostname").unwrap_or_default(),
            "host file read through a context symlink"
        );
    } else {
        let err = r.err()?;
        assert!(err.contains("Dockerfile:2"), "{err}");
    }
    Ok(())
}

#[test]
fn hardlinks_are_tar_type_1_and_unpack_as_one_inode() -> Result<()> {
    let e = Env::new(UNSET)?;
    let ctx = e.build_context(
        "ctx",
        "FROM scratch\nCOPY h /dst/\nCOPY h/a /solo\n",
        &[("h/a", "same bytes")],
    )?;
    fs::hard_link(ctx.join("h/a"), ctx.join("h/b"))?;
    fs::create_dir(ctx.join("h/sub"))?;
    fs::hard_link(ctx.join("h/a"), ctx.join("h/sub/c"))?;
    let ls = e.build_layers(&ctx, "hl")?;
    let a = get(&ls[0], "dst/a");
    assert_eq!((a.kind, a.data.as_slice()), (b'0', &b"same bytes"[..]));
    for p in ["dst/b", "dst/sub/c"] {
        let h = get(&ls[0], p);
        assert_eq!((h.kind, h.link.as_str()), (b'1', "dst/a"), "{p}");
        assert!(h.data.is_empty());
    }
    // A single file with nlink > 1 is a plain file.
    assert_eq!(get(&ls[1], "solo").kind, b'0');
    let root = e.unpack_with_cmd("hl")?;
    let ia = fs::metadata(root.join("dst/a"))?.ino();
    assert_eq!(fs::metadata(root.join("dst/b"))?.ino(), ia);
    assert_eq!(fs::metadata(root.join("dst/sub/c"))?.ino(), ia);
    // COPY --from keeps the links too.
    e.rebuild(
        &ctx,
        "hl2",
        "FROM scratch AS s\nCOPY h /h/\nFROM scratch\nCOPY --from=s /h /again/\n",
    )?
    .ok()?;
    let l = e.top("hl2")?;
    let links: Vec<_> = l.values().filter(|i| i.kind == b'1').collect();
    assert_eq!(links.len(), 2, "{:?}", keys(&l));
    Ok(())
}

#[test]
fn devices_keep_major_minor_fifos_stay_fifos_sockets_are_skipped() -> Result<()> {
    let e = Env::new(UNSET)?;
    let ctx = e.build_context(
        "ctx",
        "FROM scratch\nCOPY dev /dev/\n",
        &[("dev/keep", "k")],
    )?;
    let st = Command::new("mknod")
        .arg(ctx.join("dev/null"))
        .args(["c", "1", "3"])
        .status()?;
    let st2 = Command::new("mknod")
        .arg(ctx.join("dev/loop9"))
        .args(["b", "7", "9"])
        .status()?;
    if !st.success() || !st2.success() {
        println!("SKIP: mknod refused here");
        return Ok(());
    }
    nix::unistd::mkfifo(
        &ctx.join("dev/fifo"),
        nix::sys::stat::Mode::from_bits_truncate(0o640),
    )?;
    let _sock = std::os::unix::net::UnixListener::bind(ctx.join("dev/sock"))?;
    e.build(&ctx, &["-t", "dev"]).ok()?;
    let l = e.top("dev")?;
    let null = get(&l, "dev/null");
    assert_eq!((null.kind, null.dev), (b'3', (1, 3)));
    let lp = get(&l, "dev/loop9");
    assert_eq!((lp.kind, lp.dev), (b'4', (7, 9)));
    assert_eq!(get(&l, "dev/fifo").meta(), (b'6', 0o640, 0, 0));
    assert!(!l.contains_key("dev/sock"), "{:?}", keys(&l));
    let root = e.unpack_with_cmd("dev")?;
    use std::os::unix::fs::FileTypeExt;
    let m = fs::symlink_metadata(root.join("dev/null"))?;
    assert!(m.file_type().is_char_device());
    assert_eq!(m.rdev(), nix::sys::stat::makedev(1, 3));
    Ok(())
}

#[test]
fn security_capability_xattr_becomes_a_pax_record() -> Result<()> {
    let e = Env::new(UNSET)?;
    let ctx = e.build_context(
        "ctx",
        "FROM scratch\nCOPY cap /bin/cap\nCOPY capdir /cd/\n",
        &[("cap", "binary"), ("capdir/x", "x")],
    )?;
    // `setfattr -v 0sAQAAAgAgAAAAAAAAAAAAAAAAAAA=`: a v2 capability set.
    let cap = base64_decode("AQAAAgAgAAAAAAAAAAAAAAAAAAA=");
    assert_eq!(cap.len(), 20);
    for f in ["cap", "capdir/x"] {
        if let Err(err) = xattr::set(ctx.join(f), "security.capability", &cap) {
            println!("SKIP: this filesystem refuses security.capability: {err}");
            return Ok(());
        }
    }
    let ls = e.build_layers(&ctx, "cap")?;
    for (l, p) in [(&ls[0], "bin/cap"), (&ls[1], "cd/x")] {
        let it = get(l, p);
        assert_eq!(
            it.pax.get("SCHILY.xattr.security.capability"),
            Some(&cap),
            "{p}: {:?}",
            it.pax.keys()
        );
    }
    let root = e.unpack_with_cmd("cap")?;
    assert_eq!(
        xattr::get(root.join("bin/cap"), "security.capability")?,
        Some(cap.clone())
    );
    // A changed xattr misses the cache (xattrs are hashed).
    let again = e.build(&ctx, &["-t", "cap"]).ok()?;
    assert_eq!(again.cached(), 2, "{}", again.stderr);
    xattr::remove(ctx.join("cap"), "security.capability")?;
    let after = e.build(&ctx, &["-t", "cap"]).ok()?;
    assert_eq!(after.cached(), 0, "{}", after.stderr);
    Ok(())
}

fn base64_decode(s: &str) -> Vec<u8> {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut bits = 0u32;
    let mut n = 0;
    let mut out = Vec::new();
    for c in s.bytes().filter(|&c| c != b'=') {
        let v = A.iter().position(|&a| a == c).expect("base64") as u32;
        bits = (bits << 6) | v;
        n += 6;
        if n >= 8 {
            n -= 8;
            out.push((bits >> n) as u8);
            bits &= (1 << n) - 1;
        }
    }
    out
}

// -------------------------------------------------------------------- ADD

/// A tar (from the `tar` CLI) of `files` in `dir/src`.
fn make_tar(dir: &Path, name: &str, files: &[(&str, &str)]) -> Result<PathBuf> {
    let src = dir.join(format!("{name}.src"));
    for (p, c) in files {
        let f = src.join(p);
        fs::create_dir_all(f.parent().unwrap())?;
        fs::write(f, c)?;
    }
    let out = dir.join(name);
    let st = Command::new("tar")
        .arg("-C")
        .arg(&src)
        .args(["--owner=0", "--group=0", "--numeric-owner", "-cf"])
        .arg(&out)
        .arg(".")
        .status()?;
    assert!(st.success());
    fs::remove_dir_all(&src)?;
    Ok(out)
}

#[test]
fn add_extracts_local_tars_of_every_compression_and_unpack_false_keeps_them() -> Result<()> {
    let e = Env::new(UNSET)?;
    let ctx = e.context("ctx", &[])?;
    let mut df = String::from("FROM scratch\n");
    let mut kinds = vec![("plain", "")];
    for (tool, ext) in [
        ("gzip", "gz"),
        ("bzip2", "bz2"),
        ("xz", "xz"),
        ("zstd", "zst"),
    ] {
        if have(tool) {
            kinds.push((tool, ext));
        } else {
            println!("SKIP {tool}: not installed");
        }
    }
    for (tool, ext) in &kinds {
        let base = format!("a-{tool}.tar");
        let t = make_tar(
            &ctx,
            &base,
            &[("top.txt", tool), ("sub/inner.txt", "inner")],
        )?;
        let name = if ext.is_empty() {
            base.clone()
        } else {
            sh(
                &format!("{tool} -q -f {base} 2>/dev/null || {tool} -f {base}"),
                &ctx,
            )?;
            let compressed = format!("{base}.{ext}");
            assert!(
                ctx.join(&compressed).is_file(),
                "{tool} made no {compressed}"
            );
            // Detection is by content: rename it to something neutral.
            let neutral = format!("blob-{tool}");
            fs::rename(ctx.join(&compressed), ctx.join(&neutral))?;
            neutral
        };
        let _ = t;
        df.push_str(&format!("ADD {name} /x/{tool}/\n"));
    }
    df.push_str("ADD --unpack=false a-plain.tar /kept/\n");
    df.push_str("COPY a-plain.tar /copied.tar\n");
    fs::write(ctx.join("Dockerfile"), &df)?;
    let ls = e.build_layers(&ctx, "add")?;
    assert_eq!(ls.len(), kinds.len() + 2);
    for (i, (tool, _)) in kinds.iter().enumerate() {
        let l = &ls[i];
        assert_eq!(
            text(l, &format!("x/{tool}/top.txt")),
            *tool,
            "{:?}",
            keys(l)
        );
        assert_eq!(text(l, &format!("x/{tool}/sub/inner.txt")), "inner");
        assert_eq!(get(l, &format!("x/{tool}/sub/")).kind, b'5');
    }
    let kept = get(&ls[kinds.len()], "kept/a-plain.tar");
    assert_eq!(kept.kind, b'0');
    assert_eq!(kept.data, fs::read(ctx.join("a-plain.tar"))?);
    // COPY never extracts.
    assert_eq!(get(&ls[kinds.len() + 1], "copied.tar").data, kept.data);
    // A file that only looks like a tar by name is copied as is.
    fs::write(ctx.join("fake.tar.gz"), "not an archive")?;
    e.rebuild(&ctx, "fake", "FROM scratch\nADD fake.tar.gz /f/\n")?
        .ok()?;
    assert_eq!(text(&e.top("fake")?, "f/fake.tar.gz"), "not an archive");
    Ok(())
}

#[test]
fn add_archive_members_keep_types_owners_xattrs_and_take_chown() -> Result<()> {
    let e = Env::new(UNSET)?;
    let ctx = e.context("ctx", &[])?;
    let cap = base64_decode("AQAAAgAgAAAAAAAAAAAAAAAAAAA=");
    {
        let mut b = tar::Builder::new(fs::File::create(ctx.join("m.tar"))?);
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(tar::EntryType::Directory);
        h.set_path("priv/")?;
        h.set_mode(0o700);
        h.set_uid(1000);
        h.set_gid(1000);
        h.set_size(0);
        h.set_cksum();
        b.append(&h, &[][..])?;
        // PAX records for the next member (priv/bin).
        b.append_pax_extensions([("SCHILY.xattr.security.capability", cap.as_slice())])?;
        let mut h = tar::Header::new_ustar();
        h.set_path("priv/bin")?;
        h.set_mode(0o4750);
        h.set_uid(33);
        h.set_gid(44);
        h.set_size(3);
        h.set_cksum();
        b.append(&h, &b"bin"[..])?;
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(tar::EntryType::Link);
        h.set_path("priv/bin-link")?;
        h.set_link_name("priv/bin")?;
        h.set_size(0);
        h.set_cksum();
        b.append(&h, &[][..])?;
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_path("sym")?;
        h.set_link_name("priv/bin")?;
        h.set_mode(0o777);
        h.set_size(0);
        h.set_cksum();
        b.append(&h, &[][..])?;
        b.finish()?;
    }
    fs::write(
        ctx.join("Dockerfile"),
        "FROM scratch\nADD m.tar /x\nADD --chown=5:6 m.tar /owned/\n",
    )?;
    let ls = e.build_layers(&ctx, "members")?;
    // No trailing slash: still extracted into /x.
    let l = &ls[0];
    assert_eq!(get(l, "x/").meta(), (b'5', 0o755, 0, 0));
    assert_eq!(get(l, "x/priv/").meta(), (b'5', 0o700, 1000, 1000));
    let bin = get(l, "x/priv/bin");
    assert_eq!(
        (bin.meta(), bin.data.as_slice()),
        ((b'0', 0o4750, 33, 44), &b"bin"[..])
    );
    assert_eq!(
        bin.pax.get("SCHILY.xattr.security.capability"),
        Some(&cap),
        "{:?}",
        bin.pax.keys()
    );
    let hl = get(l, "x/priv/bin-link");
    assert_eq!((hl.kind, hl.link.as_str()), (b'1', "x/priv/bin"));
    let sym = get(l, "x/sym");
    assert_eq!((sym.kind, sym.link.as_str()), (b'2', "priv/bin"));
    // --chown re-owns every member.
    let l = &ls[1];
    for p in ["owned/priv/", "owned/priv/bin", "owned/sym"] {
        let it = get(l, p);
        assert_eq!((it.uid, it.gid), (5, 6), "{p}");
    }
    assert_eq!(get(l, "owned/priv/bin").mode, 0o4750);
    let root = e.unpack_with_cmd("members")?;
    let ino = fs::metadata(root.join("x/priv/bin"))?.ino();
    assert_eq!(fs::metadata(root.join("x/priv/bin-link"))?.ino(), ino);
    Ok(())
}

/// Serves `body` over HTTP on 127.0.0.1 until the test process ends;
/// returns the base URL.
fn serve(body: Vec<u8>) -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = l.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { continue };
            let mut req = Vec::new();
            let mut buf = [0u8; 1024];
            while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                match s.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => req.extend_from_slice(&buf[..n]),
                }
            }
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nLast-Modified: Wed, 21 Oct 2015 07:28:00 GMT\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = s.write_all(head.as_bytes());
            let _ = s.write_all(&body);
        }
    });
    format!("http://127.0.0.1:{port}")
}

fn sha256_hex(b: &[u8]) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(b))
}

#[test]
fn add_url_with_checksum_mode_0600_and_a_wrong_checksum_fails() -> Result<()> {
    let e = Env::new(UNSET)?;
    let body = b"downloaded payload\n".to_vec();
    let sum = sha256_hex(&body);
    let url = serve(body.clone());
    let ctx = e.build_context(
        "ctx",
        &format!(
            "FROM scratch\n\
             ADD --checksum=sha256:{sum} {url}/files/payload.bin /dl/\n\
             ADD {url}/other/name.txt /renamed\n"
        ),
        &[],
    )?;
    let ls = e.build_layers(&ctx, "url")?;
    let f = get(&ls[0], "dl/payload.bin");
    assert_eq!(f.meta(), (b'0', 0o600, 0, 0));
    assert_eq!(f.data, body);
    let r = get(&ls[1], "renamed");
    assert_eq!((r.mode, r.data.as_slice()), (0o600, body.as_slice()));
    let root = e.unpack_with_cmd("url")?;
    let m = fs::metadata(root.join("dl/payload.bin"))?;
    assert_eq!(m.mode() & 0o7777, 0o600);
    // Last-Modified sets the mtime.
    assert_eq!(m.mtime(), 1_445_412_480);
    // A wrong checksum fails and names both.
    let wrong = "0".repeat(64);
    let err = e
        .rebuild(
            &ctx,
            "bad",
            format!("FROM scratch\nADD --checksum=sha256:{wrong} {url}/payload.bin /dl/\n"),
        )?
        .err()?;
    assert!(err.contains("Dockerfile:2"), "{err}");
    assert!(
        err.contains("checksum") && err.contains(&sum[..12]),
        "{err}"
    );
    // COPY refuses URLs.
    let err = e
        .rebuild(
            &ctx,
            "bad",
            format!("FROM scratch\nCOPY {url}/payload.bin /dl/\n"),
        )?
        .err()?;
    assert!(err.contains("ADD"), "{err}");
    Ok(())
}

#[test]
fn add_git_from_a_file_repository() -> Result<()> {
    if !have("git") {
        println!("SKIP: git is not installed");
        return Ok(());
    }
    let e = Env::new(UNSET)?;
    let repo = e.path("repo.git");
    fs::create_dir_all(repo.join("sub"))?;
    fs::write(repo.join("README"), "readme")?;
    fs::write(repo.join("sub/run.sh"), "#!/bin/sh\n")?;
    fs::set_permissions(repo.join("sub/run.sh"), fs::Permissions::from_mode(0o700))?;
    sh(
        "git init -q -b main . && git add -A && \
         git -c user.name=t -c user.email=t@t -c commit.gpgsign=false commit -q -m one && \
         git tag v1",
        &repo,
    )?;
    let url = format!("file://{}", repo.display());
    let ctx = e.build_context(
        "ctx",
        &format!(
            "FROM scratch\nADD {url} /src/\nADD {url}#v1:sub /only-sub/\n\
             ADD --keep-git-dir=true {url} /kg/\n"
        ),
        &[],
    )?;
    let ls = e.build_layers(&ctx, "git")?;
    assert_eq!(text(&ls[0], "src/README"), "readme");
    assert_eq!(get(&ls[0], "src/README").mode, 0o644);
    assert_eq!(get(&ls[0], "src/sub/run.sh").mode, 0o755);
    assert!(
        !ls[0].keys().any(|k| k.starts_with("src/.git")),
        "{:?}",
        keys(&ls[0])
    );
    assert_eq!(keys(&ls[1]), ["only-sub/", "only-sub/run.sh"]);
    assert!(ls[2].contains_key("kg/.git/HEAD"), "{:?}", keys(&ls[2]));
    // A ref that does not exist fails clearly.
    let err = e
        .rebuild(
            &ctx,
            "bad",
            format!("FROM scratch\nADD {url}#no-such-branch /src/\n"),
        )?
        .err()?;
    assert!(err.contains("Dockerfile:2"), "{err}");
    Ok(())
}

// --------------------------------------------------------------- security

/// Everything under `dir`, recursively (paths relative to it).
fn tree(dir: &Path) -> Vec<String> {
    walkdir::WalkDir::new(dir)
        .min_depth(1)
        .into_iter()
        .filter_map(|e| e.ok())
        .map(|e| {
            e.path()
                .strip_prefix(dir)
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect()
}

#[test]
fn base_symlinks_and_tar_members_never_write_outside_the_rootfs() -> Result<()> {
    let e = Env::new(UNSET)?;
    // The host directory a naive builder would write into.
    let host = e.path("host-target");
    fs::create_dir_all(&host)?;
    let host_rel = host.to_str().unwrap().trim_start_matches('/').to_owned();
    // A base image (built by hoist) whose layer holds /evil -> HOST and a
    // relative one that climbs.
    let base = e.build_context("base", "FROM scratch\nCOPY links/ /\n", &[])?;
    fs::create_dir_all(base.join("links"))?;
    std::os::unix::fs::symlink(&host, base.join("links/evil"))?;
    std::os::unix::fs::symlink(
        format!("../../../../../../../..{}", host.display()),
        base.join("links/evil2"),
    )?;
    e.build(&base, &["-t", "evilbase"]).ok()?;
    let bl = e.top("evilbase")?;
    assert_eq!(get(&bl, "evil").link, host.to_str().unwrap());

    // COPY through the base's symlinks: lands inside the rootfs.
    let ctx = e.build_context(
        "ctx",
        "FROM evilbase\nCOPY x /evil/pwned\nCOPY x /evil2/pwned2\nCOPY d /evil/\nCOPY x /evil\n",
        &[("x", "X"), ("d/dfile", "D")],
    )?;
    let r = e.build(&ctx, &["-t", "copy-evil"]);
    let check_host = |what: &str| {
        let t = tree(&host);
        assert!(t.is_empty(), "{what}: wrote on the host: {t:?}");
    };
    check_host("COPY");
    if r.code == 0 {
        let ls = e.layers("copy-evil")?;
        assert_eq!(text(&ls[1], &format!("{host_rel}/pwned")), "X");
        assert_eq!(text(&ls[2], &format!("{host_rel}/pwned2")), "X");
        assert_eq!(text(&ls[3], &format!("{host_rel}/dfile")), "D");
        for l in &ls[1..] {
            for k in l.keys() {
                assert!(
                    !k.starts_with('/') && !k.contains(".."),
                    "bad layer path {k}"
                );
            }
        }
        // Onto the symlink itself: its target (a directory of the rootfs
        // by now) receives the file.
        assert_eq!(text(&ls[4], &format!("{host_rel}/x")), "X");
        let root = e.unpack_with_cmd("copy-evil")?;
        assert_eq!(fs::read_to_string(root.join(&host_rel).join("pwned"))?, "X");
        check_host("unpack of COPY");
    } else {
        let err = r.err()?;
        println!("COPY through base symlinks: refused: {err}");
        assert!(err.contains("Dockerfile:"), "{err}");
    }

    // Onto a base symlink whose target is missing in the rootfs: the file
    // is written at the target, inside the rootfs.
    let r = e.rebuild(&ctx, "onto-link", "FROM evilbase\nCOPY x /evil\n")?;
    check_host("COPY onto a dangling base symlink");
    assert!(host.is_dir());
    if r.code == 0 {
        let l = e.top("onto-link")?;
        assert_eq!(get(&l, &host_rel).meta(), (b'0', 0o644, 0, 0));
        let root = e.unpack_with_cmd("onto-link")?;
        assert_eq!(fs::read_to_string(root.join(&host_rel))?, "X");
        check_host("unpack of COPY onto a dangling base symlink");
    } else {
        let err = r.err()?;
        assert!(err.contains("Dockerfile:2"), "{err}");
    }

    // COPY --from a stage whose symlink points at a host directory with a
    // secret: resolved inside the stage's rootfs, never the host's.
    let secret = e.path("host-secret");
    fs::create_dir_all(&secret)?;
    fs::write(secret.join("secret.txt"), "host secret")?;
    let leak = e.build_context("leak", "FROM scratch\nCOPY l/ /\n", &[])?;
    fs::create_dir_all(leak.join("l"))?;
    std::os::unix::fs::symlink(&secret, leak.join("l/leak"))?;
    e.build(&leak, &["-t", "leakbase"]).ok()?;
    for src in ["/leak/secret.txt", "/leak/"] {
        let r = e.rebuild(
            &ctx,
            "stolen",
            format!("FROM scratch\nCOPY --from=leakbase {src} /stolen/\n"),
        )?;
        if r.code == 0 {
            let l = e.layers("stolen")?;
            assert!(
                l.iter()
                    .all(|l| l.values().all(|i| i.data != b"host secret")),
                "{src}: host file copied"
            );
        } else {
            let err = r.err()?;
            assert!(err.contains("Dockerfile:2"), "{src}: {err}");
        }
    }

    // ADD of tars that try to escape.
    let mk =
        |name: &str, build: &dyn Fn(&mut tar::Builder<fs::File>) -> Result<()>| -> Result<()> {
            let mut b = tar::Builder::new(fs::File::create(ctx.join(name))?);
            build(&mut b)?;
            b.finish()?;
            Ok(())
        };
    fn file(b: &mut tar::Builder<fs::File>, path: &str, body: &[u8]) -> Result<()> {
        let mut h = tar::Header::new_gnu();
        h.set_size(body.len() as u64);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        // Write the name raw: set_path refuses "..".
        let name = &mut h.as_old_mut().name;
        name[..path.len()].copy_from_slice(path.as_bytes());
        h.set_cksum();
        b.append(&h, body)?;
        Ok(())
    }
    fn link(b: &mut tar::Builder<fs::File>, path: &str, target: &str, hard: bool) -> Result<()> {
        let mut h = tar::Header::new_gnu();
        h.set_size(0);
        h.set_mode(0o777);
        h.set_entry_type(if hard {
            tar::EntryType::Link
        } else {
            tar::EntryType::Symlink
        });
        let name = &mut h.as_old_mut().name;
        name[..path.len()].copy_from_slice(path.as_bytes());
        h.set_link_name(target)?;
        h.set_cksum();
        b.append(&h, &[][..])?;
        Ok(())
    }
    let escape_name = format!("escape-{}", std::process::id());
    mk("dotdot.tar", &|b| {
        file(b, "ok", b"ok")?;
        file(b, &format!("../../{escape_name}"), b"E")
    })?;
    let host_s = host.to_str().unwrap().to_owned();
    mk("symwrite.tar", &|b| {
        link(b, "lnk", &host_s, false)?;
        file(b, "lnk/written", b"W")
    })?;
    mk("viabase.tar", &|b| file(b, "evil/via-base", b"V"))?;
    mk("hardout.tar", &|b| {
        link(b, "hl", "../../../../etc/hostname", true)
    })?;

    for (tarname, expect_inside) in [
        ("dotdot.tar", None),
        ("symwrite.tar", Some("lnk/written")),
        ("viabase.tar", Some("via-base")),
        ("hardout.tar", None),
    ] {
        fs::write(
            ctx.join("Dockerfile"),
            format!("FROM evilbase\nADD {tarname} /\n"),
        )?;
        let tag = tarname.trim_end_matches(".tar");
        let r = e.build(&ctx, &["-t", tag]);
        check_host(tarname);
        for p in [
            e.path(&escape_name),
            PathBuf::from("/").join(&escape_name),
            std::env::temp_dir().join(&escape_name),
            e.store().join(&escape_name),
        ] {
            assert!(!p.exists(), "{tarname}: {} escaped", p.display());
        }
        if r.code != 0 {
            let err = r.err()?;
            println!("{tarname}: refused: {err}");
            assert!(
                err.contains("Dockerfile:2") && err.contains(tarname),
                "{tarname}: {err}"
            );
            continue;
        }
        println!("{tarname}: built, checking it stayed inside");
        let l = e.top(tag)?;
        for k in l.keys() {
            assert!(
                !k.starts_with('/') && !k.split('/').any(|c| c == ".."),
                "{tarname}: bad layer path {k}"
            );
        }
        let root = e.unpack_with_cmd(tag)?;
        check_host(&format!("unpack of {tarname}"));
        match expect_inside {
            Some("via-base") => {
                assert_eq!(
                    fs::read_to_string(root.join(&host_rel).join("via-base"))?,
                    "V"
                );
            }
            Some(p) => {
                // Kept inside: through the rootfs's own view of the link.
                let t = tree(&root);
                assert!(
                    t.iter().any(|x| x.ends_with("written")),
                    "{tarname}: {p} vanished: {t:?}"
                );
            }
            None => {
                let t = tree(&root);
                assert!(
                    !t.iter().any(|x| x.ends_with("hostname")),
                    "{tarname}: {t:?}"
                );
            }
        }
    }
    Ok(())
}

/// A tar member: raw name, symlink target, body.
type Member = (String, Option<String>, Vec<u8>);

#[test]
fn a_context_tar_on_stdin_never_writes_outside_its_directory() -> Result<()> {
    let e = Env::new(UNSET)?;
    let host = e.path("host-target");
    fs::create_dir_all(&host)?;
    let escape = format!("ctx-escape-{}", std::process::id());
    let cases: Vec<(&str, Vec<Member>)> = vec![
        (
            "dotdot",
            vec![(format!("../../{escape}"), None, b"E".to_vec())],
        ),
        (
            "symlink-then-write",
            vec![
                (
                    "lnk".into(),
                    Some(host.to_str().unwrap().to_owned()),
                    vec![],
                ),
                ("lnk/written".into(), None, b"W".to_vec()),
            ],
        ),
    ];
    for (name, members) in cases {
        let tarball = e.path(&format!("{name}.tar"));
        {
            let mut b = tar::Builder::new(fs::File::create(&tarball)?);
            let df = b"FROM scratch\nCOPY . /ctx/\n";
            let mut h = tar::Header::new_gnu();
            h.set_path("Dockerfile")?;
            h.set_size(df.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            b.append(&h, &df[..])?;
            for (path, link, body) in &members {
                let mut h = tar::Header::new_gnu();
                h.set_size(body.len() as u64);
                h.set_mode(0o644);
                if let Some(t) = link {
                    h.set_entry_type(tar::EntryType::Symlink);
                    h.set_link_name(t)?;
                }
                let raw = &mut h.as_old_mut().name;
                raw[..path.len()].copy_from_slice(path.as_bytes());
                h.set_cksum();
                b.append(&h, body.as_slice())?;
            }
            b.finish()?;
        }
        let o = Command::new(hoist_bin())
            .arg("--root")
            .arg(e.store())
            .args(["build", "--progress", "plain", "-t", name, "-"])
            .stdin(fs::File::open(&tarball)?)
            .output()?;
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert!(!stderr.contains("panicked"), "{name}: {stderr}");
        assert!(
            tree(&host).is_empty(),
            "{name}: wrote on the host: {:?}",
            tree(&host)
        );
        for p in [
            e.path(&escape),
            PathBuf::from("/").join(&escape),
            std::env::temp_dir().join(&escape),
        ] {
            assert!(!p.exists(), "{name}: {} escaped", p.display());
        }
        if o.status.success() {
            // Kept inside: whatever landed is inside the image.
            let l = e.top(name)?;
            for k in l.keys() {
                assert!(!k.split('/').any(|c| c == ".."), "{name}: {k}");
            }
        } else {
            println!("{name}: refused: {}", stderr.trim());
            assert!(stderr.contains("context tar"), "{name}: {stderr}");
        }
    }
    Ok(())
}

// ---------------------------------------------------------- heredocs, cache

#[test]
fn heredoc_sources_become_files() -> Result<()> {
    let e = Env::new(UNSET)?;
    let ctx = e.build_context(
        "ctx",
        "FROM scratch\n\
         ARG NAME=world\n\
         COPY <<EOF /greeting\n\
         hello $NAME\n\
         EOF\n\
         COPY <<'RAW' /raw\n\
         hello $NAME\n\
         RAW\n\
         COPY --chmod=0755 <<A <<B /bin/\n\
         #!/bin/sh\n\
         A\n\
         bee\n\
         B\n",
        &[],
    )?;
    let ls = e.build_layers(&ctx, "hd")?;
    let g = get(&ls[0], "greeting");
    assert_eq!(g.meta(), (b'0', 0o644, 0, 0));
    assert_eq!(text(&ls[0], "greeting"), "hello world\n");
    assert_eq!(text(&ls[1], "raw"), "hello $NAME\n");
    assert_eq!(keys(&ls[2]), ["bin/", "bin/A", "bin/B"]);
    assert_eq!(get(&ls[2], "bin/A").mode, 0o755);
    assert_eq!(text(&ls[2], "bin/A"), "#!/bin/sh\n");
    assert_eq!(text(&ls[2], "bin/B"), "bee\n");
    // Changing the body misses; the same body hits.
    let again = e.build(&ctx, &["-t", "hd"]).ok()?;
    assert_eq!(again.cached(), 3, "{}", again.stderr);
    Ok(())
}

#[test]
fn cache_is_keyed_by_content_so_renaming_a_wildcard_match_misses() -> Result<()> {
    let e = Env::new(UNSET)?;
    let ctx = e.build_context(
        "ctx",
        "FROM scratch\nCOPY *.txt /d/\nCOPY dir /dir/\n",
        &[("a.txt", "a"), ("b.txt", "b"), ("dir/x", "x")],
    )?;
    e.build(&ctx, &["-t", "c"]).ok()?;
    assert_eq!(e.build(&ctx, &["-t", "c"]).ok()?.cached(), 2);
    // mtime only: hit.
    sh("touch -d '2001-01-01' a.txt dir/x", &ctx)?;
    assert_eq!(e.build(&ctx, &["-t", "c"]).ok()?.cached(), 2);
    // Rename a wildcard match: the COPY *.txt misses, the other hits.
    fs::rename(ctx.join("a.txt"), ctx.join("c.txt"))?;
    let r = e.build(&ctx, &["-t", "c"]).ok()?;
    assert_eq!(r.cached(), 0, "{}", r.stderr);
    assert_eq!(keys(&e.layers("c")?[0]), ["d/", "d/b.txt", "d/c.txt"]);
    // Renaming inside a copied dir misses too (names are content).
    assert_eq!(e.build(&ctx, &["-t", "c"]).ok()?.cached(), 2);
    fs::rename(ctx.join("dir/x"), ctx.join("dir/y"))?;
    let r = e.build(&ctx, &["-t", "c"]).ok()?;
    assert_eq!(r.cached(), 1, "{}", r.stderr);
    // A new file that the wildcard now matches misses; one it does not
    // match hits.
    fs::write(ctx.join("new.md"), "m")?;
    assert_eq!(e.build(&ctx, &["-t", "c"]).ok()?.cached(), 2);
    fs::write(ctx.join("new.txt"), "t")?;
    assert_eq!(e.build(&ctx, &["-t", "c"]).ok()?.cached(), 0);
    Ok(())
}
