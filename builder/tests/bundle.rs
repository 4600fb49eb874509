//! Unpacking an image to a runtime bundle, and running it for real with
//! runc (needs root, runc at /usr/sbin/runc and Debian's busybox-static).

use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{bail, ensure, Context, Result};
use hoist::bundle::{write_bundle, BundleError, BundleOptions};
use hoist::image::ImageConfig;
use hoist::layer::{write_layer, Content, Entry, EntryKind, WriteOptions};

const RUNC: &str = "/usr/sbin/runc";
const BUSYBOX: &str = "/bin/busybox";

fn busybox() -> Result<PathBuf> {
    if !Path::new(BUSYBOX).exists() {
        let st = Command::new("apt-get")
            .args(["install", "-y", "busybox-static"])
            .status()?;
        ensure!(st.success(), "apt-get install busybox-static failed");
    }
    Ok(PathBuf::from(BUSYBOX))
}

/// A base layer built with the tar crate: busybox, applets, passwd/group.
fn base_layer(extra: &[(&str, &[u8])]) -> Result<Vec<u8>> {
    let mut b = tar::Builder::new(Vec::new());
    let dir = |b: &mut tar::Builder<Vec<u8>>, p: &str, mode: u32| -> Result<()> {
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(tar::EntryType::Directory);
        h.set_path(p)?;
        h.set_mode(mode);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(1_600_000_000);
        h.set_size(0);
        h.set_cksum();
        b.append(&h, &[][..])?;
        Ok(())
    };
    let file = |b: &mut tar::Builder<Vec<u8>>, p: &str, mode: u32, data: &[u8]| -> Result<()> {
        let mut h = tar::Header::new_ustar();
        h.set_path(p)?;
        h.set_mode(mode);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(1_600_000_000);
        h.set_size(data.len() as u64);
        h.set_cksum();
        b.append(&h, data)?;
        Ok(())
    };
    for d in ["bin", "etc", "tmp", "home", "home/app"] {
        dir(&mut b, d, if d == "tmp" { 0o1777 } else { 0o755 })?;
    }
    file(&mut b, "bin/busybox", 0o755, &fs::read(busybox()?)?)?;
    for applet in [
        "sh", "id", "env", "pwd", "hostname", "ls", "cat", "sort", "echo",
    ] {
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_path(format!("bin/{applet}"))?;
        h.set_link_name("busybox")?;
        h.set_mode(0o777);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(1_600_000_000);
        h.set_size(0);
        h.set_cksum();
        b.append(&h, &[][..])?;
    }
    file(
        &mut b,
        "etc/passwd",
        0o644,
        b"root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n",
    )?;
    file(
        &mut b,
        "etc/group",
        0o644,
        b"root:x:0:\napp:x:1000:\nextra:x:2000:app\nother:x:3000:root\n",
    )?;
    file(&mut b, "etc/removeme", 0o644, b"x")?;
    for (p, data) in extra {
        file(&mut b, p, 0o644, data)?;
    }
    Ok(b.into_inner()?)
}

/// A second layer written by hoist itself (gzip): a whiteout and a file.
fn upper_layer() -> Result<Vec<u8>> {
    let mut out = Vec::new();
    write_layer(
        vec![
            Entry {
                path: "etc/removeme".into(),
                kind: EntryKind::Whiteout,
                mode: 0,
                uid: 0,
                gid: 0,
                mtime: 0,
                xattrs: BTreeMap::new(),
            },
            Entry {
                path: "etc/motd".into(),
                kind: EntryKind::File(Content::Bytes(b"from layer 2\n".to_vec())),
                mode: 0o644,
                uid: 0,
                gid: 0,
                mtime: 0,
                xattrs: BTreeMap::new(),
            },
        ],
        &WriteOptions::default(),
        &mut out,
    )?;
    Ok(out)
}

fn config(json: &str) -> Result<ImageConfig> {
    Ok(serde_json::from_str(&format!(
        r#"{{"architecture":"amd64","os":"linux","config":{json},"rootfs":{{"type":"layers","diff_ids":[]}}}}"#
    ))?)
}

fn layers<'a>(ls: &'a [Vec<u8>]) -> Vec<Box<dyn Read + 'a>> {
    ls.iter()
        .map(|l| Box::new(&l[..]) as Box<dyn Read + 'a>)
        .collect()
}

