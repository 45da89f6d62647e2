//! The shared vocabulary: ids, spans, attribute values, interned names and `Batch`.
//!
//! No I/O and no imports from the rest of the crate: every other module may depend on this one.

mod ids;
mod intern;
pub mod mem;
mod span;
mod value;

pub use ids::{IdError, SpanId, SpanRef, TraceId};
pub use intern::{Sym, interned_bytes, interned_count};
pub use span::{
    Batch, Event, Link, Resource, Scope, Span, SpanExtra, SpanKind, SpanLog, Status, StatusCode,
};
pub use value::{AnyValue, KeyValue, find_attr};

/// Resource attribute naming the service (OpenTelemetry semantic conventions).
pub const SERVICE_NAME: &str = "service.name";
/// Service name used when a resource has none, as the OpenTelemetry SDKs do.
pub const UNKNOWN_SERVICE: &str = "unknown_service";
