//! TLS (https and wss) with rustls on the `ring` provider: the certificate
//! chain and the key are read from PEM files when the hub starts, and every
//! accepted TCP stream is wrapped before the HTTP layer sees it.

use std::path::Path;
use std::sync::Arc;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::{self, ServerConfig};
use tokio_rustls::TlsAcceptor;

use crate::{Config, Error};

/// The acceptor for `cfg.tls_cert` and `cfg.tls_key`, or `None` for plain TCP.
pub fn acceptor(cfg: &Config) -> Result<Option<TlsAcceptor>, Error> {
    match (&cfg.tls_cert, &cfg.tls_key) {
        (Some(cert), Some(key)) => Ok(Some(TlsAcceptor::from(Arc::new(server_config(cert, key)?)))),
        (None, None) => Ok(None),
        _ => Err(Error::Config("tls_cert and tls_key go together: set both or neither".into())),
    }
}

fn server_config(cert_path: &Path, key_path: &Path) -> Result<ServerConfig, Error> {
    let certs = read_certs(cert_path)?;
    let key = read_key(key_path)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Config(format!("TLS: {e}")))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| {
            Error::Config(format!(
                "TLS: the key {} does not fit the certificate {}: {e}",
                key_path.display(),
                cert_path.display()
            ))
        })?;
    // Only HTTP/1.1: the WebSocket upgrade and long-polling need it.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

fn read_pem(path: &Path, what: &str) -> Result<Vec<u8>, Error> {
    std::fs::read(path).map_err(|e| Error::Config(format!("TLS: cannot read the {what} file {}: {e}", path.display())))
}

fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, Error> {
    let pem = read_pem(path, "certificate")?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Error::Config(format!("TLS: {} is not a valid PEM certificate file: {e}", path.display())))?;
    if certs.is_empty() {
        return Err(Error::Config(format!(
            "TLS: {} holds no certificate (expected PEM \"BEGIN CERTIFICATE\" blocks)",
            path.display()
        )));
    }
    Ok(certs)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, Error> {
    let pem = read_pem(path, "private key")?;
    PrivateKeyDer::from_pem_slice(&pem).map_err(|e| {
        Error::Config(format!(
            "TLS: {} holds no usable private key (expected PEM PKCS#8, PKCS#1 or SEC1): {e}",
            path.display()
        ))
    })
}
