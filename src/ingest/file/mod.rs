//! Trace files: every common format in, the same `Batch`es the receivers produce out.
//!
//! The format is told from the content, never from the name alone: gzip by its magic bytes
//! (read transparently), JSON by its first byte, then each JSON document by its shape (OTLP,
//! Jaeger, Zipkin), so JSON lines may even mix formats; anything else is OTLP protobuf, either
//! one `ExportTraceServiceRequest` or the Collector file exporter's stream of messages, each
//! prefixed by its length as a 4-byte big-endian integer.
//!
//! One bad line, message or span costs only itself: the reader goes on, counts it, and keeps
//! the first few `file:line: what` messages. Only a file that cannot be opened or is no trace
//! format at all is an error.

mod ahead;
mod jaeger;
mod repair;
pub mod replay;
mod zipkin;

use std::fmt;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use rustc_hash::FxHashSet;
use serde_json::{Map, Value};

use self::ahead::{Ahead, Lost};
use super::signals;
use crate::ingest::otlp::json::{self as otlp_json, Signal};
use crate::ingest::otlp::{self, convert};
use crate::model::{Batch, Span, SpanLog, TraceId};

/// Largest single JSON line, JSON document or protobuf message read; larger ones are skipped
/// (lines) or end the file (documents, messages), so a corrupt length cannot exhaust memory.
pub const MAX_RECORD_BYTES: usize = 256 * 1024 * 1024;

/// How many problem messages a summary keeps; the rest are only counted.
pub const MAX_PROBLEMS_KEPT: usize = 10;

/// Read buffer size: large sequential reads, whatever the format.
const READ_BUFFER: usize = 256 * 1024;

/// The trace format of a file (or of one record in a file of mixed JSON lines).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Format {
    OtlpJson,
    OtlpProto,
    JaegerJson,
    ZipkinJson,
    /// JSON lines holding more than one of the above.
    Mixed,
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Format::OtlpJson => "OTLP JSON",
            Format::OtlpProto => "OTLP protobuf",
            Format::JaegerJson => "Jaeger JSON",
            Format::ZipkinJson => "Zipkin v2 JSON",
            Format::Mixed => "mixed JSON",
        })
    }
}

/// How records are laid out in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Framing {
    /// One document (or message) for the whole file.
    #[default]
    Document,
    /// One JSON document per line.
    JsonLines,
    /// Protobuf messages each prefixed by a 4-byte big-endian length.
    LengthPrefixed,
}

/// What reading one file produced.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct FileSummary {
    pub path: PathBuf,
    /// `None` when the file held no trace record at all (empty, or only metrics and logs).
    pub format: Option<Format>,
    pub framing: Framing,
    pub gzip: bool,
    /// Bytes read (after decompression).
    pub bytes: u64,
    /// Lines, documents or messages that held traces.
    pub records: u64,
    pub spans: u64,
    /// Distinct trace ids among the spans read.
    pub traces: u64,
    /// Log records that name a span (OTLP `LogsData` lines, as `--record` and the Collector's
    /// file exporter write them): handed on with the spans, shown with the span they name.
    pub logs: u64,
    /// OTLP records of other signals (metrics, profiles): skipped, and not a problem.
    pub other_signals: u64,
    /// Records and spans lost to bad input. Non-zero means the replay is incomplete.
    pub skipped: u64,
    /// The first few problems, as `file:line: what was wrong`.
    pub problems: Vec<String>,
}

impl FileSummary {
    pub fn is_clean(&self) -> bool {
        self.skipped == 0
    }
}

impl fmt::Display for FileSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let format = self
            .format
            .map_or_else(|| "no traces".to_owned(), |f| f.to_string());
        write!(
            f,
            "{}: {format}{}, {} records, {} spans in {} traces",
            self.path.display(),
            if self.gzip { " (gzip)" } else { "" },
            self.records,
            self.spans,
            self.traces,
        )?;
        if self.logs > 0 {
            write!(f, ", {} span logs", self.logs)?;
        }
        if self.other_signals > 0 {
            write!(f, ", {} non-trace records ignored", self.other_signals)?;
        }
        if self.skipped > 0 {
            write!(f, ", {} SKIPPED", self.skipped)?;
            for p in &self.problems {
                write!(f, "\n  {p}")?;
            }
            if self.skipped as usize > self.problems.len() {
                write!(f, "\n  ...")?;
            }
        }
        Ok(())
    }
}

/// Why a file could not be read at all.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{path}: not a trace file (neither JSON nor OTLP protobuf; starts with {head:02x?})")]
    UnknownFormat { path: PathBuf, head: Vec<u8> },
}

