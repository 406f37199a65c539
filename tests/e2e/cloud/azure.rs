//! Azure Key Vault through the binary: the store names the real host names; `SESAME_AZURE_*` make
//! the binary trust the fake's test CA and pin those names to its port, so TLS, the 401
//! challenge and Entra ID's checks all run as against Azure.
#[path = "../../../providers/azure/tests/fake/mod.rs"]
mod fake;

use serde_json::{Value, json};

use super::*;
use fake::support::{CLIENT_ID, CLIENT_SECRET};
use fake::{Fake, LOGIN_HOST, Object, TENANT, VAULT_HOST, VAULT_URL};

const DB_JSON: &str = r#"{"user":"app","password":"az-pw-1"}"#;
const WI_CLIENT_ID: &str = "0b5e7c1a-2222-4d3e-8f90-a1b2c3d4e5f6";

async fn fake_vault() -> Fake {
    let fake = Fake::start().await;
    let tags = [("env", "prod"), ("team", "payments")].map(|(k, v)| (k.to_string(), v.to_string()));
    let db = Object { value: DB_JSON.into(), enabled: true, tags: tags.into(), ..Default::default() };
    fake.put_secret_with("db", db);
    fake.put_secret("api-token", "az-tok-1");
    fake
}

/// Trust the fake's CA, reach its host names on its port, and its IMDS as the plain-http proxy.
fn azure_env(scene: &Scene, fake: &Fake) -> Vec<(&'static str, String)> {
    let ca = std::env::temp_dir().join("sesame-e2e").join(format!("{}-azure-ca.pem", scene.ns));
    std::fs::create_dir_all(ca.parent().unwrap()).unwrap();
    std::fs::write(&ca, &fake.ca_pem).unwrap();
    vec![
        ("SESAME_AZURE_EXTRA_CA_FILE", ca.display().to_string()),
        ("SESAME_AZURE_RESOLVE", format!("{VAULT_HOST}={0},{LOGIN_HOST}={0}", fake.addr)),
        ("SESAME_AZURE_PLAIN_HTTP_PROXY", format!("http://{}", fake.imds_addr)),
    ]
}

/// A ServicePrincipal store, its client ID and secret in the Secret `azure-sp`.
async fn service_principal_store(scene: &Scene, fake: &Fake) {
    fake.add_app(TENANT, CLIENT_ID, CLIENT_SECRET);
    scene.plain_secret("azure-sp", &[("client-id", CLIENT_ID), ("client-secret", CLIENT_SECRET)]).await;
    let auth = json!({
        "clientId": {"name": "azure-sp", "key": "client-id"},
        "clientSecret": {"name": "azure-sp", "key": "client-secret"},
    });
    scene.store("azure", json!({"azurekv": {"vaultUrl": VAULT_URL, "tenantId": TENANT, "authSecretRef": auth}})).await;
}

fn one_key(secret_key: &str, remote: Value) -> Value {
    json!({"refreshInterval": "1h", "secretStoreRef": {"name": "azure"}, "data": [{"secretKey": secret_key, "remoteRef": remote}]})
}

#[tokio::test]
async fn azure_service_principal_syncs_a_secret_a_property_tags_extract_and_find() {
    let scene = Scene::new("e2e-az-sp").await;
    let fake = fake_vault().await;
    service_principal_store(&scene, &fake).await;
    let sesame = scene.sesame_with(&[], &borrowed(&azure_env(&scene, &fake)));

    scene
        .external_secret(
            "db",
            json!({
                "refreshInterval": "1h",
                "secretStoreRef": {"name": "azure"},
                "data": [
                    {"secretKey": "password", "remoteRef": {"key": "secret/db", "property": "password"}},
                    {"secretKey": "api-token", "remoteRef": {"key": "api-token"}},
                    {"secretKey": "env", "remoteRef": {"key": "secret/db", "metadataPolicy": "Fetch", "property": "env"}},
                ],
                "dataFrom": [{"extract": {"key": "secret/db"}}],
            }),
        )
        .await;
    scene
        .external_secret(
            "found",
            json!({"refreshInterval": "1h", "secretStoreRef": {"name": "azure"}, "dataFrom": [{"find": {"tags": {"team": "payments"}}}]}),
        )
        .await;

    let db = map(&[("password", "az-pw-1"), ("user", "app"), ("api-token", "az-tok-1"), ("env", "prod")]);
    wait_secret_data(&scene, &sesame, "db", &db).await;
    wait_secret_data(&scene, &sesame, "found", &map(&[("db", DB_JSON)])).await;
    let requests = fake.requests();
    assert!(
        requests.iter().any(|r| r.host == VAULT_HOST && !r.authorized && r.status == 401),
        "the SDK met the bearer challenge first: {requests:?}"
    );
    assert!(requests.iter().any(|r| r.host == LOGIN_HOST && r.status == 200), "Entra ID issued a token: {requests:?}");
    assert_not_logged(&sesame, &["az-pw-1", "az-tok-1", CLIENT_SECRET]);
    scene.delete_namespace().await;
}

