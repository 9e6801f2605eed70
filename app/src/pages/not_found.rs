//! Any path the dashboard does not know: the normal layout, with a way on.

use leptos::prelude::*;

use crate::components::header::Header;

#[component]
pub fn NotFound() -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        response.set_status(http::StatusCode::NOT_FOUND);
    }
    view! {
        <Header/>
        <main id="main" tabindex="-1" class="mx-auto max-w-5xl p-4">
            <h1 class="text-xl font-semibold">"Page not found"</h1>
            <p class="mt-2">"There is nothing at this address. "
                <a href="/" class="text-sky-700 underline">"See all devices"</a>"."</p>
        </main>
    }
}
