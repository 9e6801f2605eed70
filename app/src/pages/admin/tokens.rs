//! The token registry: filter and revoke.

use leptos::{ev::SubmitEvent, prelude::*, task::spawn_local};

use super::{failure, BUTTON, INPUT};
use crate::{api, components::time, session::require_session, types::TokenInfo};

#[component]
pub fn Tokens() -> impl IntoView {
    let auth = require_session();
    let tokens = RwSignal::new(None::<Vec<TokenInfo>>);
    let error = RwSignal::new(None::<String>);
    let filter = RwSignal::new(api::TokenFilter {
        active: Some(true),
        ..Default::default()
    });
    let (state, user, device) = (
        RwSignal::new("active".to_owned()),
        RwSignal::new(String::new()),
        RwSignal::new(String::new()),
    );
    let reload = move || {
        let Some(token) = auth.token() else { return };
        let f = filter.get_untracked();
        spawn_local(async move {
            match api::tokens(&token, &f).await {
                Ok(t) => tokens.set(Some(t)),
                Err(f) => failure(auth, error)(f),
            }
        });
    };
    Effect::new(move |_| {
        if auth.token_tracked().is_some() {
            reload();
        }
    });
    let apply = move |ev: SubmitEvent| {
        ev.prevent_default();
        let id = |s: String| s.trim().parse::<i64>().ok();
        filter.set(api::TokenFilter {
            active: match state.get_untracked().as_str() {
                "active" => Some(true),
                "inactive" => Some(false),
                _ => None,
            },
            user_id: id(user.get_untracked()),
            device_id: id(device.get_untracked()),
        });
        reload();
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
            <Show when=move || error.with(Option::is_some)><p role="alert" class="text-red-700">{move || error.get()}</p></Show>
            {move || match tokens.get() {
                None => view! { <p class="text-slate-500">"Loading…"</p> }.into_any(),
                Some(list) if list.is_empty() => view! { <p class="text-slate-500">"No tokens match."</p> }.into_any(),
                Some(list) => view! {
                    <div class="overflow-x-auto"><table class="mt-2 min-w-full text-sm">
                        <thead class="text-left"><tr><th class="p-1">"Token id"</th><th class="p-1">"Owner"</th><th class="p-1">"Expires (UTC)"</th><th class="p-1">"State"</th><th></th></tr></thead>
                        <tbody>{list.into_iter().map(|t| {
                            let id = t.token_id.clone();
                            let owner = match (t.user_id, t.device_id) {
                                (Some(u), _) => format!("user {u}"),
                                (_, Some(d)) => format!("device {d}"),
                                _ => String::new(),
                            };
                            let revoke = move |_| {
                                let (Some(token), id) = (auth.token(), id.clone()) else { return };
                                spawn_local(async move {
                                    match api::revoke_token(&token, &id).await {
                                        Ok(()) => reload(),
                                        Err(f) => failure(auth, error)(f),
                                    }
                                });
                            };
                            let state = if t.blacklist { t.blacklist_reason.map(|r| r.as_str()).unwrap_or("revoked") } else { "active" };
                            view! { <tr class="border-t border-slate-100">
                                <td class="p-1 font-mono text-xs">{t.token_id.clone()}</td><td class="p-1">{owner}</td>
                                <td class="p-1">{time::short(&t.expires_at)}</td><td class="p-1">{state}</td>
                                <td class="p-1">{(!t.blacklist).then(|| view! {
                                    <button type="button" class="text-red-700 underline" on:click=revoke>"Revoke"</button>
                                })}</td>
                            </tr> }
                        }).collect_view()}</tbody>
                    </table></div>
                }.into_any(),
            }}
        </section>
    }
}
