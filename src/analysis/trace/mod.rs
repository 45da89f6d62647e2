//! Per-trace analyses: pure functions of one `TraceTree`, in the order ANALYSIS.md §6 runs them.

pub mod attrs;
pub mod background;
pub mod cold_start;
pub mod critical_path;
pub mod edges;
pub mod errors;
pub mod fanout;
pub mod isolate;
pub mod self_time;
pub mod signature;
pub mod skew;
pub mod tree;

#[cfg(test)]
pub(crate) mod fixture;
