//! TLS for https:// URLs, on the system's OpenSSL.
//!
//! Nothing here runs for a plain-http URL: the context (and with it the system CA bundle,
//! whose parsing is most of a short run's CPU) is built once, on the first https
//! connection. With a CA file, only that CA is trusted and the system bundle is never
//! read, as Prometheus' own `tls_config.ca_file` does.

use std::net::IpAddr;

use openssl::pkey::PKey;
use openssl::ssl::{
    Ssl, SslContext, SslContextBuilder, SslMethod, SslMode, SslOptions, SslVerifyMode, SslVersion,
};
use openssl::x509::store::X509StoreBuilder;
use openssl::x509::verify::X509CheckFlags;
use openssl::x509::{X509, X509VerifyResult};

/// A PEM file's content and how the user named it (for messages).
#[derive(Clone, Debug)]
pub struct Pem {
    pub bytes: Vec<u8>,
    /// `--ca-cert /etc/ca.pem` or `http.yml:4: tls_config.ca_file /etc/ca.pem`.
    pub source: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TlsVersion {
    Tls10,
    Tls11,
    Tls12,
    Tls13,
}

impl TlsVersion {
    /// Prometheus' spelling (`TLS12`).
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "TLS10" => TlsVersion::Tls10,
            "TLS11" => TlsVersion::Tls11,
            "TLS12" => TlsVersion::Tls12,
            "TLS13" => TlsVersion::Tls13,
            _ => return None,
        })
    }

    fn openssl(self) -> SslVersion {
        match self {
            TlsVersion::Tls10 => SslVersion::TLS1,
            TlsVersion::Tls11 => SslVersion::TLS1_1,
            TlsVersion::Tls12 => SslVersion::TLS1_2,
            TlsVersion::Tls13 => SslVersion::TLS1_3,
        }
    }
}

/// What the user asked of TLS (flags or `tls_config`).
#[derive(Clone, Debug, Default)]
pub struct TlsOptions {
    /// CA certificates to trust instead of the system's.
    pub ca: Option<Pem>,
    /// Client certificate (PEM, optionally followed by its chain) and key, for mutual TLS.
    pub identity: Option<(Pem, Pem)>,
    /// The name to verify the server's certificate against (and send as SNI) instead of
    /// the URL's host.
    pub server_name: Option<String>,
    pub insecure_skip_verify: bool,
    /// Lowest protocol version accepted [default: TLS 1.2, as Prometheus].
    pub min_version: Option<TlsVersion>,
}

impl TlsOptions {
    /// Reads the PEM files given without building a context: bad files are usage errors
    /// found before any network I/O, and cost no CA bundle.
    pub fn validate(&self) -> Result<(), String> {
        if let Some(ca) = &self.ca {
            certs(ca)?;
        }
        if let Some((cert, key)) = &self.identity {
            identity(cert, key)?;
        }
        Ok(())
    }

    /// The OpenSSL context: the settings of openssl's `SslConnector` (cipher list, options,
    /// peer verification) with our choice of trust store.
    pub fn context(&self) -> Result<SslContext, String> {
        let setup = |e: openssl::error::ErrorStack| format!("cannot set up TLS: {e}");
        let mut b = SslContextBuilder::new(SslMethod::tls_client()).map_err(setup)?;
        let mut opts = SslOptions::ALL
            | SslOptions::NO_COMPRESSION
            | SslOptions::NO_SSLV2
            | SslOptions::NO_SSLV3;
        opts &= !SslOptions::DONT_INSERT_EMPTY_FRAGMENTS;
        b.set_options(opts);
        b.set_mode(
            SslMode::AUTO_RETRY
                | SslMode::ACCEPT_MOVING_WRITE_BUFFER
                | SslMode::ENABLE_PARTIAL_WRITE
                | SslMode::RELEASE_BUFFERS,
        );
        b.set_cipher_list("DEFAULT:!aNULL:!eNULL:!MD5:!3DES:!DES:!RC4:!IDEA:!SEED:!aDSS:!SRP:!PSK")
            .map_err(setup)?;
        b.set_min_proto_version(Some(
            self.min_version.unwrap_or(TlsVersion::Tls12).openssl(),
        ))
        .map_err(setup)?;
        b.set_verify(if self.insecure_skip_verify {
            SslVerifyMode::NONE
        } else {
            SslVerifyMode::PEER
        });
        match &self.ca {
            Some(ca) => {
                let mut store = X509StoreBuilder::new().map_err(setup)?;
                for c in certs(ca)? {
                    store
                        .add_cert(c)
                        .map_err(|e| format!("{}: {e}", ca.source))?;
                }
                b.set_cert_store(store.build());
            }
            // The system's trust store (OpenSSL's defaults, which honour SSL_CERT_FILE and
            // SSL_CERT_DIR), read here and only here.
            None => b.set_default_verify_paths().map_err(|e| {
                format!("cannot load the system's CA certificates: {e} (give one with --ca-cert)")
            })?,
        }
        if let Some((cert, key)) = &self.identity {
            let (chain, pkey) = identity(cert, key)?;
            let mut chain = chain.into_iter();
            let leaf = chain.next().expect("identity() checked one");
            b.set_certificate(&leaf).map_err(setup)?;
            for c in chain {
                b.add_extra_chain_cert(c).map_err(setup)?;
            }
            let mismatch = |_| {
                format!(
                    "{}: the key does not belong to the certificate in {}",
                    key.source, cert.source
                )
            };
            b.set_private_key(&pkey).map_err(mismatch)?;
            b.check_private_key().map_err(mismatch)?;
        }
        Ok(b.build())
    }

