//! Token signing keys: the current one, retired ones still verifying, and
//! rotation.

use leptos::prelude::*;

use super::BUTTON;
use crate::{
    api::use_api,
    components::{
        status::{failures, Failure, Loading},
        time::Time,
        toast::use_toasts,
    },
    types::SigningKey,
};

#[component]
pub fn SigningKeys() -> impl IntoView {
    let (api, toasts) = (use_api(), use_toasts());
    let rotate = Action::new_local(move |_: &()| async move {
        let r = api.rotate_key().await;
        toasts.outcome(
            &r,
            "Signing key rotated: new tokens use it, the old one still verifies",
        );
        r
    });
    let rotated = rotate.version();
    let keys = LocalResource::new(move || {
        rotated.track();
        async move { api.signing_keys().await }
    });
    let error = Signal::derive(move || match rotate.value().get() {
        Some(Err(f)) => Some(f.message),
        _ => None,
    });
    let pending = rotate.pending();
    let row = |k: SigningKey| {
        view! { <tr class="border-t border-slate-100" data-testid=format!("key-{}", k.status)>
            <td class="p-1 font-mono text-xs">{k.kid.clone()}</td><td class="p-1">{k.status.clone()}</td>
            <td class="p-1"><Time ts=k.created_at.clone()/></td>
            <td class="p-1">{match k.verify_until.clone() { Some(ts) => view! { <Time ts/> }.into_any(), None => "—".into_any() }}</td>
        </tr> }
    };
    view! {
        <section aria-labelledby="keys-title" class="rounded bg-white p-4 shadow-sm">
            <h2 id="keys-title" class="text-lg font-semibold">"Signing keys"</h2>
            <p class="text-sm text-slate-600">"New tokens are signed with the current key; a retired key verifies its tokens until they expire. Public keys: "
                <a class="text-sky-700 underline" href="/.well-known/jwks.json">"/.well-known/jwks.json"</a></p>
            <button type="button" class=format!("{BUTTON} mt-2") disabled=move || pending.get()
                on:click=move |_| if !pending.get_untracked() { rotate.dispatch_local(()); }>"Rotate the signing key"</button>
            <Failure message=error/>
            <Transition fallback=|| view! { <Loading what="signing keys"/> }>
                <ErrorBoundary fallback=failures>
                    {move || Suspend::new(async move {
                        keys.await.map(|list| view! {
                            <div class="overflow-x-auto" tabindex="0" role="region" aria-label="Signing keys"><table class="mt-2 min-w-full text-sm">
                                <thead class="text-left"><tr><th class="p-1">"Key id"</th><th class="p-1">"Status"</th><th class="p-1">"Made"</th><th class="p-1">"Verifies until"</th></tr></thead>
                                <tbody><For each=move || list.clone() key=|k: &SigningKey| (k.kid.clone(), k.status.clone()) children=row/></tbody>
                            </table></div>
                        })
                    })}
                </ErrorBoundary>
            </Transition>
        </section>
    }
}
