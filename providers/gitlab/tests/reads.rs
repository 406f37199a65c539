//! The GitLab provider against the fake: lookup order, environments, groups, find, pages, and
//! every error class. The real request code runs; only the server is a fake.
mod fake;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use fake::{FakeGitlab, Role};
use serde_json::{Value, json};
use sesame_provider_core::{
    CaProvider, CallRecorder, CredentialSource, FindLimits, FindName, FindQuery, FindScope, ProviderContext, ProviderError, RemoteKey,
    SecretKeySelector, SecretProvider, SecretValue, ServiceAccountSelector, Unmetered,
};
use sesame_provider_gitlab::GitlabProvider;

const TOKEN: &str = "glpat-reader-0123456789";

/// The controller's side: one Secret `gitlab/token`.
struct Creds(String);

#[async_trait]
impl CredentialSource for Creds {
    async fn secret_key(&self, sel: &SecretKeySelector, _: Option<&str>) -> Result<SecretValue, ProviderError> {
        assert_eq!((sel.name.as_str(), sel.key.as_deref()), ("gitlab", Some("token")));
        Ok(SecretValue::from(self.0.as_str()))
    }
    async fn service_account_token(&self, _: &ServiceAccountSelector, _: &[String], _: Option<i64>) -> Result<String, ProviderError> {
        unreachable!("GitLab uses no ServiceAccount")
    }
    async fn service_account_annotations(&self, _: &ServiceAccountSelector) -> Result<BTreeMap<String, String>, ProviderError> {
        unreachable!("GitLab uses no ServiceAccount")
    }
    async fn ca_bundle(&self, _: &CaProvider) -> Result<Vec<u8>, ProviderError> {
        Err(ProviderError::Invalid("no CA here".into()))
    }
}

#[derive(Default)]
struct Calls(Mutex<Vec<(&'static str, &'static str)>>);

impl CallRecorder for Calls {
    fn record(&self, provider: &'static str, call: &'static str, _: Result<(), &ProviderError>, _: Duration) {
        self.0.lock().unwrap().push((provider, call));
    }
}

/// Project 42 `acme/platform/app` in groups 7 `acme` and 8 `acme/platform`.
async fn gitlab() -> FakeGitlab {
    let fake = FakeGitlab::start().await;
    fake.token(TOKEN, Role::Maintainer);
    fake.group(7, "acme");
    fake.group(8, "acme/platform");
    // Nearest group first, as GitLab may list them: the provider sorts by path.
    fake.project(42, "acme/platform/app", &[8, 7]);
    fake
}

async fn client_with(fake: &FakeGitlab, store: Value, token: &str) -> (Result<Arc<dyn SecretProvider>, ProviderError>, Arc<Calls>) {
    let mut store = store;
    store["url"] = fake.url.clone().into();
    store["auth"] = json!({"SecretRef": {"accessToken": {"name": "gitlab", "key": "token"}}});
    let spec: GitlabProvider = serde_json::from_value(store).unwrap();
    let calls = Arc::new(Calls::default());
    let ctx = ProviderContext { credentials: Arc::new(Creds(token.into())), calls: calls.clone() };
    (sesame_provider_gitlab::build(&spec, ctx).await, calls)
}

async fn client(fake: &FakeGitlab, store: Value) -> Arc<dyn SecretProvider> {
    client_with(fake, store, TOKEN).await.0.expect("the store builds")
}

async fn read(c: &Arc<dyn SecretProvider>, key: &str) -> Result<String, ProviderError> {
    c.get_secret(&RemoteKey::new(key)).await.map(|v| String::from_utf8(v.into_bytes()).unwrap())
}

fn find_name(regexp: &str) -> FindQuery {
    FindQuery { name: Some(FindName { regexp: regexp.into() }), ..Default::default() }
}

fn text(map: BTreeMap<String, SecretValue>) -> BTreeMap<String, String> {
    map.into_iter().map(|(k, v)| (k, String::from_utf8(v.into_bytes()).unwrap())).collect()
}

