//! Pure analyses of complete traces (critical path, self time, edges, cold starts, fan-outs,
//! errors) and mergeable aggregates over many traces. Reads `model` and `store`; nothing here
//! knows about views. ANALYSIS.md is the specification each module cites.
//!
//! - `tree`: the per-trace index (parents, children, roots, orphans, entry spans, times).
//! - `critical_path`, `self_time`, `edges`, `cold_start`, `fanout`, `errors`, `skew`: one
//!   analysis each, pure functions of a `TraceTree`.
//! - `hotspots`, `red`, `callgraph` (service map), `stats`: aggregates that can add a trace's
//!   contribution and take it back when the trace completes again.
//! - `service_graph`: the cross-trace service graph (petgraph): depth below the entry points,
//!   cycles, and paths where calls multiply across services.
//! - `isolate`: catches a panic in one trace's analysis, so it costs that trace only.
//! - `view`: `ViewData`, the rows every TUI tab shows, built by the pipeline from its engine.
//! - `engine`: runs the analyses in ANALYSIS.md §6 order and keeps per-trace findings plus
//!   aggregates; `findings`: the ranked cross-trace `Findings` the report and TUI show.

pub mod attrs;
pub mod callgraph;
pub mod cold_start;
pub mod critical_path;
pub mod edges;
pub mod engine;
pub mod errors;
pub mod fanout;
pub mod findings;
pub mod hotspots;
pub mod isolate;
pub mod red;
pub mod self_time;
pub mod service_graph;
pub mod signature;
pub mod skew;
pub mod stats;
pub mod tree;
pub mod view;

#[cfg(test)]
pub(crate) mod fixture;
