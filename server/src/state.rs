//! The composition root of the handlers' state: every capability's handle,
//! and which part each handler may take (`State<Tokens>`, `State<Devices>`…).
//! Capability modules never import this; their routers ask only for the
//! parts they use.

use std::sync::Arc;

use axum::extract::FromRef;
use leptos::config::LeptosOptions;

use crate::{
    audit::Audit,
    auth::throttle::LoginThrottle,
    clock::Clock,
    commands::Commands,
    db::{Db, Engine},
    devices::Devices,
    ingest::{quota::Quotas, writer::Writer, Pipeline},
    live::LiveHub,
    mqtt::Sessions,
    stopping::Stopping,
    tokens::Tokens,
};

/// Cheap to clone (one reference count), as every request clones it.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

pub struct Shared {
    pub db: Db,
    pub engine: Engine,
    pub clock: Clock,
    pub tokens: Tokens,
    pub audit: Audit,
    pub throttle: Arc<LoginThrottle>,
    pub devices: Devices,
    pub writer: Writer,
    pub quotas: Quotas,
    pub live: LiveHub,
    pub commands: Commands,
    pub ingest: Pipeline,
    /// Open MQTT sessions.
    pub mqtt_sessions: Sessions,
    /// The instance's orderly stop.
    pub stopping: Stopping,
    pub leptos: LeptosOptions,
    /// The dashboard's files under hashed names, when built.
    pub assets: Option<Arc<crate::assets::Assets>>,
}

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

macro_rules! part {
    ($ty:ty, $field:ident) => {
        impl FromRef<AppState> for $ty {
            fn from_ref(state: &AppState) -> Self {
                state.0.$field.clone()
            }
        }
    };
}

part!(Db, db);
part!(Engine, engine);
part!(Tokens, tokens);
part!(Audit, audit);
part!(Arc<LoginThrottle>, throttle);
part!(Devices, devices);
part!(Writer, writer);
part!(Quotas, quotas);
part!(LiveHub, live);
part!(Commands, commands);
part!(Pipeline, ingest);
part!(LeptosOptions, leptos);
part!(Stopping, stopping);
