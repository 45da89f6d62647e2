//! Operation signatures: when two calls are "the same call" (ANALYSIS.md §4.2), from every
//! generation of the conventions instrumentations write.
//!
//! The most specific description a span carries wins, in this order:
//! 1. **Database**: `db.query.summary`, else the statement (`db.query.text`, `db.statement`,
//!    Brave's `sql.query` / `cassandra.query`) with literals and ids stripped; key-value stores
//!    (Redis, Memcached, ...) by command and key pattern; else `db.operation(.name)` and the
//!    collection/table. The system is `db.system(.name)` or what the key implies. Calls with
//!    different statements are different calls.
//! 2. **HTTP**: method (`http.request.method` / `http.method`, when present) with the route
//!    or template (`url.template`, `http.route`) as written, else the path or URL
//!    (`url.full`, `http.url`, `url.path`, `http.target`, `http.path`) with ids templated.
//! 3. **RPC**: `rpc.system` / `rpc.service` / `rpc.method` (and the invoked function).
//! 4. **Messaging**: the system and destination (`messaging.destination.name`,
//!    `messaging.destination`, Brave's `kafka.topic`).
//! 5. The callee (the server's service, `service.peer.name` / `peer.service`, which the
//!    Zipkin reader fills from the remote endpoint, the peer address) with the span name,
//!    ids templated; the span name alone only when nothing else is there.

use rustc_hash::FxHashMap;

use crate::model::{AnyValue, Span, Sym};

use crate::analysis::trace::attrs;

/// Statement keys, newest convention first, with the system each implies when
/// `db.system(.name)` is absent.
const STATEMENTS: &[(&str, &str)] = &[
    (attrs::DB_QUERY_TEXT, "db"),
    (attrs::DB_STATEMENT, "db"),
    ("sql.query", "sql"),
    ("cassandra.query", "cassandra"),
    ("db.cassandra.query", "cassandra"),
];
const OPERATIONS: &[&str] = &[attrs::DB_OPERATION_NAME, "db.operation"];
const COLLECTIONS: &[&str] = &[
    attrs::DB_COLLECTION_NAME,
    "db.sql.table",
    "db.mongodb.collection",
    "db.cassandra.table",
    "db.cosmosdb.container",
];
/// Key-value stores: the statement is a command and its arguments (values, not query shape).
const KEY_VALUE_SYSTEMS: &[&str] = &["redis", "memcached", "valkey", "keydb", "dragonfly"];
const ROUTES: &[&str] = &[attrs::URL_TEMPLATE, attrs::HTTP_ROUTE];
/// Keys whose value is a URL or path, most specific first.
const URLS: &[&str] = &[
    attrs::URL_FULL,
    attrs::HTTP_URL_OLD,
    attrs::URL_PATH,
    "http.target",
    "http.path",
];
const METHODS: &[&str] = &[attrs::HTTP_REQUEST_METHOD, attrs::HTTP_METHOD_OLD];
const DESTINATIONS: &[&str] = &[
    attrs::MESSAGING_DESTINATION,
    "messaging.destination",
    "kafka.topic",
];
const PEERS: &[&str] = &[
    attrs::SERVICE_PEER_NAME,
    attrs::PEER_SERVICE,
    attrs::SERVER_ADDRESS,
    "net.peer.name",
    "network.peer.address",
];

/// The signature of a call span; `callee` is the service that served it, when the trace
/// shows one (the server child's service).
pub fn call(s: &Span, callee: Option<Sym>) -> String {
    Signer::default().call(s, || callee)
}

/// Signs the calls of one trace, normalising each distinct SQL statement once: a loop
/// repeats one statement thousands of times, and normalising was most of a signature's cost.
#[derive(Default)]
pub struct Signer<'t> {
    sql: FxHashMap<&'t str, String>,
}

