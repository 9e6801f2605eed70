//! The one error type of the HTTP API, and the only place where the
//! capability modules' own errors become it. Client mistakes become the
//! contract's JSON codes; internal failures are logged (inside the
//! request's span, so with its id) and answered without details.

use app::types::{ErrorBody, ErrorCode};
use axum::{
    http::{header, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    Json,
};

use crate::{
    commands::CommandError, devices::DeviceError, ingest::IngestError, tokens::TokenError,
    users::UserError,
};

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("this route needs an access token (x-access-token or Authorization: Bearer)")]
    TokenMissing,
    #[error("the access token is not valid")]
    TokenInvalid,
    #[error("the access token has expired")]
    TokenExpired,
    #[error("the access token has been revoked")]
    TokenRevoked,
    #[error("wrong username or password")]
    InvalidCredentials,
    #[error("your role does not allow this")]
    Forbidden,
    /// Forbidden for a reason other than the caller's role.
    #[error("{0}")]
    Refused(String),
    #[error("too many failed attempts; try again in {retry_after} seconds")]
    TooManyAttempts { retry_after: u64 },
    #[error("{message}; try again in {retry_after} seconds")]
    RateLimited { retry_after: u64, message: String },
    #[error("{message}")]
    Validation { status: StatusCode, message: String },
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("the request body is too large")]
    PayloadTooLarge,
    #[error("method not allowed on this route")]
    MethodNotAllowed,
    #[error("the client certificate of this connection has expired")]
    CertificateExpired,
    #[error("internal error")]
    Internal(#[from] anyhow::Error),
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn validation(message: impl Into<String>) -> Self {
        ApiError::Validation {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            message: message.into(),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        ApiError::Validation {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
        }
    }

    pub fn not_found(what: &str) -> Self {
        ApiError::NotFound(format!("{what} not found"))
    }

    pub fn code(&self) -> ErrorCode {
        match self {
            ApiError::TokenMissing => ErrorCode::TokenMissing,
            ApiError::TokenInvalid => ErrorCode::TokenInvalid,
            ApiError::TokenExpired => ErrorCode::TokenExpired,
            ApiError::TokenRevoked => ErrorCode::TokenRevoked,
            ApiError::InvalidCredentials => ErrorCode::InvalidCredentials,
            ApiError::Forbidden | ApiError::Refused(_) => ErrorCode::Forbidden,
            ApiError::TooManyAttempts { .. } => ErrorCode::TooManyAttempts,
            ApiError::RateLimited { .. } => ErrorCode::RateLimited,
            ApiError::Validation { .. } => ErrorCode::ValidationFailed,
            ApiError::NotFound(_) => ErrorCode::NotFound,
            ApiError::Conflict(_) => ErrorCode::Conflict,
            ApiError::PayloadTooLarge => ErrorCode::PayloadTooLarge,
            ApiError::MethodNotAllowed => ErrorCode::MethodNotAllowed,
            ApiError::CertificateExpired => ErrorCode::CertificateExpired,
            ApiError::Internal(_) => ErrorCode::Internal,
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::TokenMissing
            | ApiError::TokenInvalid
            | ApiError::TokenExpired
            | ApiError::TokenRevoked
            | ApiError::InvalidCredentials
            | ApiError::CertificateExpired => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden | ApiError::Refused(_) => StatusCode::FORBIDDEN,
            ApiError::TooManyAttempts { .. } | ApiError::RateLimited { .. } => {
                StatusCode::TOO_MANY_REQUESTS
            }
            ApiError::Validation { status, .. } => *status,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn retry_after(&self) -> Option<u64> {
        match self {
            ApiError::TooManyAttempts { retry_after }
            | ApiError::RateLimited { retry_after, .. } => Some(*retry_after),
            _ => None,
        }
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        ApiError::Internal(e.into())
    }
}

impl From<TokenError> for ApiError {
    fn from(e: TokenError) -> Self {
        match e {
            TokenError::Missing => ApiError::TokenMissing,
            TokenError::Invalid => ApiError::TokenInvalid,
            TokenError::Expired => ApiError::TokenExpired,
            TokenError::Revoked | TokenError::OwnerChanged => ApiError::TokenRevoked,
            TokenError::Store(e) => e.into(),
            TokenError::Signing(e) => ApiError::Internal(e),
        }
    }
}

impl From<UserError> for ApiError {
    fn from(e: UserError) -> Self {
        match e {
            UserError::InvalidUsername | UserError::WeakPassword(_) => {
                ApiError::validation(e.to_string())
            }
            UserError::Taken(_) | UserError::LastAdmin(_) => ApiError::Conflict(e.to_string()),
            UserError::NotFound => ApiError::not_found("user"),
            UserError::Store(e) => e.into(),
            UserError::Hashing(e) => ApiError::Internal(e),
        }
    }
}

impl From<DeviceError> for ApiError {
    fn from(e: DeviceError) -> Self {
        match e {
            DeviceError::Invalid(m) => ApiError::validation(m),
            DeviceError::Taken(m) => ApiError::Conflict(m),
            DeviceError::NotFound => ApiError::not_found("device"),
            DeviceError::NoGroup => ApiError::not_found("enrollment group"),
            DeviceError::Refused(m) => ApiError::Refused(m),
            DeviceError::Store(e) => e.into(),
            DeviceError::Internal(e) => ApiError::Internal(e),
        }
    }
}

impl From<IngestError> for ApiError {
    fn from(e: IngestError) -> Self {
        match e {
            IngestError::Invalid(m) => ApiError::validation(m),
            IngestError::RateLimited { retry_after } => ApiError::RateLimited {
                retry_after,
                message: "this device sends more readings per second than it may".into(),
            },
            IngestError::Store(e) => ApiError::Internal(e),
        }
    }
}

impl From<CommandError> for ApiError {
    fn from(e: CommandError) -> Self {
        match e {
            CommandError::Invalid(m) => ApiError::validation(m),
            CommandError::NotFound => ApiError::not_found("command"),
            CommandError::NoDevice => ApiError::not_found("device"),
            CommandError::DeviceRevoked | CommandError::Final(_) => {
                ApiError::Conflict(e.to_string())
            }
            CommandError::TooMany(_) => ApiError::RateLimited {
                retry_after: 5,
                message: e.to_string(),
            },
            CommandError::Store(e) => e.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::Internal(e) = &self {
            tracing::error!(error = %format!("{e:#}"), "internal error");
        }
        let status = self.status();
        let retry_after = self.retry_after();
        let body = ErrorBody {
            error: self.code(),
            message: self.to_string(),
        };
        let mut res = (status, Json(body)).into_response();
        let headers = res.headers_mut();
        if status == StatusCode::UNAUTHORIZED {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let Some(secs) = retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        res
    }
}
