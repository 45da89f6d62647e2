//! Everything spantop sends or writes out: the OTLP exporter (`demo`, `simulate`), the
//! `--record` writer, and the file writers behind `convert`. Outbound code lives apart from
//! `ingest` so that the receiving edge holds only what turns bytes into batches.

pub mod exporter;
pub mod otlp;
pub mod record;
pub mod write;
