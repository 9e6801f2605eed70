//! The dashboard's files (`vigil.js`, `vigil.wasm`, `vigil.css` in the
//! site's `pkg` directory) under names that carry a hash of their content:
//! `/pkg/vigil.<hash>.js` and so on, kept by browsers for a year
//! (`immutable`). A new build has a new hash, so a page never mixes two
//! builds and a returning visitor downloads nothing that has not changed.
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

/// The hashed files of one build.
pub struct Assets {
    /// `vigil.<hash>`: the name the pages link (`LeptosOptions::output_name`).
    pub name: String,
    files: Vec<(&'static str, Asset)>,
}

struct Asset {
    content_type: &'static str,
    identity: Bytes,
    etag: HeaderValue,
    gzip: OnceLock<Bytes>,
    brotli: OnceLock<Bytes>,
}

/// The extensions served, and their types.
const KINDS: [(&str, &str); 3] = [
    ("js", "text/javascript"),
    ("wasm", "application/wasm"),
    ("css", "text/css"),
];

impl Assets {
    /// Reads `<output>.js`, `.wasm` and `.css` from `pkg_dir`, names them
    /// by a hash of all three, and starts compressing them. `None` when
    /// one is missing (a build without the dashboard): pages then link the
    /// plain names.
    pub fn load(pkg_dir: &Path, output: &str) -> Option<Arc<Assets>> {
        let mut hash = Sha256::new();
        let mut files = Vec::new();
        for (ext, _) in KINDS {
            let bytes = std::fs::read(pkg_dir.join(format!("{output}.{ext}"))).ok()?;
            hash.update((bytes.len() as u64).to_le_bytes());
            hash.update(&bytes);
            files.push((ext, bytes));
        }
        let digest = hex::encode(&hash.finalize()[..8]);
        let name = format!("{output}.{digest}");
        let files = files
            .into_iter()
            .zip(KINDS)
            .map(|((ext, bytes), (_, content_type))| {
                let etag = HeaderValue::from_str(&format!("\"{digest}-{ext}\""))
                    .expect("hex is a valid header value");
                (
                    ext,
                    Asset {
                        content_type,
                        identity: Bytes::from(bytes),
                        etag,
                        gzip: OnceLock::new(),
                        brotli: OnceLock::new(),
                    },
                )
            })
            .collect();
        let assets = Arc::new(Assets { name, files });
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

    /// The file a hashed path names: `/pkg/vigil.<hash>.js`, or the wasm
    /// under the `_bg` name Leptos links when built without
    /// `LEPTOS_OUTPUT_NAME`.
    fn find(&self, path: &str) -> Option<&Asset> {
        let file = path.strip_prefix("/pkg/")?;
        let rest = file.strip_prefix(self.name.as_str())?;
        let ext = rest
            .strip_prefix('.')
            .or_else(|| rest.strip_prefix("_bg."))?;
        self.files.iter().find(|(e, _)| *e == ext).map(|(_, a)| a)
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
        let asset = |ext| {
            (
                ext,
                Asset {
                    content_type: "text/plain",
                    identity: Bytes::from_static(b"x"),
                    etag: HeaderValue::from_static("\"x\""),
                    gzip: OnceLock::new(),
                    brotli: OnceLock::new(),
                },
            )
        };
        let assets = Assets {
            name: "vigil.0123456789abcdef".into(),
            files: vec![asset("js"), asset("wasm"), asset("css")],
        };
        for found in [
            "/pkg/vigil.0123456789abcdef.js",
            "/pkg/vigil.0123456789abcdef.wasm",
            "/pkg/vigil.0123456789abcdef_bg.wasm",
            "/pkg/vigil.0123456789abcdef.css",
        ] {
            assert!(assets.find(found).is_some(), "{found}");
        }
        for not in [
            "/pkg/vigil.js",
            "/pkg/vigil.fedcba9876543210.js",
            "/pkg/vigil.0123456789abcdef.html",
            "/pkg/vigil.0123456789abcdef.js.map",
            "/vigil.0123456789abcdef.js",
            "/pkg/vigil.0123456789abcdefjs",
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
