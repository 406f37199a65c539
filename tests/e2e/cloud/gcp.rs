//! GCP Secret Manager through the binary: `SESAME_GCP_*_ENDPOINT` point the real SDK at the fake.
#[path = "../../../providers/gcp/tests/fake/mod.rs"]
mod fake;

use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

use super::*;
use fake::FakeGcp;

const PROJECT: &str = "acme-prod";
const READER: &str = "reader@acme-prod.iam.gserviceaccount.com";
const GSA: &str = "eso@acme-prod.iam.gserviceaccount.com";
const DB: &str = "projects/acme-prod/secrets/db";
const DB_JSON: &str = r#"{"user":"app","password":"gcp-pw-1"}"#;

async fn fake_gcp() -> FakeGcp {
    let fake = FakeGcp::start().await;
    fake.project(PROJECT, 123456789012);
    fake.secret(DB, &[("team", "payments")], &[("owner", "team-db")]);
    fake.version(DB, DB_JSON.as_bytes());
    fake
}

/// Every Google endpoint the provider calls, at the fake.
fn gcp_env(fake: &FakeGcp) -> Vec<(&'static str, String)> {
    ["SESAME_GCP_SECRETMANAGER_ENDPOINT", "SESAME_GCP_STS_ENDPOINT", "SESAME_GCP_IAMCREDENTIALS_ENDPOINT", "SESAME_GCP_OAUTH2_ENDPOINT"]
        .into_iter()
        .map(|var| (var, fake.url.clone()))
        .collect()
}

/// A store authenticating with a service-account key kept in the Secret `gcp-sa`; returns the
/// key's private PEM (for the leak check).
async fn key_store(scene: &Scene, fake: &FakeGcp) -> String {
    let key = fake.service_account(READER, PROJECT);
    fake.grant(PROJECT, &format!("serviceAccount:{READER}"));
    scene.plain_secret("gcp-sa", &[("sa.json", &key.json)]).await;
    let auth = json!({"secretRef": {"secretAccessKeySecretRef": {"name": "gcp-sa", "key": "sa.json"}}});
    scene.store("gcp", json!({"gcpsm": {"projectID": PROJECT, "auth": auth}})).await;
    key.key.pkcs8_pem()
}

fn password_of_db() -> Value {
    json!({"secretKey": "password", "remoteRef": {"key": "db", "property": "password"}})
}

#[tokio::test]
async fn gcp_service_account_key_syncs_properties_versions_metadata_extract_and_find() {
    let scene = Scene::new("e2e-gcp-key").await;
    let fake = fake_gcp().await;
    let token = "projects/acme-prod/secrets/api-token";
    fake.secret(token, &[("team", "payments")], &[]);
    fake.version(token, b"tok-v1");
    fake.version(token, b"tok-v2");
    fake.secret("projects/acme-prod/secrets/unrelated", &[], &[]);
    fake.version("projects/acme-prod/secrets/unrelated", b"other-value");
    let private_key = key_store(&scene, &fake).await;
    let sesame = scene.sesame_with(&[], &borrowed(&gcp_env(&fake)));

    scene
        .external_secret(
            "db",
            json!({
                "refreshInterval": "1h",
                "secretStoreRef": {"name": "gcp"},
                "data": [
                    password_of_db(),
                    {"secretKey": "api-token", "remoteRef": {"key": "api-token", "version": "1"}},
                    {"secretKey": "db-owner", "remoteRef": {"key": "db", "metadataPolicy": "Fetch", "property": "annotations.owner"}},
                ],
                "dataFrom": [{"extract": {"key": "db"}}],
            }),
        )
        .await;
    // find: by label (ListSecrets filter) and by name (regexp checked client-side); the remote
    // secret names become the keys.
    scene
        .external_secret(
            "found",
            json!({
                "refreshInterval": "1h",
                "secretStoreRef": {"name": "gcp"},
                "dataFrom": [{"find": {"tags": {"team": "payments"}}}, {"find": {"name": {"regexp": "^unrel"}}}],
            }),
        )
        .await;

    let db = map(&[("password", "gcp-pw-1"), ("user", "app"), ("api-token", "tok-v1"), ("db-owner", "team-db")]);
    wait_secret_data(&scene, &sesame, "db", &db).await;
    let found = map(&[("db", DB_JSON), ("api-token", "tok-v2"), ("unrelated", "other-value")]);
    wait_secret_data(&scene, &sesame, "found", &found).await;
    scene.wait_ready(&sesame, "db", "True", "SecretSynced").await;
    assert!(fake.count(":access") >= 3, "values come from AccessSecretVersion: {:?}", fake.requests());
    let key_line = private_key.lines().nth(1).unwrap();
    assert_not_logged(&sesame, &["gcp-pw-1", "tok-v1", "tok-v2", "other-value", key_line]);
    scene.delete_namespace().await;
}

