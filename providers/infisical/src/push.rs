//! PushSecret on Infisical, as ESO 2.9 does it: the remote key resolves to a folder and a name
//! as reads do; the current value is read first (`GET /api/v3/secrets/raw/{name}`, without
//! imports), then the secret is created (`POST`), updated (`PATCH`) or left alone when it
//! already holds the value. A `property` is merged into the JSON object of the current value.
//! Deletion (`DELETE`) removes only the property while others remain. Infisical marks no
//! secret as written by an operator, and ESO has no ownership rule here: any secret at the key
//! is written and deleted.
//!
//! The write endpoints take the project's ID, not its slug: it is resolved once per client with
//! `GET /api/v1/projects/slug/{slug}` (older Infisical: `/api/v1/workspace/slug/{slug}`), and
//! resolved again once when a write with the remembered ID answers 404 (the project was
//! recreated under the same slug).
use serde::Deserialize;
use serde_json::{Value, json};
use sesame_provider_core::push::{has_property, merge_property, remove_property};
use sesame_provider_core::{ProviderError, PushRef};
use sesame_provider_http::reqwest::Method;

use crate::client::{InfisicalClient, Retrieved, address, flag};

/// The project-by-slug routes, newest first: a 404 on one tries the next.
const PROJECT_ROUTES: [[&str; 3]; 2] = [["v1", "projects", "slug"], ["v1", "workspace", "slug"]];

#[derive(Deserialize)]
struct Project {
    #[serde(default)]
    id: String,
}

/// A write to one secret: what it does and carries.
#[derive(Clone, Copy)]
enum Write<'a> {
    Create(&'a str),
    Update(&'a str),
    Delete,
}

impl Write<'_> {
    fn method(self) -> (Method, &'static str) {
        match self {
            Write::Create(_) => (Method::POST, "CreateSecretV3"),
            Write::Update(_) => (Method::PATCH, "UpdateSecretV3"),
            Write::Delete => (Method::DELETE, "DeleteSecretV3"),
        }
    }
}

/// The folder and name a PushSecret entry addresses.
fn target(default_path: &str, remote: &PushRef) -> Result<(String, String), ProviderError> {
    if remote.key.is_empty() {
        return Err(ProviderError::Invalid("remoteKey is required to push a secret to Infisical".into()));
    }
    let (folder, name) = address(default_path, &remote.key);
    if name.is_empty() {
        return Err(ProviderError::Invalid(format!("remote key {:?} names a folder, not a secret", remote.key)));
    }
    Ok((folder, name))
}

fn is_object(text: &str) -> bool {
    matches!(serde_json::from_str::<Value>(text), Ok(Value::Object(_)))
}

impl InfisicalClient {
    pub(crate) async fn push(&self, remote: &PushRef, value: &[u8]) -> Result<(), ProviderError> {
        let (folder, name) = target(&self.scope.secrets_path, remote)?;
        let value = std::str::from_utf8(value)
            .map_err(|_| ProviderError::Invalid(format!("the value pushed to {} is not UTF-8: Infisical stores text", remote.key)))?;
        let existing = self.existing(&folder, &name).await?;
        let desired = match &remote.property {
            Some(property) => {
                let merged = merge_property(existing.as_deref().map(str::as_bytes), property, value.as_bytes(), &remote.key)?;
                String::from_utf8(merged).expect("JSON is UTF-8")
            }
            None => value.to_string(),
        };
        match existing {
            // Already so: no write, so no new secret version on every reconcile.
            Some(current) if current == desired => Ok(()),
            Some(_) => self.write(&folder, &name, Write::Update(&desired)).await,
            None => self.write(&folder, &name, Write::Create(&desired)).await,
        }
    }

    pub(crate) async fn delete(&self, remote: &PushRef) -> Result<(), ProviderError> {
        let (folder, name) = target(&self.scope.secrets_path, remote)?;
        // Read first: an absent secret is already deleted, and a later 404 means a stale project.
        let Some(existing) = self.existing(&folder, &name).await? else { return Ok(()) };
        if let Some(property) = &remote.property {
            if !is_object(&existing) {
                return Err(ProviderError::Invalid(format!(
                    "secret {} is not a JSON object: property {property} cannot be deleted from it",
                    remote.key
                )));
            }
            if !has_property(existing.as_bytes(), property) {
                return Ok(());
            }
            if let Some(rest) = remove_property(existing.as_bytes(), property) {
                let rest = String::from_utf8(rest).expect("JSON is UTF-8");
                return self.write(&folder, &name, Write::Update(&rest)).await;
            }
        }
        match self.write(&folder, &name, Write::Delete).await {
            // It existed a moment ago: deleted concurrently.
            Err(e) if e.is_not_found() => Ok(()),
            other => other,
        }
    }

