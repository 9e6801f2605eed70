//! The login page.

use leptos::{ev::SubmitEvent, prelude::*};
use leptos_router::hooks::use_navigate;

use crate::{api, session::use_auth, types::ErrorCode};

#[component]
pub fn LoginPage() -> impl IntoView {
    let auth = use_auth();
    let navigate = use_navigate();
    let username = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    let login = Action::new_local(move |(u, p): &(String, String)| {
        let (u, p) = (u.clone(), p.clone());
        async move { api::login(&u, &p).await }
    });
    let pending = login.pending();
    let error = RwSignal::new(None::<String>);

    let to_home = navigate;
    Effect::new(move |_| {
        if auth.ready.get() && auth.session.with(Option::is_some) {
            to_home("/", Default::default());
        }
    });
    Effect::new(move |_| match login.value().get() {
        Some(Ok(resp)) => {
            password.set(String::new());
            auth.sign_in(resp.into());
        }
        Some(Err(f)) => error.set(Some(match f.code {
            Some(ErrorCode::InvalidCredentials) => "Wrong username or password.".to_owned(),
            Some(ErrorCode::TooManyAttempts) => format!(
                "Too many failed attempts. Try again in {} seconds.",
                f.retry_after.unwrap_or(60)
            ),
            _ => f.message,
        })),
        None => {}
    });

    let on_submit = move |ev: SubmitEvent| {
        ev.prevent_default();
        if pending.get_untracked() {
            return;
        }
        error.set(None);
        login.dispatch_local((username.get_untracked(), password.get_untracked()));
    };

    let input_class = "mt-1 block w-full rounded-md border border-slate-300 px-3 py-2 \
                       focus:outline-none focus:ring-2 focus:ring-sky-500";
    view! {
        <main id="main" tabindex="-1" class="min-h-screen flex items-center justify-center p-4">
            <form
                method="post"
                class="w-full max-w-sm space-y-4 rounded-lg bg-white p-6 shadow"
                on:submit=on_submit
            >
                <h1 class="text-2xl font-semibold">"Sign in to Vigil"</h1>
                <Show when=move || auth.notice.with(Option::is_some)>
                    <p role="status" data-testid="login-notice" class="rounded bg-amber-50 p-2 text-sm text-amber-900">
                        {move || auth.notice.get()}
                    </p>
                </Show>
                <div>
                    <label for="username" class="block text-sm font-medium">"Username"</label>
                    <input
                        id="username"
                        name="username"
                        type="text"
                        autocomplete="username"
                        required
                        class=input_class
                        prop:value=move || username.get()
                        on:input=move |ev| username.set(event_target_value(&ev))
                    />
                </div>
                <div>
                    <label for="password" class="block text-sm font-medium">"Password"</label>
                    <input
                        id="password"
                        name="password"
                        type="password"
                        autocomplete="current-password"
                        required
                        class=input_class
                        prop:value=move || password.get()
                        on:input=move |ev| password.set(event_target_value(&ev))
                    />
                </div>
                <Show when=move || error.with(Option::is_some)>
                    <p role="alert" data-testid="login-error" class="text-sm text-red-700">
                        {move || error.get()}
                    </p>
                </Show>
                <button
                    type="submit"
                    class="w-full rounded-md bg-sky-700 px-4 py-2 font-medium text-white hover:bg-sky-800 disabled:opacity-50"
                    disabled=move || !auth.ready.get() || pending.get()
                >
                    {move || if pending.get() { "Signing in…" } else { "Sign in" }}
                </button>
            </form>
        </main>
    }
}
