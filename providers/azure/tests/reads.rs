//! What an ExternalSecret reads from Azure Key Vault: secrets, versions, tags, keys and
//! certificates, through the real SDK against the fake vault over HTTPS.
#![cfg(feature = "client")]
mod fake;

use fake::support::{service_principal_store, text};
use fake::{LOGIN_HOST, Object, TENANT, VAULT_HOST, now};
use sesame_provider_core::{MetadataPolicy, ProviderError, RemoteKey};

#[tokio::test]
async fn a_secret_is_read_after_the_vault_challenge_with_a_service_principal_token() {
    let (fake, client, calls) = service_principal_store().await;
    fake.put_secret("db-password", "hunter2");

    let value = client.get_secret(&RemoteKey::new("db-password")).await.unwrap();

    assert_eq!(text(value), "hunter2");
    let seen: Vec<_> = fake.requests().into_iter().map(|r| (r.host, r.method, r.path, r.authorized, r.status)).collect();
    let token_path = format!("/{TENANT}/oauth2/v2.0/token");
    assert_eq!(
        seen,
        vec![
            // The first request goes out without a token and is challenged…
            (VAULT_HOST.to_string(), "GET".to_string(), "/secrets/db-password/".to_string(), false, 401),
            // …for a token of the challenge's resource, from the store's tenant…
            (LOGIN_HOST.to_string(), "POST".to_string(), token_path, false, 200),
            // …and is sent again with it.
            (VAULT_HOST.to_string(), "GET".to_string(), "/secrets/db-password/".to_string(), true, 200),
        ]
    );
    assert_eq!(calls.names(), vec!["GetSecret"]);
}

#[tokio::test]
async fn a_bare_name_and_the_secret_prefix_read_the_same_secret() {
    let (fake, client, _) = service_principal_store().await;
    fake.put_secret("api-token", "t0k3n");

    let bare = client.get_secret(&RemoteKey::new("api-token")).await.unwrap();
    let prefixed = client.get_secret(&RemoteKey::new("secret/api-token")).await.unwrap();

    assert_eq!(text(bare), "t0k3n");
    assert_eq!(text(prefixed), "t0k3n");
}

#[tokio::test]
async fn a_version_reads_that_version_and_no_version_reads_the_current_one() {
    let (fake, client, _) = service_principal_store().await;
    let first = fake.put_secret("rotating", "v1");
    fake.put_secret("rotating", "v2");

    let current = client.get_secret(&RemoteKey::new("rotating")).await.unwrap();
    let old = client.get_secret(&RemoteKey::new("rotating").with_version(Some(first.clone()))).await.unwrap();

    assert_eq!(text(current), "v2");
    assert_eq!(text(old), "v1");
    assert!(fake.requests().iter().any(|r| r.path == format!("/secrets/rotating/{first}")));
}

