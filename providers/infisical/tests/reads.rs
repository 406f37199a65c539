//! The Infisical provider against the fake: every login method Sesame implements, single reads
//! by name and folder, find with imports and recursion, token renewal, and every error class.
//! The real request code runs.
mod fake;

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use fake::FakeInfisical;
use serde_json::{Value, json};
use sesame_provider_core::{
    CaProvider, CredentialSource, FindName, FindQuery, FindScope, NoCalls, ProviderContext, ProviderError, RemoteKey, SecretKeySelector,
    SecretProvider, SecretValue, ServiceAccountSelector,
};
use sesame_provider_infisical::InfisicalProvider;

/// The controller's side: the Secret `infisical` and its keys.
struct Creds(BTreeMap<String, String>);

#[async_trait]
impl CredentialSource for Creds {
    async fn secret_key(&self, sel: &SecretKeySelector, default: Option<&str>) -> Result<SecretValue, ProviderError> {
        assert_eq!(sel.name, "infisical");
        let key = sel.key.as_deref().or(default).unwrap();
        self.0.get(key).map(|v| SecretValue::from(v.as_str())).ok_or_else(|| ProviderError::Auth(format!("no key {key}")))
    }
    async fn service_account_token(&self, _: &ServiceAccountSelector, _: &[String], _: Option<i64>) -> Result<String, ProviderError> {
        unreachable!()
    }
    async fn service_account_annotations(&self, _: &ServiceAccountSelector) -> Result<BTreeMap<String, String>, ProviderError> {
        unreachable!()
    }
    async fn ca_bundle(&self, _: &CaProvider) -> Result<Vec<u8>, ProviderError> {
        unreachable!()
    }
}

fn creds(pairs: &[(&str, &str)]) -> Creds {
    Creds(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect())
}

