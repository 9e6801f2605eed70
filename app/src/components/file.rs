//! Files in the browser: reading one the user picked, as text (a CSR to
//! upload), and saving bytes the app fetched as a download.

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

/// Offers `bytes` as a download named `name` (an object URL on a link
/// clicked once, then revoked): the data came over the authorized API,
/// so the token never goes in a URL.
#[cfg(feature = "browser")]
pub fn save(name: &str, mime: &str, bytes: &[u8]) {
    use wasm_bindgen::JsCast;
    let parts = js_sys::Array::of1(&js_sys::Uint8Array::from(bytes));
    let opts = web_sys::BlobPropertyBag::new();
    opts.set_type(mime);
    let Ok(blob) = web_sys::Blob::new_with_u8_array_sequence_and_options(&parts, &opts) else {
        return;
    };
    let Ok(url) = web_sys::Url::create_object_url_with_blob(&blob) else {
        return;
    };
    let link = web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.create_element("a").ok())
        .and_then(|a| a.dyn_into::<web_sys::HtmlAnchorElement>().ok());
    if let Some(a) = link {
        a.set_href(&url);
        a.set_download(name);
        a.click();
    }
    let _ = web_sys::Url::revoke_object_url(&url);
}

#[cfg(not(feature = "browser"))]
pub fn save(_: &str, _: &str, _: &[u8]) {}
