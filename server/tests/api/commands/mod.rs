//! Commands: sent by operators, delivered to their device by long-poll,
//! answered once, expired, cancelled, and refused to revoked devices.

mod delivery;
mod lifecycle;
mod north;

use app::types::{Command, Device};
use reqwest::{Client, Response};
use serde_json::{json, Value};

use crate::{device_helpers::*, helpers::*};

/// An app, its admin's token, and one enrolled device with a token.
pub struct Fixture {
    pub app: TestApp,
    pub admin: String,
    pub device: Device,
    pub client: Client,
    pub token: String,
}

pub async fn fixture() -> Fixture {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (device, _, client) = app.enrolled_device(&admin, "actuator").await;
    let token = device_token(&app, &client).await.token;
    Fixture {
        app,
        admin,
        device,
        client,
        token,
    }
}

impl Fixture {
    /// `POST /api/v1/devices/{device}/commands{query}` with this body.
    pub async fn send_raw(&self, user: &str, device: i64, query: &str, body: Value) -> Response {
        self.app
            .post(
                &format!("/api/v1/devices/{device}/commands{query}"),
                user,
                Some(body),
            )
            .await
    }

    /// Sends a command to the fixture's device as the admin; must succeed.
    pub async fn send(&self, name: &str, payload: Value) -> Command {
        let res = self
            .send_raw(
                &self.admin,
                self.device.id,
                "",
                json!({"name": name, "payload": payload}),
            )
            .await;
        assert_eq!(res.status(), 201);
        res.json().await.unwrap()
    }

    pub async fn command(&self, id: i64) -> Command {
        let res = self
            .app
            .get(&format!("/api/v1/commands/{id}"), &self.admin)
            .await;
        assert_eq!(res.status(), 200);
        res.json().await.unwrap()
    }

    pub async fn list(&self, query: &str) -> Vec<Command> {
        let res = self
            .app
            .get(
                &format!("/api/v1/devices/{}/commands{query}", self.device.id),
                &self.admin,
            )
            .await;
        assert_eq!(res.status(), 200);
        res.json().await.unwrap()
    }
}

/// `GET /device/v1/commands?wait=` as a device.
pub async fn poll(
    app: &TestApp,
    client: &Client,
    token: &str,
    wait: &str,
) -> reqwest::Result<Response> {
    client
        .get(app.south_url(&format!("/device/v1/commands?wait={wait}")))
        .header("x-access-token", token)
        .send()
        .await
}

/// `POST /device/v1/commands/{id}/result` as a device.
pub async fn answer(app: &TestApp, client: &Client, token: &str, id: i64, body: Value) -> Response {
    client
        .post(app.south_url(&format!("/device/v1/commands/{id}/result")))
        .header("x-access-token", token)
        .json(&body)
        .send()
        .await
        .unwrap()
}
