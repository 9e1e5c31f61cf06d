//! `https://` targets: rustls (ring provider, TLS 1.2 and 1.3, ALPN `http/1.1`) under the
//! same one-connection-per-stream HTTP/1.1 client. Certificates are verified against the
//! webpki (Mozilla) roots plus any `--ca-cert` PEM file; `--insecure` skips chain and name
//! verification (handshake signatures are still checked). A failed handshake is its own
//! error class, `tls_error`, with the verifier's reason as the detail.

use super::rx::TcpIo;
use crate::record::ErrorClass;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use std::path::Path;
use std::sync::Arc;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

/// What the user asked for (`--ca-cert`, `--insecure`).
#[derive(Debug, Clone, Default)]
pub struct TlsOptions {
    /// Extra trusted roots, already read from the PEM file.
    pub extra_roots: Vec<CertificateDer<'static>>,
    pub insecure: bool,
}

/// A TLS client for one target host, shared by every connection.
#[derive(Clone)]
pub struct Tls {
    connector: TlsConnector,
    server_name: ServerName<'static>,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls").field("server_name", &self.server_name).finish()
    }
}

/// Read every certificate of a PEM file (`--ca-cert`).
pub fn read_pem_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read --ca-cert '{}': {e}", path.display()))?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("--ca-cert '{}': invalid PEM: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!("--ca-cert '{}' holds no certificate", path.display()));
    }
    Ok(certs)
}

impl Tls {
    /// A client for `host` (a DNS name or an IP address).
    pub fn new(host: &str, opts: &TlsOptions) -> Result<Tls, String> {
        let server_name =
            ServerName::try_from(host.to_string()).map_err(|_| format!("'{host}' is not a valid TLS server name"))?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS setup: {e}"))?;
        let mut config = if opts.insecure {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
                .with_no_client_auth()
        } else {
            let mut roots = rustls::RootCertStore::empty();
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
            for c in &opts.extra_roots {
                roots
                    .add(c.clone())
                    .map_err(|e| format!("--ca-cert: unusable certificate: {e}"))?;
            }
            builder.with_root_certificates(roots).with_no_client_auth()
        };
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Tls {
            connector: TlsConnector::from(Arc::new(config)),
            server_name,
        })
    }

    /// The TLS handshake on an open TCP connection.
    pub async fn handshake(&self, tcp: TcpIo) -> Result<TlsStream<TcpIo>, (ErrorClass, String)> {
        self.connector
            .connect(self.server_name.clone(), tcp)
            .await
            .map_err(|e| (ErrorClass::TlsError, format!("TLS handshake: {}", reason(&e))))
    }
}

/// The rustls reason inside an I/O error (e.g. `invalid peer certificate: UnknownIssuer`).
fn reason(e: &std::io::Error) -> String {
    match e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
        Some(r) => r.to_string(),
        None => e.to_string(),
    }
}

/// `--insecure`: accepts any certificate chain and name, still verifying that the server
/// holds the key of the certificate it presented.
#[derive(Debug)]
struct AnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_names_and_pem_errors() {
        let opts = TlsOptions::default();
        assert!(Tls::new("example.com", &opts).is_ok());
        assert!(
            Tls::new("127.0.0.1", &opts).is_ok(),
            "IP addresses are valid server names"
        );
        assert!(Tls::new("::1", &opts).is_ok());
        assert!(Tls::new("bad name!", &opts).is_err());
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.pem");
        std::fs::write(&p, "not a certificate\n").unwrap();
        assert!(read_pem_certs(&p).unwrap_err().contains("holds no certificate"));
        assert!(read_pem_certs(&dir.path().join("missing.pem"))
            .unwrap_err()
            .starts_with("cannot read --ca-cert"));
    }
}
