//! What every handler shares.

use std::sync::Arc;

use axum::extract::FromRef;
use leptos::config::LeptosOptions;

use crate::{
    auth::{jwt::JwtKeys, throttle::LoginThrottle},
    db::{Db, Engine},
    devices::{certs::DeviceCa, index::DeviceIndex, last_seen::LastSeen},
    ingest::writer::Writer,
    live::LiveHub,
    settings::Settings,
    tokens::revoked::RevokedSet,
};

/// Cheap to clone (one reference count), as every request clones it.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl AppState {
    pub fn new(shared: Shared) -> Self {
        AppState(Arc::new(shared))
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}

pub struct Shared {
    pub db: Db,
    pub engine: Engine,
    pub jwt: Arc<JwtKeys>,
    pub revoked: Arc<RevokedSet>,
    pub throttle: Arc<LoginThrottle>,
    pub settings: Arc<Settings>,
    pub devices: Arc<DeviceIndex>,
    pub device_ca: Arc<DeviceCa>,
    pub writer: Writer,
    pub last_seen: Arc<LastSeen>,
    pub live: Arc<LiveHub>,
    pub leptos: LeptosOptions,
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos.clone()
    }
}
