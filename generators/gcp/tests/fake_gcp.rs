//! GCRAccessToken against the GCP fake's token endpoints (providers/gcp/tests/fake): a
//! service-account key exchanged with the JWT-bearer grant, and GKE workload identity (STS, then
//! impersonation). Each generation is a new token the fake itself issued and would accept.
#![forbid(unsafe_code)]

#[path = "../../../providers/gcp/tests/common/mod.rs"]
mod common;
#[path = "../../../providers/gcp/tests/fake/mod.rs"]
mod fake;

use std::collections::BTreeMap;
use std::sync::Arc;

use common::{Calls, PROJECT, READER, TestCredentials, key_spec, wi_spec};
use fake::FakeGcp;
use sesame_generator_core::{Generator, GeneratorContext, GeneratorError, ProviderContext};
use sesame_generator_gcp::{GcrAccessToken, GcrAccessTokenSpec};
use sesame_provider_gcp::{Endpoints, GcpProvider};

const CLUSTER_PROJECT: &str = "acme-clusters";
const GSA: &str = "pusher@acme-prod.iam.gserviceaccount.com";

fn generator(fake: &FakeGcp, store: GcpProvider) -> GcrAccessToken {
    let spec = GcrAccessTokenSpec { auth: store.auth.unwrap(), project_id: PROJECT.into() };
    GcrAccessToken::new(spec).unwrap().with_endpoints(Endpoints::all_at(&fake.url))
}

fn ctx(creds: TestCredentials, calls: &Arc<Calls>) -> GeneratorContext {
    GeneratorContext { namespace: "apps".into(), provider: ProviderContext { credentials: Arc::new(creds), calls: calls.clone() } }
}

/// (username, password, expiry) of an output, checking it has exactly ESO's keys.
fn login(data: &BTreeMap<String, Vec<u8>>) -> (String, String, i64) {
    assert_eq!(data.keys().collect::<Vec<_>>(), ["expiry", "password", "username"]);
    let text = |k: &str| String::from_utf8(data[k].clone()).unwrap();
    (text("username"), text("password"), text("expiry").parse().unwrap())
}

/// The principal and expiry the fake recorded for a token it issued.
fn issued(fake: &FakeGcp, token: &str) -> (String, i64) {
    fake.lock().tokens.get(token).cloned().unwrap_or_else(|| panic!("the fake never issued this token"))
}

#[tokio::test]
async fn a_service_account_key_is_exchanged_at_the_token_endpoint_for_each_generation() {
    let fake = FakeGcp::start().await;
    let key = fake.service_account(READER, PROJECT);
    let mut creds = TestCredentials::default();
    creds.secrets.insert(("gcp-sa".into(), "sa.json".into()), key.json.clone().into_bytes());
    let calls = Arc::new(Calls::default());
    let (g, ctx) = (generator(&fake, key_spec()), ctx(creds, &calls));

    let first = g.generate(&ctx).await.unwrap();
    let (username, password, expiry) = login(&first.data);
    assert_eq!(username, "oauth2accesstoken");
    let (principal, expires) = issued(&fake, &password);
    assert_eq!(principal, format!("serviceAccount:{READER}"));
    assert!((expiry - expires).abs() <= 5, "expiry {expiry} is the token's ({expires})");
    assert_eq!(first.state, None);

    let second = g.generate(&ctx).await.unwrap();
    assert_ne!(login(&second.data).1, password, "every generation is a new token");
    assert_eq!(fake.count("POST /token"), 2, "{:?}", fake.requests());
    assert_eq!(calls.names(), ["OAuth2Token", "OAuth2Token"]);
}

