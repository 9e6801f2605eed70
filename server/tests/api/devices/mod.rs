//! Devices over real mutual-TLS handshakes with certificates made here.

mod binding;
mod crl;
mod enrollment;
pub mod groups;
mod handshake;
mod list;
mod readings;
mod renewal;
mod revocation;

use app::types::{ReadingIn, ReadingsBatch};

use crate::helpers::TestApp;

fn one_reading(value: f64) -> ReadingsBatch {
    ReadingsBatch {
        readings: vec![ReadingIn {
            sensor: "temperature".to_owned(),
            value,
            unit: Some("C".to_owned()),
            ts: None,
        }],
    }
}

async fn handshake_refused(app: &TestApp, client: &reqwest::Client) {
    let res = client.post(app.south_url("/device/v1/token")).send().await;
    assert!(
        res.is_err(),
        "the handshake should fail, got {:?}",
        res.map(|r| r.status())
    );
}
