//! Toasts: one short line for the outcome of every action, in a live
//! region screen readers announce, gone after a few seconds or when
//! dismissed.

use leptos::prelude::*;

/// Seconds a toast stays.
#[cfg_attr(not(feature = "browser"), allow(dead_code))]
const SHOWN_S: u64 = 6;

#[derive(Debug, Clone, PartialEq, Eq)]
struct Toast {
    id: u64,
    text: String,
    failed: bool,
}

/// The toasts' handle, in context.
#[derive(Clone, Copy)]
pub struct Toasts {
    shown: RwSignal<Vec<Toast>>,
    next: StoredValue<u64>,
}

impl Toasts {
    pub fn done(&self, text: impl Into<String>) {
        self.push(text.into(), false);
    }

    pub fn failed(&self, text: impl Into<String>) {
        self.push(text.into(), true);
    }

    /// `Ok` says `done`, `Err` its message.
    pub fn outcome<T>(&self, r: &Result<T, crate::api::ApiFailure>, done: impl Into<String>) {
        match r {
            Ok(_) => self.done(done),
            Err(f) => self.failed(f.message.clone()),
        }
    }

    fn push(&self, text: String, failed: bool) {
        let id = self.next.get_value();
        self.next.set_value(id + 1);
        self.shown.update(|s| s.push(Toast { id, text, failed }));
        let shown = self.shown;
        #[cfg(feature = "browser")]
        set_timeout(
            move || shown.update(|s| s.retain(|t| t.id != id)),
            std::time::Duration::from_secs(SHOWN_S),
        );
        #[cfg(not(feature = "browser"))]
        let _ = shown;
    }
}

pub fn use_toasts() -> Toasts {
    expect_context::<Toasts>()
}

/// Provides the handle to the whole app (in `App`).
pub fn provide() {
    provide_context(Toasts {
        shown: RwSignal::new(Vec::new()),
        next: StoredValue::new(0),
    });
}

/// The region (once, in the layout).
#[component]
pub fn ToastRegion() -> impl IntoView {
    let t = use_toasts();
    view! {
        <div role="region" aria-label="Notifications" aria-live="polite"
            class="pointer-events-none fixed bottom-4 right-4 z-50 flex w-80 flex-col gap-2" data-testid="toasts">
            <For each=move || t.shown.get() key=|toast| toast.id let:toast>
                <div class=if toast.failed { "pointer-events-auto flex items-start gap-2 rounded bg-red-100 p-3 text-sm text-red-800 shadow" }
                        else { "pointer-events-auto flex items-start gap-2 rounded bg-emerald-100 p-3 text-sm text-emerald-900 shadow" }
                    data-testid="toast">
                    <span class="mr-auto">{toast.text.clone()}</span>
                    <button type="button" class="text-xs underline" aria-label="Dismiss"
                        on:click=move |_| t.shown.update(|s| s.retain(|x| x.id != toast.id))>"×"</button>
                </div>
            </For>
        </div>
    }
}