/// Reads one file, handing each decoded batch to `sink` as soon as it is complete.
pub fn read_path(path: &Path, sink: &mut dyn FnMut(Batch)) -> Result<FileSummary, FileError> {
    let file = File::open(path).map_err(|source| FileError::Io {
        path: path.to_owned(),
        source,
    })?;
    read_from(path, file, sink)
}

/// Reads trace data from any reader; `path` only names it in messages.
pub fn read_from(
    path: &Path,
    reader: impl Read,
    sink: &mut dyn FnMut(Batch),
) -> Result<FileSummary, FileError> {
    let mut reader = BufReader::with_capacity(READ_BUFFER, reader);
    let io_err = |source| FileError::Io {
        path: path.to_owned(),
        source,
    };
    let head = reader.fill_buf().map_err(io_err)?;
    if head.starts_with(&[0x1f, 0x8b]) {
        let gz = flate2::bufread::MultiGzDecoder::new(reader);
        let mut inner = BufReader::with_capacity(READ_BUFFER, gz);
        let mut reading = Reading::new(path, sink);
        reading.summary.gzip = true;
        return read_content(&mut inner, reading);
    }
    read_content(&mut reader, Reading::new(path, sink))
}

/// Reads several files in order, gathering every batch; one summary (or error) per file.
pub fn read_paths(paths: &[PathBuf]) -> (Vec<Batch>, Vec<Result<FileSummary, FileError>>) {
    let mut batches = Vec::new();
    let results = paths
        .iter()
        .map(|p| read_path(p, &mut |b| batches.push(b)))
        .collect();
    (batches, results)
}

fn read_content(
    reader: &mut impl BufRead,
    mut reading: Reading<'_>,
) -> Result<FileSummary, FileError> {
    let head = match reader.fill_buf() {
        Ok(h) => h,
        Err(e) => {
            // A corrupt gzip header shows up here.
            reading.problem(None, format!("cannot read: {e}"));
            return Ok(reading.finish());
        }
    };
    // A lone ExportTraceServiceRequest starts with 0x0a, which is also a JSON newline; text
    // has no other control bytes, while protobuf has tags and lengths below 0x20 early on.
    let looks_like_text = head
        .iter()
        .take(4096)
        .all(|&b| b >= 0x20 || matches!(b, b'\t' | b'\n' | b'\r'));
    let first = head
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .map(|i| (i, head[i]));
    match first {
        None if head.is_empty() => Ok(reading.finish()),
        // Only whitespace in the first buffer: JSON (lines) with blank lines first.
        None if looks_like_text => {
            read_json(reader, &mut reading);
            Ok(reading.finish())
        }
        Some((_, b'{' | b'[')) if looks_like_text => {
            read_json(reader, &mut reading);
            Ok(reading.finish())
        }
        // A UTF-8 byte order mark, as some Windows tools write before JSON.
        Some((i, 0xef)) if head[i..].starts_with(&[0xef, 0xbb, 0xbf]) => {
            reader.consume(i + 3);
            read_json(reader, &mut reading);
            Ok(reading.finish())
        }
        // Field 1 (resource_spans), length-delimited: a bare ExportTraceServiceRequest/TracesData.
        _ if head.first() == Some(&0x0a) => {
            read_proto_message(reader, &mut reading);
            Ok(reading.finish())
        }
        // A big-endian length below 16 MiB starts with a zero byte.
        _ if head.first() == Some(&0x00) => {
            read_proto_stream(reader, &mut reading);
            Ok(reading.finish())
        }
        _ => Err(FileError::UnknownFormat {
            path: reading.summary.path.clone(),
            head: head.iter().take(8).copied().collect(),
        }),
    }
}

// === JSON ===

