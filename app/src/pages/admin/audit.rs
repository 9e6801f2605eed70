//! The audit log, newest first.

use leptos::{prelude::*, task::spawn_local};

use super::failure;
use crate::{api, components::time, session::require_session, types::AuditEntry};

#[component]
pub fn Audit() -> impl IntoView {
    let auth = require_session();
    let entries = RwSignal::new(None::<Vec<AuditEntry>>);
    let error = RwSignal::new(None::<String>);
    Effect::new(move |_| {
        let Some(token) = auth.token_tracked() else {
            return;
        };
        spawn_local(async move {
            match api::audit(&token).await {
                Ok(e) => entries.set(Some(e)),
                Err(f) => failure(auth, error)(f),
            }
        });
    });
    view! {
        <section aria-labelledby="audit-title" class="rounded bg-white p-4 shadow-sm">
            <h2 id="audit-title" class="text-lg font-semibold">"Audit log"</h2>
            <Show when=move || error.with(Option::is_some)><p role="alert" class="text-red-700">{move || error.get()}</p></Show>
            <Show when=move || entries.with(Option::is_none)><p class="text-slate-500">"Loading…"</p></Show>
            <div class="max-h-96 overflow-auto"><table class="mt-2 min-w-full text-sm">
                <thead class="text-left"><tr><th class="p-1">"Time (UTC)"</th><th class="p-1">"Event"</th><th class="p-1">"Actor"</th><th class="p-1">"Subject"</th><th class="p-1">"Address"</th><th class="p-1">"Detail"</th></tr></thead>
                <tbody>{move || entries.get().unwrap_or_default().into_iter().map(|e| view! {
                    <tr class="border-t border-slate-100"><td class="p-1">{time::short(&e.ts)}</td><td class="p-1">{e.event.as_str()}</td>
                        <td class="p-1">{e.actor}</td><td class="p-1">{e.subject}</td><td class="p-1">{e.ip}</td><td class="p-1">{e.detail}</td></tr>
                }).collect_view()}</tbody>
            </table></div>
        </section>
    }
}
