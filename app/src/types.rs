//! Types of the public API, shared by the server, the browser and
//! `vigil-device`. Anything both sides match on (error codes, statuses) is
//! an enum here, serialized as the contract's string.

use serde::{Deserialize, Serialize};

/// Declares a string enum once: its variants, the contract's spelling of
/// each, and `as_str`/`parse` that agree with serde.
macro_rules! string_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:tt,)+ }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
        pub enum $name {
            $($(#[$vmeta])* #[serde(rename = $text)] $variant,)+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant,)+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)+
                }
            }

            pub fn parse(s: &str) -> Option<$name> {
                match s {
                    $($text => Some($name::$variant),)+
                    _ => None,
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

string_enum! {
    /// The `error` of every error answer.
    ErrorCode {
        TokenMissing = "token_missing",
        TokenInvalid = "token_invalid",
        TokenExpired = "token_expired",
        TokenRevoked = "token_revoked",
        InvalidCredentials = "invalid_credentials",
        Forbidden = "forbidden",
        TooManyAttempts = "too_many_attempts",
        RateLimited = "rate_limited",
        ValidationFailed = "validation_failed",
        NotFound = "not_found",
        Conflict = "conflict",
        PayloadTooLarge = "payload_too_large",
        MethodNotAllowed = "method_not_allowed",
        CertificateExpired = "certificate_expired",
        Internal = "internal",
    }
}

impl ErrorCode {
    /// The token presented is no good any more: the holder must sign in (or,
    /// for a device, obtain a token) again.
    pub fn ends_session(self) -> bool {
        matches!(
            self,
            ErrorCode::TokenMissing
                | ErrorCode::TokenInvalid
                | ErrorCode::TokenExpired
                | ErrorCode::TokenRevoked
        )
    }
}

/// Every error answer: `{"error": "<code>", "message": "<text>"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorBody {
    pub error: ErrorCode,
    pub message: String,
}

string_enum! {
    Role {
        Admin = "admin",
        Operator = "operator",
        Viewer = "viewer",
    }
}

string_enum! {
    /// Why a token was revoked (the contract's `blacklist_reason`).
    RevocationReason {
        Logout = "logout",
        AdminRevoked = "admin_revoked",
        UserDeleted = "user_deleted",
        RoleChanged = "role_changed",
        PasswordChanged = "password_changed",
        DeviceRevoked = "device_revoked",
        /// The certificate it was bound to was replaced or retired.
        CertificateRetired = "certificate_retired",
        Expired = "expired",
    }
}

string_enum! {
    /// What an audit log entry records.
    AuditEvent {
        LoginOk = "login_ok",
        LoginFailed = "login_failed",
        LoginThrottled = "login_throttled",
        Logout = "logout",
        TokenRevoked = "token_revoked",
        UserCreated = "user_created",
        UserDeleted = "user_deleted",
        RoleChanged = "role_changed",
        PasswordChanged = "password_changed",
        PasswordReset = "password_reset",
        DeviceEnrolled = "device_enrolled",
        DeviceRevoked = "device_revoked",
        DeviceTokensRevoked = "device_tokens_revoked",
        CommandSent = "command_sent",
        CommandCancelled = "command_cancelled",
        CommandAnswered = "command_answered",
        CommandExpired = "command_expired",
        GroupCreated = "group_created",
        GroupVerified = "group_verified",
        GroupRevoked = "group_revoked",
        DeviceRegistered = "device_registered",
        KeysRotated = "keys_rotated",
        CertificateRenewed = "certificate_renewed",
        CertificateAdded = "certificate_added",
        CertificateRetired = "certificate_retired",
    }
}

string_enum! {
    DeviceStatus {
        Active = "active",
        Revoked = "revoked",
    }
}

string_enum! {
    /// `status=` of the devices list: a device's status, or for an active
    /// device whether it was seen within `within` seconds.
    DeviceFilter {
        Active = "active",
        Revoked = "revoked",
        Online = "online",
        Offline = "offline",
    }
}

string_enum! {
    /// What the devices list is ordered by (`sort=`); ties go by id.
    DeviceSort {
        Id = "id",
        RegistrationId = "registration_id",
        /// Case-insensitive.
        Name = "name",
        Status = "status",
        /// Never seen sorts before any time.
        LastSeen = "last_seen",
        CreatedAt = "created_at",
    }
}

string_enum! {
    /// `order=` of a sorted list.
    SortOrder {
        Asc = "asc",
        Desc = "desc",
    }
}

/// The header of a list's answer that counts everything its filters
/// match, across all of its pages.
pub const TOTAL_COUNT_HEADER: &str = "x-total-count";

string_enum! {
    /// How a device's certificate came to be trusted.
    Enrollment {
        /// A self-signed certificate, enrolled by its SHA-256 thumbprint.
        SelfSigned = "self_signed",
        /// A certificate the platform's device CA signed from a CSR.
        CaIssued = "ca_issued",
        /// A certificate chaining to an enrollment group's CA, registered
        /// by the device itself.
        Group = "group",
    }
}

string_enum! {
    /// An enrollment group's state: `unverified` until its creator proves
    /// they hold the CA's key, then `active`, until `revoked`.
    GroupStatus {
        Unverified = "unverified",
        Active = "active",
        Revoked = "revoked",
    }
}

string_enum! {
    /// Where a command is in its life: `queued` → `delivered` → `succeeded`
    /// | `failed`, or `expired` | `cancelled`.
    CommandStatus {
        Queued = "queued",
        Delivered = "delivered",
        Succeeded = "succeeded",
        Failed = "failed",
        Expired = "expired",
        Cancelled = "cancelled",
    }
}

impl CommandStatus {
    /// Nothing changes a command in a final state.
    pub fn is_final(self) -> bool {
        !matches!(self, CommandStatus::Queued | CommandStatus::Delivered)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UserInfo {
    pub id: i64,
    pub username: String,
    pub role: Role,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LoginRequest {
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 64))]
    pub username: String,
    #[cfg_attr(feature = "openapi", schema(max_length = 256))]
    pub password: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LoginResponse {
    pub token: String,
    pub token_id: String,
    /// RFC 3339.
    pub expires_at: String,
    pub user: UserInfo,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreateUser {
    /// Letters, digits and `. _ @ -`; case does not tell users apart.
    #[cfg_attr(feature = "openapi", schema(pattern = "^[A-Za-z0-9._@-]{1,64}$"))]
    pub username: String,
    /// Judged by the password policy too (422 with the reason).
    #[cfg_attr(feature = "openapi", schema(min_length = 12, max_length = 256))]
    pub password: String,
    pub role: Role,
}

/// `POST /api/v1/auth/password`: a user changes their own password.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ChangePassword {
    #[cfg_attr(feature = "openapi", schema(max_length = 256))]
    pub current_password: String,
    /// Judged by the password policy (422 with the reason).
    #[cfg_attr(feature = "openapi", schema(min_length = 12, max_length = 256))]
    pub new_password: String,
}

/// `POST /api/v1/users/{id}/password`: an admin sets a user's password.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ResetPassword {
    /// Judged by the password policy (422 with the reason).
    #[cfg_attr(feature = "openapi", schema(min_length = 12, max_length = 256))]
    pub password: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UpdateUser {
    pub role: Role,
}

string_enum! {
    /// Whose token: a user's or a device's (`kind=` of the token list).
    TokenKind {
        User = "user",
        Device = "device",
    }
}

string_enum! {
    /// Where a token is in its life (`state=` of the token list):
    /// usable, revoked before its end, or past its end.
    TokenState {
        Active = "active",
        Revoked = "revoked",
        Expired = "expired",
    }
}

/// One entry of the token registry; never the token itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TokenInfo {
    pub token_id: String,
    pub user_id: Option<i64>,
    pub device_id: Option<i64>,
    pub issued_at: String,
    pub expires_at: String,
    pub blacklist: bool,
    pub blacklist_reason: Option<RevocationReason>,
    /// The owner's username or device name; `null` once the owner is gone.
    #[serde(default)]
    pub owner_name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditEntry {
    pub id: i64,
    pub ts: String,
    pub event: AuditEvent,
    pub actor: Option<String>,
    pub subject: Option<String>,
    pub ip: Option<String>,
    pub detail: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Device {
    pub id: i64,
    pub registration_id: String,
    pub name: String,
    pub status: DeviceStatus,
    /// Hex SHA-256 of the device certificate's DER.
    pub cert_sha256: String,
    pub enrollment: Enrollment,
    /// The enrollment group it registered through.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_id: Option<i64>,
    pub created_at: String,
    pub last_seen: Option<String>,
    /// The newest reading of each sensor.
    #[serde(default)]
    pub latest: Vec<Reading>,
    /// Commands sent to it and not yet final (`queued` or `delivered`).
    #[serde(default)]
    pub open_commands: i64,
}

/// Enrollment: exactly one of `cert_sha256` (self-signed certificate) or
/// `csr_pem` (the device CA signs a certificate).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct EnrollRequest {
    pub registration_id: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert_sha256: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub csr_pem: Option<String>,
}

/// How the OpenAPI document describes `EnrollRequest`: one of its two forms.
#[cfg(feature = "openapi")]
mod enroll_schema {
    use utoipa::{
        openapi::{schema::OneOfBuilder, RefOr, Schema},
        PartialSchema, ToSchema,
    };

    /// Enrollment of a self-signed certificate by its thumbprint.
    #[derive(ToSchema)]
    #[allow(dead_code)]
    struct EnrollByThumbprint {
        #[schema(pattern = "^[A-Za-z0-9._:-]{1,128}$")]
        registration_id: String,
        /// Printable: no control characters.
        #[schema(pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]{1,128}$")]
        name: String,
        /// Hex SHA-256 of the certificate's DER (colons allowed).
        #[schema(pattern = "^([0-9A-Fa-f]{64}|([0-9A-Fa-f]{2}:){31}[0-9A-Fa-f]{2})$")]
        cert_sha256: String,
    }

    /// Enrollment by a CSR, which the device CA signs.
    #[derive(ToSchema)]
    #[allow(dead_code)]
    struct EnrollByCsr {
        #[schema(pattern = "^[A-Za-z0-9._:-]{1,128}$")]
        registration_id: String,
        /// Printable: no control characters.
        #[schema(pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]{1,128}$")]
        name: String,
        /// A PKCS#10 request in PEM, at most 16 KiB: PEM is ASCII text
        /// (RFC 7468), so no escaped form of it can outgrow a request body.
        #[schema(max_length = 16384, pattern = "^[ -~\\t\\r\\n]*$")]
        csr_pem: String,
    }

    impl PartialSchema for super::EnrollRequest {
        fn schema() -> RefOr<Schema> {
            OneOfBuilder::new()
                .item(EnrollByThumbprint::schema())
                .item(EnrollByCsr::schema())
                .into()
        }
    }

    impl ToSchema for super::EnrollRequest {}
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EnrollResponse {
    pub device: Device,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate_pem: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeviceToken {
    pub token: String,
    pub token_id: String,
    pub expires_at: String,
}

/// One reading as a device sends it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReadingIn {
    #[cfg_attr(feature = "openapi", schema(pattern = "^[A-Za-z0-9_.:/-]{1,64}$"))]
    pub sensor: String,
    pub value: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    /// RFC 3339; the arrival time when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ts: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReadingsBatch {
    #[cfg_attr(feature = "openapi", schema(min_items = 1, max_items = 1000))]
    pub readings: Vec<ReadingIn>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Accepted {
    pub accepted: usize,
}

/// One stored reading as the API returns it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Reading {
    pub sensor: String,
    pub value: f64,
    pub unit: Option<String>,
    pub ts: String,
}

/// A device's readings over a time range, cut into equal buckets and
/// summed up per sensor: what a chart of a long range draws, without the
/// raw rows (`GET /api/v1/devices/{id}/readings/aggregate`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReadingsAggregate {
    /// The range, inclusive (RFC 3339, milliseconds).
    pub from: String,
    pub to: String,
    /// Each bucket's width in milliseconds; bucket `k` starts at
    /// `from + k * bucket_ms`.
    pub bucket_ms: i64,
    /// Buckets that hold at least one reading, by sensor then time.
    pub buckets: Vec<ReadingBucket>,
}

/// The readings of one sensor that fell in one bucket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReadingBucket {
    pub sensor: String,
    /// The bucket's start (RFC 3339, milliseconds).
    pub start: String,
    pub count: i64,
    pub min: f64,
    pub max: f64,
    pub avg: f64,
}

/// A reading as the live stream delivers it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LiveReading {
    pub device_id: i64,
    pub sensor: String,
    pub value: f64,
    pub unit: Option<String>,
    pub ts: String,
}

/// A command: a named request an operator sends to one device, which the
/// device answers. Times are RFC 3339; those not reached yet are `null`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Command {
    pub id: i64,
    pub device_id: i64,
    pub name: String,
    /// Any JSON, at most 16 KiB serialized.
    pub payload: serde_json::Value,
    pub status: CommandStatus,
    /// The device's answer, once final (at most 16 KiB serialized).
    pub result: Option<serde_json::Value>,
    /// The id of the user who sent it.
    pub created_by: i64,
    pub created_at: String,
    pub delivered_at: Option<String>,
    pub completed_at: Option<String>,
    pub expires_at: String,
}