/// JSON lines, or one document over many lines. The first non-blank line decides: if it is
/// a complete JSON value the file is JSON lines, if it ends mid-value it is one document.
fn read_json(reader: &mut impl BufRead, reading: &mut Reading<'_>) {
    let mut line = Vec::new();
    let mut line_no = 0u64;
    let mut undecided = true;
    // Once the file is known to be JSON lines, lines decode on the pool.
    let mut ahead: Option<Ahead<JsonLine, JsonDecoded>> = None;
    let mut buffers = Buffers::default();
    loop {
        line.clear();
        let read = read_line(reader, &mut line);
        if !matches!(read, Ok(Line::Read(_))) {
            // Problems and the end come after every line before them.
            drain_json(&mut ahead, reading, &mut buffers);
        }
        match read {
            Err(e) => {
                reading.problem(Some(line_no + 1), format!("read failed: {e}"));
                return;
            }
            Ok(Line::Eof) => return,
            Ok(Line::TooLong(n)) => {
                line_no += 1;
                let what =
                    format!("line of {n} bytes exceeds the {MAX_RECORD_BYTES}-byte limit; skipped");
                reading.problem(Some(line_no), what);
                continue;
            }
            Ok(Line::Read(n)) => {
                line_no += 1;
                reading.summary.bytes += n as u64;
            }
        }
        let text = trim_ascii(&line);
        if text.is_empty() {
            continue;
        }
        if !undecided {
            let pool = ahead.get_or_insert_with(|| Ahead::new(decode_json_line));
            let next = buffers.take(line.len());
            let item = (line_no, std::mem::replace(&mut line, next));
            if let Some(done) = pool.push(item, decode_json_line) {
                json_decoded(reading, done, &mut buffers);
            }
            continue;
        }
        if let Some(c) = crate::ingest::otlp::json_fast::decode(text) {
            undecided = false;
            reading.summary.framing = Framing::JsonLines;
            reading.converted(c, line_no);
            continue;
        }
        match serde_json::from_slice::<Value>(text) {
            Err(e) if undecided && e.is_eof() => {
                // Pretty-printed: the rest of the file is this one document.
                read_json_document(reader, reading, line, line_no);
                return;
            }
            Ok(doc) => {
                undecided = false;
                reading.summary.framing = Framing::JsonLines;
                reading.document(doc, line_no);
            }
            Err(e) => {
                undecided = false;
                reading.summary.framing = Framing::JsonLines;
                reading.problem(Some(line_no), json_line_problem(&e, &line));
            }
        }
    }
}

/// A JSON line and its number.
type JsonLine = (u64, Vec<u8>);

/// What the fast OTLP decoder read of a line (`None`: the lenient path takes it), and the
/// line back, for the lenient path or the next line.
type JsonDecoded = (u64, Option<convert::Converted>, Vec<u8>);

fn decode_json_line((line_no, line): JsonLine) -> JsonDecoded {
    let fast = crate::ingest::otlp::json_fast::decode(trim_ascii(&line));
    (line_no, fast, line)
}

fn drain_json(
    ahead: &mut Option<Ahead<JsonLine, JsonDecoded>>,
    reading: &mut Reading<'_>,
    buffers: &mut Buffers,
) {
    if let Some(pool) = ahead {
        while let Some(done) = pool.pop() {
            json_decoded(reading, done, buffers);
        }
    }
}

/// One line back from the pool, in file order.
fn json_decoded(reading: &mut Reading<'_>, done: Result<JsonDecoded, Lost>, buffers: &mut Buffers) {
    let (line_no, fast, line) = match done {
        Err(Lost) => {
            reading.problem(None, "a line was lost: its decoder failed".to_owned());
            return;
        }
        Ok(d) => d,
    };
    match fast {
        Some(c) => reading.converted(c, line_no),
        None => match serde_json::from_slice::<Value>(trim_ascii(&line)) {
            Ok(doc) => reading.document(doc, line_no),
            Err(e) => reading.problem(Some(line_no), json_line_problem(&e, &line)),
        },
    }
    buffers.give_back(line);
}

/// A line that ends mid-value is what a writer killed mid-write leaves (a recording after
/// `kill -9`, resumed or not); say so rather than only "invalid JSON".
fn json_line_problem(e: &serde_json::Error, line: &[u8]) -> String {
    match (e.is_eof(), line.last() == Some(&b'\n')) {
        (true, false) => {
            "invalid JSON: incomplete last line: the file ends mid-line (its writer stopped while writing it); skipped".to_owned()
        }
        (true, true) => {
            "invalid JSON: incomplete line: cut off mid-write (its writer stopped and the file was appended to later); skipped".to_owned()
        }
        (false, _) => format!("invalid JSON: {e}"),
    }
}

fn read_json_document(
    reader: &mut impl BufRead,
    reading: &mut Reading<'_>,
    mut text: Vec<u8>,
    first_line: u64,
) {
    let already = text.len();
    let limit = (MAX_RECORD_BYTES - already.min(MAX_RECORD_BYTES)) as u64 + 1;
    if let Err(e) = reader.take(limit).read_to_end(&mut text) {
        reading.problem(Some(first_line), format!("read failed: {e}"));
        return;
    }
    reading.summary.bytes += (text.len() - already) as u64;
    if text.len() > MAX_RECORD_BYTES {
        reading.problem(
            Some(first_line),
            format!("JSON document exceeds the {MAX_RECORD_BYTES}-byte limit; not read"),
        );
        return;
    }
    if let Some(c) = crate::ingest::otlp::json_fast::decode(trim_ascii(&text)) {
        reading.converted(c, first_line);
        return;
    }
    match serde_json::from_slice::<Value>(&text) {
        Ok(doc) => reading.document(doc, first_line),
        Err(e) => {
            let at = first_line + e.line().saturating_sub(1) as u64;
            if !read_json_lines_after_all(reading, &text, first_line) {
                reading.problem(Some(at), format!("invalid JSON: {e}"));
            }
        }
    }
}

