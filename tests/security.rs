//! Hostile input over plain HTTP: nothing a client sends in the path, the
//! query or a header is ever reflected into a response (no XSS through an
//! error body, no header injection through CR/LF), CORS echoes only an exact
//! plain origin, and static files never escape their folder (`..` in every
//! spelling, encoded slashes and backslashes, NUL bytes, absolute paths, and
//! symlinks that point outside).

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use common::{body_of as body, raw_http as raw, status_of as status, TempDir};
use wshub::Hub;

/// Every hostile value carries this marker; no response may contain it.
const MARK: &str = "XSSMARK";

fn get(addr: SocketAddr, target: &str, headers: &str) -> String {
    raw(addr, format!("GET {target} HTTP/1.1\r\nHost: x\r\n{headers}Connection: close\r\n\r\n").as_bytes())
}

/// The response's head lines (status line included).
fn head(resp: &str) -> Vec<&str> {
    resp.split("\r\n\r\n").next().unwrap_or("").split("\r\n").collect()
}

fn assert_not_reflected(resp: &str, what: &str) {
    assert!(!resp.is_empty(), "{what}: no response");
    assert!(!resp.contains(MARK), "{what}: the response reflects the input:\n{resp}");
    assert!(!resp.to_ascii_lowercase().contains("<script"), "{what}: a <script> in the response:\n{resp}");
    for line in head(resp).iter().skip(1) {
        assert!(line.contains(": "), "{what}: a head line that is not a header: {line:?}");
        let name = line.split(':').next().unwrap().to_ascii_lowercase();
        assert!(name != "set-cookie" && name != "location", "{what}: an injected header: {line:?}");
    }
}

fn hub_with(f: impl FnOnce(wshub::HubBuilder) -> wshub::HubBuilder) -> (Hub, SocketAddr) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let b = Hub::builder().port(0).worker_threads(1).static_dir(root.join("tests/fixtures/static"));
    let hub = f(b).build().unwrap();
    let addr = hub.start().unwrap();
    (hub, addr)
}

#[test]
fn hostile_query_values_are_never_reflected() {
    let (hub, addr) = hub_with(|b| b.engine_path(Some("/engine.io/")));
    let evil = [
        format!("<script>alert('{MARK}')</script>"),
        format!("%3Cscript%3E{MARK}%3C%2Fscript%3E"),
        format!("\"'><img src=x onerror={MARK}>"),
        format!("{MARK}%0d%0aSet-Cookie:%20a=b"),
        format!("{MARK}%0aLocation:%20http://evil.example"),
        format!("{MARK}%00%ff%fe"),
        format!("{MARK}{}", "A".repeat(12_000)),
    ];
    for e in &evil {
        for base in ["/socket.io/", "/engine.io/"] {
            let targets = [
                format!("{base}?EIO={e}&transport=polling"),
                format!("{base}?EIO=4&transport={e}"),
                format!("{base}?EIO=4&transport=polling&sid={e}"),
                format!("{base}?EIO=4&transport=websocket&sid={e}"),
                format!("{base}?EIO=4&transport=polling&{e}={e}"),
                format!("{base}?EIO=4&transport=polling&j={e}"),
            ];
            for t in targets {
                let resp = get(addr, &t.replace(' ', "%20"), "");
                assert_not_reflected(&resp, &t);
                let code = status(&resp);
                assert!(code == 200 || code == 400 || code == 431, "{t}: status {code}\n{resp}");
                if code == 400 {
                    assert!(resp.contains("Content-Type: application/json"), "{resp}");
                    assert!(resp.contains("X-Content-Type-Options: nosniff"), "{resp}");
                }
            }
        }
        // A POST with a hostile sid, and the raw endpoint with a hostile query.
        let post = format!(
            "POST /socket.io/?EIO=4&transport=polling&sid={e} HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nConnection: close\r\n\r\n40"
        );
        assert_not_reflected(&raw(addr, post.as_bytes()), "POST");
        assert_not_reflected(&get(addr, &format!("/ws?x={e}"), ""), "/ws");
    }
    hub.stop(Duration::from_millis(100)).unwrap();
}

