//! hoist's command line (docker build / buildah flag names) and the calls
//! into the library.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context as _};
use clap::{Parser, Subcommand};

use hoist::archive;
use hoist::build::{self, BuildRequest, ContextSource, Output, ProgressMode};
use hoist::bundle::{self, BundleOptions};
use hoist::dockerfile::BuildOptions;
use hoist::layer::Compression;
use hoist::store::Store;

#[derive(Parser, Debug)]
#[command(
    name = "hoist",
    version,
    about = "hoist: a daemonless Dockerfile builder that writes OCI images"
)]
pub struct Cli {
    /// The store directory (default $HOIST_ROOT or /var/lib/hoist).
    #[arg(long, global = true, value_name = "DIR")]
    root: Option<PathBuf>,
    /// Debug logging on stderr.
    #[arg(long, global = true)]
    pub debug: bool,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Build an image from a Dockerfile and a context.
    Build(Box<BuildArgs>),
    /// List the images in the store.
    Images {
        /// `table` (default) or `json`.
        #[arg(long, default_value = "table")]
        format: String,
        /// Only image ids.
        #[arg(short, long)]
        quiet: bool,
    },
    /// Print the config and manifest of images as JSON.
    Inspect {
        #[arg(required = true)]
        images: Vec<String>,
    },
    /// Add a name to an image.
    Tag { source: String, target: String },
    /// Remove image names (their blobs go with the next `prune`).
    Rmi {
        #[arg(required = true)]
        images: Vec<String>,
        /// Accepted for docker compatibility.
        #[arg(short, long)]
        force: bool,
    },
    /// Remove the build cache and the blobs no image uses.
    Prune {
        /// Accepted for docker compatibility (hoist never prompts).
        #[arg(short, long)]
        force: bool,
        #[arg(short, long)]
        all: bool,
    },
    /// Write images to a tar that is both a docker-archive and an OCI layout.
    Save {
        #[arg(short, long, value_name = "FILE")]
        output: PathBuf,
        #[arg(required = true)]
        images: Vec<String>,
    },
    /// Load images from a docker-archive, an OCI archive or an OCI layout directory.
    Load {
        #[arg(short, long, value_name = "FILE|DIR")]
        input: PathBuf,
        #[arg(short, long)]
        quiet: bool,
    },
    /// Unpack an image into a runtime bundle (rootfs + config.json).
    Unpack { image: String, dir: PathBuf },
    /// Check every blob, ref and cache record of the store.
    Fsck,
    /// Run an image as a container (docker run's flags), through keel-shim.
    Run(Box<crate::run_cmd::RunArgs>),
}

#[derive(clap::Args, Debug)]
struct BuildArgs {
    /// Name and optionally a tag (`name:tag`); repeatable.
    #[arg(short = 't', long = "tag")]
    tags: Vec<String>,
    /// The Dockerfile (default CONTEXT/Dockerfile).
    #[arg(short = 'f', long = "file")]
    file: Option<PathBuf>,
    /// `K=V`, or `K` to take the value from the environment; repeatable.
    #[arg(long = "build-arg")]
    build_args: Vec<String>,
    /// The stage to build.
    #[arg(long)]
    target: Option<String>,
    /// `K=V` label on the image; repeatable.
    #[arg(long = "label")]
    labels: Vec<String>,
    /// Don't use the cache.
    #[arg(long = "no-cache")]
    no_cache: bool,
    /// Don't use the cache for these stages (comma-separated; repeatable).
    #[arg(long = "no-cache-filter", value_delimiter = ',')]
    no_cache_filter: Vec<String>,
    /// auto, plain, tty or quiet.
    #[arg(long, default_value = "auto")]
    progress: String,
    /// Only print the image id.
    #[arg(short, long)]
    quiet: bool,
    /// `type=oci|docker|oci-layout,dest=PATH`; repeatable.
    #[arg(short = 'o', long = "output")]
    outputs: Vec<String>,
    /// Write the image id to this file.
    #[arg(long)]
    iidfile: Option<PathBuf>,
    /// Layer compression: gzip (default), zstd or uncompressed.
    #[arg(long, default_value = "gzip")]
    compression: String,
    /// The target platform (only linux/amd64).
    #[arg(long)]
    platform: Option<String>,
    /// The network of RUN steps without `--network`: host (default) or none.
    #[arg(long, default_value = "host")]
    network: String,
    /// The runc-compatible runtime of RUN steps (default: keel next to
    /// hoist, else keel on PATH, else runc).
    #[arg(long, value_name = "PATH")]
    runtime: Option<PathBuf>,
    /// How many stages build at once (default: the number of cores).
    #[arg(long, short = 'j', default_value_t = 0)]
    jobs: usize,
    /// A secret for `RUN --mount=type=secret`: `id=ID,src=FILE` or
    /// `id=ID,env=VAR` (buildx syntax); repeatable.
    #[arg(long = "secret", value_name = "id=ID,src=FILE|env=VAR")]
    secrets: Vec<String>,
    /// An ssh agent for `RUN --mount=type=ssh`: `default` ($SSH_AUTH_SOCK)
    /// or `ID=SOCKET`; repeatable.
    #[arg(long = "ssh", value_name = "default|ID=SOCKET")]
    ssh: Vec<String>,
    /// The context directory, or `-` for a tar on stdin.
    context: String,
}

