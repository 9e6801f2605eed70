//! What a section shows while its data loads, or when loading failed.

use leptos::prelude::*;

/// A `<Transition>` fallback.
#[component]
pub fn Loading(#[prop(into)] what: String) -> impl IntoView {
    view! { <p class="text-slate-500">{format!("Loading {what}…")}</p> }
}

/// An `<ErrorBoundary>` fallback: the failures' messages, as an alert.
pub fn failures(errors: ArcRwSignal<Errors>) -> impl IntoView {
    view! {
        <p role="alert" class="text-red-700">
            {move || {
                errors
                    .get()
                    .into_iter()
                    .map(|(_, e)| e.to_string())
                    .collect::<Vec<_>>()
                    .join(" ")
            }}
        </p>
    }
}

/// A failed mutation's message, as an alert, while there is one.
#[component]
pub fn Failure(message: Signal<Option<String>>) -> impl IntoView {
    view! {
        <Show when=move || message.with(Option::is_some)>
            <p role="alert" class="text-red-700">{move || message.get()}</p>
        </Show>
    }
}
