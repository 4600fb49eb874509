//! Archives on real files: save → load round trips, OCI layouts and
//! archives, docker 20.10-style and podman-style docker-archives, corrupt
//! and truncated tars (the store stays fsck-clean), and interop with
//! skopeo, umoci and podman where they are installed.

use std::collections::BTreeMap;
use std::fs;
use std::io::{Read, Write};
use std::process::Command;

use hoist::archive::{self, ArchiveError};
use hoist::digest::Digest;
use hoist::image::{media, Descriptor, ImageConfig, Index, Platform};
use hoist::store::{Store, StoredImage};

fn tar_of(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut tar = tar::Builder::new(Vec::new());
    for (name, data) in files {
        let mut h = tar::Header::new_ustar();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_mtime(0);
        h.set_cksum();
        tar.append_data(&mut h, name, *data).unwrap();
    }
    tar.into_inner().unwrap()
}

fn gzip(raw: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(raw).unwrap();
    gz.finish().unwrap()
}

/// An image with one gzip layer per entry of `layers`, tagged `tag`.
fn image(store: &Store, tag: Option<&str>, layers: &[&[(&str, &[u8])]]) -> StoredImage {
    let mut config = ImageConfig::scratch();
    let mut descs = Vec::new();
    for files in layers {
        let raw = tar_of(files);
        config.rootfs.diff_ids.push(Digest::of(&raw));
        let gz = gzip(&raw);
        let d = store.put_bytes(&gz).unwrap();
        descs.push(Descriptor::new(media::OCI_LAYER_GZIP, d, gz.len() as u64));
    }
    config.config.env = Some(vec![format!("T={tag:?}")]);
    let img = store.write_image(&config, &descs, None).unwrap();
    match tag {
        Some(t) => store.tag(t, &img.manifest_desc).unwrap(),
        None => store.add_untagged(&img.manifest_desc).unwrap(),
    }
    img
}

fn two_images(store: &Store) -> (StoredImage, StoredImage) {
    let app = image(
        store,
        Some("app"),
        &[&[("etc/os", b"base")], &[("app/bin", b"\x7fELF app")]],
    );
    let base = image(store, Some("localhost/base:v1"), &[&[("etc/os", b"base")]]);
    (app, base)
}

fn members(tar_bytes: &[u8]) -> Vec<(String, tar::Header)> {
    let mut ar = tar::Archive::new(tar_bytes);
    ar.entries()
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (e.path().unwrap().display().to_string(), e.header().clone())
        })
        .collect()
}

fn member(tar_bytes: &[u8], name: &str) -> Vec<u8> {
    let mut ar = tar::Archive::new(tar_bytes);
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        if e.path().unwrap().to_str() == Some(name) {
            let mut v = Vec::new();
            e.read_to_end(&mut v).unwrap();
            return v;
        }
    }
    panic!("no member {name}");
}

fn assert_clean(store: &Store) {
    let report = store.fsck().unwrap();
    let problems: Vec<String> = report.problems.iter().map(|p| p.to_string()).collect();
    assert!(report.is_clean(), "{problems:#?}");
}