/// A file taken for one document because its first line was cut short may be JSON lines
/// after all: if any later line is a JSON object on its own, read it line by line, so the
/// damaged first line costs only itself. False (nothing reported) if no line stands alone.
fn read_json_lines_after_all(reading: &mut Reading<'_>, text: &[u8], first_line: u64) -> bool {
    let mut lines_mode = false;
    let mut pending: Vec<(u64, String)> = Vec::new();
    let mut pending_count = 0u64;
    for (i, line) in text.split(|b| *b == b'\n').enumerate() {
        let no = first_line + i as u64;
        let line = trim_ascii(line);
        if line.is_empty() {
            continue;
        }
        match serde_json::from_slice::<Value>(line) {
            Ok(doc @ Value::Object(_)) => {
                if !lines_mode {
                    lines_mode = true;
                    reading.summary.framing = Framing::JsonLines;
                    reading.summary.skipped += pending_count;
                    for (n, what) in pending.drain(..) {
                        let at = reading.location(Some(n));
                        reading.note(at, &what);
                    }
                }
                reading.document(doc, no);
            }
            other => {
                let what = match other {
                    Err(e) => format!("invalid JSON: {e}"),
                    Ok(_) => "not a JSON object".to_owned(),
                };
                if lines_mode {
                    reading.problem(Some(no), what);
                } else {
                    pending_count += 1;
                    if pending.len() < MAX_PROBLEMS_KEPT {
                        pending.push((no, what));
                    }
                }
            }
        }
    }
    lines_mode
}

enum Line {
    Read(usize),
    TooLong(usize),
    Eof,
}

/// One line into `buf` (newline included), refusing to buffer more than the record limit.
fn read_line(reader: &mut impl BufRead, buf: &mut Vec<u8>) -> io::Result<Line> {
    let n = reader
        .by_ref()
        .take(MAX_RECORD_BYTES as u64 + 1)
        .read_until(b'\n', buf)?;
    if n == 0 {
        return Ok(Line::Eof);
    }
    if n > MAX_RECORD_BYTES && buf.last() != Some(&b'\n') {
        // Skip the rest of the over-long line without holding it.
        let mut skipped = n;
        loop {
            let chunk = reader.fill_buf()?;
            if chunk.is_empty() {
                break;
            }
            match chunk.iter().position(|b| *b == b'\n') {
                Some(i) => {
                    reader.consume(i + 1);
                    skipped += i + 1;
                    break;
                }
                None => {
                    let len = chunk.len();
                    reader.consume(len);
                    skipped += len;
                }
            }
        }
        buf.clear();
        return Ok(Line::TooLong(skipped));
    }
    Ok(Line::Read(n))
}

fn trim_ascii(b: &[u8]) -> &[u8] {
    let start = b
        .iter()
        .position(|c| !c.is_ascii_whitespace())
        .unwrap_or(b.len());
    let end = b
        .iter()
        .rposition(|c| !c.is_ascii_whitespace())
        .map_or(start, |i| i + 1);
    &b[start..end]
}

// === OTLP protobuf ===

fn read_proto_message(reader: &mut impl BufRead, reading: &mut Reading<'_>) {
    let mut buf = Vec::new();
    match reader
        .take(MAX_RECORD_BYTES as u64 + 1)
        .read_to_end(&mut buf)
    {
        Ok(n) if n > MAX_RECORD_BYTES => {
            reading.problem(
                None,
                format!("protobuf message exceeds the {MAX_RECORD_BYTES}-byte limit; not read"),
            );
            return;
        }
        Ok(_) => {}
        Err(e) => {
            reading.problem(None, format!("read failed: {e}"));
            return;
        }
    }
    reading.summary.bytes += buf.len() as u64;
    reading.proto(&buf, None);
}

/// A message and its offset in the stream.
type ProtoMessage = (u64, Vec<u8>);

/// A message decoded, and its buffer back for the next one.
type ProtoDecoded = (u64, Result<convert::Converted, otlp::DecodeError>, Vec<u8>);

