//! Kubernetes and JWT auth with real ServiceAccount tokens: minted by the test environment's
//! kube-apiserver (TokenRequest API), checked by OpenBao against that same apiserver
//! (TokenReview, with a reviewer ServiceAccount bound to `system:auth-delegator`) or against the
//! apiserver's ServiceAccount signing key (jwt auth).
mod common;

use std::sync::Arc;

use async_trait::async_trait;
use common::*;
use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use k8s_openapi::api::rbac::v1::{ClusterRoleBinding, RoleRef, Subject};
use kube::api::{Api, DeleteParams, ObjectMeta, PostParams};
use serde_json::json;
use sesame_provider_core::{ProviderError, RemoteKey, ServiceAccountSelector};
use sesame_provider_vault::VaultKvVersion::V2;
use sesame_provider_vault::{VaultAuth, VaultJwtAuth, VaultKubernetesAuth, VaultKubernetesServiceAccountTokenAuth};

/// Mints tokens with the apiserver's TokenRequest API, as the controller's CredentialSource does.
struct KubeMinter {
    client: kube::Client,
    namespace: String,
}

#[async_trait]
impl TokenMinter for KubeMinter {
    async fn mint(&self, sa: &ServiceAccountSelector, audiences: &[String], expiration: Option<i64>) -> Result<String, ProviderError> {
        let api: Api<ServiceAccount> = Api::namespaced(self.client.clone(), &self.namespace);
        let request = TokenRequest {
            spec: TokenRequestSpec { audiences: audiences.to_vec(), expiration_seconds: expiration, ..Default::default() },
            ..Default::default()
        };
        let answer = api
            .create_token_request(&sa.name, &PostParams::default(), &request)
            .await
            .map_err(|e| ProviderError::Auth(format!("TokenRequest for {}: {e}", sa.name)))?;
        Ok(answer.status.map(|s| s.token).unwrap_or_default())
    }
}

/// A namespace with ServiceAccounts `app` and `reviewer` (bound to system:auth-delegator).
/// Deleted when dropped (best effort).
struct Cluster {
    client: kube::Client,
    namespace: String,
    binding: String,
}

impl Cluster {
    async fn new() -> Cluster {
        let client = sesame_testsupport::kube_client().await;
        let namespace = unique("vault");
        let meta = |name: &str| ObjectMeta { name: Some(name.to_string()), ..Default::default() };
        Api::<Namespace>::all(client.clone())
            .create(&PostParams::default(), &Namespace { metadata: meta(&namespace), ..Default::default() })
            .await
            .expect("create namespace on the test apiserver");
        let sas: Api<ServiceAccount> = Api::namespaced(client.clone(), &namespace);
        for name in ["app", "reviewer"] {
            sas.create(&PostParams::default(), &ServiceAccount { metadata: meta(name), ..Default::default() }).await.unwrap();
        }
        let binding = format!("{namespace}-auth-delegator");
        let crb = ClusterRoleBinding {
            metadata: meta(&binding),
            role_ref: RoleRef {
                api_group: "rbac.authorization.k8s.io".into(),
                kind: "ClusterRole".into(),
                name: "system:auth-delegator".into(),
            },
            subjects: Some(vec![Subject {
                kind: "ServiceAccount".into(),
                name: "reviewer".into(),
                namespace: Some(namespace.clone()),
                ..Default::default()
            }]),
        };
        Api::<ClusterRoleBinding>::all(client.clone()).create(&PostParams::default(), &crb).await.unwrap();
        Cluster { client, namespace, binding }
    }

    fn minter(&self) -> Arc<dyn TokenMinter> {
        Arc::new(KubeMinter { client: self.client.clone(), namespace: self.namespace.clone() })
    }

    async fn token(&self, sa: &str, audiences: &[&str]) -> String {
        let sel = ServiceAccountSelector { name: sa.into(), ..Default::default() };
        let audiences: Vec<String> = audiences.iter().map(|a| a.to_string()).collect();
        self.minter().mint(&sel, &audiences, Some(3600)).await.unwrap()
    }

    async fn cleanup(self) {
        let _ = Api::<ClusterRoleBinding>::all(self.client.clone()).delete(&self.binding, &DeleteParams::default()).await;
        let _ = Api::<Namespace>::all(self.client.clone()).delete(&self.namespace, &DeleteParams::default()).await;
    }
}

/// OpenBao's kubernetes auth at a fresh mount, reviewing tokens with the real apiserver; role
/// `app` admits ServiceAccount `app` of the cluster's namespace.
async fn kubernetes_auth(bao: &Bao, cluster: &Cluster, policy: &str) -> String {
    let env = sesame_testsupport::env();
    let ca = std::fs::read_to_string(&env.kube_ca).expect("the apiserver CA from the test environment");
    let mount = bao.auth("kubernetes").await;
    let reviewer = cluster.token("reviewer", &[]).await;
    bao.must(
        "POST",
        &format!("auth/{mount}/config"),
        Some(json!({"kubernetes_host": env.kube_server, "kubernetes_ca_cert": ca, "token_reviewer_jwt": reviewer, "disable_local_ca_jwt": true})),
    )
    .await;
    bao.must(
        "POST",
        &format!("auth/{mount}/role/app"),
        Some(json!({"bound_service_account_names": ["app"], "bound_service_account_namespaces": [cluster.namespace], "token_policies": [policy]})),
    )
    .await;
    mount
}

