//! Accepting connections for both receivers: at most `max_connections` open at once (the rest
//! are closed at accept and counted), each holding its permit until it closes; with TLS, the
//! handshake runs on its own task under a deadline, so a slow or silent client holds up no
//! one else, and a failed one (no client certificate under mutual TLS, say) is counted.
//!
//! Accepted connections come out of a channel, which both tonic (`serve_with_incoming`) and
//! axum (`serve::Listener`) consume, so the two receivers share one way in.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio_rustls::TlsAcceptor;

use super::IngestCounters;

/// Where both receivers listen once bound (port 0 resolved to the real port): what `serve`,
/// `live` and `demo` print at start and the TUI header shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Listening {
    pub grpc: SocketAddr,
    pub http: SocketAddr,
    pub tls: bool,
}

impl Listening {
    fn scheme(&self) -> &'static str {
        if self.tls { "https" } else { "http" }
    }

    /// The short form for the TUI header: `gRPC 127.0.0.1:4317  HTTP 127.0.0.1:4318`.
    pub fn short(&self) -> String {
        format!("gRPC {}  HTTP {}", self.grpc, self.http)
    }
}

/// The endpoints as `OTEL_EXPORTER_OTLP_ENDPOINT` takes them.
impl fmt::Display for Listening {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = self.scheme();
        write!(
            f,
            "OTLP/gRPC on {scheme}://{}, OTLP/HTTP on {scheme}://{}",
            self.grpc, self.http
        )
    }
}

/// Longest a TLS handshake may take.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

enum Io {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::server::TlsStream<TcpStream>>),
}

/// One accepted connection; closing it frees its place under the connection limit.
pub struct Conn {
    io: Io,
    remote: SocketAddr,
    _permit: OwnedSemaphorePermit,
}

macro_rules! delegate {
    ($self:ident, $io:ident => $e:expr) => {
        match &mut $self.get_mut().io {
            Io::Plain($io) => {
                let $io = Pin::new($io);
                $e
            }
            Io::Tls($io) => {
                let $io = Pin::new($io.as_mut());
                $e
            }
        }
    };
}

impl Conn {
    pub fn remote_addr(&self) -> SocketAddr {
        self.remote
    }
}

impl AsyncRead for Conn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        delegate!(self, io => io.poll_read(cx, buf))
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        delegate!(self, io => io.poll_write(cx, buf))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        delegate!(self, io => io.poll_flush(cx))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        delegate!(self, io => io.poll_shutdown(cx))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        delegate!(self, io => io.poll_write_vectored(cx, bufs))
    }

    fn is_write_vectored(&self) -> bool {
        match &self.io {
            Io::Plain(io) => io.is_write_vectored(),
            Io::Tls(io) => io.is_write_vectored(),
        }
    }
}

impl tonic::transport::server::Connected for Conn {
    type ConnectInfo = tonic::transport::server::TcpConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        match &self.io {
            Io::Plain(io) => io.connect_info(),
            Io::Tls(io) => io.get_ref().0.connect_info(),
        }
    }
}

/// Accepted connections, for one receiver.
pub struct Incoming {
    rx: mpsc::Receiver<Conn>,
    local: SocketAddr,
}

impl Incoming {
    /// Starts accepting on `listener`; stops when the `Incoming` is dropped.
    pub fn start(
        listener: TcpListener,
        max_connections: usize,
        counters: Arc<IngestCounters>,
    ) -> io::Result<Incoming> {
        Self::start_tls(listener, max_connections, counters, None)
    }

    /// As `start`, with a TLS handshake first when `tls` is given.
    pub fn start_tls(
        listener: TcpListener,
        max_connections: usize,
        counters: Arc<IngestCounters>,
        tls: Option<TlsAcceptor>,
    ) -> io::Result<Incoming> {
        let local = listener.local_addr()?;
        let permits = Arc::new(Semaphore::new(max_connections.max(1)));
        let (tx, rx) = mpsc::channel(64);
        tokio::spawn(async move {
            loop {
                let (io, remote) = tokio::select! {
                    _ = tx.closed() => return,
                    accepted = listener.accept() => match accepted {
                        Ok(a) => a,
                        // Out of file descriptors and the like: wait rather than spin.
                        Err(_) => {
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            continue;
                        }
                    },
                };
                let Ok(permit) = Arc::clone(&permits).try_acquire_owned() else {
                    IngestCounters::add(&counters.connections_refused, 1);
                    drop(io);
                    continue;
                };
                let _ = io.set_nodelay(true);
                let Some(tls) = &tls else {
                    let conn = Conn {
                        io: Io::Plain(io),
                        remote,
                        _permit: permit,
                    };
                    if tx.send(conn).await.is_err() {
                        return;
                    }
                    continue;
                };
                let (tls, tx, counters) = (tls.clone(), tx.clone(), Arc::clone(&counters));
                tokio::spawn(async move {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, tls.accept(io)).await {
                        Ok(Ok(stream)) => {
                            let conn = Conn {
                                io: Io::Tls(Box::new(stream)),
                                remote,
                                _permit: permit,
                            };
                            let _ = tx.send(conn).await;
                        }
                        Ok(Err(_)) | Err(_) => {
                            IngestCounters::add(&counters.tls_handshakes_failed, 1);
                        }
                    }
                });
            }
        });
        Ok(Incoming { rx, local })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// For `tonic::transport::Server::serve_with_incoming*`.
    pub fn into_stream(self) -> impl tokio_stream::Stream<Item = io::Result<Conn>> {
        use tokio_stream::StreamExt;
        tokio_stream::wrappers::ReceiverStream::new(self.rx).map(Ok)
    }
}

