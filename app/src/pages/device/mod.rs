//! One device: enrollment data, a chart per sensor (live over the last 10
//! minutes, or the last hour, day or week summed up by the server), a
//! history table over a chosen time range, and revocation.

mod history;

use leptos::{prelude::*, reactive::send_wrapper_ext::SendOption};
use leptos_router::hooks::use_params_map;

use history::History;

use crate::{
    api::use_api,
    components::{
        chart::{self, LineChart, Point},
        confirm::{use_confirm, Ask},
        header::Header,
        status::{failures, Failure, Loading},
        time::{self, Ago, Time},
        toast::use_toasts,
    },
    live::{self, Subscription},
    pages::commands::{upsert, CommandsPanel},
    session::{require_session, use_auth},
    types::{Command, Device, DeviceStatus, Reading, ReadingsAggregate, Role},
};

/// How much history the charts keep.
const WINDOW_MS: f64 = 10.0 * 60.0 * 1000.0;

#[component]
pub fn DevicePage() -> impl IntoView {
    let auth = require_session();
    let params = use_params_map();
    let id = move || params.with(|p| p.get("id").and_then(|s| s.parse::<i64>().ok()));
    view! {
        <Header/>
        <main id="main" tabindex="-1" class="mx-auto max-w-5xl space-y-4 p-4">
            <p><a href="/" class="text-sky-700 underline">"← All devices"</a></p>
            <Show when=move || auth.signed_in()>
                // Another device in the same page component: start afresh.
                {move || match id() {
                    Some(id) => view! { <DeviceView id/> }.into_any(),
                    None => view! { <p role="alert" class="text-red-700">"No such device."</p> }.into_any(),
                }}
            </Show>
        </main>
    }
}

#[component]
fn DeviceView(id: i64) -> impl IntoView {
    let api = use_api();
    let device = LocalResource::new(move || async move { api.device(id).await });
    // Filled by the commands panel, kept current by the live stream.
    let commands = ArcRwSignal::new(Vec::<Command>::new());
    let listed = commands.clone();
    view! {
        <Transition fallback=|| view! { <Loading what="the device"/> }>
            <ErrorBoundary fallback=failures>
                {move || {
                    let listed = listed.clone();
                    Suspend::new(async move {
                        device.await.map(|d| {
                            let active = d.status == DeviceStatus::Active;
                            view! {
                                <Summary device=d reload=move || device.refetch()/>
                                <CommandsPanel device_id=id list=listed active/>
                            }
                        })
                    })
                }}
            </ErrorBoundary>
        </Transition>
        <Charts id commands/>
        <History id/>
    }
}