#[tokio::test]
async fn gcp_workload_identity_exchanges_a_real_apiserver_token_at_sts_and_impersonates() {
    let scene = Scene::new("e2e-gcp-wi").await;
    let fake = fake_gcp().await;
    service_account(&scene, "eso-ksa", &[("iam.gke.io/gcp-service-account", GSA)]).await;
    // Google trusts the test cluster as it trusts a GKE cluster: by issuer and published keys.
    let issuer = &sesame_testsupport::env().kube_sa_issuer;
    fake.trust_cluster("acme-clusters", "europe-west1", "prod-1", issuer, apiserver_jwks(&scene).await);
    fake.allow_impersonation(GSA, &format!("serviceAccount:acme-clusters.svc.id.goog[{}/eso-ksa]", scene.ns));
    fake.grant(PROJECT, &format!("serviceAccount:{GSA}"));
    let wi = json!({
        // An extra audience is appended to the pool's (Google STS refuses a token without it).
        "serviceAccountRef": {"name": "eso-ksa", "audiences": ["sesame-extra"]},
        "clusterLocation": "europe-west1", "clusterName": "prod-1", "clusterProjectID": "acme-clusters",
    });
    scene.store("gcp", json!({"gcpsm": {"projectID": PROJECT, "auth": {"workloadIdentity": wi}}})).await;
    let sesame = scene.sesame_with(&[], &borrowed(&gcp_env(&fake)));

    scene.external_secret("db", json!({"refreshInterval": "1h", "secretStoreRef": {"name": "gcp"}, "data": [password_of_db()]})).await;
    wait_secret_data(&scene, &sesame, "db", &map(&[("password", "gcp-pw-1")])).await;
    assert!(fake.count("POST /v1/token") >= 1, "the KSA token went through STS: {:?}", fake.requests());
    assert!(fake.count(":generateAccessToken") >= 1, "the GSA was impersonated: {:?}", fake.requests());
    assert_not_logged(&sesame, &["gcp-pw-1"]);
    scene.delete_namespace().await;
}

