//! Serving TLS: TLS 1.2+ configuration and an accept loop (`serve_tls`,
//! shared by the HTTPS and MQTT listeners) that hands each connection to
//! its own task. One mechanism keeps any client from holding
//! the listener: a deadline for the handshake and first request head, an
//! idle timeout, a deadline for request bodies, a cut-off for clients that
//! stop reading, a cap per client address and a cap per listener (its share
//! of the open files). The loop knows TLS and connections, nothing of
//! devices: a listener that must end some connections early (a revoked
//! device's) gives it a `ConnectionWatch`.

mod activity;
pub mod addr;
mod conn;
pub mod nofile;

use std::{
    convert::Infallible,
    net::SocketAddr,
    sync::{atomic::AtomicI64, Arc},
    time::Duration,
};

use axum::body::Body;
use futures_util::future::BoxFuture;
use hyper::{Request, Response};
use hyper_util::{
    rt::{TokioExecutor, TokioTimer},
    server::conn::auto,
};
use rustls::{server::danger::ClientCertVerifier, ServerConfig};
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use sha2::{Digest, Sha256};
use tokio::{net::TcpListener, sync::Semaphore};
use tokio_rustls::TlsAcceptor;
use tokio_util::task::TaskTracker;
use tower::Service;

use crate::{metrics::METRICS, stopping::Stopping};
use addr::PerAddress;

pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The client certificate of a mutual-TLS connection, as every request on
/// that connection carries it.
#[derive(Debug, Clone)]
pub struct PeerCert {
    /// Hex SHA-256 of the DER: the registry's name for it.
    pub thumbprint: String,
    /// The same digest as RFC 8705 `x5t#S256` (base64url), for token binding.
    pub x5t_s256: String,
    /// `notAfter`, in seconds since the epoch.
    pub not_after: i64,
    /// The chain as presented, end entity first (for registration, which
    /// verifies it again).
    pub chain: Arc<[CertificateDer<'static>]>,
}

impl PeerCert {
    pub fn of(chain: &[CertificateDer<'_>]) -> Option<PeerCert> {
        let der = chain.first()?;
        use base64::{engine::general_purpose::URL_SAFE_NO_PAD as B64, Engine};
        use x509_parser::prelude::{FromDer, X509Certificate};
        let (_, cert) = X509Certificate::from_der(der).ok()?;
        let digest = Sha256::digest(der);
        Some(PeerCert {
            thumbprint: hex::encode(digest),
            x5t_s256: B64.encode(digest),
            not_after: cert.validity().not_after.timestamp(),
            chain: chain.iter().map(|c| c.clone().into_owned()).collect(),
        })
    }
}

/// Decides when a connection must end early, from its client certificate.
pub trait ConnectionWatch: Send + Sync + 'static {
    /// Resolves when the connection of this peer must end (after any
    /// request in flight); never, if it may live on.
    fn ended(&self, peer: Option<&PeerCert>) -> BoxFuture<'static, ()>;
}

/// Server configuration, TLS 1.2+ with h2 and HTTP/1.1 (or `alpn`):
/// without client authentication for the north listeners; for the device
/// listeners, requiring a device certificate that `verifier` accepts.
pub fn server_config(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    verifier: Option<Arc<dyn ClientCertVerifier>>,
) -> anyhow::Result<ServerConfig> {
    server_config_for(chain, key, verifier, &[b"h2", b"http/1.1"])
}

pub fn server_config_for(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    verifier: Option<Arc<dyn ClientCertVerifier>>,
    alpn: &[&[u8]],
) -> anyhow::Result<ServerConfig> {
    let builder = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?;
    let with_clients = verifier.is_some();
    let mut config = match verifier {
        Some(v) => builder.with_client_cert_verifier(v),
        None => builder.with_no_client_auth(),
    }
    .with_single_cert(chain, key)?;
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    if with_clients {
        // A resumed session would skip the verifier and its revocation
        // check: every device connection makes a full handshake.
        config.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
        config.send_tls13_tickets = 0;
    }
    Ok(config)
}

/// How long a connection may take, and how many a listener holds.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// The listener's name in metrics (`north`, `devices`, `mqtt_devices`…).
    pub name: &'static str,
    /// From accept to a complete first request head, TLS handshake
    /// included; also the most a later request head may take.
    pub header_timeout: Duration,
    /// With no request in flight this long, a connection is closed; a
    /// request body must arrive whole within it, and a client that leaves
    /// our writes waiting this long is cut off.
    pub idle_timeout: Duration,
    /// Connections at once from one client address.
    pub max_per_address: usize,
    /// Connections at once on this listener: its share of the open files.
    pub max_connections: usize,
    /// A fixed kernel send buffer per connection, instead of one that grows
    /// to megabytes: a client that stops reading then stops taking data
    /// after this much, and its stream is cut off soon (north, where live
    /// streams go out); `None` keeps the kernel's autotuning.
    pub send_buffer: Option<usize>,
}

