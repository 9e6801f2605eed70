//! Integration tests of the north API, over real HTTPS against a real
//! database: SQLite by default, PostgreSQL when VIGIL_TEST_DATABASE_URL is set.

mod attack;
mod audit;
mod auth;
mod cli;
mod cluster;
mod commands;
mod crash;
mod device_helpers;
mod devices;
mod errors;
mod gateway;
mod helpers;
mod instances;
mod keys;
mod live;
mod memory;
mod mqtt;
mod observe;
mod overview;
mod process;
mod stop;
mod summary;
mod tls;
mod tokens;
mod users;
