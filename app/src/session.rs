//! The signed-in session: kept in `localStorage` (key `vigil.session`) so a
//! reload stays signed in, and offered to every component as context.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::{
    api::ApiFailure,
    types::{ErrorCode, LoginResponse, UserInfo},
};

pub const STORAGE_KEY: &str = "vigil.session";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    pub token: String,
    pub token_id: String,
    pub expires_at: String,
    pub user: UserInfo,
}

impl From<LoginResponse> for Session {
    fn from(r: LoginResponse) -> Self {
        Session {
            token: r.token,
            token_id: r.token_id,
            expires_at: r.expires_at,
            user: r.user,
        }
    }
}

#[derive(Clone, Copy)]
pub struct Auth {
    pub session: RwSignal<Option<Session>>,
    /// A message for the login page (signed out, session revoked, …).
    pub notice: RwSignal<Option<String>>,
    /// True once the browser has read its storage (after hydration).
    pub ready: RwSignal<bool>,
}

pub fn provide() -> Auth {
    let auth = Auth {
        session: RwSignal::new(None),
        notice: RwSignal::new(None),
        ready: RwSignal::new(false),
    };
    provide_context(auth);
    // Effects run only in the browser, after hydration: the server never
    // sees the token, so both render the signed-out state first.
    Effect::new(move |_| {
        auth.session.set(storage::load());
        auth.ready.set(true);
        storage::mark_hydrated();
    });
    auth
}

pub fn use_auth() -> Auth {
    expect_context::<Auth>()
}

/// For pages that need a session: without one, go to the login page.
pub fn require_session() -> Auth {
    let auth = use_auth();
    let navigate = leptos_router::hooks::use_navigate();
    Effect::new(move |_| {
        if auth.ready.get() && auth.session.with(Option::is_none) {
            navigate("/login", Default::default());
        }
    });
    auth
}

impl Auth {
    /// Tracked: views and effects that read it follow sign-in and sign-out.
    pub fn signed_in(&self) -> bool {
        self.session.with(Option::is_some)
    }

    pub fn token(&self) -> Option<String> {
        self.session.get_untracked().map(|s| s.token)
    }

    /// The token, tracked: effects that read it rerun on sign-in/out.
    pub fn token_tracked(&self) -> Option<String> {
        self.session.with(|s| s.as_ref().map(|s| s.token.clone()))
    }

    pub fn role(&self) -> Option<crate::types::Role> {
        self.session.with(|s| s.as_ref().map(|s| s.user.role))
    }

    pub fn sign_in(&self, s: Session) {
        storage::save(&s);
        self.notice.set(None);
        self.session.set(Some(s));
    }

    pub fn sign_out(&self, notice: Option<String>) {
        storage::clear();
        self.notice.set(notice);
        self.session.set(None);
    }

    /// Ends the session when the server says its token is no longer good;
    /// returns the text to show otherwise.
    pub fn handle(&self, f: &ApiFailure) -> String {
        let ended = match f.code {
            Some(ErrorCode::TokenRevoked) => {
                Some("Your session was revoked. Please sign in again.")
            }
            Some(ErrorCode::TokenExpired) => Some("Your session expired. Please sign in again."),
            Some(code) if code.ends_session() => {
                Some("Your session is no longer valid. Please sign in again.")
            }
            _ => None,
        };
        match ended {
            Some(msg) => {
                self.sign_out(Some(msg.to_owned()));
                msg.to_owned()
            }
            None => f.message.clone(),
        }
    }
}

#[cfg(feature = "browser")]
mod storage {
    use super::{Session, STORAGE_KEY};

    fn local() -> Option<web_sys::Storage> {
        web_sys::window()?.local_storage().ok()?
    }

    pub fn load() -> Option<Session> {
        let raw = local()?.get_item(STORAGE_KEY).ok()??;
        serde_json::from_str(&raw).ok()
    }

    pub fn save(s: &Session) {
        if let (Some(l), Ok(raw)) = (local(), serde_json::to_string(s)) {
            let _ = l.set_item(STORAGE_KEY, &raw);
        }
    }

    pub fn clear() {
        if let Some(l) = local() {
            let _ = l.remove_item(STORAGE_KEY);
        }
    }

    /// `<body data-hydrated="true" data-hydrated-ms="…">`: end-to-end tests
    /// wait for it; the dashboard benchmark reads the milliseconds since
    /// navigation started.
    pub fn mark_hydrated() {
        let Some(window) = web_sys::window() else {
            return;
        };
        if let Some(body) = window.document().and_then(|d| d.body()) {
            let _ = body.dataset().set("hydrated", "true");
            if let Some(p) = window.performance() {
                let _ = body.dataset().set("hydratedMs", &format!("{:.0}", p.now()));
            }
        }
    }
}

#[cfg(not(feature = "browser"))]
mod storage {
    use super::Session;

    pub fn load() -> Option<Session> {
        None
    }
    pub fn save(_: &Session) {}
    pub fn clear() {}
    pub fn mark_hydrated() {}
}
