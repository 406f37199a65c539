//! Every auth method that needs no Kubernetes, on the real OpenBao server; one login serves all
//! reads.
mod common;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use common::*;
use serde_json::json;
use sesame_provider_core::{ProviderError, RemoteKey};
use sesame_provider_vault::VaultKvVersion::V2;
use sesame_provider_vault::{VaultAppRole, VaultAuth, VaultJwtAuth, VaultUserPassAuth};

/// A KV v2 mount holding `app` = {"v": "ok"} and a policy reading it.
async fn readable_mount(bao: &Bao) -> (String, String) {
    let mount = bao.kv(V2).await;
    bao.put2(&mount, "app", json!({"v": "ok"})).await;
    let policy = bao.reader_policy(&mount).await;
    (mount, policy)
}

async fn reads_ok(provider: &dyn sesame_provider_core::SecretProvider) {
    let got = provider.get_secret(&RemoteKey::new("app")).await.expect("read after login");
    assert_eq!(json_of(got)["v"], "ok");
}

#[tokio::test]
async fn approle_logs_in_once_for_a_hundred_reads() {
    let bao = Bao::root().await;
    let (mount, policy) = readable_mount(&bao).await;
    let (auth, role_id, secret_id) = approle(&bao, &[&policy], json!({})).await;
    let creds = Creds::with(&[("approle", "secret-id", secret_id.as_bytes())]);
    let (provider, calls) = build(&store(&bao, &mount, V2, approle_auth(&auth, &role_id)), creds).await;

    provider.validate().await.expect("validate logs in and finds the mount");
    for _ in 0..50 {
        reads_ok(provider.as_ref()).await;
    }
    let batch: Vec<RemoteKey> = (0..50).map(|_| RemoteKey::new("app")).collect();
    assert!(provider.get_secrets(&batch).await.iter().all(|r| r.is_ok()));

    assert_eq!(calls.count("Login"), 1, "one login for validate + 100 reads");
    assert_eq!(calls.count("ReadSecretData"), 100);
    assert_eq!(live_logins(&bao, &auth).await, 1);
}

#[tokio::test]
async fn approle_reads_the_role_id_from_a_secret() {
    let bao = Bao::root().await;
    let (mount, policy) = readable_mount(&bao).await;
    let (auth, role_id, secret_id) = approle(&bao, &[&policy], json!({})).await;
    let spec = store(
        &bao,
        &mount,
        V2,
        VaultAuth {
            app_role: Some(VaultAppRole {
                path: auth.clone(),
                role_id: None,
                role_ref: Some(sel("approle", "role-id")),
                secret_ref: sel("approle", "secret-id"),
            }),
            ..Default::default()
        },
    );
    let creds = Creds::with(&[("approle", "role-id", role_id.as_bytes()), ("approle", "secret-id", secret_id.as_bytes())]);
    let (provider, _) = build(&spec, creds).await;
    reads_ok(provider.as_ref()).await;
}

#[tokio::test]
async fn a_wrong_secret_id_is_an_auth_error_naming_the_mount_not_the_secret() {
    let bao = Bao::root().await;
    let (mount, policy) = readable_mount(&bao).await;
    let (auth, role_id, _) = approle(&bao, &[&policy], json!({})).await;
    let creds = Creds::with(&[("approle", "secret-id", b"wrong-secret-id-value")]);
    let (provider, calls) = build(&store(&bao, &mount, V2, approle_auth(&auth, &role_id)), creds).await;

    let err = provider.get_secret(&RemoteKey::new("app")).await.unwrap_err();
    assert!(matches!(err, ProviderError::Auth(_)), "{err}");
    assert!(err.to_string().contains(&auth) && !err.to_string().contains("wrong-secret-id-value"), "{err}");
    assert!(matches!(provider.validate().await, Err(ProviderError::Auth(_))));
    assert_eq!(calls.failed("Login"), 2);
}