#[tokio::test]
async fn gcp_workload_identity_federation_exchanges_a_real_token_for_the_store_and_a_gcr_generator() {
    let scene = Scene::new("e2e-gcp-wif").await;
    let fake = fake_gcp().await;
    let pool_provider = "//iam.googleapis.com/projects/42/locations/global/workloadIdentityPools/k8s/providers/test-cluster";
    let token_audience = format!("https:{pool_provider}");
    // The real apiserver is the OIDC identity provider of the pool: Google trusts its issuer
    // and the keys it publishes at /openid/v1/jwks.
    let issuer = &sesame_testsupport::env().kube_sa_issuer;
    let jwks = apiserver_jwks(&scene).await;
    let principal = fake.oidc_pool_provider(pool_provider, issuer, fake::Verifier::Jwks(jwks), &[]);
    fake.allow_impersonation(GSA, &format!("{principal}system:serviceaccount:{}:ci-ksa", scene.ns));
    fake.grant(PROJECT, &format!("serviceAccount:{GSA}"));
    service_account(&scene, "ci-ksa", &[]).await;
    let wif = json!({
        "serviceAccountRef": {"name": "ci-ksa", "audiences": [token_audience]},
        "audience": pool_provider,
        "gcpServiceAccountEmail": GSA,
    });
    scene.store("gcp", json!({"gcpsm": {"projectID": PROJECT, "auth": {"workloadIdentityFederation": wif}}})).await;
    let client = &scene.client;
    let gcr = |auth: Value| json!({"projectID": PROJECT, "auth": auth});
    crate::generators_cloud::apply_generator(
        client,
        &scene.ns,
        "GCRAccessToken",
        "gcraccesstokens",
        "gcr",
        gcr(json!({"workloadIdentityFederation": wif})),
    )
    .await;
    // No auth: the controller's application default credentials, refused to a namespaced generator.
    crate::generators_cloud::apply_generator(client, &scene.ns, "GCRAccessToken", "gcraccesstokens", "ambient", gcr(json!({}))).await;
    let sesame = scene.sesame_with(&[], &borrowed(&gcp_env(&fake)));

    scene.external_secret("db", json!({"refreshInterval": "1h", "secretStoreRef": {"name": "gcp"}, "data": [password_of_db()]})).await;
    wait_secret_data(&scene, &sesame, "db", &map(&[("password", "gcp-pw-1")])).await;
    // Each generator object also reads one key through this test's store, which makes it this
    // controller class's alone: an ExternalSecret naming no store is every controller's (as in
    // ESO), and other tests run cluster-wide controllers without the fake's endpoints.
    let ours = json!({"secretKey": "db", "remoteRef": {"key": "db", "property": "password"}});
    let gcr_es = json!({
        "refreshInterval": "1h", "secretStoreRef": {"name": "gcp"}, "data": [ours.clone()],
        "dataFrom": [crate::generators_cloud::from_generator("GCRAccessToken", "gcr")],
    });
    scene.external_secret("registry", gcr_es).await;
    scene.wait_ready(&sesame, "registry", "True", "SecretSynced").await;
    let login = scene.secret_data("registry").await.unwrap();
    assert_eq!(login["username"], "oauth2accesstoken");
    assert_eq!(login["db"], "gcp-pw-1", "the store's key beside the generator's");
    let issued = fake.lock().tokens.get(&login["password"]).cloned().expect("a token the fake issued");
    assert_eq!(issued.0, format!("serviceAccount:{GSA}"), "the impersonated service account's token");
    assert!((login["expiry"].parse::<i64>().unwrap() - issued.1).abs() <= 5);

    let ambient = json!({
        "refreshInterval": "1h", "secretStoreRef": {"name": "gcp"}, "data": [ours],
        "dataFrom": [crate::generators_cloud::from_generator("GCRAccessToken", "ambient")],
    });
    scene.external_secret("ambient", ambient).await;
    let es = scene.wait_ready(&sesame, "ambient", "False", "SecretSyncedError").await;
    let message = ready_condition(&es).unwrap().2;
    assert!(message.contains("may not authenticate as the controller itself"), "{message}");
    assert!(scene.secret("ambient").await.is_none());
    assert!(fake.count("POST /v1/token") >= 2, "store and generator went through STS: {:?}", fake.requests());
    assert_not_logged(&sesame, &["gcp-pw-1", &login["password"]]);
    scene.delete_namespace().await;
}

#[tokio::test]
async fn gcp_a_deleted_remote_secret_is_reported_and_the_synced_secret_is_kept() {
    let scene = Scene::new("e2e-gcp-gone").await;
    let fake = fake_gcp().await;
    key_store(&scene, &fake).await;
    let sesame = scene.sesame_with(&[], &borrowed(&gcp_env(&fake)));
    scene.external_secret("db", json!({"refreshInterval": "1h", "secretStoreRef": {"name": "gcp"}, "data": [password_of_db()]})).await;
    let synced = map(&[("password", "gcp-pw-1")]);
    wait_secret_data(&scene, &sesame, "db", &synced).await;

    fake.lock().secrets.remove(DB);
    force_sync(&scene, "db", "gone").await;
    assert_failure_reported_and_secret_kept(&scene, &sesame, "db", &synced, "NOT_FOUND").await;
    assert_not_logged(&sesame, &["gcp-pw-1"]);
    scene.delete_namespace().await;
}