/// `POST /api/v1/devices/{id}/commands`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NewCommand {
    #[cfg_attr(feature = "openapi", schema(pattern = "^[A-Za-z0-9_.:-]{1,64}$"))]
    pub name: String,
    /// Any JSON, at most 16 KiB serialized; `null` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload: Option<serde_json::Value>,
    /// Seconds the device has to answer (5–86400, default 60).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(minimum = 5, maximum = 86400))]
    pub ttl_s: Option<i64>,
}

/// A command as its device receives it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeviceCommand {
    pub id: i64,
    pub name: String,
    pub payload: serde_json::Value,
    pub expires_at: String,
}

/// `POST /device/v1/commands/{id}/result`: `status` is `succeeded` or
/// `failed`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CommandResult {
    #[cfg_attr(feature = "openapi", schema(pattern = "^(succeeded|failed)$"))]
    pub status: CommandStatus,
    /// Any JSON, at most 16 KiB serialized.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<serde_json::Value>,
}

/// An enrollment group: devices whose certificate chains to its CA register
/// themselves (`POST /device/v1/register`) once the group is `active`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EnrollmentGroup {
    pub id: i64,
    pub name: String,
    pub status: GroupStatus,
    /// The CN of the certificate, signed by the group's CA, that verifies
    /// the group.
    pub verification_code: String,
    /// Hex SHA-256 of the CA certificate's DER.
    pub ca_sha256: String,
    pub ca_subject: String,
    pub ca_not_after: String,
    pub max_devices: Option<i64>,
    pub expires_at: Option<String>,
    /// Devices registered through it (counted against `max_devices`).
    pub registered: i64,
    pub created_at: String,
    pub verified_at: Option<String>,
    pub revoked_at: Option<String>,
}

