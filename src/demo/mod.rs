//! The built-in simulated system and the OTLP client that sends its traffic.
//!
//! `shop` generates the spans (model types, deterministic for a seed); `send` turns them into
//! OTLP requests and sends them over gRPC or HTTP to any endpoint, paced or as fast as the
//! receiver takes them. `spantop demo` points it at its own receivers; `spantop simulate` at any
//! collector, which also makes it the load generator for benchmarks. `shapes` builds single
//! traces of a chosen shape and size (100,000 spans wide, deep or mixed) for the analysis
//! benchmarks and the huge-trace tests.
//!
//! Imports `model` and `ingest::otlp::convert` (for the model -> OTLP conversion) only.

mod rng;
pub mod send;
pub mod shapes;
pub mod shop;

pub use crate::export::exporter::Protocol;
pub use rng::Rng;
pub use send::{Rate, SimulateConfig, SimulateStats, simulate};
pub use shop::{Scenario, Shop, ShopConfig};