#[test]
fn save_writes_a_deterministic_docker_and_oci_archive() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("s")).unwrap();
    let (app, base) = two_images(&store);
    let refs = vec!["app".to_owned(), "base:v1".to_owned()];
    let mut out = Vec::new();
    archive::save(&store, &refs, &mut out).unwrap();
    let mut again = Vec::new();
    archive::save(&store, &refs, &mut again).unwrap();
    assert!(out == again, "save is not deterministic");

    let m = members(&out);
    let names: Vec<&str> = m.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        &names[..6],
        [
            "oci-layout",
            "index.json",
            "manifest.json",
            "repositories",
            "blobs/",
            "blobs/sha256/"
        ]
    );
    // manifest, config for 2 images, 2 + 1 layers with one shared: 6 blobs.
    assert_eq!(names.len(), 6 + 6);
    let mut blob_names: Vec<&str> = names[6..].to_vec();
    let sorted = {
        let mut s = blob_names.clone();
        s.sort();
        s
    };
    assert_eq!(blob_names, sorted);
    blob_names.dedup();
    assert_eq!(blob_names.len(), 6);
    for (name, h) in &m {
        assert_eq!(h.mtime().unwrap(), 0, "{name}");
        assert_eq!((h.uid().unwrap(), h.gid().unwrap()), (0, 0), "{name}");
        let want = if name.ends_with('/') { 0o755 } else { 0o644 };
        assert_eq!(h.mode().unwrap(), want, "{name}");
        assert_eq!(h.username().unwrap(), Some(""), "{name}");
    }

    let manifest: serde_json::Value =
        serde_json::from_slice(&member(&out, "manifest.json")).unwrap();
    assert_eq!(manifest[0]["RepoTags"], serde_json::json!(["app:latest"]));
    assert_eq!(
        manifest[0]["Config"],
        format!("blobs/sha256/{}", app.id.hex())
    );
    assert_eq!(
        manifest[0]["Layers"],
        serde_json::json!(app
            .manifest
            .layers
            .iter()
            .map(|l| format!("blobs/sha256/{}", l.digest.hex()))
            .collect::<Vec<_>>())
    );
    assert_eq!(
        manifest[1]["RepoTags"],
        serde_json::json!(["localhost/base:v1"])
    );

    let index: Index = serde_json::from_slice(&member(&out, "index.json")).unwrap();
    assert_eq!(index.manifests.len(), 2);
    let a = index.manifests[0].annotations.clone().unwrap();
    assert_eq!(
        a["io.containerd.image.name"],
        "docker.io/library/app:latest"
    );
    assert_eq!(a[media::REF_NAME], "latest");
    assert_eq!(index.manifests[0].digest, app.manifest_desc.digest);
    assert_eq!(index.manifests[0].platform, Some(Platform::linux_amd64()));
    let b = index.manifests[1].annotations.clone().unwrap();
    assert_eq!(b["io.containerd.image.name"], "localhost/base:v1");
    assert_eq!(b[media::REF_NAME], "v1");
    let repos: BTreeMap<String, BTreeMap<String, String>> =
        serde_json::from_slice(&member(&out, "repositories")).unwrap();
    assert_eq!(repos["app"]["latest"], app.manifest.layers[1].digest.hex());
    assert!(repos.contains_key("localhost/base"));
    assert_eq!(
        member(&out, "oci-layout"),
        br#"{"imageLayoutVersion":"1.0.0"}"#
    );
    let cfg = member(&out, &format!("blobs/sha256/{}", base.id.hex()));
    assert_eq!(Digest::of(&cfg), base.id);
}

#[test]
fn save_then_load_into_a_fresh_store_keeps_ids() {
    let dir = tempfile::tempdir().unwrap();
    let a = Store::open(&dir.path().join("a")).unwrap();
    let (app, base) = two_images(&a);
    let untagged = image(&a, None, &[&[("x", b"x")]]);
    let file = dir.path().join("out.tar");
    archive::save(
        &a,
        &[
            "app".into(),
            "localhost/base:v1".into(),
            untagged.id.to_string(),
            "app:latest".into(),
        ],
        fs::File::create(&file).unwrap(),
    )
    .unwrap();

    let b = Store::open(&dir.path().join("b")).unwrap();
    let loaded = archive::load(&b, &file).unwrap();
    assert_eq!(loaded.len(), 3);
    assert_eq!(loaded[0].names, ["app:latest"]);
    assert_eq!(loaded[0].id, app.id);
    assert_eq!(loaded[0].manifest.digest, app.manifest_desc.digest);
    assert_eq!(loaded[1].names, ["localhost/base:v1"]);
    assert!(loaded[2].names.is_empty());
    assert_eq!(b.image("app").unwrap().id, app.id);
    assert_eq!(b.image("base:v1").unwrap().id, base.id);
    assert_eq!(b.image(&untagged.id.to_string()).unwrap().id, untagged.id);
    assert_eq!(
        b.image("app").unwrap().manifest_desc.digest,
        app.manifest_desc.digest
    );
    assert_clean(&b);
    assert!(fs::read_dir(b.tmp_dir()).unwrap().next().is_none());

    // Loading again is idempotent.
    let again = archive::load(&b, &file).unwrap();
    assert_eq!(again, loaded);
    assert_eq!(b.refs().unwrap().len(), 2);
    assert_clean(&b);

    // A gzip-compressed archive loads too.
    let c = Store::open(&dir.path().join("c")).unwrap();
    let gz = dir.path().join("out.tar.gz");
    fs::write(&gz, gzip(&fs::read(&file).unwrap())).unwrap();
    assert_eq!(archive::load(&c, &gz).unwrap(), loaded);
}