/// `POST /api/v1/enrollment-groups`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NewEnrollmentGroup {
    pub name: String,
    /// The group's CA certificate (root or intermediate), PEM: ASCII text,
    /// at most 16 KiB.
    #[cfg_attr(
        feature = "openapi",
        schema(max_length = 16384, pattern = "^[ -~\\t\\r\\n]*$")
    )]
    pub ca_pem: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_devices: Option<i64>,
    /// RFC 3339; registrations are refused from then on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
}

/// `POST /api/v1/enrollment-groups/{id}/verify`: a certificate whose CN is
/// the group's verification code, signed by the group's CA.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct VerifyGroup {
    /// PEM: ASCII text, at most 16 KiB.
    #[cfg_attr(
        feature = "openapi",
        schema(max_length = 16384, pattern = "^[ -~\\t\\r\\n]*$")
    )]
    pub certificate_pem: String,
}

/// `POST /api/v1/enrollment-groups/{id}/revoke`: with `devices`, every
/// device registered through the group is revoked too.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RevokeGroup {
    #[serde(default)]
    pub devices: bool,
}

/// A token signing key, as `GET /api/v1/keys` lists it (never its private
/// half): `current` signs; a `retired` one verifies until `verify_until`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SigningKey {
    pub kid: String,
    /// `current` or `retired`.
    pub status: String,
    pub created_at: String,
    pub retired_at: Option<String>,
    pub verify_until: Option<String>,
}

