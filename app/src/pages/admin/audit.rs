//! The audit log, newest first, a page at a time: filtered by event and by
//! text in its actor, subject, address or detail.

use leptos::{ev::SubmitEvent, prelude::*};

use super::{BUTTON, INPUT};
use crate::{
    api::{use_api, AuditFilter},
    components::{
        pager::{Pager, Trail},
        status::{failures, Loading},
        time::Time,
    },
    types::{AuditEntry, AuditEvent},
};

/// Entries per page.
const PAGE: u32 = 50;

#[component]
pub fn Audit() -> impl IntoView {
    let api = use_api();
    let filter = RwSignal::new(AuditFilter {
        limit: PAGE,
        ..Default::default()
    });
    let trail = Trail::new(Memo::new(move |_| filter.with(AuditFilter::path)));
    let entries = LocalResource::new(move || {
        let path = trail.current();
        async move { api.page::<AuditEntry>(&path).await }
    });
    let count = RwSignal::new(0usize);
    Effect::new(move |_| {
        if let Some(Ok(p)) = entries.get() {
            trail.loaded(p.next.clone(), p.total);
            count.set(p.items.len());
        }
    });
    let (event, search) = (RwSignal::new(String::new()), RwSignal::new(String::new()));
    let apply = move |ev: SubmitEvent| {
        ev.prevent_default();
        filter.set(AuditFilter {
            event: AuditEvent::parse(&event.get_untracked()),
            search: search.get_untracked(),
            limit: PAGE,
        });
    };
    view! {
        <section aria-labelledby="audit-title" class="rounded bg-white p-4 shadow-sm">
            <h2 id="audit-title" class="text-lg font-semibold">"Audit log"</h2>
            <form class="my-2 flex flex-wrap items-end gap-2 text-sm" on:submit=apply>
                <label>"Event"<select class=INPUT data-testid="audit-event" on:change=move |ev| event.set(event_target_value(&ev))>
                    <option value="">"all"</option>
                    {AuditEvent::ALL.iter().map(|e| view! { <option value=e.as_str()>{e.as_str()}</option> }).collect_view()}
                </select></label>
                <label>"Search"<input type="search" class=INPUT placeholder="actor, subject, address, detail"
                    on:input=move |ev| search.set(event_target_value(&ev))/></label>
                <button type="submit" class=BUTTON>"Show entries"</button>
            </form>
            <Transition fallback=|| view! { <Loading what="the audit log"/> }>
                <ErrorBoundary fallback=failures>
                    {move || Suspend::new(async move { entries.await.map(|p| table(p.items)) })}
                </ErrorBoundary>
            </Transition>
            <Pager trail count=count page_size=PAGE label="Audit pages" testid="audit-shown"/>
        </section>
    }
}

fn table(entries: Vec<AuditEntry>) -> impl IntoView {
    if entries.is_empty() {
        return view! { <p class="text-slate-500">"No entries match."</p> }.into_any();
    }
    view! {
        <div class="max-h-96 overflow-auto" tabindex="0" role="region" aria-label="Audit entries"><table class="mt-2 min-w-full text-sm" data-testid="audit-table">
            <thead class="text-left"><tr><th class="p-1">"Time"</th><th class="p-1">"Event"</th><th class="p-1">"Actor"</th><th class="p-1">"Subject"</th><th class="p-1">"Address"</th><th class="p-1">"Detail"</th></tr></thead>
            <tbody>
                <For each=move || entries.clone() key=|e: &AuditEntry| e.id let:e>
                    <tr class="border-t border-slate-100"><td class="p-1"><Time ts=e.ts.clone()/></td><td class="p-1">{e.event.as_str()}</td>
                        <td class="p-1">{e.actor}</td><td class="p-1">{e.subject}</td><td class="p-1">{e.ip}</td><td class="p-1">{e.detail}</td></tr>
                </For>
            </tbody>
        </table></div>
    }
    .into_any()
}
