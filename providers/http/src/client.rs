//! The client builder and the CA bundles a store trusts.
use std::time::Duration;

use base64::Engine;
use sesame_provider_core::{CaProvider, CredentialSource, ProviderError};

/// How a provider's client is built. The defaults suit a SaaS REST API: rustls, a 10 s connect
/// and 30 s total timeout, no redirects (a redirect could carry a token to another origin).
#[derive(Debug)]
pub struct ClientOptions {
    /// Whether the server is reached over https (http gets no trust store at all).
    pub https: bool,
    /// The CAs to trust instead of the platform's, when not empty.
    pub cas: Vec<reqwest::Certificate>,
    pub connect_timeout: Duration,
    pub timeout: Duration,
    /// Follow redirects (same limit as reqwest's default); off unless a provider needs it.
    pub follow_redirects: bool,
}

impl ClientOptions {
    /// The defaults for a server reached through `url`'s scheme.
    pub fn for_url(url: &reqwest::Url) -> Self {
        ClientOptions {
            https: url.scheme() == "https",
            cas: Vec::new(),
            connect_timeout: Duration::from_secs(10),
            timeout: Duration::from_secs(30),
            follow_redirects: false,
        }
    }

    /// The CAs to trust (ignored over plain http).
    pub fn trusting(mut self, cas: Vec<reqwest::Certificate>) -> Self {
        self.cas = cas;
        self
    }

    /// A builder with these options, for a provider that adds headers or a client identity.
    pub fn builder(self) -> reqwest::ClientBuilder {
        let redirect = if self.follow_redirects { reqwest::redirect::Policy::default() } else { reqwest::redirect::Policy::none() };
        let mut builder = reqwest::Client::builder()
            .tls_backend_rustls()
            .connect_timeout(self.connect_timeout)
            .timeout(self.timeout)
            .redirect(redirect)
            .user_agent("sesame-external-secrets");
        if !self.https {
            // reqwest#2988: a plain-http client must not try to load platform roots.
            builder = builder.tls_certs_only(Vec::new());
        } else if !self.cas.is_empty() {
            builder = builder.tls_certs_only(self.cas);
        }
        builder
    }

    /// The client itself.
    pub fn build(self, service: &str) -> Result<reqwest::Client, ProviderError> {
        self.builder().build().map_err(|e| ProviderError::Invalid(format!("cannot build the HTTP client for {service}: {e}")))
    }
}

/// The certificates of a store's `caBundle` (base64 PEM) and `caProvider` (a PEM bundle in a
/// Secret or ConfigMap), both trusted when both are given. Empty when neither is.
pub async fn ca_certificates(
    ca_bundle: Option<&str>,
    ca_provider: Option<&CaProvider>,
    creds: &dyn CredentialSource,
) -> Result<Vec<reqwest::Certificate>, ProviderError> {
    let mut pems: Vec<(&str, Vec<u8>)> = Vec::new();
    if let Some(b64) = ca_bundle.filter(|b| !b.trim().is_empty()) {
        let compact: String = b64.split_whitespace().collect();
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(compact)
            .map_err(|e| ProviderError::Invalid(format!("caBundle is not base64: {e}")))?;
        pems.push(("caBundle", bytes));
    }
    if let Some(ca) = ca_provider {
        pems.push(("caProvider", creds.ca_bundle(ca).await?));
    }
    let mut out = Vec::new();
    for (what, pem) in pems {
        let certs = reqwest::Certificate::from_pem_bundle(&pem)
            .map_err(|e| ProviderError::Invalid(format!("{what} is not a PEM certificate bundle: {e}")))?;
        if certs.is_empty() {
            return Err(ProviderError::Invalid(format!("{what} holds no PEM certificate")));
        }
        out.extend(certs);
    }
    Ok(out)
}
