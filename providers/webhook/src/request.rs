//! One webhook request, shared by the Webhook provider and ESO's Webhook generator: the URL,
//! headers and body are rendered by Sesame's sandboxed template engine (with its budgets), the
//! rendered URL must keep the literal origin of the template, and the answer is read up to
//! [`MAX_RESPONSE`] bytes and no further.
use std::collections::BTreeMap;
use std::time::Duration;

use sesame_provider_core::{CredentialSource, ProviderError};
use sesame_provider_http::ca_certificates;

use crate::WebhookProvider;
use crate::config::literal_origin;

/// Template data: `remoteRef` and each of `secrets[]`, a map of strings each.
pub type TemplateData = BTreeMap<String, BTreeMap<String, Vec<u8>>>;

/// The most a webhook answer may hold: a Kubernetes Secret holds 1 MiB.
pub const MAX_RESPONSE: usize = 1024 * 1024;

/// The label ESO requires on every Secret of a webhook store's or generator's `secrets[]`: a
/// Secret becomes webhook input only when its owner says so, not because some store names it.
pub const TYPE_LABEL: (&str, &str) = ("external-secrets.io/type", "webhook");

/// Every Secret of `secrets[]` carries [`TYPE_LABEL`], checked before any value is read, at each
/// request (as ESO does: a label removed later stops the next read). The error names the Secret only.
pub async fn check_labels(secrets: &[crate::WebhookSecret], creds: &dyn CredentialSource) -> Result<(), ProviderError> {
    let (key, want) = TYPE_LABEL;
    let mut seen = std::collections::BTreeSet::new();
    for s in secrets.iter().filter(|s| seen.insert((s.secret_ref.name.as_str(), s.secret_ref.namespace.as_deref()))) {
        let (secret, labels) = (&s.secret_ref.name, creds.secret_labels(&s.secret_ref).await?);
        match labels.get(key) {
            Some(v) if v == want => {}
            Some(_) => {
                return Err(ProviderError::Invalid(format!(
                    "webhook secrets[{}]: Secret {secret} is labelled {key} but not with \"{want}\"",
                    s.name
                )));
            }
            None => {
                return Err(ProviderError::Invalid(format!(
                    "webhook secrets[{}]: Secret {secret} lacks the label {key}: {want} (ESO requires it on every Secret a \
                     webhook store or generator reads)",
                    s.name
                )));
            }
        }
    }
    Ok(())
}

/// A webhook's HTTP client and request templates.
pub struct WebhookCaller {
    spec: WebhookProvider,
    origin: String,
    http: reqwest::Client,
}

/// What the endpoint answered (2xx only; other codes are errors).
pub struct WebhookResponse {
    pub status: u16,
    pub body: Vec<u8>,
}

impl WebhookCaller {
    /// Check the spec and build the HTTP client (CA from `caBundle` / `caProvider`).
    pub async fn new(spec: &WebhookProvider, creds: &dyn CredentialSource) -> Result<Self, ProviderError> {
        spec.check_urls()?;
        let origin = literal_origin(&spec.url)?.to_string();
        let mut builder = reqwest::Client::builder()
            .tls_backend_rustls()
            .connect_timeout(Duration::from_secs(10))
            .timeout(spec.timeout()?)
            // A redirect could leave the literal origin: never follow one.
            .redirect(reqwest::redirect::Policy::none());
        if origin.starts_with("https://") {
            let certs = ca_certificates(spec.ca_bundle.as_deref(), spec.ca_provider.as_ref(), creds).await?;
            if !certs.is_empty() {
                builder = builder.tls_certs_only(certs);
            }
        } else if origin.starts_with("http://") {
            builder = builder.tls_certs_only(Vec::new());
        }
        let http = builder.build().map_err(|e| ProviderError::Invalid(format!("cannot build the webhook HTTP client: {e}")))?;
        Ok(WebhookCaller { spec: spec.clone(), origin, http })
    }

    pub fn spec(&self) -> &WebhookProvider {
        &self.spec
    }