    pub(crate) async fn exists(&self, remote: &PushRef) -> Result<bool, ProviderError> {
        let (folder, name) = target(&self.scope.secrets_path, remote)?;
        let Some(existing) = self.existing(&folder, &name).await? else { return Ok(false) };
        match &remote.property {
            None => Ok(true),
            Some(property) if is_object(&existing) => Ok(has_property(existing.as_bytes(), property)),
            Some(property) => {
                Err(ProviderError::Invalid(format!("secret {} is not a JSON object: property {property} cannot be checked", remote.key)))
            }
        }
    }

    /// The secret's stored value, None when it does not exist. Neither imports (a write never
    /// reaches an imported secret) nor references are expanded: a merged property must not
    /// write expanded references back over the `${…}` they came from.
    async fn existing(&self, folder: &str, name: &str) -> Result<Option<String>, ProviderError> {
        let s = &self.scope;
        let query = [
            ("workspaceSlug", s.project_slug.as_str()),
            ("environment", s.environment_slug.as_str()),
            ("secretPath", folder),
            ("expandSecretReferences", flag(false)),
            ("include_imports", flag(false)),
            ("type", "shared"),
        ];
        match self.get::<Retrieved>("GetSecretByKeyV3", &["v3", "secrets", "raw", name], &query).await {
            Ok(found) => Ok(Some(found.secret.secret_value)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// One write with the project's ID; a 404 with a remembered ID resolves the slug again and
    /// retries once (a fresh ID's 404 is the answer).
    async fn write(&self, folder: &str, name: &str, write: Write<'_>) -> Result<(), ProviderError> {
        let (id, remembered) = self.project().await?;
        match self.write_once(&id, folder, name, write).await {
            Err(e) if remembered && e.is_not_found() => {
                self.project_id.lock().expect("project id lock").take();
                let (id, _) = self.project().await?;
                self.write_once(&id, folder, name, write).await
            }
            other => other,
        }
    }

    async fn write_once(&self, project_id: &str, folder: &str, name: &str, write: Write<'_>) -> Result<(), ProviderError> {
        let mut body = json!({"workspaceId": project_id, "environment": self.scope.environment_slug, "secretPath": folder});
        if let Write::Create(value) | Write::Update(value) = write {
            body["secretValue"] = json!(value);
            // The value is stored as given (ESO sets it): no multi-line re-encoding.
            body["skipMultilineEncoding"] = json!(true);
        }
        let (method, call) = write.method();
        self.call(method, call, &["v3", "secrets", "raw", name], &[], Some(body)).await.map(|_| ())
    }

    /// The project's ID and whether it was remembered from an earlier call.
    async fn project(&self) -> Result<(String, bool), ProviderError> {
        if let Some(id) = self.project_id.lock().expect("project id lock").clone() {
            return Ok((id, true));
        }
        let slug = self.scope.project_slug.as_str();
        let mut last = None;
        for route in PROJECT_ROUTES {
            let segments = [route[0], route[1], route[2], slug];
            match self.get::<Project>("GetWorkspaceBySlug", &segments, &[]).await {
                Ok(p) if p.id.is_empty() => {
                    return Err(ProviderError::Invalid(format!("the lookup of project {slug:?} answered no id")));
                }
                Ok(p) => {
                    *self.project_id.lock().expect("project id lock") = Some(p.id.clone());
                    return Ok((p.id, false));
                }
                // This Infisical has not this route, or has no such project: try the next.
                Err(e) if e.is_not_found() => last = Some(e),
                Err(e) => return Err(sesame_provider_http::prefixed(e, &format!("cannot resolve the id of project {slug:?}"))),
            }
        }
        // Not a NotFound: a delete must not take a missing project for a deleted secret.
        let why = last.map(|e| e.to_string()).unwrap_or_default();
        Err(ProviderError::Invalid(format!("no Infisical project found for slug {slug:?}: {why}")))
    }
}