/// A connection whose TLS handshake completed within the header deadline.
pub struct Accepted {
    pub tls: tokio_rustls::server::TlsStream<tokio::net::TcpStream>,
    pub peer: SocketAddr,
    /// The client certificate, on a mutual-TLS listener.
    pub peer_cert: Option<PeerCert>,
    /// When the TCP connection was accepted: deadlines count from here.
    pub accepted: tokio::time::Instant,
    /// The instance's stop: the connection winds down when it comes.
    pub stopping: Stopping,
}

/// The accept loop every listener shares (HTTPS and MQTT): the caps per
/// client address and per listener, the TLS handshake within the header
/// deadline, then `handle` in the connection's own task. Once `stopping`
/// comes, the listener closes and this returns when every connection it
/// accepted has ended.
pub async fn serve_tls<H, F>(
    listener: TcpListener,
    config: Arc<ServerConfig>,
    limits: Limits,
    stopping: Stopping,
    handle: H,
) where
    H: Fn(Accepted) -> F + Clone + Send + Sync + 'static,
    F: std::future::Future<Output = ()> + Send + 'static,
{
    let acceptor = TlsAcceptor::from(config);
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let per_address = PerAddress::new(limits.max_per_address);
    let connections = TaskTracker::new();
    loop {
        let accepted = tokio::select! {
            conn = listener.accept() => conn,
            () = stopping.stopped() => break,
        };
        let (tcp, peer) = match accepted {
            Ok(conn) => conn,
            Err(e) => {
                // Out of descriptors and the like: back off instead of spinning.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let accepted = tokio::time::Instant::now();
        if let Some(bytes) = limits.send_buffer {
            let _ = socket2::SockRef::from(&tcp).set_send_buffer_size(bytes);
        }
        let Some(address_slot) = per_address.admit(peer.ip()) else {
            refused(peer, "connections from this address at their cap");
            continue;
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            refused(peer, "this listener's connections at their cap");
            continue;
        };
        let (acceptor, handle, stopping) = (acceptor.clone(), handle.clone(), stopping.clone());
        connections.spawn(async move {
            let _slots = (slot, address_slot);
            let _ = tcp.set_nodelay(true);
            let deadline = accepted + limits.header_timeout;
            let handshake = tokio::select! {
                res = tokio::time::timeout_at(deadline, acceptor.accept(tcp)) => res,
                () = stopping.stopped() => return,
            };
            let tls = match handshake {
                Ok(Ok(tls)) => tls,
                Ok(Err(e)) => {
                    METRICS.handshake(limits.name, "refused");
                    refused_handshake(peer, &e);
                    return;
                }
                Err(_) => {
                    METRICS.handshake(limits.name, "timeout");
                    tracing::debug!(%peer, "TLS handshake not done within the header deadline");
                    return;
                }
            };
            METRICS.handshake(limits.name, "accepted");
            let peer_cert = tls.get_ref().1.peer_certificates().and_then(PeerCert::of);
            handle(Accepted {
                tls,
                peer,
                peer_cert,
                accepted,
                stopping,
            })
            .await;
        });
    }
    drop(listener);
    connections.close();
    connections.wait().await;
}

/// Serves HTTPS on `listener` with `service`, within `limits`. With a
/// `watch`, each connection is ended (after any request in flight) when the
/// watch says so.
pub async fn serve<S, B>(
    listener: TcpListener,
    config: Arc<ServerConfig>,
    service: S,
    watch: Option<Arc<dyn ConnectionWatch>>,
    limits: Limits,
    stopping: Stopping,
) where
    S: Service<Request<Body>, Response = Response<B>, Error = Infallible>
        + Clone
        + Send
        + Sync
        + 'static,
    S::Future: Send + 'static,
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let mut http = auto::Builder::new(TokioExecutor::new());
    http.http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    http.http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(Some(Duration::from_secs(30)))
        .keep_alive_timeout(Duration::from_secs(10));
    let http = Arc::new(http);
    serve_tls(listener, config, limits, stopping, move |accepted| {
        let conn = conn::Conn {
            accepted,
            http: http.clone(),
            service: service.clone(),
            watch: watch.clone(),
            limits,
        };
        conn.run()
    })
    .await
}

/// A connection closed at once, logged at most once a second.
fn refused(peer: SocketAddr, why: &'static str) {
    if crate::telemetry::every_second(&REFUSED_LOGGED) {
        tracing::warn!(%peer, why, "connection refused (further ones this second not logged)");
    }
}

/// A failed handshake (an unknown or revoked device certificate, say),
/// logged at most once a second.
fn refused_handshake(peer: SocketAddr, e: &std::io::Error) {
    if crate::telemetry::every_second(&HANDSHAKE_LOGGED) {
        tracing::warn!(%peer, error = %e, "TLS handshake refused (further ones this second not logged)");
    }
}

static REFUSED_LOGGED: AtomicI64 = AtomicI64::new(0);
static HANDSHAKE_LOGGED: AtomicI64 = AtomicI64::new(0);
