//! The HTTPS settings: where the certificate chain, its key and the client CAs are. Plain
//! data; `startup::tls` reads the files and serves.

use std::path::PathBuf;

use clap::Args;

use super::ConfigError;

/// The `serve` flags of TLS (flattened into `ServeArgs`).
#[derive(Debug, Default, Args)]
pub struct TlsArgs {
    /// PEM certificate chain (the server's certificate first) to serve HTTPS with; needs
    /// `TLS_KEY_PATH`. Unset: plain HTTP (terminate TLS in front).
    #[arg(long = "tls-cert", env = "TLS_CERT_PATH", value_name = "FILE")]
    pub cert_path: Option<String>,

    /// PEM private key of that certificate (PKCS#8, PKCS#1 or SEC1).
    #[arg(long = "tls-key", env = "TLS_KEY_PATH", value_name = "FILE")]
    pub key_path: Option<String>,

    /// PEM CA certificates: clients must present a certificate issued by one of them (mutual
    /// TLS). Needs `TLS_CERT_PATH`.
    #[arg(
        long = "tls-client-ca",
        env = "TLS_CLIENT_CA_PATH",
        value_name = "FILE"
    )]
    pub client_ca_path: Option<String>,
}

/// Where the TLS files are. Plain data: the files are read at start-up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsSettings {
    pub cert_path: PathBuf,
    pub key_path: PathBuf,
    pub client_ca_path: Option<PathBuf>,
}

impl TlsSettings {
    /// `None`: plain HTTP. `--dev` always serves plain HTTP on loopback.
    pub fn from_args(args: &TlsArgs, dev: bool) -> Result<Option<Self>, ConfigError> {
        let error = |variable, flag, problem: &str| ConfigError::new(variable, flag, problem);
        let given = |value: &Option<String>| {
            value
                .as_deref()
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        match (
            given(&args.cert_path),
            given(&args.key_path),
            given(&args.client_ca_path),
        ) {
            (None, None, None) => Ok(None),
            _ if dev => Err(error(
                "TLS_CERT_PATH",
                "--tls-cert",
                "--dev serves plain HTTP on loopback; unset the TLS_* variables or leave out --dev",
            )),
            (Some(cert_path), Some(key_path), client_ca_path) => Ok(Some(Self {
                cert_path,
                key_path,
                client_ca_path,
            })),
            (None, _, _) => Err(error(
                "TLS_CERT_PATH",
                "--tls-cert",
                "not set, but TLS_KEY_PATH or TLS_CLIENT_CA_PATH is; HTTPS needs the certificate chain and its key",
            )),
            (Some(_), None, _) => Err(error(
                "TLS_KEY_PATH",
                "--tls-key",
                "not set, but TLS_CERT_PATH is; HTTPS needs the certificate's private key",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(cert: Option<&str>, key: Option<&str>, ca: Option<&str>) -> TlsArgs {
        TlsArgs {
            cert_path: cert.map(str::to_owned),
            key_path: key.map(str::to_owned),
            client_ca_path: ca.map(str::to_owned),
        }
    }

    #[test]
    fn settings_need_both_the_certificate_and_its_key() {
        assert_eq!(
            TlsSettings::from_args(&args(None, None, None), false).unwrap(),
            None
        );
        let both = TlsSettings::from_args(&args(Some("c.pem"), Some("k.pem"), None), false)
            .unwrap()
            .unwrap();
        assert_eq!(both.cert_path, PathBuf::from("c.pem"));
        for (given, variable) in [
            (args(Some("c.pem"), None, None), "TLS_KEY_PATH"),
            (args(None, Some("k.pem"), None), "TLS_CERT_PATH"),
            (args(None, None, Some("ca.pem")), "TLS_CERT_PATH"),
        ] {
            let error = TlsSettings::from_args(&given, false).unwrap_err();
            assert!(
                error.to_string().starts_with(variable),
                "{given:?}: {error}"
            );
        }
    }

    #[test]
    fn dev_mode_refuses_tls_settings() {
        let error =
            TlsSettings::from_args(&args(Some("c.pem"), Some("k.pem"), None), true).unwrap_err();
        assert!(error.to_string().contains("--dev"), "{error}");
    }
}
