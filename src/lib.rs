//! spantop: a distributed-trace analyser for serverless and microservice systems.
//!
//! Data flows one way: `ingest` (OTLP receivers, files) -> `store` (trace assembly) ->
//! `analysis` -> `ui` / `report`, wired by `pipeline` and started by `cmd`. `model` is the
//! vocabulary every layer shares; `export` writes the model back out as OTLP. See
//! `DESIGN.md` in the shared folder for the whole picture.

pub mod analysis;
pub mod api;
pub mod cmd;
pub mod demo;
pub mod export;
#[doc(hidden)]
pub mod fuzzing;
pub mod ingest;
pub mod model;
pub mod pipeline;
pub mod report;
pub mod server;
pub mod store;
pub mod ui;
pub mod units;