#[tokio::test]
async fn a_key_the_endpoint_rejects_or_cannot_read_is_an_error_without_key_material() {
    let fake = FakeGcp::start().await;
    let key = fake.service_account(READER, PROJECT);
    // The same key file, but the fake no longer knows the key: Google's `invalid_grant`.
    fake.lock().sa_keys.clear();
    let mut creds = TestCredentials::default();
    creds.secrets.insert(("gcp-sa".into(), "sa.json".into()), key.json.clone().into_bytes());
    let calls = Arc::new(Calls::default());
    let err = generator(&fake, key_spec()).generate(&ctx(creds, &calls)).await.unwrap_err();
    assert!(matches!(&err, GeneratorError::Auth(m) | GeneratorError::Invalid(m) if m.contains("invalid_grant")), "{err}");

    let mut creds = TestCredentials::default();
    creds.secrets.insert(
        ("gcp-sa".into(), "sa.json".into()),
        br#"{"type":"service_account","private_key":"-----BEGIN PRIVATE KEY-----\nAAAA"#.to_vec(),
    );
    let err = generator(&fake, key_spec()).generate(&ctx(creds, &calls)).await.unwrap_err().to_string();
    assert!(err.contains("secret gcp-sa key sa.json") && !err.contains("AAAA"), "{err}");
}

#[tokio::test]
async fn workload_identity_mints_an_impersonated_token_for_each_generation() {
    let fake = FakeGcp::start().await;
    let cluster_key = fake.cluster(CLUSTER_PROJECT, "europe-west1", "prod-1");
    fake.allow_impersonation(GSA, "serviceAccount:acme-clusters.svc.id.goog[apps/eso-ksa]");
    let issuer = format!("https://container.googleapis.com/v1/projects/{CLUSTER_PROJECT}/locations/europe-west1/clusters/prod-1");
    let creds = TestCredentials {
        cluster: Some((cluster_key, issuer)),
        namespace: "apps".into(),
        annotations: [("eso-ksa".to_string(), [("iam.gke.io/gcp-service-account".to_string(), GSA.to_string())].into())].into(),
        ..Default::default()
    };
    let calls = Arc::new(Calls::default());
    let (g, ctx) = (generator(&fake, wi_spec("eso-ksa", CLUSTER_PROJECT)), ctx(creds, &calls));

    let (_, first, expiry) = login(&g.generate(&ctx).await.unwrap().data);
    assert_eq!(issued(&fake, &first).0, format!("serviceAccount:{GSA}"));
    assert!((expiry - issued(&fake, &first).1).abs() <= 5);
    let (_, second, _) = login(&g.generate(&ctx).await.unwrap().data);
    assert_ne!(first, second, "no cached token is handed out twice");
    assert_eq!(calls.names(), ["GenerateSAToken", "GenerateIDBindToken", "GenerateAccessToken"].repeat(2));
}

#[tokio::test]
async fn workload_identity_federation_with_aws_keys_mints_an_impersonated_token_for_each_generation() {
    let fake = FakeGcp::start().await;
    let audience = "//iam.googleapis.com/projects/42/locations/global/workloadIdentityPools/aws/providers/acct";
    let principal = fake.aws_pool_provider(audience, "AKIAGCR", "gcr-secret", "arn:aws:iam::111122223333:user/ci");
    fake.allow_impersonation(GSA, &principal);
    let secrets = [("aws_access_key_id", "AKIAGCR"), ("aws_secret_access_key", "gcr-secret")]
        .into_iter()
        .map(|(k, v)| (("aws".to_string(), k.to_string()), v.as_bytes().to_vec()))
        .collect();
    let creds = TestCredentials { secrets, namespace: "apps".into(), ..Default::default() };
    let store: GcpProvider = serde_json::from_value(serde_json::json!({"auth": {"workloadIdentityFederation": {
        "awsSecurityCredentials": {"region": "us-west-2", "awsCredentialsSecretRef": {"name": "aws"}},
        "audience": audience, "gcpServiceAccountEmail": GSA,
    }}}))
    .unwrap();
    let calls = Arc::new(Calls::default());
    let (g, ctx) = (generator(&fake, store), ctx(creds, &calls));
    assert_eq!(g.controller_identity(), None, "federation names its own credentials");

    let (user, first, expiry) = login(&g.generate(&ctx).await.unwrap().data);
    assert_eq!(user, "oauth2accesstoken");
    assert_eq!(issued(&fake, &first).0, format!("serviceAccount:{GSA}"));
    assert!((expiry - issued(&fake, &first).1).abs() <= 5, "the expiry is the impersonated token's");
    let (_, second, _) = login(&g.generate(&ctx).await.unwrap().data);
    assert_ne!(first, second);
    assert_eq!(calls.names(), ["GenerateIDBindToken", "GenerateAccessToken"].repeat(2));
}
