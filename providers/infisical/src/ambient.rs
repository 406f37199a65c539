//! The controller's own proofs of identity for Infisical's cloud and Kubernetes logins, as ESO's
//! SDK fetches them: the ServiceAccount token file, an Azure managed-identity token from the
//! instance metadata service, a GCP ID token from the metadata server, and an
//! sts:GetCallerIdentity request signed with the AWS credentials of the default chain.
//! Nothing here is tenant input but a file path and an audience: the path must be absolute and
//! the file must hold a JWT (a tenant must not read other files of the controller through it).
use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_credential_types::provider::ProvideCredentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_smithy_runtime_api::client::identity::Identity;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde::Deserialize;
use serde_json::{Value, json};
use sesame_provider_core::{ProviderContext, ProviderError};
use sesame_provider_http::{ClientOptions, reqwest, send};
use tokio::io::AsyncReadExt;

/// A ServiceAccount token or an ID token is a few KiB.
const MAX_TOKEN: usize = 16 * 1024;
/// The request AWS Auth hands to Infisical (what the AWS SDKs send for GetCallerIdentity).
const STS_BODY: &str = "Action=GetCallerIdentity&Version=2011-06-15";
/// The controller's variable pointing Azure managed-identity requests elsewhere (tests, proxies).
pub const AZURE_IMDS_ENV: &str = "SESAME_INFISICAL_AZURE_IMDS_ENDPOINT";
/// The GCP SDKs' own variable naming the metadata server's `host[:port]`.
pub const GCE_METADATA_HOST_ENV: &str = "GCE_METADATA_HOST";
/// The GCP provider's variables pointing IAM Credentials and Google's OAuth token endpoint
/// elsewhere; GCP IAM Auth honours them too.
pub const GCP_IAMCREDENTIALS_ENDPOINT_ENV: &str = "SESAME_GCP_IAMCREDENTIALS_ENDPOINT";
pub const GCP_OAUTH2_ENDPOINT_ENV: &str = "SESAME_GCP_OAUTH2_ENDPOINT";

/// Where the controller's cloud identity is fetched from.
#[derive(Clone, Debug)]
pub struct Ambient {
    /// The Azure instance metadata service (`http://169.254.169.254`).
    pub azure_imds: String,
    /// The GCP metadata server (`http://metadata.google.internal`).
    pub gcp_metadata: String,
    /// AWS credentials and region to sign with instead of the SDK's default chain (tests).
    pub aws: Option<(Credentials, String)>,
    /// Google's IAM Credentials API (`https://iamcredentials.googleapis.com`), for GCP IAM Auth.
    pub gcp_iam_credentials: String,
    /// Google's OAuth 2.0 token endpoint base (`https://oauth2.googleapis.com`, `{base}/token`).
    /// A key's own `token_uri` is never followed: it is tenant input.
    pub gcp_oauth2: String,
    /// The directory GCP IAM Auth may read key files from (`--infisical-gcp-key-dir`); `None`
    /// refuses key file paths.
    pub gcp_key_dir: Option<std::path::PathBuf>,
}

impl Default for Ambient {
    fn default() -> Self {
        Ambient {
            azure_imds: "http://169.254.169.254".into(),
            gcp_metadata: "http://metadata.google.internal".into(),
            aws: None,
            gcp_iam_credentials: "https://iamcredentials.googleapis.com".into(),
            gcp_oauth2: "https://oauth2.googleapis.com".into(),
            gcp_key_dir: None,
        }
    }
}

impl Ambient {
    /// The defaults, unless `SESAME_INFISICAL_AZURE_IMDS_ENDPOINT`, `GCE_METADATA_HOST` or the
    /// `SESAME_GCP_*_ENDPOINT` variables say otherwise; the key directory the flag allowed.
    pub fn from_env() -> Self {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let mut a = Ambient::default();
        if let Some(url) = var(AZURE_IMDS_ENV) {
            a.azure_imds = url.trim_end_matches('/').to_string();
        }
        if let Some(host) = var(GCE_METADATA_HOST_ENV) {
            a.gcp_metadata = format!("http://{}", host.trim_end_matches('/'));
        }
        if let Some(url) = var(GCP_IAMCREDENTIALS_ENDPOINT_ENV) {
            a.gcp_iam_credentials = url.trim_end_matches('/').to_string();
        }
        if let Some(url) = var(GCP_OAUTH2_ENDPOINT_ENV) {
            a.gcp_oauth2 = url.trim_end_matches('/').to_string();
        }
        a.gcp_key_dir = crate::gcp_iam::allowed_key_dir();
        a
    }

    fn client(url: &reqwest::Url) -> Result<reqwest::Client, ProviderError> {
        ClientOptions::for_url(url).build("the metadata service")
    }

