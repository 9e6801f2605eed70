//! A line chart of one sensor in SVG, with axes, bounds and unit; for a
//! summed-up range, the band between each bucket's lowest and highest
//! value under the average. Charts drawn side by side share a time axis
//! and a hover cursor (`provide_cursor`): pointing at one marks the same
//! moment on all, each with its value there. By keyboard, a focused chart's
//! arrow keys walk the cursor from reading to reading.

use leptos::prelude::*;

const W: f64 = 640.0;
const H: f64 = 220.0;
const LEFT: f64 = 56.0;
const RIGHT: f64 = 12.0;
const TOP: f64 = 12.0;
const BOTTOM: f64 = 28.0;

/// One point: (milliseconds since the epoch, value), plus the RFC 3339 time
/// and, for a bucket, its lowest and highest value.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    pub t: f64,
    pub v: f64,
    pub ts: String,
    pub band: Option<(f64, f64)>,
}

/// The moment pointed at (ms since the epoch), shared by the charts under
/// the component that provides it.
#[derive(Clone, Copy)]
pub struct Cursor(RwSignal<Option<f64>>);

pub fn provide_cursor() {
    provide_context(Cursor(RwSignal::new(None)));
}

fn fmt(v: f64) -> String {
    if v.abs() >= 1000.0 || v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

/// The point nearest to `t`.
fn nearest(pts: &[Point], t: f64) -> Option<&Point> {
    pts.iter()
        .min_by(|a, b| (a.t - t).abs().total_cmp(&(b.t - t).abs()))
}

/// Where a key moves the cursor among the points: the previous or next
/// point (Left, Right), the first or last (Home, End), or away (Escape).
/// `None` for a key that is not the chart's: the event goes on.
fn stepped(pts: &[Point], at: Option<f64>, key: &str) -> Option<Option<f64>> {
    let last = pts.len().checked_sub(1);
    let here = at.and_then(|t| {
        pts.iter()
            .enumerate()
            .min_by(|(_, a), (_, b)| (a.t - t).abs().total_cmp(&(b.t - t).abs()))
            .map(|(i, _)| i)
    });
    let to = match key {
        "ArrowLeft" => here.map_or(last, |i| Some(i.saturating_sub(1))),
        "ArrowRight" => here.map_or(Some(0), |i| Some((i + 1).min(last?))),
        "Home" => Some(0),
        "End" => last,
        "Escape" => return Some(None),
        _ => return None,
    };
    Some(to.and_then(|i| pts.get(i)).map(|p| p.t))
}

/// The time under the pointer: its x across the chart's plot area, as a
/// share of the time axis (browser only).
#[cfg(feature = "browser")]
fn pointed(ev: &leptos::ev::PointerEvent, (t0, t1): (f64, f64)) -> Option<f64> {
    use wasm_bindgen::JsCast;
    let svg = ev.current_target()?.dyn_into::<web_sys::Element>().ok()?;
    let rect = svg.get_bounding_client_rect();
    if rect.width() <= 0.0 {
        return None;
    }
    let x = (f64::from(ev.client_x()) - rect.left()) / rect.width() * W;
    let share = ((x - LEFT) / (W - LEFT - RIGHT)).clamp(0.0, 1.0);
    Some(t0 + share * (t1 - t0))
}

#[component]
pub fn LineChart(
    sensor: String,
    unit: Signal<Option<String>>,
    points: Signal<Vec<Point>>,
    /// The time axis (ms); by default from the first point to the last.
    #[prop(optional)]
    domain: Option<Signal<(f64, f64)>>,
) -> impl IntoView {
    let cursor = use_context::<Cursor>();
    let label = sensor.clone();
    let axis = move || {
        domain.map(|d| d.get()).or_else(|| {
            points.with(|p| {
                let (first, last) = (p.first()?.t, p.last()?.t);
                Some((first, last.max(first + 1.0)))
            })
        })
    };
    let readout = move || {
        let t = cursor.and_then(|c| c.0.get())?;
        points.with(|p| {
            nearest(p, t).map(|p| format!("{} at {}", fmt(p.v), super::time::clock(&p.ts)))
        })
    };
    let on_move = move |ev: leptos::ev::PointerEvent| {
        #[cfg(feature = "browser")]
        if let (Some(c), Some(a)) = (cursor, axis()) {
            c.0.set(pointed(&ev, a));
        }
        #[cfg(not(feature = "browser"))]
        let _ = ev;
    };
    let clear = move || {
        if let Some(c) = cursor {
            c.0.set(None);
        }
    };
    // By keyboard: the chart takes the focus, the arrows walk its points.
    let on_key = move |ev: leptos::ev::KeyboardEvent| {
        let Some(c) = cursor else { return };
        let moved = points.with(|p| stepped(p, c.0.get_untracked(), &ev.key()));
        if let Some(t) = moved {
            ev.prevent_default();
            c.0.set(t);
        }
    };
    view! {
        <figure class="rounded border border-slate-200 bg-white p-2" data-testid=format!("chart-{sensor}")>
            <figcaption class="px-1 text-sm font-medium">
                {label} {move || unit.get().map(|u| format!(" ({u})"))}
                <span class="ml-2 text-slate-500" data-testid=format!("latest-{sensor}")>
                    {move || points.with(|p| p.last().map(|p| fmt(p.v)))}
                </span>
                <span class="ml-2 text-xs text-slate-600" aria-live="polite" data-testid=format!("cursor-{sensor}")>{readout}</span>
            </figcaption>
            <svg viewBox=format!("0 0 {W} {H}") class="h-auto w-full touch-none rounded focus-visible:outline-2 focus-visible:outline-sky-600" role="img"
                 tabindex="0" aria-label=format!("{sensor} over time; arrow keys move the cursor between readings")
                 on:pointermove=on_move on:pointerleave=move |_| clear() on:keydown=on_key on:blur=move |_| clear()>
                {move || {
                    let pts = points.get();
                    let Some((t0, t1)) = axis().filter(|_| !pts.is_empty()) else {
                        return view! { <text x="50%" y="50%" text-anchor="middle" class="fill-slate-400 text-sm">"No readings yet"</text> }.into_any();
                    };
                    let (mut lo, mut hi) = pts.iter().fold((f64::MAX, f64::MIN), |(lo, hi), p| {
                        let (a, b) = p.band.unwrap_or((p.v, p.v));
                        (lo.min(a).min(p.v), hi.max(b).max(p.v))
                    });
                    if hi - lo < 1e-9 { lo -= 1.0; hi += 1.0; }
                    let x = move |t: f64| LEFT + (t - t0) / (t1 - t0) * (W - LEFT - RIGHT);
                    let y = move |v: f64| TOP + (hi - v) / (hi - lo) * (H - TOP - BOTTOM);
                    let line: String = pts.iter().map(|p| format!("{:.1},{:.1}", x(p.t), y(p.v))).collect::<Vec<_>>().join(" ");
                    // The band: along the highs, back along the lows.
                    let band = pts.iter().all(|p| p.band.is_some()).then(|| {
                        let up = pts.iter().filter_map(|p| p.band.map(|(_, b)| format!("{:.1},{:.1}", x(p.t), y(b))));
                        let down = pts.iter().rev().filter_map(|p| p.band.map(|(a, _)| format!("{:.1},{:.1}", x(p.t), y(a))));
                        up.chain(down).collect::<Vec<_>>().join(" ")
                    });
                    let u = unit.get().unwrap_or_default();
                    let (first, last) = (super::time::clock(&pts[0].ts), super::time::clock(&pts[pts.len() - 1].ts));
                    let mark = move || {
                        let t = cursor.and_then(|c| c.0.get()).filter(|t| (t0..=t1).contains(t))?;
                        let px = x(t);
                        Some(view! { <line x1=px y1=TOP x2=px y2=H - BOTTOM class="stroke-slate-500" stroke-dasharray="4 3" data-testid="chart-cursor"/> })
                    };
                    view! {
                        <line x1=LEFT y1=TOP x2=LEFT y2=H - BOTTOM class="stroke-slate-400"/>
                        <line x1=LEFT y1=H - BOTTOM x2=W - RIGHT y2=H - BOTTOM class="stroke-slate-400"/>
                        <text x=LEFT - 4.0 y=TOP + 10.0 text-anchor="end" class="fill-slate-600 text-[10px]">{format!("{}{u}", fmt(hi))}</text>
                        <text x=LEFT - 4.0 y=H - BOTTOM text-anchor="end" class="fill-slate-600 text-[10px]">{format!("{}{u}", fmt(lo))}</text>
                        <text x=LEFT y=H - 8.0 class="fill-slate-600 text-[10px]">{first}</text>
                        <text x=W - RIGHT y=H - 8.0 text-anchor="end" class="fill-slate-600 text-[10px]">{last}</text>
                        {band.map(|b| view! { <polygon points=b class="fill-sky-600/20" data-testid="chart-band"/> })}
                        <polyline points=line fill="none" class="stroke-sky-600" stroke-width="2"/>
                        {mark}
                    }.into_any()
                }}
            </svg>
        </figure>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(t: f64) -> Point {
        Point {
            t,
            v: t / 10.0,
            ts: String::new(),
            band: None,
        }
    }

    #[test]
    fn the_cursor_reads_the_nearest_point() {
        let pts = [at(0.0), at(100.0), at(250.0)];
        assert_eq!(nearest(&pts, 160.0).map(|p| p.t), Some(100.0));
        assert_eq!(nearest(&pts, 190.0).map(|p| p.t), Some(250.0));
        assert_eq!(nearest(&[], 1.0), None);
    }

    #[test]
    fn the_keys_walk_the_points_and_stop_at_the_ends() {
        let pts = [at(0.0), at(100.0), at(250.0)];
        // From nowhere: Left starts at the last point, Right at the first.
        assert_eq!(stepped(&pts, None, "ArrowLeft"), Some(Some(250.0)));
        assert_eq!(stepped(&pts, None, "ArrowRight"), Some(Some(0.0)));
        // From the time another chart set: its nearest point, then one on.
        assert_eq!(stepped(&pts, Some(120.0), "ArrowRight"), Some(Some(250.0)));
        assert_eq!(stepped(&pts, Some(120.0), "ArrowLeft"), Some(Some(0.0)));
        assert_eq!(stepped(&pts, Some(250.0), "ArrowRight"), Some(Some(250.0)));
        assert_eq!(stepped(&pts, Some(0.0), "ArrowLeft"), Some(Some(0.0)));
        assert_eq!(stepped(&pts, Some(120.0), "Home"), Some(Some(0.0)));
        assert_eq!(stepped(&pts, None, "End"), Some(Some(250.0)));
        assert_eq!(stepped(&pts, Some(100.0), "Escape"), Some(None));
        // Other keys are not the chart's (Tab leaves it).
        assert_eq!(stepped(&pts, Some(100.0), "Tab"), None);
        assert_eq!(stepped(&[], None, "ArrowLeft"), Some(None));
        assert_eq!(stepped(&[], None, "ArrowRight"), Some(None));
    }
}