/// Enrollment data and the revocation buttons.
#[component]
fn Summary(device: Device, reload: impl Fn() + Copy + Send + Sync + 'static) -> impl IntoView {
    let (api, auth) = (use_api(), use_auth());
    let id = device.id;
    let notice = RwSignal::new(None::<String>);
    let error = RwSignal::new(None::<String>);
    let (confirm, toasts) = (use_confirm(), use_toasts());
    let done = move |r: Result<(), crate::api::ApiFailure>, text: &str| {
        toasts.outcome(&r, text);
        match r {
            Ok(()) => {
                error.set(None);
                notice.set(Some(text.to_owned()));
                reload();
            }
            Err(f) => error.set(Some(f.message)),
        }
    };
    let revoke = Action::new_local(move |_: &()| async move {
        done(
            api.revoke_device(id).await,
            "Device revoked: its certificate and tokens are refused.",
        )
    });
    let revoke_tokens = Action::new_local(move |_: &()| async move {
        done(
            api.revoke_device_tokens(id).await,
            "The device's tokens are revoked.",
        )
    });
    let (revoking, revoking_tokens) = (revoke.pending(), revoke_tokens.pending());
    let active = device.status == DeviceStatus::Active;
    let is_admin = move || auth.role() == Some(Role::Admin);
    let can_operate = move || matches!(auth.role(), Some(Role::Admin | Role::Operator));
    let rid = device.registration_id.clone();
    let on_revoke = {
        let rid = rid.clone();
        move |_| {
            confirm.ask(Ask {
            title: format!("Revoke device {rid}?"),
            detail: format!(
                "{rid} is cut off for good: its certificate is refused at the next handshake, every token of it is revoked, its open connections and MQTT sessions end, and its open commands are cancelled. It cannot be made active again; enroll it anew to bring it back."
            ),
            confirm: format!("Revoke {rid}"),
        }, move || { revoke.dispatch_local(()); })
        }
    };
    let on_revoke_tokens = move |_| {
        confirm.ask(Ask {
        title: format!("Revoke the tokens of {rid}?"),
        detail: format!(
            "Every token {rid} holds is refused at once and its MQTT sessions end. Its certificate stays trusted: it can ask for a new token."
        ),
        confirm: "Revoke its tokens".into(),
    }, move || { revoke_tokens.dispatch_local(()); })
    };
    view! {
        <Show when=move || notice.with(Option::is_some)>
            <p role="status" class="rounded bg-emerald-50 p-2 text-emerald-900">{move || notice.get()}</p>
        </Show>
        <Failure message=error.into()/>
        <section aria-labelledby="device-title" class="rounded bg-white p-4 shadow-sm">
            <h1 id="device-title" class="text-xl font-semibold">{device.name.clone()}</h1>
            <dl class="mt-2 grid grid-cols-1 gap-x-4 gap-y-1 text-sm sm:grid-cols-[max-content_1fr]">
                <dt class="font-medium">"Registration id"</dt><dd>{device.registration_id.clone()}</dd>
                <dt class="font-medium">"Status"</dt><dd data-testid="device-status">{device.status.as_str()}</dd>
                <dt class="font-medium">"Enrollment"</dt><dd>{device.enrollment.as_str().replace('_', "-")}</dd>
                <dt class="font-medium">"Certificate SHA-256"</dt><dd class="break-all font-mono text-xs">{device.cert_sha256.clone()}</dd>
                <dt class="font-medium">"Enrolled"</dt><dd><Time ts=device.created_at.clone()/></dd>
                <dt class="font-medium">"Last seen"</dt><dd>{match device.last_seen.clone() { Some(ts) => view! { <Ago ts/> }.into_any(), None => "never".into_any() }}</dd>
            </dl>
            <div class="mt-3 flex flex-wrap gap-2">
                <Show when=move || can_operate() && active>
                    <button type="button" class="rounded border border-slate-400 px-3 py-1 text-sm disabled:opacity-50"
                        disabled=move || revoking_tokens.get()
                        on:click=on_revoke_tokens.clone()>
                        "Revoke tokens"
                    </button>
                </Show>
                <Show when=move || is_admin() && active>
                    <button type="button" class="rounded bg-red-700 px-3 py-1 text-sm text-white disabled:opacity-50"
                        disabled=move || revoking.get() on:click=on_revoke.clone()>
                        "Revoke device"
                    </button>
                </Show>
            </div>
        </section>
    }
}

/// One sensor's chart: its unit and points, as signals the stream updates.
#[derive(Clone)]
struct Series {
    sensor: String,
    unit: ArcRwSignal<Option<String>>,
    points: ArcRwSignal<Vec<Point>>,
}

/// Adds a reading to its sensor's series (made when new), keeping the
/// last ten minutes. Only that series' signals change.
fn add(all: RwSignal<Vec<Series>>, r: Reading) {
    let known = all.with_untracked(|s| s.iter().find(|x| x.sensor == r.sensor).cloned());
    let series = known.unwrap_or_else(|| {
        let new = Series {
            sensor: r.sensor.clone(),
            unit: ArcRwSignal::new(None),
            points: ArcRwSignal::new(Vec::new()),
        };
        all.update(|s| {
            s.push(new.clone());
            s.sort_by(|a, b| a.sensor.cmp(&b.sensor));
        });
        new
    });
    if r.unit.is_some() && series.unit.with_untracked(|u| *u != r.unit) {
        series.unit.set(r.unit);
    }
    let t = time::millis(&r.ts);
    series.points.update(|pts| {
        pts.push(Point {
            t,
            v: r.value,
            ts: r.ts,
            band: None,
        });
        pts.sort_by(|a, b| a.t.total_cmp(&b.t));
        let newest = pts.last().map(|p| p.t).unwrap_or(t);
        pts.retain(|p| p.t >= newest - WINDOW_MS);
    });
}

