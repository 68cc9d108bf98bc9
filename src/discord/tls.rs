//! The rustls client config for the gateway's `wss://` connection: the
//! same ring provider and web PKI roots ureq uses for REST, or the
//! certificates in `SSL_CERT_FILE` when it is set (a proxy that intercepts
//! TLS), so both connections trust the same things.

use std::sync::Arc;

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use rustls::{ClientConfig, RootCertStore};

/// Builds the config; fails only when `SSL_CERT_FILE` is set and unusable.
pub fn client_config() -> Result<Arc<ClientConfig>, String> {
    let mut roots = RootCertStore::empty();
    match std::env::var_os("SSL_CERT_FILE") {
        Some(file) => {
            let shown = file.to_string_lossy().into_owned();
            let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&file)
                .map_err(|e| format!("SSL_CERT_FILE {shown}: {e}"))?
                .filter_map(Result::ok)
                .collect();
            let (added, _) = roots.add_parsable_certificates(certs);
            if added == 0 {
                return Err(format!("SSL_CERT_FILE {shown} holds no PEM certificates"));
            }
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS set-up: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The built-in roots make a usable config (a test process with
    /// `SSL_CERT_FILE` set skips this).
    #[test]
    fn the_default_roots_make_a_config() {
        if std::env::var_os("SSL_CERT_FILE").is_none() {
            let config = client_config().expect("a config from the built-in roots");
            assert!(config.alpn_protocols.is_empty());
        }
    }
}
