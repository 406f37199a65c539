//! `auth.workloadIdentityFederation`, as ESO 2.9 builds Google's external-account credentials:
//! a subject token (a Kubernetes ServiceAccount token from a real TokenRequest, a signed AWS
//! GetCallerIdentity request, or what `credConfig.credential_source.url` answers) is exchanged at
//! Google STS (RFC 8693) for a federated access token, which then impersonates a Google service
//! account when one is named (`gcpServiceAccountEmail`, else the ServiceAccount's
//! `iam.gke.io/gcp-service-account` annotation, else the credConfig's impersonation URL).
//!
//! Tenancy: a credConfig is a tenant's document, yet Google's format lets it read the
//! controller's environment. Sesame refuses `credential_source.file` (the controller's files,
//! its own token among them), `.executable` (ESO refuses it too) and `.environment_id` (the
//! controller's AWS instance identity), and a `url` that reaches an instance metadata server.
use std::collections::BTreeMap;

use serde::Deserialize;
use sesame_provider_core::{ProviderContext, ProviderError, SecretKeySelector, ServiceAccountSelector};

use crate::GcpWorkloadIdentityFederation;
use crate::federation_aws::AwsKeys;
use crate::workload_identity::GSA_ANNOTATION;

pub(crate) const JWT_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:jwt";
pub(crate) const AWS_TOKEN_TYPE: &str = "urn:ietf:params:aws:token-type:aws4_request";
const EXTERNAL_ACCOUNT: &str = "external_account";
/// A credential configuration is a few hundred bytes; anything near this is not one.
const MAX_CRED_CONFIG: usize = 64 * 1024;
const F: &str = "auth.workloadIdentityFederation";

/// Where the subject token comes from.
#[derive(Debug, Clone)]
pub(crate) enum Subject {
    /// A TokenRequest for exactly `serviceAccountRef.audiences` (ESO asks for no other).
    ServiceAccount(ServiceAccountSelector),
    Aws {
        region: String,
        keys: AwsKeys,
    },
    /// `credential_source.url`: GET with `headers`; the token is the body, or a JSON field of it.
    Url {
        url: String,
        headers: BTreeMap<String, String>,
        json_field: Option<String>,
    },
}

/// Everything a mint needs, resolved when the client is built.
#[derive(Debug, Clone)]
pub(crate) struct FederationConfig {
    pub audience: String,
    pub subject: Subject,
    pub subject_token_type: String,
    /// The credConfig's `token_url` (checked to be Google STS); `None`: the provider's STS.
    pub token_url: Option<String>,
    /// The Google service account to impersonate after the exchange.
    pub impersonate: Option<String>,
    pub impersonation_lifetime: Option<u64>,
    /// STS client authentication (`client_id`/`client_secret` of a credConfig).
    pub client: Option<(String, String)>,
}

#[derive(Deserialize, Default)]
struct CredFile {
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(default)]
    audience: Option<String>,
    #[serde(default)]
    subject_token_type: Option<String>,
    #[serde(default)]
    token_url: Option<String>,
    #[serde(default)]
    token_info_url: Option<String>,
    #[serde(default)]
    service_account_impersonation_url: Option<String>,
    #[serde(default)]
    service_account_impersonation: Option<ImpersonationInfo>,
    #[serde(default)]
    client_id: Option<String>,
    #[serde(default)]
    client_secret: Option<String>,
    #[serde(default)]
    credential_source: Option<CredentialSourceFile>,
}

#[derive(Deserialize, Default)]
struct ImpersonationInfo {
    #[serde(default)]
    token_lifetime_seconds: Option<u64>,
}

#[derive(Deserialize, Default)]
struct CredentialSourceFile {
    #[serde(default)]
    file: Option<String>,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    #[serde(default)]
    executable: Option<serde_json::Value>,
    #[serde(default)]
    environment_id: Option<String>,
    #[serde(default)]
    format: Option<SourceFormat>,
}

#[derive(Deserialize, Default)]
struct SourceFormat {
    #[serde(rename = "type", default)]
    kind: Option<String>,
    #[serde(default)]
    subject_token_field_name: Option<String>,
}

fn invalid(msg: impl Into<String>) -> ProviderError {
    ProviderError::Invalid(format!("{F}: {}", msg.into()))
}

fn non_empty(v: &Option<String>) -> Option<String> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(str::to_string)
}

