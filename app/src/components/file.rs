//! Reading a file the user picked, as text (a CSR to upload).

/// Calls `done` with the text of the first file chosen in an `<input type=file>`.
#[cfg(feature = "browser")]
pub fn read_chosen_text(ev: &leptos::ev::Event, done: impl FnOnce(String) + 'static) {
    use wasm_bindgen::JsCast;
    let Some(input) = ev
        .target()
        .and_then(|t| t.dyn_into::<web_sys::HtmlInputElement>().ok())
    else {
        return;
    };
    let Some(file) = input.files().and_then(|f| f.get(0)) else {
        return;
    };
    leptos::task::spawn_local(async move {
        if let Ok(text) = wasm_bindgen_futures::JsFuture::from(file.text()).await {
            done(text.as_string().unwrap_or_default());
        }
    });
}

#[cfg(not(feature = "browser"))]
pub fn read_chosen_text(_: &leptos::ev::Event, _: impl FnOnce(String) + 'static) {}
