//! The content store on real directories: atomic verified writes, corrupt
//! and truncated blobs, refs and lookups, concurrent tagging (threads and
//! processes), a full disk (a 1 MiB tmpfs), prune and fsck.

use std::collections::BTreeMap;
use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use hoist::digest::Digest;
use hoist::image::{media, Descriptor, ImageConfig, Index, Platform};
use hoist::store::{CacheRecord, FsckProblem, Store, StoreError};

fn tmp_entries(store: &Store) -> Vec<PathBuf> {
    fs::read_dir(store.tmp_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect()
}

/// A gzip layer holding `files`, written to the store.
fn layer(store: &Store, files: &[(&str, &[u8])]) -> (Descriptor, Digest) {
    let mut tar = tar::Builder::new(Vec::new());
    for (name, data) in files {
        let mut h = tar::Header::new_ustar();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_mtime(0);
        h.set_cksum();
        tar.append_data(&mut h, name, *data).unwrap();
    }
    let raw = tar.into_inner().unwrap();
    let diff_id = Digest::of(&raw);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&raw).unwrap();
    let gz = gz.finish().unwrap();
    let d = store.put_bytes(&gz).unwrap();
    (
        Descriptor::new(media::OCI_LAYER_GZIP, d, gz.len() as u64),
        diff_id,
    )
}

fn image(store: &Store, tag: &str, content: &[u8]) -> hoist::store::StoredImage {
    let (l, diff) = layer(store, &[("file", content)]);
    let mut config = ImageConfig::scratch();
    config.rootfs.diff_ids.push(diff);
    config.config.cmd = Some(vec![tag.to_owned()]);
    let img = store.write_image(&config, &[l], None).unwrap();
    store.tag(tag, &img.manifest_desc).unwrap();
    img
}

#[test]
fn open_creates_the_layout_and_rejects_bad_files() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("store");
    let store = Store::open(&root).unwrap();
    for p in ["blobs/sha256", "cache", "tmp", "locks"] {
        assert!(root.join(p).is_dir(), "{p}");
    }
    let layout: serde_json::Value =
        serde_json::from_slice(&fs::read(root.join("oci-layout")).unwrap()).unwrap();
    assert_eq!(layout["imageLayoutVersion"], "1.0.0");
    let index: Index = serde_json::from_slice(&fs::read(root.join("index.json")).unwrap()).unwrap();
    assert!(index.manifests.is_empty());
    assert!(store.refs().unwrap().is_empty());

    fs::write(
        root.join("index.json"),
        b"{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":1}]}",
    )
    .unwrap();
    let err = store.refs().unwrap_err().to_string();
    assert!(
        err.contains("index.json") && err.contains("manifests[0].mediaType"),
        "{err}"
    );
    let err = store.image("app").unwrap_err().to_string();
    assert!(err.contains("index.json"), "{err}");

    fs::write(root.join("oci-layout"), b"{\"imageLayoutVersion\":\"9\"}").unwrap();
    let err = Store::open(&root).unwrap_err().to_string();
    assert!(
        err.contains("oci-layout") && err.contains("imageLayoutVersion"),
        "{err}"
    );
    fs::write(root.join("oci-layout"), b"not json").unwrap();
    let err = Store::open(&root).unwrap_err().to_string();
    assert!(err.contains("oci-layout"), "{err}");

    let file = dir.path().join("file");
    fs::write(&file, b"x").unwrap();
    let err = Store::open(&file.join("store")).unwrap_err().to_string();
    assert!(err.contains(&file.display().to_string()), "{err}");
}

