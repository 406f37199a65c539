//! The one HTTP client every Azure pipeline of a store uses (Key Vault, Entra ID, IMDS).
//!
//! azure_core's seam for this is `ClientOptions::transport`: a `Transport` wrapping any
//! `HttpClient`, which azure_core implements for `reqwest::Client`. Sesame always builds that
//! reqwest client itself, from [`HttpSettings`], so production and the tests run exactly the same
//! code: the tests only change the settings (trust the test CA, pin the fake's host names to a
//! loopback port), never the client.
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use azure_core::http::Transport;
use sesame_provider_core::ProviderError;

/// How a store's Azure clients reach the network. `HttpSettings::default()` is the production
/// setting: the system's trust roots and DNS, no proxy.
#[derive(Debug, Clone, Default)]
pub struct HttpSettings {
    /// PEM CA certificates trusted in addition to the system roots: private clouds whose Key
    /// Vault or Entra ID endpoints use a private CA, and tests (the fake vault's test CA).
    pub extra_root_certificates_pem: Vec<u8>,
    /// Host names answered with fixed socket addresses instead of DNS, like curl's `--resolve`.
    /// A URL without a port connects to the pinned address's port. Lets the tests keep real
    /// Azure host names (`*.vault.azure.net`, `login.microsoftonline.com`) in the store spec, so
    /// the SDK's challenge-resource check stays on.
    pub resolve: Vec<(String, SocketAddr)>,
    /// An HTTP proxy for plain-`http` requests. The only plain-http endpoint Azure uses is the
    /// managed-identity endpoint (IMDS, `http://169.254.169.254`): this is how a node-local
    /// IMDS proxy, or a test's fake IMDS, is reached. HTTPS requests never use it. (The usual
    /// `HTTPS_PROXY`/`NO_PROXY` environment variables are honoured as reqwest honours them.)
    pub plain_http_proxy: Option<String>,
    /// Total time allowed for one HTTP request. Default 30 s.
    pub request_timeout: Option<Duration>,
}

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// `HttpSettings::from_env` reads these (all optional).
pub const ENV_EXTRA_CA_FILE: &str = "SESAME_AZURE_EXTRA_CA_FILE";
pub const ENV_RESOLVE: &str = "SESAME_AZURE_RESOLVE";
pub const ENV_PLAIN_HTTP_PROXY: &str = "SESAME_AZURE_PLAIN_HTTP_PROXY";

impl HttpSettings {
    /// Settings from the controller's environment, for private clouds and end-to-end tests:
    /// `SESAME_AZURE_EXTRA_CA_FILE` (a PEM file of extra trusted CAs), `SESAME_AZURE_RESOLVE`
    /// (`host=ip:port` pairs separated by commas) and `SESAME_AZURE_PLAIN_HTTP_PROXY` (an
    /// `http://` proxy URL for IMDS). Unset variables keep the defaults.
    pub fn from_env() -> Result<Self, ProviderError> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let mut settings = HttpSettings::default();
        if let Some(path) = var(ENV_EXTRA_CA_FILE) {
            settings.extra_root_certificates_pem =
                std::fs::read(&path).map_err(|e| ProviderError::Invalid(format!("{ENV_EXTRA_CA_FILE}={path}: {e}")))?;
        }
        if let Some(pairs) = var(ENV_RESOLVE) {
            settings.resolve = parse_resolve(&pairs)?;
        }
        settings.plain_http_proxy = var(ENV_PLAIN_HTTP_PROXY);
        Ok(settings)
    }

    /// The transport for every pipeline of one store.
    pub(crate) fn transport(&self) -> Result<Transport, ProviderError> {
        Ok(Transport::new(Arc::new(self.http_client()?)))
    }

    /// The HTTP client these settings describe, for Azure endpoints outside the SDK (ACR's
    /// token exchange).
    pub fn http_client(&self) -> Result<reqwest::Client, ProviderError> {
        let mut builder = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(self.request_timeout.unwrap_or(DEFAULT_REQUEST_TIMEOUT))
            // As azure_core's own client: Azure REST services do not redirect.
            .redirect(reqwest::redirect::Policy::none());
        if !self.extra_root_certificates_pem.is_empty() {
            let certs = reqwest::Certificate::from_pem_bundle(&self.extra_root_certificates_pem)
                .map_err(|e| ProviderError::Invalid(format!("extra CA certificates are not valid PEM: {e}")))?;
            builder = builder.tls_certs_merge(certs);
        }
        for (host, addr) in &self.resolve {
            builder = builder.resolve(host, *addr);
        }
        if let Some(proxy) = &self.plain_http_proxy {
            let proxy = reqwest::Proxy::http(proxy).map_err(|e| ProviderError::Invalid(format!("invalid plain-http proxy URL: {e}")))?;
            builder = builder.proxy(proxy);
        }
        builder.build().map_err(|e| ProviderError::Invalid(format!("cannot build the HTTPS client: {e}")))
    }
}

/// `host=ip:port,host=ip:port`.
fn parse_resolve(pairs: &str) -> Result<Vec<(String, SocketAddr)>, ProviderError> {
    pairs
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (host, addr) = pair.split_once('=').unwrap_or((pair, ""));
            let addr = addr
                .trim()
                .parse::<SocketAddr>()
                .map_err(|_| ProviderError::Invalid(format!("{ENV_RESOLVE}: {pair:?} is not host=ip:port")))?;
            Ok((host.trim().to_ascii_lowercase(), addr))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolve_pairs_read_as_host_and_socket_address() {
        let pinned = parse_resolve("v.vault.azure.net=127.0.0.1:8443, Login.Example=[::1]:9443").unwrap();
        assert_eq!(pinned[0], ("v.vault.azure.net".to_string(), "127.0.0.1:8443".parse().unwrap()));
        assert_eq!(pinned[1], ("login.example".to_string(), "[::1]:9443".parse().unwrap()));
        assert!(parse_resolve("no-address").is_err());
    }
}
