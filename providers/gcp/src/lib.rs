//! The GCP Secret Manager provider: `spec.provider.gcpsm`, field-compatible with ESO's GCP store.
//!
//! The configuration types are always compiled (the CRD generator needs them); the client, on the
//! official `google-cloud-secretmanager-v1` crate, sits behind the `client` feature (default on).
//!
//! Endpoints: production talks to `https://secretmanager.googleapis.com` (or the regional
//! `https://secretmanager.{location}.rep.googleapis.com` when `location` is set),
//! `https://sts.googleapis.com` and `https://iamcredentials.googleapis.com`. Each can be
//! overridden for tests with an environment variable, see [`Endpoints`]; nothing else differs.
#![forbid(unsafe_code)]
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sesame_provider_core::{ProviderError, SecretKeySelector, ServiceAccountSelector, checks, ns_ref, referent_fields};

/// Configures a store to read from Google Cloud Secret Manager.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct GcpProvider {
    /// How to authenticate to Google Cloud. When neither `secretRef` nor `workloadIdentity` is
    /// set, the controller's application default credentials are used (on GKE: the metadata
    /// server, i.e. the controller's own workload identity).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<GcpAuth>,
    /// The project the secrets live in.
    #[serde(rename = "projectID", default, skip_serializing_if = "Option::is_none")]
    pub project_id: Option<String>,
    /// The location of regional secrets (e.g. `europe-west1`). When set, the regional endpoint
    /// `secretmanager.{location}.rep.googleapis.com` and `projects/*/locations/*/secrets/*` names
    /// are used; when empty, global secrets. It becomes part of a host name, so it must be one
    /// lowercase DNS label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[a-z0-9-]+$"))]
    pub location: Option<String>,
    /// What to do when the `latest` version of a secret is disabled or destroyed and the
    /// ExternalSecret names no version: `LatestOrFail` (default) fails, `LatestOrFetch` reads the
    /// newest enabled version instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_version_selection_policy: Option<SecretVersionSelectionPolicy>,
}

impl GcpProvider {
    /// The credential refs that name no namespace (resolved per ExternalSecret namespace in a
    /// ClusterSecretStore).
    pub fn referent_refs(&self) -> Vec<&'static str> {
        let Some(auth) = &self.auth else { return Vec::new() };
        let wif = auth.workload_identity_federation.as_ref();
        let cred_config = wif.and_then(|w| w.cred_config.as_ref()).filter(|c| c.namespace.as_deref().is_none_or(str::is_empty));
        let aws_keys = wif.and_then(|w| w.aws_security_credentials.as_ref()).map(|a| &a.aws_credentials_secret_ref);
        let mut refs = referent_fields(&[
            ("auth.secretRef.secretAccessKeySecretRef", ns_ref(auth.secret_ref.as_ref().map(|s| &s.secret_access_key_secret_ref))),
            ("auth.workloadIdentity.serviceAccountRef", ns_ref(auth.workload_identity.as_ref().map(|w| &w.service_account_ref))),
            ("auth.workloadIdentityFederation.serviceAccountRef", ns_ref(wif.and_then(|w| w.service_account_ref.as_ref()))),
        ]);
        if cred_config.is_some() {
            refs.push("auth.workloadIdentityFederation.credConfig");
        }
        if aws_keys.is_some_and(|k| k.namespace.as_deref().is_none_or(str::is_empty)) {
            refs.push("auth.workloadIdentityFederation.awsSecurityCredentials.awsCredentialsSecretRef");
        }
        refs
    }

    /// The fields that reach a URL: `location` is part of the regional endpoint's host name and
    /// `projectID` of every request path.
    pub fn check_urls(&self) -> Result<(), ProviderError> {
        if let Some(location) = self.location.as_deref().filter(|l| !l.is_empty()) {
            checks::host_label("location", location)?;
        }
        if let Some(project) = self.project_id.as_deref().filter(|p| !p.is_empty()) {
            // Project IDs are lowercase labels; legacy domain-scoped ones read `example.com:name`.
            if !project.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'.' | b':')) {
                return Err(ProviderError::Invalid(format!("projectID {project:?} must hold only a-z, 0-9, '-', '.' and ':'")));
            }
        }
        Ok(())
    }

    /// How the store authenticates as the controller itself, if it does.
    pub fn controller_identity(&self) -> Option<&'static str> {
        let auth = self.auth.clone().unwrap_or_default();
        let own = auth.secret_ref.is_none() && auth.workload_identity.is_none() && auth.workload_identity_federation.is_none();
        own.then_some("the controller's application default credentials (no auth.secretRef or auth.workloadIdentity)")
    }
}

