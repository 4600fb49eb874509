//! gzip on all cores: a [`Write`] adapter that cuts the stream into
//! fixed-size chunks, deflates them on worker threads and writes ONE
//! standard single-member gzip stream (what docker, containerd, `zcat` and
//! flate2's `GzDecoder` expect).
//!
//! Each chunk of [`CHUNK_SIZE`] uncompressed bytes is raw deflate on its
//! own; every chunk but the last ends with a sync flush (an empty stored
//! block, so it ends on a byte boundary) and the last one with the final
//! block. The chunks follow one gzip header (no name, mtime 0, the header
//! flate2's `GzBuilder` writes) and are followed by the CRC-32 of the whole
//! input, combined from the chunks' CRCs in order, and its length mod 2³².
//!
//! Threads start only when a second chunk exists, so a small layer is
//! compressed inline without spawning anything. At most
//! [`IN_FLIGHT_PER_WORKER`] chunks per worker are out at once, so memory
//! stays a few MiB per worker.
//!
//! Must never let the output depend on the number of workers or on how the
//! caller splits its writes (chunk boundaries depend only on the byte
//! count), never leave a thread running after the writer is finished or
//! dropped, and never panic on any input: a worker that died or a poisoned
//! lock is an [`io::Error`].

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::num::NonZeroUsize;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};

use flate2::{Compress, Crc, FlushCompress, Status};

/// Uncompressed bytes per chunk. Part of the output format: changing it
/// changes the bytes (and so the digest) of every gzip layer over one
/// chunk, so it must not depend on the machine.
pub const CHUNK_SIZE: usize = 1 << 20;

/// Most worker threads one writer starts.
pub const MAX_WORKERS: usize = 8;

/// Chunks per worker that may be queued, being compressed or waiting to be
/// written in order at any one time.
pub const IN_FLIGHT_PER_WORKER: usize = 2;

/// Highest gzip level.
const MAX_LEVEL: u32 = 9;

/// What can go wrong inside the parallel gzip writer (carried in an
/// [`io::Error`]).
#[derive(Debug, thiserror::Error)]
pub enum PgzipError {
    #[error("gzip level {0} is out of range (0..=9)")]
    BadLevel(u32),
    #[error("deflating gzip chunk {chunk}: {source}")]
    Deflate {
        chunk: u64,
        #[source]
        source: flate2::CompressError,
    },
    #[error("deflating gzip chunk {chunk} made no progress")]
    Stalled { chunk: u64 },
    #[error("starting a gzip worker thread: {0}")]
    Spawn(#[source] io::Error),
    #[error("a gzip worker thread panicked compressing chunk {0}")]
    WorkerPanicked(u64),
    #[error("a gzip worker thread panicked")]
    WorkerDied,
    #[error("the gzip worker threads stopped before finishing their chunks")]
    WorkersGone,
    #[error("the gzip writer failed earlier and cannot be used any more")]
    Failed,
}

impl From<PgzipError> for io::Error {
    fn from(e: PgzipError) -> Self {
        io::Error::other(e)
    }
}

/// The number of workers [`GzWriter::new`] uses: the available cores, at
/// most [`MAX_WORKERS`].
pub fn default_workers() -> usize {
    thread::available_parallelism()
        .map_or(1, NonZeroUsize::get)
        .min(MAX_WORKERS)
}

/// A gzip encoder that compresses on several threads; call
/// [`GzWriter::finish`] to write the end of the stream. Dropping it without
/// finishing stops and joins its threads and leaves the output truncated.
pub struct GzWriter<W: Write> {
    inner: W,
    level: u32,
    workers: usize,
    /// The chunk being filled.
    chunk: Vec<u8>,
    /// Emptied chunk buffers to fill again.
    spare: Vec<Vec<u8>>,
    /// Chunks handed out so far; the next one gets this sequence number.
    sent: u64,
    /// Chunks written to `inner` so far.
    written: u64,
    /// Compressed chunks that came back ahead of their turn.
    ready: BTreeMap<u64, Compressed>,
    pool: Option<Pool>,
    header_written: bool,
    /// CRC-32 of the chunks written so far.
    crc: Crc,
    total_in: u64,
    failed: bool,
}

impl<W: Write> GzWriter<W> {
    /// A writer at `level` (0..=9) using [`default_workers`] threads.
    pub fn new(inner: W, level: u32) -> io::Result<Self> {
        Self::with_workers(inner, level, default_workers())
    }

