//! Layer writing and applying, end to end on real files (needs root: chown,
//! mknod, security.* xattrs).

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::fs::{symlink, FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{ensure, Context, Result};
use hoist::digest::Digest;
use hoist::image::media;
use hoist::layer::{
    apply_layer, decompress, sys, write_layer, ApplyOptions, Compression, Content, Entry,
    EntryKind, LayerError, WriteOptions,
};
use sha2::Digest as _;

fn entry(path: &str, kind: EntryKind, mode: u32) -> Entry {
    Entry {
        path: path.into(),
        kind,
        mode,
        uid: 0,
        gid: 0,
        mtime: 1_600_000_000,
        xattrs: BTreeMap::new(),
    }
}

fn bytes(path: &str, data: &[u8]) -> Entry {
    entry(path, EntryKind::File(Content::Bytes(data.to_vec())), 0o644)
}

fn write(
    entries: Vec<Entry>,
    compression: Compression,
) -> Result<(Vec<u8>, hoist::layer::LayerInfo)> {
    let mut out = Vec::new();
    let info = write_layer(
        entries,
        &WriteOptions {
            compression,
            source_date_epoch: None,
        },
        &mut out,
    )?;
    Ok((out, info))
}

fn plain(entries: Vec<Entry>) -> Result<Vec<u8>> {
    Ok(write(entries, Compression::None)?.0)
}

fn sha256(b: &[u8]) -> String {
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(b)))
}

fn unpack(tar: &[u8]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    decompress(tar)?.read_to_end(&mut out)?;
    Ok(out)
}

fn apply(tar: &[u8], root: &Path) -> Result<hoist::layer::ApplyStats, LayerError> {
    apply_layer(tar, root, &ApplyOptions::default())
}

/// (name, typeflag, link, pax records) of every header, via the tar crate.
/// (name, typeflag, link name, PAX records).
type Header = (String, u8, String, BTreeMap<String, Vec<u8>>);

fn headers(tar: &[u8]) -> Result<Vec<Header>> {
    let mut a = tar::Archive::new(tar);
    let mut out = Vec::new();
    for e in a.entries()? {
        let mut e = e?;
        let mut pax = BTreeMap::new();
        if let Some(exts) = e.pax_extensions()? {
            for x in exts {
                let x = x?;
                pax.insert(x.key()?.to_owned(), x.value_bytes().to_vec());
            }
        }
        out.push((
            String::from_utf8_lossy(&e.path_bytes()).into_owned(),
            e.header().entry_type().as_byte(),
            e.link_name_bytes()
                .map(|l| String::from_utf8_lossy(&l).into_owned())
                .unwrap_or_default(),
            pax,
        ));
    }
    Ok(out)
}