#[tokio::test]
async fn a_project_variable_is_read_with_the_token_and_dashes_become_underscores() {
    let fake = gitlab().await;
    fake.project_var(42, "DB_PASSWORD", r#"{"user":"app","password":"pw-1"}"#, "*");
    let c = client(&fake, json!({"projectID": "42"})).await;
    assert_eq!(read(&c, "DB-PASSWORD").await.unwrap(), r#"{"user":"app","password":"pw-1"}"#);
    assert!(fake.requests().contains(&"GET /api/v4/projects/42/variables/DB_PASSWORD".to_string()), "{:?}", fake.requests());
    c.validate().await.unwrap();
}

#[tokio::test]
async fn a_project_path_is_one_escaped_segment() {
    let fake = gitlab().await;
    fake.project_var(42, "API_KEY", "k-1", "*");
    let c = client(&fake, json!({"projectID": "acme/platform/app"})).await;
    assert_eq!(read(&c, "API_KEY").await.unwrap(), "k-1");
    assert_eq!(fake.requests(), ["GET /api/v4/projects/acme%2Fplatform%2Fapp/variables/API_KEY"]);
}

#[tokio::test]
async fn the_environment_wins_over_the_wildcard_and_falls_back_to_it() {
    let fake = gitlab().await;
    fake.project_var(42, "URL", "https://prod", "production");
    fake.project_var(42, "URL", "https://any", "*");
    fake.project_var(42, "ONLY_ANY", "any-value", "*");
    let prod = client(&fake, json!({"projectID": "42", "environment": "production"})).await;
    assert_eq!(read(&prod, "URL").await.unwrap(), "https://prod");
    assert_eq!(read(&prod, "ONLY_ANY").await.unwrap(), "any-value");
    assert!(fake.requests().iter().any(|r| r.ends_with("ONLY_ANY?filter%5Benvironment_scope%5D=*")), "{:?}", fake.requests());
    // Without an environment, two scopes of one key are ambiguous: GitLab's 409, a config error.
    let any = client(&fake, json!({"projectID": "42"})).await;
    let err = read(&any, "URL").await.unwrap_err();
    assert!(matches!(&err, ProviderError::Invalid(m) if m.contains("409") && m.contains("filter[environment_scope]")), "{err}");
}

#[tokio::test]
async fn a_key_missing_from_the_project_is_read_from_the_last_group_first() {
    let fake = gitlab().await;
    fake.group_var(7, "SHARED", "from-acme", "*");
    fake.group_var(8, "SHARED", "from-platform", "*");
    fake.group_var(7, "ROOT_ONLY", "root", "*");
    let listed = client(&fake, json!({"projectID": "42", "groupIDs": ["8", "7"]})).await;
    assert_eq!(read(&listed, "SHARED").await.unwrap(), "from-acme", "groupIDs are searched right to left");
    let inherited = client(&fake, json!({"projectID": "42", "inheritFromGroups": true})).await;
    assert_eq!(read(&inherited, "SHARED").await.unwrap(), "from-platform", "the nearest group wins");
    assert_eq!(read(&inherited, "ROOT_ONLY").await.unwrap(), "root");
    let err = read(&inherited, "NOWHERE").await.unwrap_err();
    assert!(err.is_not_found() && err.to_string().contains("404 Variable Not Found"), "{err}");
    let groups_only = client(&fake, json!({"groupIDs": ["acme"]})).await;
    assert_eq!(read(&groups_only, "SHARED").await.unwrap(), "from-acme");
    groups_only.validate().await.unwrap();
}

#[tokio::test]
async fn find_reads_groups_then_the_project_across_pages() {
    let fake = gitlab().await;
    for i in 0..130 {
        fake.project_var(42, &format!("APP_{i:03}"), &format!("v{i}"), "*");
    }
    fake.project_var(42, "APP_000", "prod-0", "production");
    fake.project_var(42, "APP_DEV", "dev-only", "development");
    fake.group_var(8, "APP_GROUP", "from-group", "*");
    fake.group_var(8, "APP_001", "group-loses", "production");
    fake.project_var(42, "OTHER", "not-matched", "*");
    let c = client(&fake, json!({"projectID": "42", "inheritFromGroups": true, "environment": "production"})).await;
    let found = text(c.find(&find_name("^APP_"), &FindScope::unmetered()).await.unwrap());
    assert_eq!(found.len(), 131, "130 APP_ variables and the group's");
    assert_eq!(found["APP_000"], "prod-0", "the environment's variable beats the wildcard");
    assert_eq!(found["APP_001"], "v1", "the project beats its groups");
    assert_eq!(found["APP_129"], "v129", "the second page was read");
    assert_eq!(found["APP_GROUP"], "from-group");
    assert!(!found.contains_key("APP_DEV") && !found.contains_key("OTHER"));
    assert_eq!(fake.count("/projects/42/variables?page=2&per_page=100"), 1, "{:?}", fake.requests());
}

#[tokio::test]
async fn find_keeps_esos_rules_and_limits() {
    let fake = gitlab().await;
    for i in 0..5 {
        fake.project_var(42, &format!("K{i}"), "v", "*");
    }
    let c = client(&fake, json!({"projectID": "42", "environment": "production"})).await;
    let invalid = |q: FindQuery| {
        let c = c.clone();
        async move { c.find(&q, &FindScope::unmetered()).await.unwrap_err().to_string() }
    };
    assert!(invalid(FindQuery::default()).await.contains("'find.name' is mandatory"));
    assert!(invalid(FindQuery { path: Some("x".into()), ..find_name("K") }).await.contains("'find.path' is not implemented"));
    let tagged = FindQuery { tags: [("environment_scope".into(), "dev".into())].into(), ..find_name("K") };
    assert!(invalid(tagged).await.contains("constrained"));
    let scope = FindScope::new(&Unmetered, FindLimits { max_matches: 3, max_bytes: 1 << 20 });
    let err = c.find(&find_name("^K"), &scope).await.unwrap_err();
    assert!(err.to_string().contains("--find-max-matches"), "{err}");
}

#[tokio::test]
async fn errors_are_sorted_by_what_the_controller_does_next() {
    let fake = gitlab().await;
    fake.project_var(42, "K", "v", "*");
    let c = client(&fake, json!({"projectID": "42"})).await;

    fake.fail("/variables/K", 429, 1, Some(7));
    let err = read(&c, "K").await.unwrap_err();
    assert_eq!(
        err,
        ProviderError::Throttled {
            message: "GET /api/v4/projects/42/variables/K: HTTP 429".into(),
            retry_after: Some(Duration::from_secs(7))
        }
    );
    fake.fail("/variables/K", 503, 1, None);
    assert!(matches!(read(&c, "K").await.unwrap_err(), ProviderError::Transient(m) if m.contains("503")));
    assert_eq!(read(&c, "K").await.unwrap(), "v", "the faults were one-off");

    let (bad, _) = client_with(&fake, json!({"projectID": "42"}), "glpat-wrong").await;
    let err = bad.unwrap().validate().await.unwrap_err();
    assert!(matches!(&err, ProviderError::Auth(m) if m.contains("401 Unauthorized") && m.contains("could not verify")), "{err}");
    fake.token("glpat-developer", Role::Developer);
    let (dev, _) = client_with(&fake, json!({"projectID": "42"}), "glpat-developer").await;
    assert!(matches!(read(&dev.unwrap(), "K").await.unwrap_err(), ProviderError::Auth(m) if m.contains("403 Forbidden")));
    let gone = client(&fake, json!({"projectID": "999"})).await;
    assert!(gone.validate().await.unwrap_err().to_string().contains("404 Project Not Found"));
    assert!(!format!("{:?}", fake.requests()).contains(TOKEN), "the token travels in a header only");
}

#[tokio::test]
async fn an_empty_variable_is_refused_and_calls_carry_esos_names() {
    let fake = gitlab().await;
    fake.project_var(42, "EMPTY", "", "*");
    let (c, calls) = client_with(&fake, json!({"projectID": "42", "inheritFromGroups": true}), TOKEN).await;
    let c = c.unwrap();
    let err = read(&c, "EMPTY").await.unwrap_err();
    assert!(matches!(&err, ProviderError::Invalid(m) if m.contains("no secret string for key: EMPTY")), "{err}");
    c.validate().await.unwrap();
    let seen = calls.0.lock().unwrap().clone();
    for call in ["ProjectVariableGet", "ProjectVariablesList", "ListProjectsGroups", "GroupVariablesList"] {
        assert!(seen.contains(&("GitLab", call)), "{call} not in {seen:?}");
    }
}

#[tokio::test]
async fn a_bad_store_fails_to_build_with_esos_message() {
    let fake = gitlab().await;
    let (built, _) = client_with(&fake, json!({"projectID": "42", "groupIDs": ["7"], "inheritFromGroups": true}), TOKEN).await;
    assert!(built.err().unwrap().to_string().contains("inheritFromGroups = true is not allowed"));
    let (built, _) = client_with(&fake, json!({"projectID": "42"}), "line\nbreak").await;
    assert!(matches!(built.err().unwrap(), ProviderError::Invalid(m) if m.contains("access token") && !m.contains("line")));
}
