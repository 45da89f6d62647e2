//! Attribute keys the analyses read (OpenTelemetry semantic conventions v1.44.0).

pub const SERVICE_INSTANCE_ID: &str = "service.instance.id";
pub const FAAS_INSTANCE: &str = "faas.instance";
pub const FAAS_NAME: &str = "faas.name";
pub const FAAS_COLDSTART: &str = "faas.coldstart";
pub const FAAS_TRIGGER: &str = "faas.trigger";
/// Memory available to the function, in bytes (a resource attribute).
pub const FAAS_MAX_MEMORY: &str = "faas.max_memory";
pub const FAAS_INVOCATION_ID: &str = "faas.invocation_id";
pub const CLOUD_PLATFORM: &str = "cloud.platform";
pub const PROCESS_CREATION_TIME: &str = "process.creation.time";

pub const SERVICE_PEER_NAME: &str = "service.peer.name";
pub const PEER_SERVICE: &str = "peer.service";
pub const DB_SYSTEM_NAME: &str = "db.system.name";
pub const DB_SYSTEM: &str = "db.system";
pub const DB_QUERY_SUMMARY: &str = "db.query.summary";
pub const DB_QUERY_TEXT: &str = "db.query.text";
pub const DB_STATEMENT: &str = "db.statement";
pub const DB_OPERATION_NAME: &str = "db.operation.name";
pub const DB_COLLECTION_NAME: &str = "db.collection.name";
pub const MESSAGING_SYSTEM: &str = "messaging.system";
pub const MESSAGING_DESTINATION: &str = "messaging.destination.name";
pub const MESSAGING_OPERATION_TYPE: &str = "messaging.operation.type";
/// The pre-1.26 name of `messaging.operation.type`.
pub const MESSAGING_OPERATION_OLD: &str = "messaging.operation";
pub const SERVER_ADDRESS: &str = "server.address";
pub const HTTP_REQUEST_METHOD: &str = "http.request.method";
pub const HTTP_METHOD_OLD: &str = "http.method";
pub const URL_TEMPLATE: &str = "url.template";
pub const HTTP_ROUTE: &str = "http.route";
pub const URL_FULL: &str = "url.full";
pub const URL_PATH: &str = "url.path";
pub const HTTP_URL_OLD: &str = "http.url";
pub const HTTP_STATUS_CODE: &str = "http.response.status_code";
/// The pre-1.21 semantic-convention name, still sent by many instrumentations and Zipkin tags.
pub const HTTP_STATUS_CODE_OLD: &str = "http.status_code";
pub const RPC_GRPC_STATUS_CODE: &str = "rpc.grpc.status_code";
pub const ERROR_TYPE: &str = "error.type";
pub const EXCEPTION_TYPE: &str = "exception.type";
pub const EXCEPTION_MESSAGE: &str = "exception.message";
/// Envoy's response flags (`UT`: upstream request timeout), as its tracer records them.
pub const ENVOY_RESPONSE_FLAGS: &str = "response_flags";
pub const RPC_SYSTEM: &str = "rpc.system";
pub const RPC_SERVICE: &str = "rpc.service";
pub const RPC_METHOD: &str = "rpc.method";

/// FaaS platforms (`cloud.platform` values) whose entry spans are function invocations.
pub const FAAS_PLATFORMS: &[&str] = &[
    "aws_lambda",
    "gcp_cloud_functions",
    "gcp_cloud_run",
    "azure.functions",
    "azure_functions",
    "alibaba_cloud_fc",
    "tencent_cloud_scf",
];

use crate::model::{AnyValue, Span};

/// A span attribute, else the same key on the span's resource (FaaS attributes may sit on either).
pub fn span_or_resource<'s>(s: &'s Span, key: &str) -> Option<&'s AnyValue> {
    s.attr(key).or_else(|| s.resource.attr(key))
}

/// The first of `keys` set to a non-empty string on the span.
pub fn first_str<'s>(s: &'s Span, keys: &[&str]) -> Option<&'s str> {
    keys.iter().find_map(|k| {
        s.attr(k)
            .and_then(AnyValue::as_str)
            .filter(|v| !v.is_empty())
    })
}
