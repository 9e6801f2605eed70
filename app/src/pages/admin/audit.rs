//! The audit log, newest first.

use leptos::prelude::*;

use crate::{
    api::use_api,
    components::{
        status::{failures, Loading},
        time,
    },
    types::AuditEntry,
};

#[component]
pub fn Audit() -> impl IntoView {
    let api = use_api();
    let entries = LocalResource::new(move || async move { api.audit().await });
    view! {
        <section aria-labelledby="audit-title" class="rounded bg-white p-4 shadow-sm">
            <h2 id="audit-title" class="text-lg font-semibold">"Audit log"</h2>
            <Transition fallback=|| view! { <Loading what="the audit log"/> }>
                <ErrorBoundary fallback=failures>
                    {move || Suspend::new(async move { entries.await.map(table) })}
                </ErrorBoundary>
            </Transition>
        </section>
    }
}

fn table(entries: Vec<AuditEntry>) -> impl IntoView {
    view! {
        <div class="max-h-96 overflow-auto" tabindex="0" role="region" aria-label="Audit entries"><table class="mt-2 min-w-full text-sm">
            <thead class="text-left"><tr><th class="p-1">"Time (UTC)"</th><th class="p-1">"Event"</th><th class="p-1">"Actor"</th><th class="p-1">"Subject"</th><th class="p-1">"Address"</th><th class="p-1">"Detail"</th></tr></thead>
            <tbody>
                <For each=move || entries.clone() key=|e: &AuditEntry| e.id let:e>
                    <tr class="border-t border-slate-100"><td class="p-1">{time::short(&e.ts)}</td><td class="p-1">{e.event.as_str()}</td>
                        <td class="p-1">{e.actor}</td><td class="p-1">{e.subject}</td><td class="p-1">{e.ip}</td><td class="p-1">{e.detail}</td></tr>
                </For>
            </tbody>
        </table></div>
    }
}