#[test]
fn blob_writer_commits_atomically_and_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();

    let mut w = store.blob_writer().unwrap();
    let temp = w.temp_path().to_owned();
    assert!(temp.starts_with(store.tmp_dir()));
    w.write_all(b"hello ").unwrap();
    w.write_all(b"world").unwrap();
    let (d, n) = w.commit(Some(&Digest::of(b"hello world"))).unwrap();
    assert_eq!((d.clone(), n), (Digest::of(b"hello world"), 11));
    assert!(!temp.exists());
    assert_eq!(fs::read(store.blob_path(&d)).unwrap(), b"hello world");
    assert_eq!(store.read_blob(&d).unwrap(), b"hello world");
    assert!(store.has_blob(&d));
    assert!(tmp_entries(&store).is_empty());

    // A wrong expected digest: error, no blob, no temp file.
    let mut w = store.blob_writer().unwrap();
    w.write_all(b"other").unwrap();
    let err = w.commit(Some(&d)).unwrap_err();
    assert!(matches!(err, StoreError::DigestMismatch { .. }), "{err}");
    assert!(!store.has_blob(&Digest::of(b"other")));
    assert!(tmp_entries(&store).is_empty());

    // Dropped without commit: nothing left.
    let mut w = store.blob_writer().unwrap();
    w.write_all(b"abandoned").unwrap();
    drop(w);
    assert!(tmp_entries(&store).is_empty());
    assert!(!store.has_blob(&Digest::of(b"abandoned")));

    // A large streamed blob.
    let big: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    let mut w = store.blob_writer().unwrap();
    for chunk in big.chunks(7919) {
        w.write_all(chunk).unwrap();
    }
    let (bd, bn) = w.commit(None).unwrap();
    assert_eq!((bd.clone(), bn), (Digest::of(&big), big.len() as u64));
    let mut r = store.open_blob(&bd).unwrap();
    assert_eq!(r.len(), big.len() as u64);
    let mut back = Vec::new();
    r.read_to_end(&mut back).unwrap();
    assert!(back == big);

    let mode = std::os::unix::fs::PermissionsExt::mode(
        &fs::metadata(store.blob_path(&bd)).unwrap().permissions(),
    );
    assert_eq!(mode & 0o777, 0o644);
    assert!(store.fsck().unwrap().is_clean());
}

#[test]
fn corrupt_and_truncated_blobs_are_detected() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let img = image(&store, "app", b"content");
    let layer = img.manifest.layers[0].digest.clone();
    let path = store.blob_path(&layer);

    // Flip one byte.
    let mut bytes = fs::read(&path).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x40;
    fs::write(&path, &bytes).unwrap();
    let err = store.read_blob(&layer).unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
    let msg = err.to_string();
    assert!(msg.contains(&layer.to_string()), "{msg}");
    assert!(msg.contains(&path.display().to_string()), "{msg}");
    assert!(msg.contains("hoist prune"), "{msg}");

    let mut r = store.open_blob(&layer).unwrap();
    let mut sink = Vec::new();
    let err = r.read_to_end(&mut sink).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidData);
    assert!(err.to_string().contains(&layer.to_string()), "{err}");

    let report = store.fsck().unwrap();
    assert!(
        report
            .problems
            .iter()
            .any(|p| matches!(p, FsckProblem::CorruptBlob { digest, .. } if *digest == layer)),
        "{:?}",
        report.problems
    );

    // Truncate the config: read_json names the blob.
    let config = img.id.clone();
    let cpath = store.blob_path(&config);
    let cbytes = fs::read(&cpath).unwrap();
    fs::write(&cpath, &cbytes[..cbytes.len() / 2]).unwrap();
    let err = store
        .read_json::<ImageConfig>(&config)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(&config.to_string()) && err.contains("corrupt"),
        "{err}"
    );
    let err = store.image("app").unwrap_err().to_string();
    assert!(err.contains(&config.to_string()), "{err}");
    let report = store.fsck().unwrap();
    assert_eq!(
        report
            .problems
            .iter()
            .filter(|p| matches!(p, FsckProblem::CorruptBlob { .. }))
            .count(),
        2
    );

    // Re-putting the right bytes repairs the blob.
    store.put_bytes(&cbytes).unwrap();
    assert!(store.image("app").is_ok());

    // A missing blob is a clear error.
    fs::remove_file(&cpath).unwrap();
    let err = store.read_blob(&config).unwrap_err();
    assert!(matches!(err, StoreError::MissingBlob { .. }), "{err}");
    assert!(err.to_string().contains(&config.to_string()));
    assert!(store.open_blob(&config).is_err());
}