fn decode_proto_message((offset, bytes): ProtoMessage) -> ProtoDecoded {
    (
        offset,
        otlp::decode(&bytes, otlp::Encoding::Protobuf),
        bytes,
    )
}

/// Buffers of records decoded (protobuf messages, JSON lines), reused: a fresh one per
/// record (zeroed or grown by doubling, then freed by the decoder thread) was memory the
/// allocator gave back to the kernel and took again, page faults for every record.
#[derive(Default)]
struct Buffers(Vec<Vec<u8>>);

impl Buffers {
    /// An empty buffer with room for `len` bytes.
    fn take(&mut self, len: usize) -> Vec<u8> {
        let mut buf = self.0.pop().unwrap_or_default();
        buf.clear();
        buf.reserve(len);
        buf
    }

    fn give_back(&mut self, buf: Vec<u8>) {
        // What is in flight at most, and a buffer far bigger than usual is not kept.
        if self.0.len() <= ahead::IN_FLIGHT && buf.capacity() <= 16 * READ_BUFFER {
            self.0.push(buf);
        }
    }
}

/// One message back from the pool, in stream order.
fn proto_decoded(
    reading: &mut Reading<'_>,
    done: Result<ProtoDecoded, Lost>,
    buffers: &mut Buffers,
) {
    match done {
        Err(Lost) => reading.problem(None, "a message was lost: its decoder failed".to_owned()),
        Ok((offset, decoded, buf)) => {
            reading.proto_result(decoded, Some(offset));
            buffers.give_back(buf);
        }
    }
}

fn read_proto_stream(reader: &mut impl BufRead, reading: &mut Reading<'_>) {
    reading.summary.framing = Framing::LengthPrefixed;
    let mut ahead = Ahead::new(decode_proto_message);
    let mut buffers = Buffers::default();
    let ended = read_proto_messages(reader, reading, &mut ahead, &mut buffers);
    // What is still decoding comes before the end, and before the problem that ended it.
    while let Some(done) = ahead.pop() {
        proto_decoded(reading, done, &mut buffers);
    }
    if let Some((offset, what)) = ended {
        reading.problem_at(offset, what);
    }
}

/// Hands each message to the decoders; returns the problem that ended the stream early, which
/// the caller records once the messages before it are accounted for.
fn read_proto_messages(
    reader: &mut impl BufRead,
    reading: &mut Reading<'_>,
    ahead: &mut Ahead<ProtoMessage, ProtoDecoded>,
    buffers: &mut Buffers,
) -> Option<(u64, String)> {
    let mut offset = 0u64;
    loop {
        let mut len = [0u8; 4];
        match read_full(reader, &mut len) {
            Ok(0) => return None,
            Ok(4) => {}
            Ok(n) => {
                return Some((offset, format!("truncated: {n} of 4 length bytes")));
            }
            Err(e) => {
                return Some((offset, format!("read failed: {e}")));
            }
        }
        let len = u32::from_be_bytes(len) as usize;
        if len > MAX_RECORD_BYTES {
            // Past a corrupt length there is no way to find the next message.
            return Some((
                offset,
                format!(
                    "message length {len} exceeds the {MAX_RECORD_BYTES}-byte limit; rest of file not read"
                ),
            ));
        }
        let mut buf = buffers.take(len);
        match reader.by_ref().take(len as u64).read_to_end(&mut buf) {
            Ok(n) if n == len => {}
            Ok(n) => {
                return Some((offset, format!("truncated: {n} of {len} message bytes")));
            }
            Err(e) => {
                return Some((offset, format!("read failed: {e}")));
            }
        }
        reading.summary.bytes += 4 + len as u64;
        if let Some(done) = ahead.push((offset, buf), decode_proto_message) {
            proto_decoded(reading, done, buffers);
        }
        offset += 4 + len as u64;
    }
}

/// Like `read_exact`, but says how much was there at end of input.
fn read_full(reader: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

// === per-file state ===

/// Spans and problems from one JSON document of a non-OTLP format.
#[derive(Default)]
pub(crate) struct Decoded {
    pub spans: Vec<Span>,
    /// Spans (or traces) that could not be read, with what was wrong.
    pub problems: Vec<String>,
    pub rejected: u64,
}

impl Decoded {
    pub(crate) fn reject(&mut self, what: String) {
        self.rejected += 1;
        if self.problems.len() < MAX_PROBLEMS_KEPT {
            self.problems.push(what);
        }
    }
}

struct Reading<'a> {
    summary: FileSummary,
    trace_ids: FxHashSet<TraceId>,
    /// Jaeger and Zipkin spans, held to the end of the file: their repairs (`repair`) need
    /// every part of a trace, and one span per line is a common layout.
    held: Vec<Span>,
    sink: &'a mut dyn FnMut(Batch),
}

