//! Reads through `GET /api/v3/secrets/raw/{name}` (one secret) and `GET /api/v3/secrets/raw` (a
//! folder, with imports, optionally recursive), as ESO's Infisical client does through the Go
//! SDK. Infisical answers errors as `{"statusCode": 404, "message": "…", "error": "NotFound"}`.
//! PushSecret's writes are in `push.rs`.
use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use serde::Deserialize;
use sesame_provider_core::{
    Capabilities, FindQuery, FindScope, ProviderContext, ProviderError, PushRef, RemoteKey, SecretProvider, SecretValue,
};
use sesame_provider_http::reqwest::Method;
use sesame_provider_http::{Answer, ClientOptions, ca_certificates, prefixed, reqwest, send};
use tokio::sync::Mutex;

use crate::ambient::Ambient;
use crate::auth::{Authenticator, Session};
use crate::login::Login;
use crate::{InfisicalProvider, SecretsScope};

/// The `provider` label of the call metrics (ESO's).
pub const PROVIDER_NAME: &str = "infisical";
/// The largest answer read: a folder listed recursively with its imports.
pub(crate) const MAX_BODY: usize = 8 * 1024 * 1024;

/// A client for one Infisical store.
pub struct InfisicalClient {
    pub(crate) scope: SecretsScope,
    auth: Authenticator,
    session: Mutex<Session>,
    /// The project's ID, which the write endpoints need (reads take the slug): resolved once.
    pub(crate) project_id: std::sync::Mutex<Option<String>>,
}

/// Build the client of a store: its spec checked, its credentials read through the tenancy
/// rules, and a first login made (a refused one fails the build, as in ESO).
pub async fn build(spec: &InfisicalProvider, ctx: ProviderContext) -> Result<Arc<dyn SecretProvider>, ProviderError> {
    build_with(spec, ctx, Ambient::from_env()).await
}

/// [`build`] with the controller's identity sources given (a test's fakes).
pub async fn build_with(
    spec: &InfisicalProvider,
    ctx: ProviderContext,
    ambient: Ambient,
) -> Result<Arc<dyn SecretProvider>, ProviderError> {
    spec.check_spec()?;
    spec.check_urls()?;
    let root_text = spec.api_root();
    let root = reqwest::Url::parse(&root_text).map_err(|e| ProviderError::Invalid(format!("hostAPI {root_text:?} is not a URL: {e}")))?;
    let cas = if root.scheme() == "https" {
        ca_certificates(spec.ca_bundle.as_deref(), spec.ca_provider.as_ref(), ctx.credentials.as_ref()).await?
    } else {
        Vec::new()
    };
    let http = ClientOptions::for_url(&root).trusting(cas).build("Infisical")?;
    let login = Login::read(spec.auth.method()?, ctx.credentials.as_ref()).await?;
    let auth = Authenticator { root, http, login, organization: spec.secrets_scope.organization_slug.clone(), ambient, ctx };
    let session = auth.start().await?;
    Ok(Arc::new(InfisicalClient { scope: spec.secrets_scope.clone(), auth, session: Mutex::new(session), project_id: Default::default() }))
}

/// A secret as Infisical returns it (only what Sesame reads).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RawSecret {
    secret_key: String,
    #[serde(default)]
    pub(crate) secret_value: String,
    #[serde(default)]
    secret_path: Option<String>,
}

#[derive(Deserialize)]
pub(crate) struct Retrieved {
    pub(crate) secret: RawSecret,
}

#[derive(Deserialize)]
struct Listed {
    #[serde(default)]
    secrets: Vec<RawSecret>,
    #[serde(default)]
    imports: Vec<Import>,
}

#[derive(Deserialize)]
struct Import {
    #[serde(default)]
    secrets: Vec<RawSecret>,
}

