//! The fuzz targets' code (`spantop::fuzzing`) on stable, as a smoke run that fits in CI:
//! every input a fuzzer found a crash, hang or blow-up with (`tests/data/fuzz/TARGET/*`, each
//! fixed at its root), every seed `fuzz/run.sh` starts the corpora from (`samples/`), and
//! damaged copies of the seeds (cut short, bytes flipped). Any panic fails the test; the long
//! runs are `fuzz/run.sh` on nightly.

use std::path::{Path, PathBuf};

use spantop::export::write::{OutputFormat, TraceWriter};
use spantop::fuzzing::{self, HttpRequest, TARGETS};
use spantop::ingest::file::read_path;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files(&p));
        } else {
            out.push(p);
        }
    }
    out.sort();
    out
}

fn read(p: &Path) -> Vec<u8> {
    std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

type Run = Box<dyn Fn(&[u8])>;

/// One target's entry point.
fn runner(target: &str) -> Run {
    match target {
        "otlp_proto" => Box::new(fuzzing::otlp_proto),
        "otlp_json" => Box::new(fuzzing::otlp_json),
        "jaeger_json" => Box::new(fuzzing::jaeger_json),
        "zipkin_json" => Box::new(fuzzing::zipkin_json),
        "http_request" => {
            let h = HttpRequest::new().expect("runtime");
            Box::new(move |d| h.run(d))
        }
        "trace_analysis" => Box::new(fuzzing::trace_analysis),
        other => panic!("no fuzz target {other}"),
    }
}

/// The seeds `fuzz/run.sh` puts in each corpus.
fn seeds(target: &str) -> Vec<Vec<u8>> {
    let samples = root().join("samples");
    let otlp_json = || files(&samples.join("otlp-json"));
    match target {
        // Each OTLP JSON and Zipkin sample's spans, as protobuf messages.
        "otlp_proto" => {
            let mut out = Vec::new();
            for p in otlp_json()
                .into_iter()
                .chain(files(&samples.join("zipkin-v2-json")))
            {
                let mut w = TraceWriter::new(Vec::new(), OutputFormat::OtlpProto);
                read_path(&p, &mut |b| w.write(&b.spans).expect("in memory"))
                    .expect("sample reads");
                let stream = w.finish().expect("in memory");
                // Length-prefixed: each message is a seed.
                let mut rest = stream.as_slice();
                while let [a, b, c, d, tail @ ..] = rest {
                    let n = u32::from_be_bytes([*a, *b, *c, *d]) as usize;
                    let (msg, tail) = tail.split_at(n.min(tail.len()));
                    out.push(msg.to_vec());
                    rest = tail;
                }
            }
            out
        }
        "otlp_json" => otlp_json()
            .iter()
            .flat_map(|p| {
                let text = read(p);
                text.split(|b| *b == b'\n')
                    .filter(|l| !l.is_empty())
                    .map(<[u8]>::to_vec)
                    .collect::<Vec<_>>()
            })
            .collect(),
        "jaeger_json" => files(&samples.join("jaeger-json"))
            .iter()
            .map(|p| read(p))
            .collect(),
        "zipkin_json" => files(&samples.join("zipkin-v2-json"))
            .iter()
            .map(|p| read(p))
            .collect(),
        // Byte 0 path, 1 content type, 2 encoding, then the body.
        "http_request" => otlp_json()
            .iter()
            .map(|p| [b"\x00\x01\x00".as_slice(), &read(p)].concat())
            .collect(),
        // Deterministic pseudo-random span sets.
        "trace_analysis" => {
            let mut x = 0x9e37_79b9_7f4a_7c15u64;
            (0..256)
                .map(|i| {
                    (0..64 + i * 8)
                        .map(|_| {
                            x ^= x << 13;
                            x ^= x >> 7;
                            x ^= x << 17;
                            x as u8
                        })
                        .collect()
                })
                .collect()
        }
        other => panic!("no fuzz target {other}"),
    }
}

/// Cut short at a few points, and with a few bytes flipped: what a fuzzer tries first.
fn damaged(seed: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let n = seed.len();
    for k in 1..4 {
        out.push(seed[..n * k / 4].to_vec());
    }
    let mut flipped = seed.to_vec();
    for i in (0..n).step_by((n / 7).max(1)) {
        flipped[i] ^= 0x55;
    }
    out.push(flipped);
    out
}

#[test]
fn every_crash_the_fuzzers_found_stays_fixed() {
    let dir = root().join("tests/data/fuzz");
    let mut ran = 0;
    for target in TARGETS {
        let run = runner(target);
        for p in files(&dir.join(target)) {
            run(&read(&p));
            ran += 1;
        }
    }
    // Directories named for no target would be inputs that are never run.
    for p in files(&dir) {
        let target = p
            .strip_prefix(&dir)
            .ok()
            .and_then(|r| r.components().next())
            .and_then(|c| c.as_os_str().to_str())
            .unwrap_or_default()
            .to_owned();
        assert!(
            TARGETS.contains(&target.as_str()) || p.ends_with("README.md"),
            "{} is under no fuzz target",
            p.display()
        );
    }
    println!("{ran} regression inputs");
}

#[test]
fn every_seed_and_its_damaged_copies_run_through_every_target() {
    for target in TARGETS {
        let run = runner(target);
        let seeds = seeds(target);
        assert!(!seeds.is_empty(), "{target} has seeds");
        let mut n = 0;
        for seed in &seeds {
            run(seed);
            for d in damaged(seed) {
                run(&d);
                n += 1;
            }
            n += 1;
        }
        println!("{target}: {n} inputs");
    }
}
