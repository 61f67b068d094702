//! TLS: a hub with a certificate (made at test time by the `openssl` CLI: a
//! throwaway CA and a leaf for localhost / 127.0.0.1) serves https (a static
//! file, the polling handshake) and wss (Socket.IO over WebSocket and the raw
//! endpoint), refuses plain HTTP on the TLS port, and reports unreadable or
//! invalid certificate files as a clear error at start.

mod common;

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use common::{raw_http, read_text, read_to_close, TempDir};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use tokio_rustls::rustls::{self, ClientConfig, ClientConnection, RootCertStore, StreamOwned};
use tungstenite::Message;
use wshub::{Error, Hub};

type TlsStream = StreamOwned<ClientConnection, TcpStream>;

/// A temporary folder with `ca.pem`, `cert.pem` (leaf, signed by the CA)
/// and `key.pem`; removed on drop.
struct Certs {
    dir: TempDir,
}

impl Certs {
    fn new(tag: &str) -> Certs {
        let tmp = TempDir::new(&format!("tls-{tag}"));
        let dir = tmp.path();
        let ext = "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=critical,CA:FALSE\n\
                   keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n";
        std::fs::write(dir.join("leaf.ext"), ext).unwrap();
        let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
        run(
            dir,
            &[&["req", "-x509"], &ec[..], &["-days", "2", "-keyout", "ca.key", "-out", "ca.pem"]].concat(),
            "wshub test CA",
        );
        run(dir, &[&["req"], &ec[..], &["-keyout", "key.pem", "-out", "leaf.csr"]].concat(), "localhost");
        run(
            dir,
            &[
                "x509",
                "-req",
                "-in",
                "leaf.csr",
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-set_serial",
                "2",
                "-days",
                "2",
                "-extfile",
                "leaf.ext",
                "-out",
                "cert.pem",
            ],
            "",
        );
        Certs { dir: tmp }
    }
    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

fn run(dir: &Path, args: &[&str], cn: &str) {
    let mut cmd = Command::new("openssl");
    cmd.args(args).current_dir(dir);
    if !cn.is_empty() {
        cmd.args(["-subj", &format!("/CN={cn}")]);
    }
    let out = cmd.output().expect("the openssl CLI is needed to make a test certificate");
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

fn tls_hub(certs: &Certs) -> Hub {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    Hub::builder()
        .port(0)
        .worker_threads(1)
        .static_dir(root.join("tests/fixtures/static"))
        .tls(certs.path("cert.pem"), certs.path("key.pem"))
        .build()
        .unwrap()
}

/// A TLS connection to the hub that trusts only the test CA.
fn connect_tls(addr: SocketAddr, certs: &Certs, server_name: &str) -> TlsStream {
    let mut roots = RootCertStore::empty();
    for ca in CertificateDer::pem_file_iter(certs.path("ca.pem")).unwrap() {
        roots.add(ca.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = ServerName::try_from(server_name.to_string()).unwrap();
    let conn = ClientConnection::new(Arc::new(config), name).unwrap();
    let tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    StreamOwned::new(conn, tcp)
}

/// One request over a fresh TLS connection to `server_name`; returns the
/// whole response.
fn https_request(addr: SocketAddr, certs: &Certs, server_name: &str, request: &str) -> String {
    let mut tls = connect_tls(addr, certs, server_name);
    tls.write_all(request.as_bytes()).unwrap();
    tls.flush().unwrap();
    // The hub closes without close_notify after `Connection: close`; what
    // arrived before is the response.
    read_to_close(&mut tls)
}

fn https_get(addr: SocketAddr, certs: &Certs, path: &str) -> String {
    https_request(
        addr,
        certs,
        "localhost",
        &format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"),
    )
}

#[test]
fn https_serves_static_files_and_the_polling_handshake() {
    let certs = Certs::new("https");
    let hub = tls_hub(&certs);
    let addr = hub.start().unwrap();
    let resp = https_get(addr, &certs, "/hello.txt");
    assert!(resp.starts_with("HTTP/1.1 200 OK\r\n"), "{resp}");
    assert!(resp.contains("text/plain"), "{resp}");
    let resp = https_get(addr, &certs, "/socket.io/?EIO=4&transport=polling");
    assert!(resp.starts_with("HTTP/1.1 200 OK\r\n"), "{resp}");
    assert!(resp.contains("\r\n\r\n0{\"sid\":"), "{resp}");
    // The certificate also names 127.0.0.1.
    let out = https_request(addr, &certs, "127.0.0.1", "GET /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert!(out.starts_with("HTTP/1.1 404 "), "{}", out);
    hub.stop(Duration::from_millis(200)).unwrap();
}

#[test]
fn wss_carries_socketio_and_the_raw_endpoint() {
    let certs = Certs::new("wss");
    let hub = tls_hub(&certs);
    hub.on("echo", |ev| {
        ev.socket().emit("echo", ev.args()).ok();
    });
    hub.on("message", |ev| {
        ev.socket().emit("message", ev.args()).ok();
    });
    let addr = hub.start().unwrap();
    let port = addr.port();

    let tls = connect_tls(addr, &certs, "localhost");
    let url = format!("wss://localhost:{port}/socket.io/?EIO=4&transport=websocket");
    let (mut ws, resp) = tungstenite::client(url, tls).unwrap();
    assert_eq!(resp.status(), 101);
    assert!(read_text(&mut ws).starts_with("0{\"sid\""));
    ws.send(Message::text("40")).unwrap();
    assert!(read_text(&mut ws).starts_with("40{\"sid\""));
    // A message larger than one TLS record (16 KiB) both ways.
    let big = "x".repeat(40_000);
    ws.send(Message::text(format!("42[\"echo\",\"{big}\"]"))).unwrap();
    assert_eq!(read_text(&mut ws), format!("42[\"echo\",\"{big}\"]"));

    let tls = connect_tls(addr, &certs, "localhost");
    let (mut raw, _) = tungstenite::client(format!("wss://localhost:{port}/ws"), tls).unwrap();
    raw.send(Message::text("over tls")).unwrap();
    assert_eq!(read_text(&mut raw), "over tls");
    hub.stop(Duration::from_millis(200)).unwrap();
}

#[test]
fn plain_http_on_the_tls_port_gets_no_http_answer_and_the_hub_goes_on() {
    let certs = Certs::new("plain");
    let hub = tls_hub(&certs);
    let addr = hub.start().unwrap();
    let out = raw_http(addr, b"GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(!out.starts_with("HTTP/"), "plain HTTP must not be served on a TLS port");
    assert!(https_get(addr, &certs, "/hello.txt").starts_with("HTTP/1.1 200 OK\r\n"));
    hub.stop(Duration::from_millis(200)).unwrap();
}

#[test]
fn bad_certificate_files_are_a_clear_error_at_start() {
    let certs = Certs::new("bad");
    let expect_err = |cert: PathBuf, key: PathBuf, needle: &str| {
        let hub = Hub::builder().port(0).worker_threads(1).tls(cert, key).build().unwrap();
        match hub.start() {
            Err(Error::Config(msg)) => assert!(msg.contains(needle), "{msg:?} should mention {needle:?}"),
            other => panic!("expected a configuration error, got {other:?}"),
        }
        assert!(!hub.is_running());
    };
    // Missing file: the error names it.
    expect_err(certs.path("missing.pem"), certs.path("key.pem"), "missing.pem");
    // Not PEM at all.
    std::fs::write(certs.path("junk.pem"), "hello").unwrap();
    expect_err(certs.path("junk.pem"), certs.path("key.pem"), "junk.pem");
    expect_err(certs.path("cert.pem"), certs.path("junk.pem"), "junk.pem");
    // A certificate given as the key, and a key that does not fit the certificate.
    expect_err(certs.path("cert.pem"), certs.path("cert.pem"), "private key");
    expect_err(certs.path("cert.pem"), certs.path("ca.key"), "does not fit");
    // Only one of the two: refused when the hub is built.
    let cfg = wshub::Config { tls_cert: Some(certs.path("cert.pem")), ..Default::default() };
    assert!(matches!(Hub::new(cfg), Err(Error::Config(m)) if m.contains("tls_key")));
    // The good pair still starts.
    let hub = tls_hub(&certs);
    hub.start().unwrap();
    hub.stop(Duration::from_millis(100)).unwrap();
}
