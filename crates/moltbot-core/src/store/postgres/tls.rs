//! TLS to PostgreSQL with rustls, checking the server's certificate as much as `sslmode` asks
//! (see [`StoreLocation`](crate::store::StoreLocation)): libpq's `prefer` and `require` encrypt
//! without checking the certificate; `verify-ca` checks its chain to a trusted root, and
//! `verify-full` the host name too. Handshake signatures are always checked.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, Error, SignatureScheme};

use super::unavailable;
use crate::store::location::{PostgresUrl, TlsVerify};
use crate::store::StoreError;

/// The connector for `url`: Mozilla's roots plus those of `sslrootcert`, checked per `sslmode`.
pub(super) fn connector(
    url: &PostgresUrl,
) -> Result<tokio_postgres_rustls::MakeRustlsConnect, StoreError> {
    let mut roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    if let Some(path) = &url.root_cert {
        let invalid = |e: &dyn std::fmt::Display| {
            StoreError::io(
                "read the certificates (sslrootcert) in",
                path,
                std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string()),
            )
        };
        let certs = CertificateDer::pem_file_iter(path).map_err(|e| invalid(&e))?;
        let mut added = 0;
        for cert in certs {
            roots
                .add(cert.map_err(|e| invalid(&e))?)
                .map_err(|e| invalid(&e))?;
            added += 1;
        }
        if added == 0 {
            return Err(invalid(&"no PEM certificate in the file"));
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let webpki =
        WebPkiServerVerifier::builder_with_provider(Arc::new(roots), Arc::clone(&provider))
            .build()
            .map_err(|e| unavailable(format!("TLS setup: {e}")))?;
    let verifier = Arc::new(SslModeVerifier {
        verify: url.verify,
        webpki,
    });
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| unavailable(format!("TLS setup: {e}")))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    Ok(tokio_postgres_rustls::MakeRustlsConnect::new(config))
}

/// Checks the certificate as `sslmode` says; handshake signatures always (by webpki).
#[derive(Debug)]
struct SslModeVerifier {
    verify: TlsVerify,
    webpki: Arc<WebPkiServerVerifier>,
}

impl ServerCertVerifier for SslModeVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        if self.verify == TlsVerify::Nothing {
            return Ok(ServerCertVerified::assertion());
        }
        let checked = self.webpki.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        );
        match checked {
            Err(Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) if self.verify == TlsVerify::Chain => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.webpki.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.webpki.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.webpki.supported_verify_schemes()
    }
}