/// Runs the bundle with runc and returns its stdout.
fn runc_run(bundle: &Path) -> Result<String> {
    let state = tempfile::tempdir()?;
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH)?.as_nanos();
    let id = format!("hoist-bundle-test-{}-{nanos}", std::process::id());
    let out = Command::new(RUNC)
        .arg("--root")
        .arg(state.path())
        .args(["run", "--bundle"])
        .arg(bundle)
        .arg(&id)
        .stdin(std::process::Stdio::null())
        .output()
        .context("running runc")?;
    // `run` deletes the container when it exits; make sure anyway.
    let _ = Command::new(RUNC)
        .arg("--root")
        .arg(state.path())
        .args(["delete", "-f", &id])
        .output();
    if !out.status.success() {
        bail!(
            "runc run failed ({}): {}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        );
    }
    Ok(String::from_utf8(out.stdout)?)
}

#[test]
fn the_bundle_runs_with_runc() -> Result<()> {
    let t = tempfile::tempdir()?;
    let bundle = t.path().join("bundle");
    let cfg = config(
        r#"{"User":"app","WorkingDir":"/work/dir","Env":["FOO=bar baz","PATH=/bin"],
            "Entrypoint":["/bin/sh","-c"],
            "Cmd":["echo cwd=$(pwd); id; echo host=$(hostname); env | sort; ls /etc; cat /etc/motd"]}"#,
    )?;
    let ls = [base_layer(&[])?, upper_layer()?];
    write_bundle(
        &cfg,
        layers(&ls),
        &bundle,
        &BundleOptions {
            hostname: Some("buildbox".into()),
            ..BundleOptions::default()
        },
    )?;

    let spec: serde_json::Value = serde_json::from_slice(&fs::read(bundle.join("config.json"))?)?;
    ensure!(spec["root"]["path"] == "rootfs");
    ensure!(spec["process"]["user"]["uid"] == 1000 && spec["process"]["user"]["gid"] == 1000);
    ensure!(spec["process"]["user"]["additionalGids"] == serde_json::json!([1000, 2000]));
    ensure!(spec["process"]["args"][0] == "/bin/sh" && spec["process"]["args"][1] == "-c");
    ensure!(spec["process"]["noNewPrivileges"] == true);
    ensure!(spec["process"]["rlimits"][0]["soft"] == 1024);
    let ns: Vec<&str> = spec["linux"]["namespaces"]
        .as_array()
        .context("namespaces")?
        .iter()
        .filter_map(|n| n["type"].as_str())
        .collect();
    ensure!(ns == ["pid", "network", "ipc", "uts", "mount"]);
    ensure!(bundle.join("rootfs/work/dir").is_dir(), "WORKDIR created");

    let out = runc_run(&bundle)?;
    let lines: Vec<&str> = out.lines().collect();
    ensure!(lines.contains(&"cwd=/work/dir"), "{out}");
    ensure!(
        lines
            .iter()
            .any(|l| l.starts_with("uid=1000(app) gid=1000(app) groups=")
                && l.contains("2000(extra)")
                && !l.contains("3000")),
        "{out}"
    );
    ensure!(lines.contains(&"host=buildbox"), "{out}");
    ensure!(lines.contains(&"FOO=bar baz"), "{out}");
    ensure!(lines.contains(&"PATH=/bin"), "the image's PATH wins: {out}");
    ensure!(lines.contains(&"HOSTNAME=buildbox"), "{out}");
    ensure!(lines.contains(&"HOME=/home/app"), "{out}");
    ensure!(
        !out.contains("removeme"),
        "layer 2's whiteout applied: {out}"
    );
    ensure!(lines.contains(&"from layer 2"), "{out}");
    Ok(())
}

