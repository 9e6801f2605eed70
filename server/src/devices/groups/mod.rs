//! Enrollment groups: zero-touch provisioning by CA (the Azure DPS idea).
//! An admin uploads a CA (root or intermediate) and proves they hold its
//! key; devices whose certificate chains to it, and whose CN is their
//! registration id, then register themselves over mutual TLS.
//!
//! - `ca`: the CA as uploaded, the proof of possession, a registering
//!   certificate's own checks.
//! - `index`: the groups in memory, for the handshake.
//! - `store`: SQL; registration in one transaction.
//! - `routes`: `/api/v1/enrollment-groups` (admin).
//! - `register`: `POST /device/v1/register` (south).

pub mod ca;
pub mod index;
mod register;
mod routes;
pub mod store;

pub use index::GroupIndex;
pub use register::{router as south_router, Registering};
pub use routes::router;
