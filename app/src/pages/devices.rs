//! The devices table, a page at a time from the server, which searches,
//! filters and sorts (`GET /api/v1/devices`): status, last seen, the
//! latest value of each sensor and open commands, updated live row by row;
//! a device new to the platform reloads the page. `?status=` and
//! `?within=` (seconds that count as online) preset the filter, as the
//! overview's cards link.

use std::collections::{BTreeMap, HashSet};

use leptos::{prelude::*, reactive::send_wrapper_ext::SendOption};

use crate::{
    api::{use_api, DeviceQuery},
    components::{
        pager::{Pager, Trail},
        status::{failures, Loading},
        time::{self, Ago},
    },
    live::{self, Subscription},
    session::use_auth,
    types::{
        Command, CommandStatus, Device, DeviceFilter, DeviceSort, DeviceStatus, LiveReading,
        SortOrder,
    },
};

/// One row: what does not change in place, and signals for what the live
/// stream updates, so a batch touches only the rows it concerns.
#[derive(Clone)]
struct Row {
    id: i64,
    registration_id: String,
    name: String,
    status: DeviceStatus,
    last_seen: ArcRwSignal<Option<String>>,
    /// Sensor → (value, unit).
    latest: ArcRwSignal<BTreeMap<String, (f64, Option<String>)>>,
    /// Commands not yet final.
    open_commands: ArcRwSignal<i64>,
}

impl Row {
    fn new(d: Device) -> Row {
        let latest = d
            .latest
            .into_iter()
            .map(|r| (r.sensor, (r.value, r.unit)))
            .collect();
        Row {
            id: d.id,
            registration_id: d.registration_id,
            name: d.name,
            status: d.status,
            last_seen: ArcRwSignal::new(d.last_seen),
            latest: ArcRwSignal::new(latest),
            open_commands: ArcRwSignal::new(d.open_commands),
        }
    }
}

/// Applies a live batch to the rows it names.
fn apply(rows: &[Row], batch: Vec<LiveReading>) {
    let now = time::now_rfc3339();
    let senders: HashSet<i64> = batch.iter().map(|r| r.device_id).collect();
    for row in rows.iter().filter(|r| senders.contains(&r.id)) {
        row.latest.update(|latest| {
            for r in batch.iter().filter(|r| r.device_id == row.id) {
                latest.insert(r.sensor.clone(), (r.value, r.unit.clone()));
            }
        });
        if now.is_some() {
            row.last_seen.set(now.clone());
        }
    }
}

/// A command's change moves its device's open count: `queued` is only ever
/// announced when a command is created, and a final status only once.
fn count_command(rows: &[Row], c: &Command) {
    let delta = match c.status {
        CommandStatus::Queued => 1,
        CommandStatus::Delivered => return,
        _ => -1,
    };
    if let Some(row) = rows.iter().find(|r| r.id == c.device_id) {
        row.open_commands.update(|n| *n = (*n + delta).max(0));
    }
}

/// Devices per page.
const PAGE: u32 = 50;
/// Seconds that count as online unless `?within=` says otherwise, as on
/// the server.
const DEFAULT_WITHIN_S: u32 = 300;
/// A search waits this long after the last key typed.
#[cfg_attr(not(feature = "browser"), allow(dead_code))]
const SEARCH_DELAY_MS: u64 = 300;
/// New devices reload the page at most this often.
#[cfg_attr(not(feature = "browser"), allow(dead_code))]
const RELOAD_DELAY_MS: u64 = 1000;

/// The sortable columns: their order and heading.
const COLUMNS: [(DeviceSort, &str); 4] = [
    (DeviceSort::RegistrationId, "Registration id"),
    (DeviceSort::Name, "Name"),
    (DeviceSort::Status, "Status"),
    (DeviceSort::LastSeen, "Last seen"),
];

/// Runs `f` after `ms` (in the browser; on the server, never).
fn later(ms: u64, f: impl FnOnce() + 'static) {
    #[cfg(feature = "browser")]
    set_timeout(f, std::time::Duration::from_millis(ms));
    #[cfg(not(feature = "browser"))]
    let _ = (ms, f);
}