#[test]
fn read_json_names_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let d = store
        .put_bytes(br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["sha256:nope"]}}"#)
        .unwrap();
    let err = store.read_json::<ImageConfig>(&d).unwrap_err().to_string();
    assert!(err.contains("rootfs.diff_ids[0]"), "{err}");
    assert!(err.contains(&d.to_string()), "{err}");
    let d = store.put_bytes(b"{\"architecture\":").unwrap();
    let err = store.read_json::<ImageConfig>(&d).unwrap_err().to_string();
    assert!(err.contains(&d.to_string()), "{err}");
}

#[test]
fn refs_and_lookups() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let app = image(&store, "app", b"a");
    let base = image(&store, "localhost/base:v1", b"b");
    let org = image(&store, "docker.io/org/tool:2", b"c");

    let names: Vec<String> = store.refs().unwrap().into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, ["app:latest", "localhost/base:v1", "org/tool:2"]);
    let raw: Index =
        serde_json::from_slice(&fs::read(dir.path().join("index.json")).unwrap()).unwrap();
    assert_eq!(raw.manifests[0].ref_name(), Some("app:latest"));

    for r in [
        "app",
        "app:latest",
        "docker.io/library/app",
        "library/app:latest",
        "localhost/app",
    ] {
        assert_eq!(store.image(r).unwrap().id, app.id, "{r}");
    }
    for r in ["base:v1", "localhost/base:v1", "docker.io/library/base:v1"] {
        assert_eq!(store.image(r).unwrap().id, base.id, "{r}");
    }
    assert_eq!(store.image("org/tool:2").unwrap().id, org.id);
    assert_eq!(
        store.image("app").unwrap().name.as_deref(),
        Some("app:latest")
    );
    // By id, id prefix, manifest digest, name@digest.
    assert_eq!(store.image(&app.id.to_string()).unwrap().id, app.id);
    assert_eq!(store.image(&app.id.hex()[..12]).unwrap().id, app.id);
    assert_eq!(store.image(&app.id.hex()[..4]).unwrap().id, app.id);
    assert_eq!(
        store
            .image(&format!("sha256:{}", &app.id.hex()[..10]))
            .unwrap()
            .id,
        app.id
    );
    assert_eq!(
        store
            .image(&app.manifest_desc.digest.to_string())
            .unwrap()
            .id,
        app.id
    );
    assert_eq!(
        store
            .image(&format!("app@{}", app.manifest_desc.digest))
            .unwrap()
            .id,
        app.id
    );
    assert!(store
        .image(&format!("app@{}", base.manifest_desc.digest))
        .is_err());
    assert_eq!(
        store.resolve("app").unwrap().unwrap().digest,
        app.manifest_desc.digest
    );
    assert!(store.resolve("nope").unwrap().is_none());

    let err = store.image("nope:1").unwrap_err();
    assert!(matches!(err, StoreError::ImageNotFound { .. }));
    let msg = err.to_string();
    assert!(
        msg.contains("image \"nope:1\" not found in the store at"),
        "{msg}"
    );
    assert!(msg.contains(&dir.path().display().to_string()), "{msg}");
    assert!(msg.contains("hoist load -i FILE.tar"), "{msg}");
    let err = store.image("Bad/Name").unwrap_err().to_string();
    assert!(err.contains("lowercase"), "{err}");
    assert!(store.tag("x:-bad", &app.manifest_desc).is_err());
    assert!(store
        .tag(&format!("x@{}", app.id), &app.manifest_desc)
        .is_err());

    // Retag replaces; untag removes.
    store.tag("app", &base.manifest_desc).unwrap();
    assert_eq!(store.image("app").unwrap().id, base.id);
    assert_eq!(store.refs().unwrap().len(), 3);
    let removed = store.untag("base:v1").unwrap();
    assert_eq!(removed.digest, base.manifest_desc.digest);
    assert!(store.image("localhost/base:v1").is_err());
    assert!(matches!(
        store.untag("base:v1").unwrap_err(),
        StoreError::RefNotFound { .. }
    ));

    // Tagging a manifest that is not in the store is refused.
    let ghost = Descriptor::new(media::OCI_MANIFEST, Digest::of(b"ghost"), 5);
    assert!(matches!(
        store.tag("ghost", &ghost).unwrap_err(),
        StoreError::MissingBlob { .. }
    ));

    // Untagged images are kept and found by id.
    let (l, diff) = layer(&store, &[("u", b"u")]);
    let mut config = ImageConfig::scratch();
    config.rootfs.diff_ids.push(diff);
    let untagged = store.write_image(&config, &[l], None).unwrap();
    store.add_untagged(&untagged.manifest_desc).unwrap();
    assert_eq!(store.image(untagged.id.hex()).unwrap().id, untagged.id);
    assert_eq!(store.refs().unwrap().len(), 2);
    assert_eq!(store.entries().unwrap().len(), 3);
    assert!(store.fsck().unwrap().is_clean());
}

