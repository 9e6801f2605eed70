//! A figure and its label, the unit of the overview and Security pages;
//! with `href`, the whole card links to the list behind the figure.

use leptos::prelude::*;

const BOX: &str = "block rounded bg-white p-3 shadow-sm";

#[component]
pub fn Card(
    label: &'static str,
    value: i64,
    testid: &'static str,
    /// The list behind the figure.
    #[prop(optional, into)]
    href: Option<String>,
    /// Drawn under the figure (a sparkline).
    #[prop(optional)]
    children: Option<Children>,
) -> impl IntoView {
    let body = view! {
        <span class="block text-sm text-slate-600">{label}</span>
        <span class="block text-2xl font-semibold tabular-nums" data-testid=testid>{value}</span>
        {children.map(|c| c())}
    };
    match href {
        Some(href) => view! {
            <a href=href class=format!("{BOX} hover:bg-sky-50 focus-visible:outline focus-visible:outline-2 focus-visible:outline-sky-700")>{body}</a>
        }
        .into_any(),
        None => view! { <div class=BOX>{body}</div> }.into_any(),
    }
}