#[component]
pub fn DevicesPanel() -> impl IntoView {
    let api = use_api();
    let auth = use_auth();
    time::provide_now();
    let filters = RwSignal::new(DeviceQuery {
        search: String::new(),
        status: None,
        within: DEFAULT_WITHIN_S,
        sort: DeviceSort::RegistrationId,
        order: SortOrder::Asc,
        limit: PAGE,
    });
    let url = leptos_router::hooks::use_query_map();
    Effect::new(move |_| {
        url.with(|q| {
            let status = q.get("status").and_then(|s| DeviceFilter::parse(&s));
            let within = q.get("within").and_then(|w| w.parse::<u32>().ok());
            filters.update(|f| {
                f.status = status;
                f.within = within.unwrap_or(DEFAULT_WITHIN_S);
            });
        })
    });
    let first = Memo::new(move |_| filters.with(DeviceQuery::path));
    let trail = Trail::new(first);
    let reload = RwSignal::new(0u32);
    let list = LocalResource::new(move || {
        let path = trail.current();
        reload.track();
        async move { api.page::<Device>(&path).await }
    });
    let rows = RwSignal::new(Vec::<Row>::new());
    Effect::new(move |_| {
        if let Some(Ok(p)) = list.get() {
            trail.loaded(p.next, p.total);
            rows.set(p.items.into_iter().map(Row::new).collect());
        }
    });

    let typed = RwSignal::new(String::new());
    let on_search = move |ev| {
        let text = event_target_value(&ev);
        typed.set(text.clone());
        // The page may be gone by then (a link followed at once).
        later(SEARCH_DELAY_MS, move || {
            if typed.try_get_untracked().as_ref() == Some(&text) {
                filters.try_update(|f| f.search = text);
            }
        });
    };
    let reload_pending = StoredValue::new(false);
    let reload_soon = move || {
        if !reload_pending.get_value() {
            reload_pending.set_value(true);
            later(RELOAD_DELAY_MS, move || {
                reload_pending.try_update_value(|p| *p = false);
                reload.try_update(|n| *n += 1);
            });
        }
    };

    let live_ready = RwSignal::new(false);
    let stream = StoredValue::new(SendOption::<Subscription>::new_local(None));
    Effect::new(move |_| {
        let Some(token) = auth.token() else { return };
        let sub = live::subscribe(
            token,
            None,
            live::Handlers {
                ready: move || live_ready.set(true),
                readings: move |batch| rows.with_untracked(|rows| apply(rows, batch)),
                command: move |change: live::Change| match change {
                    live::Change::Command(c) => rows.with_untracked(|rows| count_command(rows, &c)),
                    // A device new to the platform: the page is read again,
                    // so it appears where the order puts it.
                    live::Change::Device(_) => reload_soon(),
                },
                end: live::end_handler(auth),
            },
        );
        stream.update_value(|s| **s = Some(sub));
    });
    on_cleanup(move || stream.update_value(|s| **s = None));

    let set_status = move |ev| {
        let s = DeviceFilter::parse(&event_target_value(&ev));
        filters.update(|f| f.status = s);
    };
    view! {
        <section id="devices" class="mt-4" aria-labelledby="devices-title" data-live=move || if live_ready.get() { "ready" } else { "connecting" }>
            <div class="mb-2 flex flex-wrap items-end gap-3">
                <h2 id="devices-title" class="mr-auto text-lg font-semibold">"Devices"</h2>
                <label class="text-sm">"Search"
                    <input type="search" class="ml-1 rounded border border-slate-300 px-2 py-1" placeholder="id or name"
                        prop:value=move || typed.get() on:input=on_search/>
                </label>
                <label class="text-sm">"Status"
                    <select class="ml-1 rounded border border-slate-300 px-2 py-1" data-testid="devices-status-filter"
                        prop:value=move || filters.with(|f| f.status.map_or("all", DeviceFilter::as_str).to_owned())
                        on:change=set_status>
                        <option value="all">"All"</option>
                        <option value="active">"Active"</option>
                        <option value="online">{move || format!("Online (seen within {})", time::span(filters.with(|f| f.within)))}</option>
                        <option value="offline">"Offline"</option>
                        <option value="revoked">"Revoked"</option>
                    </select>
                </label>
            </div>
            <Transition fallback=|| view! { <Loading what="devices"/> }>
                <ErrorBoundary fallback=failures>
                    {move || Suspend::new(async move {
                        list.await.map(|_| view! {
                            <Show when=move || !rows.with(Vec::is_empty) fallback=|| view! {
                                <p class="text-slate-500" data-testid="devices-empty">"No devices match. Enroll one from the Admin page or with vigil-device."</p>
                            }>
                                <div class="overflow-x-auto" tabindex="0" role="region" aria-label="Devices">
                                    <table class="min-w-full border-collapse bg-white text-sm" data-testid="devices-table">
                                        <thead class="bg-slate-100 text-left">
                                            <tr>
                                                {COLUMNS.into_iter().map(|(sort, label)| view! { <SortHeader sort label filters/> }).collect_view()}
                                                <th class="p-2">"Latest"</th><th class="p-2">"Open commands"</th>
                                            </tr>
                                        </thead>
                                        <tbody>
                                            <For each=move || rows.get() key=|r: &Row| r.id children=device_row/>
                                        </tbody>
                                    </table>
                                </div>
                            </Show>
                        })
                    })}
                </ErrorBoundary>
            </Transition>
            <Pager trail count=Signal::derive(move || rows.with(Vec::len)) page_size=PAGE label="Device pages" testid="devices-shown"/>
        </section>
    }
}

