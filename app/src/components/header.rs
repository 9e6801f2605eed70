//! The page header: a skip link, the navigation, UTC or local times,
//! who is signed in, with which role, and Log out.

use leptos::prelude::*;
use leptos_router::hooks::use_navigate;

use crate::{api::use_api, components::time, session::use_auth};

/// The skip link's action: the focus to `<main>` (which takes it with
/// `tabindex="-1"`), so the next Tab is the page's first control. The
/// router does not see the link (`rel="external"`): a fragment is not a
/// page to route to.
fn skip(ev: leptos::ev::MouseEvent) {
    ev.prevent_default();
    #[cfg(feature = "browser")]
    {
        use wasm_bindgen::JsCast;
        let main = document()
            .get_element_by_id("main")
            .and_then(|e| e.dyn_into::<web_sys::HtmlElement>().ok());
        if let Some(main) = main {
            let _ = main.focus();
            main.scroll_into_view();
        }
    }
}

#[component]
pub fn Header() -> impl IntoView {
    let (auth, api) = (use_auth(), use_api());
    let navigate = use_navigate();
    let logout = Action::new_local(move |_: &()| {
        let navigate = navigate.clone();
        async move {
            // Forget the token locally even if the server cannot be reached.
            let _ = api.logout().await;
            auth.sign_out(Some("You have signed out.".into()));
            navigate("/login", Default::default());
        }
    });
    let pending = logout.pending();
    let zone = time::use_zone();
    view! {
        <a href="#main" rel="external" on:click=skip class="sr-only focus:not-sr-only focus:absolute focus:left-2 focus:top-2 focus:z-50 focus:rounded focus:bg-white focus:px-3 focus:py-2 focus:text-slate-900">"Skip to content"</a>
        <header class="bg-slate-900 text-white">
            <div class="mx-auto flex max-w-5xl flex-wrap items-center justify-between gap-3 p-3">
                <nav class="flex items-center gap-4" aria-label="Main">
                    <a href="/" class="text-lg font-bold tracking-wide">"Vigil"</a>
                    <a href="/" class="text-sm hover:underline">"Devices"</a>
                    <Show when=move || matches!(auth.role(), Some(crate::types::Role::Admin | crate::types::Role::Operator))>
                        <a href="/admin" class="text-sm hover:underline">"Admin"</a>
                    </Show>
                    <Show when=move || matches!(auth.role(), Some(crate::types::Role::Admin))>
                        <a href="/security" class="text-sm hover:underline">"Security"</a>
                    </Show>
                </nav>
                <div class="flex items-center gap-3">
                    <button type="button" class="rounded border border-slate-500 px-2 py-1 text-xs hover:bg-slate-800"
                        aria-pressed=move || zone.utc().to_string() data-testid="utc-toggle"
                        on:click=move |_| zone.set_utc(!zone.utc())>"UTC"</button>
                    {move || auth.session.get().map(|s| view! {
                        <a href="/password" class="text-sm hover:underline">"Change password"</a>
                        <span data-testid="current-user">{s.user.username}</span>
                        <span data-testid="current-role" class="rounded bg-slate-700 px-2 py-0.5 text-xs uppercase">
                            {s.user.role.as_str()}
                        </span>
                    })}
                    <button
                        type="button"
                        class="rounded border border-slate-500 px-3 py-1 text-sm hover:bg-slate-800"
                        disabled=move || pending.get()
                        on:click=move |_| if !pending.get_untracked() { logout.dispatch_local(()); }
                    >
                        "Log out"
                    </button>
                </div>
            </div>
        </header>
    }
}
