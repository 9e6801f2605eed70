//! The south listener's request layer: every request must come over a
//! connection whose client certificate belongs to an enrolled device that is
//! still active, and is still in date; the handler receives it as
//! `AuthDevice`. (The handshake already refused unknown and expired
//! certificates; this catches a device revoked, or a certificate expired,
//! since its connection opened.)

use std::{
    future::{ready, Ready},
    task::{Context, Poll},
};

use axum::{
    extract::Request,
    http::{header, HeaderValue},
    response::{IntoResponse, Response},
};
use futures_util::future::Either;
use tower::{Layer, Service};

use super::{groups::Registering, Devices};
use crate::{clock::Clock, error::ApiError, extract::AuthDevice, net::PeerCert, tokens::Tokens};

#[derive(Clone)]
pub struct DeviceLayer {
    devices: Devices,
    tokens: Tokens,
    clock: Clock,
}

impl DeviceLayer {
    pub fn new(devices: Devices, tokens: Tokens, clock: Clock) -> Self {
        DeviceLayer {
            devices,
            tokens,
            clock,
        }
    }
}

impl<S> Layer<S> for DeviceLayer {
    type Service = DeviceGate<S>;
    fn layer(&self, inner: S) -> DeviceGate<S> {
        DeviceGate {
            inner,
            devices: self.devices.clone(),
            tokens: self.tokens.clone(),
            clock: self.clock.clone(),
        }
    }
}

#[derive(Clone)]
pub struct DeviceGate<S> {
    inner: S,
    devices: Devices,
    tokens: Tokens,
    clock: Clock,
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
        let now = self.clock.now();
        let registering = req.uri().path() == REGISTER;
        match identify(
            &self.devices,
            req.extensions().get::<PeerCert>(),
            now,
            registering,
        ) {
            Ok(Caller::Device(device, first_use)) => {
                // Rare (a certificate's first request): no second index
                // read on every other one.
                if first_use {
                    self.devices.used(
                        &self.tokens,
                        device.id,
                        &device.thumbprint,
                        device.cert_not_after,
                    );
                }
                req.extensions_mut().insert(device);
                Either::Right(self.inner.call(req))
            }
            Ok(Caller::Registering(cert)) => {
                req.extensions_mut().insert(Registering(cert));
                Either::Right(self.inner.call(req))
            }
            Err(e) => {
                let thumbprint = req
                    .extensions()
                    .get::<PeerCert>()
                    .map(|c| c.thumbprint.as_str());
                crate::telemetry::refused(e.code(), thumbprint, req.uri().path());
                let expired = matches!(e, ApiError::CertificateExpired);
                let mut res = e.into_response();
                if expired {
                    // Its certificate is over: so is the connection (HTTP/1;
                    // the connection's watch ends an HTTP/2 one).
                    res.headers_mut()
                        .insert(header::CONNECTION, HeaderValue::from_static("close"));
                }
                Either::Left(ready(Ok(res)))
            }
        }
    }
}

/// The one route a certificate that no device has yet may reach.
const REGISTER: &str = "/device/v1/register";

enum Caller {
    /// The device, and whether its certificate's first use is still to be
    /// recorded.
    Device(AuthDevice, bool),
    Registering(PeerCert),
}

fn identify(
    devices: &Devices,
    cert: Option<&PeerCert>,
    now: i64,
    registering: bool,
) -> Result<Caller, ApiError> {
    let cert = cert.ok_or(ApiError::TokenInvalid)?;
    if now > cert.not_after {
        return Err(ApiError::CertificateExpired);
    }
    // The handshake let it in without a device: its chain ends at an
    // enrollment group's CA. It may register, and nothing else.
    let Some(entry) = devices.index().get(&cert.thumbprint) else {
        return if registering {
            Ok(Caller::Registering(cert.clone()))
        } else {
            Err(ApiError::Refused(
                "this certificate is not registered: POST /device/v1/register first".into(),
            ))
        };
    };
    // Revoked, or the certificate retired, after this connection's
    // handshake: its next request stops here.
    if !entry.usable_at(now) {
        return Err(ApiError::TokenRevoked);
    }
    Ok(Caller::Device(
        AuthDevice {
            id: entry.id,
            thumbprint: cert.thumbprint.clone(),
            x5t_s256: cert.x5t_s256.clone(),
            cert_not_after: cert.not_after,
        },
        entry.first_use_pending,
    ))
}
