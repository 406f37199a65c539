use super::*;
use crate::{ConfigMapKeyRef, GcpAwsSecurityCredentials, GcpSecretReference};

const AUD: &str = "//iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/pool/providers/p";

fn wif(endpoint: Option<&str>) -> GcpWorkloadIdentityFederation {
    GcpWorkloadIdentityFederation {
        cred_config: Some(ConfigMapKeyRef { name: "cc".into(), key: "c.json".into(), namespace: None }),
        external_token_endpoint: endpoint.map(str::to_string),
        ..Default::default()
    }
}

fn cred(source: serde_json::Value) -> serde_json::Value {
    serde_json::json!({
        "type": "external_account", "audience": AUD,
        "subject_token_type": "urn:ietf:params:oauth:token-type:id_token",
        "token_url": "https://sts.googleapis.com/v1/token",
        "service_account_impersonation_url":
            "https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/reader@acme.iam.gserviceaccount.com:generateAccessToken",
        "service_account_impersonation": {"token_lifetime_seconds": 1200},
        "credential_source": source,
    })
}

fn parse(doc: &serde_json::Value, w: &GcpWorkloadIdentityFederation) -> Result<FederationConfig, String> {
    from_cred_config(doc.to_string().as_bytes(), "cc", w).map_err(|e| e.to_string())
}

#[test]
fn a_url_sourced_cred_config_keeps_googles_fields() {
    let url = "https://tokens.example.com/token";
    let src =
        serde_json::json!({"url": url, "headers": {"X-Team": "a"}, "format": {"type": "json", "subject_token_field_name": "id_token"}});
    let c = parse(&cred(src), &wif(Some(url))).unwrap();
    assert_eq!(c.audience, AUD);
    assert_eq!(c.subject_token_type, "urn:ietf:params:oauth:token-type:id_token");
    assert_eq!(c.token_url.as_deref(), Some("https://sts.googleapis.com/v1/token"));
    assert_eq!(c.impersonate.as_deref(), Some("reader@acme.iam.gserviceaccount.com"));
    assert_eq!(c.impersonation_lifetime, Some(1200));
    assert!(matches!(c.subject, Subject::Url { json_field: Some(ref f), ref headers, .. } if f == "id_token" && headers["X-Team"] == "a"));
}

#[test]
fn what_would_read_the_controllers_environment_is_refused() {
    let url = "https://tokens.example.com/token";
    for (source, why) in [
        (serde_json::json!({"file": "/var/run/secrets/kubernetes.io/serviceaccount/token"}), "credential_source.file is not allowed"),
        (serde_json::json!({"executable": {"command": "/bin/sh -c id"}}), "executable is not allowed"),
        (serde_json::json!({"environment_id": "aws1", "url": url}), "environment_id (aws) is not allowed"),
        (serde_json::json!({"url": "http://169.254.169.254/latest/meta-data"}), "metadata server"),
        (
            serde_json::json!({"url": "http://metadata.google.internal/computeMetadata/v1/instance/service-accounts/default/identity"}),
            "metadata server",
        ),
        (serde_json::json!({"url": url, "headers": {"Metadata-Flavor": "Google"}}), "metadata-server header"),
        (serde_json::json!({"url": "https://elsewhere.example.com/t"}), "does not match externalTokenEndpoint"),
    ] {
        let endpoint = source["url"].as_str().unwrap_or(url).to_string();
        let w = if why.contains("externalTokenEndpoint") { wif(Some(url)) } else { wif(Some(&endpoint)) };
        let err = parse(&cred(source.clone()), &w).unwrap_err();
        assert!(err.contains(why), "{source}: {err}");
    }
}

