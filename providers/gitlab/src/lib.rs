//! The GitLab provider: `spec.provider.gitlab`, field-compatible with ESO's GitLab store. It reads
//! CI/CD variables of a project and of groups through the REST API v4.
//!
//! The configuration types are always compiled (the CRD generator needs them); the client, a small
//! typed one on `reqwest` (GitLab publishes no maintained Rust SDK), sits behind the `client`
//! feature (default on).
#![forbid(unsafe_code)]
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sesame_provider_core::{CaProvider, ProviderError, SecretKeySelector, checks, ns_ref, referent_fields};

/// Configures a store to read GitLab CI/CD variables.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct GitlabProvider {
    /// The GitLab instance URL. Defaults to `https://gitlab.com/`; `api/v4/` is appended when the
    /// URL does not already end with it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// How to authenticate with the GitLab instance.
    pub auth: GitlabAuth,
    /// The project (numeric id or `group/project` path) whose variables are read.
    #[serde(rename = "projectID", default, skip_serializing_if = "Option::is_none")]
    pub project_id: Option<String>,
    /// Also read the variables of the project's groups, discovered from the project (nearest
    /// group last, so it wins). Cannot be combined with `groupIDs`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub inherit_from_groups: bool,
    /// The groups whose variables are read. A key missing from the project is looked up in these
    /// groups from right to left; `find` reads them left to right, then the project.
    #[serde(rename = "groupIDs", default, skip_serializing_if = "Vec::is_empty")]
    pub group_ids: Vec<String>,
    /// The `environment_scope` of the variables to read. A variable of this exact scope wins
    /// over one of scope `*`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    /// Base64 PEM certificates to trust for the GitLab server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_bundle: Option<String>,
    /// A Secret or ConfigMap holding PEM certificates to trust for the GitLab server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_provider: Option<CaProvider>,
}

/// How the store authenticates with GitLab.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default)]
pub struct GitlabAuth {
    /// Credentials held in a Kubernetes Secret (ESO spells this key with a capital `S`).
    #[serde(rename = "SecretRef")]
    pub secret_ref: GitlabSecretRef,
}

/// `auth.SecretRef`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct GitlabSecretRef {
    /// A personal, group or project access token with the `read_api` scope, sent as
    /// `PRIVATE-TOKEN`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_token: Option<SecretKeySelector>,
}

/// GitLab.com, when the store names no `url`.
pub const DEFAULT_URL: &str = "https://gitlab.com/";

impl GitlabProvider {
    /// The credential refs that name no namespace (resolved per ExternalSecret namespace in a
    /// ClusterSecretStore).
    pub fn referent_refs(&self) -> Vec<&'static str> {
        referent_fields(&[
            ("auth.SecretRef.accessToken", ns_ref(self.auth.secret_ref.access_token.as_ref())),
            ("caProvider", ns_ref(self.ca_provider.as_ref())),
        ])
    }

    /// `url` receives the access token, so it is held to a plain base URL.
    pub fn check_urls(&self) -> Result<(), ProviderError> {
        if let Some(url) = self.url.as_deref().filter(|u| !u.is_empty()) {
            checks::base_url("url", url, &["https", "http"])?;
        }
        Ok(())
    }

    /// ESO's store validation: what the spec must name before anything is called.
    pub fn check_spec(&self) -> Result<(), ProviderError> {
        let invalid = |m: &str| Err(ProviderError::Invalid(m.to_string()));
        let project = self.project_id.as_deref().unwrap_or("");
        if project.is_empty() && self.group_ids.is_empty() {
            return invalid("projectID and groupIDs must not both be empty");
        }
        if self.inherit_from_groups && !self.group_ids.is_empty() {
            return invalid("defining groupIDs and inheritFromGroups = true is not allowed");
        }
        if self.inherit_from_groups && project.is_empty() {
            return invalid("inheritFromGroups needs projectID");
        }
        match &self.auth.secret_ref.access_token {
            None => return invalid("auth.SecretRef.accessToken is required"),
            Some(t) if t.name.is_empty() => return invalid("accessToken.name cannot be empty"),
            Some(t) if t.key.as_deref().unwrap_or("").is_empty() => return invalid("accessToken.key cannot be empty"),
            Some(_) => {}
        }
        for id in self.project_id.iter().chain(&self.group_ids) {
            // A numeric id or a namespace path; it is one escaped path segment of every request.
            if id.len() > 255 || id.chars().any(|c| c.is_control()) {
                return invalid("projectID and groupIDs must be ids or paths of at most 255 characters");
            }
        }
        if self.group_ids.len() > 100 {
            return invalid("groupIDs names more than 100 groups");
        }
        Ok(())
    }
}

#[cfg(feature = "client")]
mod api;
#[cfg(feature = "client")]
mod client;
#[cfg(feature = "client")]
mod find;

#[cfg(feature = "client")]
pub use client::{GitlabClient, PROVIDER_NAME, build};

#[cfg(test)]
mod tests {
    use super::*;

    fn eso_store() -> GitlabProvider {
        // The store of ESO's GitLab docs, verbatim field names.
        serde_json::from_value(serde_json::json!({
            "url": "https://gitlab.example.com",
            "auth": {"SecretRef": {"accessToken": {"name": "gitlab-secret", "key": "token"}}},
            "projectID": "42",
            "groupIDs": ["7", "acme/platform"],
            "environment": "production",
            "caProvider": {"type": "ConfigMap", "name": "gitlab-ca", "key": "ca.crt"}
        }))
        .unwrap()
    }

    #[test]
    fn reads_an_eso_store_spec() {
        let spec = eso_store();
        assert_eq!(spec.project_id.as_deref(), Some("42"));
        assert_eq!(spec.group_ids, ["7", "acme/platform"]);
        assert_eq!(spec.environment.as_deref(), Some("production"));
        assert_eq!(spec.auth.secret_ref.access_token.as_ref().unwrap().key.as_deref(), Some("token"));
        spec.check_spec().unwrap();
        spec.check_urls().unwrap();
        let back = serde_json::to_value(&spec).unwrap();
        assert_eq!(back["auth"]["SecretRef"]["accessToken"]["name"], "gitlab-secret");
        assert_eq!(back["projectID"], "42");
    }

    #[test]
    fn esos_store_rules_are_kept() {
        let err = |spec: GitlabProvider| spec.check_spec().unwrap_err().to_string();
        assert!(err(GitlabProvider { project_id: None, group_ids: vec![], ..eso_store() }).contains("must not both be empty"));
        assert!(err(GitlabProvider { inherit_from_groups: true, ..eso_store() }).contains("inheritFromGroups"));
        let mut no_key = eso_store();
        no_key.auth.secret_ref.access_token.as_mut().unwrap().key = None;
        assert!(err(no_key).contains("accessToken.key"));
        let mut no_token = eso_store();
        no_token.auth.secret_ref.access_token = None;
        assert!(err(no_token).contains("accessToken"));
    }

    #[test]
    fn a_hostile_url_is_refused_before_the_token_goes_anywhere() {
        for bad in ["https://gitlab.example.com@evil.example", "https://evil.example#.gitlab.com", "ftp://gitlab.com", "gitlab.com"] {
            let spec = GitlabProvider { url: Some(bad.into()), ..eso_store() };
            assert!(matches!(spec.check_urls(), Err(ProviderError::Invalid(m)) if m.contains("url")), "{bad}");
        }
    }

    #[test]
    fn an_access_token_without_a_namespace_is_referent() {
        assert_eq!(eso_store().referent_refs(), vec!["auth.SecretRef.accessToken", "caProvider"]);
    }
}