/// The latest version of a secret of the fake, as text; None once the secret is gone.
fn latest(fake: &FakeGcp, id: &str) -> Option<String> {
    let state = fake.lock();
    let version = state.secrets.get(&format!("projects/{PROJECT}/secrets/{id}"))?.versions.last()?;
    Some(String::from_utf8_lossy(&version.data).into_owned())
}

/// PushSecret on Secret Manager: push → read back → the rotated source is pushed → an unmanaged
/// secret is refused and untouched → `deletionPolicy: Delete` removes exactly what was pushed.
#[tokio::test]
async fn gcp_a_push_secret_round_trips_and_an_unmanaged_secret_is_refused_and_untouched() {
    let scene = Scene::new("e2e-gcp-push").await;
    let fake = fake_gcp().await;
    let theirs = format!("projects/{PROJECT}/secrets/theirs");
    fake.secret(&theirs, &[("team", "db")], &[]);
    fake.version(&theirs, b"not ours");
    key_store(&scene, &fake).await;
    scene.plain_secret("source", &[("user", "app"), ("password", "pw-1")]).await;
    let sesame = scene.sesame_with(&[], &borrowed(&gcp_env(&fake)));
    let fake = std::sync::Arc::new(fake);
    crate::push_providers::round_trip(&scene, &sesame, "gcp", "pushed", "theirs", |id| {
        let fake = fake.clone();
        async move { latest(&fake, &id) }
    })
    .await;
    {
        let state = fake.lock();
        assert_eq!(state.secrets[&theirs].labels.get("team").map(String::as_str), Some("db"));
        assert!(!state.secrets[&theirs].labels.contains_key("managed-by"), "an unmanaged secret was labelled");
        assert_eq!(state.secrets[&theirs].versions.len(), 1);
    }
    assert!(fake.count(":addVersion") >= 2, "values went in as versions: {:?}", fake.requests());
    assert_not_logged(&sesame, &["pw-1", "pw-2"]);
    scene.delete_namespace().await;
}