#[test]
fn hostile_paths_are_never_reflected() {
    let (hub, addr) = hub_with(|b| b);
    for p in [
        format!("/<script>{MARK}</script>"),
        format!("/%3Cscript%3E{MARK}"),
        format!("/{MARK}%0d%0aSet-Cookie:%20a=b"),
        format!("/\"'>{MARK}"),
        format!("/socket.io/{MARK}<script>"),
        format!("/{MARK}/{}", "B".repeat(10_000)),
        format!("/socket.io/socket.io.js%0d%0a{MARK}"),
    ] {
        let resp = get(addr, &p, "");
        assert_not_reflected(&resp, &p);
        assert!(matches!(status(&resp), 400 | 404 | 431), "{p}: {resp}");
    }
    // A request line with raw CR/LF or control bytes in the target.
    for bad in [
        format!("GET /{MARK}\rSet-Cookie: a=b HTTP/1.1\r\nHost: x\r\n\r\n"),
        format!("GET /{MARK}\x00 HTTP/1.1\r\nHost: x\r\n\r\n"),
        format!("GET /<script>{MARK} HTTP/1.1\nSet-Cookie: a=b\nConnection: close\n\n"),
    ] {
        let resp = raw(addr, bad.as_bytes());
        assert_not_reflected(&resp, &bad);
    }
    hub.stop(Duration::from_millis(100)).unwrap();
}

#[test]
fn hostile_headers_are_never_reflected() {
    let (hub, addr) = hub_with(|b| b.cors_origin("http://allowed.example"));
    let hs = "/socket.io/?EIO=4&transport=polling";
    for h in [
        format!("Origin: http://{MARK}.example<script>\r\n"),
        format!("Origin: http://allowed.example\"{MARK}\r\n"),
        format!("Origin: http://allowed.example{MARK}\r\n"),
        format!("Origin: {MARK}\r\n Set-Cookie: a=b\r\n"), // obsolete line folding
        format!("Origin: http://allowed.example\r\nX-Evil: {MARK}\r\n"),
        format!("User-Agent: <script>{MARK}</script>\r\nReferer: \"'{MARK}\r\n"),
        format!("Cookie: io={MARK}<script>\r\n"),
        format!("Upgrade: <script>{MARK}\r\n"),
        format!("Sec-WebSocket-Protocol: <script>{MARK}\r\n"),
        format!("X-Long: {MARK}{}\r\n", "C".repeat(20_000)),
        format!("X-{MARK}<script>: 1\r\n"),
        format!("Origin: http://allowed.example\r\nAccess-Control-Request-Headers: x-ok, <script>{MARK}\r\n"),
        format!("Origin: http://allowed.example\r\nAccess-Control-Request-Headers: x-a\r\n\tSet-Cookie: {MARK}\r\n"),
    ] {
        for target in [hs, "/hello.txt", "/missing", "/ws"] {
            let resp = get(addr, target, &h);
            assert_not_reflected(&resp, &format!("{target} with {h:?}"));
            let pre = raw(addr, format!("OPTIONS {hs} HTTP/1.1\r\nHost: x\r\n{h}Connection: close\r\n\r\n").as_bytes());
            assert_not_reflected(&pre, &format!("OPTIONS with {h:?}"));
        }
    }
    // A header value with a bare CR or a NUL is refused by the parser.
    for h in [format!("Origin: a\rSet-Cookie: {MARK}\r\n"), format!("Origin: a\x00{MARK}\r\n")] {
        let resp = get(addr, hs, &h);
        assert_not_reflected(&resp, &h);
        assert_eq!(status(&resp), 400, "{resp}");
    }
    // A WebSocket upgrade with hostile headers to a bad path, and with a bad key.
    for target in ["/nowhere", "/socket.io/?EIO=4&transport=websocket", "/ws"] {
        let h = format!(
            "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: <{MARK}>\r\nSec-WebSocket-Key: {MARK}<script>\r\n"
        );
        assert_not_reflected(&get(addr, target, &h), target);
    }
    hub.stop(Duration::from_millis(100)).unwrap();
}

