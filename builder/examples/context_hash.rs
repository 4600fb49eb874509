//! Opens a build context and hashes all of it, as a rebuild does before
//! COPY . — used by `hack/bench-context.sh` to time cold and warm
//! (stat-cached) walks. Prints the digest and the stat-cache hits/misses.
//!
//! Usage: `context_hash DIR [--cache FILE] [--list-files OUT]`; with
//! `--list-files` it only writes the visible regular files (NUL-separated,
//! absolute) to OUT, for comparing with `sha256sum` over the same files.

use std::path::PathBuf;
use std::time::Instant;

use hoist::context::{Context, ContextOptions};

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(
        args.next()
            .ok_or_else(|| anyhow::anyhow!("usage: context_hash DIR [--cache FILE]"))?,
    );
    let mut cache = None;
    let mut list = None;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--cache" => cache = args.next().map(PathBuf::from),
            "--list-files" => list = args.next().map(PathBuf::from),
            other => anyhow::bail!("unknown argument {other:?}"),
        }
    }
    if let Some(out) = list {
        let ctx = Context::open(&dir, &dir.join("Dockerfile"), ContextOptions::default())?;
        let mut buf = Vec::new();
        for w in ctx.walk("")? {
            if w.meta.is_file() {
                buf.extend_from_slice(ctx.abs(&w.rel).as_os_str().as_encoded_bytes());
                buf.push(0);
            }
        }
        std::fs::write(out, buf)?;
        return Ok(());
    }
    let start = Instant::now();
    let ctx = Context::open(
        &dir,
        &dir.join("Dockerfile"),
        ContextOptions { hash_cache: cache },
    )?;
    let digest = ctx.hash("")?;
    ctx.save_hash_cache()?;
    let s = ctx.cache_stats();
    println!(
        "{digest} cache_hits={} cache_misses={} elapsed={:.3}s",
        s.hits,
        s.misses,
        start.elapsed().as_secs_f64()
    );
    Ok(())
}