#[test]
fn equal_input_gives_equal_bytes_whatever_the_order_and_host_mtimes() -> Result<()> {
    let t = tempfile::tempdir()?;
    let src = t.path().join("src");
    fs::create_dir_all(src.join("d/e"))?;
    fs::write(src.join("d/a"), b"aaa")?;
    fs::write(src.join("d/e/b"), vec![7u8; 100_000])?;
    fs::write(src.join("top"), b"t")?;
    let scan = |src: &Path| -> Result<Vec<Entry>> {
        let mut v = Vec::new();
        for w in walkdir::WalkDir::new(src).min_depth(1) {
            let w = w?;
            let m = w.metadata()?;
            let rel = w
                .path()
                .strip_prefix(src)?
                .to_str()
                .context("utf8")?
                .to_owned();
            let kind = if m.is_dir() {
                EntryKind::Dir
            } else {
                EntryKind::File(Content::Path(w.path().to_owned()))
            };
            v.push(Entry {
                path: rel,
                kind,
                mode: m.mode() & 0o7777,
                uid: 0,
                gid: 0,
                mtime: m.mtime(),
                xattrs: BTreeMap::new(),
            });
        }
        Ok(v)
    };
    let opts = |compression| WriteOptions {
        compression,
        source_date_epoch: Some(1_000_000),
    };
    for compression in [
        Compression::default(),
        Compression::Zstd { level: 3 },
        Compression::None,
    ] {
        let a = scan(&src)?;
        let mut b = scan(&src)?;
        b.reverse();
        let (mut out_a, mut out_b) = (Vec::new(), Vec::new());
        let info_a = write_layer(a, &opts(compression), &mut out_a)?;
        // Touch everything: host mtimes change, the layer must not.
        for p in ["d/a", "d/e/b", "top", "d", "d/e"] {
            let f = fs::File::open(src.join(p))?;
            f.set_modified(std::time::SystemTime::now() + std::time::Duration::from_secs(3600))?;
        }
        let info_b = write_layer(b, &opts(compression), &mut out_b)?;
        ensure!(out_a == out_b, "{compression:?}: bytes differ");
        ensure!(info_a == info_b);
        // Without SOURCE_DATE_EPOCH the new mtimes show.
        let mut out_c = Vec::new();
        let info_c = write_layer(
            scan(&src)?,
            &WriteOptions {
                compression,
                source_date_epoch: None,
            },
            &mut out_c,
        )?;
        ensure!(info_c.diff_id != info_a.diff_id);
    }
    // Every header mtime is clamped.
    let (out, _) = {
        let mut o = Vec::new();
        let i = write_layer(scan(&src)?, &opts(Compression::None), &mut o)?;
        (o, i)
    };
    let mut a = tar::Archive::new(&out[..]);
    for e in a.entries()? {
        ensure!(e?.header().mtime()? == 1_000_000);
    }
    Ok(())
}

#[test]
fn digests_are_those_of_the_bytes_and_every_compression_reads_back() -> Result<()> {
    let entries = || {
        vec![
            entry("d", EntryKind::Dir, 0o755),
            bytes("d/f", &vec![42u8; 300_000]),
            bytes("g", b"hello"),
        ]
    };
    let (tar, plain_info) = write(entries(), Compression::None)?;
    ensure!(plain_info.digest == plain_info.diff_id);
    ensure!(plain_info.media_type == media::OCI_LAYER_TAR);
    ensure!(plain_info.diff_id.to_string() == sha256(&tar));
    ensure!(plain_info.size == tar.len() as u64);
    // Ends with the two zero blocks and is block-aligned.
    ensure!(tar.len() % 512 == 0 && tar[tar.len() - 1024..].iter().all(|&b| b == 0));

    for (c, mt) in [
        (Compression::Gzip { level: 6 }, media::OCI_LAYER_GZIP),
        (Compression::Gzip { level: 1 }, media::OCI_LAYER_GZIP),
        (Compression::Zstd { level: 3 }, media::OCI_LAYER_ZSTD),
    ] {
        let (out, info) = write(entries(), c)?;
        ensure!(info.media_type == mt);
        ensure!(info.digest.to_string() == sha256(&out), "{c:?} digest");
        ensure!(info.size == out.len() as u64);
        ensure!(info.diff_id == plain_info.diff_id, "{c:?} diff_id");
        ensure!(out.len() < tar.len() / 4, "{c:?} compresses");
        let back = unpack(&out)?;
        ensure!(back == tar, "{c:?} decompresses to the same tar");
        ensure!(Digest::of(&back) == info.diff_id);
    }
    // gzip header: no name, mtime 0.
    let (gz, _) = write(entries(), Compression::default())?;
    ensure!(gz[0..2] == [0x1f, 0x8b] && gz[3] & 0x08 == 0 && gz[4..8] == [0, 0, 0, 0]);

    // The real sha256sum agrees.
    let t = tempfile::tempdir()?;
    fs::write(t.path().join("l"), &gz)?;
    let o = Command::new("sha256sum").arg(t.path().join("l")).output()?;
    let (_, info) = write(entries(), Compression::default())?;
    ensure!(String::from_utf8(o.stdout)?.starts_with(info.digest.hex()));

    ensure!(matches!(
        write(entries(), Compression::Gzip { level: 10 }),
        Err(e) if e.downcast_ref::<LayerError>().is_some()
    ));
    Ok(())
}

