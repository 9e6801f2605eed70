//! The dashboard's files under a directory named by a hash of their
//! content: `/pkg/vigil.<hash>/vigil.js`, `vigil.wasm`, `vigil.css`, and in
//! a split build (`cargo leptos build --release --split`) the loader
//! `__wasm_split.*.js` and the pages' wasm chunks beside them. Browsers
//! keep them a year (`immutable`). A new build has a new hash, so a page
//! never mixes two builds and a returning visitor downloads nothing that
//! has not changed. A directory rather than hashed file names: the files
//! name each other by their build names (`./vigil.js`, `./chunk_1.wasm`),
//! which stay right within it, and the loader must import the very module
//! the page started (a second copy of `vigil.js` would be a second,
//! uninitialised instance).
//!
//! Each file is compressed once, with Brotli and gzip at their best, on a
//! thread of its own after start (a multi-megabyte wasm takes seconds at
//! Brotli's best, far too long for a request). Until a variant is ready
//! the file goes out as the compression layer makes it (gzip, quickly).
//! The files' plain names keep working, revalidated on every use, for a
//! page rendered before a restart and for the Trunk build.
//!
//! Hand-rolled rather than `tower_http::services::ServeDir`: its
//! precompressed variants are files beside the originals, which the
//! build does not write, and it knows nothing of content hashes.

use std::{
    path::Path,
    sync::{Arc, OnceLock},
};

use axum::{
    body::Body,
    extract::{Request, State},
    http::{header, HeaderMap, HeaderValue, Method, StatusCode},
    middleware::Next,
    response::{IntoResponse, Response},
};
use bytes::Bytes;
use sha2::{Digest, Sha256};

/// A year: the longest lifetime caches honour.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// Above this a file is compressed with Brotli at a lower level (a debug
/// wasm of tens of megabytes would take minutes at the best one).
const BEST_UP_TO: usize = 8 << 20;
/// The loader of a split build's chunks, under the name `cargo leptos`
/// gives it when it does not hash file names itself.
const SPLIT_LOADER: &str = "__wasm_split.______________________.js";
/// Which chunks each split point loads: the chunks' names, by split.
const SPLIT_MANIFEST: &str = "__wasm_split_manifest.json";

/// The hashed files of one build.
pub struct Assets {
    /// `vigil.<hash>`: the directory under `/pkg/` the pages link
    /// (`LeptosOptions::site_pkg_dir` is `pkg/vigil.<hash>`).
    pub name: String,
    /// The build's name for its files (`vigil`).
    output: String,
    files: Vec<(String, Asset)>,
}

struct Asset {
    content_type: &'static str,
    identity: Bytes,
    etag: HeaderValue,
    gzip: OnceLock<Bytes>,
    brotli: OnceLock<Bytes>,
}

/// The type a file's extension gives (only these are ever read).
fn content_type(file: &str) -> &'static str {
    match file.rsplit_once('.').map(|(_, ext)| ext) {
        Some("js") => "text/javascript",
        Some("wasm") => "application/wasm",
        Some("css") => "text/css",
        _ => "application/octet-stream",
    }
}

