//! The HTTP side: one `reqwest` client per built store (connection pool, trusted CAs, client
//! certificate, extra headers) and cheap vaultrs sessions over it, one per token and namespace.
//!
//! vaultrs' own `VaultClient::new` reads `VAULT_*` environment variables and CA files from disk;
//! Sesame's credentials come from Kubernetes objects, so the reqwest client is built here and the
//! vaultrs client is assembled around it.
use std::fmt;
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use sesame_provider_core::{CredentialSource, ProviderError, SecretKeySelector};
use vaultrs::api::EndpointMiddleware;
use vaultrs::client::{VaultClient, VaultClientSettings, VaultClientSettingsBuilder};

use crate::VaultProvider;
use crate::errors::chain;

/// A Vault token. `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Token(pub(crate) String);

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

/// Builds sessions against one Vault server. Holds no token.
pub(crate) struct Transport {
    address: String,
    http: reqwest::Client,
    settings: VaultClientSettings,
}

impl fmt::Debug for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Transport").field("address", &self.address).finish_non_exhaustive()
    }
}

impl Transport {
    /// Resolve the store's TLS material through `creds` and build the HTTP client.
    pub(crate) async fn new(spec: &VaultProvider, creds: &dyn CredentialSource) -> Result<Self, ProviderError> {
        let address = spec.server.trim_end_matches('/').to_string();
        let url = reqwest::Url::parse(&address)
            .map_err(|e| ProviderError::Invalid(format!("vault server {:?} is not a URL: {e}", spec.server)))?;
        let https = match url.scheme() {
            "https" => true,
            "http" => false,
            other => {
                return Err(ProviderError::Invalid(format!("vault server scheme {other} is neither http nor https")));
            }
        };

        let mut builder = reqwest::Client::builder()
            .tls_backend_rustls()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(30))
            .default_headers(headers(spec)?);
        if https {
            let cas = sesame_provider_http::ca_certificates(spec.ca_bundle.as_deref(), spec.ca_provider.as_ref(), creds).await?;
            if !cas.is_empty() {
                builder = builder.tls_certs_only(cas);
            }
            if let Some(identity) = client_identity(spec, creds).await? {
                builder = builder.identity(identity);
            }
        } else {
            // reqwest#2988: a plain-http client must not try to load platform roots.
            builder = builder.tls_certs_only(Vec::new());
        }
        let http = builder.build().map_err(|e| ProviderError::Invalid(format!("cannot build the HTTP client for {address}: {e}")))?;

        let settings = VaultClientSettingsBuilder::default()
            .address(&address)
            .token("")
            .ca_certs(Vec::new())
            .identity(None)
            .verify(true)
            .timeout(None)
            .namespace(None)
            .build()
            .map_err(|e| ProviderError::Invalid(format!("vault client settings: {e}")))?;
        Ok(Transport { address, http, settings })
    }

    /// A vaultrs client sending `token` (may be empty, for logins) in `namespace`.
    pub(crate) fn session(&self, token: Option<&Token>, namespace: Option<&str>) -> VaultClient {
        VaultClient {
            http: rustify::clients::reqwest::Client::new(&self.address, self.http.clone()),
            middle: EndpointMiddleware {
                token: token.map(|t| t.0.clone()).unwrap_or_default(),
                version: "v1".to_string(),
                wrap: None,
                namespace: namespace.map(str::to_string),
            },
            settings: self.settings.clone(),
        }
    }

    /// GET an endpoint vaultrs has no request type for; the body as JSON.
    pub(crate) async fn get_json(
        &self,
        path: &str,
        token: &Token,
        namespace: Option<&str>,
    ) -> Result<(u16, serde_json::Value), ProviderError> {
        let mut req = self.http.get(format!("{}/v1/{path}", self.address)).header("X-Vault-Token", &token.0);
        if let Some(ns) = namespace {
            req = req.header("X-Vault-Namespace", ns);
        }
        // reqwest's message hides the cause (TLS verification, refused) in its sources.
        let resp = req.send().await.map_err(|e| ProviderError::Transient(format!("GET {path}: cannot reach Vault: {}", chain(&e))))?;
        let status = resp.status().as_u16();
        let body = resp.bytes().await.map_err(|e| ProviderError::Transient(format!("GET {path}: reading the answer: {}", chain(&e))))?;
        Ok((status, serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null)))
    }
    /// Any request with an optional JSON body and query (the VaultDynamicSecret generator's
    /// arbitrary paths and methods); the status and the body as JSON (`Null` when empty).
    pub(crate) async fn send_json(
        &self,
        request: &RawRequest<'_>,
        token: &Token,
        namespace: Option<&str>,
    ) -> Result<(u16, serde_json::Value), ProviderError> {
        let (method, path) = (request.method.clone(), request.path);
        let mut url = reqwest::Url::parse(&format!("{}/v1/{path}", self.address))
            .map_err(|e| ProviderError::Invalid(format!("{method} {path}: not a valid URL: {e}")))?;
        if !request.query.is_empty() {
            url.query_pairs_mut().extend_pairs(request.query);
        }
        let mut req = self.http.request(method.clone(), url).header("X-Vault-Token", &token.0);
        if let Some(ns) = namespace {
            req = req.header("X-Vault-Namespace", ns);
        }
        if let Some(body) = request.body {
            req = req.header("Content-Type", "application/json").body(serde_json::to_vec(body).unwrap_or_default());
        }
        let resp = req.send().await.map_err(|e| ProviderError::Transient(format!("{method} {path}: cannot reach Vault: {}", chain(&e))))?;
        let status = resp.status().as_u16();
        let body =
            resp.bytes().await.map_err(|e| ProviderError::Transient(format!("{method} {path}: reading the answer: {}", chain(&e))))?;
        Ok((status, serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null)))
    }
}

