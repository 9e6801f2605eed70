//! The one confirmation dialog every destructive action goes through: a
//! native modal `<dialog>`, so focus stays inside it while it is open
//! (the rest of the page is inert), Escape cancels, and focus returns to
//! the button that opened it. The question names exactly what will be
//! cut off.

use std::cell::RefCell;

use leptos::{html, prelude::*};

/// What to ask.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ask {
    pub title: String,
    /// What happens, in full.
    pub detail: String,
    /// The confirming button's label (`Revoke boiler-1`).
    pub confirm: String,
}

/// The dialog's handle, in context.
#[derive(Clone, Copy)]
pub struct Confirmer {
    ask: RwSignal<Option<Ask>>,
}

/// What runs on a confirm and on a cancel of the open question. Kept by
/// the thread, not in the reactive arena: the closures are not `Send`
/// (they hold the page's handles), and a value of the arena that is not
/// `Send` panics when the server renders a page on one thread and drops
/// it on another (a lazy route's render awaits, and may move). Only the
/// browser, which has one thread, ever stores one.
type Pending = Option<Box<dyn FnOnce()>>;
thread_local! {
    static THEN: RefCell<Pending> = const { RefCell::new(None) };
    static OTHERWISE: RefCell<Pending> = const { RefCell::new(None) };
}

fn take(slot: &'static std::thread::LocalKey<RefCell<Pending>>) -> Pending {
    slot.with(|s| s.borrow_mut().take())
}

fn put(slot: &'static std::thread::LocalKey<RefCell<Pending>>, value: Pending) {
    slot.with(|s| *s.borrow_mut() = value);
}

impl Confirmer {
    /// Opens the dialog; `then` runs only if the user confirms.
    pub fn ask(&self, ask: Ask, then: impl FnOnce() + 'static) {
        self.ask_or(ask, then, || {});
    }

    /// As `ask`; `otherwise` runs if the user cancels, to undo what led
    /// here (a select put back to its value).
    pub fn ask_or(
        &self,
        ask: Ask,
        then: impl FnOnce() + 'static,
        otherwise: impl FnOnce() + 'static,
    ) {
        // A question still open is cancelled by the new one.
        if let Some(undo) = take(&OTHERWISE) {
            undo();
        }
        put(&THEN, Some(Box::new(then)));
        put(&OTHERWISE, Some(Box::new(otherwise)));
        self.ask.set(Some(ask));
    }
}

pub fn use_confirm() -> Confirmer {
    expect_context::<Confirmer>()
}

/// Provides the handle to the whole app (in `App`).
pub fn provide() {
    provide_context(Confirmer {
        ask: RwSignal::new(None),
    });
}

/// The dialog (once, in the layout).
#[component]
pub fn ConfirmDialog() -> impl IntoView {
    let c = use_confirm();
    let dialog = NodeRef::<html::Dialog>::new();
    Effect::new(move |_| {
        let open = c.ask.with(Option::is_some);
        if let Some(d) = dialog.get() {
            if open && !d.open() {
                let _ = d.show_modal();
            } else if !open && d.open() {
                d.close();
            }
        }
    });
    // Closed any way but the confirming button (Escape included): only
    // the undo runs.
    let closed = move || {
        put(&THEN, None);
        let undo = take(&OTHERWISE);
        c.ask.set(None);
        if let Some(undo) = undo {
            undo();
        }
    };
    let confirm = move |_| {
        let then = take(&THEN);
        put(&OTHERWISE, None);
        c.ask.set(None);
        if let Some(then) = then {
            then();
        }
    };
    let (first, last) = (
        NodeRef::<html::Button>::new(),
        NodeRef::<html::Button>::new(),
    );
    // A modal dialog keeps the rest of the page inert, but Tab past its
    // last button would leave the document; it goes round instead.
    let on_key = move |ev: leptos::ev::KeyboardEvent| {
        if ev.key() != "Tab" {
            return;
        }
        #[cfg(feature = "browser")]
        {
            let (Some(first), Some(last)) = (first.get(), last.get()) else {
                return;
            };
            let active = document().active_element();
            let is = |b: &web_sys::HtmlButtonElement| {
                active
                    .as_ref()
                    .is_some_and(|a| a == AsRef::<web_sys::Element>::as_ref(b))
            };
            let to = match ev.shift_key() {
                true if is(&first) => Some(last),
                false if is(&last) => Some(first),
                _ => None,
            };
            if let Some(to) = to {
                ev.prevent_default();
                let _ = to.focus();
            }
        }
        #[cfg(not(feature = "browser"))]
        let _ = (first, last);
    };
    let text =
        move |f: fn(&Ask) -> String| move || c.ask.with(|a| a.as_ref().map(f).unwrap_or_default());
    view! {
        <dialog node_ref=dialog on:close=move |_| closed() on:keydown=on_key aria-labelledby="confirm-title" aria-describedby="confirm-detail"
            class="m-auto max-w-md rounded bg-white p-5 text-slate-900 shadow-xl backdrop:bg-slate-900/50" data-testid="confirm-dialog">
            <h2 id="confirm-title" class="text-lg font-semibold">{text(|a| a.title.clone())}</h2>
            <p id="confirm-detail" class="mt-2 text-sm">{text(|a| a.detail.clone())}</p>
            <div class="mt-4 flex justify-end gap-2">
                // The safe choice has the focus when the dialog opens.
                <button type="button" node_ref=first autofocus class="rounded border border-slate-400 px-3 py-1 text-sm" on:click=move |_| closed()>"Cancel"</button>
                <button type="button" node_ref=last class="rounded bg-red-700 px-3 py-1 text-sm text-white" on:click=confirm>{text(|a| a.confirm.clone())}</button>
            </div>
        </dialog>
    }
}
