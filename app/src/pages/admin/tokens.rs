//! The token registry: filtered by kind, state and owner's name, a page at
//! a time; revoking one asks first, naming the token and its owner.

use leptos::{ev::SubmitEvent, prelude::*};

use super::{BUTTON, INPUT};
use crate::{
    api::{use_api, TokenFilter},
    components::{
        confirm::{use_confirm, Ask},
        pager::{Pager, Trail},
        status::{failures, Loading},
        time::Time,
        toast::use_toasts,
    },
    types::{TokenInfo, TokenKind, TokenState},
};

/// Tokens per page.
const PAGE: u32 = 50;

/// "user 3", or "alice (user 3)" while the user exists.
fn owner(t: &TokenInfo) -> String {
    let id = match (t.user_id, t.device_id) {
        (Some(u), _) => format!("user {u}"),
        (_, Some(d)) => format!("device {d}"),
        _ => String::new(),
    };
    match &t.owner_name {
        Some(name) => format!("{name} ({id})"),
        None => id,
    }
}

#[component]
pub fn Tokens() -> impl IntoView {
    let (api, confirm, toasts) = (use_api(), use_confirm(), use_toasts());
    let filter = RwSignal::new(TokenFilter {
        state: Some(TokenState::Active),
        limit: PAGE,
        ..Default::default()
    });
    let trail = Trail::new(Memo::new(move |_| filter.with(TokenFilter::path)));
    let revoke = Action::new_local(move |t: &TokenInfo| {
        let t = t.clone();
        async move {
            let r = api.revoke_token(&t.token_id).await;
            toasts.outcome(
                &r,
                format!("Token {} of {} revoked.", short_id(&t.token_id), owner(&t)),
            );
        }
    });
    let revoked = revoke.version();
    let tokens = LocalResource::new(move || {
        let path = trail.current();
        revoked.track();
        async move { api.page::<TokenInfo>(&path).await }
    });
    let count = RwSignal::new(0usize);
    Effect::new(move |_| {
        if let Some(Ok(p)) = tokens.get() {
            trail.loaded(p.next.clone(), p.total);
            count.set(p.items.len());
        }
    });
    let (kind, state, who) = (
        RwSignal::new(String::new()),
        RwSignal::new("active".to_owned()),
        RwSignal::new(String::new()),
    );
    let apply = move |ev: SubmitEvent| {
        ev.prevent_default();
        filter.set(TokenFilter {
            kind: TokenKind::parse(&kind.get_untracked()),
            state: TokenState::parse(&state.get_untracked()),
            owner: who.get_untracked(),
            limit: PAGE,
            ..Default::default()
        });
    };
    let pending = revoke.pending();
    let row = move |t: TokenInfo| {
        let who = owner(&t);
        let state = match (t.blacklist, t.blacklist_reason) {
            (false, _) => "active",
            (true, Some(reason)) => reason.as_str(),
            (true, None) => "revoked",
        };
        let ask = move |t: TokenInfo| {
            let title = format!("Revoke token {}?", short_id(&t.token_id));
            let detail = format!(
                "The token {} of {} is refused at once on every instance: its requests, live streams and MQTT sessions end. {} can sign in or ask for a token again.",
                t.token_id, owner(&t), owner(&t)
            );
            confirm.ask(
                Ask {
                    title,
                    detail,
                    confirm: "Revoke token".into(),
                },
                move || {
                    revoke.dispatch_local(t);
                },
            );
        };
        let open = (!t.blacklist).then(|| t.clone());
        view! { <tr class="border-t border-slate-100">
            <td class="p-1 font-mono text-xs">{t.token_id.clone()}</td><td class="p-1">{who}</td>
            <td class="p-1"><Time ts=t.issued_at.clone()/></td><td class="p-1"><Time ts=t.expires_at.clone()/></td><td class="p-1">{state}</td>
            <td class="p-1">{open.map(|t| view! {
                <button type="button" class="text-red-700 underline disabled:opacity-50" disabled=move || pending.get()
                    on:click=move |_| ask(t.clone())>"Revoke"</button>
            })}</td>
        </tr> }
    };
    view! {
        <section aria-labelledby="tokens-title" class="rounded bg-white p-4 shadow-sm">
            <h2 id="tokens-title" class="text-lg font-semibold">"Tokens"</h2>
            <form class="my-2 flex flex-wrap items-end gap-2 text-sm" on:submit=apply>
                <label>"Kind"<select class=INPUT on:change=move |ev| kind.set(event_target_value(&ev))>
                    <option value="">"users and devices"</option><option value="user">"users"</option><option value="device">"devices"</option>
                </select></label>
                <label>"State"<select class=INPUT on:change=move |ev| state.set(event_target_value(&ev))>
                    <option value="active">"active"</option><option value="revoked">"revoked"</option><option value="expired">"expired"</option><option value="">"all"</option>
                </select></label>
                <label>"Owner"<input class=INPUT type="search" placeholder="username, device name or registration id" maxlength="200"
                    on:input=move |ev| who.set(event_target_value(&ev))/></label>
                <button type="submit" class=BUTTON>"Filter"</button>
            </form>
            <Transition fallback=|| view! { <Loading what="tokens"/> }>
                <ErrorBoundary fallback=failures>
                    {move || Suspend::new(async move {
                        tokens.await.map(|page| {
                            if page.items.is_empty() {
                                return view! { <p class="text-slate-500">"No tokens match."</p> }.into_any();
                            }
                            let list = page.items;
                            view! {
                                <div class="overflow-x-auto" tabindex="0" role="region" aria-label="Tokens"><table class="mt-2 min-w-full text-sm" data-testid="tokens-table">
                                    <thead class="text-left"><tr><th class="p-1">"Token id"</th><th class="p-1">"Owner"</th><th class="p-1">"Issued"</th><th class="p-1">"Expires"</th><th class="p-1">"State"</th><th class="p-1"><span class="sr-only">"Actions"</span></th></tr></thead>
                                    <tbody><For each=move || list.clone() key=|t: &TokenInfo| (t.token_id.clone(), t.blacklist) children=row/></tbody>
                                </table></div>
                            }.into_any()
                        })
                    })}
                </ErrorBoundary>
            </Transition>
            <Pager trail count=count page_size=PAGE label="Token pages" testid="tokens-shown"/>
        </section>
    }
}

/// The first 8 characters of a token id, enough to tell it apart here.
fn short_id(id: &str) -> String {
    format!("{}…", id.chars().take(8).collect::<String>())
}