#[tokio::test]
async fn userpass_logs_in_with_the_password_from_a_secret() {
    let bao = Bao::root().await;
    let (mount, policy) = readable_mount(&bao).await;
    let auth = bao.auth("userpass").await;
    bao.must("POST", &format!("auth/{auth}/users/sesame"), Some(json!({"password": "pa55word", "token_policies": [policy]}))).await;
    let spec = store(
        &bao,
        &mount,
        V2,
        VaultAuth {
            user_pass: Some(VaultUserPassAuth { path: auth.clone(), username: "sesame".into(), secret_ref: sel("up", "password") }),
            ..Default::default()
        },
    );
    let (provider, calls) = build(&spec, Creds::with(&[("up", "password", b"pa55word")])).await;
    reads_ok(provider.as_ref()).await;
    reads_ok(provider.as_ref()).await;
    assert_eq!(calls.count("Login"), 1);
}

/// A P-256 key pair: signs ES256 JWTs; its public key as the PEM OpenBao's jwt auth trusts.
struct JwtSigner {
    key: EcdsaKeyPair,
}

impl JwtSigner {
    fn new() -> Self {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        JwtSigner { key: EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref()).unwrap() }
    }

    fn public_pem(&self) -> String {
        // SubjectPublicKeyInfo for an uncompressed P-256 point.
        let mut der = hex_bytes("3059301306072a8648ce3d020106082a8648ce3d030107034200");
        der.extend_from_slice(self.key.public_key().as_ref());
        let b64 = STANDARD.encode(der);
        let lines: Vec<&str> = b64.as_bytes().chunks(64).map(|c| std::str::from_utf8(c).unwrap()).collect();
        format!("-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n", lines.join("\n"))
    }

    fn sign(&self, claims: serde_json::Value) -> String {
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"ES256","typ":"JWT"}"#);
        let body = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).unwrap());
        let input = format!("{header}.{body}");
        let sig = self.key.sign(&SystemRandom::new(), input.as_bytes()).unwrap();
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig.as_ref()))
    }
}

fn hex_bytes(hex: &str) -> Vec<u8> {
    (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap()).collect()
}

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

#[tokio::test]
async fn jwt_logs_in_with_a_locally_signed_token_from_a_secret() {
    let bao = Bao::root().await;
    let (mount, policy) = readable_mount(&bao).await;
    let signer = JwtSigner::new();
    let auth = bao.auth("jwt").await;
    bao.must("POST", &format!("auth/{auth}/config"), Some(json!({"jwt_validation_pubkeys": [signer.public_pem()]}))).await;
    bao.must(
        "POST",
        &format!("auth/{auth}/role/reader"),
        Some(json!({"role_type": "jwt", "bound_audiences": ["vault"], "user_claim": "sub", "token_policies": [policy]})),
    )
    .await;
    let jwt = signer.sign(json!({"sub": "sesame", "aud": "vault", "iat": now(), "nbf": now() - 5, "exp": now() + 600}));
    let spec = store(
        &bao,
        &mount,
        V2,
        VaultAuth {
            jwt: Some(VaultJwtAuth {
                path: auth.clone(),
                role: Some("reader".into()),
                secret_ref: Some(sel("jwt", "token")),
                kubernetes_service_account_token: None,
            }),
            ..Default::default()
        },
    );
    let (provider, calls) = build(&spec, Creds::with(&[("jwt", "token", jwt.as_bytes())])).await;
    reads_ok(provider.as_ref()).await;
    reads_ok(provider.as_ref()).await;
    assert_eq!(calls.count("Login"), 1);

    // A JWT signed by another key is refused.
    let forged = JwtSigner::new().sign(json!({"sub": "sesame", "aud": "vault", "exp": now() + 600}));
    let (provider, _) = build(&spec, Creds::with(&[("jwt", "token", forged.as_bytes())])).await;
    assert!(matches!(provider.get_secret(&RemoteKey::new("app")).await, Err(ProviderError::Auth(_))));
}