    /// `{{ .<name>.<key> }}` for each of `secrets[]`, read now through `creds`: the key it names,
    /// or every key of the Secret when it names none.
    /// Each Secret must carry [`TYPE_LABEL`] first.
    pub async fn secrets_data(&self, creds: &dyn CredentialSource) -> Result<TemplateData, ProviderError> {
        check_labels(&self.spec.secrets, creds).await?;
        let mut data = TemplateData::new();
        for s in &self.spec.secrets {
            let entry = data.entry(s.name.clone()).or_default();
            match s.secret_ref.key.clone().filter(|k| !k.is_empty()) {
                Some(key) => {
                    entry.insert(key, creds.secret_key(&s.secret_ref, None).await?.into_bytes());
                }
                // ESO's rule: every key of the Secret, as `.<name>.<key>`.
                None => entry.extend(creds.secret_data(&s.secret_ref).await?.into_iter().map(|(k, v)| (k, v.into_bytes()))),
            }
        }
        Ok(data)
    }

    /// Render and send one request. `data` is the raw template data; the URL sees `remoteRef`
    /// URL-escaped (as ESO does), headers and body see it raw.
    pub async fn call(&self, method: &str, data: &TemplateData, body_template: Option<&str>) -> Result<WebhookResponse, ProviderError> {
        let mut escaped = data.clone();
        if let Some(r) = escaped.get_mut("remoteRef") {
            for v in r.values_mut() {
                *v = query_escape(v).into_bytes();
            }
        }
        let url = render("url", &self.spec.url, &escaped).await?;
        let url = String::from_utf8(url).map_err(|_| ProviderError::Invalid("the rendered url is not UTF-8".into()))?;
        self.check_rendered(&url)?;
        let body = match body_template.filter(|b| !b.is_empty()) {
            Some(t) => render("body", t, data).await?,
            None => Vec::new(),
        };
        let method = reqwest::Method::from_bytes(method.as_bytes())
            .map_err(|_| ProviderError::Invalid(format!("webhook method {method:?} is not an HTTP method")))?;
        let mut request = self.http.request(method, &url).body(body);
        for (name, template) in &self.spec.headers {
            let value = render(&format!("header {name}"), template, data).await?;
            let value = reqwest::header::HeaderValue::from_bytes(&value)
                .map_err(|_| ProviderError::Invalid(format!("header {name}: the rendered value is not a valid header value")))?;
            let name = reqwest::header::HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| ProviderError::Invalid(format!("header {name:?} is not a valid header name")))?;
            request = request.header(name, value);
        }
        let what = format!("webhook {}", self.origin);
        let mut response = request.send().await.map_err(|e| ProviderError::Transient(format!("{what}: {}", without_url(&e))))?;
        let status = response.status().as_u16();
        match status {
            200..=299 => {}
            404 => return Err(ProviderError::NotFound(format!("{what} answered 404"))),
            401 | 403 => return Err(ProviderError::Auth(format!("{what} answered {status}"))),
            429 => return Err(ProviderError::throttled(format!("{what} answered 429"))),
            s if s >= 500 => return Err(ProviderError::Transient(format!("{what} answered {s}"))),
            s => return Err(ProviderError::Invalid(format!("endpoint gave error {s} ({what})"))),
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| ProviderError::Transient(format!("{what}: {}", without_url(&e))))? {
            if body.len() + chunk.len() > MAX_RESPONSE {
                return Err(ProviderError::Invalid(format!("{what}: the answer is larger than {MAX_RESPONSE} bytes")));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(WebhookResponse { status, body })
    }

    /// The rendered URL still goes to the template's literal origin, with nothing smuggled into
    /// the authority (a key of `@evil.example` or `#`).
    fn check_rendered(&self, url: &str) -> Result<(), ProviderError> {
        let rest = url.strip_prefix(&self.origin).ok_or_else(|| ProviderError::Invalid("the rendered url left its origin".into()))?;
        if !(rest.is_empty() || rest.starts_with('/') || rest.starts_with('?')) || rest.contains('#') {
            return Err(ProviderError::Invalid("the rendered url left its origin or carries a fragment".into()));
        }
        let parsed = reqwest::Url::parse(url).map_err(|_| ProviderError::Invalid("the rendered url is not a URL".into()))?;
        let origin = reqwest::Url::parse(&self.origin).map_err(|_| ProviderError::Invalid("the url origin is not a URL".into()))?;
        let same = parsed.scheme() == origin.scheme()
            && parsed.host_str() == origin.host_str()
            && parsed.port_or_known_default() == origin.port_or_known_default()
            && parsed.username().is_empty()
            && parsed.password().is_none();
        if !same {
            return Err(ProviderError::Invalid("the rendered url left its origin".into()));
        }
        Ok(())
    }

    /// `result.jsonPath` (rendered as a template) applied to a JSON answer, as ESO reads it:
    /// the first match; strings as they are, numbers rounded to integers, booleans as text, null
    /// as empty, objects as JSON. Without a path the answer is returned as it is.
    pub async fn extract(&self, body: Vec<u8>, data: &TemplateData) -> Result<Vec<u8>, ProviderError> {
        let Some(template) = self.spec.result.json_path.as_deref().filter(|p| !p.is_empty()) else { return Ok(body) };
        let path = render("result.jsonPath", template, data).await?;
        let path = String::from_utf8(path).map_err(|_| ProviderError::Invalid("result.jsonPath is not UTF-8".into()))?;
        let doc: serde_json::Value =
            serde_json::from_slice(&body).map_err(|_| ProviderError::Invalid("failed to parse response json".into()))?;
        let found = json_path(&doc, &path)?;
        plain(found)
    }
}

fn json_path<'a>(doc: &'a serde_json::Value, path: &str) -> Result<&'a serde_json::Value, ProviderError> {
    use jsonpath_rust::JsonPath;
    let matches = doc.query(path).map_err(|e| ProviderError::Invalid(format!("result.jsonPath {path:?} is not a JSON path: {e}")))?;
    matches.into_iter().next().ok_or_else(|| ProviderError::NotFound(format!("result.jsonPath {path:?} matched nothing")))
}