/// What the charts show: the live stream, or a range summed up by the
/// server (`…/readings/aggregate`), so a week never downloads raw rows.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Span {
    Live,
    Hour,
    Day,
    Week,
}

impl Span {
    const ALL: [Span; 4] = [Span::Live, Span::Hour, Span::Day, Span::Week];

    fn label(self) -> &'static str {
        match self {
            Span::Live => "Live",
            Span::Hour => "1 h",
            Span::Day => "24 h",
            Span::Week => "7 d",
        }
    }

    fn millis(self) -> f64 {
        let hour = 3600.0 * 1000.0;
        match self {
            Span::Live => WINDOW_MS,
            Span::Hour => hour,
            Span::Day => 24.0 * hour,
            Span::Week => 7.0 * 24.0 * hour,
        }
    }
}

/// Points per chart of a range.
const BUCKETS: u32 = 120;

/// The range picker, the live charts (kept subscribed whatever the range:
/// the stream also carries the commands panel's changes) and the charts
/// of a range.
#[component]
fn Charts(id: i64, commands: ArcRwSignal<Vec<Command>>) -> impl IntoView {
    let span = RwSignal::new(Span::Live);
    view! {
        <section aria-labelledby="charts-title" class="space-y-2">
            <div class="flex flex-wrap items-center justify-between gap-2">
                <h2 id="charts-title" class="text-lg font-semibold">
                    {move || match span.get() {
                        Span::Live => "Live (last 10 minutes)".to_owned(),
                        s => format!("Last {}", s.label()),
                    }}
                </h2>
                <div role="group" aria-label="Chart range" class="inline-flex overflow-hidden rounded border border-slate-300 text-sm">
                    {Span::ALL.map(|s| view! {
                        <button type="button"
                            class="px-3 py-1 aria-pressed:bg-sky-700 aria-pressed:text-white"
                            aria-pressed=move || (span.get() == s).to_string()
                            on:click=move |_| span.set(s)>
                            {s.label()}
                        </button>
                    }).collect_view()}
                </div>
            </div>
            <div class:hidden=move || span.get() != Span::Live>
                <LiveCharts id commands/>
            </div>
            <Show when=move || span.get() != Span::Live>
                <RangeCharts id span=span.into()/>
            </Show>
        </section>
    }
}

/// One chart per sensor of the range: each point a bucket's average.
#[component]
fn RangeCharts(id: i64, span: Signal<Span>) -> impl IntoView {
    let api = use_api();
    chart::provide_cursor();
    let summary = LocalResource::new(move || {
        // Both ends by the browser's clock: a skew with the server's
        // cannot turn the range around.
        let range = (time::before_now(span.get().millis()), time::before_now(0.0));
        async move { api.readings_aggregate(id, range, BUCKETS).await }
    });
    view! {
        <Transition fallback=|| view! { <Loading what="the readings"/> }>
            <ErrorBoundary fallback=failures>
                {move || Suspend::new(async move { summary.await.map(range_charts) })}
            </ErrorBoundary>
        </Transition>
    }
}