async fn infisical() -> FakeInfisical {
    let fake = FakeInfisical::start().await;
    fake.client("client-1", "secret-1");
    fake.secret("web", "prod", "/", "DB_PASSWORD", "pw-1");
    fake.secret("web", "prod", "/", "DB_URL", "postgres://app:${DB_PASSWORD}@db");
    fake.secret("web", "prod", "/", "API_CONFIG", r#"{"url":"https://x","retries":3}"#);
    fake.secret("web", "prod", "/team/billing", "STRIPE_KEY", "sk-1");
    fake.secret("web", "prod", "/shared", "SMTP_USER", "mailer");
    fake.secret("web", "prod", "/shared", "DB_PASSWORD", "shadowed");
    fake.import("web", "prod", "/", "/shared");
    fake.secret("web", "dev", "/", "DB_PASSWORD", "dev-pw");
    fake
}

fn universal() -> Value {
    json!({"universalAuthCredentials": {"clientId": {"name": "infisical", "key": "clientId"}, "clientSecret": {"name": "infisical", "key": "clientSecret"}}})
}

async fn client_with(fake: &FakeInfisical, auth: Value, scope: Value, c: Creds) -> Result<Arc<dyn SecretProvider>, ProviderError> {
    let mut secrets_scope = json!({"projectSlug": "web", "environmentSlug": "prod"});
    secrets_scope.as_object_mut().unwrap().extend(scope.as_object().unwrap().clone());
    let spec: InfisicalProvider =
        serde_json::from_value(json!({"auth": auth, "secretsScope": secrets_scope, "hostAPI": fake.url})).unwrap();
    let ctx = ProviderContext { credentials: Arc::new(c), calls: Arc::new(NoCalls) };
    sesame_provider_infisical::build(&spec, ctx).await
}

async fn client(fake: &FakeInfisical, scope: Value) -> Arc<dyn SecretProvider> {
    client_with(fake, universal(), scope, creds(&[("clientId", "client-1"), ("clientSecret", "secret-1")])).await.expect("the store builds")
}

async fn read(c: &Arc<dyn SecretProvider>, key: &str) -> Result<String, ProviderError> {
    c.get_secret(&RemoteKey::new(key)).await.map(|v| String::from_utf8(v.into_bytes()).unwrap())
}

fn text(map: BTreeMap<String, SecretValue>) -> BTreeMap<String, String> {
    map.into_iter().map(|(k, v)| (k, String::from_utf8(v.into_bytes()).unwrap())).collect()
}

fn named(regexp: &str) -> FindQuery {
    FindQuery { name: Some(FindName { regexp: regexp.into() }), ..Default::default() }
}

#[tokio::test]
async fn universal_auth_logs_in_once_and_reads_secrets_by_name_and_folder() {
    let fake = infisical().await;
    let c = client(&fake, json!({})).await;
    assert_eq!(read(&c, "DB_PASSWORD").await.unwrap(), "pw-1");
    assert_eq!(read(&c, "DB_URL").await.unwrap(), "postgres://app:pw-1@db", "references expand by default, as in ESO");
    assert_eq!(read(&c, "team/billing/STRIPE_KEY").await.unwrap(), "sk-1");
    assert_eq!(read(&c, "/team/billing/STRIPE_KEY").await.unwrap(), "sk-1");
    assert_eq!(read(&c, "SMTP_USER").await.unwrap(), "mailer", "imported secrets are readable");
    let log = fake.requests();
    assert_eq!(log[0], "POST /api/v1/auth/universal-auth/login");
    assert_eq!(log.iter().filter(|l| l.contains("/login")).count(), 1, "{log:?}");
    assert_eq!(
        log[1],
        "GET /api/v3/secrets/raw/DB_PASSWORD?workspaceSlug=web&environment=prod&secretPath=%2F&expandSecretReferences=true&include_imports=true&type=shared"
    );
    assert!(log[3].contains("secretPath=%2Fteam%2Fbilling"), "{}", log[3]);
    assert_eq!(fake.lock().login_bodies[0], json!({"clientId": "client-1", "clientSecret": "secret-1"}));
}

#[tokio::test]
async fn a_missing_secret_is_not_found_and_a_scope_error_is_named() {
    let fake = infisical().await;
    let c = client(&fake, json!({})).await;
    let err = read(&c, "NOPE").await.unwrap_err();
    assert!(err.is_not_found(), "{err}");
    assert!(err.to_string().contains("Secret with name 'NOPE' not found"), "{err}");
    let other = client(&fake, json!({"projectSlug": "gone"})).await;
    let err = other.validate().await.unwrap_err();
    assert!(
        err.to_string().starts_with(
            "not found: cannot read secrets with provided project scope project:gone environment:prod secret-path:/ recursive:false"
        ),
        "{err}"
    );
    assert!(c.validate().await.is_ok());
}

#[tokio::test]
async fn references_stay_literal_when_expansion_is_off() {
    let fake = infisical().await;
    let c = client(&fake, json!({"expandSecretReferences": false})).await;
    assert_eq!(read(&c, "DB_URL").await.unwrap(), "postgres://app:${DB_PASSWORD}@db");
}

#[tokio::test]
async fn find_lists_the_folder_with_imports_and_filters_by_name_and_path() {
    let fake = infisical().await;
    let c = client(&fake, json!({})).await;
    let all = text(c.find(&FindQuery::default(), &FindScope::unmetered()).await.unwrap());
    assert_eq!(all.keys().collect::<Vec<_>>(), ["API_CONFIG", "DB_PASSWORD", "DB_URL", "SMTP_USER"]);
    assert_eq!(all["DB_PASSWORD"], "pw-1", "the folder's own secret wins over an import");
    let db = text(c.find(&named("^DB_"), &FindScope::unmetered()).await.unwrap());
    assert_eq!(db.keys().collect::<Vec<_>>(), ["DB_PASSWORD", "DB_URL"]);
    let tags = FindQuery { tags: [("env".to_string(), "prod".to_string())].into(), ..Default::default() };
    assert!(c.find(&tags, &FindScope::unmetered()).await.unwrap_err().to_string().contains("find by tags not supported"));

    let deep = client(&fake, json!({"recursive": true})).await;
    let billing = FindQuery { path: Some("/team".into()), ..Default::default() };
    assert_eq!(text(deep.find(&billing, &FindScope::unmetered()).await.unwrap()), BTreeMap::from([("STRIPE_KEY".into(), "sk-1".into())]));
    assert!(fake.requests().iter().any(|l| l.contains("recursive=true")));
}

#[tokio::test]
async fn a_wrong_client_secret_fails_the_build_as_an_auth_error_without_the_secret() {
    let fake = infisical().await;
    let err = client_with(&fake, universal(), json!({}), creds(&[("clientId", "client-1"), ("clientSecret", "wrong-secret-value")]))
        .await
        .err()
        .expect("the login is refused");
    assert_eq!(err.kind(), "auth");
    assert!(err.to_string().contains("HTTP 401 Invalid credentials"), "{err}");
    assert!(!err.to_string().contains("wrong-secret-value"));
}

#[tokio::test]
async fn a_revoked_token_is_an_auth_error_so_the_controller_rebuilds_and_logs_in_again() {
    let fake = infisical().await;
    let c = client(&fake, json!({})).await;
    fake.revoke_all();
    assert_eq!(read(&c, "DB_PASSWORD").await.unwrap_err().kind(), "auth");
    let rebuilt = client(&fake, json!({})).await;
    assert_eq!(read(&rebuilt, "DB_PASSWORD").await.unwrap(), "pw-1");
}

#[tokio::test]
async fn a_token_due_for_renewal_is_renewed_and_a_failed_renewal_falls_back_to_a_login() {
    let fake = infisical().await;
    // Tokens that say they expire at once are due before every call.
    fake.lock().advertised_ttl = Some(0);
    let c = client(&fake, json!({})).await;
    assert_eq!(read(&c, "DB_PASSWORD").await.unwrap(), "pw-1");
    let log = fake.requests();
    assert_eq!(log[1], "POST /api/v1/auth/token/renew", "{log:?}");
    assert!(fake.lock().login_bodies.len() == 1);
    fake.fail("/token/renew", 500, 1);
    assert_eq!(read(&c, "DB_PASSWORD").await.unwrap(), "pw-1");
    assert_eq!(fake.lock().login_bodies.len(), 2, "a failed renewal falls back to a fresh login");
    let last = format!("fake-token-{}", fake.lock().issued);
    assert!(fake.lock().tokens.contains_key(&last));
    c.close().await;
    assert!(fake.requests().last().unwrap().ends_with("/token/revoke"));
    assert!(!fake.lock().tokens.contains_key(&last), "close revoked the token in use");
}

#[tokio::test]
async fn jwt_ldap_and_token_auth_log_in_as_infisical_documents() {
    let fake = infisical().await;
    fake.lock().jwts.insert("ident-j".into(), "eyJ.jwt".into());
    fake.lock().ldap.insert("ident-l".into(), ("alice".into(), "pa55".into()));
    let jwt = json!({"jwtAuthCredentials": {"identityId": {"name": "infisical", "key": "id"}, "jwt": {"name": "infisical", "key": "jwt"}}});
    let c = client_with(&fake, jwt, json!({"organizationSlug": "acme"}), creds(&[("id", "ident-j"), ("jwt", "eyJ.jwt")])).await.unwrap();
    assert_eq!(read(&c, "DB_PASSWORD").await.unwrap(), "pw-1");
    assert_eq!(fake.lock().login_bodies[0], json!({"identityId": "ident-j", "jwt": "eyJ.jwt", "organizationSlug": "acme"}));

    let ldap = json!({"ldapAuthCredentials": {"identityId": {"name": "infisical", "key": "id"},
        "ldapUsername": {"name": "infisical", "key": "u"}, "ldapPassword": {"name": "infisical", "key": "p"}}});
    let c = client_with(&fake, ldap, json!({}), creds(&[("id", "ident-l"), ("u", "alice"), ("p", "pa55")])).await.unwrap();
    assert_eq!(read(&c, "DB_PASSWORD").await.unwrap(), "pw-1");

    // Token Auth: the given token, no login, never revoked.
    let issued = fake.lock().tokens.keys().next().unwrap().clone();
    let token = json!({"tokenAuthCredentials": {"accessToken": {"name": "infisical", "key": "token"}}});
    let before = fake.requests().len();
    let c = client_with(&fake, token, json!({}), creds(&[("token", &issued)])).await.unwrap();
    assert_eq!(read(&c, "DB_PASSWORD").await.unwrap(), "pw-1");
    c.close().await;
    let after: Vec<String> = fake.requests()[before..].to_vec();
    assert_eq!(after.len(), 1, "{after:?}");
    assert!(after[0].starts_with("GET /api/v3/secrets/raw/DB_PASSWORD"));
}

#[tokio::test]
async fn an_unusable_key_and_server_faults_say_what_to_do() {
    let fake = infisical().await;
    let oci = json!({"ociAuthCredentials": {
        "identityId": {"name": "infisical", "key": "id"}, "privateKey": {"name": "infisical", "key": "pk"},
        "fingerprint": {"name": "infisical", "key": "fp"}, "userId": {"name": "infisical", "key": "u"},
        "tenancyId": {"name": "infisical", "key": "t"}, "region": {"name": "infisical", "key": "r"}
    }});
    let keys = [("id", "i"), ("pk", "hunter2"), ("fp", "aa:bb"), ("u", "ocid1.user..u"), ("t", "ocid1.tenancy..t"), ("r", "eu-paris-1")];
    let err = client_with(&fake, oci, json!({}), creds(&keys)).await.err().unwrap();
    assert!(
        err.to_string().contains("ociAuthCredentials.privateKey: not a PEM private key") && !err.to_string().contains("hunter2"),
        "{err}"
    );
    assert!(fake.requests().is_empty(), "nothing sent");
    let c = client(&fake, json!({})).await;
    fake.fail("/secrets/raw", 503, 1);
    assert_eq!(read(&c, "DB_PASSWORD").await.unwrap_err().kind(), "transient");
    fake.fail("/secrets/raw", 429, 1);
    assert_eq!(read(&c, "DB_PASSWORD").await.unwrap_err().kind(), "throttled");
    assert_eq!(read(&c, "DB_PASSWORD").await.unwrap(), "pw-1");
}
