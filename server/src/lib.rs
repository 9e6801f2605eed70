//! Vigil, a secure IoT platform: the server library behind the `vigil`
//! binary. Each module owns one capability.

pub mod api;
pub mod audit;
pub mod auth;
pub mod db;
pub mod device_cli;
pub mod devices;
pub mod error;
pub mod ingest;
pub mod live;
pub mod net;
pub mod pki;
pub mod readings;
pub mod settings;
pub mod south;
pub mod startup;
pub mod state;
pub mod telemetry;
pub mod tokens;
pub mod users;
pub mod web;