#[test]
fn export_docker_archive_uses_the_given_names() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("s")).unwrap();
    let img = image(&store, None, &[&[("f", b"f")]]);
    let mut out = Vec::new();
    archive::export_docker_archive(
        &store,
        &img.id.to_string(),
        &["x/y:1".into(), "z".into()],
        &mut out,
    )
    .unwrap();
    let manifest: serde_json::Value =
        serde_json::from_slice(&member(&out, "manifest.json")).unwrap();
    assert_eq!(
        manifest[0]["RepoTags"],
        serde_json::json!(["x/y:1", "z:latest"])
    );
    let index: Index = serde_json::from_slice(&member(&out, "index.json")).unwrap();
    assert_eq!(index.manifests.len(), 2);
    assert!(archive::export_docker_archive(&store, "nope", &[], &mut Vec::new()).is_err());
    assert!(archive::export_docker_archive(
        &store,
        &img.id.to_string(),
        &["Bad".into()],
        &mut Vec::new()
    )
    .is_err());
}

#[test]
fn oci_layout_dir_export_and_load() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("s")).unwrap();
    let (app, base) = two_images(&store);
    let layout = dir.path().join("layout");
    archive::export_oci_layout(&store, "app", &["app:v1".into()], &layout).unwrap();
    archive::export_oci_layout(&store, "base:v1", &[], &layout).unwrap();
    // Re-exporting the same name replaces the entry.
    archive::export_oci_layout(&store, "app", &["app:v1".into()], &layout).unwrap();
    let index: Index =
        serde_json::from_slice(&fs::read(layout.join("index.json")).unwrap()).unwrap();
    assert_eq!(index.manifests.len(), 2);
    assert_eq!(index.manifests[0].ref_name(), Some("v1"));
    for d in [&app.id, &app.manifest_desc.digest, &base.id] {
        let p = layout.join("blobs/sha256").join(d.hex());
        assert_eq!(Digest::of(&fs::read(p).unwrap()), *d);
    }
    assert!(fs::read_dir(layout.join("blobs/sha256"))
        .unwrap()
        .all(|e| !e.unwrap().file_name().to_string_lossy().starts_with('.')));

    let fresh = Store::open(&dir.path().join("fresh")).unwrap();
    let loaded = archive::load(&fresh, &layout).unwrap();
    assert_eq!(loaded.len(), 2);
    let mut names: Vec<&str> = loaded
        .iter()
        .flat_map(|l| l.names.iter().map(String::as_str))
        .collect();
    names.sort();
    assert_eq!(names, ["app:v1", "localhost/base:v1"]);
    assert_eq!(fresh.image("app:v1").unwrap().id, app.id);
    assert_clean(&fresh);

    // A ref name that is only a tag, without io.containerd.image.name:
    // loaded untagged, found by id.
    let mut index = index;
    for m in &mut index.manifests {
        m.annotations
            .as_mut()
            .unwrap()
            .remove("io.containerd.image.name");
    }
    let base_pos = index
        .manifests
        .iter()
        .position(|m| m.digest == base.manifest_desc.digest)
        .unwrap();
    index.manifests[base_pos]
        .annotations
        .as_mut()
        .unwrap()
        .insert(media::REF_NAME.into(), "example.com/base:v1".into());
    fs::write(
        layout.join("index.json"),
        serde_json::to_vec(&index).unwrap(),
    )
    .unwrap();
    let other = Store::open(&dir.path().join("other")).unwrap();
    let loaded = archive::load(&other, &layout).unwrap();
    assert!(loaded[1 - base_pos].names.is_empty());
    assert_eq!(loaded[base_pos].names, ["example.com/base:v1"]);
    assert_eq!(other.image(&app.id.hex()[..12]).unwrap().id, app.id);
    assert_eq!(other.refs().unwrap().len(), 1);
    assert_clean(&other);
}