/// `secretVersionSelectionPolicy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default)]
pub enum SecretVersionSelectionPolicy {
    /// Fail when `latest` is disabled or destroyed.
    #[default]
    LatestOrFail,
    /// Fall back to the newest enabled version when `latest` is disabled or destroyed.
    LatestOrFetch,
}

/// How the store authenticates. At most one method may be set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct GcpAuth {
    /// A service-account key (the JSON file `gcloud iam service-accounts keys create` writes),
    /// held in a Kubernetes Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<GcpSecretRef>,
    /// GKE Workload Identity: a token of a Kubernetes ServiceAccount is exchanged at Google STS,
    /// then the Google service account named by the ServiceAccount's
    /// `iam.gke.io/gcp-service-account` annotation is impersonated. Without the annotation the
    /// federated token is used directly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workload_identity: Option<GcpWorkloadIdentity>,
    /// Workload Identity Federation (non-GKE clusters, AWS, OIDC token endpoints): a subject
    /// token is exchanged at Google STS, then optionally a Google service account impersonated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workload_identity_federation: Option<GcpWorkloadIdentityFederation>,
}

/// `auth.workloadIdentityFederation`: exactly one of `credConfig`, `serviceAccountRef` and
/// `awsSecurityCredentials` supplies the subject token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct GcpWorkloadIdentityFederation {
    /// A ConfigMap key holding an external-account credential configuration (JSON, Google's
    /// format). Sesame reads its subject token from `credential_source.url` only (which must equal
    /// `externalTokenEndpoint`); `file`, `executable`, `environment_id` and metadata-server URLs
    /// are refused: they would use the controller's own environment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cred_config: Option<ConfigMapKeyRef>,
    /// The Kubernetes ServiceAccount whose tokens are exchanged, when Kubernetes is the identity
    /// provider of the workload identity pool. The token is requested for exactly its
    /// `audiences` (none: the apiserver's default audience); its
    /// `iam.gke.io/gcp-service-account` annotation names a Google service account to impersonate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account_ref: Option<ServiceAccountSelector>,
    /// AWS region and credentials, when AWS is the identity provider.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aws_security_credentials: Option<GcpAwsSecurityCredentials>,
    /// The STS audience: the workload identity pool provider's resource name
    /// (`//iam.googleapis.com/projects/<n>/locations/global/workloadIdentityPools/<pool>/providers/<p>`).
    /// Required with `serviceAccountRef` or `awsSecurityCredentials`; overrides the credConfig's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audience: Option<String>,
    /// The expected `credential_source.url` of `credConfig`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_token_endpoint: Option<String>,
    /// The Google service account to impersonate (iamcredentials generateAccessToken) with the
    /// federated token, e.g. `reader@my-project.iam.gserviceaccount.com`. Wins over the
    /// ServiceAccount's annotation and the credConfig's `service_account_impersonation_url`.
    #[serde(default, rename = "gcpServiceAccountEmail", skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^.*@.*\.iam\.gserviceaccount\.com$"))]
    pub gcp_service_account_email: Option<String>,
}

/// A key of a ConfigMap.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct ConfigMapKeyRef {
    /// The name of the ConfigMap.
    pub name: String,
    /// The key holding the data.
    pub key: String,
    /// The namespace of the ConfigMap. Only a ClusterSecretStore may set it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

/// `awsSecurityCredentials` of workload identity federation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct GcpAwsSecurityCredentials {
    /// The AWS region.
    pub region: String,
    /// The Secret holding `aws_access_key_id`, `aws_secret_access_key` and `aws_session_token`.
    pub aws_credentials_secret_ref: GcpSecretReference,
}

/// A Kubernetes Secret by name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct GcpSecretReference {
    /// The name of the Secret.
    pub name: String,
    /// The namespace of the Secret. Only a ClusterSecretStore may set it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

/// `auth.secretRef`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct GcpSecretRef {
    /// The Secret key holding the service-account key JSON.
    pub secret_access_key_secret_ref: SecretKeySelector,
}

