//! Accepting connections for both receivers: at most `max_connections` open at once (the rest
//! are closed at accept and counted), each holding its permit until it closes; with TLS, the
//! handshake runs on its own task under a deadline, so a slow or silent client holds up no
//! one else, and a failed one (no client certificate under mutual TLS, say) is counted.
//!
//! Accepted connections come out of a channel, which both tonic (`serve_with_incoming`) and
//! axum (`serve::Listener`) consume, so the two receivers share one way in.

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
