//! `https://` targets through the binary: the embedded simulator behind an in-test TLS
//! terminator on 127.0.0.1 with a self-signed certificate made by rcgen. Verification fails
//! by default (`tls_error`), `--ca-cert` with that certificate or `--insecure` succeed.

use crate::util::bench;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// A self-signed certificate for 127.0.0.1: (its PEM, the server's key and certificate).
fn self_signed() -> (String, Arc<CertifiedKey>) {
    let ck = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string(), "localhost".to_string()]).unwrap();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(ck.signing_key.serialize_der()));
    let signer = rustls::crypto::ring::sign::any_supported_type(&key).unwrap();
    let certs: Vec<CertificateDer<'static>> = vec![ck.cert.der().clone()];
    (ck.cert.pem(), Arc::new(CertifiedKey::new(certs, signer)))
}

/// Presents `first` on the first `n_first` handshakes, then `rest`.
#[derive(Debug)]
struct Certs {
    first: Arc<CertifiedKey>,
    rest: Arc<CertifiedKey>,
    n_first: u64,
    seen: AtomicU64,
}

impl ResolvesServerCert for Certs {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let n = self.seen.fetch_add(1, Ordering::Relaxed);
        Some(if n < self.n_first {
            self.first.clone()
        } else {
            self.rest.clone()
        })
    }
}

/// TLS termination in front of an axum app: handshakes happen one at a time in `accept`
/// (enough for a test), and failed handshakes are skipped.
struct TlsListener {
    tcp: tokio::net::TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
}

impl axum::serve::Listener for TlsListener {
    type Io = tokio_rustls::server::TlsStream<tokio::net::TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Ok((tcp, addr)) = self.tcp.accept().await else {
                continue;
            };
            let _ = tcp.set_nodelay(true);
            if let Ok(tls) = self.acceptor.accept(tcp).await {
                return (tls, addr);
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.tcp.local_addr()
    }
}

/// The simulator over https on 127.0.0.1:0 with the given certificates; returns the runtime
/// to keep alive and the URL.
fn https_sim(certs: Certs) -> (tokio::runtime::Runtime, String) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let url = rt.block_on(async move {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_cert_resolver(Arc::new(certs));
        cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
        // No session resumption: every connection sees the certificate of its own handshake.
        cfg.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
        cfg.send_tls13_tickets = 0;
        let sim = infermeter::sim::SimConfig::fixed_timing(5.0, 1.0);
        let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = tcp.local_addr().unwrap();
        let listener = TlsListener {
            tcp,
            acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(cfg)),
        };
        tokio::spawn(async move { axum::serve(listener, infermeter::sim::app(sim)).await.ok() });
        format!("https://{addr}")
    });
    (rt, url)
}

fn one_cert() -> (String, Certs) {
    let (pem, key) = self_signed();
    let certs = Certs {
        first: key.clone(),
        rest: key,
        n_first: 0,
        seen: AtomicU64::new(0),
    };
    (pem, certs)
}

const LOAD: [&str; 6] = ["--requests", "4", "--concurrency", "2", "--output-tokens", "3"];

#[test]
fn https_with_an_untrusted_certificate_fails_with_tls_error() {
    let (_pem, certs) = one_cert();
    let (_rt, url) = https_sim(certs);
    let run = bench(&[&["--url", url.as_str()][..], &LOAD].concat());
    assert_eq!(run.out.status.code(), Some(1), "{}", run.stderr());
    let err = run.stderr();
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("tls_error") && err.contains("UnknownIssuer"), "{err}");
}

#[test]
fn https_with_ca_cert_succeeds() {
    let (pem, certs) = one_cert();
    let (_rt, url) = https_sim(certs);
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, pem).unwrap();
    let ca = ca.to_string_lossy().into_owned();
    let run = bench(&[&["--url", url.as_str(), "--ca-cert", ca.as_str()][..], &LOAD].concat());
    run.ok();
    assert!(!run.stderr().contains("warning"), "{}", run.stderr());
    let s = run.summary();
    assert_eq!(
        (s["requests"]["succeeded"].as_u64(), s["requests"]["failed"].as_u64()),
        (Some(4), Some(0))
    );
    assert!(s["run"]["target"].as_str().unwrap().starts_with("https://127.0.0.1:"));
    // Kernel receive stamps come through the TLS layer too.
    if cfg!(target_os = "linux") {
        let lag = &s["client"]["read_lag_ms"];
        assert!(lag["stamped_reads"].as_u64().unwrap_or(0) > 0, "{}", s["client"]);
        assert_eq!(s["client"]["rx_timestamp"], "kernel");
    }
}

#[test]
fn https_with_insecure_succeeds_and_warns() {
    let (_pem, certs) = one_cert();
    let (_rt, url) = https_sim(certs);
    let run = bench(&[&["--url", url.as_str(), "--insecure"][..], &LOAD].concat());
    run.ok();
    assert_eq!(
        run.stderr().trim(),
        "warning: --insecure: the server's TLS certificate is not verified"
    );
    assert_eq!(run.summary()["requests"]["succeeded"], 4);
}

#[test]
fn every_request_failing_the_handshake_is_a_tls_error() {
    // The trusted certificate for the preflight's connection, an unknown one afterwards.
    let (pem, trusted) = self_signed();
    let (_, unknown) = self_signed();
    let certs = Certs {
        first: trusted,
        rest: unknown,
        n_first: 1,
        seen: AtomicU64::new(0),
    };
    let (_rt, url) = https_sim(certs);
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, pem).unwrap();
    let ca = ca.to_string_lossy().into_owned();
    let run = bench(&[&["--url", url.as_str(), "--ca-cert", ca.as_str()][..], &LOAD].concat());
    assert_eq!(run.out.status.code(), Some(1), "{}", run.stderr());
    let err = run.stderr();
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("all 4 requests failed (tls_error: 4)"), "{err}");
    assert!(err.contains("invalid peer certificate"), "{err}");
    for r in run.records() {
        assert_eq!(r["error"], "tls_error", "{r}");
    }
}

#[test]
fn tls_flags_need_an_https_url() {
    let run = bench(&["--insecure", "--requests", "1"]);
    assert_eq!(run.out.status.code(), Some(2));
    assert!(
        run.stderr().contains("--insecure applies to https:// URLs only"),
        "{}",
        run.stderr()
    );
}