/// `auth.workloadIdentity`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct GcpWorkloadIdentity {
    /// The Kubernetes ServiceAccount whose token is exchanged. Its token is requested for the
    /// audience `{clusterProjectID}.svc.id.goog` plus any `audiences` listed here.
    pub service_account_ref: ServiceAccountSelector,
    /// The location (region or zone) of the GKE cluster, e.g. `europe-west1`. Required by Sesame:
    /// unlike ESO it does not ask the GKE metadata server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_location: Option<String>,
    /// The name of the GKE cluster. Required by Sesame, as `clusterLocation`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_name: Option<String>,
    /// The project of the GKE cluster (the workload identity pool is
    /// `{clusterProjectID}.svc.id.goog`). Defaults to `projectID`.
    #[serde(rename = "clusterProjectID", default, skip_serializing_if = "Option::is_none")]
    pub cluster_project_id: Option<String>,
}

#[cfg(feature = "client")]
mod access_token;
#[cfg(feature = "client")]
mod auth;
#[cfg(feature = "client")]
mod client;
#[cfg(feature = "client")]
mod endpoints;
#[cfg(feature = "client")]
mod errors;
#[cfg(feature = "client")]
mod federation;
#[cfg(feature = "client")]
mod federation_aws;
#[cfg(feature = "client")]
mod find;
#[cfg(feature = "client")]
mod push;
#[cfg(feature = "client")]
mod sign_jwt;
#[cfg(feature = "client")]
mod workload_identity;

#[cfg(feature = "client")]
pub use access_token::{AccessToken, access_token};
#[cfg(feature = "client")]
pub use client::{GcpClient, PROVIDER_NAME, build, build_with_endpoints};
#[cfg(feature = "client")]
pub use endpoints::Endpoints;
#[cfg(feature = "client")]
pub use sign_jwt::{SignedJwt, sign_jwt};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_an_eso_store_spec() {
        let spec: GcpProvider = serde_json::from_value(serde_json::json!({
            "projectID": "p1",
            "location": "europe-west1",
            "secretVersionSelectionPolicy": "LatestOrFetch",
            "auth": {
                "secretRef": {"secretAccessKeySecretRef": {"name": "gcp", "key": "sa.json"}},
                "workloadIdentity": {
                    "serviceAccountRef": {"name": "ksa"},
                    "clusterLocation": "europe-west1",
                    "clusterName": "c1",
                    "clusterProjectID": "cp"
                }
            }
        }))
        .unwrap();
        assert_eq!(spec.project_id.as_deref(), Some("p1"));
        assert_eq!(spec.secret_version_selection_policy, Some(SecretVersionSelectionPolicy::LatestOrFetch));
        let auth = spec.auth.unwrap();
        assert_eq!(auth.secret_ref.unwrap().secret_access_key_secret_ref.key.as_deref(), Some("sa.json"));
        assert_eq!(auth.workload_identity.unwrap().cluster_project_id.as_deref(), Some("cp"));
    }

    #[test]
    fn a_hostile_location_never_becomes_a_host_name() {
        let spec = GcpProvider { location: Some("evil.example/x#".into()), project_id: Some("p".into()), ..Default::default() };
        assert!(matches!(spec.check_urls(), Err(ProviderError::Invalid(m)) if m.contains("location")));
        let spec = GcpProvider { project_id: Some("p/../../x?".into()), ..Default::default() };
        assert!(spec.check_urls().is_err());
        GcpProvider { location: Some("europe-west1".into()), project_id: Some("example.com:p-1".into()), ..Default::default() }
            .check_urls()
            .unwrap();
        let schema = serde_json::to_value(schemars::schema_for!(GcpProvider)).unwrap();
        assert_eq!(schema["properties"]["location"]["pattern"], "^[a-z0-9-]+$", "the CRD refuses it too");
    }

    #[test]
    fn workload_identity_without_a_namespace_is_referent_and_no_auth_is_the_controllers_identity() {
        let spec: GcpProvider = serde_json::from_value(serde_json::json!({
            "projectID": "p", "auth": {"workloadIdentity": {"serviceAccountRef": {"name": "ksa"}}}
        }))
        .unwrap();
        assert_eq!(spec.referent_refs(), vec!["auth.workloadIdentity.serviceAccountRef"]);
        assert_eq!(spec.controller_identity(), None);
        let adc = GcpProvider { project_id: Some("p".into()), ..Default::default() };
        assert!(adc.referent_refs().is_empty());
        assert!(adc.controller_identity().is_some());
    }

    #[test]
    fn serialises_with_eso_field_names() {
        let spec = GcpProvider { project_id: Some("p".into()), ..Default::default() };
        assert_eq!(serde_json::to_value(&spec).unwrap(), serde_json::json!({"projectID": "p"}));
    }
}