#[tokio::test]
async fn close_revokes_a_logged_in_token_but_never_a_token_from_a_secret() {
    let bao = Bao::root().await;
    let (mount, policy) = readable_mount(&bao).await;
    let (auth, role_id, secret_id) = approle(&bao, &[&policy], json!({})).await;
    let creds = Creds::with(&[("approle", "secret-id", secret_id.as_bytes())]);
    let (provider, calls) = build(&store(&bao, &mount, V2, approle_auth(&auth, &role_id)), creds).await;
    reads_ok(provider.as_ref()).await;
    assert_eq!(live_logins(&bao, &auth).await, 1);
    provider.close().await;
    assert_eq!(calls.count("RevokeSelf"), 1);
    assert_eq!(live_logins(&bao, &auth).await, 0, "close revoked the login token");

    let token = bao.token(&[&policy], json!({})).await;
    let (provider, calls) = build(&store(&bao, &mount, V2, token_auth()), Creds::with(&[("vault-token", "token", token.as_bytes())])).await;
    reads_ok(provider.as_ref()).await;
    provider.close().await;
    assert_eq!(calls.count("RevokeSelf"), 0);
    assert!(bao.token_alive(&token).await, "a tokenSecretRef token belongs to its owner");
}

#[tokio::test]
async fn namespaces_route_reads_and_the_auth_namespace_routes_the_login() {
    let bao = Bao::root().await;
    let ns = unique("ns");
    bao.must("POST", &format!("sys/namespaces/{ns}"), Some(json!({}))).await;
    let nsb = NsBao { bao: bao.clone(), ns: ns.clone() };
    nsb.must("POST", "sys/mounts/kv", json!({"type": "kv", "options": {"version": "2"}})).await;
    nsb.must("POST", "kv/data/app", json!({"data": {"v": "ok"}})).await;
    nsb.must("PUT", "sys/policies/acl/reader", json!({"policy": "path \"kv/*\" { capabilities = [\"read\"] }"})).await;
    nsb.must("POST", "sys/auth/approle", json!({"type": "approle"})).await;
    nsb.must("POST", "auth/approle/role/app", json!({"token_policies": ["reader"]})).await;
    let role_id = nsb.must("GET", "auth/approle/role/app/role-id", json!(null)).await["data"]["role_id"].as_str().unwrap().to_string();
    let secret_id = nsb.must("POST", "auth/approle/role/app/secret-id", json!({})).await["data"]["secret_id"].as_str().unwrap().to_string();

    let mut spec = store(&bao, "kv", V2, approle_auth("approle", &role_id));
    spec.namespace = Some(ns.clone());
    let (provider, _) = build(&spec, Creds::with(&[("approle", "secret-id", secret_id.as_bytes())])).await;
    reads_ok(provider.as_ref()).await;
    provider.validate().await.expect("the mount is found in the namespace");

    // auth.namespace sends the login elsewhere: a namespace without that approle refuses it.
    let other = unique("ns");
    bao.must("POST", &format!("sys/namespaces/{other}"), Some(json!({}))).await;
    let mut spec = spec.clone();
    spec.auth.as_mut().unwrap().namespace = Some(other);
    let (provider, _) = build(&spec, Creds::with(&[("approle", "secret-id", secret_id.as_bytes())])).await;
    assert!(matches!(provider.get_secret(&RemoteKey::new("app")).await, Err(ProviderError::Auth(_))));
}

/// Admin calls inside an OpenBao namespace.
struct NsBao {
    bao: Bao,
    ns: String,
}

impl NsBao {
    async fn must(&self, method: &str, path: &str, body: serde_json::Value) -> serde_json::Value {
        let body = if body.is_null() { None } else { Some(body) };
        self.bao.must(method, &format!("{}/{path}", self.ns), body).await
    }
}
