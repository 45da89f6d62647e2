//! Pure analyses of complete traces and mergeable aggregates over many traces. Reads `model`
//! and `store`; nothing here knows about views. ANALYSIS.md is the specification each module
//! cites.
//!
//! - `trace/`: one analysis per module, each a pure function of one `TraceTree` (`tree`: the
//!   per-trace index; `critical_path`, `self_time`, `edges`, `cold_start`, `fanout`, `errors`,
//!   `skew`, `signature`, `attrs`; `isolate` catches a panic so it costs that trace only).
//! - `aggregate/`: cross-trace figures that add a trace's contribution, take it back, and merge
//!   exactly with another instance's (`stats` sketches, `red`, `hotspots`, `callgraph` service
//!   map, `service_graph` with petgraph: depth, cycles, amplified paths).
//! - `engine`: runs the per-trace analyses in ANALYSIS.md §6 order, keeps per-trace findings and
//!   the aggregates; the pipeline owns the only one.
//! - `findings/`: the ranked cross-trace `Findings` the report and every TUI tab render, and
//!   `view::ViewData`, the snapshot the pipeline publishes.

pub mod aggregate;
pub mod engine;
pub mod findings;
pub mod trace;
