//! Previous and Next under a paged list, and which of its items are shown.
//! The trail holds the path of every page walked through to this one: the
//! first from the list's filters, each next from its predecessor's `Link`.

use leptos::prelude::*;

/// The pages walked through, and what the current one said.
#[derive(Clone, Copy)]
pub struct Trail {
    pages: RwSignal<Vec<String>>,
    /// The current page's next page and total, once it has loaded.
    pub next: RwSignal<Option<String>>,
    pub total: RwSignal<Option<i64>>,
}

impl Trail {
    /// A trail that starts again at `first` whenever it changes.
    pub fn new(first: Memo<String>) -> Trail {
        let t = Trail {
            pages: RwSignal::new(vec![first.get_untracked()]),
            next: RwSignal::new(None),
            total: RwSignal::new(None),
        };
        Effect::new(move |_| {
            let first = first.get();
            if t.pages.with_untracked(|p| p.first() != Some(&first)) {
                t.pages.set(vec![first]);
            }
        });
        t
    }

    /// The current page's path (tracked).
    pub fn current(&self) -> String {
        self.pages.with(|p| p.last().cloned().unwrap_or_default())
    }

    /// Records what the current page's answer said.
    pub fn loaded(&self, next: Option<String>, total: Option<i64>) {
        self.next.set(next);
        self.total.set(total);
    }

    fn depth(&self) -> usize {
        self.pages.with(Vec::len)
    }
}

#[component]
pub fn Pager(
    trail: Trail,
    /// Items on the current page.
    #[prop(into)]
    count: Signal<usize>,
    page_size: u32,
    /// What the list holds (`Device pages`).
    label: &'static str,
    testid: &'static str,
) -> impl IntoView {
    let shown = move || {
        let from = (trail.depth().saturating_sub(1) * page_size as usize) as i64;
        let n = count.get() as i64;
        match trail.total.get() {
            _ if n == 0 => String::new(),
            Some(total) => format!("{}–{} of {total}", from + 1, from + n),
            None => format!("{}–{}", from + 1, from + n),
        }
    };
    view! {
        <nav class="mt-2 flex items-center gap-3 text-sm" aria-label=label>
            <span class="mr-auto text-slate-600" data-testid=testid aria-live="polite">{shown}</span>
            <button type="button" class="rounded border border-slate-300 px-2 py-1 disabled:opacity-50"
                disabled=move || trail.depth() < 2
                on:click=move |_| trail.pages.update(|p| { if p.len() > 1 { p.pop(); } })>"Previous"</button>
            <button type="button" class="rounded border border-slate-300 px-2 py-1 disabled:opacity-50"
                disabled=move || trail.next.with(Option::is_none)
                on:click=move |_| if let Some(next) = trail.next.get_untracked() { trail.pages.update(|p| p.push(next)); }>"Next"</button>
        </nav>
    }
}
