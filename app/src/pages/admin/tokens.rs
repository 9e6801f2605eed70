//! The token registry: filter and revoke.

use leptos::{ev::SubmitEvent, prelude::*};

use super::{BUTTON, INPUT};
use crate::{
    api::{use_api, TokenFilter},
    components::{
        status::{failures, Failure, Loading},
        time,
    },
    types::TokenInfo,
};

#[component]
pub fn Tokens() -> impl IntoView {
    let api = use_api();
    let filter = RwSignal::new(TokenFilter {
        active: Some(true),
        ..Default::default()
    });
    let error = RwSignal::new(None::<String>);
    let revoke = Action::new_local(move |token_id: &String| {
        let token_id = token_id.clone();
        async move { api.revoke_token(&token_id).await }
    });
    let revoked = revoke.version();
    let tokens = LocalResource::new(move || {
        let f = filter.get();
        revoked.track();
        async move { api.tokens(&f).await }
    });
    Effect::new(move |_| {
        if let Some(Err(f)) = revoke.value().get() {
            error.set(Some(f.message));
        }
    });
    let (state, user, device) = (
        RwSignal::new("active".to_owned()),
        RwSignal::new(String::new()),
        RwSignal::new(String::new()),
    );
    let apply = move |ev: SubmitEvent| {
        ev.prevent_default();
        let id = |s: String| s.trim().parse::<i64>().ok();
        filter.set(TokenFilter {
            active: match state.get_untracked().as_str() {
                "active" => Some(true),
                "inactive" => Some(false),
                _ => None,
            },
            user_id: id(user.get_untracked()),
            device_id: id(device.get_untracked()),
        });
    };
    let pending = revoke.pending();
    let row = move |t: TokenInfo| {
        let owner = match (t.user_id, t.device_id) {
            (Some(u), _) => format!("user {u}"),
            (_, Some(d)) => format!("device {d}"),
            _ => String::new(),
        };
        let state = match (t.blacklist, t.blacklist_reason) {
            (false, _) => "active",
            (true, Some(reason)) => reason.as_str(),
            (true, None) => "revoked",
        };
        let id = t.token_id.clone();
        view! { <tr class="border-t border-slate-100">
            <td class="p-1 font-mono text-xs">{t.token_id.clone()}</td><td class="p-1">{owner}</td>
            <td class="p-1">{time::short(&t.expires_at)}</td><td class="p-1">{state}</td>
            <td class="p-1">{(!t.blacklist).then(|| view! {
                <button type="button" class="text-red-700 underline disabled:opacity-50" disabled=move || pending.get()
                    on:click=move |_| if !pending.get_untracked() { revoke.dispatch_local(id.clone()); }>"Revoke"</button>
            })}</td>
        </tr> }
    };
    view! {
        <section aria-labelledby="tokens-title" class="rounded bg-white p-4 shadow-sm">
            <h2 id="tokens-title" class="text-lg font-semibold">"Tokens"</h2>
            <form class="my-2 flex flex-wrap items-end gap-2 text-sm" on:submit=apply>
                <label>"State"<select class=INPUT on:change=move |ev| state.set(event_target_value(&ev))>
                    <option value="active">"active"</option><option value="inactive">"revoked or expired"</option><option value="all">"all"</option>
                </select></label>
                <label>"User id"<input class=INPUT inputmode="numeric" on:input=move |ev| user.set(event_target_value(&ev))/></label>
                <label>"Device id"<input class=INPUT inputmode="numeric" on:input=move |ev| device.set(event_target_value(&ev))/></label>
                <button type="submit" class=BUTTON>"Filter"</button>
            </form>
            <Failure message=error.into()/>
            <Transition fallback=|| view! { <Loading what="tokens"/> }>
                <ErrorBoundary fallback=failures>
                    {move || Suspend::new(async move {
                        tokens.await.map(|list| {
                            if list.is_empty() {
                                return view! { <p class="text-slate-500">"No tokens match."</p> }.into_any();
                            }
                            view! {
                                <div class="overflow-x-auto" tabindex="0" role="region" aria-label="Tokens"><table class="mt-2 min-w-full text-sm">
                                    <thead class="text-left"><tr><th class="p-1">"Token id"</th><th class="p-1">"Owner"</th><th class="p-1">"Expires (UTC)"</th><th class="p-1">"State"</th><th class="p-1"><span class="sr-only">"Actions"</span></th></tr></thead>
                                    <tbody><For each=move || list.clone() key=|t: &TokenInfo| (t.token_id.clone(), t.blacklist) children=row/></tbody>
                                </table></div>
                            }.into_any()
                        })
                    })}
                </ErrorBoundary>
            </Transition>
        </section>
    }
}