#[test]
fn ambiguous_id_prefix_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    // Find two configs whose ids share 4 hex digits.
    let mut seen: BTreeMap<String, ImageConfig> = BTreeMap::new();
    let (a, b) = (0..100_000)
        .find_map(|i| {
            let mut c = ImageConfig::scratch();
            c.created = Some(format!("{i}"));
            let p = Digest::of(&c.to_bytes()).hex()[..4].to_owned();
            match seen.get(&p) {
                Some(other) => Some((other.clone(), c)),
                None => {
                    seen.insert(p, c);
                    None
                }
            }
        })
        .unwrap();
    let ia = store.write_image(&a, &[], None).unwrap();
    let ib = store.write_image(&b, &[], None).unwrap();
    store.tag("a", &ia.manifest_desc).unwrap();
    store.tag("b", &ib.manifest_desc).unwrap();
    let err = store.image(&ia.id.hex()[..4]).unwrap_err();
    assert!(
        matches!(err, StoreError::AmbiguousId { count: 2, .. }),
        "{err}"
    );
    assert_eq!(store.image(&ia.id.hex()[..20]).unwrap().id, ia.id);
}

#[test]
fn an_index_resolves_to_linux_amd64() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let amd = image(&store, "tmp-amd", b"amd");
    let arm = image(&store, "tmp-arm", b"arm");
    store.untag("tmp-amd").unwrap();
    store.untag("tmp-arm").unwrap();
    let mut arm_desc = arm.manifest_desc.clone();
    arm_desc.platform = Some(Platform {
        architecture: "arm64".into(),
        os: "linux".into(),
        ..Platform::default()
    });
    let mut amd_desc = amd.manifest_desc.clone();
    amd_desc.platform = Some(Platform::linux_amd64());
    let index = Index {
        manifests: vec![arm_desc, amd_desc],
        ..Index::default()
    };
    let idx = store.put_json(media::OCI_INDEX, &index).unwrap();
    store.tag("multi", &idx).unwrap();
    let got = store.image("multi").unwrap();
    assert_eq!(got.id, amd.id);
    assert_eq!(got.manifest_desc.digest, amd.manifest_desc.digest);
    assert_eq!(store.image(&amd.id.to_string()).unwrap().id, amd.id);
    assert!(store.fsck().unwrap().is_clean());
    // Prune keeps both platforms (they are in the store and reachable).
    store.prune().unwrap();
    assert!(store.has_blob(&arm.id));

    let only_arm = Index {
        manifests: vec![index.manifests[0].clone()],
        ..Index::default()
    };
    let d = store.put_json(media::OCI_INDEX, &only_arm).unwrap();
    store.tag("armonly", &d).unwrap();
    let err = store.image("armonly").unwrap_err().to_string();
    assert!(err.contains("linux/amd64"), "{err}");
}