/// One request to an arbitrary Vault API path.
#[derive(Debug, Clone)]
pub struct RawRequest<'a> {
    /// `GET`, `LIST` (sent as Vault's `LIST` verb), `PUT`, `POST`, `DELETE` …
    pub method: reqwest::Method,
    /// The path after `/v1/`, e.g. `pki/issue/web`.
    pub path: &'a str,
    /// Query-string pairs.
    pub query: &'a [(String, String)],
    /// A JSON body.
    pub body: Option<&'a serde_json::Value>,
}

fn headers(spec: &VaultProvider) -> Result<HeaderMap, ProviderError> {
    let mut map = HeaderMap::new();
    for (name, value) in &spec.headers {
        let name = HeaderName::try_from(name.as_str())
            .map_err(|_| ProviderError::Invalid(format!("vault header name {name:?} is not a valid HTTP header name")))?;
        let value = HeaderValue::try_from(value.as_str())
            .map_err(|_| ProviderError::Invalid(format!("the value of vault header {name} is not a valid HTTP header value")))?;
        map.insert(name, value);
    }
    if spec.forward_inconsistent {
        map.insert("X-Vault-Inconsistent", HeaderValue::from_static("forward-active-node"));
    }
    Ok(map)
}

/// The client certificate for the TLS handshake: `auth.cert` (cert login needs it on the
/// connection) wins over `tls`, as in ESO.
async fn client_identity(spec: &VaultProvider, creds: &dyn CredentialSource) -> Result<Option<reqwest::Identity>, ProviderError> {
    let (cert, key): (&SecretKeySelector, &SecretKeySelector) = match (spec.auth.as_ref().and_then(|a| a.cert.as_ref()), &spec.tls) {
        (Some(c), _) => (&c.client_cert, &c.secret_ref),
        (None, tls) => match (&tls.cert_secret_ref, &tls.key_secret_ref) {
            (Some(c), Some(k)) => (c, k),
            (None, None) => return Ok(None),
            _ => {
                return Err(ProviderError::Invalid("tls needs both certSecretRef and keySecretRef".into()));
            }
        },
    };
    let mut pem = creds.secret_key(cert, Some("tls.crt")).await?.into_bytes();
    pem.push(b'\n');
    pem.extend(creds.secret_key(key, Some("tls.key")).await?.into_bytes());
    reqwest::Identity::from_pem(&pem).map(Some).map_err(|_| {
        ProviderError::Invalid(format!("client certificate {}/key {} is not a PEM certificate and private key", cert.name, key.name))
    })
}