    /// One session for a connection to `host`: SNI and hostname (or IP) verification.
    pub fn session(&self, ctx: &SslContext, host: &str) -> Result<Ssl, String> {
        let setup = |e: openssl::error::ErrorStack| format!("cannot set up TLS: {e}");
        let mut ssl = Ssl::new(ctx).map_err(setup)?;
        let name = self.server_name.as_deref().unwrap_or(host);
        let ip = name.parse::<IpAddr>().ok();
        if ip.is_none() {
            ssl.set_hostname(name).map_err(setup)?;
        }
        if !self.insecure_skip_verify {
            let param = ssl.param_mut();
            param.set_hostflags(X509CheckFlags::NO_PARTIAL_WILDCARDS);
            match ip {
                Some(ip) => param.set_ip(ip).map_err(setup)?,
                None => param.set_host(name).map_err(setup)?,
            }
        }
        Ok(ssl)
    }
}

fn certs(pem: &Pem) -> Result<Vec<X509>, String> {
    let certs = X509::stack_from_pem(&pem.bytes)
        .map_err(|e| format!("{}: not a PEM certificate: {e}", pem.source))?;
    if certs.is_empty() {
        return Err(format!(
            "{}: no PEM certificate (-----BEGIN CERTIFICATE-----) in the file",
            pem.source
        ));
    }
    Ok(certs)
}

fn identity(cert: &Pem, key: &Pem) -> Result<(Vec<X509>, PKey<openssl::pkey::Private>), String> {
    let chain = certs(cert)?;
    let pkey = PKey::private_key_from_pem(&key.bytes).map_err(|_| {
        format!(
            "{}: not a PEM private key (PKCS#8, RSA or EC; an encrypted key needs decrypting first, e.g. `openssl pkey -in KEY -out PLAIN`)",
            key.source
        )
    })?;
    Ok((chain, pkey))
}

/// Why a TLS handshake failed, in the terms of the fix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TlsProblem {
    /// The server's certificate is not signed by a trusted CA.
    Untrusted,
    Expired,
    NotYetValid,
    /// The certificate does not name the host connected to.
    WrongHost,
    /// The server does not speak TLS on that port (an http:// server).
    NotTls,
    /// The server refused our client certificate, or wanted one.
    ClientCertificate,
    Other,
}

/// Classifies a failed handshake from OpenSSL's verification result and error text.
pub fn classify(verify: X509VerifyResult, error: &str) -> (TlsProblem, String) {
    if verify != X509VerifyResult::OK {
        // X509_V_ERR_* codes (openssl/x509_vfy.h).
        let p = match verify.as_raw() {
            10 => TlsProblem::Expired,
            9 => TlsProblem::NotYetValid,
            62 | 64 => TlsProblem::WrongHost,
            2 | 18 | 19 | 20 | 21 => TlsProblem::Untrusted,
            _ => TlsProblem::Other,
        };
        return (
            p,
            format!(
                "the server's certificate failed verification: {}",
                verify.error_string()
            ),
        );
    }
    (classify_text(error), error.to_string())
}

/// Classifies an OpenSSL error seen outside the handshake's verification (an alert the
/// server sent, a non-TLS reply).
pub fn classify_text(error: &str) -> TlsProblem {
    let e = error.to_ascii_lowercase();
    if e.contains("wrong version number")
        || e.contains("packet length too long")
        || e.contains("unknown protocol")
        || e.contains("record layer failure")
    {
        TlsProblem::NotTls
    } else if e.contains("certificate required")
        || e.contains("alert bad certificate")
        || e.contains("alert unknown ca")
        || e.contains("alert certificate unknown")
        || e.contains("alert handshake failure") && e.contains("certificate")
    {
        TlsProblem::ClientCertificate
    } else {
        TlsProblem::Other
    }
}