impl<'a> Reading<'a> {
    fn new(path: &Path, sink: &'a mut dyn FnMut(Batch)) -> Self {
        Reading {
            summary: FileSummary {
                path: path.to_owned(),
                ..FileSummary::default()
            },
            trace_ids: FxHashSet::default(),
            held: Vec::new(),
            sink,
        }
    }

    fn finish(mut self) -> FileSummary {
        if !self.held.is_empty() {
            let mut spans = std::mem::take(&mut self.held);
            repair::repair(&mut spans);
            self.pass_on(spans);
        }
        self.summary.traces = self.trace_ids.len() as u64;
        self.summary
    }

    fn location(&self, line: Option<u64>) -> String {
        match line {
            Some(l) => format!("{}:{l}", self.summary.path.display()),
            None => self.summary.path.display().to_string(),
        }
    }

    fn problem(&mut self, line: Option<u64>, what: String) {
        self.summary.skipped += 1;
        let at = self.location(line);
        self.note(at, &what);
    }

    fn problem_at(&mut self, offset: u64, what: String) {
        self.summary.skipped += 1;
        let at = format!("{}: message at byte {offset}", self.summary.path.display());
        self.note(at, &what);
    }

    fn saw(&mut self, format: Format) {
        self.summary.format = match self.summary.format {
            None => Some(format),
            Some(f) if f == format => Some(f),
            Some(_) => Some(Format::Mixed),
        };
    }

    /// Keeps a message without counting it (the caller counts what it stands for).
    fn note(&mut self, at: String, what: &str) {
        if self.summary.problems.len() < MAX_PROBLEMS_KEPT {
            self.summary.problems.push(format!("{at}: {what}"));
        }
    }

    /// Accounts for one record's rejected spans; `at` locates the record.
    fn account(&mut self, rejected: u64, problems: Vec<String>, at: String) {
        self.summary.records += 1;
        self.summary.skipped += rejected;
        for p in &problems {
            self.note(at.clone(), p);
        }
    }

    /// Hands good spans on and accounts for the rejected ones.
    fn deliver(&mut self, mut spans: Vec<Span>, rejected: u64, problems: Vec<String>, at: String) {
        self.account(rejected, problems, at);
        // OTLP spans with no start time (0 is "unset") go where their parent starts.
        repair::place_untimed(&mut spans);
        self.pass_on(spans);
    }

    /// A Jaeger or Zipkin record: accounted now, its spans held for the repairs at the end.
    fn hold(&mut self, format: Format, d: Decoded, at: String) {
        self.saw(format);
        self.account(d.rejected, d.problems, at);
        self.held.extend(d.spans);
    }

    fn pass_on(&mut self, spans: Vec<Span>) {
        if spans.is_empty() {
            return;
        }
        self.summary.spans += spans.len() as u64;
        // Spans of one trace come in runs; skip the hash lookup within a run.
        let mut last = None;
        for s in &spans {
            if last != Some(s.trace_id) {
                self.trace_ids.insert(s.trace_id);
                last = Some(s.trace_id);
            }
        }
        (self.sink)(Batch::new(spans));
    }

    /// Log records naming a span: on to the sink as they come; the store keeps them with
    /// their trace whichever arrives first.
    fn span_logs(&mut self, logs: Vec<SpanLog>) {
        if logs.is_empty() {
            return;
        }
        self.summary.logs += logs.len() as u64;
        (self.sink)(Batch {
            spans: Vec::new(),
            logs,
        });
    }

    /// An OTLP JSON record the fast path decoded.
    fn converted(&mut self, c: convert::Converted, line: u64) {
        let at = self.location(Some(line));
        self.saw(Format::OtlpJson);
        self.deliver(c.batch.spans, c.rejected, c.errors, at);
    }

    fn otlp(&mut self, req: ExportTraceServiceRequest, format: Format, at: String) {
        self.saw(format);
        let c = convert::request_to_batch(req);
        self.deliver(c.batch.spans, c.rejected, c.errors, at);
    }

    fn proto(&mut self, bytes: &[u8], offset: Option<u64>) {
        self.proto_result(otlp::decode(bytes, otlp::Encoding::Protobuf), offset);
    }

    fn proto_result(
        &mut self,
        decoded: Result<convert::Converted, otlp::DecodeError>,
        offset: Option<u64>,
    ) {
        let at = match offset {
            Some(o) => format!("{}: message at byte {o}", self.summary.path.display()),
            None => self.summary.path.display().to_string(),
        };
        match decoded {
            Ok(c) => {
                self.saw(Format::OtlpProto);
                self.deliver(c.batch.spans, c.rejected, c.errors, at);
            }
            Err(e) => {
                self.summary.skipped += 1;
                self.note(at, &e.to_string());
            }
        }
    }