    /// `GET /metadata/identity/oauth2/token` for `resource`, as the SDK asks it.
    pub(crate) async fn azure_token(&self, resource: &str) -> Result<String, ProviderError> {
        let mut url = url(&format!("{}/metadata/identity/oauth2/token", self.azure_imds))?;
        url.query_pairs_mut().append_pair("api-version", "2018-02-01").append_pair("resource", resource);
        let what = "GET /metadata/identity/oauth2/token (Azure managed identity)";
        let request = Self::client(&url)?.get(url).header("Metadata", "true").header("accept", "application/json");
        #[derive(Deserialize)]
        struct Token {
            access_token: String,
        }
        let answer = send("Azure IMDS", what, request, MAX_TOKEN).await?.success(what, &["error_description", "error"]).map_err(auth)?;
        let token: Token = answer.json(what, "Azure IMDS")?;
        jwt_shaped(token.access_token.trim(), what)
    }

    /// `GET …/service-accounts/default/identity?audience=<identityId>&format=full`.
    pub(crate) async fn gcp_id_token(&self, audience: &str) -> Result<String, ProviderError> {
        let mut url = url(&format!("{}/computeMetadata/v1/instance/service-accounts/default/identity", self.gcp_metadata))?;
        url.query_pairs_mut().append_pair("audience", audience).append_pair("format", "full");
        let what = "GET /computeMetadata/v1/instance/service-accounts/default/identity (GCP metadata server)";
        let request = Self::client(&url)?.get(url).header("Metadata-Flavor", "Google");
        let answer = send("the GCP metadata server", what, request, MAX_TOKEN).await?.success(what, &["error"]).map_err(auth)?;
        let text = String::from_utf8(answer.body).map_err(|_| ProviderError::Auth(format!("{what}: the answer is not a JWT")))?;
        jwt_shaped(text.trim(), what)
    }

    /// The login body of AWS Auth: a GetCallerIdentity request to the region's STS, signed with
    /// the controller's AWS credentials, every part base64 (`identityId` is added by the caller).
    pub(crate) async fn aws_signed_identity(&self, ctx: &ProviderContext) -> Result<Value, ProviderError> {
        let (credentials, region) = match &self.aws {
            Some(given) => given.clone(),
            None => default_chain(ctx).await?,
        };
        signed_get_caller_identity(&credentials.into(), &region, SystemTime::now())
    }
}

fn url(text: &str) -> Result<reqwest::Url, ProviderError> {
    reqwest::Url::parse(text).map_err(|e| ProviderError::Invalid(format!("metadata endpoint {text:?}: {e}")))
}

/// The metadata services refuse with 400 for an identity they do not have: an auth problem.
fn auth(e: ProviderError) -> ProviderError {
    match e {
        ProviderError::Invalid(m) | ProviderError::NotFound(m) => ProviderError::Auth(m),
        other => other,
    }
}

/// `token` when it looks like a JWT (three base64url parts, a JSON header); the error never
/// shows it.
fn jwt_shaped(token: &str, what: &str) -> Result<String, ProviderError> {
    let parts: Vec<&str> = token.split('.').collect();
    let header = parts.first().and_then(|h| URL_SAFE_NO_PAD.decode(h.trim_end_matches('=')).ok());
    let header_ok = header.and_then(|h| serde_json::from_slice::<Value>(&h).ok()).is_some_and(|h| h.get("alg").is_some());
    if parts.len() != 3 || !header_ok || token.len() > MAX_TOKEN {
        return Err(ProviderError::Auth(format!("{what}: not a JWT")));
    }
    Ok(token.to_string())
}

/// `serviceAccountTokenPath` names a file of the controller: an absolute path, at most 4 KiB.
pub(crate) fn check_token_path(path: &str) -> Result<(), ProviderError> {
    if !path.starts_with('/') || path.len() > 4096 || path.chars().any(char::is_control) {
        return Err(ProviderError::Invalid("kubernetesAuthCredentials.serviceAccountTokenPath must be an absolute path".into()));
    }
    Ok(())
}

/// The ServiceAccount token in `path`, read anew at every login (projected tokens rotate).
pub(crate) async fn token_file(path: &str) -> Result<String, ProviderError> {
    let what = format!("the ServiceAccount token file {path}");
    let file = tokio::fs::File::open(path).await.map_err(|e| ProviderError::Auth(format!("cannot read {what}: {}", e.kind())))?;
    let mut bytes = Vec::new();
    file.take(MAX_TOKEN as u64 + 1)
        .read_to_end(&mut bytes)
        .await
        .map_err(|e| ProviderError::Auth(format!("cannot read {what}: {}", e.kind())))?;
    let text = String::from_utf8(bytes).map_err(|_| ProviderError::Auth(format!("{what} does not hold a JWT")))?;
    jwt_shaped(text.trim(), &what)
}

