//! VaultDynamicSecret against the real OpenBao of the test environment (`tests/env/testenv up`):
//! a PKI engine issuing leased certificates, an AppRole login as the generator's auth, and the
//! lease revoked by cleanup.
#![forbid(unsafe_code)]

#[path = "../../../providers/vault/tests/common/mod.rs"]
mod common;

use std::sync::Arc;

use common::{Bao, Calls, Creds, approle, approle_auth, unique};
use serde_json::{Value, json};
use sesame_generator_core::{Generator, GeneratorContext, GeneratorError};
use sesame_generator_vault::{VaultDynamicSecret, VaultDynamicSecretSpec};
use sesame_provider_core::ProviderContext;
use sesame_provider_vault::VaultProvider;

/// A PKI mount with a role that leases what it issues; returns the mount.
async fn pki(bao: &Bao) -> String {
    let mount = unique("pki");
    bao.must("POST", &format!("sys/mounts/{mount}"), Some(json!({"type": "pki", "config": {"max_lease_ttl": "24h"}}))).await;
    bao.must("POST", &format!("{mount}/root/generate/internal"), Some(json!({"common_name": "example.com", "ttl": "24h"}))).await;
    let role = json!({"allowed_domains": "example.com", "allow_subdomains": true, "generate_lease": true, "max_ttl": "1h"});
    bao.must("POST", &format!("{mount}/roles/web"), Some(role)).await;
    mount
}

/// An AppRole whose tokens may issue from `mount` and revoke leases; the generator's provider
/// spec and its context.
async fn login(bao: &Bao, mount: &str, may_revoke: bool) -> (VaultProvider, GeneratorContext, Arc<Calls>) {
    let policy = unique("issuer");
    let mut hcl = format!("path \"{mount}/issue/web\" {{ capabilities = [\"update\"] }}\n");
    if may_revoke {
        hcl.push_str("path \"sys/leases/revoke\" { capabilities = [\"update\"] }\n");
    }
    bao.must("PUT", &format!("sys/policies/acl/{policy}"), Some(json!({ "policy": hcl }))).await;
    let (auth_mount, role_id, secret_id) = approle(bao, &[&policy], json!({})).await;
    let provider = VaultProvider { server: bao.addr.clone(), auth: Some(approle_auth(&auth_mount, &role_id)), ..Default::default() };
    let calls = Arc::new(Calls::default());
    let creds = Creds::with(&[("approle", "secret-id", secret_id.as_bytes())]);
    let ctx =
        GeneratorContext { namespace: "tenant".into(), provider: ProviderContext { credentials: Arc::new(creds), calls: calls.clone() } };
    (provider, ctx, calls)
}

fn generator(provider: &VaultProvider, extra: Value) -> VaultDynamicSecret {
    let mut spec = json!({ "provider": provider });
    spec.as_object_mut().unwrap().extend(extra.as_object().cloned().unwrap());
    VaultDynamicSecret::new(serde_json::from_value::<VaultDynamicSecretSpec>(spec).unwrap()).unwrap()
}

async fn lease_alive(bao: &Bao, id: &str) -> bool {
    let (status, answer) = bao.call("PUT", "sys/leases/lookup", Some(json!({ "lease_id": id }))).await;
    assert!(status == 200 || status == 400, "lease lookup answered {status}: {answer}");
    status == 200
}

#[tokio::test]
async fn a_leased_certificate_is_generated_and_its_lease_revoked_by_cleanup() {
    let bao = Bao::root().await;
    let mount = pki(&bao).await;
    let (provider, ctx, calls) = login(&bao, &mount, true).await;
    let g = generator(
        &provider,
        json!({"method": "POST", "path": format!("{mount}/issue/web"), "parameters": {"common_name": "a.example.com", "ttl": "10m"}}),
    );

    let out = g.generate(&ctx).await.unwrap();
    let cert = String::from_utf8(out.data["certificate"].clone()).unwrap();
    assert!(cert.starts_with("-----BEGIN CERTIFICATE-----"), "{cert}");
    assert!(String::from_utf8(out.data["private_key"].clone()).unwrap().contains("PRIVATE KEY"));
    assert!(out.data.contains_key("serial_number") && out.data.contains_key("issuing_ca"));
    let state = out.state.expect("a leased response leaves a state");
    let lease = state["leaseId"].as_str().unwrap().to_string();
    assert!(lease.starts_with(&format!("{mount}/issue/web/")), "{lease}");
    assert!(lease_alive(&bao, &lease).await, "the lease outlives the generation (its login token is not revoked)");
    assert_eq!((calls.count("Login"), calls.count("WriteDynamicSecret")), (1, 1));

    // Every call is a new certificate.
    let again = g.generate(&ctx).await.unwrap();
    assert_ne!(again.data["serial_number"], out.data["serial_number"]);
    assert_ne!(again.state, Some(state.clone()));

    g.cleanup(&state, &ctx).await.unwrap();
    assert!(!lease_alive(&bao, &lease).await, "cleanup revoked the lease");
    assert!(lease_alive(&bao, again.state.as_ref().unwrap()["leaseId"].as_str().unwrap()).await, "only that lease");
    assert_eq!(calls.count("RevokeLease"), 1);
    assert_eq!(calls.count("RevokeSelf"), 1, "the cleanup's own login token is revoked");
    // Cleaning up what is already gone is not an error.
    g.cleanup(&state, &ctx).await.unwrap();
}

