//! A line chart of one sensor in SVG, with axes, bounds and unit.

use leptos::prelude::*;

const W: f64 = 640.0;
const H: f64 = 220.0;
const LEFT: f64 = 56.0;
const RIGHT: f64 = 12.0;
const TOP: f64 = 12.0;
const BOTTOM: f64 = 28.0;

/// One point: (milliseconds since the epoch, value), plus the RFC 3339 time.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    pub t: f64,
    pub v: f64,
    pub ts: String,
}

fn fmt(v: f64) -> String {
    if v.abs() >= 1000.0 || v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

#[component]
pub fn LineChart(
    sensor: String,
    unit: Signal<Option<String>>,
    points: Signal<Vec<Point>>,
) -> impl IntoView {
    let label = sensor.clone();
    view! {
        <figure class="rounded border border-slate-200 bg-white p-2" data-testid=format!("chart-{sensor}")>
            <figcaption class="px-1 text-sm font-medium">
                {label} {move || unit.get().map(|u| format!(" ({u})"))}
                <span class="ml-2 text-slate-500" data-testid=format!("latest-{sensor}")>
                    {move || points.with(|p| p.last().map(|p| fmt(p.v)))}
                </span>
            </figcaption>
            <svg viewBox=format!("0 0 {W} {H}") class="h-auto w-full" role="img"
                 aria-label=format!("{sensor} over time")>
                {move || {
                    let pts = points.get();
                    if pts.is_empty() {
                        return view! { <text x="50%" y="50%" text-anchor="middle" class="fill-slate-400 text-sm">"No readings yet"</text> }.into_any();
                    }
                    let (t0, t1) = (pts[0].t, pts[pts.len() - 1].t.max(pts[0].t + 1.0));
                    let (mut lo, mut hi) = pts.iter().fold((f64::MAX, f64::MIN), |(lo, hi), p| (lo.min(p.v), hi.max(p.v)));
                    if hi - lo < 1e-9 { lo -= 1.0; hi += 1.0; }
                    let x = |t: f64| LEFT + (t - t0) / (t1 - t0) * (W - LEFT - RIGHT);
                    let y = |v: f64| TOP + (hi - v) / (hi - lo) * (H - TOP - BOTTOM);
                    let line: String = pts.iter().map(|p| format!("{:.1},{:.1}", x(p.t), y(p.v))).collect::<Vec<_>>().join(" ");
                    let u = unit.get().unwrap_or_default();
                    let first = super::time::clock(&pts[0].ts);
                    let last = super::time::clock(&pts[pts.len() - 1].ts);
                    view! {
                        <line x1=LEFT y1=TOP x2=LEFT y2=H - BOTTOM class="stroke-slate-400"/>
                        <line x1=LEFT y1=H - BOTTOM x2=W - RIGHT y2=H - BOTTOM class="stroke-slate-400"/>
                        <text x=LEFT - 4.0 y=TOP + 10.0 text-anchor="end" class="fill-slate-600 text-[10px]">{format!("{}{u}", fmt(hi))}</text>
                        <text x=LEFT - 4.0 y=H - BOTTOM text-anchor="end" class="fill-slate-600 text-[10px]">{format!("{}{u}", fmt(lo))}</text>
                        <text x=LEFT y=H - 8.0 class="fill-slate-600 text-[10px]">{first}</text>
                        <text x=W - RIGHT y=H - 8.0 text-anchor="end" class="fill-slate-600 text-[10px]">{last}</text>
                        <polyline points=line fill="none" class="stroke-sky-600" stroke-width="2"/>
                    }.into_any()
                }}
            </svg>
        </figure>
    }
}