/// Resolve the federation config: ESO's one-of and audience rules, the credConfig read and
/// checked, the AWS keys read, the service account to impersonate found.
pub(crate) async fn federation_config(
    wif: &GcpWorkloadIdentityFederation,
    ctx: &ProviderContext,
) -> Result<FederationConfig, ProviderError> {
    let sources = [wif.cred_config.is_some(), wif.service_account_ref.is_some(), wif.aws_security_credentials.is_some()];
    if sources.iter().filter(|s| **s).count() != 1 {
        return Err(invalid("exactly one of credConfig, awsSecurityCredentials or serviceAccountRef must be provided"));
    }
    let audience = non_empty(&wif.audience);
    if wif.cred_config.is_none() && audience.is_none() {
        return Err(invalid("audience must be provided when serviceAccountRef or awsSecurityCredentials is provided"));
    }
    let mut config = match (&wif.cred_config, &wif.service_account_ref, &wif.aws_security_credentials) {
        (Some(cm), _, _) => {
            let raw = ctx.credentials.config_map_key(&cm.name, cm.namespace.as_deref().filter(|n| !n.is_empty()), &cm.key).await?;
            from_cred_config(&raw, &cm.name, wif)?
        }
        (_, Some(sa), _) => {
            if sa.name.is_empty() {
                return Err(invalid("serviceAccountRef.name is required"));
            }
            bare(Subject::ServiceAccount(sa.clone()), JWT_TOKEN_TYPE)
        }
        (_, _, Some(aws)) => {
            crate::federation_aws::check_region(&aws.region)?;
            let keys = crate::federation_aws::read_keys(&aws.aws_credentials_secret_ref, ctx).await?;
            bare(Subject::Aws { region: aws.region.clone(), keys }, AWS_TOKEN_TYPE)
        }
        _ => unreachable!("exactly one source is set"),
    };
    if let Some(a) = audience {
        config.audience = a;
    }
    if config.audience.is_empty() {
        return Err(invalid("the audience is empty (set audience, or audience in the credConfig)"));
    }
    if let Some(email) = non_empty(&wif.gcp_service_account_email) {
        config.impersonate = Some(checked_email(&email, "gcpServiceAccountEmail")?);
    } else if let Subject::ServiceAccount(sa) = &config.subject {
        let annotations = ctx.credentials.service_account_annotations(sa).await?;
        if let Some(gsa) = annotations.get(GSA_ANNOTATION).map(|g| g.trim()).filter(|g| !g.is_empty()) {
            config.impersonate = Some(checked_email(gsa, &format!("the {GSA_ANNOTATION} annotation"))?);
        }
    }
    Ok(config)
}

fn bare(subject: Subject, token_type: &str) -> FederationConfig {
    FederationConfig {
        audience: String::new(),
        subject,
        subject_token_type: token_type.into(),
        token_url: None,
        impersonate: None,
        impersonation_lifetime: None,
        client: None,
    }
}

/// A Google service account e-mail, one URL path segment.
fn checked_email(email: &str, field: &str) -> Result<String, ProviderError> {
    let ok = email.len() <= 254
        && email.ends_with(".iam.gserviceaccount.com")
        && email.split_once('@').is_some_and(|(user, domain)| !user.is_empty() && !domain.is_empty())
        && email.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'@' | b'.' | b'-' | b'_'));
    if ok { Ok(email.to_string()) } else { Err(invalid(format!("{field} {email:?} is not a Google service account e-mail"))) }
}

fn from_cred_config(raw: &[u8], name: &str, wif: &GcpWorkloadIdentityFederation) -> Result<FederationConfig, ProviderError> {
    let where_ = format!("credConfig (ConfigMap {name})");
    if raw.is_empty() {
        return Err(invalid(format!("{where_} is empty")));
    }
    if raw.len() > MAX_CRED_CONFIG {
        return Err(invalid(format!("{where_} is larger than {MAX_CRED_CONFIG} bytes")));
    }
    let file: CredFile = serde_json::from_slice(raw).map_err(|e| invalid(format!("{where_} is not an external account JSON: {e}")))?;
    if file.kind != EXTERNAL_ACCOUNT {
        return Err(invalid(format!("{where_}: type is {:?} (expected {EXTERNAL_ACCOUNT:?})", file.kind)));
    }
    let mut errors = Vec::new();
    let token_url = non_empty(&file.token_url);
    if let Some(url) = &token_url
        && !google_sts_url(url, "/v1/token")
    {
        errors.push(format!("token_url {url:?} must be https://sts.<domain>/v1/token"));
    }
    if let Some(url) = non_empty(&file.token_info_url)
        && !google_sts_url(&url, "/v1/introspect")
    {
        errors.push(format!("token_info_url {url:?} must be https://sts.<domain>/v1/introspect"));
    }
    let impersonate = match non_empty(&file.service_account_impersonation_url) {
        Some(url) => match impersonation_email(&url) {
            Some(email) => Some(email),
            None => {
                errors.push(format!(
                    "service_account_impersonation_url {url:?} must be https://iamcredentials.googleapis.com/v1/projects/<p>/serviceAccounts/<email>:generateAccessToken"
                ));
                None
            }
        },
        None => None,
    };
    let subject = match file.credential_source {
        None => {
            errors.push("credential_source is missing (Sesame reads subject tokens from credential_source.url)".into());
            None
        }
        Some(source) => match subject_of(source, wif) {
            Ok(s) => Some(s),
            Err(mut e) => {
                errors.append(&mut e);
                None
            }
        },
    };
    if !errors.is_empty() {
        return Err(invalid(format!("invalid external_account config in {where_}: {}", errors.join("; "))));
    }
    let client = non_empty(&file.client_id).zip(non_empty(&file.client_secret));
    Ok(FederationConfig {
        audience: non_empty(&file.audience).unwrap_or_default(),
        subject: subject.expect("no errors means a subject"),
        subject_token_type: non_empty(&file.subject_token_type).unwrap_or_else(|| JWT_TOKEN_TYPE.into()),
        token_url,
        impersonate,
        impersonation_lifetime: file.service_account_impersonation.and_then(|i| i.token_lifetime_seconds),
        client,
    })
}