#[test]
fn cors_echoes_only_an_exact_listed_origin_or_a_plain_one_for_star() {
    let hs = "/socket.io/?EIO=4&transport=polling";
    let acao = |resp: &str| {
        head(resp).iter().find_map(|l| l.strip_prefix("Access-Control-Allow-Origin: ")).map(str::to_string)
    };
    let (hub, addr) = hub_with(|b| b.cors_origin("http://allowed.example"));
    let ok = get(addr, hs, "Origin: http://allowed.example\r\n");
    assert_eq!(acao(&ok).as_deref(), Some("http://allowed.example"), "{ok}");
    for o in ["http://allowed.example.evil", "http://allowed.exampl", "HTTP://ALLOWED.EXAMPLE", "null"] {
        assert_eq!(acao(&get(addr, hs, &format!("Origin: {o}\r\n"))), None, "{o}");
    }
    let pre = raw(
        addr,
        format!(
            "OPTIONS {hs} HTTP/1.1\r\nHost: x\r\nOrigin: http://allowed.example\r\n\
             Access-Control-Request-Headers: content-type, x-token\r\nConnection: close\r\n\r\n"
        )
        .as_bytes(),
    );
    assert!(pre.contains("\r\nAccess-Control-Allow-Headers: content-type, x-token\r\n"), "{pre}");
    hub.stop(Duration::from_millis(100)).unwrap();

    // "*" echoes any plain scheme://host[:port] origin, and nothing else.
    let (hub, addr) = hub_with(|b| b.cors_origin("*"));
    for o in ["http://a.example", "https://b.example:8443", "http://[::1]:3000", "null"] {
        assert_eq!(acao(&get(addr, hs, &format!("Origin: {o}\r\n"))).as_deref(), Some(o), "{o}");
    }
    for o in [
        format!("http://a.example/<script>{MARK}"),
        format!("http://a.example\"{MARK}"),
        format!("http://{MARK} x.example"),
        format!("javascript:{MARK}"),
        format!("http://{}", "d".repeat(300)),
        String::new(),
    ] {
        let resp = get(addr, hs, &format!("Origin: {o}\r\n"));
        assert_eq!(acao(&resp), None, "{o}: {resp}");
        assert!(!resp.contains(MARK));
    }
    hub.stop(Duration::from_millis(100)).unwrap();
}

/// A temporary tree: `<tmp>/secret.txt`, `<tmp>/public/` (the static folder)
/// with files, a symlink out to the secret, a symlinked folder out, and a
/// symlink that stays inside.
fn tree() -> TempDir {
    let tmp = TempDir::new("static");
    let dir = tmp.path();
    let public = dir.join("public");
    std::fs::create_dir_all(public.join("sub")).unwrap();
    std::fs::create_dir_all(dir.join("private")).unwrap();
    std::fs::write(dir.join("secret.txt"), "TOP SECRET").unwrap();
    std::fs::write(dir.join("private/index.html"), "TOP SECRET page").unwrap();
    std::fs::write(public.join("index.html"), "<p>home</p>").unwrap();
    std::fs::write(public.join("sub/a.txt"), "a").unwrap();
    std::fs::write(public.join("a+b.txt"), "plus").unwrap();
    std::os::unix::fs::symlink(dir.join("secret.txt"), public.join("out.txt")).unwrap();
    std::os::unix::fs::symlink("../secret.txt", public.join("out-relative.txt")).unwrap();
    std::os::unix::fs::symlink(dir.join("private"), public.join("outdir")).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", public.join("passwd")).unwrap();
    std::os::unix::fs::symlink("sub/a.txt", public.join("inside.txt")).unwrap();
    tmp
}

#[test]
fn static_files_never_escape_their_folder() {
    let tree = tree();
    let public = tree.path().join("public");
    let hub = Hub::builder().port(0).worker_threads(1).static_dir(&public).build().unwrap();
    let addr = hub.start().unwrap();

    // What is inside is served (a symlink that stays inside too).
    for (p, want) in [("/", "<p>home</p>"), ("/sub/a.txt", "a"), ("/inside.txt", "a"), ("/a+b.txt", "plus")] {
        let resp = get(addr, p, "");
        assert_eq!((status(&resp), body(&resp).as_str()), (200, want), "{p}: {resp}");
    }
    let escapes = [
        "/../secret.txt",
        "/sub/../../secret.txt",
        "/%2e%2e/secret.txt",
        "/%2E%2E/secret.txt",
        "/.%2e/secret.txt",
        "/%2e./secret.txt",
        "/..%2fsecret.txt",
        "/..%2Fsecret.txt",
        "/sub%2f..%2f..%2fsecret.txt",
        "/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
        "/%252e%252e/secret.txt",
        "/..\\secret.txt",
        "/..%5csecret.txt",
        "/sub%5c..%5c..%5csecret.txt",
        "//etc/passwd",
        "/%2fetc%2fpasswd",
        "///..//..//secret.txt",
        "/etc/passwd",
        "/sub/a.txt%00.html",
        "/%00../secret.txt",
        "/sub/a.txt\0",
        "/out.txt",
        "/out-relative.txt",
        "/outdir/",
        "/outdir/index.html",
        "/outdir",
        "/passwd",
        "/.hidden",
        "/%2ehidden",
    ];
    for p in escapes {
        let resp = get(addr, p, "");
        assert!(matches!(status(&resp), 400 | 404), "{p}: {resp}");
        assert!(!resp.contains("SECRET") && !resp.contains("root:"), "{p} escaped the folder:\n{resp}");
    }
    // An absolute-form request target cannot escape either.
    let resp = get(addr, "http://x/../secret.txt", "");
    assert!(!resp.contains("SECRET"), "{resp}");
    hub.stop(Duration::from_millis(100)).unwrap();
}
