//! A small line of counts, oldest first, for a card: no axes, the
//! highest count named for screen readers.

use leptos::prelude::*;

const W: f64 = 120.0;
const H: f64 = 28.0;

/// The polyline's points for `counts`, scaled to the box, the highest
/// count at the top (a flat line at the bottom when all are 0).
pub fn points(counts: &[i64]) -> String {
    let max = counts.iter().copied().max().unwrap_or(0).max(1) as f64;
    let step = if counts.len() > 1 {
        W / (counts.len() - 1) as f64
    } else {
        0.0
    };
    counts
        .iter()
        .enumerate()
        .map(|(i, &c)| {
            format!(
                "{:.1},{:.1}",
                i as f64 * step,
                H - 1.0 - c as f64 / max * (H - 2.0)
            )
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[component]
pub fn Sparkline(counts: Vec<i64>, label: String, testid: &'static str) -> impl IntoView {
    let max = counts.iter().copied().max().unwrap_or(0);
    view! {
        <svg viewBox=format!("0 0 {W} {H}") class="mt-1 h-7 w-full" preserveAspectRatio="none"
             role="img" aria-label=format!("{label}; highest {max}") data-testid=testid>
            <polyline points=points(&counts) fill="none" class="stroke-sky-600" stroke-width="1.5"
                      vector-effect="non-scaling-stroke"/>
        </svg>
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_highest_count_touches_the_top() {
        assert_eq!(super::points(&[0, 2, 1]), "0.0,27.0 60.0,1.0 120.0,14.0");
        assert_eq!(super::points(&[0, 0]), "0.0,27.0 120.0,27.0");
        assert_eq!(super::points(&[]), "");
    }
}
