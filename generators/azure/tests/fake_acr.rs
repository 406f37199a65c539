//! ACRAccessToken against the Azure fake's Entra ID and a fake registry token service: a service
//! principal's and a workload identity's Entra ID tokens exchanged for an ACR refresh token, and,
//! with `scope`, for an access token; failures are errors that never carry a token.
#![forbid(unsafe_code)]

mod acr;
#[path = "../../../providers/azure/tests/fake/mod.rs"]
mod fake;

use std::sync::Arc;

use acr::{FakeAcr, REGISTRY};
use fake::support::{CLIENT_ID, CLIENT_SECRET, Calls, Kube, context};
use fake::{Fake, TENANT};
use sesame_generator_azure::{AcrAccessToken, AcrAccessTokenSpec};
use sesame_generator_core::{Generator, GeneratorContext, GeneratorError};
use sesame_provider_azure::HttpSettings;

const ZERO_GUID: &str = "00000000-0000-0000-0000-000000000000";

/// The Azure fake, the registry fake, and settings that reach both.
async fn fakes() -> (Fake, FakeAcr, HttpSettings) {
    let entra = Fake::start().await;
    let registry = FakeAcr::start(entra.shared.clone()).await;
    let mut http = entra.http_settings();
    http.extra_root_certificates_pem.extend_from_slice(registry.ca_pem.as_bytes());
    http.resolve.push((REGISTRY.to_string(), registry.addr));
    (entra, registry, http)
}

fn generator(spec: serde_json::Value, http: &HttpSettings) -> AcrAccessToken {
    AcrAccessToken::new(serde_json::from_value::<AcrAccessTokenSpec>(spec).unwrap()).unwrap().with_http(http.clone())
}

fn service_principal(scope: Option<&str>) -> serde_json::Value {
    let mut spec = serde_json::json!({
        "registry": REGISTRY, "tenantId": TENANT,
        "auth": {"servicePrincipal": {"secretRef": {
            "clientId": {"name": "azure-sp", "key": "client-id"}, "clientSecret": {"name": "azure-sp", "key": "client-secret"}}}},
    });
    if let Some(scope) = scope {
        spec["scope"] = scope.into();
    }
    spec
}

fn ctx(kube: &Arc<Kube>, calls: &Arc<Calls>) -> GeneratorContext {
    GeneratorContext { namespace: "apps".into(), provider: context(kube, calls) }
}

fn login(data: &std::collections::BTreeMap<String, Vec<u8>>) -> (String, String) {
    assert_eq!(data.keys().collect::<Vec<_>>(), ["password", "username"], "ESO's output keys");
    (String::from_utf8(data["username"].clone()).unwrap(), String::from_utf8(data["password"].clone()).unwrap())
}

#[tokio::test]
async fn a_service_principal_gets_a_refresh_token_and_with_a_scope_an_access_token() {
    let (entra, registry, http) = fakes().await;
    entra.add_app(TENANT, CLIENT_ID, CLIENT_SECRET);
    registry.allow_pull(CLIENT_ID, "app");
    let kube = Kube::new().with_secret("azure-sp", "client-id", CLIENT_ID).with_secret("azure-sp", "client-secret", CLIENT_SECRET);
    let calls = Arc::new(Calls::default());

    // No scope: the refresh token itself, good for the whole registry.
    let out = generator(service_principal(None), &http).generate(&ctx(&kube, &calls)).await.unwrap();
    let (username, refresh) = login(&out.data);
    assert_eq!(username, ZERO_GUID);
    assert_eq!(registry.state.lock().unwrap().refresh.get(&refresh).map(|r| r.0.clone()), Some(CLIENT_ID.to_string()));
    assert_eq!(calls.names(), ["GetToken", "ExchangeRefreshToken"]);

    // A scope: an access token for it, and the exchange is made anew each time.
    let scoped = generator(service_principal(Some("repository:app:pull")), &http);
    let (_, access) = login(&scoped.generate(&ctx(&kube, &calls)).await.unwrap().data);
    let issued = registry.state.lock().unwrap().access.get(&access).cloned().expect("the registry issued this access token");
    assert_eq!((issued.principal.as_str(), issued.scope.as_str(), issued.granted), (CLIENT_ID, "repository:app:pull", true));
    let (_, again) = login(&scoped.generate(&ctx(&kube, &calls)).await.unwrap().data);
    assert_ne!(access, again, "every generation is a new token");
    let log = registry.state.lock().unwrap().log.clone();
    assert_eq!(log.iter().filter(|l| *l == "POST /oauth2/exchange").count(), 3, "{log:?}");
    assert_eq!(log.iter().filter(|l| *l == "POST /oauth2/token").count(), 2, "{log:?}");
}

#[tokio::test]
async fn a_workload_identity_token_is_exchanged_at_the_registry() {
    let (entra, registry, http) = fakes().await;
    let kube = Kube::new()
        .with_service_account("puller", &[("azure.workload.identity/client-id", CLIENT_ID), ("azure.workload.identity/tenant-id", TENANT)]);
    entra.add_federated_app(TENANT, CLIENT_ID, kube.issuer(), "system:serviceaccount:apps:puller");
    let calls = Arc::new(Calls::default());
    let spec = serde_json::json!({"registry": REGISTRY, "auth": {"workloadIdentity": {"serviceAccountRef": {"name": "puller"}}}});
    let (_, refresh) = login(&generator(spec, &http).generate(&ctx(&kube, &calls)).await.unwrap().data);
    assert_eq!(registry.state.lock().unwrap().refresh.get(&refresh).map(|r| r.0.clone()), Some(CLIENT_ID.to_string()));
    assert_eq!(kube.minted.lock().unwrap().as_slice(), [vec!["api://AzureADTokenExchange".to_string()]]);
}

#[tokio::test]
async fn refusals_are_errors_that_carry_no_token() {
    let (entra, _registry, http) = fakes().await;
    entra.add_app(TENANT, CLIENT_ID, CLIENT_SECRET);
    let calls = Arc::new(Calls::default());

    // A wrong client secret: Entra ID refuses, nothing reaches the registry.
    let kube = Kube::new().with_secret("azure-sp", "client-id", CLIENT_ID).with_secret("azure-sp", "client-secret", "wrong-secret");
    let err = generator(service_principal(None), &http).generate(&ctx(&kube, &calls)).await.unwrap_err();
    assert!(matches!(&err, GeneratorError::Auth(_)), "{err}");
    assert!(!err.to_string().contains("wrong-secret"), "{err}");

    // A scope the registry cannot parse: its error code, not the refresh token.
    let kube = Kube::new().with_secret("azure-sp", "client-id", CLIENT_ID).with_secret("azure-sp", "client-secret", CLIENT_SECRET);
    let err = generator(service_principal(Some("catalog")), &http).generate(&ctx(&kube, &calls)).await.unwrap_err();
    let text = err.to_string();
    assert!(matches!(&err, GeneratorError::Invalid(_)) && text.contains("/oauth2/token answered 400 UNSUPPORTED"), "{text}");
    assert!(!text.contains("acr-refresh"), "{text}");

    // A registry the settings do not reach: a transient connection error.
    let mut spec = service_principal(None);
    spec["registry"] = "elsewhere.azurecr.io".into();
    let mut unreachable = http.clone();
    unreachable.resolve.push(("elsewhere.azurecr.io".into(), "127.0.0.1:1".parse().unwrap()));
    let err = generator(spec, &unreachable).generate(&ctx(&kube, &calls)).await.unwrap_err();
    assert!(matches!(&err, GeneratorError::Transient(m) if m.contains("connection failed")), "{err}");
}
