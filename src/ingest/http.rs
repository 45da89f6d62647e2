//! OTLP/HTTP receiver: `POST /v1/traces` (and `/v1/logs`, `/v1/metrics`, which SDKs send to
//! the same endpoint) with protobuf or JSON bodies in any encoding the Collector reads,
//! answering with the status codes and bodies the OTLP/HTTP specification gives. Browser apps
//! from the allowed origins get CORS answers (`super::cors`).

use std::future::Future;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceResponse,
};
use prost::Message;

use super::compression::{self, ContentEncoding, DecompressError};
use super::deadlines::{self, Deadlines};
use super::listen::Incoming;
use super::otlp::{self, Encoding};
use super::{BodyLimits, HandOffError, Intake, cors, signals};

/// `google.rpc.Status`, the body OTLP/HTTP sends with an error (details omitted).
#[derive(Clone, PartialEq, prost::Message, serde::Serialize)]
pub struct RpcStatus {
    #[prost(int32, tag = "1")]
    pub code: i32,
    #[prost(string, tag = "2")]
    pub message: String,
}

#[derive(Clone)]
struct HttpState {
    intake: Intake,
    limits: BodyLimits,
}

pub fn router(
    intake: Intake,
    limits: BodyLimits,
    deadlines: Deadlines,
    limit: tower::limit::GlobalConcurrencyLimitLayer,
) -> Router {
    let started = std::time::Instant::now();
    let auth = axum::middleware::from_fn_with_state(intake.clone(), require_token);
    let cors = axum::middleware::from_fn_with_state(intake.clone(), cors_answers);
    let body_deadline =
        axum::middleware::from_fn_with_state(deadlines.request_read, deadlines::limit_body);
    Router::new()
        .route("/v1/traces", post(export_traces).options(options))
        .route("/v1/logs", post(export_logs).options(options))
        .route("/v1/metrics", post(export_metrics).options(options))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(HttpState { intake, limits })
        // The raw body limit; the decompressed size is checked separately.
        .layer(DefaultBodyLimit::max(limits.max_message_bytes))
        // Inside the decode-slot limit: the deadline runs from taking a slot.
        .layer(body_deadline)
        .layer(limit)
        // A request without the token takes no place among those decoded.
        .layer(auth)
        // Added after the layers, so outside them: no token needed and no decode slot taken,
        // so a load balancer's probe is answered however busy the receivers are.
        .route("/health", get(move || health(started)))
        .route("/", get(move || health(started)))
        // Outermost: a preflight carries no token, and a refusal needs CORS headers for the
        // browser app to read it.
        .layer(cors)
}

/// The paths a browser app may post to.
const SIGNAL_PATHS: [&str; 3] = ["/v1/traces", "/v1/logs", "/v1/metrics"];

/// Answers CORS preflights for the signal paths, and adds `Access-Control-Allow-Origin` to
/// every answer to an allowed origin. A disallowed origin gets no CORS header at all.
async fn cors_answers(
    State(intake): State<Intake>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let origin = req.headers().get(header::ORIGIN).cloned();
    let allowed = origin.clone().filter(|o| {
        o.to_str()
            .is_ok_and(|o| !o.is_empty() && intake.cors().allows(o))
    });
    let preflight = req.method() == Method::OPTIONS
        && origin.is_some()
        && req
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
        && SIGNAL_PATHS.contains(&req.uri().path());
    if preflight {
        return match allowed {
            Some(origin) => {
                let headers = req
                    .headers()
                    .get(header::ACCESS_CONTROL_REQUEST_HEADERS)
                    .cloned()
                    .unwrap_or(HeaderValue::from_static(cors::OTLP_REQUEST_HEADERS));
                let mut resp = StatusCode::NO_CONTENT.into_response();
                let h = resp.headers_mut();
                h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
                h.insert(
                    header::ACCESS_CONTROL_ALLOW_METHODS,
                    HeaderValue::from_static("POST"),
                );
                h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, headers);
                h.insert(
                    header::ACCESS_CONTROL_MAX_AGE,
                    HeaderValue::from(cors::PREFLIGHT_MAX_AGE_SECS),
                );
                h.insert(header::VARY, HeaderValue::from_static(PREFLIGHT_VARY));
                resp
            }
            None => {
                let origin = origin
                    .as_ref()
                    .map(|o| String::from_utf8_lossy(o.as_bytes()));
                let mut resp = (
                    StatusCode::FORBIDDEN,
                    format!(
                        "origin {:?} is not allowed: spantop accepts browser apps from --cors-allowed-origins {}\n",
                        origin.unwrap_or_default(),
                        intake.cors()
                    ),
                )
                    .into_response();
                resp.headers_mut()
                    .insert(header::VARY, HeaderValue::from_static(PREFLIGHT_VARY));
                resp
            }
        };
    }
    let mut resp = next.run(req).await;
    if let Some(origin) = allowed {
        let h = resp.headers_mut();
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        // The browser exporter reads Retry-After on a 503 to time its retry.
        h.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static("Retry-After"),
        );
        h.append(header::VARY, HeaderValue::from_static("Origin"));
    }
    resp
}