#[test]
fn token_and_impersonation_urls_must_be_googles() {
    let url = "https://tokens.example.com/token";
    let mut doc = cred(serde_json::json!({"url": url}));
    doc["token_url"] = "https://evil.example.com/v1/token".into();
    doc["service_account_impersonation_url"] =
        "https://evil.example.com/v1/projects/-/serviceAccounts/a@b.iam.gserviceaccount.com:generateAccessToken".into();
    doc["token_info_url"] = "https://sts.googleapis.com/v1/other".into();
    let err = parse(&doc, &wif(Some(url))).unwrap_err();
    assert!(err.contains("token_url") && err.contains("service_account_impersonation_url") && err.contains("token_info_url"), "{err}");
    let mut doc = cred(serde_json::json!({"url": url}));
    doc["type"] = "service_account".into();
    assert!(parse(&doc, &wif(Some(url))).unwrap_err().contains("expected \"external_account\""));
    assert!(from_cred_config(b"not json", "cc", &wif(None)).unwrap_err().to_string().contains("not an external account JSON"));
    assert!(from_cred_config(&vec![b' '; MAX_CRED_CONFIG + 1], "cc", &wif(None)).is_err());
}

struct NoKube;
#[async_trait::async_trait]
impl sesame_provider_core::CredentialSource for NoKube {
    async fn secret_key(&self, _: &SecretKeySelector, _: Option<&str>) -> Result<sesame_provider_core::SecretValue, ProviderError> {
        Err(ProviderError::Auth("no secrets here".into()))
    }
    async fn service_account_token(&self, _: &ServiceAccountSelector, _: &[String], _: Option<i64>) -> Result<String, ProviderError> {
        Err(ProviderError::Auth("no tokens here".into()))
    }
    async fn service_account_annotations(&self, _: &ServiceAccountSelector) -> Result<BTreeMap<String, String>, ProviderError> {
        Ok(BTreeMap::from([(GSA_ANNOTATION.to_string(), "annotated@acme.iam.gserviceaccount.com".to_string())]))
    }
    async fn ca_bundle(&self, _: &sesame_provider_core::CaProvider) -> Result<Vec<u8>, ProviderError> {
        Err(ProviderError::Auth("no config maps here".into()))
    }
}

fn ctx() -> ProviderContext {
    ProviderContext { credentials: std::sync::Arc::new(NoKube), calls: std::sync::Arc::new(sesame_provider_core::NoCalls) }
}

#[tokio::test]
async fn esos_one_of_and_audience_rules_hold() {
    let sa = ServiceAccountSelector { name: "ksa".into(), ..Default::default() };
    let aws = GcpAwsSecurityCredentials {
        region: "us-east-1".into(),
        aws_credentials_secret_ref: GcpSecretReference { name: "aws".into(), namespace: None },
    };
    let none = GcpWorkloadIdentityFederation::default();
    let two =
        GcpWorkloadIdentityFederation { service_account_ref: Some(sa.clone()), aws_security_credentials: Some(aws), ..Default::default() };
    let no_audience = GcpWorkloadIdentityFederation { service_account_ref: Some(sa.clone()), ..Default::default() };
    for (w, why) in [(none, "exactly one of"), (two, "exactly one of"), (no_audience, "audience must be provided")] {
        let err = federation_config(&w, &ctx()).await.unwrap_err().to_string();
        assert!(err.contains(why), "{err}");
    }
    let annotated =
        GcpWorkloadIdentityFederation { service_account_ref: Some(sa.clone()), audience: Some(AUD.into()), ..Default::default() };
    let c = federation_config(&annotated, &ctx()).await.unwrap();
    assert_eq!(c.impersonate.as_deref(), Some("annotated@acme.iam.gserviceaccount.com"), "the annotation names the GSA");
    assert_eq!(c.subject_token_type, JWT_TOKEN_TYPE);
    let email =
        GcpWorkloadIdentityFederation { gcp_service_account_email: Some("set@acme.iam.gserviceaccount.com".into()), ..annotated.clone() };
    assert_eq!(
        federation_config(&email, &ctx()).await.unwrap().impersonate.as_deref(),
        Some("set@acme.iam.gserviceaccount.com"),
        "the field wins"
    );
    let hostile = GcpWorkloadIdentityFederation { gcp_service_account_email: Some("a/../b@x.iam.gserviceaccount.com".into()), ..annotated };
    assert!(federation_config(&hostile, &ctx()).await.is_err(), "the e-mail becomes a URL path segment");
}