#[tokio::test]
async fn azure_workload_identity_presents_a_real_apiserver_token_as_client_assertion() {
    let scene = Scene::new("e2e-az-wi").await;
    let fake = fake_vault().await;
    service_account(&scene, "sesame-wi", &[("azure.workload.identity/client-id", WI_CLIENT_ID)]).await;
    // Entra ID trusts the test cluster's issuer as a federated credential on the app.
    let issuer = &sesame_testsupport::env().kube_sa_issuer;
    let subject = format!("system:serviceaccount:{}:sesame-wi", scene.ns);
    fake.add_federated_app_with_jwks(TENANT, WI_CLIENT_ID, issuer, &apiserver_jwks(&scene).await, &subject);
    let store = json!({"azurekv": {
        "authType": "WorkloadIdentity", "vaultUrl": VAULT_URL, "tenantId": TENANT,
        // An extra audience is appended to api://AzureADTokenExchange (Entra ID refuses a token without it).
        "serviceAccountRef": {"name": "sesame-wi", "audiences": ["sesame-extra"]},
    }});
    scene.store("azure", store).await;
    let sesame = scene.sesame_with(&[], &borrowed(&azure_env(&scene, &fake)));

    scene.external_secret("db", one_key("password", json!({"key": "secret/db", "property": "password"}))).await;
    wait_secret_data(&scene, &sesame, "db", &map(&[("password", "az-pw-1")])).await;
    let principals: Vec<String> = fake.state().tokens.values().map(|t| t.principal.clone()).collect();
    assert!(principals.iter().any(|p| p == WI_CLIENT_ID), "the federated app got the token: {principals:?}");
    assert_not_logged(&sesame, &["az-pw-1"]);
    scene.delete_namespace().await;
}

#[tokio::test]
async fn azure_a_denied_or_deleted_secret_is_reported_and_the_synced_secrets_are_kept() {
    let scene = Scene::new("e2e-az-fail").await;
    let fake = fake_vault().await;
    service_principal_store(&scene, &fake).await;
    let sesame = scene.sesame_with(&[], &borrowed(&azure_env(&scene, &fake)));
    scene.external_secret("denied", one_key("password", json!({"key": "secret/db", "property": "password"}))).await;
    scene.external_secret("gone", one_key("token", json!({"key": "api-token"}))).await;
    let (password, token) = (map(&[("password", "az-pw-1")]), map(&[("token", "az-tok-1")]));
    wait_secret_data(&scene, &sesame, "denied", &password).await;
    wait_secret_data(&scene, &sesame, "gone", &token).await;

    // The access policy loses `db` (403); `api-token` is deleted (404).
    fake.deny(CLIENT_ID, "db");
    fake.state().secrets.remove("api-token");
    force_sync(&scene, "denied", "403").await;
    force_sync(&scene, "gone", "404").await;
    assert_failure_reported_and_secret_kept(&scene, &sesame, "denied", &password, "403 AccessDenied").await;
    assert_failure_reported_and_secret_kept(&scene, &sesame, "gone", &token, "404 SecretNotFound").await;
    assert_not_logged(&sesame, &["az-pw-1", "az-tok-1", CLIENT_SECRET]);
    scene.delete_namespace().await;
}