/// A preflight's answer depends on these request headers: caches must keep them apart.
const PREFLIGHT_VARY: &str =
    "Origin, Access-Control-Request-Method, Access-Control-Request-Headers";

/// `OPTIONS` that is not a CORS preflight: what the path allows.
async fn options() -> Response {
    (StatusCode::NO_CONTENT, [(header::ALLOW, "POST, OPTIONS")]).into_response()
}

/// `GET /health` (and `/`, where the Collector's health_check extension answers): 200 with
/// `{"status":"Server available","uptime":"…"}`, the Collector's status and uptime fields.
/// It says the receiver is accepting connections; whether the store keeps up is in the
/// summary line (throttled count), as the Collector's probe does not say it either.
async fn health(started: std::time::Instant) -> Response {
    let body = serde_json::json!({
        "status": "Server available",
        "uptime": format!("{:.3}s", started.elapsed().as_secs_f64()),
    });
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

const UNAUTHENTICATED: i32 = 16;

/// 401 before the body is read when `--auth-token` is set and the request lacks it.
async fn require_token(
    State(intake): State<Intake>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    if intake.admits(req.headers()) {
        return next.run(req).await;
    }
    let enc = content_type(req.headers()).unwrap_or(Encoding::Protobuf);
    let mut resp = error(
        StatusCode::UNAUTHORIZED,
        enc,
        UNAUTHENTICATED,
        "missing or wrong bearer token (send Authorization: Bearer TOKEN)".into(),
    );
    resp.headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    resp
}

pub async fn serve(
    incoming: Incoming,
    intake: Intake,
    limits: BodyLimits,
    deadlines: Deadlines,
    limit: tower::limit::GlobalConcurrencyLimitLayer,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let router = router(intake, limits, deadlines, limit);
    deadlines::serve_http1(incoming, router, deadlines, shutdown).await
}

fn content_type(headers: &HeaderMap) -> Option<Encoding> {
    let ct = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
    let mime = ct.split(';').next().unwrap_or_default().trim();
    if mime.eq_ignore_ascii_case("application/x-protobuf")
        || mime.eq_ignore_ascii_case("application/protobuf")
    {
        Some(Encoding::Protobuf)
    } else if mime.eq_ignore_ascii_case("application/json") {
        Some(Encoding::Json)
    } else {
        None
    }
}

// gRPC status codes used in the body, as the spec asks.
const INVALID_ARGUMENT: i32 = 3;
const DEADLINE_EXCEEDED: i32 = 4;
const RESOURCE_EXHAUSTED: i32 = 8;
const UNAVAILABLE: i32 = 14;

fn error(status: StatusCode, enc: Encoding, code: i32, message: String) -> Response {
    let body = RpcStatus { code, message };
    encode(status, enc, &body)
}

fn encode<T: Message + serde::Serialize>(status: StatusCode, enc: Encoding, body: &T) -> Response {
    match enc {
        Encoding::Protobuf => (
            status,
            [(header::CONTENT_TYPE, "application/x-protobuf")],
            body.encode_to_vec(),
        )
            .into_response(),
        Encoding::Json => (
            status,
            [(header::CONTENT_TYPE, "application/json")],
            serde_json::to_vec(body).unwrap_or_default(),
        )
            .into_response(),
    }
}

/// Reads a request body: its content type, then its bytes, inflated. An error is the
/// answer to send (and was counted as malformed).
#[allow(clippy::result_large_err)] // the error is the response, built once per request
fn read_body(
    state: &HttpState,
    headers: &HeaderMap,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<(Encoding, Bytes), Response> {
    let Some(enc) = content_type(headers) else {
        state.intake.count_malformed();
        return Err((
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported Content-Type: send application/x-protobuf or application/json\n",
        )
            .into_response());
    };
    let body = match body {
        Ok(b) => b,
        Err(rejection) => {
            if deadlines::timed_out(&rejection) {
                state.intake.count_timed_out();
                let message = rejection.body_text();
                return Err(error(
                    StatusCode::REQUEST_TIMEOUT,
                    enc,
                    DEADLINE_EXCEEDED,
                    message,
                ));
            }
            state.intake.count_malformed();
            let status = rejection.status();
            let code = if status == StatusCode::PAYLOAD_TOO_LARGE {
                RESOURCE_EXHAUSTED
            } else {
                INVALID_ARGUMENT
            };
            return Err(error(status, enc, code, rejection.body_text()));
        }
    };
    let Some(value) = headers.get(header::CONTENT_ENCODING) else {
        return Ok((enc, body));
    };
    let Some(encoding) = value.to_str().ok().and_then(ContentEncoding::parse) else {
        state.intake.count_malformed();
        return Err(error(
            StatusCode::BAD_REQUEST,
            enc,
            INVALID_ARGUMENT,
            format!(
                "unsupported Content-Encoding {:?}: send {}",
                String::from_utf8_lossy(value.as_bytes()),
                compression::ACCEPTED
            ),
        ));
    };
    if encoding == ContentEncoding::Identity {
        return Ok((enc, body));
    }
    match compression::decompress(encoding, &body, state.limits.max_decompressed_bytes) {
        Ok(v) => Ok((enc, Bytes::from(v))),
        Err(e) => {
            state.intake.count_malformed();
            let (status, code) = match e {
                DecompressError::TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, RESOURCE_EXHAUSTED),
                DecompressError::Corrupt { .. } => (StatusCode::BAD_REQUEST, INVALID_ARGUMENT),
            };
            Err(error(status, enc, code, e.to_string()))
        }
    }
}

fn bad_request(state: &HttpState, enc: Encoding, message: String) -> Response {
    state.intake.count_malformed();
    error(StatusCode::BAD_REQUEST, enc, INVALID_ARGUMENT, message)
}

fn unavailable(enc: Encoding, e: HandOffError) -> Response {
    let mut resp = error(
        StatusCode::SERVICE_UNAVAILABLE,
        enc,
        UNAVAILABLE,
        e.to_string(),
    );
    resp.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    resp
}

/// Full success: an empty message, which is `{}` in JSON (as the Collector answers), never
/// `{"partialSuccess":null}`.
fn success(enc: Encoding) -> Response {
    match enc {
        Encoding::Protobuf => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/x-protobuf")],
            Bytes::new(),
        )
            .into_response(),
        Encoding::Json => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            "{}",
        )
            .into_response(),
    }
}