/// How a connection's first bytes tell HTTP/2 (gRPC) from HTTP/1.1.
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0";

/// A client that connects and says nothing for this long is dropped unsorted.
const FIRST_BYTES_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

impl Incoming {
    /// Sorts connections by protocol: HTTP/2 ones stay (for gRPC), HTTP/1.1 ones come out of
    /// the second `Incoming`. SDKs whose default protocol is http/protobuf (Node, the spec's
    /// default) send HTTP/1.1 to 4317 when only the endpoint is set; they are served OTLP/HTTP
    /// there instead of an HTTP/2 frame their parser chokes on. Said once in the log.
    pub fn split_http1(mut self) -> (Incoming, Incoming) {
        let (h2_tx, h2_rx) = mpsc::channel(64);
        let (h1_tx, h1_rx) = mpsc::channel(64);
        let local = self.local;
        tokio::spawn(async move {
            let said = Arc::new(std::sync::atomic::AtomicBool::new(false));
            while let Some(conn) = self.rx.recv().await {
                let (h2_tx, h1_tx, said) = (h2_tx.clone(), h1_tx.clone(), Arc::clone(&said));
                // Sorted on a task of its own: a silent client must not hold up the others.
                tokio::spawn(async move {
                    match tokio::time::timeout(FIRST_BYTES_TIMEOUT, is_http2(&conn.io)).await {
                        Ok(Ok(true)) => {
                            let _ = h2_tx.send(conn).await;
                        }
                        Ok(Ok(false)) => {
                            if !said.swap(true, std::sync::atomic::Ordering::Relaxed) {
                                tracing::info!(
                                    "HTTP/1.1 on the OTLP/gRPC port {local} (from {}): served as OTLP/HTTP; \
                                     for gRPC set OTEL_EXPORTER_OTLP_PROTOCOL=grpc, for OTLP/HTTP the usual port is 4318",
                                    conn.remote
                                );
                            }
                            let _ = h1_tx.send(conn).await;
                        }
                        // Closed, failed or silent: nothing to serve.
                        Ok(Err(_)) | Err(_) => {}
                    }
                });
            }
        });
        (Incoming { rx: h2_rx, local }, Incoming { rx: h1_rx, local })
    }
}

/// Under TLS the negotiated ALPN protocol says (no ALPN: HTTP/2, as gRPC clients use);
/// in plain text, the first bytes.
async fn is_http2(io: &Io) -> io::Result<bool> {
    match io {
        Io::Plain(tcp) => starts_with_h2_preface(tcp).await,
        Io::Tls(tls) => Ok(tls.get_ref().1.alpn_protocol() != Some(b"http/1.1".as_slice())),
    }
}

/// Peeks at the first bytes: the HTTP/2 connection preface, or anything else. Bytes arriving
/// one by one are waited for until they decide.
async fn starts_with_h2_preface(io: &TcpStream) -> io::Result<bool> {
    let mut buf = [0u8; H2_PREFACE.len()];
    loop {
        let n = io.peek(&mut buf).await?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        if buf[..n] != H2_PREFACE[..n] {
            return Ok(false);
        }
        if n == H2_PREFACE.len() {
            return Ok(true);
        }
        // A prefix of the preface so far: peek returns at once, so wait for more.
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
}

impl axum::serve::Listener for Incoming {
    type Io = Conn;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Conn, SocketAddr) {
        match self.rx.recv().await {
            Some(conn) => {
                let addr = conn.remote;
                (conn, addr)
            }
            // The accept task only stops when this end is dropped.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.local)
    }
}
