//! Authentication of users: password login with throttling, logout, `me`,
//! and the gateway in front of every protected north route.

pub mod gateway;
mod routes;
pub mod throttle;

pub use routes::{public_router, router};