#[tokio::test]
async fn a_refused_revoke_is_an_auth_error_and_the_lease_stays() {
    let bao = Bao::root().await;
    let mount = pki(&bao).await;
    let (provider, ctx, _) = login(&bao, &mount, false).await;
    let g = generator(
        &provider,
        json!({"method": "POST", "path": format!("{mount}/issue/web"), "parameters": {"common_name": "b.example.com"}}),
    );
    let state = g.generate(&ctx).await.unwrap().state.unwrap();
    let err = g.cleanup(&state, &ctx).await.unwrap_err();
    assert!(matches!(err, GeneratorError::Auth(_)), "{err}");
    assert!(lease_alive(&bao, state["leaseId"].as_str().unwrap()).await);
}

#[tokio::test]
async fn auth_and_raw_result_types_and_empty_responses() {
    let bao = Bao::root().await;
    let policy = unique("tokens");
    let hcl = "path \"auth/token/create\" { capabilities = [\"update\"] }\npath \"secret-nothing/*\" { capabilities = [\"read\"] }";
    bao.must("PUT", &format!("sys/policies/acl/{policy}"), Some(json!({ "policy": hcl }))).await;
    let token = bao.token(&[&policy], json!({})).await;
    let provider = VaultProvider {
        server: bao.addr.clone(),
        auth: Some(sesame_provider_vault::VaultAuth { token_secret_ref: Some(common::sel("vault-token", "token")), ..Default::default() }),
        ..Default::default()
    };
    let creds = Creds::with(&[("vault-token", "token", token.as_bytes())]);
    let ctx = GeneratorContext {
        namespace: "tenant".into(),
        provider: ProviderContext { credentials: Arc::new(creds), calls: Arc::new(Calls::default()) },
    };

    let create =
        json!({"method": "POST", "path": "auth/token/create", "parameters": {"policies": ["default"], "ttl": "5m"}, "resultType": "Auth"});
    let out = generator(&provider, create).generate(&ctx).await.unwrap();
    let child = String::from_utf8(out.data["client_token"].clone()).unwrap();
    assert!(bao.token_alive(&child).await);
    assert_eq!(out.data["renewable"], b"true");
    assert!(String::from_utf8(out.data["policies"].clone()).unwrap().starts_with('['));

    let raw =
        json!({"method": "POST", "path": "auth/token/create", "parameters": {"ttl": "5m", "policies": ["default"]}, "resultType": "Raw"});
    let out = generator(&provider, raw).generate(&ctx).await.unwrap();
    assert!(String::from_utf8(out.data["auth"].clone()).unwrap().contains("client_token"));
    assert!(out.data.contains_key("request_id"));

    // Nothing at a GET path: an error, unless allowEmptyResponse.
    let missing = json!({"path": "secret-nothing/here"});
    let err = generator(&provider, missing.clone()).generate(&ctx).await.unwrap_err();
    assert!(err.to_string().contains("empty response"), "{err}");
    let mut allowed = missing;
    allowed["allowEmptyResponse"] = json!(true);
    assert!(generator(&provider, allowed).generate(&ctx).await.unwrap().data.is_empty());

    // A path the token may not use.
    let err = generator(&provider, json!({"path": "sys/raw/anything"})).generate(&ctx).await.unwrap_err();
    assert!(matches!(err, GeneratorError::Auth(_)), "{err}");
}
