//! Reads trace files and only counts spans: the decoding half of replay throughput, without
//! the store. `cargo run --release --example read_file -- FILE...`

use std::time::Instant;

use spantop::ingest::file::read_path;

fn main() -> anyhow::Result<()> {
    for path in std::env::args().skip(1) {
        let path = std::path::PathBuf::from(path);
        let started = Instant::now();
        let mut spans = 0usize;
        let summary = read_path(&path, &mut |b| spans += b.len())?;
        let secs = started.elapsed().as_secs_f64();
        println!(
            "{summary}\n  read {spans} spans in {secs:.2} s: {:.0} spans/s, {:.0} MB/s",
            spans as f64 / secs,
            summary.bytes as f64 / secs / 1e6,
        );
    }
    Ok(())
}