/// PushSecret on Key Vault secrets: push → read back → the rotated source is pushed → an
/// unmanaged secret is refused and untouched → `deletionPolicy: Delete` soft-deletes exactly what
/// was pushed.
#[tokio::test]
async fn azure_a_push_secret_round_trips_and_an_unmanaged_secret_is_refused_and_untouched() {
    let scene = Scene::new("e2e-az-push").await;
    let fake = fake_vault().await;
    fake.put_secret("theirs", "not ours");
    service_principal_store(&scene, &fake).await;
    scene.plain_secret("source", &[("user", "app"), ("password", "pw-1")]).await;
    let sesame = scene.sesame_with(&[], &borrowed(&azure_env(&scene, &fake)));
    let fake = std::sync::Arc::new(fake);
    crate::push_providers::round_trip(&scene, &sesame, "azure", "pushed", "theirs", |name| {
        let fake = fake.clone();
        async move { fake.state().secrets.get(&name).and_then(|versions| versions.last()).map(|o| o.value.clone()) }
    })
    .await;
    {
        let state = fake.state();
        assert_eq!(state.secrets["theirs"].len(), 1, "an unmanaged secret got a new version");
        assert!(state.secrets["theirs"][0].tags.is_empty(), "an unmanaged secret was tagged");
        assert!(state.deleted_secrets.contains_key("pushed"), "Delete is Key Vault's soft delete, as ESO");
    }
    assert_not_logged(&sesame, &["pw-1", "pw-2"]);
    scene.delete_namespace().await;
}

/// PKCS#1 of rcgen's RSA-2048 PKCS#8 key: the OCTET STRING that ends the PrivateKeyInfo, after
/// the 4-byte outer header, the version (3 bytes), the rsaEncryption AlgorithmIdentifier (15)
/// and its own 4-byte header. cert-manager writes `tls.key` this way by default.
fn pkcs1_of(pkcs8: &[u8]) -> Vec<u8> {
    assert_eq!((pkcs8[0], pkcs8[1], pkcs8[22], pkcs8[23]), (0x30, 0x82, 0x04, 0x82), "an RSA-2048 PKCS#8 key");
    pkcs8[26..].to_vec()
}

fn pem(label: &str, der: &[u8]) -> String {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let lines: Vec<&str> = b64.as_bytes().chunks(64).map(|c| std::str::from_utf8(c).unwrap()).collect();
    format!("-----BEGIN {label}-----\n{}\n-----END {label}-----\n", lines.join("\n"))
}

