//! Changing one's own password. The other sessions of the user end; this
//! one stays.

use leptos::{ev::SubmitEvent, prelude::*};

use crate::{
    api::use_api,
    components::{header::Header, status::Failure},
    session::require_session,
    types::ChangePassword,
};

const INPUT: &str = "mt-1 block w-full rounded border border-slate-300 px-2 py-1";

#[component]
pub fn PasswordPage() -> impl IntoView {
    let auth = require_session();
    let api = use_api();
    let (current, new, again) = (
        RwSignal::new(String::new()),
        RwSignal::new(String::new()),
        RwSignal::new(String::new()),
    );
    let mismatch = RwSignal::new(None::<String>);
    let change = Action::new_local(move |body: &ChangePassword| {
        let body = body.clone();
        async move { api.change_password(&body).await }
    });
    let pending = change.pending();
    let done = move || matches!(change.value().get(), Some(Ok(())));
    let error = Signal::derive(move || {
        mismatch.get().or_else(|| match change.value().get() {
            Some(Err(f)) => Some(f.message),
            _ => None,
        })
    });
    Effect::new(move |_| {
        if done() {
            for s in [current, new, again] {
                s.set(String::new());
            }
        }
    });
    let submit = move |ev: SubmitEvent| {
        ev.prevent_default();
        if pending.get_untracked() {
            return;
        }
        if new.get_untracked() != again.get_untracked() {
            mismatch.set(Some("The two new passwords differ.".into()));
            return;
        }
        mismatch.set(None);
        change.dispatch_local(ChangePassword {
            current_password: current.get_untracked(),
            new_password: new.get_untracked(),
        });
    };
    let field = move |id: &'static str,
                      label: &'static str,
                      value: RwSignal<String>,
                      auto: &'static str| {
        view! {
            <label class="block text-sm" for=id>{label}
                <input id=id type="password" class=INPUT required autocomplete=auto
                    prop:value=move || value.get() on:input=move |ev| value.set(event_target_value(&ev))/>
            </label>
        }
    };
    view! {
        <Header/>
        <main id="main" tabindex="-1" class="mx-auto max-w-md space-y-4 p-4">
            <h1 class="text-xl font-semibold">"Change password"</h1>
            <Show when=move || auth.signed_in()>
                <p class="text-sm text-slate-600">
                    "At least 12 characters, without your username, and not easy to guess. "
                    "Your other sessions are signed out; this one stays."
                </p>
                <form class="space-y-3 rounded bg-white p-4 shadow-sm" on:submit=submit>
                    {field("current-password", "Current password", current, "current-password")}
                    {field("new-password", "New password", new, "new-password")}
                    {field("new-password-again", "New password again", again, "new-password")}
                    <Failure message=error/>
                    <Show when=done>
                        <p role="status" class="rounded bg-emerald-50 p-2 text-sm text-emerald-900">
                            "Password changed. Your other sessions were signed out."
                        </p>
                    </Show>
                    <button type="submit" class="rounded bg-sky-700 px-3 py-1 text-white disabled:opacity-50"
                        disabled=move || pending.get()>"Change password"</button>
                </form>
            </Show>
        </main>
    }
}
