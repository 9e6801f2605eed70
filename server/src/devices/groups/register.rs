//! `POST /device/v1/register` on the south listener: a device whose
//! certificate chains to an active group's CA registers itself. Until it
//! has, the request layer lets that certificate reach this route only.

use app::types::{Enrollment, Registered};
use axum::{
    extract::{FromRef, FromRequestParts, State},
    http::{request::Parts, StatusCode},
    Json,
};
use rustls::pki_types::UnixTime;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{
    ca,
    store::{self, Outcome, RegisterError},
};
use crate::{
    audit::{Entry as Audited, Event},
    db,
    devices::{store as devices_store, DeviceError, Devices},
    error::{ApiError, ApiResult},
    extract::AuthDevice,
    net::PeerCert,
    openapi::Unauthorized,
};

pub fn router<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    Devices: FromRef<S>,
{
    OpenApiRouter::new().routes(routes!(register))
}

/// A connection whose certificate no device has yet; put in the request by
/// the request layer for the registration route only.
#[derive(Debug, Clone)]
pub struct Registering(pub PeerCert);

/// Who calls the registration route: a device already registered, or a
/// certificate about to be.
enum Caller {
    Known(AuthDevice),
    New(PeerCert),
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        if let Some(d) = parts.extensions.get::<AuthDevice>() {
            return Ok(Caller::Known(d.clone()));
        }
        parts
            .extensions
            .get::<Registering>()
            .map(|r| Caller::New(r.0.clone()))
            .ok_or(ApiError::TokenInvalid)
    }
}

/// Registers the device of this connection's certificate through the
/// enrollment group whose CA its chain ends at: 201 with the new device,
/// 200 with the same device afterwards. The registration id is the
/// certificate's CN. A revoked, expired or full group: 403 `forbidden`;
/// a registration id another certificate holds: 409 `conflict`.
#[utoipa::path(post, path = "/device/v1/register", tag = "device API",
    operation_id = "register_device",
    responses((status = 201, body = Registered, description = "registered"),
        (status = 200, body = Registered, description = "registered before"),
        Unauthorized,
        (status = 403, description = "forbidden: the group is revoked, expired or full", body = app::types::ErrorBody),
        (status = 409, description = "conflict: another certificate holds this registration id", body = app::types::ErrorBody)),
    security())]
async fn register(
    State(devices): State<Devices>,
    caller: Caller,
) -> ApiResult<(StatusCode, Json<Registered>)> {
    let cert = match caller {
        Caller::Known(device) => {
            let row = devices_store::get(&devices.0.db, device.id)
                .await?
                .ok_or(DeviceError::NotFound)?;
            return Ok((StatusCode::OK, Json(Registered { device: row.device })));
        }
        Caller::New(cert) => cert,
    };
    let now = db::now();
    let (end_entity, intermediates) = cert.chain.split_first().ok_or(ApiError::TokenInvalid)?;
    let registrant = ca::registrant(end_entity, now).map_err(|_| ApiError::TokenInvalid)?;
    let unix = UnixTime::since_unix_epoch(std::time::Duration::from_secs(now.max(0) as u64));
    let group_id = devices
        .groups()
        .matching(end_entity, intermediates, unix)
        .ok_or_else(|| closed(None))?;
    let new = devices_store::NewDevice {
        registration_id: &registrant.registration_id,
        name: &registrant.registration_id,
        cert_sha256: &cert.thumbprint,
        cert_serial: Some(&registrant.serial),
        enrollment: Enrollment::Group,
        group_id: Some(group_id),
        cert_not_after: Some(registrant.not_after),
    };
    let audited = |d: &devices_store::DeviceRow| {
        Audited::new(Event::DeviceRegistered)
            .actor(format!("device:{}", d.device.id))
            .subject(format!("device:{}", d.device.id))
            .detail(format!("{} (group {group_id})", d.device.registration_id))
    };
    let (status, row) = match store::register(&devices.0.db, group_id, &new, now, audited).await {
        Ok(Outcome::Created(row)) => (StatusCode::CREATED, row),
        Ok(Outcome::Existing(row)) => (StatusCode::OK, row),
        Err(RegisterError::Closed) => {
            let group = store::get(&devices.0.db, group_id).await?;
            return Err(closed(group.map(|g| g.group)));
        }
        Err(RegisterError::Taken) => {
            return Err(ApiError::Conflict(format!(
                "another certificate holds the registration id {}",
                registrant.registration_id
            )))
        }
        Err(RegisterError::Store(e)) => return Err(e.into()),
    };
    devices.reload(row.device.id).await?;
    Ok((status, Json(Registered { device: row.device })))
}

/// Why the group takes no registration, as the device is told.
fn closed(group: Option<app::types::EnrollmentGroup>) -> ApiError {
    use app::types::GroupStatus;
    let why = match group {
        Some(g) if g.status == GroupStatus::Revoked => "its enrollment group is revoked",
        Some(g) if g.max_devices.is_some_and(|m| g.registered >= m) => {
            "its enrollment group is full (max_devices)"
        }
        Some(g) if g.expires_at.is_some() => "its enrollment group has expired",
        _ => "no enrollment group open for registration accepts this certificate",
    };
    ApiError::Refused(format!("registration refused: {why}"))
}
