//! The signed-in home page: who you are, and the devices.

use leptos::prelude::*;

use crate::{
    api::use_api,
    components::{
        header::Header,
        status::{failures, Loading},
    },
    pages::devices::DevicesPanel,
    session::require_session,
};

#[component]
pub fn HomePage() -> impl IntoView {
    let auth = require_session();
    view! {
        <Header/>
        <main class="mx-auto max-w-5xl p-4">
            <h1 class="mb-2 text-xl font-semibold">"Overview"</h1>
            <Show when=move || auth.signed_in()>
                <Welcome/>
                <DevicesPanel/>
            </Show>
        </main>
    }
}

/// Confirms the stored token with the server; a revoked or expired one
/// ends the session.
#[component]
fn Welcome() -> impl IntoView {
    let api = use_api();
    let me = LocalResource::new(move || async move { api.me().await });
    view! {
        <Transition fallback=|| view! { <Loading what="your account"/> }>
            <ErrorBoundary fallback=failures>
                {move || Suspend::new(async move {
                    me.await.map(|u| view! {
                        <p data-testid="welcome">
                            "Signed in as " <strong>{u.username}</strong> " (" {u.role.as_str()} ")."
                        </p>
                    })
                })}
            </ErrorBoundary>
        </Transition>
    }
}