#[tokio::test]
async fn the_whole_value_is_returned_and_property_is_left_to_the_controller() {
    let (fake, client, _) = service_principal_store().await;
    fake.put_secret("db", r#"{"user":"app","password":"pw"}"#);

    let value = client.get_secret(&RemoteKey::new("db")).await.unwrap();

    assert_eq!(text(value.clone()), r#"{"user":"app","password":"pw"}"#);
    let password = sesame_provider_core::property::extract(value.as_bytes(), "password", "db").unwrap();
    assert_eq!(text(password), "pw");
}

#[tokio::test]
async fn metadata_fetch_returns_the_tags_and_dates_as_one_json_object() {
    let (fake, client, _) = service_principal_store().await;
    let tags = [("team", "payments"), ("env", "prod")].iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    fake.put_secret_with("tagged", Object { value: "x".into(), enabled: true, tags, exp: Some(1_900_000_000), ..Default::default() });

    let key = RemoteKey::new("tagged").with_metadata(MetadataPolicy::Fetch);
    let json: serde_json::Value = serde_json::from_slice(client.get_secret(&key).await.unwrap().as_bytes()).unwrap();

    assert_eq!(json["team"], "payments");
    assert_eq!(json["env"], "prod");
    assert_eq!(json["attribute.expires"], "2030-03-17T17:46:40Z");
    assert!(json["attribute.created"].is_string());
}

#[tokio::test]
async fn a_disabled_secret_is_reported_as_disabled_not_as_a_permission_problem() {
    let (fake, client, _) = service_principal_store().await;
    fake.put_secret_with("retired", Object { value: "old".into(), enabled: false, ..Default::default() });

    let err = client.get_secret(&RemoteKey::new("retired")).await.unwrap_err();

    let ProviderError::Invalid(message) = &err else { panic!("expected Invalid, got {err:?}") };
    assert!(message.starts_with("secret retired is disabled in the vault"), "{message}");
    assert!(message.contains("SecretDisabled"), "{message}");
    assert!(!message.contains("old"));
}

#[tokio::test]
async fn an_expired_or_not_yet_valid_secret_is_still_served_as_key_vault_serves_it() {
    let (fake, client, _) = service_principal_store().await;
    fake.put_secret_with("expired", Object { value: "late".into(), enabled: true, exp: Some(now() - 60), ..Default::default() });
    fake.put_secret_with("early", Object { value: "soon".into(), enabled: true, nbf: Some(now() + 3600), ..Default::default() });

    assert_eq!(text(client.get_secret(&RemoteKey::new("expired")).await.unwrap()), "late");
    assert_eq!(text(client.get_secret(&RemoteKey::new("early")).await.unwrap()), "soon");
}

#[tokio::test]
async fn a_key_is_returned_as_its_json_web_key() {
    let (fake, client, calls) = service_principal_store().await;
    let jwk = serde_json::json!({"kty": "RSA", "key_ops": ["verify"], "n": "sXch3Tr1yB6XjlQlk2aVqNwoa0zyp5nu0-ESGa9ytCM", "e": "AQAB"});
    let version = fake.put_key("signing", jwk, &[("use", "jwt")]);

    let value = client.get_secret(&RemoteKey::new("key/signing")).await.unwrap();

    let got: serde_json::Value = serde_json::from_slice(value.as_bytes()).unwrap();
    assert_eq!(got["kty"], "RSA");
    assert_eq!(got["n"], "sXch3Tr1yB6XjlQlk2aVqNwoa0zyp5nu0-ESGa9ytCM");
    assert_eq!(got["e"], "AQAB");
    assert_eq!(got["key_ops"], serde_json::json!(["verify"]));
    assert_eq!(got["kid"], format!("https://{VAULT_HOST}/keys/signing/{version}"));
    let tags = client.get_secret(&RemoteKey::new("key/signing").with_metadata(MetadataPolicy::Fetch)).await.unwrap();
    assert_eq!(serde_json::from_slice::<serde_json::Value>(tags.as_bytes()).unwrap()["use"], "jwt");
    assert_eq!(calls.names(), vec!["GetKey", "GetKey"]);
}

#[tokio::test]
async fn a_certificate_is_returned_as_its_der_bytes_at_any_version() {
    let (fake, client, calls) = service_principal_store().await;
    let old = rcgen::generate_simple_self_signed(vec!["old.example".to_string()]).unwrap().cert.der().to_vec();
    let new = rcgen::generate_simple_self_signed(vec!["new.example".to_string()]).unwrap().cert.der().to_vec();
    let old_version = fake.put_cert("tls", &old, &[]);
    fake.put_cert("tls", &new, &[]);

    let current = client.get_secret(&RemoteKey::new("cert/tls")).await.unwrap();
    let previous = client.get_secret(&RemoteKey::new("cert/tls").with_version(Some(old_version))).await.unwrap();

    assert_eq!(current.as_bytes(), new.as_slice());
    assert_eq!(previous.as_bytes(), old.as_slice());
    assert_eq!(calls.names(), vec!["GetCertificate", "GetCertificate"]);
}

#[tokio::test]
async fn unknown_object_types_and_unsafe_names_are_refused_before_any_call() {
    let (fake, client, calls) = service_principal_store().await;

    for key in ["blob/x", "../secrets/other", "a b", "secret/"] {
        let err = client.get_secret(&RemoteKey::new(key)).await.unwrap_err();
        assert!(matches!(err, ProviderError::Invalid(_)), "{key}: {err:?}");
    }
    let bad_version = RemoteKey::new("db").with_version(Some("../../keys/x".into()));
    assert!(matches!(client.get_secret(&bad_version).await, Err(ProviderError::Invalid(_))));
    assert!(fake.requests().is_empty());
    assert!(calls.names().is_empty());
}

#[tokio::test]
async fn find_pages_through_next_link_and_keeps_enabled_secrets_matching_name_and_tags() {
    let (fake, client, calls) = service_principal_store().await;
    fake.state().page_size = 2;
    let tagged = |team: &str| [("team".to_string(), team.to_string())].into_iter().collect();
    for (name, team) in [("app-db", "pay"), ("app-api", "pay"), ("app-cache", "ops"), ("other-db", "pay"), ("app-web", "pay")] {
        fake.put_secret_with(name, Object { value: format!("{name}-value"), enabled: true, tags: tagged(team), ..Default::default() });
    }
    fake.put_secret_with("app-old", Object { value: "x".into(), enabled: false, tags: tagged("pay"), ..Default::default() });

    let query = sesame_provider_core::FindQuery {
        name: Some(sesame_provider_core::FindName { regexp: "^app-".into() }),
        tags: [("team".to_string(), "pay".to_string())].into_iter().collect(),
        ..Default::default()
    };
    let found = client.find(&query, &sesame_provider_core::FindScope::unmetered()).await.unwrap();

    let found: Vec<(String, String)> = found.into_iter().map(|(k, v)| (k, text(v))).collect();
    assert_eq!(
        found,
        vec![
            ("app-api".to_string(), "app-api-value".to_string()),
            ("app-db".to_string(), "app-db-value".to_string()),
            ("app-web".to_string(), "app-web-value".to_string()),
        ]
    );
    // Six secrets, two per page: three listing calls, the later ones following nextLink.
    let listings: Vec<_> = fake.requests().into_iter().filter(|r| r.path == "/secrets" && r.status == 200).collect();
    assert_eq!(listings.len(), 3);
    assert!(listings[1].query.iter().any(|(k, _)| k == "$skiptoken"));
    let names = calls.names();
    assert_eq!(names.iter().filter(|c| *c == "GetSecrets").count(), 3);
    assert_eq!(names.iter().filter(|c| *c == "GetSecret").count(), 3);
}