fn plain(value: &serde_json::Value) -> Result<Vec<u8>, ProviderError> {
    use serde_json::Value;
    Ok(match value {
        Value::Bool(b) => b.to_string().into_bytes(),
        Value::Null => Vec::new(),
        Value::Number(n) => match n.as_i64() {
            Some(i) => i.to_string().into_bytes(),
            None => format!("{:.0}", n.as_f64().unwrap_or_default()).into_bytes(),
        },
        Value::String(s) => s.clone().into_bytes(),
        Value::Array(items) => match items.first() {
            Some(first) => return plain(first),
            None => return Err(ProviderError::NotFound("filter worked but didn't get any result".into())),
        },
        Value::Object(_) => serde_json::to_vec(value).unwrap_or_default(),
    })
}

/// Render one template off the async threads, with the engine's default budgets. Errors name
/// the field and the template's own diagnosis, never a value.
async fn render(field: &str, template: &str, data: &TemplateData) -> Result<Vec<u8>, ProviderError> {
    let (template, data) = (template.to_string(), data.clone());
    let result = tokio::task::spawn_blocking(move || sesame_template::Renderer::default().render_nested(&template, &data))
        .await
        .map_err(|_| ProviderError::Transient(format!("{field}: the template render was cancelled")))?;
    result.map_err(|e| ProviderError::Invalid(format!("failed to render {field}: {}", e.value_free())))
}

/// Go's `url.QueryEscape`.
fn query_escape(raw: &[u8]) -> String {
    let mut out = String::with_capacity(raw.len());
    for &b in raw {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b as char),
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// A reqwest error without the URL (which may carry a templated secret in its query).
fn without_url(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection failed"
    } else if e.is_body() || e.is_decode() {
        "the answer could not be read"
    } else {
        "request failed"
    };
    kind.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_escape_is_gos() {
        assert_eq!(query_escape(b"a b/c?d=e&f#g"), "a+b%2Fc%3Fd%3De%26f%23g");
    }

    #[test]
    fn json_results_read_as_eso_reads_them() {
        let doc = serde_json::json!({"s": "v", "n": 1.6, "i": 7, "b": true, "z": null, "o": {"a": 1}, "arr": ["first", "second"], "e": []});
        let get = |p: &str| plain(json_path(&doc, p).unwrap()).map(|v| String::from_utf8(v).unwrap());
        assert_eq!(get("$.s").unwrap(), "v");
        assert_eq!(get("$.n").unwrap(), "2");
        assert_eq!(get("$.i").unwrap(), "7");
        assert_eq!(get("$.b").unwrap(), "true");
        assert_eq!(get("$.z").unwrap(), "");
        assert_eq!(get("$.o").unwrap(), r#"{"a":1}"#);
        assert_eq!(get("$.arr").unwrap(), "first");
        assert!(get("$.e").unwrap_err().is_not_found());
        assert!(json_path(&doc, "$.missing").unwrap_err().is_not_found());
    }
}
