//! OTLP bytes to the span model: protobuf (`proto`, decoded straight into the model), JSON
//! (`json_fast` for the canonical shape, `json` for everything else real producers write), and
//! the generated-type conversions both ways (`convert`). `decode` is the one entry the
//! receivers and the file reader call.

pub mod convert;
pub mod json;
pub mod json_fast;
pub mod proto;