/// The folder and name of a remote key, as ESO resolves them: a bare name is in `secretsPath`, a
/// key starting with `/` is absolute, any other key with a `/` is relative to `secretsPath`.
pub(crate) fn address(default_path: &str, key: &str) -> (String, String) {
    let Some((folder, name)) = key.rsplit_once('/') else {
        return (default_path.to_string(), key.to_string());
    };
    let folder = if key.starts_with('/') { clean(folder) } else { clean(&format!("{default_path}/{folder}")) };
    (folder, name.to_string())
}

/// A slash path cleaned lexically (`.`, `..`, repeated slashes), rooted at `/`, as Go's `path`.
fn clean(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    format!("/{}", parts.join("/"))
}

pub(crate) fn flag(b: bool) -> &'static str {
    if b { "true" } else { "false" }
}

impl InfisicalClient {
    /// `GET /api{segments}` with `query`, authenticated with a fresh token, its JSON answer.
    pub(crate) async fn get<T: for<'de> Deserialize<'de>>(
        &self,
        call: &'static str,
        segments: &[&str],
        query: &[(&str, &str)],
    ) -> Result<T, ProviderError> {
        let what = format!("GET /api/{}", segments.join("/"));
        self.call(Method::GET, call, segments, query, None).await?.json(&what, "Infisical")
    }

    /// `METHOD /api{segments}` with `query` and a JSON `body`, authenticated with a fresh token;
    /// the answer when it is a success.
    pub(crate) async fn call(
        &self,
        method: Method,
        call: &'static str,
        segments: &[&str],
        query: &[(&str, &str)],
        body: Option<serde_json::Value>,
    ) -> Result<Answer, ProviderError> {
        let token = {
            let mut session = self.session.lock().await;
            self.auth.fresh(&mut session).await?;
            session.token.clone()
        };
        let mut url = self.auth.root.clone();
        url.path_segments_mut().map_err(|_| ProviderError::Invalid("hostAPI cannot carry a path".into()))?.pop_if_empty().extend(segments);
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        // Name the call by its route only: never the token, never a value.
        let what = format!("{method} {}", url.path());
        let mut request = self.auth.http.request(method, url).header("authorization", token);
        if let Some(body) = body {
            request = request.header("content-type", "application/json").body(body.to_string());
        }
        self.auth
            .ctx
            .timed(PROVIDER_NAME, call, async {
                send(PROVIDER_NAME, &what, request, MAX_BODY).await?.success(&what, &["message", "error"])
            })
            .await
    }

    /// Every secret of the store's folder (and below, when `recursive`), imports included unless
    /// the folder has a secret of the same name. Keys are unique: the last listed wins.
    async fn list(&self, call: &'static str, imports: bool) -> Result<Vec<RawSecret>, ProviderError> {
        let s = &self.scope;
        let query = [
            ("workspaceSlug", s.project_slug.as_str()),
            ("environment", s.environment_slug.as_str()),
            ("secretPath", s.secrets_path.as_str()),
            ("expandSecretReferences", flag(s.expand_secret_references)),
            ("include_imports", flag(imports)),
            ("recursive", flag(s.recursive)),
        ];
        let listed: Listed = self.get(call, &["v3", "secrets", "raw"], &query).await?;
        let mut by_key: BTreeMap<String, RawSecret> = BTreeMap::new();
        for secret in listed.secrets {
            by_key.insert(secret.secret_key.clone(), secret);
        }
        for secret in listed.imports.into_iter().flat_map(|i| i.secrets) {
            by_key.entry(secret.secret_key.clone()).or_insert(secret);
        }
        Ok(by_key.into_values().collect())
    }
}