fn subject_of(source: CredentialSourceFile, wif: &GcpWorkloadIdentityFederation) -> Result<Subject, Vec<String>> {
    let mut errors = Vec::new();
    if source.executable.is_some() {
        errors.push("credential_source.executable is not allowed".to_string());
    }
    if source.file.is_some() {
        errors.push("credential_source.file is not allowed: it would read the controller's own files (use serviceAccountRef for a Kubernetes token)".into());
    }
    if source.environment_id.is_some() {
        errors.push("credential_source.environment_id (aws) is not allowed: it would use the controller's AWS instance identity (use awsSecurityCredentials)".into());
    }
    let Some(url) = source.url.filter(|u| !u.is_empty()) else {
        errors.push("credential_source.url is required".into());
        return Err(errors);
    };
    if Some(url.as_str()) != wif.external_token_endpoint.as_deref() {
        errors.push(format!("credential_source.url {url:?} does not match externalTokenEndpoint"));
    }
    if let Err(e) = url_source_allowed(&url, &source.headers) {
        errors.push(e);
    }
    let format = source.format.unwrap_or_default();
    let json_field = match format.kind.as_deref().unwrap_or("text") {
        "text" => None,
        "json" => match format.subject_token_field_name.filter(|f| !f.is_empty()) {
            Some(f) => Some(f),
            None => {
                errors.push("credential_source.format.subject_token_field_name is required for the json format".into());
                None
            }
        },
        other => {
            errors.push(format!("credential_source.format.type {other:?} must be text or json"));
            None
        }
    };
    if errors.is_empty() { Ok(Subject::Url { url, headers: source.headers, json_field }) } else { Err(errors) }
}

/// An instance metadata server hands out the controller's own identity: never a tenant's URL.
fn url_source_allowed(url: &str, headers: &BTreeMap<String, String>) -> Result<(), String> {
    let parsed = reqwest::Url::parse(url).map_err(|_| format!("credential_source.url {url:?} is not a URL"))?;
    if !matches!(parsed.scheme(), "http" | "https") || !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(format!("credential_source.url {url:?} must be http(s) without user info"));
    }
    let host = parsed.host_str().unwrap_or("").trim_start_matches('[').trim_end_matches(']').trim_end_matches('.').to_ascii_lowercase();
    let metadata = match host.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(ip)) => ip.is_link_local(),
        Ok(std::net::IpAddr::V6(ip)) => (ip.segments()[0] & 0xffc0) == 0xfe80 || ip.segments()[..4] == [0xfd00, 0xec2, 0, 0],
        Err(_) => {
            host.is_empty() || host == "metadata" || host == "metadata.google.internal" || host.ends_with(".metadata.google.internal")
        }
    };
    if metadata {
        return Err(format!("credential_source.url {url:?} reaches an instance metadata server (the controller's own identity)"));
    }
    if headers.keys().any(|h| h.eq_ignore_ascii_case("metadata-flavor") || h.eq_ignore_ascii_case("metadata")) {
        return Err("credential_source.headers may not carry a metadata-server header".into());
    }
    Ok(())
}

/// `https://sts.<domain>/<path>` with nothing else (ESO's check).
fn google_sts_url(url: &str, path: &str) -> bool {
    url.strip_prefix("https://sts.")
        .and_then(|rest| rest.strip_suffix(path))
        .is_some_and(|domain| !domain.is_empty() && !domain.contains(['/', ' ', '\t', '?', '#', '@']))
}

/// The e-mail of `https://iamcredentials.<…>googleapis.com/v1/projects/<p>/serviceAccounts/<email>:generateAccessToken`.
fn impersonation_email(url: &str) -> Option<String> {
    let rest = url.strip_prefix("https://iamcredentials.")?;
    let (host, path) = rest.split_once('/')?;
    let host_ok = host == "googleapis.com"
        || host.strip_suffix(".googleapis.com").is_some_and(|sub| {
            sub.split('.').all(|l| !l.is_empty() && l.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'))
        });
    let (project, email) = path.strip_prefix("v1/projects/")?.strip_suffix(":generateAccessToken")?.split_once("/serviceAccounts/")?;
    let (user, domain) = email.split_once('@')?;
    let label = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    let email_ok = label(user) && domain.strip_suffix(".iam.gserviceaccount.com").is_some_and(label);
    (host_ok && !project.is_empty() && !project.contains('/') && email_ok).then(|| email.to_string())
}

/// The selector of one key of the AWS credentials Secret.
pub(crate) fn aws_key(name: &str, namespace: Option<&str>, key: &str) -> SecretKeySelector {
    SecretKeySelector { name: name.into(), namespace: namespace.filter(|n| !n.is_empty()).map(str::to_string), key: Some(key.into()) }
}

#[cfg(test)]
#[path = "federation_tests.rs"]
mod tests;
