//! The signed-in home page.

use leptos::{prelude::*, task::spawn_local};
use leptos_router::hooks::use_navigate;

use crate::{
    api, components::header::Header, pages::devices::DevicesPanel, session::use_auth,
    types::UserInfo,
};

#[component]
pub fn HomePage() -> impl IntoView {
    let auth = use_auth();
    let navigate = use_navigate();
    let me = RwSignal::new(None::<UserInfo>);
    let error = RwSignal::new(None::<String>);

    Effect::new(move |_| {
        if auth.ready.get() && auth.session.with(Option::is_none) {
            navigate("/login", Default::default());
        }
    });
    // Confirms the stored token with the server; a revoked or expired one
    // ends the session.
    Effect::new(move |_| {
        let Some(token) = auth.session.with(|s| s.as_ref().map(|s| s.token.clone())) else {
            return;
        };
        spawn_local(async move {
            match api::me(&token).await {
                Ok(u) => me.set(Some(u)),
                Err(f) => error.set(Some(auth.handle(&f))),
            }
        });
    });

    view! {
        <Header/>
        <main class="mx-auto max-w-5xl p-4">
            <h1 class="mb-2 text-xl font-semibold">"Overview"</h1>
            {move || match (me.get(), error.get()) {
                (Some(u), _) => view! {
                    <p data-testid="welcome">
                        "Signed in as " <strong>{u.username}</strong> " (" {u.role.as_str()} ")."
                    </p>
                }.into_any(),
                (None, Some(e)) => view! { <p role="alert" class="text-red-700">{e}</p> }.into_any(),
                (None, None) => view! { <p class="text-slate-500">"Loading…"</p> }.into_any(),
            }}
            <DevicesPanel/>
        </main>
    }
}
