//! Static files and the Socket.IO client bundle. A request path maps into
//! the folder only through plain segments: `..`, backslashes, NULs and
//! hidden files are refused (after percent-decoding), and the file found must
//! resolve (symlinks followed) to a place inside the folder, so nothing
//! outside the folder is reachable: a symlink that points out is a 404.

use std::path::{Path, PathBuf};

use crate::http::{percent_decode_path, Request, Response};

/// The bundle's files, as the `socket.io-client` package's dist folder names them.
const BUNDLE_FILES: &[&str] = &[
    "socket.io.js",
    "socket.io.js.map",
    "socket.io.min.js",
    "socket.io.min.js.map",
    "socket.io.esm.min.js",
    "socket.io.esm.min.js.map",
    "socket.io.msgpack.min.js",
    "socket.io.msgpack.min.js.map",
];

pub fn is_bundle_file(name: &str) -> bool {
    BUNDLE_FILES.contains(&name)
}

pub fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()).map(|e| e.to_ascii_lowercase()).as_deref() {
        Some("html" | "htm") => "text/html; charset=UTF-8",
        Some("js" | "mjs") => "application/javascript; charset=UTF-8",
        Some("css") => "text/css; charset=UTF-8",
        Some("json" | "map") => "application/json; charset=UTF-8",
        Some("txt") => "text/plain; charset=UTF-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("gif") => "image/gif",
        Some("ico") => "image/x-icon",
        Some("webp") => "image/webp",
        Some("wasm") => "application/wasm",
        Some("woff2") => "font/woff2",
        Some("woff") => "font/woff",
        _ => "application/octet-stream",
    }
}

/// Maps a URL path to a file under `root`, or `None` if it tries to escape.
pub fn resolve(root: &Path, url_path: &str) -> Option<PathBuf> {
    let decoded = percent_decode_path(url_path);
    let mut path = root.to_path_buf();
    for segment in decoded.split('/').filter(|s| !s.is_empty()) {
        if segment == "." || segment == ".." || segment.starts_with('.') || segment.contains(['\\', '\0']) {
            return None;
        }
        path.push(segment);
    }
    Some(path)
}

/// Serves a file (GET or HEAD); a folder serves its index.html.
pub async fn serve(root: &Path, url_path: &str, req: &Request) -> Response {
    if req.method != "GET" && req.method != "HEAD" {
        return Response::new(405).header("Allow", "GET, HEAD").body(b"Method Not Allowed".to_vec());
    }
    let Some(path) = resolve(root, url_path) else {
        return Response::not_found();
    };
    // One trip to the blocking pool for the lookups and the read.
    let root = root.to_path_buf();
    match tokio::task::spawn_blocking(move || read_inside(&root, path)).await {
        Ok(Some((path, body))) => {
            let resp =
                Response::new(200).content_type(content_type(&path)).header("Cache-Control", "no-cache").body(body);
            if req.method == "HEAD" {
                resp.head_only()
            } else {
                resp
            }
        }
        _ => Response::not_found(),
    }
}

/// Reads `path` (a folder's index.html) with the path it settled on, if its
/// real path (symlinks resolved) lies inside `root`'s real path; `None` if it
/// does not exist, cannot be read, or leads out of the folder.
pub(super) fn read_inside(root: &Path, mut path: PathBuf) -> Option<(PathBuf, Vec<u8>)> {
    if std::fs::metadata(&path).is_ok_and(|m| m.is_dir()) {
        path.push("index.html");
    }
    let root = std::fs::canonicalize(root).ok()?;
    let real = std::fs::canonicalize(&path).ok()?;
    if !real.starts_with(&root) {
        return None;
    }
    let body = std::fs::read(&real).ok()?;
    Some((path, body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_paths_that_escape_the_folder() {
        let root = Path::new("/srv/www");
        assert_eq!(resolve(root, "/a/b.txt"), Some(root.join("a/b.txt")));
        assert_eq!(resolve(root, "/a+b%20c.txt"), Some(root.join("a+b c.txt")));
        for bad in ["/../etc/passwd", "/a/%2e%2e/%2e%2e/x", "/a\\..\\b", "/.git/config", "/%00"] {
            assert_eq!(resolve(root, bad), None, "{bad}");
        }
    }

    #[test]
    fn knows_common_content_types() {
        assert_eq!(content_type(Path::new("x.js")), "application/javascript; charset=UTF-8");
        assert_eq!(content_type(Path::new("x.HTML")), "text/html; charset=UTF-8");
        assert_eq!(content_type(Path::new("x.bin")), "application/octet-stream");
    }
}