/// Stands in for Vault's gcp auth method at `auth/gcp`, in front of the test environment's
/// OpenBao (which has no gcp plugin): a login is checked as Vault checks it (the JWT's `kid`
/// names a Google-managed key of its `sub`, the signature verifies with it, `aud` is
/// `vault/<role>`, it expires within 15 minutes, and `sub` is the service account the role
/// binds; a GCE instance's token, with its `google.compute_engine` claims, has an `aud` ending in
/// `vault/<role>` and lives up to an hour), then answered with a real OpenBao token; every other
/// request goes to OpenBao.
async fn vault_gcp_shim(fake: fake::Shared, role: String, bound: String, policy: String, logins: Arc<Mutex<Vec<Value>>>) -> String {
    use axum::http::{HeaderMap, Method, StatusCode, Uri};
    let handler = move |method: Method, uri: Uri, headers: HeaderMap, body: axum::body::Bytes| {
        let (fake, role, bound, policy, logins) = (fake.clone(), role.clone(), bound.clone(), policy.clone(), logins.clone());
        async move {
            let env = sesame_testsupport::env();
            let http = sesame_provider_http::reqwest::Client::new();
            if method == Method::POST && uri.path() == "/v1/auth/gcp/login" {
                let login: Value = serde_json::from_slice(&body).unwrap_or_default();
                logins.lock().unwrap().push(login.clone());
                let jwt = fake::jwt::Jwt::parse(login["jwt"].as_str().unwrap_or_default());
                let valid = jwt.is_some_and(|jwt| {
                    let sub = jwt.claims["sub"].as_str().unwrap_or_default().to_string();
                    let key = fake.lock().unwrap().google_keys.get(&sub).cloned();
                    let signed = key.is_some_and(|(kid, key)| jwt.header["kid"] == kid.as_str() && jwt.verify(&key.public_der));
                    let ttl = jwt.claims["exp"].as_i64().unwrap_or_default() - fake::jwt::now();
                    let gce = jwt.claims["google"]["compute_engine"].is_object();
                    let aud = jwt.claims["aud"].as_str().unwrap_or_default();
                    let (aud_ok, max_ttl) = match gce {
                        true => (aud.ends_with(&format!("/vault/{role}")), 3600),
                        false => (aud == format!("vault/{role}"), 900),
                    };
                    signed && aud_ok && (1..=max_ttl).contains(&ttl) && sub == bound && login["role"] == role.as_str()
                });
                if !valid {
                    return (StatusCode::BAD_REQUEST, axum::Json(json!({"errors": ["unable to verify the JWT for this role"]})));
                }
                let created: Value = http
                    .post(format!("{}/v1/auth/token/create", env.vault_addr))
                    .header("X-Vault-Token", &env.vault_token)
                    .json(&json!({"policies": [policy], "ttl": "1h"}))
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                let envelope = json!({"request_id": "", "lease_id": "", "renewable": false, "lease_duration": 0, "data": null, "wrap_info": null, "warnings": null, "auth": created["auth"]});
                return (StatusCode::OK, axum::Json(envelope));
            }
            let mut forward = http.request(method, format!("{}{}", env.vault_addr, uri)).body(body.to_vec());
            if let Some(token) = headers.get("x-vault-token") {
                forward = forward.header("X-Vault-Token", token.clone());
            }
            let answer = forward.send().await.unwrap();
            let status = StatusCode::from_u16(answer.status().as_u16()).unwrap();
            (status, axum::Json(answer.json::<Value>().await.unwrap_or(Value::Null)))
        }
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, axum::Router::new().fallback(handler)).await.unwrap() });
    url
}

#[tokio::test]
async fn vault_gcp_auth_logs_in_with_a_jwt_google_signed_for_the_keys_service_account() {
    // What is not real: OpenBao has no gcp auth plugin; `vault_gcp_shim` does its checks.
    let scene = Scene::new("e2e-vault-gcp").await;
    let env = sesame_testsupport::env();
    let fake = fake_gcp().await;
    let key = fake.service_account(READER, PROJECT);
    scene.plain_secret("gcp-sa", &[("sa.json", &key.json)]).await;
    let settings = vaultrs::client::VaultClientSettingsBuilder::default().address(&env.vault_addr).token(&env.vault_token).build().unwrap();
    let bao = vaultrs::client::VaultClient::new(settings).unwrap();
    let policy = format!("path \"secret/data/{}/*\" {{ capabilities = [\"read\"] }}", scene.ns);
    vaultrs::sys::policy::set(&bao, &scene.ns, &policy).await.expect("write the policy");
    let data: std::collections::BTreeMap<&str, &str> = [("password", "from-vault-gcp")].into();
    vaultrs::kv2::set(&bao, "secret", &format!("{}/db", scene.ns), &data).await.expect("write the secret");
    let logins = Arc::new(Mutex::new(Vec::new()));
    let shim = vault_gcp_shim(fake.state.clone(), "reader".into(), READER.into(), scene.ns.clone(), logins.clone()).await;

    let auth = json!({"gcp": {"role": "reader", "projectID": PROJECT, "secretRef": {"secretAccessKeySecretRef": {"name": "gcp-sa", "key": "sa.json"}}}});
    scene.store("bao", json!({"vault": {"server": shim, "path": "secret", "version": "v2", "auth": auth}})).await;
    let sesame = scene.sesame_with(&[], &borrowed(&gcp_env(&fake)));
    let remote = json!({"key": format!("{}/db", scene.ns), "property": "password"});
    scene
        .external_secret(
            "db",
            json!({"refreshInterval": "1h", "secretStoreRef": {"name": "bao"}, "data": [{"secretKey": "password", "remoteRef": remote}]}),
        )
        .await;
    wait_secret_data(&scene, &sesame, "db", &map(&[("password", "from-vault-gcp")])).await;

    let logins = logins.lock().unwrap().clone();
    assert!(!logins.is_empty() && logins.iter().all(|l| l["role"] == "reader"), "{logins:?}");
    assert!(
        fake.count("POST /token") >= 1 && fake.count(":signJwt") >= 1,
        "the key got a token, the token a signed JWT: {:?}",
        fake.requests()
    );
    let key_line = key.key.pkcs8_pem().lines().nth(1).unwrap().to_string();
    assert_not_logged(&sesame, &["from-vault-gcp", &key_line, logins[0]["jwt"].as_str().unwrap()]);
    scene.delete_namespace().await;
}

