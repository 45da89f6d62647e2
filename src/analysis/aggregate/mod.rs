//! Aggregates over many traces: each adds a trace's contribution, takes it back when the trace
//! completes again or is evicted, and merges exactly (counts and sums) with another instance's.

pub mod callgraph;
pub mod evidence;
pub mod folded;
pub mod graph_drawing;
pub mod hotspots;
pub mod lists;
pub mod red;
pub mod service_graph;
pub mod stats;
