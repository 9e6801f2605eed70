//! MQTT (3.1.1 and 5.0) on two TLS listeners: devices
//! (`VIGIL_MQTT_ADDR`, mutual TLS) and client applications
//! (`VIGIL_MQTT_NORTH_ADDR`, user tokens). Not a general broker: each client may use only its
//! own topics, there are no retained messages and no persistent sessions
//! (commands wait in Vigil's store, not in an MQTT session). Connections
//! go through the same accept loop as HTTPS (`net::serve_tls`: caps per
//! address and per listener, the handshake within the header deadline);
//! the CONNECT must follow within that same deadline, and no packet may
//! exceed 256 KiB.
//!
//! - `wire`: packets of either version, in Vigil's terms.
//! - `device`: a device's session.
//! - `client`: a client application's session.
//! - `sessions`: the registry of open sessions.

mod client;
mod device;
pub mod sessions;
mod wire;

use std::{sync::Arc, time::Duration};

use tokio::net::TcpListener;

use crate::{
    commands::Commands,
    db::Db,
    devices::Devices,
    ingest::Pipeline,
    live::LiveHub,
    net::{self, Limits},
    stopping::Stopping,
    tokens::Tokens,
};
pub use sessions::Sessions;

/// The largest packet taken or sent.
pub const MAX_PACKET: u32 = 256 * 1024;
/// QoS 1 messages of one connection being stored at once; past it the
/// connection is not read until one is done (back-pressure).
pub const MAX_IN_FLIGHT: usize = 16;

/// What the sessions use. Cheap to share.
pub struct Mqtt {
    pub db: Db,
    pub live: LiveHub,
    pub devices: Devices,
    pub tokens: Tokens,
    pub ingest: Pipeline,
    pub commands: Commands,
    pub sessions: Sessions,
    /// From accept to CONNECT, TLS handshake included.
    pub connect_within: Duration,
    pub max_packet: u32,
    pub max_in_flight: usize,
}

/// Resolves when a client silent since `heard` has outlived 1.5 times its
/// keep-alive (never, when it has none).
async fn silence_over(keep_alive: u16, heard: tokio::time::Instant) {
    if keep_alive == 0 {
        return std::future::pending().await;
    }
    tokio::time::sleep_until(heard + Duration::from_millis(u64::from(keep_alive) * 1500)).await
}

/// Serves the client applications' listener.
pub async fn serve_clients(
    listener: TcpListener,
    config: Arc<rustls::ServerConfig>,
    limits: Limits,
    stopping: Stopping,
    mqtt: Arc<Mqtt>,
) {
    net::serve_tls(listener, config, limits, stopping, move |accepted| {
        client::session(mqtt.clone(), accepted)
    })
    .await
}

/// Serves the device listener.
pub async fn serve_devices(
    listener: TcpListener,
    config: Arc<rustls::ServerConfig>,
    limits: Limits,
    stopping: Stopping,
    mqtt: Arc<Mqtt>,
) {
    net::serve_tls(listener, config, limits, stopping, move |accepted| {
        device::session(mqtt.clone(), accepted)
    })
    .await
}