#[tokio::test]
async fn gcp_a_cluster_gcr_generator_without_auth_uses_the_controllers_application_default_credentials() {
    let scene = Scene::new("e2e-gcp-adc").await;
    let fake = fake_gcp().await;
    let node = "serviceAccount:node@acme-clusters.iam.gserviceaccount.com";
    fake.lock().mds_principal = Some(node.into());
    let name = format!("{}-gcr", scene.ns);
    let spec = json!({"kind": "GCRAccessToken", "generator": {"gcrAccessTokenSpec": {"projectID": PROJECT, "auth": {}}}});
    crate::generators::apply_generator(&scene.client, None, "ClusterGenerator", "clustergenerators", &name, spec).await;
    // The controller's own environment: the metadata server (GKE, GCE) at the fake.
    let mut env = gcp_env(&fake);
    env.push(("GCE_METADATA_HOST", fake.url.trim_start_matches("http://").to_string()));
    scene.fake_store("store", &[("/marker", "m")]).await;
    let sesame = scene.sesame_with(&[], &borrowed(&env));

    // One entry from the scene's store ties the object to this controller class: a cluster-wide
    // sesame of another test, without this environment, would otherwise sync it too.
    let es = json!({"refreshInterval": "1h", "secretStoreRef": {"name": "store"},
        "data": [{"secretKey": "marker", "remoteRef": {"key": "/marker"}}],
        "dataFrom": [crate::generators_cloud::from_generator("ClusterGenerator", &name)]});
    scene.external_secret("registry", es).await;
    scene.wait_ready(&sesame, "registry", "True", "SecretSynced").await;
    let login = scene.secret_data("registry").await.unwrap();
    assert_eq!(login["username"], "oauth2accesstoken");
    let issued = fake.lock().tokens.get(&login["password"]).cloned().expect("a token the fake's metadata server issued");
    assert_eq!(issued.0, node, "the controller's own identity, allowed to a ClusterGenerator");
    let expiry: i64 = login["expiry"].parse().unwrap();
    assert!(expiry <= issued.1, "the reported expiry is a lower bound of the token's");
    assert!(fake.count("/computeMetadata/v1/instance/service-accounts/default/token") >= 1, "{:?}", fake.requests());

    let gvk = kube::api::GroupVersionKind::gvk("generators.external-secrets.io", "v1alpha1", "ClusterGenerator");
    let api: kube::Api<kube::api::DynamicObject> =
        kube::Api::all_with(scene.client.clone(), &kube::api::ApiResource::from_gvk_with_plural(&gvk, "clustergenerators"));
    let _ = api.delete(&name, &Default::default()).await;
    scene.delete_namespace().await;
}

