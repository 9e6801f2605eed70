//! A device's stored readings over a chosen range: newest first, a page
//! at a time (following `Link`), and the whole range as CSV. The range's
//! ends are read in the zone the app shows times in.

use leptos::prelude::*;

use crate::{
    api::{use_api, Api},
    components::{
        file,
        pager::{Pager, Trail},
        status::{failures, Loading},
        time::{self, Time},
        toast::use_toasts,
    },
    types::Reading,
};

/// Readings per page.
const PAGE: u32 = 100;

#[component]
pub fn History(id: i64) -> impl IntoView {
    let (api, toasts, zone) = (use_api(), use_toasts(), time::use_zone());
    let (from, to) = (RwSignal::new(String::new()), RwSignal::new(String::new()));
    // What the last "Show" asked for; the table follows it.
    let range = RwSignal::new((None::<String>, None::<String>));
    let trail = Trail::new(Memo::new(move |_| {
        Api::readings_path(id, range.get(), PAGE)
    }));
    let rows = LocalResource::new(move || {
        let path = trail.current();
        async move { api.page::<Reading>(&path).await }
    });
    let count = RwSignal::new(0usize);
    Effect::new(move |_| {
        if let Some(Ok(p)) = rows.get() {
            trail.loaded(p.next.clone(), None);
            count.set(p.items.len());
        }
    });
    let read = move || {
        let utc = zone.utc();
        (
            time::from_input(&from.get_untracked(), utc),
            time::from_input(&to.get_untracked(), utc),
        )
    };
    let export = Action::new_local(move |range: &(Option<String>, Option<String>)| {
        let range = range.clone();
        async move {
            let r = api.readings_csv(id, range).await;
            if let Ok(bytes) = &r {
                file::save(&format!("device-{id}-readings.csv"), "text/csv", bytes);
            }
            toasts.outcome(&r, "Readings exported as CSV.");
        }
    });
    let zone_name = move || if zone.utc() { "UTC" } else { "your time" };
    view! {
        <section aria-labelledby="history-title" class="rounded bg-white p-4 shadow-sm">
            <h2 id="history-title" class="text-lg font-semibold">"History"</h2>
            <form class="my-2 flex flex-wrap items-end gap-3 text-sm" on:submit=move |ev| {
                ev.prevent_default();
                range.set(read());
            }>
                <label>"From (" {zone_name} ") " <input type="datetime-local" class="rounded border border-slate-300 px-2 py-1"
                    on:input=move |ev| from.set(event_target_value(&ev))/></label>
                <label>"To (" {zone_name} ") " <input type="datetime-local" class="rounded border border-slate-300 px-2 py-1"
                    on:input=move |ev| to.set(event_target_value(&ev))/></label>
                <button type="submit" class="rounded bg-sky-700 px-3 py-1 text-white">"Show"</button>
                <button type="button" class="rounded border border-slate-400 px-3 py-1 disabled:opacity-50"
                    disabled=move || export.pending().get()
                    on:click=move |_| { export.dispatch_local(read()); }>"Download CSV"</button>
            </form>
            <Transition fallback=|| view! { <Loading what="readings"/> }>
                <ErrorBoundary fallback=failures>
                    {move || Suspend::new(async move { rows.await.map(|p| history_table(p.items)) })}
                </ErrorBoundary>
            </Transition>
            <Pager trail count=count page_size=PAGE label="History pages" testid="history-shown"/>
        </section>
    }
}

fn history_table(rows: Vec<Reading>) -> AnyView {
    if rows.is_empty() {
        return view! { <p class="text-slate-500">"No readings in this range."</p> }.into_any();
    }
    view! {
        <div class="max-h-96 overflow-auto" tabindex="0" role="region" aria-label="Readings">
            <table class="min-w-full text-sm" data-testid="history-table">
                <thead class="sticky top-0 bg-slate-100 text-left"><tr><th class="p-1">"Time"</th><th class="p-1">"Sensor"</th><th class="p-1">"Value"</th></tr></thead>
                <tbody>{rows.into_iter().map(|r| view! {
                    <tr class="border-t border-slate-100"><td class="p-1"><Time ts=r.ts.clone()/></td><td class="p-1">{r.sensor}</td>
                        <td class="p-1">{format!("{}{}", r.value, r.unit.unwrap_or_default())}</td></tr>
                }).collect_view()}</tbody>
            </table>
        </div>
    }
    .into_any()
}