const CHILD_ENV: &str = "HOIST_STORE_TEST_CHILD";

/// Run by `concurrent_tags_from_processes_all_land` in child processes.
#[test]
fn concurrent_tag_child() {
    let Ok(spec) = std::env::var(CHILD_ENV) else {
        return;
    };
    let (root, worker) = spec.split_once(',').unwrap();
    let store = Store::open(Path::new(root)).unwrap();
    let manifest: Descriptor =
        serde_json::from_slice(&fs::read(Path::new(root).join("manifest-desc.json")).unwrap())
            .unwrap();
    for i in 0..15 {
        store.tag(&format!("p{worker}-{i}"), &manifest).unwrap();
    }
}

#[test]
fn concurrent_tags_from_processes_all_land() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let img = image(&store, "seed", b"seed");
    fs::write(
        dir.path().join("manifest-desc.json"),
        serde_json::to_vec(&img.manifest_desc).unwrap(),
    )
    .unwrap();
    let exe = std::env::current_exe().unwrap();
    let children: Vec<_> = (0..6)
        .map(|w| {
            Command::new(&exe)
                .args(["--exact", "concurrent_tag_child", "--test-threads=1"])
                .env(CHILD_ENV, format!("{},{w}", dir.path().display()))
                .stdout(std::process::Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    for mut c in children {
        assert!(c.wait().unwrap().success());
    }
    let refs = store.refs().unwrap();
    assert_eq!(refs.len(), 1 + 6 * 15, "lost updates: {}", refs.len());
    for w in 0..6 {
        for i in 0..15 {
            assert!(store.image(&format!("p{w}-{i}")).is_ok());
        }
    }
}

#[test]
fn concurrent_tags_from_threads_all_land() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let img = image(&store, "seed", b"seed");
    std::thread::scope(|s| {
        for w in 0..8 {
            let root = dir.path().to_owned();
            let desc = img.manifest_desc.clone();
            s.spawn(move || {
                let mine = Store::open(&root).unwrap();
                for i in 0..20 {
                    mine.tag(&format!("t{w}-{i}"), &desc).unwrap();
                }
            });
        }
    });
    assert_eq!(store.refs().unwrap().len(), 1 + 8 * 20);
    assert!(tmp_entries(&store).is_empty());
}

#[test]
fn cache_records() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let (l, diff) = layer(&store, &[("x", b"x")]);
    let key = Digest::of(b"step key");
    assert_eq!(store.cache_get(&key).unwrap(), None);
    let rec = CacheRecord {
        layer: Some(l.clone()),
        diff_id: Some(diff),
        created: Some("2024-01-01T00:00:00Z".into()),
    };
    store.cache_put(&key, &rec).unwrap();
    assert_eq!(store.cache_get(&key).unwrap(), Some(rec.clone()));
    let empty = CacheRecord {
        layer: None,
        diff_id: None,
        created: None,
    };
    let key2 = Digest::of(b"no layer");
    store.cache_put(&key2, &empty).unwrap();
    assert_eq!(store.cache_get(&key2).unwrap(), Some(empty));

    // A truncated layer or a missing one is a miss.
    let data = fs::read(store.blob_path(&l.digest)).unwrap();
    fs::write(store.blob_path(&l.digest), &data[..data.len() - 1]).unwrap();
    assert_eq!(store.cache_get(&key).unwrap(), None);
    fs::remove_file(store.blob_path(&l.digest)).unwrap();
    assert_eq!(store.cache_get(&key).unwrap(), None);
    // A broken record is a miss too.
    fs::write(
        dir.path()
            .join("cache")
            .join(format!("{}.json", key2.hex())),
        b"{broken",
    )
    .unwrap();
    assert_eq!(store.cache_get(&key2).unwrap(), None);
    assert!(tmp_entries(&store).is_empty());
}

