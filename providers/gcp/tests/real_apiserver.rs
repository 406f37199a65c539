//! Workload identity with a ServiceAccount token minted by the real kube-apiserver of the test
//! environment (`tests/env/testenv up`): the fake STS trusts that cluster the way Google trusts a
//! GKE cluster, by its issuer and the keys of its `/openid/v1/jwks` document.
mod common;
mod fake;

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use kube::Api;
use kube::api::{DeleteParams, ObjectMeta, PostParams};
use sesame_provider_core::{
    CaProvider, CredentialSource, ProviderContext, ProviderError, RemoteKey, SecretKeySelector, SecretValue, ServiceAccountSelector,
};
use sesame_provider_gcp::{Endpoints, build_with_endpoints};

use common::{Calls, PROJECT, text, wi_spec};
use fake::FakeGcp;

const GSA: &str = "eso@acme-prod.iam.gserviceaccount.com";

/// The controller's credential source, reduced to ServiceAccounts of one namespace.
struct Kube {
    client: kube::Client,
    namespace: String,
}

#[async_trait]
impl CredentialSource for Kube {
    async fn secret_key(&self, _: &SecretKeySelector, _: Option<&str>) -> Result<SecretValue, ProviderError> {
        Err(ProviderError::Invalid("not used".into()))
    }

    async fn service_account_token(
        &self,
        sa: &ServiceAccountSelector,
        audiences: &[String],
        expiration_seconds: Option<i64>,
    ) -> Result<String, ProviderError> {
        let api: Api<ServiceAccount> = Api::namespaced(self.client.clone(), &self.namespace);
        let request = TokenRequest {
            spec: TokenRequestSpec { audiences: audiences.to_vec(), expiration_seconds, ..Default::default() },
            ..Default::default()
        };
        let minted = api
            .create_token_request(&sa.name, &PostParams::default(), &request)
            .await
            .map_err(|e| ProviderError::Auth(format!("TokenRequest for {}: {e}", sa.name)))?;
        Ok(minted.status.expect("a minted token").token)
    }

    async fn service_account_annotations(&self, sa: &ServiceAccountSelector) -> Result<BTreeMap<String, String>, ProviderError> {
        let api: Api<ServiceAccount> = Api::namespaced(self.client.clone(), &self.namespace);
        let found = api.get(&sa.name).await.map_err(|e| ProviderError::Auth(e.to_string()))?;
        Ok(found.metadata.annotations.unwrap_or_default())
    }

    async fn ca_bundle(&self, _: &CaProvider) -> Result<Vec<u8>, ProviderError> {
        Err(ProviderError::Invalid("not used".into()))
    }
}

#[tokio::test]
async fn workload_identity_with_a_token_minted_by_the_real_apiserver() {
    let env = sesame_testsupport::env();
    let client = sesame_testsupport::kube_client().await;
    let ns = sesame_testsupport::unique_name("gcp-wi");
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let meta = |name: &str| ObjectMeta { name: Some(name.into()), ..Default::default() };
    namespaces.create(&PostParams::default(), &Namespace { metadata: meta(&ns), ..Default::default() }).await.unwrap();
    let sa = ServiceAccount {
        metadata: ObjectMeta {
            annotations: Some([("iam.gke.io/gcp-service-account".to_string(), GSA.to_string())].into()),
            ..meta("eso-ksa")
        },
        ..Default::default()
    };
    Api::<ServiceAccount>::namespaced(client.clone(), &ns).create(&PostParams::default(), &sa).await.unwrap();

    let jwks = client.request_text(http::Request::get("/openid/v1/jwks").body(Vec::new()).unwrap()).await.unwrap();
    let fake = FakeGcp::start().await;
    fake.trust_cluster("acme-clusters", "europe-west1", "prod-1", &env.kube_sa_issuer, serde_json::from_str(&jwks).unwrap());
    fake.allow_impersonation(GSA, &format!("serviceAccount:acme-clusters.svc.id.goog[{ns}/eso-ksa]"));
    fake.grant(PROJECT, &format!("serviceAccount:{GSA}"));
    fake.secret("projects/acme-prod/secrets/db", &[], &[]);
    fake.version("projects/acme-prod/secrets/db", b"from a real ServiceAccount token");

    let ctx = ProviderContext {
        credentials: Arc::new(Kube { client: client.clone(), namespace: ns.clone() }),
        calls: Arc::new(Calls::default()),
    };
    let p = build_with_endpoints(&wi_spec("eso-ksa", "acme-clusters"), ctx, Endpoints::all_at(&fake.url)).await.unwrap();
    let got = p.get_secret(&RemoteKey::new("db")).await;
    namespaces.delete(&ns, &DeleteParams::default()).await.unwrap();
    assert_eq!(text(got.unwrap()), "from a real ServiceAccount token");
    assert_eq!(fake.count("POST /v1/token"), 1);
}
