//! What every GCP provider test needs: a credential source standing in for the controller, a
//! call recorder, and stores wired to the fake.
#![allow(dead_code)]
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use serde_json::json;
use sesame_provider_core::{
    CaProvider, CallRecorder, CredentialSource, ProviderContext, ProviderError, SecretKeySelector, SecretProvider, SecretValue,
    ServiceAccountSelector,
};
use sesame_provider_gcp::{Endpoints, GcpAuth, GcpProvider, GcpSecretRef, GcpWorkloadIdentity, SecretVersionSelectionPolicy};

use crate::fake::{FakeGcp, RsaKey, jwt};

/// (ServiceAccount, audiences, expiration) of a TokenRequest.
pub type TokenRequestLog = (String, Vec<String>, Option<i64>);

/// The controller's side: Kubernetes Secrets by (name, key), ServiceAccount annotations, and a
/// cluster key that signs ServiceAccount tokens as the apiserver's TokenRequest would.
#[derive(Default)]
pub struct TestCredentials {
    pub secrets: BTreeMap<(String, String), Vec<u8>>,
    pub annotations: BTreeMap<String, BTreeMap<String, String>>,
    pub cluster: Option<(Arc<RsaKey>, String)>,
    pub namespace: String,
    pub token_requests: Mutex<Vec<TokenRequestLog>>,
    /// ConfigMaps by (name, key).
    pub config_maps: BTreeMap<(String, String), String>,
}

#[async_trait]
impl CredentialSource for TestCredentials {
    async fn secret_key(&self, sel: &SecretKeySelector, _default: Option<&str>) -> Result<SecretValue, ProviderError> {
        let key = sel.key.clone().unwrap_or_default();
        self.secrets
            .get(&(sel.name.clone(), key.clone()))
            .map(|v| SecretValue::from(v.clone()))
            .ok_or_else(|| ProviderError::Auth(format!("secret {} has no key {key}", sel.name)))
    }

    async fn service_account_token(
        &self,
        sa: &ServiceAccountSelector,
        audiences: &[String],
        expiration_seconds: Option<i64>,
    ) -> Result<String, ProviderError> {
        self.token_requests.lock().unwrap().push((sa.name.clone(), audiences.to_vec(), expiration_seconds));
        let (key, issuer) = self.cluster.as_ref().ok_or_else(|| ProviderError::Auth("no cluster".into()))?;
        Ok(ksa_token(key, issuer, &self.namespace, &sa.name, audiences, expiration_seconds.unwrap_or(3600)))
    }

    async fn service_account_annotations(&self, sa: &ServiceAccountSelector) -> Result<BTreeMap<String, String>, ProviderError> {
        Ok(self.annotations.get(&sa.name).cloned().unwrap_or_default())
    }

    async fn ca_bundle(&self, p: &CaProvider) -> Result<Vec<u8>, ProviderError> {
        let key = (p.name.clone(), p.key.clone().unwrap_or_default());
        match (p.kind, self.config_maps.get(&key)) {
            (sesame_provider_core::CaProviderKind::ConfigMap, Some(v)) => Ok(v.clone().into_bytes()),
            _ => Err(ProviderError::Invalid(format!("no ConfigMap {} key {}", key.0, key.1))),
        }
    }
}

/// A projected ServiceAccount token, as the apiserver signs it.
pub fn ksa_token(key: &RsaKey, issuer: &str, ns: &str, name: &str, audiences: &[String], ttl: i64) -> String {
    let now = jwt::now();
    key.sign_jwt(
        Some("cluster-key"),
        &json!({
            "iss": issuer, "sub": format!("system:serviceaccount:{ns}:{name}"), "aud": audiences,
            "iat": now, "nbf": now, "exp": now + ttl,
            "kubernetes.io": {"namespace": ns, "serviceaccount": {"name": name, "uid": "0000"}},
        }),
    )
}

/// Every recorded provider call: (provider, call, succeeded).
#[derive(Default)]
pub struct Calls(pub Mutex<Vec<(&'static str, &'static str, bool)>>);

impl CallRecorder for Calls {
    fn record(&self, provider: &'static str, call: &'static str, outcome: Result<(), &ProviderError>, _: Duration) {
        self.0.lock().unwrap().push((provider, call, outcome.is_ok()));
    }
}

impl Calls {
    pub fn names(&self) -> Vec<&'static str> {
        self.0.lock().unwrap().iter().map(|c| c.1).collect()
    }
}

pub const PROJECT: &str = "acme-prod";
pub const PROJECT_NUMBER: u64 = 123456789012;
pub const READER: &str = "reader@acme-prod.iam.gserviceaccount.com";

/// A store reading `PROJECT` with a service-account key that may read it.
pub struct KeyStore {
    pub fake: FakeGcp,
    pub creds: Arc<TestCredentials>,
    pub calls: Arc<Calls>,
    pub spec: GcpProvider,
}

impl KeyStore {
    pub async fn new() -> KeyStore {
        let fake = FakeGcp::start().await;
        fake.project(PROJECT, PROJECT_NUMBER);
        let key = fake.service_account(READER, PROJECT);
        fake.grant(PROJECT, &format!("serviceAccount:{READER}"));
        KeyStore::with_key(fake, key.json.into_bytes())
    }

    pub fn with_key(fake: FakeGcp, key_json: Vec<u8>) -> KeyStore {
        let mut creds = TestCredentials::default();
        creds.secrets.insert(("gcp-sa".into(), "sa.json".into()), key_json);
        KeyStore { fake, creds: Arc::new(creds), calls: Arc::new(Calls::default()), spec: key_spec() }
    }

    pub fn policy(mut self, policy: SecretVersionSelectionPolicy) -> Self {
        self.spec.secret_version_selection_policy = Some(policy);
        self
    }

    pub fn location(mut self, location: &str) -> Self {
        self.spec.location = Some(location.into());
        self
    }

    pub fn ctx(&self) -> ProviderContext {
        ProviderContext { credentials: self.creds.clone(), calls: self.calls.clone() }
    }

    pub async fn build(&self) -> Arc<dyn SecretProvider> {
        self.try_build().await.expect("the store builds")
    }

    pub async fn try_build(&self) -> Result<Arc<dyn SecretProvider>, ProviderError> {
        sesame_provider_gcp::build_with_endpoints(&self.spec, self.ctx(), Endpoints::all_at(&self.fake.url)).await
    }
}

pub fn key_spec() -> GcpProvider {
    GcpProvider {
        project_id: Some(PROJECT.into()),
        auth: Some(GcpAuth {
            secret_ref: Some(GcpSecretRef {
                secret_access_key_secret_ref: SecretKeySelector { name: "gcp-sa".into(), key: Some("sa.json".into()), namespace: None },
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

pub fn wi_spec(ksa: &str, cluster_project: &str) -> GcpProvider {
    GcpProvider {
        project_id: Some(PROJECT.into()),
        auth: Some(GcpAuth {
            secret_ref: None,
            workload_identity: Some(GcpWorkloadIdentity {
                service_account_ref: ServiceAccountSelector { name: ksa.into(), ..Default::default() },
                cluster_location: Some("europe-west1".into()),
                cluster_name: Some("prod-1".into()),
                cluster_project_id: Some(cluster_project.into()),
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

pub fn text(v: SecretValue) -> String {
    String::from_utf8(v.into_bytes()).unwrap()
}
