//! Every way a store authenticates, against the fake Google endpoints: a service-account key,
//! GKE workload identity (STS exchange, then impersonation or the federated token itself), and
//! application default credentials from the metadata server.
mod common;
mod fake;

use std::collections::BTreeMap;
use std::sync::Arc;

use common::{Calls, KeyStore, PROJECT, TestCredentials, text, wi_spec};
use fake::{FakeGcp, RsaKey};
use sesame_provider_core::{ProviderContext, ProviderError, RemoteKey, SecretProvider};
use sesame_provider_gcp::{Endpoints, GcpProvider, build_with_endpoints};

const DB: &str = "projects/acme-prod/secrets/db";
const CLUSTER_PROJECT: &str = "acme-clusters";
const GSA: &str = "eso@acme-prod.iam.gserviceaccount.com";
const KSA_MEMBER: &str = "serviceAccount:acme-clusters.svc.id.goog[apps/eso-ksa]";

#[tokio::test]
async fn a_service_account_key_signs_its_own_access_tokens() {
    let store = KeyStore::new().await;
    store.fake.secret(DB, &[], &[]);
    store.fake.version(DB, b"by key");
    let p = store.build().await;
    p.validate().await.unwrap();
    assert_eq!(text(p.get_secret(&RemoteKey::new("db")).await.unwrap()), "by key");
    // The SDK sends a key-signed JWT as the bearer token: no token endpoint is involved.
    assert_eq!(store.fake.count("/token"), 0, "{:?}", store.fake.requests());
}

/// A workload-identity store in namespace `apps` using ServiceAccount `eso-ksa`.
struct WiStore {
    fake: FakeGcp,
    creds: Arc<TestCredentials>,
    calls: Arc<Calls>,
    spec: GcpProvider,
}

impl WiStore {
    async fn new(annotate: bool, signing_key: Option<Arc<RsaKey>>) -> WiStore {
        let fake = FakeGcp::start().await;
        let cluster_key = fake.cluster(CLUSTER_PROJECT, "europe-west1", "prod-1");
        fake.secret(DB, &[], &[]);
        fake.version(DB, b"by workload identity");
        let issuer = format!("https://container.googleapis.com/v1/projects/{CLUSTER_PROJECT}/locations/europe-west1/clusters/prod-1");
        let mut annotations = BTreeMap::new();
        if annotate {
            annotations.insert("iam.gke.io/gcp-service-account".to_string(), GSA.to_string());
        }
        let creds = TestCredentials {
            cluster: Some((signing_key.unwrap_or(cluster_key), issuer)),
            namespace: "apps".into(),
            annotations: [("eso-ksa".to_string(), annotations)].into(),
            ..Default::default()
        };
        WiStore { fake, creds: Arc::new(creds), calls: Arc::new(Calls::default()), spec: wi_spec("eso-ksa", CLUSTER_PROJECT) }
    }

    async fn build(&self) -> Arc<dyn SecretProvider> {
        let ctx = ProviderContext { credentials: self.creds.clone(), calls: self.calls.clone() };
        build_with_endpoints(&self.spec, ctx, Endpoints::all_at(&self.fake.url)).await.unwrap()
    }
}

#[tokio::test]
async fn workload_identity_exchanges_the_ksa_token_and_impersonates_the_annotated_gsa() {
    let store = WiStore::new(true, None).await;
    store.fake.allow_impersonation(GSA, KSA_MEMBER);
    store.fake.grant(PROJECT, &format!("serviceAccount:{GSA}"));
    let p = store.build().await;
    assert_eq!(text(p.get_secret(&RemoteKey::new("db")).await.unwrap()), "by workload identity");
    assert_eq!(text(p.get_secret(&RemoteKey::new("db")).await.unwrap()), "by workload identity");

    let requests = store.creds.token_requests.lock().unwrap().clone();
    assert_eq!(requests, [("eso-ksa".to_string(), vec!["acme-clusters.svc.id.goog".to_string()], Some(900))]);
    assert_eq!(store.fake.count("POST /v1/token"), 1, "the token is cached per client");
    assert_eq!(store.fake.count(&format!("POST /v1/projects/-/serviceAccounts/{GSA}:generateAccessToken")), 1);
    assert_eq!(
        store.calls.names(),
        ["GenerateSAToken", "GenerateIDBindToken", "GenerateAccessToken", "AccessSecretVersion", "AccessSecretVersion"]
    );
}

#[tokio::test]
async fn workload_identity_without_the_annotation_uses_the_federated_token() {
    let store = WiStore::new(false, None).await;
    store.fake.grant(PROJECT, KSA_MEMBER);
    let p = store.build().await;
    assert_eq!(text(p.get_secret(&RemoteKey::new("db")).await.unwrap()), "by workload identity");
    assert_eq!(store.fake.count(":generateAccessToken"), 0);
}

#[tokio::test]
async fn a_token_about_to_expire_is_minted_again() {
    let store = WiStore::new(false, None).await;
    store.fake.grant(PROJECT, KSA_MEMBER);
    store.fake.lock().sts_lifetime = 200; // inside the 5-minute refresh margin
    let p = store.build().await;
    p.get_secret(&RemoteKey::new("db")).await.unwrap();
    p.get_secret(&RemoteKey::new("db")).await.unwrap();
    assert_eq!(store.fake.count("POST /v1/token"), 2);
    assert_eq!(store.creds.token_requests.lock().unwrap().len(), 2, "a fresh ServiceAccount token each time");
}