#[test]
fn prune_keeps_what_tags_reach_and_removes_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let keep = image(&store, "keep", b"keep me");
    let shared = image(&store, "keep2", b"keep me"); // same layer as `keep`
    let gone = image(&store, "gone", b"remove me");
    store.untag("gone").unwrap();
    let loose = store.put_bytes(&vec![7u8; 10_000]).unwrap();
    let (l, diff) = layer(&store, &[("u", b"untagged")]);
    let mut c = ImageConfig::scratch();
    c.rootfs.diff_ids.push(diff);
    let untagged = store.write_image(&c, &[l], None).unwrap();
    store.add_untagged(&untagged.manifest_desc).unwrap();
    store
        .cache_put(
            &Digest::of(b"k"),
            &CacheRecord {
                layer: Some(keep.manifest.layers[0].clone()),
                diff_id: None,
                created: None,
            },
        )
        .unwrap();
    fs::write(store.tmp_dir().join("blob-leftover"), b"partial").unwrap();
    fs::write(dir.path().join("blobs/sha256/not-a-digest"), b"?").unwrap();

    let report = store.prune().unwrap();
    assert_eq!(report.cache_records_removed, 1);
    assert_eq!(report.untagged_images_removed, 1);
    assert_eq!(report.tmp_files_removed, 1);
    // gone: manifest, config, layer; untagged: manifest, config, layer;
    // loose; the stray file.
    assert_eq!(report.blobs_removed, 8, "{report:?}");
    assert!(report.bytes_freed >= 10_000);

    for img in [&keep, &shared] {
        assert!(store.has_blob(&img.manifest_desc.digest));
        assert!(store.has_blob(&img.id));
        for l in &img.manifest.layers {
            assert!(store.has_blob(&l.digest));
        }
    }
    assert_eq!(store.image("keep").unwrap().id, keep.id);
    assert_eq!(store.image("keep2").unwrap().id, shared.id);
    for d in [
        &gone.manifest_desc.digest,
        &gone.id,
        &gone.manifest.layers[0].digest,
        &loose,
        &untagged.id,
    ] {
        assert!(!store.has_blob(d), "{d}");
    }
    assert!(store.fsck().unwrap().is_clean());
    assert_eq!(store.prune().unwrap(), Default::default());
}

#[test]
fn fsck_finds_planted_problems() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let a = image(&store, "a", b"a");
    let b = image(&store, "b", b"b");
    let report = store.fsck().unwrap();
    assert!(report.is_clean(), "{:?}", report.problems);
    assert_eq!(report.images_checked, 2);
    assert_eq!(report.blobs_checked, 6);

    // A corrupt config, a missing layer, a dangling and a broken cache
    // record, a temp leftover, a stray file.
    fs::write(store.blob_path(&a.id), b"{}").unwrap();
    fs::remove_file(store.blob_path(&b.manifest.layers[0].digest)).unwrap();
    store
        .cache_put(
            &Digest::of(b"k"),
            &CacheRecord {
                layer: Some(b.manifest.layers[0].clone()),
                diff_id: None,
                created: None,
            },
        )
        .unwrap();
    fs::write(dir.path().join("cache/junk.json"), b"[").unwrap();
    fs::write(store.tmp_dir().join("blob-x"), b"x").unwrap();
    fs::create_dir(dir.path().join("blobs/sha256/dir")).unwrap();

    let report = store.fsck().unwrap();
    let p = &report.problems;
    let text: Vec<String> = p.iter().map(|p| p.to_string()).collect();
    assert!(
        p.iter()
            .any(|p| matches!(p, FsckProblem::CorruptBlob { digest, .. } if *digest == a.id)),
        "{text:#?}"
    );
    assert!(p.iter().any(|p| matches!(p, FsckProblem::MissingBlob { role: "layer", digest, .. } if *digest == b.manifest.layers[0].digest)), "{text:#?}");
    assert!(
        p.iter()
            .any(|p| matches!(p, FsckProblem::DanglingCacheRecord { .. })),
        "{text:#?}"
    );
    assert!(
        p.iter()
            .any(|p| matches!(p, FsckProblem::BadCacheRecord { .. })),
        "{text:#?}"
    );
    assert!(
        p.iter()
            .any(|p| matches!(p, FsckProblem::TmpLeftover { .. })),
        "{text:#?}"
    );
    assert!(
        p.iter().any(|p| matches!(p, FsckProblem::StrayFile { .. })),
        "{text:#?}"
    );
    assert_eq!(p.len(), 6, "{text:#?}");
    // fsck changed nothing.
    assert!(store.tmp_dir().join("blob-x").exists());
    assert!(text.iter().all(|t| !t.is_empty()));

    fs::write(dir.path().join("index.json"), b"{").unwrap();
    let report = store.fsck().unwrap();
    assert!(report
        .problems
        .iter()
        .any(|p| matches!(p, FsckProblem::BadLayoutFile { .. })));
}

