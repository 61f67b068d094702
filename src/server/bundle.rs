//! The Socket.IO client bundle under the Engine.IO path, served as the Node
//! server serves it: its package's version as a strong ETag (a matching
//! `If-None-Match`, strong or weak, gets 304), the CORS headers of polling,
//! and brotli, gzip or deflate for a client that accepts them. A file is compressed
//! once per coding and kept (the bundle does not change while a hub runs;
//! eight files at most).

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use once_cell::sync::OnceCell;
use parking_lot::Mutex;

use super::files;
use crate::http::{Request, Response};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Coding {
    Brotli,
    Gzip,
    Deflate,
}

impl Coding {
    fn name(self) -> &'static str {
        match self {
            Coding::Brotli => "br",
            Coding::Gzip => "gzip",
            Coding::Deflate => "deflate",
        }
    }
}

/// Compressed files by (name, coding).
type Compressed = HashMap<(String, Coding), Arc<Vec<u8>>>;

/// The client bundle's folder (the `dist` of the `socket.io-client` package).
pub struct Bundle {
    dir: PathBuf,
    /// The ETag, once read from the package's package.json (None: no version there).
    etag: OnceCell<Option<String>>,
    compressed: Mutex<Compressed>,
}

impl Bundle {
    pub fn new(dir: PathBuf) -> Bundle {
        Bundle { dir, etag: OnceCell::new(), compressed: Mutex::new(HashMap::new()) }
    }

    /// Answers a request for `file`, one of the bundle's file names.
    pub async fn serve(self: &Arc<Self>, file: &str, req: &Request, cfg: &crate::Config) -> Response {
        if req.method != "GET" && req.method != "HEAD" {
            return Response::new(405).header("Allow", "GET, HEAD").body(b"Method Not Allowed".to_vec());
        }
        let this = self.clone();
        let file_name = file.to_string();
        let coding = negotiate(req.header("accept-encoding").unwrap_or(""));
        // One trip to the blocking pool: the version, the read and the compression.
        let found = tokio::task::spawn_blocking(move || {
            let etag = this.etag.get_or_init(|| version_of(&this.dir).map(|v| format!("\"{v}\""))).clone();
            (etag, this.body(&file_name, coding))
        })
        .await;
        let Ok((etag, body)) = found else { return Response::not_found() };
        let not_modified = etag.as_ref().is_some_and(|tag| {
            req.header("if-none-match").is_some_and(|h| h.trim() == tag || h.trim().strip_prefix("W/") == Some(tag))
        });
        let mut resp = if not_modified {
            Response::new(304)
        } else {
            let Some((body, coding)) = body else { return Response::not_found() };
            let kind = if file.ends_with(".map") { "application/json" } else { "application/javascript" };
            let mut resp = Response::new(200).content_type(&format!("{kind}; charset=utf-8")).body(body.to_vec());
            if let Some(c) = coding {
                resp = resp.header("Content-Encoding", c.name());
            }
            resp.header("Vary", "Accept-Encoding")
        };
        resp = resp.header("Cache-Control", "public, max-age=0");
        if let Some(tag) = etag {
            resp = resp.header("ETag", tag);
        }
        let resp = resp.cors(req, cfg);
        if req.method == "HEAD" {
            resp.head_only()
        } else {
            resp
        }
    }

    /// The file's bytes, compressed with `coding` when asked (and kept).
    fn body(&self, file: &str, coding: Option<Coding>) -> Option<(Arc<Vec<u8>>, Option<Coding>)> {
        let path = files::resolve(&self.dir, file)?;
        let Some(coding) = coding else {
            return files::read_inside(&self.dir, path).map(|(_, b)| (Arc::new(b), None));
        };
        let key = (file.to_string(), coding);
        if let Some(kept) = self.compressed.lock().get(&key) {
            return Some((kept.clone(), Some(coding)));
        }
        let (_, plain) = files::read_inside(&self.dir, path)?;
        let packed = Arc::new(compress(&plain, coding).ok()?);
        self.compressed.lock().insert(key, packed.clone());
        Some((packed, Some(coding)))
    }
}