fn range_charts(summary: ReadingsAggregate) -> AnyView {
    if summary.buckets.is_empty() {
        return view! { <p class="text-slate-500" data-testid="no-range-readings">"No readings in this range."</p> }
            .into_any();
    }
    // Buckets come by sensor, then time.
    let mut series: Vec<(String, Vec<Point>, i64)> = Vec::new();
    for b in summary.buckets {
        if series.last().is_none_or(|(s, _, _)| *s != b.sensor) {
            series.push((b.sensor.clone(), Vec::new(), 0));
        }
        if let Some((_, points, count)) = series.last_mut() {
            points.push(Point {
                t: time::millis(&b.start),
                v: b.avg,
                ts: b.start,
                band: Some((b.min, b.max)),
            });
            *count += b.count;
        }
    }
    let domain = (time::millis(&summary.from), time::millis(&summary.to));
    let minutes = summary.bucket_ms as f64 / 60_000.0;
    let per = if minutes < 1.0 {
        format!("{:.0} s", minutes * 60.0)
    } else if minutes < 120.0 {
        format!("{minutes:.0} min")
    } else {
        format!("{:.0} h", minutes / 60.0)
    };
    view! {
        <div class="grid gap-4 md:grid-cols-2" data-testid="range-charts">
            {series.into_iter().map(|(sensor, points, count)| view! {
                <div>
                    <LineChart sensor=sensor.clone() unit=Signal::derive(|| None)
                        points=Signal::derive(move || points.clone()) domain=Signal::derive(move || domain)/>
                    <p class="px-1 text-xs text-slate-600" data-testid=format!("range-count-{sensor}")>
                        {format!("Average per {per}; {count} reading{}", if count == 1 { "" } else { "s" })}
                    </p>
                </div>
            }).collect_view()}
        </div>
    }
    .into_any()
}

#[component]
fn LiveCharts(id: i64, commands: ArcRwSignal<Vec<Command>>) -> impl IntoView {
    let (api, auth) = (use_api(), use_auth());
    chart::provide_cursor();
    let series = RwSignal::new(Vec::<Series>::new());
    // One time axis for all: the window up to the newest reading of any.
    let domain = Signal::derive(move || {
        let newest = series.with(|all| {
            all.iter()
                .filter_map(|s| s.points.with(|p| p.last().map(|p| p.t)))
                .fold(f64::MIN, f64::max)
        });
        (newest - WINDOW_MS, newest.max(newest - WINDOW_MS + 1.0))
    });
    let live_ready = RwSignal::new(false);
    let stream = StoredValue::new(SendOption::<Subscription>::new_local(None));
    // The charts start from recent history, then follow the stream.
    let recent = LocalResource::new(move || async move { api.readings(id, None, None, 500).await });
    Effect::new(move |_| {
        if let Some(Ok(rows)) = recent.get() {
            for r in rows {
                add(series, r);
            }
        }
    });
    Effect::new(move |_| {
        let Some(token) = auth.token() else { return };
        let sub = live::subscribe(
            token,
            Some(id),
            live::Handlers {
                ready: move || live_ready.set(true),
                readings: move |batch: Vec<crate::types::LiveReading>| {
                    for r in batch.into_iter().filter(|r| r.device_id == id) {
                        add(
                            series,
                            Reading {
                                sensor: r.sensor,
                                value: r.value,
                                unit: r.unit,
                                ts: r.ts,
                            },
                        );
                    }
                },
                command: {
                    let commands = commands.clone();
                    move |change: live::Change| {
                        if let live::Change::Command(c) = change {
                            if c.device_id == id {
                                upsert(&commands, c);
                            }
                        }
                    }
                },
                end: live::end_handler(auth),
            },
        );
        stream.update_value(|s| **s = Some(sub));
    });
    on_cleanup(move || stream.update_value(|s| **s = None));
    view! {
        <div data-live=move || if live_ready.get() { "ready" } else { "connecting" }>
            <Show when=move || series.with(|s| !s.is_empty()) fallback=|| view! {
                <p class="text-slate-500" data-testid="no-readings">"No readings yet."</p>
            }>
                <div class="grid gap-4 md:grid-cols-2">
                    <For each=move || series.get() key=|s: &Series| s.sensor.clone() let:s>
                        <LineChart sensor=s.sensor.clone()
                            unit=Signal::derive(move || s.unit.get())
                            points=Signal::derive(move || s.points.get()) domain/>
                    </For>
                </div>
            </Show>
        </div>
    }
}