/// A tmpfs of `size` mounted on a temp dir; unmounted on drop.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(size: &str) -> Option<Tmpfs> {
        let dir = tempfile::tempdir().unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        ok.then_some(Tmpfs { dir })
    }
    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

#[test]
fn a_full_disk_is_a_clear_error_and_leaves_the_store_consistent() {
    let Some(fs_) = Tmpfs::mount("1m") else {
        eprintln!("SKIP: cannot mount a tmpfs (not root?)");
        if nix::unistd::geteuid().is_root() {
            panic!("running as root but mounting a tmpfs failed");
        }
        return;
    };
    let root = fs_.path().join("store");
    let store = Store::open(&root).unwrap();
    let img = image(&store, "small", b"small");

    let big = vec![0x5au8; 2 * 1024 * 1024];
    let err = store.put_bytes(&big).unwrap_err();
    assert!(err.is_disk_full(), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("disk is full") && msg.contains("hoist prune"),
        "{msg}"
    );
    assert!(
        msg.contains(&store.tmp_dir().display().to_string()),
        "{msg}"
    );
    assert!(tmp_entries(&store).is_empty());

    // Through io::Write: the error kind is StorageFull, the temp file is
    // gone at once.
    let mut w = store.blob_writer().unwrap();
    let temp = w.temp_path().to_owned();
    let err = w.write_all(&big).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::StorageFull);
    assert!(
        err.to_string().contains(&temp.display().to_string()),
        "{err}"
    );
    assert!(!temp.exists());
    assert!(w.commit(None).is_err());
    assert!(tmp_entries(&store).is_empty());

    let store = Store::open(&root).unwrap();
    let report = store.fsck().unwrap();
    assert!(report.is_clean(), "{:?}", report.problems);
    assert_eq!(store.image("small").unwrap().id, img.id);
    let d = store.put_bytes(b"after").unwrap();
    assert_eq!(store.read_blob(&d).unwrap(), b"after");

    // Fill the disk, then a tag fails clearly and index.json is intact.
    let filler = root.join("filler");
    let mut f = fs::File::create(&filler).unwrap();
    let _ = f.write_all(&big);
    drop(f);
    let err = store.tag("other", &img.manifest_desc).unwrap_err();
    assert!(err.is_disk_full(), "{err}");
    assert_eq!(store.refs().unwrap().len(), 1);
    fs::remove_file(&filler).unwrap();
    assert!(tmp_entries(&store).is_empty());
    store.tag("other", &img.manifest_desc).unwrap();
    assert!(store.fsck().unwrap().is_clean());
}