/// One certificate a device may present: the one it was enrolled with,
/// renewals, second thumbprints.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeviceCertificate {
    pub cert_sha256: String,
    /// How it is trusted: `self_signed` (pinned), `ca_issued`, `group`.
    pub kind: Enrollment,
    pub serial: Option<String>,
    pub not_after: Option<String>,
    pub added_at: String,
    pub first_used_at: Option<String>,
    /// When it stops (or stopped) being accepted.
    pub retire_at: Option<String>,
    /// `active`, `retiring` (replaced, in its overlap) or `retired`.
    pub status: String,
    /// The device's primary certificate (its `cert_sha256`).
    pub primary: bool,
}

/// `POST /api/v1/devices/{id}/certificates`: another self-signed
/// certificate, by thumbprint.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AddCertificate {
    pub cert_sha256: String,
}

/// `POST /device/v1/certificate`: a CSR for the device's next certificate.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RenewRequest {
    pub csr_pem: String,
}

/// The renewed certificate, signed by the device CA.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RenewResponse {
    pub certificate_pem: String,
}

/// `POST /device/v1/register`: the device registered (201) or registered
/// before (200).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Registered {
    pub device: Device,
}

/// Valid tokens, by kind of owner.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ActiveTokens {
    pub users: i64,
    pub devices: i64,
}

