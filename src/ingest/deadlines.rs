//! Slow and idle clients: how long a client may take before the receivers give its connection
//! or its decode slot to someone else.
//!
//! - HTTP/1.1 (the OTLP/HTTP receiver, and HTTP/1.1 on the gRPC port): a request's headers must
//!   arrive within `header_read` of the connection starting to wait for them, so a client
//!   trickling headers (slowloris), or a kept-alive connection with no next request, is closed
//!   after that long and frees its place under the connection limit.
//! - HTTP/2 (gRPC): connections are pinged every `keepalive_time`; one that does not answer
//!   within `keepalive_timeout` is closed. A client that never sends the preface is dropped by the protocol
//!   sort (`listen`).
//! - Request bodies, on both: a request holds one of the shared decode slots while its body is
//!   read, so the whole body must arrive within `request_read` of taking the slot. A slower one
//!   is answered 408 (OTLP/HTTP) or DEADLINE_EXCEEDED (gRPC), counted as timed out (apart from
//!   malformed requests), and its slot freed.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use bytes::Bytes;
use http_body::{Frame, SizeHint};
use tokio::sync::watch;
use tokio::time::{Instant, Sleep};

use super::listen::Incoming;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadlines {
    /// HTTP/1.1 request headers (and the wait for the next request on a kept-alive connection).
    pub header_read: Duration,
    /// A request body once its request has a decode slot.
    pub request_read: Duration,
    /// How often an HTTP/2 connection is pinged.
    pub keepalive_time: Duration,
    /// How long a ping's answer may take before its connection is closed.
    pub keepalive_timeout: Duration,
}

/// Longer than any exporter's pause between requests on a busy connection, short enough that
/// a slowloris holding hundreds of connections gets them closed quickly. SDK exporters
/// reconnect transparently when an idle connection was closed.
pub const DEFAULT_HEADER_READ: Duration = Duration::from_secs(15);

/// 20 MiB (the body limit) at 0.7 MB/s.
pub const DEFAULT_REQUEST_READ: Duration = Duration::from_secs(30);

/// An idle socket after the HTTP/2 preface goes within half a minute, as a slowloris does
/// on HTTP/1.1; gRPC clients answer pings without being asked to.
pub const DEFAULT_KEEPALIVE_TIME: Duration = Duration::from_secs(15);
pub const DEFAULT_KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(15);

impl Default for Deadlines {
    fn default() -> Self {
        Deadlines {
            header_read: DEFAULT_HEADER_READ,
            request_read: DEFAULT_REQUEST_READ,
            keepalive_time: DEFAULT_KEEPALIVE_TIME,
            keepalive_timeout: DEFAULT_KEEPALIVE_TIMEOUT,
        }
    }
}

/// The error a body past its deadline yields; `timed_out` finds it behind the rejections.
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive within {0:?}")]
pub struct BodyTimedOut(pub Duration);

/// True when `e`, or any error behind it, is `BodyTimedOut`.
pub fn timed_out(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(e);
    while let Some(e) = next {
        if e.is::<BodyTimedOut>() {
            return true;
        }
        next = e.source();
    }
    false
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A request body that fails once `limit` has passed since it was made.
pub struct DeadlineBody<B> {
    inner: Pin<Box<B>>,
    sleep: Pin<Box<Sleep>>,
    limit: Duration,
    expired: fn(Duration) -> BoxError,
}

impl<B> DeadlineBody<B> {
    /// Fails with `BodyTimedOut`, which `timed_out` finds behind axum's rejection.
    pub fn new(inner: B, limit: Duration) -> Self {
        Self::failing_with(inner, limit, |limit| Box::new(BodyTimedOut(limit)))
    }

    /// Fails with a DEADLINE_EXCEEDED status, which tonic answers as it is (any other body
    /// error becomes UNKNOWN).
    pub fn grpc(inner: B, limit: Duration) -> Self {
        Self::failing_with(inner, limit, |limit| {
            Box::new(tonic::Status::deadline_exceeded(
                BodyTimedOut(limit).to_string(),
            ))
        })
    }

    fn failing_with(inner: B, limit: Duration, expired: fn(Duration) -> BoxError) -> Self {
        DeadlineBody {
            inner: Box::pin(inner),
            sleep: Box::pin(tokio::time::sleep_until(Instant::now() + limit)),
            limit,
            expired,
        }
    }
}

impl<B> http_body::Body for DeadlineBody<B>
where
    B: http_body::Body<Data = Bytes>,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        if let Poll::Ready(frame) = this.inner.as_mut().poll_frame(cx) {
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        match this.sleep.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Some(Err((this.expired)(this.limit)))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// `axum` middleware: the body deadline, for routes layered inside the decode-slot limit.
pub async fn limit_body(
    axum::extract::State(limit): axum::extract::State<Duration>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    next.run(req.map(|b| Body::new(DeadlineBody::new(b, limit))))
        .await
}

/// Serves HTTP/1.1 on `incoming` with the header deadline (which `axum::serve` has no way to
/// set) until `shutdown` resolves; then lets requests in flight finish.
pub async fn serve_http1(
    mut incoming: Incoming,
    router: axum::Router,
    deadlines: Deadlines,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use axum::serve::Listener;
    // Every connection task holds a receiver: `closed()` resolves once all have finished.
    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::pin!(shutdown);
    loop {
        let (conn, _remote) = tokio::select! {
            accepted = incoming.accept() => accepted,
            () = &mut shutdown => break,
        };
        let service = hyper_util::service::TowerToHyperService::new(router.clone());
        let mut stop = stop_rx.clone();
        tokio::spawn(async move {
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(deadlines.header_read);
            let conn = builder.serve_connection(hyper_util::rt::TokioIo::new(conn), service);
            tokio::pin!(conn);
            tokio::select! {
                // Errors are the client's (reset, timed out): nothing to report.
                _ = conn.as_mut() => return,
                _ = stop.wait_for(|stop| *stop) => conn.as_mut().graceful_shutdown(),
            }
            let _ = conn.await;
        });
    }
    drop(stop_rx);
    let _ = stop_tx.send(true);
    stop_tx.closed().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    #[tokio::test(start_paused = true)]
    async fn a_body_slower_than_its_deadline_fails_with_body_timed_out() {
        let (mut tx, body) = http_body_util::channel::Channel::<Bytes>::new(1);
        let body = DeadlineBody::new(body, Duration::from_secs(5));
        let sender = tokio::spawn(async move {
            for _ in 0..100 {
                if tx.send_data(Bytes::from_static(b"x")).await.is_err() {
                    return;
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        });
        let err = body.collect().await.expect_err("times out");
        assert!(timed_out(err.as_ref()), "{err}");
        sender.abort();
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_within_its_deadline_is_read_whole() {
        let body = DeadlineBody::new(Body::from("whole body"), Duration::from_secs(5));
        let bytes = body.collect().await.expect("read").to_bytes();
        assert_eq!(&bytes[..], b"whole body");
    }
}