    /// A writer at `level` (0..=9) using up to `workers` threads (clamped to
    /// 1..=[`MAX_WORKERS`]; 1 compresses everything inline). The output
    /// does not depend on `workers`.
    pub fn with_workers(inner: W, level: u32, workers: usize) -> io::Result<Self> {
        if level > MAX_LEVEL {
            return Err(PgzipError::BadLevel(level).into());
        }
        Ok(GzWriter {
            inner,
            level,
            workers: workers.clamp(1, MAX_WORKERS),
            chunk: Vec::new(),
            spare: Vec::new(),
            sent: 0,
            written: 0,
            ready: BTreeMap::new(),
            pool: None,
            header_written: false,
            crc: Crc::new(),
            total_in: 0,
            failed: false,
        })
    }

    /// Compresses what is buffered, writes the gzip trailer, joins the
    /// threads and returns the inner writer (not flushed).
    pub fn finish(mut self) -> io::Result<W> {
        if self.failed {
            return Err(PgzipError::Failed.into());
        }
        self.submit(true)?;
        self.drain()?;
        if let Some(mut pool) = self.pool.take() {
            pool.close()?;
        }
        let mut trailer = [0u8; 8];
        let (crc, isize) = trailer.split_at_mut(4);
        crc.copy_from_slice(&self.crc.sum().to_le_bytes());
        // ISIZE is the input length modulo 2^32.
        isize.copy_from_slice(&((self.total_in & 0xffff_ffff) as u32).to_le_bytes());
        self.inner.write_all(&trailer)?;
        Ok(self.inner)
    }

    /// Runs `f`, marking the writer failed if it fails.
    fn guarded<T>(&mut self, f: impl FnOnce(&mut Self) -> io::Result<T>) -> io::Result<T> {
        if self.failed {
            return Err(PgzipError::Failed.into());
        }
        let r = f(self);
        if r.is_err() {
            self.failed = true;
        }
        r
    }

    /// Hands the current chunk to be compressed: to the pool, started for
    /// the first chunk that is not the last, or inline when there is no
    /// pool (a one-chunk stream, one worker, or no thread could start).
    fn submit(&mut self, last: bool) -> io::Result<()> {
        let data = if last {
            std::mem::take(&mut self.chunk)
        } else {
            let next = self
                .spare
                .pop()
                .unwrap_or_else(|| Vec::with_capacity(CHUNK_SIZE));
            std::mem::replace(&mut self.chunk, next)
        };
        let seq = self.sent;
        self.sent += 1;
        if self.pool.is_none() && !last && self.workers > 1 {
            match Pool::start(self.workers, self.level) {
                Ok(pool) => self.pool = Some(pool),
                Err(e) => {
                    // Same bytes, just slower: not worth failing a build for.
                    tracing::warn!(error = %e, "gzip: compressing on one thread");
                    self.workers = 1;
                }
            }
        }
        if self.pool.is_none() {
            let done = compress_chunk(self.level, data, last, seq)?;
            return self.emit(done);
        }
        let limit = (self.workers * IN_FLIGHT_PER_WORKER) as u64;
        while seq - self.written >= limit {
            self.wait_one()?;
        }
        match &self.pool {
            Some(pool) => Ok(pool.send(Job { seq, data, last })?),
            None => Err(PgzipError::WorkersGone.into()),
        }
    }

    /// Waits for one compressed chunk and writes out every chunk whose turn
    /// has come.
    fn wait_one(&mut self) -> io::Result<()> {
        let Some(pool) = &self.pool else {
            return Err(PgzipError::WorkersGone.into());
        };
        let done = pool.recv()?;
        self.ready.insert(done.seq, done.result?);
        while let Some(c) = self.ready.remove(&self.written) {
            self.emit(c)?;
        }
        Ok(())
    }