async fn readable(bao: &Bao) -> (String, String) {
    let mount = bao.kv(V2).await;
    bao.put2(&mount, "app", json!({"v": "from kube"})).await;
    let policy = bao.reader_policy(&mount).await;
    (mount, policy)
}

#[tokio::test]
async fn kubernetes_auth_with_a_token_request_token_logs_in_once() {
    let bao = Bao::root().await;
    let cluster = Cluster::new().await;
    let (mount, policy) = readable(&bao).await;
    let auth = kubernetes_auth(&bao, &cluster, &policy).await;
    let spec = store(
        &bao,
        &mount,
        V2,
        VaultAuth {
            kubernetes: Some(VaultKubernetesAuth {
                mount_path: auth.clone(),
                service_account_ref: Some(ServiceAccountSelector { name: "app".into(), ..Default::default() }),
                secret_ref: None,
                role: "app".into(),
            }),
            ..Default::default()
        },
    );
    let creds = Creds { minter: Some(cluster.minter()), ..Default::default() };
    let (provider, calls) = build(&spec, creds).await;
    provider.validate().await.expect("kubernetes login and mount check");
    for _ in 0..20 {
        let got = provider.get_secret(&RemoteKey::new("app")).await.expect("read after kubernetes login");
        assert_eq!(json_of(got)["v"], "from kube");
    }
    assert_eq!(calls.count("Login"), 1);

    // ServiceAccount `reviewer` is not bound to the role.
    let mut wrong = spec.clone();
    wrong.auth.as_mut().unwrap().kubernetes.as_mut().unwrap().service_account_ref.as_mut().unwrap().name = "reviewer".into();
    let (provider, _) = build(&wrong, Creds { minter: Some(cluster.minter()), ..Default::default() }).await;
    assert!(matches!(provider.get_secret(&RemoteKey::new("app")).await, Err(ProviderError::Auth(_))));
    cluster.cleanup().await;
}

#[tokio::test]
async fn kubernetes_auth_with_a_token_from_a_secret_defaults_to_key_token() {
    let bao = Bao::root().await;
    let cluster = Cluster::new().await;
    let (mount, policy) = readable(&bao).await;
    let auth = kubernetes_auth(&bao, &cluster, &policy).await;
    let jwt = cluster.token("app", &[]).await;
    let spec = store(
        &bao,
        &mount,
        V2,
        VaultAuth {
            kubernetes: Some(VaultKubernetesAuth {
                mount_path: auth,
                service_account_ref: None,
                secret_ref: Some(sesame_provider_core::SecretKeySelector { name: "sa-token".into(), key: None, namespace: None }),
                role: "app".into(),
            }),
            ..Default::default()
        },
    );
    let (provider, _) = build(&spec, Creds::with(&[("sa-token", "token", jwt.as_bytes())])).await;
    assert_eq!(json_of(provider.get_secret(&RemoteKey::new("app")).await.unwrap())["v"], "from kube");
    cluster.cleanup().await;
}

#[tokio::test]
async fn jwt_auth_with_a_service_account_token_for_audience_vault() {
    let bao = Bao::root().await;
    let cluster = Cluster::new().await;
    let env = sesame_testsupport::env();
    let (mount, policy) = readable(&bao).await;
    let signing_key = std::fs::read_to_string(env.state_dir.join("pki/sa.pub")).expect("the apiserver's ServiceAccount key");
    let auth = bao.auth("jwt").await;
    bao.must(
        "POST",
        &format!("auth/{auth}/config"),
        Some(json!({"jwt_validation_pubkeys": [signing_key], "bound_issuer": env.kube_sa_issuer})),
    )
    .await;
    bao.must(
        "POST",
        &format!("auth/{auth}/role/app"),
        Some(json!({
            "role_type": "jwt", "bound_audiences": ["vault"], "user_claim": "sub",
            "bound_subject": format!("system:serviceaccount:{}:app", cluster.namespace), "token_policies": [policy]
        })),
    )
    .await;
    let spec = store(
        &bao,
        &mount,
        V2,
        VaultAuth {
            jwt: Some(VaultJwtAuth {
                path: auth,
                role: Some("app".into()),
                secret_ref: None,
                kubernetes_service_account_token: Some(VaultKubernetesServiceAccountTokenAuth {
                    service_account_ref: ServiceAccountSelector { name: "app".into(), ..Default::default() },
                    audiences: None, // ESO's default: ["vault"]
                    expiration_seconds: None,
                }),
            }),
            ..Default::default()
        },
    );
    let (provider, calls) = build(&spec, Creds { minter: Some(cluster.minter()), ..Default::default() }).await;
    for _ in 0..5 {
        assert_eq!(json_of(provider.get_secret(&RemoteKey::new("app")).await.unwrap())["v"], "from kube");
    }
    assert_eq!(calls.count("Login"), 1);
    cluster.cleanup().await;
}
