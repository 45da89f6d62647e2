//! `--record FILE`: every accepted batch as one OTLP/JSON `ExportTraceServiceRequest` per line,
//! the layout the OpenTelemetry Collector's file exporter writes and its `otlpjsonfile`
//! receiver reads. The log records kept with their spans are recorded too, as `LogsData`
//! lines in the same file (as the file exporter writes every signal to one file), and the
//! file reader attaches them to their spans again on replay.
//!
//! Durability: a batch is acknowledged to its exporter only after its line has been handed to
//! the OS (`write(2)` returned), so killing spantop loses no acknowledged span; with `fsync`
//! the line is also on the disk (power loss). The writer thread commits every line waiting at
//! that moment with one write (and one fsync), so many concurrent exporters cost one syscall.
//! An existing file is appended to; a partial last line (a previous run killed mid-write)
//! is closed with a newline first so it costs that line only when the file is read.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use tokio::sync::{mpsc, oneshot};

use crate::model::Batch;

/// Lines in flight to the writer thread; a slow disk slows the receivers rather than memory.
const RECORDER_QUEUE: usize = 256;

/// Most bytes committed in one write; more waiting lines go in the next one.
const MAX_COMMIT_BYTES: usize = 8 << 20;

/// One OTLP/JSON line, newline included. Encoded from the model (see `file::write`): lossless
/// where the crate's serde is not (NaN and infinite doubles), and one copy fewer.
pub fn batch_to_json_line(batch: &Batch) -> Vec<u8> {
    let mut line = String::new();
    super::write::otlp_json_line(&batch.spans, &mut line);
    line.into_bytes()
}

/// How to open the recording.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordConfig {
    pub path: PathBuf,
    /// Start an empty file instead of appending to an existing one.
    pub truncate: bool,
    /// fsync after every commit: acknowledged spans survive power loss, not only a crash.
    pub fsync: bool,
}

impl RecordConfig {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        RecordConfig {
            path: path.into(),
            truncate: false,
            fsync: false,
        }
    }
}

/// What was in the file when recording started (said at start, so nobody wonders where an
/// earlier run went).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Opened {
    New,
    Truncated {
        previous_bytes: u64,
    },
    Appending {
        existing_bytes: u64,
        closed_partial_line: bool,
    },
}

impl std::fmt::Display for Opened {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            Opened::New => write!(f, "new file"),
            Opened::Truncated { previous_bytes } => {
                write!(f, "truncated ({previous_bytes} bytes discarded)")
            }
            Opened::Appending {
                existing_bytes,
                closed_partial_line: false,
            } => write!(f, "appending after {existing_bytes} existing bytes"),
            Opened::Appending {
                existing_bytes,
                closed_partial_line: true,
            } => write!(
                f,
                "appending after {existing_bytes} existing bytes; the last line was partial (a previous run stopped mid-write), starting a fresh line"
            ),
        }
    }
}

/// Why a line could not be recorded; the exporter is told to retry.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("writing the recording failed: {0}")]
    Io(String),
    #[error("the recorder has stopped")]
    Stopped,
}

type Commit = (Vec<u8>, oneshot::Sender<Result<(), RecordError>>);

#[derive(Clone)]
pub struct RecorderTx {
    tx: mpsc::Sender<Commit>,
}

impl RecorderTx {
    /// Resolves once `line` has been written to the OS (and fsynced if asked for).
    pub async fn write(&self, line: Vec<u8>) -> Result<(), RecordError> {
        let (ack, done) = oneshot::channel();
        self.tx
            .send((line, ack))
            .await
            .map_err(|_| RecordError::Stopped)?;
        done.await.map_err(|_| RecordError::Stopped)?
    }
}

pub struct Recorder {
    pub opened: Opened,
    join: std::thread::JoinHandle<std::io::Result<u64>>,
}

impl Recorder {
    /// Opens (or creates) the file as `config` says and starts the writer thread.
    pub fn start(config: &RecordConfig) -> std::io::Result<(Recorder, RecorderTx)> {
        let (file, opened) = open(config)?;
        let fsync = config.fsync;
        let (tx, rx) = mpsc::channel::<Commit>(RECORDER_QUEUE);
        let join = std::thread::Builder::new()
            .name("spantop-recorder".into())
            .spawn(move || write_loop(file, rx, fsync))?;
        Ok((Recorder { opened, join }, RecorderTx { tx }))
    }

    /// Waits until every line sent before all `RecorderTx` handles were dropped is written
    /// and synced; returns how many lines this run wrote.
    pub fn finish(self) -> std::io::Result<u64> {
        self.join
            .join()
            .map_err(|_| std::io::Error::other("recorder thread panicked"))?
    }
}

fn open(config: &RecordConfig) -> std::io::Result<(File, Opened)> {
    let path: &Path = &config.path;
    let previous = std::fs::metadata(path).map(|m| m.len()).ok();
    if config.truncate {
        let file = File::create(path)?;
        let opened = match previous {
            Some(previous_bytes) if previous_bytes > 0 => Opened::Truncated { previous_bytes },
            _ => Opened::New,
        };
        return Ok((file, opened));
    }
    let mut file = OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .open(path)?;
    let existing_bytes = file.metadata()?.len();
    if existing_bytes == 0 {
        return Ok((file, Opened::New));
    }
    file.seek(SeekFrom::Start(existing_bytes - 1))?;
    let mut last = [0u8; 1];
    file.read_exact(&mut last)?;
    let closed_partial_line = last[0] != b'\n';
    if closed_partial_line {
        // Appends go to the end whatever the position.
        file.write_all(b"\n")?;
    }
    Ok((
        file,
        Opened::Appending {
            existing_bytes,
            closed_partial_line,
        },
    ))
}

fn write_loop(mut file: File, mut rx: mpsc::Receiver<Commit>, fsync: bool) -> std::io::Result<u64> {
    let mut lines = 0u64;
    let mut buf = Vec::new();
    let mut acks = Vec::new();
    // After a failed write the file may end mid-line; the next commit starts a fresh one.
    let mut torn = false;
    while let Some((line, ack)) = rx.blocking_recv() {
        buf.clear();
        if torn {
            buf.push(b'\n');
        }
        buf.extend_from_slice(&line);
        acks.push(ack);
        while buf.len() < MAX_COMMIT_BYTES {
            match rx.try_recv() {
                Ok((line, ack)) => {
                    buf.extend_from_slice(&line);
                    acks.push(ack);
                }
                Err(_) => break,
            }
        }
        let result = file
            .write_all(&buf)
            .and_then(|()| if fsync { file.sync_data() } else { Ok(()) });
        torn = result.is_err();
        if result.is_ok() {
            lines += acks.len() as u64;
        }
        for ack in acks.drain(..) {
            // The exporter may have gone away; its batch is recorded regardless.
            let _ = ack.send(
                result
                    .as_ref()
                    .map(|_| ())
                    .map_err(|e| RecordError::Io(e.to_string())),
            );
        }
    }
    file.sync_data()?;
    Ok(lines)
}
