//! `POST /device/v1/certificate`: a device renews its certificate over
//! mutual TLS, from a CSR (its signature is the proof it holds the new
//! key). The device CA signs it for the same registration id; the
//! certificate that asked keeps working until the new one is first used,
//! or for `VIGIL_CERT_OVERLAP`.

use app::types::{Enrollment, RenewRequest, RenewResponse};
use axum::{
    extract::{FromRef, State},
    http::StatusCode,
    Json,
};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{store, MAX_USABLE};
use crate::{
    audit::{Audit, Entry as Audited, Event},
    devices::{DeviceError, Devices},
    error::{ApiError, ApiResult},
    extract::{ApiJson, DeviceCaller},
    openapi::{BadBody, Unauthorized},
    tokens::Tokens,
};

/// A CSR is a few hundred bytes; this bounds the parsing work.
const MAX_CSR: usize = 16 * 1024;
/// Certificates a device may be given in a day (renewing in a loop costs
/// signatures, rows and CRL entries).
const RENEWALS_PER_DAY: i64 = 10;

pub fn router<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    Devices: FromRef<S>,
    Tokens: FromRef<S>,
{
    OpenApiRouter::new().routes(routes!(renew))
}

/// Renews the certificate of this connection: 201 with the new one.
#[utoipa::path(post, path = "/device/v1/certificate", tag = "device API",
    operation_id = "renew_certificate",
    request_body = RenewRequest,
    responses((status = 201, body = RenewResponse), Unauthorized, BadBody,
        (status = 409, description = "conflict: the device holds the most certificates it may", body = app::types::ErrorBody),
        (status = 429, description = "rate_limited, with Retry-After: renewals per day", body = app::types::ErrorBody)),
    security(("token" = []), ("bearer" = [])))]
async fn renew(
    State(devices): State<Devices>,
    State(tokens): State<Tokens>,
    caller: DeviceCaller,
    ApiJson(body): ApiJson<RenewRequest>,
) -> ApiResult<(StatusCode, Json<RenewResponse>)> {
    if body.csr_pem.len() > MAX_CSR {
        return Err(DeviceError::Invalid("csr_pem is too large".into()).into());
    }
    let id = caller.device.id;
    let now = tokens.clock().now();
    let registration_id = devices
        .index()
        .registration_id(id)
        .ok_or(DeviceError::NotFound)?;
    let issued = devices
        .0
        .ca
        .sign_csr(&body.csr_pem, &registration_id, devices.0.cert_days)
        .map_err(DeviceError::from)?;
    let mut tx = devices.0.db.begin().await?;
    // One certificate change of a device at a time; then the certificate
    // asking must still be good (retired since this connection opened, it
    // gets nothing).
    if !store::lock_device(&mut tx, id).await?
        || !store::usable(&mut tx, &caller.device.thumbprint, now).await?
    {
        return Err(ApiError::TokenRevoked);
    }
    if store::added_since(&mut tx, id, now - 86_400).await? >= RENEWALS_PER_DAY {
        return Err(ApiError::RateLimited {
            retry_after: 3600,
            message: format!("a device may renew its certificate {RENEWALS_PER_DAY} times a day"),
        });
    }
    let new = store::NewCert {
        cert_sha256: &issued.thumbprint,
        device_id: id,
        kind: Enrollment::CaIssued,
        serial: Some(&issued.serial),
        not_after: Some(issued.not_after),
        first_used_at: None,
    };
    store::insert(&mut tx, &new, now).await?;
    // A renewal whose answer was lost is replaced by this one.
    store::retire_unused(&mut tx, id, &issued.thumbprint, now).await?;
    if store::usable_count(&mut tx, id, now).await? > MAX_USABLE {
        return Err(ApiError::Conflict(format!(
            "a device holds at most {MAX_USABLE} certificates at once; use the newest first"
        )));
    }
    let overlap = i64::try_from(devices.0.cert_overlap.as_secs()).unwrap_or(i64::MAX);
    store::retire(
        &mut tx,
        &caller.device.thumbprint,
        now.saturating_add(overlap),
    )
    .await?;
    store::make_primary(&mut tx, id, &issued.thumbprint).await?;
    Audit::record_in(
        &mut tx,
        &Audited::new(Event::CertificateRenewed)
            .actor(format!("device:{id}"))
            .subject(format!("device:{id}"))
            .detail(format!(
                "{} replaces {}",
                issued.thumbprint, caller.device.thumbprint
            )),
    )
    .await?;
    tx.commit().await?;
    devices.reload(id).await?;
    Ok((
        StatusCode::CREATED,
        Json(RenewResponse {
            certificate_pem: issued.pem,
        }),
    ))
}
