//! Reads the Kubernetes objects a store's auth section names, with the tenancy rules applied:
//! a SecretStore reads only its own namespace; a ClusterSecretStore reads the namespace a ref
//! names, or the ExternalSecret's namespace when the ref names none (referent authentication).
use std::collections::BTreeMap;

use async_trait::async_trait;
use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::{ConfigMap, Secret, ServiceAccount};
use kube::api::{Api, PostParams};
use sesame_provider_core::{
    CaProvider, CaProviderKind, CredentialSource, ProviderError, SecretKeySelector, SecretValue, ServiceAccountSelector,
};

/// Whose credentials these are.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Tenancy {
    /// A SecretStore in this namespace.
    Namespaced(String),
    /// A ClusterSecretStore client shared by every namespace: each ref must name its namespace.
    Cluster,
    /// A ClusterSecretStore client built for the ExternalSecrets of this one namespace: refs
    /// that name no namespace are read there (referent authentication).
    ClusterReferent(String),
}

pub struct KubeCredentials {
    client: kube::Client,
    tenancy: Tenancy,
    store_audience: Option<String>,
}

impl KubeCredentials {
    pub fn new(client: kube::Client, tenancy: Tenancy) -> Self {
        KubeCredentials { client, tenancy, store_audience: None }
    }

    /// The credentials of one store, which `store_audience` names.
    pub fn for_store(mut self, audience: String) -> Self {
        self.store_audience = Some(audience);
        self
    }

    /// The namespace a ref may read, or why it may not.
    fn namespace_for(&self, requested: Option<&str>, what: &str) -> Result<String, ProviderError> {
        match (&self.tenancy, requested.filter(|ns| !ns.is_empty())) {
            (Tenancy::Namespaced(own), None) => Ok(own.clone()),
            (Tenancy::Namespaced(own), Some(ns)) if ns == own => Ok(own.clone()),
            (Tenancy::Namespaced(own), Some(ns)) => {
                Err(ProviderError::Auth(format!("a SecretStore in namespace {own} may not read {what} from namespace {ns}")))
            }
            (Tenancy::Cluster | Tenancy::ClusterReferent(_), Some(ns)) => Ok(ns.to_string()),
            (Tenancy::ClusterReferent(es_ns), None) => Ok(es_ns.clone()),
            // A shared client must never hold one namespace's credentials.
            (Tenancy::Cluster, None) => Err(ProviderError::Invalid(format!(
                "{what} names no namespace: referent authentication is resolved per ExternalSecret namespace, never for a shared client"
            ))),
        }
    }
}

fn kube_err(what: &str, e: kube::Error) -> ProviderError {
    match &e {
        kube::Error::Api(s) if s.code == 404 => ProviderError::Auth(format!("{what} not found")),
        kube::Error::Api(s) if s.code == 403 => ProviderError::Auth(format!("{what}: forbidden")),
        _ => ProviderError::Transient(format!("reading {what}: {e}")),
    }
}

#[async_trait]
impl CredentialSource for KubeCredentials {
    async fn secret_key(&self, selector: &SecretKeySelector, default_key: Option<&str>) -> Result<SecretValue, ProviderError> {
        if selector.name.is_empty() {
            return Err(ProviderError::Invalid(format!(
                "a secret ref (key {}) names no secret",
                selector.key.as_deref().unwrap_or("unset")
            )));
        }
        let ns = self.namespace_for(selector.namespace.as_deref(), &format!("secret {}", selector.name))?;
        let key = selector
            .key
            .as_deref()
            .or(default_key)
            .ok_or_else(|| ProviderError::Invalid(format!("secret ref {}/{} names no key", ns, selector.name)))?;
        let what = format!("secret {ns}/{}", selector.name);
        let secret = Api::<Secret>::namespaced(self.client.clone(), &ns).get(&selector.name).await.map_err(|e| kube_err(&what, e))?;
        secret
            .data
            .and_then(|mut d| d.remove(key))
            .map(|b| SecretValue::from(b.0))
            .ok_or_else(|| ProviderError::Auth(format!("{what} has no key {key}")))
    }

    async fn secret_data(&self, selector: &SecretKeySelector) -> Result<BTreeMap<String, SecretValue>, ProviderError> {
        if selector.name.is_empty() {
            return Err(ProviderError::Invalid("a secret ref names no secret".into()));
        }
        let ns = self.namespace_for(selector.namespace.as_deref(), &format!("secret {}", selector.name))?;
        let what = format!("secret {ns}/{}", selector.name);
        let secret = Api::<Secret>::namespaced(self.client.clone(), &ns).get(&selector.name).await.map_err(|e| kube_err(&what, e))?;
        Ok(secret.data.unwrap_or_default().into_iter().map(|(k, v)| (k, SecretValue::from(v.0))).collect())
    }

