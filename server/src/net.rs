//! HTTPS serving: TLS 1.2+ configuration and an accept loop that hands each
//! connection to its own task, where the handshake runs under a timeout so
//! that a stalled client can never hold up the others. The loop knows TLS
//! and connections, nothing of devices: a listener that must end some
//! connections early (a revoked device's) gives it a `ConnectionWatch`.

use std::{sync::Arc, time::Duration};

use futures_util::future::BoxFuture;
use sha2::{Digest, Sha256};

use std::convert::Infallible;

use axum::extract::ConnectInfo;
use hyper::{body::Incoming, Request, Response};
use hyper_util::{
    rt::{TokioExecutor, TokioIo, TokioTimer},
    server::conn::auto,
};
use rustls::{server::danger::ClientCertVerifier, ServerConfig};
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::{net::TcpListener, sync::Semaphore};
use tokio_rustls::TlsAcceptor;
use tower::{Service, ServiceExt};

pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// A request's headers must arrive within this time, also on a kept-alive
/// connection; a client that trickles bytes is cut off.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// Open connections per listener; beyond it new ones are closed at once.
pub const MAX_CONNECTIONS: usize = 10_000;

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
}

impl PeerCert {
    pub fn of(der: &[u8]) -> Option<PeerCert> {
        use base64::{engine::general_purpose::URL_SAFE_NO_PAD as B64, Engine};
        use x509_parser::prelude::{FromDer, X509Certificate};
        let (_, cert) = X509Certificate::from_der(der).ok()?;
        let digest = Sha256::digest(der);
        Some(PeerCert {
            thumbprint: hex::encode(digest),
            x5t_s256: B64.encode(digest),
            not_after: cert.validity().not_after.timestamp(),
        })
    }
}

/// Decides when a connection must end early, from its client certificate.
pub trait ConnectionWatch: Send + Sync + 'static {
    /// Resolves when the connection of this peer must end (after any
    /// request in flight); never, if it may live on.
    fn ended(&self, peer: Option<&PeerCert>) -> BoxFuture<'static, ()>;
}

/// Server configuration, TLS 1.2+ with h2 and HTTP/1.1: without client
/// authentication for the north listener; for the south, requiring a device
/// certificate that `verifier` accepts.
pub fn server_config(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    verifier: Option<Arc<dyn ClientCertVerifier>>,
) -> anyhow::Result<ServerConfig> {
    let builder = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?;
    let with_clients = verifier.is_some();
    let mut config = match verifier {
        Some(v) => builder.with_client_cert_verifier(v),
        None => builder.with_no_client_auth(),
    }
    .with_single_cert(chain, key)?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    if with_clients {
        // A resumed session would skip the verifier and its revocation
        // check: every device connection makes a full handshake.
        config.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
        config.send_tls13_tickets = 0;
    }
    Ok(config)
}

/// Serves HTTPS on `listener` with `service`. With a `watch`, each
/// connection is ended (after any request in flight) when the watch says so.
pub async fn serve<S, B>(
    listener: TcpListener,
    config: Arc<ServerConfig>,
    service: S,
    watch: Option<Arc<dyn ConnectionWatch>>,
) where
    S: Service<Request<Incoming>, Response = Response<B>, Error = Infallible>
        + Clone
        + Send
        + Sync
        + 'static,
    S::Future: Send + 'static,
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let acceptor = TlsAcceptor::from(config);
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let mut http = auto::Builder::new(TokioExecutor::new());
    http.http1()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT);
    http.http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(Some(Duration::from_secs(30)))
        .keep_alive_timeout(Duration::from_secs(10));
    let http = Arc::new(http);
    loop {
        let (tcp, peer) = match listener.accept().await {
            Ok(conn) => conn,
            Err(e) => {
                // Out of descriptors and the like: back off instead of spinning.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            tracing::warn!(%peer, "connection limit reached; closing");
            continue;
        };
        let acceptor = acceptor.clone();
        let app = service.clone();
        let http = http.clone();
        let watch = watch.clone();
        tokio::spawn(async move {
            let _slot = slot;
            let _ = tcp.set_nodelay(true);
            let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                Ok(Ok(tls)) => tls,
                Ok(Err(e)) => {
                    tracing::debug!(%peer, error = %e, "TLS handshake failed");
                    return;
                }
                Err(_) => {
                    tracing::debug!(%peer, "TLS handshake timed out");
                    return;
                }
            };
            let peer_cert = tls
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|c| c.first())
                .and_then(|c| PeerCert::of(c));
            let ended = watch.map(|w| w.ended(peer_cert.as_ref()));
            let service = hyper::service::service_fn(move |mut req: Request<Incoming>| {
                req.extensions_mut().insert(ConnectInfo(peer));
                if let Some(cert) = &peer_cert {
                    req.extensions_mut().insert(cert.clone());
                }
                app.clone().oneshot(req)
            });
            let conn = http.serve_connection_with_upgrades(TokioIo::new(tls), service);
            tokio::pin!(conn);
            let result = match ended {
                None => conn.await,
                Some(ended) => {
                    tokio::select! {
                        res = conn.as_mut() => res,
                        () = ended => {
                            conn.as_mut().graceful_shutdown();
                            conn.as_mut().await
                        }
                    }
                }
            };
            if let Err(e) = result {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        });
    }
}
