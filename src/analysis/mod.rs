//! Pure analyses of complete traces (critical path, self time, edges, cold starts, fan-outs,
//! errors) and mergeable aggregates over many traces. Reads `model` and `store`; nothing here
//! knows about views. ANALYSIS.md is the specification each module cites.

pub mod attrs;
pub mod callgraph;
pub mod cold_start;
pub mod critical_path;
pub mod edges;
pub mod engine;
pub mod errors;
pub mod fanout;
pub mod hotspots;
pub mod red;
pub mod self_time;
pub mod stats;
pub mod tree;

#[cfg(test)]
pub(crate) mod fixture;