    /// Waits until every chunk handed out has been written.
    fn drain(&mut self) -> io::Result<()> {
        while self.written < self.sent {
            self.wait_one()?;
        }
        Ok(())
    }

    /// Writes one compressed chunk (after the header, for the first).
    fn emit(&mut self, c: Compressed) -> io::Result<()> {
        if !self.header_written {
            self.inner.write_all(&header(self.level))?;
            self.header_written = true;
        }
        self.inner.write_all(&c.bytes)?;
        self.crc.combine(&c.crc);
        self.written += 1;
        let mut input = c.input;
        input.clear();
        self.spare.push(input);
        Ok(())
    }
}

impl<W: Write> Write for GzWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.guarded(|w| {
            let mut rest = buf;
            while !rest.is_empty() {
                if w.chunk.len() >= CHUNK_SIZE {
                    // More input follows, so the full chunk is not the last.
                    w.submit(false)?;
                }
                let room = CHUNK_SIZE.saturating_sub(w.chunk.len());
                let (now, later) = rest.split_at(room.min(rest.len()));
                w.chunk.extend_from_slice(now);
                w.total_in += now.len() as u64;
                rest = later;
            }
            Ok(buf.len())
        })
    }

    /// Writes every chunk already handed out and flushes the inner writer.
    /// The chunk being filled stays buffered (cutting it here would make
    /// the output depend on when flushes happen) until it is full or
    /// [`GzWriter::finish`] is called.
    fn flush(&mut self) -> io::Result<()> {
        self.guarded(|w| {
            w.drain()?;
            w.inner.flush()
        })
    }
}

/// The 10-byte gzip header flate2's `GzBuilder` writes with mtime 0: no
/// flags, XFL from the level, OS "unknown".
fn header(level: u32) -> [u8; 10] {
    let xfl = match level {
        9 => 2,
        0 | 1 => 4,
        _ => 0,
    };
    [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, xfl, 255]
}

/// One chunk to compress.
struct Job {
    seq: u64,
    data: Vec<u8>,
    last: bool,
}

/// A compressed chunk, its CRC, and its input buffer to reuse.
struct Compressed {
    bytes: Vec<u8>,
    crc: Crc,
    input: Vec<u8>,
}

/// What a worker sends back.
struct Done {
    seq: u64,
    result: Result<Compressed, PgzipError>,
}

fn compress_chunk(
    level: u32,
    data: Vec<u8>,
    last: bool,
    seq: u64,
) -> Result<Compressed, PgzipError> {
    let mut crc = Crc::new();
    crc.update(&data);
    let bytes = deflate_chunk(level, &data, last, seq)?;
    Ok(Compressed {
        bytes,
        crc,
        input: data,
    })
}

/// Raw deflate of one chunk, ending with a sync flush or, for the last
/// chunk, the final block.
fn deflate_chunk(level: u32, data: &[u8], last: bool, seq: u64) -> Result<Vec<u8>, PgzipError> {
    let flush = if last {
        FlushCompress::Finish
    } else {
        FlushCompress::Sync
    };
    let mut z = Compress::new(flate2::Compression::new(level), false);
    // Enough for stored blocks (5 bytes per 64 KiB) and the flush marker,
    // so one call normally does it; grown below if not.
    let mut out = Vec::with_capacity(data.len() + data.len() / 64 + 64);
    let total = data.len() as u64;
    loop {
        if out.len() == out.capacity() {
            out.reserve(64 * 1024);
        }
        let (in_before, out_before) = (z.total_in(), z.total_out());
        let rest = usize::try_from(in_before)
            .ok()
            .and_then(|done| data.get(done..))
            .unwrap_or_default();
        let status = z
            .compress_vec(rest, &mut out, flush)
            .map_err(|source| PgzipError::Deflate { chunk: seq, source })?;
        let room_left = out.len() < out.capacity();
        match status {
            Status::StreamEnd => return Ok(out),
            // A sync flush is complete once deflate stops with room to spare.
            _ if !last && z.total_in() == total && room_left => return Ok(out),
            _ if z.total_in() == in_before && z.total_out() == out_before && room_left => {
                return Err(PgzipError::Stalled { chunk: seq })
            }
            _ => {}
        }
    }
}