#[test]
fn oci_archive_export_and_load() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("s")).unwrap();
    let (app, _) = two_images(&store);
    let file = dir.path().join("oci.tar");
    archive::export_oci_archive(
        &store,
        "app",
        &["app:v2".into()],
        fs::File::create(&file).unwrap(),
    )
    .unwrap();
    let bytes = fs::read(&file).unwrap();
    let names: Vec<String> = members(&bytes).into_iter().map(|(n, _)| n).collect();
    assert!(!names
        .iter()
        .any(|n| n == "manifest.json" || n == "repositories"));
    let fresh = Store::open(&dir.path().join("fresh")).unwrap();
    let loaded = archive::load(&fresh, &file).unwrap();
    assert_eq!(loaded[0].names, ["app:v2"]);
    assert_eq!(loaded[0].id, app.id);
    assert_clean(&fresh);
}

#[test]
fn nested_index_loads_the_linux_amd64_manifest() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("s")).unwrap();
    let (app, _) = two_images(&store);
    let layout = dir.path().join("layout");
    archive::export_oci_layout(&store, "app", &[], &layout).unwrap();
    // Replace the top entry by an index: arm64 (blobs absent) + amd64.
    let mut amd = Descriptor::new(
        media::OCI_MANIFEST,
        app.manifest_desc.digest.clone(),
        app.manifest_desc.size,
    );
    amd.platform = Some(Platform::linux_amd64());
    let mut arm = Descriptor::new(media::OCI_MANIFEST, Digest::of(b"arm"), 3);
    arm.platform = Some(Platform {
        architecture: "arm64".into(),
        os: "linux".into(),
        ..Platform::default()
    });
    let nested = Index {
        manifests: vec![arm, amd],
        ..Index::default()
    };
    let bytes = serde_json::to_vec(&nested).unwrap();
    let d = Digest::of(&bytes);
    fs::write(layout.join("blobs/sha256").join(d.hex()), &bytes).unwrap();
    let mut top = Descriptor::new(media::OCI_INDEX, d, bytes.len() as u64);
    top.annotations = Some(BTreeMap::from([(
        media::REF_NAME.to_owned(),
        "multi:1".to_owned(),
    )]));
    let index = Index {
        manifests: vec![top],
        ..Index::default()
    };
    fs::write(
        layout.join("index.json"),
        serde_json::to_vec(&index).unwrap(),
    )
    .unwrap();

    let fresh = Store::open(&dir.path().join("fresh")).unwrap();
    let loaded = archive::load(&fresh, &layout).unwrap();
    assert_eq!(loaded[0].names, ["multi:1"]);
    assert_eq!(loaded[0].manifest.digest, app.manifest_desc.digest);
    assert_eq!(fresh.image("multi:1").unwrap().id, app.id);
    assert_clean(&fresh);
}

/// A docker 20.10 `docker save` archive: `<id>/layer.tar` (uncompressed),
/// legacy `<id>/json` and `VERSION`, `<config>.json`, manifest.json last;
/// the second image's layer is a symlink to the first's (as podman and
/// docker write shared layers).
fn docker_2010_archive(flip_layer_byte: bool) -> (Vec<u8>, Digest, Vec<Digest>) {
    let l1 = tar_of(&[("bin/sh", b"#!shell")]);
    let l2 = tar_of(&[("app", b"application")]);
    let mut config = ImageConfig::scratch();
    config.rootfs.diff_ids = vec![Digest::of(&l1), Digest::of(&l2)];
    let cbytes = config.to_bytes();
    let id = Digest::of(&cbytes);
    let mut config2 = ImageConfig::scratch();
    config2.rootfs.diff_ids = vec![Digest::of(&l1)];
    let c2 = config2.to_bytes();
    let id2 = Digest::of(&c2);
    let mut l2_stored = l2.clone();
    if flip_layer_byte {
        l2_stored[600] ^= 1;
    }
    let manifest = serde_json::json!([
        {"Config": format!("{}.json", id.hex()), "RepoTags": ["docker.io/library/legacy:1", "legacy:2"], "Layers": ["aaaa/layer.tar", "bbbb/layer.tar"]},
        {"Config": format!("{}.json", id2.hex()), "RepoTags": null, "Layers": ["cccc/layer.tar"]}
    ]);
    let mut tar = tar::Builder::new(Vec::new());
    fn add(tar: &mut tar::Builder<Vec<u8>>, name: &str, data: &[u8]) {
        let mut h = tar::Header::new_ustar();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        tar.append_data(&mut h, name, data).unwrap();
    }
    let add = |tar: &mut tar::Builder<Vec<u8>>, name: &str, data: &[u8]| add(tar, name, data);
    add(&mut tar, "aaaa/VERSION", b"1.0");
    add(&mut tar, "aaaa/json", b"{\"id\":\"aaaa\"}");
    add(&mut tar, "aaaa/layer.tar", &l1);
    add(&mut tar, "bbbb/VERSION", b"1.0");
    add(&mut tar, "bbbb/json", b"{not even json");
    add(&mut tar, "bbbb/layer.tar", &l2_stored);
    add(&mut tar, &format!("{}.json", id.hex()), &cbytes);
    add(&mut tar, &format!("{}.json", id2.hex()), &c2);
    add(&mut tar, "repositories", b"{\"legacy\":{\"1\":\"bbbb\"}}");
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(tar::EntryType::Symlink);
    h.set_size(0);
    h.set_mode(0o777);
    tar.append_link(&mut h, "cccc/layer.tar", "../aaaa/layer.tar")
        .unwrap();
    add(
        &mut tar,
        "manifest.json",
        &serde_json::to_vec(&manifest).unwrap(),
    );
    (tar.into_inner().unwrap(), id, vec![id2])
}