#[tokio::test]
async fn vault_gcp_gce_login_uses_the_metadata_servers_identity_for_a_cluster_store_only() {
    // What is not real: OpenBao has no gcp auth plugin (`vault_gcp_shim`), GCE is the fake's
    // metadata server.
    let scene = Scene::new("e2e-vault-gce").await;
    let env = sesame_testsupport::env();
    let fake = fake_gcp().await;
    let node = "node@acme-clusters.iam.gserviceaccount.com";
    fake.lock().mds_principal = Some(format!("serviceAccount:{node}"));
    let settings = vaultrs::client::VaultClientSettingsBuilder::default().address(&env.vault_addr).token(&env.vault_token).build().unwrap();
    let bao = vaultrs::client::VaultClient::new(settings).unwrap();
    let policy = format!("path \"secret/data/{}/*\" {{ capabilities = [\"read\"] }}", scene.ns);
    vaultrs::sys::policy::set(&bao, &scene.ns, &policy).await.expect("write the policy");
    let data: std::collections::BTreeMap<&str, &str> = [("password", "from-vault-gce")].into();
    vaultrs::kv2::set(&bao, "secret", &format!("{}/db", scene.ns), &data).await.expect("write the secret");
    let logins = Arc::new(Mutex::new(Vec::new()));
    let shim = vault_gcp_shim(fake.state.clone(), "reader".into(), node.into(), scene.ns.clone(), logins.clone()).await;

    // ESO's GCE login: serviceAccountRef alone names no credentials of its own.
    let vault = json!({"vault": {"server": shim, "path": "secret", "version": "v2",
        "auth": {"gcp": {"role": "reader", "serviceAccountRef": {"name": "default"}}}}});
    let css = format!("{}-gce", scene.ns);
    let cluster = json!({"apiVersion": "external-secrets.io/v1", "kind": "ClusterSecretStore", "metadata": {"name": css},
        "spec": {"controller": scene.class, "provider": vault}});
    apply(&scene.client, "", "clustersecretstores", &css, cluster).await;
    scene.store("tenant", vault).await;
    let mut env_vars = gcp_env(&fake);
    env_vars.push(("GCE_METADATA_HOST", fake.url.trim_start_matches("http://").to_string()));
    let sesame = scene.sesame_with(&[], &borrowed(&env_vars));

    let remote = json!({"key": format!("{}/db", scene.ns), "property": "password"});
    let es = |kind: &str, store: &str| json!({"refreshInterval": "1h", "secretStoreRef": {"name": store, "kind": kind}, "data": [{"secretKey": "password", "remoteRef": remote}]});
    scene.external_secret("db", es("ClusterSecretStore", &css)).await;
    wait_secret_data(&scene, &sesame, "db", &map(&[("password", "from-vault-gce")])).await;
    let jwt = {
        let logins = logins.lock().unwrap();
        assert!(!logins.is_empty() && logins.iter().all(|l| l["role"] == "reader"), "{logins:?}");
        logins[0]["jwt"].as_str().unwrap().to_string()
    };
    let claims = fake::jwt::Jwt::parse(&jwt).unwrap().claims;
    assert_eq!(claims["aud"], format!("{}/vault/reader", shim.trim_end_matches('/')), "the audience Vault's Go client asks");
    assert!(fake.count("/computeMetadata/v1/instance/service-accounts/default/identity") >= 1, "{:?}", fake.requests());

    // A tenant's SecretStore may not log in as the controller's instance.
    scene.external_secret("tenant", es("SecretStore", "tenant")).await;
    let refused = scene.wait_ready(&sesame, "tenant", "False", "SecretSyncedError").await;
    assert!(scene.secret("tenant").await.is_none(), "{:?}", ready_condition(&refused));
    let tenant: sesame::api::SecretStore = scene.stores().get("tenant").await.unwrap();
    let message = tenant.status.and_then(|s| s.conditions.into_iter().next()).and_then(|c| c.message).unwrap_or_default();
    assert!(message.contains("may not authenticate as the controller itself") && message.contains("auth.gcp"), "{message}");
    assert_not_logged(&sesame, &["from-vault-gce", &jwt]);
    let api: kube::Api<sesame::api::ClusterSecretStore> = kube::Api::all(scene.client.clone());
    let _ = api.delete(&css, &Default::default()).await;
    scene.delete_namespace().await;
}