    /// One parsed JSON document: told apart by its shape.
    fn document(&mut self, doc: Value, line: u64) {
        let at = self.location(Some(line));
        let doc = match unwrap_api_response(doc) {
            Ok(doc) => doc,
            Err(what) => return self.problem(Some(line), what),
        };
        match doc {
            Value::Object(ref o) if o.is_empty() => self.summary.records += 1,
            Value::Object(ref o) => match otlp_json::signal_of(o) {
                Signal::Traces => match otlp_json::request_from_value(doc) {
                    Ok(req) => self.otlp(req, Format::OtlpJson, at),
                    Err(e) => self.problem(Some(line), e),
                },
                Signal::Other
                    if o.contains_key("resourceLogs") || o.contains_key("resource_logs") =>
                {
                    match signals::logs_from_value(doc) {
                        Ok(logs) => self.span_logs(logs.with_span),
                        Err(e) => self.problem(Some(line), format!("invalid OTLP logs: {e}")),
                    }
                }
                Signal::Other => self.summary.other_signals += 1,
                Signal::Unknown if jaeger::looks_like(&doc) => {
                    self.hold(Format::JaegerJson, jaeger::decode(doc), at);
                }
                Signal::Unknown if zipkin::looks_like(&doc) => {
                    let d = zipkin::decode(Value::Array(vec![doc]));
                    self.hold(Format::ZipkinJson, d, at);
                }
                Signal::Unknown => {
                    let keys: Vec<&str> = o.keys().take(5).map(String::as_str).collect();
                    let what = format!("not a trace document (keys: {})", keys.join(", "));
                    self.problem(Some(line), what);
                }
            },
            Value::Array(ref items) => match items.first() {
                None => self.summary.records += 1,
                Some(first) if zipkin::looks_like(first) => {
                    self.hold(Format::ZipkinJson, zipkin::decode(doc), at);
                }
                Some(first) if jaeger::looks_like(first) => {
                    self.hold(Format::JaegerJson, jaeger::decode(doc), at);
                }
                Some(_) => self.problem(
                    Some(line),
                    "JSON array of neither Zipkin nor Jaeger spans".to_owned(),
                ),
            },
            other => self.problem(
                Some(line),
                format!(
                    "expected a JSON object or array, found {}",
                    otlp_json::type_name(&other)
                ),
            ),
        }
    }
}