#[test]
fn docker_2010_style_archive_loads() {
    let dir = tempfile::tempdir().unwrap();
    let (bytes, id, others) = docker_2010_archive(false);
    let file = dir.path().join("d.tar");
    fs::write(&file, &bytes).unwrap();
    let store = Store::open(&dir.path().join("s")).unwrap();
    let loaded = archive::load(&store, &file).unwrap();
    assert_eq!(loaded.len(), 2);
    assert_eq!(loaded[0].names, ["legacy:1", "legacy:2"]);
    assert_eq!(loaded[0].id, id);
    assert!(loaded[1].names.is_empty());
    assert_eq!(loaded[1].id, others[0]);
    let img = store.image("legacy:1").unwrap();
    assert_eq!(img.id, id);
    assert_eq!(
        img.manifest.media_type.as_deref(),
        Some(media::OCI_MANIFEST)
    );
    assert_eq!(img.manifest.config.media_type, media::OCI_CONFIG);
    assert!(img
        .manifest
        .layers
        .iter()
        .all(|l| l.media_type == media::OCI_LAYER_TAR));
    assert_eq!(img.manifest.layers[0].digest, img.config.rootfs.diff_ids[0]);
    assert_eq!(
        store
            .image(&others[0].to_string())
            .unwrap()
            .manifest
            .layers
            .len(),
        1
    );
    assert_clean(&store);

    // And it saves back out and loads elsewhere with the same id.
    let mut out = Vec::new();
    archive::save(&store, &["legacy:2".into()], &mut out).unwrap();
    let f2 = dir.path().join("again.tar");
    fs::write(&f2, &out).unwrap();
    let other = Store::open(&dir.path().join("o")).unwrap();
    let l = archive::load(&other, &f2).unwrap();
    assert_eq!(l[0].id, id);
    assert_eq!(l[0].manifest, loaded[0].manifest);
}

#[test]
fn a_layer_that_does_not_match_its_diff_id_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (bytes, _, _) = docker_2010_archive(true);
    let file = dir.path().join("d.tar");
    fs::write(&file, &bytes).unwrap();
    let store = Store::open(&dir.path().join("s")).unwrap();
    let err = archive::load(&store, &file).unwrap_err();
    assert!(
        matches!(err, ArchiveError::DiffId { index: 1, .. }),
        "{err}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains("bbbb/layer.tar") && msg.contains("corrupt"),
        "{msg}"
    );
    assert!(store.refs().unwrap().is_empty());
    assert!(store.entries().unwrap().is_empty());
    assert_clean(&store);
}

/// The byte range of `name`'s data inside the tar.
fn data_range(tar_bytes: &[u8], name: &str) -> std::ops::Range<usize> {
    let mut ar = tar::Archive::new(tar_bytes);
    for e in ar.entries().unwrap() {
        let e = e.unwrap();
        if e.path().unwrap().to_str() == Some(name) {
            let start = e.raw_file_position() as usize;
            return start..start + e.size() as usize;
        }
    }
    panic!("no member {name}");
}