#[test]
fn defaults_override_and_numeric_user_run_too() -> Result<()> {
    let t = tempfile::tempdir()?;
    let bundle = t.path().join("b");
    // No USER, no WORKDIR, no PATH: root, /, docker's PATH; args replace Cmd.
    let cfg = config(r#"{"Cmd":["/bin/echo","not this"]}"#)?;
    let ls = [base_layer(&[])?];
    write_bundle(
        &cfg,
        layers(&ls),
        &bundle,
        &BundleOptions {
            args_override: Some(vec![
                "/bin/sh".into(),
                "-c".into(),
                "id; pwd; hostname; echo $PATH".into(),
            ]),
            ..BundleOptions::default()
        },
    )?;
    let out = runc_run(&bundle)?;
    ensure!(
        out.contains("uid=0(root) gid=0(root) groups=0(root),3000(other)\n"),
        "{out}"
    );
    ensure!(out.contains("\n/\nhoist\n"), "{out}");
    ensure!(out.contains(hoist::bundle::spec::DEFAULT_PATH), "{out}");

    let bundle = t.path().join("c");
    let cfg = config(r#"{"User":"4242:55","Cmd":["/bin/id"]}"#)?;
    write_bundle(&cfg, layers(&ls), &bundle, &BundleOptions::default())?;
    let out = runc_run(&bundle)?;
    ensure!(out.trim() == "uid=4242 gid=55 groups=55", "{out}");
    Ok(())
}

#[test]
fn refusals() -> Result<()> {
    let t = tempfile::tempdir()?;
    let ls = [base_layer(&[])?];

    // A non-empty directory is not clobbered.
    let dir = t.path().join("full");
    fs::create_dir(&dir)?;
    fs::write(dir.join("keep"), b"k")?;
    let cfg = config(r#"{"Cmd":["/bin/sh"]}"#)?;
    let e = write_bundle(&cfg, layers(&ls), &dir, &BundleOptions::default()).unwrap_err();
    ensure!(matches!(e, BundleError::NotEmpty { .. }), "{e}");
    ensure!(fs::read_dir(&dir)?.count() == 1);

    // An empty existing directory is fine.
    let dir = t.path().join("empty");
    fs::create_dir(&dir)?;
    write_bundle(&cfg, layers(&ls), &dir, &BundleOptions::default())?;

    // Unknown user name.
    let cfg = config(r#"{"User":"nobody","Cmd":["/bin/sh"]}"#)?;
    let e = write_bundle(
        &cfg,
        layers(&ls),
        &t.path().join("u"),
        &BundleOptions::default(),
    )
    .unwrap_err();
    ensure!(
        matches!(e, BundleError::UnknownUser { .. }) && e.to_string().contains("nobody"),
        "{e}"
    );

    // No command at all.
    let cfg = config(r#"{}"#)?;
    let e = write_bundle(
        &cfg,
        layers(&ls),
        &t.path().join("n"),
        &BundleOptions::default(),
    )
    .unwrap_err();
    ensure!(matches!(e, BundleError::NoCommand), "{e}");

    // /etc/passwd as a symlink to a host file: read inside the rootfs only.
    let host = t.path().join("hostpasswd");
    fs::write(&host, "evil:x:4242:4242::/:/bin/sh\n")?;
    let rel_up = "../".repeat(20);
    let link_layer = {
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_path("etc/passwd")?;
        h.set_link_name(format!("{rel_up}{}", host.display()))?;
        h.set_mode(0o777);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        h.set_size(0);
        h.set_cksum();
        b.append(&h, &[][..])?;
        b.into_inner()?
    };
    let ls2 = [ls[0].clone(), link_layer];
    let cfg = config(r#"{"User":"evil","Cmd":["/bin/sh"]}"#)?;
    let e = write_bundle(
        &cfg,
        layers(&ls2),
        &t.path().join("s"),
        &BundleOptions::default(),
    )
    .unwrap_err();
    ensure!(matches!(e, BundleError::UnknownUser { .. }), "{e}");

    // A broken layer names its index.
    let cfg = config(r#"{"Cmd":["/bin/sh"]}"#)?;
    let bad = [ls[0].clone(), vec![0x1f, 0x8b, 8, 0, 1, 2, 3]];
    let e = write_bundle(
        &cfg,
        layers(&bad),
        &t.path().join("bad"),
        &BundleOptions::default(),
    )
    .unwrap_err();
    ensure!(matches!(e, BundleError::Layer { index: 1, .. }), "{e}");
    // Compressed layers are accepted as well.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, &ls[0])?;
    let zs = [gz.finish()?, zstd::encode_all(&ls[0][..], 3)?];
    write_bundle(
        &cfg,
        layers(&zs),
        &t.path().join("z"),
        &BundleOptions::default(),
    )?;
    ensure!(t.path().join("z/rootfs/bin/busybox").is_file());
    Ok(())
}

#[test]
fn terminal_sets_term() -> Result<()> {
    let t = tempfile::tempdir()?;
    let ls = [base_layer(&[])?];
    let cfg = config(r#"{"Cmd":["/bin/sh"],"WorkingDir":"rel"}"#)?;
    write_bundle(
        &cfg,
        layers(&ls),
        &t.path().join("b"),
        &BundleOptions {
            terminal: true,
            ..BundleOptions::default()
        },
    )?;
    let spec: serde_json::Value =
        serde_json::from_slice(&fs::read(t.path().join("b/config.json"))?)?;
    ensure!(spec["process"]["terminal"] == true);
    ensure!(spec["process"]["cwd"] == "/rel");
    let env: Vec<&str> = spec["process"]["env"]
        .as_array()
        .context("env")?
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    ensure!(
        env.contains(&"TERM=xterm") && env.contains(&"HOME=/root"),
        "{env:?}"
    );
    ensure!(
        spec["process"]["capabilities"]["effective"]
            .as_array()
            .map(Vec::len)
            == Some(14)
    );
    Ok(())
}
