#![recursion_limit = "256"]
//! Vigil, a secure IoT platform: the server library behind the `vigil`
//! binary.
//!
//! Vigil serves two HTTPS listeners:
//! - **north** (`VIGIL_HTTPS_ADDR`): the dashboard and the user API under
//!   `/api`, for people and their applications. Every protected route sits
//!   behind the gateway (`auth::gateway`), which checks the user's JWT.
//! - **south** (`VIGIL_DEVICE_ADDR`): the device API under `/device`, over
//!   mutual TLS. The handshake admits only enrolled, active device
//!   certificates (`devices::verifier`); each request's device comes from
//!   its connection's certificate, and its token must be bound to it.
//!
//! Each capability owns its module — its routes, its SQL (`store.rs`) and
//! its error type: `tokens` (the registry: issuing and checking every
//! token), `audit`, `users`, `auth` (login and the gateway), `devices`,
//! `ingest`, `readings`, `live`, `commands`, `mqtt` (the device listener
//! over MQTT), `feed` (changes made by other instances on one PostgreSQL
//! database). A module uses only those before it in that list. Around
//! them: `net` (TLS and the accept loop), `pki`, `db`, `clock`, `settings`,
//! `extract` and `error` (the HTTP layer's extractors and its one error
//! type), `metrics` (Prometheus), `stopping` (the orderly stop), and
//! `api`, `state`, `web` and `startup`, which assemble the application.

pub mod api;
pub mod assets;
pub mod audit;
pub mod auth;
pub mod clock;
pub mod commands;
pub mod db;
pub mod device_cli;
pub mod devices;
pub mod error;
pub mod extract;
pub mod feed;
pub mod ingest;
pub mod live;
pub mod metrics;
pub mod mqtt;
pub mod net;
pub mod openapi;
pub mod overview;
pub mod paging;
pub mod pki;
pub mod readings;
pub mod settings;
pub mod sql;
pub mod startup;
pub mod state;
pub mod stopping;
pub mod summary;
pub mod telemetry;
pub mod tokens;
pub mod users;
pub mod web;