#[test]
fn corrupt_and_truncated_archives_leave_the_store_clean() {
    let dir = tempfile::tempdir().unwrap();
    let src = Store::open(&dir.path().join("src")).unwrap();
    let (app, _) = two_images(&src);
    let mut good = Vec::new();
    archive::save(&src, &["app".into(), "base:v1".into()], &mut good).unwrap();

    let store = Store::open(&dir.path().join("s")).unwrap();
    let keep = image(&store, Some("keep"), &[&[("k", b"keep")]]);
    let file = dir.path().join("bad.tar");
    let check_clean = |what: &str| {
        let refs: Vec<String> = store.refs().unwrap().into_iter().map(|(n, _)| n).collect();
        assert_eq!(refs, ["keep:latest"], "{what}");
        assert_eq!(store.entries().unwrap().len(), 1, "{what}");
        assert_clean(&store);
        assert_eq!(store.image("keep").unwrap().id, keep.id);
    };

    // Truncated at various offsets (header, JSON, mid-blob, near the end).
    let layer_range = data_range(
        &good,
        &format!("blobs/sha256/{}", app.manifest.layers[1].digest.hex()),
    );
    let offsets = [
        10,
        600,
        1100,
        good.len() / 3,
        good.len() / 2,
        layer_range.start + 5,
        good.len() - 1500,
        good.len() - 1100,
    ];
    for &cut in &offsets {
        fs::write(&file, &good[..cut]).unwrap();
        let err = archive::load(&store, &file).unwrap_err();
        eprintln!("cut at {cut}: {err}");
        check_clean(&format!("cut at {cut}"));
    }

    // A flipped byte in a layer: the member is named.
    let mut bad = good.clone();
    bad[layer_range.start + 3] ^= 0x10;
    fs::write(&file, &bad).unwrap();
    let err = archive::load(&store, &file).unwrap_err();
    assert!(matches!(err, ArchiveError::DigestMismatch { .. }), "{err}");
    assert!(
        err.to_string().contains(&format!(
            "blobs/sha256/{}",
            app.manifest.layers[1].digest.hex()
        )),
        "{err}"
    );
    check_clean("flipped layer byte");

    // A flipped byte in a tar header: a tar error.
    let mut bad = good.clone();
    bad[layer_range.start - 512 + 20] ^= 0x01;
    fs::write(&file, &bad).unwrap();
    let err = archive::load(&store, &file).unwrap_err();
    eprintln!("bad header: {err}");
    check_clean("flipped header byte");

    // Bad JSON in index.json: the member and field are named.
    let mut bad = good.clone();
    let r = data_range(&good, "index.json");
    let text = String::from_utf8(good[r.clone()].to_vec()).unwrap();
    // Keep the member size: an equally long edit in place.
    let edited = text.replacen(
        "\"manifests\":[{\"mediaType\":\"",
        "\"manifests\":[{\"mediaType\":[",
        1,
    );
    assert_eq!(edited.len(), text.len());
    bad[r.clone()].copy_from_slice(edited.as_bytes());
    fs::write(&file, &bad).unwrap();
    let err = archive::load(&store, &file).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, ArchiveError::Json { .. }), "{msg}");
    assert!(
        msg.contains("index.json") && msg.contains("manifests[0].mediaType"),
        "{msg}"
    );
    check_clean("bad index.json");

    // A missing blob: named, with what needed it. (Prune first: the
    // failed loads above left the blob in the store, where load would
    // take it from.)
    store.prune().unwrap();
    let missing = app.manifest.layers[0].digest.hex().to_owned();
    let mut tar = tar::Builder::new(Vec::new());
    let mut ar = tar::Archive::new(&good[..]);
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        let name = e.path().unwrap().display().to_string();
        if name.ends_with(&missing) {
            continue;
        }
        let mut h = e.header().clone();
        let mut data = Vec::new();
        e.read_to_end(&mut data).unwrap();
        tar.append_data(&mut h, &name, &data[..]).unwrap();
    }
    fs::write(&file, tar.into_inner().unwrap()).unwrap();
    let err = archive::load(&store, &file).unwrap_err();
    assert!(matches!(err, ArchiveError::MissingMember { .. }), "{err}");
    assert!(err.to_string().contains(&missing), "{err}");
    check_clean("missing blob");

    // Not an archive at all.
    fs::write(&file, b"hello, this is not a tar file at all").unwrap();
    assert!(archive::load(&store, &file).is_err());
    fs::write(&file, tar_of(&[("readme", b"x")])).unwrap();
    let err = archive::load(&store, &file).unwrap_err();
    assert!(matches!(err, ArchiveError::NotAnArchive { .. }), "{err}");
    check_clean("not an archive");

    // After all that, prune leaves exactly the kept image, and the good
    // archive still loads.
    store.prune().unwrap();
    check_clean("after prune");
    fs::write(&file, &good).unwrap();
    assert_eq!(archive::load(&store, &file).unwrap().len(), 2);
    assert_clean(&store);
}

