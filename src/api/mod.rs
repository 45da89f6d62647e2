//! spantop's own gRPC API (`proto/spantop/v1/spantop.proto`, package `spantop.v1`): a `serve`
//! instance publishes its mergeable aggregates (`Snapshot`), a stream of new findings (`Watch`)
//! and its held traces (`GetTrace`); `live --attach` and `report --attach` merge several
//! instances into one view (`attach`). Reads the pipeline's published `ViewData` only; never
//! the UI or the commands.

pub mod attach;
pub mod convert;
pub mod live;
pub mod merge;
pub mod service;

/// The generated messages, client and server of `spantop.v1`.
#[allow(clippy::all, clippy::pedantic, missing_docs)]
pub mod pb {
    tonic::include_proto!("spantop.v1");
}

/// Where `serve --api` listens unless told otherwise.
pub const DEFAULT_API_ADDR: &str = "127.0.0.1:4320";
