//! Truncated and corrupted versions of every sample, through every reader: no panic, and an
//! error reported for the damaged part while the intact part still reads.

use std::io::{Cursor, Write};
use std::path::{Path, PathBuf};

use spantop::export::write::{OutputFormat, TraceWriter};
use spantop::ingest::file::{FileSummary, read_from, read_path};
use spantop::ingest::otlp::json::decode_request;
use spantop::model::Span;

/// Samples small enough to mutate many times in well under a second.
const MAX_SAMPLE: u64 = 64 * 1024;

fn small_samples() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).expect("samples dir") {
            let p = e.expect("entry").path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "json" || x == "jsonl")
                && !p.to_string_lossy().ends_with(".expected.json")
                && p.metadata().is_ok_and(|m| m.len() <= MAX_SAMPLE)
            {
                out.push(p);
            }
        }
    }
    let mut out = Vec::new();
    walk(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("samples"),
        &mut out,
    );
    out.sort();
    out
}

fn read(bytes: &[u8]) -> (Option<FileSummary>, usize) {
    let mut spans = 0;
    let r = read_from(Path::new("mem"), Cursor::new(bytes), &mut |b| {
        spans += b.len()
    });
    // Also the HTTP receiver's entry point: any result, no panic.
    let _ = decode_request(bytes);
    (r.ok(), spans)
}

/// A deterministic xorshift stream, so failures reproduce.
struct Rng(u64);
impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n.max(1) as u64) as usize
    }
}

#[test]
fn truncated_json_samples_report_the_cut() {
    let files = small_samples();
    assert!(files.len() > 30);
    for path in files {
        let bytes = std::fs::read(&path).expect("sample");
        let end = bytes.trim_ascii_end().len();
        for i in 1..16 {
            let cut = end * i / 16;
            let (summary, _) = read(&bytes[..cut]);
            // A cut inside the one value of the file always leaves invalid JSON.
            if let Some(s) = summary {
                assert!(
                    !s.is_clean() || bytes[..cut].trim_ascii().is_empty(),
                    "{} cut at {cut}: no problem reported; {s}",
                    path.display()
                );
            }
        }
    }
}

#[test]
fn corrupted_json_samples_never_panic_and_report_broken_strings() {
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    for path in small_samples() {
        let bytes = std::fs::read(&path).expect("sample");
        let quotes: Vec<usize> = (0..bytes.len()).filter(|&i| bytes[i] == b'"').collect();
        for _ in 0..12 {
            // Random bytes anywhere: any outcome but a panic.
            let mut noisy = bytes.clone();
            for _ in 0..4 {
                let i = rng.below(noisy.len());
                noisy[i] = rng.below(256) as u8;
            }
            let _ = read(&noisy);
            // A quote replaced always breaks the JSON around it.
            let mut broken = bytes.clone();
            broken[quotes[rng.below(quotes.len())]] = b'#';
            let (summary, _) = read(&broken);
            let s = summary.expect("still JSON by its first byte");
            assert!(!s.is_clean(), "{}: {s}", path.display());
        }
    }
}

#[test]
fn one_bad_line_costs_only_itself() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("samples/otlp-json/otel-tui__test_data.traces-only.jsonl");
    let bytes = std::fs::read(&path).expect("sample");
    let (clean, all_spans) = read(&bytes);
    let clean = clean.expect("reads");
    let lines: Vec<&[u8]> = bytes
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .collect();
    // Break line 5 in the middle and add a line that is JSON but no trace document.
    let mut damaged = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        if i == 4 {
            damaged.extend_from_slice(&l[..l.len() / 2]);
        } else {
            damaged.extend_from_slice(l);
        }
        damaged.push(b'\n');
    }
    damaged.extend_from_slice(b"{\"hello\":1}\n");
    let (s, spans) = read(&damaged);
    let s = s.expect("reads");
    let (_, line5_spans) = read(lines[4]);
    assert_eq!(spans, all_spans - line5_spans);
    assert_eq!(s.records, clean.records - 1);
    assert_eq!(s.skipped, 2);
    assert!(
        s.problems[0].starts_with("mem:5: invalid JSON"),
        "{:?}",
        s.problems
    );
    assert!(
        s.problems[1].starts_with("mem:42: not a trace document"),
        "{:?}",
        s.problems
    );
}

fn sample_spans(rel: &str) -> Vec<Span> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("samples")
        .join(rel);
    let mut spans = Vec::new();
    read_path(&path, &mut |b| spans.extend(b.spans)).expect("sample reads");
    spans
}

fn proto_stream(spans: &[Span], per_record: usize) -> Vec<u8> {
    let mut w = TraceWriter::new(Vec::new(), OutputFormat::OtlpProto);
    for chunk in spans.chunks(per_record) {
        w.write(chunk).expect("in memory");
    }
    w.finish().expect("in memory")
}

#[test]
fn damaged_protobuf_streams_keep_the_intact_messages() {
    let spans = sample_spans("otlp-json/otel-tui__test_data.traces-only.jsonl");
    let stream = proto_stream(&spans, 10);
    let (whole, n) = read(&stream);
    assert_eq!(n, spans.len());
    assert!(whole.expect("reads").is_clean());

    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for _ in 0..40 {
        // Truncated anywhere: the messages before the cut are read, the cut one reported.
        let cut = 1 + rng.below(stream.len() - 1);
        let (s, got) = read(&stream[..cut]);
        if let Some(s) = s {
            assert!(got < spans.len());
            assert!(!s.is_clean(), "cut at {cut}: {s}");
        }
        // Bytes flipped inside messages: no panic, whatever prost makes of them.
        let mut noisy = stream.clone();
        for _ in 0..8 {
            let i = rng.below(noisy.len());
            noisy[i] ^= 1 << rng.below(8);
        }
        let _ = read(&noisy);
    }
    // A length prefix far beyond the limit ends the file with a report, not an allocation.
    let mut huge = stream.clone();
    let first_len = u32::from_be_bytes([stream[0], stream[1], stream[2], stream[3]]) as usize;
    huge[4 + first_len..8 + first_len].copy_from_slice(&0x7fff_ffffu32.to_be_bytes());
    let (s, got) = read(&huge);
    let s = s.expect("reads");
    assert_eq!(got, 10, "only the first message");
    assert!(s.problems[0].contains("exceeds"), "{s}");
}

#[test]
fn truncated_gzip_reports_and_keeps_what_came_before() {
    let raw = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("samples/otlp-json/otel-tui__test_data.traces-only.jsonl"),
    )
    .expect("sample");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&raw).expect("in memory");
    let gz = gz.finish().expect("in memory");
    let (_, all) = read(&gz);
    let (s, got) = read(&gz[..gz.len() * 2 / 3]);
    let s = s.expect("reads");
    assert!(s.gzip);
    assert!(got > 0 && got < all, "{got} of {all}");
    assert!(!s.is_clean(), "{s}");
    // Garbage after the gzip magic bytes.
    let (s, got) = read(&[0x1f, 0x8b, 0, 1, 2, 3]);
    assert_eq!(got, 0);
    assert!(!s.expect("reads").is_clean());
}

#[test]
fn binary_noise_is_no_trace_format() {
    assert!(
        read_from(
            Path::new("mem"),
            Cursor::new(b"\x7fELF\x02\x01"),
            &mut |_| {}
        )
        .is_err()
    );
}