/// PushSecret of keys and certificates: a cert-manager-style `kubernetes.io/tls` Secret (RSA key
/// in PKCS#1) is imported to `cert/…` as a PEM bundle and, as ESO's docs show it, as PKCS#12 built
/// by `fullPemToPkcs12`; its key to `key/…` as a JWK. An ExternalSecret reads them back; a key and
/// a certificate Sesame does not manage are refused and untouched; `deletionPolicy: Delete`
/// soft-deletes exactly what was imported.
#[tokio::test]
async fn azure_push_secret_imports_a_tls_certificate_and_its_key_and_deletes_exactly_them() {
    use k8s_openapi::api::core::v1::Secret;
    use kube::api::{Api, PostParams};
    use sesame::api::PushSecret;

    let scene = Scene::new("e2e-az-push-kc").await;
    let fake = fake_vault().await;
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).unwrap();
    let cert = rcgen::CertificateParams::new(vec!["app.example".to_string()]).unwrap().self_signed(&key).unwrap();
    let theirs = rcgen::CertificateParams::new(vec!["theirs.example".to_string()]).unwrap().self_signed(&key).unwrap();
    fake.put_key("theirs-key", json!({"kty": "RSA", "n": "AQAB", "e": "AQAB"}), &[]);
    fake.put_cert("theirs-cert", theirs.der(), &[]);
    service_principal_store(&scene, &fake).await;
    let key_pem = pem("RSA PRIVATE KEY", &pkcs1_of(&key.serialize_der()));
    let tls = Secret {
        metadata: kube::api::ObjectMeta { name: Some("source".into()), ..Default::default() },
        type_: Some("kubernetes.io/tls".into()),
        data: Some(
            [("tls.crt", pem("CERTIFICATE", cert.der())), ("tls.key", key_pem.clone())]
                .map(|(k, v)| (k.to_string(), k8s_openapi::ByteString(v.into_bytes())))
                .into(),
        ),
        ..Default::default()
    };
    scene.secrets().create(&PostParams::default(), &tls).await.unwrap();
    let sesame = scene.sesame_with(&[], &borrowed(&azure_env(&scene, &fake)));

    let push = |name: &str, data: Value| {
        json!({
            "apiVersion": "external-secrets.io/v1alpha1", "kind": "PushSecret", "metadata": {"name": name, "namespace": scene.ns},
            "spec": {"refreshInterval": "1h", "deletionPolicy": "Delete", "secretStoreRefs": [{"name": "azure", "kind": "SecretStore"}],
                     "selector": {"secret": {"name": "source"}},
                     "template": {"engineVersion": "v2", "data": {
                         "bundle.pem": r#"{{ index . "tls.crt" | toString }}{{ index . "tls.key" | toString }}"#,
                         "cert.p12": r#"{{ fullPemToPkcs12 (index . "tls.crt" | toString) (index . "tls.key" | toString) | b64dec }}"#}},
                     "data": data},
        })
    };
    let entry = |secret_key: &str, remote: &str| json!({"match": {"secretKey": secret_key, "remoteRef": {"remoteKey": remote}}});
    let ours = json!([entry("bundle.pem", "cert/app-tls"), entry("cert.p12", "cert/app-p12"), entry("tls.key", "key/app-key")]);
    crate::push_secret::apply_push(&scene, push("push", ours)).await;
    crate::push_secret::ready(&scene, &sesame, "push", "True").await;

    let readback = json!({"refreshInterval": "1h", "secretStoreRef": {"name": "azure"}, "data": [
        {"secretKey": "tls", "remoteRef": {"key": "cert/app-tls"}},
        {"secretKey": "p12", "remoteRef": {"key": "cert/app-p12"}},
        {"secretKey": "jwk", "remoteRef": {"key": "key/app-key"}}]});
    scene.external_secret("readback", readback).await;
    let read = eventually(Duration::from_secs(30), || async { scene.secret("readback").await.and_then(|s| s.data).is_some() }).await;
    assert!(read, "the ExternalSecret never read the imported objects back\n{}", tail(&sesame.logs()));
    let data = scene.secret("readback").await.unwrap().data.unwrap();
    assert_eq!(data["tls"].0, cert.der().to_vec(), "cert/ reads the imported leaf (DER)");
    assert_eq!(data["p12"].0, cert.der().to_vec());
    let jwk: Value = serde_json::from_slice(&data["jwk"].0).unwrap();
    assert_eq!((jwk["kty"].as_str(), jwk.get("d")), (Some("RSA"), None), "{jwk}");
    assert_eq!(jwk["n"], fake.state().keys["app-key"][0].key.as_ref().unwrap()["n"]);
    {
        let state = fake.state();
        for versions in [&state.certs["app-tls"], &state.certs["app-p12"], &state.keys["app-key"]] {
            assert_eq!(versions.len(), 1, "imported once, however many reconciles");
            assert_eq!(versions[0].tags.get("managed-by").map(String::as_str), Some("external-secrets"));
        }
    }

    let hostile = json!([entry("tls.key", "key/theirs-key"), entry("bundle.pem", "cert/theirs-cert")]);
    crate::push_secret::apply_push(&scene, push("hostile", hostile)).await;
    let refused = crate::push_secret::ready(&scene, &sesame, "hostile", "False").await;
    let message = refused.status.unwrap().conditions[0].message.clone().unwrap_or_default();
    assert!(message.contains("not managed"), "{message}");

    let api: Api<PushSecret> = Api::namespaced(scene.client.clone(), &scene.ns);
    for name in ["push", "hostile"] {
        api.delete(name, &Default::default()).await.unwrap();
        let gone = eventually(Duration::from_secs(30), || async { api.get_opt(name).await.unwrap().is_none() }).await;
        assert!(gone, "the finalizer of {name} never let go\n{}", tail(&sesame.logs()));
    }
    {
        let state = fake.state();
        assert!(state.deleted_certs.contains_key("app-tls") && state.deleted_certs.contains_key("app-p12"));
        assert!(state.deleted_keys.contains_key("app-key"));
        assert!(!state.certs.contains_key("app-tls") && !state.keys.contains_key("app-key"));
        assert_eq!((state.keys["theirs-key"].len(), state.certs["theirs-cert"].len()), (1, 1), "an unmanaged object changed");
        assert!(state.keys["theirs-key"][0].tags.is_empty() && state.certs["theirs-cert"][0].tags.is_empty());
        assert!(!state.deleted_keys.contains_key("theirs-key") && !state.deleted_certs.contains_key("theirs-cert"));
    }
    let key_body = key_pem.lines().nth(1).unwrap().to_string();
    assert_not_logged(&sesame, &[key_body.as_str()]);
    scene.delete_namespace().await;
}