/// The tree used for the round trip: every kind of entry and metadata.
fn rich_entries(src: &Path) -> Result<Vec<Entry>> {
    let long_dir = format!("long/{}", ["segment-of-a-long-path"; 12].join("/"));
    let big = vec![0xabu8; 70_000];
    fs::write(src.join("big"), &big)?;
    let mut caps = BTreeMap::new();
    // A v2 file capability: cap_net_bind_service+ep.
    caps.insert(
        "security.capability".to_owned(),
        vec![0, 0, 0, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
    );
    caps.insert("user.note".to_owned(), b"hi\0there".to_vec());
    let mut v = vec![
        Entry {
            uid: 1000,
            gid: 2000,
            ..entry("etc", EntryKind::Dir, 0o755)
        },
        entry("tmp", EntryKind::Dir, 0o1777),
        entry("sgid", EntryKind::Dir, 0o2750),
        Entry {
            xattrs: caps,
            ..bytes("bin/ping", b"\x7fELF...")
        },
        Entry {
            uid: 1000,
            gid: 2000,
            ..entry(
                "bin/su",
                EntryKind::File(Content::Bytes(b"su".to_vec())),
                0o4755,
            )
        },
        entry(
            "bin/big",
            EntryKind::File(Content::Path(src.join("big"))),
            0o600,
        ),
        entry(
            "bin/link-to-big",
            EntryKind::Hardlink("bin/big".into()),
            0o600,
        ),
        entry("a/early-link", EntryKind::Hardlink("bin/su".into()), 0o4755),
        entry("bin/sh", EntryKind::Symlink("busybox".into()), 0o777),
        entry(
            "bin/abs",
            EntryKind::Symlink(format!("/{}", "x".repeat(150))),
            0o777,
        ),
        entry(
            "dev/null",
            EntryKind::CharDevice { major: 1, minor: 3 },
            0o666,
        ),
        entry(
            "dev/loop9",
            EntryKind::BlockDevice { major: 7, minor: 9 },
            0o660,
        ),
        entry(
            "dev/big",
            EntryKind::CharDevice {
                major: 4095,
                minor: 1_048_575,
            },
            0o600,
        ),
        entry("run/fifo", EntryKind::Fifo, 0o620),
        bytes(
            &format!("{long_dir}/file-with-a-rather-long-name-too.txt"),
            b"deep",
        ),
        bytes("naïve/ünïcödé", b"utf8"),
        Entry {
            uid: 3_000_000,
            gid: 4_000_000,
            ..bytes("bigids", b"")
        },
        Entry {
            mtime: 0,
            ..bytes("epoch", b"")
        },
    ];
    // Missing parents of files are fine in a layer.
    v.push(Entry {
        mtime: 1_234_567_890,
        ..entry("etc/dir-mtime", EntryKind::Dir, 0o700)
    });
    v.push(bytes("etc/dir-mtime/f", b"f"));
    Ok(v)
}

#[test]
fn round_trip_keeps_every_type_mode_owner_content_link_xattr_and_device() -> Result<()> {
    let t = tempfile::tempdir()?;
    let src = t.path().join("src");
    fs::create_dir(&src)?;
    let entries = rich_entries(&src)?;
    let (gz, _) = write(entries.clone(), Compression::default())?;
    let root = t.path().join("root");
    fs::create_dir(&root)?;
    let stats = apply(&unpack(&gz)?, &root)?;
    ensure!(stats.hardlinks == 2, "{stats:?}");

    for e in &entries {
        let p = root.join(&e.path);
        let m = fs::symlink_metadata(&p).with_context(|| e.path.clone())?;
        let ctx = || format!("{}: {m:?}", e.path);
        if !matches!(e.kind, EntryKind::Hardlink(_)) {
            ensure!(m.uid() == e.uid && m.gid() == e.gid, "owner {}", ctx());
        }
        if !matches!(e.kind, EntryKind::Symlink(_) | EntryKind::Hardlink(_)) {
            ensure!(
                m.mode() & 0o7777 == e.mode,
                "mode {:o} {}",
                m.mode() & 0o7777,
                ctx()
            );
            ensure!(m.mtime() == e.mtime, "mtime {}", ctx());
        }
        match &e.kind {
            EntryKind::Dir => ensure!(m.is_dir(), "{}", ctx()),
            EntryKind::File(c) => {
                ensure!(m.is_file(), "{}", ctx());
                let want = match c {
                    Content::Bytes(b) => b.clone(),
                    Content::Path(p) => fs::read(p)?,
                };
                ensure!(fs::read(&p)? == want, "content {}", ctx());
            }
            EntryKind::Symlink(target) => {
                ensure!(m.file_type().is_symlink());
                ensure!(fs::read_link(&p)? == PathBuf::from(target));
            }
            EntryKind::Hardlink(target) => {
                let tm = fs::symlink_metadata(root.join(target))?;
                ensure!(m.ino() == tm.ino() && m.nlink() == 2, "hardlink {}", ctx());
            }
            EntryKind::CharDevice { major, minor } | EntryKind::BlockDevice { major, minor } => {
                let is_char = matches!(e.kind, EntryKind::CharDevice { .. });
                ensure!(if is_char {
                    m.file_type().is_char_device()
                } else {
                    m.file_type().is_block_device()
                });
                ensure!(
                    libc::major(m.rdev()) == *major && libc::minor(m.rdev()) == *minor,
                    "rdev {}",
                    ctx()
                );
            }
            EntryKind::Fifo => ensure!(m.file_type().is_fifo()),
            EntryKind::Whiteout | EntryKind::Opaque => unreachable!(),
        }
        let names = sys::llistxattr(&p)?;
        let want: Vec<&String> = e.xattrs.keys().collect();
        let got: Vec<&String> = names
            .iter()
            .filter(|n| !n.starts_with("security.selinux"))
            .collect();
        ensure!(got == want, "xattrs {got:?} {}", ctx());
        for (k, v) in &e.xattrs {
            ensure!(
                sys::lgetxattr(&p, k)?.as_ref() == Some(v),
                "xattr {k} {}",
                ctx()
            );
        }
    }
    Ok(())
}

#[test]
fn tar_format_hardlinks_xattrs_long_names_checked_with_real_tools() -> Result<()> {
    let t = tempfile::tempdir()?;
    let src = t.path().join("src");
    fs::create_dir(&src)?;
    let tar = plain(rich_entries(&src)?)?;
    let hs = headers(&tar)?;
    let find = |name: &str| {
        hs.iter()
            .find(|h| h.0 == name)
            .with_context(|| format!("{name} not in {hs:#?}"))
    };
    // Hard links are type 1 and point at the first member in tar order.
    ensure!(find("bin/link-to-big")?.1 == b'1' && find("bin/link-to-big")?.2 == "bin/big");
    ensure!(
        find("a/early-link")?.1 == b'0',
        "the earlier member carries the content"
    );
    let su = find("bin/su")?;
    ensure!(su.1 == b'1' && su.2 == "a/early-link");
    // security.capability as a PAX SCHILY.xattr record.
    let ping = find("bin/ping")?;
    ensure!(ping.3.get("SCHILY.xattr.security.capability").map(Vec::len) == Some(20));
    ensure!(ping.3.get("SCHILY.xattr.user.note").map(Vec::as_slice) == Some(&b"hi\0there"[..]));
    ensure!(find("etc/")?.1 == b'5', "directories end in /");
    ensure!(find("bigids")?.3.get("uid").map(Vec::as_slice) == Some(&b"3000000"[..]));
    ensure!(find("dev/big")?.3.contains_key("SCHILY.devminor") || find("dev/big")?.3.is_empty());
    ensure!(hs.iter().any(|h| h.0.len() > 255), "a long path survived");
    // Directories precede their contents.
    let names: Vec<&str> = hs.iter().map(|h| h.0.as_str()).collect();
    ensure!(
        names.iter().position(|n| *n == "etc/").unwrap()
            < names.iter().position(|n| *n == "etc/dir-mtime/").unwrap()
    );

    // GNU tar lists it.
    let path = t.path().join("l.tar");
    fs::write(&path, &tar)?;
    let o = Command::new("tar")
        .args(["--numeric-owner", "-tvf"])
        .arg(&path)
        .output()?;
    ensure!(
        o.status.success(),
        "tar: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let listing = String::from_utf8(o.stdout)?;
    ensure!(listing.contains("-rwsr-xr-x 1000/2000"), "{listing}");
    ensure!(
        listing.contains("bin/link-to-big link to bin/big"),
        "{listing}"
    );
    let null = listing
        .lines()
        .find(|l| l.ends_with(" dev/null"))
        .context("dev/null listed")?;
    ensure!(
        null.starts_with("crw-rw-rw- 0/0 ") && null.contains(" 1,3 "),
        "{null}"
    );
    ensure!(
        listing.contains("drwxrwxrwt 0/0 ") && listing.contains("drwxr-s--- 0/0"),
        "{listing}"
    );
    ensure!(
        listing.contains("naïve/ünïcödé") || listing.contains("na\\303\\257ve"),
        "{listing}"
    );

    // Python's tarfile reads the PAX records and owner names.
    let script = r#"
import sys, tarfile
t = tarfile.open(sys.argv[1])
for m in t.getmembers():
    assert m.uname == "" and m.gname == "", m.name
    x = {k: v for k, v in m.pax_headers.items() if k.startswith("SCHILY.xattr.")}
    print(m.name, m.type.decode(), m.uid, m.gid, m.devmajor, m.devminor, m.linkname, sorted(x), sep="|")
"#;
    let o = Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(&path)
        .output()?;
    ensure!(
        o.status.success(),
        "python: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let py = String::from_utf8(o.stdout)?;
    ensure!(
        py.contains(
            "bin/ping|0|0|0|0|0||['SCHILY.xattr.security.capability', 'SCHILY.xattr.user.note']"
        ),
        "{py}"
    );
    ensure!(py.contains("dev/big|3|0|0|4095|1048575||[]"), "{py}");
    ensure!(py.contains("bigids|0|3000000|4000000|"), "{py}");
    ensure!(
        py.contains(&format!("bin/abs|2|0|0|0|0|/{}|[]", "x".repeat(150))),
        "{py}"
    );
    Ok(())
}

#[test]
fn whiteouts_and_opaque_dirs_in_both_orders() -> Result<()> {
    // A raw tar, so the entry order is ours.
    fn raw(entries: &[(&str, u8)]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (p, t) in entries {
            let mut h = tar::Header::new_ustar();
            h.set_path(p).unwrap();
            h.set_entry_type(tar::EntryType::new(*t));
            h.set_mode(if *t == b'5' { 0o755 } else { 0o644 });
            h.set_uid(0);
            h.set_gid(0);
            h.set_mtime(0);
            h.set_size(0);
            h.set_cksum();
            b.append(&h, &[][..]).unwrap();
        }
        b.into_inner().unwrap()
    }
    let lower = plain(vec![
        bytes("d/a", b"a"),
        bytes("d/sub/c", b"c"),
        bytes("d/sub/keep-dir/x", b"x"),
        bytes("x", b"x"),
        bytes("y", b"y"),
        bytes("gone/deep/f", b"f"),
    ])?;
    let orders: [&[(&str, u8)]; 2] = [
        &[
            ("d/.wh..wh..opq", b'0'),
            ("d/new", b'0'),
            ("d/sub/new2", b'0'),
            (".wh.x", b'0'),
            (".wh.gone", b'0'),
            (".wh.never-existed", b'0'),
        ],
        &[
            (".wh.gone", b'0'),
            ("d/sub/new2", b'0'),
            ("d/new", b'0'),
            (".wh.x", b'0'),
            ("d/.wh..wh..opq", b'0'),
        ],
    ];
    for (i, order) in orders.iter().enumerate() {
        let t = tempfile::tempdir()?;
        apply(&lower, t.path())?;
        let stats = apply(&raw(order), t.path())?;
        ensure!(stats.whiteouts as usize == order.iter().filter(|e| e.0.contains(".wh.")).count());
        let mut found = Vec::new();
        for w in walkdir::WalkDir::new(t.path())
            .min_depth(1)
            .sort_by_file_name()
        {
            found.push(
                w?.path()
                    .strip_prefix(t.path())?
                    .to_string_lossy()
                    .into_owned(),
            );
        }
        ensure!(
            found == ["d", "d/new", "d/sub", "d/sub/new2", "y"],
            "order {i}: {found:?}"
        );
    }

    // What the writer produces for Whiteout and Opaque applies the same way.
    let t = tempfile::tempdir()?;
    apply(&lower, t.path())?;
    let upper = plain(vec![
        entry("x", EntryKind::Whiteout, 0),
        entry("d", EntryKind::Opaque, 0),
        entry("d", EntryKind::Dir, 0o711),
        bytes("d/new", b"n"),
    ])?;
    let names: Vec<String> = headers(&upper)?.into_iter().map(|h| h.0).collect();
    ensure!(
        names == [".wh.x", "d/", "d/.wh..wh..opq", "d/new"],
        "{names:?}"
    );
    apply(&upper, t.path())?;
    ensure!(
        !t.path().join("x").exists()
            && !t.path().join("d/a").exists()
            && !t.path().join("d/sub").exists()
    );
    ensure!(fs::read(t.path().join("d/new"))? == b"n");
    ensure!(fs::metadata(t.path().join("d"))?.permissions().mode() & 0o7777 == 0o711);
    Ok(())
}

/// Raw ustar bytes for entries the tar crate's safe setters refuse.
fn raw_tar(entries: &[(&str, u8, &str, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    for (path, t, link, data) in entries {
        let mut h = tar::Header::new_ustar();
        h.as_old_mut().name[..path.len()].copy_from_slice(path.as_bytes());
        h.as_old_mut().linkname[..link.len()].copy_from_slice(link.as_bytes());
        h.set_entry_type(tar::EntryType::new(*t));
        h.set_mode(0o644);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        h.set_size(data.len() as u64);
        h.set_cksum();
        out.extend_from_slice(h.as_bytes());
        out.extend_from_slice(data);
        out.resize(out.len().div_ceil(512) * 512, 0);
    }
    out.resize(out.len() + 1024, 0);
    out
}

#[test]
fn breakout_attempts_stay_inside_the_root() -> Result<()> {
    let t = tempfile::tempdir()?;
    let host_passwd = fs::read("/etc/passwd")?;
    let outside = t.path().join("outside");
    fs::create_dir(&outside)?;
    fs::write(outside.join("secret"), b"keep")?;
    let snapshot = || -> Result<()> {
        ensure!(
            fs::read("/etc/passwd")? == host_passwd,
            "host /etc/passwd changed"
        );
        ensure!(
            fs::read(outside.join("secret"))? == b"keep",
            "outside file changed"
        );
        let n = fs::read_dir(&outside)?.count();
        ensure!(n == 1, "something was created outside ({n} entries)");
        let m = fs::metadata(outside.join("secret"))?;
        ensure!(
            m.permissions().mode() & 0o777 == 0o644 && m.nlink() == 1,
            "outside file touched: {m:?}"
        );
        Ok(())
    };
    let out = outside.to_str().context("utf8")?;
    let new_root = |name: &str| -> Result<PathBuf> {
        let r = t.path().join(name);
        fs::create_dir(&r)?;
        Ok(r)
    };

    // a -> /etc, then a/passwd: lands in root/etc/passwd.
    let root = new_root("r1")?;
    apply(
        &raw_tar(&[("a", b'2', "/etc", b""), ("a/passwd", b'0', "", b"pwned")]),
        &root,
    )?;
    snapshot()?;
    ensure!(fs::read(root.join("etc/passwd"))? == b"pwned");

    // a -> ../../.., then a/x: lands in root/x.
    let root = new_root("r2")?;
    apply(
        &raw_tar(&[("a", b'2', "../../..", b""), ("a/x", b'0', "", b"x")]),
        &root,
    )?;
    snapshot()?;
    ensure!(fs::read(root.join("x"))? == b"x");

    // Symlink to the outside dir itself.
    let root = new_root("r3")?;
    apply(
        &raw_tar(&[
            ("o", b'2', out, b""),
            ("o/secret", b'0', "", b"pwned"),
            ("o/new", b'0', "", b""),
        ]),
        &root,
    )?;
    snapshot()?;

    // ../x, absolute paths and climbing hard links are refused, naming the entry.
    for (i, tar) in [
        raw_tar(&[("../x", b'0', "", b"x")]),
        raw_tar(&[("a/../../x", b'0', "", b"x")]),
        raw_tar(&[("/abs", b'0', "", b"x")]),
        raw_tar(&[("h", b'1', "../../etc/passwd", b"")]),
        raw_tar(&[("h", b'1', "/etc/passwd", b"")]),
    ]
    .iter()
    .enumerate()
    {
        let root = new_root(&format!("refuse{i}"))?;
        let err = apply(tar, &root)
            .err()
            .with_context(|| format!("case {i} was accepted"))?;
        let msg = err.to_string();
        ensure!(matches!(err, LayerError::Refused { .. }), "case {i}: {msg}");
        ensure!(msg.contains("tar entry \""), "case {i}: {msg}");
        snapshot()?;
    }

    // A hard link through a symlink resolves inside the root.
    let root = new_root("r4")?;
    let res = apply(
        &raw_tar(&[("a", b'2', "/etc", b""), ("h", b'1', "a/passwd", b"")]),
        &root,
    );
    ensure!(res.is_err(), "root/etc/passwd does not exist");
    snapshot()?;

    // Symlinks planted in the root before apply.
    let root = new_root("r5")?;
    symlink(&outside, root.join("etc"))?;
    symlink(outside.join("secret"), root.join("file"))?;
    symlink(&outside, root.join("dir"))?;
    symlink("../../../../../..", root.join("up"))?;
    apply(
        &raw_tar(&[
            ("etc/passwd", b'0', "", b"x"),
            ("file", b'0', "", b"replaced"),
            ("dir/", b'5', "", b""),
            ("up/escaped", b'0', "", b"e"),
        ]),
        &root,
    )?;
    snapshot()?;
    ensure!(fs::read(root.join(outside.strip_prefix("/")?).join("passwd"))? == b"x");
    ensure!(
        fs::symlink_metadata(root.join("file"))?.is_file(),
        "final symlink replaced, not followed"
    );
    ensure!(fs::symlink_metadata(root.join("dir"))?.is_dir());
    ensure!(fs::read(root.join("escaped"))? == b"e");

    // Whiteouts through a planted symlink don't delete outside.
    let root = new_root("r6")?;
    symlink(&outside, root.join("o"))?;
    apply(
        &raw_tar(&[("o/.wh.secret", b'0', "", b""), (".wh.o", b'0', "", b"")]),
        &root,
    )?;
    snapshot()?;
    ensure!(
        fs::symlink_metadata(root.join("o")).is_err(),
        "the symlink itself was whited out"
    );

    // An opaque marker under a planted symlink clears nothing outside.
    let root = new_root("r7")?;
    symlink(&outside, root.join("o"))?;
    apply(&raw_tar(&[("o/.wh..wh..opq", b'0', "", b"")]), &root)?;
    snapshot()?;
    Ok(())
}

#[test]
fn corrupt_and_truncated_tars_are_errors_not_panics() -> Result<()> {
    let tar = plain(vec![
        entry("d", EntryKind::Dir, 0o755),
        bytes("d/f", &vec![1u8; 5000]),
        bytes("g", b"g"),
    ])?;
    let mut errors = 0;
    for cut in (0..tar.len()).step_by(97).chain([512, 1024, 1536, 700]) {
        let t = tempfile::tempdir()?;
        if apply(&tar[..cut], t.path()).is_err() {
            errors += 1;
        }
    }
    ensure!(errors > 0);
    // Cut inside d/f's content: an error that names the entry.
    let t = tempfile::tempdir()?;
    let err = apply(&tar[..512 * 3 + 100], t.path())
        .err()
        .context("truncated content accepted")?;
    ensure!(err.to_string().contains("d/f"), "{err}");

    // A damaged header checksum.
    let mut bad = tar.clone();
    bad[512 + 10] ^= 0x55;
    let t = tempfile::tempdir()?;
    ensure!(apply(&bad, t.path()).is_err());

    // Garbage.
    let garbage: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let t = tempfile::tempdir()?;
    ensure!(apply(&garbage, t.path()).is_err());

    // A truncated gzip stream.
    let (gz, _) = write(
        vec![bytes("f", &vec![3u8; 100_000])],
        Compression::default(),
    )?;
    let t = tempfile::tempdir()?;
    let r = decompress(&gz[..gz.len() / 2])?;
    ensure!(apply_layer(r, t.path(), &ApplyOptions::default()).is_err());
    Ok(())
}

/// A writer that changes the source file when the layer writer starts
/// writing content, as a concurrent modification would.
struct Meddler {
    path: PathBuf,
    grow: bool,
    done: bool,
}

impl Write for Meddler {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if !self.done {
            self.done = true;
            let f = fs::OpenOptions::new().append(true).open(&self.path)?;
            if self.grow {
                (&f).write_all(b"more")?;
            } else {
                f.set_len(1000)?;
            }
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_file_that_changes_size_while_read_is_an_error() -> Result<()> {
    for grow in [true, false] {
        let t = tempfile::tempdir()?;
        let p = t.path().join("f");
        fs::write(&p, vec![5u8; 1 << 20])?;
        let e = entry("f", EntryKind::File(Content::Path(p.clone())), 0o644);
        let res = write_layer(
            vec![e],
            &WriteOptions {
                compression: Compression::None,
                source_date_epoch: None,
            },
            Meddler {
                path: p,
                grow,
                done: false,
            },
        );
        ensure!(
            matches!(res, Err(LayerError::FileChanged { .. })),
            "grow={grow}: {res:?}"
        );
    }
    // A source that is not a regular file.
    let res = write(
        vec![entry(
            "f",
            EntryKind::File(Content::Path("/dev/null".into())),
            0o644,
        )],
        Compression::None,
    );
    ensure!(res.is_err());
    Ok(())
}

#[test]
fn apply_replaces_and_keeps_as_docker_does() -> Result<()> {
    let t = tempfile::tempdir()?;
    let root = t.path();
    apply(
        &plain(vec![
            Entry {
                uid: 5,
                gid: 5,
                ..entry("d", EntryKind::Dir, 0o700)
            },
            bytes("d/kept", b"k"),
            entry("was-dir", EntryKind::Dir, 0o755),
            bytes("was-dir/inner", b"i"),
            bytes("was-file", b"f"),
        ])?,
        root,
    )?;
    apply(
        &plain(vec![
            Entry {
                uid: 7,
                gid: 8,
                ..entry("d", EntryKind::Dir, 0o751)
            },
            bytes("was-dir", b"now a file"),
            entry("was-file", EntryKind::Dir, 0o755),
        ])?,
        root,
    )?;
    let m = fs::metadata(root.join("d"))?;
    ensure!(
        m.uid() == 7 && m.gid() == 8 && m.mode() & 0o7777 == 0o751,
        "existing dir updated"
    );
    ensure!(
        fs::read(root.join("d/kept"))? == b"k",
        "existing dir kept its content"
    );
    ensure!(fs::read(root.join("was-dir"))? == b"now a file");
    ensure!(fs::metadata(root.join("was-file"))?.is_dir());

    // same_owner = false leaves files owned by us.
    let t = tempfile::tempdir()?;
    apply_layer(
        &plain(vec![Entry {
            uid: 9,
            gid: 9,
            ..bytes("f", b"")
        }])?[..],
        t.path(),
        &ApplyOptions { same_owner: false },
    )?;
    ensure!(fs::metadata(t.path().join("f"))?.uid() == 0);
    Ok(())
}