// ---- real tools ----

fn have(tool: &str) -> bool {
    let ok = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        eprintln!("SKIP: {tool} is not installed");
    }
    ok
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn skopeo_and_umoci_read_our_exports() {
    if !have("skopeo") || !have("umoci") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("s")).unwrap();
    let (app, base) = two_images(&store);
    let layout = dir.path().join("layout");
    archive::export_oci_layout(&store, "app", &["app:one".into()], &layout).unwrap();
    archive::export_oci_layout(&store, "base:v1", &[], &layout).unwrap();

    let out = run(Command::new("skopeo")
        .arg("inspect")
        .arg(format!("oci:{}:one", layout.display())));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["Digest"], app.manifest_desc.digest.to_string());
    assert_eq!(v["Layers"].as_array().unwrap().len(), 2);
    let out = run(Command::new("skopeo")
        .arg("inspect")
        .arg("--config")
        .arg(format!("oci:{}:v1", layout.display())));
    let c: ImageConfig = serde_json::from_str(&out).unwrap();
    assert_eq!(c.rootfs.diff_ids, base.config.rootfs.diff_ids);

    let ls = run(Command::new("umoci").args(["ls", "--layout"]).arg(&layout));
    let mut tags: Vec<&str> = ls.lines().collect();
    tags.sort();
    assert_eq!(tags, ["one", "v1"]);
    // umoci can unpack it (checks every blob's digest).
    let bundle = dir.path().join("bundle");
    run(Command::new("umoci")
        .args(["unpack", "--image"])
        .arg(format!("{}:one", layout.display()))
        .arg(&bundle));
    assert_eq!(
        fs::read(bundle.join("rootfs/app/bin")).unwrap(),
        b"\x7fELF app"
    );

    // An OCI archive: skopeo copies it to a dir.
    let oci = dir.path().join("oci.tar");
    archive::export_oci_archive(
        &store,
        "app",
        &["app:two".into()],
        fs::File::create(&oci).unwrap(),
    )
    .unwrap();
    let out_dir = dir.path().join("copied");
    run(Command::new("skopeo")
        .arg("copy")
        .arg(format!("oci-archive:{}:two", oci.display()))
        .arg(format!("dir:{}", out_dir.display())));
    assert!(out_dir.join(app.manifest.layers[0].digest.hex()).exists());

    // Our save is a docker-archive skopeo reads, and skopeo's
    // docker-archive output loads back with the same id.
    let saved = dir.path().join("saved.tar");
    archive::save(&store, &["app".into()], fs::File::create(&saved).unwrap()).unwrap();
    let out = run(Command::new("skopeo")
        .arg("inspect")
        .arg(format!("docker-archive:{}", saved.display())));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["Layers"].as_array().unwrap().len(), 2);
    let out = run(Command::new("skopeo")
        .arg("inspect")
        .arg(format!("oci-archive:{}:latest", saved.display())));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["Digest"], app.manifest_desc.digest.to_string());
    let da = dir.path().join("skopeo-da.tar");
    run(Command::new("skopeo")
        .arg("copy")
        .arg(format!("oci:{}:one", layout.display()))
        .arg(format!("docker-archive:{}:example/app:7", da.display())));
    let fresh = Store::open(&dir.path().join("fresh")).unwrap();
    let loaded = archive::load(&fresh, &da).unwrap();
    assert_eq!(loaded[0].names, ["example/app:7"]);
    assert_eq!(loaded[0].id, app.id);
    assert_clean(&fresh);
}

struct Podman {
    dir: tempfile::TempDir,
}

