//! TLS for the HTTPS listeners (rustls with the ring provider): the certificate chain and
//! private key are read from PEM files at start, and every problem is a startup error that
//! names the file and says what is wrong, including a key that does not belong to the
//! certificate. TLS 1.2 and 1.3; HTTP/1.1 only (what SOAP clients speak).

use std::path::Path;
use std::sync::Arc;

use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::config::TlsSettings;

/// The rustls server configuration for `settings`, or why there can be none.
pub fn server_config(settings: &TlsSettings) -> Result<ServerConfig, String> {
    let certs = certificates(&settings.cert)?;
    let key = private_key(&settings.key)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|error| format!("tls: {error}"))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|error| match error {
            rustls::Error::InconsistentKeys(_) => format!(
                "[tls] key: {} is not the key of the certificate in {}",
                settings.key.display(),
                settings.cert.display()
            ),
            other => format!(
                "[tls]: cannot use {} with {}: {other}",
                settings.cert.display(),
                settings.key.display()
            ),
        })
}

fn read(path: &Path, key: &str) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|error| format!("{key}: cannot read {}: {error}", path.display()))
}

fn certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let pem = read(path, "[tls] cert")?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| format!("[tls] cert: {} is not valid PEM: {error}", path.display()))?;
    if certs.is_empty() {
        return Err(format!(
            "[tls] cert: {} holds no CERTIFICATE block",
            path.display()
        ));
    }
    Ok(certs)
}

fn private_key(path: &Path) -> Result<PrivateKeyDer<'static>, String> {
    let pem = read(path, "[tls] key")?;
    PrivateKeyDer::from_pem_slice(&pem).map_err(|error| {
        format!(
            "[tls] key: {} holds no usable private key (PKCS#8, RSA or EC PEM): {error}",
            path.display()
        )
    })
}
