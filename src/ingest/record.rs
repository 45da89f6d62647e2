//! `--record FILE`: every accepted batch as one OTLP/JSON `ExportTraceServiceRequest` per line,
//! the layout the OpenTelemetry Collector's file exporter writes and its `otlpjsonfile`
//! receiver reads.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use tokio::sync::mpsc;

use crate::model::Batch;

/// Lines in flight to the writer thread; a slow disk slows the receivers rather than memory.
const RECORDER_QUEUE: usize = 256;

/// One OTLP/JSON line. Encoded from the model (see `file::write`): lossless where the
/// crate's serde is not (NaN and infinite doubles), and one copy fewer.
pub fn batch_to_json_line(batch: &Batch) -> Vec<u8> {
    let mut line = String::new();
    super::file::write::otlp_json_line(&batch.spans, &mut line);
    line.into_bytes()
}

#[derive(Clone)]
pub struct RecorderTx {
    tx: mpsc::Sender<Vec<u8>>,
}

impl RecorderTx {
    pub async fn write(&self, line: Vec<u8>) {
        // Fails only once the writer has stopped (shutdown); the batch is in the store anyway.
        let _ = self.tx.send(line).await;
    }
}

pub struct Recorder {
    join: std::thread::JoinHandle<std::io::Result<u64>>,
}

impl Recorder {
    /// Creates (truncates) `path` and starts the writer thread.
    pub fn start(path: &Path) -> std::io::Result<(Recorder, RecorderTx)> {
        let file = File::create(path)?;
        let (tx, mut rx) = mpsc::channel::<Vec<u8>>(RECORDER_QUEUE);
        let join = std::thread::Builder::new()
            .name("spantop-recorder".into())
            .spawn(move || {
                let mut out = BufWriter::with_capacity(1 << 20, file);
                let mut lines = 0u64;
                while let Some(line) = rx.blocking_recv() {
                    out.write_all(&line)?;
                    lines += 1;
                }
                out.flush()?;
                out.get_ref().sync_data()?;
                Ok(lines)
            })?;
        Ok((Recorder { join }, RecorderTx { tx }))
    }

    /// Waits until every line sent before all `RecorderTx` handles were dropped is on disk.
    pub fn finish(self) -> std::io::Result<u64> {
        self.join
            .join()
            .map_err(|_| std::io::Error::other("recorder thread panicked"))?
    }
}