impl<'t> Signer<'t> {
    /// `signature::call`, with this trace's statements remembered; `callee` is asked only
    /// when the span says nothing more specific (it interns a name).
    pub fn call(&mut self, s: &'t Span, callee: impl FnOnce() -> Option<Sym>) -> String {
        database(s, &mut self.sql)
            .or_else(|| http(s))
            .or_else(|| rpc(s))
            .or_else(|| messaging(s))
            .unwrap_or_else(|| {
                let name = parameterize_url(s.name.as_str());
                let peer = callee()
                    .map(|c| c.as_str())
                    .or_else(|| first_str(s, PEERS))
                    .or_else(|| first_str(s, &[attrs::DB_SYSTEM_NAME, attrs::DB_SYSTEM]));
                match peer {
                    Some(peer) => format!("span {peer} {name}"),
                    None => format!("span {name}"),
                }
            })
    }
}

fn first_str<'s>(s: &'s Span, keys: &[&str]) -> Option<&'s str> {
    attrs::first_str(s, keys)
}

fn first_with<'s>(
    s: &'s Span,
    keys: &[(&'static str, &'static str)],
) -> Option<(&'s str, &'static str)> {
    keys.iter().find_map(|&(k, implied)| {
        s.attr(k)
            .and_then(AnyValue::as_str)
            .filter(|v| !v.trim().is_empty())
            .map(|v| (v, implied))
    })
}

fn database<'t>(s: &'t Span, sql: &mut FxHashMap<&'t str, String>) -> Option<String> {
    let system = first_str(s, &[attrs::DB_SYSTEM_NAME, attrs::DB_SYSTEM]);
    if let (Some(db), Some(q)) = (system, first_str(s, &[attrs::DB_QUERY_SUMMARY])) {
        return Some(format!("db {db} {q}"));
    }
    if let Some((q, implied)) = first_with(s, STATEMENTS) {
        let db = system.unwrap_or(implied);
        if KEY_VALUE_SYSTEMS.contains(&db.to_ascii_lowercase().as_str()) {
            return Some(format!("db {db} {}", key_value_command(q)));
        }
        let q = sql.entry(q).or_insert_with(|| normalize_sql(q));
        return Some(format!("db {db} {q}"));
    }
    let op = first_str(s, OPERATIONS);
    if system.is_none() && op.is_none() {
        return None;
    }
    let db = system.unwrap_or("db");
    let coll = first_str(s, COLLECTIONS).unwrap_or("");
    Some(format!("db {db} {} {coll}", op.unwrap_or("")))
}

/// `GET user:1234` → `GET user:?`: the command and the key's pattern, never the values.
fn key_value_command(q: &str) -> String {
    let mut words = q.split_whitespace();
    let cmd = words.next().unwrap_or("").to_ascii_uppercase();
    match words.next() {
        Some(key) => format!("{cmd} {}", normalize_sql(key)),
        None => cmd,
    }
}

fn http(s: &Span) -> Option<String> {
    let method = first_str(s, METHODS);
    let target = first_str(s, ROUTES)
        .map(str::to_owned)
        .or_else(|| first_str(s, URLS).map(parameterize_url))?;
    Some(match method {
        Some(m) => format!("http {m} {target}"),
        None => format!("http {target}"),
    })
}

fn rpc(s: &Span) -> Option<String> {
    let system = first_str(s, &[attrs::RPC_SYSTEM]);
    let service = first_str(s, &[attrs::RPC_SERVICE]);
    let method = first_str(s, &[attrs::RPC_METHOD]);
    if system.is_none() && service.is_none() && method.is_none() {
        return None;
    }
    // An invoke of a named function is a different call per function.
    let target = first_str(s, &["faas.invoked_name"]).unwrap_or("");
    Some(format!(
        "rpc {} {} {} {target}",
        system.unwrap_or(""),
        service.unwrap_or(""),
        method.unwrap_or("")
    ))
}

fn messaging(s: &Span) -> Option<String> {
    let system = first_str(s, &[attrs::MESSAGING_SYSTEM]);
    let destination = first_str(s, DESTINATIONS);
    let system = match (system, destination) {
        (None, None) => return None,
        (Some(m), _) => m,
        (None, Some(_)) if s.attr("kafka.topic").is_some() => "kafka",
        (None, Some(_)) => "",
    };
    Some(format!("msg {system} {}", destination.unwrap_or("")))
}