/// A column heading that sorts the list by it: a first click ascending
/// (last seen: most recent first), the next reverses.
#[component]
fn SortHeader(
    sort: DeviceSort,
    label: &'static str,
    filters: RwSignal<DeviceQuery>,
) -> impl IntoView {
    let state = move || filters.with(|f| (f.sort == sort).then_some(f.order));
    let aria = move || match state() {
        Some(SortOrder::Asc) => "ascending",
        Some(SortOrder::Desc) => "descending",
        None => "none",
    };
    let arrow = move || match state() {
        Some(SortOrder::Asc) => "▲",
        Some(SortOrder::Desc) => "▼",
        None => "",
    };
    let click = move |_| {
        filters.update(|f| {
            f.order = match (f.sort == sort, f.order, sort) {
                (true, SortOrder::Asc, _) => SortOrder::Desc,
                (true, SortOrder::Desc, _) => SortOrder::Asc,
                (false, _, DeviceSort::LastSeen) => SortOrder::Desc,
                (false, _, _) => SortOrder::Asc,
            };
            f.sort = sort;
        })
    };
    view! {
        <th class="p-2" aria-sort=aria>
            <button type="button" class="font-semibold underline-offset-2 hover:underline" on:click=click>
                {label} <span aria-hidden="true">{arrow}</span>
            </button>
        </th>
    }
}

fn device_row(row: Row) -> impl IntoView {
    let Row {
        id,
        registration_id,
        name,
        status,
        last_seen,
        latest,
        open_commands,
    } = row;
    let badge = if status == DeviceStatus::Active {
        "bg-emerald-100 text-emerald-800"
    } else {
        "bg-red-100 text-red-800"
    };
    view! {
        <tr class="border-t border-slate-200" data-testid=format!("device-row-{registration_id}")>
            <td class="p-2"><a class="text-sky-700 underline" href=format!("/devices/{id}")>{registration_id.clone()}</a></td>
            <td class="p-2">{name}</td>
            <td class="p-2"><span class=format!("rounded px-2 py-0.5 {badge}") data-testid="device-status">{status.as_str()}</span></td>
            <td class="p-2">{move || match last_seen.get() {
                Some(ts) => view! { <Ago ts/> }.into_any(),
                None => "never".into_any(),
            }}</td>
            <td class="p-2" data-testid="device-latest">{move || latest.with(|m| {
                m.iter().map(|(s, (v, u))| format!("{s}: {v}{}", u.as_deref().unwrap_or(""))).collect::<Vec<_>>().join(", ")
            })}</td>
            <td class="p-2 tabular-nums" data-testid="device-open-commands">{move || open_commands.get()}</td>
        </tr>
    }
}