/// Trace query APIs wrap OTLP JSON: Grafana Tempo's trace-by-id answers `{"batches": [...]}`
/// (v1, base64 ids) or `{"trace": {"resourceSpans": [...]}}` (v2), and grpc-gateway APIs such
/// as Jaeger's api/v3 stream `{"result": {...}}` messages (or `{"error": {...}}`). Returns the
/// OTLP document inside, any other document unchanged, or what the API reported as an error.
fn unwrap_api_response(doc: Value) -> Result<Value, String> {
    let mut doc = doc;
    // Bounded: each step removes one level of nesting.
    for _ in 0..4 {
        let Value::Object(mut o) = doc else {
            return Ok(doc);
        };
        if o.len() <= 3 && o.contains_key("error") && !o.contains_key("result") {
            let e = o.remove("error").unwrap_or(Value::Null);
            let message = match &e {
                Value::Object(m) => m
                    .get("message")
                    .and_then(Value::as_str)
                    .map_or_else(|| e.to_string(), str::to_owned),
                other => other.to_string(),
            };
            return Err(format!("the API answered with an error: {message}"));
        }
        let inner = if otlp_json::signal_of(&o) != Signal::Unknown {
            None
        } else if let Some(Value::Array(_)) = o.get("batches") {
            let batches = o.remove("batches").unwrap_or(Value::Null);
            Some(Value::Object(Map::from_iter([(
                "resourceSpans".to_owned(),
                batches,
            )])))
        } else if let Some(Value::Object(_)) = o.get("result") {
            o.remove("result")
        } else if let Some(Value::Object(t)) = o.get("trace")
            && (t.contains_key("resourceSpans")
                || t.contains_key("batches")
                || t.contains_key("resource_spans")
                || t.is_empty())
        {
            o.remove("trace")
        } else {
            None
        };
        match inner {
            Some(v) => doc = v,
            None => return Ok(Value::Object(o)),
        }
    }
    Ok(doc)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> (FileSummary, Vec<Span>) {
        let mut spans = Vec::new();
        let summary = read_from(Path::new("t.json"), text.as_bytes(), &mut |b| {
            spans.extend(b.spans)
        })
        .expect("readable");
        (summary, spans)
    }

    const LINE: &str = r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174","name":"a"}]}]}]}"#;

    #[test]
    fn a_damaged_first_line_of_json_lines_costs_only_itself() {
        let text = format!("{}\n{LINE}\n{LINE}\n", &LINE[..40]);
        let (s, spans) = read(&text);
        assert_eq!(s.framing, Framing::JsonLines);
        assert_eq!((s.records, spans.len(), s.skipped), (2, 2, 1));
        assert!(s.problems[0].starts_with("t.json:1: invalid JSON"), "{s}");
    }

    #[test]
    fn a_broken_pretty_document_is_reported_at_its_line() {
        let text = "{\n  \"resourceSpans\": [\n    {,}\n  ]\n}\n";
        let (s, spans) = read(text);
        assert!(spans.is_empty());
        assert_eq!(s.skipped, 1);
        assert!(s.problems[0].starts_with("t.json:3: invalid JSON"), "{s}");
    }

    #[test]
    fn byte_order_mark_and_blank_lines_before_json() {
        let (s, spans) = read(&format!("\u{feff}\n\n{LINE}\n"));
        assert_eq!((s.format, spans.len()), (Some(Format::OtlpJson), 1));
        assert!(s.is_clean(), "{s}");
    }

    #[test]
    fn mixed_formats_in_json_lines() {
        let jaeger =
            r#"{"traceID":"1","spanID":"2","operationName":"j","process":{"serviceName":"s"}}"#;
        let zipkin = r#"[{"traceId":"1","id":"3","name":"z"}]"#;
        let (s, spans) = read(&format!(
            "{LINE}\n{jaeger}\n{zipkin}\n{{\"resourceMetrics\":[]}}\n"
        ));
        assert_eq!(s.format, Some(Format::Mixed));
        assert_eq!((spans.len(), s.records, s.other_signals), (3, 3, 1));
        assert!(s.is_clean(), "{s}");
    }

    #[test]
    fn logs_lines_are_handed_on_with_the_spans_they_name() {
        let logs = r#"{"resourceLogs":[{"scopeLogs":[{"logRecords":[
            {"timeUnixNano":"7","severityText":"WARN","body":{"stringValue":"slow query"},
             "traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174"},
            {"body":{"stringValue":"names no span"}}]}]}]}"#
            .replace('\n', "");
        let mut batches = Vec::new();
        let text = format!("{logs}\n{LINE}\n");
        let s = read_from(Path::new("t.json"), text.as_bytes(), &mut |b| {
            batches.push(b)
        })
        .expect("readable");
        assert!(s.is_clean(), "{s}");
        assert_eq!((s.logs, s.spans, s.other_signals), (1, 1, 0));
        let log = batches
            .iter()
            .flat_map(|b| &b.logs)
            .next()
            .expect("the log record");
        assert_eq!((&*log.severity, &*log.body), ("WARN", "slow query"));
        let span = batches.iter().flat_map(|b| &b.spans).next().expect("span");
        assert_eq!((log.trace_id, log.span_id), (span.trace_id, span.span_id));
    }

    #[test]
    fn empty_input_is_empty_not_an_error() {
        let (s, spans) = read("");
        assert_eq!((s.format, spans.len(), s.skipped), (None, 0, 0));
    }
}

/// Entry points for the fuzz targets (`fuzz/`): one reader each, without format detection
/// in between, so a mutated input keeps exercising the reader it was seeded for.
#[doc(hidden)]
pub mod fuzzing {
    use crate::model::Span;

    /// Spans of one Jaeger JSON document; `None` when the input is not JSON.
    pub fn jaeger(bytes: &[u8]) -> Option<Vec<Span>> {
        let doc = serde_json::from_slice(bytes).ok()?;
        Some(super::jaeger::decode(doc).spans)
    }

    /// Spans of one Zipkin v2 JSON document; `None` when the input is not JSON.
    pub fn zipkin(bytes: &[u8]) -> Option<Vec<Span>> {
        let doc = serde_json::from_slice(bytes).ok()?;
        Some(super::zipkin::decode(doc).spans)
    }

    /// The typed OTLP/JSON fast path; `None` where it hands over to the lenient path.
    pub fn otlp_json_fast(bytes: &[u8]) -> Option<Vec<Span>> {
        crate::ingest::otlp::json_fast::decode(bytes).map(|c| c.batch.spans)
    }
}