/// The worker threads, the queue they take chunks from and the channel
/// they answer on.
struct Pool {
    /// `None` once closed; dropping it tells the workers to stop.
    jobs: Option<Sender<Job>>,
    done: Receiver<Done>,
    /// Set when closing so queued chunks are skipped.
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl Pool {
    /// Starts up to `workers` threads; fails only if none starts.
    fn start(workers: usize, level: u32) -> Result<Pool, PgzipError> {
        let (job_tx, job_rx) = mpsc::channel::<Job>();
        let (done_tx, done_rx) = mpsc::channel::<Done>();
        let job_rx = Arc::new(Mutex::new(job_rx));
        let stop = Arc::new(AtomicBool::new(false));
        let mut pool = Pool {
            jobs: Some(job_tx),
            done: done_rx,
            stop: Arc::clone(&stop),
            threads: Vec::with_capacity(workers),
        };
        for i in 0..workers {
            let jobs = Arc::clone(&job_rx);
            let done = done_tx.clone();
            let stop = Arc::clone(&stop);
            let spawned = thread::Builder::new()
                .name(format!("hoist-gzip-{i}"))
                .spawn(move || work(&jobs, &done, &stop, level));
            match spawned {
                Ok(handle) => pool.threads.push(handle),
                // Fewer threads than asked for still work.
                Err(_) if !pool.threads.is_empty() => break,
                Err(e) => return Err(PgzipError::Spawn(e)),
            }
        }
        // Only the workers may hold senders, so that `recv` fails once they
        // are all gone instead of waiting forever.
        drop(done_tx);
        Ok(pool)
    }

    fn send(&self, job: Job) -> Result<(), PgzipError> {
        match &self.jobs {
            Some(jobs) => jobs.send(job).map_err(|_| PgzipError::WorkersGone),
            None => Err(PgzipError::WorkersGone),
        }
    }

    fn recv(&self) -> Result<Done, PgzipError> {
        self.done.recv().map_err(|_| PgzipError::WorkersGone)
    }

    /// Stops the workers (skipping queued chunks) and joins them.
    fn close(&mut self) -> Result<(), PgzipError> {
        self.stop.store(true, Ordering::Release);
        self.jobs = None;
        let mut died = false;
        for t in self.threads.drain(..) {
            died |= t.join().is_err();
        }
        if died {
            Err(PgzipError::WorkerDied)
        } else {
            Ok(())
        }
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        // Nothing to report to from a drop; the threads are joined anyway.
        let _ = self.close();
    }
}

/// A worker: takes chunks until the queue closes, answering each with its
/// compressed bytes or an error.
fn work(jobs: &Mutex<Receiver<Job>>, done: &Sender<Done>, stop: &AtomicBool, level: u32) {
    loop {
        let job = match jobs.lock() {
            Ok(queue) => match queue.recv() {
                Ok(job) => job,
                Err(_) => return,
            },
            // A poisoned queue: stop; once every worker has stopped the
            // writer's `recv` fails with `WorkersGone`.
            Err(_) => return,
        };
        if stop.load(Ordering::Acquire) {
            return;
        }
        let Job { seq, data, last } = job;
        let result =
            panic::catch_unwind(AssertUnwindSafe(|| compress_chunk(level, data, last, seq)))
                .unwrap_or(Err(PgzipError::WorkerPanicked(seq)));
        if done.send(Done { seq, result }).is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::process::{Command, Stdio};
    use std::time::Instant;

    /// Deterministic pseudo-random bytes (xorshift).
    fn random(len: usize, mut seed: u64) -> Vec<u8> {
        let mut out = Vec::with_capacity(len + 8);
        while out.len() < len {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            out.extend_from_slice(&seed.to_le_bytes());
        }
        out.truncate(len);
        out
    }

    /// Text-like, compressible bytes: numbered lines of a small vocabulary.
    fn compressible(len: usize) -> Vec<u8> {
        const WORDS: &[&str] = &[
            "layer",
            "gzip",
            "chunk",
            "deflate",
            "hoist",
            "keel",
            "tar",
            "/usr/lib/",
            "0644",
            "root",
            "\n",
            "sha256:",
            "entry",
            "    ",
            "config",
        ];
        let mut out = Vec::with_capacity(len + 64);
        let mut r = random(len / 4 + 16, 7).into_iter();
        let mut line = 0u64;
        while out.len() < len {
            let b = usize::from(r.next().unwrap_or(0));
            if b % 11 == 0 {
                line += 1;
                out.extend_from_slice(format!("\n{line}: ").as_bytes());
            }
            out.extend_from_slice(WORDS[b % WORDS.len()].as_bytes());
        }
        out.truncate(len);
        out
    }

    fn pgzip(data: &[u8], level: u32, workers: usize) -> Vec<u8> {
        let mut w = GzWriter::with_workers(Vec::new(), level, workers).unwrap();
        // Odd write sizes, so chunk boundaries fall inside writes.
        for piece in data.chunks(100_003) {
            w.write_all(piece).unwrap();
        }
        w.finish().unwrap()
    }

    fn gunzip(gz: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(gz)
            .read_to_end(&mut out)
            .unwrap();
        out
    }

    fn single_stream(data: &[u8], level: u32) -> Vec<u8> {
        let mut enc = flate2::GzBuilder::new()
            .mtime(0)
            .write(Vec::new(), flate2::Compression::new(level));
        enc.write_all(data).unwrap();
        enc.finish().unwrap()
    }

    fn cases() -> Vec<(&'static str, Vec<u8>)> {
        let mut mixed = compressible(3 * CHUNK_SIZE + 12_345);
        mixed.extend(random(2 * CHUNK_SIZE + 7, 42));
        mixed.extend(compressible(CHUNK_SIZE / 2));
        vec![
            ("empty", Vec::new()),
            ("one byte", vec![b'x']),
            ("one chunk", compressible(CHUNK_SIZE)),
            ("one chunk + 1", compressible(CHUNK_SIZE + 1)),
            ("two chunks", random(2 * CHUNK_SIZE, 3)),
            ("many chunks mixed", mixed),
        ]
    }

    #[test]
    fn round_trips_through_gz_decoders() {
        for (name, data) in cases() {
            for level in [0, 1, 6, 9] {
                let gz = pgzip(&data, level, 4);
                assert_eq!(gunzip(&gz), data, "{name} level {level}");
                let mut multi = Vec::new();
                flate2::read::MultiGzDecoder::new(&gz[..])
                    .read_to_end(&mut multi)
                    .unwrap();
                assert_eq!(multi, data, "{name} level {level} (multi)");
                // One member: header, then exactly the trailer at the end.
                assert_eq!(gz[..10], header(level), "{name}");
                let n = gz.len();
                assert_eq!(gz[n - 4..], (data.len() as u32).to_le_bytes(), "{name}");
            }
        }
    }

    #[test]
    fn output_does_not_depend_on_workers_or_write_sizes() {
        for (name, data) in cases() {
            let one = pgzip(&data, 6, 1);
            assert_eq!(pgzip(&data, 6, 4), one, "{name}: 1 vs 4 workers");
            assert_eq!(pgzip(&data, 6, 2), one, "{name}: 1 vs 2 workers");
            let mut w = GzWriter::with_workers(Vec::new(), 6, 3).unwrap();
            for b in data.chunks(4096) {
                w.write_all(b).unwrap();
                w.flush().unwrap();
            }
            assert_eq!(w.finish().unwrap(), one, "{name}: small writes and flushes");
        }
    }

    #[test]
    fn system_gzip_accepts_it() {
        for (name, data) in cases() {
            let gz = pgzip(&data, 6, 4);
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("l.gz");
            std::fs::write(&path, &gz).unwrap();
            let t = Command::new("/usr/bin/gzip")
                .arg("-t")
                .arg(&path)
                .status()
                .unwrap();
            assert!(t.success(), "{name}: gzip -t");
            let out = Command::new("/usr/bin/gzip")
                .args(["-dc"])
                .arg(&path)
                .stderr(Stdio::inherit())
                .output()
                .unwrap();
            assert!(out.status.success(), "{name}: gzip -dc");
            assert!(out.stdout == data, "{name}: gzip -dc gives the input back");
        }
    }

    #[test]
    fn ratio_is_close_to_single_stream() {
        let data = compressible(5 * CHUNK_SIZE + 999);
        for level in [1, 6, 9] {
            let single = single_stream(&data, level).len() as f64;
            let parallel = pgzip(&data, level, 2).len() as f64;
            let ratio = parallel / single;
            assert!(
                ratio < 1.02,
                "level {level}: {parallel} bytes vs {single} single-stream ({ratio:.4})"
            );
        }
    }

    #[test]
    fn bad_level_is_an_error() {
        assert!(GzWriter::with_workers(Vec::new(), 10, 2).is_err());
    }

    /// A sink that fails after `left` bytes.
    struct Failing {
        left: usize,
    }

    impl Write for Failing {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if self.left == 0 {
                return Err(io::Error::other("disk full"));
            }
            let n = buf.len().min(self.left);
            self.left -= n;
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_failing_sink_is_an_error_and_the_writer_stays_failed() {
        let data = random(6 * CHUNK_SIZE, 9);
        let mut w = GzWriter::with_workers(Failing { left: 1000 }, 6, 2).unwrap();
        let err = data.chunks(65536).try_for_each(|b| w.write_all(b));
        assert!(err.is_err());
        assert!(w.write_all(b"more").is_err());
        assert!(w.finish().is_err());
    }

    #[test]
    fn dropping_midway_joins_the_threads() {
        let data = random(9 * CHUNK_SIZE, 11);
        for _ in 0..20 {
            let mut w = GzWriter::with_workers(Vec::new(), 6, 4).unwrap();
            w.write_all(&data).unwrap();
            assert!(w.pool.is_some());
            drop(w);
        }
    }

    #[test]
    fn a_tiny_stream_starts_no_threads() {
        let mut w = GzWriter::with_workers(Vec::new(), 6, 4).unwrap();
        w.write_all(&compressible(CHUNK_SIZE)).unwrap();
        assert!(w.pool.is_none());
        w.write_all(b"!").unwrap();
        assert!(w.pool.is_some());
    }

    /// `HOIST_PGZIP_BENCH=FILE cargo test --release -p hoist --lib
    /// pgzip::tests::bench -- --ignored --nocapture`: gzip FILE (e.g. a tar
    /// of /usr/lib/x86_64-linux-gnu) at level 6 with single-stream flate2
    /// (what `write_layer` did before) and with this writer.
    #[test]
    #[ignore = "a benchmark; needs HOIST_PGZIP_BENCH=FILE"]
    fn bench() {
        let Ok(path) = std::env::var("HOIST_PGZIP_BENCH") else {
            eprintln!("set HOIST_PGZIP_BENCH to a file to compress");
            return;
        };
        let data = std::fs::read(path).unwrap();
        let mb = data.len() as f64 / 1e6;
        for round in 0..3 {
            let t = Instant::now();
            let mut enc = flate2::GzBuilder::new()
                .mtime(0)
                .write(Vec::new(), flate2::Compression::new(6));
            for piece in data.chunks(64 * 1024) {
                enc.write_all(piece).unwrap();
            }
            let single = enc.finish().unwrap();
            let t_single = t.elapsed().as_secs_f64();
            let t = Instant::now();
            let mut w = GzWriter::new(Vec::new(), 6).unwrap();
            for piece in data.chunks(64 * 1024) {
                w.write_all(piece).unwrap();
            }
            let parallel = w.finish().unwrap();
            let t_parallel = t.elapsed().as_secs_f64();
            eprintln!(
                "round {round}: {mb:.1} MB; single-stream {t_single:.3} s ({:.0} MB/s, {} bytes); \
                 pgzip x{} {t_parallel:.3} s ({:.0} MB/s, {} bytes, {:+.2}% size)",
                mb / t_single,
                single.len(),
                default_workers(),
                mb / t_parallel,
                parallel.len(),
                (parallel.len() as f64 / single.len() as f64 - 1.0) * 100.0,
            );
            assert_eq!(gunzip(&parallel).len(), data.len());
        }
    }
}