fn store_root(cli: &Cli) -> PathBuf {
    cli.root
        .clone()
        .or_else(|| std::env::var_os("HOIST_ROOT").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from("/var/lib/hoist"))
}

fn split_kv(s: &str, what: &str) -> anyhow::Result<(String, String)> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
        _ => bail!("invalid {what} {s:?}: want KEY=VALUE"),
    }
}

pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let root = store_root(&cli);
    let store = || Store::open(&root);
    match cli.cmd {
        Cmd::Run(r) => return crate::run_cmd::run(root, *r),
        Cmd::Build(b) => {
            let store = store()?;
            let context = if b.context == "-" {
                ContextSource::Stdin
            } else {
                ContextSource::Dir(PathBuf::from(&b.context))
            };
            let mut req = BuildRequest::new(context);
            req.dockerfile = b.file;
            req.tags = b.tags;
            req.build_args =
                BuildOptions::parse_build_args(b.build_args.iter().map(String::as_str), |k| {
                    std::env::var(k).ok()
                });
            req.target = b.target;
            req.labels = b
                .labels
                .iter()
                .map(|l| split_kv(l, "--label"))
                .collect::<anyhow::Result<_>>()?;
            req.no_cache = b.no_cache;
            req.no_cache_filter = b.no_cache_filter;
            req.progress = if b.quiet {
                ProgressMode::Quiet
            } else {
                b.progress
                    .parse::<ProgressMode>()
                    .map_err(anyhow::Error::msg)?
            };
            req.outputs = b
                .outputs
                .iter()
                .map(|o| Output::parse(o))
                .collect::<Result<_, _>>()?;
            req.iidfile = b.iidfile;
            req.compression = match b.compression.as_str() {
                "gzip" => Compression::Gzip { level: 6 },
                "zstd" => Compression::Zstd { level: 3 },
                "uncompressed" | "none" => Compression::None,
                c => bail!("invalid --compression {c:?}: use gzip, zstd or uncompressed"),
            };
            req.platform = b.platform;
            req.source_date_epoch = match std::env::var("SOURCE_DATE_EPOCH") {
                Ok(v) if !v.is_empty() => Some(v.trim().parse::<i64>().with_context(|| {
                    format!("invalid SOURCE_DATE_EPOCH {v:?}: want seconds since 1970")
                })?),
                _ => None,
            };
            req.network = match b.network.as_str() {
                "default" => hoist::run::Network::Host,
                n => n.parse().map_err(anyhow::Error::msg)?,
            };
            req.runtime = b.runtime;
            req.jobs = b.jobs;
            req.secrets = b
                .secrets
                .iter()
                .map(|s| hoist::run::Secret::parse(s, &|k| std::env::var_os(k).is_some()))
                .collect::<Result<_, _>>()
                .map_err(anyhow::Error::msg)?;
            req.ssh = b
                .ssh
                .iter()
                .map(|s| hoist::run::SshAgent::parse(s, &|k| std::env::var_os(k)))
                .collect::<Result<_, _>>()
                .map_err(anyhow::Error::msg)?;
            // SIGINT/SIGTERM only set a flag: the build stops its container,
            // unmounts and cleans up, then exits 128 + the signal.
            hoist::run::interrupt::install().context("install the SIGINT handler")?;
            let res = match build::build(&store, &req) {
                Err(build::BuildError::Interrupted { signal }) => {
                    eprintln!("error: interrupted by signal {signal}: the build stopped");
                    return Ok(ExitCode::from(u8::try_from(128 + signal).unwrap_or(130)));
                }
                r => r?,
            };
            for a in &res.unused_build_args {
                eprintln!("[Warning] One or more build-args [{a}] were not consumed");
            }
            println!("{}", res.id);
        }
        Cmd::Images { format, quiet } => {
            let store = store()?;
            let mut rows = Vec::new();
            for (name, desc) in store.refs()? {
                let img = store.image(&desc.digest.to_string())?;
                let size: u64 = img.manifest.layers.iter().map(|l| l.size).sum();
                let (repo, tag) = match name.rsplit_once(':') {
                    Some((r, t)) if !t.contains('/') => (r.to_owned(), t.to_owned()),
                    _ => (name.clone(), "<none>".to_owned()),
                };
                rows.push((repo, tag, img.id.clone(), img.config.created.clone(), size));
            }
            let mut out = std::io::stdout().lock();
            if quiet {
                for r in &rows {
                    writeln!(out, "{}", r.2.short())?;
                }
            } else if format == "json" {
                let v: Vec<serde_json::Value> = rows
                    .iter()
                    .map(|(repo, tag, id, created, size)| {
                        serde_json::json!({
                            "Repository": repo, "Tag": tag, "ID": id.to_string(),
                            "Created": created, "Size": size,
                        })
                    })
                    .collect();
                writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?;
            } else if format == "table" {
                writeln!(
                    out,
                    "{:<40} {:<16} {:<14} {:<22} SIZE",
                    "REPOSITORY", "TAG", "IMAGE ID", "CREATED"
                )?;
                for (repo, tag, id, created, size) in &rows {
                    writeln!(
                        out,
                        "{repo:<40} {tag:<16} {:<14} {:<22} {}",
                        id.short(),
                        created.as_deref().unwrap_or(""),
                        human_size(*size)
                    )?;
                }
            } else {
                bail!("invalid --format {format:?}: use table or json");
            }
        }
        Cmd::Inspect { images } => {
            let store = store()?;
            let mut out = Vec::new();
            for r in &images {
                let img = store.image(r)?;
                let names: Vec<String> = store
                    .refs()?
                    .into_iter()
                    .filter(|(_, d)| d.digest == img.manifest_desc.digest)
                    .map(|(n, _)| n)
                    .collect();
                out.push(serde_json::json!({
                    "Id": img.id.to_string(),
                    "RepoTags": names,
                    "Created": img.config.created,
                    "Author": img.config.author,
                    "Architecture": img.config.architecture,
                    "Os": img.config.os,
                    "Config": img.config.config,
                    "RootFS": img.config.rootfs,
                    "History": img.config.history,
                    "Manifest": img.manifest_desc,
                }));
            }
            println!("{}", serde_json::to_string_pretty(&out)?);
        }
        Cmd::Tag { source, target } => {
            let store = store()?;
            let img = store.image(&source)?;
            let name = hoist::store::normalize_name(&target)?;
            store.tag(&name, &img.manifest_desc)?;
        }
        Cmd::Rmi { images, force: _ } => {
            let store = store()?;
            for r in &images {
                let name = hoist::store::normalize_name(r)?;
                match store.untag(&name) {
                    Ok(d) => println!("Untagged: {name} ({})", d.digest),
                    Err(e) => {
                        // An id: untag every name of that image.
                        let img = store.image(r).map_err(|_| e)?;
                        for (n, d) in store.refs()? {
                            if d.digest == img.manifest_desc.digest {
                                store.untag(&n)?;
                                println!("Untagged: {n}");
                            }
                        }
                        println!("Deleted: {}", img.id);
                    }
                }
            }
        }
        Cmd::Prune { .. } => {
            let store = store()?;
            // Stopped `hoist run` containers first (running ones are locked
            // and kept), then the cache, images and blobs.
            for name in hoist::container::prune(&store)? {
                println!("Deleted container: {name}");
            }
            let r = store.prune()?;
            println!(
                "Deleted {} cache records, {} cache mounts, {} untagged images, {} blobs, {} snapshots, {} temp files",
                r.cache_records_removed,
                r.cache_mounts_removed,
                r.untagged_images_removed,
                r.blobs_removed,
                r.snapshots_removed,
                r.tmp_files_removed
            );
            println!("Total reclaimed space: {}", human_size(r.bytes_freed));
        }
        Cmd::Save { output, images } => {
            let store = store()?;
            let tmp = output.with_extension("tar.partial");
            let f =
                std::fs::File::create(&tmp).with_context(|| format!("create {}", tmp.display()))?;
            archive::save(&store, &images, std::io::BufWriter::new(f))?;
            std::fs::rename(&tmp, &output)
                .with_context(|| format!("rename {} to {}", tmp.display(), output.display()))?;
        }
        Cmd::Load { input, quiet } => {
            let store = store()?;
            for img in archive::load(&store, &input)? {
                if quiet {
                    println!("{}", img.id);
                    continue;
                }
                if img.names.is_empty() {
                    println!("Loaded image ID: {}", img.id);
                }
                for n in &img.names {
                    println!("Loaded image: {n}");
                }
            }
        }
        Cmd::Unpack { image, dir } => {
            let store = store()?;
            let img = store.image(&image)?;
            let mut readers: Vec<Box<dyn std::io::Read>> = Vec::new();
            for l in &img.manifest.layers {
                readers.push(Box::new(store.open_blob(&l.digest)?));
            }
            bundle::write_bundle(&img.config, readers, &dir, &BundleOptions::default())?;
            println!("{}", dir.display());
        }
        Cmd::Fsck => {
            let store = store()?;
            let r = store.fsck()?;
            println!(
                "checked {} blobs ({}), {} images, {} cache records; {} unreferenced blobs",
                r.blobs_checked,
                human_size(r.bytes_checked),
                r.images_checked,
                r.cache_records_checked,
                r.unreferenced_blobs
            );
            for p in &r.problems {
                println!("problem: {p}");
            }
            if !r.is_clean() {
                return Ok(ExitCode::from(1));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn human_size(n: u64) -> String {
    const UNITS: [&str; 4] = ["B", "kB", "MB", "GB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1000.0 && u < UNITS.len() - 1 {
        v /= 1000.0;
        u += 1;
    }
    if u == 0 {
        format!("{n}B")
    } else {
        format!("{v:.3}{}", UNITS[u])
    }
}
