//! OTLP bytes to the span model: protobuf (`proto`, decoded straight into the model), JSON
//! (`json_fast` for the canonical shape, `json` for everything else real producers write), and
//! the generated-type conversions both ways (`convert`). `decode` is the one entry the
//! receivers and the file reader call for trace requests.

pub mod convert;
pub mod json;
pub mod json_fast;
pub mod proto;

use convert::Converted;

/// How an OTLP trace request is encoded on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Protobuf,
    Json,
}

/// Why a trace request could not be decoded at all (single spans with bad ids are not
/// errors: they are counted in `Converted::rejected`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("{0}")]
    Protobuf(#[from] proto::WireError),
    #[error("invalid OTLP JSON: {0}")]
    Json(String),
}

/// Decodes one `ExportTraceServiceRequest` (or `TracesData`, the same layout) into model
/// spans. JSON takes the typed fast path when the document is in the canonical shape and the
/// lenient path (hex or base64 ids, integers as strings, snake_case keys) otherwise; both give
/// the same spans where both apply.
pub fn decode(bytes: &[u8], encoding: Encoding) -> Result<Converted, DecodeError> {
    match encoding {
        Encoding::Protobuf => Ok(proto::decode_request(bytes)?),
        Encoding::Json => match json_fast::decode(bytes) {
            Some(converted) => Ok(converted),
            None => json::decode_request(bytes)
                .map(convert::request_to_batch)
                .map_err(DecodeError::Json),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINE: &str = r#"{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"api"}}]},"scopeSpans":[{"spans":[{"traceId":"0102030405060708090a0b0c0d0e0f10","spanId":"0102030405060708","name":"GET /","startTimeUnixNano":"1000","endTimeUnixNano":"2000"}]}]}]}"#;

    #[test]
    fn json_decodes_by_either_path_to_the_same_spans() {
        let fast = decode(LINE.as_bytes(), Encoding::Json).expect("canonical");
        assert!(json_fast::decode(LINE.as_bytes()).is_some());
        // snake_case keys are off the canonical shape: only the lenient path reads them.
        let snake = LINE
            .replace("resourceSpans", "resource_spans")
            .replace("scopeSpans", "scope_spans");
        assert!(json_fast::decode(snake.as_bytes()).is_none());
        let lenient = decode(snake.as_bytes(), Encoding::Json).expect("lenient");
        assert_eq!(fast.batch.spans.len(), 1);
        assert_eq!(fast.batch.spans, lenient.batch.spans);
    }

    #[test]
    fn undecodable_bodies_say_which_encoding_failed() {
        let json = decode(b"{\"resourceSpans\":", Encoding::Json).expect_err("cut short");
        assert!(
            json.to_string().starts_with("invalid OTLP JSON: "),
            "{json}"
        );
        let proto = decode(&[0x0a, 0xff], Encoding::Protobuf).expect_err("cut short");
        assert!(matches!(proto, DecodeError::Protobuf(_)), "{proto}");
    }
}