fn compress(data: &[u8], coding: Coding) -> std::io::Result<Vec<u8>> {
    let level = flate2::Compression::best();
    match coding {
        Coding::Brotli => {
            // Quality 11, a 4 MiB window: the bundle is compressed once and kept.
            let mut enc = brotli::CompressorWriter::new(Vec::new(), 64 << 10, 11, 22);
            enc.write_all(data)?;
            enc.flush()?;
            Ok(enc.into_inner())
        }
        Coding::Gzip => {
            let mut enc = flate2::write::GzEncoder::new(Vec::new(), level);
            enc.write_all(data)?;
            enc.finish()
        }
        Coding::Deflate => {
            let mut enc = flate2::write::ZlibEncoder::new(Vec::new(), level);
            enc.write_all(data)?;
            enc.finish()
        }
    }
}

/// The version in the package.json next to the `dist` folder.
fn version_of(dir: &Path) -> Option<String> {
    let text = std::fs::read_to_string(dir.parent()?.join("package.json")).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    let version = v.get("version")?.as_str()?;
    // Only what can stand in a quoted ETag.
    version.bytes().all(|b| b.is_ascii_alphanumeric() || b".-+".contains(&b)).then(|| version.to_string())
}

/// The coding of `Accept-Encoding` we serve: the highest q among br, gzip
/// and deflate (`*` counts for gzip and deflate), the client's order
/// breaking ties; None for identity.
fn negotiate(accept: &str) -> Option<Coding> {
    let mut best: Option<(Coding, f32)> = None;
    for item in accept.split(',') {
        let mut parts = item.split(';');
        let name = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let q = parts
            .filter_map(|p| p.trim().strip_prefix("q=").and_then(|q| q.trim().parse::<f32>().ok()))
            .next()
            .unwrap_or(1.0);
        let codings: &[Coding] = match name.as_str() {
            "br" => &[Coding::Brotli],
            "gzip" | "x-gzip" => &[Coding::Gzip],
            "deflate" => &[Coding::Deflate],
            "*" => &[Coding::Gzip, Coding::Deflate],
            _ => &[],
        };
        for &c in codings {
            if q > 0.0 && best.map_or(true, |(_, bq)| q > bq) {
                best = Some((c, q));
            }
        }
    }
    best.map(|(c, _)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_clients_preference_picks_the_coding() {
        assert_eq!(negotiate("gzip,br,deflate"), Some(Coding::Gzip));
        assert_eq!(negotiate("deflate, gzip"), Some(Coding::Deflate));
        assert_eq!(negotiate("gzip;q=0.5, deflate"), Some(Coding::Deflate));
        assert_eq!(negotiate("br"), Some(Coding::Brotli));
        assert_eq!(negotiate("br;q=0.5, gzip"), Some(Coding::Gzip));
        assert_eq!(negotiate("identity"), None);
        assert_eq!(negotiate("gzip;q=0"), None);
        assert_eq!(negotiate("*"), Some(Coding::Gzip));
        assert_eq!(negotiate(""), None);
    }

    #[test]
    fn compressed_bodies_inflate_back() {
        use std::io::Read;
        let data = b"var io = function () { return 'engine.io'; };".repeat(50);
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&compress(&data, Coding::Gzip).unwrap()[..]).read_to_end(&mut out).unwrap();
        assert_eq!(out, data);
        out.clear();
        flate2::read::ZlibDecoder::new(&compress(&data, Coding::Deflate).unwrap()[..]).read_to_end(&mut out).unwrap();
        assert_eq!(out, data);
        out.clear();
        brotli::Decompressor::new(&compress(&data, Coding::Brotli).unwrap()[..], 4096).read_to_end(&mut out).unwrap();
        assert_eq!(out, data);
    }
}