/// SQL with literals replaced by `?` (strings, numbers, bare UUIDs and hex ids),
/// `IN (?, ?, …)` collapsed and whitespace normalised.
pub fn normalize_sql(q: &str) -> String {
    let chars: Vec<char> = q.chars().collect();
    let mut out = String::with_capacity(q.len());
    let mut prev_word = false;
    let mut i = 0;
    while i < chars.len() {
        let ch = chars[i];
        if !prev_word && ch.is_ascii_alphanumeric() {
            // A bare id: the run of alphanumerics and dashes, when it looks like one.
            let end = chars[i..]
                .iter()
                .position(|c| !(c.is_ascii_alphanumeric() || *c == '-'))
                .map_or(chars.len(), |n| i + n);
            let token: String = chars[i..end].iter().collect();
            if is_id(&token) {
                out.push('?');
                i = end;
                continue;
            }
        }
        match ch {
            '\'' | '"' => {
                i += 1;
                while i < chars.len() && chars[i] != ch {
                    i += 1;
                }
                out.push('?');
                prev_word = false;
            }
            c if c.is_ascii_digit() && !prev_word => {
                while i + 1 < chars.len() && (chars[i + 1].is_ascii_digit() || chars[i + 1] == '.')
                {
                    i += 1;
                }
                out.push('?');
            }
            c if c.is_whitespace() => {
                if !out.ends_with(' ') {
                    out.push(' ');
                }
                prev_word = false;
            }
            c => {
                prev_word = c.is_alphanumeric() || c == '_' || c == '$';
                out.push(c);
            }
        }
        i += 1;
    }
    let mut s = out.trim().to_owned();
    while s.contains("?, ?") || s.contains("?,?") {
        s = s.replace("?, ?", "?").replace("?,?", "?");
    }
    s
}

/// An id-looking token: UUID layout, or hex of 10+ characters with a digit in it.
fn is_id(seg: &str) -> bool {
    let hexish = seg.len() >= 10
        && seg.chars().all(|c| c.is_ascii_hexdigit() || c == '-')
        && seg.chars().any(|c| c.is_ascii_digit());
    hexish || uuid_shaped(seg)
}

/// A URL with ids replaced by `*` (integers, UUIDs, hex ≥ 10) and query values by `*`.
pub fn parameterize_url(u: &str) -> String {
    let (path, query) = u.split_once('?').unwrap_or((u, ""));
    let mut out: Vec<String> = path.split('/').map(param_segment).collect();
    if !query.is_empty() {
        let q: Vec<String> = query
            .split('&')
            .map(|kv| format!("{}=*", kv.split('=').next().unwrap_or("")))
            .collect();
        let last = out.pop().unwrap_or_default();
        out.push(format!("{last}?{}", q.join("&")));
    }
    out.join("/")
}

/// UUID layout (8-4-4-4-12), whatever the characters: masked ids (`…-XXXXXXXXXXXX`) too.
fn uuid_shaped(seg: &str) -> bool {
    let parts: Vec<&str> = seg.split('-').collect();
    parts.len() == 5
        && parts
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(p, n)| p.len() == n && p.chars().all(|c| c.is_ascii_alphanumeric()))
}