async fn export_traces(
    State(state): State<HttpState>,
    headers: HeaderMap,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Response {
    let (enc, raw) = match read_body(&state, &headers, body) {
        Ok(b) => b,
        Err(resp) => return resp,
    };
    let request = match otlp::decode(&raw, enc) {
        Ok(r) => r,
        Err(e) => return bad_request(&state, enc, e.to_string()),
    };
    match state.intake.accept_converted(request).await {
        Ok(acc) if acc.rejected == 0 => success(enc),
        Ok(acc) => encode(
            StatusCode::OK,
            enc,
            &ExportTraceServiceResponse {
                partial_success: Some(ExportTracePartialSuccess {
                    rejected_spans: acc.rejected as i64,
                    error_message: acc.error_message,
                }),
            },
        ),
        Err(e) => unavailable(enc, e),
    }
}

async fn export_logs(
    State(state): State<HttpState>,
    headers: HeaderMap,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Response {
    let (enc, raw) = match read_body(&state, &headers, body) {
        Ok(b) => b,
        Err(resp) => return resp,
    };
    let decoded = match enc {
        Encoding::Protobuf => ExportLogsServiceRequest::decode(raw)
            .map(signals::logs_from_proto)
            .map_err(|e| format!("invalid OTLP protobuf logs body: {e}")),
        Encoding::Json => {
            signals::logs_from_json(&raw).map_err(|e| format!("invalid OTLP JSON logs body: {e}"))
        }
    };
    match decoded {
        Ok(logs) => match state.intake.accept_logs(logs).await {
            Ok(()) => success(enc),
            Err(e) => unavailable(enc, e),
        },
        Err(message) => bad_request(&state, enc, message),
    }
}

async fn export_metrics(
    State(state): State<HttpState>,
    headers: HeaderMap,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Response {
    let (enc, raw) = match read_body(&state, &headers, body) {
        Ok(b) => b,
        Err(resp) => return resp,
    };
    let decoded = match enc {
        Encoding::Protobuf => ExportMetricsServiceRequest::decode(raw)
            .map(|r| signals::metric_points_proto(&r))
            .map_err(|e| format!("invalid OTLP protobuf metrics body: {e}")),
        Encoding::Json => signals::metric_points_json(&raw)
            .map_err(|e| format!("invalid OTLP JSON metrics body: {e}")),
    };
    match decoded {
        Ok(points) => {
            state.intake.accept_metrics(points);
            success(enc)
        }
        Err(message) => bad_request(&state, enc, message),
    }
}

/// What this port serves, for requests to any other path or with another method.
const SERVED: &str = "spantop serves OTLP/HTTP here: POST /v1/traces, /v1/logs and /v1/metrics with an application/x-protobuf or application/json body; GET /health for a health check";

async fn not_found(uri: axum::http::Uri) -> Response {
    (
        StatusCode::NOT_FOUND,
        format!("{} not found: {SERVED}\n", uri.path()),
    )
        .into_response()
}

async fn method_not_allowed(method: axum::http::Method, uri: axum::http::Uri) -> Response {
    (
        StatusCode::METHOD_NOT_ALLOWED,
        [(header::ALLOW, "POST, OPTIONS")],
        format!("{method} {} is not served: {SERVED}\n", uri.path()),
    )
        .into_response()
}