/// `GET /api/v1/security/overview` (admin): the security signals at once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SecurityOverview {
    pub generated_at: String,
    pub active_tokens: ActiveTokens,
    /// Tokens revoked in the last 24 h (logout, admin, device, password…;
    /// not expiry).
    pub revoked_tokens_24h: i64,
    pub failed_logins_24h: i64,
    pub throttled_logins_24h: i64,
    /// The latest revocations of tokens, devices, groups and certificates.
    pub recent_revocations: Vec<AuditEntry>,
    /// Active devices whose certificate expires within 30 days, soonest
    /// first (at most 100).
    pub expiring_certificates: Vec<Device>,
    /// How many there are in all.
    pub expiring_count: i64,
    /// Active groups at 80 % or more of their `max_devices`.
    pub groups_near_limit: Vec<EnrollmentGroup>,
    /// The current signing key's id.
    pub signing_key: String,
}

/// `GET /api/v1/summary` (any user): the fleet at a glance, for the
/// overview's cards, in one answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FleetSummary {
    pub generated_at: String,
    /// Seconds: an active device seen within this is online.
    pub online_within: i64,
    pub devices: DeviceCounts,
    /// Readings stored in the last whole minute, on every instance.
    pub readings_per_minute: i64,
    /// Readings stored in each of the last 60 minutes, oldest first; the
    /// last is the current minute, still counting.
    pub readings_per_minute_series: Vec<MinuteCount>,
    /// Commands not yet final (`queued` or `delivered`).
    pub open_commands: i64,
    /// For admins only: the signals of the Security page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security: Option<SecuritySignals>,
}

/// Devices by state: `online` and `offline` are active devices seen
/// within `online_within`, or not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeviceCounts {
    pub total: i64,
    pub online: i64,
    pub offline: i64,
    pub revoked: i64,
}

/// Readings stored in the minute that starts at `start` (RFC 3339).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MinuteCount {
    pub start: String,
    pub count: i64,
}

/// The security signals of the overview.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SecuritySignals {
    pub failed_logins_24h: i64,
    /// Tokens, devices, groups and certificates cut off in the last 24 h
    /// (the audit log's revocation events).
    pub revocations_24h: i64,
    /// Active devices whose certificate expires within 30 days.
    pub expiring_certificates_30d: i64,
}