fn param_segment(seg: &str) -> String {
    if is_id(seg) {
        return "*".to_owned();
    }
    // Digit runs not glued to letters: `SKU-84483` → `SKU-*`, `v1` stays.
    let mut out = String::new();
    let mut prev_alpha = false;
    let mut chars = seg.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() && !prev_alpha {
            let mut digits = String::from(c);
            while let Some(d) = chars.next_if(char::is_ascii_digit) {
                digits.push(d);
            }
            if chars.peek().is_some_and(|c| c.is_alphabetic()) {
                out.push_str(&digits); // part of a word such as `2fa`
            } else {
                out.push('*');
            }
            prev_alpha = false;
        } else {
            prev_alpha = c.is_alphabetic();
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::trace::fixture::TraceBuilder;
    use crate::model::SpanKind;

    /// The signature of one client span carrying `attrs`, named `name`.
    fn sig(name: &str, kv: &[(&str, &str)]) -> String {
        let mut b = TraceBuilder::new();
        let mut c = b.span("svc", name).kind(SpanKind::Client).at(1, 2);
        for (k, v) in kv {
            c = c.str_attr(k, v);
        }
        let id = c.id();
        let t = b.build();
        let s = t
            .spans
            .iter()
            .find(|s| s.span_id == id)
            .expect("client span");
        call(s, None)
    }

    /// (span name, string attributes, expected signature)
    type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a str);

    fn table(cases: &[Case<'_>]) {
        for (name, kv, want) in cases {
            assert_eq!(sig(name, kv), *want, "{name} {kv:?}");
        }
    }

    #[test]
    fn database_statements_of_every_generation() {
        table(&[
            // v1.26+: db.system.name + db.query.text; summary wins when present.
            (
                "SELECT",
                &[
                    ("db.system.name", "postgresql"),
                    ("db.query.text", "SELECT * FROM t WHERE id = 42"),
                ],
                "db postgresql SELECT * FROM t WHERE id = ?",
            ),
            (
                "SELECT",
                &[
                    ("db.system.name", "postgresql"),
                    ("db.query.summary", "SELECT t"),
                    ("db.query.text", "SELECT 1"),
                ],
                "db postgresql SELECT t",
            ),
            // Before v1.26: db.system + db.statement.
            (
                "query",
                &[
                    ("db.system", "mysql"),
                    ("db.statement", "DELETE FROM cart WHERE user = 'ann'"),
                ],
                "db mysql DELETE FROM cart WHERE user = ?",
            ),
            // Brave/Zipkin: sql.query, no db.system.
            (
                "insert",
                &[(
                    "sql.query",
                    "insert into revinfo (rev, revtstmp) values (null, 1541485537483)",
                )],
                "db sql insert into revinfo (rev, revtstmp) values (null, ?)",
            ),
            (
                "\n",
                &[(
                    "cassandra.query",
                    "SELECT * FROM apps WHERE id = 5e0c2ab0-7f3e-11e8-a3c8-0242ac110002",
                )],
                "db cassandra SELECT * FROM apps WHERE id = ?",
            ),
            // No statement: operation and collection.
            (
                "find",
                &[
                    ("db.system", "mongodb"),
                    ("db.operation", "find"),
                    ("db.mongodb.collection", "users"),
                ],
                "db mongodb find users",
            ),
            (
                "get",
                &[
                    ("db.system.name", "cosmosdb"),
                    ("db.operation.name", "read"),
                    ("db.collection.name", "orders"),
                ],
                "db cosmosdb read orders",
            ),
        ]);
    }

    #[test]
    fn different_statements_are_different_calls() {
        let a = sig("get", &[("sql.query", "select * from a where id = 1")]);
        let b = sig("get", &[("sql.query", "select * from a where id = 2")]);
        let c = sig("get", &[("sql.query", "delete from a where id = 1")]);
        assert_eq!(a, b, "literals do not make a different call");
        assert_ne!(a, c, "a different statement does");
    }

    #[test]
    fn key_value_stores_by_command_and_key_pattern() {
        table(&[
            (
                "redis",
                &[("db.system", "redis"), ("db.statement", "GET user:1234")],
                "db redis GET user:?",
            ),
            (
                "redis",
                &[
                    ("db.system", "redis"),
                    ("db.statement", "set session:9 {\"a\":1} EX 60"),
                ],
                "db redis SET session:?",
            ),
            (
                "redis",
                &[
                    ("db.system.name", "redis"),
                    ("db.query.text", "HGETALL cart:77"),
                ],
                "db redis HGETALL cart:?",
            ),
        ]);
        assert_ne!(
            sig(
                "redis",
                &[("db.system", "redis"), ("db.statement", "GET k:1")]
            ),
            sig(
                "redis",
                &[("db.system", "redis"), ("db.statement", "DEL k:1")]
            ),
            "two commands under one span name are two calls"
        );
    }

    #[test]
    fn http_routes_templates_and_urls_of_every_generation() {
        table(&[
            // Stable conventions: http.request.method + url.template / url.full.
            (
                "GET",
                &[
                    ("http.request.method", "GET"),
                    ("url.template", "/users/{id}"),
                ],
                "http GET /users/{id}",
            ),
            (
                "GET",
                &[
                    ("http.request.method", "GET"),
                    ("url.full", "http://inv:8080/inventory/SKU-84483"),
                ],
                "http GET http://inv:*/inventory/SKU-*",
            ),
            // http.route on a client span (some instrumentations), old http.method.
            (
                "GET",
                &[("http.method", "GET"), ("http.route", "/api/items/:id")],
                "http GET /api/items/:id",
            ),
            // Old conventions: http.url, http.target.
            (
                "HTTP GET",
                &[
                    ("http.method", "GET"),
                    ("http.url", "https://api/v1/orders/991?page=2"),
                ],
                "http GET https://api/v1/orders/*?page=*",
            ),
            (
                "HTTP GET",
                &[("http.method", "GET"), ("http.target", "/carts/42/items")],
                "http GET /carts/*/items",
            ),
            (
                "GET",
                &[
                    ("http.request.method", "GET"),
                    ("url.path", "/u/550e8400-e29b-41d4-a716-446655440000"),
                ],
                "http GET /u/*",
            ),
            // Brave/Zipkin: http.path, often without a method; masked UUIDs are ids too.
            (
                "get",
                &[(
                    "http.path",
                    "/installedapps/86ee7c3f-b7ed-4feb-b362-XXXXXXXXXXXX/subscriptions",
                )],
                "http /installedapps/*/subscriptions",
            ),
            (
                "post",
                &[("http.method", "POST"), ("http.path", "/app-execute")],
                "http POST /app-execute",
            ),
        ]);
    }

    #[test]
    fn rpc_and_messaging() {
        table(&[
            (
                "grpc",
                &[
                    ("rpc.system", "grpc"),
                    ("rpc.service", "Inventory"),
                    ("rpc.method", "GetStock"),
                ],
                "rpc grpc Inventory GetStock ",
            ),
            (
                "Invoke",
                &[
                    ("rpc.system", "aws-api"),
                    ("rpc.service", "Lambda"),
                    ("rpc.method", "Invoke"),
                    ("faas.invoked_name", "resize"),
                ],
                "rpc aws-api Lambda Invoke resize",
            ),
            (
                "send",
                &[
                    ("messaging.system", "kafka"),
                    ("messaging.destination.name", "orders"),
                ],
                "msg kafka orders",
            ),
            (
                "send",
                &[
                    ("messaging.system", "rabbitmq"),
                    ("messaging.destination", "jobs"),
                ],
                "msg rabbitmq jobs",
            ),
            // Brave: kafka.topic only.
            (
                "send",
                &[("kafka.topic", "iot-events")],
                "msg kafka iot-events",
            ),
        ]);
    }

    #[test]
    fn peers_and_span_names_last() {
        table(&[
            ("get", &[("peer.service", "billing")], "span billing get"),
            (
                "get",
                &[("service.peer.name", "billing")],
                "span billing get",
            ),
            (
                "get",
                &[("network.peer.address", "10.0.0.7")],
                "span 10.0.0.7 get",
            ),
            ("fetch item 17", &[], "span fetch item *"),
        ]);
        let mut b = TraceBuilder::new();
        let id = b.span("svc", "get").kind(SpanKind::Client).at(1, 2).id();
        let t = b.build();
        let s = t.spans.iter().find(|s| s.span_id == id).expect("span");
        assert_eq!(call(s, Some(Sym::new("catalog"))), "span catalog get");
    }

    #[test]
    fn normalizers() {
        assert_eq!(
            normalize_sql("SELECT *  FROM t WHERE a = 'x' AND b IN (1, 2, 3) AND c=$1"),
            "SELECT * FROM t WHERE a = ? AND b IN (?) AND c=$1"
        );
        assert_eq!(
            parameterize_url("http://h:8080/inventory/SKU-84483"),
            "http://h:*/inventory/SKU-*"
        );
        assert_eq!(
            parameterize_url("/u/550e8400-e29b-41d4-a716-446655440000/v1?x=3&y=4"),
            "/u/*/v1?x=*&y=*"
        );
    }
}