    async fn secret_labels(&self, selector: &SecretKeySelector) -> Result<BTreeMap<String, String>, ProviderError> {
        if selector.name.is_empty() {
            return Err(ProviderError::Invalid("a secret ref names no secret".into()));
        }
        let ns = self.namespace_for(selector.namespace.as_deref(), &format!("secret {}", selector.name))?;
        let what = format!("secret {ns}/{}", selector.name);
        let secret = Api::<Secret>::namespaced(self.client.clone(), &ns).get(&selector.name).await.map_err(|e| kube_err(&what, e))?;
        Ok(secret.metadata.labels.unwrap_or_default())
    }

    async fn service_account_token(
        &self,
        selector: &ServiceAccountSelector,
        audiences: &[String],
        expiration_seconds: Option<i64>,
    ) -> Result<String, ProviderError> {
        let ns = self.namespace_for(selector.namespace.as_deref(), &format!("serviceaccount {}", selector.name))?;
        let what = format!("serviceaccount {ns}/{}", selector.name);
        // The provider's list already holds its default audience with `selector.audiences`
        // appended (ESO's rule); replacing it would drop the audience the provider checks.
        let request = TokenRequest {
            spec: TokenRequestSpec {
                audiences: audiences.to_vec(),
                expiration_seconds: Some(expiration_seconds.unwrap_or(600)),
                ..Default::default()
            },
            ..Default::default()
        };
        let response: TokenRequest = Api::<ServiceAccount>::namespaced(self.client.clone(), &ns)
            .create_subresource("token", &selector.name, &PostParams::default(), &request)
            .await
            .map_err(|e| kube_err(&what, e))?;
        response.status.map(|s| s.token).ok_or_else(|| ProviderError::Auth(format!("TokenRequest for {what} returned no token")))
    }

    async fn service_account_annotations(&self, selector: &ServiceAccountSelector) -> Result<BTreeMap<String, String>, ProviderError> {
        let ns = self.namespace_for(selector.namespace.as_deref(), &format!("serviceaccount {}", selector.name))?;
        let what = format!("serviceaccount {ns}/{}", selector.name);
        let sa = Api::<ServiceAccount>::namespaced(self.client.clone(), &ns).get(&selector.name).await.map_err(|e| kube_err(&what, e))?;
        Ok(sa.metadata.annotations.unwrap_or_default())
    }

    fn store_audience(&self) -> Option<String> {
        self.store_audience.clone()
    }

    async fn ca_bundle(&self, provider: &CaProvider) -> Result<Vec<u8>, ProviderError> {
        let ns = self.namespace_for(provider.namespace.as_deref(), &format!("CA {}", provider.name))?;
        let key = provider.key.as_deref().unwrap_or("ca.crt");
        let what = format!("{:?} {ns}/{} key {key}", provider.kind, provider.name);
        let bytes = match provider.kind {
            CaProviderKind::Secret => Api::<Secret>::namespaced(self.client.clone(), &ns)
                .get(&provider.name)
                .await
                .map_err(|e| kube_err(&what, e))?
                .data
                .and_then(|mut d| d.remove(key))
                .map(|b| b.0),
            CaProviderKind::ConfigMap => Api::<ConfigMap>::namespaced(self.client.clone(), &ns)
                .get(&provider.name)
                .await
                .map_err(|e| kube_err(&what, e))?
                .data
                .and_then(|mut d| d.remove(key))
                .map(String::into_bytes),
        };
        bytes.ok_or_else(|| ProviderError::Invalid(format!("{what} is missing")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn credentials(tenancy: Tenancy) -> KubeCredentials {
        // Never connects: only the namespace rules are exercised.
        let client = kube::Client::try_from(kube::Config::new("http://127.0.0.1:9".parse().unwrap())).unwrap();
        KubeCredentials::new(client, tenancy)
    }

    #[tokio::test]
    async fn a_shared_cluster_client_refuses_referent_refs() {
        let shared = credentials(Tenancy::Cluster).await;
        assert!(matches!(shared.namespace_for(None, "secret t"), Err(ProviderError::Invalid(m)) if m.contains("names no namespace")));
        assert!(shared.namespace_for(Some(""), "secret t").is_err(), "an empty namespace names none");
        assert_eq!(shared.namespace_for(Some("ops"), "secret t").unwrap(), "ops");
    }

    #[tokio::test]
    async fn a_namespace_scoped_cluster_client_resolves_referent_refs_in_its_namespace_only() {
        let scoped = credentials(Tenancy::ClusterReferent("team-a".into())).await;
        assert_eq!(scoped.namespace_for(None, "secret t").unwrap(), "team-a");
        assert_eq!(scoped.namespace_for(Some("ops"), "secret t").unwrap(), "ops", "a ref that names its namespace keeps it");
    }

    #[tokio::test]
    async fn a_secretstore_reads_its_own_namespace_only() {
        let own = credentials(Tenancy::Namespaced("team-a".into())).await;
        assert_eq!(own.namespace_for(None, "secret t").unwrap(), "team-a");
        assert_eq!(own.namespace_for(Some("team-a"), "secret t").unwrap(), "team-a");
        assert!(matches!(own.namespace_for(Some("team-b"), "secret t"), Err(ProviderError::Auth(_))));
    }
}