/// The files of a build in `pkg_dir`: `<output>.js`, `.wasm`, `.css`,
/// and when the build was split (its JavaScript imports the loader) the
/// loader and every chunk its manifest names. `None` when one is missing
/// or the manifest does not read.
fn build_files(pkg_dir: &Path, output: &str) -> Option<Vec<(String, Vec<u8>)>> {
    let mut names: Vec<String> = ["js", "wasm", "css"]
        .iter()
        .map(|ext| format!("{output}.{ext}"))
        .collect();
    // Split only if this build's JavaScript imports the loader: a debug
    // build over a release one leaves the old loader and chunks behind.
    let js = std::fs::read(pkg_dir.join(&names[0])).ok()?;
    let split = js
        .windows(SPLIT_LOADER.len())
        .any(|w| w == SPLIT_LOADER.as_bytes());
    if split {
        let splits = std::fs::read(pkg_dir.join(SPLIT_MANIFEST))
            .ok()
            .and_then(|m| {
                serde_json::from_slice::<std::collections::BTreeMap<String, Vec<String>>>(&m).ok()
            });
        let Some(splits) = splits else {
            // The pages then link the plain names, revalidated each time.
            tracing::warn!(
                dir = %pkg_dir.display(),
                "a split build without a readable {SPLIT_MANIFEST}: its files are not hashed"
            );
            return None;
        };
        let mut chunks: Vec<String> = splits
            .into_values()
            .flatten()
            // Names the build wrote: no path of any kind.
            .filter(|c| c.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'))
            .map(|c| format!("{c}.wasm"))
            .collect();
        chunks.sort();
        chunks.dedup();
        names.push(SPLIT_LOADER.to_owned());
        names.extend(chunks);
    }
    names
        .into_iter()
        .map(|name| {
            let bytes = std::fs::read(pkg_dir.join(&name)).ok()?;
            Some((name, bytes))
        })
        .collect()
}

impl Assets {
    /// Reads the build's files from `pkg_dir` (`build_files`), names
    /// their directory by a hash of them all, and starts compressing them.
    /// `None` when one is missing (a build without the dashboard): pages
    /// then link the plain names.
    pub fn load(pkg_dir: &Path, output: &str) -> Option<Arc<Assets>> {
        let files = build_files(pkg_dir, output)?;
        let mut hash = Sha256::new();
        for (name, bytes) in &files {
            hash.update((name.len() as u64).to_le_bytes());
            hash.update(name.as_bytes());
            hash.update((bytes.len() as u64).to_le_bytes());
            hash.update(bytes);
        }
        let digest = hex::encode(&hash.finalize()[..8]);
        let files = files
            .into_iter()
            .enumerate()
            .map(|(i, (name, bytes))| {
                let etag = HeaderValue::from_str(&format!("\"{digest}-{i}\""))
                    .expect("hex is a valid header value");
                let asset = Asset {
                    content_type: content_type(&name),
                    identity: Bytes::from(bytes),
                    etag,
                    gzip: OnceLock::new(),
                    brotli: OnceLock::new(),
                };
                (name, asset)
            })
            .collect();
        let assets = Arc::new(Assets {
            name: format!("{output}.{digest}"),
            output: output.to_owned(),
            files,
        });
        let compressing = Arc::clone(&assets);
        // A plain thread: it outlives nothing it needs, and no runtime
        // waits for it.
        let _ = std::thread::Builder::new()
            .name("compress-assets".into())
            .spawn(move || compressing.compress());
        Some(assets)
    }

    fn compress(&self) {
        for (_, asset) in &self.files {
            let _ = asset.gzip.set(gzip(&asset.identity));
        }
        for (_, asset) in &self.files {
            let _ = asset.brotli.set(brotli(&asset.identity));
        }
    }

    /// The file a hashed path names: `/pkg/vigil.<hash>/vigil.js`, or the
    /// wasm under the `_bg` name Leptos links when built without
    /// `LEPTOS_OUTPUT_NAME`.
    fn find(&self, path: &str) -> Option<&Asset> {
        let file = path
            .strip_prefix("/pkg/")?
            .strip_prefix(self.name.as_str())?
            .strip_prefix('/')?;
        let main_wasm = file.strip_suffix("_bg.wasm") == Some(self.output.as_str());
        self.files
            .iter()
            .find(|(n, _)| match main_wasm {
                true => n.strip_suffix(".wasm") == Some(self.output.as_str()),
                false => n == file,
            })
            .map(|(_, a)| a)
    }

    /// Whether every variant is ready (tests wait on it).
    pub fn compressed(&self) -> bool {
        self.files
            .iter()
            .all(|(_, a)| a.gzip.get().is_some() && a.brotli.get().is_some())
    }
}

fn gzip(data: &[u8]) -> Bytes {
    use std::io::Write;
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    // Writing to a Vec cannot fail.
    let _ = enc.write_all(data);
    Bytes::from(enc.finish().unwrap_or_default())
}

fn brotli(data: &[u8]) -> Bytes {
    let params = brotli::enc::BrotliEncoderParams {
        quality: if data.len() <= BEST_UP_TO { 11 } else { 6 },
        lgwin: 22,
        ..Default::default()
    };
    let mut out = Vec::with_capacity(data.len() / 4);
    let mut input = data;
    let _ = brotli::BrotliCompress(&mut input, &mut out, &params);
    Bytes::from(out)
}

/// Whether `accept-encoding` takes `coding` (listed, and not at `q=0`).
fn accepts(headers: &HeaderMap, coding: &str) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|item| {
            let mut parts = item.split(';').map(str::trim);
            let name = parts.next().unwrap_or("");
            let refused = parts.any(|p| {
                p.strip_prefix("q=")
                    .and_then(|q| q.parse::<f32>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            name.eq_ignore_ascii_case(coding) && !refused
        })
}

/// Serves a hashed path from memory; anything else goes on.
pub async fn serve(
    State(assets): State<Option<Arc<Assets>>>,
    req: Request,
    next: Next,
) -> Response {
    let found = assets
        .as_deref()
        .filter(|_| matches!(*req.method(), Method::GET | Method::HEAD))
        .and_then(|a| a.find(req.uri().path()));
    let Some(asset) = found else {
        return next.run(req).await;
    };
    let headers = req.headers();
    let mut res = if headers
        .get(header::IF_NONE_MATCH)
        .is_some_and(|v| v == asset.etag)
    {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let (encoding, body) = match (asset.brotli.get(), asset.gzip.get()) {
            (Some(br), _) if accepts(headers, "br") => (Some("br"), br.clone()),
            (_, Some(gz)) if accepts(headers, "gzip") => (Some("gzip"), gz.clone()),
            _ => (None, asset.identity.clone()),
        };
        let mut res = if req.method() == Method::HEAD {
            let mut res = Response::new(Body::empty());
            res.headers_mut()
                .insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
            res
        } else {
            Response::new(Body::from(body))
        };
        if let Some(e) = encoding {
            res.headers_mut()
                .insert(header::CONTENT_ENCODING, HeaderValue::from_static(e));
        }
        res.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(asset.content_type),
        );
        res
    };
    let h = res.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(IMMUTABLE));
    h.insert(header::ETAG, asset.etag.clone());
    h.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(accept: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            header::ACCEPT_ENCODING,
            HeaderValue::from_str(accept).unwrap(),
        );
        h
    }

    #[test]
    fn accept_encoding_is_read_with_its_weights() {
        assert!(accepts(&headers("gzip, deflate, br, zstd"), "br"));
        assert!(accepts(&headers("gzip;q=1.0, BR;q=0.5"), "br"));
        assert!(!accepts(&headers("gzip, br;q=0"), "br"));
        assert!(!accepts(&headers("gzip"), "br"));
        assert!(!accepts(&headers("brotli"), "br"));
        assert!(!accepts(&HeaderMap::new(), "gzip"));
    }

    #[test]
    fn only_this_builds_hashed_names_are_found() {
        let asset = || Asset {
            content_type: "text/plain",
            identity: Bytes::from_static(b"x"),
            etag: HeaderValue::from_static("\"x\""),
            gzip: OnceLock::new(),
            brotli: OnceLock::new(),
        };
        let assets = Assets {
            name: "vigil.0123456789abcdef".into(),
            output: "vigil".into(),
            files: ["vigil.js", "vigil.wasm", "vigil.css", "chunk_0_home.wasm"]
                .into_iter()
                .map(|n| (n.to_owned(), asset()))
                .collect(),
        };
        for found in [
            "/pkg/vigil.0123456789abcdef/vigil.js",
            "/pkg/vigil.0123456789abcdef/vigil.wasm",
            "/pkg/vigil.0123456789abcdef/vigil_bg.wasm",
            "/pkg/vigil.0123456789abcdef/vigil.css",
            "/pkg/vigil.0123456789abcdef/chunk_0_home.wasm",
        ] {
            assert!(assets.find(found).is_some(), "{found}");
        }
        for not in [
            "/pkg/vigil.js",
            "/pkg/vigil.0123456789abcdef.js",
            "/pkg/vigil.fedcba9876543210/vigil.js",
            "/pkg/vigil.0123456789abcdef/vigil.html",
            "/pkg/vigil.0123456789abcdef/vigil.js.map",
            "/pkg/vigil.0123456789abcdef/../vigil.js",
            "/pkg/vigil.0123456789abcdef/chunk_1.wasm",
            "/pkg/vigil.0123456789abcdef/chunk_0_home_bg.wasm",
            "/vigil.0123456789abcdef/vigil.js",
            "/pkg/vigil.0123456789abcdefvigil.js",
        ] {
            assert!(assets.find(not).is_none(), "{not}");
        }
    }

    #[test]
    fn both_compressions_give_back_the_file() {
        use std::io::Read;
        let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        let mut plain = Vec::new();
        flate2::read::GzDecoder::new(&gzip(&data)[..])
            .read_to_end(&mut plain)
            .unwrap();
        assert_eq!(plain, data);
        let mut plain = Vec::new();
        brotli::BrotliDecompress(&mut &brotli(&data)[..], &mut plain).unwrap();
        assert_eq!(plain, data);
    }
}
