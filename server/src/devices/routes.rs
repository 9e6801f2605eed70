//! `/api/v1/devices`: enroll, show, revoke, revoke tokens (the list is
//! `list`).

use app::types::{Device, EnrollRequest, EnrollResponse, Enrollment, RevocationReason};
use axum::{
    extract::{FromRef, State},
    http::StatusCode,
    Json,
};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{
    certs,
    list::{__path_list, list},
    parse_name, parse_registration_id, store, DeviceError, Devices,
};
use crate::{
    audit::{Audit, Entry as Audited, Event},
    db,
    error::ApiResult,
    extract::{AdminUser, ApiJson, ApiPath, AuthUser, OperatorUser},
    openapi::{BadBody, BadRequest, Conflict, Forbidden, NotFound, Unauthorized},
    tokens::{
        store::{revoke_owner, Owner},
        Tokens,
    },
};

/// A CSR is a few hundred bytes; this bounds the parsing work.
const MAX_CSR: usize = 16 * 1024;

pub fn router<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    Devices: FromRef<S>,
    Tokens: FromRef<S>,
    Audit: FromRef<S>,
{
    OpenApiRouter::new()
        .routes(routes!(list, enroll))
        .routes(routes!(show))
        .routes(routes!(revoke))
        .routes(routes!(revoke_tokens))
        .merge(super::groups::router())
        .merge(super::certificates::router())
}

#[utoipa::path(get, path = "/v1/devices/{id}", tag = "devices", operation_id = "show_device",
    params(("id" = i64, Path, description = "device id")),
    responses((status = 200, body = Device), Unauthorized, BadRequest, NotFound),
    security(("token" = []), ("bearer" = [])))]
async fn show(
    State(devices): State<Devices>,
    _user: AuthUser,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<Device>> {
    let row = store::get(&devices.0.db, id)
        .await?
        .ok_or(DeviceError::NotFound)?;
    Ok(Json(row.device))
}

/// What enrollment trusts: a thumbprint, or a certificate signed from a CSR.
struct Trusted {
    thumbprint: String,
    serial: Option<String>,
    not_after: Option<i64>,
    enrollment: Enrollment,
    certificate_pem: Option<String>,
}

fn trust(
    devices: &Devices,
    body: &EnrollRequest,
    registration_id: &str,
) -> Result<Trusted, DeviceError> {
    match (&body.cert_sha256, &body.csr_pem) {
        (Some(t), None) => Ok(Trusted {
            thumbprint: certs::parse_thumbprint(t)?,
            serial: None,
            not_after: None,
            enrollment: Enrollment::SelfSigned,
            certificate_pem: None,
        }),
        (None, Some(csr)) if csr.len() <= MAX_CSR && csr.is_ascii() => {
            let issued = devices
                .0
                .ca
                .sign_csr(csr, registration_id, devices.0.cert_days)?;
            Ok(Trusted {
                thumbprint: issued.thumbprint,
                serial: Some(issued.serial),
                not_after: Some(issued.not_after),
                enrollment: Enrollment::CaIssued,
                certificate_pem: Some(issued.pem),
            })
        }
        (None, Some(csr)) if csr.len() > MAX_CSR => {
            Err(DeviceError::Invalid("csr_pem is too large".into()))
        }
        (None, Some(_)) => Err(DeviceError::Invalid(
            "csr_pem must be PEM: ASCII text (RFC 7468)".into(),
        )),
        _ => Err(DeviceError::Invalid(
            "give exactly one of cert_sha256 (self-signed) or csr_pem".into(),
        )),
    }
}

/// Enrolls a device by the thumbprint of its self-signed certificate, or
/// has the device CA sign a certificate from its CSR.
#[utoipa::path(post, path = "/v1/devices", tag = "devices", operation_id = "enroll_device",
    request_body = EnrollRequest,
    responses((status = 201, body = EnrollResponse), Unauthorized, Forbidden, BadBody, Conflict),
    security(("token" = []), ("bearer" = [])))]
async fn enroll(
    State(devices): State<Devices>,
    State(audit): State<Audit>,
    OperatorUser(user): OperatorUser,
    ApiJson(body): ApiJson<EnrollRequest>,
) -> ApiResult<(StatusCode, Json<EnrollResponse>)> {
    let registration_id = parse_registration_id(&body.registration_id)?;
    let name = parse_name(&body.name)?;
    let trusted = trust(&devices, &body, registration_id)?;
    let new = store::NewDevice {
        registration_id,
        name,
        cert_sha256: &trusted.thumbprint,
        cert_serial: trusted.serial.as_deref(),
        enrollment: trusted.enrollment,
        group_id: None,
        cert_not_after: trusted.not_after,
    };
    let mut tx = devices.0.db.begin().await?;
    let row = match store::insert(&mut tx, &new, db::now()).await {
        Ok(row) => row,
        Err(e) if db::is_unique_violation(&e) => {
            return Err(DeviceError::Taken(
                "a device with this registration_id or certificate is already enrolled".into(),
            )
            .into())
        }
        Err(e) => return Err(e.into()),
    };
    tx.commit().await?;
    devices.reload(row.device.id).await?;
    audit
        .record(
            Audited::new(Event::DeviceEnrolled)
                .actor(user.actor())
                .subject(format!("device:{}", row.device.id))
                .detail(format!("{registration_id} ({})", trusted.enrollment)),
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(EnrollResponse {
            device: row.device,
            certificate_pem: trusted.certificate_pem,
        }),
    ))
}

/// Revokes a device: refused at the next handshake, tokens revoked, open
/// connections ended.
#[utoipa::path(post, path = "/v1/devices/{id}/revoke", tag = "devices",
    operation_id = "revoke_device",
    params(("id" = i64, Path, description = "device id")),
    responses((status = 204, description = "revoked"), Unauthorized, Forbidden, BadRequest,
        NotFound),
    security(("token" = []), ("bearer" = [])))]
async fn revoke(
    State(devices): State<Devices>,
    State(tokens): State<Tokens>,
    State(audit): State<Audit>,
    AdminUser(admin): AdminUser,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<StatusCode> {
    let revoked = store::revoke(&devices.0.db, id, tokens.clock().now())
        .await?
        .ok_or(DeviceError::NotFound)?;
    tokens.refuse(revoked);
    devices.index().revoke(id);
    audit
        .record(
            Audited::new(Event::DeviceRevoked)
                .actor(admin.actor())
                .subject(format!("device:{id}")),
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Revokes the device's tokens only; its certificate keeps working.
#[utoipa::path(post, path = "/v1/devices/{id}/revoke-tokens", tag = "devices",
    operation_id = "revoke_device_tokens",
    params(("id" = i64, Path, description = "device id")),
    responses((status = 204, description = "revoked"), Unauthorized, Forbidden, BadRequest,
        NotFound),
    security(("token" = []), ("bearer" = [])))]
async fn revoke_tokens(
    State(devices): State<Devices>,
    State(tokens): State<Tokens>,
    State(audit): State<Audit>,
    OperatorUser(user): OperatorUser,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<StatusCode> {
    if !store::exists(&devices.0.db, id).await? {
        return Err(DeviceError::NotFound.into());
    }
    let revoked = revoke_owner(
        &devices.0.db,
        Owner::Device(id),
        RevocationReason::AdminRevoked,
        tokens.clock().now(),
        None,
    )
    .await?;
    tokens.refuse(revoked);
    audit
        .record(
            Audited::new(Event::DeviceTokensRevoked)
                .actor(user.actor())
                .subject(format!("device:{id}")),
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