#[tokio::test]
async fn workload_identity_without_impersonation_rights_is_an_auth_error() {
    let store = WiStore::new(true, None).await;
    store.fake.grant(PROJECT, &format!("serviceAccount:{GSA}"));
    let err = store.build().await.get_secret(&RemoteKey::new("db")).await.unwrap_err();
    assert!(matches!(&err, ProviderError::Auth(m) if m.contains("PERMISSION_DENIED") && m.contains(GSA)), "{err}");
}

#[tokio::test]
async fn sts_rejects_a_ksa_token_signed_by_another_cluster() {
    let store = WiStore::new(true, Some(Arc::new(RsaKey::generate()))).await;
    store.fake.allow_impersonation(GSA, KSA_MEMBER);
    store.fake.grant(PROJECT, &format!("serviceAccount:{GSA}"));
    let p = store.build().await;
    let err = p.get_secret(&RemoteKey::new("db")).await.unwrap_err();
    assert!(matches!(&err, ProviderError::Auth(m) if m.contains("invalid_grant")), "{err}");
    assert!(p.validate().await.is_err());
}

#[tokio::test]
async fn extra_audiences_are_added_to_the_pool() {
    let mut store = WiStore::new(false, None).await;
    store.fake.grant(PROJECT, KSA_MEMBER);
    let wi = store.spec.auth.as_mut().unwrap().workload_identity.as_mut().unwrap();
    wi.service_account_ref.audiences = vec!["extra".into()];
    store.build().await.get_secret(&RemoteKey::new("db")).await.unwrap();
    let requests = store.creds.token_requests.lock().unwrap().clone();
    assert_eq!(requests[0].1, ["acme-clusters.svc.id.goog", "extra"]);
}

#[tokio::test]
async fn validate_accepts_a_token_that_may_not_list_and_refuses_a_bad_one() {
    let store = KeyStore::new().await;
    store.build().await.validate().await.unwrap();
    let fake = FakeGcp::start().await;
    let stranger = fake.service_account("stranger@x.iam.gserviceaccount.com", "x");
    // Known to Google but without any grant: authenticated, so the store is usable for secrets
    // it may be granted later.
    KeyStore::with_key(fake, stranger.json.into_bytes()).build().await.validate().await.unwrap();
    let fake = FakeGcp::start().await;
    let unknown = FakeGcp::start().await.service_account("ghost@x.iam.gserviceaccount.com", "x");
    let err = KeyStore::with_key(fake, unknown.json.into_bytes()).build().await.validate().await.unwrap_err();
    assert!(matches!(&err, ProviderError::Auth(m) if m.contains("UNAUTHENTICATED")), "{err}");
}

/// Application default credentials are process-wide (environment variables), so this runs the
/// read in a child process whose environment points the SDK's metadata-server lookup at the fake.
#[tokio::test]
async fn application_default_credentials_come_from_the_metadata_server() {
    let fake = FakeGcp::start().await;
    fake.project(PROJECT, 1);
    fake.lock().mds_principal = Some("serviceAccount:node@acme-prod.iam.gserviceaccount.com".into());
    fake.grant(PROJECT, "serviceAccount:node@acme-prod.iam.gserviceaccount.com");
    fake.secret(DB, &[], &[]);
    fake.version(DB, b"by metadata server");
    let home = std::env::temp_dir().join(format!("sesame-gcp-adc-{}", std::process::id()));
    std::fs::create_dir_all(&home).unwrap();
    let out = tokio::process::Command::new(std::env::current_exe().unwrap())
        .args(["adc_child", "--exact", "--ignored", "--nocapture", "--test-threads=1"])
        .env("SESAME_GCP_ADC_CHILD_FAKE", &fake.url)
        .env("GCE_METADATA_HOST", fake.url.trim_start_matches("http://"))
        .env("HOME", &home)
        .env("CLOUDSDK_CONFIG", &home)
        .env_remove("GOOGLE_APPLICATION_CREDENTIALS")
        .output()
        .await
        .unwrap();
    let _ = std::fs::remove_dir_all(&home);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && stdout.contains("1 passed"), "child failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(fake.count("GET /computeMetadata/v1/instance/service-accounts/default/token") >= 1, "{:?}", fake.requests());
}

#[tokio::test]
#[ignore = "run by application_default_credentials_come_from_the_metadata_server in a child process"]
async fn adc_child() {
    let Ok(url) = std::env::var("SESAME_GCP_ADC_CHILD_FAKE") else { return };
    let spec = GcpProvider { project_id: Some(PROJECT.into()), ..Default::default() };
    let ctx = ProviderContext { credentials: Arc::new(TestCredentials::default()), calls: Arc::new(Calls::default()) };
    let p = build_with_endpoints(&spec, ctx, Endpoints::all_at(url)).await.unwrap();
    assert_eq!(text(p.get_secret(&RemoteKey::new("db")).await.unwrap()), "by metadata server");
}
