//! Attacks on a running Vigil by one party — an anonymous client, a viewer,
//! one device — that must not take the platform away from the others
//! (issue "Holding up under attack"). Each test performs the attack and
//! shows that it fails.

mod connections;
mod flood;
mod logins;
mod passwords;
mod pki;
mod quotas;

use std::{
    net::{IpAddr, SocketAddr},
    sync::Arc,
    time::Duration,
};

use rustls_pki_types::{pem::PemObject, CertificateDer, ServerName};
use tokio::{
    io::{AsyncRead, AsyncReadExt},
    net::{TcpSocket, TcpStream},
};
use tokio_rustls::{client::TlsStream, TlsConnector};

use crate::helpers::TestApp;

/// A TCP connection to `to` from the loopback address `from`.
pub async fn tcp_from(from: IpAddr, to: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(from, 0))?;
    socket.connect(to).await
}

/// A TLS client trusting only this instance's platform CA.
pub fn connector(app: &TestApp, alpn: &[&[u8]]) -> TlsConnector {
    let pem = std::fs::read(app.data_path().join("pki/platform-ca.pem")).unwrap();
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&pem) {
        roots.add(cert.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    TlsConnector::from(Arc::new(config))
}

/// A completed TLS handshake with the north listener, from `from`.
pub async fn tls_from(app: &TestApp, from: IpAddr, alpn: &[&[u8]]) -> TlsStream<TcpStream> {
    let tcp = tcp_from(from, app.addr).await.unwrap();
    let name = ServerName::try_from("127.0.0.1").unwrap();
    connector(app, alpn).connect(name, tcp).await.unwrap()
}

/// Whether the peer closes the stream within `within` (end of stream or an
/// error while reading; any bytes it sends first are read and ignored).
pub async fn closed_within(stream: &mut (impl AsyncRead + Unpin), within: Duration) -> bool {
    let mut buf = [0u8; 4096];
    tokio::time::timeout(within, async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await
    .is_ok()
}

pub fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}
