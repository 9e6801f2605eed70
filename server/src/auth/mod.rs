//! Authentication: password login, JWT signing and validation, the gateway
//! middleware that guards every protected route, and login throttling.

pub mod gateway;
pub mod jwt;
pub mod password;
pub mod routes;
pub mod throttle;
pub mod verified;