/// Credentials and region of the SDK's default chain (environment, profile, web identity, ECS,
/// EC2 instance metadata), as ESO's SDK loads them.
async fn default_chain(ctx: &ProviderContext) -> Result<(Credentials, String), ProviderError> {
    use sesame_provider_aws::{AwsAuth, AwsProvider, AwsServiceType};
    // No auth, no role: the SDK's default chain, which is the controller's identity.
    let spec = AwsProvider {
        service: AwsServiceType::SecretsManager,
        region: String::new(),
        role: None,
        additional_roles: Vec::new(),
        external_id: None,
        session_tags: Vec::new(),
        transitive_tag_keys: Vec::new(),
        session_tags_policy: None,
        custom_session_tags: Default::default(),
        prefix: None,
        auth: AwsAuth { jwt: None, secret_ref: None },
        secrets_manager: None,
    };
    let config = sesame_provider_aws::sdk_config(&spec, ctx, &sesame_provider_aws::ClientOptions::default()).await?;
    let region = config
        .region()
        .map(|r| r.to_string())
        .ok_or_else(|| ProviderError::Auth("aws auth: the controller has no AWS region (set AWS_REGION)".into()))?;
    let provider =
        config.credentials_provider().ok_or_else(|| ProviderError::Auth("aws auth: the controller has no AWS credentials".into()))?;
    let credentials = provider
        .provide_credentials()
        .await
        .map_err(|e| ProviderError::Auth(format!("aws auth: could not get the controller's AWS credentials: {e}")))?;
    Ok((credentials, region))
}

/// Go's canonical header name (`x-amz-date` → `X-Amz-Date`), as the SDK's JSON carries them.
fn canonical(name: &str) -> String {
    name.split('-')
        .map(|w| {
            let mut c = w.chars();
            c.next().map(|f| f.to_ascii_uppercase().to_string() + &c.as_str().to_ascii_lowercase()).unwrap_or_default()
        })
        .collect::<Vec<_>>()
        .join("-")
}

/// The signed request as Infisical's aws-auth login takes it.
pub(crate) fn signed_get_caller_identity(identity: &Identity, region: &str, now: SystemTime) -> Result<Value, ProviderError> {
    let host = format!("sts.{region}.amazonaws.com");
    let url = format!("https://{host}/");
    let cannot = |e: &dyn std::fmt::Display| ProviderError::Invalid(format!("aws auth: cannot sign: {e}"));
    let content_type = "application/x-www-form-urlencoded; charset=utf-8";
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(identity)
        .region(region)
        .name("sts")
        .time(now)
        .settings(SigningSettings::default())
        .build()
        .map_err(|e| cannot(&e))?
        .into();
    let unsigned = [("Content-Type", content_type)];
    let signable = SignableRequest::new("POST", url.as_str(), unsigned.into_iter(), SignableBody::Bytes(STS_BODY.as_bytes()))
        .map_err(|e| cannot(&e))?;
    let (instructions, _) = sign(signable, &params).map_err(|e| cannot(&e))?.into_parts();
    let mut headers = serde_json::Map::new();
    for (name, value) in instructions.headers() {
        headers.insert(canonical(name), json!(value));
    }
    headers.insert("Host".into(), json!(host));
    headers.insert("Content-Type".into(), json!(content_type));
    headers.insert("Content-Length".into(), json!(STS_BODY.len().to_string()));
    Ok(json!({
        "iamHttpRequestMethod": "POST",
        "iamRequestBody": STANDARD.encode(STS_BODY),
        "iamRequestHeaders": STANDARD.encode(Value::Object(headers).to_string()),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signed_request_is_the_sdks_get_caller_identity_for_the_region() {
        let creds = Credentials::new("AKIDEXAMPLE", "secret-key-example", Some("session-tok".into()), None, "test");
        let body = signed_get_caller_identity(&creds.into(), "eu-west-3", SystemTime::UNIX_EPOCH).unwrap();
        assert_eq!(body["iamHttpRequestMethod"], "POST");
        assert_eq!(STANDARD.decode(body["iamRequestBody"].as_str().unwrap()).unwrap(), STS_BODY.as_bytes());
        let headers: Value = serde_json::from_slice(&STANDARD.decode(body["iamRequestHeaders"].as_str().unwrap()).unwrap()).unwrap();
        assert_eq!(headers["Host"], "sts.eu-west-3.amazonaws.com");
        assert_eq!(headers["X-Amz-Date"], "19700101T000000Z");
        assert_eq!(headers["X-Amz-Security-Token"], "session-tok");
        let authz = headers["Authorization"].as_str().unwrap();
        assert!(authz.starts_with("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/19700101/eu-west-3/sts/aws4_request"), "{authz}");
        assert!(!body.to_string().contains("secret-key-example"), "the secret key never leaves");
    }

    #[test]
    fn only_jwts_are_sent_and_errors_never_show_the_content() {
        let jwt = format!("{}.{}.sig", URL_SAFE_NO_PAD.encode(r#"{"alg":"RS256"}"#), URL_SAFE_NO_PAD.encode("{}"));
        assert_eq!(jwt_shaped(&jwt, "t").unwrap(), jwt);
        for bad in ["root:x:0:0:root:/root:/bin/bash", "a.b.c", "-----BEGIN PRIVATE KEY-----"] {
            let err = jwt_shaped(bad, "the file").unwrap_err().to_string();
            assert!(err.contains("not a JWT") && !err.contains(bad), "{err}");
        }
        assert!(check_token_path("relative/token").is_err());
        assert!(check_token_path("/var/run/secrets/kubernetes.io/serviceaccount/token").is_ok());
    }
}
