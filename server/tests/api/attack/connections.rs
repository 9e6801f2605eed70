//! Connections that hold a slot without using it, and one address taking
//! every slot.

use std::time::{Duration, Instant};

use tokio::io::AsyncWriteExt;

use super::*;
use crate::helpers::*;

#[tokio::test]
async fn idle_tls_raw_tcp_and_half_an_http2_preface_are_closed_within_the_header_deadline() {
    let app = spawn_with(|s| s.header_timeout = Duration::from_secs(1)).await;
    let started = Instant::now();
    let mut raw = tcp_from(ip("127.0.0.1"), app.addr).await.unwrap();
    let mut idle = tls_from(&app, ip("127.0.0.1"), &[b"http/1.1"]).await;
    let mut half = tls_from(&app, ip("127.0.0.1"), &[b"h2"]).await;
    half.write_all(b"PRI * HTTP/2.0\r\n").await.unwrap();
    half.flush().await.unwrap();
    for (what, closed) in [
        (
            "raw TCP",
            closed_within(&mut raw, Duration::from_secs(4)).await,
        ),
        (
            "idle TLS",
            closed_within(&mut idle, Duration::from_secs(4)).await,
        ),
        (
            "half an HTTP/2 preface",
            closed_within(&mut half, Duration::from_secs(4)).await,
        ),
    ] {
        assert!(closed, "{what} still open");
    }
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "not closed before the deadline either"
    );
    // The listener still serves others.
    assert_eq!(
        app.client
            .get(app.url("/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}

#[tokio::test]
async fn a_head_trickled_byte_by_byte_does_not_outlive_the_deadline() {
    let app = spawn_with(|s| s.header_timeout = Duration::from_secs(1)).await;
    let mut tls = tls_from(&app, ip("127.0.0.1"), &[b"http/1.1"]).await;
    let trickle = async {
        for b in b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: "
            .iter()
            .cycle()
        {
            if tls.write_all(&[*b]).await.is_err() {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        false
    };
    let cut = tokio::time::timeout(Duration::from_secs(5), trickle).await;
    assert_eq!(cut.ok(), Some(true), "the trickling client was cut off");
}

#[tokio::test]
async fn one_address_is_held_to_its_cap_while_another_is_served() {
    let app = spawn_with(|s| s.max_connections_per_ip = 3).await;
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(tls_from(&app, ip("127.0.0.2"), &[b"http/1.1"]).await);
    }
    // The fourth from the same address is closed at once, before any TLS.
    let mut fourth = tcp_from(ip("127.0.0.2"), app.addr).await.unwrap();
    assert!(closed_within(&mut fourth, Duration::from_secs(1)).await);
    let other = reqwest::Client::builder()
        .local_address(ip("127.0.0.3"))
        .tls_built_in_root_certs(false)
        .add_root_certificate(
            reqwest::Certificate::from_pem(
                &std::fs::read(app.data_path().join("pki/platform-ca.pem")).unwrap(),
            )
            .unwrap(),
        )
        .build()
        .unwrap();
    let res = other.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    // A slot given back is a slot again.
    drop(held.pop());
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut again = tls_from(&app, ip("127.0.0.2"), &[b"http/1.1"]).await;
    again
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 12];
    tokio::io::AsyncReadExt::read_exact(&mut again, &mut buf)
        .await
        .unwrap();
    assert_eq!(&buf, b"HTTP/1.1 200");
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_but_a_live_stream_is_not() {
    let app = spawn_with(|s| s.idle_timeout = Duration::from_secs(1)).await;
    let token = app.admin_token().await;
    let mut kept = tls_from(&app, ip("127.0.0.1"), &[b"http/1.1"]).await;
    kept.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 12];
    tokio::io::AsyncReadExt::read_exact(&mut kept, &mut buf)
        .await
        .unwrap();
    assert_eq!(&buf, b"HTTP/1.1 200");
    let mut stream = app
        .client
        .get(app.url("/api/v1/live"))
        .header("x-access-token", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    let ready = stream.chunk().await.unwrap().unwrap();
    assert!(String::from_utf8_lossy(&ready).contains("ready"));
    assert!(
        closed_within(&mut kept, Duration::from_secs(4)).await,
        "idle connection closed"
    );
    // Three idle timeouts later the stream is still open: it is in flight.
    tokio::time::sleep(Duration::from_secs(3)).await;
    match tokio::time::timeout(Duration::from_millis(300), stream.chunk()).await {
        Err(_) => {} // nothing to read yet: still open
        Ok(Ok(Some(_))) => {}
        Ok(other) => panic!("the live stream was closed: {other:?}"),
    }
}