impl Podman {
    fn new() -> Podman {
        let dir = tempfile::tempdir().unwrap();
        fs::write(
            dir.path().join("containers.conf"),
            "[containers]\ndefault_ulimits = [\"nofile=20000:20000\"]\n",
        )
        .unwrap();
        Podman { dir }
    }
    fn cmd(&self) -> Command {
        let d = self.dir.path();
        let mut c = Command::new("podman");
        c.arg("--root")
            .arg(d.join("root"))
            .arg("--runroot")
            .arg(d.join("run"))
            .arg("--tmpdir")
            .arg(d.join("tmp"))
            .args([
                "--storage-driver",
                "vfs",
                "--events-backend",
                "file",
                "--cgroup-manager",
                "cgroupfs",
            ])
            .env("CONTAINERS_CONF", d.join("containers.conf"));
        c
    }
}

#[test]
fn podman_archives_load_and_podman_loads_ours() {
    if !have("podman") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let podman = Podman::new();
    let rootfs = tar_of(&[("etc/hello", b"hi from podman\n")]);
    let rootfs_tar = dir.path().join("rootfs.tar");
    fs::write(&rootfs_tar, &rootfs).unwrap();
    run(podman
        .cmd()
        .arg("import")
        .arg(&rootfs_tar)
        .arg("localhost/tiny:v1"));
    let id = run(podman.cmd().args([
        "image",
        "inspect",
        "--format",
        "{{.Id}}",
        "localhost/tiny:v1",
    ]));
    let id: Digest = format!("sha256:{}", id.trim()).parse().unwrap();

    let da = dir.path().join("docker-archive.tar");
    run(podman
        .cmd()
        .arg("save")
        .arg("-o")
        .arg(&da)
        .arg("localhost/tiny:v1"));
    let oa = dir.path().join("oci-archive.tar");
    run(podman
        .cmd()
        .args(["save", "--format", "oci-archive", "-o"])
        .arg(&oa)
        .arg("localhost/tiny:v1"));

    let store = Store::open(&dir.path().join("s")).unwrap();
    let loaded = archive::load(&store, &da).unwrap();
    assert_eq!(loaded[0].names, ["localhost/tiny:v1"]);
    assert_eq!(loaded[0].id, id);
    // FROM tiny:v1 finds podman's localhost/ name.
    assert_eq!(store.image("tiny:v1").unwrap().id, id);
    let loaded = archive::load(&store, &oa).unwrap();
    assert_eq!(loaded[0].names, ["localhost/tiny:v1"]);
    assert_eq!(loaded[0].id, id);
    assert_clean(&store);

    // podman loads our save.
    let (app, _) = two_images(&store);
    let ours = dir.path().join("ours.tar");
    archive::save(&store, &["app".into()], fs::File::create(&ours).unwrap()).unwrap();
    run(podman.cmd().arg("load").arg("-i").arg(&ours));
    let got = run(podman
        .cmd()
        .args(["image", "inspect", "--format", "{{.Id}}", "app:latest"]));
    assert_eq!(got.trim(), app.id.hex());
}

#[test]
fn docker_archive_with_gzip_blobs_and_no_index_loads() {
    // BuildKit's docker exporter without index.json: manifest.json points at
    // gzip layers under blobs/sha256.
    let dir = tempfile::tempdir().unwrap();
    let src = Store::open(&dir.path().join("src")).unwrap();
    let (app, _) = two_images(&src);
    let mut saved = Vec::new();
    archive::save(&src, &["app".into()], &mut saved).unwrap();
    let mut tar = tar::Builder::new(Vec::new());
    let mut ar = tar::Archive::new(&saved[..]);
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        let name = e.path().unwrap().display().to_string();
        if name == "index.json" || name == "oci-layout" {
            continue;
        }
        let mut h = e.header().clone();
        let mut data = Vec::new();
        e.read_to_end(&mut data).unwrap();
        tar.append_data(&mut h, &name, &data[..]).unwrap();
    }
    let file = dir.path().join("docker-only.tar");
    fs::write(&file, tar.into_inner().unwrap()).unwrap();
    let store = Store::open(&dir.path().join("s")).unwrap();
    let loaded = archive::load(&store, &file).unwrap();
    assert_eq!(loaded[0].names, ["app:latest"]);
    assert_eq!(loaded[0].id, app.id);
    // The manifest written for it is the one the image had.
    assert_eq!(loaded[0].manifest.digest, app.manifest_desc.digest);
    let img = store.image("app").unwrap();
    assert!(img
        .manifest
        .layers
        .iter()
        .all(|l| l.media_type == media::OCI_LAYER_GZIP));
    assert_clean(&store);
}
