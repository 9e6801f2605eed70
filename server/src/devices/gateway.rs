//! The south listener's request layer: every request must come over a
//! connection whose client certificate belongs to an enrolled device that is
//! still active; the handler receives it as `AuthDevice`. (The handshake
//! already refused unknown certificates; this catches a device revoked
//! since its connection opened.)

use std::{
    future::{ready, Ready},
    task::{Context, Poll},
};

use axum::{
    extract::Request,
    response::{IntoResponse, Response},
};
use futures_util::future::Either;
use tower::{Layer, Service};

use super::Devices;
use crate::{error::ApiError, extract::AuthDevice, net::PeerCert};

#[derive(Clone)]
pub struct DeviceLayer {
    devices: Devices,
}

impl DeviceLayer {
    pub fn new(devices: Devices) -> Self {
        DeviceLayer { devices }
    }
}

impl<S> Layer<S> for DeviceLayer {
    type Service = DeviceGate<S>;
    fn layer(&self, inner: S) -> DeviceGate<S> {
        DeviceGate {
            inner,
            devices: self.devices.clone(),
        }
    }
}

#[derive(Clone)]
pub struct DeviceGate<S> {
    inner: S,
    devices: Devices,
}

impl<S> Service<Request> for DeviceGate<S>
where
    S: Service<Request, Response = Response>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Either<Ready<Result<Response, S::Error>>, S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request) -> Self::Future {
        match identify(&self.devices, req.extensions().get::<PeerCert>()) {
            Ok(device) => {
                req.extensions_mut().insert(device);
                Either::Right(self.inner.call(req))
            }
            Err(e) => Either::Left(ready(Ok(e.into_response()))),
        }
    }
}

fn identify(devices: &Devices, cert: Option<&PeerCert>) -> Result<AuthDevice, ApiError> {
    let cert = cert.ok_or(ApiError::TokenInvalid)?;
    let entry = devices
        .index()
        .get(&cert.thumbprint)
        .ok_or(ApiError::TokenInvalid)?;
    // Revoked after this connection's handshake: its next request stops here.
    if !entry.active {
        return Err(ApiError::TokenRevoked);
    }
    Ok(AuthDevice {
        id: entry.id,
        thumbprint: cert.thumbprint.clone(),
        x5t_s256: cert.x5t_s256.clone(),
        cert_not_after: cert.not_after,
    })
}