#[async_trait]
impl SecretProvider for InfisicalClient {
    fn name(&self) -> &'static str {
        PROVIDER_NAME
    }

    /// One secret by name (or folder path and name); `version` and `metadataPolicy` are ignored,
    /// as in ESO.
    async fn get_secret(&self, key: &RemoteKey) -> Result<SecretValue, ProviderError> {
        let (folder, name) = address(&self.scope.secrets_path, &key.key);
        if name.is_empty() {
            return Err(ProviderError::Invalid(format!("remote key {:?} names a folder, not a secret", key.key)));
        }
        let s = &self.scope;
        let query = [
            ("workspaceSlug", s.project_slug.as_str()),
            ("environment", s.environment_slug.as_str()),
            ("secretPath", folder.as_str()),
            ("expandSecretReferences", flag(s.expand_secret_references)),
            ("include_imports", "true"),
            ("type", "shared"),
        ];
        let found: Retrieved = self.get("GetSecretByKeyV3", &["v3", "secrets", "raw", &name], &query).await?;
        Ok(SecretValue::from(found.secret.secret_value))
    }

    /// ESO's find: every secret of the scope without `name` or `path`, else those whose name
    /// matches and whose folder starts with `path`. Tags are not supported, as in ESO.
    async fn find(&self, query: &FindQuery, scope: &FindScope<'_>) -> Result<BTreeMap<String, SecretValue>, ProviderError> {
        if !query.tags.is_empty() {
            return Err(ProviderError::Invalid("find by tags not supported".into()));
        }
        let matcher = match &query.name {
            Some(n) => Some(regex::Regex::new(&n.regexp).map_err(|e| ProviderError::Invalid(format!("invalid find.name.regexp: {e}")))?),
            None => None,
        };
        scope.charge(1).await;
        let mut out = BTreeMap::new();
        for secret in self.list("GetSecretsV3", true).await? {
            let folder = secret.secret_path.as_deref().unwrap_or("");
            if matcher.as_ref().is_some_and(|m| !m.is_match(&secret.secret_key))
                || query.path.as_deref().is_some_and(|p| !folder.starts_with(p))
            {
                continue;
            }
            let value = SecretValue::from(secret.secret_value);
            scope.check_matches(out.len() + 1)?;
            scope.check_value(&secret.secret_key, &value)?;
            out.insert(secret.secret_key, value);
        }
        Ok(out)
    }

    /// ESO's check: the identity may list the scope's secrets.
    async fn validate(&self) -> Result<(), ProviderError> {
        let s = &self.scope;
        self.list("GetSecretsV3", false).await.map(|_| ()).map_err(|e| {
            let context = format!(
                "cannot read secrets with provided project scope project:{} environment:{} secret-path:{} recursive:{}",
                s.project_slug, s.environment_slug, s.secrets_path, s.recursive
            );
            prefixed(e, &context)
        })
    }

    /// ESO's Infisical store is ReadWrite.
    fn capabilities(&self) -> Capabilities {
        Capabilities::ReadWrite
    }

    async fn push_secret(&self, remote: &PushRef, value: &[u8]) -> Result<(), ProviderError> {
        self.push(remote, value).await
    }

    async fn delete_secret(&self, remote: &PushRef) -> Result<(), ProviderError> {
        self.delete(remote).await
    }

    async fn secret_exists(&self, remote: &PushRef) -> Result<bool, ProviderError> {
        self.exists(remote).await
    }

    /// Revoke the login's token, as ESO does when it closes a client.
    async fn close(&self) {
        let session = self.session.lock().await;
        self.auth.revoke(&session).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remote_keys_resolve_to_folders_as_eso_does() {
        let a = |d: &str, k: &str| address(d, k);
        assert_eq!(a("/scope", "foo"), ("/scope".into(), "foo".into()));
        assert_eq!(a("/scope", "/a/b/foo"), ("/a/b".into(), "foo".into()));
        assert_eq!(a("/scope", "sub/foo"), ("/scope/sub".into(), "foo".into()));
        assert_eq!(a("/", "sub//x/../foo"), ("/sub".into(), "foo".into()));
        assert_eq!(a("/", "/foo"), ("/".into(), "foo".into()));
        assert_eq!(a("/", "dir/"), ("/dir".into(), "".into()));
    }
}
